import Foundation
import VolSegCore

/// Writes files that appear whole or not at all, for every output VolSeg writes (label maps,
/// checkpoints, logs, pictures, reports).
///
/// The bytes go to `.volseg-<pid>-<random>-<name>.tmp` in the destination folder (same file system,
/// so the rename is atomic), are flushed with fsync (a crash soon after the rename must not leave
/// a named but empty file), their size on disk is checked against what was written (a full disk can
/// make a write or close fail without the library that wrote saying so), and only then renamed to
/// the final name. On any failure the temporary file is removed and the error names the final path.
/// The process id in the name lets a later run tell a temporary file being written from one left by
/// a killed run (`removeStaleTemporaries`).
public enum AtomicFile {
    public static let temporaryPrefix = ".volseg-"

    /// A fresh temporary name beside `url`. `keepingExtension` ends it as `url` ends (no `.tmp`), for
    /// writers that choose the format from the extension (libnifti: .nii, .nii.gz, .hdr).
    public static func temporaryURL(for url: URL, keepingExtension: Bool = false) -> URL {
        let random = String(format: "%08x", UInt32.random(in: 0...UInt32.max))
        let name = "\(temporaryPrefix)\(getpid())-\(random)-\(url.lastPathComponent)" + (keepingExtension ? "" : ".tmp")
        return url.deletingLastPathComponent().appendingPathComponent(name)
    }

    /// Refuses an output whose folder is missing or not writable, so a run can check before it works.
    public static func checkFolder(of url: URL) throws {
        let folder = url.deletingLastPathComponent()
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isFolder), isFolder.boolValue,
              access(folder.path, W_OK | X_OK) == 0 else {
            throw FileWriteError.folderNotWritable(path: url.path, folder: folder.path)
        }
    }

    /// Writes `data` as the whole content of `url`.
    public static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { temporary in
            try writeAll(data, to: temporary, reportingAs: url)
            return data.count
        }
    }

    /// `body` writes the file at the temporary URL it is given (with any library) and returns the
    /// byte count the file must have (nil when not known in advance); the file is then flushed,
    /// checked and renamed to `url`. Whatever `body` throws is passed on, the temporary file removed.
    public static func write(to url: URL, keepingExtension: Bool = false, body: (URL) throws -> Int?) throws {
        try checkFolder(of: url)
        let temporary = temporaryURL(for: url, keepingExtension: keepingExtension)
        do {
            let expected = try body(temporary)
            try flush(temporary, reportingAs: url, expectedBytes: expected)
            try rename(temporary, to: url)
        } catch {
            unlink(temporary.path)
            throw error
        }
    }

    /// fsyncs a finished temporary file and checks its size (when `expectedBytes` is given). Errors
    /// name `url`, the file the user asked for.
    public static func flush(_ temporary: URL, reportingAs url: URL, expectedBytes: Int?) throws {
        let descriptor = open(temporary.path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileWriteError.systemError(path: url.path, code: errno, neededBytes: expectedBytes) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw FileWriteError.systemError(path: url.path, code: errno, neededBytes: expectedBytes) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw FileWriteError.systemError(path: url.path, code: errno, neededBytes: expectedBytes) }
        if let expectedBytes, Int(status.st_size) != expectedBytes {
            throw FileWriteError.incomplete(path: url.path, expectedBytes: expectedBytes, foundBytes: Int(status.st_size))
        }
    }

    /// Renames a flushed temporary file over `url` (POSIX rename replaces atomically; Foundation's
    /// replaceItemAt does not work reliably on Linux) and flushes the folder so the new name lasts.
    public static func rename(_ temporary: URL, to url: URL) throws {
        FaultPoint.reached("write.beforeRename", file: url.path)
        guard Foundation.rename(temporary.path, url.path) == 0 else {
            throw FileWriteError.systemError(path: url.path, code: errno, neededBytes: nil)
        }
        syncFolder(url.deletingLastPathComponent())
    }

    /// fsyncs a folder, so that names created, renamed or removed in it last.
    public static func syncFolder(_ folder: URL) {
        let descriptor = open(folder.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if descriptor >= 0 { fsync(descriptor); close(descriptor) }
    }

    /// Writes `data` as a new file at `temporary`, flushed and size-checked, without renaming it
    /// (for files that move into place together, `AtomicFileSet`). Errors name `url`.
    public static func writeWhole(_ data: Data, at temporary: URL, reportingAs url: URL) throws {
        do {
            try writeAll(data, to: temporary, reportingAs: url)
            try flush(temporary, reportingAs: url, expectedBytes: data.count)
        } catch {
            unlink(temporary.path)
            throw error
        }
    }

    /// Writes all of `data` into a new file at `temporary` with write(2), so that a short write or
    /// a failed close is an error with its errno.
    static func writeAll(_ data: Data, to temporary: URL, reportingAs url: URL) throws {
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        guard descriptor >= 0 else { throw FileWriteError.systemError(path: url.path, code: errno, neededBytes: data.count) }
        var failure: Int32 = 0
        data.withUnsafeBytes { raw in
            // In two halves, so that `write.partial` can stop a test run between them with the
            // temporary file cut short, as a kill during a long write leaves it.
            let half = raw.count / 2
            failure = writeFully(descriptor, raw, from: 0, to: half)
            guard failure == 0 else { return }
            FaultPoint.reached("write.partial", file: url.path)
            failure = writeFully(descriptor, raw, from: half, to: raw.count)
        }
        if close(descriptor) != 0 && failure == 0 { failure = errno }
        if failure != 0 { throw FileWriteError.systemError(path: url.path, code: failure, neededBytes: data.count) }
    }

    /// write(2) until `raw[start..<end]` is written; the errno of a failure, else 0.
    static func writeFully(_ descriptor: Int32, _ raw: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Int32 {
        var offset = start
        while offset < end {
            let n = Foundation.write(descriptor, raw.baseAddress! + offset, end - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += n
        }
        return 0
    }

    /// Removes temporary files and staging folders (`AtomicFileSet`) in `folder` left by VolSeg
    /// processes that are gone (their pid no longer exists); those of running processes, this one
    /// included, are kept. Returns what it removed.
    @discardableResult
    public static func removeStaleTemporaries(in folder: URL) -> [URL] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return [] }
        var removed: [URL] = []
        for name in names where name.hasPrefix(temporaryPrefix) {
            guard let pid = writerProcess(ofTemporaryName: name), pid != getpid(), !isRunning(pid) else { continue }
            let url = folder.appendingPathComponent(name)
            var status = stat()
            guard lstat(url.path, &status) == 0 else { continue }
            if (status.st_mode & S_IFMT) == S_IFDIR {
                if (try? FileManager.default.removeItem(at: url)) != nil { removed.append(url) }
            } else if unlink(url.path) == 0 {
                removed.append(url)
            }
        }
        return removed
    }

    /// The pid in `.volseg-<pid>-<random>-<name>`, nil for names not of that form.
    static func writerProcess(ofTemporaryName name: String) -> pid_t? {
        let rest = name.dropFirst(temporaryPrefix.count)
        guard let dash = rest.firstIndex(of: "-"), let pid = pid_t(rest[..<dash]), pid > 0 else { return nil }
        let random = rest[rest.index(after: dash)...].prefix(9)
        guard random.count == 9, random.last == "-", random.dropLast().allSatisfy(\.isHexDigit) else { return nil }
        return pid
    }

    /// Whether a process with this id exists (kill with signal 0 only checks; EPERM means it exists
    /// but belongs to someone else).
    static func isRunning(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno != ESRCH
    }
}
