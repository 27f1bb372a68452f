import Foundation
@testable import VolSegIO
import XCTest

/// Every layout is detected from its folder, yields cases in the BraTS channel order (T1, T1ce, T2,
/// FLAIR) where it is a brain tumour dataset, and reports problems naming case and file.
final class DatasetLayoutTests: XCTestCase {
    var fixtures: DatasetFixtures!

    override func setUpWithError() throws { fixtures = try DatasetFixtures() }
    override func tearDown() { fixtures.remove() }

    /// The constant each loaded channel holds.
    func channelValues(_ item: DatasetCase) throws -> [Float] {
        let image = try item.loadImage()
        return (0..<image.channels).map { image.voxels[$0, 0, 0, 0] }
    }

    func testBraTS2021FolderWithAMissingModality() throws {
        for (value, name) in ["t1", "t1ce", "t2", "flair"].enumerated() {
            try fixtures.volume("BraTS2021_00000/BraTS2021_00000_\(name).nii.gz", value: Float(value + 1))
            if name != "t1ce" { try fixtures.volume("BraTS2021_00001/BraTS2021_00001_\(name).nii.gz", value: 9) }
        }
        try fixtures.labels("BraTS2021_00000/BraTS2021_00000_seg.nii.gz", label: 4)
        let report = try DatasetReport.inspect(fixtures.root)
        XCTAssertEqual(report.layoutName, "brats2021")
        XCTAssertEqual(report.cases.map(\.id), ["BraTS2021_00000"])
        XCTAssertEqual(report.modalities, ["T1", "T1ce", "T2", "FLAIR"])
        XCTAssertEqual(try channelValues(report.cases[0]), [1, 2, 3, 4])
        XCTAssertEqual(report.problems.count, 1)
        XCTAssertEqual(report.problems[0].caseID, "BraTS2021_00001")
        XCTAssertTrue(report.problems[0].file.contains("BraTS2021_00001_t1ce"), report.problems[0].file)
        XCTAssertTrue(report.problems[0].problem.contains("missing modality T1ce"))
        let image = try report.cases[0].loadImage()
        XCTAssertEqual(try report.cases[0].loadLabel(matching: image)?.voxels[0, 1, 1, 1], 4)
        XCTAssertEqual(report.labelConvention.region("WT"), [1, 2, 4])
        XCTAssertEqual(report.labelConvention.region("TC"), [1, 4])
        XCTAssertEqual(report.labelConvention.region("ET"), [4])
    }

    func testBraTS2020NamesAndTheOddSegmentationOfCase355() throws {
        for name in ["flair", "t1", "t1ce", "t2"] {
            try fixtures.volume("BraTS20_Training_355/BraTS20_Training_355_\(name).nii", value: 1)
        }
        try fixtures.labels("BraTS20_Training_355/W39_1998.09.19_Segm.nii", label: 2)
        let report = try DatasetReport.inspect(fixtures.root)
        XCTAssertEqual(report.layoutName, "brats2021")
        XCTAssertEqual(report.problems, [])
        XCTAssertEqual(report.cases.first?.labelFile?.lastPathComponent, "W39_1998.09.19_Segm.nii")
    }

    func testBraTS2023NamesMapToTheSameChannelOrder() throws {
        for (value, name) in ["t1n", "t1c", "t2w", "t2f"].enumerated() {
            try fixtures.volume("BraTS-GLI-00002-000/BraTS-GLI-00002-000-\(name).nii.gz", value: Float(value + 1))
        }
        try fixtures.labels("BraTS-GLI-00002-000/BraTS-GLI-00002-000-seg.nii.gz", label: 3)
        let report = try DatasetReport.inspect(fixtures.root)
        XCTAssertEqual(report.layoutName, "brats2023")
        XCTAssertEqual(report.problems, [])
        XCTAssertEqual(try channelValues(report.cases[0]), [1, 2, 3, 4])
        XCTAssertEqual(report.labelConvention.region("ET"), [3])
        XCTAssertEqual(report.labelConvention.region("TC"), [1, 3])
    }

    func testMSDTask01FourDImagesAreReorderedToBraTSOrder() throws {
        try fixtures.text("Task01_BrainTumour/dataset.json", """
            {"name": "BRATS", "modality": {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"},
             "labels": {"0": "background", "1": "edema", "2": "non-enhancing tumor", "3": "enhancing tumour"},
             "numTraining": 1, "training": [{"image": "./imagesTr/BRATS_001.nii.gz", "label": "./labelsTr/BRATS_001.nii.gz"}]}
            """)
        // Volume c holds c: FLAIR 0, T1w 1, T1gd 2, T2w 3.
        try fixtures.volume("Task01_BrainTumour/imagesTr/BRATS_001.nii.gz", value: 0, channels: 4)
        try fixtures.labels("Task01_BrainTumour/labelsTr/BRATS_001.nii.gz", label: 3)
        let report = try DatasetReport.inspect(fixtures.root.appendingPathComponent("Task01_BrainTumour"))
        XCTAssertEqual(report.layoutName, "msd")
        XCTAssertEqual(report.problems, [])
        XCTAssertEqual(report.labelConvention.name, "msd-brain")
        XCTAssertEqual(report.labelConvention.region("TC"), [2, 3])
        XCTAssertEqual(try channelValues(report.cases[0]), [1, 2, 3, 0])
    }

