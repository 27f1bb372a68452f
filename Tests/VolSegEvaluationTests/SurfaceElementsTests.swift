import Foundation
@testable import VolSegEvaluation
import VolSegIO
import VolSegTestSupport
import XCTest

/// Our DeepMind-convention surface metrics against DeepMind's surface-distance 0.1 itself
/// (Tests/References/evaluation/surface.json, its `deepmind` entries, made by make_references.py on
/// the labels/ and brats/ pairs there): every case, every label, the BraTS regions, and the cases
/// with an empty side, where the expected value is what their code returns (inf, NaN or 0).
/// Tolerance: 1e-6 relative (our distance transform sums the squared terms in another order than
/// scipy's, so distances differ in the last bits; counts must be equal).
final class SurfaceElementsTests: XCTestCase {
    static let folder = TestPaths.repositoryRoot.appendingPathComponent("Tests/References/evaluation")

    struct Expected {
        let folder: String
        let caseID: String
        let spacing: [Double]
        /// (key, values, deepmind entry) for each label or region.
        let labels: [(name: String, values: [Int], deepmind: [String: Any])]
    }

    static func expected() throws -> [Expected] {
        let data = try Data(contentsOf: folder.appendingPathComponent("surface.json"))
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = try XCTUnwrap(root["cases"] as? [[String: Any]])
        return try cases.map { entry in
            let labels = try XCTUnwrap(entry["labels"] as? [String: [String: Any]])
            return Expected(folder: entry["folder"] as! String, caseID: entry["case"] as! String,
                            spacing: entry["spacing_xyz"] as! [Double],
                            labels: try labels.keys.sorted().map { name in
                                let label = labels[name]!
                                return (name, label["values"] as! [Int],
                                        try XCTUnwrap(label["deepmind"] as? [String: Any]))
                            })
        }
    }

    /// The value a metric of surface.json must have: a number, or its `special` entry ("inf", "nan").
    enum Value { case number(Double), infinity, nan }

    static func value(_ entry: [String: Any], _ key: String) throws -> Value {
        if let number = entry[key] as? Double { return .number(number) }
        let special = try XCTUnwrap((entry["special"] as? [String: String])?[key], "\(key): null without special")
        switch special {
        case "inf": return .infinity
        case "nan": return .nan
        default: throw XCTSkip("\(key): unexpected special \(special)")
        }
    }

    func testSurfaceMetricsMatchDeepMindOnEveryCaseLabelAndRegion() throws {
        var worst = 0.0, worstWhere = "", checkedNumbers = 0, checkedSpecial = 0
        var largest = (voxels: 0, seconds: 0.0, name: "")
        for expected in try Self.expected() {
            let base = Self.folder.appendingPathComponent(expected.folder)
            let pred = try NIfTIReader.read(base.appendingPathComponent("pred/\(expected.caseID).nii.gz"))
            let gt = try NIfTIReader.read(base.appendingPathComponent("gt/\(expected.caseID).nii.gz"))
            for (ours, theirs) in zip(gt.header.spacing, expected.spacing) {
                XCTAssertEqual(ours, theirs, accuracy: 1e-12, "\(expected.caseID): spacing as DeepMind got it")
            }
            for label in expected.labels {
                let place = "\(expected.caseID) label \(label.name)"
                let p = EvaluationMask(labels: pred.voxels.data, shape: pred.spatialShape, values: Set(label.values))
                let r = EvaluationMask(labels: gt.voxels.data, shape: gt.spatialShape, values: Set(label.values))
                let start = Date()
                let surfaces = SurfaceElements(prediction: p, reference: r, spacingXYZ: gt.header.spacing)
                let seconds = Date().timeIntervalSince(start)
                if p.voxels.count > largest.voxels || (p.voxels.count == largest.voxels && seconds > largest.seconds) {
                    largest = (p.voxels.count, seconds, place)
                }
                let d = label.deepmind
                XCTAssertEqual(surfaces.referenceToPrediction.count, d["n_surfels_gt"] as? Int, place)
                XCTAssertEqual(surfaces.predictionToReference.count, d["n_surfels_pred"] as? Int, place)
                let distances = surfaces.averageSurfaceDistances
                let overlap = surfaces.surfaceOverlap(toleranceMM: 1)
                let metrics: [(String, Double)] = [
                    ("surface_area_gt_mm2", surfaces.referenceToPrediction.totalArea),
                    ("surface_area_pred_mm2", surfaces.predictionToReference.totalArea),
                    ("robust_hd95", surfaces.robustHausdorff(percent: 95)),
                    ("robust_hd100", surfaces.robustHausdorff(percent: 100)),
                    ("asd_gt_to_pred", distances.referenceToPrediction),
                    ("asd_pred_to_gt", distances.predictionToReference),
                    ("surface_dice_1mm", surfaces.surfaceDice(toleranceMM: 1)),
                    ("surface_dice_2mm", surfaces.surfaceDice(toleranceMM: 2)),
                    ("surface_overlap_1mm_gt", overlap.reference),
                    ("surface_overlap_1mm_pred", overlap.prediction),
                ]
                for (key, ours) in metrics {
                    switch try Self.value(d, key) {
                    case .number(let theirs):
                        let relative = theirs == 0 ? abs(ours) : abs(ours - theirs) / abs(theirs)
                        if relative > worst { (worst, worstWhere) = (relative, "\(place) \(key)") }
                        XCTAssertLessThanOrEqual(relative, 1e-6, "\(place) \(key): ours \(ours), DeepMind \(theirs)")
                        checkedNumbers += 1
                    case .infinity:
                        XCTAssertTrue(ours.isInfinite && ours > 0, "\(place) \(key): DeepMind inf, ours \(ours)")
                        checkedSpecial += 1
                    case .nan:
                        XCTAssertTrue(ours.isNaN, "\(place) \(key): DeepMind NaN, ours \(ours)")
                        checkedSpecial += 1
                    }
                }
            }
        }
        XCTAssertGreaterThanOrEqual(checkedNumbers, 300)
        XCTAssertGreaterThanOrEqual(checkedSpecial, 40)
        print("DeepMind surface-distance agreement: \(checkedNumbers) values, worst relative difference "
              + "\(worst) (\(worstWhere)); \(checkedSpecial) inf/NaN values as theirs; largest case \(largest.name) "
              + "(\(largest.voxels) voxels) built in \(String(format: "%.3f", largest.seconds)) s")
    }

