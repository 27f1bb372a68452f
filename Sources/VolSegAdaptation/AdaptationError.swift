import Foundation
import VolSegNN

/// Why a model cannot be adapted, or a target cannot be used: the file or model and the problem.
public struct AdaptationError: Error, CustomStringConvertible, LocalizedError {
    public let subject: String
    public let problem: String

    public init(subject: String, problem: String) {
        self.subject = subject
        self.problem = problem
    }

    public var description: String { "\(subject): \(problem)" }
    public var errorDescription: String? { description }

    /// A model whose norm layers keep no running statistics (InstanceNorm, GroupNorm): there is
    /// nothing for AdaBN to re-estimate, and saying so beats writing an unchanged copy.
    static func noBatchNorm(_ model: Module, name: String) -> AdaptationError {
        let modules = model.namedModules().map(\.module)
        let instance = modules.filter { $0 is InstanceNorm }.count
        let group = modules.filter { $0 is GroupNorm }.count
        var found: [String] = []
        if instance > 0 { found.append("\(instance) InstanceNorm") }
        if group > 0 { found.append("\(group) GroupNorm") }
        let norms = found.isEmpty ? "no normalisation layers" : found.joined(separator: " and ") + " layers"
        return AdaptationError(subject: name, problem: "has no BatchNorm layer (\(norms)). AdaBN and progressive "
            + "adaptation re-estimate BatchNorm's running mean and variance on the target scans; "
            + "InstanceNorm and GroupNorm normalise every image with its own statistics and store none, "
            + "so there is nothing to adapt. Nothing was written.")
    }
}
