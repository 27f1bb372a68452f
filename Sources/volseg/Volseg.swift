import ArgumentParser
import Foundation
import VolSegCore
import VolSegDistributed

@main
struct Volseg: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volseg",
        abstract: "3D medical image segmentation: NIfTI in, label maps out, trained on the CPU.",
        version: VolSegVersion.string,
        subcommands: [
            SegmentCommand.self, EvaluateCommand.self, TrainCommand.self, PlanCommand.self,
            AdaptCommand.self, ShiftCommand.self, InfoCommand.self, ViewCommand.self, ModelsCommand.self, ForwardCommand.self,
            SynthCommand.self, BenchCommand.self,
        ])

    /// A file-size limit (ulimit -f) kills a process with SIGXFSZ by default, before any error can
    /// be reported or a temporary file removed; ignored, the write fails with EFBIG and the error
    /// says "file size limit exceeded writing OUT". Standard output sent to a file is checked at
    /// exit (`StandardOutputCheck`).
    ///
    /// As one rank of an MPI job, a failing command prints its error with its rank and ends the
    /// job (`DistributedLaunch.abandon`): the other ranks would otherwise wait for it.
    static func main() {
        signal(SIGXFSZ, SIG_IGN)
        StandardOutputCheck.install()
        do {
            var command = try parseAsRoot(nil)
            try command.run()
            DistributedLaunch.finish()
        } catch {
            let code = exitCode(for: error)
            if code != .success, let rank = DistributedLaunch.rankLabel {
                FileHandle.standardError.write(Data("Error: \(rank): \(message(for: error))\n".utf8))
                DistributedLaunch.abandon(code: code.rawValue)
            }
            exit(withError: error)
        }
    }
}
