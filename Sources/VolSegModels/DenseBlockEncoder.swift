import VolSegCore
import VolSegNN

/// The sizes of a DenseNet-BC encoder (Huang et al. 2017): the stem's width, the layers of each
/// of the four dense blocks, the growth rate, the bottleneck factor and the transitions'
/// compression. DenseNet-161: 96, [6, 12, 36, 24], 48, 4, 0.5.
public struct DenseNetConfig: Equatable, Sendable {
    public var initialFeatures: Int
    public var blockLayers: [Int]
    public var growth: Int
    public var bottleneckFactor = 4
    public var compression = 0.5

    public init(initialFeatures: Int, blockLayers: [Int], growth: Int, bottleneckFactor: Int = 4, compression: Double = 0.5) {
        self.initialFeatures = initialFeatures
        self.blockLayers = blockLayers
        self.growth = growth
        self.bottleneckFactor = bottleneckFactor
        self.compression = compression
    }

    /// Channels of each dense block's output (the skips and, last, the bottom of the U).
    public var blockOutputChannels: [Int] {
        var channels = initialFeatures, outputs: [Int] = []
        for (b, layers) in blockLayers.enumerated() {
            channels += layers * growth
            outputs.append(channels)
            // The reference's int(nb_filter * compression): rounds down.
            if b < blockLayers.count - 1 { channels = Int(Double(channels) * compression) }
        }
        return outputs
    }
}

/// The encoder half of a DenseUNet: stem (7x7(x7) stride-2 conv, BN, ReLU, 3x3(x3) stride-2
/// max-pool with padding 1), then dense blocks with transitions between them, and a last BN + ReLU.
/// Names follow torchvision's `DenseNet.features` (`conv0`, `norm0`, `denseblock1`,
/// `transition1`, ..., `norm5`), so the 2D encoder loads torchvision's ImageNet DenseNet-161.
///
/// It returns the features the decoder adds back: the stem's activation (1/2 resolution), the
/// output of each dense block but the last (1/4, 1/8, 1/16), and the activated last block (1/32),
/// as the reference's `box` list.
final class DenseNetEncoder: Module {
    let rank: SpatialRank
    let conv0: SpatialConvolution, norm0: BatchNorm
    let blocks: [DenseBlock], transitions: [DenseTransition]
    let norm5: BatchNorm

    init(_ rank: SpatialRank, inputChannels: Int, config: DenseNetConfig, eps: Float, initializer: ParameterInitializer) {
        precondition(config.blockLayers.count >= 2 && config.blockLayers.allSatisfy { $0 >= 1 },
                     "DenseNet: needs 2+ dense blocks of 1+ layers, got \(config.blockLayers)")
        self.rank = rank
        conv0 = makeConvolution(rank, input: inputChannels, output: config.initialFeatures, kernel: 7, stride: 2,
                                bias: false, initializer: initializer)
        norm0 = BatchNorm(channels: config.initialFeatures, eps: eps, initializer: initializer)
        var channels = config.initialFeatures
        var blocks: [DenseBlock] = [], transitions: [DenseTransition] = []
        for (b, layers) in config.blockLayers.enumerated() {
            let block = DenseBlock(rank, input: channels, layers: layers, growth: config.growth,
                                   bottleneckFactor: config.bottleneckFactor, eps: eps, initializer: initializer)
            blocks.append(block)
            channels = block.outputChannels
            if b < config.blockLayers.count - 1 {
                let compressed = Int(Double(channels) * config.compression)
                transitions.append(DenseTransition(rank, input: channels, output: compressed, eps: eps,
                                                   initializer: initializer))
                channels = compressed
            }
        }
        self.blocks = blocks
        self.transitions = transitions
        norm5 = BatchNorm(channels: channels, eps: eps, initializer: initializer)
        super.init()
        registerChild("conv0", conv0)
        registerChild("norm0", norm0)
        for b in blocks.indices {
            registerChild("denseblock\(b + 1)", blocks[b])
            if b < transitions.count { registerChild("transition\(b + 1)", transitions[b]) }
        }
        registerChild("norm5", norm5)
    }

    /// Whether every dense layer recomputes its intermediates during backward (see DenseLayer).
    var recomputesDenseLayers: Bool {
        get { blocks.allSatisfy { $0.layers.allSatisfy(\.recomputes) } }
        set { for block in blocks { for layer in block.layers { layer.recomputes = newValue } } }
    }

    /// [stem, block 1, ..., block n-1, activated last block], finest first.
    func callAsFunction(_ x: Tensor) -> [Tensor] {
        let stem = norm0.withReLU(conv0(x))
        var features = [stem]
        // Max-pool padding: -inf, as PyTorch's padded MaxPool (never a maximum, so no tie with a 0).
        let spatial = rank.rawValue
        let pads = [(0, 0), (0, 0)] + Array(repeating: (1, 1), count: spatial)
        var h = stem.padded(pads, value: -.infinity).maxPool(kernel: rank.cube(3), stride: rank.cube(2))
        for (b, block) in blocks.enumerated() {
            h = block(h)
            if b < transitions.count {
                features.append(h)
                h = transitions[b](h)
            }
        }
        features.append(norm5.withReLU(h))
        return features
    }
}
