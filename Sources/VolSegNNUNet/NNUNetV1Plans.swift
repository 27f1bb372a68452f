import Foundation
import VolSegIO

/// The parts of an nnU-Net v1 `.model.pkl` (what `nnUNetTrainer.save_checkpoint` writes beside
/// `FILE.model`: `{"init": ..., "name": trainer class, "plans": plans}`) that running an STU-Net
/// checkpoint needs. v1 plans are a pickled dict holding numpy arrays, read here by the restricted
/// unpickler. Spatial lists are in v1's array order (z, y, x) after `transpose_forward`, which
/// must be the identity: v1 only transposes 2D configurations, and STU-Net is 3D.
///
/// The stage is the last one in `plans_per_stage` (v1's `3d_fullres`; a one-stage plan has only
/// stage 0), as v1's `nnUNetTrainer.process_plans` picks it when no stage is named.
struct NNUNetV1Plans: Equatable {
    /// The trainer class that wrote the file (`STUNetTrainer_base`).
    var trainerName: String
    /// Output channels: v1's `num_classes` counts the foreground classes, background is added.
    var classCount: Int
    /// Foreground label values, in output-channel order after background.
    var foregroundLabels: [Int]
    /// Input channels by name, in channel order (`modalities` {0: "CT"}).
    var modalities: [String]
    /// Per channel: "CT" or anything else (v1 z-scores every scheme but CT).
    var normalizationSchemes: [String]
    var useMaskForNorm: [Bool]
    /// Per channel for CT: mean, sd, percentile_00_5 and percentile_99_5 of the training foreground.
    var intensityProperties: [ChannelIntensity]?
    struct ChannelIntensity: Equatable {
        var mean: Double, sd: Double, lower: Double, upper: Double
    }

    /// (z, y, x), voxels and mm.
    var patchSize: [Int]
    var spacing: [Double]
    var poolKernels: [[Int]]

    static func read(_ url: URL) throws -> NNUNetV1Plans {
        let path = url.path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw NNUNetError.missingFile(path: path, what: "the nnU-Net v1 plans saved beside the .model file (FILE.model.pkl)")
        }
        let root: PickleValue
        do { root = try PickleValue(pickle: data, path: path) } catch {
            throw NNUNetError.checkpoint(path: path, problem: "not a readable nnU-Net v1 .model.pkl: \(error)")
        }
        func bad(_ field: String, _ problem: String) -> NNUNetError { .badPlans(path: path, field: field, problem: problem) }
        guard let plans = root["plans"], plans.dictEntries != nil else {
            throw bad("plans", "missing; an nnU-Net v1 .model.pkl holds {\"init\", \"name\", \"plans\"}")
        }
        func required(_ key: String, in dict: PickleValue, at field: String) throws -> PickleValue {
            guard let value = dict[key] else { throw bad(field, "missing") }
            return value
        }
        func integer(_ value: PickleValue, at field: String) throws -> Int {
            guard let number = value.int else { throw bad(field, "\(value) is not an integer") }
            return Int(number)
        }
        /// A list, tuple or numpy array of numbers.
        func numbers(_ value: PickleValue, at field: String) throws -> [Double] {
            if let tensor = value.tensor {
                return tensor.integers().map { $0.map(Double.init) } ?? tensor.floats().map(Double.init)
            }
            guard let items = value.items else { throw bad(field, "\(value) is not a list of numbers") }
            return try items.map { item in
                guard let number = item.double else { throw bad(field, "\(item) is not a number") }
                return number
            }
        }
        func integers(_ value: PickleValue, at field: String) throws -> [Int] {
            let values = try numbers(value, at: field)
            guard values.allSatisfy({ $0 == $0.rounded() }) else { throw bad(field, "\(values) are not integers") }
            return values.map { Int($0) }
        }
        /// `{0: "CT", 1: ...}` (a dict or OrderedDict keyed by channel) as a list in channel order.
        func perChannel(_ key: String, count: Int) throws -> [PickleValue] {
            let value = try required(key, in: plans, at: "plans.\(key)")
            guard let entries = value.dictEntries else { throw bad("plans.\(key)", "\(value) is not a dict by channel") }
            return try (0..<count).map { channel in
                guard let entry = entries.first(where: { $0.key.int == Int64(channel) }) else {
                    throw bad("plans.\(key)", "has no entry for channel \(channel)")
                }
                return entry.value
            }
        }

