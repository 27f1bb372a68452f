import Foundation
@testable import VolSegCore
@testable import VolSegModels
@testable import VolSegNN
import VolSegTestSupport
import XCTest

/// H-DenseUNet's structure against the same network written in PyTorch
/// (Tests/References/make_hdenseunet_reference.py -> hdenseunet_reference.json), and its input sizes.
final class HDenseUNetTests: XCTestCase {
    static let reference: [String: Any] = {
        let url = TestPaths.repositoryRoot.appendingPathComponent("Tests/References/hdenseunet_reference.json")
        let data = try! Data(contentsOf: url)
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    func makeSmall(seed: UInt64 = 5) throws -> HDenseUNet {
        try ModelRegistry.make(name: "hdenseunet-small", config: [:], initializer: ParameterInitializer(seed: seed)) as! HDenseUNet
    }

    func testPresetParameterCountsEqualThePyTorchReference() throws {
        let counts = HDenseUNetTests.reference["parameter_counts"] as! [String: Int]
        for (key, expected) in counts.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: "/").map(String.init)
            let model = try ModelRegistry.make(name: parts[0], config: [
                "input_channels": Int(parts[1])!, "num_classes": Int(parts[2])!,
            ], initializer: ParameterInitializer(planned: true))
            print("\(parts[0]) (\(parts[1]) in, \(parts[2]) classes): \(model.parameterCount) parameters")
            XCTAssertEqual(model.parameterCount, expected, key)
        }
        // The 2D encoder is torchvision's DenseNet-161 `features` (28,681,000 - its 2,209,000 classifier).
        let full = try ModelRegistry.make(name: "hdenseunet", config: [:], initializer: ParameterInitializer(planned: true)) as! HDenseUNet
        let encoder = full.namedParameters().filter { $0.name.hasPrefix("dense2d.features.") }.reduce(0) { $0 + $1.tensor.count }
        XCTAssertEqual(encoder, HDenseUNetTests.reference["densenet161_features"] as? Int)
        XCTAssertEqual(encoder, 26_472_000)
    }

    func testSmallPresetStateNamesAndShapesEqualThePyTorchReference() throws {
        let model = try makeSmall()
        let expected = (HDenseUNetTests.reference["small_state"] as! [[Any]]).map { ($0[0] as! String, $0[1] as! [Int]) }
        let ours = (model.namedParameters() + model.namedBuffers()).map { ($0.name, $0.tensor.shape) }
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: ours).count, ours.count, "duplicate names")
        let theirs = Dictionary(uniqueKeysWithValues: expected)
        XCTAssertEqual(Set(ours.map(\.0)), Set(theirs.keys))
        for (name, shape) in ours { XCTAssertEqual(shape, theirs[name], name) }
    }

    /// Every weight and running statistic from the reference script's formula; evaluation mode; the
    /// fused logits and the stage-1 scores of a slab agree with PyTorch.
    func testSmallPresetEvaluationOutputsEqualThePyTorchReference() throws {
        let model = try makeSmall()
        fillByFormula(model)
        model.eval()
        let shape = HDenseUNetTests.reference["slab_shape"] as! [Int]
        let count = shape.reduce(1, *)
        let x = Tensor(shape: shape, values: (0..<count).map { Float(sin(0.05 * Double($0))) })
        for (key, stage) in [("fused", HDenseUNetStage.endToEnd), ("stage1", .twoD)] {
            model.setTrainingStage(stage)
            model.eval()
            let y = withNoGrad { model.forward(x)[0] }
            let expected = HDenseUNetTests.reference[key] as! [String: Any]
            XCTAssertEqual(y.shape, expected["shape"] as! [Int], key)
            let values = y.toArray()
            let sampled = stride(from: 0, to: values.count, by: 10).map { values[$0] }
            let reference = (expected["every_10th"] as! [Double]).map(Float.init)
            let error = relativeError(sampled, reference)
            let sum = values.reduce(0.0) { $0 + Double($1) }
            print("H-DenseUNet small \(key): relative error \(error) on \(sampled.count) values; sum \(sum) vs \(expected["sum"]!)")
            XCTAssertLessThan(error, 1e-4, key)
            XCTAssertEqual(sum, expected["sum"] as! Double, accuracy: 1e-4 * (expected["sum_of_squares"] as! Double).squareRoot() * 10, key)
        }
    }

    /// Valid slabs: [N, C, D, H, W] with H, W multiples of 32 and D a multiple of 4 (any D in stage
    /// 1). Every stage, training and evaluation mode, gives logits [N, 3, D, H, W].
    func testShapesThroughEveryStageForOddSlabSizes() throws {
        let model = try makeSmall()
        let slabs = [[1, 1, 4, 64, 32], [1, 1, 12, 32, 96], [2, 1, 8, 32, 32], [1, 1, 20, 32, 64]]
        for stage in HDenseUNetStage.allCases {
            for slab in slabs + (stage == .twoD ? [[1, 1, 1, 32, 64], [1, 1, 5, 64, 32], [2, 1, 7, 32, 32]] : []) {
                for training in [true, false] {
                    model.setTrainingStage(stage)
                    if !training { model.eval() }
                    XCTAssertNil(model.inputProblem(slab), "\(stage) \(slab)")
                    let y = withNoGrad { model.forward(seededTensor(slab, seed: 3)) }
                    XCTAssertEqual(y.count, 1)
                    XCTAssertEqual(y[0].shape, [slab[0], 3, slab[2], slab[3], slab[4]], "\(stage) \(slab) training \(training)")
                    XCTAssertTrue(y[0].toArray().allSatisfy { $0.isFinite }, "\(stage) \(slab)")
                }
            }
        }
        // Stage 1 on prepared slices, as the reference's 2D training feeds them.
        model.setTrainingStage(.twoD)
        XCTAssertEqual(withNoGrad { model.forward2D(seededTensor([3, 3, 64, 32])) }.shape, [3, 3, 64, 32])
        XCTAssertEqual(model.sizeDivisor, [1, 32, 32])
        model.setTrainingStage(.endToEnd)
        XCTAssertEqual(model.sizeDivisor, [4, 32, 32])
    }

    func testInvalidSlabSizesAreRejectedWithAClearMessage() throws {
        let model = try makeSmall()
        model.setTrainingStage(.hybridFrozen2D)
        let cases: [([Int], String)] = [
            ([1, 1, 6, 32, 64], "multiple of 4"),
            ([1, 1, 4, 48, 64], "multiples of 32"),
            ([1, 1, 4, 16, 64], "multiples of 32"),
            ([1, 2, 4, 32, 64], "[N, 1, D, H, W]"),
            ([1, 4, 32, 64], "[N, 1, D, H, W]"),
            // 3D bottom 1 x 1 x 1 x 1: BatchNorm cannot train on one value per channel.
            ([1, 1, 4, 32, 32], "BatchNorm"),
        ]
        for (shape, phrase) in cases {
            XCTAssertThrowsError(try model.checkInput(shape), "\(shape)") { error in
                XCTAssertTrue("\(error)".contains(phrase), "\(shape): \(error)")
                XCTAssertTrue("\(error)".contains("\(shape)"), "the message names the slab: \(error)")
                switch error as? ModelInputError {
                case .wrongLayout(let slab, let channels)?:
                    XCTAssertEqual(slab, shape)
                    XCTAssertEqual(channels, 1)
                    XCTAssertEqual(phrase, "[N, 1, D, H, W]")
                case .slabNotAccepted(let slab, let stage, _)?:
                    XCTAssertEqual(slab, shape)
                    XCTAssertEqual(stage, .hybridFrozen2D)
                    XCTAssertNotEqual(phrase, "[N, 1, D, H, W]")
                case nil: XCTFail("untyped error \(error)")
                }
            }
        }
        // The same slab is fine in evaluation mode, and odd depths are fine for the 2D stage alone.
        model.eval()
        XCTAssertNoThrow(try model.checkInput([1, 1, 4, 32, 32]))
        model.setTrainingStage(.twoD)
        XCTAssertNoThrow(try model.checkInput([1, 1, 6, 32, 64]))
        XCTAssertThrowsError(try model.checkInput([1, 1, 6, 40, 64]))
    }

    func testRegistryRebuildsThePresetFromItsFamilyAndConfig() throws {
        let model = try ModelRegistry.make(name: "hdenseunet-small", config: ["num_classes": 2, "score_scale": 1],
                                           initializer: ParameterInitializer(planned: true)) as! HDenseUNet
        XCTAssertEqual(model.config.scoreScale, 1)
        let again = try ModelRegistry.make(name: model.family, config: model.configJSON,
                                           initializer: ParameterInitializer(planned: true))
        XCTAssertEqual(again.parameterCount, model.parameterCount)
        XCTAssertThrowsError(try ModelRegistry.make(name: "hdenseunet", config: ["growth": 4],
                                                    initializer: ParameterInitializer(planned: true))) { error in
            XCTAssertTrue("\(error)".contains("growth"))
            guard case .unknownKeys("hdenseunet", let keys, let allowed)? = error as? ModelConfigError else { return XCTFail("\(error)") }
            XCTAssertEqual(keys, ["growth"])
            XCTAssertEqual(allowed, ["input_channels", "num_classes", "score_scale"])
        }
    }
}

/// Fills every parameter and buffer as `fill` in make_hdenseunet_reference.py: tensor number
/// `ordinal` in sorted-name order, element i, s = sin(0.7 i + 0.3 ordinal).
func fillByFormula(_ model: Module) {
    let tensors = (model.namedParameters() + model.namedBuffers()).sorted { $0.name < $1.name }
    for (ordinal, (name, t)) in tensors.enumerated() {
        let fanIn = Double(t.count / max(t.shape[0], 1))
        for i in 0..<t.count {
            let s = sin(0.7 * Double(i) + 0.3 * Double(ordinal))
            let v: Double
            if name.hasSuffix("running_var") {
                v = 1 + 0.25 * (1 + s)
            } else if name.hasSuffix("running_mean") || (t.rank == 1 && name.hasSuffix("bias")) {
                v = 0.1 * s
            } else if t.rank == 1 {
                v = 1 + 0.1 * s
            } else {
                v = s * (3.0 / fanIn).squareRoot()
            }
            t.data[i] = Float(v)
        }
    }
}
