import Foundation
import VolSegCore
@testable import VolSegIO
import VolSegTestSupport
import XCTest

/// The files nnU-Net's tools read back: the .npz of probabilities (header bytes as numpy writes
/// them, Tests/References/numpy) and the .pkl of properties (read back by the restricted
/// unpickler, an implementation of its own).
final class NNUNetOutputFormatTests: XCTestCase {
    func testNPYHeadersAreNumpysOwn() throws {
        let url = TestPaths.repositoryRoot.appendingPathComponent("Tests/References/numpy/npy_headers.json")
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let headers = try XCTUnwrap(object["headers"] as? [String: [Int]])
        XCTAssertEqual(headers.count, 5)
        for (key, bytes) in headers {
            let shape = key.split(separator: "x").map { Int($0)! }
            XCTAssertEqual(NumpyArchiveWriter.npyHeader(shape: shape).map(Int.init), bytes, key)
        }
    }

    func testArchiveRoundTripsThroughAZipReader() throws {
        let values = Tensor.empty([2, 3, 4, 5])
        for i in 0..<values.count { values.data[i] = Float(i) * 0.25 - 7 }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-\(UUID().uuidString).npz")
        defer { try? FileManager.default.removeItem(at: url) }
        try NumpyArchiveWriter.write(values, key: "probabilities", to: url)
        let read = try XCTUnwrap(try NumpyArchive.read(url)["probabilities"])
        XCTAssertEqual(read.shape, [2, 3, 4, 5])
        XCTAssertEqual(read.values, (0..<values.count).map { Double(Float($0) * 0.25 - 7) })
    }

    /// Arrays of 4 GiB or more get zip64 records; forced here on a small array, then read by
    /// this suite's reader and by Python's own zipfile (stdlib only; skipped without python3).
    func testZip64ArchiveIsReadByPythonsZipfile() throws {
        let values = Tensor.empty([3, 4, 5, 6])
        for i in 0..<values.count { values.data[i] = Float(i % 17) * 0.5 - 3 }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-zip64-\(UUID().uuidString).npz")
        defer { try? FileManager.default.removeItem(at: url) }
        try NumpyArchiveWriter.write(values, key: "probabilities", to: url, zip64Threshold: 0)
        let bytes = [UInt8](try Data(contentsOf: url))
        XCTAssertTrue(bytes.indices.dropLast(3).contains { bytes[$0] == 0x50 && bytes[$0 + 1] == 0x4B && bytes[$0 + 2] == 6 && bytes[$0 + 3] == 6 },
                      "no zip64 end record")
        let read = try XCTUnwrap(try NumpyArchive.read(url)["probabilities"])
        XCTAssertEqual(read.shape, [3, 4, 5, 6])
        XCTAssertEqual(read.values, (0..<values.count).map { Double(Float($0 % 17) * 0.5 - 3) })
        let script = """
        import sys, zipfile, struct
        z = zipfile.ZipFile(sys.argv[1])
        (info,) = z.infolist()
        assert info.filename == "probabilities.npy", info.filename
        assert z.testzip() is None
        data = z.read(info)
        assert len(data) == info.file_size == 128 + 360 * 4, (len(data), info.file_size)
        assert info.extract_version >= 45, info.extract_version
        values = struct.unpack("<360f", data[128:])
        assert all(values[i] == (i % 17) * 0.5 - 3 for i in range(360))
        print("zipfile ok", info.compress_size)
        """
        let result = PythonScript.run(script, arguments: [url.path])
        if result.unavailable { throw XCTSkip("python3 is not available: \(result.output)") }
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("zipfile ok"), result.output)
    }

    func testPropertiesPickleReadsBack() throws {
        let value = PickleWriter.Value.dict([
            ("sitk_stuff", .dict([("spacing", .tuple([.float(0.8), .float(0.8), .float(3)])), ("origin", .tuple([.float(-1.5), .float(2), .float(1e9)]))])),
            ("spacing", .list([.float(3), .float(0.8), .float(0.8)])),
            ("shape_before_cropping", .tuple([.int(40), .int(512), .int(70_000)])),
            ("bbox_used_for_cropping", .list([.list([.int(0), .int(40)]), .list([.int(-3), .int(5_000_000_000)])])),
            ("flag", .bool(true)), ("nothing", .none), ("empty", .list([])), ("text", .string("ü liver")),
        ])
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-\(UUID().uuidString).pkl")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data(PickleWriter.encode(value)).write(to: url)
        let root = try PickleValue(pickle: try Data(contentsOf: url), path: url.path)
        XCTAssertEqual(root["sitk_stuff"]?["spacing"]?.items?.compactMap(\.double), [0.8, 0.8, 3])
        XCTAssertEqual(root["sitk_stuff"]?["origin"]?.items?.compactMap(\.double), [-1.5, 2, 1e9])
        XCTAssertEqual(root["shape_before_cropping"]?.items?.compactMap(\.int), [40, 512, 70_000])
        XCTAssertEqual(root["bbox_used_for_cropping"]?.items?[1].items?.compactMap(\.int), [-3, 5_000_000_000])
        XCTAssertEqual(root["flag"]?.bool, true)
        XCTAssertEqual(root["nothing"]?.isNone, true)
        XCTAssertEqual(root["empty"]?.items?.count, 0)
        XCTAssertEqual(root["text"]?.string, "ü liver")
    }
}
