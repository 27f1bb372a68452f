import Foundation
import VolSegIO

/// Standard output redirected to a file (`volseg plan --json > plan.json`) is an output like any
/// other, but print() buffers it and a failed write is dropped silently: on a full disk volseg
/// exited 0 and left the file empty. So at exit the buffer is flushed and checked; on a failure
/// the file is cut back to the length it had when volseg started (empty after `>`), the error
/// names the file and the reason, and the exit status is 1.
enum StandardOutputCheck {
    /// The file's length at start, when standard output is a regular file; -1 otherwise.
    nonisolated(unsafe) private static var startLength: off_t = -1

    static func install() {
        var status = stat()
        guard fstat(STDOUT_FILENO, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { return }
        // Appending (`>>`) writes at the end whatever the offset says.
        let appending = fcntl(STDOUT_FILENO, F_GETFL) & O_APPEND != 0
        startLength = appending ? status.st_size : lseek(STDOUT_FILENO, 0, SEEK_CUR)
        atexit { StandardOutputCheck.finish() }
    }

    /// Runs before the C library flushes its streams at exit, so the flush that fails is this one
    /// and errno says why.
    private static func finish() {
        errno = 0
        let flushed = fflush(stdout) == 0
        let code = errno
        guard !flushed || ferror(stdout) != 0 else { return }
        let error = FileWriteError.systemError(path: path, code: code != 0 ? code : EIO, neededBytes: nil)
        let line = Array("Error: \(error) (standard output)\n".utf8)
        _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        if startLength >= 0 { ftruncate(STDOUT_FILENO, startLength) }
        _exit(1)
    }

    /// The file standard output goes to, as the kernel names it.
    private static var path: String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/fd/\(STDOUT_FILENO)", &buffer, buffer.count - 1)
        return n > 0 ? String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self) : "standard output"
    }
}
