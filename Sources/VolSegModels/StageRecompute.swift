import VolSegCore

/// Models whose stages can be recomputed in backward instead of keeping their activations
/// (`checkpoint(...)`): the memory planner turns stages on here when a patch does not fit the
/// budget otherwise, trading one more forward pass of those stages for their activation memory.
///
/// Stage names follow the parameter tree (`encoder.0`, `conv_blocks_context.2`), so a plan names
/// the same thing a checkpoint file does.
public protocol RecomputableStages: AnyObject {
    /// Every stage that can be recomputed, in forward order.
    var stageNames: [String] { get }
    /// The stages recomputed in backward (empty: keep every activation).
    var recomputedStages: Set<String> { get set }
}

extension RecomputableStages {
    /// Runs `body` on `x`, inside a recompute checkpoint when `name` is a recomputed stage and a
    /// gradient is being recorded. `body` receives `isRecompute` = true on the backward re-run:
    /// a stage with BatchNorm must not update its running statistics a second time then.
    public func runStage(_ name: String, _ x: Tensor, _ body: @escaping (Tensor, _ isRecompute: Bool) -> Tensor) -> Tensor {
        runStage(name, [x]) { inputs, isRecompute in body(inputs[0], isRecompute) }
    }

    /// `runStage` of a stage with several inputs (a decoder stage's upsampled tensor and skip).
    public func runStage(_ name: String, _ inputs: [Tensor],
                         _ body: @escaping ([Tensor], _ isRecompute: Bool) -> Tensor) -> Tensor {
        guard GradMode.isEnabled, recomputedStages.contains(name) else { return body(inputs, false) }
        return checkpoint(inputs) { inputs, isRecompute in [body(inputs, isRecompute)] }[0]
    }
}
