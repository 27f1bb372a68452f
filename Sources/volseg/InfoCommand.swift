import ArgumentParser
import Foundation
import VolSegIO

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Print a NIfTI header or a dataset summary.",
        discussion: """
            For a file: the header, the affine VolSeg uses (as nibabel chooses it) and statistics of \
            the finite voxel values. For a folder: the dataset layout, its cases and every problem \
            found; problems make the exit status non-zero.
            """)

    @Argument(help: "A NIfTI file (.nii, .nii.gz, .hdr) or a dataset folder.")
    var path: String

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        var isDirectory: ObjCBool = false
        let url = URL(fileURLWithPath: path)
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            let report = try DatasetReport.inspect(url)
            print(json ? report.json : report.text)
            if !report.problems.isEmpty { throw ExitCode(2) }
            return
        }
        let info = try NIfTIInfo.read(url)
        print(json ? info.json : info.text)
        if json {
            for warning in info.warnings { FileHandle.standardError.write(Data("\(warning)\n".utf8)) }
        }
    }
}
