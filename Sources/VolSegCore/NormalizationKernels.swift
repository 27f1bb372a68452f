import Foundation

// The one kernel behind BatchNorm, InstanceNorm and GroupNorm (optionally fused with LeakyReLU).
//
// All three normalise each (n, c) plane of an [N, C, spatial...] tensor with a mean and variance;
// they differ only in which planes share those statistics: BatchNorm pools channel c over the
// batch, InstanceNorm uses each plane alone, GroupNorm pools C/G neighbouring channels of a sample.
// So the work is per plane (with planes split into chunks when there are fewer planes than
// threads), and the statistics are combined from per-plane Float64 sums.
//
// Forward is two passes over x: moments, then normalise (+ activate). Backward is two passes over
// x and the output gradient: two sums per plane, then the input gradient. With g the gradient
// reaching the normalised value (after the LeakyReLU mask), xhat = (x - mean) / std:
//   gx = gamma / std * (g - mean_group(gamma * g) / gamma - xhat * mean_group(gamma * g * xhat) / gamma)
// which per plane is gx = a * g + k1 * (x - mean) + k0 with three constants.

/// Which planes share one mean and variance.
package enum NormalizationGrouping: Equatable {
    case batch
    case instance
    case groups(Int)
}

struct NormalizationLayout {
    let batch: Int
    let channels: Int
    /// Elements per (n, c) plane.
    let spatial: Int
    let grouping: NormalizationGrouping

    init(shape: [Int], grouping: NormalizationGrouping) {
        precondition(shape.count >= 2, "normalisation needs [N, C, ...], got \(shape)")
        batch = shape[0]
        channels = shape[1]
        spatial = shape[2...].reduce(1, *)
        self.grouping = grouping
        if case .groups(let g) = grouping {
            precondition(g > 0 && channels % g == 0, "\(channels) channels do not split into \(g) groups")
        }
    }

    var planes: Int { batch * channels }

    var statisticsCount: Int {
        switch grouping {
        case .batch: return channels
        case .instance: return batch * channels
        case .groups(let g): return batch * g
        }
    }

    /// Elements that share one statistic.
    var elementsPerStatistic: Int {
        switch grouping {
        case .batch: return batch * spatial
        case .instance: return spatial
        case .groups(let g): return channels / g * spatial
        }
    }

    func statistic(ofPlane plane: Int) -> Int {
        switch grouping {
        case .batch: return plane % channels
        case .instance: return plane
        case .groups(let g): return (plane / channels) * g + (plane % channels) / (channels / g)
        }
    }
}

/// Splits every plane into a few chunks so that small batches of large planes still fill every
/// thread, and runs `body(plane, chunk, range)` for each chunk in parallel.
struct PlaneChunks {
    let planes: Int
    let spatial: Int
    let perPlane: Int
    let length: Int

    init(planes: Int, spatial: Int) {
        self.planes = planes
        self.spatial = spatial
        let wanted = (Parallel.threadCount * 4 + max(planes, 1) - 1) / max(planes, 1)
        perPlane = max(1, min(wanted, spatial / 16384))
        // Chunk starts on 16-element boundaries keep the vector loops' tails at plane ends only.
        length = ((spatial + perPlane - 1) / perPlane + 15) / 16 * 16
    }

    var count: Int { planes * perPlane }

    /// Two sums per group: `rangeSums(plane, range)` over every chunk in parallel, then added
    /// into group `groupOf(plane)` in plane and chunk order (a fixed order, so the result does not
    /// depend on which thread finished first). Every norm's statistics and gradient sums use it.
    func pairSums(groups: Int, groupOf: (Int) -> Int,
                  _ rangeSums: (_ plane: Int, _ range: Range<Int>) -> (Double, Double)) -> (first: [Double], second: [Double]) {
        var partial = [Double](repeating: 0, count: count * 2)
        partial.withUnsafeMutableBufferPointer { out in
            let out = out
            forEach { plane, chunk, range in
                let (a, b) = rangeSums(plane, range)
                out[2 * (plane * perPlane + chunk)] = a
                out[2 * (plane * perPlane + chunk) + 1] = b
            }
        }
        var first = [Double](repeating: 0, count: groups), second = first
        for plane in 0..<planes {
            let group = groupOf(plane)
            for chunk in 0..<perPlane {
                first[group] += partial[2 * (plane * perPlane + chunk)]
                second[group] += partial[2 * (plane * perPlane + chunk) + 1]
            }
        }
        return (first, second)
    }

