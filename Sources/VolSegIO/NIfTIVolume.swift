import Foundation
import VolSegCore

/// A NIfTI file in memory: its header, and its voxels as Float32 with the header's scaling applied.
///
/// `voxels` has shape [C, D, H, W] = [volumes, nz, ny, nx]: NIfTI's x varies fastest, so the file's
/// voxel order is already row-major [C, D, H, W] and no transpose is needed. The volumes of a 4D
/// file (dims 4...7 flattened) are the channels. NaN and infinite voxels are kept as stored; see
/// `NIfTIStatistics` and `replacingNonFinite()`.
public struct NIfTIVolume: @unchecked Sendable {
    public var header: NIfTIHeader
    public var voxels: Tensor
    /// The file the volume came from (or will be written like), for error messages.
    public var path: String

    public init(header: NIfTIHeader, voxels: Tensor, path: String) {
        precondition(voxels.rank == 4, "a NIfTI volume's voxels are [C, D, H, W], got \(voxels.shape)")
        self.header = header
        self.voxels = voxels
        self.path = path
    }

    public var channels: Int { voxels.shape[0] }
    /// [D, H, W] = [nz, ny, nx].
    public var spatialShape: [Int] { Array(voxels.shape[1...]) }
    public var affine: NIfTIAffine { header.affine }

    /// Throws `notThreeDimensional` unless the file holds 3D volumes (nx, ny, nz all > 1 is not
    /// required, but dim[0] must be at least 3): a 2D slice cannot feed a 3D network.
    public func requireThreeDimensional() throws {
        if header.dims.count < 3 {
            throw NIfTIError.notThreeDimensional(path: path, shape: header.dims)
        }
    }

    /// Throws `shapeMismatch` unless `other` has the same spatial grid (a label and its image).
    public func requireSameGrid(as other: NIfTIVolume) throws {
        if header.spatialShape != other.header.spatialShape {
            throw NIfTIError.shapeMismatch(path: path, shape: header.spatialShape,
                                           expected: other.header.spatialShape, reference: other.path)
        }
    }
}
