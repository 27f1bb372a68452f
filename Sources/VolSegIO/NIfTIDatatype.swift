import Foundation
import VolSegCore

/// NIfTI datatype codes (nifti1.h `DT_*`) and which of them VolSeg turns into Float32.
///
/// Complex, RGB and 128-bit types have no single real value per voxel, so they are refused with a
/// named error rather than read as something a network would silently misinterpret.
public enum NIfTIDatatype {
    public static let uint8 = 2, int16 = 4, int32 = 8, float32 = 16, complex64 = 32, float64 = 64
    public static let rgb24 = 128, int8 = 256, uint16 = 512, uint32 = 768, int64 = 1024, uint64 = 1280
    public static let float128 = 1536, complex128 = 1792, complex256 = 2048, rgba32 = 2304

    /// Bytes per voxel of the scalar types VolSeg reads; nil for everything else.
    public static func bytesPerVoxel(_ code: Int) -> Int? {
        switch code {
        case uint8, int8: return 1
        case int16, uint16: return 2
        case int32, uint32, float32: return 4
        case float64, int64, uint64: return 8
        default: return nil
        }
    }

    public static func isReadable(_ code: Int) -> Bool { bytesPerVoxel(code) != nil }

    public static func name(of code: Int) -> String {
        switch code {
        case 0: return "unknown"
        case 1: return "binary"
        case uint8: return "uint8"
        case int16: return "int16"
        case int32: return "int32"
        case float32: return "float32"
        case complex64: return "complex64"
        case float64: return "float64"
        case rgb24: return "rgb24"
        case int8: return "int8"
        case uint16: return "uint16"
        case uint32: return "uint32"
        case int64: return "int64"
        case uint64: return "uint64"
        case float128: return "float128"
        case complex128: return "complex128"
        case complex256: return "complex256"
        case rgba32: return "rgba32"
        default: return "not a NIfTI datatype"
        }
    }

    /// Converts `count` native-order voxels of type `code` at `source` to Float32, applying
    /// value * slope + intercept in Float64 (so int32 and float64 data keep their precision until
    /// the final rounding). Work is split over the cores.
    static func convert(_ source: UnsafeRawPointer, code: Int, count: Int,
                        scaling: (slope: Double, intercept: Double)?, into out: UnsafeMutablePointer<Float>) {
        switch code {
        case uint8: convertIntegers(source, UInt8.self, count, scaling, out)
        case int8: convertIntegers(source, Int8.self, count, scaling, out)
        case int16: convertIntegers(source, Int16.self, count, scaling, out)
        case uint16: convertIntegers(source, UInt16.self, count, scaling, out)
        case int32: convertIntegers(source, Int32.self, count, scaling, out)
        case uint32: convertIntegers(source, UInt32.self, count, scaling, out)
        case int64: convertIntegers(source, Int64.self, count, scaling, out)
        case uint64: convertIntegers(source, UInt64.self, count, scaling, out)
        case float32: convertReals(source, Float.self, count, scaling, out)
        case float64: convertReals(source, Double.self, count, scaling, out)
        default: preconditionFailure("datatype \(code) must be refused before conversion")
        }
    }

    private static func convertIntegers<T: BinaryInteger>(
        _ source: UnsafeRawPointer, _ type: T.Type, _ count: Int,
        _ scaling: (slope: Double, intercept: Double)?, _ out: UnsafeMutablePointer<Float>
    ) {
        let typed = source.assumingMemoryBound(to: T.self)
        Parallel.forEachChunk(count, minimumChunk: 1 << 16) { range in
            if let (slope, intercept) = scaling {
                for i in range { out[i] = Float(Double(typed[i]) * slope + intercept) }
            } else {
                for i in range { out[i] = Float(typed[i]) }
            }
        }
    }

    private static func convertReals<T: BinaryFloatingPoint>(
        _ source: UnsafeRawPointer, _ type: T.Type, _ count: Int,
        _ scaling: (slope: Double, intercept: Double)?, _ out: UnsafeMutablePointer<Float>
    ) {
        let typed = source.assumingMemoryBound(to: T.self)
        Parallel.forEachChunk(count, minimumChunk: 1 << 16) { range in
            if let (slope, intercept) = scaling {
                for i in range { out[i] = Float(Double(typed[i]) * slope + intercept) }
            } else {
                for i in range { out[i] = Float(typed[i]) }
            }
        }
    }
}
