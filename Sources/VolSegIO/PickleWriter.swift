import Foundation

/// Writes plain Python data (dicts with string keys, lists, tuples, str, int, float, bool, None)
/// as a protocol-2 pickle, which every Python 3 `pickle.load` reads. nnU-Net stores a case's
/// properties beside its probabilities this way (`CASE.pkl`); nothing callable is ever written.
public enum PickleWriter {
    public indirect enum Value: Equatable, Sendable {
        case none
        case bool(Bool)
        case int(Int)
        case float(Double)
        case string(String)
        case list([Value])
        case tuple([Value])
        /// Keys in the given order (Python dicts keep insertion order).
        case dict([(String, Value)])

        public static func == (a: Value, b: Value) -> Bool {
            switch (a, b) {
            case (.none, .none): return true
            case (.bool(let x), .bool(let y)): return x == y
            case (.int(let x), .int(let y)): return x == y
            case (.float(let x), .float(let y)): return x == y
            case (.string(let x), .string(let y)): return x == y
            case (.list(let x), .list(let y)), (.tuple(let x), .tuple(let y)): return x == y
            case (.dict(let x), .dict(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
            default: return false
            }
        }
    }

    public static func encode(_ value: Value) -> [UInt8] {
        var out: [UInt8] = [0x80, 2]   // PROTO 2
        append(value, to: &out)
        out.append(0x2E)               // STOP
        return out
    }

    private static func append(_ value: Value, to out: inout [UInt8]) {
        switch value {
        case .none: out.append(0x4E)                       // NONE
        case .bool(let flag): out.append(flag ? 0x88 : 0x89) // NEWTRUE / NEWFALSE
        case .int(let number):
            if let small = Int32(exactly: number) {
                out.append(0x4A)                           // BININT, 4 bytes little-endian
                withUnsafeBytes(of: small.littleEndian) { out.append(contentsOf: $0) }
            } else {
                out.append(0x8A)                           // LONG1: length byte, two's complement
                out.append(8)
                withUnsafeBytes(of: Int64(number).littleEndian) { out.append(contentsOf: $0) }
            }
        case .float(let number):
            out.append(0x47)                               // BINFLOAT, big-endian double
            withUnsafeBytes(of: number.bitPattern.bigEndian) { out.append(contentsOf: $0) }
        case .string(let text):
            let bytes = Array(text.utf8)
            out.append(0x58)                               // BINUNICODE, 4-byte length
            withUnsafeBytes(of: UInt32(bytes.count).littleEndian) { out.append(contentsOf: $0) }
            out.append(contentsOf: bytes)
        case .list(let items):
            out.append(0x5D)                               // EMPTY_LIST
            if !items.isEmpty {
                out.append(0x28)                           // MARK
                for item in items { append(item, to: &out) }
                out.append(0x65)                           // APPENDS
            }
        case .tuple(let items):
            out.append(0x28)                               // MARK
            for item in items { append(item, to: &out) }
            out.append(0x74)                               // TUPLE
        case .dict(let entries):
            out.append(0x7D)                               // EMPTY_DICT
            if !entries.isEmpty {
                out.append(0x28)                           // MARK
                for (key, item) in entries {
                    append(.string(key), to: &out)
                    append(item, to: &out)
                }
                out.append(0x75)                           // SETITEMS
            }
        }
    }
}
