import Foundation
@testable import VolSegCore
@testable import VolSegIO
import VolSegTestSupport
import XCTest

/// Each bad file gets a typed error that names the file and the problem, never a crash and never an
/// allocation sized by a corrupt header.
final class NIfTIBadInputTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws { folder = try NIfTITestFiles.temporaryFolder() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    func assertError(_ url: URL, _ check: (NIfTIError) -> Bool, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try NIfTIReader.read(url), file: file, line: line) { error in
            guard let e = error as? NIfTIError else { return XCTFail("untyped error \(error)", file: file, line: line) }
            XCTAssertTrue(check(e), "unexpected \(e)", file: file, line: line)
            XCTAssertTrue(e.description.contains(url.lastPathComponent) || e.description.contains(url.path),
                          "message does not name the file: \(e)", file: file, line: line)
        }
    }

    func testMissingFile() {
        assertError(folder.appendingPathComponent("absent.nii.gz")) { if case .missingFile = $0 { return true }; return false }
    }

    func testTextFileIsNotNIfTI() throws {
        let url = folder.appendingPathComponent("notes.nii")
        try Data(String(repeating: "not a scan\n", count: 60).utf8).write(to: url)
        assertError(url) { if case .notNIfTI = $0 { return true }; return false }
    }

    func testShortFileIsNotNIfTI() throws {
        let url = folder.appendingPathComponent("short.nii")
        try Data([1, 2, 3]).write(to: url)
        assertError(url) { if case .notNIfTI = $0 { return true }; return false }
    }

    func testTruncatedUncompressedData() throws {
        let url = folder.appendingPathComponent("truncated.nii")
        try NIfTITestFiles.make(dim: [3, 10, 10, 10, 1, 1, 1, 1], datatype: 4, bitpix: 16, dataBytes: 1000, at: url)
        assertError(url) {
            if case .truncatedData(_, let expected, let available) = $0 { return expected == 352 + 2000 && available == 1352 }
            return false
        }
    }

    func testTruncatedGzipData() throws {
        guard let source = TestPaths.sharedFile("data/nifti_corpus/example4d.nii.gz") else { throw XCTSkip("../shared absent") }
        let url = folder.appendingPathComponent("cut.nii.gz")
        let bytes = try Data(contentsOf: source)
        try bytes.prefix(bytes.count / 2).write(to: url)
        assertError(url) { if case .truncatedData = $0 { return true }; return false }
    }

    func testBadDimensions() throws {
        for (name, dim) in [("zero.nii", [Int16](arrayLiteral: 3, 10, 0, 10, 1, 1, 1, 1)),
                            ("negative.nii", [3, 10, -4, 10, 1, 1, 1, 1]),
                            ("rank0.nii", [0, 10, 10, 10, 1, 1, 1, 1]),
                            ("rank8.nii", [8, 10, 10, 10, 1, 1, 1, 1])] {
            let url = folder.appendingPathComponent(name)
            try NIfTITestFiles.make(dim: dim, datatype: 2, bitpix: 8, dataBytes: 1000, at: url)
            assertError(url) { if case .invalidDimensions = $0 { return true }; return false }
        }
    }

    func testUnknownAndComplexDatatypes() throws {
        for (name, code) in [("dt7.nii", Int16(7)), ("complex.nii", Int16(32)), ("rgb.nii", Int16(128))] {
            let url = folder.appendingPathComponent(name)
            try NIfTITestFiles.make(dim: [3, 4, 4, 4, 1, 1, 1, 1], datatype: code, bitpix: 8, dataBytes: 1024, at: url)
            assertError(url) { if case .unsupportedDatatype(_, let c) = $0 { return c == Int(code) }; return false }
        }
    }

    func testAbsurdSizeIsRefusedBeforeAllocating() throws {
        let url = folder.appendingPathComponent("huge.nii")
        try NIfTITestFiles.make(dim: [4, 32767, 32767, 32767, 100, 1, 1, 1], datatype: 16, bitpix: 32, dataBytes: 64, at: url)
        let before = MemoryLedger.shared.allocations
        assertError(url) { if case .absurdSize = $0 { return true }; return false }
        XCTAssertEqual(MemoryLedger.shared.allocations, before)
    }

    func testTwoDimensionalFileIsReadButRefusedWhereThreeDIsNeeded() throws {
        let url = folder.appendingPathComponent("slice.nii")
        try NIfTITestFiles.make(dim: [2, 6, 5, 1, 1, 1, 1, 1], datatype: 2, bitpix: 8, dataBytes: 30, at: url)
        let volume = try NIfTIReader.read(url)
        XCTAssertEqual(volume.voxels.shape, [1, 1, 5, 6])
        XCTAssertEqual(volume.voxels[0, 0, 4, 5], 29)
        XCTAssertThrowsError(try volume.requireThreeDimensional()) { error in
            XCTAssertTrue("\(error)".contains("slice.nii") && "\(error)".contains("3D"), "\(error)")
        }
    }

    func testLabelOnAnotherGridIsRefused() throws {
        let image = folder.appendingPathComponent("image.nii"), label = folder.appendingPathComponent("label.nii")
        try NIfTITestFiles.make(dim: [3, 4, 4, 4, 1, 1, 1, 1], datatype: 2, bitpix: 8, dataBytes: 64, at: image)
        try NIfTITestFiles.make(dim: [3, 4, 4, 5, 1, 1, 1, 1], datatype: 2, bitpix: 8, dataBytes: 80, at: label)
        let a = try NIfTIReader.read(image), b = try NIfTIReader.read(label)
        XCTAssertThrowsError(try b.requireSameGrid(as: a)) { error in
            guard case NIfTIError.shapeMismatch(let path, let shape, let expected, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, label.path)
            XCTAssertEqual(shape, [4, 4, 5])
            XCTAssertEqual(expected, [4, 4, 4])
        }
    }
}
