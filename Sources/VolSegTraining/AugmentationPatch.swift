import Foundation
import VolSegCore

/// Applies `AugmentationSettings` to one sample, in nnU-Net's order: rotation/zoom while the patch
/// is cut, then noise, brightness, shift, contrast, gamma (inverted, then plain), mirroring.
/// Every random number comes from the generator passed in, so a seed fixes the whole batch.
public struct PatchAugmenter: Sendable {
    public let settings: AugmentationSettings
    /// [D, H, W].
    public let patchSize: [Int]

    public init(settings: AugmentationSettings, patchSize: [Int]) {
        self.settings = settings
        self.patchSize = patchSize
    }

    /// Cuts the patch at `lower` out of `item` into `image` (C x patch) and `labels` (patch) and
    /// augments it.
    public func makeSample(from item: TrainingCase, lower: [Int], image: UnsafeMutablePointer<Float>,
                           labels: UnsafeMutablePointer<Float>, rng: inout RandomGenerator) {
        let s = settings
        var transform: [Double]?
        if s.enabled {
            let rotate = chance(s.rotationProbability, &rng), zoom = chance(s.scalingProbability, &rng)
            if rotate || zoom {
                let limit = s.rotationDegrees * Double.pi / 180
                let angles = rotate ? (0..<3).map { _ in uniform(-limit...limit, &rng) } : [0, 0, 0]
                let factor = zoom ? uniform(s.scalingRange, &rng) : 1
                transform = SpatialPatch.matrix(angles: angles, zoom: factor)
            }
        }
        SpatialPatch(patchSize: patchSize, transform: transform).extract(from: item, lower: lower, image: image, labels: labels)
        guard s.enabled else { return }
        let volume = patchSize.reduce(1, *), channels = item.channelCount
        if chance(s.noiseProbability, &rng) {
            let std = Float(uniform(s.noiseVarianceRange, &rng).squareRoot())
            for i in 0..<(channels * volume) { image[i] += rng.nextNormal() * std }
        }
        for c in 0..<channels {
            let channel = image + c * volume
            if chance(s.intensityScaleProbability, &rng) {
                let f = Float(uniform(s.intensityScaleRange, &rng))
                IntensityAugmentation.scale(channel, count: volume, by: f)
            }
            if chance(s.intensityShiftProbability, &rng) {
                let shift = Float(uniform(s.intensityShiftRange, &rng))
                IntensityAugmentation.shift(channel, count: volume, by: shift)
            }
            if chance(s.contrastProbability, &rng) {
                IntensityAugmentation.contrast(channel, count: volume, factor: Float(uniform(s.contrastRange, &rng)))
            }
            if chance(s.gammaInvertProbability, &rng) {
                IntensityAugmentation.gamma(channel, count: volume, gamma: gammaValue(&rng), inverted: true)
            }
            if chance(s.gammaProbability, &rng) {
                IntensityAugmentation.gamma(channel, count: volume, gamma: gammaValue(&rng), inverted: false)
            }
        }
        for axis in s.mirrorAxes where chance(s.mirrorProbability, &rng) {
            // NIfTI x, y, z are the tensor's W, H, D.
            let tensorAxis = 2 - axis
            for c in 0..<channels { IntensityAugmentation.flip(image + c * volume, shape: patchSize, axis: tensorAxis) }
            IntensityAugmentation.flip(labels, shape: patchSize, axis: tensorAxis)
        }
    }

    /// nnU-Net draws gamma below 1 half of the time, so darkening and brightening are equally
    /// likely although the range is lopsided (0.7...1.5).
    private func gammaValue(_ rng: inout RandomGenerator) -> Float {
        let r = settings.gammaRange
        if r.lowerBound < 1 && r.upperBound > 1 && rng.nextUniform() < 0.5 {
            return Float(uniform(r.lowerBound...1, &rng))
        }
        return Float(uniform(max(1, r.lowerBound)...r.upperBound, &rng))
    }

    private func chance(_ probability: Double, _ rng: inout RandomGenerator) -> Bool {
        probability > 0 && Double(rng.nextUniform()) < probability
    }

    private func uniform(_ range: ClosedRange<Double>, _ rng: inout RandomGenerator) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * Double(rng.nextUniform())
    }
}

/// In-place intensity changes on one channel of one patch. Statistics in Float64.
enum IntensityAugmentation {
    static func scale(_ x: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
        for i in 0..<count { x[i] *= factor }
    }

    static func shift(_ x: UnsafeMutablePointer<Float>, count: Int, by offset: Float) {
        for i in 0..<count { x[i] += offset }
    }

    static func moments(_ x: UnsafeMutablePointer<Float>, count: Int) -> (mean: Double, std: Double, min: Float, max: Float) {
        var s = 0.0, q = 0.0, lo = Float.infinity, hi = -Float.infinity
        for i in 0..<count {
            let v = x[i]
            s += Double(v); q += Double(v) * Double(v)
            lo = min(lo, v); hi = max(hi, v)
        }
        let mean = s / Double(max(count, 1))
        return (mean, max(0, q / Double(max(count, 1)) - mean * mean).squareRoot(), lo, hi)
    }

    /// (x - mean) * factor + mean, clipped to the channel's original range (nnU-Net's preserve_range).
    static func contrast(_ x: UnsafeMutablePointer<Float>, count: Int, factor: Float) {
        let m = moments(x, count: count)
        let mean = Float(m.mean)
        for i in 0..<count { x[i] = min(max((x[i] - mean) * factor + mean, m.min), m.max) }
    }

    /// Gamma on the channel rescaled to [0, 1], then mean and std restored (retain_stats); with
    /// `inverted`, on the negated channel.
    static func gamma(_ x: UnsafeMutablePointer<Float>, count: Int, gamma: Float, inverted: Bool) {
        if inverted { for i in 0..<count { x[i] = -x[i] } }
        let before = moments(x, count: count)
        let range = before.max - before.min + 1e-7
        for i in 0..<count { x[i] = powf(max(0, (x[i] - before.min) / range), gamma) * range + before.min }
        let after = moments(x, count: count)
        let scale = Float(before.std / (after.std + 1e-7)), newMean = Float(after.mean), oldMean = Float(before.mean)
        for i in 0..<count { x[i] = (x[i] - newMean) * scale + oldMean }
        if inverted { for i in 0..<count { x[i] = -x[i] } }
    }

    /// Reverses a [D, H, W] volume along `axis` (0 D, 1 H, 2 W) in place.
    static func flip(_ x: UnsafeMutablePointer<Float>, shape: [Int], axis: Int) {
        let (d, h, w) = (shape[0], shape[1], shape[2])
        switch axis {
        case 2:
            for row in 0..<(d * h) {
                let p = x + row * w
                for i in 0..<(w / 2) { let t = p[i]; p[i] = p[w - 1 - i]; p[w - 1 - i] = t }
            }
        case 1:
            for z in 0..<d {
                let plane = x + z * h * w
                for i in 0..<(h / 2) { swapRows(plane + i * w, plane + (h - 1 - i) * w, w) }
            }
        default:
            let plane = h * w
            for i in 0..<(d / 2) { swapRows(x + i * plane, x + (d - 1 - i) * plane, plane) }
        }
    }

    private static func swapRows(_ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { let t = a[i]; a[i] = b[i]; b[i] = t }
    }
}