    func forEach(_ body: (_ plane: Int, _ chunk: Int, _ range: Range<Int>) -> Void) {
        Parallel.forEach(count) { task in
            let plane = task / perPlane, chunk = task % perPlane
            let start = min(spatial, chunk * length), end = min(spatial, start + length)
            body(plane, chunk, start..<end)
        }
    }
}

/// Per-statistic mean and biased variance, in Float64.
struct NormalizationStatistics {
    var mean: [Double]
    var variance: [Double]

    func inverseStd(eps: Double) -> [Double] { variance.map { 1 / ($0 + eps).squareRoot() } }
}

enum NormalizationKernels {
    /// Mean and biased variance of every statistic group. Sums are taken about a shift (one
    /// element of the group), so a large common offset does not cancel catastrophically.
    static func statistics(_ x: UnsafePointer<Float>, _ layout: NormalizationLayout) -> NormalizationStatistics {
        let stats = layout.statisticsCount
        // Any element of the group will do as the shift; take the first of its first plane.
        var shift = [Float](repeating: 0, count: stats)
        for plane in stride(from: layout.planes - 1, through: 0, by: -1) where layout.spatial > 0 {
            shift[layout.statistic(ofPlane: plane)] = x[plane * layout.spatial]
        }
        let chunks = PlaneChunks(planes: layout.planes, spatial: layout.spatial)
        let (sum, sumSquares) = shift.withUnsafeBufferPointer { shift in
            let shift = shift
            return chunks.pairSums(groups: stats, groupOf: layout.statistic(ofPlane:)) { plane, range in
                shiftedMoments(x + plane * layout.spatial, range, shift: shift[layout.statistic(ofPlane: plane)])
            }
        }
        let m = Double(max(layout.elementsPerStatistic, 1))
        var result = NormalizationStatistics(mean: sum, variance: sum)
        for s in 0..<stats {
            let shiftedMean = sum[s] / m
            result.mean[s] = Double(shift[s]) + shiftedMean
            result.variance[s] = max(0, sumSquares[s] / m - shiftedMean * shiftedMean)
        }
        return result
    }

    /// Σ (x - shift) and Σ (x - shift)² over `range`, accumulated in Float64.
    @inline(__always)
    static func shiftedMoments(_ x: UnsafePointer<Float>, _ range: Range<Int>, shift: Float) -> (Double, Double) {
        var s0 = SIMD8<Double>(), s1 = SIMD8<Double>(), q0 = SIMD8<Double>(), q1 = SIMD8<Double>()
        let shiftLanes = Lanes(repeating: shift)
        var i = range.lowerBound
        while i + 16 <= range.upperBound {
            let d = VectorMemory.load(x + i) - shiftLanes
            let lo = SIMD8<Double>(d.lowHalf), hi = SIMD8<Double>(d.highHalf)
            s0 += lo
            s1 += hi
            q0.addProduct(lo, lo)
            q1.addProduct(hi, hi)
            i += 16
        }
        var s = (s0 + s1).sum(), q = (q0 + q1).sum()
        while i < range.upperBound {
            let d = Double(x[i] - shift)
            s += d
            q += d * d
            i += 1
        }
        return (s, q)
    }

