import Foundation

/// Why an output file could not be written. Every case names the file the user asked for (never the
/// temporary name it was written under) and says what went wrong in the user's words: "no space
/// left on device writing run/checkpoint_last.h5", not an errno.
public enum FileWriteError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// A system call failed with `code` (an errno value) while writing `path`; `neededBytes` is
    /// the file's size when known beforehand.
    case systemError(path: String, code: Int32, neededBytes: Int?)
    /// The file on disk holds `foundBytes` where `expectedBytes` were written (a short write that
    /// went unreported).
    case incomplete(path: String, expectedBytes: Int, foundBytes: Int)
    /// The written file does not read back as what was written.
    case unreadable(path: String, reason: String)
    /// The output's folder is missing or not writable: found before any work is done.
    case folderNotWritable(path: String, folder: String)

    public var path: String {
        switch self {
        case .systemError(let p, _, _), .incomplete(let p, _, _), .unreadable(let p, _), .folderNotWritable(let p, _):
            return p
        }
    }

    public var description: String {
        switch self {
        case .systemError(let p, let code, let needed):
            return "\(Self.reason(code)) writing \(p)" + (needed.map { " (needed \($0) bytes)" } ?? "")
        case .incomplete(let p, let expected, let found):
            return "\(p): only \(found) of \(expected) bytes reached the disk (is it full?); the file was not written"
        case .unreadable(let p, let reason):
            return "\(p): the written file does not read back (\(reason)); it was not kept"
        case .folderNotWritable(let p, let folder):
            return "\(p): cannot write here: folder \(folder) is missing or not writable"
        }
    }

    public var errorDescription: String? { description }

    /// What an errno value means to someone whose file was not written.
    public static func reason(_ code: Int32) -> String {
        switch code {
        case ENOSPC: return "no space left on device"
        case EFBIG: return "file size limit exceeded"
        case EDQUOT: return "disk quota exceeded"
        case EROFS: return "read-only file system"
        case EACCES, EPERM: return "permission denied"
        case EIO: return "input/output error"
        case ENOENT: return "folder does not exist"
        default:
            let text = String(cString: strerror(code))
            return text.prefix(1).lowercased() + text.dropFirst()
        }
    }

    /// Errno values that mean the device (or a limit on it) refused the bytes, as opposed to a
    /// library's own failure: these are the ones worth reporting instead of the library's message.
    static func isStorageFailure(_ code: Int32) -> Bool {
        [ENOSPC, EFBIG, EDQUOT, EROFS, EIO].contains(code)
    }
}
