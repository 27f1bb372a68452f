import Foundation
import VolSegCore
@testable import VolSegEvaluation
@testable import VolSegIO
import XCTest

/// Evaluation refuses what it cannot score honestly and says what it leaves out: a prediction on
/// another grid, label values nobody asked about, and a report set that is not one evaluation's.
final class EvaluationFaultTests: XCTestCase {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-evaluation-faults-\(UUID().uuidString)")

    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    @discardableResult
    func write(_ relative: String, origin: Double = 0, _ value: (Int, Int, Int) -> Float) throws -> URL {
        let shape = [4, 6, 8]
        var values = [Float]()
        for z in 0..<shape[0] { for y in 0..<shape[1] { for x in 0..<shape[2] { values.append(value(z, y, x)) } } }
        let affine = NIfTIAffine(rows: [[2, 0, 0, origin], [0, 1, 0, 0], [0, 0, 3, 0], [0, 0, 0, 1]])
        let url = folder.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try NIfTIWriter.writeLabelMap(Tensor(shape: shape, values: values), like: NIfTIHeader(spatialShape: shape.reversed(), affine: affine), to: url)
        return url
    }

    func options() -> EvaluationOptions {
        EvaluationOptions(predictions: folder.appendingPathComponent("pred"), references: folder.appendingPathComponent("ref"), pictures: false)
    }

    func testPredictionOnAnotherGridIsRefusedUnlessAskedFor() throws {
        try write("ref/a.nii.gz") { z, _, _ in z == 1 ? 1 : 0 }
        try write("pred/a.nii.gz", origin: 5) { z, _, _ in z == 1 ? 1 : 0 }
        XCTAssertThrowsError(try Evaluation.run(options())) { error in
            guard case .geometryMismatch(let caseID, _, _, let largest) = error as? EvaluationError else {
                return XCTFail("expected a geometry mismatch, got \(error)")
            }
            XCTAssertEqual(caseID, "a")
            XCTAssertEqual(largest, 5, accuracy: 1e-6)
            XCTAssertTrue("\(error)".contains("--ignore-geometry"), "\(error)")
        }
        var lenient = options()
        lenient.ignoreGeometry = true
        XCTAssertEqual(try Evaluation.run(lenient).cases[0].scores[0].dice, 1)
    }

    func testLabelValuesOutsideTheEvaluatedSetAreListed() throws {
        try write("ref/a.nii.gz") { z, _, _ in z == 1 ? 1 : 0 }
        try write("pred/a.nii.gz") { z, y, _ in z == 1 ? 1 : (y == 0 ? 7 : 0) }
        var scoped = options()
        scoped.labelArguments = ["1"]
        let result = try Evaluation.run(scoped)
        XCTAssertTrue(result.warnings.contains { $0.contains("label value(s) 7") && $0.contains("not scored") }, "\(result.warnings)")
        let report = EvaluationReport.markdown(result, options: scoped, pictures: false)
        XCTAssertTrue(report.contains("label value(s) 7"), "report.md lists it")
    }

    func testReportSetCarriesAManifestWrittenLast() throws {
        try write("ref/a.nii.gz") { z, _, _ in z == 1 ? 1 : 0 }
        try write("pred/a.nii.gz") { z, _, _ in z == 1 ? 1 : 0 }
        let out = folder.appendingPathComponent("out")
        let result = try Evaluation.run(options())
        let written = try EvaluationReport.write(result, options: options(), to: out)
        XCTAssertEqual(written.last?.lastPathComponent, EvaluationReport.manifestName, "the manifest is the last file written")
        let manifest = try String(contentsOf: out.appendingPathComponent(EvaluationReport.manifestName), encoding: .utf8)
        for name in ["metrics.csv", "summary.json", "summary_extra.json", "report.md"] {
            let size = try FileManager.default.attributesOfItem(atPath: out.appendingPathComponent(name).path)[.size] as! Int
            XCTAssertTrue(manifest.contains("\"file\": \"\(name)\""), name)
            XCTAssertTrue(manifest.contains("\"bytes\": \(size)"), "\(name) listed with its size \(size)")
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: out.path).filter { $0.hasPrefix(".volseg") }
        XCTAssertEqual(leftovers, [], "no staging folder left behind")
    }
}
