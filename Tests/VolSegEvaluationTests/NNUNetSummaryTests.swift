import Foundation
@testable import VolSegEvaluation
@testable import VolSegIO
import VolSegTestSupport
import XCTest

/// summary.json against nnU-Net v2's own `compute_metrics_on_folder` on the same folders
/// (Tests/References/evaluation: the pairs, nnU-Net's files and the script that made them): on
/// nnU-Net's keys, counts exactly and Dice/IoU within 1e-12, for labels, an ignore label and
/// BraTS regions; the layout nnU-Net's loader needs (key spelling, sorted cases, NaN).
final class NNUNetSummaryTests: XCTestCase {
    static let folder = TestPaths.repositoryRoot.appendingPathComponent("Tests/References/evaluation")

    /// Python's json writes NaN bare; Foundation reads it as the string "NaN" after this.
    static func parse(_ text: String) throws -> [String: Any] {
        let quoted = text.replacingOccurrences(of: ": NaN", with: ": \"NaN\"")
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(quoted.utf8)) as? [String: Any])
    }

    func ours(folder name: String, labels: [EvaluationLabel], ignoreLabel: Int?) throws -> String {
        let options = EvaluationOptions(predictions: Self.folder.appendingPathComponent("\(name)/pred"),
                                        references: Self.folder.appendingPathComponent("\(name)/gt"),
                                        pictures: false, labels: labels, ignoreLabel: ignoreLabel)
        return EvaluationReportJSON.summary(try Evaluation.run(options))
    }

    /// Compares one label's metric dictionary on nnU-Net's keys.
    func compare(_ mine: [String: Any], _ theirs: [String: Any], _ context: String, worst: inout Double) {
        for key in ["Dice", "IoU", "TP", "FP", "FN", "TN", "n_pred", "n_ref"] {
            guard let expected = theirs[key] else { XCTFail("\(context): nnU-Net has no \(key)"); continue }
            guard let actual = mine[key] else { XCTFail("\(context): no \(key)"); continue }
            if let e = expected as? String, e == "NaN" {
                XCTAssertEqual(actual as? String, "NaN", "\(context) \(key): nnU-Net writes NaN")
                continue
            }
            guard let e = (expected as? NSNumber)?.doubleValue, let a = (actual as? NSNumber)?.doubleValue else {
                XCTFail("\(context) \(key): \(actual) vs nnU-Net's \(expected)"); continue
            }
            if ["Dice", "IoU"].contains(key) {
                XCTAssertEqual(a, e, accuracy: 1e-12, "\(context) \(key)")
                worst = max(worst, abs(a - e))
            } else {
                XCTAssertEqual(a, e, accuracy: abs(e) * 1e-12, "\(context) \(key)")
            }
        }
    }

    func check(run output: String, folder name: String, labels: [EvaluationLabel], ignoreLabel: Int?) throws {
        let theirs = try Self.parse(try String(contentsOf: Self.folder.appendingPathComponent(output), encoding: .utf8))
        let text = try ours(folder: name, labels: labels, ignoreLabel: ignoreLabel)
        let mine = try Self.parse(text)
        XCTAssertEqual(Set(mine.keys), Set(theirs.keys), "top-level keys")
        var worst = 0.0
        let theirCases = try XCTUnwrap(theirs["metric_per_case"] as? [[String: Any]])
        let myCases = try XCTUnwrap(mine["metric_per_case"] as? [[String: Any]])
        func names(_ cases: [[String: Any]], _ key: String) -> [String] {
            cases.map { URL(fileURLWithPath: $0[key] as? String ?? "").lastPathComponent }
        }
        XCTAssertEqual(names(myCases, "prediction_file"), names(theirCases, "prediction_file"), "cases in nnU-Net's order")
        XCTAssertEqual(names(myCases, "reference_file"), names(theirCases, "reference_file"))
        for (m, t) in zip(myCases, theirCases) {
            let mm = try XCTUnwrap(m["metrics"] as? [String: [String: Any]]), tm = try XCTUnwrap(t["metrics"] as? [String: [String: Any]])
            XCTAssertEqual(Set(mm.keys), Set(tm.keys), "label keys spelled as nnU-Net's")
            for (key, value) in tm { compare(mm[key] ?? [:], value, "\(output) \(names([t], "prediction_file")[0]) \(key)", worst: &worst) }
        }
        let myMean = try XCTUnwrap(mine["mean"] as? [String: [String: Any]]), theirMean = try XCTUnwrap(theirs["mean"] as? [String: [String: Any]])
        XCTAssertEqual(Set(myMean.keys), Set(theirMean.keys))
        for (key, value) in theirMean { compare(myMean[key] ?? [:], value, "\(output) mean \(key)", worst: &worst) }
        compare(try XCTUnwrap(mine["foreground_mean"] as? [String: Any]), try XCTUnwrap(theirs["foreground_mean"] as? [String: Any]),
                "\(output) foreground_mean", worst: &worst)
        // nnU-Net's formatting: sort_keys, indent 4, no trailing newline.
        XCTAssertTrue(text.hasPrefix("{\n    \"foreground_mean\": {\n        \"ASSD\": "), String(text.prefix(80)))
        XCTAssertFalse(text.hasSuffix("\n"))
        print("\(output): worst Dice/IoU difference \(worst)")
    }

    func testLabelsMatchNNUNet() throws {
        try check(run: "nnunet_labels/summary.json", folder: "labels",
                  labels: [1, 2].map { EvaluationLabel(name: String($0), values: [$0]) }, ignoreLabel: nil)
    }

    func testIgnoreLabelMatchesNNUNet() throws {
        try check(run: "nnunet_labels_ignore/summary.json", folder: "labels",
                  labels: [1, 2].map { EvaluationLabel(name: String($0), values: [$0]) }, ignoreLabel: 3)
    }

    func testRegionsMatchNNUNet() throws {
        try check(run: "nnunet_regions/summary.json", folder: "brats",
                  labels: [EvaluationLabel(name: "WT", values: [1, 2, 3], isRegion: true),
                           EvaluationLabel(name: "TC", values: [1, 3], isRegion: true),
                           EvaluationLabel(name: "ET", values: [3], isRegion: true)], ignoreLabel: nil)
    }

    func testBraTSLabelsMatchNNUNet() throws {
        try check(run: "nnunet_brats_labels/summary.json", folder: "brats",
                  labels: [1, 2, 3].map { EvaluationLabel(name: String($0), values: [$0]) }, ignoreLabel: nil)
    }

    func testPythonReprOfFloats() {
        for (value, text) in [(81900.0, "81900.0"), (0.1, "0.1"), (351920.19999999995, "351920.19999999995"), (1e-05, "1e-05"),
                              (0.0001, "0.0001"), (1e16, "1e+16"), (123456789012345.6, "123456789012345.6"), (-2.5, "-2.5"),
                              (Double.nan, "NaN"), (Double.infinity, "Infinity"), (1.5e-7, "1.5e-07"), (2e20, "2e+20")] {
            XCTAssertEqual(PythonJSON.pythonRepr(value), text)
        }
    }
}
