import Foundation
import VolSegCore
import VolSegInference
import VolSegIO
import VolSegModels
import VolSegNN
import VolSegPreprocessing

/// An STU-Net checkpoint as its authors publish it: an nnU-Net v1 `FILE.model` (torch.save of
/// `{"epoch", "state_dict", "optimizer_state_dict", ...}`) with its plans in `FILE.model.pkl`
/// beside it, turned into a VolSeg `ModelBundle` that `volseg segment` runs like its own.
///
/// The network is read off the weights: stages and widths from `conv_blocks_context.K.0.conv1`,
/// blocks per stage by counting them, kernels from the weight shapes, input channels and classes
/// from the first conv and the heads. The strides are the plans' `pool_op_kernel_sizes`, cut or
/// padded with [1, 1, 1] to one per downsampling, as STU-Net's `STUNetTrainer.process_plans` does.
/// A preset name (`stunet-b`) must match what the weights hold; `stunet` takes any.
///
/// What is not nnU-Net v1's: VolSeg's own preprocessing and export run (reorientation to RAS,
/// crop to nonzero, the plans' normalization, trilinear resampling to the plans' spacing, the
/// Gaussian sliding window). v1 resamples with third-order splines and averages softmax over
/// mirrorings, so outputs are close to `nnUNet_predict`'s but not equal to them.
public enum STUNetCheckpoint {
    public static func bundle(model name: String, weights url: URL) throws -> ModelBundle {
        let path = url.path
        guard FileManager.default.fileExists(atPath: path) else {
            throw NNUNetError.missingFile(path: path, what: "the STU-Net / nnU-Net v1 .model file given with --weights")
        }
        let plans = try NNUNetV1Plans.read(URL(fileURLWithPath: path + ".pkl"))
        let checkpoint: TorchCheckpoint
        do { checkpoint = try TorchCheckpoint(contentsOf: url) } catch {
            throw NNUNetError.checkpoint(path: path, problem: "\(error)")
        }
        var weights: [String: Tensor] = [:]
        for (key, tensor) in try checkpoint.stateDict(named: "state_dict") where tensor.dtype.isFloatingPoint {
            weights[key] = Tensor(tensor)
        }
        let found = try architecture(in: weights, path: path, plans: plans)
        try requirePreset(name, found: found, path: path)
        guard found.classCount == plans.classCount else {
            throw NNUNetError.weightsDoNotFit(path: path, problem: "the heads give \(found.classCount) classes, the plans \(plans.classCount) (num_classes \(plans.classCount - 1) plus background)")
        }
        guard found.inputChannels == plans.modalities.count else {
            throw NNUNetError.weightsDoNotFit(path: path, problem: "the first conv takes \(found.inputChannels) channels, the plans name \(plans.modalities.count) modalities \(plans.modalities)")
        }
        let network = STUNet(found, initializer: ParameterInitializer())
        do { try network.load(state: weights) } catch {
            throw NNUNetError.weightsDoNotFit(path: path, problem: "\(error)")
        }
        let config = ModelBundleConfig(
            modelName: network.family, modelConfig: network.configJSON, patch: plans.patchSize,
            preprocessor: Preprocessor(targetSpacing: plans.spacing.reversed(),
                                       normalization: try normalization(plans, path: path + ".pkl")),
            labelConventionName: "nnunet-v1", output: .labels([0] + plans.foregroundLabels), modalities: plans.modalities)
        return try ModelBundle(model: network, config: config, file: url)
    }

    /// The STU-Net the state dict describes (see the type's comment).
    static func architecture(in weights: [String: Tensor], path: String, plans: NNUNetV1Plans) throws -> STUNetConfig {
        func firstConv(_ stage: Int, _ block: Int) -> Tensor? { weights["conv_blocks_context.\(stage).\(block).conv1.weight"] }
        var dims: [Int] = [], depth: [Int] = [], kernels: [[Int]] = []
        while let conv = firstConv(dims.count, 0) {
            guard conv.rank == 5 else {
                throw NNUNetError.checkpoint(path: path, problem: "conv_blocks_context.\(dims.count).0.conv1.weight has shape \(conv.shape); STU-Net's convs are 3D")
            }
            var blocks = 1
            while firstConv(dims.count, blocks) != nil { blocks += 1 }
            dims.append(conv.shape[0])
            depth.append(blocks)
            kernels.append(Array(conv.shape[2...]))
        }
        guard dims.count >= 2, let input = firstConv(0, 0), let head = weights["seg_outputs.0.weight"], head.rank == 5 else {
            throw NNUNetError.checkpoint(path: path, problem: "its state_dict is not an STU-Net's (no conv_blocks_context.K.0.conv1.weight and seg_outputs.0.weight)")
        }
        let downsamplings = dims.count - 1
        var strides = Array(plans.poolKernels.prefix(downsamplings))
        while strides.count < downsamplings { strides.append([1, 1, 1]) }
        return STUNetConfig(inputChannels: input.shape[1], classCount: head.shape[0], depth: depth, dims: dims,
                            strides: strides, kernels: kernels, deepSupervision: false)
    }

    /// A preset name must name the network the weights hold, so `--model stunet-b` with STU-Net-L
    /// weights is caught before anything runs.
    static func requirePreset(_ name: String, found: STUNetConfig, path: String) throws {
        let presets = ["s", "b", "l", "h"].compactMap { suffix -> (String, STUNetConfig)? in
            STUNetConfig.preset(suffix, inputChannels: found.inputChannels, classCount: found.classCount).map { ("stunet-\(suffix)", $0) }
        }
        let matching = presets.first { $0.1.dims == found.dims && $0.1.depth == found.depth }?.0
        let asked = name.lowercased()
        if asked == "stunet" || asked == matching { return }
        guard let wanted = presets.first(where: { $0.0 == asked })?.1 else {
            throw NNUNetError.unsupported(path: path, what: "--model \(name) with --weights (give stunet, stunet-s, stunet-b, stunet-l or stunet-h)")
        }
        throw NNUNetError.presetMismatch(path: path, asked: asked, expected: "widths \(wanted.dims), blocks \(wanted.depth)",
                                         found: "widths \(found.dims), blocks \(found.depth)", matching: matching ?? "stunet")
    }

    /// nnU-Net v1's normalization by scheme: "CT" clips to the training foreground's 0.5 and 99.5
    /// percentiles and z-scores with its mean and sd; every other scheme z-scores each image,
    /// inside the nonzero mask when `use_mask_for_norm`, else over the whole cropped image.
    static func normalization(_ plans: NNUNetV1Plans, path: String) throws -> IntensityNormalization {
        if plans.normalizationSchemes == ["CT"], let ct = plans.intensityProperties?.first {
            return .ct(CTNormalization(lower: Float(ct.lower), upper: Float(ct.upper), mean: Float(ct.mean), std: Float(ct.sd)))
        }
        guard !plans.normalizationSchemes.contains("CT") else {
            throw NNUNetError.unsupported(path: path, what: "CT normalization on one of several channels \(plans.normalizationSchemes)")
        }
        guard Set(plans.useMaskForNorm).count == 1 else {
            throw NNUNetError.unsupported(path: path, what: "use_mask_for_norm differing between channels \(plans.useMaskForNorm)")
        }
        return plans.useMaskForNorm[0] ? .zScoreInsideMask : .zScoreWholeImage
    }
}
