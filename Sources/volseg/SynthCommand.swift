import ArgumentParser
import VolSegPipeline

struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "synth", abstract: "Write a synthetic dataset for tests and demos.")

    func run() throws { throw NotImplemented(command: "synth") }
}
