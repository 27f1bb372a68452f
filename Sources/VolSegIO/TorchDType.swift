import Foundation

/// The element types VolSeg reads from PyTorch storages and numpy arrays, named as torch names
/// them (`torch.float32` is "float32").
public enum TorchDType: String, CaseIterable, Sendable {
    case float32, float16, bfloat16, float64, int64, int32, int16, int8, uint8, bool

    public var byteCount: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    public var isFloatingPoint: Bool {
        switch self {
        case .float32, .float16, .bfloat16, .float64: return true
        default: return false
        }
    }

    /// The storage class torch.save names in a storage's persistent id (`torch.FloatStorage`).
    init?(storageClass name: String) {
        switch name {
        case "FloatStorage": self = .float32
        case "HalfStorage": self = .float16
        case "BFloat16Storage": self = .bfloat16
        case "DoubleStorage": self = .float64
        case "LongStorage": self = .int64
        case "IntStorage": self = .int32
        case "ShortStorage": self = .int16
        case "CharStorage": self = .int8
        // An untyped storage is bytes.
        case "ByteStorage", "UntypedStorage": self = .uint8
        case "BoolStorage": self = .bool
        default: return nil
        }
    }

    /// A numpy type code without its byte order ("f8", "i4", "b1", "?").
    init?(numpyCode code: String) {
        switch code {
        case "f4": self = .float32
        case "f2", "e": self = .float16
        case "f8", "d": self = .float64
        case "i8", "q", "l": self = .int64
        case "i4", "i": self = .int32
        case "i2", "h": self = .int16
        case "i1", "b": self = .int8
        case "u1", "B": self = .uint8
        case "b1", "?": self = .bool
        default: return nil
        }
    }

    /// The element at `offset` bytes into `bytes`, little-endian, as a Float (f64 and int64 round).
    @inline(__always)
    func float(_ bytes: UnsafeRawPointer, _ offset: Int) -> Float {
        switch self {
        case .float32: return Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        case .float16: return Self.halfToFloat(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
        case .bfloat16:
            // bfloat16 is the high half of a float32.
            return Float(bitPattern: UInt32(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))) << 16)
        case .float64:
            return Float(Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))))
        default: return Float(integer(bytes, offset))
        }
    }

    /// The element at `offset` as an integer (floating types truncate toward zero, saturating).
    @inline(__always)
    func integer(_ bytes: UnsafeRawPointer, _ offset: Int) -> Int64 {
        switch self {
        case .int64: return Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int64.self))
        case .int32: return Int64(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self)))
        case .int16: return Int64(Int16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int16.self)))
        case .int8: return Int64(bytes.load(fromByteOffset: offset, as: Int8.self))
        case .uint8: return Int64(bytes.load(fromByteOffset: offset, as: UInt8.self))
        // torch reads any non-zero byte of a bool storage as true.
        case .bool: return bytes.load(fromByteOffset: offset, as: UInt8.self) == 0 ? 0 : 1
        case .float32, .float16, .bfloat16:
            let value = float(bytes, offset)
            return value.isNaN ? 0 : Int64(clamping: value)
        case .float64:
            let value = Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
            return value.isNaN ? 0 : Int64(clamping: value)
        }
    }

    /// IEEE half to single, exactly (every half is a float). Written out rather than using
    /// Swift's Float16, which macOS on Intel lacks.
    static func halfToFloat(_ half: UInt16) -> Float {
        let sign = UInt32(half & 0x8000) << 16
        let exponent = Int(half >> 10) & 0x1F
        let mantissa = UInt32(half & 0x3FF)
        if exponent == 0x1F {
            // Infinity, or NaN with its payload kept (and made quiet, as the hardware conversion does).
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13) | (mantissa == 0 ? 0 : 0x40_0000))
        }
        if exponent == 0 {
            // Zero or subnormal: mantissa * 2^-24, exact in a float.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
    }
}

private extension Int64 {
    /// Like `Int64(exactly:)` but saturating, for float-to-integer reads of hostile data.
    init<F: BinaryFloatingPoint>(clamping value: F) {
        if value >= F(Int64.max) { self = .max } else if value <= F(Int64.min) { self = .min } else { self = Int64(value) }
    }
}
