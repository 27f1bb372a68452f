import Foundation

/// The arguments of pickle's text opcodes (protocol 0: INT, LONG, FLOAT, STRING, UNICODE) and
/// its integer encodings, parsed as CPython parses them.
enum PickleText {
    /// A decimal integer of INT or LONG ("123", "-7", "1180591620717411303424L").
    static func integer(_ text: String, limits: PickleLimits) throws -> PickleValue {
        var digits = Substring(text)
        if digits.hasSuffix("L") { digits = digits.dropLast() }
        var negative = false
        if let sign = digits.first, sign == "-" || sign == "+" {
            negative = sign == "-"
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
            throw PickleFault.malformed("\"\(text.prefix(40))\" is not an integer")
        }
        guard digits.count <= limits.integerDigits else {
            throw PickleFault.limit("digits of an integer", limits.integerDigits)
        }
        if let value = Int64(text.hasSuffix("L") ? String(text.dropLast()) : text) { return .int(value) }
        let trimmed = digits.drop { $0 == "0" }
        return .bigInt((negative ? "-" : "") + trimmed)
    }

    /// A little-endian two's-complement integer (LONG1, LONG4, and BININT's widths).
    static func integer(littleEndian bytes: UnsafeRawBufferPointer) -> PickleValue {
        guard !bytes.isEmpty else { return .int(0) }
        let negative = bytes[bytes.count - 1] & 0x80 != 0
        // Drop redundant sign bytes; what fits in 8 bytes is an Int64.
        var length = bytes.count
        while length > 1, bytes[length - 1] == (negative ? 0xFF : 0), (bytes[length - 2] & 0x80 != 0) == negative {
            length -= 1
        }
        if length <= 8 {
            var value: UInt64 = negative ? .max : 0
            for i in 0..<length {
                value &= ~(UInt64(0xFF) << (8 * i))
                value |= UInt64(bytes[i]) << (8 * i)
            }
            return .int(Int64(bitPattern: value))
        }
        // Magnitude in 32-bit limbs, least significant first, negated when negative.
        var limbs = [UInt32](repeating: 0, count: (length + 3) / 4)
        for i in 0..<length { limbs[i / 4] |= UInt32(bytes[i]) << (8 * (i % 4)) }
        if negative {
            let padding = limbs.count * 4 - length
            if padding > 0 { limbs[limbs.count - 1] |= UInt32.max << (32 - 8 * UInt32(padding)) }
            var carry: UInt64 = 1
            for i in limbs.indices {
                let sum = UInt64(~limbs[i]) + carry
                limbs[i] = UInt32(truncatingIfNeeded: sum)
                carry = sum >> 32
            }
        }
        // Repeated division by 10^9 gives nine decimal digits at a time.
        var chunks: [UInt32] = []
        while limbs.contains(where: { $0 != 0 }) {
            var remainder: UInt64 = 0
            for i in stride(from: limbs.count - 1, through: 0, by: -1) {
                let current = remainder << 32 | UInt64(limbs[i])
                limbs[i] = UInt32(current / 1_000_000_000)
                remainder = current % 1_000_000_000
            }
            chunks.append(UInt32(remainder))
            while limbs.last == 0 { limbs.removeLast() }
        }
        var text = negative ? "-" : ""
        for (i, chunk) in chunks.reversed().enumerated() {
            let digits = String(chunk)
            text += i == 0 ? digits : String(repeating: "0", count: 9 - digits.count) + digits
        }
        return .bigInt(text)
    }

    /// FLOAT's text, which Python writes with repr ("0.1", "1e-300", "inf", "nan").
    static func float(_ text: String) throws -> Double {
        guard let value = Double(text.trimmingCharacters(in: .whitespaces)) else {
            throw PickleFault.malformed("\"\(text.prefix(40))\" is not a float")
        }
        return value
    }

    /// STRING's argument: a Python 2 str literal in quotes, decoded with `codecs.escape_decode`.
    static func quotedString(_ line: [UInt8]) throws -> [UInt8] {
        guard line.count >= 2, let quote = line.first, quote == 0x27 || quote == 0x22, line.last == quote else {
            throw PickleFault.malformed("the STRING opcode's argument is not in quotes")
        }
        let body = line[1..<line.count - 1]
        var out: [UInt8] = []
        out.reserveCapacity(body.count)
        var i = body.startIndex
        func hex(_ byte: UInt8) -> UInt8? {
            switch byte {
            case 0x30...0x39: return byte - 0x30
            case 0x61...0x66: return byte - 0x61 + 10
            case 0x41...0x46: return byte - 0x41 + 10
            default: return nil
            }
        }
        while i < body.endIndex {
            let byte = body[i]
            i += 1
            guard byte == 0x5C, i < body.endIndex else { out.append(byte); continue }
            let escape = body[i]
            i += 1
            switch escape {
            case 0x0A: break                       // backslash-newline: a line continuation
            case 0x5C, 0x27, 0x22: out.append(escape)
            case 0x61: out.append(0x07)            // \a
            case 0x62: out.append(0x08)            // \b
            case 0x66: out.append(0x0C)            // \f
            case 0x6E: out.append(0x0A)            // \n
            case 0x72: out.append(0x0D)            // \r
            case 0x74: out.append(0x09)            // \t
            case 0x76: out.append(0x0B)            // \v
            case 0x78:                             // \xhh
                guard i + 1 < body.endIndex, let high = hex(body[i]), let low = hex(body[i + 1]) else {
                    throw PickleFault.malformed("a \\x escape in STRING needs two hex digits")
                }
                out.append(high << 4 | low)
                i += 2
            case 0x30...0x37:                      // \o, \oo, \ooo
                var value = Int(escape - 0x30)
                var taken = 1
                while taken < 3, i < body.endIndex, (0x30...0x37).contains(body[i]) {
                    value = value * 8 + Int(body[i] - 0x30)
                    i += 1
                    taken += 1
                }
                out.append(UInt8(truncatingIfNeeded: value))
            default: out.append(0x5C); out.append(escape)
            }
        }
        return out
    }

    /// UNICODE's argument in Python's raw-unicode-escape: latin-1 bytes with \uXXXX and
    /// \UXXXXXXXX escapes. A surrogate, which Swift's String cannot hold, becomes U+FFFD.
    static func rawUnicodeEscape(_ line: [UInt8]) throws -> String {
        var scalars = String.UnicodeScalarView()
        var i = 0
        while i < line.count {
            let byte = line[i]
            if byte == 0x5C, i + 1 < line.count, line[i + 1] == 0x75 || line[i + 1] == 0x55 {
                let width = line[i + 1] == 0x75 ? 4 : 8
                guard i + 2 + width <= line.count,
                      let code = UInt32(String(decoding: line[i + 2..<i + 2 + width], as: UTF8.self), radix: 16) else {
                    throw PickleFault.malformed("a truncated \\u escape in UNICODE")
                }
                guard code <= 0x10FFFF else { throw PickleFault.malformed("\\U\(String(code, radix: 16)) is not a code point") }
                scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
                i += 2 + width
            } else {
                scalars.append(Unicode.Scalar(byte))
                i += 1
            }
        }
        return String(scalars)
    }
}
