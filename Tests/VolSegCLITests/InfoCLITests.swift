import Foundation
import VolSegTestSupport
import XCTest

/// `volseg info FILE --json` against nibabel's reading of every file in ../shared/data/nifti_corpus
/// (expected.json; names map affine_best -> affine, *_scaled -> sum/min/max): shape and datatype
/// exact, affine to 1e-4, scaling to 1e-6 relative, sum to 1e-5 relative.
final class InfoCLITests: XCTestCase {
    func testInfoJSONAgreesWithNibabelOnTheCorpus() throws {
        let cli = try CLIRunner.make()
        guard let folder = TestPaths.sharedFile("data/nifti_corpus") else { throw XCTSkip("../shared absent") }
        let expected = try JSONSerialization.jsonObject(
            with: Data(contentsOf: folder.appendingPathComponent("expected.json"))) as! [String: [String: Any]]
        XCTAssertEqual(expected.count, 6)
        for (name, e) in expected {
            let result = try cli.run(["info", folder.appendingPathComponent(name).path, "--json"])
            XCTAssertEqual(result.status, 0, "\(name): \(result.stderr)")
            let got = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
            XCTAssertEqual(Set(got.keys), ["nifti_version", "shape", "datatype", "qform_code", "sform_code", "pixdim",
                                           "affine", "scl_slope", "scl_inter", "sum", "min", "max", "nonfinite_count"])
            XCTAssertEqual(got["shape"] as? [Int], e["shape"] as? [Int], name)
            XCTAssertEqual(got["datatype"] as? Int, e["datatype"] as? Int, name)
            XCTAssertEqual(got["nifti_version"] as? Int, e["nifti_version"] as? Int, name)
            XCTAssertEqual(got["qform_code"] as? Int, e["qform_code"] as? Int, name)
            XCTAssertEqual(got["sform_code"] as? Int, e["sform_code"] as? Int, name)
            XCTAssertEqual(got["nonfinite_count"] as? Int, e["nonfinite_count"] as? Int, name)
            let affine = got["affine"] as! [[Double]], best = e["affine_best"] as! [[Double]]
            for r in 0..<4 { for c in 0..<4 { XCTAssertEqual(affine[r][c], best[r][c], accuracy: 1e-4, "\(name) affine") } }
            let pixdim = got["pixdim"] as! [Double], expectedPixdim = e["pixdim"] as! [Double]
            XCTAssertEqual(pixdim.count, 4)
            for i in 0..<4 { XCTAssertEqual(pixdim[i], expectedPixdim[i], accuracy: 1e-6, "\(name) pixdim") }
            for (ours, theirs, tolerance) in [("scl_slope", "scl_slope", 1e-6), ("scl_inter", "scl_inter", 1e-6),
                                              ("sum", "sum_scaled", 1e-5), ("min", "min_scaled", 1e-5),
                                              ("max", "max_scaled", 1e-5)] {
                let a = got[ours] as! Double, b = e[theirs] as! Double
                XCTAssertEqual(a, b, accuracy: tolerance * max(abs(b), 1e-12), "\(name) \(ours)")
            }
        }
    }

    func testInfoTextNamesAxisCodes() throws {
        let cli = try CLIRunner.make()
        guard let file = TestPaths.sharedFile("data/itk_head_t1/t1.nii.gz") else { throw XCTSkip("../shared absent") }
        let result = try cli.run(["info", file.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("axis codes LSA"), result.stdout)
    }
}