    /// y = (x - mean) * scale + shift per plane, then LeakyReLU when `slope` is given.
    static func normalize(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ layout: NormalizationLayout,
                          planeMean: [Float], planeScale: [Float], planeShift: [Float], slope: Float?) {
        let chunks = PlaneChunks(planes: layout.planes, spatial: layout.spatial)
        chunks.forEach { plane, _, range in
            let offset = plane * layout.spatial
            let src = x + offset, dst = y + offset
            let m = planeMean[plane], a = planeScale[plane], b = planeShift[plane]
            if let slope {
                normalizeRange(src, dst, range, m, a, b) { z in z.replacing(with: z * slope, where: z .< 0) } scalar: { z in
                    z < 0 ? z * slope : z
                }
            } else {
                normalizeRange(src, dst, range, m, a, b) { $0 } scalar: { $0 }
            }
        }
    }

    @inline(__always)
    static func normalizeRange(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ range: Range<Int>,
                               _ m: Float, _ a: Float, _ b: Float,
                               activation: (Lanes) -> Lanes, scalar: (Float) -> Float) {
        let mv = Lanes(repeating: m), av = Lanes(repeating: a), bv = Lanes(repeating: b)
        var i = range.lowerBound
        while i + 16 <= range.upperBound {
            var z = bv
            z.addProduct(VectorMemory.load(src + i) - mv, av)
            VectorMemory.store(activation(z), dst + i)
            i += 16
        }
        while i < range.upperBound {
            dst[i] = scalar(b.addingProduct(src[i] - m, a))
            i += 1
        }
    }

    /// Per plane: Σ g and Σ g * (x - mean), where g is the output gradient passed back through
    /// the LeakyReLU (whose branch is recomputed exactly as forward computed it). `saved` is x, or
    /// the output y when `planes.fromOutput` (x - mean is then rebuilt from y).
    static func gradientSums(_ saved: UnsafePointer<Float>, _ gy: UnsafePointer<Float>, _ layout: NormalizationLayout,
                             _ planes: SavedPlanes) -> (gradient: [Double], gradientTimesCentred: [Double]) {
        let chunks = PlaneChunks(planes: layout.planes, spatial: layout.spatial)
        let (g, gc) = chunks.pairSums(groups: layout.planes, groupOf: { $0 }) { plane, range in
            let offset = plane * layout.spatial
            return gradientSumsRange(saved + offset, gy + offset, range, planes.reconstruction(plane))
        }
        return (g, gc)
    }

    @inline(__always)
    static func gradientSumsRange(_ saved: UnsafePointer<Float>, _ gy: UnsafePointer<Float>, _ range: Range<Int>,
                                  _ r: PlaneReconstruction) -> (Double, Double) {
        var s0 = SIMD8<Double>(), s1 = SIMD8<Double>(), t0 = SIMD8<Double>(), t1 = SIMD8<Double>()
        var i = range.lowerBound
        while i + 16 <= range.upperBound {
            let (centred, g) = r.centredAndGradient(VectorMemory.load(saved + i), VectorMemory.load(gy + i))
            let gc = g * centred
            s0 += SIMD8<Double>(g.lowHalf)
            s1 += SIMD8<Double>(g.highHalf)
            t0 += SIMD8<Double>(gc.lowHalf)
            t1 += SIMD8<Double>(gc.highHalf)
            i += 16
        }
        var s = (s0 + s1).sum(), t = (t0 + t1).sum()
        while i < range.upperBound {
            let (centred, g) = r.centredAndGradient(saved[i], gy[i])
            s += Double(g)
            t += Double(g) * Double(centred)
            i += 1
        }
        return (s, t)
    }

