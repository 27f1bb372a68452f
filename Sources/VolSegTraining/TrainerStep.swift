import Foundation
import VolSegCore
import VolSegModels
import VolSegNN

/// A batch of training patches: images [B, C, D, H, W] and class indices [B, 1, D, H, W].
public struct TrainingBatch: @unchecked Sendable {
    public let image: Tensor
    public let labels: Tensor

    /// Shape-only batch for the memory planner.
    public static func planned(batch: Int, channels: Int, patchSize: [Int]) -> TrainingBatch {
        TrainingBatch(image: .planned([batch, channels] + patchSize), labels: .planned([batch, 1] + patchSize))
    }
}

/// One optimisation step, the same code for real batches and for the planner's shape-only ones,
/// so the planned memory peak is the real one: forward, loss over the deep-supervision outputs,
/// backward, gradient-norm clipping, optimizer step, gradients dropped (set to nil, as PyTorch's
/// zero_grad(set_to_none=True), so they hold no memory during the next forward).
public enum TrainerStep {
    /// Returns the loss (NaN for a planned batch). `exchange` runs between backward and clipping
    /// with this process's loss and returns the loss to report (data-parallel runs average the
    /// gradients and the loss over the ranks there).
    @discardableResult
    public static func run(model: SegmentationModel, batch: TrainingBatch, loss: SegmentationLoss,
                           optimizer: Optimizer, parameters: [(name: String, tensor: Tensor)], gradientClip: Float?,
                           exchange: (Float) throws -> Float) rethrows -> Float {
        let value = try exchange(lossAndBackward(model: model, batch: batch, loss: loss))
        if let gradientClip { clipGradientNorm(parameters, maxNorm: gradientClip) }
        optimizer.step()
        optimizer.zeroGradients()
        return value
    }

    /// A step of one process alone.
    @discardableResult
    public static func run(model: SegmentationModel, batch: TrainingBatch, loss: SegmentationLoss,
                           optimizer: Optimizer, parameters: [(name: String, tensor: Tensor)], gradientClip: Float?) -> Float {
        run(model: model, batch: batch, loss: loss, optimizer: optimizer, parameters: parameters, gradientClip: gradientClip,
            exchange: { $0 })
    }

    /// A separate function so every activation of the forward pass is released when it returns.
    private static func lossAndBackward(model: SegmentationModel, batch: TrainingBatch, loss: SegmentationLoss) -> Float {
        let outputs = model.forward(batch.image)
        let total = loss(outputs, target: batch.labels)
        let value = total.isPlanned ? Float.nan : total.item()
        total.backward()
        return value
    }
}
