import Foundation
import VolSegTestSupport
import XCTest

/// `volseg info DIR` on a LiTS-layout folder built from ../shared/data, and bad inputs: each a
/// message naming the file and a non-zero exit.
final class InfoDatasetCLITests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    func link(_ shared: String, as name: String) throws {
        guard let source = TestPaths.sharedFile(shared) else { throw XCTSkip("../shared absent") }
        try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent(name), withDestinationURL: source)
    }

    func testLiTSFolderReportAndAShapeProblem() throws {
        let cli = try CLIRunner.make()
        try link("data/liver117/ct.nii.gz", as: "volume-0.nii.gz")
        try link("data/liver117/seg.nii.gz", as: "segmentation-0.nii.gz")
        var result = try cli.run(["info", folder.path, "--json"])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        var report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(Set(report.keys), ["layout", "cases", "modalities", "label_convention", "problems"])
        XCTAssertEqual(report["layout"] as? String, "lits")
        XCTAssertEqual(report["cases"] as? Int, 1)
        XCTAssertEqual(report["modalities"] as? [String], ["CT"])
        XCTAssertEqual(report["label_convention"] as? String, "lits")
        XCTAssertEqual((report["problems"] as? [Any])?.count, 0)

        try link("data/liver117/ct.nii.gz", as: "volume-1.nii.gz")
        try link("data/radiomics_brain1/label.nii.gz", as: "segmentation-1.nii.gz")
        result = try cli.run(["info", folder.path, "--json"])
        XCTAssertNotEqual(result.status, 0)
        report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        let problems = report["problems"] as! [[String: Any]]
        XCTAssertEqual(problems.count, 1)
        XCTAssertEqual(problems[0]["case"] as? String, "volume-1")
        XCTAssertTrue((problems[0]["file"] as! String).hasSuffix("segmentation-1.nii.gz"))
        XCTAssertTrue((problems[0]["problem"] as! String).contains("[256, 256, 25]"))
    }

    func testMissingFileFailsNamingIt() throws {
        let cli = try CLIRunner.make()
        let missing = folder.appendingPathComponent("nothing-here.nii.gz").path
        let result = try cli.run(["info", missing])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains(missing) && result.stderr.contains("no such file"), result.stderr)
    }

    func testNonNIfTIFileFailsNamingIt() throws {
        let cli = try CLIRunner.make()
        let url = folder.appendingPathComponent("readme.nii")
        try Data(String(repeating: "text ", count: 100).utf8).write(to: url)
        let result = try cli.run(["info", url.path, "--json"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains(url.path) && result.stderr.contains("not a NIfTI file"), result.stderr)
        XCTAssertEqual(result.stdout, "")
    }

    func testUnknownFolderFails() throws {
        let cli = try CLIRunner.make()
        let result = try cli.run(["info", folder.path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains(folder.path), result.stderr)
    }
}
