import Foundation

/// One training run described in a pipeline file (`pipelines/*.yaml`): the model, what the labels
/// mean, preprocessing, patch and batch size (or `auto`, chosen under the memory budget),
/// sampling, augmentation, loss, optimizer, schedule, epochs and the validation split. Defaults are
/// nnU-Net's (REFERENCE.md, "nnU-Net defaults a user expects"), so a file states only what differs.
///
/// Sizes and axes are written in NIfTI voxel order (x, y, z), as `volseg synth --size` and the
/// plan's JSON; tensors are [D, H, W] = (z, y, x) inside.
public struct PipelineConfig: @unchecked Sendable {
    public var name: String
    public var description: String?
    public var model: ModelSettings
    public var data: DataSettings
    public var preprocessing: PreprocessingSettings
    public var patch: PatchSettings
    public var sampling: SamplingSettings
    public var augmentation: AugmentationSettings
    public var loss: LossSettings
    public var optimizer: OptimizerSettings
    public var schedule: ScheduleSettings
    public var training: TrainingSettings
    public var validation: ValidationSettings
    /// The file's text, stored in checkpoints so a run can be read back and resumed.
    public var sourceText: String
    /// Where it was read from (for messages).
    public var sourcePath: String
}

public struct ModelSettings: @unchecked Sendable {
    /// A `ModelRegistry` name (unet3d, stunet-b, revmbconv-unet, ...).
    public var name: String
    /// The model's JSON config (checked by the registry; input_channels and num_classes are
    /// filled in from the data when absent).
    public var config: [String: Any]
    /// H-DenseUNet's training stage (1 2D network, 2 3D part + fusion with the 2D part frozen,
    /// 3 end to end); nil for models trained in one go.
    public var stage: Int?
    /// A checkpoint whose weights start the run (e.g. stage 1's best for stage 2); relative
    /// paths are taken from the working directory.
    public var initializeFrom: String?
}

/// Whether the network predicts label classes (softmax) or overlapping regions (sigmoid per
/// region, BraTS whole tumour / tumour core / enhancing tumour).
public enum TrainingTarget: String, CaseIterable, Sendable { case labels, regions }

public struct DataSettings: Sendable {
    /// A built-in label convention name (brats2021, brats2023, msd-brain, lits); nil = the dataset's.
    public var labelConvention: String?
    public var target: TrainingTarget
    /// Expected modality order; nil = the dataset's. Checked against the dataset when given.
    public var modalities: [String]?
    /// Cases listed explicitly (paths relative to --data) instead of a detected dataset layout.
    /// Every case is preprocessed once and held in memory (the planner counts it).
    public var cases: [ExplicitCase]?
}

/// A case named in the pipeline file: its channel files and label file, relative to --data.
public struct ExplicitCase: Equatable, Sendable {
    public var id: String
    public var images: [String]
    public var label: String?
}

public enum NormalizationKind: String, CaseIterable, Sendable {
    /// Per-image, per-channel z-score inside the nonzero mask (MRI).
    case zscore
    /// Clip to the training set's foreground 0.5-99.5 percentiles (or `ct_window`), then z-score
    /// with the training set's foreground mean and std (CT).
    case ct
    case none
}

public struct PreprocessingSettings: Sendable {
    /// (x, y, z) mm; nil keeps each case's spacing.
    public var targetSpacing: [Double]?
    public var normalization: NormalizationKind
    /// A fixed HU window instead of the foreground percentiles.
    public var ctWindow: ClosedRange<Double>?
    public var cropToNonzero: Bool
}

public struct PatchSettings: Sendable {
    /// (x, y, z) voxels; nil = `auto` (the memory planner chooses).
    public var size: [Int]?
    /// nil = `auto`.
    public var batch: Int?
    /// Stages to recompute in backward; nil = `auto` (the planner adds them only when needed).
    public var recompute: [String]?
}

public struct SamplingSettings: Sendable {
    /// Share of each batch centred on a foreground voxel (nnU-Net: 1/3).
    public var foregroundShare: Double
}

public struct LossSettings: Sendable {
    public var diceWeight: Double
    /// Cross-entropy weight (binary cross-entropy for regions).
    public var crossEntropyWeight: Double
    public var smooth: Double
    /// One Dice term per class over the whole batch (nnU-Net's default for 3D).
    public var batchDice: Bool
    /// Cross-entropy class weights (H-DenseUNet: 0.78, 0.65, 8.57); nil = equal.
    public var classWeights: [Double]?
    /// Use the model's lower-resolution outputs with weights 1/2^i (lowest 0, normalised).
    public var deepSupervision: Bool
}

public enum OptimizerKind: String, CaseIterable, Sendable { case sgd, adamw }

public struct OptimizerSettings: Sendable {
    public var kind: OptimizerKind
    public var learningRate: Double
    public var momentum: Double
    public var nesterov: Bool
    public var weightDecay: Double
    /// Global gradient-norm clipping; nil = none.
    public var gradientClip: Double?
    public var betas: [Double]
    public var epsilon: Double
}

public enum ScheduleKind: String, CaseIterable, Sendable { case poly, constant }

public struct ScheduleSettings: Sendable {
    public var kind: ScheduleKind
    public var exponent: Double
}

public struct TrainingSettings: Sendable {
    public var epochs: Int
    public var iterationsPerEpoch: Int
}

public enum ValidationSplitKind: String, CaseIterable, Sendable {
    /// The last `fraction` of the cases (sorted by id) validate.
    case fraction
    /// The named cases validate.
    case cases
    /// Every case is cut along one axis: voxels before `from` train, the rest validate (one scan
    /// split in two, as for the bundled liver model).
    case slab
}

public struct ValidationSettings: Sendable {
    public var split: ValidationSplitKind
    public var fraction: Double
    public var cases: [String]
    /// Axis index in NIfTI order: 0 x, 1 y, 2 z.
    public var axis: Int
    /// First voxel (on the file's grid) that belongs to validation.
    public var from: Int
    /// Validate every N epochs (and after the last).
    public var every: Int
    /// Step between sliding windows, as a fraction of the patch (nnU-Net: 0.5).
    public var stepFraction: Double
}
