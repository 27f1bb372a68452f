import Foundation

/// An exclusive lock on a folder for one run: flock on FOLDER/.volseg.lock, which holds the
/// holder's pid so that a refused second run can name it. The kernel drops the lock when the holder
/// exits, however it exits, so a killed run never leaves the folder locked. The file itself stays
/// (removing it would let two runs lock two different files of the same name).
public final class FolderLock {
    public static let fileName = ".volseg.lock"
    public let folder: URL
    private var descriptor: Int32

    /// Locks `folder` (which must exist) or throws `FolderLockError.held` naming the holder's pid.
    public init(_ folder: URL) throws {
        self.folder = folder
        let path = folder.appendingPathComponent(Self.fileName).path
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw FileWriteError.systemError(path: path, code: errno, neededBytes: nil)
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = Self.holder(descriptor)
            close(descriptor)
            throw FolderLockError.held(folder: folder.path, pid: holder)
        }
        let text = Array("\(getpid())\n".utf8)
        if ftruncate(descriptor, 0) == 0 { _ = text.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, text.count, 0) } }
    }

    /// Releases the lock (also done when the object goes).
    public func release() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }

    private static func holder(_ descriptor: Int32) -> Int? {
        var bytes = [UInt8](repeating: 0, count: 32)
        let n = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return Int(String(decoding: bytes.prefix(n), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

public enum FolderLockError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// `pid` is nil when the holder has not written it yet.
    case held(folder: String, pid: Int?)

    public var description: String {
        switch self {
        case .held(let folder, let pid):
            return "\(folder) is in use by another volseg run" + (pid.map { " (pid \($0))" } ?? "")
                + "; wait for it to finish or choose another folder"
        }
    }

    public var errorDescription: String? { description }
}
