import Foundation
@testable import VolSegIO
@testable import VolSegModels
import VolSegTestSupport
@testable import VolSegTraining
import XCTest

/// Pipeline files: every shipped one parses, nnU-Net defaults fill what a file leaves out, and
/// unknown keys or wrong types are errors naming the key, the file and the line.
final class PipelineConfigTests: XCTestCase {
    let minimal = "model:\n  name: unet3d\n"

    func parse(_ text: String) throws -> PipelineConfig { try PipelineConfig.parse(text, path: "test.yaml") }

    func error(_ text: String) -> String {
        do { _ = try parse(text); return "" } catch { return "\(error)" }
    }

    func typedError(_ text: String) -> PipelineConfigError? {
        do { _ = try parse(text); return nil } catch { return error as? PipelineConfigError }
    }

    func testEveryShippedPipelineParses() throws {
        let folder = TestPaths.repositoryRoot.appendingPathComponent("pipelines")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }.sorted()
        for required in ["brats-revmbconv.yaml", "brats-stunet-b.yaml", "lits-hdenseunet.yaml", "lits-stunet-s.yaml", "brats-tiny.yaml"] {
            XCTAssertTrue(files.contains(required), "pipelines/\(required) is missing")
        }
        for file in files {
            let config = try PipelineConfig.load(folder.appendingPathComponent(file))
            XCTAssertFalse(config.model.name.isEmpty, file)
        }
    }

    func testEveryShippedPipelineBuildsItsModelForItsLabels() throws {
        let folder = TestPaths.repositoryRoot.appendingPathComponent("pipelines")
        for file in try FileManager.default.contentsOfDirectory(atPath: folder.path) where file.hasSuffix(".yaml") {
            let config = try PipelineConfig.load(folder.appendingPathComponent(file))
            let convention = LabelConvention.named(config.data.labelConvention ?? "brats2021")!
            let labels = try TrainingLabels(convention: convention, target: config.data.target)
            let channels = convention.name == "lits" ? 1 : 4
            let model = try config.makeModel(config: try config.resolvedModelConfig(channels: channels, labels: labels), seed: 0, planned: true)
            XCTAssertEqual(model.classCount, labels.outputChannels, file)
            XCTAssertEqual(model.inputChannels, channels, file)
            XCTAssertNoThrow(try config.makeLoss(labels: labels), file)
        }
    }

    func testHDenseUNetStagesAreSetOnTheModel() throws {
        let labels = try TrainingLabels(convention: .lits, target: .labels)
        let staged = try parse("model: {name: hdenseunet-small, stage: 2, initialize_from: runs/stage1/checkpoint_best.h5}\n")
        XCTAssertEqual(staged.model.initializeFrom, "runs/stage1/checkpoint_best.h5")
        let model = try staged.makeModel(config: try staged.resolvedModelConfig(channels: 1, labels: labels), seed: 0, planned: true)
        XCTAssertEqual((model as? HDenseUNet)?.trainingStage, .hybridFrozen2D)
        XCTAssertTrue(model.trainableParameters.allSatisfy { !$0.name.hasPrefix("dense2d.") })
        let wrong = try parse("model: {name: unet3d, stage: 1}\n")
        XCTAssertThrowsError(try wrong.makeModel(config: try wrong.resolvedModelConfig(channels: 1, labels: labels), seed: 0, planned: true)) {
            XCTAssertTrue("\($0)".contains("'model.stage'"), "\($0)")
            XCTAssertEqual($0 as? PipelineConfigError, .stageNotApplicable(file: "test.yaml", model: "unet3d"))
        }
        XCTAssertTrue(error("model: {name: hdenseunet, stage: 4}\n").contains("'model.stage'"))
        guard case .invalidValue("test.yaml", "model.stage", _, _)? = typedError("model: {name: hdenseunet, stage: 4}\n") else {
            return XCTFail("model.stage 4 is not an invalid value")
        }
    }

    func testDefaultsAreNNUNets() throws {
        let config = try parse(minimal)
        XCTAssertEqual(config.name, "test")
        XCTAssertEqual(config.sampling.foregroundShare, 1.0 / 3.0, accuracy: 1e-12)
        XCTAssertEqual(config.optimizer.kind, .sgd)
        XCTAssertEqual(config.optimizer.learningRate, 1e-2)
        XCTAssertEqual(config.optimizer.momentum, 0.99)
        XCTAssertTrue(config.optimizer.nesterov)
        XCTAssertEqual(config.optimizer.weightDecay, 3e-5)
        XCTAssertEqual(config.optimizer.gradientClip, 12)
        XCTAssertEqual(config.schedule.kind, .poly)
        XCTAssertEqual(config.schedule.exponent, 0.9)
        XCTAssertEqual(config.training.iterationsPerEpoch, 250)
        XCTAssertEqual(config.loss.smooth, 1e-5)
        XCTAssertEqual(config.loss.diceWeight, 1)
        XCTAssertEqual(config.loss.crossEntropyWeight, 1)
        XCTAssertNil(config.patch.size)
        XCTAssertNil(config.patch.batch)
        XCTAssertEqual(config.augmentation.mirrorAxes, [0, 1, 2])
        XCTAssertEqual(config.augmentation.rotationProbability, 0.2)
        XCTAssertEqual(config.augmentation.scalingRange, 0.7...1.4)
        XCTAssertEqual(config.validation.stepFraction, 0.5)
    }

    func testValuesAreReadInTheFilesUnits() throws {
        let config = try parse(minimal + """
            patch: {size: [64, 48, 32], batch: 3}
            optimizer: {kind: adamw, learning_rate: 3e-4, weight_decay: 1e-2, gradient_clip: none}
            augmentation: {rotation: none, gamma: {probability: 0.5, range: [0.8, 1.2]}, mirror: {axes: [x, z]}}
            validation: {split: slab, axis: z, from: 64}
            data: {labels: lits}
            """)
        XCTAssertEqual(config.patch.size, [64, 48, 32])
        XCTAssertEqual(config.patch.batch, 3)
        XCTAssertEqual(config.optimizer.kind, .adamw)
        XCTAssertEqual(config.optimizer.learningRate, 3e-4)
        XCTAssertNil(config.optimizer.gradientClip)
        XCTAssertEqual(config.augmentation.rotationProbability, 0)
        XCTAssertEqual(config.augmentation.gammaProbability, 0.5)
        XCTAssertEqual(config.augmentation.gammaRange, 0.8...1.2)
        XCTAssertEqual(config.augmentation.mirrorAxes, [0, 2])
        XCTAssertEqual(config.validation.split, .slab)
        XCTAssertEqual(config.validation.axis, 2)
        XCTAssertEqual(config.validation.from, 64)
        XCTAssertEqual(config.data.labelConvention, "lits")
    }

    func testUnknownKeyNamesTheKeyTheFileAndTheLine() {
        let message = error(minimal + "training:\n  epochs: 3\n  iteratons_per_epoch: 5\n")
        XCTAssertTrue(message.contains("test.yaml"), message)
        XCTAssertTrue(message.contains("'training.iteratons_per_epoch'"), message)
        XCTAssertTrue(message.contains("unknown key"), message)
        XCTAssertTrue(message.contains(":5:") || message.contains("test.yaml:5"), message)
        guard case .unknownKey(let file, let key, let known, let line)? = typedError(minimal + "training:\n  epochs: 3\n  iteratons_per_epoch: 5\n") else {
            return XCTFail(message)
        }
        XCTAssertEqual(file, "test.yaml")
        XCTAssertEqual(key, "training.iteratons_per_epoch")
        XCTAssertTrue(known.contains("epochs") && known.contains("iterations_per_epoch"), "\(known)")
        XCTAssertEqual(line, 5)
        XCTAssertTrue(error(minimal + "optimiser: {kind: sgd}\n").contains("'optimiser'"))
        XCTAssertTrue(error("model: {name: unet3d, widths: [8]}\n").contains("'model.widths'"))
    }

    func testWrongTypesNameTheKey() {
        let cases: [(String, String)] = [
            ("training: {epochs: ten}", "'training.epochs'"),
            ("training: {epochs: 2.5}", "'training.epochs'"),
            ("optimizer: {learning_rate: fast}", "'optimizer.learning_rate'"),
            ("optimizer: {kind: adam}", "'optimizer.kind'"),
            ("patch: {size: [64, 64]}", "'patch.size'"),
            ("patch: {batch: many}", "'patch.batch'"),
            ("sampling: {foreground_share: 1.5}", "'sampling.foreground_share'"),
            ("loss: {deep_supervision: maybe}", "'loss.deep_supervision'"),
            ("augmentation: {rotation: {probability: 2}}", "'augmentation.rotation.probability'"),
            ("augmentation: {scaling: [0.7, 1.4]}", "'augmentation.scaling'"),
            ("data: {labels: brats2019}", "'data.labels'"),
            ("data: {cache: lots}", "'data.cache'"),
            ("validation: {split: slab}", "'validation.from'"),
            ("training: 5", "'training'"),
        ]
        for (text, key) in cases {
            let message = error(minimal + text + "\n")
            XCTAssertTrue(message.contains(key) && message.contains("test.yaml"), "\(text): \(message)")
            let typed = typedError(minimal + text + "\n")
            XCTAssertEqual(typed?.file, "test.yaml", text)
            XCTAssertEqual(typed.flatMap(\.key).map { "'\($0)'" }, key, text)
            switch typed {
            case .invalidValue?, .notAMapping?, .unknownKey?: break
            default: XCTFail("\(text): \(String(describing: typed))")
            }
        }
        XCTAssertTrue(error("data: {labels: lits}\n").contains("'model.name'"))
        XCTAssertTrue(error("model: [unet3d]\n").contains("'model'"))
        guard case .notAMapping("test.yaml", "model"?, "a list", _)? = typedError("model: [unet3d]\n") else {
            return XCTFail(error("model: [unet3d]\n"))
        }
        XCTAssertTrue(error("model: {name: unet3d}\nmodel: {name: stunet-s}\n").contains("twice") || error("model: {name: unet3d}\nmodel: {name: stunet-s}\n").contains("model"))
        XCTAssertTrue(error(": : :").contains("test.yaml"))
    }

    /// Found by `make fuzz` (FuzzPipelineYAML): a YAML 1.1 base-60 integer too large for Int made
    /// Yams's `Node.int` trap (arithmetic overflow) and killed the process; it is a named error now.
    func testBaseSixtyIntegerTooLargeIsAnErrorNotACrash() {
        let yaml = """
            model: {name: unet3d, config: {widths: [4, 8], convs_per_stage: 1, deep_supervision: false}}
            data: {labels: lits}
            training:
              epochs: 1:59:59:59:59:59:59:59:59:59:59:59:59
            """
        XCTAssertThrowsError(try PipelineConfig.parse(yaml, path: "fuzz.yaml")) { error in
            XCTAssertTrue("\(error)".contains("epochs") && "\(error)".contains("whole number"), "\(error)")
        }
        // Plain whole numbers, hexadecimal and signs still read as before.
        XCTAssertEqual(try PipelineConfig.parse("model: {name: unet3d, config: {widths: [4, 8], convs_per_stage: 1, deep_supervision: false}}\ndata: {labels: lits}\ntraining: {epochs: 0x10}", path: "x.yaml").training.epochs, 16)
    }
}
