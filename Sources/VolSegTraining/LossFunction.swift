import Foundation
import VolSegCore

/// The training loss of a segmentation run, over all deep-supervision outputs.
///
/// - `labels`: soft Dice (background excluded, smooth 1e-5, batch Dice) + cross-entropy on the
///   softmax of the logits, weight 1 each (nnU-Net).
/// - `regions`: one sigmoid channel per region (BraTS whole tumour, tumour core, enhancing
///   tumour): soft Dice on the sigmoid probabilities + binary cross-entropy, the regions being
///   unions of label classes, so a voxel can belong to several.
///
/// Deep supervision: output i (1/2^i resolution) has weight 1/2^i, the lowest-resolution one 0,
/// normalised to sum 1 (nnU-Net); its target is the label map resampled by nearest neighbour.
public struct SegmentationLoss {
    public enum Kind {
        case labels(classWeights: [Float]?)
        /// membership[r][c]: class index c belongs to region r.
        case regions(membership: [[Bool]])
    }

    public let kind: Kind
    public let diceWeight: Float
    public let crossEntropyWeight: Float
    public let smooth: Float
    public let batchDice: Bool
    public let deepSupervision: Bool
    /// The ranks of a data-parallel run: batch Dice sums over all of them (nil: this process alone).
    public var ranks: (any ProcessGroup)?

    public init(kind: Kind, diceWeight: Float = 1, crossEntropyWeight: Float = 1, smooth: Float = 1e-5,
                batchDice: Bool = true, deepSupervision: Bool = true) {
        self.kind = kind
        self.diceWeight = diceWeight
        self.crossEntropyWeight = crossEntropyWeight
        self.smooth = smooth
        self.batchDice = batchDice
        self.deepSupervision = deepSupervision
    }

    /// 1/2^i for each output, the last one 0, normalised (one output: [1]).
    public static func deepSupervisionWeights(outputs: Int) -> [Double] {
        guard outputs > 1 else { return [1] }
        var weights = (0..<outputs).map { 1 / pow(2, Double($0)) }
        weights[outputs - 1] = 0
        let total = weights.reduce(0, +)
        return weights.map { $0 / total }
    }

    /// The weights this loss gives to `outputs` outputs (only the first without deep supervision).
    public func weights(outputs: Int) -> [Double] {
        deepSupervision ? Self.deepSupervisionWeights(outputs: outputs) : [1] + Array(repeating: 0, count: max(0, outputs - 1))
    }

    /// The weighted loss of the model's outputs (full resolution first) against class indices
    /// `target` [N, 1, D, H, W]. Returns a one-element tensor.
    public func callAsFunction(_ outputs: [Tensor], target: Tensor) -> Tensor {
        precondition(!outputs.isEmpty, "the model returned no output")
        var total: Tensor?
        for (output, weight) in zip(outputs, weights(outputs: outputs.count)) where weight > 0 {
            let spatial = Array(output.shape.suffix(3))
            // The floor rule, as before; nnU-Net v2 uses the centre rule here (see NearestNeighbourRule).
            let scaledTarget = Array(target.shape.suffix(3)) == spatial ? target : withNoGrad { target.resizedNearest(to: spatial, rule: .floor) }
            let term = single(output, target: scaledTarget) * Float(weight)
            total = total.map { $0 + term } ?? term
        }
        return total!
    }

    /// The loss of one output at its own resolution.
    public func single(_ logits: Tensor, target: Tensor) -> Tensor {
        switch kind {
        case .labels(let classWeights):
            let ce = crossEntropyLoss(logits, target: target, classWeights: classWeights)
            let dice = softDiceLoss(logits, target: target, smooth: smooth, includeBackground: false, batchDice: batchDice,
                                    across: ranks)
            return ce * crossEntropyWeight + dice * diceWeight
        case .regions(let membership):
            return regionDiceBCELoss(logits, target: target, membership: membership, smooth: smooth,
                                     batchDice: batchDice, diceWeight: diceWeight, bceWeight: crossEntropyWeight, across: ranks)
        }
    }
}
