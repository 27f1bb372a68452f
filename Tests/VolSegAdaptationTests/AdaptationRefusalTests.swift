@testable import VolSegAdaptation
@testable import VolSegCore
@testable import VolSegModels
@testable import VolSegNN
import VolSegTestSupport
import XCTest

final class AdaptationRefusalTests: XCTestCase {
    /// An InstanceNorm network stores no statistics: both methods refuse it and say why.
    func testInstanceNormModelIsRefusedWithTheReason() throws {
        let model = try ModelRegistry.make(name: "unet3d", config: ["input_channels": 1, "num_classes": 2, "widths": [4, 8]],
                                           initializer: ParameterInitializer(seed: 0))
        let image = Tensor.zeros([1, 8, 8, 8])
        let windows = AdaptationWindows(images: [image], patch: [8, 8, 8], divisor: model.sizeDivisor)
        XCTAssertThrowsError(try AdaBN.adapt(model, modelName: "unet3d.h5", output: .labels([0, 1]), windows: windows)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("unet3d.h5") && text.contains("InstanceNorm") && text.contains("no BatchNorm"), text)
            guard case .noBatchNorm("unet3d.h5", let instanceNorms, 0)? = error as? AdaptationError else { return XCTFail(text) }
            XCTAssertGreaterThan(instanceNorms, 0)
        }
        XCTAssertThrowsError(try ProgressiveAdaptation.adapt(model, modelName: "unet3d.h5", output: .labels([0, 1]), windows: windows)) {
            guard case .noBatchNorm("unet3d.h5", _, _)? = $0 as? AdaptationError else { return XCTFail("\($0)") }
        }
    }

    /// The measured batch statistics of one BatchNorm equal the mean and unbiased variance.
    func testMeasuredBatchStatisticsAreTheBatchMeanAndUnbiasedVariance() throws {
        let bn = BatchNorm(channels: 2, initializer: ParameterInitializer())
        let values: [Float] = (0..<16).map { Float($0 * $0 % 7) }
        let x = Tensor(shape: [1, 2, 2, 2, 2], values: values)
        let layers = try BatchNormLayers(model: bn, modelName: "bn")
        layers.setBatchStatisticsMode(bn)
        let measured = layers.measuringBatchStatistics { withNoGrad { _ = bn(x) } }
        for c in 0..<2 {
            let v = values[(c * 8)..<(c * 8 + 8)].map(Double.init)
            let mean = v.reduce(0, +) / 8, variance = v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 7
            XCTAssertEqual(measured[0]!.mean[c], mean, accuracy: 1e-5)
            XCTAssertEqual(measured[0]!.variance[c], variance, accuracy: 1e-4)
        }
        XCTAssertEqual(bn.runningMean.toArray(), [0, 0], "running statistics are given back unchanged")
    }
}
