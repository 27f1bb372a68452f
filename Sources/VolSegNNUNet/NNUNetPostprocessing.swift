import Foundation
import VolSegCore
import VolSegIO

/// The postprocessing nnU-Net chose for a model (`nnUNetv2_find_best_configuration` or
/// `nnUNetv2_determine_postprocessing`): `postprocessing.pkl`, a pickled pair (functions, keyword
/// arguments) that `nnUNetv2_apply_postprocessing` runs in order on each exported label map.
///
/// The pickle names its functions; they are never imported or run. The one function nnU-Net
/// writes, `remove_all_but_largest_component_from_segmentation`, is reproduced here as nnU-Net
/// and acvl_utils compute it: the mask is the union of the listed labels (an int) and regions (a
/// tuple of labels); its components are found with full connectivity on the 3D array (26
/// neighbours, skimage's `label` default, also for 2D configurations, whose arrays are 3D); every
/// component of the largest size is kept (a tie keeps all of them); the mask's other voxels become
/// `background_label` (default 0). Any other function is a named error.
public struct NNUNetPostprocessing: Equatable, Sendable {
    /// One call of the largest-component function.
    public struct Step: Equatable, Sendable {
        /// The label sets whose union is the mask: one value for a label, several for a region.
        public var parts: [[Int]]
        public var backgroundLabel: Int

        public init(parts: [[Int]], backgroundLabel: Int = 0) {
            self.parts = parts
            self.backgroundLabel = backgroundLabel
        }
    }

    public static let fileName = "postprocessing.pkl"
    static let largestComponent = (module: "nnunetv2.postprocessing.remove_connected_components",
                                   name: "remove_all_but_largest_component_from_segmentation")

    public var steps: [Step]
    /// The file the steps came from, for the log.
    public var source: String

    public init(steps: [Step], source: String) {
        self.steps = steps
        self.source = source
    }

    /// Where nnU-Net leaves the file for a model folder, in the order looked at:
    /// `crossval_results_folds_<folds joined by _>/` (find_best_configuration's merged
    /// cross-validation, which model export copies), then the model folder itself.
    public static func candidates(in modelFolder: URL, folds: [String]) -> [URL] {
        [modelFolder.appendingPathComponent("crossval_results_folds_" + folds.joined(separator: "_")).appendingPathComponent(fileName),
         modelFolder.appendingPathComponent(fileName)]
    }

    /// The first of `candidates` that exists, read; a named error listing them when none does.
    public static func find(in modelFolder: URL, folds: [String]) throws -> NNUNetPostprocessing {
        let paths = candidates(in: modelFolder, folds: folds)
        guard let file = paths.first(where: { FileManager.default.fileExists(atPath: $0.path) }) else {
            throw NNUNetError.missingFile(path: paths.map(\.path).joined(separator: " or "),
                                          what: "nnU-Net's postprocessing.pkl for --postprocess nnunet; name another with -pp_pkl_file FILE")
        }
        return try read(file)
    }

