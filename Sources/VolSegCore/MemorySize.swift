import Foundation

/// A memory size as users write it: a byte count (`8589934592`), or a number with a unit, binary
/// (KiB, MiB, GiB, TiB: powers of 1024) or decimal (KB, MB, GB, TB: powers of 1000), e.g. `6GiB`,
/// `1536MiB`, `1.5 GB`. Units are case-insensitive; a space before the unit is allowed.
public struct MemorySize: Equatable, Comparable, Sendable, CustomStringConvertible {
    public let bytes: Int

    public init(bytes: Int) { self.bytes = bytes }

    static let units: [String: Double] = [
        "b": 1,
        "kib": 1024, "mib": 1024 * 1024, "gib": 1024 * 1024 * 1024, "tib": 1024 * 1024 * 1024 * 1024,
        "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
    ]

    /// Parses `text`; anything else is a `MemorySizeError` that quotes it.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let numberEnd = trimmed.firstIndex { !($0.isASCII && ($0.isNumber || $0 == ".")) } ?? trimmed.endIndex
        let numberText = String(trimmed[..<numberEnd])
        let unitText = trimmed[numberEnd...].trimmingCharacters(in: .whitespaces).lowercased()
        guard !numberText.isEmpty, numberText.filter({ $0 == "." }).count <= 1, numberText != ".",
              let number = Double(numberText), let scale = MemorySize.units[unitText.isEmpty ? "b" : unitText] else {
            throw MemorySizeError.notASize(text: text)
        }
        if unitText.isEmpty || unitText == "b", numberText.contains(".") {
            throw MemorySizeError.fractionalBytes(text: text)
        }
        let value = (number * scale).rounded(.down)
        guard value >= 1 else { throw MemorySizeError.belowOneByte(text: text) }
        guard value < Double(Int.max / 2) else { throw MemorySizeError.tooLarge(text: text) }
        bytes = Int(value)
    }

    public static func < (a: MemorySize, b: MemorySize) -> Bool { a.bytes < b.bytes }

    /// Binary units with two decimals where needed: "8 GiB", "1.77 GiB", "512 MiB".
    public var description: String { MemorySize.format(bytes) }

    /// `1.25 GiB`, `312.40 MiB`: the short form of progress lines and reports.
    public static func format(_ bytes: Int) -> String {
        let steps = [(1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
        for (size, unit) in steps where bytes >= size {
            let value = Double(bytes) / Double(size)
            let text = value == value.rounded() ? String(Int(value)) : String(format: "%.2f", value)
            return "\(text) \(unit)"
        }
        return "\(bytes) B"
    }

    /// Exact bytes beside GiB where a person must act on the number (a budget, a minimum):
    /// `2147483648 bytes (2.00 GiB)`.
    public static func describe(_ bytes: Int) -> String {
        "\(bytes) bytes (\(String(format: "%.2f", Double(bytes) / 1_073_741_824)) GiB)"
    }
}

/// A memory size that could not be read; the message quotes the value.
public enum MemorySizeError: Error, Equatable, CustomStringConvertible {
    /// Neither a byte count nor a number with a known unit.
    case notASize(text: String)
    /// A fraction of a byte (`1.5`, `0.5B`).
    case fractionalBytes(text: String)
    case belowOneByte(text: String)
    case tooLarge(text: String)

    /// The value as the user wrote it.
    public var text: String {
        switch self {
        case .notASize(let t), .fractionalBytes(let t), .belowOneByte(let t), .tooLarge(let t): return t
        }
    }

    public var problem: String {
        switch self {
        case .notASize: return "expected bytes or a number with a unit (KiB, MiB, GiB, TiB, KB, MB, GB, TB), e.g. 8GiB or 1536MiB"
        case .fractionalBytes: return "a byte count must be a whole number"
        case .belowOneByte: return "must be at least 1 byte"
        case .tooLarge: return "is too large"
        }
    }

    public var description: String { "invalid memory size '\(text)': \(problem)" }
}
