import ArgumentParser
import Foundation
import VolSegIO

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Print a NIfTI header, a DICOM series or a dataset summary.",
        discussion: """
            For a file: the header, the affine VolSeg uses (as nibabel chooses it) and statistics of \
            the finite voxel values. For a DICOM series folder: its series and the volume VolSeg reads \
            (slices ordered along the normal, rescaled, RAS affine). For a dataset folder: the layout, \
            its cases and every problem found; problems make the exit status non-zero.
            """)

    @Argument(help: "A NIfTI file (.nii, .nii.gz, .hdr), a DICOM series folder or a dataset folder.")
    var path: String

    @Option(name: .long, help: "A DICOM folder holding several series: the SeriesInstanceUID of the one to read.")
    var series: String?

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        var isDirectory: ObjCBool = false
        let url = URL(fileURLWithPath: path)
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            if DICOMSeriesReader.isSeriesFolder(url) {
                let info = try DICOMSeriesInfo.read(url, seriesUID: series)
                print(json ? info.json : info.text)
                return
            }
            if series != nil { throw ValidationError("--series \(series!): \(path) holds no DICOM files") }
            let report = try DatasetReport.inspect(url)
            print(json ? report.json : report.text)
            if !report.problems.isEmpty { throw ExitCode(2) }
            return
        }
        if series != nil { throw ValidationError("--series chooses a series of a DICOM folder; \(path) is a file") }
        let info = try NIfTIInfo.read(url)
        print(json ? info.json : info.text)
        if json {
            for warning in info.warnings { FileHandle.standardError.write(Data("\(warning)\n".utf8)) }
        }
    }
}
