import CZlib
import Foundation
import VolSegCore

/// Writes a Float32 array as numpy's `savez_compressed` does: a zip archive with one deflated
/// entry `<key>.npy` (format 1.0 header, little-endian '<f4', C order). nnU-Net saves its
/// probabilities this way (`CASE.npz`, key `probabilities`), and `nnUNetv2_ensemble` and
/// `np.load` read it.
///
/// The array is deflated in chunks straight into the file (no compressed copy in memory); the
/// entry's CRC and sizes are patched into its local header afterwards. Archives whose entry or
/// offsets reach 4 GiB would need zip64 records, which this writer does not make: they are refused
/// with the size before anything is written.
public enum NumpyArchiveWriter {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case tooLarge(path: String, bytes: Int)
        case compression(path: String, code: Int32)

        public var description: String {
            switch self {
            case .tooLarge(let path, let bytes):
                return "\(path): the array is \(MemorySize.format(bytes)); .npz files of 4 GiB or more are not written (zip64)"
            case .compression(let path, let code): return "\(path): zlib failed with code \(code)"
            }
        }
    }

    public static func write(_ values: Tensor, key: String, to url: URL) throws {
        let header = npyHeader(shape: values.shape)
        let payload = values.count * MemoryLayout<Float>.size
        let total = header.count + payload
        guard total < 0xFFFF_0000 else { throw Failure.tooLarge(path: url.path, bytes: total) }
        try AtomicFile.write(to: url, keepingExtension: true) { temporary in
            let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            guard descriptor >= 0 else { throw FileWriteError.systemError(path: url.path, code: errno, neededBytes: total) }
            var closed = false
            defer { if !closed { close(descriptor) } }
            let name = Array((key + ".npy").utf8)
            var offset = 0
            func put(_ bytes: [UInt8]) throws {
                try bytes.withUnsafeBytes { try writeAll(descriptor, $0, url: url) }
                offset += bytes.count
            }
            let localHeader = localFileHeader(name: name, crc: 0, compressed: 0, uncompressed: 0)
            try put(localHeader)
            let dataStart = offset
            var crc: UInt = crc32(0, nil, 0)
            var stream = z_stream()
            guard deflateInit2_(&stream, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                                Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                throw Failure.compression(path: url.path, code: Z_STREAM_ERROR)
            }
            defer { deflateEnd(&stream) }
            var output = [UInt8](repeating: 0, count: 1 << 20)
            // Feeds `bytes` through deflate; `finish` flushes the stream's end.
            func deflateChunk(_ bytes: UnsafeRawBufferPointer, finish: Bool) throws {
                crc = crc32(crc, bytes.baseAddress?.assumingMemoryBound(to: Bytef.self), uInt(bytes.count))
                stream.next_in = UnsafeMutablePointer(mutating: bytes.baseAddress?.assumingMemoryBound(to: Bytef.self))
                stream.avail_in = uInt(bytes.count)
                repeat {
                    let produced: Int = try output.withUnsafeMutableBufferPointer { buffer in
                        stream.next_out = buffer.baseAddress
                        stream.avail_out = uInt(buffer.count)
                        let code = deflate(&stream, finish ? Z_FINISH : Z_NO_FLUSH)
                        guard code == Z_OK || code == Z_STREAM_END || code == Z_BUF_ERROR else {
                            throw Failure.compression(path: url.path, code: code)
                        }
                        return buffer.count - Int(stream.avail_out)
                    }
                    try output.withUnsafeBytes { try writeAll(descriptor, UnsafeRawBufferPointer(rebasing: $0[0..<produced]), url: url) }
                    offset += produced
                } while stream.avail_out == 0 || (finish && stream.avail_in > 0)
            }
            try header.withUnsafeBytes { try deflateChunk($0, finish: false) }
            let bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(values.data), count: payload)
            let chunk = 1 << 22
            var start = 0
            repeat {
                let end = min(start + chunk, payload)
                try deflateChunk(UnsafeRawBufferPointer(rebasing: bytes[start..<end]), finish: end == payload)
                start = end
            } while start < payload
            let compressed = offset - dataStart
            guard offset < 0xFFFF_0000 else { throw Failure.tooLarge(path: url.path, bytes: offset) }
            let patched = localFileHeader(name: name, crc: UInt32(crc), compressed: compressed, uncompressed: total)
            let written = patched.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
            guard written == patched.count else { throw FileWriteError.systemError(path: url.path, code: errno, neededBytes: nil) }
            let directoryStart = offset
            try put(centralDirectoryHeader(name: name, crc: UInt32(crc), compressed: compressed, uncompressed: total))
            try put(endOfCentralDirectory(size: offset - directoryStart, start: directoryStart))
            closed = true
            guard close(descriptor) == 0 else { throw FileWriteError.systemError(path: url.path, code: errno, neededBytes: offset) }
            return offset
        }
    }

    /// The .npy 1.0 header as numpy >= 1.24 writes it: magic, version, the dict, room for the first
    /// axis to grow to 21 digits, and spaces so the data starts at a multiple of 64 bytes, ending in
    /// a newline.
    public static func npyHeader(shape: [Int]) -> [UInt8] {
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(dims)), }"
        if let first = shape.first { dict += String(repeating: " ", count: max(0, 21 - String(first).count)) }
        let unpadded = 10 + dict.utf8.count + 1
        dict += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        let length = UInt16(dict.utf8.count)
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + Array(dict.utf8)
    }

    private static func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
    private static func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }

    // DOS date 1980-01-01 00:00, as zipfile writes for a zero timestamp: the archive's bytes do
    // not depend on the clock.
    private static let dosTime = le16(0), dosDate = le16(0x21)

    private static func localFileHeader(name: [UInt8], crc: UInt32, compressed: Int, uncompressed: Int) -> [UInt8] {
        le32(0x0403_4b50) + le16(20) + le16(0) + le16(8) + dosTime + dosDate + le32(Int(crc)) + le32(compressed)
            + le32(uncompressed) + le16(name.count) + le16(0) + name
    }

    private static func centralDirectoryHeader(name: [UInt8], crc: UInt32, compressed: Int, uncompressed: Int) -> [UInt8] {
        le32(0x0201_4b50) + le16(20) + le16(20) + le16(0) + le16(8) + dosTime + dosDate + le32(Int(crc)) + le32(compressed)
            + le32(uncompressed) + le16(name.count) + le16(0) + le16(0) + le16(0) + le16(0) + le32(0o600 << 16) + le32(0) + name
    }

    private static func endOfCentralDirectory(size: Int, start: Int) -> [UInt8] {
        le32(0x0605_4b50) + le16(0) + le16(0) + le16(1) + le16(1) + le32(size) + le32(start) + le16(0)
    }

    private static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, url: URL) throws {
        let failure = AtomicFile.writeFully(descriptor, bytes, from: 0, to: bytes.count)
        if failure != 0 { throw FileWriteError.systemError(path: url.path, code: failure, neededBytes: bytes.count) }
    }
}
