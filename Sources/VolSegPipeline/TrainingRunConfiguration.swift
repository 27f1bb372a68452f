import Foundation

/// Everything a checkpoint must carry so that it can be used alone: the model and its config,
/// the modalities in channel order, the label meaning, the preprocessing with its resolved CT
/// statistics, the patch, batch and recompute plan, and the pipeline file's text (for resuming).
/// Stored as the JSON `config` attribute of the checkpoint (`volseg segment --model FILE` reads
/// it through `TrainedModel.load`).
///
/// JSON keys: format, model {name, config}, modalities, labels {convention, target, class_values,
/// names, regions}, preprocessing {target_spacing (x, y, z mm or null), crop_to_nonzero,
/// normalization {kind: zscore|ct|none, lower, upper, mean, std}}, patch [x, y, z], batch,
/// recompute, seed, epochs, iterations_per_epoch, pipeline (YAML text), pipeline_name.
public struct TrainingRunConfiguration: @unchecked Sendable {
    public static let format = "volseg-run-1"

    public var modelName: String
    /// The registry config that rebuilds the model (input_channels and num_classes filled in).
    public var modelConfig: [String: Any]
    public var modalities: [String]
    public var labels: TrainingLabels
    public var preprocessor: Preprocessor
    public var plan: TrainingPlan
    public var seed: UInt64
    public var epochs: Int
    public var iterationsPerEpoch: Int
    public var pipelineText: String
    public var pipelineName: String

    public var json: [String: Any] {
        var normalization: [String: Any]
        switch preprocessor.normalization {
        case .none: normalization = ["kind": "none"]
        case .zScoreInsideMask: normalization = ["kind": "zscore"]
        case .ct(let ct):
            normalization = ["kind": "ct", "lower": Double(ct.lower), "upper": Double(ct.upper),
                             "mean": Double(ct.mean), "std": Double(ct.std)]
        }
        return [
            "format": Self.format,
            "model": ["name": modelName, "config": modelConfig],
            "modalities": modalities,
            "labels": labels.json,
            "preprocessing": [
                "target_spacing": preprocessor.targetSpacing.map { $0 as Any } ?? NSNull(),
                "crop_to_nonzero": preprocessor.cropToNonzero,
                "normalization": normalization,
            ] as [String: Any],
            "patch": plan.patchSizeXYZ,
            "batch": plan.batchSize,
            "recompute": plan.recompute,
            "seed": String(seed),
            "epochs": epochs,
            "iterations_per_epoch": iterationsPerEpoch,
            "pipeline": pipelineText,
            "pipeline_name": pipelineName,
        ]
    }

    public init(modelName: String, modelConfig: [String: Any], modalities: [String], labels: TrainingLabels,
                preprocessor: Preprocessor, plan: TrainingPlan, seed: UInt64, epochs: Int, iterationsPerEpoch: Int,
                pipelineText: String, pipelineName: String) {
        self.modelName = modelName
        self.modelConfig = modelConfig
        self.modalities = modalities
        self.labels = labels
        self.preprocessor = preprocessor
        self.plan = plan
        self.seed = seed
        self.epochs = epochs
        self.iterationsPerEpoch = iterationsPerEpoch
        self.pipelineText = pipelineText
        self.pipelineName = pipelineName
    }

    /// Reads the `config` attribute of a checkpoint; `path` names the file in errors.
    public init(json: [String: Any], path: String) throws {
        func fail(_ what: String) -> TrainingSetupError {
            TrainingSetupError("\(path): the checkpoint's config \(what); it was not written by volseg train")
        }
        guard json["format"] as? String == Self.format else { throw fail("has no format '\(Self.format)'") }
        guard let model = json["model"] as? [String: Any], let name = model["name"] as? String,
              let config = model["config"] as? [String: Any] else { throw fail("lacks model.name / model.config") }
        guard let labelsJSON = json["labels"] as? [String: Any] else { throw fail("lacks labels") }
        guard let pre = json["preprocessing"] as? [String: Any], let norm = pre["normalization"] as? [String: Any],
              let kind = norm["kind"] as? String else { throw fail("lacks preprocessing.normalization") }
        let normalization: IntensityNormalization
        switch kind {
        case "none": normalization = .none
        case "zscore": normalization = .zScoreInsideMask
        case "ct":
            guard let lower = norm["lower"] as? Double, let upper = norm["upper"] as? Double,
                  let mean = norm["mean"] as? Double, let std = norm["std"] as? Double, lower < upper, std > 0 else {
                throw fail("has CT normalisation without valid lower/upper/mean/std")
            }
            normalization = .ct(CTNormalization(lower: Float(lower), upper: Float(upper), mean: Float(mean), std: Float(std)))
        default: throw fail("has unknown normalisation '\(kind)'")
        }
        let spacing = pre["target_spacing"] as? [Double]
        guard let patch = json["patch"] as? [Int], patch.count == 3, let batch = json["batch"] as? Int else {
            throw fail("lacks patch [x, y, z] or batch")
        }
        modelName = name
        modelConfig = config
        modalities = json["modalities"] as? [String] ?? []
        labels = try TrainingLabels(json: labelsJSON)
        preprocessor = Preprocessor(targetSpacing: spacing, normalization: normalization,
                                    cropToNonzero: pre["crop_to_nonzero"] as? Bool ?? true)
        plan = TrainingPlan(patchSize: patch.reversed(), batchSize: batch, recompute: json["recompute"] as? [String] ?? [])
        seed = UInt64(json["seed"] as? String ?? "0") ?? 0
        epochs = json["epochs"] as? Int ?? 0
        iterationsPerEpoch = json["iterations_per_epoch"] as? Int ?? 0
        pipelineText = json["pipeline"] as? String ?? ""
        pipelineName = json["pipeline_name"] as? String ?? ""
    }
}

/// A trained model read back from a checkpoint, ready to segment: the network in evaluation
/// mode and the run configuration (preprocessing, labels, patch).
public struct TrainedModel {
    public let model: SegmentationModel
    public let configuration: TrainingRunConfiguration
    public let checkpoint: Checkpoint

    public static func load(_ url: URL) throws -> TrainedModel {
        let checkpoint = try Checkpoint.read(from: url)
        let configuration = try TrainingRunConfiguration(json: checkpoint.configObject, path: url.path)
        let model = try ModelRegistry.make(name: configuration.modelName, config: configuration.modelConfig,
                                           initializer: ParameterInitializer(seed: 0))
        do {
            try model.load(state: checkpoint.modelState)
        } catch {
            throw TrainingSetupError("\(url.path): \(error)")
        }
        model.eval()
        return TrainedModel(model: model, configuration: configuration, checkpoint: checkpoint)
    }
}
