import Foundation
import VolSegCore
import VolSegIO

/// A self-describing model file in HDF5, readable from Python with h5py:
/// `weights/<parameter name>`, `buffers/<buffer name>`, `optimizer/<parameter>.<state>`,
/// `training/<name>` (int64 arrays: epoch, iteration, RNG state, ...), and the root attributes
/// `config` (JSON: model name and config, preprocessing, label convention) and `provenance` (JSON).
public struct Checkpoint {
    public var weights: [String: Tensor] = [:]
    public var buffers: [String: Tensor] = [:]
    public var optimizer: [String: Tensor] = [:]
    public var training: [String: [Int64]] = [:]
    /// JSON object text.
    public var config: String = "{}"
    /// JSON object text.
    public var provenance: String = "{}"

    public init() {}

    /// Captures a model's parameters and buffers (and, when given, an optimizer's state).
    public init(model: Module, config: [String: Any], provenance: [String: Any], optimizer: Optimizer? = nil) throws {
        for (name, t) in model.namedParameters() { weights[name] = t }
        for (name, t) in model.namedBuffers() { buffers[name] = t }
        if let optimizer { self.optimizer = optimizer.stateTensors() }
        self.config = try Checkpoint.jsonText(config)
        self.provenance = try Checkpoint.jsonText(provenance)
    }

    public var configObject: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(config.utf8)) as? [String: Any]) ?? [:]
    }

    public var provenanceObject: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(provenance.utf8)) as? [String: Any]) ?? [:]
    }

    /// Parameters and buffers together, as `Module.load(state:)` takes them.
    public var modelState: [String: Tensor] { weights.merging(buffers) { a, _ in a } }

    /// Writes to a temporary file beside `url` and renames it: a killed run never leaves half a file.
    public func write(to url: URL) throws {
        try HDF5File.writeAtomically(to: url) { file in
            for (name, t) in weights.sorted(by: { $0.key < $1.key }) { try file.write(t, to: "weights/\(name)") }
            for (name, t) in buffers.sorted(by: { $0.key < $1.key }) { try file.write(t, to: "buffers/\(name)") }
            for (name, t) in optimizer.sorted(by: { $0.key < $1.key }) { try file.write(t, to: "optimizer/\(name)") }
            for (name, v) in training.sorted(by: { $0.key < $1.key }) { try file.write(v, to: "training/\(name)") }
            try file.setAttribute("config", config)
            try file.setAttribute("provenance", provenance)
        }
    }

    public static func read(from url: URL) throws -> Checkpoint {
        let file = try HDF5File(url, mode: .readOnly)
        defer { try? file.close() }
        var checkpoint = Checkpoint()
        checkpoint.weights = try tensors("weights", of: file)
        guard !checkpoint.weights.isEmpty else {
            throw CheckpointError.noWeights(path: url.path)
        }
        checkpoint.buffers = try tensors("buffers", of: file)
        checkpoint.optimizer = try tensors("optimizer", of: file)
        if file.isGroup("training") {
            for name in try file.memberNames(of: "training") {
                checkpoint.training[name] = try file.int64Values("training/\(name)").values
            }
        }
        if file.hasAttribute("config") { checkpoint.config = try file.stringAttribute("config") }
        if file.hasAttribute("provenance") { checkpoint.provenance = try file.stringAttribute("provenance") }
        return checkpoint
    }

    /// Only `weights/` and `buffers/`, merged as `Module.load(state:)` takes them: what a
    /// weights-only file holds (reference weights dumped from PyTorch by state-dict name, with no
    /// config, optimizer or training state), and all a forward pass needs from a checkpoint.
    public static func readModelState(from url: URL) throws -> [String: Tensor] {
        let file = try HDF5File(url, mode: .readOnly)
        defer { try? file.close() }
        let weights = try tensors("weights", of: file)
        guard !weights.isEmpty else {
            throw CheckpointError.noWeights(path: url.path)
        }
        return weights.merging(try tensors("buffers", of: file)) { a, _ in a }
    }

    /// Every dataset of `group` by member name; an absent group is empty.
    private static func tensors(_ group: String, of file: HDF5File) throws -> [String: Tensor] {
        guard file.isGroup(group) else { return [:] }
        var result: [String: Tensor] = [:]
        for name in try file.memberNames(of: group) { result[name] = try file.tensor("\(group)/\(name)") }
        return result
    }

    static func jsonText(_ object: [String: Any]) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}

/// An HDF5 file that is not a VolSeg checkpoint. (HDF5 itself failing is an `HDF5Error`.)
public enum CheckpointError: Error, Equatable, CustomStringConvertible {
    /// No `weights/` group, or an empty one.
    case noWeights(path: String)

    public var path: String {
        switch self { case .noWeights(let path): return path }
    }

    public var problem: String {
        switch self { case .noWeights: return "has no weights/ group: not a VolSeg checkpoint" }
    }

    public var description: String { "\(path): \(problem)" }
}
