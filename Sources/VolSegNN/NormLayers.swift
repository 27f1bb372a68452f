import VolSegCore

/// Which normalisation a network uses after its convolutions.
public enum NormKind: Equatable, Sendable, Codable {
    case batch
    case instance
    case group(Int)
}

/// BatchNorm over the channels of `[N, C, ...]`, with running statistics as buffers
/// (`running_mean`, `running_var`, PyTorch's names). In training mode it normalises with batch
/// statistics and updates the running ones, unless `updatesRunningStatistics` is off, which
/// reversible blocks use while they recompute a forward pass.
public final class BatchNorm: Module {
    public let weight: Tensor, bias: Tensor
    public let runningMean: Tensor, runningVar: Tensor
    public let momentum: Float, eps: Float
    public var updatesRunningStatistics = true

    public init(channels: Int, momentum: Float = 0.1, eps: Float = 1e-5, initializer: ParameterInitializer) {
        self.momentum = momentum
        self.eps = eps
        weight = initializer.constant([channels], 1)
        bias = initializer.constant([channels], 0)
        runningMean = initializer.constant([channels], 0)
        runningVar = initializer.constant([channels], 1)
        super.init()
        registerParameter("weight", weight)
        registerParameter("bias", bias)
        registerBuffer("running_mean", runningMean)
        registerBuffer("running_var", runningVar)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        batchNorm(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                  training: isTraining, updateRunningStats: isTraining && updatesRunningStatistics,
                  momentum: momentum, eps: eps)
    }
}

/// InstanceNorm with affine parameters (nnU-Net's and STU-Net's choice; no running statistics).
public final class InstanceNorm: Module {
    public let weight: Tensor, bias: Tensor
    public let eps: Float

    public init(channels: Int, eps: Float = 1e-5, initializer: ParameterInitializer) {
        self.eps = eps
        weight = initializer.constant([channels], 1)
        bias = initializer.constant([channels], 0)
        super.init()
        registerParameter("weight", weight)
        registerParameter("bias", bias)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        instanceNorm(x, weight: weight, bias: bias, eps: eps)
    }
}

/// GroupNorm with affine parameters.
public final class GroupNorm: Module {
    public let weight: Tensor, bias: Tensor
    public let groups: Int, eps: Float

    public init(groups: Int, channels: Int, eps: Float = 1e-5, initializer: ParameterInitializer) {
        precondition(channels % groups == 0, "\(channels) channels in \(groups) groups")
        self.groups = groups
        self.eps = eps
        weight = initializer.constant([channels], 1)
        bias = initializer.constant([channels], 0)
        super.init()
        registerParameter("weight", weight)
        registerParameter("bias", bias)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps)
    }
}

/// A norm layer chosen by `NormKind`, so architectures can be configured with any of them.
public func makeNorm(_ kind: NormKind, channels: Int, initializer: ParameterInitializer) -> Module & NormLayer {
    switch kind {
    case .batch: return BatchNorm(channels: channels, initializer: initializer)
    case .instance: return InstanceNorm(channels: channels, initializer: initializer)
    case .group(let groups): return GroupNorm(groups: groups, channels: channels, initializer: initializer)
    }
}

public protocol NormLayer: AnyObject {
    func callAsFunction(_ x: Tensor) -> Tensor
}
extension BatchNorm: NormLayer {}
extension InstanceNorm: NormLayer {}
extension GroupNorm: NormLayer {}
