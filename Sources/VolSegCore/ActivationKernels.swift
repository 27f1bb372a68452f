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

/// Lane-wise maximum and minimum. The standard library's `pointwiseMax`/`pointwiseMin` follow
/// IEEE maxNum (NaN handling lane by lane) and compile to a scalar loop through memory; a compare
/// and blend is two instructions. (A NaN in `b` is ignored, one in `a` kept.)
@inline(__always)
func lanesMax(_ a: Lanes, _ b: Lanes) -> Lanes { a.replacing(with: b, where: a .< b) }

@inline(__always)
func lanesMin(_ a: Lanes, _ b: Lanes) -> Lanes { a.replacing(with: b, where: b .< a) }

/// exp(x) for sixteen lanes at once, accurate to about 2 ulp (Cephes' expf polynomial): the
/// scalar `exp` does not vectorise and made SiLU and sigmoid four times slower than a ReLU.
/// Integer conversions go through bit tricks: Swift's generic SIMD float<->int initialisers run
/// element by element through the runtime and cost more than the whole polynomial.
@inline(__always)
func vectorExp(_ input: Lanes) -> Lanes {
    // Beyond these bounds float exp over/underflows; clamping keeps the exponent trick valid.
    let x = lanesMin(lanesMax(input, Lanes(repeating: -87.3)), Lanes(repeating: 88.3))
    // x = n ln2 + r with |r| <= ln2 / 2. Adding 1.5 * 2^23 rounds x / ln2 to an integer n, which
    // then sits in the low mantissa bits; ln2 is split in two so that n * ln2 stays exact.
    let magic: Float = 12_582_912
    let shifted = x * 1.44269504088896341 + magic
    let n = shifted - magic
    var r = x - n * 0.693359375
    r = r + n * 2.12194440e-4
    var p = Lanes(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    p = p * (r * r) + r + 1
    // Scale by 2^n: n + 127 in the exponent field.
    let integerN = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
    return p * unsafeBitCast((integerN &+ 127) &<< 23, to: Lanes.self)
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
    // The biased exponent (0...255) as a float: placed in the mantissa of 2^23, minus 2^23.
    let biased = unsafeBitCast(((bits &>> 23) & 0xFF) | 0x4B00_0000, to: Lanes.self) - 8_388_608
    var exponent = biased - 126
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

/// Lanes below `count` are true. (Compared as floats: the Int32 vector comparison compiled to a
/// lane-by-lane loop through memory and took most of a loss kernel's time.)
@inline(__always)
func laneMask(count: Int) -> SIMDMask<SIMD16<Int32>> {
    Lanes(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) .< Float(count)
}
