import Foundation

/// Everything that can be wrong with a NIfTI file or a write request. Each message names the file
/// and the problem, so a user running `volseg` on a folder of scans knows which scan to look at.
public enum NIfTIError: Error, Equatable, CustomStringConvertible {
    case missingFile(path: String)
    case notNIfTI(path: String, reason: String)
    case invalidDimensions(path: String, reason: String)
    case unsupportedDatatype(path: String, code: Int)
    case absurdSize(path: String, voxels: Int, bytes: Int)
    case truncatedData(path: String, expectedBytes: Int, availableBytes: Int?)
    case notThreeDimensional(path: String, shape: [Int])
    case shapeMismatch(path: String, shape: [Int], expected: [Int], reference: String)
    case invalidLabels(path: String, reason: String)
    case writeFailed(path: String, reason: String)

    public var path: String {
        switch self {
        case .missingFile(let p), .notNIfTI(let p, _), .invalidDimensions(let p, _),
             .unsupportedDatatype(let p, _), .absurdSize(let p, _, _), .truncatedData(let p, _, _),
             .notThreeDimensional(let p, _), .shapeMismatch(let p, _, _, _), .invalidLabels(let p, _),
             .writeFailed(let p, _):
            return p
        }
    }

    public var description: String {
        switch self {
        case .missingFile(let p):
            return "\(p): no such file"
        case .notNIfTI(let p, let reason):
            return "\(p): not a NIfTI file (\(reason))"
        case .invalidDimensions(let p, let reason):
            return "\(p): invalid NIfTI dimensions: \(reason)"
        case .unsupportedDatatype(let p, let code):
            return "\(p): unsupported NIfTI datatype \(code) (\(NIfTIDatatype.name(of: code))); "
                + "VolSeg reads integer and real scalar types"
        case .absurdSize(let p, let voxels, let bytes):
            return "\(p): header claims \(voxels) voxels (\(bytes) bytes), more than VolSeg will allocate"
        case .truncatedData(let p, let expected, let available):
            let got = available.map { "\($0) bytes present" } ?? "the data ends early"
            return "\(p): truncated voxel data: header needs \(expected) bytes, \(got)"
        case .notThreeDimensional(let p, let shape):
            return "\(p): a 3D volume is needed, the file holds shape \(shape)"
        case .shapeMismatch(let p, let shape, let expected, let reference):
            return "\(p): shape \(shape) differs from \(expected) of \(reference)"
        case .invalidLabels(let p, let reason):
            return "\(p): cannot write label map: \(reason)"
        case .writeFailed(let p, let reason):
            return "\(p): write failed: \(reason)"
        }
    }
}

extension NIfTIError: LocalizedError {
    public var errorDescription: String? { description }
}
