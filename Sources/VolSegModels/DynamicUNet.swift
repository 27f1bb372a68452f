import VolSegCore
import VolSegNN

/// nnU-Net v2's U-Nets (`PlainConvUNet`, `ResidualEncoderUNet` from dynamic_network_architectures)
/// with the same parameter names as their PyTorch state dicts, so a `checkpoint_final.pth` loads by
/// name: `encoder.stages.S.0.convs.I.conv.weight` (plain), `encoder.stem.convs.0...` and
/// `encoder.stages.S.blocks.B.conv1...` (residual), `decoder.transpconvs.S`, `decoder.stages.S.convs.I`,
/// `decoder.seg_layers.S`. The decoder keeps every stage's segmentation layer, as PyTorch does, so
/// checkpoints trained with deep supervision load; only the last runs unless deep supervision is on.
public final class DynamicUNet: Module, SegmentationModel {
    public let config: DynamicUNetConfig
    public var deepSupervision = false
    let stem: StackedConvNormNonlin?
    let encoder: [Module & StageFunction]
    let transposedConvs: [ConvTranspose3d]
    let decoder: [StackedConvNormNonlin]
    let segmentationLayers: [Conv3d]

    public init(_ config: DynamicUNetConfig, initializer: ParameterInitializer) {
        precondition(config.inconsistency == nil, config.inconsistency ?? "")
        self.config = config
        let f = config.features, n = config.stageCount
        let bias = config.convBias, eps = config.normEps, slope = config.slope
        var stem: StackedConvNormNonlin? = nil
        var encoder: [Module & StageFunction] = []
        switch config.encoder {
        case .plain:
            for s in 0..<n {
                encoder.append(StackedConvNormNonlin(
                    input: s == 0 ? config.inputChannels : f[s - 1], output: f[s], count: config.encoderDepth[s],
                    kernel: config.kernels[s], firstStride: config.strides[s], bias: bias, eps: eps, slope: slope,
                    initializer: initializer))
            }
        case .residual:
            stem = StackedConvNormNonlin(input: config.inputChannels, output: f[0], count: 1, kernel: config.kernels[0],
                                         firstStride: [1, 1, 1], bias: bias, eps: eps, slope: slope, initializer: initializer)
            for s in 0..<n {
                encoder.append(StackedResidualBlocks(
                    input: s == 0 ? f[0] : f[s - 1], output: f[s], count: config.encoderDepth[s],
                    kernel: config.kernels[s], firstStride: config.strides[s], bias: bias, eps: eps, slope: slope,
                    initializer: initializer))
            }
        }
        var transposedConvs: [ConvTranspose3d] = [], decoder: [StackedConvNormNonlin] = [], heads: [Conv3d] = []
        for s in 1..<n {
            let below = f[n - s], skip = f[n - s - 1]
            transposedConvs.append(ConvTranspose3d(inputChannels: below, outputChannels: skip, stride: config.strides[n - s],
                                                   bias: bias, initializer: initializer))
            decoder.append(StackedConvNormNonlin(input: 2 * skip, output: skip, count: config.decoderDepth[s - 1],
                                                 kernel: config.kernels[n - s - 1], firstStride: [1, 1, 1], bias: bias,
                                                 eps: eps, slope: slope, initializer: initializer))
            heads.append(Conv3d(inputChannels: skip, outputChannels: config.classCount, kernelSize: [1, 1, 1],
                                padding: [0, 0, 0], bias: true, initializer: initializer))
        }
        self.stem = stem
        self.encoder = encoder
        self.transposedConvs = transposedConvs
        self.decoder = decoder
        self.segmentationLayers = heads
        super.init()
        let encoderModule = registerChild("encoder", Module())
        if let stem { encoderModule.registerChild("stem", stem) }
        let stages = encoderModule.registerChild("stages", Module())
        for (s, stage) in encoder.enumerated() {
            switch config.encoder {
            // PlainConvEncoder wraps each stage in nn.Sequential(StackedConvBlocks): one more level.
            case .plain: stages.registerChild("\(s)", Module()).registerChild("0", stage)
            case .residual: stages.registerChild("\(s)", stage)
            }
        }
        let decoderModule = registerChild("decoder", Module())
        let ups = decoderModule.registerChild("transpconvs", Module())
        for (s, t) in transposedConvs.enumerated() { ups.registerChild("\(s)", t) }
        let decoderStages = decoderModule.registerChild("stages", Module())
        for (s, stage) in decoder.enumerated() { decoderStages.registerChild("\(s)", stage) }
        let seg = decoderModule.registerChild("seg_layers", Module())
        for (s, head) in heads.enumerated() { seg.registerChild("\(s)", head) }
    }

    public var inputChannels: Int { config.inputChannels }
    public var classCount: Int { config.classCount }
    public var family: String { "dynamic-unet" }
    public var sizeDivisor: [Int] { config.sizeDivisor }
    public var configJSON: [String: Any] {
        ["encoder": config.encoder.rawValue, "input_channels": config.inputChannels, "num_classes": config.classCount,
         "features_per_stage": config.features, "kernel_sizes": config.kernels, "strides": config.strides,
         "encoder_depth": config.encoderDepth, "decoder_depth": config.decoderDepth, "conv_bias": config.convBias,
         "norm_eps": Double(config.normEps), "negative_slope": Double(config.slope), "two_dimensional": config.isTwoDimensional]
    }

    /// Logits at full resolution first; with `deepSupervision` the lower resolutions follow.
    public func forward(_ x: Tensor) -> [Tensor] {
        var h = stem.map { $0(x) } ?? x
        var skips: [Tensor] = []
        for stage in encoder {
            h = stage.run(h)
            skips.append(h)
        }
        h = skips.removeLast()
        var outputs: [Tensor] = []
        for s in decoder.indices {
            // Each skip is used once: taking it out of the list frees it after the stage's first
            // convolution, which reads it beside the upsampled tensor (no concatenation at inference).
            h = decoder[s](concatenating: [transposedConvs[s](h), skips.removeLast()])
            if deepSupervision {
                outputs.append(segmentationLayers[s](h))
            } else if s == decoder.count - 1 {
                outputs.append(segmentationLayers[s](h))
            }
        }
        return outputs.reversed()
    }
}

/// An encoder stage as the U-Net calls it, whichever block it stacks.
protocol StageFunction { func run(_ x: Tensor) -> Tensor }
extension StackedConvNormNonlin: StageFunction { func run(_ x: Tensor) -> Tensor { self(x) } }
extension StackedResidualBlocks: StageFunction { func run(_ x: Tensor) -> Tensor { self(x) } }
