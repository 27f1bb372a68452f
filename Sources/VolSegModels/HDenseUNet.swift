import VolSegCore
import VolSegNN

/// H-DenseUNet (Li et al., IEEE TMI 2018): liver and tumour segmentation from CT slabs by a 2D
/// DenseUNet on slices and a 3D DenseUNet on the slab, joined by hybrid feature fusion.
///
/// For a slab `[N, C, D, H, W]` (C = 1 for CT):
/// 1. 2D-to-3D transformation: every slice with its two neighbours as 3C channels (edge slices
///    repeated) goes through the 2D DenseUNet as a batch of N x D images;
/// 2. its features (64 ch) and class scores (3 ch) are stacked back into volumes;
/// 3. the 3D DenseUNet sees the slab concatenated with the 2D scores times `scoreScale` (250 in
///    the reference code: raw logits brought to the scale of the HU values beside them);
/// 4. hybrid feature fusion: 3D features + 2D features, 3x3x3 conv 64 (bias), dropout 0.3, BN,
///    ReLU, 1x1x1 conv to the classes. Output: logits `[N, classes, D, H, W]`.
///
/// Training follows the reference's three stages (`setTrainingStage`), see HDenseUNetStage.swift.
/// Parameter names: `dense2d.*` (its encoder as torchvision's DenseNet `features.*`),
/// `dense3d.*`, `fusion.{conv,norm,classifier}.*`.
public struct HDenseUNetConfig: Equatable, Sendable {
    public var inputChannels: Int
    public var classCount: Int
    public var twoD: DenseNetConfig
    public var twoDDecoderWidths: [Int]
    public var threeD: DenseNetConfig
    public var threeDDecoderWidths: [Int]
    public var scoreScale: Float = 250
    public var dropoutRate: Float = 0.3

    /// The paper's network: DenseUNet-167 (2D) and DenseUNet-65 (3D), 64 fused channels.
    public static func full(inputChannels: Int = 1, classCount: Int = 3) -> HDenseUNetConfig {
        HDenseUNetConfig(inputChannels: inputChannels, classCount: classCount,
                         twoD: DenseUNet2DConfig.denseUNet167().encoder,
                         twoDDecoderWidths: DenseUNet2DConfig.denseUNet167().decoderWidths,
                         threeD: DenseUNet3DConfig.denseUNet65().encoder,
                         threeDDecoderWidths: DenseUNet3DConfig.denseUNet65().decoderWidths)
    }

    /// The same structure, one layer per dense block and 4-8 channels wide: trains on the CPU in
    /// tests in seconds.
    public static func small(inputChannels: Int = 1, classCount: Int = 3) -> HDenseUNetConfig {
        let encoder = DenseNetConfig(initialFeatures: 8, blockLayers: [1, 1, 1, 1], growth: 4)
        // 2D widths 10, 12, 8 are those of block 2, block 1 and the stem, which they are added to.
        return HDenseUNetConfig(inputChannels: inputChannels, classCount: classCount,
                                twoD: encoder, twoDDecoderWidths: [10, 12, 8, 8, 8],
                                threeD: encoder, threeDDecoderWidths: [8, 8, 8, 8, 8])
    }

    public var twoDConfig: DenseUNet2DConfig {
        DenseUNet2DConfig(inputChannels: 3 * inputChannels, classCount: classCount, encoder: twoD,
                          decoderWidths: twoDDecoderWidths, dropoutRate: dropoutRate)
    }

    public var threeDConfig: DenseUNet3DConfig {
        DenseUNet3DConfig(inputChannels: inputChannels + classCount, encoder: threeD, decoderWidths: threeDDecoderWidths)
    }

    /// Width of the fused features (the last decoder width of both networks).
    public var fusedChannels: Int { threeDDecoderWidths.last ?? 0 }

    /// Why this config cannot be built, or nil.
    public var problem: String? {
        if let problem = twoDConfig.problem ?? threeDConfig.problem { return problem }
        if twoDDecoderWidths.last != threeDDecoderWidths.last {
            return "the 2D and 3D feature widths must agree for the fusion's addition: \(twoDDecoderWidths.last!) vs \(threeDDecoderWidths.last!)"
        }
        return nil
    }
}

/// Hybrid feature fusion: conv 3x3x3 (bias), dropout, BN, ReLU, 1x1x1 conv (bias) to the classes.
final class HybridFeatureFusion: Module {
    let conv: Conv3d, dropout: Dropout, norm: BatchNorm, classifier: Conv3d

    init(channels: Int, classCount: Int, dropoutRate: Float, initializer: ParameterInitializer) {
        conv = Conv3d(inputChannels: channels, outputChannels: channels, kernelSize: 3, initializer: initializer)
        dropout = Dropout(rate: dropoutRate, initializer: initializer)
        norm = BatchNorm(channels: channels, eps: 1e-3, initializer: initializer)
        classifier = Conv3d(inputChannels: channels, outputChannels: classCount, kernelSize: 1, initializer: initializer)
        super.init()
        registerChild("conv", conv)
        registerChild("dropout", dropout)
        registerChild("norm", norm)
        registerChild("classifier", classifier)
    }

    func callAsFunction(_ features: Tensor) -> Tensor {
        classifier(norm.withReLU(dropout(conv(features))))
    }
}

public final class HDenseUNet: Module, SegmentationModel, RecomputableStages {
    public let config: HDenseUNetConfig
    /// The registry name that rebuilds this model (`hdenseunet` or `hdenseunet-small`).
    public let presetName: String
    public let dense2d: DenseUNet2D
    public let dense3d: DenseUNet3D
    let fusion: HybridFeatureFusion
    /// What `forward` computes and trains; see `setTrainingStage`.
    public internal(set) var trainingStage: HDenseUNetStage = .endToEnd

