import Foundation
import VolSegIO
import VolSegTestSupport
import XCTest

/// `volseg segment -m stunet --weights FILE.model`: an STU-Net checkpoint as nnU-Net v1 saves it,
/// run end to end on Tests/References/stunet's case, against the labels torch's STU-Net gives on
/// it (the case fits one window of the plans' patch and needs no resampling, so VolSeg's pipeline
/// feeds the network exactly what the reference script fed torch).
final class STUNetSegmentCLITests: XCTestCase {
    static let root = TestPaths.repositoryRoot.appendingPathComponent("Tests/References/stunet")
    static let tiny = root.appendingPathComponent("tiny.model")
    static let input = root.appendingPathComponent("case.nii.gz")
    var work: URL!

    override func setUpWithError() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-stunet-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: work) }

    func testSegmentGivesTorchsLabelsOnTheInputGrid() throws {
        let data = try Data(contentsOf: Self.root.appendingPathComponent("expected.json"))
        let reference = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let want = try XCTUnwrap(reference["labels"] as? [Int])
        let out = work.appendingPathComponent("case_seg.nii.gz")
        let result = try CLIRunner.make().run(["segment", "-i", Self.input.path, "-o", out.path, "-m", "stunet",
                                               "--weights", Self.tiny.path, "--no-progress"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let labels = try NIfTIReader.read(out)
        let image = try NIfTIReader.read(Self.input)
        XCTAssertEqual(labels.spatialShape, image.spatialShape)
        XCTAssertEqual(labels.header.affine, image.header.affine)
        XCTAssertEqual(labels.voxels.count, want.count)
        // NIfTI's voxel order (x fastest) is torch's (z, y, x) array read row-major.
        let differing = (0..<want.count).filter { Int(labels.voxels.data[$0]) != want[$0] }.count
        print("STU-Net CLI: \(differing) of \(want.count) labels differ from torch's")
        XCTAssertEqual(differing, 0)
        XCTAssertGreaterThan(Set(want).count, 1, "the reference case should have more than one label")
    }

    func testWrongPresetAndMissingWeightsAreRefusedWithoutOutput() throws {
        let cli = try CLIRunner.make()
        let out = work.appendingPathComponent("seg.nii.gz")
        var result = try cli.run(["segment", "-i", Self.input.path, "-o", out.path, "-m", "stunet-b", "--weights", Self.tiny.path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("tiny.model holds an STU-Net with widths [4, 8, 8, 8, 8, 8]"), result.stderr)
        XCTAssertTrue(result.stderr.contains("give --model stunet"), result.stderr)
        result = try cli.run(["segment", "-i", Self.input.path, "-o", out.path, "-m", "stunet-b"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("give its weights with --weights FILE.model"), result.stderr)
        result = try cli.run(["segment", "-i", Self.input.path, "-o", out.path, "-m", "model.h5", "--weights", Self.tiny.path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("--weights FILE.model goes with -m stunet"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
    }
}
