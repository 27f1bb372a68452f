import Foundation
@testable import VolSegCore
@testable import VolSegModels
@testable import VolSegNN
import VolSegTestSupport
import XCTest

final class STUNetTests: XCTestCase {
    /// REFERENCE.md's table, measured on the reference code.
    func testPresetParameterCountsEqualTheReference() throws {
        let expected: [(String, Int, Int, Int)] = [
            ("stunet-s", 1, 105, 14_596_941), ("stunet-s", 4, 4, 14_547_684),
            ("stunet-b", 1, 105, 58_262_669), ("stunet-b", 4, 4, 58_164_660),
            ("stunet-l", 1, 105, 440_302_605), ("stunet-l", 4, 4, 440_107_092),
            ("stunet-h", 1, 105, 1_457_326_221), ("stunet-h", 4, 4, 1_457_033_204),
        ]
        for (name, inputs, classes, count) in expected {
            let model = try ModelRegistry.make(name: name, config: ["input_channels": inputs, "num_classes": classes],
                                               initializer: ParameterInitializer(planned: true))
            XCTAssertEqual(model.parameterCount, count, "\(name) \(inputs) in / \(classes) classes")
        }
    }

    /// Loads the reference STU-Net's weights by state-dict name and reproduces its five outputs.
    func testTinyReferenceNetworkReproducesAllFiveOutputs() throws {
        guard let golden = try GoldenFile.open("stunet_tiny_d1_w4.h5") else { throw XCTSkip("../shared absent") }
        let config = try ModelRegistry.parseConfig(try golden.stringAttribute("config"))
        let model = try ModelRegistry.make(name: "stunet", config: config, initializer: ParameterInitializer(seed: 1))
        var state: [String: Tensor] = [:]
        for name in try golden.memberNames(of: "weights") { state[name] = try golden.tensor("weights/\(name)") }
        try model.load(state: state)
        model.eval()
        let outputs = withNoGrad { model.forward(try! golden.tensor("input")) }
        XCTAssertEqual(outputs.count, 5)
        for (i, y) in outputs.enumerated() {
            let expected = try golden.tensor("output_\(i)")
            XCTAssertEqual(y.shape, expected.shape, "output_\(i)")
            let error = relativeError(y, expected)
            print("stunet_tiny output_\(i) relative error \(error)")
            XCTAssertLessThan(error, 1e-3, "output_\(i)")
        }
    }

    func testLoadingListsMissingAndUnexpectedNames() throws {
        let model = try ModelRegistry.make(name: "stunet", config: [
            "input_channels": 1, "num_classes": 2, "depth": [1, 1, 1], "dims": [2, 4, 8],
            "strides": [[2, 2, 2], [2, 2, 2]], "kernels": [[3, 3, 3], [3, 3, 3], [3, 3, 3]],
        ], initializer: ParameterInitializer())
        var state = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.tensor.copy()) })
        state.removeValue(forKey: "seg_outputs.0.weight")
        state["extra.weight"] = Tensor.zeros([1])
        XCTAssertThrowsError(try model.load(state: state)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("seg_outputs.0.weight"), text)
            XCTAssertTrue(text.contains("extra.weight"), text)
            guard case .doesNotFit(let missing, let unexpected, _) = error as? StateLoadError else { return XCTFail(text) }
            XCTAssertTrue(missing.contains("seg_outputs.0.weight"), text)
            XCTAssertEqual(unexpected, ["extra.weight"])
        }
        // Fine-tuning on other classes: the heads may be skipped.
        state.removeValue(forKey: "extra.weight")
        XCTAssertNoThrow(try model.load(state: state, skip: { $0.hasPrefix("seg_outputs.") }))
    }

    func testUnknownConfigKeyIsNamed() {
        XCTAssertThrowsError(try ModelRegistry.make(name: "stunet-b", config: ["num_clases": 3],
                                                    initializer: ParameterInitializer(planned: true))) { error in
            XCTAssertTrue("\(error)".contains("num_clases"))
            guard case .unknownKeys("stunet-b", let keys, _)? = error as? ModelConfigError else { return XCTFail("\(error)") }
            XCTAssertEqual(keys, ["num_clases"])
        }
    }
}

final class UNet3DTests: XCTestCase {
    func testBenchUNetHasExactlyTheStatedParameterCount() throws {
        let model = try ModelRegistry.make(name: "bench-unet", config: [:], initializer: ParameterInitializer(planned: true))
        XCTAssertEqual(model.parameterCount, 1_403_316)
    }

    func testDeepSupervisionOutputsHalveInResolution() throws {
        let model = try ModelRegistry.make(name: "unet3d", config: [
            "input_channels": 2, "num_classes": 3, "widths": [4, 8, 16], "deep_supervision": true,
        ], initializer: ParameterInitializer(seed: 3))
        let outputs = withNoGrad { model.forward(seededTensor([1, 2, 16, 16, 8])) }
        XCTAssertEqual(outputs.map(\.shape), [[1, 3, 16, 16, 8], [1, 3, 8, 8, 4]])
    }
}

final class ConvWorkCounterTests: XCTestCase {
    /// A planned forward counts the convolutions' multiply-adds: bench-unet on 1x4x128^3 is the
    /// 230.5 GFLOP the speed issue states for the same network (PyTorch's count of its convs).
    func testBenchUNetForwardCountsItsStatedFLOPs() throws {
        let model = try ModelRegistry.make(name: "bench-unet", config: [:], initializer: ParameterInitializer(planned: true))
        model.eval()
        let multiplyAdds = ConvWorkCounter.count {
            _ = withNoGrad { model.forward(Tensor.empty([1, 4, 128, 128, 128], planned: true)) }
        }
        print("bench-unet forward at 128^3: \(2 * Double(multiplyAdds) / 1e9) GFLOP")
        XCTAssertEqual(2 * Double(multiplyAdds) / 1e9, 230.5, accuracy: 0.1)
        // Outside `count` nothing is kept.
        XCTAssertEqual(ConvWorkCounter.count {}, 0)
    }
}
