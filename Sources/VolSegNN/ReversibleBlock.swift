import VolSegCore

/// A function of one tensor that keeps its shape: what a reversible coupling's F and G must be.
public protocol ReversibleBranch: Module {
    func callAsFunction(_ x: Tensor) -> Tensor
}

/// The two channel halves a reversible coupling works on. Stacks keep activations as halves from
/// their first block to their last, so no block pays for a split or a concatenation.
public struct CouplingHalves {
    public var first: Tensor
    public var second: Tensor

    public init(first: Tensor, second: Tensor) {
        self.first = first
        self.second = second
    }

    /// Splits `[N, C, ...]` into its first and last C/2 channels (copies; autograd records them).
    public init(splitting x: Tensor) {
        precondition(x.rank >= 2 && x.shape[1] % 2 == 0, "a reversible coupling needs an even channel count, got \(x.shape)")
        let half = x.shape[1] / 2
        first = x.slice(axis: 1, 0..<half)
        second = x.slice(axis: 1, half..<x.shape[1])
    }

    /// The halves joined back along the channels.
    public var joined: Tensor { Tensor.concat([first, second], axis: 1) }
}

/// Additive coupling (RevNet; Gomez et al. 2017) with its own inverse:
///
///     y1 = x1 + F(x2),  y2 = x2 + G(y1);     x2 = y2 - G(y1),  x1 = y1 - F(x2)
///
/// Because the input can be rebuilt from the output, backward needs no stored activation: it
/// reconstructs x, recomputes F and G with gradients on the rebuilt values and back-propagates
/// through them. BatchNorm in training mode normalises with the statistics of its input: G is
/// recomputed on the very y1 of the forward, and F on a rebuilt x2 that equals the forward's up to
/// rounding, so the recomputed normalisation is the forward's. Running statistics are frozen
/// during the recompute, so they move once per forward, as in the stored network.
public final class ReversibleBlock: Module {
    public let f: Module & ReversibleBranch
    public let g: Module & ReversibleBranch

    /// Children are named `F` and `G`, the reference's names.
    public init(f: Module & ReversibleBranch, g: Module & ReversibleBranch) {
        self.f = f
        self.g = g
        super.init()
        registerChild("F", f)
        registerChild("G", g)
    }

    /// One block as a reversible op (a stack of one). Use `ReversibleStack` for several blocks.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        reversibleSequence([self], x, storesActivations: false)
    }

    /// y = coupling(x). Recorded by autograd when recording is on (the stored network); the
    /// reversible op runs it under no-grad.
    public func forward(_ x: CouplingHalves) -> CouplingHalves {
        let y1 = x.first + f(x.second)
        let y2 = x.second + g(y1)
        return CouplingHalves(first: y1, second: y2)
    }

    /// x = coupling⁻¹(y), without gradients and without touching running statistics.
    public func inverse(_ y: CouplingHalves) -> CouplingHalves {
        withNoGrad {
            withRunningStatisticsFrozen {
                let x2 = y.second - g(y.first)
                let x1 = y.first - f(x2)
                return CouplingHalves(first: x1, second: x2)
            }
        }
    }

    /// Backward through the block from its output alone. On entry `y` is the block's output and
    /// `gradient` the loss gradient with respect to it; on return they hold the block's input
    /// and the gradient with respect to that input. Parameter gradients accumulate into `grad`.
    ///
    /// Each tensor is replaced as soon as it is no longer needed (the halves are `inout` for this),
    /// so at most one branch's activations are live at a time, next to four half tensors.
    public func backward(_ y: inout CouplingHalves, gradient: inout CouplingHalves) {
        withRunningStatisticsFrozen {
            // G first: its input y1 is part of the output, so it is recomputed exactly.
            let y1 = y.first.detached()
            y1.requiresGrad = true
            var gOutput: Tensor? = GradMode.withGrad { g(y1) }
            y.second = withNoGrad { y.second - gOutput! }   // now x2
            Tensor.backward(roots: [gOutput!], gradients: [gradient.second])
            gOutput = nil
            // dL/dy1 = the direct gradient plus what flows back through G.
            gradient.first = withNoGrad { gradient.first + y1.grad! }
            y1.grad = nil

            let x2 = y.second.detached()
            x2.requiresGrad = true
            var fOutput: Tensor? = GradMode.withGrad { f(x2) }
            y.first = withNoGrad { y.first - fOutput! }     // now x1
            Tensor.backward(roots: [fOutput!], gradients: [gradient.first])
            fOutput = nil
            // dL/dx2 = dL/dy2 (the identity path) plus what flows back through F; dL/dx1 = dL/dy1.
            gradient.second = withNoGrad { gradient.second + x2.grad! }
            x2.grad = nil
        }
    }
}

extension Module {
    /// Runs `body` with every BatchNorm below this module leaving its running statistics alone
    /// (a recompute must not move them a second time), then restores each layer's setting.
    public func withRunningStatisticsFrozen<R>(_ body: () throws -> R) rethrows -> R {
        let norms = namedModules().compactMap { $0.module as? BatchNorm }
        let saved = norms.map(\.updatesRunningStatistics)
        for norm in norms { norm.updatesRunningStatistics = false }
        defer { for (norm, setting) in zip(norms, saved) { norm.updatesRunningStatistics = setting } }
        return try body()
    }
}
