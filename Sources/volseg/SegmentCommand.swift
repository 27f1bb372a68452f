import ArgumentParser
import VolSegPipeline

struct SegmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "segment", abstract: "Segment a volume or every case of a dataset.")

    func run() throws { throw NotImplemented(command: "segment") }
}
