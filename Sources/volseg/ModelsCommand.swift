import ArgumentParser
import VolSegPipeline

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "models", abstract: "List the models and their parameter counts.")

    func run() throws { throw NotImplemented(command: "models") }
}
