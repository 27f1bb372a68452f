@testable import VolSegCore
import VolSegTestSupport
import XCTest


/// Class indices 0..<classes as floats, deterministic.
private func seededLabels(_ shape: [Int], classes: Int, seed: UInt64) -> Tensor {
    let u = seededTensor(shape, seed: seed, low: 0, high: Float(classes))
    return Tensor(shape: shape, values: u.toArray().map { min(Float(classes - 1), $0.rounded(.down)) })
}

/// Softmax probabilities of [N, C, S] logits in Float64, [n][c][s].
private func naiveSoftmax(_ logits: Tensor) -> [[[Double]]] {
    let (n, c) = (logits.shape[0], logits.shape[1]), s = logits.count / (n * c)
    return (0..<n).map { i in
        let columns = (0..<s).map { v -> [Double] in
            let z = (0..<c).map { Double(logits.data[(i * c + $0) * s + v]) }
            let m = z.max()!, e = z.map { Foundation.exp($0 - m) }, total = e.reduce(0, +)
            return e.map { $0 / total }
        }
        return (0..<c).map { k in columns.map { $0[k] } }
    }
}

final class LossGoldenTests: XCTestCase {
    private func check(_ group: String, _ loss: (Tensor, Tensor) -> Tensor) throws {
        let logits = try golden(group, "logits"), target = try golden(group, "target")
        logits.requiresGrad = true
        let value = loss(logits, target)
        value.backward()
        for (label, actual, expected) in [("loss", value, try golden(group, "loss")),
                                          ("glogits", logits.grad!, try golden(group, "glogits"))] {
            let error = relativeError(actual, expected)
            print("golden \(group) \(label): relative error \(error)")
            XCTAssertLessThan(error, 1e-4, "\(group) \(label)")
        }
    }

    func testCrossEntropyMatchesPyTorch() throws {
        try check("cross_entropy_mean") { crossEntropyLoss($0, target: $1) }
    }

    func testSoftDiceLossMatchesTheGoldenFormula() throws {
        // formula attribute: 1 - mean_{c>=1} (2*sum(p_c*y_c)+s)/(sum(p_c)+sum(y_c)+s), sums over batch and voxels.
        try check("soft_dice_loss_batch_fg") { softDiceLoss($0, target: $1, smooth: 1e-5) }
    }
}

final class LossTests: XCTestCase {
    func testSoftmaxSumsToOneAndItsGradientMatchesFiniteDifferences() {
        let x = seededTensor([2, 5, 3, 7], seed: 61, low: -3, high: 3)
        let p = x.softmax()
        for n in 0..<2 { for v in 0..<21 {
            let total = (0..<5).reduce(0.0) { $0 + Double(p.data[(n * 5 + $1) * 21 + v]) }
            XCTAssertEqual(total, 1, accuracy: 1e-6)
        } }
        let reference = naiveSoftmax(x).flatMap { $0.flatMap { $0.map(Float.init) } }
        XCTAssertLessThan(relativeError(p.toArray(), reference), 1e-6)
        for axis in [1, 2, 3] {
            XCTAssertLessThan(finiteDifferenceErrors(inputs: [x], step: 1e-2) { $0[0].softmax(axis: axis) }[0], 1e-3, "axis \(axis)")
        }
    }

    func testWeightedCrossEntropyIsPyTorchsWeightedMean() {
        let logits = seededTensor([2, 3, 4, 5], seed: 62, low: -2, high: 2)
        let target = seededLabels([2, 4, 5], classes: 3, seed: 63)
        let weights: [Float] = [0.2, 1, 3]
        let p = naiveSoftmax(logits)
        var numerator = 0.0, denominator = 0.0
        for n in 0..<2 { for v in 0..<20 {
            let t = Int(target.data[n * 20 + v]), w = Double(weights[t])
            numerator -= w * Foundation.log(p[n][t][v])
            denominator += w
        } }
        XCTAssertEqual(Double(crossEntropyLoss(logits, target: target, classWeights: weights).item()),
                       numerator / denominator, accuracy: 1e-5)
        let errors = finiteDifferenceErrors(inputs: [logits], step: 1e-2) {
            crossEntropyLoss($0[0], target: target, classWeights: weights)
        }
        XCTAssertLessThan(errors[0], 1e-3)
    }

