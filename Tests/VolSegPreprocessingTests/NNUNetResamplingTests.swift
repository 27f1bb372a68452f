import Foundation
import VolSegCore
@testable import VolSegPreprocessing
import VolSegTestSupport
import XCTest

/// NNUNetResampling and SplineZoom against nnU-Net v2's own functions (Tests/References/resampling:
/// make_reference.py ran `resample_data_or_seg_to_shape`, `compute_new_shape`,
/// `determine_do_sep_z_and_axis` and skimage's `resize`; manifest.json names the versions).
/// nnU-Net returns Float32, so its outputs carry Float32 rounding (~6e-8 of the range); the
/// Float64 zoom cases are compared at 1e-12.
final class NNUNetResamplingTests: XCTestCase {
    struct Manifest: Decodable {
        struct Case: Decodable {
            let name, input, output: String
            let newShape: [Int]
            let currentSpacing, newSpacing: [Double]
            let order, orderZ: Int
            let forceSeparateZ: Bool?
            let separateZ: Bool
            let axis: Int?
        }
        struct ZoomCase: Decodable {
            let name, input, output: String
            let outputShape: [Int]
            let order: Int
        }
        struct ShapeCase: Decodable { let oldShape: [Int]; let oldSpacing, newSpacing: [Double]; let newShape: [Int] }
        struct SeparationCase: Decodable {
            let force: Bool?
            let currentSpacing, newSpacing: [Double]
            let separate: Bool
            let axis: Int?
        }
        let source: String
        let versions: [String: String]
        let cases: [Case]
        let zoom: [ZoomCase]
        let newShape: [ShapeCase]
        let separateZ: [SeparationCase]
    }

    static let folder = TestPaths.repositoryRoot.appendingPathComponent("Tests/References/resampling")
    static let manifest: Manifest = {
        let data = try! Data(contentsOf: folder.appendingPathComponent("manifest.json"))
        return try! JSONDecoder().decode(Manifest.self, from: data)
    }()

    func array(_ name: String) throws -> NumpyFile {
        try NumpyFile(Self.folder.appendingPathComponent("cases").appendingPathComponent(name))
    }

    /// Largest |actual - expected|, and that divided by the expected data's range.
    func errors(_ actual: [Double], _ expected: [Double]) -> (absolute: Double, relative: Double) {
        XCTAssertEqual(actual.count, expected.count)
        let absolute = zip(actual, expected).reduce(0.0) { Swift.max($0, abs($1.0 - $1.1)) }
        let range = (expected.max() ?? 0) - (expected.min() ?? 0)
        return (absolute, absolute / Swift.max(range, .leastNormalMagnitude))
    }

    /// Runs one nnU-Net case through `resampleToShape` and returns the relative error.
    @discardableResult
    func checkCase(_ name: String, tolerance: Double = 1e-5) throws -> Double {
        guard let c = Self.manifest.cases.first(where: { $0.name == name }) else {
            XCTFail("no reference case \(name)"); return .infinity
        }
        let input = try array(c.input), expected = try array(c.output)
        XCTAssertTrue(input.isFloat32 && expected.isFloat32, "nnU-Net works on float32 arrays")
        let decision = NNUNetResampling.separateZ(force: c.forceSeparateZ, currentSpacing: c.currentSpacing, newSpacing: c.newSpacing)
        XCTAssertEqual(decision.separate, c.separateZ, name)
        XCTAssertEqual(decision.axis, c.axis, name)
        let tensor = Tensor(shape: input.shape, values: input.values.map(Float.init))
        let output = NNUNetResampling.resampleToShape(tensor, newShape: c.newShape, currentSpacing: c.currentSpacing,
                                                      newSpacing: c.newSpacing, order: c.order, orderZ: c.orderZ,
                                                      forceSeparateZ: c.forceSeparateZ)
        XCTAssertEqual(output.shape, expected.shape, name)
        let e = errors(output.toArray().map(Double.init), expected.values)
        print(String(format: "resampling %@ (%@, order %d/%d): max abs error %.3g, relative to range %.3g",
                     name, c.separateZ ? "separate axis \(c.axis!)" : "joint", c.order, c.orderZ, e.absolute, e.relative))
        XCTAssertLessThanOrEqual(e.relative, tolerance, name)
        return e.relative
    }

    func testReferencesNameTheirVersions() {
        print("resampling references: \(Self.manifest.source), \(Self.manifest.versions.sorted { $0.key < $1.key })")
        XCTAssertTrue(Self.manifest.source.hasPrefix("nnunetv2"), "references should come from nnU-Net itself")
        XCTAssertEqual(Self.manifest.cases.count, 18)
    }

    func testNewShapeRoundsHalvesToEvenLikePython() {
        for c in Self.manifest.newShape {
            XCTAssertEqual(NNUNetResampling.newShape(oldShape: c.oldShape, oldSpacing: c.oldSpacing, newSpacing: c.newSpacing),
                           c.newShape, "\(c.oldShape) at \(c.oldSpacing) -> \(c.newSpacing)")
        }
        XCTAssertEqual(NNUNetResampling.newShape(oldShape: [5, 7, 3], oldSpacing: [1, 1, 1], newSpacing: [2, 2, 2]), [2, 4, 2])
    }

