import Foundation
@testable import VolSegCore
import VolSegTestSupport
@testable import VolSegTraining
import XCTest

/// The configured training loss: deep-supervision weights, Dice + CE as the sum of its parts, and
/// planning of the region loss. (The region loss op itself is tested in VolSegCoreTests.)
final class TrainingLossTests: XCTestCase {
    func testDeepSupervisionWeightsAreNNUNets() {
        let five = SegmentationLoss.deepSupervisionWeights(outputs: 5)
        for (w, e) in zip(five, [0.533, 0.267, 0.133, 0.067, 0.0]) { XCTAssertEqual(w, e, accuracy: 5e-4) }
        XCTAssertEqual(five.reduce(0, +), 1, accuracy: 1e-12)
        XCTAssertEqual(SegmentationLoss.deepSupervisionWeights(outputs: 3), [2.0 / 3, 1.0 / 3, 0])
        XCTAssertEqual(SegmentationLoss.deepSupervisionWeights(outputs: 1), [1])
    }

    func classTargets(_ shape: [Int], classes: Int, seed: UInt64) -> Tensor {
        seededTensor(shape, seed: seed, low: 0, high: Float(classes)).map { Float(Int($0)) }
    }

    func testDiceCEIsTheWeightedSumOverOutputs() {
        let full = seededTensor([2, 3, 8, 8, 8], seed: 1), half = seededTensor([2, 3, 4, 4, 4], seed: 2)
        let quarter = seededTensor([2, 3, 2, 2, 2], seed: 3)
        let target = classTargets([2, 1, 8, 8, 8], classes: 3, seed: 4)
        let loss = SegmentationLoss(kind: .labels(classWeights: nil))
        let value = withNoGrad { loss([full, half, quarter], target: target).item() }
        func part(_ x: Tensor) -> Double {
            let t = Array(x.shape.suffix(3)) == [8, 8, 8] ? target : target.resizedNearest(to: Array(x.shape.suffix(3)), rule: .floor)
            return Double(crossEntropyLoss(x, target: t).item() + softDiceLoss(x, target: t).item())
        }
        let expected = 2.0 / 3 * part(full) + 1.0 / 3 * part(half)
        XCTAssertEqual(Double(value), expected, accuracy: 1e-5)
    }

    func testPlannedLossAllocatesLikeTheRealOne() {
        let membership = [[false, true, true], [false, false, true]]
        let loss = SegmentationLoss(kind: .regions(membership: membership))
        func peak(planned: Bool) -> Int {
            let outputs = [Tensor.empty([2, 2, 16, 16, 16], planned: planned), Tensor.empty([2, 2, 8, 8, 8], planned: planned)]
            for o in outputs where !planned { o.fill(0.5) }
            outputs.forEach { $0.requiresGrad = true }
            let target = Tensor.zeros([2, 1, 16, 16, 16], planned: planned)
            return MemoryLedger.shared.measurePeak { loss(outputs, target: target).backward() }.peakBytes
        }
        XCTAssertEqual(peak(planned: true), peak(planned: false))
    }
}
