import Foundation
import VolSegCore

/// The box around the nonzero voxels of a volume (any channel), nnU-Net's first preprocessing
/// step: skull-stripped MRI is mostly zeros, and cropping them away saves a third of the compute.
/// `uncrop` puts a cropped result back at its place on the full grid.
public struct NonzeroCrop: Equatable, Sendable {
    /// [D, H, W] of the full grid.
    public let fullShape: [Int]
    /// Start of the box along D, H, W.
    public let lower: [Int]
    /// End (exclusive) of the box along D, H, W.
    public let upper: [Int]

    public init(fullShape: [Int], lower: [Int], upper: [Int]) {
        self.fullShape = fullShape
        self.lower = lower
        self.upper = upper
    }

    public var croppedShape: [Int] { (0..<3).map { upper[$0] - lower[$0] } }

    /// The box of the voxels where any channel of [C, D, H, W] is nonzero; the whole grid when
    /// every voxel is zero (nothing to crop to).
    public init(nonzeroOf image: Tensor) {
        precondition(image.rank == 4, "crop takes [C, D, H, W], got \(image.shape)")
        let (channels, nz, ny, nx) = (image.shape[0], image.shape[1], image.shape[2], image.shape[3])
        let data = image.data
        let lock = NSLock()
        var low = [nz, ny, nx], high = [-1, -1, -1]
        Parallel.forEach(nz) { z in
            var lo = [Int.max, Int.max], hi = [-1, -1], any = false
            for y in 0..<ny {
                for x in 0..<nx {
                    let i = (z * ny + y) * nx + x
                    var nonzero = false
                    for c in 0..<channels where data[c * nz * ny * nx + i] != 0 { nonzero = true; break }
                    if nonzero {
                        any = true
                        lo[0] = min(lo[0], y); hi[0] = max(hi[0], y)
                        lo[1] = min(lo[1], x); hi[1] = max(hi[1], x)
                    }
                }
            }
            guard any else { return }
            lock.lock()
            low[0] = min(low[0], z); high[0] = max(high[0], z)
            low[1] = min(low[1], lo[0]); high[1] = max(high[1], hi[0])
            low[2] = min(low[2], lo[1]); high[2] = max(high[2], hi[1])
            lock.unlock()
        }
        let full = [nz, ny, nx]
        if high[0] < 0 {
            self.init(fullShape: full, lower: [0, 0, 0], upper: full)
        } else {
            self.init(fullShape: full, lower: low, upper: high.map { $0 + 1 })
        }
    }

    /// The box's voxels of [C, D, H, W].
    public func crop(_ t: Tensor) -> Tensor {
        precondition(Array(t.shape.suffix(3)) == fullShape, "crop: \(t.shape) is not on the grid \(fullShape)")
        return copyBox(from: t, sourceShape: fullShape, targetShape: croppedShape, sourceOffset: lower, targetOffset: [0, 0, 0],
                       fill: nil)
    }

    /// [C, d, h, w] on the box back to the full grid, `fill` outside it.
    public func uncrop(_ t: Tensor, fill: [Float]) -> Tensor {
        precondition(Array(t.shape.suffix(3)) == croppedShape, "uncrop: \(t.shape) is not the cropped shape \(croppedShape)")
        return copyBox(from: t, sourceShape: croppedShape, targetShape: fullShape, sourceOffset: [0, 0, 0], targetOffset: lower,
                       fill: fill)
    }

    private func copyBox(from t: Tensor, sourceShape: [Int], targetShape: [Int], sourceOffset: [Int], targetOffset: [Int],
                         fill: [Float]?) -> Tensor {
        let channels = t.shape[0]
        let out = Tensor.empty([channels] + targetShape, planned: t.isPlanned)
        if t.isPlanned { return out }
        let box = croppedShape
        let src = t.data, dst = out.data
        let sourceVolume = sourceShape.reduce(1, *), targetVolume = targetShape.reduce(1, *)
        if let fill {
            for c in 0..<channels { (dst + c * targetVolume).update(repeating: fill[min(c, fill.count - 1)], count: targetVolume) }
        }
        Parallel.forEach(channels * box[0]) { slab in
            let c = slab / box[0], z = slab % box[0]
            for y in 0..<box[1] {
                let s = c * sourceVolume + ((z + sourceOffset[0]) * sourceShape[1] + y + sourceOffset[1]) * sourceShape[2] + sourceOffset[2]
                let d = c * targetVolume + ((z + targetOffset[0]) * targetShape[1] + y + targetOffset[1]) * targetShape[2] + targetOffset[2]
                (dst + d).update(from: src + s, count: box[2])
            }
        }
        return out
    }
}
