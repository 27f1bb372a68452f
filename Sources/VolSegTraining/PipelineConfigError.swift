import Foundation

/// A pipeline file that cannot be used: names the file, the key (dotted path), the line where
/// the YAML gives one, and the problem.
public enum PipelineConfigError: Error, Equatable, CustomStringConvertible {
    // MARK: the file
    case unreadable(file: String)
    case notUTF8(file: String)
    case invalidYAML(file: String, reason: String)
    case empty(file: String)
    // MARK: its structure (key nil for the root)
    /// `found` describes what stands there instead ("a list", "'5'").
    case notAMapping(file: String, key: String?, found: String, line: Int?)
    case keyNotAName(file: String, key: String?, line: Int?)
    case duplicateKey(file: String, key: String, line: Int?)
    /// `known` are the keys read at that level.
    case unknownKey(file: String, key: String, known: [String], line: Int?)
    /// A value of the wrong type or range, or a combination of keys that does not hold. Free
    /// text: every setting states its own rule ("must be a whole number, got 'ten'"), and what a
    /// caller matches is the key.
    case invalidValue(file: String, key: String, problem: String, line: Int?)
    // MARK: settings checked against the data and the model
    /// `model.config.KEY` given as `given` where the data needs `expected` (`reason` says why).
    case modelConfigDisagrees(file: String, key: String, given: String, expected: Int, reason: String)
    case classWeightCount(file: String, weights: Int, classes: Int, classValues: [Int])
    case classWeightsWithRegions(file: String)
    /// `model` does not build; `reason` is the model registry's message.
    case modelNotBuilt(file: String, reason: String)
    case stageNotApplicable(file: String, model: String)
    /// `model.initialize_from` names a checkpoint that cannot be read or does not fit.
    case initializationFailed(file: String, checkpoint: String, reason: String)
    case unknownRecomputeStage(file: String, stage: String, model: String, stages: [String])
    /// `size` (x, y, z) not divisible by `divisor` (x, y, z) along `axis` ("x", "y" or "z").
    case patchNotDivisible(file: String, size: [Int], divisor: [Int], axis: String)

    public var file: String {
        switch self {
        case .unreadable(let f), .notUTF8(let f), .invalidYAML(let f, _), .empty(let f), .notAMapping(let f, _, _, _),
             .keyNotAName(let f, _, _), .duplicateKey(let f, _, _), .unknownKey(let f, _, _, _), .invalidValue(let f, _, _, _),
             .modelConfigDisagrees(let f, _, _, _, _), .classWeightCount(let f, _, _, _), .classWeightsWithRegions(let f),
             .modelNotBuilt(let f, _), .stageNotApplicable(let f, _), .initializationFailed(let f, _, _),
             .unknownRecomputeStage(let f, _, _, _), .patchNotDivisible(let f, _, _, _):
            return f
        }
    }

    /// The dotted key the error is about; nil for the file as a whole.
    public var key: String? {
        switch self {
        case .unreadable, .notUTF8, .invalidYAML, .empty: return nil
        case .notAMapping(_, let key, _, _), .keyNotAName(_, let key, _): return key
        case .duplicateKey(_, let key, _), .unknownKey(_, let key, _, _), .invalidValue(_, let key, _, _): return key
        case .modelConfigDisagrees(_, let key, _, _, _): return "model.config.\(key)"
        case .classWeightCount, .classWeightsWithRegions: return "loss.class_weights"
        case .modelNotBuilt: return "model"
        case .stageNotApplicable: return "model.stage"
        case .initializationFailed: return "model.initialize_from"
        case .unknownRecomputeStage: return "patch.recompute"
        case .patchNotDivisible: return "patch.size"
        }
    }

    public var line: Int? {
        switch self {
        case .notAMapping(_, _, _, let line), .keyNotAName(_, _, let line), .duplicateKey(_, _, let line),
             .unknownKey(_, _, _, let line), .invalidValue(_, _, _, let line):
            return line
        default: return nil
        }
    }

    public var problem: String {
        switch self {
        case .unreadable: return "cannot be read (no such file, or no permission)"
        case .notUTF8: return "is not UTF-8 text"
        case .invalidYAML(_, let reason): return "is not valid YAML: \(reason)"
        case .empty: return "is empty"
        case .notAMapping(_, _, let found, _): return "must be a mapping of keys to values, got \(found)"
        case .keyNotAName: return "has a key that is not a name"
        case .duplicateKey: return "appears twice"
        case .unknownKey(_, _, let known, _): return "unknown key (known here: \(known.joined(separator: ", ")))"
        case .invalidValue(_, _, let problem, _): return problem
        case .modelConfigDisagrees(_, _, let given, let expected, let reason): return "is \(given), but \(reason) needs \(expected)"
        case .classWeightCount(_, let weights, let classes, let classValues):
            return "lists \(weights) weights for \(classes) classes \(classValues)"
        case .classWeightsWithRegions: return "does not apply to region training"
        case .modelNotBuilt(_, let reason): return reason
        case .stageNotApplicable(_, let model): return "applies to H-DenseUNet only, not \(model)"
        case .initializationFailed(_, let checkpoint, let reason): return "\(checkpoint): \(reason)"
        case .unknownRecomputeStage(_, let stage, let model, let stages):
            return "'\(stage)' is not a stage of \(model) (stages: \(stages.joined(separator: ", ")))"
        case .patchNotDivisible(_, let size, let divisor, let axis):
            return "\(size) must be divisible by \(divisor) (the network's strides) along \(axis)"
        }
    }

    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        if let key { text += ": '\(key)'" }
        return text + ": " + problem
    }
}
