import Foundation
import VolSegCore
@testable import VolSegIO
import VolSegTestSupport
import XCTest

/// DICOM Segmentation objects: VolSeg's reader against highdicom's reading of SEG files made by
/// highdicom and by VolSeg (Tests/References/dicom/seg, read_seg.py), and VolSeg's writer
/// (DCMTK's dcmseg) read back.
final class DICOMSegmentationTests: XCTestCase {
    static let references = DICOMSeriesReaderTests.references
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-dicom-seg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    func seg(_ name: String) -> URL { Self.references.appendingPathComponent("seg/\(name)") }

    /// highdicom's JSON description of a SEG file (read_seg.py).
    func highdicomReading(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: seg("\(name).json"))
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// Both label maps in canonical RAS: the same affine (1e-3 mm) and the same labels everywhere.
    func assertSameLabels(_ ours: Tensor, header: NIfTIHeader, _ theirs: NIfTIVolume, _ what: String,
                          file: StaticString = #filePath, line: UInt = #line) {
        let a = CanonicalOrientation(header: header), b = CanonicalOrientation(header: theirs.header)
        XCTAssertLessThan(a.canonicalAffine.maxAbsoluteDifference(b.canonicalAffine), 1e-3, what, file: file, line: line)
        let x = a.toCanonical(ours.reshaped([1] + ours.shape)), y = b.toCanonical(theirs.voxels)
        XCTAssertEqual(x.shape, y.shape, what, file: file, line: line)
        guard x.shape == y.shape else { return }
        let differing = (0..<x.count).filter { x.data[$0] != y.data[$0] }.count
        XCTAssertEqual(differing, 0, "\(what): \(differing) voxels differ", file: file, line: line)
    }

    /// SEG files made by highdicom (binary and LABELMAP) read to the cropped liver117 labels.
    func testHighdicomSegmentationsReadToTheCroppedLabels() throws {
        let series = try DICOMSeriesReader.read(DICOMSeriesReaderTests.folder("ct_axial"))
        let labels = try NIfTIReader.read(Self.references.appendingPathComponent("labels/ct_axial.nii.gz"))
        for name in ["highdicom_ct_axial", "highdicom_ct_axial_labelmap"] {
            let segmentation = try DICOMSegmentation.read(seg("\(name).dcm"))
            // A LABELMAP segmentation also describes segment 0, its background.
            XCTAssertEqual(segmentation.segments.filter { $0.number != 0 }.map(\.label), ["liver", "tumour"], name)
            let map = try segmentation.labelMap(on: series.volume.header, labelOfSegment: [1: 1, 2: 2])
            assertSameLabels(map, header: series.volume.header, labels, name)
            XCTAssertEqual(segmentation.referencedSeriesUIDs, [series.firstFile.seriesInstanceUID], name)
        }
    }

    /// The SEG files VolSeg wrote (make_seg_reference.sh) decode, in VolSeg's reader, to the label
    /// maps highdicom decoded them to, with the segments, codes and references highdicom read.
    func testVolSegSegmentationsDecodeAsHighdicomDecodesThem() throws {
        for source in ["ct_axial", "ct_enhanced"] {
            let name = "volseg_\(source)"
            let series = try DICOMSeriesReader.read(DICOMSeriesReaderTests.folder(source))
            let segmentation = try DICOMSegmentation.read(seg("\(name).dcm"))
            let highdicom = try highdicomReading(name)
            let segments = try XCTUnwrap(highdicom["segments"] as? [[String: Any]])
            XCTAssertEqual(segmentation.segments.map(\.number), segments.map { $0["number"] as! Int }, name)
            XCTAssertEqual(segmentation.segments.map(\.label), segments.map { $0["label"] as! String }, name)
            for (ours, theirs) in zip(segmentation.segments, segments) {
                let type = theirs["type"] as! [String: String], category = theirs["category"] as! [String: String]
                XCTAssertEqual(ours.type, DICOMCode(type["value"]!, type["scheme"]!, type["meaning"]!), name)
                XCTAssertEqual(ours.category, DICOMCode(category["value"]!, category["scheme"]!, category["meaning"]!), name)
            }
            let referenced = try XCTUnwrap((highdicom["referenced_series"] as? [[String: Any]])?.first)
            XCTAssertEqual(segmentation.referencedSeriesUIDs, [referenced["series_instance_uid"] as! String], name)
            XCTAssertEqual(segmentation.referencedSeriesUIDs, [series.firstFile.seriesInstanceUID], name)
            XCTAssertEqual(Set(segmentation.referencedInstanceUIDs), Set(series.planes.map(\.sopInstanceUID)), name)
            XCTAssertEqual(segmentation.frameOfReferenceUID, highdicom["frame_of_reference_uid"] as? String, name)
            XCTAssertEqual(segmentation.frames.count, highdicom["number_of_frames"] as? Int, name)
            let labelNumbers = Dictionary(uniqueKeysWithValues: segmentation.segments.map { ($0.number, $0.number) })
            let map = try segmentation.labelMap(on: series.volume.header, labelOfSegment: labelNumbers)
            assertSameLabels(map, header: series.volume.header, try NIfTIReader.read(seg("\(name).nii.gz")), name)
        }
    }

