import CZlib
import Foundation

/// Checks a NIfTI header from its raw bytes before libnifti sees it and before any voxel memory is
/// allocated. libnifti refuses bad headers with a message on stderr only, and trusts dims when it
/// allocates; this check turns each problem into a named `NIfTIError` instead.
struct NIfTIHeaderCheck {
    let headerPath: String
    let dataPath: String
    let version: Int
    /// dim[0...7] as stored.
    let dim: [Int]
    let datatype: Int
    let voxOffset: Int
    /// pixdim[0] as stored (qfac), which libnifti does not keep.
    let pixdim0: Double
    let isCompressed: Bool
    /// The file's byte order differs from the machine's: voxels are swapped as they are read.
    let swapped: Bool

    /// The most voxels VolSeg will allocate for one file (2^32 Float32 values = 16 GiB): larger
    /// claims come from corrupt headers, not from scans.
    static let maximumVoxels = 1 << 32

    /// The expected voxel count and byte count of the data, after validation.
    var voxelCount: Int { dim[1...dim[0]].reduce(1, *) }

    static func check(_ path: String) throws -> NIfTIHeaderCheck {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else { throw NIfTIError.missingFile(path: path) }
        if isDirectory.boolValue { throw NIfTIError.notNIfTI(path: path, reason: "it is a folder") }
        let (headerPath, imagePathIfPair) = pairedPaths(path)
        guard fm.fileExists(atPath: headerPath) else { throw NIfTIError.missingFile(path: headerPath) }

        let bytes = try readPrefix(headerPath, count: 540)
        guard bytes.count >= 348 else {
            throw NIfTIError.notNIfTI(path: path, reason: "\(bytes.count) bytes, shorter than a NIfTI header (348)")
        }
        let sizeLE = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0, as: Int32.self) }
        let sizeBE = sizeLE.byteSwapped
        let version: Int, swapped: Bool
        switch (Int32(littleEndian: sizeLE), Int32(littleEndian: sizeBE)) {
        case (348, _): (version, swapped) = (1, false)
        case (_, 348): (version, swapped) = (1, true)
        case (540, _) where bytes.count >= 540: (version, swapped) = (2, false)
        case (_, 540) where bytes.count >= 540: (version, swapped) = (2, true)
        default:
            throw NIfTIError.notNIfTI(path: path, reason: "header size field is \(Int32(littleEndian: sizeLE)), not 348 or 540")
        }
        let reader = RawFields(bytes: bytes, swapped: swapped)
        let magic: [UInt8] = version == 1 ? Array(bytes[344..<348]) : Array(bytes[4..<8])
        let magicText = String(decoding: magic.prefix(3), as: UTF8.self)
        let singleFile = magicText == "n+1" || magicText == "n+2"
        // libnifti reads a .nii whose magic is wrong as ANALYZE 7.5 (no scaling, no orientation)
        // without a word; only a .hdr/.img pair may be ANALYZE.
        if imagePathIfPair == nil {
            let expected = version == 1 ? "n+1" : "n+2"
            guard magicText == expected, magic[3] == 0 else {
                throw NIfTIError.badMagic(path: path, found: escaped(magic), expected: expected)
            }
        }

        let dim: [Int], datatype: Int, rawVoxOffset: Double, pixdim: [Double], slope: Double, intercept: Double
        if version == 1 {
            dim = (0..<8).map { Int(reader.int16(40 + 2 * $0)) }
            datatype = Int(reader.int16(70))
            pixdim = (0..<8).map { Double(reader.float32(76 + 4 * $0)) }
            rawVoxOffset = Double(reader.float32(108))
            slope = Double(reader.float32(112)); intercept = Double(reader.float32(116))
        } else {
            dim = (0..<8).map { Int(truncatingIfNeeded: reader.int64(16 + 8 * $0)) }
            datatype = Int(reader.int16(12))
            pixdim = (0..<8).map { reader.float64(104 + 8 * $0) }
            rawVoxOffset = Double(reader.int64(168))
            slope = reader.float64(176); intercept = reader.float64(184)
        }
        let pixdim0 = pixdim[0]

        guard (1...7).contains(dim[0]) else {
            throw NIfTIError.invalidDimensions(path: path, reason: "dim[0] = \(dim[0]), must be 1...7")
        }
        for axis in 1...dim[0] where dim[axis] <= 0 {
            throw NIfTIError.invalidDimensions(path: path, reason: "dim[\(axis)] = \(dim[axis]), must be positive")
        }
        guard let bytesPerVoxel = NIfTIDatatype.bytesPerVoxel(datatype) else {
            throw NIfTIError.unsupportedDatatype(path: path, code: datatype)
        }
        var voxels = 1
        for axis in 1...dim[0] {
            let (product, overflow) = voxels.multipliedReportingOverflow(by: dim[axis])
            if overflow || product > maximumVoxels {
                throw NIfTIError.absurdSize(path: path, voxels: overflow ? Int.max : product,
                                            bytes: overflow ? Int.max : product &* bytesPerVoxel)
            }
            voxels = product
        }

        // libnifti turns a zero or non-finite voxel size into 1 mm without a word.
        for axis in 1...min(3, dim[0]) where !(pixdim[axis] > 0 && pixdim[axis].isFinite) {
            throw NIfTIError.invalidVoxelSize(path: path, axis: axis, value: pixdim[axis])
        }
        // nibabel's rule: a slope of 0 or NaN means "no scaling" (nibabel itself writes NaN);
        // an infinite slope, or a used slope with a non-finite intercept, is corrupt.
        if slope.isInfinite || (slope != 0 && slope.isFinite && !intercept.isFinite) {
            throw NIfTIError.invalidScaling(path: path, slope: slope, intercept: intercept)
        }

        let dataPath = singleFile ? headerPath : (imagePathIfPair ?? headerPath)
        let compressed = dataPath.hasSuffix(".gz")
        let headerEnd = version == 1 ? 348 : 540
        guard rawVoxOffset.isFinite, rawVoxOffset >= 0, rawVoxOffset < Double(Int.max / 2) else {
            throw NIfTIError.invalidVoxOffset(path: path, offset: rawVoxOffset, reason: "must be a finite byte offset, at least 0")
        }
        let dataOffset = Int(rawVoxOffset)
        if singleFile && dataOffset < headerEnd {
            throw NIfTIError.invalidVoxOffset(path: path, offset: rawVoxOffset,
                                              reason: "the voxels would start inside the \(headerEnd)-byte header")
        }
        let needed = dataOffset + voxels * bytesPerVoxel
        if !compressed {
            guard fm.fileExists(atPath: dataPath) else { throw NIfTIError.missingFile(path: dataPath) }
            let size = (try? fm.attributesOfItem(atPath: dataPath)[.size] as? Int) ?? 0
            if dataOffset > size {
                throw NIfTIError.invalidVoxOffset(path: path, offset: rawVoxOffset,
                                                  reason: "past the end of \(dataPath) (\(size) bytes)")
            }
            if size < needed {
                throw NIfTIError.truncatedData(path: dataPath, expectedBytes: needed, availableBytes: size)
            }
        }
        return NIfTIHeaderCheck(headerPath: headerPath, dataPath: dataPath, version: version, dim: dim,
                                datatype: datatype, voxOffset: dataOffset, pixdim0: pixdim0,
                                isCompressed: compressed, swapped: swapped)
    }

    /// Magic bytes as text a user can read: printable ASCII as is, the rest as \xNN.
    static func escaped(_ bytes: [UInt8]) -> String {
        bytes.map { (32..<127).contains($0) && $0 != 92 ? String(UnicodeScalar($0)) : String(format: "\\x%02x", $0) }.joined()
    }

    /// For a .hdr/.img pair (either name given), the header path and the image path.
    static func pairedPaths(_ path: String) -> (header: String, image: String?) {
        let gz = path.hasSuffix(".gz")
        let base = gz ? String(path.dropLast(3)) : path
        let suffix = gz ? ".gz" : ""
        if base.hasSuffix(".img") { return (String(base.dropLast(4)) + ".hdr" + suffix, path) }
        if base.hasSuffix(".hdr") { return (path, String(base.dropLast(4)) + ".img" + suffix) }
        return (path, nil)
    }

    /// Up to `count` bytes from the start of a file, through zlib so .gz files decompress (and
    /// plain files pass through unchanged).
    static func readPrefix(_ path: String, count: Int) throws -> [UInt8] {
        guard let file = gzopen(path, "rb") else {
            throw NIfTIError.notNIfTI(path: path, reason: "cannot be opened for reading")
        }
        defer { gzclose(file) }
        var buffer = [UInt8](repeating: 0, count: count)
        let got = buffer.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32(count)) }
        if got < 0 { throw NIfTIError.notNIfTI(path: path, reason: "compressed stream is corrupt") }
        return Array(buffer.prefix(Int(got)))
    }
}

/// Little helpers to read header fields in either byte order.
private struct RawFields {
    let bytes: [UInt8]
    let swapped: Bool

    func int16(_ offset: Int) -> Int16 {
        let v = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: Int16.self) }
        return swapped ? v.byteSwapped : v
    }
    func int64(_ offset: Int) -> Int64 {
        let v = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: Int64.self) }
        return swapped ? v.byteSwapped : v
    }
    func float32(_ offset: Int) -> Float {
        let v = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
        return Float(bitPattern: swapped ? v.byteSwapped : v)
    }
    func float64(_ offset: Int) -> Double {
        let v = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self) }
        return Double(bitPattern: swapped ? v.byteSwapped : v)
    }
}