    func testMSDTask03IsCTWithLiTSLabels() throws {
        try fixtures.text("Task03_Liver/dataset.json", """
            {"name": "Liver", "modality": {"0": "CT"}, "labels": {"0": "background", "1": "liver", "2": "cancer"},
             "numTraining": 1, "training": [{"image": "./imagesTr/liver_0.nii.gz", "label": "./labelsTr/liver_0.nii.gz"}]}
            """)
        try fixtures.volume("Task03_Liver/imagesTr/liver_0.nii.gz", value: -100)
        try fixtures.labels("Task03_Liver/labelsTr/liver_0.nii.gz", label: 2)
        let report = try DatasetReport.inspect(fixtures.root.appendingPathComponent("Task03_Liver"))
        XCTAssertEqual(report.layoutName, "msd")
        XCTAssertEqual(report.modalities, ["CT"])
        XCTAssertEqual(report.labelConvention, .lits)
        XCTAssertEqual(report.problems, [])
        XCTAssertEqual(try channelValues(report.cases[0]), [-100])
    }

    func testLiTSLabelOnAnotherGridIsAProblem() throws {
        try fixtures.volume("volume-0.nii", value: 1)
        try fixtures.labels("segmentation-0.nii", label: 1)
        try fixtures.volume("volume-1.nii", value: 1)
        try fixtures.labels("segmentation-1.nii", label: 1, shape: [4, 5, 7])
        let report = try DatasetReport.inspect(fixtures.root)
        XCTAssertEqual(report.layoutName, "lits")
        XCTAssertEqual(report.cases.map(\.id), ["volume-0", "volume-1"])
        XCTAssertEqual(report.problems.count, 1)
        XCTAssertEqual(report.problems[0].caseID, "volume-1")
        XCTAssertTrue(report.problems[0].file.hasSuffix("segmentation-1.nii"))
        XCTAssertTrue(report.problems[0].problem.contains("[4, 5, 7]"), report.problems[0].problem)
        XCTAssertThrowsError(try report.cases[1].loadLabel(matching: report.cases[1].loadImage())) { error in
            XCTAssertTrue("\(error)".contains("segmentation-1.nii"), "\(error)")
        }
    }

    func testNNUNetRawWithReorderedBraTSChannelsAndRegions() throws {
        try fixtures.text("Dataset137_BraTS/dataset.json", """
            {"channel_names": {"0": "FLAIR", "1": "T1", "2": "T1ce", "3": "T2"},
             "labels": {"background": 0, "whole tumor": [1, 2, 3], "tumor core": [2, 3], "enhancing tumor": 3},
             "numTraining": 2, "file_ending": ".nii.gz"}
            """)
        for id in ["BraTS_001", "BraTS_002"] {
            for c in 0..<4 { try fixtures.volume("Dataset137_BraTS/imagesTr/\(id)_000\(c).nii.gz", value: Float(c)) }
        }
        try fixtures.labels("Dataset137_BraTS/labelsTr/BraTS_001.nii.gz", label: 1)
        let report = try DatasetReport.inspect(fixtures.root.appendingPathComponent("Dataset137_BraTS"))
        XCTAssertEqual(report.layoutName, "nnunet")
        XCTAssertEqual(report.modalities, ["T1", "T1ce", "T2", "FLAIR"])
        XCTAssertEqual(try channelValues(report.cases[0]), [1, 2, 3, 0])
        XCTAssertEqual(report.labelConvention.region("whole tumor"), [1, 2, 3])
        XCTAssertEqual(report.labelConvention.labels[3], "enhancing tumor")
        XCTAssertEqual(report.problems.map(\.caseID), ["BraTS_002"])
        XCTAssertTrue(report.problems[0].problem.contains("missing label"))
    }

    func testMalformedDatasetJSONIsAProblem() throws {
        try fixtures.text("Dataset001_X/dataset.json", "{\"channel_names\": {\"0\": \"CT\"}, \"labels\": ")
        try fixtures.volume("Dataset001_X/imagesTr/a_0000.nii.gz", value: 0)
        let report = try DatasetReport.inspect(fixtures.root.appendingPathComponent("Dataset001_X"))
        XCTAssertEqual(report.layoutName, "nnunet")
        XCTAssertEqual(report.problems.count, 1)
        XCTAssertTrue(report.problems[0].file.hasSuffix("dataset.json"))
        XCTAssertTrue(report.problems[0].problem.contains("malformed dataset.json"))
    }

    func testUnreadableChannelIsAProblem() throws {
        for name in ["t1", "t1ce", "t2", "flair"] {
            try fixtures.volume("BraTS2021_00003/BraTS2021_00003_\(name).nii.gz", value: 1)
        }
        try fixtures.text("BraTS2021_00003/BraTS2021_00003_seg.nii.gz", "broken download")
        let report = try DatasetReport.inspect(fixtures.root)
        XCTAssertEqual(report.problems.count, 1)
        XCTAssertTrue(report.problems[0].problem.hasPrefix("unreadable"), report.problems[0].problem)
        XCTAssertEqual(report.problems[0].caseID, "BraTS2021_00003")
    }

    func testUnknownFolderIsRefused() throws {
        try fixtures.text("notes.txt", "hello")
        XCTAssertThrowsError(try DatasetDetector.detect(fixtures.root)) { error in
            XCTAssertTrue("\(error)".contains(fixtures.root.path))
        }
    }
}
