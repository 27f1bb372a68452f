import Foundation

/// Why an HDF5 operation failed, naming the file and the object inside it, so that a user reading
/// "ops.h5: no dataset at /conv3d_k3s1p1/gz" knows what to fix without HDF5's own error stack
/// (which VolSegIO silences).
public enum HDF5Error: Error, Equatable, CustomStringConvertible, LocalizedError {
    case fileNotFound(file: String)
    case notHDF5(file: String)
    /// The file was closed (explicitly, or by `writeAtomically`) before this use.
    case closed(file: String)
    /// `what` is "dataset", "group", "object" or `attribute "name"`; `path` is the object's path.
    case missing(file: String, path: String, what: String)
    case wrongType(file: String, path: String, expected: String, found: String)
    /// An HDF5 call failed on an object that exists (a full disk, a read-only file, ...).
    case failed(file: String, path: String, operation: String)

    public var description: String {
        switch self {
        case .fileNotFound(let file):
            return "HDF5 file \(file) does not exist"
        case .notHDF5(let file):
            return "\(file) is not an HDF5 file"
        case .closed(let file):
            return "HDF5 file \(file) is already closed"
        case .missing(let file, let path, let what):
            return "\(file): no \(what) at \(path)"
        case .wrongType(let file, let path, let expected, let found):
            return "\(file): \(path) holds \(found), expected \(expected)"
        case .failed(let file, let path, let operation):
            return "\(file): could not \(operation) \(path)"
        }
    }

    public var errorDescription: String? { description }
}
