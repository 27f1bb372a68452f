import Foundation
import Yams

/// Typed, strict access to one YAML mapping of a pipeline file: every key read is checked for its
/// type, and `finish()` rejects keys nobody asked for, so a typo (`iteratons_per_epoch`) is an
/// error instead of a silently ignored setting.
final class PipelineYAMLReader {
    let file: String
    /// Dotted path of this mapping ("" for the root).
    let path: String
    private let pairs: [(key: String, value: Node)]
    private let mark: Mark?
    private var consumed = Set<String>()

    init(node: Node?, file: String, path: String) throws {
        self.file = file
        self.path = path
        mark = node?.mark
        guard let node else { pairs = []; return }
        guard case .mapping(let mapping) = node else {
            throw PipelineConfigError.notAMapping(file: file, key: path.isEmpty ? nil : path,
                                                  found: PipelineYAMLReader.describe(node), line: node.mark.map { $0.line })
        }
        var seen = Set<String>(), pairs: [(String, Node)] = []
        for (key, value) in mapping {
            guard let name = key.string else {
                throw PipelineConfigError.keyNotAName(file: file, key: path.isEmpty ? nil : path, line: key.mark.map { $0.line })
            }
            guard seen.insert(name).inserted else {
                throw PipelineConfigError.duplicateKey(file: file, key: Self.join(path, name), line: key.mark.map { $0.line })
            }
            pairs.append((name, value))
        }
        self.pairs = pairs
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let s): return "'\(s.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }

    func keyPath(_ key: String) -> String { Self.join(path, key) }

    func error(_ key: String, _ problem: String, node: Node? = nil) -> PipelineConfigError {
        .invalidValue(file: file, key: keyPath(key), problem: problem, line: (node?.mark ?? mark).map { $0.line })
    }

    /// The raw node of a key (and marks it as known).
    func node(_ key: String) -> Node? {
        consumed.insert(key)
        guard let value = pairs.first(where: { $0.key == key })?.value else { return nil }
        if value.null != nil { return nil }
        return value
    }

    func has(_ key: String) -> Bool { pairs.contains { $0.key == key } }

    /// Rejects keys that were never read.
    func finish() throws {
        if let unknown = pairs.first(where: { !consumed.contains($0.key) }) {
            throw PipelineConfigError.unknownKey(file: file, key: keyPath(unknown.key), known: consumed.sorted(),
                                                 line: (unknown.value.mark ?? mark).map { $0.line })
        }
    }

    func section(_ key: String) throws -> PipelineYAMLReader {
        try PipelineYAMLReader(node: node(key), file: file, path: keyPath(key))
    }

    // MARK: scalars

    func scalarString(_ node: Node) -> String? {
        if case .scalar(let s) = node { return s.string }
        return nil
    }

    /// A plain scalar as a whole number: decimal with an optional sign, or 0x/0o. Read here, not
    /// with Yams's `Node.int`, whose YAML 1.1 base-60 form (`1:20:30`) traps on overflow (found by
    /// `make fuzz`); `Int(_:radix:)` answers nil instead.
    static func integer(_ node: Node) -> Int? {
        guard case .scalar(let scalar) = node, scalar.style == .plain else { return nil }
        var text = scalar.string.replacingOccurrences(of: "_", with: "")
        var sign = 1
        if text.hasPrefix("-") { sign = -1; text.removeFirst() } else if text.hasPrefix("+") { text.removeFirst() }
        let lowered = text.lowercased()
        let magnitude: Int?
        if lowered.hasPrefix("0x") { magnitude = Int(lowered.dropFirst(2), radix: 16) }
        else if lowered.hasPrefix("0o") { magnitude = Int(lowered.dropFirst(2), radix: 8) }
        else if !text.isEmpty && text.allSatisfy(\.isASCII) { magnitude = Int(text, radix: 10) }
        else { magnitude = nil }
        return magnitude.map { sign * $0 }
    }

    /// A plain scalar as a number: a whole number, a decimal or exponent form, or YAML's `.inf` and
    /// `.nan` (refused later where a finite value is needed). No base-60 forms (see `integer`).
    static func number(_ node: Node) -> Double? {
        if let whole = integer(node) { return Double(whole) }
        guard case .scalar(let scalar) = node, scalar.style == .plain else { return nil }
        let text = scalar.string.replacingOccurrences(of: "_", with: "")
        switch text.lowercased() {
        case ".inf", "+.inf": return .infinity
        case "-.inf": return -.infinity
        case ".nan": return .nan
        default: return Double(text)
        }
    }

    func int(_ key: String, default fallback: Int, minimum: Int = 1) throws -> Int {
        guard let n = node(key) else { return fallback }
        return try intValue(n, key: key, minimum: minimum)
    }

    func intValue(_ n: Node, key: String, minimum: Int) throws -> Int {
        guard let value = Self.integer(n) else { throw error(key, "must be a whole number, got \(Self.describe(n))", node: n) }
        guard value >= minimum else { throw error(key, "must be at least \(minimum), got \(value)", node: n) }
        return value
    }

