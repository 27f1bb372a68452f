import Foundation
import VolSegCore

/// Resampling of [C, D, H, W] volumes to a new grid over the same physical extent: trilinear for
/// images and probabilities, nearest neighbour for label maps.
///
/// Voxel centres map as in PyTorch's `interpolate(align_corners=False)`: output voxel o samples
/// the input at (o + 0.5) * in / out - 0.5. Going to a finer grid and back with
/// `nearestCentreAligned` returns every label exactly (each input voxel contains the centre of some
/// output voxel), so a prediction made on the resampled grid lands on the input grid without a
/// shift. (Core's `NearestNeighbourRule` holds both nearest rules and why each exists.)
public enum Resampler {
    /// The grid size [D, H, W] that keeps the physical extent when voxels go from `spacing` to
    /// `targetSpacing` (both [z, y, x] in mm): round(n * spacing / target), at least 1.
    public static func shape(_ shape: [Int], spacing: [Double], targetSpacing: [Double]) -> [Int] {
        (0..<3).map { max(1, Int((Double(shape[$0]) * spacing[$0] / targetSpacing[$0]).rounded())) }
    }

    public static func trilinear(_ t: Tensor, to shape: [Int]) -> Tensor {
        let input = Array(t.shape.suffix(3))
        if input == shape { return t.copy() }
        let out = Tensor.empty(Array(t.shape.dropLast(3)) + shape, planned: t.isPlanned)
        if t.isPlanned { return out }
        let axes = (0..<3).map { LinearAxis(input: input[$0], output: shape[$0]) }
        let channels = t.count / input.reduce(1, *)
        let src = t.data, dst = out.data
        let (iny, inx) = (input[1], input[2]), (ny, nx) = (shape[1], shape[2])
        Parallel.forEach(channels * shape[0]) { slab in
            let c = slab / shape[0], z = slab % shape[0]
            let base = src + c * input.reduce(1, *)
            let (z0, z1, wz) = (axes[0].low[z], axes[0].high[z], axes[0].weight[z])
            var o = (c * shape[0] + z) * ny * nx
            for y in 0..<ny {
                let (y0, y1, wy) = (axes[1].low[y], axes[1].high[y], axes[1].weight[y])
                let r00 = base + (z0 * iny + y0) * inx, r01 = base + (z0 * iny + y1) * inx
                let r10 = base + (z1 * iny + y0) * inx, r11 = base + (z1 * iny + y1) * inx
                for x in 0..<nx {
                    let (x0, x1, wx) = (axes[2].low[x], axes[2].high[x], axes[2].weight[x])
                    let a = r00[x0] + (r00[x1] - r00[x0]) * wx
                    let b = r01[x0] + (r01[x1] - r01[x0]) * wx
                    let d = r10[x0] + (r10[x1] - r10[x0]) * wx
                    let e = r11[x0] + (r11[x1] - r11[x0]) * wx
                    let near = a + (b - a) * wy, far = d + (e - d) * wy
                    dst[o] = near + (far - near) * wz
                    o += 1
                }
            }
        }
        return out
    }

    /// Nearest neighbour with voxel centres aligned (`NearestNeighbourRule.centreAligned`).
    public static func nearestCentreAligned(_ t: Tensor, to shape: [Int]) -> Tensor {
        let input = Array(t.shape.suffix(3))
        if input == shape { return t.copy() }
        let out = Tensor.empty(Array(t.shape.dropLast(3)) + shape, planned: t.isPlanned)
        if t.isPlanned { return out }
        let index = (0..<3).map { axis in
            (0..<shape[axis]).map { NearestNeighbourRule.centreAligned.source($0, input: input[axis], output: shape[axis]) }
        }
        let channels = t.count / input.reduce(1, *)
        let src = t.data, dst = out.data
        Parallel.forEach(channels * shape[0]) { slab in
            let c = slab / shape[0], z = slab % shape[0]
            let plane = src + c * input.reduce(1, *) + index[0][z] * input[1] * input[2]
            var o = (c * shape[0] + z) * shape[1] * shape[2]
            for y in 0..<shape[1] {
                let row = plane + index[1][y] * input[2]
                for x in 0..<shape[2] { dst[o] = row[index[2][x]]; o += 1 }
            }
        }
        return out
    }

    /// Interpolation neighbours and weights along one axis.
    struct LinearAxis {
        var low: [Int], high: [Int], weight: [Float]

        init(input: Int, output: Int) {
            low = []; high = []; weight = []
            let scale = Double(input) / Double(output)
            for o in 0..<output {
                let position = min(max((Double(o) + 0.5) * scale - 0.5, 0), Double(input - 1))
                let l = Int(position.rounded(.down))
                low.append(l)
                high.append(min(l + 1, input - 1))
                weight.append(Float(position - Double(l)))
            }
        }
    }
}
