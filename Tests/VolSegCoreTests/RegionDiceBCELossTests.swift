import Foundation
@testable import VolSegCore
import VolSegTestSupport
import XCTest

/// The region loss (sigmoid BCE + soft Dice per region) against a Float64 reference written from
/// its definition, and its gradient against finite differences.
final class RegionDiceBCELossTests: XCTestCase {
    func classTargets(_ shape: [Int], classes: Int, seed: UInt64) -> Tensor {
        seededTensor(shape, seed: seed, low: 0, high: Float(classes)).map { Float(Int($0)) }
    }

    /// The region loss in Float64, written from its definition.
    func regionReference(_ x: Tensor, _ t: Tensor, membership: [[Bool]], batchDice: Bool) -> Double {
        let n = x.shape[0], r = x.shape[1], s = x.count / (n * r)
        var bce = 0.0
        var sums = [[Double]](repeating: [0, 0, 0], count: (batchDice ? 1 : n) * r)
        for b in 0..<n { for k in 0..<r { for i in 0..<s {
            let v = Double(x.data[(b * r + k) * s + i]), y = membership[k][Int(t.data[b * s + i])] ? 1.0 : 0.0
            let p = 1 / (1 + exp(-v))
            bce += -(y * log(p) + (1 - y) * log(1 - p))
            let g = (batchDice ? 0 : b) * r + k
            sums[g][0] += p * y; sums[g][1] += p; sums[g][2] += y
        } } }
        let dice = sums.map { (2 * $0[0] + 1e-5) / ($0[1] + $0[2] + 1e-5) }.reduce(0, +) / Double(sums.count)
        return bce / Double(x.count) + (1 - dice)
    }

    func testRegionLossMatchesItsDefinitionAndItsGradient() {
        // BraTS classes 0, 1, 2, 4 as indices 0...3; regions WT, TC, ET.
        let membership = [[false, true, true, true], [false, true, false, true], [false, false, false, true]]
        // Few elements: each gradient entry is 1/count of the mean, and a Float32 forward resolves
        // a central difference of it only when it is not too small.
        let x = seededTensor([2, 3, 4, 3, 2], seed: 7, low: -3, high: 3)
        let t = classTargets([2, 1, 4, 3, 2], classes: 4, seed: 8)
        for batchDice in [true, false] {
            let value = withNoGrad { regionDiceBCELoss(x, target: t, membership: membership, batchDice: batchDice).item() }
            XCTAssertEqual(Double(value), regionReference(x, t, membership: membership, batchDice: batchDice), accuracy: 1e-5)
            let errors = finiteDifferenceErrors(inputs: [x], step: 2e-2) { inputs in
                regionDiceBCELoss(inputs[0], target: t, membership: membership, batchDice: batchDice, diceWeight: 0.7, bceWeight: 1.3)
            }
            XCTAssertLessThan(errors[0], 2e-3, "batchDice \(batchDice)")
        }
    }
}
