import Foundation
import VolSegCore
@testable import VolSegIO
import VolSegTestSupport
import XCTest

/// The DICOM series of Tests/References/dicom (made by make_reference.py from the real liver CT and
/// brain MRI) read as volumes and compared with dcm2niix's NIfTI of each, and the malformed ones
/// refused with their named errors.
final class DICOMSeriesReaderTests: XCTestCase {
    static let references = TestPaths.repositoryRoot.appendingPathComponent("Tests/References/dicom")

    struct Reference {
        let name: String
        let readable: Bool
        let error: String?
        let seriesUIDs: [String]
    }

    static func expected() throws -> [Reference] {
        let data = try Data(contentsOf: references.appendingPathComponent("expected.json"))
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let series = try XCTUnwrap(json["series"] as? [[String: Any]])
        return series.map {
            Reference(name: $0["name"] as! String, readable: $0["readable"] as! Bool, error: $0["error"] as? String,
                      seriesUIDs: $0["series_instance_uids"] as! [String])
        }
    }

    static func folder(_ name: String) -> URL { references.appendingPathComponent("series/\(name)") }
    static func dcm2niix(_ name: String) -> URL { references.appendingPathComponent("dcm2niix/\(name).nii.gz") }

    /// Both volumes in canonical RAS: the same shape, affines within 1e-3 mm, the same values.
    func assertSameVolume(_ ours: NIfTIVolume, _ theirs: NIfTIVolume, offset: Float = 0, _ name: String,
                          file: StaticString = #filePath, line: UInt = #line) {
        let a = CanonicalOrientation(header: ours.header), b = CanonicalOrientation(header: theirs.header)
        XCTAssertEqual(a.canonicalShape, b.canonicalShape, "\(name): canonical shape", file: file, line: line)
        XCTAssertLessThan(a.canonicalAffine.maxAbsoluteDifference(b.canonicalAffine), 1e-3, "\(name): canonical affine\n\(a.canonicalAffine)\n\(b.canonicalAffine)", file: file, line: line)
        let x = a.toCanonical(ours.voxels), y = b.toCanonical(theirs.voxels)
        XCTAssertEqual(x.shape, y.shape, "\(name)", file: file, line: line)
        guard x.shape == y.shape else { return }
        var differing = 0
        for i in 0..<x.count where x.data[i] != y.data[i] + offset { differing += 1 }
        XCTAssertEqual(differing, 0, "\(name): \(differing) voxels differ from dcm2niix's after rescale", file: file, line: line)
    }

    func testEveryReadableSeriesEqualsDcm2niixInCanonicalRAS() throws {
        let readable = try Self.expected().filter(\.readable).filter { $0.name != "mr_monochrome1" }
        XCTAssertGreaterThanOrEqual(readable.count, 10)
        for reference in readable {
            let series = try DICOMSeriesReader.read(Self.folder(reference.name))
            let theirs = try NIfTIReader.read(Self.dcm2niix(reference.name))
            assertSameVolume(series.volume, theirs, reference.name)
            XCTAssertEqual(series.firstFile.seriesInstanceUID, reference.seriesUIDs[0], reference.name)
        }
    }

    /// VolSeg reads a series in dcm2niix's own voxel order (rows reversed), so a model trained on
    /// dcm2niix's files gets the same array: the file order matches before any reorientation too.
    func testVoxelOrderAndAffineAreDcm2niixsWithoutReorienting() throws {
        for name in ["ct_axial", "ct_oblique", "ct_enhanced", "mr_nonsquare"] {
            let ours = try DICOMSeriesReader.read(Self.folder(name)).volume
            let theirs = try NIfTIReader.read(Self.dcm2niix(name))
            XCTAssertEqual(ours.voxels.shape, theirs.voxels.shape, name)
            XCTAssertLessThan(ours.affine.maxAbsoluteDifference(theirs.affine), 1e-3, "\(name)\n\(ours.affine)\n\(theirs.affine)")
            XCTAssertEqual(Array(UnsafeBufferPointer(start: ours.voxels.data, count: ours.voxels.count)),
                           Array(UnsafeBufferPointer(start: theirs.voxels.data, count: theirs.voxels.count)), name)
        }
    }

    /// Reversed numbering, shuffled file names and instance numbers, an enhanced multi-frame
    /// object and RLE compression all give the axial series' volume.
    func testSliceOrderComesFromPositionsNotNumbersOrNames() throws {
        let axial = try DICOMSeriesReader.read(Self.folder("ct_axial"))
        for name in ["ct_reversed", "ct_shuffled", "ct_enhanced", "ct_rle"] {
            let other = try DICOMSeriesReader.read(Self.folder(name))
            assertSameVolume(other.volume, axial.volume, name)
            XCTAssertEqual(other.sliceStep, 1, accuracy: 1e-9, name)
        }
        let enhanced = try DICOMSeriesReader.read(Self.folder("ct_enhanced"))
        XCTAssertEqual(Set(enhanced.planes.map(\.file)).count, 1)
        XCTAssertEqual(enhanced.planes.map(\.frame), Array((0..<14).reversed()), "highdicom stores the frames top down")
    }

