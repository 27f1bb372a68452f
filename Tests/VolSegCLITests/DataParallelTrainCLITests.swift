import Foundation
import VolSegCore
import VolSegNN
import VolSegTestSupport
import XCTest

/// `mpirun -np 2 volseg train` on loopback, on the synthetic BraTS set and pipelines/brats-tiny.yaml
/// (an InstanceNorm U-Net with batch Dice): the same weights as one process with the whole batch,
/// exact resume of every rank's patch stream, and the watchdog naming a rank that stalled or died.
final class DataParallelTrainCLITests: XCTestCase {
    static let folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-ddp-cli-\(UUID().uuidString)")
    static let tiny = TestPaths.repositoryRoot.appendingPathComponent("pipelines/brats-tiny.yaml").path

    override class func tearDown() { try? FileManager.default.removeItem(at: folder) }

    func data(_ cli: CLIRunner) throws -> String {
        try cli.syntheticBraTS(at: Self.folder.appendingPathComponent("synth"), cases: 3, seed: 2).path
    }

    /// brats-tiny with batch 1 per rank.
    func batchOnePipeline() throws -> String {
        let url = Self.folder.appendingPathComponent("brats-tiny-batch1.yaml")
        if !FileManager.default.fileExists(atPath: url.path) {
            let text = try String(contentsOfFile: Self.tiny, encoding: .utf8).replacingOccurrences(of: "batch: 2", with: "batch: 1")
            try FileManager.default.createDirectory(at: Self.folder, withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        return url.path
    }

    func losses(_ run: String) throws -> [Double] {
        let text = try String(contentsOfFile: "\(run)/log.csv", encoding: .utf8)
        return text.split(separator: "\n").dropFirst().map { Double($0.split(separator: ",")[2])! }
    }

    func testTwoRanksWithBatchOneTrainAsOneProcessWithBatchTwo() throws {
        let cli = try CLIRunner.make()
        let data = try data(cli)
        let single = Self.folder.appendingPathComponent("single").path, ranks = Self.folder.appendingPathComponent("ranks").path
        let common = ["--data", data, "--epochs", "1", "--iterations-per-epoch", "5", "--seed", "4", "--threads", "1", "--quiet"]
        let one = try cli.run(["train", "--config", Self.tiny, "--out", single] + common)
        XCTAssertEqual(one.status, 0, one.stderr)
        // Each rank trains on its slice of the batch the single process draws.
        let two = try cli.runMPI(ranks: 2, ["train", "--config", try batchOnePipeline(), "--out", ranks,
                                            "--test-patch-assignment", "slices"] + common)
        XCTAssertEqual(two.status, 0, two.stderr)

        let worst = try largestRelativeDifference(URL(fileURLWithPath: "\(ranks)/checkpoint_last.h5"),
                                                  URL(fileURLWithPath: "\(single)/checkpoint_last.h5"))
        XCTAssertLessThan(worst, 1e-5, "largest relative weight difference after 5 steps")
        XCTAssertGreaterThan(worst, 0, "the two runs should not be bit-identical: did the ranks train at all?")
        // The logged loss is the mean over the ranks: the single process's loss of the whole batch.
        for (a, b) in zip(try losses(ranks), try losses(single)) { XCTAssertEqual(a, b, accuracy: 1e-5 * abs(b)) }
        XCTAssertEqual(try losses(ranks).count, 5)
    }

    /// The largest difference of two checkpoints' weights and buffers, each tensor's relative to
    /// its largest value (the single process sums the batch inside its kernels, the ranks sum two
    /// halves, so the last bits differ).
    func largestRelativeDifference(_ actualURL: URL, _ expectedURL: URL) throws -> Double {
        let expected = try Checkpoint.read(from: expectedURL).modelState, actual = try Checkpoint.read(from: actualURL).modelState
        XCTAssertEqual(Set(actual.keys), Set(expected.keys))
        var worst = 0.0
        for (name, reference) in expected {
            guard let other = actual[name] else { continue }
            let a = other.toArray(), b = reference.toArray()
            XCTAssertEqual(a.count, b.count, name)
            let scale = Double(b.map { abs($0) }.max() ?? 0)
            let error = zip(a, b).map { Double(abs($0 - $1)) }.max() ?? 0
            worst = max(worst, scale > 0 ? error / scale : error)
        }
        return worst
    }

    /// A BatchNorm model (pipelines/brats-synthetic-bn.yaml, MBConv with fused BatchNorm + SiLU):
    /// with --sync-batchnorm two ranks with batch 1 match one process with batch 2, weights and
    /// running statistics; with each rank's own statistics they do not.
    func testSyncBatchNormTrainsAsOneProcessWithTheWholeBatch() throws {
        let cli = try CLIRunner.make()
        let data = try data(cli)
        let pipeline = TestPaths.repositoryRoot.appendingPathComponent("pipelines/brats-synthetic-bn.yaml").path
        let batchOne = Self.folder.appendingPathComponent("bn-batch1.yaml")
        try FileManager.default.createDirectory(at: Self.folder, withIntermediateDirectories: true)
        try String(contentsOfFile: pipeline, encoding: .utf8).replacingOccurrences(of: "batch: 2", with: "batch: 1")
            .write(to: batchOne, atomically: true, encoding: .utf8)
        let common = ["--data", data, "--epochs", "1", "--iterations-per-epoch", "5", "--seed", "4", "--threads", "1", "--quiet"]
        let single = Self.folder.appendingPathComponent("bn-single").path
        XCTAssertEqual(try cli.run(["train", "--config", pipeline, "--out", single] + common).status, 0)
        var differences: [Double] = []
        for sync in [true, false] {
            let run = Self.folder.appendingPathComponent("bn-ranks-\(sync)").path
            let result = try cli.runMPI(ranks: 2, ["train", "--config", batchOne.path, "--out", run, "--test-patch-assignment", "slices"]
                                        + (sync ? ["--sync-batchnorm"] : []) + common)
            XCTAssertEqual(result.status, 0, result.stderr)
            differences.append(try largestRelativeDifference(URL(fileURLWithPath: "\(run)/checkpoint_last.h5"),
                                                             URL(fileURLWithPath: "\(single)/checkpoint_last.h5")))
        }
        XCTAssertLessThan(differences[0], 1e-5, "--sync-batchnorm: largest relative difference after 5 steps")
        XCTAssertGreaterThan(differences[1], 100 * max(differences[0], 1e-7), "per-rank statistics should differ: \(differences)")
    }

    func testResumeContinuesEveryRanksStreamAndNeedsTheSameRanks() throws {
        let cli = try CLIRunner.make()
        let data = try data(cli)
        let whole = Self.folder.appendingPathComponent("whole2").path, parts = Self.folder.appendingPathComponent("parts2").path
        let common = ["--config", try batchOnePipeline(), "--data", data, "--epochs", "2", "--iterations-per-epoch", "3",
                      "--seed", "5", "--threads", "1", "--quiet"]
        XCTAssertEqual(try cli.runMPI(ranks: 2, ["train", "--out", whole] + common).status, 0)
        XCTAssertEqual(try cli.runMPI(ranks: 2, ["train", "--out", parts, "--stop-after-epochs", "1"] + common).status, 0)

        let alone = try cli.run(["train", "--out", parts, "--resume"] + common)
        XCTAssertEqual(alone.status, 1, alone.stderr)
        XCTAssertTrue(alone.stderr.contains("written by a run on 2 rank(s), this one has 1"), alone.stderr)

        let resumed = try cli.runMPI(ranks: 2, ["train", "--out", parts, "--resume"] + common)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try losses(parts), try losses(whole))
    }

    func testARankThatStallsIsNamedAndTheCheckpointResumes() throws {
        let cli = try CLIRunner.make()
        let data = try data(cli)
        let run = Self.folder.appendingPathComponent("stall").path
        let common = ["--config", try batchOnePipeline(), "--data", data, "--epochs", "3", "--iterations-per-epoch", "2",
                      "--threads", "1", "--quiet", "--rank-timeout", "5"]
        let started = Date()
        // Rank 1 stops (SIGSTOP) after its 3rd step: alive to the launcher, silent to rank 0.
        let stalled = try cli.runMPI(ranks: 2, ["train", "--out", run] + common, environment: ["VOLSEG_FAULT_STOP_AT": "train.step#3@1"])
        let seconds = Date().timeIntervalSince(started)
        XCTAssertNotEqual(stalled.status, 0, stalled.stderr)
        XCTAssertTrue(stalled.stderr.contains("Error: rank 0 of 2: rank 1 did not respond"), stalled.stderr)
        XCTAssertLessThan(seconds, 60)
        // Epoch 1 was committed before the stall; the run continues from it.
        XCTAssertNoThrow(try Checkpoint.read(from: URL(fileURLWithPath: "\(run)/checkpoint_last.h5")))
        let resumed = try cli.runMPI(ranks: 2, ["train", "--out", run, "--resume"] + common)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try losses(run).count, 6)
    }

