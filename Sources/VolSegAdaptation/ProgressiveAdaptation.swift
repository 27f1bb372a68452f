import Foundation
import VolSegCore
import VolSegInference
import VolSegModels
import VolSegNN

/// The constants of progressive adaptation. The paper's exact values could not be confirmed (see
/// REFERENCE.md); these were chosen (reasons below) and measured with the default liver model on the
/// held-out CT through `ScannerShift.liverScanner`; `volseg adapt --help` repeats them.
public struct ProgressiveAdaptationSettings: Sendable, Equatable {
    /// Target batches (one random window each): each updates the statistics and takes one step.
    public var iterations = 60
    /// Momentum of the first statistics update, eta_1: 0.5 moves half-way from the source
    /// statistics to the first target batch at once, since the source values are known to be off.
    public var initialMomentum = 0.5
    /// eta_t = eta_1 * decay^(t-1): 0.95 halves the momentum every 13.5 iterations, so the early
    /// batches move the estimate quickly and the later ones refine it without jitter; after 60
    /// iterations eta is 0.025, and the source's remaining share prod(1 - eta_t) is below 1e-4.
    public var momentumDecay = 0.95
    /// Adam step size for BatchNorm scale and shift only: 1e-3 moves a scale of 1 by at most
    /// ~0.06 in 60 steps, enough to re-balance channels, too little to relearn the task.
    public var learningRate: Float = 1e-3
    /// Weight of the transferability-weighted anchor sum_k alpha_k ((g_k - g_k^s)^2 + (b_k - b_k^s)^2)
    /// (summed over channels and layers): 1 holds scale and shift near the source unless the
    /// entropy gradient on a channel is consistently larger.
    public var anchorWeight = 1.0
    /// Weight of the mean prediction entropy: 1, the anchor's weight being relative to it.
    public var entropyWeight = 1.0
    /// Windows per iteration, drawn as for AdaBN (see `AdaptationWindows.trainerBatches` and
    /// `AdaBN.Settings`): the same batch size, foreground share and candidates.
    public var batchSize = 2
    public var foregroundShare = 1.0
    public var foregroundCandidates = 8

    public init() {}

    /// The settings as provenance / report entries, named as the CLI flags.
    public var dictionary: [String: Any] {
        ["iterations": iterations, "initial_momentum": initialMomentum, "momentum_decay": momentumDecay,
         "learning_rate": Double(learningRate), "anchor_weight": anchorWeight, "entropy_weight": entropyWeight,
         "batch_size": batchSize, "foreground_share": foregroundShare, "foreground_candidates": foregroundCandidates]
    }

    /// eta_t for iteration t = 1, 2, ...
    public func momentum(iteration t: Int) -> Double { initialMomentum * pow(momentumDecay, Double(t - 1)) }
}

/// Progressive BatchNorm adaptation after Liu et al. (MICCAI 2021), source-free:
///
/// 1. Low-order statistics: the target estimate starts at the source running statistics; each
///    iteration's batch statistics enter with a momentum eta_t that decays exponentially.
/// 2. High-order statistics: BatchNorm scale g and shift b (nothing else) are fine-tuned with
///    Adam on entropyWeight * mean entropy of the predictions
///    + anchorWeight * sum_k alpha_k ((g_k - g_k^s)^2 + (b_k - b_k^s)^2), where
///    alpha_k = 1/(1 + d_k), d_k = |mu_s/sigma_s - mu_t/sigma_t| with the current target estimate
///    (`Transferability`, normalised to mean 1 per layer): channels whose statistics moved little
///    are anchored harder to their source values.
///
/// The forward of an iteration normalises with the batch's own statistics (BatchNorm in training
/// mode, as in TENT and the paper's fine-tuning); the stored result is the target estimate of 1.
/// and the tuned scale and shift, used in evaluation mode. Other weights never change.
public enum ProgressiveAdaptation {
    public struct Report: Sendable {
        public var iterations: Int
        /// Mean prediction entropy of the first and the last iteration's batch.
        public var firstEntropy: Double
        public var lastEntropy: Double
        /// Largest |g - g^s| and |b - b^s| at the end.
        public var largestScaleChange: Double
        public var largestShiftChange: Double
    }