    /// CT in Hounsfield units: stored values times RescaleSlope plus RescaleIntercept, a signed
    /// series with slope 0.5 too.
    func testRescaleGivesHounsfieldUnits() throws {
        let axial = try DICOMSeriesReader.read(Self.folder("ct_axial")).volume
        let half = try DICOMSeriesReader.read(Self.folder("ct_slope_half")).volume
        let liver = try NIfTIReader.read(XCTUnwrap(TestPaths.sharedFile("data/liver117/ct.nii.gz")))
        // The crop (i 76..<116, j 96..<128, k 8..<22 of liver117, which is RAS) rounded to whole HU, as stored.
        let canonicalA = CanonicalOrientation(header: axial.header).toCanonical(axial.voxels)
        let canonicalL = liver.voxels
        var mismatches = 0
        for k in 0..<14 {
            for j in 0..<32 {
                for i in 0..<40 {
                    let hu = canonicalL.data[((k + 8) * 128 + (j + 96)) * 128 + (i + 76)].rounded(.toNearestOrEven)   // numpy.round
                    if canonicalA.data[(k * 32 + j) * 40 + i] != hu { mismatches += 1 }
                }
            }
        }
        XCTAssertEqual(mismatches, 0, "ct_axial in canonical RAS is the rounded liver117 crop in HU")
        assertSameVolume(half, try NIfTIReader.read(Self.dcm2niix("ct_slope_half")), "ct_slope_half")
    }

    /// MONOCHROME1 is inverted within the stored range (2^BitsStored - 1 - v): the series stores
    /// 4000 - v of mr_axial, so VolSeg reads mr_axial + 95. dcm2niix does not invert (its file
    /// holds the stored values), which is why this series is compared with mr_axial instead.
    func testMonochrome1IsInvertedWithinTheStoredRange() throws {
        let inverted = try DICOMSeriesReader.read(Self.folder("mr_monochrome1")).volume
        assertSameVolume(inverted, try NIfTIReader.read(Self.dcm2niix("mr_axial")), offset: 95, "mr_monochrome1")
    }

    func testNonSquarePixelsGiveTheirSpacing() throws {
        let volume = try DICOMSeriesReader.read(Self.folder("mr_nonsquare")).volume
        let spacing = volume.affine.voxelSizes
        XCTAssertEqual(spacing[0], 1.2, accuracy: 1e-9, "x runs along a row: the column spacing")
        XCTAssertEqual(spacing[1], 0.8, accuracy: 1e-9, "y runs down the columns: the row spacing")
        XCTAssertEqual(spacing[2], 6.5, accuracy: 1e-6)
    }

    func testEachMalformedSeriesGivesItsNamedError() throws {
        let malformed = try Self.expected().filter { !$0.readable }
        XCTAssertEqual(Set(malformed.compactMap(\.error)), ["missing-slice", "non-uniform-spacing", "gantry-tilt", "mixed-size",
                                                          "mixed-orientation", "undecodable-transfer-syntax", "non-image", "several-series"])
        for reference in malformed {
            XCTAssertThrowsError(try DICOMSeriesReader.read(Self.folder(reference.name)), reference.name) { error in
                guard let error = error as? DICOMError else { return XCTFail("\(reference.name): \(error)") }
                let matches: Bool
                switch (reference.error, error) {
                case ("missing-slice", .missingSlices), ("non-uniform-spacing", .nonUniformSpacing), ("gantry-tilt", .gantryTilt),
                     ("mixed-size", .mixedSizes), ("mixed-orientation", .mixedOrientations),
                     ("undecodable-transfer-syntax", .undecodablePixels), ("non-image", .noImages), ("several-series", .severalSeries):
                    matches = true
                default:
                    matches = false
                }
                XCTAssertTrue(matches, "\(reference.name): expected \(reference.error ?? "?"), got \(error)")
                XCTAssertTrue(error.description.contains(reference.name), "\(reference.name): the message names the series: \(error)")
            }
        }
    }

    func testSeveralSeriesAreListedAndOneCanBeChosen() throws {
        let folder = Self.folder("ct_two_series")
        let uids = try XCTUnwrap(Self.expected().first { $0.name == "ct_two_series" }).seriesUIDs
        XCTAssertThrowsError(try DICOMSeriesReader.read(folder)) { error in
            for uid in uids { XCTAssertTrue("\(error)".contains(uid), "\(error)") }
            XCTAssertTrue("\(error)".contains("--series"))
        }
        let first = try DICOMSeriesReader.read(folder, seriesUID: uids[0])
        assertSameVolume(first.volume, try NIfTIReader.read(Self.dcm2niix("ct_axial")), "the first of two series")
        XCTAssertEqual(try DICOMSeriesReader.read(folder, seriesUID: uids[1]).planes.count, 8)
        XCTAssertThrowsError(try DICOMSeriesReader.read(folder, seriesUID: "1.2.3")) { error in
            guard case DICOMError.unknownSeries = error else { return XCTFail("\(error)") }
        }
    }

    func testAFileThatIsNotDICOMIsNotASeriesFolder() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-dicom-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data("not DICOM".utf8).write(to: folder.appendingPathComponent("notes.txt"))
        XCTAssertFalse(DICOMSeriesReader.isSeriesFolder(folder))
        XCTAssertTrue(DICOMSeriesReader.isSeriesFolder(Self.folder("ct_axial")))
        // A file with the DICOM marker and a corrupt body is named.
        var corrupt = Data(count: 128) + Data("DICM".utf8)
        corrupt += Data([0x02, 0x00, 0x10, 0x00, 0x55, 0x49, 0xFF, 0x7F])
        try corrupt.write(to: folder.appendingPathComponent("broken.dcm"))
        XCTAssertThrowsError(try DICOMSeriesReader.read(folder)) { error in
            XCTAssertTrue("\(error)".contains("broken.dcm"), "\(error)")
        }
    }
}
