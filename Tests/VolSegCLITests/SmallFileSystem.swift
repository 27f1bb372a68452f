import Foundation
import XCTest

/// A real file system that runs out of space where a test wants it: a tmpfs of its own, mounted
/// at a fresh folder, whose free space a filler file sets to exactly N bytes (tmpfs counts whole
/// pages, so N is a multiple of the page size), so that a write fails with ENOSPC as on a full disk.
///
/// Mounting needs root (or CAP_SYS_ADMIN) and a system that allows it; where it is refused
/// (`mount` returns the reason) the full-disk tests run the same byte thresholds under a file-size
/// limit instead, and say so. VOLSEG_TEST_NO_MOUNT=1 takes that path on purpose.
final class SmallFileSystem {
    let root: URL
    let pageBytes: Int
    private let filler: URL
    private var mounted = true

    /// Why a tmpfs could not be had.
    struct Refusal: Error, CustomStringConvertible {
        let reason: String
        var description: String { reason }
    }

    private init(root: URL, pageBytes: Int) {
        self.root = root
        self.pageBytes = pageBytes
        filler = root.appendingPathComponent("filler")
    }

    /// Mounts a tmpfs of `bytes` at a new folder under the temporary directory.
    static func mount(bytes: Int) -> Result<SmallFileSystem, Refusal> {
        if ProcessInfo.processInfo.environment["VOLSEG_TEST_NO_MOUNT"] == "1" {
            return .failure(Refusal(reason: "VOLSEG_TEST_NO_MOUNT=1 is set"))
        }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-tmpfs-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        } catch {
            return .failure(Refusal(reason: "cannot create the mount point: \(error)"))
        }
        let (status, output) = Self.command("/bin/mount", ["-t", "tmpfs", "-o", "size=\(bytes),mode=0755", "tmpfs", root.path])
        guard status == 0 else {
            rmdir(root.path)
            return .failure(Refusal(reason: "mount -t tmpfs exited \(status): " + output.trimmingCharacters(in: .whitespacesAndNewlines)))
        }
        var info = statvfs()
        guard statvfs(root.path, &info) == 0, Self.isTmpfs(root) else {
            _ = Self.command("/bin/umount", [root.path])
            rmdir(root.path)
            return .failure(Refusal(reason: "mount returned 0 but \(root.path) is not a tmpfs"))
        }
        let fs = SmallFileSystem(root: root, pageBytes: Int(info.f_frsize))
        FileManager.default.createFile(atPath: fs.filler.path, contents: nil)
        return .success(fs)
    }

    /// Bytes free for an unprivileged writer (tmpfs: whole pages).
    var freeBytes: Int {
        var info = statvfs()
        guard statvfs(root.path, &info) == 0 else { return -1 }
        return Int(info.f_bavail) * Int(info.f_frsize)
    }

    /// `bytes` rounded up to whole pages: what a file of that size takes on a tmpfs.
    func allocated(_ bytes: Int) -> Int { (bytes + pageBytes - 1) / pageBytes * pageBytes }

    /// Grows or shrinks the filler so that exactly `bytes` stay free.
    func leave(freeBytes bytes: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        precondition(bytes % pageBytes == 0, "a tmpfs frees whole pages: \(bytes) is not a multiple of \(pageBytes)")
        let descriptor = open(filler.path, O_RDWR)
        guard descriptor >= 0 else { throw Refusal(reason: "cannot open the filler: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var status = stat()
        fstat(descriptor, &status)
        let size = Int(status.st_size), change = freeBytes - bytes
        if change > 0 {
            let code = posix_fallocate(descriptor, off_t(size), off_t(change))
            guard code == 0 else { throw Refusal(reason: "cannot grow the filler by \(change) bytes: \(String(cString: strerror(code)))") }
        } else if change < 0 {
            guard size + change >= 0 else {
                throw Refusal(reason: "\(-change) more bytes should be free than the filler (\(size) bytes) holds")
            }
            ftruncate(descriptor, off_t(size + change))
        }
        XCTAssertEqual(freeBytes, bytes, "the filler leaves exactly the bytes asked for", file: file, line: line)
    }

    /// Gives all the filler's pages back.
    func emptyFiller() { truncate(filler.path, 0) }

    /// Unmounts and removes the mount point (tearDown).
    func unmount() {
        guard mounted else { return }
        let (status, output) = Self.command("/bin/umount", [root.path])
        if status == 0 {
            mounted = false
            rmdir(root.path)
        } else {
            XCTFail("umount \(root.path) exited \(status): \(output)")
        }
    }

    deinit { unmount() }

    private static func isTmpfs(_ url: URL) -> Bool {
        let mounts = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
        return mounts.split(separator: "\n").contains { line in
            let fields = line.split(separator: " ")
            return fields.count > 2 && fields[1] == url.path && fields[2] == "tmpfs"
        }
    }

    private static func command(_ path: String, _ arguments: [String]) -> (Int32, String) {
        guard FileManager.default.isExecutableFile(atPath: path) else { return (127, "\(path) not found") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return (127, "\(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
