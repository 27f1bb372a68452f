import Foundation
import VolSegInference
import VolSegIO

/// A run that cannot start or go on: bad data, a config that does not fit the data, a checkpoint
/// that does not fit the config, a loss that diverged. The message names the file or value.
public enum TrainingSetupError: Error, Equatable, CustomStringConvertible {
    // MARK: the data
    /// `folder` lists cases, but none has a label map.
    case noLabelledCases(folder: String)
    /// Every labelled case went to validation.
    case noTrainingCasesAfterSplit(folder: String)
    /// The dataset listing found problems; `first` is the first of `count`.
    case datasetProblems(folder: String, layout: String, count: Int, first: DatasetProblem)
    case channelCountMismatch(caseID: String, channels: Int, modalities: [String])
    case caseWithoutLabel(caseID: String)
    case noForegroundForCTStatistics
    // MARK: the pipeline's data section
    /// `data.cases` without `data.labels`; `conventions` are the built-in names.
    case casesNeedLabelConvention(pipeline: String, conventions: [String])
    case caseImageCount(pipeline: String, caseID: String, images: Int, expected: Int)
    case missingCaseFile(path: String, caseID: String, pipeline: String)
    case modalitiesMismatch(pipeline: String, wanted: [String], layout: String, found: [String], folder: String)
    /// `cases` are the dataset's case ids; the message shows the first five.
    case unknownValidationCase(caseID: String, cases: [String])
    /// `axis` 0, 1, 2 for x, y, z; a valid `from` is in 1..<size.
    case validationSlabOutside(from: Int, axis: Int, file: String, size: Int)
    // MARK: labels
    case conventionWithoutForeground(convention: String, classValues: [Int])
    case conventionWithoutRegions(convention: String)
    case labelValueOutsideConvention(file: String, value: Float, convention: String, labels: [Int])
    // MARK: checkpoints, logs and resuming
    /// A checkpoint without a training record: not written by `volseg train`.
    case notATrainingCheckpoint(file: String)
    case unknownTrainingTarget(file: String, target: String)
    /// `key` is the missing dataset under `training/`.
    case checkpointMissingTrainingState(path: String, key: String)
    case checkpointRNGStateMalformed(path: String)
    case noCheckpointToResume(path: String)
    case resumeWithDifferentPipeline(checkpoint: String, trainedWith: String, pipeline: String)
    case resumeWithDifferentSeed(checkpoint: String, trainedWith: UInt64, requested: UInt64)
    case resumeWithDifferentWorldSize(checkpoint: String, saved: Int, requested: Int)
    /// Data-parallel runs: ranks that could not set up (each printed its own error).
    case ranksFailedToStart(ranks: [Int])
    case ranksPlannedDifferently(rank: Int)
    case logHeaderMismatch(path: String, header: String)
    case emptyLog(path: String)
    // MARK: training
    /// A non-finite loss; `step` counts the run's steps.
    case diverged(epoch: Int, step: Int, loss: Float, pipeline: String)

    public var description: String {
        switch self {
        case .resumeWithDifferentWorldSize(let checkpoint, let saved, let requested):
            return "\(checkpoint) was written by a run on \(saved) rank(s), this one has \(requested): every rank's "
                + "patch stream is saved and continues only with the same number of ranks (start mpirun with -np \(saved))"
        case .ranksFailedToStart(let ranks):
            return "rank\(ranks.count == 1 ? "" : "s") \(ranks.map(String.init).joined(separator: ", ")) could not start the run "
                + "(see its error); no rank trains"
        case .ranksPlannedDifferently(let rank):
            return "rank \(rank) planned a different patch, batch or recomputation than rank 0: the ranks see different data "
                + "or budgets (every rank needs the same --data, --config and --memory-budget)"
        case .noLabelledCases(let folder):
            return "\(folder): no case has a label map to train on"
        case .noTrainingCasesAfterSplit(let folder):
            return "\(folder): no labelled cases left for training after the validation split"
        case .datasetProblems(let folder, let layout, let count, let first):
            return "\(folder): \(count) problem(s) in the \(layout) dataset, first: \(first)"
        case .channelCountMismatch(let caseID, let channels, let modalities):
            return "case \(caseID): \(channels) channels, the dataset has \(modalities.count) modalities"
        case .caseWithoutLabel(let caseID):
            return "case \(caseID) has no label map"
        case .noForegroundForCTStatistics:
            return "the training cases have no foreground voxels to compute CT statistics from"
        case .casesNeedLabelConvention(let pipeline, let conventions):
            return "\(pipeline): data.cases needs data.labels (the label convention: \(conventions.joined(separator: ", ")))"
        case .caseImageCount(let pipeline, let caseID, let images, let expected):
            return "\(pipeline): case \(caseID) lists \(images) images, expected \(expected)"
        case .missingCaseFile(let path, let caseID, let pipeline):
            return "\(path): no such file (case \(caseID) of \(pipeline))"
        case .modalitiesMismatch(let pipeline, let wanted, let layout, let found, let folder):
            return "\(pipeline): data.modalities \(wanted) do not match the \(layout) dataset's \(found) in \(folder)"
        case .unknownValidationCase(let caseID, let cases):
            return "validation case '\(caseID)' is not in the dataset (cases: \(cases.prefix(5).joined(separator: ", "))...)"
        case .validationSlabOutside(let from, let axis, let file, let size):
            return "validation.from \(from) must cut \(["x", "y", "z"][axis]) of \(file) (1..<\(size))"
        case .conventionWithoutForeground(let convention, let classValues):
            return "label convention \(convention) needs background 0 and at least one foreground label, has \(classValues)"
        case .conventionWithoutRegions(let convention):
            return "label convention \(convention) names no regions, so target: regions cannot be used"
        case .labelValueOutsideConvention(let file, let value, let convention, let labels):
            return "\(file): label value \(value) is not one of \(convention)'s labels \(labels)"
        case .notATrainingCheckpoint(let file):
            return "\(file): the checkpoint's config has no training section of format '\(CheckpointTrainingRecord.format)': it was not written by volseg train"
        case .unknownTrainingTarget(let file, let target):
            return "\(file): the checkpoint's training.target '\(target)' is not one of \(TrainingTarget.allCases.map(\.rawValue))"
        case .checkpointMissingTrainingState(let path, let key):
            return "\(path): training/\(key) is missing; the checkpoint cannot resume a run"
        case .checkpointRNGStateMalformed(let path):
            return "\(path): training/rng_state must hold 4 words"
        case .noCheckpointToResume(let path):
            return "\(path): no checkpoint to resume from (run without --resume to start)"
        case .resumeWithDifferentPipeline(let checkpoint, let trainedWith, let pipeline):
            return "\(checkpoint) was trained with a different pipeline (\(trainedWith)) than \(pipeline); resume with the same file"
        case .resumeWithDifferentSeed(let checkpoint, let trainedWith, let requested):
            return "\(checkpoint) was trained with --seed \(trainedWith), not \(requested); resume with the same seed"
        case .logHeaderMismatch(let path, let header):
            return "\(path): header differs from this run's (\(header)); it belongs to another run"
        case .emptyLog(let path):
            return "\(path): empty log"
        case .diverged(let epoch, let step, let loss, let pipeline):
            return "training diverged at epoch \(epoch), step \(step): loss \(loss); lower optimizer.learning_rate in \(pipeline)"
        }
    }
}
