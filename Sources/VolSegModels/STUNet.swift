import VolSegCore
import VolSegNN

/// STU-Net (Huang et al. 2023), structured exactly as the reference code so that its state-dict
/// names (`conv_blocks_context.0.0.conv1.weight`, ...) load by name. See REFERENCE.md.
public struct STUNetConfig: Equatable, Sendable {
    public var inputChannels: Int
    public var classCount: Int
    /// Residual blocks per stage (6 stages).
    public var depth: [Int]
    /// Channels per stage: base x (1, 2, 4, 8, 16, 16) in the presets.
    public var dims: [Int]
    /// Stride of each of the 5 downsamplings, per axis (D, H, W).
    public var strides: [[Int]]
    /// Kernel per stage, per axis.
    public var kernels: [[Int]]
    public var deepSupervision = true

    public init(inputChannels: Int, classCount: Int, depth: [Int], dims: [Int],
                strides: [[Int]]? = nil, kernels: [[Int]]? = nil, deepSupervision: Bool = true) {
        self.inputChannels = inputChannels
        self.classCount = classCount
        self.depth = depth
        self.dims = dims
        self.strides = strides ?? Array(repeating: [2, 2, 2], count: dims.count - 1)
        self.kernels = kernels ?? Array(repeating: [3, 3, 3], count: dims.count)
        self.deepSupervision = deepSupervision
    }

    /// The published presets: S, B, L, H (blocks per stage, base width).
    public static func preset(_ name: String, inputChannels: Int, classCount: Int) -> STUNetConfig? {
        let table: [String: (Int, Int)] = ["s": (1, 16), "b": (1, 32), "l": (2, 64), "h": (3, 96)]
        guard let (depth, base) = table[name.lowercased()] else { return nil }
        return STUNetConfig(inputChannels: inputChannels, classCount: classCount,
                            depth: Array(repeating: depth, count: 6),
                            dims: [1, 2, 4, 8, 16, 16].map { $0 * base })
    }
}

/// conv k (stride s) -> IN -> LeakyReLU -> conv k -> IN, plus the shortcut (identity, or a 1x1x1
/// conv with the same stride when channels or stride change), then LeakyReLU.
final class STUResidualBlock: Module {
    let conv1: Conv3d, norm1: InstanceNorm, conv2: Conv3d, norm2: InstanceNorm
    let conv3: Conv3d?

    init(input: Int, output: Int, kernel: [Int], stride: [Int], projection: Bool, initializer: ParameterInitializer) {
        let padding = kernel.map { $0 / 2 }  // STU-Net pads k // 2: "same" size for odd kernels
        conv1 = Conv3d(inputChannels: input, outputChannels: output, kernelSize: kernel, stride: stride,
                       padding: padding, initializer: initializer)
        norm1 = InstanceNorm(channels: output, initializer: initializer)
        conv2 = Conv3d(inputChannels: output, outputChannels: output, kernelSize: kernel,
                       padding: padding, initializer: initializer)
        norm2 = InstanceNorm(channels: output, initializer: initializer)
        conv3 = projection ? Conv3d(inputChannels: input, outputChannels: output, kernelSize: [1, 1, 1],
                                    stride: stride, padding: [0, 0, 0], initializer: initializer) : nil
        super.init()
        registerChild("conv1", conv1)
        registerChild("norm1", norm1)
        registerChild("conv2", conv2)
        registerChild("norm2", norm2)
        if let conv3 { registerChild("conv3", conv3) }
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        let y = norm2(conv2(instanceNormLeakyReLU(conv1(x), weight: norm1.weight, bias: norm1.bias,
                                                  slope: 0.01, eps: norm1.eps)))
        let shortcut = conv3.map { $0(x) } ?? x
        return (y + shortcut).leakyReLU(slope: 0.01)
    }
}

/// A stage: the first block changes channels/stride (with a 1x1 projection), then depth-1
/// identity blocks. Children are named "0", "1", ... like nn.Sequential.
final class STUStage: Module {
    let blocks: [STUResidualBlock]

    init(input: Int, output: Int, depth: Int, kernel: [Int], stride: [Int], initializer: ParameterInitializer) {
        var blocks = [STUResidualBlock(input: input, output: output, kernel: kernel, stride: stride,
                                       projection: true, initializer: initializer)]
        for _ in 1..<max(depth, 1) {
            blocks.append(STUResidualBlock(input: output, output: output, kernel: kernel, stride: [1, 1, 1],
                                           projection: false, initializer: initializer))
        }
        self.blocks = blocks
        super.init()
        for (i, b) in blocks.enumerated() { registerChild("\(i)", b) }
    }

    func callAsFunction(_ x: Tensor) -> Tensor { blocks.reduce(x) { $1($0) } }
}

