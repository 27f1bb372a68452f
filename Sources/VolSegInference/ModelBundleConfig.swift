import Foundation
import VolSegCore
import VolSegIO
import VolSegModels
import VolSegPreprocessing

/// Everything besides the weights that turns a checkpoint into a segmenter: which network, the
/// training patch, the preprocessing, what the output channels mean and which input channels the
/// network takes. It is the checkpoint's root attribute `config` (JSON), written by the trainer
/// (`ModelBundleConfig(...).json` passed to `Checkpoint(model:config:...)`) and read by
/// `ModelBundle.load`:
///
/// ```
/// {
///   "model": {"name": "unet3d", "config": {"input_channels": 1, "num_classes": 3, ...}},
///   "patch": [128, 128, 128],                        // [D, H, W] voxels of the training patch
///   "preprocessing": {
///     "target_spacing": [1.0, 1.0, 1.0],             // (x, y, z) mm; null keeps the input's spacing
///     "crop_to_nonzero": true,                       // optional, default true
///     "normalization": {"kind": "ct", "lower": -200, "upper": 250, "mean": 99.4, "std": 39.4}
///                   // or {"kind": "zscore"} (MRI, per image inside the nonzero mask),
///                   // {"kind": "zscore_image"} (per image over every voxel), {"kind": "none"}
///   },
///   "label_convention": "lits",                      // brats2021, brats2023, msd-brain, lits, or another name
///   "labels": [0, 1, 2],                             // softmax: output channel c is label value labels[c]
///   "regions": [{"name": "WT", "labels": [1, 2, 4], "paint": 2}, ...],
///                   // instead of "labels" for sigmoid region models; "paint" (the value written)
///                   // may be left out when the region minus the next region is a single label
///   "modalities": ["CT"],                            // input channels in order (BraTS: T1, T1ce, T2, FLAIR)
///   "training": {...}                                // optional: what volseg train adds (CheckpointTrainingRecord)
/// }
/// ```
/// The model name and config are what `ModelRegistry.make` takes. Unknown keys are allowed; every
/// key above except `crop_to_nonzero`, `paint` and `training` is required. This is the one schema
/// of a checkpoint's config: the trainer writes it with `json` and every reader (segment,
/// evaluate, adapt, resume) parses it with `init(json:file:)`.
public struct ModelBundleConfig {
    public var modelName: String
    /// The JSON object `ModelRegistry.make` builds the network from.
    public var modelConfig: [String: Any]
    /// [D, H, W] of the training patch, the sliding window's size.
    public var patch: [Int]
    public var preprocessor: Preprocessor
    public var labelConventionName: String
    public var output: SegmentationOutput
    public var modalities: [String]
    /// Present in checkpoints written by `volseg train`.
    public var training: CheckpointTrainingRecord?

    public init(modelName: String, modelConfig: [String: Any], patch: [Int], preprocessor: Preprocessor,
                labelConventionName: String, output: SegmentationOutput, modalities: [String],
                training: CheckpointTrainingRecord? = nil) {
        precondition(patch.count == 3 && patch.allSatisfy { $0 >= 1 }, "patch is [D, H, W] positive sizes")
        self.modelName = modelName
        self.modelConfig = modelConfig
        self.patch = patch
        self.preprocessor = preprocessor
        self.labelConventionName = labelConventionName
        self.output = output
        self.modalities = modalities
        self.training = training
    }

    /// The config for a trained `model` (its registry family and config JSON).
    public init(model: SegmentationModel, patch: [Int], preprocessor: Preprocessor, labelConvention: LabelConvention,
                output: SegmentationOutput, modalities: [String]) {
        self.init(modelName: model.family, modelConfig: model.configJSON, patch: patch, preprocessor: preprocessor,
                  labelConventionName: labelConvention.name, output: output, modalities: modalities)
    }

    /// The convention the model was trained with: the training record's in full, else the
    /// built-in one this config names, if it is one.
    public var labelConvention: LabelConvention? { training?.convention ?? LabelConvention.named(labelConventionName) }

    /// The usual output for a convention: softmax over its label values in ascending order, or
    /// one sigmoid per region in the convention's order (WT, TC, ET) with paints derived.
    public static func output(for convention: LabelConvention, regionBased: Bool) -> SegmentationOutput {
        if !regionBased { return .labels(convention.labels.keys.sorted()) }
        let sets = convention.regions.map { $0.labels }
        return .regions(convention.regions.enumerated().map { i, region in
            SegmentationRegion(name: region.name, labels: Array(region.labels),
                               paint: derivedPaint(region.labels, next: i + 1 < sets.count ? sets[i + 1] : nil) ?? region.labels.max() ?? 1)
        })
    }