        let channels = try integer(try required("num_modalities", in: plans, at: "plans.num_modalities"), at: "plans.num_modalities")
        let foreground = try integer(try required("num_classes", in: plans, at: "plans.num_classes"), at: "plans.num_classes")
        guard channels >= 1, foreground >= 1 else {
            throw bad("plans", "num_modalities \(channels) and num_classes \(foreground) must be at least 1")
        }
        var labels = Array(1...foreground)
        if let all = plans["all_classes"], !all.isNone {
            labels = try integers(all, at: "plans.all_classes")
            guard labels.count == foreground, Set(labels).count == labels.count, labels.allSatisfy({ $0 > 0 }) else {
                throw bad("plans.all_classes", "\(labels) is not \(foreground) distinct positive labels (num_classes)")
            }
        }
        let modalities = try perChannel("modalities", count: channels).enumerated().map { channel, value in
            guard let name = value.string else { throw bad("plans.modalities", "channel \(channel) is \(value), not a name") }
            return name
        }
        let schemes = try perChannel("normalization_schemes", count: channels).enumerated().map { channel, value in
            guard let name = value.string else { throw bad("plans.normalization_schemes", "channel \(channel) is \(value), not a name") }
            return name
        }
        let masks = try perChannel("use_mask_for_norm", count: channels).enumerated().map { channel, value in
            guard let flag = value.bool else { throw bad("plans.use_mask_for_norm", "channel \(channel) is \(value), not a bool") }
            return flag
        }
        if let transpose = plans["transpose_forward"], try integers(transpose, at: "plans.transpose_forward") != [0, 1, 2] {
            throw NNUNetError.unsupported(path: path, what: "transpose_forward \(transpose) (only the identity, as in every 3D v1 plan,)")
        }
        var intensity: [ChannelIntensity]? = nil
        if schemes.contains("CT") {
            let properties = plans["dataset_properties"]?["intensityproperties"]
            guard let properties, properties.dictEntries != nil else {
                throw bad("plans.dataset_properties.intensityproperties", "missing, and CT normalization needs it")
            }
            intensity = try (0..<channels).map { channel in
                guard let entry = properties.dictEntries?.first(where: { $0.key.int == Int64(channel) })?.value else {
                    throw bad("plans.dataset_properties.intensityproperties", "has no entry for channel \(channel)")
                }
                let field = "plans.dataset_properties.intensityproperties.\(channel)"
                func value(_ key: String) throws -> Double {
                    guard let number = entry[key]?.double else { throw bad("\(field).\(key)", "missing or not a number") }
                    return number
                }
                return ChannelIntensity(mean: try value("mean"), sd: try value("sd"),
                                        lower: try value("percentile_00_5"), upper: try value("percentile_99_5"))
            }
        }
        let stagesValue = try required("plans_per_stage", in: plans, at: "plans.plans_per_stage")
        guard let stages = stagesValue.dictEntries, let stage = stages.max(by: { ($0.key.int ?? -1) < ($1.key.int ?? -1) }) else {
            throw bad("plans.plans_per_stage", "\(stagesValue) is not a non-empty dict of stages")
        }
        let stageField = "plans.plans_per_stage.\(stage.key)"
        let patch = try integers(try required("patch_size", in: stage.value, at: "\(stageField).patch_size"), at: "\(stageField).patch_size")
        let spacing = try numbers(try required("current_spacing", in: stage.value, at: "\(stageField).current_spacing"),
                                  at: "\(stageField).current_spacing")
        let poolsValue = try required("pool_op_kernel_sizes", in: stage.value, at: "\(stageField).pool_op_kernel_sizes")
        guard let poolItems = poolsValue.items else { throw bad("\(stageField).pool_op_kernel_sizes", "\(poolsValue) is not a list") }
        let pools = try poolItems.map { try integers($0, at: "\(stageField).pool_op_kernel_sizes") }
        guard patch.count == 3, patch.allSatisfy({ $0 >= 1 }), spacing.count == 3, spacing.allSatisfy({ $0 > 0 }),
              pools.allSatisfy({ $0.count == 3 && $0.allSatisfy { $0 >= 1 } }) else {
            throw bad(stageField, "patch_size \(patch), current_spacing \(spacing) and pool_op_kernel_sizes \(pools) must be 3D and positive")
        }
        return NNUNetV1Plans(trainerName: root["name"]?.string ?? "?", classCount: foreground + 1, foregroundLabels: labels,
                             modalities: modalities, normalizationSchemes: schemes, useMaskForNorm: masks,
                             intensityProperties: intensity, patchSize: patch, spacing: spacing, poolKernels: pools)
    }
}
