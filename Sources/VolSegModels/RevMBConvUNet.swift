import VolSegCore
import VolSegNN

/// The memory-efficient 3D U-Net of Pendse et al. (BrainLes 2020): every encoder and decoder stage
/// is a stack of reversible MBConv couplings, so training memory does not grow with depth.
///
///     stem     conv3x3x3 in -> w0 (bias)
///     encoder  stage s: `blocksPerStage` couplings on w_s; then conv k2 s2 w_s -> w_{s+1} (bias)
///     decoder  transposed conv k2 s2 w_{l+1} -> w_l (bias), + the encoder's stage-l output
///              (additive skip), then `blocksPerStage` couplings on w_l
///     head     conv1x1x1 w0 -> classes (bias)
///
/// Parameter names: `stem.weight`, `encoder.<stage>.<block>.F.expand.weight`, `down.<s>.weight`,
/// `up.<u>.weight`, `decoder.<u>.<block>.G.bn3.bias`, `head.weight` (decoder and up counted from the
/// bottom). The transitions are single linear convolutions whose only saved tensor is their input,
/// which is the output a reversible stack keeps anyway, so nothing outside the stacks is worth
/// recomputing here (the memory comparison measures it: see `ReversibleComparison`).
public final class RevMBConvUNet: Module, SegmentationModel {
    public private(set) var config: RevMBConvUNetConfig
    public let stem: Conv3d
    public let encoder: [ReversibleStack]
    public let down: [Conv3d]
    public let up: [ConvTranspose3d]
    public let decoder: [ReversibleStack]
    public let head: Conv3d

    public init(_ config: RevMBConvUNetConfig, initializer: ParameterInitializer) {
        precondition(config.problem() == nil, "revmbconv-unet: \(config.problem()!)")
        self.config = config
        let w = config.widths
        func stack(_ channels: Int) -> ReversibleStack {
            ReversibleStack(blocks: (0..<config.blocksPerStage).map { _ in
                ReversibleBlock(
                    f: MBConv(channels: channels / 2, expansion: config.expansion, squeezeExcitation: config.squeezeExcitation,
                              norm: config.norm, initializer: initializer),
                    g: MBConv(channels: channels / 2, expansion: config.expansion, squeezeExcitation: config.squeezeExcitation,
                              norm: config.norm, initializer: initializer))
            })
        }
        stem = Conv3d(inputChannels: config.inputChannels, outputChannels: w[0], kernelSize: 3, padding: 1,
                      initializer: initializer)
        var encoder: [ReversibleStack] = [], down: [Conv3d] = []
        for s in w.indices {
            encoder.append(stack(w[s]))
            if s < w.count - 1 {
                down.append(Conv3d(inputChannels: w[s], outputChannels: w[s + 1], kernelSize: 2, stride: 2, padding: 0,
                                   initializer: initializer))
            }
        }
        var up: [ConvTranspose3d] = [], decoder: [ReversibleStack] = []
        for level in stride(from: w.count - 2, through: 0, by: -1) {
            up.append(ConvTranspose3d(inputChannels: w[level + 1], outputChannels: w[level], stride: [2, 2, 2],
                                      initializer: initializer))
            decoder.append(stack(w[level]))
        }
        head = Conv3d(inputChannels: w[0], outputChannels: config.classCount, kernelSize: 1, padding: 0,
                      initializer: initializer)
        self.encoder = encoder
        self.down = down
        self.up = up
        self.decoder = decoder
        super.init()
        registerChild("stem", stem)
        let enc = registerChild("encoder", Module())
        for (i, s) in encoder.enumerated() { enc.registerChild("\(i)", s) }
        let downs = registerChild("down", Module())
        for (i, d) in down.enumerated() { downs.registerChild("\(i)", d) }
        let ups = registerChild("up", Module())
        for (i, u) in up.enumerated() { ups.registerChild("\(i)", u) }
        let dec = registerChild("decoder", Module())
        for (i, s) in decoder.enumerated() { dec.registerChild("\(i)", s) }
        registerChild("head", head)
        apply(config.activationMemory)
    }

    /// Switches what a training step keeps (same weights, same results).
    public var activationMemory: ActivationMemory {
        get { config.activationMemory }
        set { config.activationMemory = newValue; apply(newValue) }
    }

    private func apply(_ memory: ActivationMemory) {
        for stack in encoder + decoder {
            stack.storesActivations = memory == .stored
            for block in stack.blocks {
                for branch in [block.f, block.g] {
                    (branch as? MBConv)?.recomputesNormActivation = memory == .reversible
                }
            }
        }
    }

    public var inputChannels: Int { config.inputChannels }
    public var classCount: Int { config.classCount }
    public var family: String { "revmbconv-unet" }
    public var sizeDivisor: [Int] { Array(repeating: 1 << (config.widths.count - 1), count: 3) }
    public var configJSON: [String: Any] { config.json }

    /// Full-resolution logits (the model has no deep supervision).
    public func forward(_ x: Tensor) -> [Tensor] {
        var h = stem(x)
        var skips: [Tensor] = []
        for s in encoder.indices {
            h = encoder[s](h)
            if s < down.count {
                skips.append(h)
                h = down[s](h)
            }
        }
        for u in decoder.indices {
            h = decoder[u](up[u](h) + skips[skips.count - 1 - u])
        }
        return [head(h)]
    }
}
