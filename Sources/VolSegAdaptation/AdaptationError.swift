import Foundation
import VolSegNN

/// Why a model cannot be adapted, or a target cannot be used: the file or model and the problem.
public enum AdaptationError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// `--data` named nothing.
    case noTarget
    case missingTarget(path: String)
    /// A dataset whose channel count differs from the model's.
    case channelMismatch(path: String, layout: String, datasetModalities: [String], modalities: [String])
    /// A plain folder of images (no known layout) for a model of several channels.
    case plainFolderForMultiChannel(path: String, modalities: [String])
    /// A target folder without image files.
    case noTargetImages(folder: String)
    /// A model whose norm layers keep no running statistics (InstanceNorm, GroupNorm): there is
    /// nothing for AdaBN to re-estimate, and saying so beats writing an unchanged copy.
    case noBatchNorm(model: String, instanceNorms: Int, groupNorms: Int)
    /// AdaBN given no windows.
    case noTargetWindows(model: String)
    /// Progressive adaptation given no windows.
    case nothingToAdaptTo(model: String)
    case tooFewIterations(model: String, iterations: Int)

    /// The file, folder or model the error is about ("--data" when no target was named).
    public var subject: String {
        switch self {
        case .noTarget: return "--data"
        case .missingTarget(let s), .channelMismatch(let s, _, _, _), .plainFolderForMultiChannel(let s, _), .noTargetImages(let s),
             .noBatchNorm(let s, _, _), .noTargetWindows(let s), .nothingToAdaptTo(let s), .tooFewIterations(let s, _):
            return s
        }
    }

    public var problem: String {
        switch self {
        case .noTarget:
            return "no target given: name a dataset folder, a folder of NIfTI images or image files"
        case .missingTarget:
            return "no such file or folder"
        case .channelMismatch(_, let layout, let datasetModalities, let modalities):
            return "a \(layout) dataset with \(datasetModalities.count) "
                + "channel(s) \(datasetModalities); the model takes \(modalities.count): \(modalities)"
        case .plainFolderForMultiChannel(_, let modalities):
            return "not a known dataset layout; a plain folder of images "
                + "serves single-channel models only, this model takes \(modalities.count) channels \(modalities)"
        case .noTargetImages:
            return "holds no target images (.nii or .nii.gz, label files excluded)"
        case .noBatchNorm(_, let instance, let group):
            var found: [String] = []
            if instance > 0 { found.append("\(instance) InstanceNorm") }
            if group > 0 { found.append("\(group) GroupNorm") }
            let norms = found.isEmpty ? "no normalisation layers" : found.joined(separator: " and ") + " layers"
            return "has no BatchNorm layer (\(norms)). AdaBN and progressive "
                + "adaptation re-estimate BatchNorm's running mean and variance on the target scans; "
                + "InstanceNorm and GroupNorm normalise every image with its own statistics and store none, "
                + "so there is nothing to adapt. Nothing was written."
        case .noTargetWindows:
            return "no target windows to estimate statistics from"
        case .nothingToAdaptTo:
            return "no target images to adapt to"
        case .tooFewIterations(_, let iterations):
            return "progressive adaptation needs at least 1 iteration, got \(iterations)"
        }
    }

    public var description: String { "\(subject): \(problem)" }
    public var errorDescription: String? { description }

    /// `.noBatchNorm` with the norm layers `model` has instead.
    static func noBatchNormError(_ model: Module, name: String) -> AdaptationError {
        let modules = model.namedModules().map(\.module)
        return .noBatchNorm(model: name, instanceNorms: modules.filter { $0 is InstanceNorm }.count,
                            groupNorms: modules.filter { $0 is GroupNorm }.count)
    }
}
