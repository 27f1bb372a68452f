import Foundation

// Vector loops shared by the pointwise kernels (activations, norms, losses). Sixteen lanes are two
// AVX2 registers: enough independent work per iteration to hide FMA latency on Haswell.

typealias Lanes = SIMD16<Float>

enum VectorMemory {
    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> Lanes {
        UnsafeRawPointer(p).loadUnaligned(as: Lanes.self)
    }

    @inline(__always)
    static func load(_ p: UnsafeMutablePointer<Float>) -> Lanes {
        UnsafeRawPointer(p).loadUnaligned(as: Lanes.self)
    }

    @inline(__always)
    static func store(_ v: Lanes, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lanes.self)
    }
}

/// exp(x) for sixteen lanes at once, accurate to about 2 ulp (Cephes' expf polynomial): the
/// scalar `exp` does not vectorise and made SiLU and sigmoid four times slower than a ReLU.
@inline(__always)
func vectorExp(_ input: Lanes) -> Lanes {
    // Beyond these bounds float exp over/underflows; clamping keeps the bit trick below valid.
    let x = input.clamped(lowerBound: Lanes(repeating: -87.3), upperBound: Lanes(repeating: 88.3))
    // x = n ln2 + r with |r| <= ln2 / 2; ln2 is split in two so that n * ln2 stays exact.
    let n = (x * 1.44269504088896341).rounded(.toNearestOrEven)
    var r = x - n * 0.693359375
    r = r + n * 2.12194440e-4
    var p = Lanes(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    p = p * (r * r) + r + 1
    // Scale by 2^n by adding n to the exponent bits.
    let bits = (SIMD16<Int32>(n) &+ 127) &<< 23
    return p * unsafeBitCast(bits, to: Lanes.self)
}

@inline(__always)
func vectorSigmoid(_ x: Lanes) -> Lanes {
    1 / (1 + vectorExp(-x))
}

/// Runs `vector` over 16-element blocks and `scalar` over the tail of 0..<count, split into
/// parallel chunks.
@inline(__always)
func forEachLaneBlock(_ count: Int, minimumChunk: Int = 1 << 15,
                      vector: (Int) -> Void, scalar: (Int) -> Void) {
    Parallel.forEachChunk(count, minimumChunk: minimumChunk) { range in
        var i = range.lowerBound
        while i + 16 <= range.upperBound { vector(i); i += 16 }
        while i < range.upperBound { scalar(i); i += 1 }
    }
}

/// Natural log of sixteen positive normal lanes (Cephes' logf polynomial, about 2 ulp); the
/// losses take one log per voxel.
@inline(__always)
func vectorLog(_ x: Lanes) -> Lanes {
    let bits = unsafeBitCast(x, to: SIMD16<Int32>.self)
    // x = m * 2^e with m in [sqrt(1/2), sqrt(2)): log x = e ln2 + log m, and log(1 + f) by polynomial.
    var exponent = Lanes((bits &>> 23) &- 126)
    var m = unsafeBitCast((bits & 0x007F_FFFF) | 0x3F00_0000, to: Lanes.self)
    let small = m .< 0.707106781186547524
    exponent = exponent.replacing(with: exponent - 1, where: small)
    m = m.replacing(with: m + m, where: small)
    let f = m - 1
    let z = f * f
    var p = Lanes(repeating: 7.0376836292e-2)
    p = p * f - 1.1514610310e-1
    p = p * f + 1.1676998740e-1
    p = p * f - 1.2420140846e-1
    p = p * f + 1.4249322787e-1
    p = p * f - 1.6668057665e-1
    p = p * f + 2.0000714765e-1
    p = p * f - 2.4999993993e-1
    p = p * f + 3.3333331174e-1
    var y = p * f * z
    y = y - exponent * 2.12194440e-4
    y = y - 0.5 * z
    return f + y + exponent * 0.693359375
}

/// Loads `count` (< 16) floats into the low lanes, `fill` in the rest.
@inline(__always)
func loadPartial(_ p: UnsafePointer<Float>, count: Int, fill: Float = 0) -> Lanes {
    if count == 16 { return VectorMemory.load(p) }
    var v = Lanes(repeating: fill)
    for i in 0..<count { v[i] = p[i] }
    return v
}

/// Stores the low `count` lanes.
@inline(__always)
func storePartial(_ v: Lanes, _ p: UnsafeMutablePointer<Float>, count: Int) {
    if count == 16 { VectorMemory.store(v, p); return }
    for i in 0..<count { p[i] = v[i] }
}

/// Lanes below `count` are true.
@inline(__always)
func laneMask(count: Int) -> SIMDMask<SIMD16<Int32>> {
    SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) .< Int32(count)
}
