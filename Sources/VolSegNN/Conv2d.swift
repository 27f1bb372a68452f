import VolSegCore

/// 2D convolution layer: weight `[out, in/groups, kH, kW]` (PyTorch's `nn.Conv2d` layout and
/// names), optional bias, PyTorch's default initialisation (uniform with bound 1/sqrt(fan-in)).
/// H-DenseUNet's 2D network runs on it, so ImageNet DenseNet weights load into it by name.
public final class Conv2d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: [Int]
    public let padding: [Int]
    public let groups: Int

    public init(inputChannels: Int, outputChannels: Int, kernelSize: [Int], stride: [Int] = [1, 1],
                padding: [Int]? = nil, groups: Int = 1, bias: Bool = true, initializer: ParameterInitializer) {
        precondition(kernelSize.count == 2 && stride.count == 2 && (padding?.count ?? 2) == 2,
                     "Conv2d: kernel \(kernelSize), stride \(stride), padding \(padding ?? []) need 2 values each")
        precondition(inputChannels % groups == 0 && outputChannels % groups == 0,
                     "channels \(inputChannels)->\(outputChannels) not divisible by groups \(groups)")
        let fanIn = inputChannels / groups * kernelSize.reduce(1, *)
        self.stride = stride
        // "Same" padding for odd kernels unless told otherwise, as Conv3d.
        self.padding = padding ?? kernelSize.map { ($0 - 1) / 2 }
        self.groups = groups
        weight = initializer.uniformFanIn([outputChannels, inputChannels / groups] + kernelSize, fanIn: fanIn)
        self.bias = bias ? initializer.uniformFanIn([outputChannels], fanIn: fanIn) : nil
        super.init()
        registerParameter("weight", weight)
        if let b = self.bias { registerParameter("bias", b) }
    }

    public convenience init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1,
                            padding: Int? = nil, groups: Int = 1, bias: Bool = true,
                            initializer: ParameterInitializer) {
        self.init(inputChannels: inputChannels, outputChannels: outputChannels,
                  kernelSize: [kernelSize, kernelSize], stride: [stride, stride],
                  padding: padding.map { [$0, $0] }, groups: groups, bias: bias, initializer: initializer)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, groups: groups)
    }
}
