import CZlib
import Foundation

/// Reads the arrays of a numpy `.npz` (zip, entries stored or deflated, zip64 sizes as numpy's
/// `force_zip64` writes them) or `.npy` file, for comparing against reference arrays that numpy
/// wrote. Values come back as Double whatever the dtype ('<f4', '<f8', '<f2', '|i1', '|u1', '|b1',
/// '<i8'), in C order.
public struct NumpyArray {
    public let shape: [Int]
    public let values: [Double]
}

public enum NumpyArchive {
    public enum Failure: Error, CustomStringConvertible {
        case bad(String)
        public var description: String { switch self { case .bad(let reason): return reason } }
    }

    public static func read(_ url: URL) throws -> [String: NumpyArray] {
        let data = try Data(contentsOf: url)
        if url.pathExtension == "npy" { return [url.deletingPathExtension().lastPathComponent: try parseNPY([UInt8](data))] }
        let bytes = [UInt8](data)
        func u16(_ o: Int) -> Int { Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        func u64(_ o: Int) -> Int { u32(o) | u32(o + 4) << 32 }
        guard let end = stride(from: bytes.count - 22, through: max(0, bytes.count - 65_557), by: -1)
            .first(where: { u32($0) == 0x0605_4b50 }) else { throw Failure.bad("\(url.path): no end of central directory") }
        var entries = u16(end + 10), directory = u32(end + 16)
        if directory == 0xFFFF_FFFF || entries == 0xFFFF, end >= 20, u32(end - 20) == 0x0706_4b50 {
            let record = u64(end - 20 + 8)
            entries = u64(record + 32)
            directory = u64(record + 48)
        }
        var result: [String: NumpyArray] = [:]
        var p = directory
        for _ in 0..<entries {
            guard u32(p) == 0x0201_4b50 else { throw Failure.bad("\(url.path): bad central directory") }
            let method = u16(p + 10)
            var compressed = u32(p + 20), uncompressed = u32(p + 24)
            let nameLength = u16(p + 28), extraLength = u16(p + 30), commentLength = u16(p + 32)
            var local = u32(p + 42)
            let name = String(decoding: bytes[(p + 46)..<(p + 46 + nameLength)], as: UTF8.self)
            var e = p + 46 + nameLength
            while e < p + 46 + nameLength + extraLength {
                let id = u16(e), size = u16(e + 2)
                if id == 1 {
                    var q = e + 4
                    if uncompressed == 0xFFFF_FFFF { uncompressed = u64(q); q += 8 }
                    if compressed == 0xFFFF_FFFF { compressed = u64(q); q += 8 }
                    if local == 0xFFFF_FFFF { local = u64(q) }
                }
                e += 4 + size
            }
            let start = local + 30 + u16(local + 26) + u16(local + 28)
            let raw = Array(bytes[start..<(start + compressed)])
            let payload = method == 0 ? raw : try inflate(raw, expected: uncompressed)
            result[name.hasSuffix(".npy") ? String(name.dropLast(4)) : name] = try parseNPY(payload)
            p += 46 + nameLength + extraLength + commentLength
        }
        return result
    }

    static func inflate(_ input: [UInt8], expected: Int) throws -> [UInt8] {
        var output = [UInt8](repeating: 0, count: expected)
        var stream = z_stream()
        guard inflateInit2_(&stream, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { throw Failure.bad("inflateInit") }
        defer { inflateEnd(&stream) }
        let code: Int32 = input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
                stream.avail_in = uInt(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = uInt(target.count)
                return CZlib.inflate(&stream, Z_FINISH)
            }
        }
        guard code == Z_STREAM_END, Int(stream.total_out) == expected else { throw Failure.bad("inflate failed (\(code))") }
        return output
    }

    static func parseNPY(_ bytes: [UInt8]) throws -> NumpyArray {
        guard bytes.count > 10, bytes[0] == 0x93, String(decoding: bytes[1..<6], as: UTF8.self) == "NUMPY" else {
            throw Failure.bad("not an .npy array")
        }
        let version = bytes[6]
        let headerLength = version == 1 ? Int(bytes[8]) | Int(bytes[9]) << 8
            : Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        let headerStart = version == 1 ? 10 : 12
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        guard let descr = header.range(of: "'descr': '").map({ header[$0.upperBound...].prefix { $0 != "'" } }),
              let shapeText = header.range(of: "'shape': (").map({ header[$0.upperBound...].prefix { $0 != ")" } }),
              !header.contains("'fortran_order': True") else { throw Failure.bad("unsupported .npy header \(header)") }
        let shape = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let count = shape.reduce(1, *)
        let data = Array(bytes[(headerStart + headerLength)...])
        func element<T>(_ type: T.Type, _ convert: (T) -> Double) -> [Double] {
            data.withUnsafeBytes { raw in (0..<count).map { convert(raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) } }
        }
        let values: [Double]
        switch String(descr) {
        case "<f4": values = element(Float.self) { Double($0) }
        case "<f8": values = element(Double.self) { $0 }
        case "<f2": values = element(UInt16.self) { Double(Float(Float16(bitPattern: $0))) }
        case "|i1": values = element(Int8.self) { Double($0) }
        case "|u1", "|b1": values = element(UInt8.self) { Double($0) }
        case "<i8": values = element(Int64.self) { Double($0) }
        case "<i4": values = element(Int32.self) { Double($0) }
        default: throw Failure.bad("unsupported dtype \(descr)")
        }
        return NumpyArray(shape: shape, values: values)
    }
}
