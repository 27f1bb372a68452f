import CNIfTI
import CZlib
import Foundation

/// Whether a NIfTI file on disk holds every byte its header promises: what the writer checks
/// before renaming a file into place, and what `segment --continue` checks before it skips a case
/// whose output exists (a file cut short by a full disk, by another tool or an older VolSeg, must
/// be segmented again, not kept for good).
public enum NIfTIWholeFile {
    /// The header reads and the image file holds all voxel bytes (a .gz decompressed to its end).
    public static func isWhole(_ url: URL) -> Bool {
        guard let nim = nifti_image_read(url.path, 0) else { return false }
        defer { nifti_image_free(nim) }
        guard let iname = nim.pointee.iname else { return false }
        let image = String(cString: iname)
        let needed = Int(nim.pointee.iname_offset) + Int(nim.pointee.nvox) * Int(nim.pointee.nbyper)
        if image.hasSuffix(".gz") {
            return (try? checkCompressedLength(image, expected: needed, reportingAs: url)) != nil
        }
        var status = stat()
        return stat(image, &status) == 0 && Int(status.st_size) >= needed
    }

    /// Decompresses a .gz file to the end (gzip's CRC and length trailer catch a file cut short)
    /// and checks that it holds `expected` bytes.
    static func checkCompressedLength(_ file: String, expected: Int, reportingAs url: URL) throws {
        guard let stream = gzopen(file, "rb") else {
            throw FileWriteError.unreadable(path: url.path, reason: "gzip cannot open it")
        }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var total = 0, n: Int32 = 0
        repeat {
            n = buffer.withUnsafeMutableBytes { gzread(stream, $0.baseAddress, UInt32($0.count)) }
            if n > 0 { total += Int(n) }
        } while n > 0
        let closed = gzclose(stream)
        guard n == 0, closed == Z_OK else {
            throw FileWriteError.unreadable(path: url.path, reason: "the gzip stream ends early after \(total) bytes")
        }
        guard total == expected else {
            throw FileWriteError.incomplete(path: url.path, expectedBytes: expected, foundBytes: total)
        }
    }
}
