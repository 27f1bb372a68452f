import Foundation

/// Something in a NIfTI file that VolSeg reads but does not fully honour: returned as a value (see
/// `NIfTIVolume.warnings`) for the command to print, never printed by the reader itself.
public enum NIfTIWarning: Equatable, Sendable, CustomStringConvertible {
    /// The affine's voxel axes are not perpendicular. `shearDegrees` is, for the axis pairs
    /// (i, j), (i, k), (j, k), how far each angle departs from 90 degrees.
    case shearedAffine(path: String, form: String, shearDegrees: [Double])
    /// A voxel axis of the affine has length 0: the matrix maps the volume onto a plane.
    case singularAffine(path: String, form: String)

    public var description: String {
        switch self {
        case .shearedAffine(let path, let form, let shear):
            let pairs = zip(["i-j", "i-k", "j-k"], shear).map { "\($0.0) \(String(format: "%.4g", $0.1))°" }
            return "warning: \(path): the \(form) is sheared or not orthonormal (axes depart from 90° by "
                + pairs.joined(separator: ", ") + "); VolSeg orients by the nearest axes and does not resample the shear"
        case .singularAffine(let path, let form):
            return "warning: \(path): the \(form) has a voxel axis of length 0; orientation cannot be trusted"
        }
    }
}

extension NIfTIAffine {
    /// For the axis pairs (i, j), (i, k), (j, k) of the 3x3 part, 90° minus the angle between the
    /// columns, in degrees; nil when a column has length 0. A rotation times voxel sizes gives
    /// zeros (to float32 rounding: ~1e-5°).
    public var shearDegrees: [Double]? {
        let columns = (0..<3).map { c in (0..<3).map { self[$0, c] } }
        let lengths = columns.map { $0.reduce(0) { $0 + $1 * $1 }.squareRoot() }
        guard lengths.allSatisfy({ $0 > 0 && $0.isFinite }) else { return nil }
        return [(0, 1), (0, 2), (1, 2)].map { a, b in
            let cosine = zip(columns[a], columns[b]).reduce(0) { $0 + $1.0 * $1.1 } / (lengths[a] * lengths[b])
            return 90 - acos(max(-1, min(1, cosine))) * 180 / Double.pi
        }
    }
}

extension NIfTIHeader {
    /// Departures from 90° below this are rounding in a float32 sform, not shear.
    public static let shearToleranceDegrees = 1e-3

    /// Warnings about the affine VolSeg uses (the sform when its code is set, else the qform,
    /// which a quaternion keeps orthonormal by construction).
    public func warnings(path: String) -> [NIfTIWarning] {
        let form = sformCode > 0 ? "sform" : qformCode > 0 ? "qform" : "pixdim affine"
        guard let shear = affine.shearDegrees else { return [.singularAffine(path: path, form: form)] }
        if shear.contains(where: { abs($0) > Self.shearToleranceDegrees }) {
            return [.shearedAffine(path: path, form: form, shearDegrees: shear)]
        }
        return []
    }
}

extension NIfTIVolume {
    /// What the command reading this volume should print (see `NIfTIWarning`).
    public var warnings: [NIfTIWarning] { header.warnings(path: path) }
}
