import CBLAS
import Foundation

/// Work items (slabs) spread over worker threads, each with its own scratch and its own
/// single-threaded GEMMs.
///
/// Measured on the benchmark's conv3d 32->32 k3 on 64^3 (2 cores): one worker per core, each
/// filling its own panel and running its own GEMM, took the forward from ~100 ms to ~85 ms
/// against slabs done one after another with a two-thread OpenBLAS GEMM. The GEMMs are small
/// (M = Cout), so OpenBLAS's thread hand-off per call is costly, and one worker's panel fill
/// overlaps the other's GEMM.
enum ConvWorkers {
    /// How many workers `items` work items get: one per thread, at most one per item.
    static func count(items: Int) -> Int {
        ConvTuning.workerGEMM ? max(1, min(Parallel.threadCount, items)) : 1
    }

    /// Calls `body(item, worker, parallel)` for every item. With one worker the items run in order
    /// on this thread, and `parallel` tells the body to spread its own loops (and OpenBLAS keeps
    /// its threads). With more, worker w takes items w, w + workers, ... (a fixed assignment, so
    /// per-worker gradient sums add in the same order every run and training is bit-reproducible,
    /// which exact resume needs; dynamic hand-out changed the last bit between runs), `parallel`
    /// is false, and OpenBLAS runs on one thread inside each worker (never a multi-threaded GEMM
    /// inside a concurrentPerform).
    static func run(items: Int, workers: Int, _ body: (_ item: Int, _ worker: Int, _ parallel: Bool) -> Void) {
        if workers <= 1 {
            for item in 0..<items { body(item, 0, true) }
            return
        }
        SingleThreadedBLAS.run {
            Parallel.forEach(workers) { worker in
                for item in stride(from: worker, to: items, by: workers) { body(item, worker, false) }
            }
        }
    }
}

/// Runs `body` with OpenBLAS on one thread, restoring its thread count after: a GEMM called from
/// a worker then runs on that worker alone instead of waking OpenBLAS's threads, which would
/// compete with the workers for the same cores.
enum SingleThreadedBLAS {
    static func run(_ body: () -> Void) {
        let saved = openblas_get_num_threads()
        if saved != 1 { openblas_set_num_threads(1) }
        body()
        if saved != 1 { openblas_set_num_threads(saved) }
    }
}
