import CNIfTI
import Foundation
import VolSegCore

/// Reads NIfTI-1 and NIfTI-2 files (.nii, .nii.gz, .hdr/.img) through libnifti2.
///
/// Order of work: the raw header is checked first (`NIfTIHeaderCheck`: named errors for bad magic,
/// dims, datatypes, voxel sizes, vox_offset, scaling and short files), then libnifti parses the
/// header without data, then VolSeg reads the voxels itself (`NIfTIVoxelData`: libnifti's loader
/// turns NaN and infinity into 0) and converts them to Float32 with scl_slope/scl_inter applied.
public enum NIfTIReader {
    /// Reads only the header (cheap: no voxel data is read). Dataset checks use this.
    public static func readHeader(_ url: URL) throws -> NIfTIHeader {
        let check = try NIfTIHeaderCheck.check(url.path)
        let nim = try openHeader(url.path)
        defer { nifti_image_free(nim) }
        return NIfTIHeader(nim, version: check.version, rawPixdim0: check.pixdim0)
    }

    /// Reads header and voxels.
    public static func read(_ url: URL) throws -> NIfTIVolume {
        let path = url.path
        let check = try NIfTIHeaderCheck.check(path)
        let nim = try openHeader(path)
        defer { nifti_image_free(nim) }
        let header = NIfTIHeader(nim, version: check.version, rawPixdim0: check.pixdim0)
        guard header.voxelCount == check.voxelCount, header.datatype == check.datatype else {
            throw NIfTIError.notNIfTI(path: path, reason: "libnifti read dims \(header.dims) and datatype "
                + "\(header.datatype), the raw header says \(Array(check.dim[1...check.dim[0]])) and \(check.datatype)")
        }
        let spatial = header.spatialShape
        let voxels = Tensor.empty([header.volumeCount, spatial[2], spatial[1], spatial[0]])
        try NIfTIVoxelData.read(check, scaling: header.scaling, into: voxels.data, count: voxels.count)
        return NIfTIVolume(header: header, voxels: voxels, path: path)
    }

    /// libnifti's header parse (read_data = 0); nil means it refused the file.
    private static func openHeader(_ path: String) throws -> UnsafeMutablePointer<nifti_image> {
        quietLibnifti
        guard let nim = nifti_image_read(path, 0) else {
            throw NIfTIError.notNIfTI(path: path, reason: "libnifti could not parse the header")
        }
        return nim
    }

    /// libnifti prints its own complaints on stderr; VolSeg reports named errors instead.
    private static let quietLibnifti: Void = { nifti_set_debug_level(0) }()
}
