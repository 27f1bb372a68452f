import Foundation
import VolSegNN

/// Builds models from a name (a family or a preset) and a JSON configuration object.
public enum ModelRegistry {
    /// Every name `volseg models` lists, in order.
    public static let names = ["unet3d", "bench-unet", "stunet-s", "stunet-b", "stunet-l", "stunet-h",
                                "revmbconv-unet", "hdenseunet", "hdenseunet-small"]

    /// Families accepted by `--model` besides the preset names.
    public static let families = ["stunet", "unet3d", "revmbconv-unet", "hdenseunet"]

    /// Builds `name` with the configuration `config` (JSON object). Presets take their sizes from
    /// the preset and only `input_channels` / `num_classes` from the config (defaults 4 and 4).
    public static func make(name: String, config: [String: Any], initializer: ParameterInitializer) throws -> SegmentationModel {
        let lowered = name.lowercased()
        let reader = ConfigReader(config, model: lowered)
        switch lowered {
        case "stunet":
            try reader.allowOnly(["input_channels", "num_classes", "depth", "dims", "strides", "kernels", "deep_supervision"])
            let stu = STUNetConfig(
                inputChannels: try reader.int("input_channels"), classCount: try reader.int("num_classes"),
                depth: try reader.ints("depth"), dims: try reader.ints("dims"),
                strides: try reader.intLists("strides"), kernels: try reader.intLists("kernels"),
                deepSupervision: try reader.bool("deep_supervision", default: true))
            guard stu.depth.count == stu.dims.count, stu.strides.count == stu.dims.count - 1,
                  stu.kernels.count == stu.dims.count, stu.dims.count >= 2 else {
                throw ModelConfigError.inconsistent(model: "stunet", problem: "depth (\(stu.depth.count)), dims (\(stu.dims.count)), kernels (\(stu.kernels.count)) need one entry per stage and strides (\(stu.strides.count)) one fewer")
            }
            return STUNet(stu, initializer: initializer)
        case "stunet-s", "stunet-b", "stunet-l", "stunet-h":
            try reader.allowOnly(["input_channels", "num_classes", "deep_supervision"])
            var stu = STUNetConfig.preset(String(lowered.dropFirst(7)),
                                          inputChannels: try reader.int("input_channels", default: 4),
                                          classCount: try reader.int("num_classes", default: 4))!
            stu.deepSupervision = try reader.bool("deep_supervision", default: true)
            return STUNet(stu, initializer: initializer)
        case "unet3d", "bench-unet":
            try reader.allowOnly(["input_channels", "num_classes", "widths", "convs_per_stage", "deep_supervision"])
            let inputs = try reader.int("input_channels", default: 4), classes = try reader.int("num_classes", default: 4)
            var unet = lowered == "bench-unet" ? UNet3DConfig.bench(inputChannels: inputs, classCount: classes)
                : UNet3DConfig.standard(inputChannels: inputs, classCount: classes)
            if lowered == "unet3d" {
                unet.widths = try reader.ints("widths", default: unet.widths)
                unet.convsPerStage = try reader.int("convs_per_stage", default: unet.convsPerStage)
                unet.deepSupervision = try reader.bool("deep_supervision", default: unet.deepSupervision)
            }
            guard unet.widths.count >= 2, unet.widths.allSatisfy({ $0 > 0 }), unet.convsPerStage >= 1 else {
                throw ModelConfigError.inconsistent(model: "unet3d", problem: "widths \(unet.widths) need 2+ positive entries")
            }
            return UNet3D(unet, initializer: initializer)
        case "hdenseunet", "hdenseunet-small":
            // Presets only; input channels default to 1 (CT) and classes to 3 (LiTS).
            try reader.allowOnly(["input_channels", "num_classes", "score_scale"])
            let inputs = try reader.int("input_channels", default: 1), classes = try reader.int("num_classes", default: 3)
            var hybrid = lowered == "hdenseunet" ? HDenseUNetConfig.full(inputChannels: inputs, classCount: classes)
                : HDenseUNetConfig.small(inputChannels: inputs, classCount: classes)
            if let scale = reader.values["score_scale"] {
                guard let number = scale as? NSNumber else {
                    throw ModelConfigError.invalidValue(model: lowered, key: "score_scale", expected: "a number", got: "\(scale)")
                }
                hybrid.scoreScale = number.floatValue
            }
            return HDenseUNet(hybrid, presetName: lowered, initializer: initializer)
        case "revmbconv-unet":
            return RevMBConvUNet(try RevMBConvUNetConfig(reading: reader), initializer: initializer)
        default:
            throw ModelConfigError.unknownModel(name: name, known: Set(names + families).sorted())
        }
    }

    /// Parses `--config`: a JSON string, or the path of a .json file.
    public static func parseConfig(_ text: String) throws -> [String: Any] {
        var data = Data(text.utf8)
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if !trimmed.hasPrefix("{") {
            guard let fileData = FileManager.default.contents(atPath: trimmed) else {
                throw ModelConfigError.configArgumentUnreadable(text: text)
            }
            data = fileData
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ModelConfigError.configArgumentNotAnObject(text: text)
        }
        return object
    }
}

/// Typed access to a JSON config with errors that name the key.
struct ConfigReader {
    let values: [String: Any]
    let model: String
    init(_ values: [String: Any], model: String) { self.values = values; self.model = model }

    func allowOnly(_ keys: Set<String>) throws {
        let unknown = values.keys.filter { !keys.contains($0) }.sorted()
        if !unknown.isEmpty {
            throw ModelConfigError.unknownKeys(model: model, keys: unknown, allowed: keys.sorted())
        }
    }

    func int(_ key: String, default fallback: Int? = nil) throws -> Int {
        guard let raw = values[key] else {
            if let fallback { return fallback }
            throw ModelConfigError.missingKey(model: model, key: key)
        }
        guard let n = raw as? NSNumber, Double(n.intValue) == n.doubleValue, n.intValue > 0 else {
            throw ModelConfigError.invalidValue(model: model, key: key, expected: "a positive integer", got: "\(raw)")
        }
        return n.intValue
    }

    func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard let raw = values[key] else { return fallback }
        guard let b = raw as? Bool else { throw ModelConfigError.invalidValue(model: model, key: key, expected: "true or false", got: "\(raw)") }
        return b
    }

    func ints(_ key: String, default fallback: [Int]? = nil) throws -> [Int] {
        guard let raw = values[key] else {
            if let fallback { return fallback }
            throw ModelConfigError.missingKey(model: model, key: key)
        }
        guard let list = raw as? [NSNumber], list.allSatisfy({ $0.intValue > 0 }) else {
            throw ModelConfigError.invalidValue(model: model, key: key, expected: "a list of positive integers", got: "\(raw)")
        }
        return list.map(\.intValue)
    }

    func intLists(_ key: String) throws -> [[Int]] {
        guard let raw = values[key] else { throw ModelConfigError.missingKey(model: model, key: key) }
        guard let lists = raw as? [[NSNumber]], lists.allSatisfy({ $0.count == 3 && $0.allSatisfy { $0.intValue > 0 } }) else {
            throw ModelConfigError.invalidValue(model: model, key: key, expected: "a list of [d, h, w] positive integer triples", got: "\(raw)")
        }
        return lists.map { $0.map(\.intValue) }
    }
}
