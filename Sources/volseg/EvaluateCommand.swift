import ArgumentParser
import VolSegPipeline

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "evaluate", abstract: "Score predictions against reference label maps.")

    func run() throws { throw NotImplemented(command: "evaluate") }
}
