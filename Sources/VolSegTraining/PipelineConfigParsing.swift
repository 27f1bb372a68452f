import Foundation
import VolSegCore
import VolSegIO
import Yams

extension PipelineConfig {
    /// Reads a pipeline file. Unknown keys and values of the wrong type are errors that name the
    /// file, the key and the line.
    public static func load(_ url: URL) throws -> PipelineConfig {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw PipelineConfigError.unreadable(file: url.path)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw PipelineConfigError.notUTF8(file: url.path)
        }
        return try parse(text, path: url.path)
    }

    /// Parses pipeline YAML text; `path` names it in errors (and gives the default run name).
    public static func parse(_ text: String, path: String) throws -> PipelineConfig {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw PipelineConfigError.invalidYAML(file: path, reason: "\(error)")
        }
        guard let root else { throw PipelineConfigError.empty(file: path) }
        let reader = try PipelineYAMLReader(node: root, file: path, path: "")
        let stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        let config = PipelineConfig(
            name: try reader.string("name") ?? stem,
            description: try reader.string("description"),
            model: try parseModel(reader.section("model")),
            data: try parseData(reader.section("data")),
            preprocessing: try parsePreprocessing(reader.section("preprocessing")),
            patch: try parsePatch(reader.section("patch")),
            sampling: try parseSampling(reader.section("sampling")),
            augmentation: try AugmentationSettings.parse(reader, key: "augmentation"),
            loss: try parseLoss(reader.section("loss")),
            optimizer: try parseOptimizer(reader.section("optimizer")),
            schedule: try parseSchedule(reader.section("schedule")),
            training: try parseTraining(reader.section("training")),
            validation: try parseValidation(reader.section("validation")),
            sourceText: text, sourcePath: path)
        try reader.finish()
        return config
    }

    static func parseModel(_ r: PipelineYAMLReader) throws -> ModelSettings {
        guard r.has("name"), let name = try r.string("name") else {
            throw r.error("name", "is required (a model from `volseg models`, e.g. unet3d)")
        }
        var stage: Int?
        if r.has("stage") {
            stage = try r.int("stage", default: 1)
            guard (1...3).contains(stage!) else { throw r.error("stage", "must be 1, 2 or 3 (H-DenseUNet's training stages), got \(stage!)") }
        }
        let settings = ModelSettings(name: name, config: try r.jsonObject("config"), stage: stage,
                                     initializeFrom: try r.string("initialize_from"))
        try r.finish()
        return settings
    }

    static func parseData(_ r: PipelineYAMLReader) throws -> DataSettings {
        let convention = try r.string("labels")
        if let convention, LabelConvention.named(convention) == nil {
            throw r.error("labels", "unknown label convention '\(convention)'; known: \(LabelConvention.builtIn.map(\.name).joined(separator: ", "))")
        }
        var cases: [ExplicitCase]?
        if let items = try r.list("cases") {
            cases = try items.enumerated().map { index, item in
                let c = try PipelineYAMLReader(node: item, file: r.file, path: r.keyPath("cases.\(index)"))
                guard let images = try c.strings("images"), !images.isEmpty else { throw c.error("images", "must list the case's channel files") }
                let explicit = ExplicitCase(id: try c.string("id") ?? "case\(index)", images: images, label: try c.string("label"))
                try c.finish()
                return explicit
            }
            if cases!.isEmpty { throw r.error("cases", "must list at least one case") }
        }
        let settings = DataSettings(labelConvention: convention, target: try r.choice("target", default: TrainingTarget.labels),
                                    modalities: try r.strings("modalities"), cases: cases)
        try r.finish()
        return settings
    }

    static func parsePreprocessing(_ r: PipelineYAMLReader) throws -> PreprocessingSettings {
        let spacing = try r.doubles("target_spacing", count: 3)
        if let spacing, spacing.contains(where: { $0 <= 0 }) { throw r.error("target_spacing", "must be three positive mm values, got \(spacing)") }
        var window: ClosedRange<Double>?
        if r.has("ct_window") { window = try r.range("ct_window", default: 0...1) }
        let settings = PreprocessingSettings(targetSpacing: spacing,
                                             normalization: try r.choice("normalization", default: NormalizationKind.zscore),
                                             ctWindow: window, cropToNonzero: try r.bool("crop_to_nonzero", default: true))
        if settings.ctWindow != nil && settings.normalization != .ct {
            throw r.error("ct_window", "only applies with normalization: ct")
        }
        try r.finish()
        return settings
    }

    static func parsePatch(_ r: PipelineYAMLReader) throws -> PatchSettings {
        let size = try r.autoOrInts("size", count: 3) ?? nil
        let batch = try r.autoOrInt("batch") ?? nil
        var recompute: [String]?
        if let n = r.node("recompute") {
            if r.scalarString(n)?.lowercased() == "auto" {
                recompute = nil
            } else {
                guard case .sequence(let items) = n else { throw r.error("recompute", "must be auto or a list of stage names", node: n) }
                recompute = try items.map { item in
                    guard let s = r.scalarString(item) else { throw r.error("recompute", "must list stage names", node: item) }
                    return s
                }
            }
        }
        try r.finish()
        return PatchSettings(size: size, batch: batch, recompute: recompute)
    }

    static func parseSampling(_ r: PipelineYAMLReader) throws -> SamplingSettings {
        let settings = SamplingSettings(foregroundShare: try r.double("foreground_share", default: 1.0 / 3.0, range: 0...1))
        try r.finish()
        return settings
    }

    static func parseLoss(_ r: PipelineYAMLReader) throws -> LossSettings {
        let settings = LossSettings(
            diceWeight: try r.double("dice_weight", default: 1, range: 0...1e6),
            crossEntropyWeight: try r.double("ce_weight", default: 1, range: 0...1e6),
            smooth: try r.double("smooth", default: 1e-5, range: 0...1e6),
            batchDice: try r.bool("batch_dice", default: true),
            classWeights: try r.doubles("class_weights"),
            deepSupervision: try r.bool("deep_supervision", default: true))
        if settings.diceWeight == 0 && settings.crossEntropyWeight == 0 {
            throw r.error("dice_weight", "and ce_weight cannot both be 0")
        }
        try r.finish()
        return settings
    }

    static func parseOptimizer(_ r: PipelineYAMLReader) throws -> OptimizerSettings {
        let kind = try r.choice("kind", default: OptimizerKind.sgd)
        var clip: Double? = 12
        if let n = r.node("gradient_clip") {
            clip = r.scalarString(n)?.lowercased() == "none" ? nil : try r.doubleValue(n, key: "gradient_clip", range: 0...1e12)
        }
        let settings = OptimizerSettings(
            kind: kind,
            learningRate: try r.double("learning_rate", default: kind == .sgd ? 1e-2 : 1e-3, range: 0...10),
            momentum: try r.double("momentum", default: 0.99, range: 0...1),
            nesterov: try r.bool("nesterov", default: true),
            weightDecay: try r.double("weight_decay", default: kind == .sgd ? 3e-5 : 1e-2, range: 0...1),
            gradientClip: clip,
            betas: try r.doubles("betas", count: 2) ?? [0.9, 0.999],
            epsilon: try r.double("epsilon", default: 1e-8, range: 0...1))
        try r.finish()
        return settings
    }

    static func parseSchedule(_ r: PipelineYAMLReader) throws -> ScheduleSettings {
        let settings = ScheduleSettings(kind: try r.choice("kind", default: ScheduleKind.poly),
                                        exponent: try r.double("exponent", default: 0.9, range: 0...100))
        try r.finish()
        return settings
    }

    static func parseTraining(_ r: PipelineYAMLReader) throws -> TrainingSettings {
        let settings = TrainingSettings(epochs: try r.int("epochs", default: 1000),
                                        iterationsPerEpoch: try r.int("iterations_per_epoch", default: 250))
        try r.finish()
        return settings
    }

    static func parseValidation(_ r: PipelineYAMLReader) throws -> ValidationSettings {
        let split = try r.choice("split", default: ValidationSplitKind.fraction)
        var axis = 2
        if let name = try r.string("axis") {
            guard let index = ["x", "y", "z"].firstIndex(of: name.lowercased()) else {
                throw r.error("axis", "must be x, y or z, got '\(name)'")
            }
            axis = index
        }
        let settings = ValidationSettings(
            split: split, fraction: try r.double("fraction", default: 0.2, range: 0...0.9),
            cases: try r.strings("cases") ?? [], axis: axis, from: try r.int("from", default: 0, minimum: 0),
            every: try r.int("every", default: 1), stepFraction: try r.double("step", default: 0.5, range: 0.05...1))
        if split == .cases && settings.cases.isEmpty { throw r.error("cases", "must name the validation cases when split is cases") }
        if split == .slab && !r.has("from") { throw r.error("from", "is required when split is slab (first validation voxel)") }
        try r.finish()
        return settings
    }
}
