import Foundation
@testable import VolSegIO
import VolSegTestSupport
import XCTest

/// Checks made before any work: an output that is an input (or a hard link of one) or an input
/// folder is refused and the input left as it was; a run folder in use is refused naming the
/// holder's pid; a folder holding a run needs --resume or --overwrite; a refused run leaves no
/// folder behind; adapt refuses an output folder that does not exist before reading anything.
final class OutputSafetyCLITests: XCTestCase {
    static let folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-output-safety-\(UUID().uuidString)")
    static let tiny = TestPaths.repositoryRoot.appendingPathComponent("pipelines/brats-tiny.yaml").path
    static let model = TestPaths.repositoryRoot.appendingPathComponent("data/models/brats-synthetic-bn.h5").path
    var work: URL!

    override class func tearDown() { try? FileManager.default.removeItem(at: folder) }

    override func setUpWithError() throws {
        work = Self.folder.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    func data(_ cli: CLIRunner) throws -> URL {
        try cli.syntheticBraTS(at: Self.folder.appendingPathComponent("synth"), cases: 3, seed: 2)
    }

    func testSegmentRefusesToOverwriteAnInputItsHardLinkOrTheDatasetFolder() throws {
        let cli = try CLIRunner.make()
        let dataset = try data(cli), id = "BraTS2021_00000"
        let channels = ["t1", "t1ce", "t2", "flair"].map { dataset.appendingPathComponent("\(id)/\(id)_\($0).nii.gz").path }
        let before = try Data(contentsOf: URL(fileURLWithPath: channels[2]))
        var result = try cli.run(["segment", "-i"] + channels + ["-o", channels[2], "-m", Self.model, "--no-progress"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("this output is the input \(channels[2])"), result.stderr)

        let link = work.appendingPathComponent("link.nii.gz")
        try FileManager.default.linkItem(atPath: channels[2], toPath: link.path)
        result = try cli.run(["segment", "-i"] + channels + ["-o", link.path, "-m", Self.model, "--no-progress"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("\(link.path): this output is the input \(channels[2])"), result.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: channels[2])), before, "the input was changed")

        result = try cli.run(["segment", "-i", dataset.path, "-o", dataset.path, "-m", Self.model, "--no-progress"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("this output folder is the input folder"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dataset.appendingPathComponent("\(id).nii.gz").path))
    }

    func testTrainRefusesAFolderInUseAndAFinishedRunWithoutResumeOrOverwrite() throws {
        let cli = try CLIRunner.make()
        let data = try data(cli).path, run = work.appendingPathComponent("run")
        let arguments = ["train", "--config", Self.tiny, "--data", data, "--out", run.path, "--epochs", "1",
                         "--iterations-per-epoch", "1", "--quiet"]
        // Another run (this test process) holds the folder's lock.
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        var lock: FolderLock? = try FolderLock(run)
        var result = try cli.run(arguments)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("\(run.path) is in use by another volseg run (pid \(getpid()))"), result.stderr)
        lock = nil
        XCTAssertNil(lock)

        result = try cli.run(arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        let checkpoint = run.appendingPathComponent("checkpoint_last.h5")
        let first = try Data(contentsOf: checkpoint)
        result = try cli.run(arguments + ["--seed", "9"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("\(run.path) holds a run (checkpoint_last.h5): continue it with --resume, or replace it with --overwrite"),
                      result.stderr)
        XCTAssertEqual(try Data(contentsOf: checkpoint), first, "the finished run was changed")
        result = try cli.run(arguments + ["--seed", "9", "--overwrite"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertNotEqual(try Data(contentsOf: checkpoint), first)
        XCTAssertNotEqual(try cli.run(arguments + ["--resume", "--overwrite"]).status, 0)
    }

    func testRefusedTrainLeavesNoRunFolderAndTheDatasetIsNoRunFolder() throws {
        let cli = try CLIRunner.make()
        let run = work.appendingPathComponent("new/deeper/run")
        var result = try cli.run(["train", "--config", Self.tiny, "--data", work.appendingPathComponent("no-data").path,
                                  "--out", run.path, "--epochs", "1", "--quiet"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("no-data"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: work.appendingPathComponent("new").path), "a refused run left its folder")

        let data = try data(cli)
        result = try cli.run(["train", "--config", Self.tiny, "--data", data.path, "--out", data.path, "--epochs", "1", "--quiet"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("this output folder is the input folder"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: data.appendingPathComponent(FolderLock.fileName).path))
    }

    func testAdaptRefusesAMissingOutputFolderAndTheModelBeforeAnyWork() throws {
        let cli = try CLIRunner.make()
        let data = try data(cli).path
        let missing = work.appendingPathComponent("missing/adapted.h5")
        var result = try cli.run(["adapt", "--model", Self.model, "--data", data, "--out", missing.path, "--method", "adabn"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("\(missing.path): cannot write here: folder"), result.stderr)
        XCTAssertFalse(result.stdout.contains("target:"), "adapt read the target before refusing: \(result.stdout)")

        let copy = work.appendingPathComponent("model.h5")
        try FileManager.default.copyItem(atPath: Self.model, toPath: copy.path)
        let before = try Data(contentsOf: copy)
        result = try cli.run(["adapt", "--model", copy.path, "--data", data, "--out", copy.path, "--method", "adabn"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("this output is the input \(copy.path)"), result.stderr)
        XCTAssertEqual(try Data(contentsOf: copy), before)
    }
}
