import ArgumentParser
import VolSegCore
import VolSegDistributed

/// Options shared by every subcommand that does heavy work.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "Threads for GEMM and the other kernels (default: all cores).")
    var threads: Int?

    @Option(name: .long, help: "Random seed.")
    var seed: UInt64 = 0

    @Flag(name: .long, help: "Print only results and errors.")
    var quiet = false

    @Flag(name: .customLong("no-progress"), help: "Plain log lines instead of a live progress line.")
    var noProgress = false

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    /// Applies the thread setting to OpenBLAS and the kernels.
    func apply() {
        if let threads { Parallel.setThreadCount(threads) }
    }

    /// `apply()`, and without --threads a rank of an MPI job takes its share of the machine's cores
    /// (`DistributedLaunch.defaultThreadCount`) instead of all of them.
    func apply(ranks: any ProcessGroup) {
        apply()
        if threads == nil && ranks.size > 1 { Parallel.setThreadCount(DistributedLaunch.defaultThreadCount()) }
    }
}
