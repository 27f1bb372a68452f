@testable import VolSegCore
import VolSegTestSupport
import XCTest


final class ActivationGoldenTests: XCTestCase {
    func testReLUMatchesPyTorch() throws { try checkUnaryGolden("relu") { $0.relu() } }
    func testLeakyReLUMatchesPyTorch() throws { try checkUnaryGolden("leaky_relu_0.01") { $0.leakyReLU(slope: 0.01) } }
    func testSiLUMatchesPyTorch() throws { try checkUnaryGolden("silu") { $0.silu() } }
    func testSigmoidMatchesPyTorch() throws { try checkUnaryGolden("sigmoid") { $0.sigmoid() } }
    func testReLU6MatchesPyTorch() throws { try checkUnaryGolden("relu6") { $0.relu6() } }
}

final class ActivationTests: XCTestCase {
    func testVectorExpAndLogAreWithinAFewUlp() {
        var worstExp: Float = 0, worstLog: Float = 0
        var x: Float = -87
        while x < 88 {
            let lanes = Lanes((0..<16).map { x + Float($0) * 0.0137 })
            let e = vectorExp(lanes)
            for i in 0..<16 {
                let exact = Foundation.exp(Double(lanes[i]))
                worstExp = max(worstExp, Float(abs(Double(e[i]) - exact) / exact))
            }
            let positive = Lanes((0..<16).map { Foundation.exp(x / 2) * (1 + Float($0) / 16) })
            let l = vectorLog(positive)
            for i in 0..<16 {
                let exact = Foundation.log(Double(positive[i]))
                worstLog = max(worstLog, Float(abs(Double(l[i]) - exact) / max(abs(exact), 1)))
            }
            x += 0.37
        }
        XCTAssertLessThan(worstExp, 3e-7)
        XCTAssertLessThan(worstLog, 3e-7)
    }

    func testActivationGradientsMatchFiniteDifferencesAwayFromKinks() {
        // Values in ±(0.1...3): no element within a step of a kink (0, and 6 for ReLU6 after the x1.9).
        let raw = seededTensor([3, 37], seed: 5, low: 0.1, high: 3)
        let signs = seededTensor([3, 37], seed: 6)
        let x = Tensor(shape: [3, 37], values: zip(raw.toArray(), signs.toArray()).map { $1 < 0 ? -$0 : $0 })
        let ops: [(String, (Tensor) -> Tensor)] = [
            ("relu", { $0.relu() }), ("leaky", { $0.leakyReLU(slope: 0.1) }), ("relu6", { ($0 * Float(1.9)).relu6() }),
            ("sigmoid", { $0.sigmoid() }), ("silu", { $0.silu() }),
        ]
        for (name, op) in ops {
            let errors = finiteDifferenceErrors(inputs: [x], step: 1e-2) { op($0[0]) }
            XCTAssertLessThan(errors[0], 1e-3, name)
        }
    }

    func testPlannedActivationsAllocateLikeRealOnes() {
        func peak(planned: Bool) -> Int {
            let x = planned ? Tensor.planned([2, 3, 33]) : seededTensor([2, 3, 33])
            x.requiresGrad = true
            return MemoryLedger.shared.measurePeak {
                x.relu().leakyReLU().relu6().sigmoid().silu().sum().backward()
            }.peakBytes
        }
        XCTAssertEqual(peak(planned: true), peak(planned: false))
    }
}
