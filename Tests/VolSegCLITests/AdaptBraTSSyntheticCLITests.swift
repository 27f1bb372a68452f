import Foundation
import VolSegTestSupport
import XCTest

/// The BraTS half of the adaptation demonstration, end to end through the CLI: the committed
/// synthetic-phantom BatchNorm model (data/models/brats-synthetic-bn.h5, trained with
/// pipelines/brats-synthetic-bn.yaml on `volseg synth brats --cases 8 --size 48 48 48 --seed 5`),
/// four phantoms it never saw (seed 9), and the same phantoms through `volseg shift --preset
/// brats-contrast` (per-channel gamma and a bias field: non-linear, so the per-image z-scoring of
/// the BraTS preprocessing does not undo them). Mean Dice over WT, TC, ET before and after AdaBN
/// with the default settings.
final class AdaptBraTSSyntheticCLITests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-adapt-brats-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    var model: URL { TestPaths.repositoryRoot.appendingPathComponent("data/models/brats-synthetic-bn.h5") }

    func testAdaBNRecoversNonLinearlyShiftedContrastsAndKeepsTheUnshifted() throws {
        let cli = try CLIRunner.make()
        let plain = folder.appendingPathComponent("phantoms"), shifted = folder.appendingPathComponent("phantoms-shifted")
        var result = try cli.run(["synth", "brats", "--cases", "4", "--size", "48", "48", "48", "--seed", "9", "--out", plain.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        result = try cli.run(["shift", "--preset", "brats-contrast", "--data", plain.path, "--out", shifted.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        var lines: [String] = []
        for (name, data) in [("unshifted", plain), ("shifted", shifted)] {
            let before = try meanDice(cli, model: model, data: data, tag: "\(name)-before")
            let adapted = folder.appendingPathComponent("\(name)-adapted.h5")
            result = try cli.run(["adapt", "--model", model.path, "--data", data.path, "--out", adapted.path, "--method", "adabn", "--quiet"])
            XCTAssertEqual(result.status, 0, result.stderr)
            let after = try meanDice(cli, model: adapted, data: data, tag: "\(name)-after")
            lines.append(String(format: "BraTS phantoms, %@: mean Dice (WT, TC, ET) %.4f -> %.4f after adabn", name, before, after))
            if name == "shifted" {
                XCTAssertGreaterThan(after - before, 0.01, "AdaBN must raise the shifted phantoms' mean Dice by > 0.01")
            } else {
                XCTAssertGreaterThanOrEqual(after - before, -0.01, "AdaBN must not lower the unshifted phantoms' mean Dice by > 0.01")
            }
        }
        print(lines.joined(separator: "\n"))
    }

    func testShiftCopiesLabelsUnchangedAndRefusesAnExistingOutput() throws {
        let cli = try CLIRunner.make()
        let plain = folder.appendingPathComponent("phantoms"), shifted = folder.appendingPathComponent("shifted")
        XCTAssertEqual(try cli.run(["synth", "brats", "--cases", "1", "--size", "32", "32", "32", "--out", plain.path]).status, 0)
        var result = try cli.run(["shift", "--preset", "brats-contrast", "--data", plain.path, "--out", shifted.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let id = "BraTS2021_00000"
        let label = "\(id)/\(id)_seg.nii.gz", image = "\(id)/\(id)_t1.nii.gz"
        XCTAssertEqual(try Data(contentsOf: plain.appendingPathComponent(label)), try Data(contentsOf: shifted.appendingPathComponent(label)))
        XCTAssertNotEqual(try Data(contentsOf: plain.appendingPathComponent(image)), try Data(contentsOf: shifted.appendingPathComponent(image)))

        result = try cli.run(["shift", "--preset", "brats-contrast", "--data", plain.path, "--out", shifted.path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains(shifted.path) && result.stderr.contains("already exists"), result.stderr)
        let inside = plain.appendingPathComponent("shifted")
        result = try cli.run(["shift", "--preset", "brats-contrast", "--data", plain.path, "--out", inside.path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("inside the dataset folder"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: inside.path))
        let missing = folder.appendingPathComponent("nowhere")
        result = try cli.run(["shift", "--data", missing.path, "--out", folder.appendingPathComponent("out").path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains(missing.path), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("out").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("out.partial").path))
    }

    /// `volseg evaluate --regions brats`: the mean over WT, TC and ET of the per-case mean Dice.
    func meanDice(_ cli: CLIRunner, model: URL, data: URL, tag: String) throws -> Double {
        let out = folder.appendingPathComponent("eval-\(tag)")
        let result = try cli.run(["evaluate", "--model", model.path, "--data", data.path, "--regions", "brats", "--out", out.path, "--quiet"])
        XCTAssertEqual(result.status, 0, result.stderr)
        // nnU-Net's summary.json writes undefined values as Python's bare NaN, which Foundation does not read.
        let text = try String(contentsOf: out.appendingPathComponent("summary.json"), encoding: .utf8)
        let summary = try JSONSerialization.jsonObject(with: Data(text.replacingOccurrences(of: "NaN", with: "null").utf8)) as? [String: Any]
        return try XCTUnwrap((summary?["foreground_mean"] as? [String: Any])?["Dice"] as? Double)
    }
}
