import Foundation
@testable import VolSegIO
import VolSegTestSupport
import XCTest

/// Reading the PyTorch reference files. Expected numbers were printed with h5py 3 / numpy from the
/// same files (`python3 -c "import h5py; f = h5py.File('ops.h5'); print(f['conv3d_k3s1p1/x'][0,0,0,0,:3])"`
/// and similar); float32 values are compared exactly, since HDF5 copies them bit for bit.
final class HDF5GoldenFileTests: XCTestCase {
    private func golden(_ name: String) throws -> HDF5File {
        guard let file = try GoldenFile.open(name) else { throw XCTSkip("../shared is absent: \(name) not checked") }
        return file
    }

    func testConvolutionCaseHasShapeValuesAndIntegerAttributes() throws {
        let ops = try golden("ops.h5")
        let x = try ops.tensor("conv3d_k3s1p1/x")
        XCTAssertEqual(x.shape, [2, 3, 7, 8, 9])
        XCTAssertEqual(try ops.shape("conv3d_k3s1p1/x"), [2, 3, 7, 8, 9])
        // h5py: x[0,0,0,0,:3] = [-0.8768665, -0.9139617, 0.5419208], x[1,2,6,7,8] = 0.09586339,
        // x.astype(float64).sum() = 0.5458260778723343.
        XCTAssertEqual(Array(x.toArray().prefix(3)), [-0.8768665, -0.9139617, 0.5419208])
        XCTAssertEqual(x[1, 2, 6, 7, 8], 0.09586339)
        XCTAssertEqual(x.toArray().reduce(0.0) { $0 + Double($1) }, 0.5458260778723343, accuracy: 1e-9)

        XCTAssertEqual(try ops.int64ArrayAttribute("stride", of: "conv3d_k3s1p1"), [1, 1, 1])
        XCTAssertEqual(try ops.int64ArrayAttribute("padding", of: "conv3d_k3s1p1"), [1, 1, 1])
        XCTAssertEqual(try ops.int64Attribute("groups", of: "conv3d_k3s1p1"), 1)
        XCTAssertEqual(try ops.int64ArrayAttribute("stride", of: "conv3d_aniso_k133_s122"), [1, 2, 2])
        XCTAssertEqual(try ops.int64Attribute("groups", of: "conv3d_depthwise_k3s2"), 6)
        XCTAssertEqual(try ops.stringAttribute("op", of: "conv3d_k3s1p1"), "conv")
        XCTAssertEqual(Set(try ops.attributeNames(of: "conv3d_k3s1p1")), ["groups", "op", "padding", "stride"])
        XCTAssertEqual(try ops.memberNames(of: "conv3d_k3s1p1"), ["b", "gb", "gw", "gx", "gy", "w", "x", "y"])
    }

    func testCrossEntropyTargetReadsAsInt64WithShape() throws {
        let ops = try golden("ops.h5")
        let target = try ops.int64Values("cross_entropy_mean/target")
        // h5py: shape (2, 5, 6, 7), first values [2, 2, 2, 1, 1, 2, 3, 1], sum 618.
        XCTAssertEqual(target.shape, [2, 5, 6, 7])
        XCTAssertEqual(Array(target.values.prefix(8)), [2, 2, 2, 1, 1, 2, 3, 1])
        XCTAssertEqual(target.values.reduce(0, +), 618)
    }

    func testBatchNormAttributesAreFloat64Scalars() throws {
        let ops = try golden("ops.h5")
        XCTAssertEqual(try ops.float64Attribute("eps", of: "batchnorm3d_train"), 1e-5)
        XCTAssertEqual(try ops.float64Attribute("momentum", of: "batchnorm3d_train"), 0.1)
        XCTAssertTrue(try ops.stringAttribute("note", of: "batchnorm3d_train").contains("unbiased variance"))
        XCTAssertFalse(ops.hasAttribute("momentum", of: "batchnorm3d_eval"))
    }

