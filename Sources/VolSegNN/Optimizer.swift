import Foundation
import VolSegCore

/// Updates parameters from their gradients. State tensors (momentum, Adam moments) are created
/// on the first step of each parameter that has a gradient, so frozen parameters never get any,
/// and they are named `<parameter name>.<state>` for checkpoints.
public protocol Optimizer: AnyObject {
    var learningRate: Float { get set }
    var stepCount: Int { get }
    func step()
    func zeroGradients()
    /// State to save (`optimizer/<name>` in a checkpoint).
    func stateTensors() -> [String: Tensor]
    func loadState(_ state: [String: Tensor], stepCount: Int) throws
}

/// Shared bookkeeping of the optimizers: the parameter list and named state.
public class ParameterOptimizer {
    public let parameters: [(name: String, tensor: Tensor)]
    public var learningRate: Float
    public internal(set) var stepCount = 0
    var state: [String: Tensor] = [:]

    init(parameters: [(name: String, tensor: Tensor)], learningRate: Float) {
        self.parameters = parameters
        self.learningRate = learningRate
    }

    public func zeroGradients() { for p in parameters { p.tensor.grad = nil } }

    public func stateTensors() -> [String: Tensor] { state }

    public func loadState(_ saved: [String: Tensor], stepCount: Int) throws {
        let known = Set(parameters.map(\.name))
        for (key, tensor) in saved {
            guard let dot = key.lastIndex(of: "."), known.contains(String(key[..<dot])) else {
                throw StateLoadError.doesNotFit(missing: [], unexpected: [key], mismatched: [])
            }
            state[key] = tensor.copy()
        }
        self.stepCount = stepCount
    }

    func stateTensor(_ key: String, like parameter: Tensor) -> Tensor {
        if let existing = state[key] { return existing }
        let t = Tensor.zeros(parameter.shape, planned: parameter.isPlanned)
        state[key] = t
        return t
    }
}

/// SGD with momentum, optionally Nesterov, with L2 weight decay added to the gradient, exactly
/// as torch.optim.SGD (nnU-Net: lr 1e-2, momentum 0.99, Nesterov, weight decay 3e-5).
public final class SGD: ParameterOptimizer, Optimizer {
    public let momentum: Float
    public let nesterov: Bool
    public let weightDecay: Float

    public init(parameters: [(name: String, tensor: Tensor)], learningRate: Float = 1e-2,
                momentum: Float = 0.99, nesterov: Bool = true, weightDecay: Float = 3e-5) {
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        super.init(parameters: parameters, learningRate: learningRate)
    }

    public func step() {
        stepCount += 1
        for (name, p) in parameters {
            guard let g = p.grad else { continue }
            let buffer = momentum != 0 ? stateTensor("\(name).momentum_buffer", like: p) : nil
            if p.isPlanned { continue }
            let first = stepCount == 1
            let pp = p.data, gp = g.data, bp = buffer?.data
            let (lr, mu, wd, nesterov) = (learningRate, momentum, weightDecay, nesterov)
            Parallel.forEachChunk(p.count, minimumChunk: 1 << 15) { range in
                for i in range {
                    var d = gp[i] + wd * pp[i]
                    if let bp {
                        // torch initialises the buffer with the first gradient, not zero.
                        bp[i] = first ? d : mu * bp[i] + d
                        d = nesterov ? d + mu * bp[i] : bp[i]
                    }
                    pp[i] -= lr * d
                }
            }
        }
    }
}

/// AdamW (decoupled weight decay), as torch.optim.AdamW.
public final class AdamW: ParameterOptimizer, Optimizer {
    public let beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float

    public init(parameters: [(name: String, tensor: Tensor)], learningRate: Float = 1e-3,
                beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 1e-2) {
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon; self.weightDecay = weightDecay
        super.init(parameters: parameters, learningRate: learningRate)
    }

    public func step() {
        stepCount += 1
        let correction1 = 1 - Float(pow(Double(beta1), Double(stepCount)))
        let correction2 = 1 - Float(pow(Double(beta2), Double(stepCount)))
        for (name, p) in parameters {
            guard let g = p.grad else { continue }
            let m = stateTensor("\(name).exp_avg", like: p), v = stateTensor("\(name).exp_avg_sq", like: p)
            if p.isPlanned { continue }
            let pp = p.data, gp = g.data, mp = m.data, vp = v.data
            let (lr, b1, b2, eps, wd) = (learningRate, beta1, beta2, epsilon, weightDecay)
            Parallel.forEachChunk(p.count, minimumChunk: 1 << 15) { range in
                for i in range {
                    pp[i] *= 1 - lr * wd
                    mp[i] = b1 * mp[i] + (1 - b1) * gp[i]
                    vp[i] = b2 * vp[i] + (1 - b2) * gp[i] * gp[i]
                    let denom = (vp[i] / correction2).squareRoot() + eps
                    pp[i] -= lr * (mp[i] / correction1) / denom
                }
            }
        }
    }
}

/// Scales all gradients so that their global L2 norm is at most `maxNorm` (nnU-Net clips at 12).
/// Returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ parameters: [(name: String, tensor: Tensor)], maxNorm: Float) -> Float {
    var total = 0.0
    for (_, p) in parameters {
        guard let g = p.grad, !g.isPlanned else { continue }
        for i in 0..<g.count { total += Double(g.data[i]) * Double(g.data[i]) }
    }
    let norm = Float(total.squareRoot())
    if norm > maxNorm {
        let scale = maxNorm / (norm + 1e-6)
        for (_, p) in parameters {
            guard let g = p.grad, !g.isPlanned else { continue }
            for i in 0..<g.count { g.data[i] *= scale }
        }
    }
    return norm
}

/// Learning-rate schedules.
public enum LearningRateSchedule: Equatable, Sendable {
    /// nnU-Net's poly schedule: lr0 * (1 - epoch / maxEpochs)^exponent.
    case poly(exponent: Double)
    case constant

    public func learningRate(initial: Float, epoch: Int, totalEpochs: Int) -> Float {
        switch self {
        case .constant: return initial
        case .poly(let exponent):
            let progress = Double(epoch) / Double(max(totalEpochs, 1))
            return initial * Float(pow(max(0, 1 - progress), exponent))
        }
    }
}
