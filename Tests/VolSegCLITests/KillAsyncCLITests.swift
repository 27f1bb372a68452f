import Foundation
import VolSegCore
import VolSegIO
import VolSegTestSupport
import XCTest

/// `kill -9` from outside at moments the named fault points do not choose: drawn from a seeded
/// generator over the length of an uninterrupted run (so the same moments every time, give or take
/// the machine's speed). After each kill every final name is whole or absent, and the rerun
/// (`--resume`, `--continue`, or the same command) ends with the uninterrupted run's result.
final class KillAsyncCLITests: XCTestCase {
    static let folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-kill-async-\(UUID().uuidString)")
    static let tiny = TestPaths.repositoryRoot.appendingPathComponent("pipelines/brats-tiny.yaml").path
    static let model = TestPaths.repositoryRoot.appendingPathComponent("data/models/brats-synthetic-bn.h5").path
    static let seed: UInt64 = 20_261_202
    var cli: CLIRunner!
    var work: URL!

    override class func tearDown() { try? FileManager.default.removeItem(at: folder) }

    override func setUpWithError() throws {
        cli = try CLIRunner.make()
        work = Self.folder.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    var data: URL {
        get throws { try cli.syntheticBraTS(at: Self.folder.appendingPathComponent("synth"), cases: 2, seed: 4) }
    }

    /// Runs `arguments` once uninterrupted and returns how long it took.
    func timed(_ arguments: [String]) throws -> Double {
        let start = Date()
        let result = try cli.run(arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        return Date().timeIntervalSince(start)
    }

    /// `count` moments in [0, seconds), the same for the same salt.
    func moments(_ count: Int, within seconds: Double, salt: UInt64) -> [Double] {
        var generator = RandomGenerator(seed: Self.seed &+ salt)
        return (0..<count).map { _ in Double(generator.nextUniform()) * seconds }
    }

    /// Starts `arguments`, kills it after `delay` unless done, and says which it was.
    func kill(_ arguments: [String], after delay: Double, _ what: String) throws -> Bool {
        let result = try cli.start(arguments).kill(after: delay)
        let killed = result.signal == SIGKILL
        if !killed { XCTAssertEqual(result.status, 0, "\(what): \(result.stderr)") }
        XCTAssertFalse(result.crashed, "\(what): \(result.stderr)")
        print("\(what): \(killed ? "killed" : "finished") after \(String(format: "%.3f", delay)) s")
        return killed
    }

    func testTrainKilledAtSeededMomentsResumesToTheUninterruptedRun() throws {
        let dataset = try data.path
        func arguments(_ run: URL) -> [String] {
            ["train", "--config", Self.tiny, "--data", dataset, "--out", run.path, "--epochs", "2",
             "--iterations-per-epoch", "2", "--no-progress"]
        }
        let reference = work.appendingPathComponent("reference")
        let seconds = try timed(arguments(reference))
        let log = try FaultChecks.reproducibleLog(reference.appendingPathComponent("log.csv"))
        let weights = try FaultChecks.weights(reference.appendingPathComponent("checkpoint_last.h5"))
        for (n, delay) in moments(4, within: seconds, salt: 1).enumerated() {
            let run = work.appendingPathComponent("run-\(n)")
            let what = "train kill \(n + 1)"
            _ = try kill(arguments(run), after: delay, what)
            let last = run.appendingPathComponent("checkpoint_last.h5"), best = run.appendingPathComponent("checkpoint_best.h5")
            let logURL = run.appendingPathComponent("log.csv")
            for checkpoint in [last, best] where FileManager.default.fileExists(atPath: checkpoint.path) {
                XCTAssertNoThrow(try FaultChecks.weights(checkpoint), "\(what): \(checkpoint.lastPathComponent) loads")
            }
            if FileManager.default.fileExists(atPath: logURL.path) { XCTAssertTrue(FaultChecks.logIsWhole(logURL), what) }
            let resume = FileManager.default.fileExists(atPath: last.path)
            let rerun = try cli.run(arguments(run) + (resume ? ["--resume"] : []))
            XCTAssertEqual(rerun.status, 0, "\(what): \(rerun.stderr)")
            XCTAssertEqual(try FaultChecks.reproducibleLog(logURL), log, "\(what): the same rows")
            XCTAssertEqual(try FaultChecks.weights(last), weights, "\(what): the same weights")
            XCTAssertEqual(FaultChecks.temporaries(under: run), [], what)
        }
    }

    func testSegmentDatasetKilledAtSeededMomentsContinuesToTheSameLabelMaps() throws {
        let dataset = try data.path
        // Mirroring makes each case 8 windows, so the moments fall inside the work, not only at the start.
        func arguments(_ out: URL) -> [String] { ["segment", "-i", dataset, "-o", out.path, "-m", Self.model, "--tta", "--no-progress"] }
        let reference = work.appendingPathComponent("reference")
        let seconds = try timed(arguments(reference))
        let expected = try FaultChecks.snapshot(reference)
        for (n, delay) in moments(4, within: seconds, salt: 2).enumerated() {
            let out = work.appendingPathComponent("predictions-\(n)")
            let what = "segment kill \(n + 1)"
            _ = try kill(arguments(out), after: delay, what)
            for (name, bytes) in try FaultChecks.snapshot(out) where !name.hasPrefix(AtomicFile.temporaryPrefix) {
                XCTAssertEqual(bytes, expected[name], "\(what): \(name) is whole")
            }
            let rerun = try cli.run(arguments(out) + ["--continue"])
            XCTAssertEqual(rerun.status, 0, "\(what): \(rerun.stderr)")
            XCTAssertEqual(try FaultChecks.snapshot(out), expected, "\(what)")
        }
    }

    func testEvaluateKilledAtSeededMomentsLeavesTheOldOrTheNewReportWhole() throws {
        let dataset = try data.path, predictions = work.appendingPathComponent("predictions")
        XCTAssertEqual(try cli.run(["segment", "-i", dataset, "-o", predictions.path, "-m", Self.model, "--no-progress"]).status, 0)
        func old(_ report: URL) -> [String] {
            ["evaluate", "--pred", predictions.path, "--ref", dataset, "--labels", "edema=2", "--no-pictures", "--out", report.path, "--quiet"]
        }
        func new(_ report: URL) -> [String] {
            ["evaluate", "--pred", predictions.path, "--ref", dataset, "--regions", "brats", "--out", report.path, "--quiet"]
        }
        let reference = work.appendingPathComponent("reference")
        XCTAssertEqual(try cli.run(old(reference.appendingPathComponent("old"))).status, 0)
        let seconds = try timed(new(reference.appendingPathComponent("new")))
        let oldSet = FaultChecks.comparable(try FaultChecks.snapshot(reference.appendingPathComponent("old")))
        let newSet = FaultChecks.comparable(try FaultChecks.snapshot(reference.appendingPathComponent("new")))
        for (n, delay) in moments(6, within: seconds, salt: 3).enumerated() {
            let parent = work.appendingPathComponent("evaluation-\(n)"), report = parent.appendingPathComponent("report")
            XCTAssertEqual(try cli.run(old(report)).status, 0)
            let what = "evaluate kill \(n + 1)"
            _ = try kill(new(report), after: delay, what)
            let left = FaultChecks.comparable(try FaultChecks.snapshot(report)).filter { !$0.key.contains(AtomicFile.temporaryPrefix) }
            XCTAssertTrue(left == oldSet || left == newSet, "\(what): neither the old set nor the new one: \(left.keys.sorted())")
            XCTAssertEqual(try cli.run(new(report)).status, 0, what)
            XCTAssertEqual(FaultChecks.comparable(try FaultChecks.snapshot(report)), newSet, what)
            XCTAssertEqual(FaultChecks.temporaries(under: parent), [], what)
        }
    }
}
