import CZlib
import Foundation
import VolSegCore

/// Reads a NIfTI file's voxel bytes ourselves, through zlib (plain files pass through unchanged),
/// instead of libnifti's `nifti_image_load`: libnifti's `nifti_read_buffer` sets every NaN and
/// infinite float voxel to 0 without a word, which hid every non-finite voxel from VolSeg's
/// count and warning. nibabel keeps them; so do we. Bytes are read in chunks of a few MiB, swapped
/// to the machine's order when the header says so, and converted to Float32 with the scaling.
enum NIfTIVoxelData {
    /// Bytes read per chunk: small next to any volume, large enough that zlib's calls cost nothing.
    static let chunkBytes = 8 << 20

    static func read(_ check: NIfTIHeaderCheck, scaling: (slope: Double, intercept: Double)?,
                     into out: UnsafeMutablePointer<Float>, count: Int) throws {
        guard let bytesPerVoxel = NIfTIDatatype.bytesPerVoxel(check.datatype) else {
            throw NIfTIError.unsupportedDatatype(path: check.dataPath, code: check.datatype)
        }
        let path = check.dataPath
        let needed = check.voxOffset + count * bytesPerVoxel
        guard let file = gzopen(path, "rb") else { throw NIfTIError.missingFile(path: path) }
        defer { gzclose(file) }
        _ = gzbuffer(file, 1 << 17)
        let chunkVoxels = max(1, chunkBytes / bytesPerVoxel)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunkVoxels * bytesPerVoxel, alignment: 16)
        defer { buffer.deallocate() }

        // Skip to vox_offset by reading: gzseek emulates this anyway for compressed files, and a
        // read tells where the data ends when the offset lies past it.
        var position = 0
        while position < check.voxOffset {
            let want = min(check.voxOffset - position, chunkVoxels * bytesPerVoxel)
            let got = try readFully(file, buffer, want, path: path)
            position += got
            if got < want {
                throw NIfTIError.invalidVoxOffset(path: check.headerPath, offset: Double(check.voxOffset),
                                                  reason: "past the end of the data (\(position) bytes after decompression)")
            }
        }
        var done = 0
        while done < count {
            let voxels = min(chunkVoxels, count - done)
            let want = voxels * bytesPerVoxel
            let got = try readFully(file, buffer, want, path: path)
            position += got
            if got < want {
                throw NIfTIError.truncatedData(path: path, expectedBytes: needed,
                                               availableBytes: check.isCompressed ? nil : position)
            }
            if check.swapped { swapBytes(buffer, count: voxels, width: bytesPerVoxel) }
            NIfTIDatatype.convert(UnsafeRawPointer(buffer), code: check.datatype, count: voxels, scaling: scaling,
                                  into: out + done)
            done += voxels
        }
    }

    /// gzread until `count` bytes or the end of the stream; a corrupt stream is an error, an early
    /// end returns fewer bytes (the caller names what was cut).
    private static func readFully(_ file: gzFile, _ buffer: UnsafeMutableRawPointer, _ count: Int, path: String) throws -> Int {
        var got = 0
        while got < count {
            let n = gzread(file, buffer + got, UInt32(min(count - got, 1 << 30)))
            if n < 0 {
                var code: Int32 = 0
                let message = gzerror(file, &code).map { String(cString: $0) } ?? "unknown zlib error"
                if code == Z_BUF_ERROR { return got }   // zlib's "unexpected end of file": truncated
                throw NIfTIError.notNIfTI(path: path, reason: "compressed stream is corrupt (\(message))")
            }
            if n == 0 { return got }
            got += Int(n)
        }
        return got
    }

    /// Reverses the bytes of each `width`-byte value in place (the file's byte order is not ours).
    static func swapBytes(_ buffer: UnsafeMutableRawPointer, count: Int, width: Int) {
        switch width {
        case 2:
            let p = buffer.assumingMemoryBound(to: UInt16.self)
            for i in 0..<count { p[i] = p[i].byteSwapped }
        case 4:
            let p = buffer.assumingMemoryBound(to: UInt32.self)
            for i in 0..<count { p[i] = p[i].byteSwapped }
        case 8:
            let p = buffer.assumingMemoryBound(to: UInt64.self)
            for i in 0..<count { p[i] = p[i].byteSwapped }
        default:
            break   // one-byte values have no byte order
        }
    }
}
