import Foundation
import VolSegCore
import VolSegIO
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
