import VolSegNN

/// What a training step keeps of the forward pass for the backward.
public enum ActivationMemory: String, CaseIterable, Sendable {
    /// Ordinary autograd: every activation is kept (the baseline of the memory comparison).
    case stored
    /// MemCNN's scheme: each reversible stack keeps only its output and rebuilds the rest; the
    /// layers inside a recomputed branch keep what autograd keeps.
    case reversibleStacks = "reversible-stacks"
    /// Reversible stacks, and inside each recomputed MBConv branch every norm + SiLU pair is
    /// recomputed from the norm's input instead of keeping both tensors (VolSeg's default).
    case reversible
}

/// The reversible-MBConv 3D U-Net (Pendse et al., BrainLes 2020) as the memory comparison of
/// issue 5 defines it: stem conv3x3x3, stages of `blocksPerStage` reversible MBConv couplings at
/// `widths`, k2 s2 conv down, k2 s2 transposed conv up, additive skips, a 1x1x1 head.
public struct RevMBConvUNetConfig: Equatable, Sendable {
    public var inputChannels: Int
    public var classCount: Int
    /// Channels per stage, full resolution first; each must be even (couplings split them).
    public var widths: [Int]
    /// Reversible couplings in every encoder and decoder stage.
    public var blocksPerStage: Int
    /// MBConv expansion ratio e.
    public var expansion: Int
    public var squeezeExcitation: Bool
    public var norm: NormKind
    public var activationMemory: ActivationMemory

    public init(inputChannels: Int = 4, classCount: Int = 4, widths: [Int] = [16, 32, 64, 128], blocksPerStage: Int = 2,
                expansion: Int = 4, squeezeExcitation: Bool = false, norm: NormKind = .batch,
                activationMemory: ActivationMemory = .reversible) {
        self.inputChannels = inputChannels
        self.classCount = classCount
        self.widths = widths
        self.blocksPerStage = blocksPerStage
        self.expansion = expansion
        self.squeezeExcitation = squeezeExcitation
        self.norm = norm
        self.activationMemory = activationMemory
    }

    /// The same network with base width `base`, each stage doubling it (16 -> 16-32-64-128).
    public func withBaseWidth(_ base: Int) -> RevMBConvUNetConfig {
        var copy = self
        copy.widths = widths.indices.map { base << $0 }
        return copy
    }

    /// Every reason this configuration cannot be built, or nil.
    public func problem() -> String? {
        if widths.count < 2 { return "widths \(widths) need at least 2 stages" }
        if let odd = widths.first(where: { $0 <= 0 || $0 % 2 != 0 }) {
            return "width \(odd) must be a positive even number (a coupling splits the channels in halves)"
        }
        if inputChannels < 1 || classCount < 1 || blocksPerStage < 1 || expansion < 1 {
            return "input_channels, num_classes, blocks_per_stage and expansion must be positive"
        }
        if case .group(let groups) = norm, let bad = widths.first(where: { ($0 / 2) % groups != 0 }) {
            return "group norm with \(groups) groups needs half of every width divisible by it; width \(bad) is not"
        }
        return nil
    }

    /// The JSON object `ModelRegistry.make(name: "revmbconv-unet", ...)` rebuilds this from.
    public var json: [String: Any] {
        var object: [String: Any] = [
            "input_channels": inputChannels, "num_classes": classCount, "widths": widths,
            "blocks_per_stage": blocksPerStage, "expansion": expansion, "squeeze_excitation": squeezeExcitation,
            "activation_memory": activationMemory.rawValue,
        ]
        switch norm {
        case .batch: object["norm"] = "batch"
        case .instance: object["norm"] = "instance"
        case .group(let groups): object["norm"] = "group"; object["norm_groups"] = groups
        }
        return object
    }

    static let jsonKeys: Set<String> = ["input_channels", "num_classes", "widths", "blocks_per_stage", "expansion",
                                        "squeeze_excitation", "norm", "norm_groups", "activation_memory"]

    /// Reads the registry's JSON config; absent keys keep the defaults above.
    init(reading reader: ConfigReader) throws {
        try reader.allowOnly(RevMBConvUNetConfig.jsonKeys)
        self.init()
        inputChannels = try reader.int("input_channels", default: inputChannels)
        classCount = try reader.int("num_classes", default: classCount)
        widths = try reader.ints("widths", default: widths)
        blocksPerStage = try reader.int("blocks_per_stage", default: blocksPerStage)
        expansion = try reader.int("expansion", default: expansion)
        squeezeExcitation = try reader.bool("squeeze_excitation", default: squeezeExcitation)
        let normName = try reader.string("norm", default: "batch")
        switch normName {
        case "batch": norm = .batch
        case "instance": norm = .instance
        case "group": norm = .group(try reader.int("norm_groups", default: 4))
        default: throw ModelConfigError.invalidValue(model: reader.model, key: "norm", expected: "batch, instance or group", got: "'\(normName)'")
        }
        if reader.values["norm_groups"] != nil && normName != "group" {
            throw ModelConfigError.inconsistent(model: reader.model, problem: "'norm_groups' applies only to \"norm\": \"group\"")
        }
        let memoryName = try reader.string("activation_memory", default: activationMemory.rawValue)
        guard let memory = ActivationMemory(rawValue: memoryName) else {
            throw ModelConfigError.invalidValue(model: reader.model, key: "activation_memory",
                                                expected: "one of \(ActivationMemory.allCases.map(\.rawValue).joined(separator: ", "))", got: "'\(memoryName)'")
        }
        activationMemory = memory
        if let problem = problem() { throw ModelConfigError.inconsistent(model: reader.model, problem: problem) }
    }
}

extension ConfigReader {
    func string(_ key: String, default fallback: String) throws -> String {
        guard let raw = values[key] else { return fallback }
        guard let text = raw as? String else {
            throw ModelConfigError.invalidValue(model: model, key: key, expected: "a string", got: "\(raw)")
        }
        return text
    }
}
