import Foundation
@testable import VolSegCore
@testable import VolSegDatasets
@testable import VolSegIO
@testable import VolSegInference
@testable import VolSegModels
@testable import VolSegNN
@testable import VolSegPreprocessing
import VolSegTestSupport
@testable import VolSegTraining
import XCTest

/// The trainer on synthetic BraTS and LiTS phantoms (32^3, a tiny network, a few steps): exact
/// resume, what the checkpoint carries, CT statistics from the training foreground only, and
/// validation Dice.
final class TrainerTests: XCTestCase {
    static let folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-trainer-tests-\(UUID().uuidString)")

    override class func tearDown() {
        try? FileManager.default.removeItem(at: folder)
    }

    func bratsData() throws -> URL {
        let url = Self.folder.appendingPathComponent("brats")
        if !FileManager.default.fileExists(atPath: url.path) {
            try SyntheticDataset.write(.brats, cases: 3, to: url, seed: 11, size: [32, 32, 32])
        }
        return url
    }

    func tinyConfig() throws -> PipelineConfig {
        try PipelineConfig.load(TestPaths.repositoryRoot.appendingPathComponent("pipelines/brats-tiny.yaml"))
    }

    func train(_ config: PipelineConfig, data: URL, run: String, epochs: Int = 2, steps: Int = 3,
               stopAfter: Int? = nil, resume: Bool = false, seed: UInt64 = 5) throws -> TrainingSummary {
        var options = TrainingOptions(dataFolder: data, runFolder: Self.folder.appendingPathComponent(run))
        options.epochs = epochs
        options.iterationsPerEpoch = steps
        options.stopAfterEpochs = stopAfter
        options.resume = resume
        options.seed = seed
        return try Trainer(config: config, options: options).run()
    }

    func losses(_ run: String) throws -> [String] {
        let log = try TrainingLog.read(Self.folder.appendingPathComponent(run).appendingPathComponent("log.csv"))
        return log.rows.map { $0[0...2].joined(separator: ",") }
    }

    func testResumedRunEqualsUninterruptedRun() throws {
        // Two threads: convolution workers take fixed slabs, so per-worker weight-gradient sums
        // add in the same order every run and the weights match to the bit.
        let threads = Parallel.threadCount
        Parallel.setThreadCount(2)
        defer { Parallel.setThreadCount(threads) }
        let data = try bratsData(), config = try tinyConfig()
        _ = try train(config, data: data, run: "whole", epochs: 3)
        let stopped = try train(config, data: data, run: "parts", epochs: 3, stopAfter: 1)
        XCTAssertEqual(stopped.epochsDone, 1)
        XCTAssertEqual(try losses("parts").count, 3)
        _ = try train(config, data: data, run: "parts", epochs: 3, stopAfter: 2, resume: true)
        let finished = try train(config, data: data, run: "parts", epochs: 3, resume: true)
        XCTAssertEqual(finished.epochsDone, 3)
        XCTAssertEqual(try losses("parts"), try losses("whole"))
        XCTAssertEqual(try losses("whole").count, 9)
        let a = try Checkpoint.read(from: Self.folder.appendingPathComponent("whole/checkpoint_last.h5"))
        let b = try Checkpoint.read(from: Self.folder.appendingPathComponent("parts/checkpoint_last.h5"))
        XCTAssertEqual(a.weights.keys.sorted(), b.weights.keys.sorted())
        for (name, w) in a.weights { XCTAssertEqual(w.toArray(), b.weights[name]!.toArray(), name) }
        for (name, m) in a.optimizer { XCTAssertEqual(m.toArray(), b.optimizer[name]!.toArray(), name) }
        XCTAssertEqual(a.training["rng_state"], b.training["rng_state"])
        XCTAssertEqual(a.training["iteration"], [9])
        // A different seed trains differently.
        _ = try train(config, data: data, run: "other-seed", epochs: 1, seed: 6)
        XCTAssertNotEqual(try losses("other-seed"), Array(try losses("whole").prefix(3)))
    }

