import VolSegCore

/// Reversible blocks in sequence, run as one autograd op (MemCNN's and RevNet's scheme): the
/// forward runs every block without recording and keeps only the stack's final output; the
/// backward walks the blocks in reverse, each rebuilding its input from its output and handing
/// it, with the input gradient, to the block before it. The activation memory of a stack is
/// therefore that of its output plus one block's recompute, whatever the number of blocks.
///
/// With `storesActivations` the same blocks run under ordinary autograd (every intermediate kept):
/// the baseline the memory comparison measures against, with the same parameters and results.
/// Children are named "0", "1", ... like nn.Sequential.
public final class ReversibleStack: Module {
    public let blocks: [ReversibleBlock]
    public var storesActivations: Bool

    public init(blocks: [ReversibleBlock], storesActivations: Bool = false) {
        self.blocks = blocks
        self.storesActivations = storesActivations
        super.init()
        for (i, block) in blocks.enumerated() { registerChild("\(i)", block) }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        reversibleSequence(blocks, x, storesActivations: storesActivations)
    }

    /// The stack's input rebuilt from its output, block by block (no gradients; running
    /// statistics untouched). Used to measure reconstruction error.
    public func inverse(_ y: Tensor) -> Tensor {
        withNoGrad {
            var halves = CouplingHalves(splitting: y)
            for block in blocks.reversed() { halves = block.inverse(halves) }
            return halves.joined
        }
    }
}

/// The saved output of a reversible op, handed over to its backward, which drops it as soon as it
/// has split it into halves (the closure itself lives until backward returns).
private final class SavedOutput {
    var tensor: Tensor?
    init(_ tensor: Tensor) { self.tensor = tensor }
}

/// Runs `blocks` on `x` as one reversible op (see `ReversibleStack`), or, with
/// `storesActivations`, as ordinary recorded ops.
public func reversibleSequence(_ blocks: [ReversibleBlock], _ x: Tensor, storesActivations: Bool) -> Tensor {
    if storesActivations || !GradMode.isEnabled {
        var halves = CouplingHalves(splitting: x)
        for block in blocks { halves = block.forward(halves) }
        return halves.joined
    }
    let output = withNoGrad { () -> Tensor in
        var halves = CouplingHalves(splitting: x)
        for block in blocks { halves = block.forward(halves) }
        return halves.joined
    }
    // Parameters are inputs of the op only so that a node is recorded when x itself needs no
    // gradient (a stack right after the network input); their gradients accumulate directly into
    // `grad` during the recompute, so the op returns nil for them.
    let parameters = blocks.flatMap { $0.trainableParameters.map(\.tensor) }
    // A detached handle: saving `output` itself would make output -> node -> closure -> output a
    // reference cycle that keeps the tensor alive when no backward ever runs.
    let saved = SavedOutput(output.detached())
    let inputNeedsGradient = x.needsGrad
    return Tensor.record("reversible_stack", output: output, inputs: [x] + parameters) { outputGradient in
        var halves = CouplingHalves(splitting: saved.tensor!)
        saved.tensor = nil
        var gradient = CouplingHalves(splitting: outputGradient)
        for block in blocks.reversed() {
            block.backward(&halves, gradient: &gradient)
        }
        let inputGradient = inputNeedsGradient ? gradient.joined : nil
        return [inputGradient] + parameters.map { _ in nil }
    }
}
