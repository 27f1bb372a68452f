import CFileSystem
import Foundation
import VolSegCore

/// Writes files that belong together (an evaluation's report: tables, JSON, Markdown, pictures
/// and a manifest) so that their folder shows the whole old set or the whole new one, never a mix
/// of two and never part of one, whatever stops the run.
///
/// Everything is first written into a staging folder `.volseg-<pid>-<random>-<name>.tmp`, each file
/// flushed and size-checked (a full disk fails here, naming the final path, and nothing under a
/// final name has changed), the manifest last. Then:
/// - a folder that does not exist yet: the staging folder, built beside it, is renamed to it;
/// - a folder that holds an old set and nothing else: the staging folder, built beside it, is
///   swapped with it in one step (renameat2 RENAME_EXCHANGE), and the old set, now under the
///   staging name, is removed;
/// - a folder that holds other files too (nnU-Net's form writes into the predictions folder), is a
///   mount point or a symbolic link, or a file system that cannot exchange: the old manifest and
///   the old set's files move out into the staging folder, then the new files move in one by one,
///   the manifest last. A kill between two of those renames leaves part of the new set and no
///   manifest, never a mix; a set is whole exactly when its manifest is there.
/// Staging folders of killed runs (their pid gone) are removed by the next run in the same place.
public struct AtomicFileSet {
    public let folder: URL
    /// Names at the top of `folder` that belong to a set (files and folders): an old set's are all
    /// replaced, also those the new set does not have, and a folder holding only these is swapped whole.
    public let ownedNames: Set<String>
    public let manifestName: String

    public init(folder: URL, ownedNames: Set<String>, manifestName: String) {
        self.folder = folder
        self.ownedNames = ownedNames.union([manifestName])
        self.manifestName = manifestName
    }

    /// Writes `files` (paths relative to the folder, written in this order; `pictures/a.png`
    /// makes a sub-folder) and then `manifest` as the set.
    public func write(_ files: [(path: String, data: Data)], manifest: Data) throws {
        let fm = FileManager.default
        let topNames = files.map { String($0.path.split(separator: "/")[0]) }.reduce(into: [String]()) { names, name in
            if !names.contains(name) { names.append(name) }
        }
        precondition(Set(topNames).isSubset(of: ownedNames) && !topNames.contains(manifestName),
                     "a set writes only names it owns, the manifest last")
        let parent = folder.deletingLastPathComponent()
        var isFolder: ObjCBool = false
        let existed = fm.fileExists(atPath: folder.path, isDirectory: &isFolder)
        if existed && !isFolder.boolValue { throw FileWriteError.folderNotWritable(path: folder.path, folder: folder.path) }
        do {
            try fm.createDirectory(at: existed ? folder : parent, withIntermediateDirectories: true)
        } catch {
            throw FileWriteError.folderNotWritable(path: folder.path, folder: parent.path)
        }
        if existed { AtomicFile.removeStaleTemporaries(in: folder) }
        let beside = canStageBeside(existed: existed)
        if beside { AtomicFile.removeStaleTemporaries(in: parent) }
        if !existed && !beside {
            do { try fm.createDirectory(at: folder, withIntermediateDirectories: false) } catch {
                throw FileWriteError.folderNotWritable(path: folder.path, folder: parent.path)
            }
        }
        let staging = beside ? AtomicFile.temporaryURL(for: folder) : AtomicFile.temporaryURL(for: folder.appendingPathComponent("set"))
        do {
            try write(files, manifest: manifest, topNames: topNames, staging: staging, beside: beside, existed: existed)
        } catch {
            // A folder this run made for the set goes again (rmdir: only while it is empty).
            if !existed && !beside { rmdir(folder.path) }
            throw error
        }
    }

