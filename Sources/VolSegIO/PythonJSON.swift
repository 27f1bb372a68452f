import Foundation

/// A JSON value written the way Python's `json.dump(obj, f, sort_keys=True, indent=4)` writes it,
/// which is how nnU-Net writes summary.json: keys sorted by code point, four-space indentation,
/// `": "` and `","` separators, floats in Python's `repr` (shortest round trip, `81900.0` for a
/// whole float, exponents below 1e-4 and from 1e16), integers bare, NaN and infinities as the bare
/// tokens `NaN`, `Infinity`, `-Infinity`, non-ASCII escaped as `\uXXXX` (ensure_ascii), no trailing
/// newline. So a file can be compared with nnU-Net's byte for byte.
public indirect enum PythonJSON: Equatable, Sendable {
    case object([String: PythonJSON])
    case array([PythonJSON])
    case string(String)
    case integer(Int)
    case float(Double)
    case bool(Bool)
    case null

    public func text(indent: Int = 4) -> String {
        var out = ""
        write(into: &out, level: 0, indent: indent)
        return out
    }

    func write(into out: inout String, level: Int, indent: Int) {
        let inner = String(repeating: " ", count: (level + 1) * indent)
        let outer = String(repeating: " ", count: level * indent)
        switch self {
        case .object(let entries):
            if entries.isEmpty { out += "{}"; return }
            out += "{\n"
            // Python sorts str keys by code point, which is Swift's unicode-scalar order.
            let keys = entries.keys.sorted { Array($0.unicodeScalars.map(\.value)).lexicographicallyPrecedes($1.unicodeScalars.map(\.value)) }
            for (i, key) in keys.enumerated() {
                out += inner + Self.quoted(key) + ": "
                entries[key]!.write(into: &out, level: level + 1, indent: indent)
                out += i + 1 < keys.count ? ",\n" : "\n"
            }
            out += outer + "}"
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            out += "[\n"
            for (i, item) in items.enumerated() {
                out += inner
                item.write(into: &out, level: level + 1, indent: indent)
                out += i + 1 < items.count ? ",\n" : "\n"
            }
            out += outer + "]"
        case .string(let text): out += Self.quoted(text)
        case .integer(let value): out += String(value)
        case .float(let value): out += Self.pythonRepr(value)
        case .bool(let value): out += value ? "true" : "false"
        case .null: out += "null"
        }
    }

    /// Python's `float.__repr__`: the shortest digits that read back to the same double (Swift's
    /// `description` finds the same digits), laid out as Python lays them out.
    public static func pythonRepr(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "Infinity" : "-Infinity" }
        if value == 0 { return value.sign == .minus ? "-0.0" : "0.0" }
        // Swift gives the shortest round-trip digits; take them apart into digits and exponent.
        var text = "\(abs(value))"
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...])!
            text = String(text[..<e])
        }
        var digits = text.replacingOccurrences(of: ".", with: "")
        let point = (text.firstIndex(of: ".").map { text.distance(from: text.startIndex, to: $0) } ?? text.count) + exponent
        // Normalise: strip leading zeros (moving the point) and trailing zeros.
        var decimalPoint = point
        while digits.count > 1 && digits.hasPrefix("0") { digits.removeFirst(); decimalPoint -= 1 }
        while digits.count > 1 && digits.hasSuffix("0") { digits.removeLast() }
        let sign = value < 0 ? "-" : ""
        // repr uses scientific notation when the decimal exponent is < -4 or >= 16.
        let scientific = decimalPoint - 1
        if scientific < -4 || scientific >= 16 {
            let mantissa = digits.count > 1 ? "\(digits.first!).\(digits.dropFirst())" : String(digits)
            let e = scientific < 0 ? "-" + String(format: "%02d", -scientific) : "+" + String(format: "%02d", scientific)
            return sign + mantissa + "e" + e
        }
        if decimalPoint <= 0 {
            return sign + "0." + String(repeating: "0", count: -decimalPoint) + digits
        }
        if decimalPoint >= digits.count {
            return sign + digits + String(repeating: "0", count: decimalPoint - digits.count) + ".0"
        }
        let index = digits.index(digits.startIndex, offsetBy: decimalPoint)
        return sign + digits[..<index] + "." + digits[index...]
    }

    /// A Python `json` string literal with ensure_ascii.
    public static func quoted(_ text: String) -> String { JSONText.string(text, asciiOnly: true) }
}
