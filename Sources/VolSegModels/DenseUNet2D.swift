import VolSegCore
import VolSegNN

/// H-DenseUNet's 2D network, DenseUNet-167 in the full size (Li et al., IEEE TMI 2018).
///
/// Encoder: DenseNet-161 (`DenseNetEncoder`). Decoder, as the reference's `denseunet.py`: five
/// stages of x2 nearest upsampling, each adding an encoder feature map of the same resolution, then
/// 3x3 conv (with bias) + BN + ReLU:
///
/// | stage | upsampled from | adds                                   | conv to |
/// |-------|----------------|----------------------------------------|---------|
/// | 0     | block 4 (2208) | 1x1 conv `line0` of block 3 (2112->2208)| 768     |
/// | 1     | 768            | block 2 output (768)                   | 384     |
/// | 2     | 384            | block 1 output (384)                   | 96      |
/// | 3     | 96             | stem activation (96)                   | 96      |
/// | 4     | 96             | nothing (full resolution)              | 64      |
///
/// so the widths of stages 0-2 must equal the block 2, block 1 and stem widths (checked). Stage 4
/// has dropout 0.3 between its conv and its BN (the reference's order), then a 1x1 conv with bias
/// gives the class scores. Returns the 64-channel features and the scores, both full resolution.
///
/// Differences from the Keras code, on purpose: its `Scale` layers (a second per-channel affine
/// after each BN) are folded into BN's own affine, and initialisation and BN momentum (0.1) are
/// PyTorch's. Encoder BNs use eps 1e-5 (torchvision), decoder BNs Keras' default 1e-3.
public struct DenseUNet2DConfig: Equatable, Sendable {
    public var inputChannels: Int
    public var classCount: Int
    public var encoder: DenseNetConfig
    /// Output channels of the five decoder convs; the last is the feature width shared with 3D.
    public var decoderWidths: [Int]
    public var dropoutRate: Float = 0.3

    public init(inputChannels: Int, classCount: Int, encoder: DenseNetConfig, decoderWidths: [Int], dropoutRate: Float = 0.3) {
        self.inputChannels = inputChannels
        self.classCount = classCount
        self.encoder = encoder
        self.decoderWidths = decoderWidths
        self.dropoutRate = dropoutRate
    }

    /// DenseUNet-167: DenseNet-161 encoder, decoder 768, 384, 96, 96, 64.
    public static func denseUNet167(inputChannels: Int = 3, classCount: Int = 3) -> DenseUNet2DConfig {
        DenseUNet2DConfig(inputChannels: inputChannels, classCount: classCount,
                          encoder: DenseNetConfig(initialFeatures: 96, blockLayers: [6, 12, 36, 24], growth: 48),
                          decoderWidths: [768, 384, 96, 96, 64])
    }

    /// Why this config cannot be built, or nil.
    public var problem: String? {
        guard encoder.blockLayers.count == 4 else {
            return "the 2D DenseUNet needs 4 dense blocks (5 upsamplings), got \(encoder.blockLayers)"
        }
        guard decoderWidths.count == 5, decoderWidths.allSatisfy({ $0 > 0 }) else {
            return "the 2D DenseUNet needs 5 positive decoder widths, got \(decoderWidths)"
        }
        let blocks = encoder.blockOutputChannels
        let skips = [blocks[1], blocks[0], encoder.initialFeatures]
        if Array(decoderWidths.prefix(3)) != skips {
            return "2D decoder widths \(decoderWidths.prefix(3)) must equal the widths of the features they are added to (block 2, block 1, stem: \(skips))"
        }
        return nil
    }
}

public final class DenseUNet2D: Module {
    public let config: DenseUNet2DConfig
    let features: DenseNetEncoder
    let line0: Conv2d
    let upConvs: [Conv2d], upNorms: [BatchNorm]
    let dropout: Dropout
    let classifier: Conv2d

    public init(_ config: DenseUNet2DConfig, initializer: ParameterInitializer) {
        if let problem = config.problem { preconditionFailure(problem) }
        self.config = config
        features = DenseNetEncoder(.planar, inputChannels: config.inputChannels, config: config.encoder, eps: 1e-5,
                                   initializer: initializer)
        let blocks = config.encoder.blockOutputChannels, bottom = blocks[3]
        line0 = Conv2d(inputChannels: blocks[2], outputChannels: bottom, kernelSize: 1, initializer: initializer)
        var inputs = bottom
        var upConvs: [Conv2d] = [], upNorms: [BatchNorm] = []
        for width in config.decoderWidths {
            upConvs.append(Conv2d(inputChannels: inputs, outputChannels: width, kernelSize: 3, initializer: initializer))
            upNorms.append(BatchNorm(channels: width, eps: 1e-3, initializer: initializer))
            inputs = width
        }
        self.upConvs = upConvs
        self.upNorms = upNorms
        dropout = Dropout(rate: config.dropoutRate, initializer: initializer)
        classifier = Conv2d(inputChannels: inputs, outputChannels: config.classCount, kernelSize: 1,
                            initializer: initializer)
        super.init()
        registerChild("features", features)
        registerChild("line0", line0)
        for i in upConvs.indices {
            registerChild("conv_up\(i)", upConvs[i])
            registerChild("bn_up\(i)", upNorms[i])
        }
        registerChild("dropout", dropout)
        registerChild("classifier", classifier)
    }

    /// The input's height and width must be divisible by this (stem 4, three transitions 8).
    public static let sizeDivisor = 32

    /// Why `shape` is not a valid input, or nil: `[B, inputChannels, H, W]`, H and W multiples of
    /// 32, and in training mode more than one value per channel at the 1/32 bottom.
    public func inputProblem(_ shape: [Int]) -> String? {
        guard shape.count == 4, shape[1] == config.inputChannels else {
            return "the 2D DenseUNet takes [B, \(config.inputChannels), H, W], got \(shape)"
        }
        let d = DenseUNet2D.sizeDivisor
        guard shape[2] >= d, shape[3] >= d, shape[2] % d == 0, shape[3] % d == 0 else {
            return "the 2D DenseUNet needs height and width that are positive multiples of \(d), got \(shape[2])x\(shape[3])"
        }
        if isTraining && shape[0] * (shape[2] / d) * (shape[3] / d) < 2 {
            return "training the 2D DenseUNet on \(shape) leaves one value per channel for BatchNorm at the 1/\(d) bottom; use a larger batch or image"
        }
        return nil
    }

    /// Slices `[B, C, H, W]` -> (features `[B, 64, H, W]`, class scores `[B, classes, H, W]`).
    public func forward(_ x: Tensor) -> (features: Tensor, scores: Tensor) {
        if let problem = inputProblem(x.shape) { preconditionFailure(problem) }
        let skips = features(x)
        var h = skips[4].upsampleNearest(scale: [2, 2]) + line0(skips[3])
        h = upNorms[0].withReLU(upConvs[0](h))
        for stage in 1...3 {
            h = h.upsampleNearest(scale: [2, 2]) + skips[3 - stage]
            h = upNorms[stage].withReLU(upConvs[stage](h))
        }
        let top = dropout(upConvs[4](h.upsampleNearest(scale: [2, 2])))
        let featureMaps = upNorms[4].withReLU(top)
        return (featureMaps, classifier(featureMaps))
    }
}
