import ArgumentParser
import Foundation
import VolSegPipeline

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks: kernels and the U-Net.",
        subcommands: [Kernels.self])

    /// `volseg bench kernels`: GFLOP/s of the convolution kernels next to the machine's sgemm.
    struct Kernels: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "kernels",
            abstract: "Time sgemm 2048^3, conv3d (forward, forward+backward), depthwise conv3d and InstanceNorm+LeakyReLU.")

        @OptionGroup var common: CommonOptions

        @Flag(name: .long, help: "Print one JSON object instead of a table.")
        var json = false

        @Option(name: .long, help: "Timed runs per kernel after one warm-up run; the median is reported.")
        var repeats = 5

        func validate() throws {
            if repeats < 1 { throw ValidationError("--repeats must be at least 1, got \(repeats)") }
        }

        func run() throws {
            common.apply()
            let quiet = common.quiet || json
            let report = KernelBenchmark.run(repeats: repeats) { line in
                if !quiet { FileHandle.standardError.write(Data((line + "\n").utf8)) }
            }
            print(json ? report.json : report.table)
        }
    }
}
