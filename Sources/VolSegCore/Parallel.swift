import CBLAS
import Dispatch
import Foundation

/// How VolSeg spreads work over the cores: OpenBLAS threads inside GEMM, and
/// `DispatchQueue.concurrentPerform` for every other kernel. One setting drives both.
public enum Parallel {
    nonisolated(unsafe) private static var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    /// The number of threads kernels use (the CLI's `--threads`).
    public static var threadCount: Int { threads }

    public static func setThreadCount(_ count: Int) {
        threads = max(1, count)
        openblas_set_num_threads(Int32(threads))
    }

    /// Calls `body(i)` for every i in 0..<count, spread over the threads. Use it for coarse items
    /// (channels, slabs, rows); for fine-grained ranges use `forEachChunk`.
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        if count <= 0 { return }
        if threads == 1 || count == 1 {
            for i in 0..<count { body(i) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: count, execute: body)
    }

    /// Splits 0..<total into contiguous ranges of at least `minimumChunk` items, a few per thread,
    /// and calls `body(range)` for each, in parallel.
    public static func forEachChunk(_ total: Int, minimumChunk: Int = 4096, _ body: (Range<Int>) -> Void) {
        if total <= 0 { return }
        let maxChunks = max(1, total / max(1, minimumChunk))
        let chunks = min(maxChunks, threads * 4)
        if chunks <= 1 || threads == 1 {
            body(0..<total)
            return
        }
        let size = (total + chunks - 1) / chunks
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let start = c * size
            let end = min(total, start + size)
            if start < end { body(start..<end) }
        }
    }
}
