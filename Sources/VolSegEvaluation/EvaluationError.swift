import Foundation

/// Why an evaluation cannot run; each message names the files or values at fault.
public enum EvaluationError: Error, CustomStringConvertible, Equatable {
    case notAFolder(path: String, role: String)
    case noLabelMaps(folder: String, role: String)
    case duplicateCase(caseID: String, files: [String])
    case unmatchedCases(missingPredictions: [String], extraPredictions: [String])
    case noCasesToEvaluate(predictions: String, references: String)
    /// Merging a sharded evaluation.
    case caseMissingFromParts(caseID: String)
    case partsDisagree(reason: String)
    case unreadablePart(path: String, reason: String)
    case shapeMismatch(prediction: String, predictionShape: [Int], reference: String, referenceShape: [Int])
    case notALabelMap(path: String, reason: String)
    case labelValuesNotInDataset(values: [Int], labels: [String], convention: String)
    case invalidArgument(option: String, value: String, reason: String)
    case geometryMismatch(caseID: String, prediction: String, reference: String, largestDifference: Double)
    case unreadableDatasetJSON(path: String, reason: String)
    case noLabels(references: String)

    public var description: String {
        switch self {
        case .caseMissingFromParts(let caseID):
            return "case \(caseID) is in no part: merge every part of the evaluation (volseg evaluate --merge DIR...)"
        case .partsDisagree(let reason):
            return "the parts are not of one evaluation: \(reason)"
        case .unreadablePart(let path, let reason):
            return "\(path): not an evaluation part VolSeg wrote (\(reason))"
        case .notAFolder(let path, let role):
            return "\(path): the \(role) folder does not exist or is not a folder"
        case .noLabelMaps(let folder, let role):
            return "\(folder): no \(role) label maps found (.nii or .nii.gz files, or a dataset layout with label files)"
        case .duplicateCase(let id, let files):
            return "case \(id) has several files: \(files.joined(separator: ", "))"
        case .unmatchedCases(let missing, let extra):
            var lines = [String]()
            if !missing.isEmpty {
                lines.append("\(missing.count) reference case(s) have no prediction: \(missing.joined(separator: ", "))")
            }
            if !extra.isEmpty {
                lines.append("\(extra.count) prediction(s) have no reference: \(extra.joined(separator: ", "))")
            }
            lines.append("(--allow-missing evaluates the matched cases only)")
            return lines.joined(separator: "\n")
        case .noCasesToEvaluate(let predictions, let references):
            return "no case of \(predictions) matches a reference in \(references)"
        case .shapeMismatch(let prediction, let predictionShape, let reference, let referenceShape):
            return "\(prediction): prediction grid \(predictionShape) (x, y, z) differs from its reference "
                + "\(reference) with grid \(referenceShape)"
        case .notALabelMap(let path, let reason):
            return "\(path): not a label map: \(reason)"
        case .labelValuesNotInDataset(let values, let labels, let convention):
            return "label value(s) \(values.map(String.init).joined(separator: ", ")) of \(labels.joined(separator: " ")) "
                + "are not labels of the reference dataset (\(convention))"
        case .invalidArgument(let option, let value, let reason):
            return "\(option) \(value): \(reason)"
        case .geometryMismatch(let caseID, let prediction, let reference, let largest):
            return "case \(caseID): \(prediction) lies on another grid than \(reference) (affines differ by up to "
                + String(format: "%.4g", largest) + " mm); resample it onto the reference, or pass --ignore-geometry to score the voxels as they are"
        case .unreadableDatasetJSON(let path, let reason):
            return "\(path): \(reason)"
        case .noLabels(let references):
            return "\(references): the references hold no foreground label; name the labels with --labels or --regions"
        }
    }
}
