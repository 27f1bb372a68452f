/// The architecture of an nnU-Net v2 network (dynamic_network_architectures' `PlainConvUNet` and
/// `ResidualEncoderUNet`), as a plans file's `arch_kwargs` describe it.
///
/// Every size is three-dimensional: a 2D configuration's kernels [k, k] and strides [s, s] are
/// lifted to [1, k, k] and [1, s, s], and its images run as volumes one slice deep. A 2D
/// convolution over (H, W) of every slice is exactly a 3D convolution with kernel depth 1, and an
/// InstanceNorm2d over one slice is an InstanceNorm3d over a volume of depth 1, so one network serves
/// both and the 2D weights only gain a unit axis when they are loaded.
public struct DynamicUNetConfig: Equatable, Sendable {
    public enum Encoder: String, Sendable {
        /// Stacked conv-norm-nonlin per stage; the first conv of a stage carries its stride.
        case plain
        /// A stem conv, then BasicBlockD residual blocks per stage (ResNet-D: an average pool and a
        /// 1x1 conv on the skip where the shape changes).
        case residual
    }

    public var encoder: Encoder
    public var inputChannels: Int
    public var classCount: Int
    /// Channels of each stage, shallow to deep.
    public var features: [Int]
    /// Per stage, [D, H, W].
    public var kernels: [[Int]]
    /// Per stage, [D, H, W]; the first is [1, 1, 1] in every plan nnU-Net makes.
    public var strides: [[Int]]
    /// Convs (plain) or residual blocks (residual) per encoder stage.
    public var encoderDepth: [Int]
    /// Convs per decoder stage, deepest first (one fewer entry than stages).
    public var decoderDepth: [Int]
    public var convBias: Bool
    public var normEps: Float
    /// The LeakyReLU slope (0 for ReLU).
    public var slope: Float
    /// The plans' configuration is 2D: weights in the checkpoint have no depth axis.
    public var isTwoDimensional: Bool

    public init(encoder: Encoder, inputChannels: Int, classCount: Int, features: [Int], kernels: [[Int]],
                strides: [[Int]], encoderDepth: [Int], decoderDepth: [Int], convBias: Bool = true,
                normEps: Float = 1e-5, slope: Float = 0.01, isTwoDimensional: Bool = false) {
        self.encoder = encoder
        self.inputChannels = inputChannels
        self.classCount = classCount
        self.features = features
        self.kernels = kernels
        self.strides = strides
        self.encoderDepth = encoderDepth
        self.decoderDepth = decoderDepth
        self.convBias = convBias
        self.normEps = normEps
        self.slope = slope
        self.isTwoDimensional = isTwoDimensional
    }

    public var stageCount: Int { features.count }

    /// The problem with the sizes, or nil when every list has one entry per stage (decoder: one
    /// fewer) and every kernel and stride has three positive entries.
    public var inconsistency: String? {
        let n = features.count
        if n < 2 { return "a U-Net needs at least 2 stages, got \(n)" }
        if kernels.count != n || strides.count != n || encoderDepth.count != n {
            return "features (\(n)), kernel_sizes (\(kernels.count)), strides (\(strides.count)) and the encoder's convs per stage (\(encoderDepth.count)) need one entry per stage"
        }
        if decoderDepth.count != n - 1 {
            return "n_conv_per_stage_decoder has \(decoderDepth.count) entries, \(n - 1) expected"
        }
        if let bad = (kernels + strides).first(where: { $0.count != 3 || $0.contains { $0 < 1 } }) {
            return "kernel or stride \(bad) is not three positive sizes"
        }
        if kernels.contains(where: { $0.contains { $0 % 2 == 0 } }) {
            return "even kernel sizes are not supported (nnU-Net pads (k - 1) / 2, which only keeps the shape for odd k)"
        }
        if features.contains(where: { $0 < 1 }) || encoderDepth.contains(where: { $0 < 1 }) || decoderDepth.contains(where: { $0 < 1 }) {
            return "features and convs per stage must be positive"
        }
        if inputChannels < 1 || classCount < 1 { return "input channels and classes must be positive" }
        return nil
    }

    /// The product of the strides per axis: what a window's size must be divisible by.
    public var sizeDivisor: [Int] {
        (0..<3).map { axis in strides.reduce(1) { $0 * $1[axis] } }
    }
}
