import Foundation
import VolSegCore

/// The inner loops of the fused norm + SiLU op (MBConvNormActivation.swift), eight lanes at a
/// time. Sums run in Float32 lanes over runs of 1024 values and in Float64 across runs, the
/// accuracy of a Float64 sum at the speed of a SIMD one.
enum FusedLoops {
    typealias Lanes = SIMD8<Float>
    static let run = 1024

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> Lanes { UnsafeRawPointer(p).loadUnaligned(as: Lanes.self) }

    @inline(__always)
    static func store(_ v: Lanes, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lanes.self) }

    /// e^x for each lane (Cephes' expf: range reduction by ln 2, degree-5 polynomial; about 1 ulp).
    @inline(__always)
    static func exp(_ v: Lanes) -> Lanes {
        let x0 = v.clamped(lowerBound: Lanes(repeating: -87.3), upperBound: Lanes(repeating: 88.3))
        let n = (x0 * 1.44269504088896341).rounded(.toNearestOrEven)
        let x = x0 - n * 0.693359375 + n * 2.12194440e-4
        var p = Lanes(repeating: 1.9875691500e-4)
        p = p * x + 1.3981999507e-3
        p = p * x + 8.3334519073e-3
        p = p * x + 4.1665795894e-2
        p = p * x + 1.6666665459e-1
        p = p * x + 5.0000001201e-1
        let y = p * (x * x) + x + 1
        let exponent = SIMD8<Int32>(truncatingIfNeeded: SIMD8<Int64>(n, rounding: .towardZero)) &+ 127
        return y * unsafeBitCast(exponent &<< 23, to: Lanes.self)
    }

    @inline(__always)
    static func sigmoid(_ z: Lanes) -> Lanes { 1 / (1 + exp(-z)) }

    @inline(__always)
    static func sigmoid(_ z: Float) -> Float { 1 / (1 + Foundation.exp(-z)) }

    static func sum(_ x: UnsafePointer<Float>, _ count: Int) -> Double {
        var total = 0.0, i = 0
        while i < count {
            let end = min(count, i + run)
            var partial = Lanes()
            while i + 8 <= end { partial += load(x + i); i += 8 }
            var s = Double(partial.sum())
            while i < end { s += Double(x[i]); i += 1 }
            total += s
        }
        return total
    }

    static func centredSquares(_ x: UnsafePointer<Float>, _ count: Int, mean: Float) -> Double {
        var total = 0.0, i = 0
        let m = Lanes(repeating: mean)
        while i < count {
            let end = min(count, i + run)
            var partial = Lanes()
            while i + 8 <= end {
                let d = load(x + i) - m
                partial.addProduct(d, d)
                i += 8
            }
            var s = Double(partial.sum())
            while i < end { let d = Double(x[i] - mean); s += d * d; i += 1 }
            total += s
        }
        return total
    }

    /// y = z · sigmoid(z) with z = x · scale + shift.
    static func affineSiLU(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int,
                           scale: Float, shift: Float) {
        var i = 0
        while i + 8 <= count {
            let z = load(x + i) * scale + shift
            store(z * sigmoid(z), y + i)
            i += 8
        }
        while i < count {
            let z = x[i] * scale + shift
            y[i] = z * sigmoid(z)
            i += 1
        }
    }

    /// The gradient at the norm's output (before SiLU), gz = gy · s · (1 + z (1 − s)) with
    /// s = sigmoid(z), z = γ x̂ + β.
    @inline(__always)
    static func normOutputGradient(_ gy: Lanes, _ xhat: Lanes, gamma: Float, beta: Float) -> Lanes {
        let z = xhat * gamma + beta
        let s = sigmoid(z)
        return gy * s * (1 + z * (1 - s))
    }

    @inline(__always)
    static func normOutputGradient(_ gy: Float, _ xhat: Float, gamma: Float, beta: Float) -> Float {
        let z = xhat * gamma + beta
        let s = sigmoid(z)
        return gy * s * (1 + z * (1 - s))
    }

    /// Σ gz and Σ gz · x̂ over one plane.
    static func gradientSums(_ x: UnsafePointer<Float>, _ gy: UnsafePointer<Float>, _ count: Int, mean: Float,
                             inverseStd: Float, gamma: Float, beta: Float)
        -> (gradient: Double, gradientTimesNormalised: Double) {
        var a = 0.0, b = 0.0, i = 0
        while i < count {
            let end = min(count, i + run)
            var pa = Lanes(), pb = Lanes()
            while i + 8 <= end {
                let xhat = (load(x + i) - mean) * inverseStd
                let gz = normOutputGradient(load(gy + i), xhat, gamma: gamma, beta: beta)
                pa += gz
                pb.addProduct(gz, xhat)
                i += 8
            }
            var sa = Double(pa.sum()), sb = Double(pb.sum())
            while i < end {
                let xhat = (x[i] - mean) * inverseStd
                let gz = normOutputGradient(gy[i], xhat, gamma: gamma, beta: beta)
                sa += Double(gz)
                sb += Double(gz * xhat)
                i += 1
            }
            a += sa
            b += sb
        }
        return (a, b)
    }

    /// dx = inverseStd · (γ gz − meanGradient − x̂ · meanGradientTimesNormalised).
    static func inputGradient(_ x: UnsafePointer<Float>, _ gy: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                              _ count: Int, mean: Float, inverseStd: Float, gamma: Float, beta: Float,
                              meanGradient: Float, meanGradientTimesNormalised: Float) {
        var i = 0
        while i + 8 <= count {
            let xhat = (load(x + i) - mean) * inverseStd
            let gz = normOutputGradient(load(gy + i), xhat, gamma: gamma, beta: beta)
            store((gz * gamma - meanGradient - xhat * meanGradientTimesNormalised) * inverseStd, out + i)
            i += 8
        }
        while i < count {
            let xhat = (x[i] - mean) * inverseStd
            let gz = normOutputGradient(gy[i], xhat, gamma: gamma, beta: beta)
            out[i] = (gz * gamma - meanGradient - xhat * meanGradientTimesNormalised) * inverseStd
            i += 1
        }
    }
}
