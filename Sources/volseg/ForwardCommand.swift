import ArgumentParser
import VolSegPipeline

struct ForwardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "forward", abstract: "Run a model on a tensor stored in HDF5.")

    func run() throws { throw NotImplemented(command: "forward") }
}
