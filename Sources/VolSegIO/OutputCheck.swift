import Foundation

/// Checks made before any work, so that a run never overwrites what it reads: an output that is an
/// input (the same file by device and inode, so another spelling of the path or a hard link counts
/// too) or an output folder that is an input folder is refused with both paths named.
public enum OutputCheck {
    /// Refuses `output` when it is the same file as one of `inputs`.
    public static func refuseOverwriting(_ inputs: [URL], with output: URL) throws {
        guard let target = FileIdentity(output) else { return }
        if let input = inputs.first(where: { FileIdentity($0) == target }) {
            throw OutputCheckError.outputIsInput(output: output.path, input: input.path)
        }
    }

    /// Refuses an output folder that is the input folder itself.
    public static func refuseFolder(_ output: URL, sameAs input: URL) throws {
        guard let target = FileIdentity(output), target == FileIdentity(input) else { return }
        throw OutputCheckError.outputFolderIsInputFolder(output: output.path, input: input.path)
    }
}

/// A file or folder as the file system knows it: device and inode (stat follows symbolic links).
public struct FileIdentity: Equatable, Sendable {
    public let device: UInt64
    public let inode: UInt64

    /// nil when nothing exists at `url`.
    public init?(_ url: URL) {
        var status = stat()
        guard stat(url.path, &status) == 0 else { return nil }
        device = UInt64(status.st_dev)
        inode = UInt64(status.st_ino)
    }
}

public enum OutputCheckError: Error, Equatable, CustomStringConvertible, LocalizedError {
    case outputIsInput(output: String, input: String)
    case outputFolderIsInputFolder(output: String, input: String)

    public var description: String {
        switch self {
        case .outputIsInput(let output, let input):
            return "\(output): this output is the input \(input) (the same file); VolSeg never overwrites an input, "
                + "choose another output path"
        case .outputFolderIsInputFolder(let output, let input):
            return "\(output): this output folder is the input folder \(input); VolSeg never writes into what it reads, "
                + "choose another folder"
        }
    }

    public var errorDescription: String? { description }
}
