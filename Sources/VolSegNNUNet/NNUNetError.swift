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
        }
    }
}
