import Foundation
import VolSegCore

// SiLU(norm(x)) as one recorded op that keeps only x, MBConv's memory-lean path inside reversible
// stacks. The forward/backward pair and its loops are Core's (NormSiLU.swift); this file reads the
// norm layer's parameters and records the op. Inside a recomputed MBConv branch keeping x alone
// removes the two widest tensors of the two norm + SiLU pairs from the memory peak.

extension NormSiLUParameters {
    /// The norm layer's parameters and statistics rule; nil for a layer this op does not cover
    /// (BatchNorm in evaluation mode normalises with fixed statistics, a cheap affine map that
    /// the plain path handles).
    init?(_ norm: Module) {
        if let bn = norm as? BatchNorm {
            guard bn.isTraining else { return nil }
            self.init(weight: bn.weight, bias: bn.bias, eps: bn.eps, grouping: .batch,
                      running: bn.updatesRunningStatistics ? (bn.runningMean, bn.runningVar, bn.momentum) : nil)
        } else if let instance = norm as? InstanceNorm {
            self.init(weight: instance.weight, bias: instance.bias, eps: instance.eps, grouping: .instance, running: nil)
        } else if let group = norm as? GroupNorm {
            self.init(weight: group.weight, bias: group.bias, eps: group.eps, grouping: .groups(group.groups), running: nil)
        } else {
            return nil
        }
    }
}

/// Adds a computed gradient into a parameter's `grad`, as autograd does for leaves.
func accumulateParameterGradient(_ parameter: Tensor, _ gradient: Tensor) {
    guard parameter.requiresGrad else { return }
    if let existing = parameter.grad { existing.addInPlace(gradient) } else { parameter.grad = gradient }
}

extension MBConv {
    /// SiLU(norm(x)) keeping only x (see the top of this file).
    func fusedNormSiLU(_ x: Tensor, _ p: NormSiLUParameters) -> Tensor {
        let y = normSiLUForward(x, p)
        let saved = x.detached(), needsInput = x.needsGrad
        // Weight and bias are inputs only so that a node is recorded; their gradients go straight
        // into `grad` (returned as nil), like the parameters of a checkpoint.
        return Tensor.record("norm_silu", output: y, inputs: [x, p.weight, p.bias]) { gy in
            let grads = normSiLUBackward(saved, gy, p.frozen, needsInput: needsInput)
            accumulateParameterGradient(p.weight, grads.weight)
            accumulateParameterGradient(p.bias, grads.bias)
            return [grads.input, nil, nil]
        }
    }

    /// SiLU(norm(expand(x))) keeping only x, the branch's narrow input: backward recomputes the
    /// expansion (a 1x1x1 GEMM) instead of keeping its e-times wider output.
    func fusedExpandNormSiLU(_ x: Tensor, _ p: NormSiLUParameters) -> Tensor {
        let y = withNoGrad { normSiLUForward(expand(x), p) }
        guard GradMode.isEnabled else { return y }
        let saved = x.detached(), needsInput = x.needsGrad
        let expandLayer = expand
        return Tensor.record("expand_norm_silu", output: y, inputs: [x, expandLayer.weight, p.weight, p.bias]) { gy in
            let input = saved.detached()
            input.requiresGrad = needsInput
            var expanded: Tensor? = GradMode.withGrad { expandLayer(input) }
            let grads = normSiLUBackward(expanded!, gy, p.frozen, needsInput: true)
            accumulateParameterGradient(p.weight, grads.weight)
            accumulateParameterGradient(p.bias, grads.bias)
            Tensor.backward(roots: [expanded!], gradients: [grads.input!])
            expanded = nil
            let gx = input.grad
            input.grad = nil
            return [gx, nil, nil, nil]
        }
    }
}
