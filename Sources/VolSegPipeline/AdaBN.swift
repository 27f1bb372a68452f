import Foundation

/// AdaBN (Li et al., 2016): every weight stays; every BatchNorm layer's running mean and variance
/// are replaced by their average over target batches.
///
/// Each batch is one window of a preprocessed target image, run forward once under no-grad with
/// every BatchNorm in training mode. All layers are measured in the same pass ("all at once"):
/// every layer normalises with the target batch's own statistics, so the features reaching a
/// later layer are those of a network already normalised on the target, as the adapted network
/// will produce them at inference (up to the difference between one batch's statistics and their
/// average). Layer-by-layer re-estimation would cost one pass per layer for the same result.
///
/// The average is PyTorch's `momentum=None` cumulative average: running = mean over batches of
/// the batch mean and of the unbiased batch variance, each batch weighted equally, accumulated in
/// Float64; the source values are discarded. This is how the training run estimated its own
/// running variance (an average of batch variances), so source and target estimates agree in kind.
public enum AdaBN {
    public struct Report: Sendable {
        /// Windows (batches) averaged.
        public var batches: Int
        /// Layers re-estimated, and the model's BatchNorm layer count.
        public var layersAdapted: Int
        public var layerCount: Int
        /// Mean over channels of |mu_s/sigma_s - mu_t/sigma_t|, per layer, source vs adapted.
        public var meanShift: [Double]
    }

    /// Adapts `model` in place; returns what changed. `maxWindows` caps the number of sliding
    /// windows (a seeded random choice), nil uses every window of every image. The model ends in
    /// evaluation mode.
    @discardableResult
    public static func adapt(_ model: SegmentationModel, modelName: String, windows: AdaptationWindows,
                             maxWindows: Int? = nil, seed: UInt64 = 0,
                             progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> Report {
        let bn = try BatchNormLayers(model: model, modelName: modelName)
        var positions = windows.slidingWindows
        guard !positions.isEmpty else {
            throw AdaptationError(subject: modelName, problem: "no target windows to estimate statistics from")
        }
        if let maxWindows, maxWindows < positions.count {
            var generator = RandomGenerator(seed: seed)
            for i in stride(from: positions.count - 1, to: 0, by: -1) {
                positions.swapAt(i, Int(generator.next() % UInt64(i + 1)))
            }
            positions = Array(positions.prefix(max(1, maxWindows)))
        }
        let source = bn.runningStatistics()
        var sums = source.map { LayerStatistics(mean: [Double](repeating: 0, count: $0.mean.count),
                                                variance: [Double](repeating: 0, count: $0.mean.count)) }
        var counts = [Int](repeating: 0, count: bn.layers.count)
        bn.setBatchStatisticsMode(model)
        defer { model.eval() }
        for (n, position) in positions.enumerated() {
            let x = windows.batch(position)
            let measured = bn.measuringBatchStatistics { withNoGrad { _ = model.forward(x) } }
            for (l, stats) in measured.enumerated() {
                guard let stats else { continue }
                for c in stats.mean.indices {
                    sums[l].mean[c] += stats.mean[c]
                    sums[l].variance[c] += stats.variance[c]
                }
                counts[l] += 1
            }
            progress?(n + 1, positions.count)
        }
        let adapted: [LayerStatistics] = sums.indices.map { l in
            guard counts[l] > 0 else { return source[l] }
            let k = Double(counts[l])
            return LayerStatistics(mean: sums[l].mean.map { $0 / k }, variance: sums[l].variance.map { $0 / k })
        }
        bn.setRunningStatistics(adapted)
        model.eval()
        return Report(batches: positions.count, layersAdapted: counts.filter { $0 > 0 }.count,
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
