import VolSegCore
import VolSegNN

/// dynamic_network_architectures' `ConvDropoutNormReLU`: conv (same padding), InstanceNorm, and
/// the nonlinearity when `activates`. Parameter names (`conv.weight`, `norm.bias`, ...) are the
/// PyTorch module's, so an nnU-Net state dict loads by name. Dropout is the identity at inference.
final class ConvNormNonlin: Module {
    let conv: Conv3d
    let norm: InstanceNorm
    let slope: Float?

    init(input: Int, output: Int, kernel: [Int], stride: [Int], bias: Bool, eps: Float, slope: Float?,
         initializer: ParameterInitializer) {
        conv = Conv3d(inputChannels: input, outputChannels: output, kernelSize: kernel, stride: stride,
                      padding: kernel.map { ($0 - 1) / 2 }, bias: bias, initializer: initializer)
        norm = InstanceNorm(channels: output, eps: eps, initializer: initializer)
        self.slope = slope
        super.init()
        registerChild("conv", conv)
        registerChild("norm", norm)
    }

    func callAsFunction(_ x: Tensor) -> Tensor { self(concatenating: [x]) }

    /// The block on the channel concatenation of `parts`, which the convolution reads without it
    /// being built where it can (`conv3d(concatenating:)`).
    func callAsFunction(concatenating parts: [Tensor]) -> Tensor {
        let h = conv(concatenating: parts)
        if GradMode.isEnabled {
            guard let slope else { return instanceNorm(h, weight: norm.weight, bias: norm.bias, eps: norm.eps) }
            return instanceNormLeakyReLU(h, weight: norm.weight, bias: norm.bias, slope: slope, eps: norm.eps)
        }
        // Without autograd the conv output is a temporary: normalise it in place. A slope of 1 is
        // the identity, i.e. the norm alone.
        return instanceNormLeakyReLUOverwriting(h, weight: norm.weight, bias: norm.bias, slope: slope ?? 1, eps: norm.eps)
    }
}

/// `StackedConvBlocks`: `count` ConvNormNonlin under `convs.0`, `convs.1`, ...; the first carries
/// the stage's stride.
final class StackedConvNormNonlin: Module {
    let units: [ConvNormNonlin]

    init(input: Int, output: Int, count: Int, kernel: [Int], firstStride: [Int], bias: Bool, eps: Float,
         slope: Float, initializer: ParameterInitializer) {
        units = (0..<count).map { i in
            ConvNormNonlin(input: i == 0 ? input : output, output: output, kernel: kernel,
                           stride: i == 0 ? firstStride : [1, 1, 1], bias: bias, eps: eps, slope: slope,
                           initializer: initializer)
        }
        super.init()
        let convs = registerChild("convs", Module())
        for (i, unit) in units.enumerated() { convs.registerChild("\(i)", unit) }
    }

    func callAsFunction(_ x: Tensor) -> Tensor { self(concatenating: [x]) }

    /// The stack on the channel concatenation of `parts` (a decoder stage: upsampled, skip).
    func callAsFunction(concatenating parts: [Tensor]) -> Tensor {
        guard let first = units.first else { return Tensor.concat(parts, axis: 1) }
        return units.dropFirst().reduce(first(concatenating: parts)) { $1($0) }
    }
}

/// `BasicBlockD` (ResNet-D): conv1 (conv-norm-nonlin, with the stride), conv2 (conv-norm), and a
/// skip that average-pools when strided and projects with a 1x1 conv + norm (no bias) when the
/// channels change; the sum goes through the nonlinearity.
final class ResidualBlockD: Module {
    let conv1: ConvNormNonlin, conv2: ConvNormNonlin
    let poolStride: [Int]?
    let projection: ConvNormNonlin?
    let slope: Float

    init(input: Int, output: Int, kernel: [Int], stride: [Int], bias: Bool, eps: Float, slope: Float,
         initializer: ParameterInitializer) {
        conv1 = ConvNormNonlin(input: input, output: output, kernel: kernel, stride: stride, bias: bias, eps: eps,
                               slope: slope, initializer: initializer)
        conv2 = ConvNormNonlin(input: output, output: output, kernel: kernel, stride: [1, 1, 1], bias: bias,
                               eps: eps, slope: nil, initializer: initializer)
        poolStride = stride.contains { $0 != 1 } ? stride : nil
        projection = input == output ? nil
            : ConvNormNonlin(input: input, output: output, kernel: [1, 1, 1], stride: [1, 1, 1], bias: false,
                             eps: eps, slope: nil, initializer: initializer)
        self.slope = slope
        super.init()
        registerChild("conv1", conv1)
        registerChild("conv2", conv2)
        if let projection {
            // PyTorch's skip is nn.Sequential(pool?, projection): the projection is item 1 after a pool.
            registerChild("skip", Module()).registerChild(poolStride == nil ? "0" : "1", projection)
        }
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        var skip = x
        if let poolStride { skip = skip.avgPool(kernel: poolStride) }
        if let projection { skip = projection(skip) }
        return (conv2(conv1(x)) + skip).leakyReLU(slope: slope)
    }
}

/// `StackedResidualBlocks`: `count` ResidualBlockD under `blocks.0`, ...; the first carries the stride.
final class StackedResidualBlocks: Module {
    let blocks: [ResidualBlockD]

    init(input: Int, output: Int, count: Int, kernel: [Int], firstStride: [Int], bias: Bool, eps: Float,
         slope: Float, initializer: ParameterInitializer) {
        blocks = (0..<count).map { i in
            ResidualBlockD(input: i == 0 ? input : output, output: output, kernel: kernel,
                           stride: i == 0 ? firstStride : [1, 1, 1], bias: bias, eps: eps, slope: slope,
                           initializer: initializer)
        }
        super.init()
        let container = registerChild("blocks", Module())
        for (i, block) in blocks.enumerated() { container.registerChild("\(i)", block) }
    }

    func callAsFunction(_ x: Tensor) -> Tensor { blocks.reduce(x) { $1($0) } }
}
