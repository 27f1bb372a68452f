import Foundation
import VolSegTestSupport
import XCTest

/// `volseg evaluate` end to end: the committed MedPy pairs give MedPy's numbers in metrics.csv,
/// a synthetic BraTS dataset scores itself perfectly, and bad inputs fail without output.
final class EvaluateCLITests: XCTestCase {
    static let pairs = TestPaths.repositoryRoot.appendingPathComponent("Tests/References/medpy/pairs")
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-evaluate-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    /// metrics.csv rows as [case: [label: [column: field]]].
    func readCSV(_ url: URL) throws -> (header: String, rows: [String: [String: [String: String]]]) {
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map(String.init)
        let columns = lines[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        var rows = [String: [String: [String: String]]]()
        for line in lines.dropFirst() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            rows[fields[0], default: [:]][fields[1]] = Dictionary(uniqueKeysWithValues: zip(columns, fields))
        }
        return (lines[0], rows)
    }

    func testMetricsCSVMatchesMedPy() throws {
        let cli = try CLIRunner.make()
        let out = scratch.appendingPathComponent("out")
        let result = try cli.run(["evaluate", "--pred", Self.pairs.appendingPathComponent("pred").path,
                                  "--ref", Self.pairs.appendingPathComponent("ref").path, "--out", out.path,
                                  "--labels", "1", "2", "4", "5", "6", "liver=1,2", "tumour=2", "brain=4,5,6", "--threads", "2",
                                  // The conventions MedPy computes (expected.json holds MedPy's values).
                                  "--hd95", "medpy", "--assd", "medpy04"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let (header, rows) = try readCSV(out.appendingPathComponent("metrics.csv"))
        XCTAssertEqual(header, "case,label,dice,iou,hd95,assd,nsd,tp,fp,fn,tn,n_pred,n_ref")
        let expectedData = try Data(contentsOf: Self.pairs.deletingLastPathComponent().appendingPathComponent("expected.json"))
        let expected = try XCTUnwrap((try JSONSerialization.jsonObject(with: expectedData) as? [String: Any])?["cases"] as? [[String: Any]])
        var compared = 0
        for entry in expected {
            let caseID = entry["case"] as! String
            let labels = entry["labels"] as! [String: [String: Any]]
            let present = Set(labels.values.flatMap { $0["values"] as! [Int] })
            let values: [String: Set<Int>] = ["1": [1], "2": [2], "4": [4], "5": [5], "6": [6], "liver": [1, 2],
                                              "tumour": [2], "brain": [4, 5, 6]]
            for name in ["1", "2", "4", "5", "6", "liver", "tumour", "brain"] {
                let row = try XCTUnwrap(rows[caseID]?[name], "\(caseID) \(name) row")
                guard let medpy = labels[name] else {
                    // None of its values occurs in this case: empty in both, so NaN and no distances.
                    if !values[name]!.isDisjoint(with: present) { continue }
                    XCTAssertEqual(row["dice"], "NaN", "\(caseID) \(name)")
                    XCTAssertEqual(row["hd95"], "", "\(caseID) \(name)")
                    continue
                }
                for key in ["tp", "fp", "fn", "tn", "n_pred", "n_ref"] {
                    XCTAssertEqual(Int(row[key] ?? ""), medpy[key] as? Int, "\(caseID) \(name) \(key)")
                }
                XCTAssertEqual(Double(row["dice"]!)!, medpy["dc"] as! Double, accuracy: 1e-9, "\(caseID) \(name)")
                XCTAssertEqual(Double(row["iou"]!)!, medpy["jc"] as! Double, accuracy: 1e-9, "\(caseID) \(name)")
                for (column, key) in [("hd95", "hd95"), ("assd", "assd")] {
                    if let value = medpy[key] as? Double {
                        let ours = try XCTUnwrap(Double(row[column]!), "\(caseID) \(name) \(column)")
                        XCTAssertEqual(ours, value, accuracy: 1e-4 * value, "\(caseID) \(name) \(column)")
                    } else {
                        XCTAssertEqual(row[column], "", "\(caseID) \(name): one side empty, no \(column)")
                    }
                }
                compared += 1
            }
        }
        XCTAssertEqual(compared, 13)
        let summary = try String(contentsOf: out.appendingPathComponent("summary.json"), encoding: .utf8)
        for key in ["\"metric_per_case\"", "\"mean\"", "\"foreground_mean\"", "\"prediction_file\""] {
            XCTAssertTrue(summary.contains(key), key)
        }
        let extra = try String(contentsOf: out.appendingPathComponent("summary_extra.json"), encoding: .utf8)
        for key in ["\"global_dice\"", "\"conventions\"", "\"HD95\""] { XCTAssertTrue(extra.contains(key), key) }
        let pictures = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("pictures").path).sorted()
        XCTAssertEqual(pictures, ["brain_tumour_aniso.png", "head_tissue_shift.png", "liver_erode_droplesion.png", "liver_shift_aniso.png"])
    }

    func testSyntheticBraTSDatasetAgainstItsOwnLabels() throws {
        let cli = try CLIRunner.make()
        let dataset = scratch.appendingPathComponent("brats"), predictions = scratch.appendingPathComponent("pred")
        var result = try cli.run(["synth", "brats", "--cases", "2", "--out", dataset.path, "--size", "24", "24", "20"])
        XCTAssertEqual(result.status, 0, result.stderr)
        try FileManager.default.createDirectory(at: predictions, withIntermediateDirectories: true)
        for id in ["BraTS2021_00000", "BraTS2021_00001"] {
            try FileManager.default.copyItem(at: dataset.appendingPathComponent("\(id)/\(id)_seg.nii.gz"),
                                             to: predictions.appendingPathComponent("\(id).nii.gz"))
        }
        let out = scratch.appendingPathComponent("out")
        result = try cli.run(["evaluate", "--pred", predictions.path, "--ref", dataset.path, "--regions", "brats", "--out", out.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let (_, rows) = try readCSV(out.appendingPathComponent("metrics.csv"))
        XCTAssertEqual(Set(rows.keys), ["BraTS2021_00000", "BraTS2021_00001"])
        for (caseID, labels) in rows {
            XCTAssertEqual(Set(labels.keys), ["WT", "TC", "ET"], caseID)
            for (name, row) in labels where row["n_ref"] != "0" {
                XCTAssertEqual(row["dice"], "1.0", "\(caseID) \(name)")
                XCTAssertEqual(row["hd95"], "0.0", "\(caseID) \(name)")
            }
        }
        // The 2023 convention's ET value (3) is not a label of a BraTS 2021 dataset.
        result = try cli.run(["evaluate", "--pred", predictions.path, "--ref", dataset.path, "--regions", "brats2023",
                              "--out", scratch.appendingPathComponent("out2023").path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("3"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("out2023").path))
    }

    func testMissingPredictionFailsWithoutOutputUnlessAllowed() throws {
        let cli = try CLIRunner.make()
        let predictions = scratch.appendingPathComponent("pred")
        try FileManager.default.createDirectory(at: predictions, withIntermediateDirectories: true)
        for name in ["liver_shift_aniso", "brain_tumour_aniso"] {
            try FileManager.default.copyItem(at: Self.pairs.appendingPathComponent("pred/\(name).nii.gz"),
                                             to: predictions.appendingPathComponent("\(name).nii.gz"))
        }
        let out = scratch.appendingPathComponent("out")
        var result = try cli.run(["evaluate", "--pred", predictions.path, "--ref", Self.pairs.appendingPathComponent("ref").path,
                                  "--out", out.path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("head_tissue_shift") && result.stderr.contains("liver_erode_droplesion"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "no partial output")
        result = try cli.run(["evaluate", "--pred", predictions.path, "--ref", Self.pairs.appendingPathComponent("ref").path,
                              "--out", out.path, "--allow-missing", "--no-pictures", "--quiet"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("no prediction: head_tissue_shift"), result.stderr)
        let (_, rows) = try readCSV(out.appendingPathComponent("metrics.csv"))
        XCTAssertEqual(Set(rows.keys), ["brain_tumour_aniso", "liver_shift_aniso"])
    }

    func testBadInputsNameTheProblem() throws {
        let cli = try CLIRunner.make()
        let predictions = scratch.appendingPathComponent("pred"), references = scratch.appendingPathComponent("ref")
        try FileManager.default.createDirectory(at: predictions, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: references, withIntermediateDirectories: true)
        // A prediction on another grid than its reference.
        let predFile = predictions.appendingPathComponent("case.nii.gz"), refFile = references.appendingPathComponent("case.nii.gz")
        try FileManager.default.copyItem(at: Self.pairs.appendingPathComponent("pred/brain_tumour_aniso.nii.gz"), to: predFile)
        try FileManager.default.copyItem(at: Self.pairs.appendingPathComponent("ref/liver_shift_aniso.nii.gz"), to: refFile)
        let out = scratch.appendingPathComponent("out")
        var result = try cli.run(["evaluate", "--pred", predictions.path, "--ref", references.path, "--out", out.path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains(predFile.path) && result.stderr.contains(refFile.path), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))

        result = try cli.run(["evaluate", "--pred", Self.pairs.appendingPathComponent("pred").path,
                              "--ref", Self.pairs.appendingPathComponent("ref").path, "--out", out.path, "--labels", "kidney"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("kidney"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))

        result = try cli.run(["evaluate", "--model", "m.h5", "--data", Self.pairs.appendingPathComponent("ref").path, "--out", out.path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path.appending("/summary.json")))
        result = try cli.run(["evaluate", "--model", "m.h5", "--out", out.path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("--model and --data go together"), result.stderr)
    }
}
