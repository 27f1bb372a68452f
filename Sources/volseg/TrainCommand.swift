import ArgumentParser
import VolSegPipeline

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "Train a model from a pipeline configuration.")

    func run() throws { throw NotImplemented(command: "train") }
}
