@testable import VolSegCore
import VolSegTestSupport
import XCTest

/// Planning mode: the convolutions allocate outputs, scratch and gradients exactly as a real run
/// does, so a planned forward + backward reports the same ledger peak.
final class ConvPlanningTests: XCTestCase {
    func peak(planned: Bool, _ body: (Tensor, [Tensor]) -> Tensor, input: [Int], parameters: [[Int]]) -> Int {
        let x = planned ? Tensor.planned(input) : seededTensor(input, seed: 1)
        let params = parameters.enumerated().map { i, shape -> Tensor in
            let p = planned ? Tensor.planned(shape) : seededTensor(shape, seed: UInt64(i + 2))
            p.requiresGrad = true
            return p
        }
        x.requiresGrad = true
        let ledger = MemoryLedger.shared
        let (_, bytes) = ledger.measurePeak { () -> Void in
            let loss = body(x, params).sum()
            loss.backward()
            XCTAssertEqual(x.grad?.isPlanned, planned)
            for p in params { XCTAssertNotNil(p.grad) }
        }
        return bytes
    }

    func testConvolutionForwardBackwardPeakIsTheSamePlannedAndReal() {
        let input = [1, 4, 9, 10, 11]
        let parameters = [[6, 4, 3, 3, 3], [6], [6, 1, 3, 3, 3], [6], [8, 6, 1, 1, 1], [8, 4, 2, 2, 2], [3, 4, 1, 1, 1], [12, 3],
                          [6, 1, 3, 3, 3], [6, 6, 3, 3, 3]]
        let network = { (x: Tensor, p: [Tensor]) -> Tensor in
            var h = conv3d(x, weight: p[0], bias: p[1], stride: [1], padding: [1])
            h = conv3d(h, weight: p[8], padding: [1], groups: 6)                              // depthwise, gathered gx
            h = conv3d(h, weight: p[9], stride: [2, 1, 2], padding: [1])                     // strided, col2im gx
            h = conv3d(h, weight: p[2], bias: p[3], stride: [2], padding: [1], groups: 6)    // depthwise, scattered gx
            h = conv3d(h, weight: p[4], stride: [1])                                         // pointwise
            h = convTranspose3d(h, weight: p[5], stride: [2])                                // up-sampling
            h = conv3d(h, weight: p[6], stride: [2])                                         // strided 1x1x1
            return linear(h.reshaped([-1, 3]), weight: p[7])
        }
        let saved = ConvTuning.panelBudgetBytes
        defer { ConvTuning.panelBudgetBytes = saved }
        // The default budget (the direct kernel's panels where this CPU runs it), and a tiny one:
        // several slabs, so the GEMM paths' panel size is the bounded one.
        for budget in [saved, 4096] {
            ConvTuning.panelBudgetBytes = budget
            let real = peak(planned: false, network, input: input, parameters: parameters)
            let planned = peak(planned: true, network, input: input, parameters: parameters)
            XCTAssertGreaterThan(real, 0)
            XCTAssertEqual(planned, real, "panel budget \(budget)")
        }
    }

    /// The im2col panel stays within the budget however large the volume is.
    func testPanelScratchIsBoundedByTheBudget() {
        let small = ConvGeometry(input: [1, 32, 16, 16, 16], weight: [32, 32, 3, 3, 3], stride: [1], padding: [1], groups: 1)
        let large = ConvGeometry(input: [1, 32, 256, 256, 256], weight: [32, 32, 3, 3, 3], stride: [1], padding: [1], groups: 1)
        let budget = ConvTuning.panelBudgetBytes
        XCTAssertLessThanOrEqual(ConvSlabPlan(large).panelCount * 4, budget)
        XCTAssertLessThanOrEqual(ConvSlabPlan(small).panelCount * 4, budget)
        // The large volume, planned: forward adds its output, the panels within the budget and
        // a rearranged copy of the weight (the direct kernel's packing: Cout 32 fills its tiles'
        // rows, so no larger), nothing more.
        let x = Tensor.planned(large.inputShape), w = Tensor.planned(large.weightShape)
        let (y, bytes) = MemoryLedger.shared.measurePeak { conv3d(x, weight: w, padding: [1]) }
        XCTAssertLessThanOrEqual(bytes, y.byteCount + budget + w.byteCount)
    }
}
