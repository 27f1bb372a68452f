import ArgumentParser
import Foundation
import VolSegBench
import VolSegCore
import VolSegNNUNet

struct BenchCommand: ParsableCommand {
    /// The one rule for every benchmark's --repeats.
    static func checkRepeats(_ repeats: Int) throws {
        if repeats < 1 { throw ValidationError("--repeats must be at least 1, got \(repeats)") }
    }

    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks: the machine's FMA peak, kernels and the U-Net.",
        subcommands: [Peak.self, Kernels.self, UNet.self, NNUNet.self])

    /// `volseg bench nnunet -m MODEL_DIR`: the network of an nnU-Net v2 model folder, one window
    /// forward (benchmarks/compare_nnunet_network.sh times PyTorch on the same folder).
    struct NNUNet: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "nnunet",
            abstract: "Time the forward of an nnU-Net v2 model folder's network on one window of its patch.")

        @Option(name: [.customShort("m"), .long], help: "The nnU-Net v2 trained-model folder.")
        var model: String

        @Option(name: .long, help: "Timed runs after one warm-up run; the median is reported.")
        var repeats = 3

        @OptionGroup var common: CommonOptions

        func validate() throws {
            try BenchCommand.checkRepeats(repeats)
        }

        func run() throws {
            common.apply()
            let folder = try NNUNetModelFolder.open(URL(fileURLWithPath: model))
            let patch = folder.configuration.patchSize
            let shape = [1, folder.labels.inputChannelCount] + (patch.count == 2 ? [1] + patch : patch)
            let result = UNetBenchmark.forward(of: folder.network, input: shape, repeats: repeats) { line in
                if !common.quiet { FileHandle.standardError.write(Data((line + "\n").utf8)) }
            }
            let fraction = result.peak.fraction(flops: result.flops, milliseconds: result.milliseconds)
            print("{\"threads\":\(Parallel.threadCount),\"input\":\(shape),\"fma_peak\":\(result.peak.json),"
                  + "\"forward_gflop\":\(String(format: "%.1f", result.flops / 1e9)),\"forward_ms\":\(String(format: "%.1f", result.milliseconds)),"
                  + "\"forward_fraction_of_peak\":\(String(format: "%.3f", fraction))}")
        }
    }

    /// `volseg bench peak`: the FMA peak of each vector width, one thread and all threads.
    struct Peak: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "peak",
            abstract: "Measure the machine's FMA peak (AVX-512 and AVX2 where the CPU has them, one thread and all threads).")

        @OptionGroup var common: CommonOptions

        @Flag(name: .long, help: "Print one JSON object instead of a table.")
        var json = false

        @Option(name: .long, help: "Timed runs per figure after one warm-up run; the median is reported.")
        var repeats = 5

        func validate() throws {
            try BenchCommand.checkRepeats(repeats)
        }

        func run() throws {
            common.apply()
            let report = FMAPeak.measure(repeats: repeats) { line in
                if !common.quiet && !json { FileHandle.standardError.write(Data((line + "\n").utf8)) }
            }
            print(json ? report.json : report.table)
        }
    }

    /// `volseg bench kernels`: GFLOP/s of the convolution kernels next to the machine's sgemm.
    struct Kernels: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "kernels",
            abstract: "Time sgemm 2048^3, conv3d (forward, forward+backward), depthwise conv3d, InstanceNorm+LeakyReLU and resampling.")

        @OptionGroup var common: CommonOptions

        @Flag(name: .long, help: "Print one JSON object instead of a table.")
        var json = false

        @Option(name: .long, help: "Timed runs per kernel after one warm-up run; the median is reported.")
        var repeats = 5

        func validate() throws {
            try BenchCommand.checkRepeats(repeats)
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

    /// `volseg bench unet`: the bench-unet network, for the comparison with PyTorch
    /// (benchmarks/compare_unet.sh runs both and prints the ratios).
    struct UNet: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "unet",
            abstract: "Time bench-unet: forward on 1x4xP^3, one training step, forward on 1x4x160x240x240.")

        @OptionGroup var common: CommonOptions

        @Option(name: .long, help: "Patch edge P of the forward and training-step input.")
        var patch = 128

        @Option(name: .long, help: "Run one phase only, so that the process's peak RSS belongs to it.")
        var only: UNetBenchmarkPhase?

        @Option(name: .long, help: "Timed runs per phase after one warm-up run; the median is reported.")
        var repeats = 3

        @Flag(name: .long, help: "Print one JSON object.")
        var json = false

        @Flag(name: .long, help: "With the forward phase: one more forward, its time per kind of op (forward_profile).")
        var profile = false

        @Option(name: .long, help: "The forward phases' GEMM arithmetic: float32, or bf16 (AVX512_BF16; with --only forward or --only volume).")
        var precision: ComputePrecision = .float32

        func validate() throws {
            if patch < 8 || patch % 8 != 0 { throw ValidationError("--patch must be a positive multiple of 8, got \(patch)") }
            if precision != .float32 && (only == nil || only == .train) {
                throw ValidationError("--precision \(precision.rawValue) times inference: give --only forward or --only volume (a training step is Float32)")
            }
            try BenchCommand.checkRepeats(repeats)
        }

        func run() throws {
            common.apply()
            let phases = only.map { [$0] } ?? UNetBenchmarkPhase.allCases
            let report = try UNetBenchmark.run(phases: phases, patch: patch, repeats: repeats, profile: profile,
                                               precision: precision) { line in
                if !common.quiet && !json { FileHandle.standardError.write(Data((line + "\n").utf8)) }
            }
            print(report.json)
        }
    }
}
