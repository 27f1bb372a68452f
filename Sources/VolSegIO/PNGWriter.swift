import CZlib
import Foundation

/// Writes 8-bit RGB pictures as PNG (evaluation overlays), with zlib for the deflate stream and the
/// CRCs: signature, IHDR, one IDAT, IEND. Every row uses filter type 0 (none): pictures are small,
/// and the simplest encoding any viewer decodes is worth more than a few kilobytes.
public enum PNGWriter {
    public struct Failure: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "\(path): cannot write PNG: \(reason)" }
    }

    /// The 8 bytes every PNG file starts with.
    public static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Encodes `pixels` (row-major, top row first, 3 bytes R, G, B per pixel) as a PNG file.
    public static func encodeRGB(width: Int, height: Int, pixels: [UInt8]) throws -> [UInt8] {
        guard width > 0, height > 0, width <= Int(Int32.max), height <= Int(Int32.max) else {
            throw Failure(path: "<memory>", reason: "picture size \(width)x\(height) is not positive")
        }
        guard pixels.count == width * height * 3 else {
            throw Failure(path: "<memory>", reason: "\(pixels.count) bytes for \(width)x\(height) RGB pixels (needs \(width * height * 3))")
        }
        // Raw scanlines: a filter-type byte (0) before each row.
        let rowBytes = width * 3
        var raw = [UInt8](repeating: 0, count: height * (rowBytes + 1))
        pixels.withUnsafeBufferPointer { src in
            raw.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    let out = dst.baseAddress! + y * (rowBytes + 1) + 1
                    out.update(from: src.baseAddress! + y * rowBytes, count: rowBytes)
                }
            }
        }
        var file = signature
        var header = [UInt8]()
        appendBigEndian(UInt32(width), to: &header)
        appendBigEndian(UInt32(height), to: &header)
        // Bit depth 8, colour type 2 (RGB), deflate, adaptive filtering method 0, no interlace.
        header += [8, 2, 0, 0, 0]
        appendChunk("IHDR", header, to: &file)
        appendChunk("IDAT", try deflate(raw), to: &file)
        appendChunk("IEND", [], to: &file)
        return file
    }

    /// Encodes and writes to a temporary name in the same folder, then renames into place
    /// (`AtomicFile`: a failed write leaves no file, and the error names `url`).
    public static func writeRGB(width: Int, height: Int, pixels: [UInt8], to url: URL) throws {
        let bytes: [UInt8]
        do {
            bytes = try encodeRGB(width: width, height: height, pixels: pixels)
        } catch let failure as Failure {
            throw Failure(path: url.path, reason: failure.reason)
        }
        try AtomicFile.write(Data(bytes), to: url)
    }

    /// A zlib stream (deflate with the zlib header and Adler-32), as IDAT requires.
    public static func deflate(_ data: [UInt8]) throws -> [UInt8] {
        var capacity = compressBound(uLong(data.count))
        var out = [UInt8](repeating: 0, count: Int(capacity))
        let status = data.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                compress2(dst.baseAddress, &capacity, src.baseAddress, uLong(data.count), 6)
            }
        }
        guard status == Z_OK else {
            throw Failure(path: "<memory>", reason: "zlib compress2 failed with status \(status)")
        }
        return Array(out.prefix(Int(capacity)))
    }

    /// Length, type, data, and the CRC-32 of type and data (PNG's chunk layout).
    static func appendChunk(_ type: String, _ data: [UInt8], to file: inout [UInt8]) {
        let typeBytes = Array(type.utf8)
        appendBigEndian(UInt32(data.count), to: &file)
        var crc = crc32(0, nil, 0)
        crc = typeBytes.withUnsafeBufferPointer { crc32(crc, $0.baseAddress, uInt($0.count)) }
        if !data.isEmpty {
            crc = data.withUnsafeBufferPointer { crc32(crc, $0.baseAddress, uInt($0.count)) }
        }
        file += typeBytes
        file += data
        appendBigEndian(UInt32(crc), to: &file)
    }

    static func appendBigEndian(_ value: UInt32, to bytes: inout [UInt8]) {
        bytes += [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }
}
