import VolSegModels

/// Reads the network of a plans configuration into a `DynamicUNetConfig`: the `architecture`
/// entry of nnU-Net >= 2.3 (`network_class_name` + `arch_kwargs`), or the older keys
/// (`UNet_class_name`, `UNet_base_num_features`, `conv_kernel_sizes`, `pool_op_kernel_sizes`, ...)
/// that models trained with earlier v2 releases (TotalSegmentator's among them) carry, which nnU-Net
/// turns into the same network: features double per stage up to `unet_max_num_features`.
enum NNUNetArchitecture {
    static func read(_ json: NNUNetJSON, twoDimensional: Bool) throws -> DynamicUNetConfig {
        var config = json.has("architecture") ? try current(json.child("architecture"), twoDimensional: twoDimensional)
                                               : try legacy(json, twoDimensional: twoDimensional)
        config.isTwoDimensional = twoDimensional
        if let problem = config.inconsistency {
            throw NNUNetError.badPlans(path: json.path, field: json.field("architecture"), problem: problem)
        }
        return config
    }

    private static func encoderKind(_ className: String, _ json: NNUNetJSON, key: String) throws -> DynamicUNetConfig.Encoder {
        switch className.split(separator: ".").last.map(String.init) ?? className {
        case "PlainConvUNet": return .plain
        case "ResidualEncoderUNet": return .residual
        default: throw NNUNetError.unsupported(path: json.path, what: "\(json.field(key)) \"\(className)\" (PlainConvUNet and ResidualEncoderUNet are)")
        }
    }

    /// 2D kernels and strides [a, b] become [1, a, b]: see `DynamicUNetConfig`.
    private static func lifted(_ sizes: [[Int]], twoDimensional: Bool, _ json: NNUNetJSON, key: String) throws -> [[Int]] {
        let expected = twoDimensional ? 2 : 3
        guard sizes.allSatisfy({ $0.count == expected }) else {
            throw json.fail(key, "every entry must have \(expected) sizes, got \(sizes)")
        }
        return twoDimensional ? sizes.map { [1] + $0 } : sizes
    }

    private static func current(_ json: NNUNetJSON, twoDimensional: Bool) throws -> DynamicUNetConfig {
        let kind = try encoderKind(try json.string("network_class_name"), json, key: "network_class_name")
        let kwargs = try json.child("arch_kwargs")
        let convOp = try kwargs.string("conv_op")
        let expectedConv = twoDimensional ? "Conv2d" : "Conv3d"
        guard convOp.hasSuffix(expectedConv) else {
            throw NNUNetError.unsupported(path: json.path, what: "\(kwargs.field("conv_op")) \"\(convOp)\" for a \(twoDimensional ? 2 : 3)D patch")
        }
        let norm = try kwargs.string("norm_op")
        guard norm.hasSuffix(twoDimensional ? "InstanceNorm2d" : "InstanceNorm3d") else {
            throw NNUNetError.unsupported(path: json.path, what: "\(kwargs.field("norm_op")) \"\(norm)\" (InstanceNorm is)")
        }
        let normKwargs = kwargs.has("norm_op_kwargs") ? try kwargs.child("norm_op_kwargs") : NNUNetJSON(object: [:], path: json.path, prefix: kwargs.field("norm_op_kwargs"))
        guard try normKwargs.bool("affine", default: false) else {
            throw NNUNetError.unsupported(path: json.path, what: "InstanceNorm without affine parameters")
        }
        let eps = normKwargs.has("eps") ? try normKwargs.double("eps") : 1e-5
        let nonlin = try kwargs.string("nonlin")
        let nonlinKwargs = kwargs.has("nonlin_kwargs") ? try kwargs.child("nonlin_kwargs") : NNUNetJSON(object: [:], path: json.path, prefix: kwargs.field("nonlin_kwargs"))
        let slope: Double
        switch nonlin.split(separator: ".").last.map(String.init) ?? nonlin {
        case "LeakyReLU": slope = nonlinKwargs.has("negative_slope") ? try nonlinKwargs.double("negative_slope") : 0.01
        case "ReLU": slope = 0
        default: throw NNUNetError.unsupported(path: json.path, what: "\(kwargs.field("nonlin")) \"\(nonlin)\" (LeakyReLU and ReLU are)")
        }
        if try kwargs.bool("nonlin_first", default: false) {
            throw NNUNetError.unsupported(path: json.path, what: "nonlin_first (conv -> nonlin -> norm)")
        }
        let stages = try kwargs.int("n_stages")
        let features = try perStage(kwargs, "features_per_stage", stages)
        let depthKey = kind == .plain ? "n_conv_per_stage" : "n_blocks_per_stage"
        if kind == .residual, kwargs.has("block"), !(try kwargs.string("block")).hasSuffix("BasicBlockD") {
            throw NNUNetError.unsupported(path: json.path, what: "\(kwargs.field("block")) \"\(try kwargs.string("block"))\" (BasicBlockD is)")
        }
        return DynamicUNetConfig(
            encoder: kind, inputChannels: 1, classCount: 1, features: features,
            kernels: try lifted(try kwargs.intLists("kernel_sizes"), twoDimensional: twoDimensional, kwargs, key: "kernel_sizes"),
            strides: try lifted(try kwargs.intLists("strides"), twoDimensional: twoDimensional, kwargs, key: "strides"),
            encoderDepth: try perStage(kwargs, depthKey, stages),
            decoderDepth: try perStage(kwargs, "n_conv_per_stage_decoder", stages - 1),
            convBias: try kwargs.bool("conv_bias", default: false), normEps: Float(eps), slope: Float(slope))
    }

    /// An int broadcast to every stage, or a list of them.
    private static func perStage(_ json: NNUNetJSON, _ key: String, _ count: Int) throws -> [Int] {
        if let single = try? NNUNetJSON.integer(json.object[key], json.fail(key, "")) {
            return Array(repeating: single, count: count)
        }
        let list = try json.ints(key)
        guard list.count == count else { throw json.fail(key, "has \(list.count) entries, \(count) expected") }
        return list
    }

    private static func legacy(_ json: NNUNetJSON, twoDimensional: Bool) throws -> DynamicUNetConfig {
        let kind = try encoderKind(try json.string("UNet_class_name"), json, key: "UNet_class_name")
        let kernels = try lifted(try json.intLists("conv_kernel_sizes"), twoDimensional: twoDimensional, json, key: "conv_kernel_sizes")
        let strides = try lifted(try json.intLists("pool_op_kernel_sizes"), twoDimensional: twoDimensional, json, key: "pool_op_kernel_sizes")
        let stages = kernels.count
        let base = try json.int("UNet_base_num_features")
        let cap = try json.int("unet_max_num_features")
        return DynamicUNetConfig(
            encoder: kind, inputChannels: 1, classCount: 1,
            features: (0..<stages).map { min(base << $0, cap) }, kernels: kernels, strides: strides,
            encoderDepth: try perStage(json, "n_conv_per_stage_encoder", stages),
            decoderDepth: try perStage(json, "n_conv_per_stage_decoder", stages - 1),
            convBias: true, normEps: 1e-5, slope: 0.01)
    }
}
