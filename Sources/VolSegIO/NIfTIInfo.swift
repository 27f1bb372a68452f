import Foundation

/// What `volseg info FILE` prints: a header summary and the finite-voxel statistics. The JSON has
/// exactly the fields of the NIfTI conformance check (nibabel's view of the same file).
public struct NIfTIInfo: Sendable {
    public var path: String
    public var header: NIfTIHeader
    public var statistics: NIfTIStatistics
    /// Geometry warnings (a sheared affine); the JSON keeps the conformance fields only, so
    /// `volseg info --json` prints these on stderr.
    public var warnings: [NIfTIWarning]

    public init(volume: NIfTIVolume) {
        path = volume.path
        header = volume.header
        statistics = volume.statistics
        warnings = volume.warnings
    }

    public static func read(_ url: URL) throws -> NIfTIInfo {
        NIfTIInfo(volume: try NIfTIReader.read(url))
    }

    /// One JSON object: nifti_version, shape, datatype, qform_code, sform_code, pixdim (first 4),
    /// affine (nested row-major 4x4), scl_slope, scl_inter, sum, min, max, nonfinite_count.
    public var json: String {
        let affine = "[" + header.affine.rows.map { "[" + $0.map(JSONText.format).joined(separator: ", ") + "]" }
            .joined(separator: ", ") + "]"
        let fields: [(String, String)] = [
            ("nifti_version", String(header.version)),
            ("shape", "[" + header.dims.map(String.init).joined(separator: ", ") + "]"),
            ("datatype", String(header.datatype)),
            ("qform_code", String(header.qformCode)),
            ("sform_code", String(header.sformCode)),
            ("pixdim", "[" + header.pixdim[0..<4].map(JSONText.format).joined(separator: ", ") + "]"),
            ("affine", affine),
            ("scl_slope", JSONText.format(header.effectiveSlope)),
            ("scl_inter", JSONText.format(header.effectiveIntercept)),
            ("sum", JSONText.format(statistics.sum)),
            ("min", statistics.min.map { JSONText.format(Double($0)) } ?? "null"),
            ("max", statistics.max.map { JSONText.format(Double($0)) } ?? "null"),
            ("nonfinite_count", String(statistics.nonfiniteCount)),
        ]
        return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
    }

    /// A few lines for people.
    public var text: String {
        let spacing = header.spacing.map { String(format: "%.4g", $0) }.joined(separator: " x ")
        let axes = Orientation(affine: header.affine).axisCodes.joined()
        var lines = [
            "\(path)",
            "  NIfTI-\(header.version), datatype \(header.datatype) (\(NIfTIDatatype.name(of: header.datatype))), shape \(header.dims)",
            "  voxel size \(spacing) mm, axis codes \(axes), qform_code \(header.qformCode), sform_code \(header.sformCode)",
            "  scaling slope \(header.effectiveSlope) intercept \(header.effectiveIntercept)",
        ]
        if let low = statistics.min, let high = statistics.max {
            lines.append("  values min \(low) max \(high) sum \(statistics.sum) over \(statistics.finiteCount) finite voxels")
        } else {
            lines.append("  no finite voxel")
        }
        if statistics.nonfiniteCount > 0 {
            lines.append("  warning: \(statistics.nonfiniteCount) NaN or infinite voxels")
        }
        lines += warnings.map { "  \($0)" }
        if !header.description.isEmpty { lines.append("  description: \(header.description)") }
        lines.append("  affine:")
        lines += header.affine.rows.map { "    " + $0.map { String(format: "%10.4f", $0) }.joined(separator: " ") }
        return lines.joined(separator: "\n")
    }
}

/// JSON text written by hand (fixed key order): numbers (integers without a fraction, others in
/// Swift's shortest round-trip form) and escaped string literals.
public enum JSONText {
    static func format(_ value: Double) -> String {
        if !value.isFinite { return "null" }
        if value == value.rounded(), abs(value) < 1e15 { return String(format: "%.1f", value) }
        return String(value)
    }

    /// A JSON string literal, with the escapes JSON requires; `asciiOnly` also escapes every
    /// non-ASCII scalar (astral ones as surrogate pairs), as Python's json module does by default.
    public static func string(_ text: String, asciiOnly: Bool = false) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 || (asciiOnly && scalar.value >= 0x7F && scalar.value <= 0xFFFF) {
                    out += String(format: "\\u%04x", scalar.value)
                } else if asciiOnly && scalar.value > 0xFFFF {
                    let v = scalar.value - 0x10000
                    out += String(format: "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF))
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
