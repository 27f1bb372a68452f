import Foundation
@testable import VolSegCore
@testable import VolSegEvaluation
import VolSegIO
import VolSegTestSupport
import XCTest

/// Lesion-wise BraTS metrics against the BraTS-2023-Metrics code itself
/// (Tests/References/evaluation/lesionwise.json, made by make_references.py with metrics.py at
/// the commit it names): every brats/ case under GLI, MEN and MET parameters, the summary table and
/// every lesion. Lesions and components are numbered differently there (cc3d's scan order on
/// x, y, z arrays), so they are matched by centroid. Tolerance 1e-6 relative on Dice, HD95 and
/// volumes (distances differ from scipy's in the last bits, see SurfaceElementsTests); counts exact.
final class BraTSLesionWiseTests: XCTestCase {
    static let folder = TestPaths.repositoryRoot.appendingPathComponent("Tests/References/evaluation")
    static let challenges: [BraTSChallenge] = [.gli, .men, .met]

    static func reference() throws -> [String: Any] {
        let data = try Data(contentsOf: folder.appendingPathComponent("lesionwise.json"))
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func cases() throws -> [String: [String: Any]] {
        try XCTUnwrap(try reference()["cases"] as? [String: [String: Any]])
    }

    static func read(_ caseID: String) throws -> (prediction: NIfTIVolume, reference: NIfTIVolume) {
        (try NIfTIReader.read(folder.appendingPathComponent("brats/pred/\(caseID).nii.gz")),
         try NIfTIReader.read(folder.appendingPathComponent("brats/gt/\(caseID).nii.gz")))
    }

    static func evaluate(_ prediction: NIfTIVolume, _ reference: NIfTIVolume, _ challenge: BraTSChallenge,
                         convention: LabelConvention = .brats2023) -> [BraTSRegionScores] {
        BraTSLesionWise.evaluate(prediction: prediction.voxels.data, reference: reference.voxels.data, shape: reference.spatialShape,
                                 spacingXYZ: prediction.header.spacing, challenge: challenge, convention: convention)
    }

    /// A number of lesionwise.json: a JSON number, or "inf" (metrics.py's raw HD95 of a missed
    /// lesion, which its table turns into 374).
    static func number(_ value: Any?) throws -> Double {
        if let number = value as? Double { return number }
        if let text = value as? String, text == "inf" { return .infinity }
        throw XCTSkip("not a number: \(String(describing: value))")
    }

    struct Worst {
        var error = 0.0, place = ""
        mutating func check(_ ours: Double, _ theirs: Double, _ place: String, file: StaticString = #filePath, line: UInt = #line) {
            let error = abs(ours - theirs) / max(abs(theirs), 1e-12)
            if abs(ours - theirs) > 0 && error > self.error { (self.error, self.place) = (error, place) }
            XCTAssertLessThanOrEqual(error, 1e-6, "\(place): ours \(ours), BraTS code \(theirs)", file: file, line: line)
        }
    }

    func testChallengeParametersAreThoseOfTheBraTSCode() throws {
        let parameters = try XCTUnwrap(try Self.reference()["challenge_parameters"] as? [String: Any])
        for challenge in BraTSChallenge.allCases {
            let pair = try XCTUnwrap(parameters[challenge.challengeName] as? [Double], challenge.challengeName)
            XCTAssertEqual(Double(challenge.dilationIterations), pair[0], challenge.challengeName)
            XCTAssertEqual(challenge.lesionVolumeThresholdMM3, pair[1], challenge.challengeName)
        }
    }

    func testSummaryMatchesTheBraTSCodeForEveryCaseRegionAndChallenge() throws {
        var worst = Worst(), checked = 0
        for (caseID, entry) in try Self.cases().sorted(by: { $0.key < $1.key }) {
            let (prediction, reference) = try Self.read(caseID)
            for challenge in Self.challenges {
                let theirs = try XCTUnwrap((entry[challenge.challengeName] as? [String: Any])?["summary"] as? [[String: Any]])
                let ours = Self.evaluate(prediction, reference, challenge)
                XCTAssertEqual(ours.map(\.region.rawValue), theirs.map { $0["Labels"] as? String ?? "" })
                for (scores, row) in zip(ours, theirs) {
                    let place = "\(caseID) \(challenge.challengeName) \(scores.region.rawValue)"
                    for key in BraTSRegionScores.summaryKeys {
                        let expected = try Self.number(row[key])
                        if BraTSRegionScores.integerKeys.contains(key) {
                            XCTAssertEqual(scores.summaryValue(key), expected, "\(place) \(key)")
                        } else {
                            worst.check(scores.summaryValue(key), expected, "\(place) \(key)")
                        }
                        checked += 1
                    }
                }
            }
        }
        print("lesion-wise summary: \(checked) values, worst relative error \(worst.error) at \(worst.place)")
        XCTAssertEqual(checked, 6 * 3 * 3 * BraTSRegionScores.summaryKeys.count)
    }

    /// Component number (1-based) -> (voxels, centroid x, y, z) of a 26-connected labelling.
    static func components(of mask: EvaluationMask) -> [(voxels: Int, centroid: [Double])] {
        let components = mask.voxels.withUnsafeBufferPointer {
            ConnectedComponents(mask: $0.baseAddress!, shape: mask.shape, connectivity: .corners)
        }
        return ComponentExtent.of(UnsafePointer(components.table.pointer!), count: components.count, shape: mask.shape, inside: nil)
            .map { ($0.voxels, $0.centroidXYZ) }
    }

    static func near(_ a: [Double], _ b: [Double]) -> Bool { zip(a, b).allSatisfy { abs($0 - $1) < 1e-3 } }

    func testEveryLesionMatchesTheBraTSCodeByCentroid() throws {
        var worst = Worst(), lesions = 0, falsePositives = 0
        for (caseID, entry) in try Self.cases().sorted(by: { $0.key < $1.key }) {
            let (prediction, reference) = try Self.read(caseID)
            for challenge in Self.challenges {
                let regions = try XCTUnwrap((entry[challenge.challengeName] as? [String: Any])?["regions"] as? [String: [String: Any]])
                for scores in Self.evaluate(prediction, reference, challenge) {
                    let place = "\(caseID) \(challenge.challengeName) \(scores.region.rawValue)"
                    let theirs = try XCTUnwrap(regions[scores.region.rawValue], place)
                    let theirLesions = try XCTUnwrap(theirs["lesions"] as? [[String: Any]])
                    let combined = try XCTUnwrap(theirs["gt_lesions_combined"] as? [[String: Any]])
                    let theirComponents = try XCTUnwrap(theirs["pred_components"] as? [[String: Any]])
                    func theirCentroid(_ list: [[String: Any]], _ id: Int) throws -> [Double] {
                        try XCTUnwrap(list.first { $0["id"] as? Int == id }?["centroid_xyz"] as? [Double], "\(place) id \(id)")
                    }
                    let values = BraTSLesionWise.values(of: scores.region, in: .brats2023)!
                    let ourComponents = Self.components(of: EvaluationMask(labels: prediction.voxels.data, shape: prediction.spatialShape,
                                                                           values: values))
                    let ours = scores.lesions.filter { !$0.isFalsePositive }
                    XCTAssertEqual(ours.count, theirLesions.count, "\(place): reference lesions")
                    for lesion in theirLesions {
                        let number = try XCTUnwrap(lesion["gt_lesion_number"] as? Int)
                        let centroid = try theirCentroid(combined, number)
                        guard let row = ours.first(where: { Self.near($0.centroidXYZ, centroid) }) else {
                            XCTFail("\(place): no lesion at \(centroid)"); continue
                        }
                        let at = "\(place) lesion at \(centroid)"
                        worst.check(row.volumeMM3, try Self.number(lesion["gt_lesion_vol_mm3"]), "\(at) volume")
                        XCTAssertEqual(row.counted, lesion["counted"] as? Bool, at)
                        worst.check(row.dice, try Self.number(lesion["dice_lesionwise"]), "\(at) Dice")
                        let hd95 = try Self.number(lesion["hd95_lesionwise"])
                        worst.check(row.hd95, hd95.isFinite ? hd95 : BraTSLesionWise.missingHD95MM, "\(at) HD95")
                        // The same matched components: equal voxel counts at equal centroids.
                        let theirMatches = try XCTUnwrap(lesion["predicted_lesion_numbers"] as? [Int])
                        XCTAssertEqual(row.predictedComponents.count, theirMatches.count, at)
                        for id in theirMatches {
                            let centroid = try theirCentroid(theirComponents, id)
                            XCTAssertTrue(row.predictedComponents.contains { Self.near(ourComponents[$0 - 1].centroid, centroid) },
                                          "\(at): component at \(centroid) not matched")
                        }
                        lesions += 1
                    }
                    let theirFP = try XCTUnwrap(theirs["fp_pred_ids"] as? [Int])
                    let ourFP = scores.lesions.filter(\.isFalsePositive)
                    XCTAssertEqual(ourFP.count, theirFP.count, "\(place): FP components")
                    for id in theirFP {
                        let component = try XCTUnwrap(theirComponents.first { $0["id"] as? Int == id })
                        let centroid = try XCTUnwrap(component["centroid_xyz"] as? [Double])
                        let row = ourFP.first { Self.near($0.centroidXYZ, centroid) }
                        XCTAssertEqual(row?.voxels, component["voxels"] as? Int, "\(place): FP at \(centroid)")
                        XCTAssertEqual(row?.hd95, BraTSLesionWise.missingHD95MM)
                        falsePositives += 1
                    }
                }
            }
        }
        print("lesion-wise rows: \(lesions) lesions, \(falsePositives) FP components, worst relative error \(worst.error) at \(worst.place)")
        XCTAssertGreaterThan(lesions, 100)
        XCTAssertGreaterThan(falsePositives, 20)
    }

    func testEmptyInBothRegionIsFlaggedWithTheCodesOneAndZero() throws {
        let (prediction, reference) = try Self.read("brats_liver_c_no_et")
        let scores = Self.evaluate(prediction, reference, .gli)
        let et = try XCTUnwrap(scores.first { $0.region == .enhancingTumour })
        XCTAssertTrue(et.emptyBoth)
        XCTAssertEqual([et.lesionWiseDice, et.lesionWiseHD95, et.legacyDice, et.legacyHD95], [1, 0, 1, 0])
        XCTAssertTrue(et.lesions.isEmpty)
        XCTAssertFalse(scores.filter { $0.region != .enhancingTumour }.contains(where: \.emptyBoth))
    }

    /// The same case written in BraTS 2021 values (ET 4) and MSD Task01 values (1 oedema, 2
    /// non-enhancing core, 3 enhancing) scores exactly as in 2023 values once the convention is named.
    func testBraTS2021AndMSDLabelsAreMappedByMeaning() throws {
        XCTAssertEqual(BraTSLesionWise.brats2023Values(of: .brats2021), [1: 1, 2: 2, 4: 3])
        XCTAssertEqual(BraTSLesionWise.brats2023Values(of: .msdBrain), [1: 2, 2: 1, 3: 3])
        XCTAssertNil(BraTSLesionWise.brats2023Values(of: .lits))
        let (prediction, reference) = try Self.read("brats_brain_aniso")
        let expected = Self.evaluate(prediction, reference, .met)
        for (convention, map) in [(LabelConvention.brats2021, [Float(1): Float(1), 2: 2, 3: 4]), (.msdBrain, [1: 2, 2: 1, 3: 3])] {
            let (p, r) = (prediction.voxels.copy(), reference.voxels.copy())
            for t in [p, r] { for i in 0..<t.count { t.data[i] = map[t.data[i]] ?? t.data[i] } }
            let ours = BraTSLesionWise.evaluate(prediction: p.data, reference: r.data, shape: reference.spatialShape,
                                                spacingXYZ: prediction.header.spacing, challenge: .met, convention: convention)
            XCTAssertEqual(ours, expected, convention.name)
        }
        XCTAssertThrowsError(try BraTSLesionWise.convention(detected: .lits, regions: nil))
        XCTAssertEqual(try BraTSLesionWise.convention(detected: nil, regions: .brats), .brats2021)
        XCTAssertEqual(try BraTSLesionWise.convention(detected: nil, regions: nil), .brats2023)
    }
}
