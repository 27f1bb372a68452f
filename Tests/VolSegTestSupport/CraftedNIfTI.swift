import CZlib
import Foundation

/// A NIfTI-1 file with every field the reader checks under the test's control, in either byte
/// order, plain or gzipped: for non-finite voxels, bad magic, voxel sizes, vox_offset and shear.
public struct CraftedNIfTI {
    public var dim: [Int16] = [3, 4, 3, 2, 1, 1, 1, 1]
    public var datatype: Int16 = 16
    public var bitpix: Int16 = 32
    public var pixdim: [Float] = [1, 1.5, 2, 3, 1, 1, 1, 1]
    public var voxOffset: Float = 352
    public var slope: Float = 1, intercept: Float = 0
    public var magic: [UInt8] = Array("n+1\0".utf8)
    /// srow_x, srow_y, srow_z; with it sform_code is 1.
    public var sform: [[Float]]?
    public var bigEndian = false

    public init(datatype: Int16 = 16, bitpix: Int16 = 32, bigEndian: Bool = false) {
        self.datatype = datatype
        self.bitpix = bitpix
        self.bigEndian = bigEndian
    }

    /// Voxel bytes in this file's byte order.
    public func bytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        values.flatMap { v in withUnsafeBytes(of: bigEndian ? v.bigEndian : v.littleEndian) { Array($0) } }
    }
    public func bytes(float32 values: [Float]) -> [UInt8] { bytes(values.map(\.bitPattern)) }
    public func bytes(float64 values: [Double]) -> [UInt8] { bytes(values.map(\.bitPattern)) }

    public func header() -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 352)
        func put<T: FixedWidthInteger>(_ value: T, _ offset: Int) {
            withUnsafeBytes(of: bigEndian ? value.bigEndian : value.littleEndian) {
                for (i, b) in $0.enumerated() { header[offset + i] = b }
            }
        }
        func putFloat(_ value: Float, _ offset: Int) { put(value.bitPattern, offset) }
        put(Int32(348), 0)
        for (i, d) in dim.enumerated() { put(d, 40 + 2 * i) }
        put(datatype, 70)
        put(bitpix, 72)
        for (i, p) in pixdim.enumerated() { putFloat(p, 76 + 4 * i) }
        putFloat(voxOffset, 108)
        putFloat(slope, 112)
        putFloat(intercept, 116)
        put(Int16(sform == nil ? 1 : 0), 252)      // qform_code (identity quaternion)
        if let sform {
            put(Int16(1), 254)
            for (r, row) in sform.enumerated() { for (c, v) in row.enumerated() { putFloat(v, 280 + 16 * r + 4 * c) } }
        }
        for (i, c) in magic.prefix(4).enumerated() { header[344 + i] = c }
        return header
    }

    /// Header and voxels as one file; `.gz` names are gzipped.
    public func write(voxels: [UInt8], to url: URL) throws {
        let all = Data(header() + voxels)
        if url.pathExtension == "gz" { try Gzip.write(all, to: url) } else { try all.write(to: url) }
    }
}

public enum Gzip {
    public static func write(_ data: Data, to url: URL) throws {
        guard let file = gzopen(url.path, "wb") else { throw CocoaError(.fileWriteUnknown) }
        let written = data.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
        gzclose(file)
        if written != Int32(data.count) { throw CocoaError(.fileWriteUnknown) }
    }
}
