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
            throw ModelBundleError(path: name, problem: "the network takes \(model.inputChannels) input channels, "
                + "the config lists \(config.modalities.count) modalities \(config.modalities)")
        }
        guard model.classCount == config.output.channelCount else {
            let meaning = config.output.isRegionBased ? "regions" : "labels"
            throw ModelBundleError(path: name, problem: "the network has \(model.classCount) output channels, "
                + "the config lists \(config.output.channelCount) \(meaning)")
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
            throw ModelBundleError(path: path, problem: "no such checkpoint file")
        }
        let (checkpoint, config) = try readCheckpoint(url)
        let model: SegmentationModel
        do {
            model = try ModelRegistry.make(name: config.modelName, config: config.modelConfig, initializer: ParameterInitializer())
        } catch {
            throw ModelBundleError(path: path, problem: "checkpoint config \"model\": \(error)")
        }
        do {
            try model.load(state: checkpoint.modelState)
        } catch {
            throw ModelBundleError(path: path, problem: "\(error)")
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
        } catch let error as CheckpointError {
            throw ModelBundleError(path: path, problem: error.problem)
        } catch {
            throw ModelBundleError(path: path, problem: "not a VolSeg checkpoint (HDF5 with weights/ and a config): \(error)")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(checkpoint.config.utf8))) as? [String: Any] else {
            throw ModelBundleError(path: path, problem: "the root attribute \"config\" is not a JSON object")
        }
        if object.isEmpty {
            throw ModelBundleError(path: path, problem: "has no root attribute \"config\" (model, patch, preprocessing, labels): "
                + "it holds weights only and cannot segment")
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

/// A checkpoint that cannot become a segmenter: the file and the problem.
public struct ModelBundleError: Error, CustomStringConvertible, LocalizedError {
    public let path: String
    public let problem: String

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(path): \(problem)" }
    public var errorDescription: String? { description }
}