    public static func read(_ url: URL) throws -> NNUNetPostprocessing {
        let path = url.path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw NNUNetError.missingFile(path: path, what: "nnU-Net's postprocessing.pkl")
        }
        let value: PickleValue
        do { value = try PickleValue(pickle: data, path: path) } catch {
            throw NNUNetError.checkpoint(path: path, problem: "not a readable postprocessing pickle: \(error)")
        }
        func bad(_ problem: String) -> NNUNetError { .checkpoint(path: path, problem: problem) }
        guard let pair = value.items, pair.count == 2, let functions = pair[0].items, let arguments = pair[1].items else {
            throw bad("expected the pair (functions, keyword arguments) that nnU-Net pickles, got \(value)")
        }
        guard functions.count == arguments.count else {
            throw bad("\(functions.count) functions but \(arguments.count) keyword-argument dicts")
        }
        var steps: [Step] = []
        for (function, kwargs) in zip(functions, arguments) {
            guard case .global(let module, let name) = function else { throw bad("step \(steps.count + 1) is \(function), not a function name") }
            guard (module, name) == largestComponent else {
                throw NNUNetError.unsupported(path: path, what: "postprocessing function \(module).\(name) (supported: \(largestComponent.module).\(largestComponent.name))")
            }
            guard let entries = kwargs.dictEntries else { throw bad("the arguments of step \(steps.count + 1) are \(kwargs), not a dict") }
            var parts: [[Int]]? = nil, background = 0
            for (key, argument) in entries {
                switch key.string {
                case "labels_or_regions": parts = try labelParts(argument, bad: bad)
                case "background_label":
                    guard let value = argument.int else { throw bad("background_label \(argument) is not an int") }
                    background = Int(value)
                default: throw bad("unknown argument \(key) of \(name)")
                }
            }
            guard let parts else { throw bad("step \(steps.count + 1) has no labels_or_regions") }
            steps.append(Step(parts: parts, backgroundLabel: background))
        }
        return NNUNetPostprocessing(steps: steps, source: path)
    }

    /// `labels_or_regions`: an int, a region (tuple of ints), or a list of those.
    static func labelParts(_ value: PickleValue, bad: (String) -> NNUNetError) throws -> [[Int]] {
        func part(_ item: PickleValue) throws -> [Int] {
            if case .int(let label) = item { return [Int(label)] }
            if case .tuple(let members) = item {
                let labels = members.compactMap { member -> Int? in if case .int(let l) = member { return Int(l) } else { return nil } }
                guard labels.count == members.count, !labels.isEmpty else { throw bad("region \(item) is not a tuple of labels") }
                return labels
            }
            throw bad("labels_or_regions entry \(item) is neither a label nor a region")
        }
        if case .list(let items) = value { return try items.map(part) }
        return [try part(value)]
    }

    /// Applies every step in order to a label map ([1, D, H, W] or [D, H, W] of label values).
    public func apply(_ labels: Tensor) -> Tensor {
        steps.reduce(labels) { NNUNetPostprocessing.keepLargestComponents(of: $1, in: $0) }
    }

    static func keepLargestComponents(of step: Step, in labels: Tensor) -> Tensor {
        precondition(labels.rank == 3 || (labels.rank == 4 && labels.shape[0] == 1), "a label map is [1, D, H, W], got \(labels.shape)")
        let shape = Array(labels.shape.suffix(3)), total = shape.reduce(1, *)
        let out = labels.copy()
        if labels.isPlanned {
            let mask = ScratchBuffer<UInt8>(count: total, planned: true)
            withExtendedLifetime((mask, ConnectedComponents(mask: nil, shape: shape, connectivity: .corners))) {}
            return out
        }
        // Membership by value through a table: a Set lookup per voxel costs seconds on a CT.
        let members = step.parts.flatMap { $0 }.filter { $0 >= 0 }
        var table = [Bool](repeating: false, count: (members.max() ?? -1) + 1)
        for label in members { table[label] = true }
        let isMember = table
        let mask = ScratchBuffer<UInt8>(count: total, planned: false)
        let m = mask.pointer!, values = UnsafePointer(labels.data)
        Parallel.forEachChunk(total, minimumChunk: 1 << 16) { range in
            for i in range {
                let v = values[i]
                m[i] = v >= 0 && v < Float(isMember.count) && isMember[Int(v)] ? 1 : 0
            }
        }
        let components = ConnectedComponents(mask: m, shape: shape, connectivity: .corners)
        guard let largest = components.sizes.max() else { return out }
        let kept = components.sizes.map { $0 == largest }
        let background = Float(step.backgroundLabel), o = out.data, component = UnsafePointer(components.table.pointer!)
        Parallel.forEachChunk(total, minimumChunk: 1 << 16) { range in
            for i in range where m[i] != 0 && !kept[Int(component[i])] { o[i] = background }
        }
        return out
    }
}
