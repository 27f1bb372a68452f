import Foundation
import VolSegTestSupport
import XCTest

/// NaN and infinite voxels reach the user: `info --json` counts them (`nonfinite_count`),
/// `segment` replaces them with a warning; a sheared sform is warned by both.
extension SegmentCLITests {
    /// A 20^3 float32 volume with NaN, +inf and -inf at three voxels, optionally sheared.
    func craftedInput(_ name: String, sheared: Bool = false) throws -> URL {
        var file = CraftedNIfTI()
        file.dim = [3, 20, 20, 20, 1, 1, 1, 1]
        if sheared { file.sform = [[1.5, 0.2, 0, 0], [0, 2, 0, 0], [0, 0, 3, 0]] }
        var values = (0..<8000).map { Float($0 % 300) - 100 }
        values[10] = .nan; values[4000] = .infinity; values[7999] = -.infinity
        let url = folder.appendingPathComponent(name)
        try file.write(voxels: file.bytes(float32: values), to: url)
        return url
    }

    func testInfoJSONCountsNonFiniteVoxels() throws {
        let cli = try CLIRunner.make()
        for name in ["nan.nii", "nan.nii.gz"] {
            let result = try cli.run(["info", try craftedInput(name).path, "--json"])
            XCTAssertEqual(result.status, 0, result.stderr)
            let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
            XCTAssertEqual(object["nonfinite_count"] as? Int, 3, name)
        }
        let text = try cli.run(["info", try craftedInput("nan-text.nii").path])
        XCTAssertTrue(text.stdout.contains("warning: 3 NaN or infinite voxels"), text.stdout)
    }

    func testSegmentWarnsAboutNonFiniteVoxelsAndShear() throws {
        let cli = try CLIRunner.make()
        let model = try makeCheckpoint()
        let input = try craftedInput("scan.nii.gz", sheared: true)
        let output = folder.appendingPathComponent("mask.nii.gz")
        let result = try cli.run(["segment", "-i", input.path, "-o", output.path, "-m", model.path, "--no-progress"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("\(input.path): 3 NaN or infinite voxels were read as 0"), result.stderr)
        XCTAssertTrue(result.stderr.contains("sform is sheared"), result.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: output.path))

        let info = try cli.run(["info", input.path, "--json"])
        XCTAssertTrue(info.stderr.contains("sform is sheared"), info.stderr)
    }

    func testPlanMemoryPrintsThePredictedProcessPeak() throws {
        let cli = try CLIRunner.make()
        let model = try makeCheckpoint()
        let input = try craftedInput("plan.nii")
        let output = folder.appendingPathComponent("plan-mask.nii.gz")
        let result = try cli.run(["segment", "-i", input.path, "-o", output.path, "-m", model.path, "--plan-memory"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("memory ledger peak"), result.stdout)
        XCTAssertTrue(result.stdout.contains("predicted process peak") && result.stdout.contains("reserve 256 MiB"), result.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path))
    }
}
