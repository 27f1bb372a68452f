import Foundation

/// Numpy scalars and arrays from the bytes numpy pickles them as. nnU-Net logs its Dice and
/// losses as np.float64, and plans may hold small arrays.
enum NumpyPickle {
    /// `numpy.core.multiarray.scalar(dtype, data)` as a plain number.
    static func scalar(code: String, byteOrder: String, data: [UInt8]) throws -> PickleValue {
        let bigEndian = byteOrder == ">"
        func word(_ width: Int) throws -> UInt64 {
            guard data.count == width else {
                throw PickleFault.malformed("a numpy \(code) scalar of \(data.count) bytes, not \(width)")
            }
            var value: UInt64 = 0
            for i in 0..<width { value |= UInt64(data[bigEndian ? width - 1 - i : i]) << (8 * i) }
            return value
        }
        func signed(_ width: Int) throws -> PickleValue {
            let shift = UInt64(64 - 8 * width)
            return .int(Int64(bitPattern: try word(width) << shift) >> shift)
        }
        switch code {
        case "f8", "d": return .float(Double(bitPattern: try word(8)))
        case "f4", "f": return .float(Double(Float(bitPattern: UInt32(try word(4)))))
        case "f2", "e": return .float(Double(TorchDType.halfToFloat(UInt16(try word(2)))))
        case "i8", "q", "l": return try signed(8)
        case "i4", "i": return try signed(4)
        case "i2", "h": return try signed(2)
        case "i1", "b": return try signed(1)
        case "u8", "Q", "L":
            let value = try word(8)
            return value <= UInt64(Int64.max) ? .int(Int64(value)) : .bigInt(String(value))
        case "u4", "I": return .int(Int64(try word(4)))
        case "u2", "H": return .int(Int64(try word(2)))
        case "u1", "B": return .int(Int64(try word(1)))
        case "b1", "?": return .bool(try word(1) != 0)
        default: throw PickleFault.unsupportedDType("numpy \(byteOrder)\(code) scalar")
        }
    }

    /// An array's bytes as a tensor (copied, and byte-swapped when big-endian), its strides
    /// column-major when `fortranOrder`, so `floats()` reads it in row-major order either way.
    static func array(code: String, byteOrder: String, shape: [Int], fortranOrder: Bool, data: [UInt8]) throws -> TorchTensor {
        guard let dtype = TorchDType(numpyCode: code) else {
            throw PickleFault.unsupportedDType("numpy \(byteOrder)\(code) array")
        }
        guard shape.allSatisfy({ $0 >= 0 }), shape.count <= TorchTensor.rankLimit else {
            throw PickleFault.malformed("a numpy array of shape \(shape)")
        }
        var count = 1
        for size in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow else { throw PickleFault.malformed("a numpy array of shape \(shape)") }
            count = product
        }
        guard count.multipliedReportingOverflow(by: dtype.byteCount) == (data.count, false) else {
            throw PickleFault.malformed("a numpy \(code) array of shape \(shape) with \(data.count) bytes of data")
        }
        let storage = data.withUnsafeBytes {
            TorchStorage(dtype: dtype, copying: $0, bigEndian: byteOrder == ">")
        }
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in (fortranOrder ? Array(shape.indices) : shape.indices.reversed()) {
            strides[axis] = running
            running *= shape[axis]
        }
        return try TorchTensor(storage: storage, shape: shape, strides: strides, storageOffset: 0)
    }
}