    func testReversibleBlockDocAndNestedParameterPath() throws {
        let revblock = try golden("revblock.h5")
        let doc = try revblock.stringAttribute("doc", of: "revblock_c8_e4")
        XCTAssertTrue(doc.contains("y1 = x1 + F(x2);  y2 = x2 + G(y1)"), doc)
        XCTAssertEqual(try revblock.int64Attribute("expansion", of: "revblock_c8_e4_se"), 4)
        // h5py: params/F.bn1.weight has shape (16,) and starts [1.459595, 0.83580166, 1.1961792].
        let weight = try revblock.tensor("revblock_c8_e4/params/F.bn1.weight")
        XCTAssertEqual(weight.shape, [16])
        XCTAssertEqual(Array(weight.toArray().prefix(3)), [1.459595, 0.83580166, 1.1961792])
        // The same dataset reached through a group.
        let params = try revblock.group("revblock_c8_e4/params")
        XCTAssertEqual(params.path, "/revblock_c8_e4/params")
        XCTAssertEqual(try params.tensor("F.bn1.weight").toArray(), weight.toArray())
        XCTAssertEqual(try params.memberNames().count, 18)
    }

    func testSTUNetConfigParsesAndWeightsHoldEveryParameter() throws {
        let stunet = try golden("stunet_tiny_d1_w4.h5")
        let config = try stunet.stringAttribute("config")
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(config.utf8)) as? [String: Any])
        XCTAssertEqual(json["dims"] as? [Int], [4, 8, 16, 32, 64, 64])
        XCTAssertEqual(json["num_classes"] as? Int, 3)
        let weights = try stunet.memberNames(of: "weights")
        XCTAssertEqual(weights.count, 130)
        XCTAssertEqual(weights.first, "conv_blocks_context.0.0.conv1.bias")
        XCTAssertTrue(stunet.isGroup("weights"))
        XCTAssertTrue(stunet.isDataset("weights/upsample_layers.4.conv.weight"))
        // h5py: input shape (1, 4, 64, 64, 64), input[0,0,0,0,:3] = [-0.90528286, 0.48307127, -0.7300298],
        // float64 sum -727.6549427060604; conv1.weight shape (4, 4, 3, 3, 3).
        let input = try stunet.tensor("input")
        XCTAssertEqual(input.shape, [1, 4, 64, 64, 64])
        XCTAssertEqual(Array(input.toArray().prefix(3)), [-0.90528286, 0.48307127, -0.7300298])
        XCTAssertEqual(input.toArray().reduce(0.0) { $0 + Double($1) }, -727.6549427060604, accuracy: 1e-6)
        XCTAssertEqual(try stunet.shape("weights/conv_blocks_context.0.0.conv1.weight"), [4, 4, 3, 3, 3])
    }

    func testReadingLeavesNoHandleOpen() throws {
        let ops = try golden("ops.h5")
        do {
            let group = try ops.group("batchnorm3d_train")
            _ = try group.tensor("x")
            _ = try group.float64Attribute("eps")
            _ = try ops.memberNames()
            XCTAssertEqual(ops.openObjectCount, 2, "the file and the group")
        }
        _ = try? ops.tensor("no/such")
        XCTAssertEqual(ops.openObjectCount, 1, "only the file itself")
    }

    func testMissingAndMistypedObjectsNameThePath() throws {
        let ops = try golden("ops.h5")
        let path = ops.url.path
        XCTAssertThrowsError(try ops.tensor("conv3d_k3s1p1/gz")) {
            XCTAssertEqual($0 as? HDF5Error, .missing(file: path, path: "/conv3d_k3s1p1/gz", what: "dataset"))
            XCTAssertTrue("\($0)".contains("/conv3d_k3s1p1/gz"))
        }
        XCTAssertThrowsError(try ops.tensor("conv3d_k3s1p1")) {
            XCTAssertEqual($0 as? HDF5Error, .wrongType(file: path, path: "/conv3d_k3s1p1",
                                                        expected: "a dataset", found: "a group"))
        }
        XCTAssertThrowsError(try ops.int64Values("conv3d_k3s1p1/x")) {
            XCTAssertEqual($0 as? HDF5Error, .wrongType(file: path, path: "/conv3d_k3s1p1/x",
                                                        expected: "int64", found: "float32"))
        }
        XCTAssertThrowsError(try ops.int64Attribute("op", of: "relu")) {
            XCTAssertEqual($0 as? HDF5Error, .wrongType(file: path, path: "/relu attribute \"op\"",
                                                        expected: "int64", found: "a string"))
        }
        XCTAssertThrowsError(try ops.float64Attribute("eps", of: "relu")) {
            XCTAssertEqual($0 as? HDF5Error, .missing(file: path, path: "/relu", what: "attribute \"eps\""))
        }
        XCTAssertThrowsError(try ops.int64Attribute("stride", of: "conv3d_k3s1p1")) {
            XCTAssertTrue("\($0)".contains("expected a single int64"), "\($0)")
        }
    }
}
