import ArgumentParser
import VolSegPipeline

struct AdaptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "adapt", abstract: "Adapt a trained model to a new scanner (AdaBN).")

    func run() throws { throw NotImplemented(command: "adapt") }
}
