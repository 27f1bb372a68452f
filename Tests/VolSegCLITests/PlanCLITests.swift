import Foundation
import VolSegTestSupport
import XCTest

/// `volseg plan --model revmbconv-unet --memory-budget SIZE --compare-reversible [--json]`.
final class PlanCLITests: XCTestCase {
    func testJSONHoldsExactlyTheThreeLimitsOfBothVariants() throws {
        let cli = try CLIRunner.make()
        let result = try cli.run(["plan", "--model", "revmbconv-unet", "--memory-budget", "8GiB", "--compare-reversible", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: [String: Int]]
        XCTAssertEqual(Set(object.keys), ["reversible", "plain"])
        for variant in object.values {
            XCTAssertEqual(Set(variant.keys), ["max_patch_edge", "max_blocks_per_stage", "max_base_width"])
        }
        let reversible = object["reversible"]!, plain = object["plain"]!
        print("volseg plan 8GiB: \(result.stdout)")
        XCTAssertEqual(plain["max_patch_edge"]! % 16, 0)
        XCTAssertEqual(reversible["max_patch_edge"]! % 16, 0)
        XCTAssertGreaterThan(reversible["max_patch_edge"]!, 144)
        XCTAssertGreaterThan(reversible["max_base_width"]!, 72)
        XCTAssertEqual(reversible["max_blocks_per_stage"], 64)
        XCTAssertGreaterThan(plain["max_patch_edge"]!, 0)
    }

    func testTextReportShowsBothVariantsAndTheStepPeaks() throws {
        let cli = try CLIRunner.make()
        let result = try cli.run(["plan", "--model", "revmbconv-unet", "--memory-budget", "2GiB", "--compare-reversible",
                                  "--model-config", "{\"expansion\": 2}"])
        XCTAssertEqual(result.status, 0, result.stderr)
        for text in ["2 GiB", "largest patch edge", "most blocks per stage", "largest base width", "e=2", "step peak at 96^3"] {
            XCTAssertTrue(result.stdout.contains(text), "missing '\(text)' in:\n\(result.stdout)")
        }
    }

    func testBadBudgetIsNamed() throws {
        let cli = try CLIRunner.make()
        let result = try cli.run(["plan", "--model", "revmbconv-unet", "--memory-budget", "8 gigs", "--compare-reversible"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("'8 gigs'"), result.stderr)
    }

    func testOtherModelsAndMissingFlagsAreRefused() throws {
        let cli = try CLIRunner.make()
        for arguments in [["--model", "unet3d", "--memory-budget", "8GiB", "--compare-reversible"],
                          ["--model", "revmbconv-unet", "--memory-budget", "8GiB"],
                          ["--model", "revmbconv-unet", "--compare-reversible"]] {
            let result = try cli.run(["plan"] + arguments)
            XCTAssertNotEqual(result.status, 0, arguments.joined(separator: " "))
            XCTAssertFalse(result.stderr.isEmpty)
        }
    }

    func testTrainingRunPlanningNamesAMissingDataFolder() throws {
        let cli = try CLIRunner.make()
        let result = try cli.run(["plan", "--config", "pipelines/brats-revmbconv.yaml", "--data", "/nonexistent",
                                  "--memory-budget", "4GiB"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("/nonexistent"), result.stderr)
    }
}