    func testSeparateZDecisionsMatchNNUNet() {
        for c in Self.manifest.separateZ {
            let decision = NNUNetResampling.separateZ(force: c.force, currentSpacing: c.currentSpacing, newSpacing: c.newSpacing)
            XCTAssertEqual(decision.separate, c.separate, "force \(String(describing: c.force)), \(c.currentSpacing) -> \(c.newSpacing)")
            XCTAssertEqual(decision.axis, c.axis, "force \(String(describing: c.force)), \(c.currentSpacing) -> \(c.newSpacing)")
        }
    }

    func testJointResamplingMatchesNNUNetForImagesAndLogits() throws {
        for name in ["up_order3", "down_order3", "up_order1", "down_order1", "one_axis_kept_order3",
                     "export_to_shape_order1", "forced_joint", "single_voxel_axis"] {
            try checkCase(name)
        }
    }

    func testSeparateZResamplingMatchesNNUNetOnEveryAxis() throws {
        for name in ["separate_axis0_order3", "separate_axis1_order3", "separate_axis2_order1", "separate_from_target_spacing",
                     "separate_forced_orderz1", "separate_orderz3", "two_d"] {
            try checkCase(name)
        }
    }

    func testOrderZeroRoundsExactHalvesUpLikeScipy() throws {
        // z halves (12 -> 6): every output slice centre lies exactly between two inputs; scipy
        // takes the upper one, and a lower pick would differ by whole slices.
        try checkCase("separate_half_voxel_order0", tolerance: 1e-6)
    }

    func testCTValuesAreClippedToTheInputRange() throws {
        try checkCase("ct_hu_order3")
        try checkCase("ct_hu_separate")
        // The clip matters on this data: without it order 3 overshoots the HU range.
        let c = Self.manifest.cases.first { $0.name == "ct_hu_order3" }!
        let input = try array(c.input)
        let unclipped = SplineZoom(from: Array(input.shape.dropFirst()), to: c.newShape, order: 3, clipsToInputRange: false)(input.values)
        let (low, high) = (input.values.min()!, input.values.max()!)
        let overshoot = Swift.max(low - unclipped.min()!, unclipped.max()! - high)
        print("ct_hu_order3: unclipped order-3 overshoot \(overshoot) HU beyond \(low)...\(high)")
        XCTAssertGreaterThan(overshoot, 50)
    }

    func testSplineZoomMatchesSkimageResizeInFloat64() throws {
        for c in Self.manifest.zoom {
            let input = try array(c.input), expected = try array(c.output)
            let output = SplineZoom(from: input.shape, to: c.outputShape, order: c.order)(input.values)
            let e = errors(output, expected.values)
            print(String(format: "zoom %@ (order %d, %@ -> %@): max abs error %.3g, relative to range %.3g",
                         c.name, c.order, "\(input.shape)", "\(c.outputShape)", e.absolute, e.relative))
            XCTAssertLessThanOrEqual(e.relative, 1e-12, c.name)
        }
    }

    func testUnchangedShapeReturnsTheInputItself() {
        let data = Tensor(shape: [1, 2, 3, 4], values: (0..<24).map(Float.init))
        let same = NNUNetResampling.resample(data, to: [2, 3, 4], axis: nil, order: 3, separateZ: false, orderZ: 0)
        XCTAssertTrue(same === data)
    }

    func testTwoDimensionalTensorsMatchTheFakeAxisLayout() throws {
        // [C, H, W] is zoomed per channel in 2D; nnU-Net's (c, 1, x, y) layout gives the same.
        let c = Self.manifest.cases.first { $0.name == "two_d" }!
        let input = try array(c.input)
        let volume = Tensor(shape: input.shape, values: input.values.map(Float.init))
        let planar = Tensor(shape: [input.shape[0]] + Array(input.shape.suffix(2)), values: input.values.map(Float.init))
        let output = NNUNetResampling.resample(planar, to: Array(c.newShape.suffix(2)), axis: nil, order: 3, separateZ: false)
        let layout = NNUNetResampling.resampleToShape(volume, newShape: c.newShape, currentSpacing: c.currentSpacing,
                                                      newSpacing: c.newSpacing, forceSeparateZ: c.forceSeparateZ)
        XCTAssertEqual(output.shape, [input.shape[0]] + Array(c.newShape.suffix(2)))
        XCTAssertEqual(output.toArray(), layout.toArray())
    }

    func testThreadCountDoesNotChangeTheResult() throws {
        let c = Self.manifest.cases.first { $0.name == "separate_axis1_order3" }!
        let input = try array(c.input)
        let tensor = Tensor(shape: input.shape, values: input.values.map(Float.init))
        let threads = Parallel.threadCount
        defer { Parallel.setThreadCount(threads) }
        Parallel.setThreadCount(1)
        let serial = NNUNetResampling.resampleToShape(tensor, newShape: c.newShape, currentSpacing: c.currentSpacing,
                                                      newSpacing: c.newSpacing, forceSeparateZ: c.forceSeparateZ)
        Parallel.setThreadCount(2)
        let parallel = NNUNetResampling.resampleToShape(tensor, newShape: c.newShape, currentSpacing: c.currentSpacing,
                                                        newSpacing: c.newSpacing, forceSeparateZ: c.forceSeparateZ)
        XCTAssertEqual(serial.toArray(), parallel.toArray())
    }
}
