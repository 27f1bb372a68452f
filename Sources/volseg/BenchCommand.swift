import ArgumentParser
import VolSegPipeline

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Benchmarks: kernels and the U-Net.")

    func run() throws { throw NotImplemented(command: "bench") }
}
