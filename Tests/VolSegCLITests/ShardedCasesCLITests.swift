import Foundation
import VolSegTestSupport
import XCTest

/// `volseg segment -i DATASET -o OUT` and `volseg evaluate` split into parts: by --num-parts/--part-id
/// (nnU-Net's -num_parts/-part_id too), by the MPI rank under mpirun, and by a Slurm array task.
/// The segmentation parts together write every case once, each file equal to the unsplit run's;
/// the evaluation parts merged write the unsplit evaluation's reports, byte for byte.
final class ShardedCasesCLITests: XCTestCase {
    static let folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-shard-cli-\(UUID().uuidString)")
    static let tiny = TestPaths.repositoryRoot.appendingPathComponent("pipelines/brats-tiny.yaml").path

    override class func tearDown() { try? FileManager.default.removeItem(at: folder) }

    /// Five synthetic BraTS cases and a checkpoint of brats-tiny trained for one step on them.
    func fixture(_ cli: CLIRunner) throws -> (data: String, model: String) {
        let data = try cli.syntheticBraTS(at: Self.folder.appendingPathComponent("synth"), cases: 5, seed: 3).path
        let run = Self.folder.appendingPathComponent("run").path
        if !FileManager.default.fileExists(atPath: "\(run)/checkpoint_last.h5") {
            let trained = try cli.run(["train", "--config", Self.tiny, "--data", data, "--out", run, "--epochs", "1",
                                       "--iterations-per-epoch", "1", "--quiet"])
            XCTAssertEqual(trained.status, 0, trained.stderr)
        }
        return (data, "\(run)/checkpoint_last.h5")
    }

