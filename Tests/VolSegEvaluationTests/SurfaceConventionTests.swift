import Foundation
@testable import VolSegEvaluation
@testable import VolSegIO
import VolSegTestSupport
import XCTest

/// HD95, ASSD and NSD as `MetricScores` reports them in each convention, against MONAI 1.6.1, MedPy
/// 0.5.2 and DeepMind's surface-distance 0.1 on the reference pairs of Tests/References/evaluation
/// (surface.json): within 1e-6 relative (MONAI returns float32), and what each gives when a side
/// is empty (undefined: nil, written NaN; NSD 0 with one side empty, NaN with both, as DeepMind).
final class SurfaceConventionTests: XCTestCase {
    static let folder = TestPaths.repositoryRoot.appendingPathComponent("Tests/References/evaluation")

    func testMONAIAndMedPyConventionsMatchThePeers() throws {
        let data = try Data(contentsOf: Self.folder.appendingPathComponent("surface.json"))
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = try XCTUnwrap(root["cases"] as? [[String: Any]])
        var worst = 0.0, compared = 0, empty = 0
        for entry in cases {
            let folder = entry["folder"] as! String, name = entry["case"] as! String
            let pred = try NIfTIReader.read(Self.folder.appendingPathComponent("\(folder)/pred/\(name).nii.gz"))
            let ref = try NIfTIReader.read(Self.folder.appendingPathComponent("\(folder)/gt/\(name).nii.gz"))
            let labels = try XCTUnwrap(entry["labels"] as? [String: [String: Any]])
            for (key, expected) in labels {
                let values = Set(expected["values"] as! [Int])
                let p = EvaluationMask(labels: pred.voxels.data, shape: pred.spatialShape, values: values)
                let r = EvaluationMask(labels: ref.voxels.data, shape: ref.spatialShape, values: values)
                let spacing = ref.header.spacing
                let monai = MetricScores.compute(prediction: p, reference: r, spacingXYZ: spacing,
                                                 surface: SurfaceMetricSettings(hd95: .monai, assd: .monai))
                let medpy = MetricScores.compute(prediction: p, reference: r, spacingXYZ: spacing,
                                                 surface: SurfaceMetricSettings(hd95: .medpy, assd: .medpy04))
                let deepmind = MetricScores.compute(prediction: p, reference: r, spacingXYZ: spacing,
                                                    surface: SurfaceMetricSettings(hd95: .deepmind), nsdTolerance: 1)
                let dm = try XCTUnwrap(expected["deepmind"] as? [String: Any])
                if let nsd = (dm["surface_dice_1mm"] as? NSNumber)?.doubleValue {
                    XCTAssertEqual(try XCTUnwrap(deepmind.nsd), nsd, accuracy: 1e-9, "\(name) \(key) NSD at 1 mm")
                } else {
                    XCTAssertTrue(try XCTUnwrap(deepmind.nsd).isNaN, "\(name) \(key): NSD NaN when both are empty")
                }
                if !p.isEmpty && !r.isEmpty {
                    XCTAssertEqual(try XCTUnwrap(deepmind.hd95), (dm["robust_hd95"] as! NSNumber).doubleValue, accuracy: 1e-9,
                                   "\(name) \(key) DeepMind HD95")
                } else {
                    XCTAssertNil(deepmind.hd95, "\(name) \(key): an empty side gives no HD95 (DeepMind's inf, written NaN)")
                }
                let m = try XCTUnwrap(expected["monai"] as? [String: Any]), d = try XCTUnwrap(expected["medpy"] as? [String: Any])
                let context = "\(name) \(key)"
                guard let hd95 = (m["hd95"] as? NSNumber)?.doubleValue else {
                    // MONAI: NaN HD95 with an empty side; MedPy raises. Ours is undefined (NaN in the files).
                    XCTAssertTrue(p.isEmpty || r.isEmpty, "\(context): MONAI undefined only with an empty side")
                    XCTAssertNil(monai.hd95, context)
                    XCTAssertNil(monai.assd, context)
                    empty += 1
                    continue
                }
                let pairs: [(String, Double?, Double)] = [
                    ("monai hd95", monai.hd95, hd95),
                    ("monai assd", monai.assd, (m["assd_symmetric"] as! NSNumber).doubleValue),
                    ("medpy hd95", medpy.hd95, (d["hd95"] as! NSNumber).doubleValue),
                    ("medpy 0.5 assd (= monai)", monai.assd, (d["assd"] as! NSNumber).doubleValue),
                    ("medpy04 assd", medpy.assd, ((d["asd_pred_to_gt"] as! NSNumber).doubleValue + (d["asd_gt_to_pred"] as! NSNumber).doubleValue) / 2),
                ]
                for (what, actual, reference) in pairs {
                    let value = try XCTUnwrap(actual, "\(context) \(what)")
                    let relative = abs(value - reference) / max(abs(reference), 1e-12)
                    XCTAssertLessThan(relative, 1e-6, "\(context) \(what): \(value) vs \(reference)")
                    worst = max(worst, relative)
                }
                compared += 1
            }
        }
        print("MONAI/MedPy conventions over \(compared) label pairs (\(empty) with an empty side): worst relative difference \(worst)")
        XCTAssertGreaterThanOrEqual(compared, 34)
        XCTAssertGreaterThanOrEqual(empty, 12)
    }
}
