@testable import VolSegCore
@testable import VolSegModels
@testable import VolSegNN
import VolSegTestSupport
import XCTest

/// The ledger's promise: a model run on shape-only tensors reaches exactly the peak a real run does.
final class PlanningModeTests: XCTestCase {
    func trainingStepPeak(planned: Bool) throws -> (peak: Int, live: Int) {
        let ledger = MemoryLedger.shared
        let before = ledger.currentBytes
        let result = try ledger.measurePeak { () throws -> Int in
            let model = try ModelRegistry.make(name: "unet3d", config: [
                "input_channels": 2, "num_classes": 3, "widths": [4, 8, 16], "deep_supervision": false,
            ], initializer: ParameterInitializer(seed: 7, planned: planned))
            let optimizer = SGD(parameters: model.trainableParameters)
            let x = planned ? Tensor.planned([1, 2, 16, 16, 16]) : seededTensor([1, 2, 16, 16, 16])
            let target = planned ? Tensor.planned([1, 16, 16, 16]) : Tensor.zeros([1, 16, 16, 16])
            let loss = crossEntropyLoss(model.forward(x)[0], target: target)
            loss.backward()
            optimizer.step()
            return ledger.currentBytes - before
        }
        return (result.peakBytes, result.result)
    }

    func testPlannedTrainingStepReportsTheSamePeakAsARealOne() throws {
        let real = try trainingStepPeak(planned: false)
        let planned = try trainingStepPeak(planned: true)
        XCTAssertGreaterThan(real.peak, 0)
        XCTAssertEqual(planned.peak, real.peak)
        XCTAssertEqual(planned.live, real.live)
    }

    /// Inference, where the decoder convolutions read the upsampled tensor and the skip without a
    /// concatenation (32 wide at the top: the direct kernels take them): the planned forward's peak
    /// is the real one's.
    func testPlannedInferencePeakEqualsARealOneWithoutTheConcatenations() throws {
        func forwardPeak(planned: Bool) throws -> Int {
            let model = try ModelRegistry.make(name: "unet3d", config: [
                "input_channels": 2, "num_classes": 3, "widths": [8, 16, 16], "deep_supervision": false,
            ], initializer: ParameterInitializer(seed: 7, planned: planned))
            let x = planned ? Tensor.planned([1, 2, 32, 32, 32]) : seededTensor([1, 2, 32, 32, 32])
            return MemoryLedger.shared.measurePeak { withNoGrad { _ = model.forward(x) } }.peakBytes
        }
        let real = try forwardPeak(planned: false)
        XCTAssertGreaterThan(real, 0)
        XCTAssertEqual(try forwardPeak(planned: true), real)
    }
}
