import Foundation

/// scipy.ndimage's B-spline prefilter (`spline_filter1d`, ni_splines.c): turns samples into
/// B-spline coefficients, so that the spline through the coefficients passes through the samples.
/// Interpolating the samples directly with cubic weights would blur them instead.
///
/// The filter is a gain and one causal plus one anticausal first-order recursion per pole
/// (Unser, Aldroubi & Eden 1991). Only the initial values depend on the boundary; scipy uses its
/// 'reflect' initialisation for mode 'nearest' and relies on 12 voxels of edge padding
/// (`_prepad_for_spline_filter`) to make the difference from a true edge extension negligible, so
/// the caller pads and this type only filters. The operations run in scipy's order, in Float64.
enum SplinePrefilter {
    /// The filter's poles for spline `order` (none below 2: orders 0 and 1 interpolate samples directly).
    static func poles(order: Int) -> [Double] {
        switch order {
        case 0, 1: return []
        case 2: return [-0.171572875253809902396622551580603843]  // sqrt(8) - 3
        case 3: return [-0.267949192431122706472553658494127633]  // sqrt(3) - 2
        default: preconditionFailure("spline order \(order) is not supported (0...3)")
        }
    }

    /// Filters `width` lines at once, in place: element i of line j is `base[i * stride + j]`. A
    /// bundle of neighbouring lines keeps the recursion's inner loop contiguous when the lines run
    /// along a slow axis; `width: 1, stride: 1` is one contiguous line.
    static func filterLines(_ base: UnsafeMutablePointer<Double>, length n: Int, stride step: Int, width: Int, order: Int) {
        // scipy leaves lines of one sample unchanged (the gain would otherwise scale them).
        guard n > 1 else { return }
        let poles = poles(order: order)
        if poles.isEmpty { return }
        var gain = 1.0
        for z in poles { gain *= (1.0 - z) * (1.0 - 1.0 / z) }
        for i in 0..<n {
            let row = base + i * step
            for j in 0..<width { row[j] *= gain }
        }
        for z in poles {
            causalInitialReflect(base, length: n, stride: step, width: width, pole: z)
            for i in 1..<n {
                let row = base + i * step, previous = row - step
                for j in 0..<width { row[j] += z * previous[j] }
            }
            // Anticausal start for 'reflect': c[n-1] *= z / (z - 1).
            let factor = z / (z - 1), last = base + (n - 1) * step
            for j in 0..<width { last[j] *= factor }
            for i in stride(from: n - 2, through: 0, by: -1) {
                let row = base + i * step, next = row + step
                for j in 0..<width { row[j] = z * (next[j] - row[j]) }
            }
        }
    }

    /// `_init_causal_reflect`: the causal recursion's first value for a half-sample symmetric
    /// extension, summed over the whole line as scipy does (no truncation of the geometric series).
    private static func causalInitialReflect(_ base: UnsafeMutablePointer<Double>, length n: Int, stride step: Int,
                                             width: Int, pole z: Double) {
        let zn = pow(z, Double(n))
        let first = base, last = base + (n - 1) * step
        withUnsafeTemporaryAllocation(of: Double.self, capacity: width) { original in
            for j in 0..<width { original[j] = first[j] }
            for j in 0..<width { first[j] = first[j] + zn * last[j] }
            var zi = z
            for i in 1..<n {
                let forward = base + i * step, backward = base + (n - 1 - i) * step
                for j in 0..<width { first[j] += zi * (forward[j] + zn * backward[j]) }
                zi *= z
            }
            let scale = z / (1 - zn * zn)
            for j in 0..<width { first[j] = first[j] * scale + original[j] }
        }
    }
}
