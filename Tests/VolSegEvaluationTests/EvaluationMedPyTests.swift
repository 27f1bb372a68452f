import Foundation
@testable import VolSegEvaluation
@testable import VolSegIO
import VolSegTestSupport
import XCTest

/// Our metrics against MedPy 0.5.2 on perturbed real label maps (Tests/References/medpy: the
/// pairs, expected.json and the script that made them). Tolerances: Dice/IoU 1e-9 absolute,
/// distances 1e-4 relative (the sums differ from numpy's pairwise summation in the last bits only).
final class EvaluationMedPyTests: XCTestCase {
    static let folder = TestPaths.repositoryRoot.appendingPathComponent("Tests/References/medpy")

    struct Expected {
        let caseID: String
        let spacing: [Double]
        let labels: [(name: String, values: [Int], medpy: [String: Any])]
    }

    static func expected() throws -> [Expected] {
        let data = try Data(contentsOf: folder.appendingPathComponent("expected.json"))
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = try XCTUnwrap(root["cases"] as? [[String: Any]])
        return try cases.map { entry in
            let labels = try XCTUnwrap(entry["labels"] as? [String: [String: Any]])
            return Expected(caseID: entry["case"] as! String, spacing: entry["spacing_xyz"] as! [Double],
                            labels: labels.keys.sorted().map { ($0, labels[$0]!["values"] as! [Int], labels[$0]!) })
        }
    }

    func testMetricsMatchMedPyOnPerturbedRealLabelMaps() throws {
        var worstDistance = 0.0, worstOverlap = 0.0, checked = 0
        for expected in try Self.expected() {
            let pred = try NIfTIReader.read(Self.folder.appendingPathComponent("pairs/pred/\(expected.caseID).nii.gz"))
            let ref = try NIfTIReader.read(Self.folder.appendingPathComponent("pairs/ref/\(expected.caseID).nii.gz"))
            // Foundation's JSON parser may be off in the last bit of a double.
            for (ours, theirs) in zip(ref.header.spacing, expected.spacing) {
                XCTAssertEqual(ours, theirs, accuracy: 1e-12, "\(expected.caseID): spacing read as MedPy got it")
            }
            for label in expected.labels {
                let p = EvaluationMask(labels: pred.voxels.data, shape: pred.spatialShape, values: Set(label.values))
                let r = EvaluationMask(labels: ref.voxels.data, shape: ref.spatialShape, values: Set(label.values))
                let scores = MetricScores.compute(prediction: p, reference: r, spacingXYZ: ref.header.spacing,
                                                  surface: SurfaceMetricSettings(hd95: .medpy, assd: .medpy04))
                let where_ = "\(expected.caseID) label \(label.name)"
                let m = label.medpy
                XCTAssertEqual(scores.tp, m["tp"] as? Int, where_)
                XCTAssertEqual(scores.fp, m["fp"] as? Int, where_)
                XCTAssertEqual(scores.fn, m["fn"] as? Int, where_)
                XCTAssertEqual(scores.tn, m["tn"] as? Int, where_)
                XCTAssertEqual(scores.nPred, m["n_pred"] as? Int, where_)
                XCTAssertEqual(scores.nRef, m["n_ref"] as? Int, where_)
                let dc = try XCTUnwrap(m["dc"] as? Double), jc = try XCTUnwrap(m["jc"] as? Double)
                XCTAssertEqual(scores.dice, dc, accuracy: 1e-9, where_)
                XCTAssertEqual(scores.iou, jc, accuracy: 1e-9, where_)
                worstOverlap = max(worstOverlap, abs(scores.dice - dc), abs(scores.iou - jc))
                guard let hd95 = m["hd95"] as? Double else {
                    XCTAssertNil(scores.hd95, "\(where_): one side empty, no HD95")
                    XCTAssertNil(scores.assd, "\(where_): one side empty, no ASSD")
                    XCTAssertEqual(scores.dice, 0, "\(where_): one side empty, Dice 0")
                    continue
                }
                let surfaces = try XCTUnwrap(SurfaceDistances(prediction: p, reference: r, spacingXYZ: ref.header.spacing))
                let pairs: [(String, Double?, Double)] = [
                    ("hd95", scores.hd95, hd95),
                    ("assd", scores.assd, m["assd"] as! Double),
                    ("hd", surfaces.hausdorff, m["hd"] as! Double),
                    ("asd(pred, ref)", surfaces.averagePredictionToReference, m["asd_pred_ref"] as! Double),
                    ("asd(ref, pred)", surfaces.averageReferenceToPrediction, m["asd_ref_pred"] as! Double),
                    ("assd pooled (MedPy 0.5)", surfaces.pooledAverageSurfaceDistance, m["assd_medpy_pooled"] as! Double),
                ]
                for (name, ours, theirs) in pairs {
                    let value = try XCTUnwrap(ours, "\(where_) \(name)")
                    let relative = abs(value - theirs) / max(abs(theirs), 1e-12)
                    worstDistance = max(worstDistance, relative)
                    XCTAssertLessThan(relative, 1e-4, "\(where_) \(name): ours \(value), MedPy \(theirs)")
                }
                checked += 1
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 10)
        print("MedPy agreement over \(checked) label pairs: worst Dice/IoU difference \(worstOverlap), "
              + "worst relative distance difference \(worstDistance)")
    }
}
