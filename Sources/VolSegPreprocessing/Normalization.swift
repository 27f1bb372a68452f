import Foundation
import VolSegCore

/// Intensity normalisation, as nnU-Net does it.
///
/// - MRI (`zScoreInsideMask`): each channel gets mean 0 and std 1 over the nonzero mask (voxels
///   where any channel is nonzero); voxels outside the mask become 0. MRI intensities have no
///   absolute meaning, so per-image statistics are right.
/// - CT (`ct`): clip to a fixed window (training-set foreground 0.5-99.5 percentiles, or an HU
///   window), then z-score with the TRAINING SET's foreground mean and std, stored with the model.
///   Never per-image statistics: HU values mean tissue, and a scan with a large tumour must not be
///   shifted differently from one without.
public enum IntensityNormalization: Equatable, Sendable {
    case none
    case zScoreInsideMask
    /// Each channel z-scored over every voxel of the (cropped) image: nnU-Net v1's and v2's
    /// z-score when the plans' `use_mask_for_norm` is false.
    case zScoreWholeImage
    case ct(CTNormalization)

    /// Normalises [C, D, H, W]. `mask` is [D, H, W] as 0/1 bytes where z-scoring needs it.
    public func apply(_ image: Tensor, mask: [UInt8]? = nil) -> Tensor {
        switch self {
        case .none: return image.copy()
        case .ct(let parameters): return parameters.apply(image)
        case .zScoreInsideMask: return IntensityNormalization.zScore(image, mask: mask ?? IntensityNormalization.nonzeroMask(image))
        case .zScoreWholeImage:
            return IntensityNormalization.zScore(image, mask: [UInt8](repeating: 1, count: image.count / image.shape[0]))
        }
    }

    /// 1 where any channel is nonzero.
    public static func nonzeroMask(_ image: Tensor) -> [UInt8] {
        let channels = image.shape[0], volume = image.count / channels
        var mask = [UInt8](repeating: 0, count: volume)
        let data = image.data
        mask.withUnsafeMutableBufferPointer { m in
            let p = m.baseAddress!
            Parallel.forEachChunk(volume, minimumChunk: 1 << 15) { range in
                for i in range {
                    for c in 0..<channels where data[c * volume + i] != 0 { p[i] = 1; break }
                }
            }
        }
        return mask
    }

    static func zScore(_ image: Tensor, mask: [UInt8]) -> Tensor {
        let channels = image.shape[0], volume = image.count / channels
        precondition(mask.count == volume, "mask has \(mask.count) voxels, the image \(volume)")
        let out = Tensor.empty(image.shape, planned: image.isPlanned)
        if image.isPlanned { return out }
        let src = image.data, dst = out.data
        mask.withUnsafeBufferPointer { m in
            for c in 0..<channels {
                let channel = src + c * volume, target = dst + c * volume
                // Float64 accumulation: a 240^3 sum in Float32 loses the mean's third digit.
                let (sum, squares, count) = IntensityNormalization.maskedMoments(channel, mask: m.baseAddress!, count: volume)
                let mean = count > 0 ? sum / Double(count) : 0
                let std = count > 0 ? max(0, squares / Double(count) - mean * mean).squareRoot() : 1
                let scale = Float(1 / max(std, 1e-8)), shift = Float(mean)
                let maskPointer = m.baseAddress!
                Parallel.forEachChunk(volume, minimumChunk: 1 << 15) { range in
                    for i in range { target[i] = maskPointer[i] != 0 ? (channel[i] - shift) * scale : 0 }
                }
            }
        }
        return out
    }

    static func maskedMoments(_ values: UnsafeMutablePointer<Float>, mask: UnsafePointer<UInt8>, count: Int)
        -> (sum: Double, squares: Double, count: Int)
    {
        let lock = NSLock()
        var total = (0.0, 0.0, 0)
        Parallel.forEachChunk(count, minimumChunk: 1 << 15) { range in
            var s = 0.0, q = 0.0, n = 0
            for i in range where mask[i] != 0 {
                let v = Double(values[i])
                s += v; q += v * v; n += 1
            }
            lock.lock(); total.0 += s; total.1 += q; total.2 += n; lock.unlock()
        }
        return total
    }
}

/// CT normalisation parameters: the clipping window and the training set's foreground statistics.
public struct CTNormalization: Equatable, Sendable, Codable {
    public var lower: Float
    public var upper: Float
    public var mean: Float
    public var std: Float

    public init(lower: Float, upper: Float, mean: Float, std: Float) {
        precondition(lower < upper && std > 0, "CT window \(lower)...\(upper) and std \(std) must be valid")
        self.lower = lower
        self.upper = upper
        self.mean = mean
        self.std = std
    }

    /// nnU-Net's CT scheme from foreground voxels sampled over the TRAINING SET (label > 0 of every
    /// training case): window = their 0.5 and 99.5 percentiles, mean and std of the same samples.
    public static func fromTrainingForeground(_ samples: [Float]) -> CTNormalization {
        precondition(!samples.isEmpty, "no foreground voxels to compute CT statistics from")
        let sorted = samples.filter(\.isFinite).sorted()
        func percentile(_ p: Double) -> Float {
            // Linear interpolation between order statistics, numpy's default.
            let position = p / 100 * Double(sorted.count - 1)
            let i = Int(position.rounded(.down)), f = Float(position - Double(i))
            return i + 1 < sorted.count ? sorted[i] + (sorted[i + 1] - sorted[i]) * f : sorted[i]
        }
        let mean = sorted.reduce(0.0) { $0 + Double($1) } / Double(sorted.count)
        let variance = sorted.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(sorted.count)
        var lower = percentile(0.5), upper = percentile(99.5)
        if upper <= lower { upper = lower + 1 }
        return CTNormalization(lower: lower, upper: upper, mean: Float(mean), std: Float(max(variance.squareRoot(), 1e-8)))
    }

    /// A fixed HU window (e.g. -200...250 for the liver) with training-set foreground statistics.
    public static func window(_ range: ClosedRange<Float>, mean: Float, std: Float) -> CTNormalization {
        CTNormalization(lower: range.lowerBound, upper: range.upperBound, mean: mean, std: std)
    }

    public func apply(_ image: Tensor) -> Tensor {
        let out = Tensor.empty(image.shape, planned: image.isPlanned)
        if image.isPlanned { return out }
        let src = image.data, dst = out.data
        let (lo, hi, shift, scale) = (lower, upper, mean, 1 / std)
        Parallel.forEachChunk(image.count, minimumChunk: 1 << 15) { range in
            for i in range { dst[i] = (min(max(src[i], lo), hi) - shift) * scale }
        }
        return out
    }
}
