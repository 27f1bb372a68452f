import VolSegCore
import VolSegNN

/// What every architecture offers the pipeline: logits for a batch, full resolution first,
/// followed by the lower-resolution deep-supervision outputs when the model has them.
public protocol SegmentationModel: Module {
    var inputChannels: Int { get }
    var classCount: Int { get }
    /// Outputs in deep-supervision order: `[0]` full resolution, then 1/2, 1/4, ...
    func forward(_ x: Tensor) -> [Tensor]
    /// The JSON object that rebuilds this model with `ModelRegistry.make`.
    var configJSON: [String: Any] { get }
    /// The registry family name (`stunet`, `unet3d`, ...).
    var family: String { get }
    /// How much each dimension of the input must be divisible by (the product of the strides).
    var sizeDivisor: [Int] { get }
}
