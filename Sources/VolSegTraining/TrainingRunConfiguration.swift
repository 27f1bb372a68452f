import Foundation
import VolSegCore
import VolSegIO
import VolSegModels
import VolSegNN
import VolSegPreprocessing

/// Everything a checkpoint must carry so that it can be used alone, stored as the JSON `config`
/// attribute of the checkpoint. The top-level keys are the segmenter's (`ModelBundleConfig` of
/// `volseg segment`): `model {name, config}`, `patch` [D, H, W], `preprocessing {target_spacing
/// (x, y, z mm or null), crop_to_nonzero, normalization {kind: zscore|ct|none, lower, upper,
/// mean, std}}`, `label_convention`, `labels` (softmax: channel c is label value labels[c]) or
/// `regions` ([{name, labels, paint}], sigmoid per region), `modalities`. What only training
/// needs sits under `training`: format, target, label_names, convention_regions, batch,
/// recompute, seed, epochs, iterations_per_epoch, and the pipeline file's text (for resuming).
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
        let convention = labels.convention
        var object: [String: Any] = [
            "model": ["name": modelName, "config": modelConfig] as [String: Any],
            "patch": plan.patchSize,
            "preprocessing": [
                "target_spacing": preprocessor.targetSpacing.map { $0 as Any } ?? NSNull(),
                "crop_to_nonzero": preprocessor.cropToNonzero,
                "normalization": normalization,
            ] as [String: Any],
            "label_convention": convention.name,
            "modalities": modalities,
            "training": [
                "format": Self.format,
                "target": labels.target.rawValue,
                "label_names": Dictionary(uniqueKeysWithValues: convention.labels.map { (String($0.key), $0.value) }),
                "convention_regions": convention.regions.map { ["name": $0.name, "labels": $0.labels.sorted()] as [String: Any] },
                "batch": plan.batchSize,
                "recompute": plan.recompute,
                "seed": String(seed),
                "epochs": epochs,
                "iterations_per_epoch": iterationsPerEpoch,
                "pipeline": pipelineText,
                "pipeline_name": pipelineName,
            ] as [String: Any],
        ]
        switch labels.target {
        case .labels: object["labels"] = labels.classValues
        case .regions:
            let sets = convention.regions.map(\.labels)
            object["regions"] = convention.regions.enumerated().map { i, region -> [String: Any] in
                // The value a region paints in a label map: its labels minus the next region's
                // (BraTS WT - TC = oedema 2, TC - ET = necrosis 1, ET = 4).
                let own = region.labels.subtracting(i + 1 < sets.count ? sets[i + 1] : [])
                let paint = own.count == 1 ? own.first! : (region.labels.max() ?? 1)
                return ["name": region.name, "labels": region.labels.sorted(), "paint": paint]
            }
        }
        return object
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

    /// Reads the `config` attribute of a checkpoint written by `volseg train`; `path` names the
    /// file in errors.
    public init(json: [String: Any], path: String) throws {
        func fail(_ what: String) -> TrainingSetupError {
            TrainingSetupError("\(path): the checkpoint's config \(what)")
        }
        guard let training = json["training"] as? [String: Any], training["format"] as? String == Self.format else {
            throw fail("has no training section of format '\(Self.format)': it was not written by volseg train")
        }
        guard let model = json["model"] as? [String: Any], let name = model["name"] as? String,
              let config = model["config"] as? [String: Any] else { throw fail("lacks model.name / model.config") }
        guard let pre = json["preprocessing"] as? [String: Any], let norm = pre["normalization"] as? [String: Any],
              let kind = norm["kind"] as? String else { throw fail("lacks preprocessing.normalization") }
        let normalization: IntensityNormalization
        switch kind {
        case "none": normalization = .none
        case "zscore": normalization = .zScoreInsideMask
        case "ct":
            let values = ["lower", "upper", "mean", "std"].map { (norm[$0] as? NSNumber)?.doubleValue }
            guard let lower = values[0], let upper = values[1], let mean = values[2], let std = values[3], lower < upper, std > 0 else {
                throw fail("has CT normalisation without valid lower/upper/mean/std")
            }
            normalization = .ct(CTNormalization(lower: Float(lower), upper: Float(upper), mean: Float(mean), std: Float(std)))
        default: throw fail("has unknown normalisation '\(kind)'")
        }
        let spacing = (pre["target_spacing"] as? [NSNumber])?.map(\.doubleValue)
        guard let patch = (json["patch"] as? [NSNumber])?.map(\.intValue), patch.count == 3,
              let batch = (training["batch"] as? NSNumber)?.intValue else {
            throw fail("lacks patch [D, H, W] or training.batch")
        }
        guard let conventionName = json["label_convention"] as? String, let targetName = training["target"] as? String,
              let target = TrainingTarget(rawValue: targetName), let names = training["label_names"] as? [String: String] else {
            throw fail("lacks label_convention, training.target or training.label_names")
        }
        var labelNames: [Int: String] = [:]
        for (key, value) in names { if let k = Int(key) { labelNames[k] = value } }
        let regions = (training["convention_regions"] as? [[String: Any]] ?? []).compactMap { item -> (name: String, labels: Set<Int>)? in
            guard let n = item["name"] as? String, let values = (item["labels"] as? [NSNumber])?.map(\.intValue) else { return nil }
            return (n, Set(values))
        }
        modelName = name
        modelConfig = config
        modalities = json["modalities"] as? [String] ?? []
        labels = try TrainingLabels(convention: LabelConvention(name: conventionName, labels: labelNames, regions: regions), target: target)
        preprocessor = Preprocessor(targetSpacing: spacing, normalization: normalization,
                                    cropToNonzero: pre["crop_to_nonzero"] as? Bool ?? true)
        plan = TrainingPlan(patchSize: patch, batchSize: batch, recompute: training["recompute"] as? [String] ?? [])
        seed = UInt64(training["seed"] as? String ?? "0") ?? 0
        epochs = (training["epochs"] as? NSNumber)?.intValue ?? 0
        iterationsPerEpoch = (training["iterations_per_epoch"] as? NSNumber)?.intValue ?? 0
        pipelineText = training["pipeline"] as? String ?? ""
        pipelineName = training["pipeline_name"] as? String ?? ""
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
