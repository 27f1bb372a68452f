import Foundation
import XCTest

/// Small hand-made NIfTI-1 files for the bad-input tests: a little-endian 348-byte header, four
/// bytes of extension flag, then the voxel bytes.
enum NIfTITestFiles {
    static func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-nifti-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A header with `dim` (dim[0...7]) and `datatype`, followed by `dataBytes` bytes of voxels.
    static func make(dim: [Int16], datatype: Int16, bitpix: Int16, dataBytes: Int, at url: URL) throws {
        var header = [UInt8](repeating: 0, count: 352)
        func put<T>(_ value: T, _ offset: Int) {
            withUnsafeBytes(of: value) { for (i, b) in $0.enumerated() { header[offset + i] = b } }
        }
        put(Int32(348).littleEndian, 0)
        for (i, d) in dim.enumerated() { put(d.littleEndian, 40 + 2 * i) }
        put(datatype.littleEndian, 70)
        put(bitpix.littleEndian, 72)
        for i in 0..<8 { put(Float(1).bitPattern.littleEndian, 76 + 4 * i) }
        put(Float(352).bitPattern.littleEndian, 108)
        put(Int16(1).littleEndian, 252)            // qform_code
        for (i, c) in "n+1\0".utf8.enumerated() { header[344 + i] = c }
        var bytes = header
        bytes += (0..<dataBytes).map { UInt8(truncatingIfNeeded: $0) }
        try Data(bytes).write(to: url)
    }
}

