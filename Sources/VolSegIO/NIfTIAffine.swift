import Foundation

/// A 4x4 voxel-to-world matrix in Float64, row-major: world = M * (i, j, k, 1), with (i, j, k) the
/// NIfTI voxel indices (i = x fastest) and world in RAS+ millimetres, as in nibabel.
public struct NIfTIAffine: Equatable, Sendable, CustomStringConvertible {
    /// rows[r][c]
    public var rows: [[Double]]

    public init(rows: [[Double]]) {
        precondition(rows.count == 4 && rows.allSatisfy { $0.count == 4 }, "an affine is 4x4")
        self.rows = rows
    }

    public static let identity = NIfTIAffine(rows: (0..<4).map { r in (0..<4).map { $0 == r ? 1 : 0 } })

    public subscript(row: Int, column: Int) -> Double {
        get { rows[row][column] }
        set { rows[row][column] = newValue }
    }

    public static func * (a: NIfTIAffine, b: NIfTIAffine) -> NIfTIAffine {
        var out = NIfTIAffine.identity
        for r in 0..<4 {
            for c in 0..<4 {
                var s = 0.0
                for k in 0..<4 { s += a[r, k] * b[k, c] }
                out[r, c] = s
            }
        }
        return out
    }

    /// World coordinates of a voxel index (fractional indices allowed).
    public func apply(_ voxel: [Double]) -> [Double] {
        (0..<3).map { r in rows[r][0] * voxel[0] + rows[r][1] * voxel[1] + rows[r][2] * voxel[2] + rows[r][3] }
    }

    /// Voxel sizes: the lengths of the first three columns (nibabel's `voxel_sizes`).
    public var voxelSizes: [Double] {
        (0..<3).map { c in (0..<3).reduce(0.0) { $0 + rows[$1][c] * rows[$1][c] }.squareRoot() }
    }

    /// The largest absolute difference between two affines, for tolerance checks.
    public func maxAbsoluteDifference(_ other: NIfTIAffine) -> Double {
        var worst = 0.0
        for r in 0..<4 { for c in 0..<4 { worst = max(worst, abs(self[r, c] - other[r, c])) } }
        return worst
    }

    /// nibabel's affine for a header with neither qform nor sform (`shape_zoom_affine` with x
    /// flipped): voxel sizes on the diagonal, x negated, and the world origin at the volume centre.
    /// Missing dimensions count as size 1 with 1 mm voxels, as nibabel pads them.
    public static func nibabelFallback(shape: [Int], voxelSizes: [Double]) -> NIfTIAffine {
        var out = NIfTIAffine.identity
        for axis in 0..<3 {
            let n = axis < shape.count ? Double(shape[axis]) : 1
            var zoom = axis < voxelSizes.count ? voxelSizes[axis] : 1
            if axis == 0 { zoom = -zoom }
            out[axis, axis] = zoom
            out[axis, 3] = -((n - 1) / 2) * zoom
        }
        return out
    }

    public var description: String {
        rows.map { "[" + $0.map { String($0) }.joined(separator: ", ") + "]" }.joined(separator: "\n")
    }
}
