import Foundation
@testable import VolSegCore
@testable import VolSegIO
import VolSegTestSupport
import XCTest

/// `volseg segment` end to end with a random-weight U-Net checkpoint on the real liver CT: the
/// written mask's shape, geometry and label range (not its accuracy), the case-folder and
/// dataset modes, nnU-Net's spellings, and bad inputs that must fail naming the file.
final class SegmentCLITests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-segment-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    func shared(_ relative: String) throws -> URL {
        guard let url = TestPaths.sharedFile(relative) else { throw XCTSkip("../shared absent") }
        return url
    }

    /// A random-weight unet3d checkpoint in this test's folder (`RandomUNetCheckpoint`).
    func makeCheckpoint(channels: Int = 1, config overrides: [String: Any?] = [:], name: String = "model.h5") throws -> URL {
        try RandomUNetCheckpoint.write(channels: channels, config: overrides, to: folder.appendingPathComponent(name))
    }

    func assertMaskOnTheGrid(of input: URL, _ mask: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        let written = try NIfTIReader.read(mask), reference = try NIfTIReader.readHeader(input)
        XCTAssertEqual(written.header.dims, reference.dims, file: file, line: line)
        XCTAssertEqual(written.header.datatype, NIfTIDatatype.uint8, file: file, line: line)
        XCTAssertEqual(written.header.qformCode, reference.qformCode, file: file, line: line)
        XCTAssertEqual(written.header.sformCode, reference.sformCode, file: file, line: line)
        for i in 1...3 { XCTAssertEqual(written.header.pixdim[i], reference.pixdim[i], accuracy: 1e-6, file: file, line: line) }
        for r in 0..<4 { for c in 0..<4 {
            XCTAssertEqual(written.header.sform[r, c], reference.sform[r, c], accuracy: 1e-5, file: file, line: line)
            XCTAssertEqual(written.header.qform[r, c], reference.qform[r, c], accuracy: 1e-5, file: file, line: line)
        } }
        XCTAssertTrue(Set(written.voxels.toArray()).isSubset(of: [0, 1, 2]), file: file, line: line)
    }

    func testSegmentsTheLiverCTWithNnUNetSpellings() throws {
        let cli = try CLIRunner.make()
        let ct = try shared("data/liver117/ct.nii.gz")
        let model = try makeCheckpoint()
        let out = folder.appendingPathComponent("mask.nii.gz"), probabilities = folder.appendingPathComponent("p.nii.gz")
        let result = try cli.run(["segment", "-i", ct.path, "-o", out.path, "--model", model.path, "-step_size", "1",
                                  "--disable_tta", "--postprocess", "lits", "--probabilities", probabilities.path, "--threads", "2"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("wrote \(out.path) (8 windows"), result.stdout)
        try assertMaskOnTheGrid(of: ct, out)
        let p = try NIfTIReader.readHeader(probabilities)
        XCTAssertEqual(p.dims, [128, 128, 128, 3])
        XCTAssertEqual(p.datatype, NIfTIDatatype.float32)
    }

    func testCaseFolderAndDatasetFolderModes() throws {
        let cli = try CLIRunner.make()
        let ct = try shared("data/liver117/ct.nii.gz"), seg = try shared("data/liver117/seg.nii.gz")
        let model = try makeCheckpoint()
        let fm = FileManager.default
        // A case folder: the image beside its label map; the label map is not an input.
        let caseFolder = folder.appendingPathComponent("liver117")
        try fm.createDirectory(at: caseFolder, withIntermediateDirectories: true)
        try fm.createSymbolicLink(at: caseFolder.appendingPathComponent("ct.nii.gz"), withDestinationURL: ct)
        try fm.createSymbolicLink(at: caseFolder.appendingPathComponent("seg.nii.gz"), withDestinationURL: seg)
        let caseOut = folder.appendingPathComponent("case-predictions")
        var result = try cli.run(["segment", "-i", caseFolder.path, "-o", caseOut.path, "-m", model.path, "--step", "1"])
        XCTAssertEqual(result.status, 0, result.stderr)
        try assertMaskOnTheGrid(of: ct, caseOut.appendingPathComponent("liver117.nii.gz"))

        // A LiTS layout: outputs named by case id; --continue skips what exists.
        let dataset = folder.appendingPathComponent("lits")
        try fm.createDirectory(at: dataset, withIntermediateDirectories: true)
        try fm.createSymbolicLink(at: dataset.appendingPathComponent("volume-0.nii.gz"), withDestinationURL: ct)
        try fm.createSymbolicLink(at: dataset.appendingPathComponent("segmentation-0.nii.gz"), withDestinationURL: seg)
        let predictions = folder.appendingPathComponent("predictions")
        result = try cli.run(["segment", "-i", dataset.path, "-o", predictions.path, "--model", model.path, "--step", "1"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("lits dataset: 1 written, 0 skipped, 0 failed"), result.stdout)
        try assertMaskOnTheGrid(of: ct, predictions.appendingPathComponent("volume-0.nii.gz"))
        result = try cli.run(["segment", "-i", dataset.path, "-o", predictions.path, "--model", model.path, "--continue"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("0 written, 1 skipped"), result.stdout)

        // Batch evaluation in one command gives the numbers of segment + evaluate.
        let scored = folder.appendingPathComponent("scored"), oneCommand = folder.appendingPathComponent("one-command")
        result = try cli.run(["evaluate", "--pred", predictions.path, "--ref", dataset.path, "--regions", "lits",
                              "--out", scored.path, "--no-pictures"])
        XCTAssertEqual(result.status, 0, result.stderr)
        result = try cli.run(["evaluate", "--model", model.path, "--data", dataset.path, "--regions", "lits",
                              "--out", oneCommand.path, "--no-pictures", "--step", "1"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let twoSteps = try String(contentsOf: scored.appendingPathComponent("metrics.csv"), encoding: .utf8)
        let oneStep = try String(contentsOf: oneCommand.appendingPathComponent("metrics.csv"), encoding: .utf8)
        XCTAssertEqual(oneStep, twoSteps)
        XCTAssertTrue(fm.fileExists(atPath: oneCommand.appendingPathComponent("predictions/volume-0.nii.gz").path))
    }

    func testBadInputsFailNamingTheFileAndLeaveNoOutput() throws {
        let cli = try CLIRunner.make()
        let ct = try shared("data/liver117/ct.nii.gz"), brain = try shared("data/radiomics_brain1/image.nii.gz")
        let fourD = try shared("data/nifti_corpus/functional.nii")
        let model = try makeCheckpoint(), twoChannels = try makeCheckpoint(channels: 2, name: "two.h5")
        let noPatch = try makeCheckpoint(config: ["patch": nil], name: "no-patch.h5")
        let notes = folder.appendingPathComponent("notes.h5")
        try Data("just text".utf8).write(to: notes)
        let out = folder.appendingPathComponent("out.nii.gz")
        let missing = folder.appendingPathComponent("missing.nii.gz").path
        let cases: [(arguments: [String], mentions: [String])] = [
            (["-i", missing, "--model", model.path], [missing, "no such file"]),
            (["-i", ct.path, ct.path, "--model", model.path], [ct.path, "the model takes 1 channel"]),
            (["-i", ct.path, brain.path, "--model", twoChannels.path], [brain.path, ct.path, "differs from"]),
            (["-i", fourD.path, "--model", model.path], [fourD.path, "volumes"]),
            (["-i", ct.path, "--model", notes.path], [notes.path, "not a VolSeg checkpoint"]),
            (["-i", ct.path, "--model", noPatch.path], [noPatch.path, "\"patch\""]),
            (["-i", ct.path, "--model", folder.appendingPathComponent("none.h5").path], ["none.h5", "no such checkpoint file"]),
            (["-i", ct.path, "--model", model.path, "--tta", "--disable_tta"], ["contradict"]),
        ]
        for (arguments, mentions) in cases {
            let result = try cli.run(["segment"] + arguments + ["-o", out.path])
            XCTAssertNotEqual(result.status, 0, "\(arguments)")
            for phrase in mentions { XCTAssertTrue(result.stderr.contains(phrase), "\(arguments): \(result.stderr)") }
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "\(arguments) left an output")
        }
        let nowhere = folder.appendingPathComponent("no-such-folder/out.nii.gz").path
        let result = try cli.run(["segment", "-i", ct.path, "-o", nowhere, "--model", model.path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains(nowhere) && result.stderr.contains("missing or not writable"), result.stderr)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".nii.gz") || $0.hasPrefix(".volseg") }
        XCTAssertEqual(leftovers, [], "no partial or temporary files")
    }
}