    private func write(_ files: [(path: String, data: Data)], manifest: Data, topNames: [String], staging: URL,
                       beside: Bool, existed: Bool) throws {
        let fm = FileManager.default, parent = folder.deletingLastPathComponent()
        guard mkdir(staging.path, 0o755) == 0 else {
            throw FileWriteError.systemError(path: folder.path, code: errno, neededBytes: nil)
        }
        defer { try? fm.removeItem(at: staging) }
        for (path, data) in files + [(manifestName, manifest)] {
            let target = staging.appendingPathComponent(path)
            let subfolder = target.deletingLastPathComponent()
            if subfolder.standardizedFileURL != staging.standardizedFileURL {
                do { try fm.createDirectory(at: subfolder, withIntermediateDirectories: true) } catch {
                    throw FileWriteError.folderNotWritable(path: folder.appendingPathComponent(path).path, folder: subfolder.path)
                }
            }
            try AtomicFile.writeWhole(data, at: target, reportingAs: folder.appendingPathComponent(path))
        }
        for name in topNames { AtomicFile.syncFolder(staging.appendingPathComponent(name)) }
        AtomicFile.syncFolder(staging)
        FaultPoint.reached("fileset.staged")

        if beside && !existed {
            if rename(staging.path, folder.path) == 0 {
                AtomicFile.syncFolder(parent)
                return
            }
            // Someone made the folder meanwhile: join it as a folder with other files.
            guard errno == EEXIST || errno == ENOTEMPTY else {
                throw FileWriteError.systemError(path: folder.path, code: errno, neededBytes: nil)
            }
        } else if beside {
            // The folder keeps its permissions when its contents are swapped.
            var own = stat()
            if stat(folder.path, &own) == 0 { chmod(staging.path, own.st_mode & 0o7777) }
            if vs_rename_exchange(staging.path, folder.path) == 0 {
                AtomicFile.syncFolder(parent)
                FaultPoint.reached("fileset.swapped")
                return   // `staging` now holds the old set, which the deferred removal takes
            }
        }
        try replaceInPlace(from: staging, topNames: topNames)
    }

    /// Whether the set can be built beside the folder and put in place by one rename: the parent
    /// is writable and, for an existing folder, the folder is a real folder on the same file
    /// system holding nothing but a set.
    private func canStageBeside(existed: Bool) -> Bool {
        let parent = folder.deletingLastPathComponent()
        guard access(parent.path, W_OK | X_OK) == 0 else { return false }
        guard existed else { return true }
        var own = stat(), above = stat()
        guard lstat(folder.path, &own) == 0, (own.st_mode & S_IFMT) == S_IFDIR, stat(parent.path, &above) == 0,
              own.st_dev == above.st_dev else { return false }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [""]
        return names.allSatisfy(ownedNames.contains)
    }

    /// Old set out (manifest first), new set in (manifest last); on an error, back to the old set.
    private func replaceInPlace(from staging: URL, topNames: [String]) throws {
        let previous = staging.appendingPathComponent(".previous")
        guard mkdir(previous.path, 0o755) == 0 else { throw FileWriteError.systemError(path: folder.path, code: errno, neededBytes: nil) }
        var movedOut: [String] = [], movedIn: [String] = []
        do {
            for name in [manifestName] + ownedNames.subtracting([manifestName]).sorted()
            where FileManager.default.fileExists(atPath: folder.appendingPathComponent(name).path) {
                try move(folder.appendingPathComponent(name), to: previous.appendingPathComponent(name))
                movedOut.append(name)
            }
            AtomicFile.syncFolder(folder)
            for name in topNames {
                try move(staging.appendingPathComponent(name), to: folder.appendingPathComponent(name))
                movedIn.append(name)
                FaultPoint.reached("fileset.betweenFiles")
            }
            try move(staging.appendingPathComponent(manifestName), to: folder.appendingPathComponent(manifestName))
            AtomicFile.syncFolder(folder)
        } catch {
            for name in movedIn { try? FileManager.default.removeItem(at: folder.appendingPathComponent(name)) }
            for name in movedOut { _ = rename(previous.appendingPathComponent(name).path, folder.appendingPathComponent(name).path) }
            AtomicFile.syncFolder(folder)
            throw error
        }
    }

    private func move(_ source: URL, to target: URL) throws {
        guard rename(source.path, target.path) == 0 else {
            throw FileWriteError.systemError(path: target.path, code: errno, neededBytes: nil)
        }
    }
}
