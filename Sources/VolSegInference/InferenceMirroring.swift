import Foundation
import VolSegCore

/// Mirroring test-time augmentation: the network also sees the window flipped along every subset
/// of the spatial axes (8 in 3D, the identity included), each prediction is flipped back, and the
/// probabilities are averaged. A network is not exactly mirror-symmetric, so the average is a
/// cheap ensemble (nnU-Net's default on a GPU; 8 times the work, hence off by default here).
public enum InferenceMirroring {
    /// Subsets of the spatial `axes` (0 = D, 1 = H, 2 = W): only the identity without mirroring,
    /// all 2^n with it (8 for all three axes; an nnU-Net checkpoint may allow fewer).
    public static func axisSets(enabled: Bool, over axes: [Int] = [0, 1, 2]) -> [[Int]] {
        guard enabled else { return [[]] }
        return (0..<(1 << axes.count)).map { mask in axes.indices.filter { mask & (1 << $0) != 0 }.map { axes[$0] } }
    }

    /// A copy of [N, C, D, H, W] (or [C, D, H, W]) reversed along the given spatial axes.
    /// Flipping twice along the same axes gives the input back.
    public static func flipped(_ t: Tensor, spatialAxes: [Int]) -> Tensor {
        precondition(t.rank >= 3, "flip takes [..., D, H, W], got \(t.shape)")
        let out = Tensor.empty(t.shape, planned: t.isPlanned)
        if t.isPlanned { return out }
        let dhw = Array(t.shape.suffix(3)), (nd, nh, nw) = (dhw[0], dhw[1], dhw[2])
        let volumes = t.count / dhw.reduce(1, *)
        let (flipD, flipH, flipW) = (spatialAxes.contains(0), spatialAxes.contains(1), spatialAxes.contains(2))
        let src = t.data, dst = out.data
        Parallel.forEach(volumes * nd) { slab in
            let v = slab / nd, z = slab % nd
            let sourceZ = flipD ? nd - 1 - z : z
            for y in 0..<nh {
                let sourceY = flipH ? nh - 1 - y : y
                let from = src + ((v * nd + sourceZ) * nh + sourceY) * nw
                let to = dst + ((v * nd + z) * nh + y) * nw
                if flipW {
                    for x in 0..<nw { to[x] = from[nw - 1 - x] }
                } else {
                    to.update(from: from, count: nw)
                }
            }
        }
        return out
    }
}
