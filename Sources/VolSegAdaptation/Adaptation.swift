import Foundation
import VolSegCore
import VolSegInference
import VolSegModels
import VolSegNN
import VolSegTraining

/// The BatchNorm layers of a model and the means to measure their batch statistics.
///
/// Measuring reuses the training-mode BatchNorm forward without changing it: before the forward,
/// every layer's running mean and variance are set to 0, so that after PyTorch's update
/// new = (1 - m) * old + m * batch they hold exactly m * batch; dividing by the momentum m gives
/// the batch mean and the unbiased batch variance of that forward. The layers' own running values
/// are put back afterwards, and the adaptation decides how the measured batch values enter them
/// (cumulative average for AdaBN, decaying momentum for progressive adaptation). A layer that the
/// forward did not reach keeps 0 and is reported as unmeasured.
public final class BatchNormLayers {
    public let layers: [(name: String, layer: BatchNorm)]

    /// Throws `AdaptationError` naming `modelName` when the model has no BatchNorm.
    public init(model: Module, modelName: String) throws {
        layers = model.namedModules().compactMap { path, module in
            (module as? BatchNorm).map { (path, $0) }
        }
        if layers.isEmpty { throw AdaptationError.noBatchNormError(model, name: modelName) }
    }

    public var channelCount: Int { layers.reduce(0) { $0 + $1.layer.runningMean.count } }

    /// Per layer: the running statistics as they stand.
    public func runningStatistics() -> [LayerStatistics] {
        layers.map { LayerStatistics(mean: $0.layer.runningMean.toArray().map(Double.init),
                                     variance: $0.layer.runningVar.toArray().map(Double.init)) }
    }

    public func setRunningStatistics(_ statistics: [LayerStatistics]) {
        precondition(statistics.count == layers.count)
        for (entry, stats) in zip(layers, statistics) {
            for c in 0..<entry.layer.runningMean.count {
                entry.layer.runningMean.data[c] = Float(stats.mean[c])
                entry.layer.runningVar.data[c] = Float(stats.variance[c])
            }
        }
    }

    /// The whole model in evaluation mode (dropout off) with its BatchNorm layers in training
    /// mode: each BatchNorm normalises with the statistics of the batch in front of it.
    public func setBatchStatisticsMode(_ model: Module) {
        model.eval()
        for entry in layers { entry.layer.train(true); entry.layer.updatesRunningStatistics = true }
    }

    /// Runs `forward` (a training-mode forward of the model) and returns the batch statistics
    /// each layer saw; nil for a layer the forward did not reach. Running statistics are unchanged.
    public func measuringBatchStatistics(_ forward: () -> Void) -> [LayerStatistics?] {
        let saved = runningStatistics()
        for entry in layers {
            entry.layer.runningMean.data.update(repeating: 0, count: entry.layer.runningMean.count)
            entry.layer.runningVar.data.update(repeating: 0, count: entry.layer.runningVar.count)
        }
        forward()
        let measured: [LayerStatistics?] = layers.map { entry in
            let m = Double(entry.layer.momentum)
            let variance = entry.layer.runningVar.toArray().map { Double($0) / m }
            guard variance.contains(where: { $0 != 0 }) else { return nil }
            return LayerStatistics(mean: entry.layer.runningMean.toArray().map { Double($0) / m }, variance: variance)
        }
        setRunningStatistics(saved)
        return measured
    }
}

/// One BatchNorm layer's per-channel mean and (unbiased) variance, in Float64.
public struct LayerStatistics: Equatable, Sendable {
    public var mean: [Double]
    public var variance: [Double]

    public init(mean: [Double], variance: [Double]) {
        self.mean = mean
        self.variance = variance
    }
}

/// Where adaptation batches come from: windows of the preprocessed target images [C, D, H, W],
/// the training patch rounded up to the model's size divisor, images smaller than a window padded
/// with 0 (the normalised mean) as sliding-window inference pads them.
public struct AdaptationWindows {
    public let images: [Tensor]
    public let window: [Int]

    public init(images: [Tensor], patch: [Int], divisor: [Int]) {
        self.images = images
        window = SlidingWindow.window(patch: patch, divisor: divisor)
    }

    /// Every sliding window of every image at `step` (a fraction of the window), as (image, start) pairs.
    public func slidingWindows(step: Double = 0.5) -> [(image: Int, start: [Int])] {
        images.indices.flatMap { i in
            SlidingWindow(volumeShape: paddedShape(i), patch: window, step: step).windows.map { (i, $0) }
        }
    }

