import Foundation
import VolSegIO

/// The run folder of `volseg train`, checked, created and locked before any data is read: a folder
/// that is the dataset, cannot be written, is in use by another run (the lock names its pid), or
/// holds a finished or stopped run that the command neither resumes nor overwrites is refused, and
/// a run that fails to start removes the folder it created, so a refusal leaves nothing behind.
final class RunFolder {
    let url: URL
    /// The outermost folder this run created (the run folder or an ancestor), which a failed start removes again.
    let created: URL?
    private var lock: FolderLock?

    /// What a run leaves in its folder; `--overwrite` removes the previous run's before the new one starts.
    static let runFiles = ["checkpoint_last.h5", "checkpoint_best.h5", "log.csv", "curves.png"]

    init(_ url: URL, dataFolder: URL, resume: Bool, overwrite: Bool) throws {
        self.url = url
        try OutputCheck.refuseFolder(url, sameAs: dataFolder)
        let fm = FileManager.default
        var isFolder: ObjCBool = false
        if fm.fileExists(atPath: url.path, isDirectory: &isFolder) {
            guard isFolder.boolValue else { throw RunFolderError.notAFolder(path: url.path) }
            guard access(url.path, W_OK | X_OK) == 0 else { throw RunFolderError.notWritable(folder: url.path, blocking: url.path) }
            created = nil
        } else {
            var outermost = url, ancestor = url.deletingLastPathComponent()
            while !fm.fileExists(atPath: ancestor.path) && ancestor.path != "/" {
                outermost = ancestor
                ancestor = ancestor.deletingLastPathComponent()
            }
            guard access(ancestor.path, W_OK | X_OK) == 0 else {
                throw RunFolderError.notWritable(folder: url.path, blocking: ancestor.path)
            }
            try fm.createDirectory(at: url, withIntermediateDirectories: true)
            created = outermost
        }
        do {
            lock = try FolderLock(url)
            let last = url.appendingPathComponent("checkpoint_last.h5")
            if !resume && !overwrite && fm.fileExists(atPath: last.path) {
                throw RunFolderError.holdsRun(folder: url.path, checkpoint: last.path)
            }
        } catch {
            abandon()
            throw error
        }
        removeTemporaries()
    }

    /// Temporary files of runs that are gone: VolSeg's own names with a dead pid, and (the lock
    /// being held, so no run is writing here) the names older versions used for checkpoints and curves.
    private func removeTemporaries() {
        AtomicFile.removeStaleTemporaries(in: url)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        for name in names where name.hasSuffix(".tmp")
            && [".checkpoint_last.h5.", ".checkpoint_best.h5.", ".curves.png."].contains(where: name.hasPrefix) {
            unlink(url.appendingPathComponent(name).path)
        }
    }

    /// `--overwrite`: the previous run's files go once the new run has started without error.
    func clearPreviousRun() {
        for name in Self.runFiles { unlink(url.appendingPathComponent(name).path) }
    }

    /// After a failed start: releases the lock and removes the folders this run created, if nothing
    /// but the lock file is in them.
    func abandon() {
        lock?.release()
        lock = nil
        guard let created else { return }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        guard names.allSatisfy({ $0 == FolderLock.fileName }) else { return }
        unlink(url.appendingPathComponent(FolderLock.fileName).path)
        // rmdir removes only empty folders: from the run folder up to the outermost one created.
        var folder = url
        while rmdir(folder.path) == 0 && folder.standardizedFileURL != created.standardizedFileURL {
            folder = folder.deletingLastPathComponent()
        }
    }
}

/// Why `volseg train` will not use a run folder.
public enum RunFolderError: Error, Equatable, CustomStringConvertible, LocalizedError {
    case holdsRun(folder: String, checkpoint: String)
    /// `blocking` is the folder that cannot be written (the run folder, or the ancestor it would be created in).
    case notWritable(folder: String, blocking: String)
    case notAFolder(path: String)

    public var description: String {
        switch self {
        case .holdsRun(let folder, let checkpoint):
            return "\(folder) holds a run (\(URL(fileURLWithPath: checkpoint).lastPathComponent)): continue it with --resume, "
                + "or replace it with --overwrite"
        case .notWritable(let folder, let blocking):
            return "\(folder): cannot use this run folder: \(blocking) is not writable"
        case .notAFolder(let path):
            return "\(path): --out names a file, not a run folder"
        }
    }

    public var errorDescription: String? { description }
}