    func testCheckpointAloneRebuildsTheModelAndItsPreprocessing() throws {
        let data = try bratsData(), config = try tinyConfig()
        _ = try train(config, data: data, run: "bundle", epochs: 1, steps: 2)
        let url = Self.folder.appendingPathComponent("bundle/checkpoint_best.h5")
        // One loader for every reader of a checkpoint (segment, evaluate, adapt, resume).
        let trained = try ModelBundle.load(url)
        let run = trained.config
        XCTAssertEqual(run.modelName, "unet3d")
        XCTAssertEqual(run.modalities, ["T1", "T1ce", "T2", "FLAIR"])
        XCTAssertEqual(try run.trainingLabels(file: url.path).target, .regions)
        XCTAssertEqual(run.preprocessor.normalization, IntensityNormalization.zScoreInsideMask)
        XCTAssertEqual(try run.trainingPlan(file: url.path).patchSize, [32, 32, 32])
        // The segmenter's keys (volseg segment's ModelBundleConfig): patch [D, H, W], regions with paints.
        let json = try Checkpoint.read(from: url).configObject
        XCTAssertEqual(json["label_convention"] as? String, "brats2021")
        XCTAssertEqual(json["patch"] as? [Int], [32, 32, 32])
        let regions = json["regions"] as? [[String: Any]]
        XCTAssertEqual(regions?.map { $0["name"] as? String }, ["WT", "TC", "ET"])
        XCTAssertEqual(regions?.map { $0["paint"] as? Int }, [2, 1, 4])
        XCTAssertNil(json["labels"])
        XCTAssertFalse(trained.model.isTraining)
        // volseg segment reads the same file.
        let bundle = try ModelBundle.load(url)
        XCTAssertEqual(bundle.config.patch, [32, 32, 32])
        XCTAssertEqual(bundle.config.modalities, ["T1", "T1ce", "T2", "FLAIR"])
        XCTAssertEqual(bundle.config.preprocessor.normalization, .zScoreInsideMask)
        guard case .regions(let regionsRead) = bundle.config.output else { return XCTFail("not a region model") }
        XCTAssertEqual(regionsRead.map(\.paint), [2, 1, 4])
        // Same weights as the trainer wrote: the model reproduces the stored validation Dice.
        let training = try TrainingData.load(config: config, folder: data)
        let dice = try ValidationRunner(config: run, labels: try run.trainingLabels(file: url.path))
            .dice(model: trained.model, cases: training.validation)
        let log = try TrainingLog.read(Self.folder.appendingPathComponent("bundle/log.csv"))
        let stored = log.rows.last![4...6].map { Double($0)! }
        for (a, b) in zip(dice, stored) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    func testCTStatisticsComeFromTheTrainingForegroundAndAreStored() throws {
        let data = Self.folder.appendingPathComponent("lits")
        try SyntheticDataset.write(.lits, cases: 2, to: data, seed: 3, size: [32, 32, 32])
        let yaml = """
            model: {name: unet3d, config: {widths: [4, 8], convs_per_stage: 1, deep_supervision: false}}
            data: {labels: lits}
            preprocessing: {normalization: ct, target_spacing: null}
            patch: {size: [32, 32, 32], batch: 1}
            validation: {split: cases, cases: [volume-1]}
            """
        let config = try PipelineConfig.parse(yaml, path: "lits-ct-test.yaml")
        _ = try train(config, data: data, run: "ct", epochs: 1, steps: 1)
        // Expected: nnU-Net's statistics over the foreground of volume-0 only.
        let image = try NIfTIReader.read(data.appendingPathComponent("volume-0.nii"))
        let labels = try NIfTIReader.read(data.appendingPathComponent("segmentation-0.nii"))
        let foreground = (0..<labels.voxels.count).filter { labels.voxels.data[$0] > 0 }.map { image.voxels.data[$0] }
        let expected = CTNormalization.fromTrainingForeground(foreground)
        let ctCheckpoint = Self.folder.appendingPathComponent("ct/checkpoint_last.h5")
        let run = try ModelBundle.load(ctCheckpoint).config
        guard case .ct(let stored) = run.preprocessor.normalization else { return XCTFail("no CT normalisation stored") }
        XCTAssertEqual(stored.mean, expected.mean, accuracy: 1e-3)
        XCTAssertEqual(stored.std, expected.std, accuracy: 1e-3)
        XCTAssertEqual(stored.lower, expected.lower, accuracy: 1e-3)
        XCTAssertEqual(stored.upper, expected.upper, accuracy: 1e-3)
        let runLabels = try run.trainingLabels(file: ctCheckpoint.path)
        XCTAssertEqual(runLabels.classValues, [0, 1, 2])
        XCTAssertEqual(runLabels.reportedStructures.map(\.name), ["liver", "tumour"])
        let log = try TrainingLog.read(Self.folder.appendingPathComponent("ct/log.csv"))
        XCTAssertEqual(log.header, ["epoch", "iteration", "loss", "lr", "val_dice_liver", "val_dice_tumour",
                                    "seconds", "ledger_peak_bytes", "rss_peak_bytes"])
    }

    func testPreprocessingPeakIsWithinThePlannersBound() throws {
        let data = try bratsData(), config = try tinyConfig()
        let (loaded, peak) = try MemoryLedger.shared.measurePeak { try TrainingData.load(config: config, folder: data) }
        let bound = loaded.cacheBytes + MemoryPlanner.preprocessingCopies * loaded.largestSourceBytes
        print("preprocessing peak \(peak) bytes, bound \(bound) (cache \(loaded.cacheBytes), largest case \(loaded.largestSourceBytes))")
        XCTAssertLessThanOrEqual(peak, bound)
    }

    /// A model that returns the image's class index (channel 0) as large logits: perfect Dice.
    final class OracleModel: Module, SegmentationModel {
        let outputs: Int
        let regions: [[Bool]]?
        init(outputs: Int, regions: [[Bool]]?) { self.outputs = outputs; self.regions = regions }
        var inputChannels: Int { 1 }
        var classCount: Int { outputs }
        var configJSON: [String: Any] { [:] }
        var family: String { "oracle" }
        var sizeDivisor: [Int] { [1, 1, 1] }
        func forward(_ x: Tensor) -> [Tensor] {
            let volume = x.count
            let out = Tensor.empty([1, outputs] + Array(x.shape.suffix(3)))
            for c in 0..<outputs {
                for i in 0..<volume {
                    let cls = Int(x.data[i])
                    let on = regions.map { $0[c][cls] } ?? (cls == c)
                    out.data[c * volume + i] = on ? 8 : -8
                }
            }
            return [out]
        }
    }

    func testValidationDiceOfAPerfectModelIsOne() throws {
        // Labels 0...3 as blocks; the image is the class index itself, kept as it is (no
        // normalisation, crop or resampling) so the oracle sees it.
        let shape = [20, 18, 22], volume = shape.reduce(1, *)
        let classes = (0..<volume).map { (i: Int) -> Float in Float((i / 7 + i / 131) % 4) }
        let values = classes.map { [0, 1, 2, 4][Int($0)] }.map(Float.init)
        let header = NIfTIHeader(spatialShape: shape.reversed(), affine: .identity)
        let item = ValidationCase(id: "v", image: NIfTIVolume(header: header, voxels: Tensor(shape: [1] + shape, values: classes), path: "v.nii"),
                                  reference: Tensor(shape: [1] + shape, values: values), networkShape: shape)
        func config(_ labels: TrainingLabels) -> ModelBundleConfig {
            ModelBundleConfig(modelName: "oracle", modelConfig: [:], patch: [16, 16, 16],
                              preprocessor: Preprocessor(targetSpacing: nil, normalization: .none, cropToNonzero: false),
                              labelConventionName: labels.convention.name, output: labels.segmentationOutput, modalities: ["image"])
        }
        let labels = try TrainingLabels(convention: .brats2021, target: .labels)
        let dice = try ValidationRunner(config: config(labels), labels: labels).dice(model: OracleModel(outputs: 4, regions: nil), cases: [item])
        XCTAssertEqual(dice.count, 3)
        for d in dice { XCTAssertEqual(d, 1, accuracy: 1e-12) }
        let regions = try TrainingLabels(convention: .brats2021, target: .regions)
        let regionDice = try ValidationRunner(config: config(regions), labels: regions)
            .dice(model: OracleModel(outputs: 3, regions: regions.regionMembership), cases: [item])
        for d in regionDice { XCTAssertEqual(d, 1, accuracy: 1e-12) }
    }

    func testWindowsFollowNNUNet() {
        // Validation places its windows with Inference's rule (there is one).
        XCTAssertEqual(SlidingWindow.starts(size: 100, patch: 64, step: 0.5), [0, 18, 36])
        XCTAssertEqual(SlidingWindow.starts(size: 64, patch: 64, step: 0.5), [0])
        XCTAssertEqual(SlidingWindow.starts(size: 128, patch: 64, step: 0.5), [0, 32, 64])
    }
}
