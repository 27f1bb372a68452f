import Foundation
@testable import VolSegCore
@testable import VolSegDatasets
@testable import VolSegInference
@testable import VolSegModels
@testable import VolSegNN
import VolSegTestSupport
import XCTest

/// A network whose output is a known function: a 1x1x1 convolution from one channel to two
/// classes, logits (0.5 x - 1, -x + 0.25). Every window predicts exactly what the whole volume
/// predicts at the same voxel, so any weighted average of windows must give the whole-volume
/// result back.
final class PointwiseModel: Module, SegmentationModel {
    let conv: Conv3d
    let divisor: [Int]

    init(divisor: [Int] = [1, 1, 1]) {
        conv = Conv3d(inputChannels: 1, outputChannels: 2, kernelSize: 1, padding: 0, initializer: ParameterInitializer())
        self.divisor = divisor
        super.init()
        registerChild("conv", conv)
        let w: [Float] = [0.5, -1], b: [Float] = [-1, 0.25]
        for i in 0..<2 { conv.weight.data[i] = w[i]; conv.bias!.data[i] = b[i] }
    }

    var inputChannels: Int { 1 }
    var classCount: Int { 2 }
    var family: String { "pointwise-test" }
    var configJSON: [String: Any] { [:] }
    var sizeDivisor: [Int] { divisor }
    func forward(_ x: Tensor) -> [Tensor] { [conv(x)] }
}

/// Ignores its input: class 1's logit is an odd ramp along W of the window (x - (w - 1) / 2),
/// class 0's is 0. Mirrored along W and flipped back, the ramp changes sign, so with mirroring
/// the two halves average to probability 1/2 everywhere; without it they do not.
final class RampModel: Module, SegmentationModel {
    var inputChannels: Int { 1 }
    var classCount: Int { 2 }
    var family: String { "ramp-test" }
    var configJSON: [String: Any] { [:] }
    var sizeDivisor: [Int] { [1, 1, 1] }

    func forward(_ x: Tensor) -> [Tensor] {
        let (d, h, w) = (x.shape[2], x.shape[3], x.shape[4])
        let out = Tensor.zeros([1, 2, d, h, w], planned: x.isPlanned)
        if x.isPlanned { return [out] }
        for i in 0..<(d * h) {
            for j in 0..<w { out.data[d * h * w + i * w + j] = Float(j) - Float(w - 1) / 2 }
        }
        return [out]
    }
}

