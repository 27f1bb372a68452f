import VolSegModels

/// One configuration of a plans file (`3d_fullres`, `2d`, `3d_lowres`, ...), after `inherits_from`
/// is resolved, with what inference needs from it. Sizes are in the plans' transposed axis order.
public struct NNUNetConfiguration: Equatable, Sendable {
    public var name: String
    /// The training patch: 3 entries, or 2 for a 2D configuration.
    public var patchSize: [Int]
    /// The target spacing: 3 entries, or 2 (in-plane) for a 2D configuration.
    public var spacing: [Double]
    public var normalization: [NNUNetNormalization]
    public var useMaskForNorm: [Bool]
    public var dataResampling: NNUNetResamplingSettings
    public var probabilityResampling: NNUNetResamplingSettings
    /// The network, without its input channels and classes (which come from dataset.json).
    public var architecture: DynamicUNetConfig

    public var isTwoDimensional: Bool { patchSize.count == 2 }

    /// The configuration `name` of the plans' `configurations`, parents merged first as nnU-Net's
    /// PlansManager does (the child's keys replace the parent's).
    static func read(_ plans: NNUNetJSON, name: String) throws -> NNUNetConfiguration {
        let table = try plans.child("configurations")
        var merged: [String: Any] = [:]
        var chain: [String] = []
        var current: String? = name
        while let next = current {
            guard !chain.contains(next) else {
                throw table.fail(next, "inherits_from loops: \((chain + [next]).joined(separator: " -> "))")
            }
            guard let entry = table.object[next] as? [String: Any] else {
                if next == name {
                    throw NNUNetError.unknownConfiguration(path: plans.path, name: name, available: table.object.keys.sorted())
                }
                throw table.fail(chain.last ?? name, "inherits_from \"\(next)\", which does not exist")
            }
            chain.append(next)
            for (key, value) in entry where merged[key] == nil { merged[key] = value }
            current = entry["inherits_from"] as? String
        }
        let json = NNUNetJSON(object: merged, path: plans.path, prefix: "configurations.\(name)")
        if json.has("previous_stage") {
            throw NNUNetError.unsupported(path: plans.path, what: "the cascade configuration \"\(name)\" (it needs -prev_stage_predictions from \(merged["previous_stage"] ?? "?"))")
        }
        let patch = try json.ints("patch_size")
        let spacing = try json.doubles("spacing")
        guard (2...3).contains(patch.count), patch.allSatisfy({ $0 >= 1 }), spacing.count == patch.count,
              spacing.allSatisfy({ $0 > 0 }) else {
            throw json.fail("patch_size", "patch \(patch) and spacing \(spacing) must both have 2 or 3 positive entries")
        }
        let schemes = try json.strings("normalization_schemes").map { scheme -> NNUNetNormalization in
            guard let known = NNUNetNormalization(rawValue: scheme) else {
                throw NNUNetError.unsupported(path: plans.path, what: "normalization scheme \"\(scheme)\"")
            }
            return known
        }
        let masks = try json.bools("use_mask_for_norm")
        guard masks.count == schemes.count else {
            throw json.fail("use_mask_for_norm", "has \(masks.count) entries for \(schemes.count) normalization_schemes")
        }
        let architecture = try NNUNetArchitecture.read(json, twoDimensional: patch.count == 2)
        return NNUNetConfiguration(
            name: name, patchSize: patch, spacing: spacing, normalization: schemes, useMaskForNorm: masks,
            dataResampling: try NNUNetResamplingSettings.read(json, function: "resampling_fn_data"),
            probabilityResampling: try NNUNetResamplingSettings.read(json, function: "resampling_fn_probabilities"),
            architecture: architecture)
    }
}
