import Foundation
import XCTest

/// `volseg synth` writes a dataset that `volseg info DIR` accepts, and refuses bad sizes.
final class SynthCLITests: XCTestCase {
    func testSynthThenInfo() throws {
        let cli = try CLIRunner.make()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-synth-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        var result = try cli.run(["synth", "brats", "--cases", "2", "--out", folder.path, "--seed", "4", "--size", "24", "24", "20"])
        XCTAssertEqual(result.status, 0, result.stderr)
        result = try cli.run(["info", folder.path, "--json"])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(report["layout"] as? String, "brats2021")
        XCTAssertEqual(report["cases"] as? Int, 2)
        result = try cli.run(["info", folder.appendingPathComponent("BraTS2021_00001/BraTS2021_00001_seg.nii.gz").path, "--json"])
        let info = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(info["shape"] as? [Int], [24, 24, 20])
        XCTAssertEqual(info["datatype"] as? Int, 2)
    }

    func testBadSizeIsRefused() throws {
        let cli = try CLIRunner.make()
        let result = try cli.run(["synth", "lits", "--cases", "1", "--out", "/tmp/unused", "--size", "32", "32"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("--size"), result.stderr)
    }
}