    /// A window at a uniformly random position of a uniformly chosen image.
    public func randomWindow(_ generator: inout RandomGenerator) -> (image: Int, start: [Int]) {
        let i = Int(generator.next() % UInt64(images.count))
        let shape = paddedShape(i)
        let start = zip(shape, window).map { size, w in size > w ? Int(generator.next() % UInt64(size - w + 1)) : 0 }
        return (i, start)
    }

    /// Where `model` predicts foreground on every image, with its current statistics.
    public func predictedForeground(model: SegmentationModel, output: SegmentationOutput) -> PredictedForeground {
        let masks: [[Bool]] = images.indices.map { i in
            let image = padded(i)
            let p = SlidingWindowInference(model: model, output: output, patch: window).predict(image)
            let channels = p.shape[0], volume = p.count / channels, values = p.data
            return (0..<volume).map { v in
                if output.isRegionBased { return (0..<channels).contains { values[$0 * volume + v] > 0.5 } }
                var best = 0
                for c in 1..<channels where values[c * volume + v] > values[best * volume + v] { best = c }
                return best != 0
            }
        }
        return PredictedForeground(masks: masks, shapes: images.indices.map(paddedShape))
    }

    /// A window centred (as far as the image allows) on a uniformly chosen voxel of `foreground`
    /// of a uniformly chosen image that has some; a random window when none has.
    public func foregroundWindow(_ foreground: PredictedForeground, _ generator: inout RandomGenerator) -> (image: Int, start: [Int]) {
        let candidates = foreground.voxels.indices.filter { !foreground.voxels[$0].isEmpty }
        guard !candidates.isEmpty else { return randomWindow(&generator) }
        let i = candidates[Int(generator.next() % UInt64(candidates.count))]
        let shape = paddedShape(i)
        let flat = foreground.voxels[i][Int(generator.next() % UInt64(foreground.voxels[i].count))]
        let voxel = [flat / (shape[1] * shape[2]), (flat / shape[2]) % shape[1], flat % shape[2]]
        // The trainer's centring rule (images are padded to at least the window, so no padding here).
        return (i, PatchSampler(patchSize: window, batchSize: 1, foregroundShare: 1).centredLower(voxel: voxel, shape: shape))
    }

    /// The batches of a source-free adaptation, drawn as the trainer draws them: `batchSize`
    /// windows, the last round(batchSize x foregroundShare) centred on predicted foreground, the
    /// others at uniform positions. Each foreground-centred window is the fullest (largest
    /// predicted foreground share) of `candidates` draws: the source statistics are averages over
    /// training batches, and those are foreground-rich (the trainer crops around the organ and
    /// oversamples it; 76% liver in the default liver model's batches), while a target scan is
    /// mostly not the organ (12% liver in a random window of the held-out half, 49% in a
    /// foreground-centred one). BatchNorm statistics mix content with scanner; matching the
    /// content leaves the scanner. The foreground-centred windows of the shifted and unshifted
    /// liver targets then hold about as much liver as the training batches did.
    public func trainerBatches(_ foreground: PredictedForeground, count: Int, batchSize: Int, foregroundShare: Double,
                               candidates: Int, _ generator: inout RandomGenerator) -> [[(image: Int, start: [Int])]] {
        // The trainer's rule for which samples of a batch are foreground-centred.
        let sampler = PatchSampler(patchSize: window, batchSize: max(1, batchSize), foregroundShare: foregroundShare)
        return (0..<max(1, count)).map { _ in
            (0..<max(1, batchSize)).map { k in
                guard sampler.isForegroundSample(k, rng: &generator) else { return randomWindow(&generator) }
                var best = foregroundWindow(foreground, &generator)
                var bestShare = foreground.share(image: best.image, start: best.start, size: window)
                for _ in 1..<max(1, candidates) {
                    let next = foregroundWindow(foreground, &generator)
                    let share = foreground.share(image: next.image, start: next.start, size: window)
                    if share > bestShare { (best, bestShare) = (next, share) }
                }
                return best
            }
        }
    }

    /// The window [1, C, d, h, w].
    public func batch(_ position: (image: Int, start: [Int])) -> Tensor {
        let image = padded(position.image)
        let x = SlidingWindowInference.extract(image, start: position.start, size: window)
        return x.rank == 5 ? x : x.reshaped([1] + x.shape)
    }

    func paddedShape(_ i: Int) -> [Int] { zip(images[i].shape.suffix(3), window).map { max($0, $1) } }

    func padded(_ i: Int) -> Tensor {
        let shape = Array(images[i].shape.suffix(3))
        let pads = SlidingWindow.padding(for: shape, patch: window)
        guard pads.contains(where: { $0.before + $0.after > 0 }) else { return images[i] }
        return images[i].padded([(0, 0)] + pads.map { ($0.before, $0.after) })
    }
}
