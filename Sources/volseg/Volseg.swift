import ArgumentParser
import VolSegCore

@main
struct Volseg: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volseg",
        abstract: "3D medical image segmentation: NIfTI in, label maps out, trained on the CPU.",
        version: VolSegVersion.string,
        subcommands: [
            SegmentCommand.self, EvaluateCommand.self, TrainCommand.self, PlanCommand.self,
            AdaptCommand.self, ShiftCommand.self, InfoCommand.self, ModelsCommand.self, ForwardCommand.self,
            SynthCommand.self, BenchCommand.self,
        ])
}
