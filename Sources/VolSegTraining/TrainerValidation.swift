import Foundation
import VolSegCore
import VolSegModels

/// Validation after an epoch: each validation case is segmented whole by sliding windows of the
/// training patch (step half a patch, Gaussian weights with sigma = patch/8, nnU-Net's scheme,
/// without mirroring), and Dice is measured per reported structure (BraTS WT/TC/ET, LiTS
/// liver/tumour): 2TP / (2TP + FP + FN), NaN when prediction and reference are both empty; the
/// mean over cases ignores NaN.
public struct ValidationRunner {
    /// [D, H, W].
    public let patchSize: [Int]
    public let stepFraction: Double
    public let labels: TrainingLabels

    public init(patchSize: [Int], stepFraction: Double = 0.5, labels: TrainingLabels) {
        self.patchSize = patchSize
        self.stepFraction = stepFraction
        self.labels = labels
    }

    /// Mean Dice per `labels.reportedStructures` over the cases (NaN when every case is NaN).
    public func dice(model: SegmentationModel, cases: [TrainingCase]) -> [Double] {
        let structures = labels.reportedStructures
        var sums = [Double](repeating: 0, count: structures.count), counts = [Int](repeating: 0, count: structures.count)
        for item in cases {
            let scores = caseDice(model: model, item: item)
            for (i, s) in scores.enumerated() where !s.isNaN { sums[i] += s; counts[i] += 1 }
        }
        return zip(sums, counts).map { $1 > 0 ? $0 / Double($1) : .nan }
    }

    /// Dice per structure for one case. Counts are streamed voxel by voxel: no per-voxel arrays
    /// outside the ledger, whose size would grow with the volume.
    public func caseDice(model: SegmentationModel, item: TrainingCase) -> [Double] {
        let logits = predictLogits(model: model, image: item.image)
        let structures = labels.reportedStructures
        let channels = logits.shape[0], volume = item.labels.count
        let x = logits.data, reference = item.labels.data
        let byRegion = labels.target == .regions
        // inStructure[s * classCount + c]: class c belongs to structure s.
        let classCount = labels.classCount
        var inStructure = [Bool](repeating: false, count: structures.count * classCount)
        for (s, structure) in structures.enumerated() { for c in structure.classes { inStructure[s * classCount + c] = true } }
        var tp = [Int](repeating: 0, count: structures.count), fp = tp, fn = tp
        for i in 0..<volume {
            let truthClass = Int(reference[i])
            var best = 0
            if !byRegion {
                var bestValue = x[i]
                for c in 1..<channels where x[c * volume + i] > bestValue { best = c; bestValue = x[c * volume + i] }
            }
            for s in 0..<structures.count {
                let truth = inStructure[s * classCount + truthClass]
                // Regions: predicted where the region's sigmoid exceeds 0.5 (logit > 0).
                let guess = byRegion ? x[s * volume + i] > 0 : inStructure[s * classCount + best]
                if truth && guess { tp[s] += 1 } else if guess { fp[s] += 1 } else if truth { fn[s] += 1 }
            }
        }
        return (0..<structures.count).map { s -> Double in
            let overlap = 2 * tp[s], total = 2 * tp[s] + fp[s] + fn[s]
            return total == 0 ? Double.nan : Double(overlap) / Double(total)
        }
    }

