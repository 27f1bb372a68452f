import Foundation
import VolSegCore
import VolSegIO
import VolSegTestSupport
import XCTest

/// `kill -9` at each phase of each command, made exact by the fault points (VOLSEG_FAULT_KILL_AT,
/// see FaultPoint): afterwards every final name holds a whole file (the same bytes as an
/// uninterrupted run, or a NIfTI/checkpoint that reads) or is absent; a write point leaves its
/// temporary file (the proof that the kill came mid-write), which a rerun in the same folder
/// removes; the rerun succeeds with the uninterrupted run's result, and `train --resume` after a
/// kill continues to the same log rows and weights.
final class KillPointCLITests: XCTestCase {
    static let folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-kill-points-\(UUID().uuidString)")
    static let tiny = TestPaths.repositoryRoot.appendingPathComponent("pipelines/brats-tiny.yaml").path
    static let model = TestPaths.repositoryRoot.appendingPathComponent("data/models/brats-synthetic-bn.h5").path
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

    func kill(at point: String, _ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> CLIRunner.Result {
        let result = try cli.run(arguments, environment: [FaultPoint.environmentVariable: point])
        result.assertKilledAtFaultPoint(point, file: file, line: line)
        return result
    }

    func folder(for point: String) throws -> URL {
        let url = work.appendingPathComponent(FaultChecks.folderName(point))
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    // MARK: segment

    func testSegmentKilledAtEachPhaseLeavesWholeOrNoOutputsAndARerunRecovers() throws {
        let input = try data.appendingPathComponent("BraTS2021_00000").path
        func arguments(_ out: URL) -> [String] {
            ["segment", "-i", input, "-o", out.appendingPathComponent("v0.nii.gz").path, "-m", Self.model,
             "--probabilities", out.appendingPathComponent("p.nii.gz").path, "--no-progress"]
        }
        let reference = try folder(for: "reference")
        XCTAssertEqual(try cli.run(arguments(reference)).status, 0)
        let expected = try FaultChecks.snapshot(reference)
        XCTAssertEqual(Set(expected.keys), ["v0.nii.gz", "p.nii.gz"])

        // Probabilities are written first, then the label map.
        for point in ["segment.loading", "segment.preprocessing", "segment.inference", "write.partial:p.nii.gz",
                      "write.beforeRename:p.nii.gz", "write.partial:v0.nii.gz", "write.beforeRename:v0.nii.gz"] {
            let out = try folder(for: point)
            _ = try kill(at: point, arguments(out))
            let left = try FaultChecks.snapshot(out)
            for (name, bytes) in left where !name.hasPrefix(AtomicFile.temporaryPrefix) {
                XCTAssertEqual(bytes, expected[name], "\(point): \(name) is not whole")
            }
            if point.hasPrefix("write.") {
                XCTAssertFalse(FaultChecks.temporaries(under: out).isEmpty, "\(point): killed mid-write, its temporary stays")
            }
            XCTAssertEqual(left["p.nii.gz"] != nil, point.hasSuffix("v0.nii.gz"), "\(point): probabilities written before the label map")
            XCTAssertNil(left["v0.nii.gz"], "\(point)")

            let rerun = try cli.run(arguments(out))
            XCTAssertEqual(rerun.status, 0, "\(point): rerun: \(rerun.stderr)")
            XCTAssertEqual(try FaultChecks.snapshot(out), expected, "\(point): the rerun removes the temporary and writes both")
        }

        // Killed before the rename over an older label map: the older one stays, whole.
        let out = try folder(for: "over-old")
        let old = out.appendingPathComponent("v0.nii.gz")
        XCTAssertEqual(try cli.run(["segment", "-i", try data.appendingPathComponent("BraTS2021_00001").path, "-o", old.path,
                                    "-m", Self.model, "--no-progress"]).status, 0)
        let oldBytes = try Data(contentsOf: old)
        _ = try kill(at: "write.beforeRename:v0.nii.gz", arguments(out))
        XCTAssertEqual(try Data(contentsOf: old), oldBytes)
    }

    func testSegmentDatasetKilledBetweenCasesContinuesWithTheRest() throws {
        let dataset = try data.path, out = work.appendingPathComponent("predictions")
        let reference = work.appendingPathComponent("reference")
        XCTAssertEqual(try cli.run(["segment", "-i", dataset, "-o", reference.path, "-m", Self.model, "--no-progress"]).status, 0)
        let arguments = ["segment", "-i", dataset, "-o", out.path, "-m", Self.model, "--no-progress"]
        _ = try kill(at: "write.beforeRename:BraTS2021_00001.nii.gz", arguments)
        let left = try FaultChecks.snapshot(out).filter { !$0.key.hasPrefix(AtomicFile.temporaryPrefix) }
        XCTAssertEqual(left, try FaultChecks.snapshot(reference).filter { $0.key == "BraTS2021_00000.nii.gz" })
        let rerun = try cli.run(arguments + ["--continue"])
        XCTAssertEqual(rerun.status, 0, rerun.stderr)
        XCTAssertTrue(rerun.stdout.contains("1 written, 1 skipped, 0 failed"), rerun.stdout)
        XCTAssertEqual(try FaultChecks.snapshot(out), try FaultChecks.snapshot(reference))
    }

    // MARK: evaluate

    /// Predictions for the two cases.
    func predictions() throws -> URL {
        let folder = Self.folder.appendingPathComponent("predictions")
        if !FileManager.default.fileExists(atPath: folder.path) {
            XCTAssertEqual(try cli.run(["segment", "-i", try data.path, "-o", folder.path, "-m", Self.model, "--no-progress"]).status, 0)
        }
        return folder
    }

    /// Killed while scoring, while the set is written or between its files, a report folder holds
    /// the previous set or the new one, whole; never a mix, never part of one.
    func testEvaluateKilledWhileScoringOrWritingLeavesOneWholeReportSet() throws {
        let predictions = try predictions().path, references = try data.path
        // The old and the new set differ in every file: other labels, no pictures.
        func old(_ report: URL) -> [String] {
            ["evaluate", "--pred", predictions, "--ref", references, "--labels", "edema=2", "--no-pictures", "--out", report.path, "--quiet"]
        }
        func new(_ report: URL) -> [String] {
            ["evaluate", "--pred", predictions, "--ref", references, "--regions", "brats", "--out", report.path, "--quiet"]
        }
        let reference = work.appendingPathComponent("reference")
        XCTAssertEqual(try cli.run(old(reference.appendingPathComponent("old"))).status, 0)
        XCTAssertEqual(try cli.run(new(reference.appendingPathComponent("new"))).status, 0)
        let oldSet = FaultChecks.comparable(try FaultChecks.snapshot(reference.appendingPathComponent("old")))
        let newSet = FaultChecks.comparable(try FaultChecks.snapshot(reference.appendingPathComponent("new")))
        XCTAssertTrue(newSet.keys.contains("pictures/BraTS2021_00000.png"))

        for (point, expectNew) in [("evaluate.scoring", false), ("write.partial:summary.json", false),
                                   ("write.partial:BraTS2021_00001.png", false), ("write.partial:evaluation_manifest.json", false),
                                   ("fileset.staged", false), ("fileset.swapped", true)] {
            let parent = try folder(for: point), report = parent.appendingPathComponent("report")
            XCTAssertEqual(try cli.run(old(report)).status, 0)
            _ = try kill(at: point, new(report))
            let left = FaultChecks.comparable(try FaultChecks.snapshot(report)).filter { !$0.key.contains(AtomicFile.temporaryPrefix) }
            XCTAssertEqual(left, expectNew ? newSet : oldSet, "\(point): one whole set")
            let rerun = try cli.run(new(report))
            XCTAssertEqual(rerun.status, 0, "\(point): rerun: \(rerun.stderr)")
            XCTAssertEqual(FaultChecks.comparable(try FaultChecks.snapshot(report)), newSet, "\(point): the rerun writes the new set")
            XCTAssertEqual(FaultChecks.temporaries(under: parent), [], "\(point): the rerun removes what the killed run staged")
        }

        // Into a new folder: killed before the set is in place, there is no folder.
        let parent = try folder(for: "fresh"), report = parent.appendingPathComponent("report")
        _ = try kill(at: "fileset.staged", new(report))
        XCTAssertFalse(FileManager.default.fileExists(atPath: report.path), "a killed first evaluation leaves no report folder")
        XCTAssertEqual(try cli.run(new(report)).status, 0)
        XCTAssertEqual(FaultChecks.comparable(try FaultChecks.snapshot(report)), newSet)
        XCTAssertEqual(FaultChecks.temporaries(under: parent), [])
    }

    /// A folder that also holds other files (here a note; nnU-Net's form writes into the
    /// predictions folder) cannot be swapped whole: the report files move in one by one after the
    /// old ones are moved out, the manifest last. Killed between two of them, the folder has no
    /// manifest and only files of the new set, never a mix; the other files are untouched.
    func testEvaluateKilledBetweenFilesInASharedFolderLeavesNoMixedSet() throws {
        let predictions = try predictions().path, references = try data.path
        let report = work.appendingPathComponent("shared")
        let arguments = ["evaluate", "--pred", predictions, "--ref", references, "--out", report.path, "--quiet"]
        let fresh = work.appendingPathComponent("fresh")
        XCTAssertEqual(try cli.run(["evaluate", "--pred", predictions, "--ref", references, "--out", fresh.path, "--quiet",
                                    "--regions", "brats"]).status, 0)
        let newSet = FaultChecks.comparable(try FaultChecks.snapshot(fresh))
        XCTAssertEqual(try cli.run(arguments + ["--labels", "edema=2", "--no-pictures"]).status, 0)
        let note = report.appendingPathComponent("notes.txt")
        try Data("mine\n".utf8).write(to: note)

        _ = try kill(at: "fileset.betweenFiles#2", arguments + ["--regions", "brats"])
        let left = FaultChecks.comparable(try FaultChecks.snapshot(report)).filter { !$0.key.contains(AtomicFile.temporaryPrefix) }
        XCTAssertNil(left["evaluation_manifest.json"], "no manifest: the set is not whole")
        XCTAssertEqual(left["notes.txt"], Data("mine\n".utf8))
        let reportFiles = left.filter { $0.key != "notes.txt" }
        XCTAssertFalse(reportFiles.isEmpty, "killed after two files moved in")
        for (name, bytes) in reportFiles { XCTAssertEqual(bytes, newSet[name], "\(name) is the new set's") }

        XCTAssertEqual(try cli.run(arguments + ["--regions", "brats"]).status, 0)
        var expected = newSet
        expected["notes.txt"] = Data("mine\n".utf8)
        XCTAssertEqual(FaultChecks.comparable(try FaultChecks.snapshot(report)), expected)
    }

    // MARK: train

    /// Killed during a step, before an epoch's checkpoints, while curves.png, checkpoint_best.h5 or
    /// checkpoint_last.h5 is written and between a temporary file and its rename: checkpoint_last.h5
    /// is the previous epoch's and loads, and `--resume` (a plain rerun when no checkpoint was
    /// written yet) ends with the uninterrupted run's log rows, weights and best checkpoint.
    func testTrainKilledDuringAStepOrACheckpointResumesToTheUninterruptedRun() throws {
        let dataset = try data.path
        func arguments(_ run: URL) -> [String] {
            ["train", "--config", Self.tiny, "--data", dataset, "--out", run.path, "--epochs", "2",
             "--iterations-per-epoch", "2", "--no-progress"]
        }
        let reference = work.appendingPathComponent("reference")
        XCTAssertEqual(try cli.run(arguments(reference)).status, 0)
        let log = try FaultChecks.reproducibleLog(reference.appendingPathComponent("log.csv"))
        let weights = try FaultChecks.weights(reference.appendingPathComponent("checkpoint_last.h5"))
        let bestWeights = try FaultChecks.weights(reference.appendingPathComponent("checkpoint_best.h5"))
        XCTAssertEqual(log.count, 5, "header and 4 steps")
        // Epoch 2 is the best here, so a kill around its checkpoints must not lose checkpoint_best.h5.
        XCTAssertEqual(try FaultChecks.epochsDone(reference.appendingPathComponent("checkpoint_best.h5")), 2)

        for (point, epochsSaved) in [("train.step#1", nil), ("train.step#3", 1), ("train.epoch#2", 1),
                                     ("write.beforeRename:curves.png#2", 1), ("write.partial:checkpoint_best.h5#2", 1),
                                     ("write.beforeRename:checkpoint_best.h5#2", 1), ("write.partial:checkpoint_last.h5#2", 1),
                                     ("write.beforeRename:checkpoint_last.h5#2", 1)] as [(String, Int64?)] {
            let run = try folder(for: point)
            _ = try kill(at: point, arguments(run))
            let last = run.appendingPathComponent("checkpoint_last.h5")
            if let epochsSaved {
                XCTAssertEqual(try FaultChecks.epochsDone(last), epochsSaved, "\(point): the previous epoch's checkpoint loads")
            } else {
                XCTAssertFalse(FileManager.default.fileExists(atPath: last.path), "\(point)")
            }
            let best = run.appendingPathComponent("checkpoint_best.h5")
            if FileManager.default.fileExists(atPath: best.path) { XCTAssertNoThrow(try FaultChecks.weights(best), "\(point)") }
            let logURL = run.appendingPathComponent("log.csv")
            if FileManager.default.fileExists(atPath: logURL.path) { XCTAssertTrue(FaultChecks.logIsWhole(logURL), "\(point)") }
            if point.hasPrefix("write.") { XCTAssertFalse(FaultChecks.temporaries(under: run).isEmpty, "\(point)") }

            let rerun = try cli.run(arguments(run) + (epochsSaved == nil ? [] : ["--resume"]))
            XCTAssertEqual(rerun.status, 0, "\(point): \(rerun.stderr)")
            XCTAssertEqual(try FaultChecks.reproducibleLog(run.appendingPathComponent("log.csv")), log, "\(point): the same rows")
            XCTAssertEqual(try FaultChecks.weights(last), weights, "\(point): the same weights")
            XCTAssertEqual(try FaultChecks.weights(best), bestWeights, "\(point): the same best checkpoint")
            XCTAssertEqual(FaultChecks.temporaries(under: run), [], "\(point): the rerun removes the killed run's temporaries")
        }
    }

    // MARK: adapt

    func testAdaptKilledLeavesTheOutputWholeOrAbsentAndARerunWritesIt() throws {
        let dataset = try data.path
        func arguments(_ out: URL) -> [String] {
            ["adapt", "--model", Self.model, "--data", dataset, "--out", out.appendingPathComponent("adapted.h5").path,
             "--method", "adabn", "--batches", "2", "--quiet"]
        }
        let reference = try folder(for: "reference")
        XCTAssertEqual(try cli.run(arguments(reference)).status, 0)
        let weights = try FaultChecks.weights(reference.appendingPathComponent("adapted.h5"))
        for point in ["adapt.batch", "write.partial:adapted.h5", "write.beforeRename:adapted.h5"] {
            let out = try folder(for: point), adapted = out.appendingPathComponent("adapted.h5")
            _ = try kill(at: point, arguments(out))
            XCTAssertFalse(FileManager.default.fileExists(atPath: adapted.path), "\(point)")
            if point.hasPrefix("write.") { XCTAssertFalse(FaultChecks.temporaries(under: out).isEmpty, "\(point)") }
            let rerun = try cli.run(arguments(out))
            XCTAssertEqual(rerun.status, 0, "\(point): \(rerun.stderr)")
            XCTAssertEqual(try FaultChecks.weights(adapted), weights, "\(point)")
            XCTAssertEqual(FaultChecks.temporaries(under: out), [], "\(point)")
        }
    }
}
