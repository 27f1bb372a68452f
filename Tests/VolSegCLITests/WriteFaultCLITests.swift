import Foundation
import VolSegTestSupport
import XCTest

/// Outputs cut short by a file-size limit (`ulimit -f`, which fails writes with EFBIG as a full
/// disk fails them with ENOSPC): segment (.nii, .nii.gz, --probabilities, a dataset), train (the
/// checkpoints) and adapt must exit non-zero without crashing, name the final path and the reason,
/// and leave neither a file under the final name nor a temporary file; `--continue` must segment
/// again an output that is not whole.
final class WriteFaultCLITests: XCTestCase {
    static let folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-write-faults-\(UUID().uuidString)")
    static let tiny = TestPaths.repositoryRoot.appendingPathComponent("pipelines/brats-tiny.yaml").path
    /// The committed BatchNorm BraTS model (138 KB), which adapt accepts and segment runs.
    static let model = TestPaths.repositoryRoot.appendingPathComponent("data/models/brats-synthetic-bn.h5").path
    var work: URL!

    override class func tearDown() { try? FileManager.default.removeItem(at: folder) }

    override func setUpWithError() throws {
        work = Self.folder.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    /// One synthetic BraTS case (32^3), shared by the tests.
    func data(_ cli: CLIRunner) throws -> URL {
        try cli.syntheticBraTS(at: Self.folder.appendingPathComponent("synth"), cases: 2, seed: 4)
    }

    func temporaries(in folder: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasPrefix(".") && $0 != ".volseg.lock" }
    }

    func assertRefusedWrite(_ result: CLIRunner.Result, _ final: URL, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(result.status, 0, result.stdout, file: file, line: line)
        XCTAssertNotEqual(result.status, 139, "crashed: \(result.stderr)", file: file, line: line)
        XCTAssertTrue(result.stderr.contains("file size limit exceeded writing \(final.path)"), result.stderr, file: file, line: line)
        XCTAssertFalse(result.stdout.contains("wrote \(final.path)"), result.stdout, file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: final.path), "\(final.lastPathComponent) exists", file: file, line: line)
        XCTAssertEqual(temporaries(in: final.deletingLastPathComponent()), [], "temporary files left", file: file, line: line)
    }

    func testSegmentCutShortLeavesNoLabelMapNorProbabilities() throws {
        let cli = try CLIRunner.make()
        let input = try data(cli).appendingPathComponent("BraTS2021_00000")
        // The .nii label map is 33 KB: 16 blocks are 8 or 16 KB.
        let nii = work.appendingPathComponent("v0.nii")
        assertRefusedWrite(try cli.run(fileSizeLimitBlocks: 16, ["segment", "-i", input.path, "-o", nii.path, "-m", Self.model, "--no-progress"]), nii)
        // Compressed the label map is a few KB: 1 block is 512 bytes or 1 KB.
        let gz = work.appendingPathComponent("v0.nii.gz")
        assertRefusedWrite(try cli.run(fileSizeLimitBlocks: 1, ["segment", "-i", input.path, "-o", gz.path, "-m", Self.model, "--no-progress"]), gz)
        // The probabilities (three float channels, ~200 KB compressed) cannot be written; the label map could.
        let probabilities = work.appendingPathComponent("p.nii.gz")
        let result = try cli.run(fileSizeLimitBlocks: 40, ["segment", "-i", input.path, "-o", gz.path, "-m", Self.model,
                                                            "--probabilities", probabilities.path, "--no-progress"])
        assertRefusedWrite(result, probabilities)
        XCTAssertFalse(FileManager.default.fileExists(atPath: gz.path), "label map written although the probabilities failed")
    }

    func testDatasetCutShortFailsAndContinueRedoesAFileThatIsNotWhole() throws {
        let cli = try CLIRunner.make()
        let dataset = try data(cli), out = work.appendingPathComponent("predictions")
        var result = try cli.run(fileSizeLimitBlocks: 1, ["segment", "-i", dataset.path, "-o", out.path, "-m", Self.model, "--no-progress"])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stdout.contains("0 written, 0 skipped, 2 failed"), result.stdout)
        assertRefusedWrite(result, out.appendingPathComponent("BraTS2021_00000.nii.gz"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path), [])

        // A label map cut in half under the final name (an older writer on a full disk): --continue
        // must segment it again, and keep the whole one.
        result = try cli.run(["segment", "-i", dataset.path, "-o", out.path, "-m", Self.model, "--no-progress"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let cut = out.appendingPathComponent("BraTS2021_00001.nii.gz")
        let whole = try Data(contentsOf: cut)
        try whole.prefix(whole.count / 2).write(to: cut)
        result = try cli.run(["segment", "-i", dataset.path, "-o", out.path, "-m", Self.model, "--no-progress", "--continue"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("1 written, 1 skipped, 0 failed"), result.stdout)
        XCTAssertTrue(result.stderr.contains("BraTS2021_00001.nii.gz exists but is not whole"), result.stderr)
        XCTAssertEqual(try Data(contentsOf: cut), whole)
    }

    func testTrainCutShortNamesTheCheckpointAndDoesNotCrash() throws {
        let cli = try CLIRunner.make()
        let run = work.appendingPathComponent("run")
        // The checkpoint is ~360 KB: 100 blocks are 50 or 100 KB; log.csv (a few hundred bytes) and
        // curves.png (3 KB) fit. checkpoint_best.h5 comes first, checkpoint_last.h5 (the epoch's commit) last.
        let result = try cli.run(fileSizeLimitBlocks: 100, ["train", "--config", Self.tiny, "--data", try data(cli).path,
                                                             "--out", run.path, "--epochs", "1", "--iterations-per-epoch", "1", "--no-progress"])
        assertRefusedWrite(result, run.appendingPathComponent("checkpoint_best.h5"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.appendingPathComponent("checkpoint_last.h5").path))
        XCTAssertFalse(result.stderr.contains(".tmp"), "names a temporary file: \(result.stderr)")
    }

    func testAdaptCutShortNamesTheOutputAndDoesNotCrash() throws {
        let cli = try CLIRunner.make()
        let out = work.appendingPathComponent("adapted.h5")
        // The adapted checkpoint is ~138 KB: 50 blocks are 25 or 50 KB.
        let result = try cli.run(fileSizeLimitBlocks: 50, ["adapt", "--model", Self.model, "--data", try data(cli).path,
                                                            "--out", out.path, "--method", "adabn", "--batches", "1", "--quiet"])
        assertRefusedWrite(result, out)
    }
}
