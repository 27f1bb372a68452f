import Foundation
@testable import VolSegCore
@testable import VolSegIO
import VolSegTestSupport
import XCTest

/// The NIfTI conformance check: every file of ../shared/data/nifti_corpus read as nibabel 5.4 reads
/// it (expected.json): shape and datatype exact, affine to 1e-4, scaling to 1e-6 relative, sums to
/// 1e-5 relative, five voxels per file to 1e-4.
final class NIfTICorpusTests: XCTestCase {
    struct Expected: Decodable {
        let nifti_version: Int
        let shape: [Int]
        let datatype: Int
        let scl_slope: Double
        let scl_inter: Double
        let qform_code: Int
        let sform_code: Int
        let pixdim: [Double]
        let affine_best: [[Double]]
        let sum_scaled: Double
        let min_scaled: Double?
        let max_scaled: Double?
        let nonfinite_count: Int
        let voxels_first_volume: [String: Double]
    }

    func corpus() throws -> (URL, [String: Expected]) {
        guard let folder = TestPaths.sharedFile("data/nifti_corpus") else { throw XCTSkip("../shared absent") }
        let data = try Data(contentsOf: folder.appendingPathComponent("expected.json"))
        return (folder, try JSONDecoder().decode([String: Expected].self, from: data))
    }

    func testEveryCorpusFileMatchesNibabel() throws {
        let (folder, expected) = try corpus()
        XCTAssertEqual(expected.count, 6)
        for (name, e) in expected.sorted(by: { $0.key < $1.key }) {
            let volume = try NIfTIReader.read(folder.appendingPathComponent(name))
            let h = volume.header
            XCTAssertEqual(h.version, e.nifti_version, name)
            XCTAssertEqual(h.dims, e.shape, name)
            XCTAssertEqual(h.datatype, e.datatype, name)
            XCTAssertEqual(h.qformCode, e.qform_code, name)
            XCTAssertEqual(h.sformCode, e.sform_code, name)
            for i in 0..<4 { XCTAssertEqual(h.pixdim[i], e.pixdim[i], accuracy: 1e-6, "\(name) pixdim[\(i)]") }
            XCTAssertLessThan(h.affine.maxAbsoluteDifference(NIfTIAffine(rows: e.affine_best)), 1e-4, name)
            XCTAssertEqual(h.effectiveSlope, e.scl_slope, accuracy: 1e-6 * abs(e.scl_slope), name)
            XCTAssertEqual(h.effectiveIntercept, e.scl_inter, accuracy: 1e-6 * max(abs(e.scl_inter), 1e-30), name)
            let stats = volume.statistics
            XCTAssertEqual(stats.sum, e.sum_scaled, accuracy: 1e-5 * abs(e.sum_scaled), name)
            XCTAssertEqual(stats.nonfiniteCount, e.nonfinite_count, name)
            if let low = e.min_scaled { XCTAssertEqual(Double(stats.min!), low, accuracy: 1e-5 * max(abs(low), 1), name) }
            if let high = e.max_scaled { XCTAssertEqual(Double(stats.max!), high, accuracy: 1e-5 * max(abs(high), 1), name) }
            let (nx, ny, nz) = (h.spatialShape[0], h.spatialShape[1], h.spatialShape[2])
            XCTAssertEqual(volume.voxels.shape, [h.volumeCount, nz, ny, nx], name)
            for (key, value) in e.voxels_first_volume {
                let ijk = key.split(separator: ",").map { Int($0)! }
                let got = Double(volume.voxels[0, ijk[2], ijk[1], ijk[0]])
                XCTAssertEqual(got, value, accuracy: 1e-4 * max(1, abs(value)), "\(name) voxel \(key)")
            }
        }
    }

    func testInfoJSONHasExactlyTheConformanceFields() throws {
        let (folder, _) = try corpus()
        let info = try NIfTIInfo.read(folder.appendingPathComponent("functional.nii"))
        let object = try JSONSerialization.jsonObject(with: Data(info.json.utf8)) as! [String: Any]
        XCTAssertEqual(Set(object.keys), ["nifti_version", "shape", "datatype", "qform_code", "sform_code", "pixdim",
                                          "affine", "scl_slope", "scl_inter", "sum", "min", "max", "nonfinite_count"])
        XCTAssertEqual((object["affine"] as! [[Double]])[2][2], 8, accuracy: 1e-9)
    }

    func testHeaderOnlyReadAllocatesNoVoxels() throws {
        let (folder, _) = try corpus()
        let before = MemoryLedger.shared.allocations
        let header = try NIfTIReader.readHeader(folder.appendingPathComponent("example4d.nii.gz"))
        XCTAssertEqual(MemoryLedger.shared.allocations, before)
        XCTAssertEqual(header.dims, [128, 96, 24, 2])
    }

    /// With qform_code and sform_code 0, nibabel's `get_base_affine` (its docstring's example).
    func testFallbackAffineMatchesNibabel() {
        let affine = NIfTIAffine.nibabelFallback(shape: [3, 5, 7], voxelSizes: [3, 2, 1])
        XCTAssertEqual(affine, NIfTIAffine(rows: [[-3, 0, 0, 3], [0, 2, 0, -4], [0, 0, 1, -3], [0, 0, 0, 1]]))
    }
}
