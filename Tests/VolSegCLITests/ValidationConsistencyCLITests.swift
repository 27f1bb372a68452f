import Foundation
import VolSegTestSupport
import XCTest

/// The split into modules must keep one validation rule: the Dice `volseg train` logs for the epoch
/// that became checkpoint_best.h5 is the Dice that `volseg segment` + `volseg evaluate` give on the
/// same validation case with that checkpoint (the sliding window, Gaussian, inverse preprocessing
/// and Dice are the same code).
final class ValidationConsistencyCLITests: XCTestCase {
    static let folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-consistency-\(UUID().uuidString)")

    override class func tearDown() { try? FileManager.default.removeItem(at: folder) }

    func testTrainerValidationDiceEqualsSegmentThenEvaluate() throws {
        let cli = try CLIRunner.make()
        let data = Self.folder.appendingPathComponent("synth").path
        let synth = try cli.run(["synth", "brats", "--cases", "3", "--out", data, "--size", "32", "32", "32", "--seed", "2"])
        XCTAssertEqual(synth.status, 0, synth.stderr)
        let run = Self.folder.appendingPathComponent("run").path
        let tiny = TestPaths.repositoryRoot.appendingPathComponent("pipelines/brats-tiny.yaml").path
        let train = try cli.run(["train", "--config", tiny, "--data", data, "--out", run, "--epochs", "3",
                                 "--iterations-per-epoch", "4", "--quiet"])
        XCTAssertEqual(train.status, 0, train.stderr)

        // The logged Dice of the epoch checkpoint_best.h5 was written at: the first epoch with the
        // highest mean validation Dice (brats-tiny validates every epoch on the last case).
        let lines = try String(contentsOfFile: "\(run)/log.csv", encoding: .utf8).split(separator: "\n")
            .map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = lines[0], columns = ["val_dice_WT", "val_dice_TC", "val_dice_ET"].map { header.firstIndex(of: $0)! }
        let validated = lines.dropFirst().filter { !$0[columns[0]].isEmpty }.map { row in columns.map { Double(row[$0])! } }
        XCTAssertEqual(validated.count, 3)
        func mean(_ values: [Double]) -> Double {
            let finite = values.filter { !$0.isNaN }
            return finite.isEmpty ? -.infinity : finite.reduce(0, +) / Double(finite.count)
        }
        var best = validated[0]
        for row in validated.dropFirst() where mean(row) > mean(best) { best = row }
        XCTAssertTrue(best.contains { $0.isFinite && $0 > 0 }, "the tiny run must predict something to compare: \(best)")

        let predictions = Self.folder.appendingPathComponent("pred").path
        try FileManager.default.createDirectory(atPath: predictions, withIntermediateDirectories: true)
        let segment = try cli.run(["segment", "-i", "\(data)/BraTS2021_00002", "-o", "\(predictions)/BraTS2021_00002.nii.gz",
                                   "--model", "\(run)/checkpoint_best.h5", "--quiet"])
        XCTAssertEqual(segment.status, 0, segment.stderr)
        let references = Self.folder.appendingPathComponent("ref").path
        try FileManager.default.createDirectory(atPath: references, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "\(data)/BraTS2021_00002/BraTS2021_00002_seg.nii.gz",
                                         toPath: "\(references)/BraTS2021_00002.nii.gz")
        let scores = Self.folder.appendingPathComponent("eval").path
        let evaluate = try cli.run(["evaluate", "--pred", predictions, "--ref", references, "--out", scores,
                                    "--regions", "brats", "--no-pictures"])
        XCTAssertEqual(evaluate.status, 0, evaluate.stderr)
        let metrics = try String(contentsOfFile: "\(scores)/metrics.csv", encoding: .utf8).split(separator: "\n")
            .map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let names = metrics[0], labelColumn = names.firstIndex(of: "label")!, diceColumn = names.firstIndex(of: "dice")!
        for (index, region) in ["WT", "TC", "ET"].enumerated() {
            guard let row = metrics.first(where: { $0.count > labelColumn && $0[labelColumn] == region }) else {
                return XCTFail("metrics.csv has no row for \(region)")
            }
            let evaluated = Double(row[diceColumn]) ?? .nan
            print("\(region): trainer \(best[index]), segment + evaluate \(evaluated)")
            if best[index].isNaN { XCTAssertTrue(evaluated.isNaN, region) } else { XCTAssertEqual(evaluated, best[index], accuracy: 1e-6, region) }
        }
    }
}
