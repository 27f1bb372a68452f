import Foundation

/// What the unpickler's helpers (rebuilders, tensor checks, text parsers) find wrong, before the
/// unpickler adds the file and the opcode's position and throws it as a TorchCheckpointError.
enum PickleFault: Error, Equatable {
    case malformed(String)
    case forbidden(String)
    case limit(String, Int)
    case unsupportedDType(String)
    case storageOutOfRange(key: String, reason: String)

    func error(path: String, offset: Int) -> TorchCheckpointError {
        switch self {
        case .malformed(let reason): return .malformedPickle(path: path, offset: offset, reason: reason)
        case .forbidden(let name): return .forbiddenCallable(path: path, name: name)
        case .limit(let what, let limit): return .limitExceeded(path: path, what: what, limit: limit)
        case .unsupportedDType(let name): return .unsupportedDType(path: path, name: name)
        case .storageOutOfRange(let key, let reason): return .storageOutOfRange(path: path, key: key, reason: reason)
        }
    }
}
