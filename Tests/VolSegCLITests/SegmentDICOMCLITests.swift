import Foundation
@testable import VolSegCore
@testable import VolSegIO
import VolSegTestSupport
import XCTest

/// `volseg segment`, `info` and `evaluate` on the DICOM reference series (Tests/References/dicom):
/// NIfTI output on dcm2niix's grid, DICOM SEG output that decodes to the same label map, SEG
/// predictions scored like NIfTI ones, and every malformed series refused with nothing written.
final class SegmentDICOMCLITests: XCTestCase {
    static let references = TestPaths.repositoryRoot.appendingPathComponent("Tests/References/dicom")
    static let model = TestPaths.repositoryRoot.appendingPathComponent("data/models/default-liver.h5")
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-dicom-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    func series(_ name: String) -> String { Self.references.appendingPathComponent("series/\(name)").path }
    func out(_ name: String) -> URL { folder.appendingPathComponent(name) }

    func testNIfTIFromADICOMSeriesLiesOnDcm2niixsGrid() throws {
        let cli = try CLIRunner.make()
        for name in ["ct_axial", "ct_oblique", "ct_enhanced"] {
            let mask = out("\(name).nii.gz")
            let result = try cli.run(["segment", "-i", series(name), "-m", Self.model.path, "-o", mask.path])
            XCTAssertEqual(result.status, 0, result.stderr)
            XCTAssertTrue(result.stdout.contains("input channel 0: DICOM series folder"), result.stdout)
            let written = try NIfTIReader.read(mask)
            let dcm2niix = try NIfTIReader.readHeader(Self.references.appendingPathComponent("dcm2niix/\(name).nii.gz"))
            XCTAssertEqual(written.header.spatialShape, dcm2niix.spatialShape, name)
            XCTAssertLessThan(written.header.sform.maxAbsoluteDifference(dcm2niix.affine), 1e-3, name)
            XCTAssertLessThan(written.header.qform.maxAbsoluteDifference(dcm2niix.affine), 1e-3, name)
            XCTAssertEqual(written.header.datatype, NIfTIDatatype.uint8)
            XCTAssertTrue(Set(written.voxels.toArray()).isSubset(of: [0, 1, 2]))
        }
    }

    /// The SEG of a run decodes to the NIfTI label map of the same run, with the model's label
    /// names as segment labels and the source series referenced.
    func testDICOMSegOutputDecodesToTheNIfTIOutput() throws {
        let cli = try CLIRunner.make()
        for name in ["ct_axial", "ct_enhanced"] {
            let mask = out("\(name).nii.gz"), segFile = out("\(name).dcm")
            XCTAssertEqual(try cli.run(["segment", "-i", series(name), "-m", Self.model.path, "-o", mask.path]).status, 0)
            let result = try cli.run(["segment", "-i", series(name), "-m", Self.model.path, "--output-type", "dicom-seg", "-o", segFile.path])
            XCTAssertEqual(result.status, 0, result.stderr)
            let nifti = try NIfTIReader.read(mask)
            let segmentation = try DICOMSegmentation.read(segFile)
            XCTAssertEqual(segmentation.segments.map(\.label), ["liver", "tumour"])
            let source = try DICOMSeriesReader.read(URL(fileURLWithPath: series(name)))
            XCTAssertEqual(segmentation.referencedSeriesUIDs, [source.firstFile.seriesInstanceUID])
            XCTAssertEqual(segmentation.frameOfReferenceUID, source.firstFile.frameOfReferenceUID)
            let map = try segmentation.labelMap(on: nifti.header, labelOfSegment: [1: 1, 2: 2])
            XCTAssertEqual(map.toArray(), nifti.voxels.toArray(), name)
        }
    }

