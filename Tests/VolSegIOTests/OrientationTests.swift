import Foundation
@testable import VolSegCore
@testable import VolSegIO
import VolSegTestSupport
import XCTest

/// Canonical RAS reorientation agrees with nibabel's `as_closest_canonical` (reference numbers
/// computed with nibabel 5.4 on the same files) and its inverse restores the original exactly.
final class OrientationTests: XCTestCase {
    /// sum over voxels of value * (flat index mod 7): sensitive to any misplaced voxel.
    func weightedSum(_ t: Tensor) -> Double {
        let p = t.data
        return (0..<t.count).reduce(0.0) { $0 + Double(p[$1]) * Double($1 % 7) }
    }

    func testITKHeadIsLSAAndMatchesNibabelCanonical() throws {
        guard let url = TestPaths.sharedFile("data/itk_head_t1/t1.nii.gz") else { throw XCTSkip("../shared absent") }
        let volume = try NIfTIReader.read(url)
        let orientation = CanonicalOrientation(header: volume.header)
        XCTAssertEqual(orientation.orientation.axisCodes, ["L", "S", "A"])
        XCTAssertEqual(orientation.canonicalShape, [128, 62, 128])
        let expected = NIfTIAffine(rows: [[2, 0, 0, -254], [0, 3, 0, -254], [0, 0, 2, 0], [0, 0, 0, 1]])
        XCTAssertLessThan(orientation.canonicalAffine.maxAbsoluteDifference(expected), 1e-5)
        let canonical = orientation.toCanonical(volume.voxels)
        XCTAssertEqual(canonical.shape, [1, 128, 62, 128])
        XCTAssertEqual(canonical[0, 64, 31, 64], 87)
        XCTAssertEqual(weightedSum(canonical), 58579553, accuracy: 0.5)
        XCTAssertEqual(orientation.fromCanonical(canonical).toArray(), volume.voxels.toArray())
    }

    func testRadiomicsBrainIsLASAndRoundTripsExactly() throws {
        guard let url = TestPaths.sharedFile("data/radiomics_brain1/image.nii.gz") else { throw XCTSkip("../shared absent") }
        let volume = try NIfTIReader.read(url)
        let orientation = CanonicalOrientation(header: volume.header)
        XCTAssertEqual(orientation.orientation.axisCodes, ["L", "A", "S"])
        let expected = NIfTIAffine(rows: [[0.78125, 0, 0, -99.609375], [0, 0.78125, 0, -99.609375], [0, 0, 6.5, -78], [0, 0, 0, 1]])
        XCTAssertLessThan(orientation.canonicalAffine.maxAbsoluteDifference(expected), 1e-5)
        XCTAssertEqual(orientation.canonicalSpacing, [0.78125, 0.78125, 6.5])
        let canonical = orientation.toCanonical(volume.voxels)
        XCTAssertEqual(canonical[0, 12, 128, 128], 519)
        XCTAssertEqual(canonical[0, 5, 200, 60], 671)
        XCTAssertEqual(canonical[0, 20, 90, 200], 660)
        XCTAssertEqual(weightedSum(canonical), 1895536586, accuracy: 1)
        XCTAssertEqual(orientation.fromCanonical(canonical).toArray(), volume.voxels.toArray())
    }

    func testObliqueAffineKeepsItsGridAndEveryVoxelsWorldPosition() throws {
        guard let url = TestPaths.sharedFile("data/nifti_corpus/example4d.nii.gz") else { throw XCTSkip("../shared absent") }
        let volume = try NIfTIReader.read(url)
        let orientation = CanonicalOrientation(header: volume.header)
        let expected = NIfTIAffine(rows: [[2.0, 6.714715653593746e-19, 9.081024511081715e-18, -136.1448974609375],
                                          [6.714715653593746e-19, 1.9737114906311035, -0.35552823543548584, -35.72294235229492],
                                          [-8.25548088896093e-18, 0.3232076168060303, 2.171081781387329, -7.248798370361327],
                                          [0, 0, 0, 1]])
        XCTAssertLessThan(orientation.canonicalAffine.maxAbsoluteDifference(expected), 1e-9)
        let canonical = orientation.toCanonical(volume.voxels)
        XCTAssertEqual(canonical.shape, volume.voxels.shape)
        XCTAssertEqual(orientation.fromCanonical(canonical).toArray(), volume.voxels.toArray())
        // Voxel (i, j, k) of the canonical grid sits where voxel (127 - i, j, k) of the original did.
        let a = orientation.canonicalAffine.apply([5, 7, 9]), b = volume.affine.apply([122, 7, 9])
        for r in 0..<3 { XCTAssertEqual(a[r], b[r], accuracy: 1e-9) }
        XCTAssertEqual(canonical[1, 9, 7, 5], volume.voxels[1, 9, 7, 122])
    }

    func testEveryPermutationAndFlipRoundTrips() {
        let shape = [5, 3, 4]   // nx, ny, nz
        let values = (0..<60).map(Float.init)
        let input = Tensor(shape: [1, 4, 3, 5], values: values)
        for permutation in [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]] {
            for flips in 0..<8 {
                var affine = NIfTIAffine.identity
                for r in 0..<3 { affine[r, r] = 0 }
                for a in 0..<3 { affine[permutation[a], a] = (flips >> a) & 1 == 1 ? -1.5 : 1.5 }
                let o = CanonicalOrientation(affine: affine, spatialShape: shape)
                let canonical = o.toCanonical(input)
                let d = o.canonicalAffine
                for r in 0..<3 { for c in 0..<3 { XCTAssertEqual(d[r, c], r == c ? 1.5 : 0) } }
                XCTAssertEqual(o.fromCanonical(canonical).toArray(), values)
            }
        }
    }

    func testSlightlyRotatedAxesPickTheClosestWorldAxis() {
        let angle = 20.0 * Double.pi / 180
        // x voxel axis points mostly to -y (P), y mostly to +x (R), z to S, rotated by 20 degrees.
        let affine = NIfTIAffine(rows: [[sin(angle), cos(angle), 0, 0], [-cos(angle), sin(angle), 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
        XCTAssertEqual(Orientation(affine: affine).axisCodes, ["P", "R", "S"])
    }
}
