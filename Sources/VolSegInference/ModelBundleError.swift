import Foundation

/// A checkpoint that cannot become a segmenter: the file and the problem.
public enum ModelBundleError: Error, Equatable, CustomStringConvertible, LocalizedError {
    case missingFile(path: String)
    /// Not readable as a checkpoint at all (not HDF5, unreadable datasets); `reason` is the reader's message.
    case notACheckpoint(path: String, reason: String)
    /// An HDF5 file without a `weights/` group.
    case noWeights(path: String)
    case configNotJSON(path: String)
    /// Weights only: no root attribute "config".
    case noConfig(path: String)
    /// `key` is the dotted path of the missing key ("preprocessing.target_spacing").
    case configMissingKey(path: String, key: String)
    /// Neither "labels" nor "regions".
    case configMissingOutput(path: String)
    /// A config value of the wrong type, range or combination. Free text: each key of the
    /// bundle schema states its own rule, and no caller acts on which rule failed.
    case invalidConfig(path: String, problem: String)
    /// The config's "model" entry does not build a model; `reason` is the registry's message.
    case modelNotBuilt(path: String, reason: String)
    /// The weights do not fit the model the config describes; `reason` is the loader's message.
    case weightsDoNotFit(path: String, reason: String)
    /// `model` is the file, or "model NAME" for a bundle built in memory.
    case inputChannelsMismatch(model: String, networkChannels: Int, modalities: [String])
    case outputChannelsMismatch(model: String, networkChannels: Int, configChannels: Int, regionBased: Bool)

    /// The checkpoint file, or "model NAME" for a bundle built in memory.
    public var path: String {
        switch self {
        case .missingFile(let p), .notACheckpoint(let p, _), .noWeights(let p), .configNotJSON(let p), .noConfig(let p),
             .configMissingKey(let p, _), .configMissingOutput(let p), .invalidConfig(let p, _), .modelNotBuilt(let p, _),
             .weightsDoNotFit(let p, _), .inputChannelsMismatch(let p, _, _), .outputChannelsMismatch(let p, _, _, _):
            return p
        }
    }

    public var problem: String {
        switch self {
        case .missingFile: return "no such checkpoint file"
        case .notACheckpoint(_, let reason): return "not a VolSeg checkpoint (HDF5 with weights/ and a config): \(reason)"
        case .noWeights: return "has no weights/ group: not a VolSeg checkpoint"
        case .configNotJSON: return "the root attribute \"config\" is not a JSON object"
        case .noConfig:
            return "has no root attribute \"config\" (model, patch, preprocessing, labels): it holds weights only and cannot segment"
        case .configMissingKey(_, let key): return "checkpoint config is missing key \"\(key)\""
        case .configMissingOutput: return "checkpoint config missing key \"labels\" (or \"regions\" for a region-based model)"
        case .invalidConfig(_, let problem): return "checkpoint config " + problem
        case .modelNotBuilt(_, let reason): return "checkpoint config \"model\": \(reason)"
        case .weightsDoNotFit(_, let reason): return reason
        case .inputChannelsMismatch(_, let channels, let modalities):
            return "the network takes \(channels) input channels, the config lists \(modalities.count) modalities \(modalities)"
        case .outputChannelsMismatch(_, let channels, let configChannels, let regionBased):
            return "the network has \(channels) output channels, the config lists \(configChannels) \(regionBased ? "regions" : "labels")"
        }
    }

    public var description: String { "\(path): \(problem)" }
    public var errorDescription: String? { description }
}
