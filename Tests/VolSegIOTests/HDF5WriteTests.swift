import Foundation
@testable import VolSegCore
@testable import VolSegIO
import VolSegTestSupport
import XCTest

/// Writing files and reading them back, atomic writes, and errors on files that are not HDF5.
final class HDF5WriteTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-hdf5-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    private let weight = Tensor(shape: [2, 1, 3, 1, 2], values: (0..<12).map { Float($0) * 0.37 - 1.5 })

    /// A small checkpoint-like file: nested dotted weight names, int64/float64 arrays, attributes.
    private func writeSample(_ file: HDF5File) throws {
        try file.write(weight, to: "weights/conv_blocks_context.0.0.conv1.weight")
        try file.write(Tensor(scalar: 0.25), to: "weights/scale")
        try file.write([Int64.min, -1, 0, 7, Int64.max, 42], shape: [2, 3], to: "state/step")
        try file.write([Double.pi, -1e-300, 1e300], to: "state/deep/nested/values")
        try file.write([Int64](), to: "state/empty")
        try file.setAttribute("config", #"{"name": "stunet", "width": 4, "note": "µ-Net ✓"}"#)
        try file.setAttribute("epoch", Int64(12))
        try file.setAttribute("stride", [Int64(1), 2, 2], of: "weights")
        try file.setAttribute("eps", 1e-5, of: "weights/conv_blocks_context.0.0.conv1.weight")
        try file.setAttribute("momenta", [0.9, 0.999], of: "state")
    }

    func testRoundTripKeepsValuesShapesGroupsAndAttributes() throws {
        let url = folder.appendingPathComponent("sample.h5")
        try writeSample(try HDF5File(url, mode: .create))
        let file = try HDF5File(url)
        let read = try file.tensor("weights/conv_blocks_context.0.0.conv1.weight")
        XCTAssertEqual(read.shape, weight.shape)
        XCTAssertEqual(read.toArray(), weight.toArray())
        XCTAssertEqual(try file.tensor("weights/scale").shape, [])
        XCTAssertEqual(try file.tensor("weights/scale").item(), 0.25)
        let step = try file.int64Values("state/step")
        XCTAssertEqual(step.values, [Int64.min, -1, 0, 7, Int64.max, 42])
        XCTAssertEqual(step.shape, [2, 3])
        XCTAssertEqual(try file.float64Values("state/deep/nested/values").values, [Double.pi, -1e-300, 1e300])
        XCTAssertEqual(try file.int64Values("state/empty").shape, [0])
        // Integer datasets convert to Float for tensors.
        XCTAssertEqual(try file.tensor("state/step").toArray()[3], 7)

        XCTAssertEqual(try file.memberNames(), ["state", "weights"])
        XCTAssertEqual(try file.memberNames(of: "weights"), ["conv_blocks_context.0.0.conv1.weight", "scale"])
        XCTAssertTrue(file.isGroup("state/deep/nested"))
        XCTAssertFalse(file.contains("weights/conv_blocks_context"))
        XCTAssertFalse(file.contains("weights/scale/below"))

        XCTAssertEqual(try file.stringAttribute("config"), #"{"name": "stunet", "width": 4, "note": "µ-Net ✓"}"#)
        XCTAssertEqual(try file.int64Attribute("epoch"), 12)
        XCTAssertEqual(try file.int64ArrayAttribute("stride", of: "weights"), [1, 2, 2])
        XCTAssertEqual(try file.float64Attribute("eps", of: "weights/conv_blocks_context.0.0.conv1.weight"), 1e-5)
        XCTAssertEqual(try file.group("state").float64ArrayAttribute("momenta"), [0.9, 0.999])
    }

    func testRewritingReplacesDatasetsAndAttributes() throws {
        let url = folder.appendingPathComponent("rewrite.h5")
        try writeSample(try HDF5File(url, mode: .create))
        let file = try HDF5File(url, mode: .readWrite)
        try file.write([Double(3)], to: "weights/scale")
        try file.setAttribute("epoch", "thirteen")
        try file.close()
        let reread = try HDF5File(url)
        XCTAssertEqual(try reread.float64Values("weights/scale").values, [3])
        XCTAssertEqual(try reread.stringAttribute("epoch"), "thirteen")
    }

    func testAtomicWriteReplacesTheFileOnlyWhenTheBodySucceeds() throws {
        let url = folder.appendingPathComponent("checkpoint.h5")
        struct Interrupted: Error {}
        XCTAssertThrowsError(try HDF5File.writeAtomically(to: url) { file in
            try file.write(self.weight, to: "weights/w")
            throw Interrupted()
        }) { XCTAssertTrue($0 is Interrupted) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), [], "neither target nor temporary file")

        try HDF5File.writeAtomically(to: url, body: writeSample)
        XCTAssertThrowsError(try HDF5File.writeAtomically(to: url) { _ in throw Interrupted() })
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["checkpoint.h5"])
        XCTAssertEqual(try HDF5File(url).tensor("weights/conv_blocks_context.0.0.conv1.weight").toArray(),
                       weight.toArray(), "the earlier checkpoint survives a failed write")
    }

    func testFilesThatAreNotHDF5GiveErrorsNamingThePath() throws {
        let text = folder.appendingPathComponent("notes.h5")
        try Data("not an HDF5 file\n".utf8).write(to: text)
        XCTAssertThrowsError(try HDF5File(text)) {
            XCTAssertEqual($0 as? HDF5Error, .notHDF5(file: text.path))
            XCTAssertEqual("\($0)", "\(text.path) is not an HDF5 file")
        }
        let missing = folder.appendingPathComponent("absent.h5")
        XCTAssertThrowsError(try HDF5File(missing)) {
            XCTAssertEqual($0 as? HDF5Error, .fileNotFound(file: missing.path))
        }
        let noFolder = folder.appendingPathComponent("no/such/folder/out.h5")
        XCTAssertThrowsError(try HDF5File(noFolder, mode: .create)) {
            XCTAssertTrue("\($0)".contains(noFolder.path), "\($0)")
        }
    }

    func testClosedAndReadOnlyFilesRefuseWrites() throws {
        let url = folder.appendingPathComponent("closed.h5")
        let file = try HDF5File(url, mode: .create)
        let group = try file.createGroup("a/b")
        try file.close()
        XCTAssertThrowsError(try group.write(weight, to: "w")) {
            XCTAssertEqual($0 as? HDF5Error, .closed(file: url.path))
        }
        XCTAssertThrowsError(try HDF5File(url).setAttribute("x", Int64(1))) {
            XCTAssertTrue("\($0)".contains("could not create attribute \"x\" of /"), "\($0)")
        }
    }

    /// h5py (the writer of the golden files) must read what we write; skipped without python3 + h5py.
    func testWrittenFileIsReadableByH5py() throws {
        let url = folder.appendingPathComponent("for-h5py.h5")
        try HDF5File.writeAtomically(to: url, body: writeSample)
        let script = """
        import h5py, json, sys
        f = h5py.File(sys.argv[1], "r")
        w = f["weights/conv_blocks_context.0.0.conv1.weight"]
        assert w.shape == (2, 1, 3, 1, 2) and w.dtype == "float32", (w.shape, w.dtype)
        assert abs(float(w[1, 0, 2, 0, 1]) - (11 * 0.37 - 1.5)) < 1e-6
        assert f["state/step"][1, 1] == 2**63 - 1 and f["state/step"].dtype == "int64"
        assert json.loads(f.attrs["config"])["note"] == "µ-Net ✓"
        assert f.attrs["epoch"] == 12 and list(f["weights"].attrs["stride"]) == [1, 2, 2]
        assert f["state"].attrs["momenta"][1] == 0.999
        print("h5py ok")
        """
        let result = PythonScript.run(script, arguments: [url.path])
        if result.unavailable { throw XCTSkip("python3 with h5py is not available: \(result.output)") }
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("h5py ok"), result.output)
    }
}
