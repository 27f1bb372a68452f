import VolSegCore

/// The mobile inverted bottleneck (MBConv, EfficientNet's block) on `channels` channels, as one
/// branch F or G of a reversible coupling, defined by `../shared/golden/revblock.h5`:
///
///     expand  : conv 1x1x1, C -> e*C, no bias;  bn1;  SiLU
///     dw      : depthwise conv 3x3x3, padding 1, no bias;  bn2;  SiLU
///     [se]    : global average pool -> conv 1x1x1 (e*C -> r, bias) -> SiLU
///               -> conv 1x1x1 (r -> e*C, bias) -> sigmoid -> multiply;  r = max(1, C / 4)
///     project : conv 1x1x1, e*C -> C, no bias;  bn3 (no activation: a linear bottleneck)
///
/// Children carry the reference's names (`expand`, `bn1`, `dw`, `bn2`, `se_reduce`, `se_expand`,
/// `project`, `bn3`), so reference weights load by name. The norm is configurable; BatchNorm is
/// the default because it lets AdaBN re-estimate its statistics on a new scanner.
public final class MBConv: Module, ReversibleBranch {
    public let channels: Int
    public let expandedChannels: Int
    public let expand: Conv3d, bn1: Module & NormLayer
    public let dw: Conv3d, bn2: Module & NormLayer
    public let seReduce: Conv3d?, seExpand: Conv3d?
    public let project: Conv3d, bn3: Module & NormLayer
    /// Run expand + norm + SiLU and norm + SiLU as fused ops that keep only their narrow or single
    /// input and rebuild the rest in backward (MBConvNormActivation.swift): of the six e*C-channel
    /// tensors autograd keeps per branch, three remain. Worth it inside reversible stacks, whose
    /// memory peak is one recomputed branch; the results are those of the plain path (to rounding).
    public var recomputesNormActivation = false

    /// Squeeze-excitation bottleneck width for a branch on `channels` channels: the reference's
    /// max(1, int(C/2 * 0.25)) with C/2 the branch's channels.
    public static func squeezeChannels(_ channels: Int) -> Int { max(1, channels / 4) }

    public init(channels: Int, expansion: Int, squeezeExcitation: Bool = false, norm: NormKind = .batch,
                initializer: ParameterInitializer) {
        precondition(channels > 0 && expansion > 0, "MBConv: channels \(channels) and expansion \(expansion) must be positive")
        self.channels = channels
        let wide = channels * expansion
        expandedChannels = wide
        expand = Conv3d(inputChannels: channels, outputChannels: wide, kernelSize: 1, padding: 0, bias: false,
                        initializer: initializer)
        bn1 = makeNorm(norm, channels: wide, initializer: initializer)
        dw = Conv3d(inputChannels: wide, outputChannels: wide, kernelSize: 3, padding: 1, groups: wide, bias: false,
                    initializer: initializer)
        bn2 = makeNorm(norm, channels: wide, initializer: initializer)
        if squeezeExcitation {
            let squeezed = MBConv.squeezeChannels(channels)
            seReduce = Conv3d(inputChannels: wide, outputChannels: squeezed, kernelSize: 1, padding: 0,
                              initializer: initializer)
            seExpand = Conv3d(inputChannels: squeezed, outputChannels: wide, kernelSize: 1, padding: 0,
                              initializer: initializer)
        } else {
            seReduce = nil
            seExpand = nil
        }
        project = Conv3d(inputChannels: wide, outputChannels: channels, kernelSize: 1, padding: 0, bias: false,
                         initializer: initializer)
        bn3 = makeNorm(norm, channels: channels, initializer: initializer)
        super.init()
        registerChild("expand", expand)
        registerChild("bn1", bn1)
        registerChild("dw", dw)
        registerChild("bn2", bn2)
        if let seReduce, let seExpand {
            registerChild("se_reduce", seReduce)
            registerChild("se_expand", seExpand)
        }
        registerChild("project", project)
        registerChild("bn3", bn3)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h: Tensor
        if recomputesNormActivation, let first = NormSiLUParameters(bn1), let second = NormSiLUParameters(bn2) {
            h = fusedExpandNormSiLU(x, first)
            h = fusedNormSiLU(dw(h), second)
        } else {
            h = bn1(expand(x)).silu()
            h = bn2(dw(h)).silu()
        }
        if let seReduce, let seExpand {
            let scale = seExpand(seReduce(h.globalAvgPool()).silu()).sigmoid()
            h = h.scaledPerChannel(scale)
        }
        return bn3(project(h))
    }
}
