import Foundation

/// A `.npy` file as `np.save` writes it (format 1.0-3.0): little-endian float32 or float64 in C
/// order, which is all the reference scripts save. Anything else is refused by name rather than
/// misread.
public struct NumpyFile {
    public let shape: [Int]
    /// The values widened to Float64 (exact for float32).
    public let values: [Double]
    public let isFloat32: Bool

    public enum ReadError: Error, CustomStringConvertible {
        case notNumpy(URL)
        case unsupported(URL, String)

        public var description: String {
            switch self {
            case .notNumpy(let url): return "\(url.path) is not a .npy file"
            case .unsupported(let url, let header): return "\(url.path): only little-endian float32/float64 in C order, header \(header)"
            }
        }
    }

    public init(_ url: URL) throws {
        let bytes = [UInt8](try Data(contentsOf: url))
        guard bytes.count > 10, bytes[0] == 0x93, String(decoding: bytes[1..<6], as: UTF8.self) == "NUMPY" else {
            throw ReadError.notNumpy(url)
        }
        // Version 1 stores the header length in 2 bytes, versions 2 and 3 in 4.
        let major = bytes[6]
        let lengthBytes = major == 1 ? 2 : 4
        var headerLength = 0
        for i in 0..<lengthBytes { headerLength |= Int(bytes[8 + i]) << (8 * i) }
        let headerStart = 8 + lengthBytes, dataStart = headerStart + headerLength
        guard bytes.count >= dataStart else { throw ReadError.notNumpy(url) }
        let header = String(decoding: bytes[headerStart..<dataStart], as: UTF8.self)
        let compact = header.replacingOccurrences(of: " ", with: "")
        guard compact.contains("'fortran_order':False") else { throw ReadError.unsupported(url, header) }
        let float32: Bool
        if compact.contains("'descr':'<f4'") { float32 = true }
        else if compact.contains("'descr':'<f8'") { float32 = false }
        else { throw ReadError.unsupported(url, header) }
        guard let open = compact.range(of: "'shape':("), let close = compact[open.upperBound...].firstIndex(of: ")") else {
            throw ReadError.unsupported(url, header)
        }
        let shape = compact[open.upperBound..<close].split(separator: ",").compactMap { Int($0) }
        let count = shape.reduce(1, *), width = float32 ? 4 : 8
        guard bytes.count - dataStart == count * width else { throw ReadError.unsupported(url, header) }
        var values = [Double](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            let base = raw.baseAddress! + dataStart
            for i in 0..<count {
                if float32 {
                    values[i] = Double(Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))))
                } else {
                    values[i] = Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))
                }
            }
        }
        self.shape = shape
        self.values = values
        isFloat32 = float32
    }
}
