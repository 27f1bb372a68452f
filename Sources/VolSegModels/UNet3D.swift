import VolSegCore
import VolSegNN

/// The plain nnU-Net-style 3D U-Net: per stage two conv3x3x3 + InstanceNorm + LeakyReLU(0.01),
/// the first conv of every stage but the first with stride 2, transposed conv k2 s2 up, concat
/// skips, 1x1x1 heads. `bench-unet` (4 stages 16-32-64-128, 4 in, 4 classes) has 1,403,316
/// parameters, the network of the speed comparison against PyTorch.
public struct UNet3DConfig: Equatable, Sendable {
    public var inputChannels: Int
    public var classCount: Int
    public var widths: [Int]
    public var convsPerStage = 2
    public var deepSupervision = false

    public init(inputChannels: Int, classCount: Int, widths: [Int], convsPerStage: Int = 2, deepSupervision: Bool = false) {
        self.inputChannels = inputChannels
        self.classCount = classCount
        self.widths = widths
        self.convsPerStage = convsPerStage
        self.deepSupervision = deepSupervision
    }

    public static func bench(inputChannels: Int = 4, classCount: Int = 4) -> UNet3DConfig {
        UNet3DConfig(inputChannels: inputChannels, classCount: classCount, widths: [16, 32, 64, 128])
    }

    /// The default `unet3d`: nnU-Net's 3d_fullres widths capped at 320, five stages.
    public static func standard(inputChannels: Int, classCount: Int) -> UNet3DConfig {
        UNet3DConfig(inputChannels: inputChannels, classCount: classCount, widths: [32, 64, 128, 256, 320],
                     deepSupervision: true)
    }
}

/// conv3x3x3 (+bias) -> InstanceNorm -> LeakyReLU, `count` times; the first may carry a stride.
final class ConvNormActStack: Module {
    let convs: [Conv3d]
    let norms: [InstanceNorm]

    init(input: Int, output: Int, count: Int, firstStride: Int, initializer: ParameterInitializer) {
        var convs: [Conv3d] = [], norms: [InstanceNorm] = []
        for i in 0..<count {
            convs.append(Conv3d(inputChannels: i == 0 ? input : output, outputChannels: output, kernelSize: 3,
                                stride: i == 0 ? firstStride : 1, initializer: initializer))
            norms.append(InstanceNorm(channels: output, initializer: initializer))
        }
        self.convs = convs
        self.norms = norms
        super.init()
        for i in 0..<count {
            let unit = registerChild("\(i)", Module())
            unit.registerChild("conv", convs[i])
            unit.registerChild("norm", norms[i])
        }
    }

    func callAsFunction(_ x: Tensor) -> Tensor { self(concatenating: [x]) }

    /// The stack on the channel concatenation of `parts` (a decoder stage: upsampled, skip),
    /// which the first convolution reads without it being built where it can.
    func callAsFunction(concatenating parts: [Tensor]) -> Tensor {
        // Without autograd the convolution output is a temporary: normalise it in place.
        let normalize = GradMode.isEnabled ? instanceNormLeakyReLU : instanceNormLeakyReLUOverwriting
        guard let first = convs.first else { return Tensor.concat(parts, axis: 1) }
        var h = normalize(first(concatenating: parts), norms[0].weight, norms[0].bias, 0.01, norms[0].eps)
        for (conv, norm) in zip(convs, norms).dropFirst() {
            h = normalize(conv(h), norm.weight, norm.bias, 0.01, norm.eps)
        }
        return h
    }
}

public final class UNet3D: Module, SegmentationModel, RecomputableStages {
    public let config: UNet3DConfig
    public var recomputedStages: Set<String> = []
    let encoder: [ConvNormActStack], upsamplers: [ConvTranspose3d], decoder: [ConvNormActStack], heads: [Conv3d]

    public init(_ config: UNet3DConfig, initializer: ParameterInitializer) {
        self.config = config
        let w = config.widths
        encoder = w.indices.map { s in
            ConvNormActStack(input: s == 0 ? config.inputChannels : w[s - 1], output: w[s],
                             count: config.convsPerStage, firstStride: s == 0 ? 1 : 2, initializer: initializer)
        }
        var upsamplers: [ConvTranspose3d] = [], decoder: [ConvNormActStack] = [], heads: [Conv3d] = []
        for level in stride(from: w.count - 2, through: 0, by: -1) {
            upsamplers.append(ConvTranspose3d(inputChannels: w[level + 1], outputChannels: w[level],
                                              stride: [2, 2, 2], initializer: initializer))
            decoder.append(ConvNormActStack(input: 2 * w[level], output: w[level], count: config.convsPerStage,
                                            firstStride: 1, initializer: initializer))
            if config.deepSupervision || level == 0 {
                heads.append(Conv3d(inputChannels: w[level], outputChannels: config.classCount, kernelSize: 1,
                                    padding: 0, initializer: initializer))
            }
        }
        self.upsamplers = upsamplers
        self.decoder = decoder
        self.heads = heads
        super.init()
        let enc = registerChild("encoder", Module())
        for (i, s) in encoder.enumerated() { enc.registerChild("\(i)", s) }
        let ups = registerChild("upsample", Module())
        for (i, s) in upsamplers.enumerated() { ups.registerChild("\(i)", s) }
        let dec = registerChild("decoder", Module())
        for (i, s) in decoder.enumerated() { dec.registerChild("\(i)", s) }
        let out = registerChild("heads", Module())
        for (i, h) in heads.enumerated() { out.registerChild("\(i)", h) }
    }

    public var inputChannels: Int { config.inputChannels }
    public var classCount: Int { config.classCount }
    public var family: String { "unet3d" }
    public var sizeDivisor: [Int] { Array(repeating: 1 << (config.widths.count - 1), count: 3) }
    public var configJSON: [String: Any] {
        ["input_channels": config.inputChannels, "num_classes": config.classCount, "widths": config.widths,
         "convs_per_stage": config.convsPerStage, "deep_supervision": config.deepSupervision]
    }

    public var stageNames: [String] {
        encoder.indices.map { "encoder.\($0)" } + decoder.indices.map { "decoder.\($0)" }
    }

    public func forward(_ x: Tensor) -> [Tensor] {
        var skips: [Tensor] = []
        var h = x
        for (s, stage) in encoder.enumerated() {
            h = runStage("encoder.\(s)", h) { input, _ in stage(input) }
            if s < encoder.count - 1 { skips.append(h) }
        }
        var outputs: [Tensor] = []
        for u in 0..<decoder.count {
            let stage = decoder[u]
            // The deepest remaining skip is used once: taking it out of the list frees it as soon
            // as the stage's first convolution (or, in training, autograd) is done with it.
            h = runStage("decoder.\(u)", [upsamplers[u](h), skips.removeLast()]) { inputs, _ in stage(concatenating: inputs) }
            if config.deepSupervision {
                outputs.append(heads[u](h))
            } else if u == decoder.count - 1 {
                outputs.append(heads[0](h))
            }
        }
        return outputs.reversed()
    }
}
