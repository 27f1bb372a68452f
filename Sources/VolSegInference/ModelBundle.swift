import Foundation
import VolSegCore
import VolSegModels
import VolSegNN

/// A trained model ready to segment: the network with its weights loaded (in evaluation mode),
/// and from the checkpoint's `config` attribute (`ModelBundleConfig`, whose doc comment shows the
/// JSON) the patch, the preprocessing, the meaning of the outputs and the input channels.
public final class ModelBundle {
    /// The checkpoint file (for messages); nil for a bundle built in memory.
    public let file: URL?
    public let config: ModelBundleConfig
    public let model: SegmentationModel

    /// A bundle from parts already in memory (tests, or the trainer right after training).
    public init(model: SegmentationModel, config: ModelBundleConfig, file: URL? = nil) throws {
        let name = file?.path ?? "model \(config.modelName)"
        guard model.inputChannels == config.modalities.count else {
            throw ModelBundleError.inputChannelsMismatch(model: name, networkChannels: model.inputChannels, modalities: config.modalities)
        }
        guard model.classCount == config.output.channelCount else {
            throw ModelBundleError.outputChannelsMismatch(model: name, networkChannels: model.classCount,
                                                          configChannels: config.output.channelCount, regionBased: config.output.isRegionBased)
        }
        self.file = file
        self.config = config
        self.model = model
        model.eval()
    }

    /// Reads a checkpoint written with a `ModelBundleConfig` as its `config` attribute. Errors name
    /// the file and what is wrong: missing, not a checkpoint, a config key missing or malformed, or
    /// weights that do not fit the network the config describes.
    public static func load(_ url: URL) throws -> ModelBundle {
        let path = url.path
        guard FileManager.default.fileExists(atPath: path) else {
            throw ModelBundleError.missingFile(path: path)
        }
        let (checkpoint, config) = try readCheckpoint(url)
        let model: SegmentationModel
        do {
            model = try ModelRegistry.make(name: config.modelName, config: config.modelConfig, initializer: ParameterInitializer())
        } catch {
            throw ModelBundleError.modelNotBuilt(path: path, reason: "\(error)")
        }
        do {
            try model.load(state: checkpoint.modelState)
        } catch {
            throw ModelBundleError.weightsDoNotFit(path: path, reason: "\(error)")
        }
        return try ModelBundle(model: model, config: config, file: url)
    }

    /// The checkpoint and its parsed config, with errors naming the file: the first step of
    /// `load`, and all that `--resume` needs besides the weights it loads itself.
    public static func readCheckpoint(_ url: URL) throws -> (Checkpoint, ModelBundleConfig) {
        let path = url.path
        let checkpoint: Checkpoint
        do {
            checkpoint = try Checkpoint.read(from: url)
        } catch CheckpointError.noWeights {
            throw ModelBundleError.noWeights(path: path)
        } catch {
            throw ModelBundleError.notACheckpoint(path: path, reason: "\(error)")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(checkpoint.config.utf8))) as? [String: Any] else {
            throw ModelBundleError.configNotJSON(path: path)
        }
        if object.isEmpty {
            throw ModelBundleError.noConfig(path: path)
        }
        return (checkpoint, try ModelBundleConfig(json: object, file: path))
    }

    /// The inference this bundle's config describes, with the caller's step and mirroring.
    public func inference(step: Double = 0.5, mirroring: Bool = false) -> SlidingWindowInference {
        SlidingWindowInference(model: model, output: config.output, patch: config.patch, step: step, mirroring: mirroring)
    }

    /// Writes the model and its config as a checkpoint (weights and buffers; no optimizer state).
    public func write(to url: URL, provenance: [String: Any] = [:]) throws {
        try Checkpoint(model: model, config: config.json, provenance: provenance).write(to: url)
    }
}
