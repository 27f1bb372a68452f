import Foundation
@testable import VolSegIO
import VolSegTestSupport
import XCTest

final class ModelsCLITests: XCTestCase {
    func testModelsJSONListsEveryPresetWithItsCount() throws {
        let cli = try CLIRunner.make()
        let result = try cli.run(["models", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let rows = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [[String: Any]]
        let counts = Dictionary(uniqueKeysWithValues: rows.map { ($0["name"] as! String, $0["params"] as! Int) })
        XCTAssertEqual(counts["stunet-b"], 58_164_660)
        XCTAssertEqual(counts["stunet-h"], 1_457_033_204)
        XCTAssertEqual(counts["bench-unet"], 1_403_316)
        let oneIn = try cli.run(["models", "--json", "--in-channels", "1", "--classes", "105"])
        XCTAssertTrue(oneIn.stdout.contains("\"params\":14596941"), oneIn.stdout)
    }

    func testForwardReproducesTheReferenceSTUNetFromTheCommandLine() throws {
        let cli = try CLIRunner.make()
        guard let golden = TestPaths.sharedFile("golden/stunet_tiny_d1_w4.h5"),
              let goldenFile = try GoldenFile.open("stunet_tiny_d1_w4.h5") else { throw XCTSkip("../shared absent") }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("forward-\(UUID()).h5")
        defer { try? FileManager.default.removeItem(at: out) }
        let config = try goldenFile.stringAttribute("config")
        let result = try cli.run(["forward", "--model", "stunet", "--config", config, "--weights", golden.path,
                                  "--input", golden.path, "--output", out.path, "--quiet"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let written = try HDF5File(out)
        for i in 0..<5 {
            let error = relativeError(try written.tensor("output_\(i)"), try goldenFile.tensor("output_\(i)"))
            XCTAssertLessThan(error, 1e-3, "output_\(i)")
        }
    }

    func testForwardRefusesWeightsThatDoNotFitAndWritesNothing() throws {
        let cli = try CLIRunner.make()
        guard let golden = TestPaths.sharedFile("golden/stunet_tiny_d1_w4.h5") else { throw XCTSkip("../shared absent") }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("forward-\(UUID()).h5")
        let result = try cli.run(["forward", "--model", "stunet-s", "--weights", golden.path,
                                  "--input", golden.path, "--output", out.path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("do not fit") && result.stderr.contains("shape mismatch"), result.stderr)
        XCTAssertLessThan(result.stderr.count, 2000, "the message stays readable")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        let missing = try cli.run(["forward", "--model", "stunet", "--config", "{}", "--weights", "/nonexistent.h5",
                                   "--input", golden.path, "--output", out.path])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
    }
}