    func testEachMalformedSeriesFailsNamingItAndWritesNothing() throws {
        let cli = try CLIRunner.make()
        let malformed = ["ct_missing_slice": "slices missing", "ct_nonuniform": "non-uniform slice spacing", "ct_gantry_tilt": "gantry tilt",
                         "ct_mixed_size": "one slice size", "ct_mixed_orientation": "one orientation", "ct_jpeg2000": "JPEG 2000",
                         "non_image": "non-image", "ct_two_series": "--series"]
        for (name, reason) in malformed {
            for (type, file) in [("nifti", "\(name).nii.gz"), ("dicom-seg", "\(name).dcm")] {
                let target = out(file)
                let result = try cli.run(["segment", "-i", series(name), "-m", Self.model.path, "--output-type", type, "-o", target.path])
                XCTAssertNotEqual(result.status, 0, "\(name) \(type)")
                XCTAssertFalse(result.crashed, "\(name): \(result.stderr)")
                XCTAssertTrue(result.stderr.contains(name), "\(name): the error names the series: \(result.stderr)")
                XCTAssertTrue(result.stderr.contains(reason), "\(name): \(result.stderr)")
                XCTAssertFalse(FileManager.default.fileExists(atPath: target.path), "\(name): no output")
            }
            let info = try cli.run(["info", series(name)])
            if name == "ct_two_series" {
                XCTAssertEqual(info.status, 0, info.stderr)
                XCTAssertTrue(info.stdout.contains("2 series") && info.stdout.contains("--series"), info.stdout)
            } else {
                XCTAssertNotEqual(info.status, 0, name)
                XCTAssertTrue(info.stderr.contains(reason), "\(name): \(info.stderr)")
            }
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), [], "no file, no temporary")
    }

    func testSeriesChoiceAndChannelGeometry() throws {
        let cli = try CLIRunner.make()
        let found = try DICOMSeriesReader.survey(URL(fileURLWithPath: series("ct_two_series"))).series
        let uids = found.keys.sorted(), both = DICOMSeriesReader.summaries(found)
        var result = try cli.run(["segment", "-i", series("ct_two_series"), "-m", Self.model.path, "-o", out("a.nii.gz").path])
        XCTAssertNotEqual(result.status, 0)
        for uid in uids { XCTAssertTrue(result.stderr.contains(uid), result.stderr) }
        let full = try XCTUnwrap(both.first { $0.planeCount == 14 }).uid
        result = try cli.run(["segment", "-i", series("ct_two_series"), "--series", full, "-m", Self.model.path, "-o", out("a.nii.gz").path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains(full), result.stdout)

        // Two channels must share a geometry: another series' grid (another scan) and two series of
        // one folder with different slice counts are refused, naming both.
        let twoChannels = try RandomUNetCheckpoint.write(channels: 2, to: out("two.h5"))
        result = try cli.run(["segment", "-i", series("ct_axial"), series("mr_axial"), "-m", twoChannels.path, "-o", out("b.nii.gz").path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("co-register") && result.stderr.contains("mr_axial") && result.stderr.contains("ct_axial"), result.stderr)
        result = try cli.run(["segment", "-i", series("ct_two_series"), "--series", uids[0], "--series", uids[1],
                              "-m", twoChannels.path, "-o", out("b.nii.gz").path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("co-register"), result.stderr)
        // The same series twice is one geometry: two channels.
        result = try cli.run(["segment", "-i", series("ct_axial"), series("ct_rle"), "-m", twoChannels.path, "-o", out("b.nii.gz").path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out("a.dcm").path))
    }

    func testDICOMSegNeedsADICOMInput() throws {
        let cli = try CLIRunner.make()
        let nifti = Self.references.appendingPathComponent("dcm2niix/ct_axial.nii.gz").path
        var result = try cli.run(["segment", "-i", nifti, "-m", Self.model.path, "--output-type", "dicom-seg", "-o", out("x.dcm").path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("--output-type dicom-seg"), result.stderr)
        result = try cli.run(["segment", "-i", series("ct_axial"), "-m", Self.model.path, "--output-type", "dicom-seg", "-o", out("x.nii.gz").path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("OUT.dcm"), result.stderr)
        result = try cli.run(["segment", "-i", series("ct_axial"), nifti, "-m", Self.model.path, "-o", out("x.nii.gz").path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("not a DICOM series folder"), result.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), [])
    }

    /// `evaluate` scores a SEG prediction (segments matched to labels by name) exactly as the
    /// NIfTI prediction of the same run, against the cropped liver117 labels.
    func testEvaluateScoresASegPredictionLikeItsNIfTI() throws {
        let cli = try CLIRunner.make()
        let reference = out("ref"), segPredictions = out("pred-seg"), niftiPredictions = out("pred-nifti")
        for url in [reference, segPredictions, niftiPredictions] { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
        try FileManager.default.copyItem(at: Self.references.appendingPathComponent("labels/ct_axial.nii.gz"),
                                         to: reference.appendingPathComponent("ct_axial.nii.gz"))
        XCTAssertEqual(try cli.run(["segment", "-i", series("ct_axial"), "-m", Self.model.path, "--output-type", "dicom-seg",
                                    "-o", segPredictions.appendingPathComponent("ct_axial.dcm").path]).status, 0)
        XCTAssertEqual(try cli.run(["segment", "-i", series("ct_axial"), "-m", Self.model.path,
                                    "-o", niftiPredictions.appendingPathComponent("ct_axial.nii.gz").path]).status, 0)
        var means: [NSDictionary] = []
        for predictions in [segPredictions, niftiPredictions] {
            let report = out("report-\(predictions.lastPathComponent)")
            let result = try cli.run(["evaluate", "--pred", predictions.path, "--ref", reference.path, "--labels", "liver=1", "tumour=2",
                                      "--out", report.path, "--no-pictures"])
            XCTAssertEqual(result.status, 0, result.stderr)
            let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: report.appendingPathComponent("summary.json"))) as! [String: Any]
            means.append(summary["mean"] as! NSDictionary)
        }
        XCTAssertEqual(means[0], means[1])
        XCTAssertGreaterThan(((means[0]["1"] as! [String: Any])["Dice"] as! Double), 0.5, "the bundled model finds the liver")

        // A segment whose name no label has is refused, naming it.
        let result = try cli.run(["evaluate", "--pred", segPredictions.path, "--ref", reference.path, "--labels", "organ=1", "lesion=2",
                                  "--out", out("bad").path, "--no-pictures"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("segment \"liver\""), result.stderr)
    }

    /// An nnU-Net model folder on a DICOM series predicts what it predicts on dcm2niix's NIfTI of
    /// that series (the pipeline sees the same array and geometry), and its SEG decodes to it.
    func testNNUNetModelOnADICOMSeriesMatchesItsRunOnDcm2niixsNIfTI() throws {
        let cli = try CLIRunner.make()
        let model = NNUNetSegmentCLITests.modelA.path
        let fromDICOM = out("dicom.nii.gz"), fromNIfTI = out("nifti.nii.gz"), segFile = out("nnunet.dcm")
        let common = ["-m", model, "-f", "0", "--disable_tta", "--no-progress"]
        var result = try cli.run(["segment", "-i", series("ct_axial"), "-o", fromDICOM.path] + common)
        XCTAssertEqual(result.status, 0, result.stderr)
        result = try cli.run(["segment", "-i", Self.references.appendingPathComponent("dcm2niix/ct_axial.nii.gz").path,
                              "-o", fromNIfTI.path] + common)
        XCTAssertEqual(result.status, 0, result.stderr)
        let a = try NIfTIReader.read(fromDICOM), b = try NIfTIReader.read(fromNIfTI)
        XCTAssertLessThan(a.affine.maxAbsoluteDifference(b.affine), 1e-3)
        XCTAssertEqual(a.voxels.toArray(), b.voxels.toArray())
        result = try cli.run(["segment", "-i", series("ct_axial"), "--output-type", "dicom-seg", "-o", segFile.path] + common)
        XCTAssertEqual(result.status, 0, result.stderr)
        let segmentation = try DICOMSegmentation.read(segFile)
        let values = Dictionary(uniqueKeysWithValues: segmentation.segments.map { ($0.number, $0.number) })
        XCTAssertEqual(try segmentation.labelMap(on: a.header, labelOfSegment: values).toArray(), a.voxels.toArray())
        XCTAssertFalse(segmentation.segments.map(\.label).contains { $0.hasPrefix("label ") }, "dataset.json's names: \(segmentation.segments)")
        // A budget the plan exceeds is refused before any work, the SEG output too.
        let refused = out("refused.dcm")
        result = try cli.run(["segment", "-i", series("ct_axial"), "--output-type", "dicom-seg", "-o", refused.path,
                              "--memory-budget", "1MiB"] + common)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("--memory-budget"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: refused.path))
    }
}
