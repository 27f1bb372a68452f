import Foundation
import VolSegCore
import VolSegEvaluation
import VolSegInference
import VolSegIO
import VolSegModels

/// A validation case as `volseg segment` would see it: the image on its file's grid (a slab split
/// cuts it, with a header moved to the slab) and the reference label values on the same grid.
public struct ValidationCase: @unchecked Sendable {
    public let id: String
    /// [C, D, H, W] as read, with its header.
    public let image: NIfTIVolume
    /// [1, D, H, W] label values (the dataset's own, not class indices).
    public let reference: Tensor
    /// [D, H, W] of the network's grid after preprocessing (what the memory planner sizes).
    public let networkShape: [Int]

    public init(id: String, image: NIfTIVolume, reference: Tensor, networkShape: [Int]) {
        self.id = id
        self.image = image
        self.reference = reference
        self.networkShape = networkShape
    }

    /// Bytes the case holds in memory (image and reference; the ledger counts both).
    public var byteCount: Int { image.voxels.byteCount + reference.byteCount }
}

/// A validation case segmented by the final model: its image (with header), the reference and
/// predicted label values on the image's grid, and Dice per structure.
public struct ValidationPreview: @unchecked Sendable {
    public let id: String
    public let image: NIfTIVolume
    public let reference: Tensor
    public let prediction: Tensor
    public let dice: [Double]
}

/// Validation after an epoch is `volseg segment` followed by `volseg evaluate`'s Dice: each case is
/// segmented by Inference's `Segmenter` with the run's checkpoint config (preprocessing, sliding
/// window at the configured step, Gaussian weights, no mirroring, the inverse preprocessing back
/// to the input grid), and Dice per reported structure (BraTS WT/TC/ET, LiTS liver/tumour, else
/// each foreground label) is Evaluation's, on the input grid. So `checkpoint_best.h5` is chosen by
/// the Dice a user reproduces with those two commands. NaN when prediction and reference are both
/// empty; the mean over cases ignores NaN.
public struct ValidationRunner {
    /// The checkpoint config of the run (what `volseg segment` reads from checkpoint_best.h5).
    public let config: ModelBundleConfig
    /// Name and label values of each reported structure.
    public let structures: [(name: String, labels: Set<Int>)]
    /// Window step as a share of the patch.
    public let step: Double

    public init(config: ModelBundleConfig, labels: TrainingLabels, step: Double = 0.5) {
        self.config = config
        self.structures = labels.reportedLabelValues
        self.step = step
    }

    /// Mean Dice per structure over the cases (NaN when every case is NaN). Over several ranks,
    /// rank r scores every size-th case from r on, and the sums and counts are summed over the
    /// ranks, so every rank gets the mean over all cases.
    public func dice(model: SegmentationModel, cases: [ValidationCase],
                     ranks: any ProcessGroup = SingleProcessGroup.shared) throws -> [Double] {
        // Sums, then counts.
        var totals = [Double](repeating: 0, count: 2 * structures.count)
        for (index, item) in cases.enumerated() where index % ranks.size == ranks.rank {
            let scores = try caseDice(model: model, item: item)
            for (i, s) in scores.enumerated() where !s.isNaN { totals[i] += s; totals[structures.count + i] += 1 }
        }
        ranks.sum(&totals, operation: "validation Dice")
        try ranks.check()
        return (0..<structures.count).map { totals[structures.count + $0] > 0 ? totals[$0] / totals[structures.count + $0] : .nan }
    }

    /// One case's prediction with its image and reference, for the run's report.
    public func preview(model: SegmentationModel, item: ValidationCase) throws -> ValidationPreview {
        let wasTraining = model.isTraining
        defer { model.train(wasTraining) }
        let segmentation = try segmenter(model).segment(item.image)
        let dice = structures.map { structure in
            MetricScores.dice(prediction: segmentation.labels.data, reference: item.reference.data, shape: item.image.spatialShape,
                              values: structure.labels)
        }
        return ValidationPreview(id: item.id, image: item.image, reference: item.reference, prediction: segmentation.labels, dice: dice)
    }

    /// Dice per structure for one case; the model runs in evaluation mode and gets its mode back.
    public func caseDice(model: SegmentationModel, item: ValidationCase) throws -> [Double] {
        try preview(model: model, item: item).dice
    }

    /// Runs the network's part of validation on a planned image of `networkShape` (the memory
    /// planner's validation peak; the input-grid copies are counted with the data).
    public static func plannedPrediction(model: SegmentationModel, labels: TrainingLabels, patch: [Int], step: Double,
                                         channels: Int, networkShape: [Int]) {
        let wasTraining = model.isTraining
        defer { model.train(wasTraining) }
        let inference = SlidingWindowInference(model: model, output: labels.segmentationOutput, patch: patch, step: step)
        _ = inference.predict(Tensor.planned([channels] + networkShape))
    }

    func segmenter(_ model: SegmentationModel) throws -> Segmenter {
        Segmenter(bundle: try ModelBundle(model: model, config: config), options: SegmenterOptions(step: step))
    }
}
