import ArgumentParser
import VolSegPipeline

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "plan", abstract: "Plan patch and batch size under a memory budget.")

    func run() throws { throw NotImplemented(command: "plan") }
}
