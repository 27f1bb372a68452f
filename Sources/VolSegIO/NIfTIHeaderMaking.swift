import CNIfTI
import Foundation

extension NIfTIHeader {
    /// A header for a new 3D volume on the grid `affine` describes (synthetic data, resampled
    /// outputs): qform and sform both set to it (code 1, scanner), millimetres, float32.
    public init(spatialShape: [Int], affine: NIfTIAffine, description: String = "") {
        precondition(spatialShape.count == 3 && spatialShape.allSatisfy { $0 > 0 }, "shape is (nx, ny, nz)")
        var qb = 0.0, qc = 0.0, qd = 0.0, qx = 0.0, qy = 0.0, qz = 0.0, dx = 0.0, dy = 0.0, dz = 0.0, qfac = 0.0
        nifti_dmat44_to_quatern(affine.dmat44, &qb, &qc, &qd, &qx, &qy, &qz, &dx, &dy, &dz, &qfac)
        let qform = NIfTIAffine(nifti_quatern_to_dmat44(qb, qc, qd, qx, qy, qz, dx, dy, dz, qfac))
        self.version = 1
        self.dims = spatialShape
        self.pixdim = [qfac, dx, dy, dz, 1, 1, 1, 1]
        self.datatype = NIfTIDatatype.float32
        self.bitsPerVoxel = 32
        self.storedSlope = 1
        self.storedIntercept = 0
        self.qformCode = 1
        self.sformCode = 1
        self.quaternB = qb; self.quaternC = qc; self.quaternD = qd
        self.qoffset = [qx, qy, qz]
        self.qfac = qfac
        self.qform = qform
        self.sform = affine
        self.xyzUnits = 2   // NIFTI_UNITS_MM
        self.timeUnits = 0
        self.intentCode = 0
        self.intentParameters = [0, 0, 0]
        self.intentName = ""
        self.description = description
        self.calibrationMin = 0; self.calibrationMax = 0
        self.toffset = 0
        self.sliceCode = 0; self.sliceStart = 0; self.sliceEnd = 0; self.sliceDuration = 0
        self.frequencyDim = 0; self.phaseDim = 0; self.sliceDim = 0
    }
}

extension NIfTIHeader {
    /// The header of the sub-grid of `spatialShape` voxels starting at voxel `lower` (x, y, z):
    /// the same orientation and voxel size, with the qform and sform origins moved to the first
    /// voxel of the sub-grid, so its voxels keep their world positions (a validation slab cut from
    /// a scan). Volumes beyond the third dimension keep their count.
    public func cropped(lower: [Int], spatialShape: [Int]) -> NIfTIHeader {
        precondition(lower.count == 3 && spatialShape.count == 3, "lower and shape are (x, y, z)")
        var out = self
        for axis in 0..<3 where axis < out.dims.count { out.dims[axis] = spatialShape[axis] }
        let shift = lower.map(Double.init)
        func moved(_ affine: NIfTIAffine) -> NIfTIAffine {
            var result = affine
            let origin = affine.apply(shift)
            for r in 0..<3 { result[r, 3] = origin[r] }
            return result
        }
        out.sform = moved(sform)
        out.qform = moved(qform)
        out.qoffset = (0..<3).map { out.qform[$0, 3] }
        return out
    }
}
