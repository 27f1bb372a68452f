import Foundation
import VolSegCore
import VolSegIO

/// What inference takes from an nnU-Net v2 `checkpoint_final.pth`: the network weights (as VolSeg
/// tensors, 2D weights lifted to one-deep 3D ones), the trainer, the configuration it was trained
/// for and the mirroring axes.
struct NNUNetCheckpoint {
    var weights: [String: Tensor]
    var trainerName: String
    var configuration: String
    var mirrorAxes: [Int]?

    static func read(_ url: URL) throws -> NNUNetCheckpoint {
        let checkpoint = try TorchCheckpoint(contentsOf: url)
        let root = checkpoint.root
        func fail(_ problem: String) -> NNUNetError { .checkpoint(path: url.path, problem: problem) }
        guard let configuration = root["init_args"]?["configuration"]?.string else {
            throw fail("has no init_args.configuration (is it an nnU-Net v2 checkpoint?)")
        }
        let trainer = root["trainer_name"]?.string ?? "nnUNetTrainer"
        var axes: [Int]? = nil
        if let raw = root["inference_allowed_mirroring_axes"], !raw.isNone {
            guard let items = raw.items, let values = Optional(items.compactMap(\.int)), values.count == items.count else {
                throw fail("inference_allowed_mirroring_axes is not a tuple of axes: \(raw)")
            }
            axes = values.map { Int($0) }
        }
        var weights: [String: Tensor] = [:]
        for (name, tensor) in try checkpoint.stateDict(named: "network_weights") where !isAlias(name) {
            guard tensor.dtype.isFloatingPoint else { continue }
            var shape = tensor.shape
            // Conv2d [out, in, kh, kw] and ConvTranspose2d [in, out, sh, sw] gain a unit depth axis.
            if shape.count == 4 { shape.insert(1, at: 2) }
            weights[name] = Tensor(tensor).reshaped(shape)
        }
        return NNUNetCheckpoint(weights: weights, trainerName: trainer, configuration: configuration, mirrorAxes: axes)
    }

    /// PyTorch lists a parameter under every module path that reaches it: ConvDropoutNormReLU's
    /// `all_modules.K` repeats `conv`/`norm`, and the decoder keeps a reference to the encoder.
    static func isAlias(_ name: String) -> Bool {
        name.contains(".all_modules.") || name.hasPrefix("decoder.encoder.")
    }
}