    public init(_ config: HDenseUNetConfig, presetName: String = "hdenseunet", initializer: ParameterInitializer) {
        if let problem = config.problem { preconditionFailure(problem) }
        self.config = config
        self.presetName = presetName
        dense2d = DenseUNet2D(config.twoDConfig, initializer: initializer)
        dense3d = DenseUNet3D(config.threeDConfig, initializer: initializer)
        fusion = HybridFeatureFusion(channels: config.fusedChannels, classCount: config.classCount,
                                     dropoutRate: config.dropoutRate, initializer: initializer)
        super.init()
        registerChild("dense2d", dense2d)
        registerChild("dense3d", dense3d)
        registerChild("fusion", fusion)
    }

    public var inputChannels: Int { config.inputChannels }
    public var classCount: Int { config.classCount }
    public var family: String { presetName }
    public var configJSON: [String: Any] {
        ["input_channels": config.inputChannels, "num_classes": config.classCount, "score_scale": Double(config.scoreScale)]
    }
    /// (D, H, W): the 2D stage takes any depth; the hybrid needs slabs of a multiple of 4 slices.
    public var sizeDivisor: [Int] { trainingStage == .twoD ? [1, 32, 32] : DenseUNet3D.sizeDivisor }

    /// Memory strategy, not architecture: when on, every dense layer of both networks keeps only
    /// its input for backward and runs again there. Same results and gradients, less memory (the
    /// planner can choose it; see HDenseUNetTrainingTests for the measured peaks).
    public var recomputesDenseLayers: Bool {
        get { dense2d.features.recomputesDenseLayers && dense3d.features.recomputesDenseLayers }
        set {
            dense2d.features.recomputesDenseLayers = newValue
            dense3d.features.recomputesDenseLayers = newValue
        }
    }

    /// The one memory switch above, offered to the planner as a recomputable stage named
    /// `dense_layers`.
    public var stageNames: [String] { ["dense_layers"] }
    public var recomputedStages: Set<String> {
        get { recomputesDenseLayers ? ["dense_layers"] : [] }
        set { recomputesDenseLayers = newValue.contains("dense_layers") }
    }

    /// Why a slab of `shape` cannot go through `forward` in the current stage and mode, or nil.
    /// Valid: `[N, inputChannels, D, H, W]`, H and W positive multiples of 32, D a positive
    /// multiple of 4 (any D >= 1 in the 2D stage), and in training mode more than one value per
    /// channel at the bottom of each network that trains with batch statistics.
    public func inputProblem(_ shape: [Int]) -> String? { inputError(shape)?.description }

    /// `inputProblem` as a typed error.
    public func inputError(_ shape: [Int]) -> ModelInputError? {
        guard shape.count == 5, shape[1] == config.inputChannels else {
            return .wrongLayout(shape: shape, inputChannels: config.inputChannels)
        }
        let (n, depth, height, width) = (shape[0], shape[2], shape[3], shape[4])
        let problem = dense2d.inputProblem([n * depth, 3 * config.inputChannels, height, width])
            ?? (trainingStage == .twoD ? nil
                : dense3d.inputProblem([n, config.inputChannels + config.classCount, depth, height, width]))
        return problem.map { .slabNotAccepted(shape: shape, stage: trainingStage, rule: $0) }
    }

    /// Throws `ModelInputError` when `inputProblem` finds one.
    public func checkInput(_ shape: [Int]) throws {
        if let error = inputError(shape) { throw error }
    }

    /// Logits `[N, classes, D, H, W]` for a slab `[N, C, D, H, W]`: the fused prediction, or in the
    /// 2D stage the 2D network's scores stacked into a volume (so one trainer serves all stages).
    public func forward(_ x: Tensor) -> [Tensor] {
        if let problem = inputProblem(x.shape) { preconditionFailure(problem) }
        enforceStageModes()
        let depth = x.shape[2]
        let slices = x.neighbourSliceStack(radius: 1)
        if trainingStage == .twoD {
            return [dense2d.forward(slices).scores.volumeFromSlices(depth: depth)]
        }
        let twoD = dense2d.forward(slices)
        let features2D = twoD.features.volumeFromSlices(depth: depth)
        let scores2D = twoD.scores.volumeFromSlices(depth: depth)
        let input3D = Tensor.concat([x, scores2D * config.scoreScale], axis: 1)
        return [fusion(dense3d(input3D) + features2D)]
    }

    /// Stage 1 on prepared slices: `[B, 3C, H, W]` (a slice between its neighbours) -> the 2D
    /// network's scores `[B, classes, H, W]`, as the reference's 2D training feeds it.
    public func forward2D(_ slices: Tensor) -> Tensor {
        enforceStageModes()
        return dense2d.forward(slices).scores
    }
}

/// An input the model cannot take; the message names the shape and the rule.
public enum ModelInputError: Error, Equatable, CustomStringConvertible {
    /// Not `[N, inputChannels, D, H, W]`.
    case wrongLayout(shape: [Int], inputChannels: Int)
    /// A slab one of the stage's networks cannot take. `rule` is that network's own sentence
    /// (DenseUNet2D/3D phrase their size rules themselves), so it stays free text.
    case slabNotAccepted(shape: [Int], stage: HDenseUNetStage, rule: String)

    public var description: String {
        switch self {
        case .wrongLayout(let shape, let channels):
            return "H-DenseUNet takes slabs [N, \(channels), D, H, W], got \(shape)"
        case .slabNotAccepted(let shape, let stage, let rule):
            return "slab \(shape) in \(stage): \(rule)"
        }
    }
}
