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
    /// A single-file name (.nii, .nii.gz) whose magic is not "n+1" / "n+2": libnifti would read
    /// it as ANALYZE 7.5 without a word. `found` is the bytes as escaped text.
    case badMagic(path: String, found: String, expected: String)
    /// pixdim[axis] (1...3) zero, negative or not finite: every spacing computed from it is wrong.
    case invalidVoxelSize(path: String, axis: Int, value: Double)
    /// vox_offset not finite, negative, inside the header, or past the end of the data file.
    case invalidVoxOffset(path: String, offset: Double, reason: String)
    /// A scaling that would make every voxel non-finite (infinite slope, or a used slope with a
    /// non-finite intercept).
    case invalidScaling(path: String, slope: Double, intercept: Double)

    public var path: String {
        switch self {
        case .missingFile(let p), .notNIfTI(let p, _), .invalidDimensions(let p, _),
             .unsupportedDatatype(let p, _), .absurdSize(let p, _, _), .truncatedData(let p, _, _),
             .notThreeDimensional(let p, _), .shapeMismatch(let p, _, _, _), .invalidLabels(let p, _),
             .writeFailed(let p, _), .badMagic(let p, _, _), .invalidVoxelSize(let p, _, _),
             .invalidVoxOffset(let p, _, _), .invalidScaling(let p, _, _):
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
        case .badMagic(let p, let found, let expected):
            return "\(p): NIfTI magic is \"\(found)\", a single-file NIfTI needs \"\(expected)\" "
                + "(a .hdr/.img pair may be ANALYZE 7.5; a .nii may not)"
        case .invalidVoxelSize(let p, let axis, let value):
            return "\(p): voxel size pixdim[\(axis)] = \(value), must be a positive finite number of mm"
        case .invalidVoxOffset(let p, let offset, let reason):
            return "\(p): vox_offset = \(offset): \(reason)"
        case .invalidScaling(let p, let slope, let intercept):
            return "\(p): scl_slope = \(slope), scl_inter = \(intercept): scaling would make every voxel non-finite"
        }
    }
}

extension NIfTIError: LocalizedError {
    public var errorDescription: String? { description }
}
