import Foundation
import VolSegCore

/// Sum, minimum and maximum over the finite voxels of a volume, and how many voxels are NaN or
/// infinite. Real scans contain NaN (resampled or masked outputs), and one NaN poisons every mean
/// and every convolution it touches, so VolSeg counts them and makes replacing them explicit.
public struct NIfTIStatistics: Equatable, Sendable {
    /// Sum of the finite values, accumulated in Float64.
    public var sum: Double
    /// nil when no voxel is finite.
    public var min: Float?
    public var max: Float?
    public var finiteCount: Int
    public var nonfiniteCount: Int

    public init(_ voxels: Tensor) {
        let count = voxels.count
        let data = voxels.data
        let lock = NSLock()
        var total = (sum: 0.0, min: Float.infinity, max: -Float.infinity, finite: 0, nonfinite: 0)
        Parallel.forEachChunk(count, minimumChunk: 1 << 16) { range in
            var sum = 0.0, low = Float.infinity, high = -Float.infinity, finite = 0
            for i in range {
                let v = data[i]
                if v.isFinite {
                    sum += Double(v)
                    low = Swift.min(low, v)
                    high = Swift.max(high, v)
                    finite += 1
                }
            }
            lock.lock()
            total.sum += sum
            total.min = Swift.min(total.min, low)
            total.max = Swift.max(total.max, high)
            total.finite += finite
            total.nonfinite += range.count - finite
            lock.unlock()
        }
        sum = total.sum
        finiteCount = total.finite
        nonfiniteCount = total.nonfinite
        min = total.finite > 0 ? total.min : nil
        max = total.finite > 0 ? total.max : nil
    }
}

extension NIfTIVolume {
    public var statistics: NIfTIStatistics { NIfTIStatistics(voxels) }

    /// A copy whose NaN and infinite voxels are `value` (0 by default), and how many were replaced.
    /// Segmentation calls this on every input and warns when the count is not zero.
    public func replacingNonFinite(with value: Float = 0) -> (volume: NIfTIVolume, replaced: Int) {
        let out = Tensor.empty(voxels.shape)
        let src = voxels.data, dst = out.data
        let lock = NSLock()
        var replaced = 0
        Parallel.forEachChunk(voxels.count, minimumChunk: 1 << 16) { range in
            var local = 0
            for i in range {
                let v = src[i]
                if v.isFinite { dst[i] = v } else { dst[i] = value; local += 1 }
            }
            lock.lock(); replaced += local; lock.unlock()
        }
        return (NIfTIVolume(header: header, voxels: out, path: path), replaced)
    }
}
