import Foundation
import VolSegIO

/// What `volseg train` adds to a checkpoint's config besides what segmenting needs, stored under
/// the config's `training` key: the full label convention (names and regions, so a dataset's own
/// convention survives), whether the network predicts labels or regions, the plan (batch,
/// recomputed stages), seed, epochs, steps per epoch and the pipeline file's text (`--resume`
/// refuses another pipeline). Plain values only: the training module turns them into its types.
///
/// ```
/// "training": {"format": "volseg-run-1", "target": "labels", "label_names": {"0": "background", ...},
///              "convention_regions": [{"name": "liver", "labels": [1, 2]}, ...], "batch": 2,
///              "recompute": [], "seed": "0", "epochs": 30, "iterations_per_epoch": 40,
///              "pipeline": "...", "pipeline_name": "liver-default"}
/// ```
public struct CheckpointTrainingRecord: Equatable, Sendable {
    public static let format = "volseg-run-1"

    /// "labels" (softmax over classes) or "regions" (a sigmoid per region).
    public var target: String
    /// The run's label convention in full (the config's `label_convention` key names it).
    public var convention: LabelConvention
    public var batchSize: Int
    public var recompute: [String]
    public var seed: UInt64
    public var epochs: Int
    public var iterationsPerEpoch: Int
    public var pipelineText: String
    public var pipelineName: String

    public init(target: String, convention: LabelConvention, batchSize: Int, recompute: [String], seed: UInt64,
                epochs: Int, iterationsPerEpoch: Int, pipelineText: String, pipelineName: String) {
        self.target = target
        self.convention = convention
        self.batchSize = batchSize
        self.recompute = recompute
        self.seed = seed
        self.epochs = epochs
        self.iterationsPerEpoch = iterationsPerEpoch
        self.pipelineText = pipelineText
        self.pipelineName = pipelineName
    }

    var json: [String: Any] {
        [
            "format": Self.format,
            "target": target,
            "label_names": Dictionary(uniqueKeysWithValues: convention.labels.map { (String($0.key), $0.value) }),
            "convention_regions": convention.regions.map { ["name": $0.name, "labels": $0.labels.sorted()] as [String: Any] },
            "batch": batchSize,
            "recompute": recompute,
            "seed": String(seed),
            "epochs": epochs,
            "iterations_per_epoch": iterationsPerEpoch,
            "pipeline": pipelineText,
            "pipeline_name": pipelineName,
        ]
    }

    init(json: [String: Any], conventionName: String, reader: BundleConfigReader) throws {
        guard json["format"] as? String == Self.format else {
            throw reader.error("\"training.format\" is not \"\(Self.format)\": the run was not written by this version of volseg train")
        }
        target = try reader.string(json, "target", at: "training.target")
        guard target == "labels" || target == "regions" else {
            throw reader.error("\"training.target\" is \"\(target)\"; known: labels, regions")
        }
        guard let names = json["label_names"] as? [String: String] else {
            throw reader.error("\"training.label_names\" must be an object of label value -> name")
        }
        var labelNames: [Int: String] = [:]
        for (key, value) in names {
            guard let label = Int(key) else { throw reader.error("\"training.label_names\" key \"\(key)\" is not a label value") }
            labelNames[label] = value
        }
        let regions = try (json["convention_regions"] as? [[String: Any]] ?? []).enumerated().map { i, item in
            (name: try reader.string(item, "name", at: "training.convention_regions[\(i)].name"),
             labels: Set(try reader.ints(item, "labels", at: "training.convention_regions[\(i)].labels")))
        }
        convention = LabelConvention(name: conventionName, labels: labelNames, regions: regions)
        guard let batch = (json["batch"] as? NSNumber)?.intValue, batch >= 1 else {
            throw reader.error("\"training.batch\" must be a positive integer")
        }
        batchSize = batch
        recompute = json["recompute"] as? [String] ?? []
        seed = UInt64(json["seed"] as? String ?? "0") ?? 0
        epochs = (json["epochs"] as? NSNumber)?.intValue ?? 0
        iterationsPerEpoch = (json["iterations_per_epoch"] as? NSNumber)?.intValue ?? 0
        pipelineText = json["pipeline"] as? String ?? ""
        pipelineName = json["pipeline_name"] as? String ?? ""
    }
}
