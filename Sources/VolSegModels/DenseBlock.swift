import VolSegCore
import VolSegNN

/// Whether a DenseNet part works on slices `[N, C, H, W]` or on volumes `[N, C, D, H, W]`. The
/// 2D and 3D networks of H-DenseUNet share their building blocks; only the convolution, the
/// kernels and the pooling windows differ.
public enum SpatialRank: Int, Sendable {
    case planar = 2
    case volumetric = 3

    /// A cubic (square) extent `k` on every spatial axis.
    func cube(_ k: Int) -> [Int] { Array(repeating: k, count: rawValue) }

    /// Pooling window of the transitions: DenseNet's 2x2 in 2D; in 3D in-plane only ([1, 2, 2] in
    /// D, H, W; the reference's (2, 2, 1) in x, y, z), so a thin slab keeps its slices.
    var transitionWindow: [Int] { self == .planar ? [2, 2] : [1, 2, 2] }
}

/// A 2D or 3D convolution layer, called the same way.
protocol SpatialConvolution: Module {
    func callAsFunction(_ x: Tensor) -> Tensor
}
extension Conv2d: SpatialConvolution {}
extension Conv3d: SpatialConvolution {}

/// A convolution of the given rank with a cubic kernel and "same" padding for odd kernels.
func makeConvolution(_ rank: SpatialRank, input: Int, output: Int, kernel: Int, stride: Int = 1,
                     bias: Bool, initializer: ParameterInitializer) -> SpatialConvolution {
    switch rank {
    case .planar:
        return Conv2d(inputChannels: input, outputChannels: output, kernelSize: kernel, stride: stride,
                      bias: bias, initializer: initializer)
    case .volumetric:
        return Conv3d(inputChannels: input, outputChannels: output, kernelSize: kernel, stride: stride,
                      bias: bias, initializer: initializer)
    }
}

extension BatchNorm {
    /// This norm followed by ReLU, fused (see `batchNormReLU`), in the module's own mode.
    func withReLU(_ x: Tensor) -> Tensor {
        batchNormReLU(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                      training: isTraining, updateRunningStats: isTraining && updatesRunningStatistics,
                      momentum: momentum, eps: eps)
    }
}

/// DenseNet's bottleneck layer (DenseNet-BC): BN, ReLU, 1x1 conv to `bottleneck` channels, BN,
/// ReLU, 3x3 conv to `growth` channels, no biases. Names as torchvision's `_DenseLayer`
/// (`norm1`, `conv1`, `norm2`, `conv2`), so ImageNet DenseNet weights load by name.
final class DenseLayer: Module {
    let norm1: BatchNorm, conv1: SpatialConvolution, norm2: BatchNorm, conv2: SpatialConvolution
    /// Keep only the layer's input for backward and run the layer again there (memory-efficient
    /// DenseNet, Pleiss et al. 2017): the normalised copy of the ever-wider input and the
    /// bottleneck maps are then not kept, at the cost of a second forward of the layer.
    var recomputes = false

    init(_ rank: SpatialRank, input: Int, bottleneck: Int, growth: Int, eps: Float, initializer: ParameterInitializer) {
        norm1 = BatchNorm(channels: input, eps: eps, initializer: initializer)
        conv1 = makeConvolution(rank, input: input, output: bottleneck, kernel: 1, bias: false, initializer: initializer)
        norm2 = BatchNorm(channels: bottleneck, eps: eps, initializer: initializer)
        conv2 = makeConvolution(rank, input: bottleneck, output: growth, kernel: 3, bias: false, initializer: initializer)
        super.init()
        registerChild("norm1", norm1)
        registerChild("conv1", conv1)
        registerChild("norm2", norm2)
        registerChild("conv2", conv2)
    }

    /// The `growth` new feature maps computed from all earlier ones.
    func callAsFunction(_ x: Tensor) -> Tensor {
        // Without a gradient through x the checkpoint would record nothing (parameters included).
        guard recomputes && GradMode.isEnabled && x.needsGrad else { return compute(x, isRecompute: false) }
        return checkpoint([x]) { inputs, isRecompute in [self.compute(inputs[0], isRecompute: isRecompute)] }[0]
    }

    private func compute(_ x: Tensor, isRecompute: Bool) -> Tensor {
        // The replay during backward must not move the running statistics a second time.
        let updates = (norm1.updatesRunningStatistics, norm2.updatesRunningStatistics)
        if isRecompute { norm1.updatesRunningStatistics = false; norm2.updatesRunningStatistics = false }
        defer { (norm1.updatesRunningStatistics, norm2.updatesRunningStatistics) = updates }
        return conv2(norm2.withReLU(conv1(norm1.withReLU(x))))
    }
}

/// `layers` dense layers, each seeing the concatenation of the block input and every earlier
/// layer's output; the block returns that concatenation (input + layers x growth channels).
/// Children `denselayer1`, `denselayer2`, ... as torchvision.
final class DenseBlock: Module {
    let layers: [DenseLayer]
    let outputChannels: Int

    init(_ rank: SpatialRank, input: Int, layers count: Int, growth: Int, bottleneckFactor: Int, eps: Float,
         initializer: ParameterInitializer) {
        layers = (0..<count).map { i in
            DenseLayer(rank, input: input + i * growth, bottleneck: bottleneckFactor * growth, growth: growth,
                       eps: eps, initializer: initializer)
        }
        outputChannels = input + count * growth
        super.init()
        for (i, layer) in layers.enumerated() { registerChild("denselayer\(i + 1)", layer) }
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        // Each concatenation is a new tensor that the next layer's norm keeps for backward: memory
        // grows with the square of the depth, which the planner accounts for exactly.
        layers.reduce(x) { features, layer in Tensor.concat([features, layer(features)], axis: 1) }
    }
}

/// Between dense blocks: BN, ReLU, 1x1 conv (no bias) to `output` channels, average pooling
/// (2x2 in 2D, in-plane [1, 2, 2] in 3D). Names `norm`, `conv` as torchvision's `_Transition`.
final class DenseTransition: Module {
    let norm: BatchNorm, conv: SpatialConvolution
    let window: [Int]

    init(_ rank: SpatialRank, input: Int, output: Int, eps: Float, initializer: ParameterInitializer) {
        norm = BatchNorm(channels: input, eps: eps, initializer: initializer)
        conv = makeConvolution(rank, input: input, output: output, kernel: 1, bias: false, initializer: initializer)
        window = rank.transitionWindow
        super.init()
        registerChild("norm", norm)
        registerChild("conv", conv)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        conv(norm.withReLU(x)).avgPool(kernel: window)
    }
}
