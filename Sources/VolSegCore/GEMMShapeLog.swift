import Foundation

/// Which implementation each GEMM shape went to inside `record`: `volseg bench kernels` names them
/// per kernel, so a figure can be traced to OpenBLAS or to one of our kernels. Every `BLAS.sgemm`
/// call takes the lock once; next to a GEMM (microseconds at least) that is nothing.
public enum GEMMShapeLog {
    public struct Entry: Hashable, Sendable {
        public var m: Int, n: Int, k: Int
        public var transposeA: Bool, transposeB: Bool
        public var kernel: GEMMKernel
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var recording = 0
    nonisolated(unsafe) private static var calls: [Entry: Int] = [:]

    /// The GEMMs `body` ran, each distinct shape with its call count, most multiply-adds first.
    public static func record(_ body: () throws -> Void) rethrows -> [(entry: Entry, calls: Int)] {
        lock.lock()
        recording += 1
        let before = calls
        lock.unlock()
        defer { lock.lock(); recording -= 1; if recording == 0 { calls = [:] }; lock.unlock() }
        try body()
        lock.lock()
        let after = calls
        lock.unlock()
        return after.compactMap { entry, count in
            let new = count - (before[entry] ?? 0)
            return new > 0 ? (entry, new) : nil
        }.sorted { $0.entry.m * $0.entry.n * $0.entry.k * $0.calls > $1.entry.m * $1.entry.n * $1.entry.k * $1.calls }
    }

    static func note(m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool, kernel: GEMMKernel) {
        lock.lock()
        if recording > 0 { calls[Entry(m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, kernel: kernel), default: 0] += 1 }
        lock.unlock()
    }
}