    /// The value a region paints: its labels minus the next region's, when that is one value.
    static func derivedPaint(_ labels: Set<Int>, next: Set<Int>?) -> Int? {
        let own = labels.subtracting(next ?? [])
        return own.count == 1 ? own.first : nil
    }

    /// The JSON object described above.
    public var json: [String: Any] {
        var normalization: [String: Any]
        switch preprocessor.normalization {
        case .none: normalization = ["kind": "none"]
        case .zScoreInsideMask: normalization = ["kind": "zscore"]
        case .zScoreWholeImage: normalization = ["kind": "zscore_image"]
        case .ct(let ct):
            normalization = ["kind": "ct", "lower": Double(ct.lower), "upper": Double(ct.upper),
                             "mean": Double(ct.mean), "std": Double(ct.std)]
        }
        var object: [String: Any] = [
            "model": ["name": modelName, "config": modelConfig] as [String: Any],
            "patch": patch,
            "preprocessing": ["target_spacing": preprocessor.targetSpacing.map { $0 as Any } ?? NSNull(),
                              "crop_to_nonzero": preprocessor.cropToNonzero,
                              "normalization": normalization] as [String: Any],
            "label_convention": labelConventionName,
            "modalities": modalities,
        ]
        if let training { object["training"] = training.json }
        switch output {
        case .labels(let values): object["labels"] = values
        case .regions(let regions):
            object["regions"] = regions.map { ["name": $0.name, "labels": $0.labels, "paint": $0.paint] as [String: Any] }
        }
        return object
    }

    /// Parses the JSON object; errors name `file` and the key.
    public init(json: [String: Any], file: String) throws {
        let reader = BundleConfigReader(file: file)
        let model = try reader.object(json, "model")
        modelName = try reader.string(model, "name", at: "model.name")
        modelConfig = try reader.object(model, "config", at: "model.config")
        patch = try reader.positiveInts(json, "patch", count: 3)
        labelConventionName = try reader.string(json, "label_convention")
        modalities = try reader.strings(json, "modalities")
        preprocessor = try BundleConfigReader.preprocessor(try reader.object(json, "preprocessing"), reader: reader)
        if let raw = json["training"] {
            guard let object = raw as? [String: Any] else { throw reader.error("\"training\" must be a JSON object") }
            training = try CheckpointTrainingRecord(json: object, conventionName: labelConventionName, reader: reader)
        } else {
            training = nil
        }
        switch (json["labels"], json["regions"]) {
        case (.some, .some):
            throw reader.error("has both \"labels\" and \"regions\"; a model predicts one or the other")
        case (.some, nil):
            let values = try reader.ints(json, "labels")
            guard Set(values).count == values.count, values.allSatisfy({ $0 >= 0 && $0 <= 65535 }) else {
                throw reader.error("\"labels\" \(values) must be distinct values in 0...65535")
            }
            output = .labels(values)
        case (nil, .some(let raw)):
            output = .regions(try BundleConfigReader.regions(raw, reader: reader))
        case (nil, nil):
            throw ModelBundleError.configMissingOutput(path: reader.file)
        }
    }
}