    func testCrossEntropyStaysFiniteForConfidentWrongLogits() {
        // The target class is 200 below the winner: its probability underflows float32.
        let logits = Tensor(shape: [1, 2, 1], values: [100, -100])
        let loss = crossEntropyLoss(logits, target: Tensor(shape: [1, 1], values: [1]))
        XCTAssertEqual(loss.item(), 200, accuracy: 1e-3)
    }

    func testDiceVariantsMatchANaiveSumAndFiniteDifferences() {
        let logits = seededTensor([2, 3, 3, 4, 5], seed: 64, low: -2, high: 2)
        // [N, 1, D, H, W] targets are accepted as well as [N, D, H, W].
        let target = seededLabels([2, 1, 3, 4, 5], classes: 3, seed: 65)
        let p = naiveSoftmax(logits)
        for (batchDice, background) in [(true, false), (false, false), (false, true), (true, true)] {
            var scores: [Double] = []
            for sample in (batchDice ? [nil] : [0, 1] as [Int?]) {
                for c in (background ? 0 : 1)..<3 {
                    var intersection = 0.0, predicted = 0.0, truth = 0.0
                    for n in 0..<2 where sample == nil || sample == n {
                        for v in 0..<60 {
                            let y = Int(target.data[n * 60 + v]) == c ? 1.0 : 0.0
                            intersection += p[n][c][v] * y; predicted += p[n][c][v]; truth += y
                        }
                    }
                    scores.append((2 * intersection + 1e-5) / (predicted + truth + 1e-5))
                }
            }
            let expected = 1 - scores.reduce(0, +) / Double(scores.count)
            let label = "batchDice \(batchDice) background \(background)"
            let f = { (t: [Tensor]) in
                softDiceLoss(t[0], target: target, smooth: 1e-5, includeBackground: background, batchDice: batchDice)
            }
            XCTAssertEqual(Double(f([logits]).item()), expected, accuracy: 1e-6, label)
            XCTAssertLessThan(finiteDifferenceErrors(inputs: [logits], step: 1e-2, f)[0], 2e-3, label)
        }
    }

    /// The U-Net's pointwise path end to end: planning mode must report the peak a real run reaches.
    func testPlannedChainReportsTheSamePeakAsARealRun() {
        func peak(planned: Bool) -> (peak: Int, held: Int) {
            let shape = [2, 4, 8, 8, 8]
            let x = planned ? Tensor.planned(shape) : seededTensor(shape, seed: 66)
            let target = planned ? Tensor.planned([2, 8, 8, 8]) : seededLabels([2, 8, 8, 8], classes: 4, seed: 67)
            let w = Tensor.full([4], value: 1), b = Tensor.zeros([4])
            for t in [x, w, b] { t.requiresGrad = true }
            let ledger = MemoryLedger.shared
            let before = ledger.currentBytes
            let result = ledger.measurePeak { () -> Int in
                let h = instanceNormLeakyReLU(x, weight: w, bias: b)
                let logits = h.maxPool(kernel: [2, 2, 2]).upsampleTrilinear(scale: [2, 2, 2])
                    .upsampleNearest(scale: [1, 1, 1]).softmax().silu()
                let loss = crossEntropyLoss(logits, target: target) + softDiceLoss(logits, target: target)
                loss.backward()
                return ledger.currentBytes - before
            }
            return (result.peakBytes, result.result)
        }
        let planned = peak(planned: true), real = peak(planned: false)
        XCTAssertEqual(planned.peak, real.peak)
        XCTAssertEqual(planned.held, real.held)
        XCTAssertGreaterThan(real.peak, 3 * 2 * 4 * 512 * 4)
    }
}
