import ArgumentParser
import VolSegCore

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
}
