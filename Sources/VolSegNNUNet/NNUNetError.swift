import Foundation

/// Why an nnU-Net v2 model folder or one of its cases cannot be run; every case names the file or
/// value.
public enum NNUNetError: Error, Equatable, CustomStringConvertible {
    case missingFile(path: String, what: String)
    case unreadableJSON(path: String, reason: String)
    case badPlans(path: String, field: String, problem: String)
    case unknownConfiguration(path: String, name: String, available: [String])
    case unsupported(path: String, what: String)
    case noFolds(folder: String, checkpoint: String)
    case missingFold(folder: String, fold: String, checkpoint: String)
    case checkpoint(path: String, problem: String)
    case weightsDoNotFit(path: String, problem: String)
    case datasetNotFound(results: String, dataset: String)
    case inputs(path: String, problem: String)
    /// An nnU-Net v1 trained-model folder (plans.pkl, fold_K/*.model): v1 averages softmax rather
    /// than logits and keeps its plans as pickled numpy arrays, a different pipeline.
    case versionOneFolder(folder: String)
    /// `--model stunet-b --weights FILE.model` where the file holds another STU-Net.
    case presetMismatch(path: String, asked: String, expected: String, found: String, matching: String)

    public var description: String {
        switch self {
        case .missingFile(let path, let what): return "\(path): no such file (\(what))"
        case .unreadableJSON(let path, let reason): return "\(path): \(reason)"
        case .badPlans(let path, let field, let problem): return "\(path): \(field): \(problem)"
        case .unknownConfiguration(let path, let name, let available):
            return "\(path) has no configuration \"\(name)\" (it has: \(available.joined(separator: ", ")))"
        case .unsupported(let path, let what): return "\(path): \(what) is not supported"
        case .noFolds(let folder, let checkpoint):
            return "\(folder) has no fold_*/\(checkpoint) (an nnU-Net v2 trained-model folder holds fold_0 ... or fold_all)"
        case .missingFold(let folder, let fold, let checkpoint):
            return "\(folder)/fold_\(fold)/\(checkpoint): no such file (fold \(fold) was asked for)"
        case .checkpoint(let path, let problem): return "\(path): \(problem)"
        case .weightsDoNotFit(let path, let problem): return "\(path): the weights do not fit the plans' network: \(problem)"
        case .datasetNotFound(let results, let dataset):
            return "no trained model for dataset \(dataset) under \(results) (nnUNet_results)"
        case .inputs(let path, let problem): return "\(path): \(problem)"
        case .versionOneFolder(let folder):
            return "\(folder) is an nnU-Net v1 model folder (plans.pkl, no plans.json); v1 folders are not run (v1 averages softmax and pickles its plans); an STU-Net .model file runs with --model stunet --weights FILE.model"
        case .presetMismatch(let path, let asked, let expected, let found, let matching):
            return "\(path) holds an STU-Net with \(found), not \(asked)'s \(expected); give --model \(matching)"
        }
    }
}
