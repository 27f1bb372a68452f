import CZlib
import Foundation
import VolSegCore

/// Writes a Float32 array as numpy's `savez_compressed` does: a zip archive with one deflated
/// entry `<key>.npy` (format 1.0 header, little-endian '<f4', C order). nnU-Net saves its
/// probabilities this way (`CASE.npz`, key `probabilities`), and `nnUNetv2_ensemble` and
/// `np.load` read it.
///
/// The array is deflated in chunks straight into the file (no compressed copy in memory); the
/// entry's CRC and sizes are patched into its local header afterwards. An array of 4 GiB or more
/// (a TotalSegmentator-sized CT: 118 classes of 512 x 512 x 400 floats is 46 GiB) gets zip64
/// records, as Python's zipfile writes them: sizes in a zip64 extra field of the local and central
/// headers, and a zip64 end record and locator before the end record. The choice is made from the
/// uncompressed size, known before the first byte; deflate never grows data by more than the
/// margin below, so the compressed size and offsets then fit too.
public enum NumpyArchiveWriter {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case compression(path: String, code: Int32)
        /// Deflate output larger than the 32-bit fields allow in an archive planned without zip64
        /// (cannot happen within the margin; checked rather than assumed).
        case sizeOverflow(path: String, bytes: Int)

        public var description: String {
            switch self {
            case .compression(let path, let code): return "\(path): zlib failed with code \(code)"
            case .sizeOverflow(let path, let bytes): return "\(path): the compressed entry reached \(bytes) bytes without zip64 records"
            }
        }
    }

    /// Uncompressed entries at least this large are written with zip64 records: 4 GiB less a
    /// margin above deflate's worst-case growth (5 bytes per 16 KiB stored block, 0.03%).
    static let zip64Threshold = 0xFFFF_FFFF - (0xFFFF_FFFF / 1000) - (1 << 20)

    public static func write(_ values: Tensor, key: String, to url: URL) throws {
        try write(values, key: key, to: url, zip64Threshold: zip64Threshold)
    }

    /// `zip64Threshold` lowered by tests, so zip64 records are checked without writing 4 GiB.
    static func write(_ values: Tensor, key: String, to url: URL, zip64Threshold: Int) throws {
        let header = npyHeader(shape: values.shape)
        let payload = values.count * MemoryLayout<Float>.size
        let total = header.count + payload
        let zip64 = total >= zip64Threshold
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
            let localHeader = localFileHeader(name: name, crc: 0, compressed: 0, uncompressed: 0, zip64: zip64)
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
            guard zip64 || offset < 0xFFFF_0000 else { throw Failure.sizeOverflow(path: url.path, bytes: offset) }
            let patched = localFileHeader(name: name, crc: UInt32(crc), compressed: compressed, uncompressed: total, zip64: zip64)
            let written = patched.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
            guard written == patched.count else { throw FileWriteError.systemError(path: url.path, code: errno, neededBytes: nil) }
            let directoryStart = offset
            try put(centralDirectoryHeader(name: name, crc: UInt32(crc), compressed: compressed, uncompressed: total, zip64: zip64))
            let directorySize = offset - directoryStart
            if zip64 {
                let recordStart = offset
                try put(zip64EndOfCentralDirectory(size: directorySize, start: directoryStart))
                try put(zip64Locator(recordStart: recordStart))
            }
            try put(endOfCentralDirectory(size: directorySize, start: zip64 ? 0xFFFF_FFFF : directoryStart))
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
    private static func le64(_ v: Int) -> [UInt8] { (0..<8).map { UInt8((v >> (8 * $0)) & 0xFF) } }

    /// Extra field 1 with both sizes (uncompressed first), the two 32-bit fields set to 0xFFFFFFFF.
    /// The local header's offset (0) fits 32 bits, so the central header's extra has no offset.
    private static func zip64Sizes(compressed: Int, uncompressed: Int) -> [UInt8] {
        le16(1) + le16(16) + le64(uncompressed) + le64(compressed)
    }

    // DOS date 1980-01-01 00:00, as zipfile writes for a zero timestamp: the archive's bytes do
    // not depend on the clock.
    private static let dosTime = le16(0), dosDate = le16(0x21)

    // Version 4.5 (45) is what zip64 needs; 2.0 (20) is deflate's.
    private static func localFileHeader(name: [UInt8], crc: UInt32, compressed: Int, uncompressed: Int, zip64: Bool) -> [UInt8] {
        let extra = zip64 ? zip64Sizes(compressed: compressed, uncompressed: uncompressed) : []
        return le32(0x0403_4b50) + le16(zip64 ? 45 : 20) + le16(0) + le16(8) + dosTime + dosDate + le32(Int(crc))
            + le32(zip64 ? 0xFFFF_FFFF : compressed) + le32(zip64 ? 0xFFFF_FFFF : uncompressed)
            + le16(name.count) + le16(extra.count) + name + extra
    }

    private static func centralDirectoryHeader(name: [UInt8], crc: UInt32, compressed: Int, uncompressed: Int, zip64: Bool) -> [UInt8] {
        let extra = zip64 ? zip64Sizes(compressed: compressed, uncompressed: uncompressed) : []
        let version = le16(zip64 ? 45 : 20)
        return le32(0x0201_4b50) + version + version + le16(0) + le16(8) + dosTime + dosDate + le32(Int(crc))
            + le32(zip64 ? 0xFFFF_FFFF : compressed) + le32(zip64 ? 0xFFFF_FFFF : uncompressed)
            + le16(name.count) + le16(extra.count) + le16(0) + le16(0) + le16(0) + le32(0o600 << 16) + le32(0) + name + extra
    }

    private static func zip64EndOfCentralDirectory(size: Int, start: Int) -> [UInt8] {
        // The record's size counts the bytes after this field: 44.
        le32(0x0606_4b50) + le64(44) + le16(45) + le16(45) + le32(0) + le32(0) + le64(1) + le64(1) + le64(size) + le64(start)
    }

    private static func zip64Locator(recordStart: Int) -> [UInt8] {
        le32(0x0706_4b50) + le32(0) + le64(recordStart) + le32(1)
    }

    private static func endOfCentralDirectory(size: Int, start: Int) -> [UInt8] {
        le32(0x0605_4b50) + le16(0) + le16(0) + le16(1) + le16(1) + le32(size) + le32(start) + le16(0)
    }

    private static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, url: URL) throws {
        let failure = AtomicFile.writeFully(descriptor, bytes, from: 0, to: bytes.count)
        if failure != 0 { throw FileWriteError.systemError(path: url.path, code: failure, neededBytes: bytes.count) }
    }
}
