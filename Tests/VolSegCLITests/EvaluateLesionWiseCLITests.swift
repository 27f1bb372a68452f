import Foundation
import VolSegTestSupport
import XCTest

/// `volseg evaluate --metrics brats-lesionwise` on a copy of the brats/ pairs of
/// Tests/References/evaluation: lesions.csv and summary_extra.json's `lesionwise` section against
/// the BraTS-2023-Metrics code's results (lesionwise.json), under GLI and MET parameters.
final class EvaluateLesionWiseCLITests: XCTestCase {
    static let references = TestPaths.repositoryRoot.appendingPathComponent("Tests/References/evaluation")
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-evaluate-lesionwise-\(UUID().uuidString)")

    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    func expectedSummaries(_ challenge: String) throws -> [String: [String: [String: Any]]] {
        let data = try Data(contentsOf: Self.references.appendingPathComponent("lesionwise.json"))
        let cases = try XCTUnwrap((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["cases"] as? [String: [String: Any]])
        return try cases.mapValues { entry in
            let rows = try XCTUnwrap((entry[challenge] as? [String: Any])?["summary"] as? [[String: Any]])
            return Dictionary(uniqueKeysWithValues: rows.map { ($0["Labels"] as! String, $0) })
        }
    }

    func run(challenge: String?) throws -> URL {
        let cli = try CLIRunner.make()
        let folder = scratch.appendingPathComponent("brats")
        if !FileManager.default.fileExists(atPath: folder.path) {
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: Self.references.appendingPathComponent("brats"), to: folder)
        }
        let out = scratch.appendingPathComponent("out-\(challenge ?? "default")")
        let result = try cli.run(["evaluate", "--pred", folder.appendingPathComponent("pred").path,
                                  "--ref", folder.appendingPathComponent("gt").path, "--out", out.path,
                                  "--regions", "brats2023", "--metrics", "brats-lesionwise", "--no-pictures", "--quiet"]
                                 + (challenge.map { ["--brats-challenge", $0] } ?? []))
        XCTAssertEqual(result.status, 0, result.stderr)
        return out
    }

    func lesionwiseSection(_ out: URL) throws -> [String: Any] {
        let text = try String(contentsOf: out.appendingPathComponent("summary_extra.json"), encoding: .utf8)
            .replacingOccurrences(of: ": NaN", with: ": null")
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        return try XCTUnwrap(root["lesionwise"] as? [String: Any])
    }

    func testLesionWiseSectionMatchesTheBraTSCodeUnderGLIAndMET() throws {
        for (argument, name) in [(nil, "BraTS-GLI"), ("met", "BraTS-MET")] {
            let section = try lesionwiseSection(try run(challenge: argument))
            XCTAssertEqual(section["challenge"] as? String, name)
            XCTAssertEqual(section["label_convention"] as? String, "brats2023")
            let expected = try expectedSummaries(name)
            let cases = try XCTUnwrap(section["cases"] as? [String: [String: [String: Any]]])
            XCTAssertEqual(Set(cases.keys), Set(expected.keys))
            var sums = [String: [String: Double]]()
            for (caseID, regions) in expected {
                for (region, row) in regions {
                    let ours = try XCTUnwrap(cases[caseID]?[region], "\(caseID) \(region)")
                    for key in ["LesionWise_Score_Dice", "LesionWise_Score_HD95", "Num_TP", "Num_FP", "Num_FN", "Legacy_Dice", "Legacy_HD95"] {
                        let theirs = try XCTUnwrap(row[key] as? Double), value = try XCTUnwrap((ours[key] as? NSNumber)?.doubleValue, key)
                        XCTAssertEqual(value, theirs, accuracy: 1e-6 * max(1, abs(theirs)), "\(name) \(caseID) \(region) \(key)")
                        sums[region, default: [:]][key, default: 0] += theirs
                    }
                    XCTAssertEqual(ours["empty_both"] as? Bool, caseID == "brats_liver_c_no_et" && region == "ET")
                }
            }
            let means = try XCTUnwrap(section["mean"] as? [String: [String: Double]])
            for (region, keys) in sums {
                for (key, sum) in keys {
                    XCTAssertEqual(try XCTUnwrap(means[region]?[key]), sum / Double(expected.count), accuracy: 1e-6, "\(name) mean \(region) \(key)")
                }
            }
        }
    }

    func testLesionsCSVHoldsEveryLesionAndFPComponent() throws {
        let out = try run(challenge: nil)
        let lines = try String(contentsOf: out.appendingPathComponent("lesions.csv"), encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "case,region,lesion,status,counted,voxels,volume_mm3,centroid_x,centroid_y,centroid_z,pred_components,dice,hd95")
        let columns = lines[0].split(separator: ",").map(String.init)
        let rows = lines.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(columns, $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init))) }
        // Counted TP and FN rows and FP rows give the code's Num_TP, Num_FN and Num_FP.
        for (caseID, regions) in try expectedSummaries("BraTS-GLI") {
            for (region, row) in regions {
                let here = rows.filter { $0["case"] == caseID && $0["region"] == region }
                for (status, key) in [("TP", "Num_TP"), ("FN", "Num_FN"), ("FP", "Num_FP")] {
                    let count = here.filter { $0["status"] == status && $0["counted"] == "true" }.count
                    XCTAssertEqual(Double(count), row[key] as? Double, "\(caseID) \(region) \(key)")
                }
                for fp in here where fp["status"] == "FP" {
                    XCTAssertEqual(fp["lesion"], "")
                    XCTAssertEqual(fp["dice"], "0.0")
                    XCTAssertEqual(fp["hd95"], "374.0")
                }
            }
        }
        // The 9-voxel ET box of the brain case (35.7 mm³) is a lesion the means leave out.
        XCTAssertTrue(rows.contains { $0["case"] == "brats_brain_aniso" && $0["region"] == "ET" && $0["voxels"] == "9" && $0["counted"] == "false" })
    }

    func testBraTSChallengeWithoutLesionWiseMetricsIsRefused() throws {
        let cli = try CLIRunner.make()
        let folder = Self.references.appendingPathComponent("brats")
        let result = try cli.run(["evaluate", "--pred", folder.appendingPathComponent("pred").path, "--ref", folder.appendingPathComponent("gt").path,
                                  "--out", scratch.appendingPathComponent("refused").path, "--brats-challenge", "met"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("--metrics brats-lesionwise"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("refused").path))
    }
}
