import Foundation
@testable import VolSegCore
@testable import VolSegEvaluation
@testable import VolSegIO
import XCTest

/// Case matching, label arguments, dataset scores and the written files, on small label maps made
/// in the test (the numbers are counted by hand).
final class EvaluationRunTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-eval-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    /// Writes a [nz, ny, nx] label map from a closure of (z, y, x), spacing (2, 1, 3) mm.
    @discardableResult
    func write(_ relative: String, shape: [Int] = [4, 6, 8], _ value: (Int, Int, Int) -> Float) throws -> URL {
        var values = [Float]()
        for z in 0..<shape[0] { for y in 0..<shape[1] { for x in 0..<shape[2] { values.append(value(z, y, x)) } } }
        let affine = NIfTIAffine(rows: [[2, 0, 0, 0], [0, 1, 0, 0], [0, 0, 3, 0], [0, 0, 0, 1]])
        let header = NIfTIHeader(spatialShape: Array(shape.reversed()), affine: affine)
        let url = folder.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try NIfTIWriter.writeLabelMap(Tensor(shape: shape, values: values), like: header, to: url)
        return url
    }

    func testLiTSAndBraTSReferenceNamesMapToTheirCaseIDs() throws {
        XCTAssertEqual(EvaluationMatching.caseID(ofFileNamed: "segmentation-17.nii"), "volume-17")
        XCTAssertEqual(EvaluationMatching.caseID(ofFileNamed: "BraTS2021_00012_seg.nii.gz"), "BraTS2021_00012")
        XCTAssertEqual(EvaluationMatching.caseID(ofFileNamed: "BraTS-GLI-00001-000-seg.nii.gz"), "BraTS-GLI-00001-000")
        XCTAssertEqual(EvaluationMatching.caseID(ofFileNamed: "patient_seg.nii.gz"), "patient_seg")
        XCTAssertNil(EvaluationMatching.caseID(ofFileNamed: "summary.json"))

        try write("ref/segmentation-3.nii") { z, _, _ in z == 1 ? 1 : 0 }
        try write("ref/batch2/segmentation-5.nii.gz") { z, _, _ in z == 2 ? 2 : 0 }
        try write("pred/volume-3.nii.gz") { z, _, _ in z == 1 ? 1 : 0 }
        try write("pred/volume-9.nii.gz") { _, _, _ in 0 }
        let matching = try EvaluationMatching.match(predictions: folder.appendingPathComponent("pred"),
                                                    references: folder.appendingPathComponent("ref"))
        XCTAssertEqual(matching.layoutName, "lits")
        XCTAssertEqual(matching.pairs.map(\.caseID), ["volume-3"])
        XCTAssertEqual(matching.missingPredictions.count, 1)
        XCTAssertTrue(matching.missingPredictions[0].hasPrefix("volume-5 ("), matching.missingPredictions[0])
        XCTAssertTrue(matching.extraPredictions[0].hasPrefix("volume-9 ("), matching.extraPredictions[0])
    }

    func testMissingCasesStopTheRunUnlessAllowed() throws {
        try write("ref/a.nii.gz") { z, _, _ in z == 1 ? 1 : 0 }
        try write("ref/b.nii.gz") { z, _, _ in z == 1 ? 1 : 0 }
        try write("pred/a.nii.gz") { z, _, _ in z == 1 ? 1 : 0 }
        var options = EvaluationOptions(predictions: folder.appendingPathComponent("pred"),
                                        references: folder.appendingPathComponent("ref"), pictures: false)
        XCTAssertThrowsError(try Evaluation.run(options)) { error in
            XCTAssertTrue("\(error)".contains("b ("), "\(error)")
        }
        options.allowMissing = true
        let result = try Evaluation.run(options)
        XCTAssertEqual(result.cases.map(\.pair.caseID), ["a"])
        XCTAssertEqual(result.cases[0].scores[0].dice, 1)
    }

    func testShapeMismatchNamesBothFiles() throws {
        let ref = try write("ref/a.nii.gz") { _, _, _ in 1 }
        let pred = try write("pred/a.nii.gz", shape: [4, 6, 7]) { _, _, _ in 1 }
        let options = EvaluationOptions(predictions: pred.deletingLastPathComponent(), references: ref.deletingLastPathComponent())
        XCTAssertThrowsError(try Evaluation.run(options)) { error in
            XCTAssertTrue("\(error)".contains(pred.path) && "\(error)".contains(ref.path), "\(error)")
        }
    }

    func testLabelArguments() throws {
        XCTAssertEqual(try EvaluationLabel.parse(["liver=1,2", "3"]),
                       [EvaluationLabel(name: "liver", values: [1, 2]), EvaluationLabel(name: "3", values: [3])])
        XCTAssertEqual(try EvaluationLabel.parse(["WT"], convention: .brats2023), [EvaluationLabel(name: "WT", values: [1, 2, 3], isRegion: true)])
        // nnU-Net's summary.json keys: a label "2", a set of values or a region a tuple.
        XCTAssertEqual(try EvaluationLabel.parse(["liver=1,2", "3", "t=2"]).map(\.nnUNetKey), ["(1, 2)", "3", "2"])
        XCTAssertEqual(EvaluationLabel.Regions.brats.labels.map(\.nnUNetKey), ["(1, 2, 4)", "(1, 4)", "(4,)"])
        XCTAssertEqual(try EvaluationLabel.parse(["edema"], convention: .msdBrain), [EvaluationLabel(name: "edema", values: [1])])
        for (bad, mention) in [("lung", "lung"), ("x=1,a", "\"a\""), ("=2", "empty"), ("t=-1", "-1")] {
            XCTAssertThrowsError(try EvaluationLabel.parse([bad])) { error in
                XCTAssertTrue("\(error)".contains(mention), "\(bad): \(error)")
            }
        }
        XCTAssertEqual(EvaluationLabel.Regions.brats.labels.map(\.description), ["WT=1,2,4", "TC=1,4", "ET=4"])
        XCTAssertEqual(EvaluationLabel.Regions.brats2023.labels.map(\.description), ["WT=1,2,3", "TC=1,3", "ET=3"])
        XCTAssertEqual(EvaluationLabel.Regions.lits.labels.map(\.description), ["liver=1,2", "tumour=2"])
    }

    func testLabelValueInNoFileIsAWarningAndNaN() throws {
        try write("ref/a.nii.gz") { z, _, _ in z == 1 ? 1 : 0 }
        try write("pred/a.nii.gz") { z, _, _ in z == 1 ? 1 : 0 }
        let options = EvaluationOptions(predictions: folder.appendingPathComponent("pred"),
                                        references: folder.appendingPathComponent("ref"),
                                        labelArguments: ["organ=1", "typo=7"], pictures: false)
        // A label absent everywhere is a normal outcome of a dataset evaluation: NaN, named in a warning.
        let result = try Evaluation.run(options)
        XCTAssertTrue(result.cases[0].scores[1].dice.isNaN)
        XCTAssertTrue(result.warnings.contains { $0.contains("typo") && $0.contains("7") }, "\(result.warnings)")
    }

    func testDatasetScoresLeaveOutUndefinedValues() throws {
        // Case a: label 1 is a 2-slice slab in the reference, 1 slice in the prediction; label 2
        // is absent from both. Case b: label 1 matches exactly, label 2 only in the reference.
        try write("ref/a.nii.gz") { z, _, _ in z == 1 || z == 2 ? 1 : 0 }
        try write("pred/a.nii.gz") { z, _, _ in z == 1 ? 1 : 0 }
        try write("ref/b.nii.gz") { z, y, _ in z == 1 ? 1 : (z == 3 && y == 0 ? 2 : 0) }
        try write("pred/b.nii.gz") { z, _, _ in z == 1 ? 1 : 0 }
        let options = EvaluationOptions(predictions: folder.appendingPathComponent("pred"),
                                        references: folder.appendingPathComponent("ref"))
        let result = try Evaluation.run(options)
        XCTAssertEqual(result.labels.map(\.name), ["1", "2"], "labels found in the references")
        let a = result.cases[0].scores, b = result.cases[1].scores
        XCTAssertEqual(a[0].dice, 96.0 / 144.0, accuracy: 1e-12)
        XCTAssertTrue(a[1].dice.isNaN)
        XCTAssertEqual(b[0].dice, 1)
        XCTAssertEqual(b[1].dice, 0)
        XCTAssertNil(b[1].hd95)
        // Slab surfaces: every voxel of a one-voxel-thick slab is surface; z spacing 3 mm.
        XCTAssertEqual(try XCTUnwrap(a[0].hd95), 3, accuracy: 1e-12)
        // ASSD by the default (MONAI, MedPy 0.5) convention: the mean of both directions pooled.
        let expectedASSD: Double = 48.0 * 3.0 / 144.0
        XCTAssertEqual(try XCTUnwrap(a[0].assd), expectedASSD, accuracy: 1e-12)
        XCTAssertEqual(a[0].predictionVolumeMM3, 288.0, accuracy: 1e-9)

        let mean = result.mean
        XCTAssertEqual(mean["1"]!["dice"]!, (a[0].dice + 1) / 2, accuracy: 1e-12)
        XCTAssertEqual(mean["2"]!["dice"]!, 0, "the NaN of case a is left out")
        XCTAssertTrue(mean["2"]!["hd95"]!.isNaN, "no case defines it")
        XCTAssertEqual(mean["1"]!["hd95"]!, 1.5, accuracy: 1e-12)
        XCTAssertEqual(result.foregroundMean["dice"]!, (mean["1"]!["dice"]! + 0) / 2, accuracy: 1e-12)
        XCTAssertTrue(result.foregroundMean["hd95"]!.isNaN, "nnU-Net's plain mean: a label whose mean is NaN makes it NaN")
        let expectedGlobal: Double = 2.0 * 96.0 / 240.0
        XCTAssertEqual(result.globalDice["1"]!, expectedGlobal, accuracy: 1e-12)
        XCTAssertEqual(result.globalDice["2"]!, 0)

        let csv = EvaluationReportJSON.csv(result).split(separator: "\n").map(String.init)
        XCTAssertEqual(csv[0], "case,label,dice,iou,hd95,assd,nsd,tp,fp,fn,tn,n_pred,n_ref")
        XCTAssertEqual(csv[2], "a,2,NaN,NaN,,,NaN,0,0,0,192,0,0")
        XCTAssertEqual(csv[4], "b,2,0.0,0.0,,,0.0,0,0,8,184,0,8")
        let json = EvaluationReportJSON.summary(result)
        // Python's json module reads NaN; Foundation's does not, so compare with NaN read as null.
        let parsed = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.replacingOccurrences(of: "NaN", with: "null").utf8)) as? [String: Any])
        let perCase = try XCTUnwrap(parsed["metric_per_case"] as? [[String: Any]])
        // nnU-Net's layout: cases in sorted prediction-file order, keys "1", "2", nnU-Net's metric names.
        XCTAssertEqual(perCase.map { ($0["prediction_file"] as? String).map { URL(fileURLWithPath: $0).lastPathComponent } },
                       ["a.nii.gz", "b.nii.gz"])
        let bMetrics = try XCTUnwrap((perCase[1]["metrics"] as? [String: Any])?["2"] as? [String: Any])
        XCTAssertTrue(bMetrics["HD95"] is NSNull, "undefined distances are written NaN")
        XCTAssertEqual(bMetrics["n_ref"] as? Int, 8)
        let aMetrics = try XCTUnwrap((perCase[0]["metrics"] as? [String: Any])?["2"] as? [String: Any])
        XCTAssertTrue(aMetrics["Dice"] is NSNull, "empty in both: Dice written as NaN")
        XCTAssertTrue(json.contains("\"Dice\": NaN"))
        XCTAssertNotNil(parsed["mean"] as? [String: Any])
        XCTAssertNotNil(parsed["foreground_mean"] as? [String: Any])
        XCTAssertEqual(Set(parsed.keys), ["foreground_mean", "mean", "metric_per_case"], "nnU-Net's top-level keys only")
        let extra = EvaluationReportJSON.summaryExtra(result, surface: options.surface, ignoreLabel: nil)
        let parsedExtra = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(extra.replacingOccurrences(of: "NaN", with: "null").utf8)) as? [String: Any])
        XCTAssertEqual(((parsedExtra["labels"] as? [String: Any])?["2"] as? [String: Any])?["global_dice"] as? Double, 0)

        let out = folder.appendingPathComponent("out")
        try EvaluationReport.write(result, options: options, to: out)
        let names = try FileManager.default.contentsOfDirectory(atPath: out.path).sorted()
        XCTAssertEqual(names, ["evaluation_manifest.json", "metrics.csv", "pictures", "report.md", "summary.json", "summary_extra.json"], "no staging folder left behind")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("pictures").path).sorted(),
                       ["a.png", "b.png"])
        let report = try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8)
        XCTAssertTrue(report.contains("![a](pictures/a.png)"))
    }
}