    /// Gaussian-weighted average of the window logits over [C, D, H, W] -> [K, D, H, W]; runs in
    /// evaluation mode without gradients, then restores the model's mode. A planned image gives a
    /// planned result with the same allocations (the memory planner's validation peak).
    public func predictLogits(model: SegmentationModel, image: Tensor) -> Tensor {
        let wasTraining = model.isTraining
        model.eval()
        defer { model.train(wasTraining) }
        return withNoGrad {
            let shape = Array(image.shape.suffix(3))
            // Volumes smaller than the patch are padded (zeros, as in training) and cut back after.
            let padded = (0..<3).map { max(shape[$0], patchSize[$0]) }
            var input = image
            if padded != shape {
                var pads: [(Int, Int)] = [(0, 0)]
                for axis in 0..<3 {
                    let extra = padded[axis] - shape[axis]
                    pads.append((extra / 2, extra - extra / 2))
                }
                input = image.padded(pads)
            }
            let weights = Self.gaussian(patchSize)
            let outChannels = labels.outputChannels
            let sum = Tensor.zeros([outChannels] + padded, planned: image.isPlanned)
            let weightSum = Tensor.zeros(padded, planned: image.isPlanned)
            let starts = (0..<3).map { Self.windowStarts(size: padded[$0], patch: patchSize[$0], step: stepFraction) }
            let patchVolume = patchSize.reduce(1, *)
            for z in starts[0] { for y in starts[1] { for x in starts[2] {
                let window = Self.cut(input, lower: [z, y, x], size: patchSize)
                let logits = model.forward(window.reshaped([1] + window.shape))[0]
                if logits.isPlanned { continue }
                Self.accumulate(logits, weights: weights, into: sum, weightSum: weightSum, lower: [z, y, x],
                                patchSize: patchSize, patchVolume: patchVolume)
            } } }
            if !sum.isPlanned {
                let volume = padded.reduce(1, *), s = sum.data, w = weightSum.data
                for c in 0..<outChannels { for i in 0..<volume { s[c * volume + i] /= max(w[i], 1e-12) } }
            }
            guard padded != shape else { return sum }
            var out = sum
            for axis in 0..<3 where padded[axis] != shape[axis] {
                let before = (padded[axis] - shape[axis]) / 2
                out = out.slice(axis: axis + 1, before..<(before + shape[axis]))
            }
            return out
        }
    }

    /// nnU-Net's window positions along one axis: n = ceil((size - patch) / (patch x step)) + 1,
    /// evenly spaced from 0 to size - patch.
    public static func windowStarts(size: Int, patch: Int, step: Double) -> [Int] {
        guard size > patch else { return [0] }
        let n = Int((Double(size - patch) / (Double(patch) * step)).rounded(.up)) + 1
        let span = Double(size - patch) / Double(n - 1)
        return (0..<n).map { Int((Double($0) * span).rounded()) }
    }

    /// Gaussian importance map with sigma = patch/8 per axis, peak 1, no zero weights.
    static func gaussian(_ size: [Int]) -> [Float] {
        let axes = size.map { n -> [Double] in
            let centre = Double(n - 1) / 2, sigma = Double(n) / 8
            return (0..<n).map { exp(-0.5 * pow((Double($0) - centre) / sigma, 2)) }
        }
        var out = [Float](repeating: 0, count: size.reduce(1, *))
        var i = 0
        for a in axes[0] { for b in axes[1] { for c in axes[2] { out[i] = Float(a * b * c); i += 1 } } }
        let smallest = out.filter { $0 > 0 }.min() ?? 1
        return out.map { max($0, smallest) }
    }

    static func cut(_ image: Tensor, lower: [Int], size: [Int]) -> Tensor {
        var t = image
        for axis in 0..<3 where !(lower[axis] == 0 && size[axis] == image.shape[axis + 1]) {
            t = t.slice(axis: axis + 1, lower[axis]..<(lower[axis] + size[axis]))
        }
        return t
    }

    static func accumulate(_ logits: Tensor, weights: [Float], into sum: Tensor, weightSum: Tensor, lower: [Int],
                           patchSize: [Int], patchVolume: Int) {
        let channels = logits.shape[1], full = Array(sum.shape.suffix(3)), volume = full.reduce(1, *)
        let x = logits.data, s = sum.data, w = weightSum.data
        for d in 0..<patchSize[0] {
            for h in 0..<patchSize[1] {
                let row = ((lower[0] + d) * full[1] + lower[1] + h) * full[2] + lower[2]
                let local = (d * patchSize[1] + h) * patchSize[2]
                for k in 0..<patchSize[2] {
                    let weight = weights[local + k]
                    w[row + k] += weight
                    for c in 0..<channels { s[c * volume + row + k] += weight * x[c * patchVolume + local + k] }
                }
            }
        }
    }
}
