import VolSegCore

/// 3D convolution layer: weight `[out, in/groups, kD, kH, kW]`, optional bias, PyTorch's
/// default initialisation (uniform with bound 1/sqrt(fan-in)).
public final class Conv3d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: [Int]
    public let padding: [Int]
    public let groups: Int

    public init(inputChannels: Int, outputChannels: Int, kernelSize: [Int], stride: [Int] = [1, 1, 1],
                padding: [Int]? = nil, groups: Int = 1, bias: Bool = true, initializer: ParameterInitializer) {
        precondition(inputChannels % groups == 0 && outputChannels % groups == 0,
                     "channels \(inputChannels)->\(outputChannels) not divisible by groups \(groups)")
        let fanIn = inputChannels / groups * kernelSize.reduce(1, *)
        let shape = [outputChannels, inputChannels / groups] + kernelSize
        self.stride = stride
        // "Same" padding for odd kernels unless told otherwise, as every network here uses.
        self.padding = padding ?? kernelSize.map { ($0 - 1) / 2 }
        self.groups = groups
        weight = initializer.uniformFanIn(shape, fanIn: fanIn)
        self.bias = bias ? initializer.uniformFanIn([outputChannels], fanIn: fanIn) : nil
        super.init()
        registerParameter("weight", weight)
        if let b = self.bias { registerParameter("bias", b) }
    }

    public convenience init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1,
                            padding: Int? = nil, groups: Int = 1, bias: Bool = true,
                            initializer: ParameterInitializer) {
        self.init(inputChannels: inputChannels, outputChannels: outputChannels,
                  kernelSize: [kernelSize, kernelSize, kernelSize], stride: [stride, stride, stride],
                  padding: padding.map { [$0, $0, $0] }, groups: groups, bias: bias, initializer: initializer)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        conv3d(x, weight: weight, bias: bias, stride: stride, padding: padding, groups: groups)
    }

    /// This layer on the channel concatenation of `parts`, built only where it must be
    /// (`conv3d(concatenating:)`): a U-Net decoder's skip join.
    public func callAsFunction(concatenating parts: [Tensor]) -> Tensor {
        conv3d(concatenating: parts, weight: weight, bias: bias, stride: stride, padding: padding, groups: groups)
    }
}

/// Transposed 3D convolution with kernel == stride (the U-Net's upsampling): weight
/// `[in, out, kD, kH, kW]` as PyTorch stores it.
public final class ConvTranspose3d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: [Int]

    public init(inputChannels: Int, outputChannels: Int, stride: [Int], bias: Bool = true,
                initializer: ParameterInitializer) {
        // PyTorch computes fan-in of a transposed conv from weight.size(1) * kernel volume.
        let fanIn = outputChannels * stride.reduce(1, *)
        self.stride = stride
        weight = initializer.uniformFanIn([inputChannels, outputChannels] + stride, fanIn: fanIn)
        self.bias = bias ? initializer.uniformFanIn([outputChannels], fanIn: fanIn) : nil
        super.init()
        registerParameter("weight", weight)
        if let b = self.bias { registerParameter("bias", b) }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        convTranspose3d(x, weight: weight, bias: bias, stride: stride)
    }
}
