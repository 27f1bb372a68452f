import Foundation

/// A whole file mapped read-only into memory. Checkpoints are mapped rather than read so that a
/// 4 GiB STU-Net-H file costs page cache, not 4 GiB of heap plus a copy per tensor: the kernel
/// pages in only what is touched and can drop it again. The mapping lives as long as any tensor
/// that refers to it. (A file truncated by another process while mapped raises SIGBUS on access;
/// checkpoints are not written in place, so VolSeg accepts that risk instead of copying.)
final class MappedFile: @unchecked Sendable {
    let path: String
    /// nil for an empty file, which cannot be mapped.
    let base: UnsafeRawPointer?
    let count: Int

    init(path: String) throws {
        self.path = path
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            if code == ENOENT { throw TorchCheckpointError.missingFile(path: path) }
            throw TorchCheckpointError.unreadable(path: path, reason: String(cString: strerror(code)))
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            throw TorchCheckpointError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw TorchCheckpointError.unreadable(path: path, reason: "not a regular file")
        }
        count = Int(info.st_size)
        guard count > 0 else { base = nil; return }
        guard let mapped = mmap(nil, count, PROT_READ, MAP_PRIVATE, descriptor, 0), mapped != MAP_FAILED else {
            throw TorchCheckpointError.unreadable(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(mapped)
    }

    /// The bytes in `range`, which the caller has checked lies inside the file.
    func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "range \(range) outside \(count) bytes")
        guard let base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
    }
}
