import Foundation

/// A model configuration that cannot be turned into a model: the message names the key or value.
public enum ModelConfigError: Error, Equatable, CustomStringConvertible {
    case unknownModel(name: String, known: [String])
    /// `--config` text that is not JSON and not the path of a readable file.
    case configArgumentUnreadable(text: String)
    /// `--config` JSON (or file contents) that is not an object.
    case configArgumentNotAnObject(text: String)
    case unknownKeys(model: String, keys: [String], allowed: [String])
    case missingKey(model: String, key: String)
    /// A value of the wrong type or outside its set; `expected` reads "a positive integer",
    /// "true or false", ..., and `got` is the value as given.
    case invalidValue(model: String, key: String, expected: String, got: String)
    /// Values that are each fine but do not fit together (list lengths per stage, a key that
    /// only applies with another). Free text: each model family states its own rule.
    case inconsistent(model: String, problem: String)

    public var description: String {
        switch self {
        case .unknownModel(let name, let known):
            return "unknown model '\(name)'; known: \(known.joined(separator: ", "))"
        case .configArgumentUnreadable(let text):
            return "--config: '\(text)' is neither a JSON object nor a readable file"
        case .configArgumentNotAnObject(let text):
            return "--config: not a JSON object: \(text.prefix(200))"
        case .unknownKeys(let model, let keys, let allowed):
            return "\(model) config: unknown key(s) \(keys.joined(separator: ", ")); allowed: \(allowed.joined(separator: ", "))"
        case .missingKey(let model, let key):
            return "\(model) config: missing key '\(key)'"
        case .invalidValue(let model, let key, let expected, let got):
            return "\(model) config: '\(key)' must be \(expected), got \(got)"
        case .inconsistent(let model, let problem):
            return "\(model) config: \(problem)"
        }
    }
}