/// Weight-free upsampling: nearest-neighbour by the stride, then a 1x1x1 conv to the next width.
final class STUUpsample: Module {
    let conv: Conv3d
    let scale: [Int]

    init(input: Int, output: Int, scale: [Int], initializer: ParameterInitializer) {
        conv = Conv3d(inputChannels: input, outputChannels: output, kernelSize: [1, 1, 1],
                      padding: [0, 0, 0], initializer: initializer)
        self.scale = scale
        super.init()
        registerChild("conv", conv)
    }

    func callAsFunction(_ x: Tensor) -> Tensor { conv(x.upsampleNearest(scale: scale)) }
}

public final class STUNet: Module, SegmentationModel, RecomputableStages {
    public let config: STUNetConfig
    public var recomputedStages: Set<String> = []
    let encoder: [STUStage], upsamplers: [STUUpsample], decoder: [STUStage], heads: [Conv3d]

    public init(_ config: STUNetConfig, initializer: ParameterInitializer) {
        precondition(config.dims.count == config.depth.count && config.strides.count == config.dims.count - 1
                     && config.kernels.count == config.dims.count, "inconsistent STU-Net config")
        self.config = config
        let dims = config.dims, stages = dims.count, pools = stages - 1
        var encoder = [STUStage(input: config.inputChannels, output: dims[0], depth: config.depth[0],
                                kernel: config.kernels[0], stride: [1, 1, 1], initializer: initializer)]
        for d in 1..<stages {
            encoder.append(STUStage(input: dims[d - 1], output: dims[d], depth: config.depth[d],
                                    kernel: config.kernels[d], stride: config.strides[d - 1], initializer: initializer))
        }
        var upsamplers: [STUUpsample] = [], decoder: [STUStage] = [], heads: [Conv3d] = []
        for u in 0..<pools {
            let level = stages - 2 - u  // the skip's stage
            upsamplers.append(STUUpsample(input: dims[level + 1], output: dims[level],
                                          scale: config.strides[level], initializer: initializer))
            decoder.append(STUStage(input: 2 * dims[level], output: dims[level], depth: config.depth[level],
                                    kernel: config.kernels[level], stride: [1, 1, 1], initializer: initializer))
            heads.append(Conv3d(inputChannels: dims[level], outputChannels: config.classCount,
                                kernelSize: [1, 1, 1], padding: [0, 0, 0], initializer: initializer))
        }
        self.encoder = encoder
        self.upsamplers = upsamplers
        self.decoder = decoder
        self.heads = heads
        super.init()
        let context = registerChild("conv_blocks_context", Module())
        for (i, s) in encoder.enumerated() { context.registerChild("\(i)", s) }
        let ups = registerChild("upsample_layers", Module())
        for (i, s) in upsamplers.enumerated() { ups.registerChild("\(i)", s) }
        let localization = registerChild("conv_blocks_localization", Module())
        for (i, s) in decoder.enumerated() { localization.registerChild("\(i)", s) }
        let outputs = registerChild("seg_outputs", Module())
        for (i, h) in heads.enumerated() { outputs.registerChild("\(i)", h) }
    }

    public var inputChannels: Int { config.inputChannels }
    public var classCount: Int { config.classCount }
    public var family: String { "stunet" }
    public var sizeDivisor: [Int] {
        (0..<3).map { axis in config.strides.reduce(1) { $0 * $1[axis] } }
    }

    public var configJSON: [String: Any] {
        ["input_channels": config.inputChannels, "num_classes": config.classCount, "depth": config.depth,
         "dims": config.dims, "strides": config.strides, "kernels": config.kernels,
         "deep_supervision": config.deepSupervision]
    }

    public var stageNames: [String] {
        encoder.indices.map { "conv_blocks_context.\($0)" } + decoder.indices.map { "conv_blocks_localization.\($0)" }
    }

    /// Head outputs, full resolution first (head `seg_outputs.4` first for five pools).
    public func forward(_ x: Tensor) -> [Tensor] {
        var skips: [Tensor] = []
        var h = x
        for (d, stage) in encoder.enumerated() {
            h = runStage("conv_blocks_context.\(d)", h) { input, _ in stage(input) }
            if d < encoder.count - 1 { skips.append(h) }
        }
        var outputs: [Tensor] = []
        for u in 0..<decoder.count {
            h = Tensor.concat([upsamplers[u](h), skips[skips.count - 1 - u]], axis: 1)
            let stage = decoder[u]
            h = runStage("conv_blocks_localization.\(u)", h) { input, _ in stage(input) }
            // Only the full-resolution head runs without deep supervision.
            if config.deepSupervision || u == decoder.count - 1 { outputs.append(heads[u](h)) }
        }
        return outputs.reversed()
    }
}
