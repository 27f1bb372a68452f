import CZlib
import Foundation
@testable import VolSegIO
import XCTest

/// Decodes what PNGWriter wrote with zlib itself (chunk walk, CRC check, inflate, unfilter) and
/// compares every pixel: a pure Swift check that needs no image library.
final class PNGWriterTests: XCTestCase {
    struct Chunk {
        let type: String
        let data: [UInt8]
    }

    /// Splits a PNG into chunks, checking the signature and each chunk's CRC-32.
    func chunks(of file: [UInt8]) throws -> [Chunk] {
        XCTAssertEqual(Array(file.prefix(8)), PNGWriter.signature, "PNG signature")
        var offset = 8, out = [Chunk]()
        func bigEndian(_ at: Int) -> Int {
            Int(file[at]) << 24 | Int(file[at + 1]) << 16 | Int(file[at + 2]) << 8 | Int(file[at + 3])
        }
        while offset < file.count {
            let length = bigEndian(offset)
            let typeAndData = Array(file[(offset + 4)..<(offset + 8 + length)])
            let stored = bigEndian(offset + 8 + length)
            let computed = typeAndData.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
            let type = String(decoding: typeAndData.prefix(4), as: UTF8.self)
            XCTAssertEqual(UInt32(stored), UInt32(computed), "CRC of chunk \(type)")
            out.append(Chunk(type: type, data: Array(typeAndData.dropFirst(4))))
            offset += 12 + length
        }
        XCTAssertEqual(offset, file.count, "chunks end exactly at the end of the file")
        return out
    }

    func inflate(_ data: [UInt8], expectedCount: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: expectedCount + 16)
        var length = uLong(out.count)
        let status = out.withUnsafeMutableBufferPointer { dst in
            data.withUnsafeBufferPointer { uncompress(dst.baseAddress, &length, $0.baseAddress, uLong($0.count)) }
        }
        XCTAssertEqual(status, Z_OK, "zlib inflates IDAT")
        return Array(out.prefix(Int(length)))
    }

    func testRGBPictureDecodesToTheSamePixels() throws {
        let width = 37, height = 23
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * 3
                pixels[i] = UInt8(x * 7 % 256)
                pixels[i + 1] = UInt8(y * 11 % 256)
                pixels[i + 2] = UInt8((x * y) % 256)
            }
        }
        let file = try PNGWriter.encodeRGB(width: width, height: height, pixels: pixels)
        let parts = try chunks(of: file)
        XCTAssertEqual(parts.map(\.type), ["IHDR", "IDAT", "IEND"])
        let header = parts[0].data
        XCTAssertEqual(header.count, 13)
        XCTAssertEqual(Array(header[0..<4]), [0, 0, 0, UInt8(width)])
        XCTAssertEqual(Array(header[4..<8]), [0, 0, 0, UInt8(height)])
        XCTAssertEqual(Array(header[8...]), [8, 2, 0, 0, 0], "8-bit RGB, deflate, no interlace")
        XCTAssertTrue(parts[2].data.isEmpty)

        let raw = inflate(parts[1].data, expectedCount: height * (width * 3 + 1))
        XCTAssertEqual(raw.count, height * (width * 3 + 1))
        var decoded = [UInt8]()
        for y in 0..<height {
            let row = raw[(y * (width * 3 + 1))..<((y + 1) * (width * 3 + 1))]
            XCTAssertEqual(row.first, 0, "row \(y) uses filter type 0")
            decoded += row.dropFirst()
        }
        XCTAssertEqual(decoded, pixels)
    }

    func testWriteLeavesOnlyTheFinishedFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("png-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("picture.png")
        try PNGWriter.writeRGB(width: 2, height: 1, pixels: [255, 0, 0, 0, 255, 0], to: url)
        try PNGWriter.writeRGB(width: 1, height: 1, pixels: [1, 2, 3], to: url)   // replaces
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["picture.png"])
        let file = [UInt8](try Data(contentsOf: url))
        let parts = try chunks(of: file)
        XCTAssertEqual(inflate(parts[1].data, expectedCount: 4), [0, 1, 2, 3])
    }

    func testWrongPixelCountIsAnErrorNamingTheFile() {
        XCTAssertThrowsError(try PNGWriter.writeRGB(width: 4, height: 4, pixels: [0, 0, 0],
                                                    to: URL(fileURLWithPath: "/tmp/never.png"))) { error in
            XCTAssertTrue("\(error)".contains("/tmp/never.png"), "\(error)")
            XCTAssertTrue("\(error)".contains("4x4"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/never.png"))
    }
}
