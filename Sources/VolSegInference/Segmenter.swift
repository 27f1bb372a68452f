import Foundation
import VolSegCore
import VolSegIO
import VolSegPreprocessing

/// How a segmenter runs: window step, mirroring, whether probabilities are kept, post-processing.
public struct SegmenterOptions: Sendable {
    /// Window step as a share of the patch (nnU-Net's `step_size`).
    public var step: Double
    /// Mirroring test-time augmentation (8 times the work; off by default on the CPU).
    public var mirroring: Bool
    /// Also return the probabilities on the input grid ([K, D, H, W]; K times the label map's memory).
    public var keepProbabilities: Bool
    public var postprocessing: Postprocessing?

    public init(step: Double = 0.5, mirroring: Bool = false, keepProbabilities: Bool = false,
                postprocessing: Postprocessing? = nil) {
        precondition(step > 0 && step <= 1, "step \(step) must be in (0, 1]")
        self.step = step
        self.mirroring = mirroring
        self.keepProbabilities = keepProbabilities
        self.postprocessing = postprocessing
    }
}

/// A segmented image: label values on the input grid, and the probabilities when asked for.
public struct Segmentation: @unchecked Sendable {
    /// [1, D, H, W] label values on the input file's grid and orientation.
    public var labels: Tensor
    /// [K, D, H, W] on the input grid (channels as the model's outputs), when kept.
    public var probabilities: Tensor?
    /// NaN or infinite input voxels that were read as 0.
    public var replacedNonFinite: Int
    /// Windows the network ran on (each once per mirroring).
    public var windowCount: Int
    /// [D, H, W] of the network's grid (after cropping and resampling).
    public var networkGrid: [Int]
}

/// Segments images with a `ModelBundle`: preprocessing, sliding-window inference on the network's
/// grid, label map (argmax or painted regions), and the inverse of preprocessing back to the
/// input grid and orientation, then optional post-processing.
///
/// When preprocessing resampled the image, the probabilities are resampled back (trilinear) and
/// the argmax is taken on the input grid, as nnU-Net does: smoother than resampling the argmax.
/// Otherwise the argmax is taken first and only the label map is moved back, which needs no
/// K-channel copy on the input grid.
public final class Segmenter {
    public let bundle: ModelBundle
    public var options: SegmenterOptions
    /// The model's output with the label values written; `adopt(_:)` renames them for a dataset.
    public private(set) var output: SegmentationOutput

    public init(bundle: ModelBundle, options: SegmenterOptions = SegmenterOptions()) {
        self.bundle = bundle
        self.options = options
        self.output = bundle.config.output
    }

    /// Writes labels in `convention`'s values when it names the model's classes differently
    /// (a BraTS 2021 model on BraTS 2023 data writes enhancing tumour as 3, not 4). Returns the
    /// renaming, empty when none is needed or the meanings do not all match.
    @discardableResult
    public func adopt(_ convention: LabelConvention) -> [Int: Int] {
        guard let own = bundle.config.labelConvention,
              let mapping = Segmenter.labelMapping(from: own, to: convention) else { return [:] }
        output = bundle.config.output.relabelled(mapping)
        return mapping
    }

    /// Old value -> new value for labels whose meaning (case-insensitive) has another value in
    /// `target`; nil unless every labelled class of `source` has its meaning in `target`.
    public static func labelMapping(from source: LabelConvention, to target: LabelConvention) -> [Int: Int]? {
        if source == target { return nil }
        var byMeaning: [String: Int] = [:]
        for (value, meaning) in target.labels { byMeaning[meaning.lowercased()] = value }
        var mapping: [Int: Int] = [:]
        for (value, meaning) in source.labels {
            guard let other = byMeaning[meaning.lowercased()] else { return nil }
            if other != value { mapping[value] = other }
        }
        return mapping.isEmpty ? nil : mapping
    }

    /// Segments an image read from NIfTI ([C, D, H, W], C = the model's input channels in its
    /// modality order). With `planned`, the image is preprocessed for real and everything after
    /// runs on shape-only tensors: no network arithmetic, the same ledger peak as a real run,
    /// and a label map without values.
    public func segment(_ image: NIfTIVolume, planned: Bool = false,
                        progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> Segmentation {
        let expected = bundle.config.modalities
        guard image.channels == expected.count else {
            throw SegmentationInputError.imageChannels(path: image.path, channels: image.channels, modalities: expected)
        }
        let inference = bundle.inference(step: options.step, mirroring: options.mirroring)
        var prepared = try bundle.config.preprocessor.prepare(image)
        FaultPoint.reached("segment.preprocessing")
        let record = prepared.record
        var networkInput = prepared.image
        prepared.image = Tensor.empty([0])
        if planned { Tensor.replaceWithPlanned(&networkInput) }
        let networkGrid = Array(networkInput.shape.suffix(3))
        let windows = inference.layout(for: networkGrid).windowCount
        var probabilities: Tensor? = inference.predict(networkInput) { done, total in
            FaultPoint.reached("segment.inference")
            progress?(done, total)
        }
        networkInput = Tensor.empty([0])

        let cropGrid = record.crop.croppedShape
        var labelsOnCrop: Tensor, kept: Tensor?
        if record.resampledShape == cropGrid && !options.keepProbabilities {
            labelsOnCrop = output.labelMap(probabilities!)
            probabilities = nil
        } else {
            var onCrop: Tensor? = record.resampledShape == cropGrid ? probabilities! : Resampler.trilinear(probabilities!, to: cropGrid)
            probabilities = nil
            labelsOnCrop = output.labelMap(onCrop!)
            if options.keepProbabilities { kept = restore(record.crop.uncrop(onCrop!, fill: output.backgroundFill), record) }
            onCrop = nil
        }
        var labels = restore(record.crop.uncrop(labelsOnCrop, fill: [0]), record)
        labelsOnCrop = Tensor.empty([0])
        if let postprocessing = options.postprocessing { labels = postprocessing.apply(labels) }
        return Segmentation(labels: labels, probabilities: kept, replacedNonFinite: record.replacedNonFinite,
                            windowCount: windows * InferenceMirroring.axisSets(enabled: options.mirroring).count,
                            networkGrid: networkGrid)
    }

    /// Canonical orientation -> the input file's.
    func restore(_ t: Tensor, _ record: PreprocessingRecord) -> Tensor {
        record.orientation?.fromCanonical(t) ?? t
    }

    /// The ledger peak of segmenting `image` (bytes above what was live before), measured by a
    /// planned run: exact, and fast because the network does no arithmetic.
    public func plannedPeak(_ image: NIfTIVolume) throws -> Int {
        try MemoryLedger.shared.measurePeak { try segment(image, planned: true) }.peakBytes
    }
}
