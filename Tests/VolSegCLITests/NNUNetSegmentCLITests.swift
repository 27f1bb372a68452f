import Foundation
import VolSegIO
import VolSegTestSupport
import XCTest

/// `volseg segment` with nnU-Net v2 model folders from the command line: nnU-Net's folder mode
/// and names, `-d/-c` under $nnUNet_results, and the refusals (cascades, missing folds, channel
/// counts), on the reference model of Tests/References/nnunet (case A: CT, two folds).
final class NNUNetSegmentCLITests: XCTestCase {
    static let references = TestPaths.repositoryRoot.appendingPathComponent("Tests/References/nnunet")
    static let modelA = references.appendingPathComponent("models/A/nnUNetTrainer__nnUNetPlans__3d_fullres")
    static let inputsA = references.appendingPathComponent("inputs/A")
    var work: URL!

    override func setUpWithError() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-nnunet-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: work) }

    func testFolderModeWritesWhatNNUNetWritesAndContinueSkipsFinishedCases() throws {
        let cli = try CLIRunner.make()
        let out = work.appendingPathComponent("predictions")
        var result = try cli.run(["segment", "-i", Self.inputsA.path, "-o", out.path, "-m", Self.modelA.path, "-f", "0",
                                  "--disable_tta", "--save_probabilities", "-device", "cuda", "-npp", "1", "-nps", "1",
                                  "--disable_progress_bar", "--no-progress"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("-device cuda: VolSeg runs on the CPU"), result.stderr)
        XCTAssertTrue(result.stdout.contains("folds 0, trainer nnUNetTrainer; mirroring off (--disable_tta)"), result.stdout)
        let names = try FileManager.default.contentsOfDirectory(atPath: out.path).sorted()
        XCTAssertEqual(names, ["liver_0100.nii.gz", "liver_0100.npz", "liver_0100.pkl", "liver_0101.nii.gz", "liver_0101.npz", "liver_0101.pkl"])
        // The label maps are nnU-Net's (float32-patched run, fold 0, no mirroring) voxel for voxel.
        for name in ["liver_0100", "liver_0101"] {
            let ours = try NIfTIReader.read(out.appendingPathComponent(name + ".nii.gz"))
            let theirs = try NIfTIReader.read(Self.references.appendingPathComponent("outputs/A/float32_notta/\(name).nii.gz"))
            XCTAssertEqual(ours.spatialShape, theirs.spatialShape)
            let differing = (0..<ours.voxels.count).filter { ours.voxels.data[$0] != theirs.voxels.data[$0] }.count
            XCTAssertEqual(differing, 0, name)
        }
        result = try cli.run(["segment", "-i", Self.inputsA.path, "-o", out.path, "-m", Self.modelA.path, "-f", "0",
                              "--disable_tta", "--save_probabilities", "--continue_prediction", "--no-progress"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("0 written, 2 skipped, 0 failed"), result.stdout)
    }

    /// `evaluate --model MODEL_DIR --postprocess nnunet` scores the postprocessed predictions: with
    /// nnU-Net's own postprocessed labels as the reference, every Dice is 1 with it and below 1
    /// without it (the postprocessing removes components).
    func testEvaluateModelScoresPostprocessedPredictions() throws {
        let manager = FileManager.default
        let model = work.appendingPathComponent("nnUNetTrainer__nnUNetPlans__3d_fullres")
        try manager.createDirectory(at: model, withIntermediateDirectories: true)
        for name in ["dataset.json", "plans.json", "fold_0"] {
            try manager.createSymbolicLink(at: model.appendingPathComponent(name), withDestinationURL: Self.modelA.appendingPathComponent(name))
        }
        let postprocessing = Self.references.appendingPathComponent("postprocessing")
        try manager.copyItem(at: postprocessing.appendingPathComponent("liver.pkl"), to: model.appendingPathComponent("postprocessing.pkl"))
        let dataset = work.appendingPathComponent("Dataset001_Liver")
        for folder in ["imagesTr", "labelsTr"] {
            try manager.createDirectory(at: dataset.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        for name in ["liver_0100", "liver_0101"] {
            try manager.copyItem(at: Self.inputsA.appendingPathComponent(name + "_0000.nii.gz"),
                                 to: dataset.appendingPathComponent("imagesTr/\(name)_0000.nii.gz"))
            try manager.copyItem(at: postprocessing.appendingPathComponent("liver_\(name).nii.gz"),
                                 to: dataset.appendingPathComponent("labelsTr/\(name).nii.gz"))
        }
        func dice(_ arguments: [String], out: String) throws -> [String: Double] {
            let folder = work.appendingPathComponent(out)
            let result = try CLIRunner.make().run(["evaluate", "--model", model.path, "--data", dataset.path, "--out", folder.path,
                                                   "--disable_tta", "--no-pictures", "--quiet"] + arguments)
            XCTAssertEqual(result.status, 0, result.stderr)
            let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("summary.json")))
            let means = try XCTUnwrap((summary as? [String: Any])?["mean"] as? [String: [String: Any]], "\(summary)")
            return means.compactMapValues { $0["Dice"] as? Double }
        }
        let processed = try dice(["--postprocess", "nnunet"], out: "with")
        XCTAssertEqual(processed.count, 2, "\(processed)")
        for (label, value) in processed { XCTAssertEqual(value, 1, accuracy: 1e-12, "label \(label)") }
        let unprocessed = try dice([], out: "without")
        XCTAssertLessThan(unprocessed.values.min() ?? 1, 1, "\(unprocessed)")
        let refused = try CLIRunner.make().run(["evaluate", "--ref", dataset.path, "--pred", dataset.path, "--out", work.appendingPathComponent("x").path,
                                                "--postprocess", "nnunet"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("--postprocess post-processes what --model predicts"), refused.stderr)
    }

    /// -pp_pkl_file gives what nnUNetv2_apply_postprocessing writes from nnU-Net's own prediction
    /// with that pickle; --postprocess nnunet looks where nnU-Net leaves the file and names it.
    func testPostprocessingPickleGivesNNUNetsPostprocessedLabels() throws {
        let cli = try CLIRunner.make()
        let postprocessing = Self.references.appendingPathComponent("postprocessing")
        let out = work.appendingPathComponent("predictions")
        var result = try cli.run(["segment", "-i", Self.inputsA.path, "-o", out.path, "-m", Self.modelA.path, "-f", "0",
                                  "--disable_tta", "-pp_pkl_file", postprocessing.appendingPathComponent("liver.pkl").path, "--no-progress"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("liver.pkl (3 largest-component step(s))"), result.stdout)
        for name in ["liver_0100", "liver_0101"] {
            let ours = try NIfTIReader.read(out.appendingPathComponent(name + ".nii.gz"))
            let theirs = try NIfTIReader.read(postprocessing.appendingPathComponent("liver_\(name).nii.gz"))
            let unprocessed = try NIfTIReader.read(Self.references.appendingPathComponent("outputs/A/float32_notta/\(name).nii.gz"))
            let differing = (0..<ours.voxels.count).filter { ours.voxels.data[$0] != theirs.voxels.data[$0] }.count
            let changed = (0..<ours.voxels.count).filter { ours.voxels.data[$0] != unprocessed.voxels.data[$0] }.count
            XCTAssertEqual(differing, 0, name)
            XCTAssertGreaterThan(changed, 100, "\(name): the postprocessing removes components")
        }
        let output = work.appendingPathComponent("one.nii.gz")
        let input = Self.inputsA.appendingPathComponent("liver_0100_0000.nii.gz").path
        result = try cli.run(["segment", "-i", input, "-o", output.path, "-m", Self.modelA.path, "-f", "0", "--postprocess", "nnunet"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("crossval_results_folds_0/postprocessing.pkl or \(Self.modelA.path)/postprocessing.pkl"), result.stderr)
        result = try cli.run(["segment", "-i", input, "-o", output.path, "-m", Self.modelA.path, "--postprocess", "lits"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("--postprocess lits applies to VolSeg checkpoints"), result.stderr)
        result = try cli.run(["segment", "-i", input, "-o", output.path, "-m", Self.modelA.path,
                              "-pp_pkl_file", postprocessing.appendingPathComponent("forbidden.pkl").path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("forbidden callable posix.system"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path))
    }

    /// --plan-memory's predicted process peak bounds the real run's peak RSS (export and writing
    /// included); --memory-budget below the plan refuses the case with the figures, writing nothing.
    func testPlannedMemoryBoundsTheRealRunAndTheBudgetRefuses() throws {
        let cli = try CLIRunner.make()
        let input = Self.inputsA.appendingPathComponent("liver_0101_0000.nii.gz").path
        let output = work.appendingPathComponent("liver_0101.nii.gz")
        let probabilities = work.appendingPathComponent("liver_0101_probabilities.nii.gz")
        let arguments = ["segment", "-i", input, "-o", output.path, "-m", Self.modelA.path, "--save_probabilities",
                         "--probabilities", probabilities.path, "--no-progress"]
        let plan = try cli.run(arguments + ["--plan-memory"])
        XCTAssertEqual(plan.status, 0, plan.stderr)
        XCTAssertTrue(plan.stdout.contains("memory ledger peak for liver_0101 (2 fold(s), 8 mirroring(s) per window, probabilities kept)"), plan.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path), "--plan-memory writes nothing")
        let predicted = try XCTUnwrap(plan.stdout.components(separatedBy: "predicted process peak ").last?.split(separator: " ").first.flatMap { Int($0) },
                                      plan.stdout)
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/time") else { throw XCTSkip("/usr/bin/time is not installed") }
        let real = try CLIRunner(binary: URL(fileURLWithPath: "/usr/bin/time")).run(["-f", "%M", cli.binary.path] + arguments)
        XCTAssertEqual(real.status, 0, real.stderr)
        let kib = try XCTUnwrap(real.stderr.split(separator: "\n").last.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }, real.stderr)
        print("liver_0101 with model A: predicted process peak \(predicted / 1_048_576) MiB, measured peak RSS \(kib / 1024) MiB")
        XCTAssertLessThanOrEqual(kib * 1024, predicted)
        for url in [output, probabilities] { try FileManager.default.removeItem(at: url) }
        try FileManager.default.removeItem(at: work.appendingPathComponent("liver_0101.npz"))
        try FileManager.default.removeItem(at: work.appendingPathComponent("liver_0101.pkl"))

        let refused = try cli.run(arguments + ["--memory-budget", "2MiB"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("\(input): segmenting needs"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("more than --memory-budget 2 MiB; without --save_probabilities it needs"), refused.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: work.path), [], "nothing written")
    }

    func testDatasetFormResolvesUnderNNUNetResults() throws {
        let cli = try CLIRunner.make()
        let results = work.appendingPathComponent("results/Dataset007_Liver")
        try FileManager.default.createDirectory(at: results, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: results.appendingPathComponent("nnUNetTrainer__nnUNetPlans__3d_fullres"),
                                                   withDestinationURL: Self.modelA)
        let output = work.appendingPathComponent("liver_0100.nii.gz")
        let environment = ["nnUNet_results": work.appendingPathComponent("results").path]
        let result = try cli.run(["segment", "-i", Self.inputsA.appendingPathComponent("liver_0100_0000.nii.gz").path, "-o", output.path,
                                  "-d", "7", "-c", "3d_fullres", "-f", "0", "1", "--no-progress"], environment: environment)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("folds 0 1"), result.stdout)
        XCTAssertTrue(result.stdout.contains("mirroring axes [0, 1, 2]"), result.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: output.path))
        let missing = try cli.run(["segment", "-i", Self.inputsA.appendingPathComponent("liver_0100_0000.nii.gz").path,
                                   "-o", work.appendingPathComponent("x.nii.gz").path, "-d", "8", "-c", "3d_fullres"], environment: environment)
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("no trained model for dataset 8 under \(work.appendingPathComponent("results").path)"), missing.stderr)
    }

    func testRefusalsNameTheProblemAndWriteNothing() throws {
        let cli = try CLIRunner.make()
        let input = Self.inputsA.appendingPathComponent("liver_0100_0000.nii.gz").path
        let output = work.appendingPathComponent("out.nii.gz")
        var result = try cli.run(["segment", "-i", input, "-o", output.path, "-m", Self.modelA.path, "-f", "3"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("fold_3/checkpoint_final.pth: no such file (fold 3 was asked for)"), result.stderr)
        result = try cli.run(["segment", "-i", input, "-o", output.path, "-m", Self.modelA.path, "-prev_stage_predictions", work.path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("cascades (3d_cascade_fullres) are not supported"), result.stderr)
        result = try cli.run(["segment", "-i", input, input, "-o", output.path, "-m", Self.modelA.path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("the model takes 1 channel(s) (CT); -i gave 2 file(s)"), result.stderr)
        result = try cli.run(["segment", "-i", input, "-o", input, "-m", Self.modelA.path])
        XCTAssertNotEqual(result.status, 0, "the input must never be overwritten")
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path))
    }

    func testModelsDescribesAnNNUNetFolder() throws {
        let cli = try CLIRunner.make()
        let result = try cli.run(["models", "--nnunet", Self.modelA.path, "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["architecture"] as? String, "PlainConvUNet")
        XCTAssertEqual(object["features_per_stage"] as? [Int], [8, 16, 32, 32])
        XCTAssertEqual(object["patch_size"] as? [Int], [32, 32, 32])
        XCTAssertEqual(object["folds"] as? [String], ["0", "1"])
        XCTAssertEqual(object["mirroring_axes"] as? [Int], [0, 1, 2])
        XCTAssertEqual(object["parameters"] as? Int, 232_353)
    }
}
