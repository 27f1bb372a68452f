import Foundation

/// The geometry ITK (and so SimpleITK, and nnU-Net's default SimpleITKIO) gives a NIfTI file:
/// spacing from pixdim, and origin and direction from the sform or the qform as ITK 5's
/// `NiftiImageIO::SetImageIOOrientationFromNIfTI` chooses (ITK >= 5.3, as SimpleITK 2 ships):
///
/// - neither code set: origin 0 and the identity direction (in ITK's LPS space);
/// - the sform when it equals the qform, or when it is a rotation times a scaling and the qform
///   is unset or the sform's code is 1 (scanner);
/// - otherwise the qform when its code is set, else the sform.
///
/// ITK also prefers a code-2/3/4 sform over a set qform when an SVD comparison finds the two
/// close; that refinement is not reproduced (such sforms then yield the qform, which ITK gives
/// whenever the two differ by more than a rounding). Shears are dropped: ITK keeps only the
/// normalised directions, with pixdim as the spacing. World coordinates here are RAS, as every
/// NIfTI affine in VolSeg; ITK's LPS origin and direction are `lpsOrigin` and `lpsDirection`.
public struct ITKImageGeometry: Equatable, Sendable {
    /// (dx, dy, dz) from pixdim.
    public var spacing: [Double]
    /// The affine ITK's geometry maps voxels with: direction columns times spacing, plus origin (RAS).
    public var affine: NIfTIAffine

    public init(header: NIfTIHeader) {
        let spacing = (1...3).map { abs(header.pixdim[$0]) > 0 ? abs(header.pixdim[$0]) : 1 }
        self.spacing = spacing
        let hasQ = header.qformCode > 0, hasS = header.sformCode > 0
        let chosen: NIfTIAffine
        if !hasQ && !hasS {
            // ITK's identity direction is LPS: x to the left, y to the back.
            var identity = NIfTIAffine.identity
            identity[0, 0] = -1
            identity[1, 1] = -1
            chosen = identity
        } else {
            let similar = hasQ && hasS && ITKImageGeometry.close(header.sform, header.qform)
            let sformRigid = hasS && ITKImageGeometry.isRotationTimesScaling(header.sform)
            let preferS = similar || (sformRigid && (!hasQ || header.sformCode == 1))
            chosen = preferS ? header.sform : (hasQ ? header.qform : header.sform)
        }
        var out = NIfTIAffine.identity
        for c in 0..<3 {
            let norm = (0..<3).reduce(0.0) { $0 + chosen[$1, c] * chosen[$1, c] }.squareRoot()
            for r in 0..<3 { out[r, c] = (norm > 0 ? chosen[r, c] / norm : (r == c ? 1 : 0)) * spacing[c] }
        }
        for r in 0..<3 { out[r, 3] = hasQ || hasS ? chosen[r, 3] : 0 }
        affine = out
    }

    /// ITK's origin (LPS).
    public var lpsOrigin: [Double] { [-affine[0, 3], -affine[1, 3], affine[2, 3]] }

    /// ITK's direction matrix (LPS), row-major as SimpleITK's GetDirection.
    public var lpsDirection: [Double] {
        let sign: [Double] = [-1, -1, 1]
        var out: [Double] = []
        for r in 0..<3 { for c in 0..<3 { out.append(sign[r] * affine[r, c] / spacing[c] + 0) } }
        return out
    }

    /// ITK's "numerically very similar": the 3x3 parts within 1e-5 and the translations within 1e-7.
    static func close(_ a: NIfTIAffine, _ b: NIfTIAffine) -> Bool {
        for r in 0..<3 {
            for c in 0..<3 where abs(a[r, c] - b[r, c]) > 1e-5 { return false }
        }
        return (0..<3).reduce(0.0) { $0 + abs(a[$1, 3] - b[$1, 3]) } <= 1e-7
    }

    /// The 3x3 part's normalised columns are orthonormal (no shear).
    static func isRotationTimesScaling(_ m: NIfTIAffine) -> Bool {
        let columns = (0..<3).map { c -> [Double] in
            let v = (0..<3).map { m[$0, c] }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return norm > 0 ? v.map { $0 / norm } : v
        }
        for i in 0..<3 {
            for j in 0..<3 {
                let dot = (0..<3).reduce(0.0) { $0 + columns[i][$1] * columns[j][$1] }
                if abs(dot - (i == j ? 1 : 0)) > 1e-4 { return false }
            }
        }
        return true
    }
}

extension NIfTIHeader {
    /// This header with its geometry replaced by `affine` in both the qform and the sform (codes
    /// 1), as ITK writes a file; every other field is kept.
    public func replacingGeometry(with affine: NIfTIAffine) -> NIfTIHeader {
        let fresh = NIfTIHeader(spatialShape: spatialShape, affine: affine)
        var out = self
        out.pixdim[0] = fresh.pixdim[0]
        for i in 1...3 { out.pixdim[i] = fresh.pixdim[i] }
        out.qformCode = 1
        out.sformCode = 1
        out.quaternB = fresh.quaternB; out.quaternC = fresh.quaternC; out.quaternD = fresh.quaternD
        out.qoffset = fresh.qoffset
        out.qfac = fresh.qfac
        out.qform = fresh.qform
        out.sform = affine
        return out
    }
}
