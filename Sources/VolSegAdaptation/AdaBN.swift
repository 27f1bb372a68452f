import Foundation
import VolSegCore
import VolSegInference
import VolSegModels

/// AdaBN (Li et al., 2016): every weight stays; every BatchNorm layer's running mean and variance
/// are replaced by an estimate from target batches, run forward under no-grad with every
/// BatchNorm in training mode, all layers measured in the same pass.
///
/// What the estimate must reproduce is the source's own: the trainer's running statistics are a
/// momentum average of per-batch statistics of its batches (2 patches, one centred on foreground,
/// for the default liver model). Hence the default `trainer` sampling: batches of the same size,
/// centred on the source model's own predicted foreground (standing in for the labels) and
/// chosen to hold about as much of it as training batches did, averaged as PyTorch's
/// momentum=None does (mean of batch means and of unbiased batch variances). Sliding windows over
/// whole volumes (the first implementation) estimate a different quantity (mostly air and body
/// wall, no foreground emphasis); on the liver model they lowered Dice even on unshifted data.
/// `sliding` with `pooled` accumulation remains available: with every window in one batch it is the
/// exact population statistic of the evaluation-mode network on the target.
public enum AdaBN {
    /// How the batch statistics of several forwards are combined into one running estimate.
    public enum Accumulation: String, Sendable, CaseIterable {
        /// Mean of the batch means; variance pooled over every voxel of every batch,
        /// E[x^2] - E[x]^2, so the spread between windows counts as it does at inference, where
        /// one fixed estimate normalises every window.
        case pooled
        /// PyTorch's momentum=None: the plain average of the batch means and of the unbiased batch
        /// variances (the spread between batches is left out).
        case batchAverage = "batch-average"
    }

    /// Where the target batches come from.
    public enum Sampling: String, Sendable, CaseIterable {
        /// Every sliding window (at `step`), `windowsPerBatch` per forward.
        case sliding
        /// As the trainer draws batches (nnU-Net's sampler): `batches` batches of `batchSize`
        /// windows, the last round(batchSize x foregroundShare) centred on a voxel the source model
        /// predicts as foreground, the others at uniform positions. The source running statistics
        /// are a momentum average of exactly such batch statistics, so the target estimate is of
        /// the same kind and an unshifted target reproduces them.
        case trainer
    }

    /// The constants of AdaBN, each a `volseg adapt` flag.
    public struct Settings: Sendable, Equatable {
        public var sampling = Sampling.trainer
        /// trainer: batches averaged. 50: the estimate's spread over seeds is well below the shift
        /// a scanner causes (measured on the liver demonstration).
        public var batches = 50
        /// trainer: windows per batch, as the default liver pipeline trains (batch 2).
        public var batchSize = 2
        /// trainer: the share of each batch centred on predicted foreground, and the candidates
        /// each such window is the fullest of (see `AdaptationWindows.trainerBatches`). 1 and 8:
        /// training batches are foreground-rich, a target scan is not, and BatchNorm statistics
        /// follow content as much as scanner. Measured on the liver demonstration (unshifted
        /// held-out half, liver Dice 0.866 before): share 0.33, 1 candidate (the trainer's own
        /// share, the first implementation) 0.711 after AdaBN; share 1, 1 candidate 0.825;
        /// share 1, 8 candidates 0.866.
        public var foregroundShare = 1.0
        public var foregroundCandidates = 8
        /// Windows concatenated into one forward. Every BatchNorm normalises with the statistics
        /// of the batch in front of it, so a later layer sees features normalised with statistics
        /// close to the final ones only when the batch is large: with every window in one batch
        /// (nil) the pass is exactly the evaluation-mode network with the adapted statistics.
        public var windowsPerBatch: Int? = nil
        /// At most this many windows (a seeded random choice of the sliding windows); nil: all.
        public var maxWindows: Int? = nil
        public var accumulation = Accumulation.batchAverage
        /// Sliding-window step as a fraction of the window: 1 tiles the volume without overlap,
        /// so every voxel counts once, as in the population statistics.
        public var step = 1.0

        public init() {}

        public var dictionary: [String: Any] {
            ["sampling": sampling.rawValue, "batches": batches, "batch_size": batchSize, "foreground_share": foregroundShare,
             "foreground_candidates": foregroundCandidates,
             "windows_per_batch": windowsPerBatch.map { $0 as Any } ?? "all", "max_windows": maxWindows.map { $0 as Any } ?? "all",
             "accumulation": accumulation.rawValue, "step": step]
        }
    }

    public struct Report: Sendable {
        /// Windows and forwards (batches) used.
        public var windows: Int
        public var batches: Int
        /// Layers re-estimated, and the model's BatchNorm layer count.
        public var layersAdapted: Int
        public var layerCount: Int
        /// Mean over channels of |mu_s/sigma_s - mu_t/sigma_t|, per layer, source vs adapted.
        public var meanShift: [Double]
    }

