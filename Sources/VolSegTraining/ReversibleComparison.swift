import Foundation
import VolSegCore
import VolSegModels
import VolSegNN

/// The memory comparison of issue 5: the reversible-MBConv U-Net against the identical network
/// that stores its activations, at a fixed budget on the ledger peak of one training step.
///
/// Every number comes from planning mode: the step runs on shape-only tensors, so the ledger
/// reports exactly the peak a real step would reach, with no memory used and no arithmetic done.
/// Searches assume the peak grows with patch edge, block count and width (it does: every tensor
/// grows with them), gallop up from the smallest value, then bisect.
public enum ReversibleComparison {
    /// What fits the budget for one variant.
    public struct Limits: Equatable, Sendable {
        /// Largest cubic patch edge, a multiple of 16 (0: not even 16^3 fits).
        public var maxPatchEdge: Int
        /// Most couplings per stage at the reference patch (0: not even one fits).
        public var maxBlocksPerStage: Int
        /// Largest base width at the reference patch, a multiple of 8 (0: not even 8 fits).
        public var maxBaseWidth: Int

        public init(maxPatchEdge: Int, maxBlocksPerStage: Int, maxBaseWidth: Int) {
            self.maxPatchEdge = maxPatchEdge
            self.maxBlocksPerStage = maxBlocksPerStage
            self.maxBaseWidth = maxBaseWidth
        }

        public var json: [String: Int] {
            ["max_patch_edge": maxPatchEdge, "max_blocks_per_stage": maxBlocksPerStage, "max_base_width": maxBaseWidth]
        }
    }

    public struct Result: Sendable {
        public var budgetBytes: Int
        public var referencePatchEdge: Int
        public var reversible: Limits
        public var plain: Limits
        /// Ledger peaks of one step of the base network at the reference patch, per strategy.
        public var stepPeaks: [ActivationMemory: Int]
        /// Wall-clock seconds the searches took.
        public var seconds: Double
    }

    public static let patchEdgeStep = 16
    public static let blockCap = 64
    public static let widthStep = 8
    public static let widthCap = 256
    /// The reference patch of the depth and width searches (MemCNN's 96^3).
    public static let referencePatchEdge = 96

    /// The ledger peak of one planned training step (batch 1): build the model, forward, mean
    /// cross-entropy, backward, SGD with momentum. Weights, gradients, momentum buffers, input and
    /// target are all counted: the peak is measured from before the model exists.
    public static func stepPeakBytes(_ config: RevMBConvUNetConfig, patchEdge: Int, batch: Int = 1) -> Int {
        MemoryLedger.shared.measurePeak {
            let model = RevMBConvUNet(config, initializer: ParameterInitializer(planned: true))
            let optimizer = SGD(parameters: model.trainableParameters, learningRate: 1e-2, momentum: 0.99, nesterov: true)
            let size = [patchEdge, patchEdge, patchEdge]
            let x = Tensor.planned([batch, config.inputChannels] + size)
            let target = Tensor.planned([batch] + size)
            let loss = crossEntropyLoss(model.forward(x)[0], target: target)
            loss.backward()
            optimizer.step()
        }.peakBytes
    }

    /// Searches all three limits for both variants. `reversible` is the strategy the reversible
    /// variant uses (VolSeg's default, or MemCNN's stacks-only scheme to compare with it).
    public static func run(base: RevMBConvUNetConfig, budgetBytes: Int,
                           reversible: ActivationMemory = .reversible) -> Result {
        let start = Date()
        var peaks: [ActivationMemory: Int] = [:]
        for memory in ActivationMemory.allCases {
            var config = base
            config.activationMemory = memory
            peaks[memory] = stepPeakBytes(config, patchEdge: referencePatchEdge)
        }
        var reversibleConfig = base, plainConfig = base
        reversibleConfig.activationMemory = reversible
        plainConfig.activationMemory = .stored
        return Result(budgetBytes: budgetBytes, referencePatchEdge: referencePatchEdge,
                      reversible: limits(reversibleConfig, budgetBytes: budgetBytes),
                      plain: limits(plainConfig, budgetBytes: budgetBytes),
                      stepPeaks: peaks, seconds: Date().timeIntervalSince(start))
    }

    public static func limits(_ config: RevMBConvUNetConfig, budgetBytes: Int) -> Limits {
        let edge = largestFitting(upTo: nil) { k in
            stepPeakBytes(config, patchEdge: k * patchEdgeStep) <= budgetBytes
        } * patchEdgeStep
        let blocks = largestFitting(upTo: blockCap) { n in
            var deeper = config
            deeper.blocksPerStage = n
            return stepPeakBytes(deeper, patchEdge: referencePatchEdge) <= budgetBytes
        }
        let width = largestFitting(upTo: widthCap / widthStep) { k in
            stepPeakBytes(config.withBaseWidth(k * widthStep), patchEdge: referencePatchEdge) <= budgetBytes
        } * widthStep
        return Limits(maxPatchEdge: edge, maxBlocksPerStage: blocks, maxBaseWidth: width)
    }

    /// The largest k in 1...cap with fits(k), for a monotone `fits` (true up to some k, then false);
    /// 0 when fits(1) is false. Gallops 1, 2, 4, ... to bracket the answer, then bisects: about
    /// 2 log2(answer) evaluations.
    public static func largestFitting(upTo cap: Int?, _ fits: (Int) -> Bool) -> Int {
        // Without a cap, stop doubling at a size no machine can hold (2^20 steps).
        let limit = cap ?? (1 << 20)
        guard limit >= 1, fits(1) else { return 0 }
        var good = 1, bad = limit + 1
        var probe = 2
        while probe <= limit {
            if fits(probe) { good = probe } else { bad = probe; break }
            probe *= 2
        }
        if bad == limit + 1 && good < limit {
            if fits(limit) { return limit }
            bad = limit
        }
        while bad - good > 1 {
            let middle = (good + bad) / 2
            if fits(middle) { good = middle } else { bad = middle }
        }
        return good
    }
}
