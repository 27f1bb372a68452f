import Foundation
@testable import VolSegCore
@testable import VolSegDatasets
@testable import VolSegIO
import VolSegTestSupport
import XCTest

/// Synthetic datasets are deterministic for a seed, readable as their layout, and carry the
/// contrasts and labels they promise.
final class SyntheticDatasetTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-synth-\(UUID().uuidString)")
    }

    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    func mean(_ t: Tensor, channel: Int, where labels: Tensor, equals label: Float) -> Double {
        let volume = labels.count
        var sum = 0.0, n = 0
        for i in 0..<volume where labels.data[i] == label {
            sum += Double(t.data[channel * volume + i]); n += 1
        }
        return n == 0 ? .nan : sum / Double(n)
    }

    func testSameSeedSameFilesOtherSeedOtherFiles() throws {
        let a = try SyntheticDataset.write(.brats, cases: 1, to: folder.appendingPathComponent("a"), seed: 7, size: [24, 24, 24])
        let b = try SyntheticDataset.write(.brats, cases: 1, to: folder.appendingPathComponent("b"), seed: 7, size: [24, 24, 24])
        let c = try SyntheticDataset.write(.brats, cases: 1, to: folder.appendingPathComponent("c"), seed: 8, size: [24, 24, 24])
        XCTAssertEqual(a.count, 5)
        for (x, y) in zip(a, b) {
            XCTAssertEqual(try NIfTIReader.read(x).voxels.toArray(), try NIfTIReader.read(y).voxels.toArray(), x.lastPathComponent)
        }
        XCTAssertNotEqual(try NIfTIReader.read(a[0]).voxels.toArray(), try NIfTIReader.read(c[0]).voxels.toArray())
    }

    func testBraTSPhantomHasThreeTumourPartsAndTheirContrasts() throws {
        let item = SyntheticDataset.makeCase(.brats, index: 0, seed: 1, size: [64, 64, 64])
        XCTAssertEqual(item.channels.shape, [4, 64, 64, 64])
        let labels = item.labels
        XCTAssertEqual(Set(labels.toArray()), [0, 1, 2, 4])
        // T1ce: the enhancing rim (4) is the brightest tissue; FLAIR: oedema (2) brighter than
        // the rest of the brain is not guaranteed per voxel, but its mean is well above white matter.
        let t1ce = (0..<3).map { [1, 2, 4][$0] }.map { mean(item.channels, channel: 1, where: labels, equals: Float($0)) }
        XCTAssertGreaterThan(t1ce[2], 1.5 * max(t1ce[0], t1ce[1]))
        let flairEdema = mean(item.channels, channel: 3, where: labels, equals: 2)
        let flairNecrosis = mean(item.channels, channel: 3, where: labels, equals: 1)
        XCTAssertGreaterThan(flairEdema, 1.5 * flairNecrosis)
        XCTAssertEqual(mean(item.channels, channel: 0, where: labels, equals: 0) < 500, true)
    }

    func testLiTSPhantomIsCTInHounsfieldUnits() throws {
        let item = SyntheticDataset.makeCase(.lits, index: 2, seed: 5, size: [64, 64, 48])
        XCTAssertEqual(item.channels.shape, [1, 48, 64, 64])
        XCTAssertEqual(Set(item.labels.toArray()), [0, 1, 2])
        let values = item.channels.toArray()
        XCTAssertEqual(Double(values.min()!), -1024, accuracy: 30)   // air
        XCTAssertEqual(mean(item.channels, channel: 0, where: item.labels, equals: 1), 105, accuracy: 20)
        XCTAssertEqual(mean(item.channels, channel: 0, where: item.labels, equals: 2), 35, accuracy: 20)
        for (got, expected) in zip(item.header.spacing, [0.8, 0.8, 2.5]) { XCTAssertEqual(got, expected, accuracy: 1e-9) }
    }

    func testWrittenDatasetsPassTheirLayoutChecks() throws {
        try SyntheticDataset.write(.brats, cases: 2, to: folder.appendingPathComponent("brats"), seed: 0, size: [32, 32, 32])
        try SyntheticDataset.write(.lits, cases: 2, to: folder.appendingPathComponent("lits"), seed: 0, size: [32, 32, 24])
        let brats = try DatasetReport.inspect(folder.appendingPathComponent("brats"))
        XCTAssertEqual(brats.layoutName, "brats2021")
        XCTAssertEqual(brats.cases.count, 2)
        XCTAssertEqual(brats.problems, [])
        let lits = try DatasetReport.inspect(folder.appendingPathComponent("lits"))
        XCTAssertEqual(lits.layoutName, "lits")
        XCTAssertEqual(lits.cases.count, 2)
        XCTAssertEqual(lits.problems, [])
        let image = try lits.cases[1].loadImage()
        XCTAssertEqual(image.spatialShape, [24, 32, 32])
        XCTAssertNotNil(try lits.cases[1].loadLabel(matching: image))
    }

    func testShiftedDatasetRefusesAnExistingOutputAndOneInsideItsInput() throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        XCTAssertThrowsError(try ScannerShiftedDataset.write(from: folder, to: folder, shift: ScannerShift())) {
            XCTAssertEqual($0 as? DatasetWriteError, .outputExists(path: folder.path))
            XCTAssertTrue("\($0)".contains("already exists"), "\($0)")
        }
        let inside = folder.appendingPathComponent("shifted")
        XCTAssertThrowsError(try ScannerShiftedDataset.write(from: folder, to: inside, shift: ScannerShift())) {
            XCTAssertEqual($0 as? DatasetWriteError, .outputInsideDataset(path: inside.path, dataset: folder.path))
            XCTAssertTrue("\($0)".contains("lies inside the dataset folder"), "\($0)")
        }
    }
}