    /// Properties any marching-cubes area table has, checked without DeepMind's table: one corner
    /// cuts off a triangle of area √3/8 voxel², a face of four corners is a plane of one face's
    /// area, a code and its complement share a surface, and areas scale as the face areas do.
    func testSurfelAreaTableGeometry() {
        let unit = SurfelAreaTable.areas(spacingXYZ: [1, 1, 1])
        XCTAssertEqual(unit[0], 0)
        XCTAssertEqual(unit[255], 0)
        XCTAssertEqual(unit[1], 3.0.squareRoot() / 8, accuracy: 1e-15)
        let spacing = [0.7, 0.9, 2.0]
        let scaled = SurfelAreaTable.areas(spacingXYZ: spacing)
        // Voxels with x offset 1 (bits 0...3) inside: the plane x = 1/2, area sy · sz.
        XCTAssertEqual(scaled[0b0000_1111], 0.9 * 2.0, accuracy: 1e-12)
        // y offset 1 (bits 7 − (4a + 2 + c)): the plane y = 1/2, area sx · sz.
        let yHalf = [0, 1].flatMap { a in [0, 1].map { c in 1 << SurfelAreaTable.bit(x: a, y: 1, z: c) } }.reduce(0, |)
        XCTAssertEqual(scaled[yHalf], 0.7 * 2.0, accuracy: 1e-12)
        for code in 0..<256 {
            XCTAssertEqual(scaled[code], scaled[255 - code], accuracy: 1e-12, "code \(code) and its complement")
            let cube = SurfelAreaTable.areas(spacingXYZ: [3, 3, 3])[code]
            XCTAssertEqual(cube, 9 * unit[code], accuracy: 1e-12, "code \(code): isotropic scaling")
        }
    }

    /// A mask shifted by one voxel along x (0.7 mm): every surfel of the faces normal to x is 0.7 mm
    /// away and the tolerance rule is inclusive.
    func testShiftedCubeDistancesAndInclusiveTolerance() {
        let shape = [6, 6, 8]
        var a = [Float](repeating: 0, count: 6 * 6 * 8), b = a
        for z in 1..<5 { for y in 1..<5 { for x in 1..<5 {
            a[(z * 6 + y) * 8 + x] = 1
            b[(z * 6 + y) * 8 + x + 1] = 1
        } } }
        let p = EvaluationMask(labels: a, shape: shape, values: [1])
        let r = EvaluationMask(labels: b, shape: shape, values: [1])
        let surfaces = SurfaceElements(prediction: p, reference: r, spacingXYZ: [0.7, 1, 1])
        XCTAssertEqual(surfaces.robustHausdorff(percent: 100), 0.7, accuracy: 1e-12)
        XCTAssertEqual(surfaces.surfaceDice(toleranceMM: 0.7), 1)
        XCTAssertLessThan(surfaces.surfaceDice(toleranceMM: 0.69), 1)
        let same = SurfaceElements(prediction: p, reference: p, spacingXYZ: [0.7, 1, 1])
        XCTAssertEqual(same.robustHausdorff(percent: 95), 0)
        XCTAssertEqual(same.surfaceDice(toleranceMM: 0), 1)
    }
}