    /// Adapts `model` in place; returns what changed. The model ends in evaluation mode.
    @discardableResult
    public static func adapt(_ model: SegmentationModel, modelName: String, output: SegmentationOutput,
                             windows: AdaptationWindows, settings: Settings = Settings(), seed: UInt64 = 0,
                             progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> Report {
        let bn = try BatchNormLayers(model: model, modelName: modelName)
        guard !windows.images.isEmpty else {
            throw AdaptationError.noTargetWindows(model: modelName)
        }
        var generator = RandomGenerator(seed: seed)
        var batches: [[(image: Int, start: [Int])]] = []
        switch settings.sampling {
        case .trainer:
            model.eval()
            let foreground = windows.predictedForeground(model: model, output: output)
            batches = windows.trainerBatches(foreground, count: settings.batches, batchSize: settings.batchSize,
                                             foregroundShare: settings.foregroundShare, candidates: settings.foregroundCandidates,
                                             &generator)
        case .sliding:
            var positions = windows.slidingWindows(step: settings.step)
            if let maxWindows = settings.maxWindows, maxWindows < positions.count {
                for i in stride(from: positions.count - 1, to: 0, by: -1) {
                    positions.swapAt(i, Int(generator.next() % UInt64(i + 1)))
                }
                positions = Array(positions.prefix(max(1, maxWindows)))
            }
            let perBatch = max(1, min(settings.windowsPerBatch ?? positions.count, positions.count))
            batches = stride(from: 0, to: positions.count, by: perBatch).map { Array(positions[$0..<min($0 + perBatch, positions.count)]) }
        }
        let source = bn.runningStatistics()
        let zero = source.map { [Double](repeating: 0, count: $0.mean.count) }
        // Per layer: sums of batch means, of second moments (pooled) or variances (batch average), weights.
        var meanSums = zero, secondSums = zero
        var weights = [Double](repeating: 0, count: bn.layers.count)
        bn.setBatchStatisticsMode(model)
        defer { model.eval() }
        for (n, batch) in batches.enumerated() {
            let x = Tensor.concat(batch.map { windows.batch($0) }, axis: 0)
            let measured = bn.measuringBatchStatistics { withNoGrad { _ = model.forward(x) } }
            for (l, stats) in measured.enumerated() {
                guard let stats else { continue }
                // Every window has the same size, so a batch's weight is its window count.
                let w = Double(batch.count)
                for c in stats.mean.indices {
                    meanSums[l][c] += w * stats.mean[c]
                    switch settings.accumulation {
                    case .pooled:
                        // Layer-level voxel count is unknown here; the measured variance is
                        // unbiased over n values, n - 1 ~ n for windows of thousands of voxels.
                        secondSums[l][c] += w * (stats.variance[c] + stats.mean[c] * stats.mean[c])
                    case .batchAverage:
                        secondSums[l][c] += w * stats.variance[c]
                    }
                }
                weights[l] += w
            }
            FaultPoint.reached("adapt.batch")
            progress?(n + 1, batches.count)
        }
        let adapted: [LayerStatistics] = source.indices.map { l in
            guard weights[l] > 0 else { return source[l] }
            let k = weights[l]
            let mean = meanSums[l].map { $0 / k }
            let variance: [Double] = secondSums[l].indices.map { c in
                switch settings.accumulation {
                case .pooled: return max(secondSums[l][c] / k - mean[c] * mean[c], 0)
                case .batchAverage: return secondSums[l][c] / k
                }
            }
            return LayerStatistics(mean: mean, variance: variance)
        }
        bn.setRunningStatistics(adapted)
        model.eval()
        return Report(windows: batches.reduce(0) { $0 + $1.count }, batches: batches.count, layersAdapted: weights.filter { $0 > 0 }.count,
                      layerCount: bn.layers.count,
                      meanShift: zip(source, adapted).map { Transferability.meanDistance($0, $1, eps: 1e-5) })
    }
}

/// Liu et al.'s per-channel transferability: d_k = |mu_s/sigma_s - mu_t/sigma_t| compares the
/// channel's signal-to-spread ratio between domains; alpha_k = 1/(1 + d_k), normalised to mean 1
/// over a layer's channels, so a channel that moved little is held close to its source scale and
/// shift, one that moved a lot is left freer.
public enum Transferability {
    public static func distances(_ source: LayerStatistics, _ target: LayerStatistics, eps: Double) -> [Double] {
        source.mean.indices.map { c in
            abs(source.mean[c] / (source.variance[c] + eps).squareRoot()
                - target.mean[c] / (target.variance[c] + eps).squareRoot())
        }
    }

    public static func weights(_ source: LayerStatistics, _ target: LayerStatistics, eps: Double) -> [Double] {
        let raw = distances(source, target, eps: eps).map { 1 / (1 + $0) }
        let mean = raw.reduce(0, +) / Double(max(raw.count, 1))
        return raw.map { $0 / max(mean, 1e-12) }
    }

    static func meanDistance(_ source: LayerStatistics, _ target: LayerStatistics, eps: Double) -> Double {
        let d = distances(source, target, eps: eps)
        return d.reduce(0, +) / Double(max(d.count, 1))
    }
}
