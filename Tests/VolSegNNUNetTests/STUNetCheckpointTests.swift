import Foundation
import VolSegCore
import VolSegInference
import VolSegIO
@testable import VolSegNNUNet
import VolSegModels
import VolSegPreprocessing
import VolSegTestSupport
import XCTest

/// STU-Net checkpoints as nnU-Net v1 saves them (`FILE.model` and `FILE.model.pkl`), against the
/// files and logits of Tests/References/stunet (make_stunet_reference.py: torch and STU-Net's own
/// network code), and STU-Net's published STU-Net-B plans.
final class STUNetCheckpointTests: XCTestCase {
    static let root = TestPaths.repositoryRoot.appendingPathComponent("Tests/References/stunet")
    static let tiny = root.appendingPathComponent("tiny.model")

    func expected() throws -> [String: Any] {
        let data = try Data(contentsOf: Self.root.appendingPathComponent("expected.json"))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// The network read off the weights, the plans' preprocessing, and torch's logits on the case
    /// after VolSeg's own preprocessing (no crop, reorientation or resampling on this case).
    func testTinyModelGivesTorchsLogits() throws {
        let reference = try expected()
        let bundle = try STUNetCheckpoint.bundle(model: "stunet", weights: Self.tiny)
        let network = try XCTUnwrap(bundle.model as? STUNet)
        XCTAssertEqual(network.config.dims, reference["dims"] as? [Int])
        XCTAssertEqual(network.config.depth, reference["depth"] as? [Int])
        XCTAssertEqual(network.config.strides, reference["strides"] as? [[Int]])
        XCTAssertEqual(network.config.kernels, Array(repeating: [3, 3, 3], count: 6))
        XCTAssertEqual(bundle.config.patch, reference["patch"] as? [Int])
        XCTAssertEqual(bundle.config.preprocessor.targetSpacing, reference["spacing_xyz"] as? [Double])
        XCTAssertEqual(bundle.config.preprocessor.normalization, .zScoreWholeImage)
        XCTAssertEqual(bundle.config.output.labelValues, [0, 1, 2])
        XCTAssertEqual(bundle.config.modalities, ["MR"])
        // The bundle's config survives its JSON (what adapt and train write back), whole-image z-score included.
        let reread = try ModelBundleConfig(json: bundle.config.json, file: "reread")
        XCTAssertEqual(reread.preprocessor.normalization, .zScoreWholeImage)
        XCTAssertEqual(reread.patch, bundle.config.patch)
        XCTAssertEqual(reread.output.labelValues, [0, 1, 2])

        let image = try NIfTIReader.read(Self.root.appendingPathComponent("case.nii.gz"))
        let prepared = try bundle.config.preprocessor.prepare(image)
        XCTAssertEqual(prepared.image.shape, [1, 16, 32, 32])
        let logits = withNoGrad { network.forward(prepared.image.reshaped([1, 1, 16, 32, 32]))[0] }
        XCTAssertEqual(logits.shape, [1] + (reference["logits_shape"] as? [Int] ?? []))
        let want = try XCTUnwrap(reference["logits"] as? [Double])
        XCTAssertEqual(want.count, logits.count)
        var worst = 0.0, largest = 0.0
        for i in 0..<want.count {
            worst = max(worst, abs(Double(logits.data[i]) - want[i]))
            largest = max(largest, abs(want[i]))
        }
        print("tiny STU-Net from tiny.model: worst logit difference \(worst) (largest logit \(largest))")
        XCTAssertLessThan(worst, 1e-4 * max(1, largest))
    }

    /// STU-Net's own plan_files/base_ep4k.model.pkl, as published for STU-Net-B on TotalSegmentator.
    func testPublishedSTUNetBPlansRead() throws {
        let plans = try NNUNetV1Plans.read(Self.root.appendingPathComponent("stunet_base_ep4k.model.pkl"))
        XCTAssertEqual(plans.trainerName, "STUNetTrainer_base")
        XCTAssertEqual(plans.classCount, 105)
        XCTAssertEqual(plans.foregroundLabels, Array(1...104))
        XCTAssertEqual(plans.modalities, ["nonCT"])
        XCTAssertEqual(plans.normalizationSchemes, ["nonCT"])
        XCTAssertEqual(plans.useMaskForNorm, [false])
        XCTAssertNil(plans.intensityProperties)
        XCTAssertEqual(plans.patchSize, [128, 128, 128])
        XCTAssertEqual(plans.spacing, [1.5, 1.5, 1.5])
        XCTAssertEqual(plans.poolKernels, [[2, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2], [1, 1, 2]])
        XCTAssertEqual(try STUNetCheckpoint.normalization(plans, path: "p"), .zScoreWholeImage)
    }

    func testPresetNameMustMatchTheWeights() throws {
        XCTAssertThrowsError(try STUNetCheckpoint.bundle(model: "stunet-b", weights: Self.tiny)) { error in
            guard case .presetMismatch(_, "stunet-b", _, let found, "stunet")? = error as? NNUNetError else { return XCTFail("\(error)") }
            XCTAssertEqual(found, "widths [4, 8, 8, 8, 8, 8], blocks [1, 2, 1, 1, 1, 1]")
        }
        let large = try XCTUnwrap(STUNetConfig.preset("l", inputChannels: 1, classCount: 105))
        XCTAssertNoThrow(try STUNetCheckpoint.requirePreset("stunet-l", found: large, path: "f"))
        XCTAssertNoThrow(try STUNetCheckpoint.requirePreset("stunet", found: large, path: "f"))
        XCTAssertThrowsError(try STUNetCheckpoint.requirePreset("stunet-b", found: large, path: "f")) { error in
            XCTAssertTrue("\(error)".contains("give --model stunet-l"), "\(error)")
        }
        XCTAssertThrowsError(try STUNetCheckpoint.requirePreset("stunet-x", found: large, path: "f")) { error in
            XCTAssertTrue("\(error)".contains("--model stunet-x"), "\(error)")
        }
    }

    func testMissingPlansAndNonSTUNetWeightsAreNamed() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-stunet-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let lone = work.appendingPathComponent("lone.model")
        try FileManager.default.copyItem(at: Self.tiny, to: lone)
        XCTAssertThrowsError(try STUNetCheckpoint.bundle(model: "stunet", weights: lone)) { error in
            guard case .missingFile(let path, _)? = error as? NNUNetError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, lone.path + ".pkl")
        }
        // An nnU-Net v2 checkpoint holds network_weights, not state_dict: named, not misread.
        let v2 = work.appendingPathComponent("v2.model")
        try FileManager.default.copyItem(at: TestPaths.repositoryRoot.appendingPathComponent("Tests/References/torch/nnunet_v2.pth"), to: v2)
        try FileManager.default.copyItem(at: Self.root.appendingPathComponent("tiny.model.pkl"), to: URL(fileURLWithPath: v2.path + ".pkl"))
        XCTAssertThrowsError(try STUNetCheckpoint.bundle(model: "stunet", weights: v2)) { error in
            XCTAssertTrue("\(error)".contains("state_dict"), "\(error)")
        }
        XCTAssertThrowsError(try STUNetCheckpoint.bundle(model: "stunet", weights: work.appendingPathComponent("absent.model"))) { error in
            XCTAssertTrue("\(error)".contains("absent.model: no such file"), "\(error)")
        }
    }

    /// A v1 trained-model folder (plans.pkl, fold_0/model_final_checkpoint.model) is refused by name.
    func testVersionOneFolderIsRefused() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-v1-\(UUID().uuidString)")
        let fold = folder.appendingPathComponent("fold_0")
        try FileManager.default.createDirectory(at: fold, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data([0x80, 0x04, 0x4E, 0x2E]).write(to: folder.appendingPathComponent("plans.pkl"))
        try FileManager.default.copyItem(at: Self.tiny, to: fold.appendingPathComponent("model_final_checkpoint.model"))
        XCTAssertThrowsError(try NNUNetModelFolder.open(folder)) { error in
            XCTAssertEqual(error as? NNUNetError, .versionOneFolder(folder: folder.standardizedFileURL.path))
            XCTAssertTrue("\(error)".contains("--model stunet --weights"), "\(error)")
        }
    }
}
