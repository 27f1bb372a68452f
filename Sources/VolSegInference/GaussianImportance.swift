import Foundation
import VolSegCore

/// The weight each voxel of a window gets when overlapping windows are averaged: a Gaussian
/// centred on the window with sigma = patch / 8 per axis, nnU-Net's `compute_gaussian`.
///
/// Predictions near a window's border see less context and are worse; weighting them down removes
/// the seams between windows. nnU-Net filters a delta at the centre (index size / 2) with scipy's
/// `gaussian_filter` (kernel truncated at int(4 sigma + 0.5) voxels), divides by the maximum and
/// replaces zeros by the smallest nonzero weight so that every voxel gets some weight. The filter
/// of a delta is the product of sampled 1D Gaussians, which is what is built here.
public enum GaussianImportance {
    /// The map as [D, H, W], maximum 1 at the centre, no zeros.
    public static func map(patch: [Int], sigmaScale: Double = 1.0 / 8, planned: Bool = false) -> Tensor {
        precondition(patch.count == 3 && patch.allSatisfy { $0 >= 1 }, "patch is [D, H, W]")
        let out = Tensor.empty(patch, planned: planned)
        if planned { return out }
        let profiles = patch.map { profile(size: $0, sigma: Double($0) * sigmaScale) }
        let (nd, nh, nw) = (patch[0], patch[1], patch[2])
        let dst = out.data
        var smallest = Float.greatestFiniteMagnitude
        for z in 0..<nd {
            for y in 0..<nh {
                let zy = profiles[0][z] * profiles[1][y]
                for x in 0..<nw {
                    let v = Float(zy * profiles[2][x])
                    dst[(z * nh + y) * nw + x] = v
                    if v > 0 && v < smallest { smallest = v }
                }
            }
        }
        // Zeros appear only for sigma scales wider than nnU-Net's; a zero weight would leave a
        // voxel covered by that window alone undefined (0 / 0).
        for i in 0..<out.count where dst[i] == 0 { dst[i] = smallest }
        return out
    }

    /// The map as stock nnU-Net holds it: maximum 10 (`value_scaling_factor`), rounded to float16,
    /// zeros (underflow far from the centre) raised to the smallest nonzero value.
    public static func halfPrecisionMap(patch: [Int], planned: Bool = false) -> Tensor {
        let out = map(patch: patch, planned: planned)
        if planned { return out }
        let values = UnsafeMutableBufferPointer(start: out.data, count: out.count)
        var smallest = Float.greatestFiniteMagnitude
        for i in values.indices {
            values[i] = Float(Float16(values[i] * 10))
            if values[i] > 0 { smallest = min(smallest, values[i]) }
        }
        for i in values.indices where values[i] == 0 { values[i] = smallest }
        return out
    }

    /// exp(-d^2 / (2 sigma^2)) at distance d from index size / 2, 0 beyond the truncation radius.
    static func profile(size: Int, sigma: Double) -> [Double] {
        let centre = size / 2
        guard sigma > 0 else { return (0..<size).map { $0 == centre ? 1 : 0 } }
        let radius = Int(4 * sigma + 0.5)
        return (0..<size).map { i in
            let d = i - centre
            return abs(d) > radius ? 0 : exp(-Double(d * d) / (2 * sigma * sigma))
        }
    }
}
