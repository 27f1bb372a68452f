import Foundation
import VolSegTestSupport
import XCTest

/// `volseg train` and `volseg plan --config` end to end on a synthetic BraTS set (3 cases, 32^3)
/// with pipelines/brats-tiny.yaml: the run folder's files, exact resume, the 2 GiB budget judged
/// by the OS's peak resident size, and budget errors before any training.
final class TrainCLITests: XCTestCase {
    static let folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-train-cli-\(UUID().uuidString)")
    static let tiny = TestPaths.repositoryRoot.appendingPathComponent("pipelines/brats-tiny.yaml").path

    override class func tearDown() { try? FileManager.default.removeItem(at: folder) }

    func data(_ cli: CLIRunner) throws -> String {
        let url = Self.folder.appendingPathComponent("synth")
        if !FileManager.default.fileExists(atPath: url.path) {
            let result = try cli.run(["synth", "brats", "--cases", "3", "--out", url.path, "--size", "32", "32", "32", "--seed", "2"])
            XCTAssertEqual(result.status, 0, result.stderr)
        }
        return url.path
    }

    /// A copy of brats-tiny with patch and batch left to the planner.
    func autoPipeline() throws -> String {
        let url = Self.folder.appendingPathComponent("brats-tiny-auto.yaml")
        var text = try String(contentsOfFile: Self.tiny, encoding: .utf8)
        text = text.replacingOccurrences(of: "size: [32, 32, 32]       # x y z", with: "size: auto")
            .replacingOccurrences(of: "batch: 2", with: "batch: auto")
        try FileManager.default.createDirectory(at: Self.folder, withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func rows(_ run: String) throws -> (header: [String], rows: [[String]]) {
        let text = try String(contentsOfFile: "\(run)/log.csv", encoding: .utf8)
        let lines = text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        return (lines[0], Array(lines.dropFirst()))
    }

    func testTrainWritesCheckpointsLogAndCurves() throws {
        let cli = try CLIRunner.make()
        let run = Self.folder.appendingPathComponent("run").path
        let result = try cli.run(["train", "--config", Self.tiny, "--data", try data(cli), "--out", run,
                                  "--epochs", "2", "--iterations-per-epoch", "2", "--no-progress"])
        XCTAssertEqual(result.status, 0, result.stderr)
        for file in ["checkpoint_last.h5", "checkpoint_best.h5", "log.csv", "curves.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(run)/\(file)"), file)
        }
        let log = try rows(run)
        XCTAssertEqual(log.header, ["epoch", "iteration", "loss", "lr", "val_dice_WT", "val_dice_TC", "val_dice_ET",
                                    "seconds", "ledger_peak_bytes", "rss_peak_bytes"])
        XCTAssertEqual(log.rows.count, 4)
        XCTAssertEqual(log.rows.map { $0[1] }, ["0", "1", "2", "3"])
        // Dice on the last step of each epoch only; learning rate follows the poly schedule.
        XCTAssertEqual(log.rows[0][4], "")
        XCTAssertNotNil(Double(log.rows[1][4]))
        XCTAssertEqual(Double(log.rows[2][3])!, 0.01 * pow(0.5, 0.9), accuracy: 1e-7)
        let png = try Data(contentsOf: URL(fileURLWithPath: "\(run)/curves.png"))
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        // Plain progress lines on a pipe: one per epoch.
        XCTAssertEqual(result.stderr.components(separatedBy: "\n").filter { $0.hasPrefix("epoch ") }.count, 2, result.stderr)
        XCTAssertTrue(result.stdout.contains("trained 2 epoch(s)"), result.stdout)
    }

