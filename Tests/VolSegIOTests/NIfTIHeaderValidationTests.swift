import Foundation
@testable import VolSegCore
@testable import VolSegIO
import VolSegTestSupport
import XCTest

/// Every header field the pipeline uses is checked with a named error (libnifti reads a bad magic
/// as ANALYZE and turns bad voxel sizes into 1 mm without a word), and a sheared affine is warned.
final class NIfTIHeaderValidationTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws { folder = try NIfTITestFiles.temporaryFolder() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    func write(_ file: CraftedNIfTI, _ name: String) throws -> URL {
        let url = folder.appendingPathComponent(name)
        try file.write(voxels: file.bytes(float32: (0..<24).map(Float.init)), to: url)
        return url
    }

    func error(_ url: URL, file: StaticString = #filePath, line: UInt = #line) -> NIfTIError? {
        do {
            _ = try NIfTIReader.read(url)
            XCTFail("\(url.lastPathComponent) was read", file: file, line: line)
        } catch let e as NIfTIError {
            XCTAssertTrue(e.description.contains(url.path), "message does not name the file: \(e)", file: file, line: line)
            return e
        } catch {
            XCTFail("untyped error \(error)", file: file, line: line)
        }
        return nil
    }

    func testSingleFileWithBadMagicNamesTheMagicFound() throws {
        for (name, magic, shown) in [("xyz.nii", Array("xyz\0".utf8), "xyz\\x00"), ("pair.nii.gz", Array("ni1\0".utf8), "ni1\\x00"),
                                     ("zero.nii", [0, 0, 0, 0], "\\x00\\x00\\x00\\x00")] {
            var file = CraftedNIfTI()
            file.magic = magic
            let url = try write(file, name)
            XCTAssertEqual(error(url), .badMagic(path: url.path, found: shown, expected: "n+1"), name)
            XCTAssertThrowsError(try NIfTIReader.readHeader(url), name)
        }
    }

    func testZeroNegativeAndNonFiniteVoxelSizesAreNamed() throws {
        for (axis, value) in [(1, Float(0)), (2, -1.5), (3, .nan), (2, .infinity)] {
            var file = CraftedNIfTI()
            file.pixdim[axis] = value
            let url = try write(file, "pixdim\(axis)-\(value).nii")
            guard case .invalidVoxelSize(_, let badAxis, let badValue)? = error(url) else { XCTFail("pixdim[\(axis)] = \(value)"); continue }
            XCTAssertEqual(badAxis, axis)
            XCTAssertTrue(value.isNaN ? badValue.isNaN : badValue == Double(value), "\(badValue)")
        }
    }

    func testVoxOffsetInsideTheHeaderOrPastTheFileIsNamed() throws {
        for (name, offset) in [("inside.nii", Float(100)), ("negative.nii", -8), ("nan.nii", .nan),
                               ("past.nii", 100_000), ("past.nii.gz", 100_000)] {
            var file = CraftedNIfTI()
            file.voxOffset = offset
            let url = try write(file, name)
            guard case .invalidVoxOffset(_, let got, let reason)? = error(url) else { XCTFail(name); continue }
            XCTAssertTrue(offset.isNaN ? got.isNaN : got == Double(offset), "\(name): \(got)")
            print("\(name): \(reason)")
        }
    }

    func testInfiniteSlopeIsRefusedAndNaNSlopeMeansNoScaling() throws {
        var file = CraftedNIfTI()
        file.slope = .infinity
        let url = try write(file, "inf-slope.nii")
        guard case .invalidScaling(_, let slope, _)? = error(url) else { return XCTFail("infinite slope read") }
        XCTAssertEqual(slope, .infinity)
        file.slope = 2; file.intercept = .nan
        XCTAssertNotNil(error(try write(file, "nan-inter.nii")))
        // nibabel writes scl_slope = NaN for "no scaling": read as stored.
        file.slope = .nan; file.intercept = .nan
        let plain = try NIfTIReader.read(try write(file, "nan-slope.nii"))
        XCTAssertEqual(plain.voxels.toArray(), (0..<24).map(Float.init))
    }

    func testShearedSformIsWarnedWithTheShear() throws {
        var file = CraftedNIfTI()
        // Column j tilted towards x by tan(5 deg): i-j departs from 90 degrees by 5.
        let t = Float(tan(5 * Double.pi / 180))
        file.sform = [[1.5, 2 * t, 0, -10], [0, 2, 0, 4], [0, 0, 3, 7]]
        let url = try write(file, "sheared.nii")
        let volume = try NIfTIReader.read(url)
        guard case .shearedAffine(let path, let form, let shear)? = volume.warnings.first else {
            return XCTFail("no warning: \(volume.warnings)")
        }
        XCTAssertEqual(path, url.path)
        XCTAssertEqual(form, "sform")
        XCTAssertEqual(shear[0], 5, accuracy: 1e-4)
        XCTAssertEqual(shear[1], 0, accuracy: 1e-6)
        XCTAssertEqual(shear[2], 0, accuracy: 1e-6)
        XCTAssertTrue(volume.warnings[0].description.contains("i-j 5°"), volume.warnings[0].description)

        // A rotation with voxel sizes is orthogonal: no warning.
        let (c, s) = (Float(cos(0.3)), Float(sin(0.3)))
        file.sform = [[1.5 * c, -2 * s, 0, 0], [1.5 * s, 2 * c, 0, 0], [0, 0, 3, 0]]
        XCTAssertEqual(try NIfTIReader.read(try write(file, "rotated.nii")).warnings, [])
        file.sform = [[1.5, 0, 0, 0], [0, 0, 0, 0], [0, 0, 3, 0]]
        if case .singularAffine? = try NIfTIReader.read(try write(file, "flat.nii")).warnings.first {} else { XCTFail("flat sform") }
    }
}
