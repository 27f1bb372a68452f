import CNIfTI
import Foundation

/// The header of a NIfTI-1 or NIfTI-2 file, as libnifti2 reads it (byte order resolved), kept
/// whole so that label maps written for a scan carry the scan's geometry unchanged.
public struct NIfTIHeader: Equatable, Sendable {
    /// 1 for NIfTI-1 (and Analyze 7.5), 2 for NIfTI-2.
    public var version: Int
    /// dim[1...dim[0]]: (nx, ny, nz, nt, ...), NIfTI axis order, x fastest.
    public var dims: [Int]
    /// pixdim[0...7] as stored: pixdim[0] is qfac (may be 0 in old files), pixdim[1...3] voxel sizes.
    public var pixdim: [Double]
    public var datatype: Int
    public var bitsPerVoxel: Int
    /// The stored scaling (possibly 0 or NaN, meaning "no scaling"); see `scaling`.
    public var storedSlope: Double
    public var storedIntercept: Double
    public var qformCode: Int
    public var sformCode: Int
    public var quaternB: Double, quaternC: Double, quaternD: Double
    public var qoffset: [Double]
    /// -1 or 1: the sign of the third voxel axis in the qform.
    public var qfac: Double
    /// qform as libnifti builds it from the quaternion, pixdim and qfac.
    public var qform: NIfTIAffine
    public var sform: NIfTIAffine
    public var xyzUnits: Int
    public var timeUnits: Int
    public var intentCode: Int
    public var intentParameters: [Double]
    public var intentName: String
    public var description: String
    public var calibrationMin: Double, calibrationMax: Double
    public var toffset: Double
    public var sliceCode: Int, sliceStart: Int, sliceEnd: Int, sliceDuration: Double
    public var frequencyDim: Int, phaseDim: Int, sliceDim: Int

    /// Spatial shape (nx, ny, nz), padded with 1 for 1D/2D files.
    public var spatialShape: [Int] { (0..<3).map { $0 < dims.count ? dims[$0] : 1 } }
    /// Product of dims 4...7: the volumes (channels) of a 4D file.
    public var volumeCount: Int { dims.count > 3 ? dims[3...].reduce(1, *) : 1 }
    public var voxelCount: Int { dims.reduce(1, *) }
    /// Voxel sizes (dx, dy, dz) from pixdim, as magnitudes.
    public var spacing: [Double] { (1...3).map { abs(pixdim[$0]) } }

    /// The scaling nibabel applies: none when the slope is 0 or not finite, or is exactly 1 and 0.
    public var scaling: (slope: Double, intercept: Double)? {
        guard storedSlope != 0, storedSlope.isFinite else { return nil }
        let intercept = storedIntercept.isFinite ? storedIntercept : 0
        if storedSlope == 1 && intercept == 0 { return nil }
        return (storedSlope, intercept)
    }

    public var effectiveSlope: Double { scaling?.slope ?? 1 }
    public var effectiveIntercept: Double { scaling?.intercept ?? 0 }

    /// The affine nibabel's `get_best_affine` returns: sform if its code > 0, else qform if its
    /// code > 0, else voxel sizes on the diagonal (x negated) centred on the volume.
    public var affine: NIfTIAffine {
        if sformCode > 0 { return sform }
        if qformCode > 0 { return qform }
        let ndim = dims.count
        return NIfTIAffine.nibabelFallback(shape: dims, voxelSizes: Array(pixdim[1...min(ndim, 7)]))
    }

    /// Reads every field of a libnifti image struct.
    init(_ nim: UnsafePointer<nifti_image>, version: Int, rawPixdim0: Double?) {
        let n = nim.pointee
        self.version = version
        let dimArray = withUnsafeBytes(of: n.dim) { Array($0.bindMemory(to: Int64.self)) }.map { Int($0) }
        dims = Array(dimArray[1...max(1, min(7, dimArray[0]))])
        var pix = withUnsafeBytes(of: n.pixdim) { Array($0.bindMemory(to: Double.self)) }
        pix[0] = rawPixdim0 ?? n.qfac
        pixdim = pix
        datatype = Int(n.datatype)
        bitsPerVoxel = Int(n.nbyper) * 8
        storedSlope = n.scl_slope
        storedIntercept = n.scl_inter
        qformCode = Int(n.qform_code)
        sformCode = Int(n.sform_code)
        quaternB = n.quatern_b; quaternC = n.quatern_c; quaternD = n.quatern_d
        qoffset = [n.qoffset_x, n.qoffset_y, n.qoffset_z]
        qfac = n.qfac
        qform = NIfTIAffine(n.qto_xyz)
        sform = NIfTIAffine(n.sto_xyz)
        xyzUnits = Int(n.xyz_units)
        timeUnits = Int(n.time_units)
        intentCode = Int(n.intent_code)
        intentParameters = [n.intent_p1, n.intent_p2, n.intent_p3]
        intentName = fixedString(n.intent_name)
        description = fixedString(n.descrip)
        calibrationMin = n.cal_min; calibrationMax = n.cal_max
        toffset = n.toffset
        sliceCode = Int(n.slice_code); sliceStart = Int(n.slice_start); sliceEnd = Int(n.slice_end)
        sliceDuration = n.slice_duration
        frequencyDim = Int(n.freq_dim); phaseDim = Int(n.phase_dim); sliceDim = Int(n.slice_dim)
    }
}

extension NIfTIAffine {
    init(_ m: nifti_dmat44) {
        let flat = withUnsafeBytes(of: m.m) { Array($0.bindMemory(to: Double.self)) }
        self.init(rows: (0..<4).map { r in Array(flat[(r * 4)..<(r * 4 + 4)]) })
    }

    var dmat44: nifti_dmat44 {
        var m = nifti_dmat44()
        withUnsafeMutableBytes(of: &m.m) { raw in
            let p = raw.bindMemory(to: Double.self)
            for r in 0..<4 { for c in 0..<4 { p[r * 4 + c] = self[r, c] } }
        }
        return m
    }
}

/// A fixed-size C char array as a Swift string (up to the first NUL).
func fixedString<T>(_ tuple: T) -> String {
    withUnsafeBytes(of: tuple) { raw in
        let bytes = raw.prefix { $0 != 0 }
        return String(decoding: bytes, as: UTF8.self)
    }
}