    @discardableResult
    public static func adapt(_ model: SegmentationModel, modelName: String, output: SegmentationOutput,
                             windows: AdaptationWindows, settings: ProgressiveAdaptationSettings = ProgressiveAdaptationSettings(),
                             seed: UInt64 = 0, progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> Report {
        let bn = try BatchNormLayers(model: model, modelName: modelName)
        guard !windows.images.isEmpty else {
            throw AdaptationError.nothingToAdaptTo(model: modelName)
        }
        guard settings.iterations >= 1 else {
            throw AdaptationError.tooFewIterations(model: modelName, iterations: settings.iterations)
        }
        let source = bn.runningStatistics()
        var target = source
        let sourceScale = bn.layers.map { $0.layer.weight.toArray().map(Double.init) }
        let sourceShift = bn.layers.map { $0.layer.bias.toArray().map(Double.init) }

        // Only BatchNorm scale and shift train; everything else is held, and given back as it was.
        let parameters = model.namedParameters()
        let wasTrainable = parameters.map(\.tensor.requiresGrad)
        for p in parameters { p.tensor.requiresGrad = false; p.tensor.grad = nil }
        var tuned: [(name: String, tensor: Tensor)] = []
        for entry in bn.layers {
            entry.layer.weight.requiresGrad = true
            entry.layer.bias.requiresGrad = true
            tuned += [("\(entry.name).weight", entry.layer.weight), ("\(entry.name).bias", entry.layer.bias)]
        }
        defer {
            for (p, trainable) in zip(parameters, wasTrainable) { p.tensor.requiresGrad = trainable; p.tensor.grad = nil }
            model.eval()
        }
        let optimizer = AdamW(parameters: tuned, learningRate: settings.learningRate, weightDecay: 0)
        var generator = RandomGenerator(seed: seed)
        var entropies: [Double] = []
        model.eval()
        let foreground = windows.predictedForeground(model: model, output: output)
        bn.setBatchStatisticsMode(model)
        for t in 1...settings.iterations {
            let batch = windows.trainerBatches(foreground, count: 1, batchSize: settings.batchSize, foregroundShare: settings.foregroundShare,
                                               candidates: settings.foregroundCandidates, &generator)[0]
            let x = Tensor.concat(batch.map { windows.batch($0) }, axis: 0)
            var logits: Tensor?
            let measured = bn.measuringBatchStatistics { logits = model.forward(x)[0] }
            let eta = settings.momentum(iteration: t)
            for (l, stats) in measured.enumerated() {
                guard let stats else { continue }
                for c in stats.mean.indices {
                    target[l].mean[c] = (1 - eta) * target[l].mean[c] + eta * stats.mean[c]
                    target[l].variance[c] = (1 - eta) * target[l].variance[c] + eta * stats.variance[c]
                }
            }
            let entropy = meanPredictionEntropy(logits!, sigmoid: output.isRegionBased) * Float(settings.entropyWeight)
            entropies.append(Double(entropy.toArray()[0]) / max(settings.entropyWeight, 1e-12))
            optimizer.zeroGradients()
            entropy.backward()
            logits = nil
            addAnchorGradient(bn, source: source, target: target, sourceScale: sourceScale, sourceShift: sourceShift,
                              weight: settings.anchorWeight)
            optimizer.step()
            FaultPoint.reached("adapt.batch")
            progress?(t, settings.iterations)
        }
        bn.setRunningStatistics(target)
        model.eval()
        var scaleChange = 0.0, shiftChange = 0.0
        for (l, entry) in bn.layers.enumerated() {
            for (c, v) in entry.layer.weight.toArray().enumerated() { scaleChange = max(scaleChange, abs(Double(v) - sourceScale[l][c])) }
            for (c, v) in entry.layer.bias.toArray().enumerated() { shiftChange = max(shiftChange, abs(Double(v) - sourceShift[l][c])) }
        }
        return Report(iterations: settings.iterations, firstEntropy: entropies.first ?? 0, lastEntropy: entropies.last ?? 0,
                      largestScaleChange: scaleChange, largestShiftChange: shiftChange)
    }

    /// grad += d/dtheta of weight * sum_k alpha_k (theta_k - theta_k^s)^2 for scale and shift.
    static func addAnchorGradient(_ bn: BatchNormLayers, source: [LayerStatistics], target: [LayerStatistics],
                                  sourceScale: [[Double]], sourceShift: [[Double]], weight: Double) {
        guard weight > 0 else { return }
        for (l, entry) in bn.layers.enumerated() {
            let alpha = Transferability.weights(source[l], target[l], eps: Double(entry.layer.eps))
            for (tensor, anchor) in [(entry.layer.weight, sourceScale[l]), (entry.layer.bias, sourceShift[l])] {
                let grad = tensor.grad ?? Tensor.zeros(tensor.shape)
                for c in 0..<tensor.count {
                    grad.data[c] += Float(2 * weight * alpha[c] * (Double(tensor.data[c]) - anchor[c]))
                }
                tensor.grad = grad
            }
        }
    }
}
