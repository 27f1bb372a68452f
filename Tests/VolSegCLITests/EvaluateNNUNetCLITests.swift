import Foundation
import VolSegTestSupport
import XCTest

/// `volseg evaluate` in nnU-Net's own argument forms (nnUNetv2_evaluate_simple and
/// nnUNetv2_evaluate_folder) on the reference pairs of Tests/References/evaluation, checked
/// against the summary.json nnU-Net wrote for the same folders.
final class EvaluateNNUNetCLITests: XCTestCase {
    static let references = TestPaths.repositoryRoot.appendingPathComponent("Tests/References/evaluation")
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-evaluate-nnunet-\(UUID().uuidString)")

    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    /// A copy of one reference folder (nnU-Net's form writes into the prediction folder).
    func copyOf(_ name: String) throws -> URL {
        let target = scratch.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Self.references.appendingPathComponent(name), to: target)
        return target
    }

    func foregroundDice(_ url: URL) throws -> Double? {
        let text = try String(contentsOf: url, encoding: .utf8).replacingOccurrences(of: ": NaN", with: ": null")
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        return (object?["foreground_mean"] as? [String: Any])?["Dice"] as? Double
    }

    func testEvaluateSimpleFormWritesNNUNetsSummaryWhereNNUNetWould() throws {
        let cli = try CLIRunner.make()
        let folder = try copyOf("labels")
        let result = try cli.run(["evaluate", folder.appendingPathComponent("gt").path, folder.appendingPathComponent("pred").path,
                                  "-l", "1", "2", "-il", "3", "-np", "2", "--no-pictures", "--quiet"])
        XCTAssertEqual(result.status, 0, result.stderr)
        // Default -o: PRED_FOLDER/summary.json, the other outputs beside it.
        let summary = folder.appendingPathComponent("pred/summary.json")
        for name in ["summary.json", "summary_extra.json", "metrics.csv", "report.md"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appendingPathComponent("pred/\(name)").path), name)
        }
        let expected = try XCTUnwrap(try foregroundDice(Self.references.appendingPathComponent("nnunet_labels_ignore/summary.json")))
        XCTAssertEqual(try XCTUnwrap(try foregroundDice(summary)), expected, accuracy: 1e-12)

        // -o FILE names the summary itself.
        let named = scratch.appendingPathComponent("elsewhere/my_summary.json")
        try FileManager.default.createDirectory(at: named.deletingLastPathComponent(), withIntermediateDirectories: true)
        let other = try cli.run(["evaluate", folder.appendingPathComponent("gt").path, folder.appendingPathComponent("pred").path,
                                 "-l", "1", "2", "-o", named.path, "--no-pictures", "--quiet"])
        XCTAssertEqual(other.status, 0, other.stderr)
        let plain = try XCTUnwrap(try foregroundDice(Self.references.appendingPathComponent("nnunet_labels/summary.json")))
        XCTAssertEqual(try XCTUnwrap(try foregroundDice(named)), plain, accuracy: 1e-12)
    }

    func testEvaluateFolderFormReadsRegionsFromDatasetJSON() throws {
        let cli = try CLIRunner.make()
        let folder = try copyOf("brats")
        let dataset = scratch.appendingPathComponent("dataset.json"), plans = scratch.appendingPathComponent("plans.json")
        try Data(#"{"labels": {"background": 0, "whole tumor": [1, 2, 3], "tumor core": [1, 3], "enhancing tumor": [3]}, "regions_class_order": [2, 1, 3], "file_ending": ".nii.gz"}"#.utf8).write(to: dataset)
        try Data(#"{"plans_name": "nnUNetPlans", "configurations": {}}"#.utf8).write(to: plans)
        let result = try cli.run(["evaluate", folder.appendingPathComponent("gt").path, folder.appendingPathComponent("pred").path,
                                  "-djfile", dataset.path, "-pfile", plans.path, "--no-pictures", "--quiet"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let ours = try String(contentsOf: folder.appendingPathComponent("pred/summary.json"), encoding: .utf8)
        for key in ["\"(1, 2, 3)\"", "\"(1, 3)\"", "\"(3,)\""] { XCTAssertTrue(ours.contains(key), key) }
        let expected = try XCTUnwrap(try foregroundDice(Self.references.appendingPathComponent("nnunet_regions/summary.json")))
        XCTAssertEqual(try XCTUnwrap(try foregroundDice(folder.appendingPathComponent("pred/summary.json"))), expected, accuracy: 1e-12)

        // A dataset.json without background is refused, naming the file; nothing is written.
        let bad = scratch.appendingPathComponent("bad.json")
        try Data(#"{"labels": {"tumour": 1}}"#.utf8).write(to: bad)
        let out = scratch.appendingPathComponent("bad-out.json")
        let refused = try cli.run(["evaluate", folder.appendingPathComponent("gt").path, folder.appendingPathComponent("pred").path,
                                   "-djfile", bad.path, "-pfile", plans.path, "-o", out.path])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains(bad.path) && refused.stderr.contains("background"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
    }

    func testMissingPredictionIsAnErrorUnlessChill() throws {
        let cli = try CLIRunner.make()
        let folder = try copyOf("labels")
        try FileManager.default.removeItem(at: folder.appendingPathComponent("pred/liver_shift_aniso.nii.gz"))
        let args = ["evaluate", folder.appendingPathComponent("gt").path, folder.appendingPathComponent("pred").path, "-l", "1", "2",
                    "--no-pictures", "--quiet"]
        let strict = try cli.run(args)
        XCTAssertNotEqual(strict.status, 0)
        XCTAssertTrue(strict.stderr.contains("liver_shift_aniso"), strict.stderr)
        let chill = try cli.run(args + ["--chill"])
        XCTAssertEqual(chill.status, 0, chill.stderr)
    }

    func testLabelAbsentEverywhereIsAWarningAndNaN() throws {
        let cli = try CLIRunner.make()
        let folder = try copyOf("labels")
        let result = try cli.run(["evaluate", folder.appendingPathComponent("gt").path, folder.appendingPathComponent("pred").path,
                                  "-l", "1", "2", "9", "--no-pictures", "--quiet"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("warning: label 9"), result.stderr)
        let summary = try String(contentsOf: folder.appendingPathComponent("pred/summary.json"), encoding: .utf8)
        XCTAssertTrue(summary.contains("\"9\": {"), "label 9 is in summary.json with NaN values")
        XCTAssertNil(try foregroundDice(folder.appendingPathComponent("pred/summary.json")), "nnU-Net's plain mean: NaN")
    }
}
