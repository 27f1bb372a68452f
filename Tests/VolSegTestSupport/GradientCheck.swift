import Foundation
import VolSegCore

/// Finite-difference check of an op's backward, for ops the golden file does not cover.
///
/// The op's output is projected on a fixed pseudo-random direction r: L(x) = Σ r·f(x), summed in
/// Float64 so the float32 forward is the only source of rounding. The analytic gradient is the
/// backward of f seeded with r; the numeric one is a central difference of L in Float64. Returns,
/// per input, ‖analytic − numeric‖ / ‖numeric‖. Keep inputs away from kinks (ReLU at 0, ties in max).
public func finiteDifferenceErrors(inputs: [Tensor], step: Float = 1e-2, seed: UInt64 = 42,
                                   _ f: ([Tensor]) -> Tensor) -> [Double] {
    for x in inputs { x.requiresGrad = true; x.grad = nil }
    let output = f(inputs)
    var state = seed
    let direction = (0..<output.count).map { _ -> Float in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int64(bitPattern: state >> 11) % 2000) / 1000 - 1
    }
    Tensor.backward(roots: [output], gradients: [Tensor(shape: output.shape, values: direction)])

    func projected() -> Double {
        let y = withNoGrad { f(inputs) }
        var s = 0.0
        for i in 0..<y.count { s += Double(direction[i]) * Double(y.data[i]) }
        return s
    }
    return inputs.map { x in
        let analytic = x.grad?.toArray() ?? [Float](repeating: 0, count: x.count)
        var diff = 0.0, norm = 0.0
        for i in 0..<x.count {
            let saved = x.data[i]
            x.data[i] = saved + step
            let plus = projected()
            x.data[i] = saved - step
            let minus = projected()
            x.data[i] = saved
            let numeric = (plus - minus) / (2 * Double(step))
            diff += (Double(analytic[i]) - numeric) * (Double(analytic[i]) - numeric)
            norm += numeric * numeric
        }
        return norm == 0 ? diff.squareRoot() : (diff / norm).squareRoot()
    }
}

/// A deterministic tensor of values in [low, high), for tests.
public func seededTensor(_ shape: [Int], seed: UInt64 = 1, low: Float = -1, high: Float = 1) -> Tensor {
    var state = seed &* 0x9E3779B97F4A7C15 | 1
    let values = (0..<Tensor.elementCount(shape)).map { _ -> Float in
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        return low + (high - low) * Float(state >> 40) / Float(1 << 24)
    }
    return Tensor(shape: shape, values: values)
}