/// Typed access to the bundle config with errors naming the checkpoint file and the key.
package struct BundleConfigReader {
    let file: String

    func error(_ problem: String) -> ModelBundleError { .invalidConfig(path: file, problem: problem) }

    func value(_ object: [String: Any], _ key: String, at path: String?) throws -> Any {
        guard let v = object[key] else { throw ModelBundleError.configMissingKey(path: file, key: path ?? key) }
        return v
    }

    func object(_ o: [String: Any], _ key: String, at path: String? = nil) throws -> [String: Any] {
        guard let v = try value(o, key, at: path) as? [String: Any] else { throw error("\"\(path ?? key)\" must be a JSON object") }
        return v
    }

    func string(_ o: [String: Any], _ key: String, at path: String? = nil) throws -> String {
        guard let v = try value(o, key, at: path) as? String, !v.isEmpty else { throw error("\"\(path ?? key)\" must be a non-empty string") }
        return v
    }

    func strings(_ o: [String: Any], _ key: String) throws -> [String] {
        guard let v = try value(o, key, at: nil) as? [String], !v.isEmpty else { throw error("\"\(key)\" must be a non-empty list of names") }
        return v
    }

    func ints(_ o: [String: Any], _ key: String, at path: String? = nil) throws -> [Int] {
        let raw = try value(o, key, at: path)
        guard let list = raw as? [NSNumber], !list.isEmpty, list.allSatisfy({ Double($0.intValue) == $0.doubleValue }) else {
            throw error("\"\(path ?? key)\" must be a non-empty list of integers, got \(raw)")
        }
        return list.map(\.intValue)
    }

    func positiveInts(_ o: [String: Any], _ key: String, count: Int) throws -> [Int] {
        let values = try ints(o, key)
        guard values.count == count, values.allSatisfy({ $0 > 0 }) else {
            throw error("\"\(key)\" must be \(count) positive integers, got \(values)")
        }
        return values
    }

    func number(_ o: [String: Any], _ key: String, at path: String) throws -> Double {
        guard let n = try value(o, key, at: path) as? NSNumber, n.doubleValue.isFinite else { throw error("\"\(path)\" must be a number") }
        return n.doubleValue
    }

    static func preprocessor(_ p: [String: Any], reader: BundleConfigReader) throws -> Preprocessor {
        let spacingValue = try reader.value(p, "target_spacing", at: "preprocessing.target_spacing")
        var spacing: [Double]?
        if !(spacingValue is NSNull) {
            guard let list = spacingValue as? [NSNumber], list.count == 3, list.allSatisfy({ $0.doubleValue > 0 }) else {
                throw reader.error("\"preprocessing.target_spacing\" must be null or three positive mm values (x, y, z), got \(spacingValue)")
            }
            spacing = list.map(\.doubleValue)
        }
        var crop = true
        if let raw = p["crop_to_nonzero"] {
            guard let flag = raw as? Bool else { throw reader.error("\"preprocessing.crop_to_nonzero\" must be true or false") }
            crop = flag
        }
        let n = try reader.object(p, "normalization", at: "preprocessing.normalization")
        let kind = try reader.string(n, "kind", at: "preprocessing.normalization.kind")
        let normalization: IntensityNormalization
        switch kind.lowercased() {
        case "none": normalization = .none
        case "zscore": normalization = .zScoreInsideMask
        case "zscore_image": normalization = .zScoreWholeImage
        case "ct":
            let values = try ["lower", "upper", "mean", "std"].map {
                Float(try reader.number(n, $0, at: "preprocessing.normalization.\($0)"))
            }
            guard values[0] < values[1], values[3] > 0 else {
                throw reader.error("\"preprocessing.normalization\": CT window \(values[0])...\(values[1]) and std \(values[3]) must be valid")
            }
            normalization = .ct(CTNormalization(lower: values[0], upper: values[1], mean: values[2], std: values[3]))
        default:
            throw reader.error("\"preprocessing.normalization.kind\" is \"\(kind)\"; known: zscore, zscore_image, ct, none")
        }
        return Preprocessor(targetSpacing: spacing, normalization: normalization, cropToNonzero: crop)
    }

    static func regions(_ raw: Any, reader: BundleConfigReader) throws -> [SegmentationRegion] {
        guard let list = raw as? [[String: Any]], !list.isEmpty else {
            throw reader.error("\"regions\" must be a non-empty list of {\"name\", \"labels\"}")
        }
        let names = try list.enumerated().map { try reader.string($1, "name", at: "regions[\($0)].name") }
        let sets = try list.enumerated().map { try reader.ints($1, "labels", at: "regions[\($0)].labels") }
        return try list.enumerated().map { i, entry in
            let paint: Int
            if let raw = entry["paint"] {
                guard let n = raw as? NSNumber, Double(n.intValue) == n.doubleValue, n.intValue > 0, n.intValue <= 65535 else {
                    throw reader.error("\"regions[\(i)].paint\" must be a label value in 1...65535, got \(raw)")
                }
                paint = n.intValue
            } else if let derived = ModelBundleConfig.derivedPaint(Set(sets[i]), next: i + 1 < sets.count ? Set(sets[i + 1]) : nil) {
                paint = derived
            } else {
                throw reader.error("is missing key \"regions[\(i)].paint\": region \(names[i]) \(sets[i]) minus the next region is not one label")
            }
            return SegmentationRegion(name: names[i], labels: sets[i], paint: paint)
        }
    }
}
