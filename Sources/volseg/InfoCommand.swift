import ArgumentParser
import VolSegPipeline

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Print a NIfTI header or a dataset summary.")

    func run() throws { throw NotImplemented(command: "info") }
}
