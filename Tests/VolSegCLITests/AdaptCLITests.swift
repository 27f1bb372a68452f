import Foundation
@testable import VolSegCore
@testable import VolSegIO
import VolSegTestSupport
import XCTest

/// `volseg adapt` end to end: an InstanceNorm model is refused and nothing is written, bad inputs
/// are named, and a successful AdaBN run on the committed default liver model writes a checkpoint
/// that records its provenance.
final class AdaptCLITests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-adapt-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    var heldOut: URL { TestPaths.repositoryRoot.appendingPathComponent("data/liver117-heldout") }

    /// A unet3d (InstanceNorm, widths 2, 4) checkpoint with constant weights.
    func makeInstanceNormCheckpoint() throws -> URL {
        var shapes: [(String, [Int])] = []
        func convNorm(_ prefix: String, _ input: Int, _ output: Int) {
            shapes += [("\(prefix).conv.weight", [output, input, 3, 3, 3]), ("\(prefix).conv.bias", [output]),
                       ("\(prefix).norm.weight", [output]), ("\(prefix).norm.bias", [output])]
        }
        convNorm("encoder.0.0", 1, 2)
        convNorm("encoder.1.0", 2, 4)
        shapes += [("upsample.0.weight", [4, 2, 2, 2, 2]), ("upsample.0.bias", [2])]
        convNorm("decoder.0.0", 4, 2)
        shapes += [("heads.0.weight", [3, 2, 1, 1, 1]), ("heads.0.bias", [3])]
        let config: [String: Any] = [
            "model": ["name": "unet3d", "config": ["input_channels": 1, "num_classes": 3, "widths": [2, 4],
                                                    "convs_per_stage": 1, "deep_supervision": false]],
            "patch": [32, 32, 32],
            "preprocessing": ["target_spacing": NSNull(),
                              "normalization": ["kind": "ct", "lower": -200, "upper": 250, "mean": 99.4, "std": 39.4]],
            "label_convention": "lits", "labels": [0, 1, 2], "modalities": ["CT"],
        ]
        let text = String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)
        let url = folder.appendingPathComponent("instance.h5")
        try HDF5File.writeAtomically(to: url) { file in
            for (name, shape) in shapes {
                try file.write(Tensor(shape: shape, values: [Float](repeating: 0.1, count: shape.reduce(1, *))), to: "weights/\(name)")
            }
            try file.setAttribute("config", text)
        }
        return url
    }

    func testInstanceNormModelIsRefusedAndNothingIsWritten() throws {
        let cli = try CLIRunner.make()
        let model = try makeInstanceNormCheckpoint()
        let out = folder.appendingPathComponent("adapted.h5")
        for method in ["adabn", "progressive"] {
            let result = try cli.run(["adapt", "--model", model.path, "--data", heldOut.path, "--out", out.path, "--method", method])
            XCTAssertNotEqual(result.status, 0)
            XCTAssertTrue(result.stderr.contains("InstanceNorm") && result.stderr.contains("instance.h5"), result.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "a refused model must leave no checkpoint")
        }
    }

    func testBadInputsAreNamed() throws {
        let cli = try CLIRunner.make()
        let model = try makeInstanceNormCheckpoint()
        let out = folder.appendingPathComponent("adapted.h5").path
        let missing = folder.appendingPathComponent("nowhere.h5").path
        var result = try cli.run(["adapt", "--model", missing, "--data", heldOut.path, "--out", out, "--method", "adabn"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("nowhere.h5"), result.stderr)
        result = try cli.run(["adapt", "--model", model.path, "--data", heldOut.path, "--out", out, "--method", "tent"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("--method") && result.stderr.contains("tent"), result.stderr)
        result = try cli.run(["adapt", "--model", model.path, "--data", heldOut.path, "--out", out, "--method", "adabn",
                              "--accumulation", "median"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("--accumulation") && result.stderr.contains("median"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    func testAdaBNWritesACheckpointWithProvenance() throws {
        let cli = try CLIRunner.make()
        let model = TestPaths.repositoryRoot.appendingPathComponent("data/models/default-liver.h5")
        // The bundled model is committed: its absence is a broken checkout, not a reason to skip.
        guard FileManager.default.fileExists(atPath: model.path) else {
            return XCTFail("\(model.path) is missing: the bundled liver model is part of the repository")
        }
        let out = folder.appendingPathComponent("adapted.h5")
        // A missing target is named, and nothing is written.
        let missing = folder.appendingPathComponent("no-scans").path
        var result = try cli.run(["adapt", "--model", model.path, "--data", missing, "--out", out.path, "--method", "adabn"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("no-scans"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))

        result = try cli.run(["adapt", "--model", model.path, "--data", heldOut.path, "--out", out.path, "--method", "adabn",
                              "--batches", "2", "--seed", "4"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let provenance = try HDF5File(out).stringAttribute("provenance")
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(provenance.utf8)) as? [String: Any])
        XCTAssertEqual(json["adaptation_method"] as? String, "adabn")
        XCTAssertEqual((json["adapted_from"] as? String).map { URL(fileURLWithPath: $0).lastPathComponent }, "default-liver.h5")
        XCTAssertEqual((json["target_files"] as? [String])?.map { URL(fileURLWithPath: $0).lastPathComponent }, ["volume-117.nii.gz"])
        XCTAssertNotNil(json["adapted_at"] as? String)
        let constants = try XCTUnwrap(json["adaptation_constants"] as? [String: Any])
        XCTAssertEqual(constants["batches"] as? Int, 2)
        XCTAssertEqual(constants["sampling"] as? String, "trainer")
    }
}