    func testResumeContinuesExactly() throws {
        let cli = try CLIRunner.make()
        let whole = Self.folder.appendingPathComponent("whole").path, parts = Self.folder.appendingPathComponent("parts").path
        // Two threads: the multi-threaded kernels reduce in a fixed order, so resume is bit-exact.
        let common = ["--config", Self.tiny, "--data", try data(cli), "--epochs", "2", "--iterations-per-epoch", "2",
                      "--seed", "3", "--quiet", "--threads", "2"]
        XCTAssertEqual(try cli.run(["train", "--out", whole] + common).status, 0)
        XCTAssertEqual(try cli.run(["train", "--out", parts, "--stop-after-epochs", "1"] + common).status, 0)
        let resumed = try cli.run(["train", "--out", parts, "--resume"] + common)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try rows(parts).rows.map { $0[0...6] }, try rows(whole).rows.map { $0[0...6] })
    }

    func testTwoGiBBudgetKeepsPeakResidentMemoryUnderIt() throws {
        let cli = try CLIRunner.make()
        let run = Self.folder.appendingPathComponent("budget").path
        let result = try cli.run(["train", "--config", try autoPipeline(), "--data", try data(cli), "--out", run,
                                  "--memory-budget", "2GiB", "--epochs", "1", "--iterations-per-epoch", "3", "--no-progress"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let log = try rows(run)
        let rssColumn = log.header.firstIndex(of: "rss_peak_bytes")!, ledgerColumn = log.header.firstIndex(of: "ledger_peak_bytes")!
        for row in log.rows {
            let rss = Int(row[rssColumn])!, ledger = Int(row[ledgerColumn])!
            XCTAssertGreaterThan(rss, 0)
            XCTAssertLessThanOrEqual(rss, 2 << 30)
            // The reserve the planner adds for everything outside the ledger covers this run.
            XCTAssertLessThanOrEqual(rss - ledger, 256 << 20, "RSS \(rss) minus ledger peak \(ledger) exceeds the reserve")
        }
        print("2 GiB run: peak RSS \(log.rows.last![rssColumn]) bytes, ledger peak \(log.rows.last![ledgerColumn]) bytes")
    }

    func testPlanPrintsJSONAndTrainUsesTheSamePlan() throws {
        let cli = try CLIRunner.make()
        let pipeline = try autoPipeline()
        let result = try cli.run(["plan", "--config", pipeline, "--data", try data(cli), "--memory-budget", "1GiB", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let plan = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        // At most the cases' median shape after cropping to the brain, divisible by the network's 4.
        let patch = plan["patch"] as! [Int]
        XCTAssertTrue(patch.allSatisfy { $0 % 4 == 0 && $0 <= 32 && $0 >= 16 }, "\(patch)")
        XCTAssertEqual(plan["batch"] as? Int, 2)
        XCTAssertEqual(plan["recompute"] as? [String], [])
        XCTAssertEqual(plan["budget_bytes"] as? Int, 1 << 30)
        let predicted = plan["predicted_peak_bytes"] as! Int
        XCTAssertLessThanOrEqual(predicted, 1 << 30)
        XCTAssertEqual(predicted, (plan["ledger_peak_bytes"] as! Int) + (plan["reserve_bytes"] as! Int))
        let text = try cli.run(["plan", "--config", pipeline, "--data", try data(cli), "--memory-budget", "1GiB"])
        XCTAssertTrue(text.stdout.contains("patch \(patch.map(String.init).joined(separator: " ")) (x y z), batch 2"), text.stdout)
        // train plans the same way.
        let run = Self.folder.appendingPathComponent("planned").path
        let trained = try cli.run(["train", "--config", pipeline, "--data", try data(cli), "--out", run, "--memory-budget", "1GiB",
                                   "--epochs", "1", "--iterations-per-epoch", "1", "--no-progress"])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        XCTAssertTrue(trained.stderr.contains("plan: patch \(patch) (x y z), batch 2"), trained.stderr)
        // The ledger peak the run reached is within the planned one.
        let log = try rows(run)
        let column = log.header.firstIndex(of: "ledger_peak_bytes")!
        let reached = log.rows.map { Int($0[column])! }.max()!
        XCTAssertLessThanOrEqual(reached, plan["ledger_peak_bytes"] as! Int)
        print("planned ledger peak \(plan["ledger_peak_bytes"]!), reached \(reached)")
    }

    func testTooSmallBudgetIsRefusedBeforeTraining() throws {
        let cli = try CLIRunner.make()
        let run = Self.folder.appendingPathComponent("refused").path
        let result = try cli.run(["train", "--config", try autoPipeline(), "--data", try data(cli), "--out", run,
                                  "--memory-budget", "64MiB", "--epochs", "1", "--iterations-per-epoch", "1"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("too small"), result.stderr)
        XCTAssertTrue(result.stderr.contains("bytes ("), result.stderr)
        XCTAssertTrue(result.stderr.contains("GiB)"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(run)/checkpoint_last.h5"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(run)/log.csv"))
    }

    func testBadArgumentsNameTheValueOrKey() throws {
        let cli = try CLIRunner.make()
        var result = try cli.run(["train", "--config", Self.tiny, "--data", "/nonexistent", "--out", "/tmp/x", "--memory-budget", "6 gigs"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("'6 gigs'"), result.stderr)
        let bad = Self.folder.appendingPathComponent("bad.yaml")
        try FileManager.default.createDirectory(at: Self.folder, withIntermediateDirectories: true)
        try "model: {name: unet3d}\ntraining: {epochs: 2, iteratons_per_epoch: 4}\n".write(to: bad, atomically: true, encoding: .utf8)
        result = try cli.run(["train", "--config", bad.path, "--data", try data(cli), "--out", Self.folder.appendingPathComponent("bad").path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains(bad.path) && result.stderr.contains("training.iteratons_per_epoch"), result.stderr)
    }
}
