import Foundation

/// The sizes of one 3D convolution: input, kernel, stride, padding, groups and the output they
/// give. Every convolution kernel (im2col, pointwise, depthwise, transposed) reads its loop bounds
/// from here, so the shape rules live in one place.
public struct ConvGeometry: Equatable, Sendable {
    public var batch: Int
    public var inputChannels: Int
    public var outputChannels: Int
    public var groups: Int
    /// Input depth, height, width.
    public var input: [Int]
    /// Kernel depth, height, width.
    public var kernel: [Int]
    public var stride: [Int]
    public var padding: [Int]
    /// Output depth, height, width: (in + 2 pad - kernel) / stride + 1.
    public var output: [Int]

    /// Checks a convolution's shapes: `x` is [N, Cin, D, H, W], `weight` is
    /// [Cout, Cin / groups, kD, kH, kW]. `stride` and `padding` hold one value for all three axes
    /// or one per axis. A mismatch is a programming error in the model, so it stops with a message
    /// that names the shapes.
    public init(input x: [Int], weight: [Int], stride: [Int], padding: [Int], groups: Int) {
        precondition(x.count == 5, "conv3d: input must be [N, C, D, H, W], got \(x)")
        precondition(weight.count == 5, "conv3d: weight must be [Cout, Cin/groups, kD, kH, kW], got \(weight)")
        precondition(groups >= 1 && x[1] % groups == 0 && weight[0] % groups == 0,
                     "conv3d: groups \(groups) must divide input channels \(x[1]) and output channels \(weight[0])")
        precondition(weight[1] * groups == x[1],
                     "conv3d: weight \(weight) expects \(weight[1] * groups) input channels with groups \(groups), input has \(x[1])")
        batch = x[0]
        inputChannels = x[1]
        outputChannels = weight[0]
        self.groups = groups
        input = Array(x[2...])
        kernel = Array(weight[2...])
        let strides = ConvGeometry.perAxis(stride, name: "stride")
        let pads = ConvGeometry.perAxis(padding, name: "padding")
        let kernelSize = Array(weight[2...])
        for axis in 0..<3 {
            precondition(strides[axis] >= 1 && pads[axis] >= 0 && kernelSize[axis] >= 1,
                         "conv3d: stride \(stride) must be positive, padding \(padding) not negative")
            precondition(x[axis + 2] + 2 * pads[axis] >= kernelSize[axis],
                         "conv3d: kernel \(kernelSize) is larger than the padded input \(x) with padding \(padding)")
        }
        self.stride = strides
        self.padding = pads
        output = (0..<3).map { axis in (x[axis + 2] + 2 * pads[axis] - kernelSize[axis]) / strides[axis] + 1 }
    }

    static func perAxis(_ values: [Int], name: String) -> [Int] {
        if values.count == 1 { return [values[0], values[0], values[0]] }
        precondition(values.count == 3, "conv3d: \(name) needs 1 or 3 values, got \(values)")
        return values
    }

    public var inputShape: [Int] { [batch, inputChannels] + input }
    public var outputShape: [Int] { [batch, outputChannels] + output }
    public var weightShape: [Int] { [outputChannels, inputChannels / groups] + kernel }

    public var groupInputChannels: Int { inputChannels / groups }
    public var groupOutputChannels: Int { outputChannels / groups }
    public var kernelVolume: Int { kernel[0] * kernel[1] * kernel[2] }
    /// Rows of one group's im2col panel: Cin/groups * kD * kH * kW (the GEMM's inner dimension).
    public var patchSize: Int { groupInputChannels * kernelVolume }
    public var inputVolume: Int { input[0] * input[1] * input[2] }
    public var outputVolume: Int { output[0] * output[1] * output[2] }
    /// Output rows (one per output (depth, height) pair); im2col slabs are ranges of these.
    public var outputRows: Int { output[0] * output[1] }

    public var isPointwise: Bool { kernel == [1, 1, 1] && padding == [0, 0, 0] }
    public var isDepthwise: Bool { groups > 1 && groups == inputChannels && groups == outputChannels }

    /// Multiply-adds of the forward pass (FLOPs are twice this).
    public var multiplyAdds: Int { batch * outputChannels * outputVolume * patchSize }
}
