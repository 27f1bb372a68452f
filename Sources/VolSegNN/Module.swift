import Foundation
import VolSegCore

/// A network part with named parameters, buffers and children, like PyTorch's nn.Module.
///
/// Names compose with dots (`conv_blocks_context.0.0.conv1.weight`): the same names are the HDF5
/// dataset paths under `weights/` in a checkpoint and the keys of reference state dicts. Training
/// vs evaluation is module state set explicitly with `train()`/`eval()`, never a global.
open class Module {
    public private(set) var ownParameters: [(name: String, tensor: Tensor)] = []
    public private(set) var ownBuffers: [(name: String, tensor: Tensor)] = []
    public private(set) var children: [(name: String, module: Module)] = []
    public private(set) var isTraining = true
    /// A frozen module's parameters get no gradient and no optimizer state (H-DenseUNet's staged training).
    public private(set) var isFrozen = false

    public init() {}

    @discardableResult
    public func registerParameter(_ name: String, _ tensor: Tensor) -> Tensor {
        precondition(!name.contains("."), "parameter names are single words; got \(name)")
        tensor.requiresGrad = !isFrozen
        ownParameters.append((name, tensor))
        return tensor
    }

    @discardableResult
    public func registerBuffer(_ name: String, _ tensor: Tensor) -> Tensor {
        ownBuffers.append((name, tensor))
        return tensor
    }

    @discardableResult
    public func registerChild<M: Module>(_ name: String, _ module: M) -> M {
        children.append((name, module))
        return module
    }

    /// Training mode: batch statistics in BatchNorm, running statistics updated, dropout active.
    public func train(_ training: Bool = true) {
        isTraining = training
        for child in children { child.module.train(training) }
    }

    /// Evaluation mode: BatchNorm uses its running statistics.
    public func eval() { train(false) }

    public func freeze(_ frozen: Bool = true) {
        isFrozen = frozen
        for p in ownParameters { p.tensor.requiresGrad = !frozen; if frozen { p.tensor.grad = nil } }
        for child in children { child.module.freeze(frozen) }
    }

    /// Every module below this one (itself first), with its dotted path.
    public func namedModules(prefix: String = "") -> [(name: String, module: Module)] {
        var result: [(String, Module)] = [(prefix, self)]
        for child in children {
            result += child.module.namedModules(prefix: prefix.isEmpty ? child.name : "\(prefix).\(child.name)")
        }
        return result
    }

    public func namedParameters() -> [(name: String, tensor: Tensor)] {
        namedModules().flatMap { path, module in
            module.ownParameters.map { (path.isEmpty ? $0.name : "\(path).\($0.name)", $0.tensor) }
        }
    }

    public func namedBuffers() -> [(name: String, tensor: Tensor)] {
        namedModules().flatMap { path, module in
            module.ownBuffers.map { (path.isEmpty ? $0.name : "\(path).\($0.name)", $0.tensor) }
        }
    }

    /// Parameters that train (not frozen).
    public var trainableParameters: [(name: String, tensor: Tensor)] {
        namedParameters().filter { $0.tensor.requiresGrad }
    }

    public var parameterCount: Int { namedParameters().reduce(0) { $0 + $1.tensor.count } }

    /// Copies tensors into the parameters and buffers of the same names. With `strict`, a missing
    /// or unexpected name is an error listing them all; `skip` names parameters to leave as they
    /// are (e.g. the heads, when fine-tuning on other classes).
    public func load(state: [String: Tensor], strict: Bool = true, skip: (String) -> Bool = { _ in false }) throws {
        let targets = namedParameters() + namedBuffers()
        var missing: [String] = [], mismatched: [String] = []
        for (name, tensor) in targets where !skip(name) {
            guard let source = state[name] else { missing.append(name); continue }
            guard source.shape == tensor.shape else {
                mismatched.append("\(name): checkpoint \(source.shape), model \(tensor.shape)")
                continue
            }
            if !tensor.isPlanned && !source.isPlanned {
                tensor.data.update(from: source.data, count: tensor.count)
            }
        }
        let known = Set(targets.map(\.name))
        let unexpected = state.keys.filter { !known.contains($0) && !skip($0) }.sorted()
        if !mismatched.isEmpty || (strict && (!missing.isEmpty || !unexpected.isEmpty)) {
            throw StateLoadError.doesNotFit(missing: missing.sorted(), unexpected: unexpected, mismatched: mismatched)
        }
    }
}

/// A checkpoint or state dict that does not fit the model, with every offending name.
/// One case: every way a state dict fails to fit is reported at once, as three lists of names, so
/// a caller matches the lists rather than separate cases.
public enum StateLoadError: Error, Equatable, CustomStringConvertible {
    /// Names the model has and the state lacks, names the state has and the model lacks, and
    /// "name: checkpoint shape, model shape" for shapes that differ.
    case doesNotFit(missing: [String], unexpected: [String], mismatched: [String])

    public var missing: [String] { if case .doesNotFit(let names, _, _) = self { return names }; return [] }
    public var unexpected: [String] { if case .doesNotFit(_, let names, _) = self { return names }; return [] }
    public var mismatched: [String] { if case .doesNotFit(_, _, let names) = self { return names }; return [] }

    public var description: String {
        // A whole wrong model mismatches hundreds of names: show the first few of each kind.
        func listed(_ names: [String], separator: String = ", ") -> String {
            let shown = names.prefix(6).joined(separator: separator)
            return names.count > 6 ? shown + "\(separator)... (\(names.count - 6) more)" : shown
        }
        var parts: [String] = []
        if !missing.isEmpty { parts.append("missing \(missing.count): \(listed(missing))") }
        if !unexpected.isEmpty { parts.append("unexpected \(unexpected.count): \(listed(unexpected))") }
        if !mismatched.isEmpty { parts.append("shape mismatch \(mismatched.count): \(listed(mismatched, separator: "; "))") }
        return "weights do not fit the model: " + parts.joined(separator: "; ")
    }
}

/// Where new parameters come from: a seeded generator, or nothing at all in planning mode
/// (planned parameters have shapes and are counted by the ledger, but hold no memory).
public final class ParameterInitializer {
    public var generator: RandomGenerator
    public let planned: Bool

    public init(seed: UInt64 = 0, planned: Bool = false) {
        generator = RandomGenerator(seed: seed)
        self.planned = planned
    }

    /// PyTorch's default for conv and linear weights: kaiming_uniform(a = sqrt(5)), i.e.
    /// U(-b, b) with b = 1/sqrt(fanIn); biases use the same bound.
    public func uniformFanIn(_ shape: [Int], fanIn: Int) -> Tensor {
        let bound = 1 / Float(max(fanIn, 1)).squareRoot()
        return Tensor.randomUniform(shape, low: -bound, high: bound, generator: &generator, planned: planned)
    }

    public func constant(_ shape: [Int], _ value: Float) -> Tensor {
        Tensor.full(shape, value: value, planned: planned)
    }
}
