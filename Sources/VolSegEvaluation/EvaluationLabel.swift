import Foundation
import VolSegIO

/// What one row of the metrics is about: a name (the key in summary.json) and the label values
/// that make it up (one value for a label, several for a region such as BraTS whole tumour).
public struct EvaluationLabel: Equatable, Sendable, CustomStringConvertible {
    public let name: String
    public let values: [Int]
    /// A region (nnU-Net's `regions`, BraTS WT/TC/ET): keyed as a tuple even with one value.
    public let isRegion: Bool

    public init(name: String, values: [Int], isRegion: Bool = false) {
        self.name = name
        self.values = Array(Set(values)).sorted()
        self.isRegion = isRegion
    }

    /// The key nnU-Net's summary.json uses: `str(label)` for a label (`"2"`), `str(tuple)` for a
    /// region or a set of values (`"(1, 2, 4)"`, `"(4,)"`), which its `load_summary_json` reads back.
    public var nnUNetKey: String {
        if values.count == 1 && !isRegion { return String(values[0]) }
        if values.count == 1 { return "(\(values[0]),)" }
        return "(" + values.map(String.init).joined(separator: ", ") + ")"
    }

    public var description: String { "\(name)=\(values.map(String.init).joined(separator: ","))" }

    /// The region sets of `--regions`.
    public enum Regions: String, CaseIterable, Sendable {
        /// BraTS 2020/2021: WT {1, 2, 4}, TC {1, 4}, ET {4}.
        case brats
        /// BraTS 2023: WT {1, 2, 3}, TC {1, 3}, ET {3}.
        case brats2023
        /// LiTS: liver {1, 2} (the liver includes its tumours), tumour {2}.
        case lits

        public var convention: LabelConvention {
            switch self {
            case .brats: return .brats2021
            case .brats2023: return .brats2023
            case .lits: return .lits
            }
        }

        public var labels: [EvaluationLabel] {
            convention.regions.map { EvaluationLabel(name: $0.name, values: Array($0.labels), isRegion: true) }
        }
    }

    /// A `--labels` argument that cannot be used: which one, and why.
    public struct Invalid: Error, CustomStringConvertible {
        public let argument: String
        public let reason: String
        public var description: String { "--labels \(argument): \(reason)" }
    }

    /// Parses `--labels` arguments: `name=v1,v2` (a region of several values), `name=v`, or a bare
    /// value `v` (named by its value). A bare name is looked up among the regions, then the label
    /// names, of `convention` (the reference dataset's, when its layout was detected).
    public static func parse(_ arguments: [String], convention: LabelConvention? = nil) throws -> [EvaluationLabel] {
        var out = [EvaluationLabel]()
        for argument in arguments {
            let label: EvaluationLabel
            if let equals = argument.firstIndex(of: "=") {
                let name = String(argument[..<equals]).trimmingCharacters(in: .whitespaces)
                let list = argument[argument.index(after: equals)...].split(separator: ",", omittingEmptySubsequences: false)
                guard !name.isEmpty else { throw Invalid(argument: argument, reason: "the name before = is empty") }
                var values = [Int]()
                for item in list {
                    let text = item.trimmingCharacters(in: .whitespaces)
                    guard let value = Int(text), (0...65535).contains(value) else {
                        throw Invalid(argument: argument, reason: "\"\(text)\" is not a label value (a whole number in 0...65535)")
                    }
                    values.append(value)
                }
                label = EvaluationLabel(name: name, values: values)
            } else if let value = Int(argument) {
                guard (0...65535).contains(value) else {
                    throw Invalid(argument: argument, reason: "\(value) is not a label value (a whole number in 0...65535)")
                }
                label = EvaluationLabel(name: argument, values: [value])
            } else if let region = convention?.region(argument) {
                label = EvaluationLabel(name: argument, values: Array(region), isRegion: true)
            } else if let value = convention?.labels.first(where: { $0.key != 0 && $0.value.lowercased() == argument.lowercased() })?.key {
                label = EvaluationLabel(name: argument, values: [value])
            } else {
                let known = convention.map { " (the reference dataset's regions: \($0.regions.map(\.name).joined(separator: ", ")))" } ?? ""
                throw Invalid(argument: argument, reason: "unknown label name \"\(argument)\"\(known); give its values as \(argument)=v1,v2 or use --regions")
            }
            if out.contains(where: { $0.name == label.name }) {
                throw Invalid(argument: argument, reason: "the name \"\(label.name)\" is given twice")
            }
            out.append(label)
        }
        return out
    }

    /// Every foreground value found in the references, each its own label named by its value.
    public static func found(_ values: Set<Int>) -> [EvaluationLabel] {
        values.filter { $0 != 0 }.sorted().map { EvaluationLabel(name: String($0), values: [$0]) }
    }
}
