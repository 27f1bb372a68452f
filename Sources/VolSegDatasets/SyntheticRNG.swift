import Foundation

/// The random numbers of the synthetic datasets: SplitMix64 (Steele, Lea and Flood 2014), small,
/// fast and identical on every platform, so a seed gives the same volumes everywhere.
///
/// Voxel noise uses the counter form (`hash(seed, index)`) rather than a running stream, so that
/// slices filled in parallel get the same values in any thread order.
public struct SyntheticRNG: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SyntheticRNG.mix(state)
    }

    /// A uniform value in [low, high).
    public mutating func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * SyntheticRNG.unit(next())
    }

    /// SplitMix64's finaliser: a bijective scramble of 64 bits.
    @inline(__always)
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// 53 random bits as a Double in [0, 1).
    @inline(__always)
    static func unit(_ bits: UInt64) -> Double { Double(bits >> 11) * 0x1.0p-53 }

    /// A standard normal value that depends only on (seed, index) (Box-Muller on two hashes).
    @inline(__always)
    public static func gaussian(seed: UInt64, index: Int) -> Float {
        let a = mix(seed &+ UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15)
        let b = mix(a ^ 0xD1B5_4A32_D192_ED03)
        let u1 = max(unit(a), 1e-300), u2 = unit(b)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
}
