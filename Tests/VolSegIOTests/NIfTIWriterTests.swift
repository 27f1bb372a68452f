import Foundation
@testable import VolSegCore
@testable import VolSegIO
import VolSegTestSupport
import XCTest

/// Label maps and float maps written on a scan's grid read back with the scan's geometry.
final class NIfTIWriterTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws { folder = try NIfTITestFiles.temporaryFolder() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    func assertSameGeometry(_ a: NIfTIHeader, _ b: NIfTIHeader, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.spatialShape, b.spatialShape, file: file, line: line)
        XCTAssertEqual(a.qformCode, b.qformCode, file: file, line: line)
        XCTAssertEqual(a.sformCode, b.sformCode, file: file, line: line)
        XCTAssertEqual(a.xyzUnits, b.xyzUnits, file: file, line: line)
        XCTAssertEqual(a.qfac, b.qfac, file: file, line: line)
        for i in 1...3 { XCTAssertEqual(a.pixdim[i], b.pixdim[i], accuracy: 1e-6, file: file, line: line) }
        // NIfTI-1 stores the matrices in float32: 1e-4 mm is far below any voxel size.
        XCTAssertLessThan(a.qform.maxAbsoluteDifference(b.qform), 1e-4, file: file, line: line)
        XCTAssertLessThan(a.sform.maxAbsoluteDifference(b.sform), 1e-4, file: file, line: line)
        XCTAssertLessThan(a.affine.maxAbsoluteDifference(b.affine), 1e-4, file: file, line: line)
    }

    func testLabelMapCopiesGeometryAndValues() throws {
        guard let source = TestPaths.sharedFile("data/itk_head_t1/skullstrip_labels.nii.gz") else { throw XCTSkip("../shared absent") }
        let labels = try NIfTIReader.read(source)
        let out = folder.appendingPathComponent("mask.nii.gz")
        try NIfTIWriter.writeLabelMap(labels.voxels, like: labels.header, to: out)
        let back = try NIfTIReader.read(out)
        XCTAssertEqual(back.header.datatype, NIfTIDatatype.uint8)
        XCTAssertEqual(back.header.storedSlope, 1)
        XCTAssertEqual(back.header.storedIntercept, 0)
        assertSameGeometry(back.header, labels.header)
        XCTAssertEqual(back.voxels.toArray(), labels.voxels.toArray())
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        XCTAssertEqual(leftovers, ["mask.nii.gz"], "no temporary file left behind")
    }

    func testLabelAbove255IsWrittenAsUInt16() throws {
        guard let source = TestPaths.sharedFile("data/radiomics_brain1/image.nii.gz") else { throw XCTSkip("../shared absent") }
        let image = try NIfTIReader.read(source)
        let labels = Tensor.zeros(image.voxels.shape)
        labels[0, 12, 128, 128] = 300
        labels[0, 3, 10, 200] = 2
        let out = folder.appendingPathComponent("wide.nii")
        try NIfTIWriter.writeLabelMap(labels, like: image.header, to: out)
        let back = try NIfTIReader.read(out)
        XCTAssertEqual(back.header.datatype, NIfTIDatatype.uint16)
        XCTAssertEqual(back.voxels[0, 12, 128, 128], 300)
        XCTAssertEqual(back.voxels[0, 3, 10, 200], 2)
        XCTAssertEqual(back.statistics.sum, 302)
        assertSameGeometry(back.header, image.header)
    }

    func testFloatMapRoundTripsExactly() throws {
        guard let source = TestPaths.sharedFile("data/nifti_corpus/example4d.nii.gz") else { throw XCTSkip("../shared absent") }
        let image = try NIfTIReader.read(source)
        let probabilities = Tensor(shape: [3] + image.spatialShape,
                                   values: (0..<(3 * image.spatialShape.reduce(1, *))).map { Float($0 % 1000) / 999 })
        let out = folder.appendingPathComponent("probabilities.nii.gz")
        try NIfTIWriter.writeFloatMap(probabilities, like: image.header, to: out)
        let back = try NIfTIReader.read(out)
        XCTAssertEqual(back.header.datatype, NIfTIDatatype.float32)
        XCTAssertEqual(back.header.dims, image.header.spatialShape + [3])
        XCTAssertEqual(back.voxels.toArray(), probabilities.toArray())
        assertSameGeometry(back.header, image.header)   // an oblique qform/sform
    }

    func testBadLabelsLeaveNoFile() throws {
        guard let source = TestPaths.sharedFile("data/nifti_corpus/standard.nii.gz") else { throw XCTSkip("../shared absent") }
        let image = try NIfTIReader.read(source)
        let out = folder.appendingPathComponent("bad.nii.gz")
        let fractional = Tensor.full(image.voxels.shape, value: 0.5)
        XCTAssertThrowsError(try NIfTIWriter.writeLabelMap(fractional, like: image.header, to: out)) { error in
            XCTAssertTrue("\(error)".contains("bad.nii.gz"), "\(error)")
        }
        let wrongGrid = Tensor.zeros([1, 2, 2, 2])
        XCTAssertThrowsError(try NIfTIWriter.writeLabelMap(wrongGrid, like: image.header, to: out))
        let missingFolder = folder.appendingPathComponent("no/such/dir/x.nii.gz")
        XCTAssertThrowsError(try NIfTIWriter.writeLabelMap(image.voxels, like: image.header, to: missingFolder))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), [])
    }

    func testHdrImgPairWrittenLikeANIfTI2Reference() throws {
        guard let source = TestPaths.sharedFile("data/nifti_corpus/example_nifti2.nii.gz") else { throw XCTSkip("../shared absent") }
        let image = try NIfTIReader.read(source)
        let labels = Tensor.zeros([1] + image.spatialShape)
        labels[0, 5, 10, 20] = 3
        let pair = folder.appendingPathComponent("labels.hdr")
        try NIfTIWriter.writeLabelMap(labels, like: image.header, to: pair)
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: folder.path)), ["labels.hdr", "labels.img"])
        for url in [pair, folder.appendingPathComponent("labels.img")] {
            let back = try NIfTIReader.read(url)
            XCTAssertEqual(back.header.version, 1, "written as NIfTI-1 (see NIfTIWriter)")
            XCTAssertEqual(back.voxels.toArray(), labels.toArray())
            assertSameGeometry(back.header, image.header)
        }
    }
}