    /// The bytes of the files in `folder` whose names pass `include`, keyed by `prefix` + name.
    func contents(of folder: String, prefix: String = "", where include: (String) -> Bool) throws -> [String: Data] {
        var files = [String: Data]()
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) where include(name) {
            files[prefix + name] = try Data(contentsOf: URL(fileURLWithPath: "\(folder)/\(name)"))
        }
        return files
    }

    func outputs(_ folder: String) throws -> [String: Data] {
        try contents(of: folder) { $0.hasSuffix(".nii.gz") }
    }

    func testPartsTogetherWriteEveryCaseOnceAsTheWholeRunDoes() throws {
        let cli = try CLIRunner.make()
        let (data, model) = try fixture(cli)
        let whole = Self.folder.appendingPathComponent("whole").path
        XCTAssertEqual(try cli.run(["segment", "-i", data, "-o", whole, "-m", model, "--quiet"]).status, 0)
        let expected = try outputs(whole)
        XCTAssertEqual(expected.count, 5)

        // Flags, nnU-Net's spelling for one of them.
        let flags = Self.folder.appendingPathComponent("flags").path
        XCTAssertEqual(try cli.run(["segment", "-i", data, "-o", flags, "-m", model, "--num-parts", "2", "--part-id", "0", "--quiet"]).status, 0)
        let first = try outputs(flags)
        XCTAssertEqual(first.count, 3, "part 0 of 2: cases 0, 2, 4 of the sorted list")
        XCTAssertEqual(first.keys.sorted(), Array(expected.keys.sorted().enumerated().filter { $0.offset % 2 == 0 }.map(\.element)))
        XCTAssertEqual(try cli.run(["segment", "-i", data, "-o", flags, "-m", model, "-num_parts", "2", "-part_id", "1", "--quiet"]).status, 0)
        XCTAssertEqual(try outputs(flags), expected)

        // A Slurm array --array=7-9: tasks 7, 8, 9 are parts 0, 1, 2 of 3.
        let array = Self.folder.appendingPathComponent("array").path
        for task in 7...9 {
            let result = try cli.run(["segment", "-i", data, "-o", array, "-m", model, "--quiet"], environment: [
                "SLURM_ARRAY_TASK_ID": String(task), "SLURM_ARRAY_TASK_MIN": "7", "SLURM_ARRAY_TASK_MAX": "9",
                "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_STEP": "1"])
            XCTAssertEqual(result.status, 0, result.stderr)
        }
        XCTAssertEqual(try outputs(array), expected)

        // Under mpirun: the rank is the part.
        let ranks = Self.folder.appendingPathComponent("ranks").path
        let mpi = try cli.runMPI(ranks: 2, ["segment", "-i", data, "-o", ranks, "-m", model, "--threads", "1"])
        XCTAssertEqual(mpi.status, 0, mpi.stderr)
        XCTAssertTrue(mpi.stdout.contains("segmenting part 1 of 2"), mpi.stdout)
        XCTAssertEqual(try outputs(ranks), expected)
    }

    func testBadPartsAreRefusedBeforeAnyOutput() throws {
        let cli = try CLIRunner.make()
        let (data, model) = try fixture(cli)
        let out = Self.folder.appendingPathComponent("refused").path
        let cases: [([String], [String: String], String)] = [
            (["--num-parts", "2", "--part-id", "2"], [:], "--part-id must be in 0..<2"),
            (["--num-parts", "2"], [:], "go together"),
            ([], ["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "4",
                  "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_STEP": "2"], "step 2"),
        ]
        for (flags, environment, message) in cases {
            let result = try cli.run(["segment", "-i", data, "-o", out, "-m", model] + flags, environment: environment)
            XCTAssertNotEqual(result.status, 0, "\(flags) \(environment)")
            XCTAssertTrue(result.stderr.contains(message), result.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "no output folder after \(flags)")
        }
    }

    /// The reports an evaluation writes that do not depend on when it ran.
    func reports(_ folder: String) throws -> [String: Data] {
        var files = [String: Data]()
        for name in ["metrics.csv", "summary.json", "summary_extra.json", "report.md", "report.html"] {
            files[name] = try Data(contentsOf: URL(fileURLWithPath: "\(folder)/\(name)"))
        }
        return files.merging(try contents(of: "\(folder)/pictures", prefix: "pictures/") { _ in true }) { first, _ in first }
    }

    func testEvaluationPartsMergeIntoTheWholeEvaluationsReports() throws {
        let cli = try CLIRunner.make()
        let (data, model) = try fixture(cli)
        let predictions = Self.folder.appendingPathComponent("eval-preds").path
        XCTAssertEqual(try cli.run(["segment", "-i", data, "-o", predictions, "-m", model, "--quiet"]).status, 0)
        let common = ["--pred", predictions, "--ref", data, "--regions", "brats", "--quiet"]
        let whole = Self.folder.appendingPathComponent("eval-whole").path
        let plain = try cli.run(["evaluate", "--out", whole] + common)
        XCTAssertEqual(plain.status, 0, plain.stderr)
        let expected = try reports(whole)
        XCTAssertEqual(expected.keys.filter { $0.hasPrefix("pictures/") }.count, 5)

        // Three parts into one folder, merged there.
        let parts = Self.folder.appendingPathComponent("eval-parts").path
        for index in 0..<3 {
            let result = try cli.run(["evaluate", "--out", parts, "--num-parts", "3", "--part-id", String(index)] + common)
            XCTAssertEqual(result.status, 0, result.stderr)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(parts)/summary.json"), "a part writes only its part file")
        let incomplete = try cli.run(["evaluate", "--merge", "\(parts)/evaluation_part_0_of_3.json", "\(parts)/evaluation_part_2_of_3.json"])
        XCTAssertNotEqual(incomplete.status, 0)
        XCTAssertTrue(incomplete.stderr.contains("part(s) 1 of 3 are missing"), incomplete.stderr)
        let merged = try cli.run(["evaluate", "--merge", parts])
        XCTAssertEqual(merged.status, 0, merged.stderr)
        XCTAssertEqual(try reports(parts), expected)

        // --out elsewhere.
        let elsewhere = Self.folder.appendingPathComponent("eval-merged").path
        XCTAssertEqual(try cli.run(["evaluate", "--merge", parts, "--out", elsewhere]).status, 0)
        XCTAssertEqual(try reports(elsewhere), expected)

        // Under mpirun rank 0 merges by itself and the part files are gone.
        let ranks = Self.folder.appendingPathComponent("eval-ranks").path
        let mpi = try cli.runMPI(ranks: 2, ["evaluate", "--out", ranks, "--threads", "1"] + common)
        XCTAssertEqual(mpi.status, 0, mpi.stderr)
        XCTAssertEqual(try reports(ranks), expected)
        XCTAssertTrue(try FileManager.default.contentsOfDirectory(atPath: ranks).allSatisfy { !$0.hasPrefix("evaluation_part_") })
    }
}