final class InferenceTests: XCTestCase {
    func randomVolume(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = SyntheticRNG(seed: seed)
        return Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in Float(rng.uniform(-3, 3)) })
    }

    func wholeVolumeProbabilities(_ model: SegmentationModel, _ image: Tensor) -> Tensor {
        withNoGrad { model.forward(image.reshaped([1] + image.shape))[0].softmax(axis: 1).reshaped([2] + Array(image.shape.suffix(3))) }
    }

    func testOverlappingWindowsOfAPointwiseModelReproduceTheWholeVolume() {
        let model = PointwiseModel()
        // 37 x 30 x 23 with 16^3 windows: 4 x 3 x 2 windows overlapping by various amounts.
        let image = randomVolume([1, 37, 30, 23], seed: 3)
        let inference = SlidingWindowInference(model: model, output: .labels([0, 1]), patch: [16, 16, 16])
        XCTAssertEqual(inference.layout(for: [37, 30, 23]).windowCount, 4 * 3 * 2)
        var calls = 0
        let probabilities = inference.predict(image) { done, total in calls += 1; XCTAssertEqual(total, 24); XCTAssertEqual(done, calls) }
        XCTAssertEqual(calls, 24)
        let expected = wholeVolumeProbabilities(model, image)
        XCTAssertEqual(probabilities.shape, [2, 37, 30, 23])
        // Weighted averages of identical values: equal up to Float32 rounding of the weights.
        XCTAssertLessThan(zip(probabilities.toArray(), expected.toArray()).map { abs($0 - $1) }.max()!, 2e-6)
    }

    func testVolumeSmallerThanThePatchIsPaddedAndCroppedBack() {
        let model = PointwiseModel(divisor: [8, 8, 8])
        let image = randomVolume([1, 10, 21, 7], seed: 4)
        // Patch 12 rounds up to the divisor: 16-voxel windows.
        let inference = SlidingWindowInference(model: model, output: .labels([0, 1]), patch: [12, 12, 12])
        XCTAssertEqual(inference.window, [16, 16, 16])
        let probabilities = inference.predict(image)
        XCTAssertEqual(probabilities.shape, [2, 10, 21, 7])
        let expected = wholeVolumeProbabilities(model, image)
        XCTAssertLessThan(zip(probabilities.toArray(), expected.toArray()).map { abs($0 - $1) }.max()!, 2e-6)
    }

    func testMirroringAMirrorEquivariantModelChangesNothing() {
        let model = PointwiseModel()
        let image = randomVolume([1, 20, 18, 25], seed: 5)
        let plain = SlidingWindowInference(model: model, output: .labels([0, 1]), patch: [12, 12, 12]).predict(image)
        let mirrored = SlidingWindowInference(model: model, output: .labels([0, 1]), patch: [12, 12, 12], mirroring: true).predict(image)
        XCTAssertLessThan(zip(plain.toArray(), mirrored.toArray()).map { abs($0 - $1) }.max()!, 2e-6)
    }

    func testMirroredPredictionsAreFlippedBackBeforeAveraging() {
        let image = randomVolume([1, 8, 8, 24], seed: 6)
        let plain = SlidingWindowInference(model: RampModel(), output: .labels([0, 1]), patch: [8, 8, 8]).predict(image)
        let mirrored = SlidingWindowInference(model: RampModel(), output: .labels([0, 1]), patch: [8, 8, 8], mirroring: true).predict(image)
        // Without mirroring the first voxel sees logit -3.5 only: probability sigmoid(-3.5).
        XCTAssertEqual(plain[1, 0, 0, 0], Float(1 / (1 + exp(3.5))), accuracy: 1e-6)
        // With it, sigmoid(a) and sigmoid(-a) average to 1/2 at every voxel.
        XCTAssertEqual(mirrored.toArray().map { abs($0 - 0.5) }.max()!, 0, accuracy: 1e-6)
    }

    func testFlippingTwiceIsTheIdentity() {
        let t = randomVolume([2, 3, 4, 5], seed: 7)
        for axes in InferenceMirroring.axisSets(enabled: true) {
            let once = InferenceMirroring.flipped(t, spatialAxes: axes)
            XCTAssertEqual(InferenceMirroring.flipped(once, spatialAxes: axes).toArray(), t.toArray())
        }
        XCTAssertEqual(InferenceMirroring.axisSets(enabled: true).count, 8)
        XCTAssertEqual(InferenceMirroring.flipped(t, spatialAxes: [2])[1, 2, 3, 0], t[1, 2, 3, 4])
        XCTAssertEqual(InferenceMirroring.flipped(t, spatialAxes: [0, 1])[1, 0, 0, 4], t[1, 2, 3, 4])
    }

    func testRegionsArePaintedInOrderAndLabelsUseTheDatasetsValues() {
        let shape = [1, 1, 4]
        // Voxels: nothing; WT only; WT and TC; WT, TC and ET.
        let probabilities = Tensor(shape: [3] + shape, values: [0.1, 0.9, 0.9, 0.9,
                                                                0.2, 0.3, 0.6, 0.7,
                                                                0.0, 0.1, 0.4, 0.8])
        let brats = ModelBundleConfig.output(for: .brats2021, regionBased: true)
        XCTAssertEqual(brats, .regions([SegmentationRegion(name: "WT", labels: [1, 2, 4], paint: 2),
                                        SegmentationRegion(name: "TC", labels: [1, 4], paint: 1),
                                        SegmentationRegion(name: "ET", labels: [4], paint: 4)]))
        XCTAssertEqual(brats.labelMap(probabilities).toArray(), [0, 2, 1, 4])
        let softmax = SegmentationOutput.labels([0, 1, 2, 4])
        let scores = Tensor(shape: [4] + shape, values: [0.7, 0.1, 0.2, 0.1,  0.1, 0.6, 0.2, 0.1,
                                                         0.1, 0.2, 0.5, 0.1,  0.1, 0.1, 0.1, 0.7])
        XCTAssertEqual(softmax.labelMap(scores).toArray(), [0, 1, 2, 4], "channel 3 is BraTS label 4")
        XCTAssertEqual(Segmenter.labelMapping(from: .brats2021, to: .brats2023), [4: 3])
        XCTAssertEqual(brats.relabelled([4: 3]).labelValues, [0, 2, 1, 3])
        XCTAssertNil(Segmenter.labelMapping(from: .lits, to: .brats2021), "meanings do not match: keep the model's values")
    }

    /// A small U-Net (planned weights) on planned volumes of two sizes.
    func inferencePeak(volume: [Int]) throws -> Int {
        let model = try ModelRegistry.make(name: "unet3d", config: ["input_channels": 1, "num_classes": 3, "widths": [4, 8],
                                                                    "deep_supervision": false],
                                           initializer: ParameterInitializer(planned: true))
        let inference = SlidingWindowInference(model: model, output: .labels([0, 1, 2]), patch: [16, 16, 16])
        let image = Tensor.planned([1] + volume)
        return MemoryLedger.shared.measurePeak { _ = inference.predict(image) }.peakBytes
    }

    func testPeakGrowsWithTheVolumeOnlyByTheAccumulators() throws {
        let small = [48, 40, 32], large = [96, 80, 112]
        func accumulators(_ shape: [Int]) -> Int { (3 + 1) * shape.reduce(1, *) * 4 }
        let peakSmall = try inferencePeak(volume: small), peakLarge = try inferencePeak(volume: large)
        print("sliding-window peak: \(peakSmall) bytes for \(small), \(peakLarge) for \(large)")
        XCTAssertEqual(peakSmall - accumulators(small), peakLarge - accumulators(large),
                       "beyond the [K + 1, D, H, W] accumulators the peak is one window's")
        XCTAssertGreaterThan(peakSmall, accumulators(small))
    }

    func testPlannedInferenceReachesTheRealPeak() throws {
        func peak(planned: Bool) throws -> Int {
            let model = try ModelRegistry.make(name: "unet3d", config: ["input_channels": 1, "num_classes": 3, "widths": [4, 8],
                                                                        "deep_supervision": false],
                                               initializer: ParameterInitializer(seed: 1, planned: planned))
            let inference = SlidingWindowInference(model: model, output: .labels([0, 1, 2]), patch: [16, 16, 16], mirroring: true)
            // D is smaller than the window: padding and cropping are part of the plan too.
            let image = planned ? Tensor.planned([1, 12, 36, 20]) : randomVolume([1, 12, 36, 20], seed: 8)
            return MemoryLedger.shared.measurePeak { _ = inference.predict(image) }.peakBytes
        }
        let real = try peak(planned: false), planned = try peak(planned: true)
        XCTAssertGreaterThan(real, 0)
        XCTAssertEqual(planned, real)
    }
}
