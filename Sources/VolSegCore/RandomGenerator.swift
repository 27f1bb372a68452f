/// xoshiro256** seeded through SplitMix64: fast, reproducible across platforms, and its whole
/// state (four words) can be saved in a checkpoint so a resumed run draws the same numbers.
public struct RandomGenerator: RandomNumberGenerator, Sendable {
    public private(set) var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var s = seed
        func splitMix() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    public init(state: [UInt64]) {
        precondition(state.count == 4, "a generator state has 4 words")
        self.state = (state[0], state[1], state[2], state[3])
    }

    public var stateWords: [UInt64] { [state.0, state.1, state.2, state.3] }

    public mutating func next() -> UInt64 {
        let result = ((state.1 &* 5) << 7 | (state.1 &* 5) >> 57) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = state.3 << 45 | state.3 >> 19
        return result
    }

    /// Uniform in [0, 1) with 24 random bits (exactly representable as Float).
    public mutating func nextUniform() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Standard normal by Box-Muller.
    public mutating func nextNormal() -> Float {
        let u1 = max(Double(next() >> 11) * 0x1p-53, 1e-300)
        let u2 = Double(next() >> 11) * 0x1p-53
        return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
    }
}

@inline(__always) private func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Foundation.cos(x) }

import Foundation

extension Tensor {
    /// Normal(0, std) values from `generator`.
    public static func randomNormal(_ shape: [Int], std: Float, generator: inout RandomGenerator,
                                    planned: Bool = false) -> Tensor {
        let t = Tensor.empty(shape, planned: planned)
        if planned { return t }
        for i in 0..<t.count { t.data[i] = generator.nextNormal() * std }
        return t
    }

    /// Uniform(low, high) values from `generator`.
    public static func randomUniform(_ shape: [Int], low: Float, high: Float, generator: inout RandomGenerator,
                                     planned: Bool = false) -> Tensor {
        let t = Tensor.empty(shape, planned: planned)
        if planned { return t }
        for i in 0..<t.count { t.data[i] = low + (high - low) * generator.nextUniform() }
        return t
    }
}
