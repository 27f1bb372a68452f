import Foundation

/// A value read from a Python pickle by VolSeg's restricted unpickler: Python's data types, the
/// tensors and numpy arrays of a checkpoint, and inert names for anything else it mentions.
///
/// Numpy scalars (nnU-Net logs np.float64 values) arrive as plain numbers and numpy arrays as
/// tensors. A Python `set` or `frozenset` is `.set`; `bytearray` is `.bytes`. Dict keys keep the
/// file's order, and a key written twice keeps its first place and last value, as in Python.
/// Equality is structural, with floats compared by bit pattern (so a NaN read equals itself).
public indirect enum PickleValue: Hashable, CustomStringConvertible, Sendable {
    case none
    case bool(Bool)
    case int(Int64)
    /// An integer outside Int64, in decimal ("-1180591620717411303424").
    case bigInt(String)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case list([PickleValue])
    case tuple([PickleValue])
    case set([PickleValue])
    case dict([(key: PickleValue, value: PickleValue)])
    case tensor(TorchTensor)
    /// `torch.device("cuda", 0)` as "cuda:0" (nnU-Net v2 keeps its training device in init_args).
    case device(String)
    /// A numpy dtype, as numpy writes it with its byte order ("<f8").
    case numpyDType(String)
    /// A class, function or constant the pickle names but does not call (`torch.float16`,
    /// `collections.Counter`): kept as its name, never imported or run.
    case global(module: String, name: String)

    // MARK: reading

    /// The value under a string key of a dict.
    public subscript(key: String) -> PickleValue? {
        guard case .dict(let entries) = self else { return nil }
        return entries.first { $0.key == .string(key) }?.value
    }

    /// The entries of a dict, nil for anything else.
    public var dictEntries: [(key: PickleValue, value: PickleValue)]? {
        if case .dict(let entries) = self { return entries }
        return nil
    }

    /// The items of a list or tuple.
    public var items: [PickleValue]? {
        switch self {
        case .list(let items), .tuple(let items): return items
        default: return nil
        }
    }

    public var string: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// An int (or a bool, which Python counts as one).
    public var int: Int64? {
        switch self {
        case .int(let value): return value
        case .bool(let flag): return flag ? 1 : 0
        default: return nil
        }
    }

    /// A float, or an int as a float (Python code mixes them, as in nnU-Net's learning rates).
    public var double: Double? {
        switch self {
        case .float(let value): return value
        case .int(let value): return Double(value)
        default: return nil
        }
    }

    public var bool: Bool? {
        if case .bool(let flag) = self { return flag }
        return nil
    }

    public var tensor: TorchTensor? {
        if case .tensor(let tensor) = self { return tensor }
        return nil
    }

    public var isNone: Bool { self == .none }

    // MARK: Hashable

    public static func == (a: PickleValue, b: PickleValue) -> Bool {
        switch (a, b) {
        case (.none, .none): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.bigInt(let x), .bigInt(let y)): return x == y
        case (.float(let x), .float(let y)): return x.bitPattern == y.bitPattern
        case (.string(let x), .string(let y)): return x == y
        case (.bytes(let x), .bytes(let y)): return x == y
        case (.list(let x), .list(let y)), (.tuple(let x), .tuple(let y)), (.set(let x), .set(let y)): return x == y
        case (.dict(let x), .dict(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case (.tensor(let x), .tensor(let y)): return x == y
        case (.device(let x), .device(let y)): return x == y
        case (.numpyDType(let x), .numpyDType(let y)): return x == y
        case (.global(let m1, let n1), .global(let m2, let n2)): return m1 == m2 && n1 == n2
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .none: hasher.combine(0)
        case .bool(let x): hasher.combine(1); hasher.combine(x)
        case .int(let x): hasher.combine(2); hasher.combine(x)
        case .bigInt(let x): hasher.combine(3); hasher.combine(x)
        case .float(let x): hasher.combine(4); hasher.combine(x.bitPattern)
        case .string(let x): hasher.combine(5); hasher.combine(x)
        case .bytes(let x): hasher.combine(6); hasher.combine(x)
        case .list(let x): hasher.combine(7); hasher.combine(x)
        case .tuple(let x): hasher.combine(8); hasher.combine(x)
        case .set(let x): hasher.combine(9); hasher.combine(x)
        case .dict(let x):
            hasher.combine(10)
            hasher.combine(x.count)
            for entry in x { hasher.combine(entry.key); hasher.combine(entry.value) }
        case .tensor(let x): hasher.combine(11); hasher.combine(x)
        case .device(let x): hasher.combine(12); hasher.combine(x)
        case .numpyDType(let x): hasher.combine(13); hasher.combine(x)
        case .global(let module, let name): hasher.combine(14); hasher.combine(module); hasher.combine(name)
        }
    }

    // MARK: description

    /// Python-like text (`{'fold': 0, 'configuration': '3d_fullres'}`), for messages and `info`.
    public var description: String {
        var out = ""
        write(into: &out)
        return out
    }

    private func write(into out: inout String) {
        func join(_ items: [PickleValue], _ open: String, _ close: String) {
            out += open
            for (i, item) in items.enumerated() {
                if i > 0 { out += ", " }
                item.write(into: &out)
            }
            out += close
        }
        switch self {
        case .none: out += "None"
        case .bool(let x): out += x ? "True" : "False"
        case .int(let x): out += String(x)
        case .bigInt(let x): out += x
        case .float(let x): out += PythonJSON.pythonRepr(x).replacingOccurrences(of: "Infinity", with: "inf")
            .replacingOccurrences(of: "NaN", with: "nan")
        case .string(let x): out += "'" + x.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
            .replacingOccurrences(of: "\n", with: "\\n") + "'"
        case .bytes(let x): out += "b'" + x.map { (32..<127).contains($0) && $0 != 39 && $0 != 92
            ? String(UnicodeScalar($0)) : String(format: "\\x%02x", $0) }.joined() + "'"
        case .list(let x): join(x, "[", "]")
        case .tuple(let x): join(x, "(", x.count == 1 ? ",)" : ")")
        case .set(let x): x.isEmpty ? (out += "set()") : join(x, "{", "}")
        case .dict(let x):
            out += "{"
            for (i, entry) in x.enumerated() {
                if i > 0 { out += ", " }
                entry.key.write(into: &out)
                out += ": "
                entry.value.write(into: &out)
            }
            out += "}"
        case .tensor(let x): out += x.description
        case .device(let x): out += "device('\(x)')"
        case .numpyDType(let x): out += "dtype('\(x)')"
        case .global(let module, let name): out += "<global \(module).\(name)>"
        }
    }
}