    func double(_ key: String, default fallback: Double, range: ClosedRange<Double>? = nil) throws -> Double {
        guard let n = node(key) else { return fallback }
        return try doubleValue(n, key: key, range: range)
    }

    func doubleValue(_ n: Node, key: String, range: ClosedRange<Double>? = nil) throws -> Double {
        // YAML 1.1 reads `1e-5` (no dot, unsigned exponent) as a string; accept it as people write it.
        guard let value = Self.number(n) ?? scalarString(n).flatMap(Double.init), value.isFinite else {
            throw error(key, "must be a number, got \(Self.describe(n))", node: n)
        }
        if let range, !range.contains(value) {
            throw error(key, "must be in \(range.lowerBound)...\(range.upperBound), got \(value)", node: n)
        }
        return value
    }

    func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard let n = node(key) else { return fallback }
        guard let value = n.bool else { throw error(key, "must be true or false, got \(Self.describe(n))", node: n) }
        return value
    }

    func string(_ key: String) throws -> String? {
        guard let n = node(key) else { return nil }
        guard let text = scalarString(n) else { throw error(key, "must be a word, got \(Self.describe(n))", node: n) }
        return text
    }

    func choice<E: RawRepresentable & CaseIterable>(_ key: String, default fallback: E) throws -> E where E.RawValue == String {
        guard let n = node(key) else { return fallback }
        guard let text = scalarString(n), let value = E(rawValue: text.lowercased()) else {
            let allowed = E.allCases.map(\.rawValue).joined(separator: ", ")
            throw error(key, "must be one of \(allowed), got \(Self.describe(n))", node: n)
        }
        return value
    }

    // MARK: lists

    func list(_ key: String) throws -> [Node]? {
        guard let n = node(key) else { return nil }
        guard case .sequence(let items) = n else { throw error(key, "must be a list, got \(Self.describe(n))", node: n) }
        return Array(items)
    }

    func ints(_ key: String, count: Int? = nil, minimum: Int = 1) throws -> [Int]? {
        guard let items = try list(key) else { return nil }
        if let count, items.count != count { throw error(key, "must list \(count) whole numbers, got \(items.count)") }
        return try items.map { try intValue($0, key: key, minimum: minimum) }
    }

    func doubles(_ key: String, count: Int? = nil) throws -> [Double]? {
        guard let items = try list(key) else { return nil }
        if let count, items.count != count { throw error(key, "must list \(count) numbers, got \(items.count)") }
        return try items.map { try doubleValue($0, key: key) }
    }

    func strings(_ key: String) throws -> [String]? {
        guard let items = try list(key) else { return nil }
        return try items.map { item in
            guard let text = scalarString(item) else { throw error(key, "must be a list of words, got \(Self.describe(item))", node: item) }
            return text
        }
    }

    /// A `[low, high]` pair with low <= high.
    func range(_ key: String, default fallback: ClosedRange<Double>) throws -> ClosedRange<Double> {
        guard let values = try doubles(key, count: 2) else { return fallback }
        guard values[0] <= values[1] else { throw error(key, "must be [low, high] with low <= high, got \(values)") }
        return values[0]...values[1]
    }

    /// `auto` (nil) or a list of whole numbers.
    func autoOrInts(_ key: String, count: Int) throws -> [Int]?? {
        guard let n = node(key) else { return .none }
        if scalarString(n)?.lowercased() == "auto" { return .some(nil) }
        guard case .sequence(let items) = n, items.count == count else {
            throw error(key, "must be auto or a list of \(count) whole numbers, got \(Self.describe(n))", node: n)
        }
        return .some(try items.map { try intValue($0, key: key, minimum: 1) })
    }

    /// `auto` (nil) or a whole number.
    func autoOrInt(_ key: String) throws -> Int?? {
        guard let n = node(key) else { return .none }
        if scalarString(n)?.lowercased() == "auto" { return .some(nil) }
        guard Self.integer(n) != nil else { throw error(key, "must be auto or a whole number, got \(Self.describe(n))", node: n) }
        return .some(try intValue(n, key: key, minimum: 1))
    }

    /// A nested mapping as a JSON object (numbers as NSNumber, as JSONSerialization gives them),
    /// for settings another module checks (the model's own config).
    func jsonObject(_ key: String) throws -> [String: Any] {
        guard let n = node(key) else { return [:] }
        guard case .mapping = n else { throw error(key, "must be a mapping, got \(Self.describe(n))", node: n) }
        let plain = Self.plainValue(n)
        let data = try JSONSerialization.data(withJSONObject: plain)
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    static func plainValue(_ node: Node) -> Any {
        switch node {
        case .mapping(let m):
            var out: [String: Any] = [:]
            for (k, v) in m { out[k.string ?? "?"] = plainValue(v) }
            return out
        case .sequence(let s): return s.map(plainValue)
        case .scalar(let s):
            if node.null != nil { return NSNull() }
            if let b = node.bool { return b }
            if let i = integer(node) { return i }
            if s.style == .plain, let d = number(node) { return d }
            return s.string
        }
    }
}
