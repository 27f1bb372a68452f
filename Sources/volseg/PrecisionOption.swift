import ArgumentParser
import VolSegCore

/// `--precision` of the commands that run a network for inference (`segment`, `evaluate --model`).
struct PrecisionOption: ParsableArguments {
    @Option(name: .long,
            help: "The network's GEMM arithmetic: float32 (default), or bf16: bfloat16 products summed in Float32, on CPUs with AVX512_BF16 (refused elsewhere, with the reason).")
    var precision: ComputePrecision = .float32

    /// Runs `body` under the chosen precision; refuses before `body` starts (nothing read or written)
    /// where this CPU cannot run it.
    func run<T>(_ body: () throws -> T) throws -> T {
        try ComputePrecision.run(precision, body)
    }
}
