import Foundation
@testable import VolSegCore
@testable import VolSegIO
import VolSegTestSupport
import XCTest

/// The reader keeps what the file says: NaN and infinity survive (libnifti's loader turned them
/// into 0), in both byte orders, float32 and float64, .nii and .nii.gz, with scaling applied.
final class NIfTIFaithfulReadTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws { folder = try NIfTITestFiles.temporaryFolder() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    /// 24 voxels (4 x 3 x 2): three non-finite ones among finite values.
    let values: [Double] = (0..<24).map { i in
        switch i {
        case 1: return .nan
        case 7: return .infinity
        case 20: return -.infinity
        default: return Double(i) * 0.5 - 3
        }
    }

    func testNaNAndInfinitySurviveInEveryFloatLayout() throws {
        for datatype in [Int16(16), 64] {
            for bigEndian in [false, true] {
                for ext in ["nii", "nii.gz"] {
                    var file = CraftedNIfTI(datatype: datatype, bitpix: datatype == 16 ? 32 : 64, bigEndian: bigEndian)
                    file.slope = 2; file.intercept = 1
                    let url = folder.appendingPathComponent("nan-\(datatype)-\(bigEndian ? "be" : "le").\(ext)")
                    let voxels = datatype == 16 ? file.bytes(float32: values.map(Float.init)) : file.bytes(float64: values)
                    try file.write(voxels: voxels, to: url)
                    let volume = try NIfTIReader.read(url)
                    let name = url.lastPathComponent
                    XCTAssertEqual(volume.voxels.shape, [1, 2, 3, 4], name)
                    XCTAssertEqual(volume.statistics.nonfiniteCount, 3, name)
                    let read = volume.voxels.toArray()
                    XCTAssertTrue(read[1].isNaN, name)
                    XCTAssertEqual(read[7], .infinity, name)
                    XCTAssertEqual(read[20], -.infinity, name)
                    for i in 0..<24 where values[i].isFinite {
                        XCTAssertEqual(Double(read[i]), values[i] * 2 + 1, accuracy: 1e-6, "\(name) voxel \(i)")
                    }
                    XCTAssertEqual(volume.replacingNonFinite().replaced, 3, name)
                }
            }
        }
    }

    func testBigEndianIntegersReadWithScaling() throws {
        var file = CraftedNIfTI(datatype: 4, bitpix: 16, bigEndian: true)
        file.slope = 0.5; file.intercept = -10
        let stored: [Int16] = (0..<24).map { Int16($0 * 1000 - 12000) }
        let url = folder.appendingPathComponent("int16-be.nii.gz")
        try file.write(voxels: file.bytes(stored), to: url)
        let read = try NIfTIReader.read(url).voxels.toArray()
        for i in 0..<24 { XCTAssertEqual(read[i], Float(stored[i]) * 0.5 - 10, accuracy: 1e-6, "voxel \(i)") }
    }

    func testTruncatedGzipVoxelsAreNamed() throws {
        let file = CraftedNIfTI()
        let url = folder.appendingPathComponent("short.nii.gz")
        try file.write(voxels: file.bytes(float32: [1, 2, 3]), to: url)
        XCTAssertThrowsError(try NIfTIReader.read(url)) { error in
            guard case NIfTIError.truncatedData(let path, let expected, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, url.path)
            XCTAssertEqual(expected, 352 + 24 * 4)
        }
    }

    func testAnalyzePairWithoutMagicStillReads() throws {
        var file = CraftedNIfTI(datatype: 2, bitpix: 8)
        file.magic = [0, 0, 0, 0]
        file.voxOffset = 0
        let header = folder.appendingPathComponent("old.hdr"), image = folder.appendingPathComponent("old.img")
        try Data(file.header().prefix(348)).write(to: header)
        try Data((0..<24).map { UInt8($0) }).write(to: image)
        let volume = try NIfTIReader.read(header)
        XCTAssertEqual(volume.voxels.toArray(), (0..<24).map(Float.init))
    }

    func testCorpusHasNoGeometryWarnings() throws {
        guard let corpus = TestPaths.sharedFile("data/nifti_corpus") else { throw XCTSkip("../shared absent") }
        for name in try FileManager.default.contentsOfDirectory(atPath: corpus.path) where name.contains(".nii") {
            XCTAssertEqual(try NIfTIReader.read(corpus.appendingPathComponent(name)).warnings, [], name)
        }
    }
}