    /// gx = a * g + k1 * (x - mean) + k0 per plane, g masked by the LeakyReLU branch.
    static func inputGradient(_ saved: UnsafePointer<Float>, _ gy: UnsafePointer<Float>, _ gx: UnsafeMutablePointer<Float>,
                              _ layout: NormalizationLayout, _ planes: SavedPlanes, k0: [Float], k1: [Float]) {
        let chunks = PlaneChunks(planes: layout.planes, spatial: layout.spatial)
        chunks.forEach { plane, _, range in
            let offset = plane * layout.spatial
            let src = saved + offset, g = gy + offset, dst = gx + offset
            let r = planes.reconstruction(plane)
            let c0 = k0[plane], c1 = k1[plane]
            let av = Lanes(repeating: r.scale), c0v = Lanes(repeating: c0), c1v = Lanes(repeating: c1)
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                let (centred, gv) = r.centredAndGradient(VectorMemory.load(src + i), VectorMemory.load(g + i))
                var out = c0v
                out.addProduct(centred, c1v)
                out.addProduct(gv, av)
                VectorMemory.store(out, dst + i)
                i += 16
            }
            while i < range.upperBound {
                let (centred, gv) = r.centredAndGradient(src[i], g[i])
                dst[i] = r.scale * gv + c1 * centred + c0
                i += 1
            }
        }
    }
}

/// What a normalisation's backward reads, per plane: forward computed z = (x - mean) * scale + shift
/// and y = LeakyReLU(z). Backward needs x - mean and the activation's branch. Both come from the
/// input x, or, when the output y is kept instead (`fromOutput`), from y: the LeakyReLU with a
/// positive slope is invertible and the affine map is when scale != 0, so
/// x - mean = (LeakyReLU^-1(y) - shift) / scale. Keeping y, which the next convolution keeps as its
/// own input anyway, lets the convolution's output be freed right after the norm: one tensor per
/// conv + norm + activation block instead of two (the idea of in-place activated BatchNorm,
/// Rota Bulo et al., CVPR 2018).
struct SavedPlanes {
    let fromOutput: Bool
    let mean: [Float]
    let scale: [Float]
    let shift: [Float]
    let slope: Float?

    func reconstruction(_ plane: Int) -> PlaneReconstruction {
        PlaneReconstruction(fromOutput: fromOutput, mean: mean[plane], scale: scale[plane], shift: shift[plane], slope: slope)
    }

    /// Whether y determines x - mean to about Float precision: a positive slope (or none) and, per
    /// channel, gamma not tiny next to beta. z - beta = gamma * xhat with xhat of order 1, so the
    /// rebuilt xhat carries a relative error of about ulp(beta) / |gamma| (at most ~1e-5 here),
    /// whatever the statistics: the choice depends on the parameters only, so planning (which has
    /// no data) makes the same one.
    static func outputSuffices(gamma: [Float], beta: [Float], slope: Float?) -> Bool {
        if let slope, !(slope > 0) { return false }
        return gamma.indices.allSatisfy { c in abs(gamma[c]) >= 1e-2 * max(1, abs(c < beta.count ? beta[c] : 0)) }
    }
}

struct PlaneReconstruction {
    let fromOutput: Bool
    let mean: Float
    let scale: Float
    let shift: Float
    let slope: Float?

    /// (x - mean, the output gradient through the LeakyReLU branch) from a saved value and dy.
    @inline(__always)
    func centredAndGradient(_ saved: Lanes, _ gy: Lanes) -> (Lanes, Lanes) {
        let z: Lanes, centred: Lanes
        if fromOutput {
            z = slope.map { saved.replacing(with: saved * (1 / $0), where: saved .< 0) } ?? saved
            centred = (z - Lanes(repeating: shift)) * Lanes(repeating: 1 / scale)
        } else {
            centred = saved - Lanes(repeating: mean)
            var value = Lanes(repeating: shift)
            value.addProduct(centred, Lanes(repeating: scale))
            z = value
        }
        guard let slope else { return (centred, gy) }
        return (centred, gy.replacing(with: gy * slope, where: z .<= 0))
    }

    @inline(__always)
    func centredAndGradient(_ saved: Float, _ gy: Float) -> (Float, Float) {
        let z: Float, centred: Float
        if fromOutput {
            z = slope.map { saved < 0 ? saved * (1 / $0) : saved } ?? saved
            centred = (z - shift) * (1 / scale)
        } else {
            centred = saved - mean
            z = shift.addingProduct(centred, scale)
        }
        guard let slope, z <= 0 else { return (centred, gy) }
        return (centred, gy * slope)
    }
}
