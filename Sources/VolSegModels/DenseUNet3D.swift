import VolSegCore
import VolSegNN

/// H-DenseUNet's 3D network, DenseUNet-65 in the full size (Li et al., IEEE TMI 2018).
///
/// Encoder: a 3D DenseNet (`DenseNetEncoder`: dense blocks 3, 4, 12, 8, growth 32, 96 stem
/// filters; the 7x7x7 stem conv and the 3x3x3 max-pool stride 2 on every axis, the transitions
/// pool in-plane only). Decoder: x2 nearest upsampling in-plane three times, then on every axis
/// twice, each followed by 3x3x3 conv (with bias) + BN + ReLU of 504, 224, 192, 96, 64 channels.
/// Returns the 64-channel features at the input's resolution; the hybrid fusion classifies them.
///
/// As the reference code (`hybridnet.py`, `denseunet3d.py`), the 3D decoder adds no encoder
/// features: its skip additions are commented out there, and its widths (504 after the first
/// stage, 224 of block 2 one stage later) would not fit them. Its unused 3D classifier is left out.
/// Slab depth must be divisible by 4 (the stem and max-pool halve it, the decoder doubles it
/// twice); height and width by 32.
public struct DenseUNet3DConfig: Equatable, Sendable {
    public var inputChannels: Int
    public var encoder: DenseNetConfig
    public var decoderWidths: [Int]

    public init(inputChannels: Int, encoder: DenseNetConfig, decoderWidths: [Int]) {
        self.inputChannels = inputChannels
        self.encoder = encoder
        self.decoderWidths = decoderWidths
    }

    /// DenseUNet-65: blocks 3, 4, 12, 8, growth 32, 96 stem filters; decoder 504, 224, 192, 96, 64.
    public static func denseUNet65(inputChannels: Int = 4) -> DenseUNet3DConfig {
        DenseUNet3DConfig(inputChannels: inputChannels,
                          encoder: DenseNetConfig(initialFeatures: 96, blockLayers: [3, 4, 12, 8], growth: 32),
                          decoderWidths: [504, 224, 192, 96, 64])
    }

    /// Why this config cannot be built, or nil.
    public var problem: String? {
        guard encoder.blockLayers.count == 4 else {
            return "the 3D DenseUNet needs 4 dense blocks (5 upsamplings), got \(encoder.blockLayers)"
        }
        guard decoderWidths.count == 5, decoderWidths.allSatisfy({ $0 > 0 }) else {
            return "the 3D DenseUNet needs 5 positive decoder widths, got \(decoderWidths)"
        }
        return nil
    }
}

public final class DenseUNet3D: Module {
    public let config: DenseUNet3DConfig
    let features: DenseNetEncoder
    let upConvs: [Conv3d], upNorms: [BatchNorm]

    /// Upsampling factors (D, H, W) of the five decoder stages.
    static let upsampling: [[Int]] = [[1, 2, 2], [1, 2, 2], [1, 2, 2], [2, 2, 2], [2, 2, 2]]
    /// Divisors of (D, H, W) for the input size.
    public static let sizeDivisor = [4, 32, 32]

    public init(_ config: DenseUNet3DConfig, initializer: ParameterInitializer) {
        if let problem = config.problem { preconditionFailure(problem) }
        self.config = config
        features = DenseNetEncoder(.volumetric, inputChannels: config.inputChannels, config: config.encoder,
                                   eps: 1e-5, initializer: initializer)
        var inputs = config.encoder.blockOutputChannels[3]
        var upConvs: [Conv3d] = [], upNorms: [BatchNorm] = []
        for width in config.decoderWidths {
            upConvs.append(Conv3d(inputChannels: inputs, outputChannels: width, kernelSize: 3, initializer: initializer))
            upNorms.append(BatchNorm(channels: width, eps: 1e-3, initializer: initializer))
            inputs = width
        }
        self.upConvs = upConvs
        self.upNorms = upNorms
        super.init()
        registerChild("features", features)
        for i in upConvs.indices {
            registerChild("conv_up\(i)", upConvs[i])
            registerChild("bn_up\(i)", upNorms[i])
        }
    }

    /// Why `shape` is not a valid input, or nil: `[N, inputChannels, D, H, W]` with D, H, W
    /// positive multiples of 4, 32, 32, and in training mode more than one value per channel at the
    /// bottom (N x D/4 x H/32 x W/32 > 1).
    public func inputProblem(_ shape: [Int]) -> String? {
        guard shape.count == 5, shape[1] == config.inputChannels else {
            return "the 3D DenseUNet takes [N, \(config.inputChannels), D, H, W], got \(shape)"
        }
        let divisor = DenseUNet3D.sizeDivisor
        let spatial = Array(shape[2...])
        guard zip(spatial, divisor).allSatisfy({ $0 >= $1 && $0 % $1 == 0 }) else {
            return "the 3D DenseUNet needs a slab depth that is a positive multiple of 4 and height and width multiples of 32, got \(spatial[0])x\(spatial[1])x\(spatial[2]) (D x H x W)"
        }
        let bottom = zip(spatial, divisor).reduce(shape[0]) { $0 * ($1.0 / $1.1) }
        if isTraining && bottom < 2 {
            return "training the 3D DenseUNet on \(shape) leaves one value per channel for BatchNorm at the bottom (1/4 depth, 1/32 in-plane); use a larger batch or slab"
        }
        return nil
    }

    /// Volume `[N, C, D, H, W]` -> features `[N, decoderWidths.last, D, H, W]`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        if let problem = inputProblem(x.shape) { preconditionFailure(problem) }
        var h = features(x)[4]
        for (stage, scale) in DenseUNet3D.upsampling.enumerated() {
            h = upNorms[stage].withReLU(upConvs[stage](h.upsampleNearest(scale: scale)))
        }
        return h
    }
}
