@testable import VolSegCore
import VolSegTestSupport
import XCTest

final class AutogradTests: XCTestCase {
    func testGradientsAccumulateThroughSharedInputs() {
        let a = Tensor(shape: [3], values: [1, 2, 3], requiresGrad: true)
        let b = Tensor(shape: [3], values: [4, 5, 6], requiresGrad: true)
        // loss = sum(a*b + a) -> dL/da = b + 1, dL/db = a
        let loss = (a * b + a).sum()
        loss.backward()
        XCTAssertEqual(a.grad?.toArray(), [5, 6, 7])
        XCTAssertEqual(b.grad?.toArray(), [1, 2, 3])
        // A second backward accumulates.
        (a * b).sum().backward()
        XCTAssertEqual(a.grad?.toArray(), [9, 11, 13])
    }

    func testNoGradScopeRecordsNothing() {
        let a = Tensor(shape: [2], values: [1, 2], requiresGrad: true)
        let y = withNoGrad { a * a }
        XCTAssertNil(y.gradNode)
        XCTAssertNotNil((a * a).gradNode)
    }
}

final class ShapeOpGradientTests: XCTestCase {
    func testSliceConcatPadGradientsMatchFiniteDifferences() {
        let a = seededTensor([2, 3, 4], seed: 1), b = seededTensor([2, 2, 4], seed: 2)
        let errors = finiteDifferenceErrors(inputs: [a, b]) { t -> Tensor in
            let joined = Tensor.concat([t[0], t[1]], axis: 1)
            let left = joined.slice(axis: 1, 1..<4).padded([(0, 0), (1, 2), (0, 1)], value: 0.5)
            let right = joined.slice(axis: 1, 0..<1).padded([(0, 0), (1, 4), (0, 1)])
            return left * right
        }
        for e in errors { XCTAssertLessThan(e, 1e-3) }
    }

    func testElementwiseAndPerChannelScaleGradients() {
        let x = seededTensor([2, 3, 2, 2, 2], seed: 3), s = seededTensor([2, 3, 1, 1, 1], seed: 4)
        let errors = finiteDifferenceErrors(inputs: [x, s]) { t -> Tensor in
            let scaled: Tensor = t[0].scaledPerChannel(t[1]) - t[0] * Float(0.5) + Float(2)
            return scaled.reshaped([2, -1]) * t[0].reshaped([2, -1])
        }
        for e in errors { XCTAssertLessThan(e, 1e-3) }
    }

    func testCheckpointGivesTheSameGradientsAndKeepsLessMemory() {
        let x = seededTensor([1, 4, 16, 16, 16], seed: 5)
        let w = seededTensor([1, 4, 16, 16, 16], seed: 6)
        w.requiresGrad = true
        func body(_ t: Tensor) -> Tensor { ((t * w) * (t * w) + t) * w }
        x.requiresGrad = true
        let ledger = MemoryLedger.shared
        // Peak held after the forward: the plain graph keeps its intermediates for backward.
        let (plainLoss, plainForwardPeak) = ledger.measurePeak { body(x).sum() }
        let plainHeld = ledger.currentBytes
        plainLoss.backward()
        let plainGX = x.grad!.toArray(), plainGW = w.grad!.toArray()
        x.grad = nil; w.grad = nil
        let before = ledger.currentBytes
        let (loss, checkpointForwardPeak) = ledger.measurePeak { checkpoint([x]) { inputs, _ in [body(inputs[0])] }[0].sum() }
        let checkpointHeld = ledger.currentBytes - before
        XCTAssertGreaterThan(plainForwardPeak, 0)
        XCTAssertLessThanOrEqual(checkpointForwardPeak, plainForwardPeak)
        // Plain: 4 saved products of 64 KiB at least; checkpoint: only the output and the loss.
        XCTAssertLessThan(checkpointHeld, plainHeld - before)
        loss.backward()
        XCTAssertLessThan(relativeError(x.grad!.toArray(), plainGX), 1e-6)
        XCTAssertLessThan(relativeError(w.grad!.toArray(), plainGW), 1e-6)
    }

    func testCheckpointReachesParametersWhenNoInputNeedsAGradient() {
        let x = seededTensor([2, 3], seed: 8)  // a network input: no gradient wanted
        let w = seededTensor([2, 3], seed: 9)
        w.requiresGrad = true
        let y = checkpoint([x]) { inputs, _ in [inputs[0] * w] }[0]
        y.sum().backward()
        XCTAssertEqual(w.grad?.toArray(), x.toArray())
    }
}