    /// A label map written as a SEG today reads back to itself, with one frame per slice that holds
    /// the segment (empty frames omitted), the names given, and references to every source instance
    /// (and frame, for the enhanced source) — the same structure as the committed VolSeg SEG files
    /// highdicom read.
    func testWrittenSegmentationReadsBackToTheLabelMap() throws {
        let labels = try NIfTIReader.read(Self.references.appendingPathComponent("labels/ct_axial.nii.gz"))
        for source in ["ct_axial", "ct_enhanced"] {
            let series = try DICOMSeriesReader.read(DICOMSeriesReaderTests.folder(source))
            // labels/ct_axial.nii.gz is on dcm2niix's grid, which is VolSeg's grid of the series.
            XCTAssertLessThan(series.volume.affine.maxAbsoluteDifference(labels.affine), 1e-3)
            let out = folder.appendingPathComponent("\(source).dcm")
            try DICOMSegmentationWriter.write(labels.voxels, labelValues: [0, 1, 2], names: [1: "liver", 2: "tumour"],
                                              series: series, softwareVersion: "test", to: out)
            let segmentation = try DICOMSegmentation.read(out)
            XCTAssertEqual(segmentation.segments.map(\.label), ["liver", "tumour"])
            XCTAssertEqual(segmentation.segments.map(\.type), [DICOMCode("10200004", "SCT", "Liver"), DICOMCode("108369006", "SCT", "Neoplasm")])
            let slicesHolding = (1...2).map { value in
                (0..<14).filter { z in (0..<(32 * 40)).contains { labels.voxels.data[z * 32 * 40 + $0] == Float(value) } }.count
            }
            XCTAssertEqual(segmentation.frames.count, slicesHolding.reduce(0, +), "one frame per slice holding each segment")
            XCTAssertEqual(Set(segmentation.referencedInstanceUIDs), Set(series.planes.map(\.sopInstanceUID)))
            XCTAssertEqual(segmentation.frameOfReferenceUID, series.firstFile.frameOfReferenceUID)
            let map = try segmentation.labelMap(on: series.volume.header, labelOfSegment: [1: 1, 2: 2])
            assertSameLabels(map, header: series.volume.header, labels, source)
            let committed = try DICOMSegmentation.read(seg("volseg_\(source).dcm"))
            XCTAssertEqual(committed.segments, segmentation.segments, "the segments highdicom read in the committed file")
            XCTAssertEqual(committed.referencedSeriesUIDs, segmentation.referencedSeriesUIDs)
        }
    }

    /// A segment the case does not hold keeps its number (segment k is the k-th label value) and
    /// has no frames; a label value the model does not have is refused and nothing is written.
    func testAbsentSegmentsKeepTheirNumberAndUnknownValuesWriteNothing() throws {
        let series = try DICOMSeriesReader.read(DICOMSeriesReaderTests.folder("ct_axial"))
        let liverOnly = series.volume.voxels.copy().reshaped([14, 32, 40])
        for i in 0..<liverOnly.count { liverOnly.data[i] = liverOnly.data[i] > 0 ? 1 : 0 }
        let out = folder.appendingPathComponent("liver.dcm")
        try DICOMSegmentationWriter.write(liverOnly, labelValues: [0, 1, 2], names: [1: "liver", 2: "tumour"], series: series,
                                          softwareVersion: "test", to: out)
        let segmentation = try DICOMSegmentation.read(out)
        XCTAssertEqual(segmentation.segments.map(\.number), [1, 2])
        XCTAssertTrue(segmentation.frames.allSatisfy { $0.segment == 1 })
        liverOnly.data[5] = 3
        let refused = folder.appendingPathComponent("refused.dcm")
        XCTAssertThrowsError(try DICOMSegmentationWriter.write(liverOnly, labelValues: [0, 1, 2], names: [:], series: series,
                                                               softwareVersion: "test", to: refused)) { error in
            XCTAssertTrue("\(error)".contains("label value 3"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: refused.path))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted(), ["liver.dcm"], "no temporary left")
    }

    /// Frames placed on a grid they do not lie on are refused, not scattered.
    func testFramesOffTheReferenceGridAreRefused() throws {
        let segmentation = try DICOMSegmentation.read(seg("highdicom_ct_axial.dcm"))
        let mr = try DICOMSeriesReader.read(DICOMSeriesReaderTests.folder("mr_axial"))
        XCTAssertThrowsError(try segmentation.labelMap(on: mr.volume.header, labelOfSegment: [1: 1, 2: 2])) { error in
            guard case DICOMError.segmentationGeometry = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try DICOMSegmentation.read(DICOMSeriesReaderTests.folder("ct_axial").appendingPathComponent("IM0001.dcm"))) { error in
            guard case DICOMError.notSegmentation = error else { return XCTFail("\(error)") }
        }
    }

    func testSegmentCodesComeFromTheLabelName() {
        XCTAssertEqual(DICOMSegmentCodes.codes(for: "liver").type.meaning, "Liver")
        XCTAssertEqual(DICOMSegmentCodes.codes(for: "liver tumour").type.meaning, "Neoplasm")
        XCTAssertEqual(DICOMSegmentCodes.codes(for: "necrotic tumour core").type.meaning, "Necrosis")
        XCTAssertEqual(DICOMSegmentCodes.codes(for: "peritumoral edema").type.meaning, "Edema")
        XCTAssertEqual(DICOMSegmentCodes.codes(for: "left_kidney").type.value, "64033007")
        XCTAssertEqual(DICOMSegmentCodes.codes(for: "label 7").type, DICOMSegmentCodes.tissue)
        XCTAssertEqual(DICOMSegmentCodes.codes(for: "label 7").category, DICOMSegmentCodes.tissue)
    }
}
