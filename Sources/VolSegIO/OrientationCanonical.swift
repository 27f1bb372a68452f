import Foundation
import VolSegCore

/// Reorients a volume to canonical RAS (voxel axes i, j, k pointing to R, A, S) by permuting and
/// flipping axes only, like nibabel's `as_closest_canonical`, and back again exactly.
///
/// No voxel is interpolated, so the round trip is exact for every affine; for an oblique affine
/// the canonical affine stays oblique (the original grid is kept, only relabelled).
/// Tensors are [C, D, H, W] (or [D, H, W]) with W = NIfTI x, H = y, D = z.
public struct CanonicalOrientation: Equatable, Sendable {
    public let orientation: Orientation
    /// (nx, ny, nz) of the original grid.
    public let originalShape: [Int]
    public let originalAffine: NIfTIAffine

    public init(affine: NIfTIAffine, spatialShape: [Int]) {
        precondition(spatialShape.count == 3, "spatial shape is (nx, ny, nz)")
        orientation = Orientation(affine: affine)
        originalShape = spatialShape
        originalAffine = affine
    }

    public init(header: NIfTIHeader) {
        self.init(affine: header.affine, spatialShape: header.spatialShape)
    }

    public var isIdentity: Bool { orientation.isCanonical }

    /// The voxel axis that becomes canonical axis w (0 = R, 1 = A, 2 = S).
    private func voxelAxis(forWorld w: Int) -> Int { orientation.worldAxis.firstIndex(of: w)! }

    /// (nx, ny, nz) of the canonical grid.
    public var canonicalShape: [Int] { (0..<3).map { originalShape[voxelAxis(forWorld: $0)] } }

    /// The voxel-to-world affine of the canonical grid: original affine times the index map
    /// i_original = P * i_canonical + b (the same world point for every voxel).
    public var canonicalAffine: NIfTIAffine {
        var indexMap = NIfTIAffine.identity
        for r in 0..<3 { indexMap[r, r] = 0 }
        for a in 0..<3 {
            let w = orientation.worldAxis[a], s = orientation.direction[a]
            indexMap[a, w] = Double(s)
            indexMap[a, 3] = s < 0 ? Double(originalShape[a] - 1) : 0
        }
        return originalAffine * indexMap
    }

    /// Voxel sizes along canonical x, y, z.
    public var canonicalSpacing: [Double] { canonicalAffine.voxelSizes }

    /// [C, D, H, W] on the original grid -> the same voxels on the canonical grid.
    public func toCanonical(_ tensor: Tensor) -> Tensor {
        let (channels, shape3) = split(tensor, expect: originalShape)
        let canonical = canonicalShape
        // Output axis w reads input axis a = voxelAxis(w), reversed when it points to L, P or I.
        let inputStride = [1, originalShape[0], originalShape[0] * originalShape[1]]
        var step = [0, 0, 0], base = 0
        for w in 0..<3 {
            let a = voxelAxis(forWorld: w)
            let s = orientation.direction[a]
            step[w] = s * inputStride[a]
            if s < 0 { base += (originalShape[a] - 1) * inputStride[a] }
        }
        return gather(tensor, channels: channels, sourceVolume: shape3.reduce(1, *), outputShape: canonical,
                      step: step, base: base, rank: tensor.rank)
    }

    /// [C, D, H, W] on the canonical grid -> the original grid (the exact inverse of `toCanonical`).
    public func fromCanonical(_ tensor: Tensor) -> Tensor {
        let canonical = canonicalShape
        let (channels, shape3) = split(tensor, expect: canonical)
        let canonicalStride = [1, canonical[0], canonical[0] * canonical[1]]
        var step = [0, 0, 0], base = 0
        for a in 0..<3 {
            let w = orientation.worldAxis[a], s = orientation.direction[a]
            step[a] = s * canonicalStride[w]
            if s < 0 { base += (originalShape[a] - 1) * canonicalStride[w] }
        }
        return gather(tensor, channels: channels, sourceVolume: shape3.reduce(1, *), outputShape: originalShape,
                      step: step, base: base, rank: tensor.rank)
    }

    /// Channels and (nx, ny, nz) of a [C, D, H, W] or [D, H, W] tensor, checked against `expect`.
    private func split(_ tensor: Tensor, expect: [Int]) -> (Int, [Int]) {
        precondition(tensor.rank == 4 || tensor.rank == 3, "reorientation takes [C, D, H, W] or [D, H, W], got \(tensor.shape)")
        let dhw = Array(tensor.shape.suffix(3))
        let xyz = [dhw[2], dhw[1], dhw[0]]
        precondition(xyz == expect, "tensor grid (x, y, z) \(xyz) does not match the orientation's \(expect)")
        return (tensor.rank == 4 ? tensor.shape[0] : 1, xyz)
    }

    /// out[c, z, y, x] = in[c * volume + base + x * step0 + y * step1 + z * step2].
    private func gather(_ input: Tensor, channels: Int, sourceVolume: Int, outputShape: [Int],
                        step: [Int], base: Int, rank: Int) -> Tensor {
        let (nx, ny, nz) = (outputShape[0], outputShape[1], outputShape[2])
        let shape = rank == 4 ? [channels, nz, ny, nx] : [nz, ny, nx]
        let out = Tensor.empty(shape, planned: input.isPlanned)
        if input.isPlanned { return out }
        let src = input.data, dst = out.data
        Parallel.forEach(channels * nz) { slab in
            let c = slab / nz, z = slab % nz
            let sourceSlab = c * sourceVolume + base + z * step[2]
            var o = (c * nz + z) * ny * nx
            for y in 0..<ny {
                let row = sourceSlab + y * step[1]
                for x in 0..<nx {
                    dst[o] = src[row + x * step[0]]
                    o += 1
                }
            }
        }
        return out
    }
}
