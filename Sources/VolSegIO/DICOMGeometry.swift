import Foundation

/// The rules that turn a series' image planes into one regular grid, and the grid's affine.
///
/// Slices are ordered by their position along the slice normal (ImagePositionPatient projected on
/// the cross product of ImageOrientationPatient's row and column directions), never by
/// InstanceNumber, which scanners number in either direction or restart. The slice step comes from
/// the positions; SliceThickness is not the spacing (overlapping or gapped reconstructions).
public enum DICOMGeometry {
    /// A step at least this many times the median step means slices are missing.
    public static let missingSliceFactor = 1.5
    /// A step may differ from the median by max(0.01 mm, 1%) before the spacing counts as non-uniform.
    public static let spacingToleranceMM = 0.01
    public static let spacingToleranceShare = 0.01
    /// A slice may sit max(0.01 mm, 0.1% of its distance from the first) off the normal through
    /// the first slice (a tilt under 0.06 degrees, within DICOM's rounding of positions).
    public static let shearToleranceShare = 0.001

    /// The planes sorted along the slice normal and the step between them (mm). Throws the named
    /// error for mixed sizes or orientations, duplicate positions, missing slices, non-uniform
    /// spacing and sheared (gantry-tilted) stacks. A single plane steps by `singleSliceStep`.
    public static func order(_ planes: [DICOMImagePlane], folder: String, gantryTilt: Double?,
                             singleSliceStep: Double) throws -> (planes: [DICOMImagePlane], step: Double) {
        guard let first = planes.first else { return ([], singleSliceStep) }
        for plane in planes.dropFirst() {
            if plane.rows != first.rows || plane.columns != first.columns {
                throw DICOMError.mixedSizes(path: plane.file.path, size: [plane.rows, plane.columns],
                                            expected: [first.rows, first.columns], reference: first.name)
            }
            if zip(plane.orientation, first.orientation).contains(where: { abs($0 - $1) > 1e-4 }) {
                throw DICOMError.mixedOrientations(path: plane.file.path, orientation: plane.orientation,
                                                   expected: first.orientation, reference: first.name)
            }
        }
        let normal = sliceNormal(first.orientation)
        let sorted = planes.map { (plane: $0, along: dot($0.position, normal)) }.sorted { $0.along < $1.along }
        guard sorted.count > 1 else { return ([first], singleSliceStep) }
        var steps: [Double] = []
        for (a, b) in zip(sorted, sorted.dropFirst()) {
            let step = b.along - a.along
            if step < 1e-4 {
                throw DICOMError.duplicatePosition(path: b.plane.file.path, other: a.plane.name, position: b.plane.position)
            }
            steps.append(step)
        }
        let median = steps.sorted()[steps.count / 2]
        for (index, step) in steps.enumerated() {
            let after = sorted[index].plane.name, before = sorted[index + 1].plane.name
            if step >= missingSliceFactor * median {
                throw DICOMError.missingSlices(folder: folder, after: after, before: before, step: step, medianStep: median)
            }
            if abs(step - median) > max(spacingToleranceMM, spacingToleranceShare * median) {
                throw DICOMError.nonUniformSpacing(folder: folder, after: after, before: before, step: step, medianStep: median)
            }
        }
        // A tilted gantry moves each slice within its own plane as well as along the normal: the
        // in-plane part of the offset from the first slice grows with the distance.
        let origin = sorted[0].plane.position
        for entry in sorted.dropFirst() {
            let offset = zip(entry.plane.position, origin).map { $0 - $1 }
            let along = dot(offset, normal)
            let inPlane = zip(offset, normal).map { $0 - along * $1 }
            let shear = length(inPlane)
            if shear > max(spacingToleranceMM, shearToleranceShare * along) {
                throw DICOMError.gantryTilt(folder: folder, path: entry.plane.file.path, degrees: gantryTilt, shearMM: shear)
            }
        }
        // The step over the whole stack: the mean, which the uniformity check keeps within 1% of
        // every single step, so the last slice lands where the scanner put it.
        let mean = (sorted.last!.along - sorted[0].along) / Double(sorted.count - 1)
        return (sorted.map(\.plane), mean)
    }

    /// The voxel-to-RAS affine of the grid a series is read into: x runs along a row (columns),
    /// y up the columns (rows in reverse: y = rows - 1 - row), z along the slice normal from
    /// `first` by `step`. That is dcm2niix's voxel order, so a network trained on dcm2niix's NIfTI
    /// files sees the same array from the DICOM series; the world is DICOM's LPS with x and y
    /// negated (RAS), as in every NIfTI file.
    public static func affine(first: DICOMImagePlane, step: Double) -> NIfTIAffine {
        let row = Array(first.orientation[0..<3]), column = Array(first.orientation[3..<6])
        let normal = sliceNormal(first.orientation)
        let lastRow = Double(first.rows - 1) * first.pixelSpacing[0]
        let origin = (0..<3).map { first.position[$0] + lastRow * column[$0] }
        let axes = [row.map { $0 * first.pixelSpacing[1] }, column.map { -$0 * first.pixelSpacing[0] }, normal.map { $0 * step }]
        let lpsToRAS: [Double] = [-1, -1, 1]
        var rows = (0..<4).map { r in (0..<4).map { c in r == 3 && c == 3 ? 1.0 : 0.0 } }
        for r in 0..<3 {
            for c in 0..<3 { rows[r][c] = lpsToRAS[r] * axes[c][r] }
            rows[r][3] = lpsToRAS[r] * origin[r]
        }
        return NIfTIAffine(rows: rows)
    }

    /// The index in a volume slice ([rows, columns], y reversed) of pixel (row, column) of a
    /// DICOM frame, the one place the row reversal of `affine` is applied to voxels.
    @inline(__always)
    public static func voxelIndex(row: Int, column: Int, rows: Int, columns: Int) -> Int {
        (rows - 1 - row) * columns + column
    }

    public static func sliceNormal(_ orientation: [Double]) -> [Double] {
        let r = Array(orientation[0..<3]), c = Array(orientation[3..<6])
        return [r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0]]
    }

    static func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
    static func length(_ a: [Double]) -> Double { dot(a, a).squareRoot() }
}