    func testARankThatDiesIsNamedByTheOther() throws {
        let cli = try CLIRunner.make()
        let data = try data(cli)
        let run = Self.folder.appendingPathComponent("killed").path
        let codes = Self.folder.appendingPathComponent("codes")
        try FileManager.default.createDirectory(at: codes, withIntermediateDirectories: true)
        let common = ["--out", run, "--config", try batchOnePipeline(), "--data", data, "--epochs", "3", "--iterations-per-epoch", "2",
                      "--threads", "1", "--quiet", "--rank-timeout", "5"]
        // --enable-recovery: mpirun lets the other rank run on after a death (by default it kills
        // it itself), so what the survivor does is seen; it records each rank's own exit status.
        let killed = try cli.runMPI(ranks: 2, ["train"] + common,
                                    environment: ["VOLSEG_FAULT_KILL_AT": "train.step#3@1"], mpirunOptions: ["--enable-recovery"],
                                    shellSuffix: "echo $? > \(codes.path)/rank.$OMPI_COMM_WORLD_RANK")
        XCTAssertTrue(killed.stderr.contains("Error: rank 0 of 2: rank 1 did not respond"), killed.stderr)
        let status = { (rank: Int) in try String(contentsOf: codes.appendingPathComponent("rank.\(rank)"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines) }
        XCTAssertEqual(try status(0), "1")
        XCTAssertEqual(try status(1), "137")
        XCTAssertNoThrow(try Checkpoint.read(from: URL(fileURLWithPath: "\(run)/checkpoint_last.h5")))
        let resumed = try cli.runMPI(ranks: 2, ["train", "--resume"] + common)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try losses(run).count, 6)
    }

    func testARankThatCannotStartStopsEveryRankAndLeavesNoRunFolder() throws {
        let cli = try CLIRunner.make()
        let data = try data(cli)
        let run = Self.folder.appendingPathComponent("never").path
        let missing = Self.folder.appendingPathComponent("missing-on-rank-1").path
        // Rank 1 is given a data folder that does not exist (as on a node without the share).
        let result = try cli.runMPIShell(ranks: 2, script: """
            d=\(data); [ "$OMPI_COMM_WORLD_RANK" = 1 ] && d=\(missing)
            exec "$VOLSEG" train --config \(try batchOnePipeline()) --data "$d" --out \(run) --epochs 1 --iterations-per-epoch 2 --threads 1 --quiet
            """)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("Error: rank 1 of 2: \(missing)"), result.stderr)
        XCTAssertTrue(result.stderr.contains("Error: rank 0 of 2: rank 1 could not start the run"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: run), "rank 0 removes the run folder it created")
    }
}
