@testable import VolSegCore
import VolSegTestSupport
import XCTest

final class LinearTests: XCTestCase {
    func testForwardAndGradientsMatchFloat64Reference() {
        let x = seededTensor([5, 7], seed: 1), w = seededTensor([3, 7], seed: 2), b = seededTensor([3], seed: 3)
        x.requiresGrad = true; w.requiresGrad = true; b.requiresGrad = true
        let y = linear(x, weight: w, bias: b)
        let gy = seededTensor([5, 3], seed: 4)
        Tensor.backward(roots: [y], gradients: [gy])
        var ry = [Double](repeating: 0, count: 15), gx = [Double](repeating: 0, count: 35)
        var gw = [Double](repeating: 0, count: 21), gb = [Double](repeating: 0, count: 3)
        for r in 0..<5 {
            for o in 0..<3 {
                let g = Double(gy[r, o])
                ry[r * 3 + o] = Double(b[o])
                gb[o] += g
                for i in 0..<7 {
                    ry[r * 3 + o] += Double(x[r, i]) * Double(w[o, i])
                    gx[r * 7 + i] += g * Double(w[o, i])
                    gw[o * 7 + i] += g * Double(x[r, i])
                }
            }
        }
        let f = { (a: [Double]) in a.map { Float($0) } }
        XCTAssertLessThan(relativeError(y.toArray(), f(ry)), 1e-6)
        XCTAssertLessThan(relativeError(x.grad!.toArray(), f(gx)), 1e-6)
        XCTAssertLessThan(relativeError(w.grad!.toArray(), f(gw)), 1e-6)
        XCTAssertLessThan(relativeError(b.grad!.toArray(), f(gb)), 1e-6)
    }

    func testLeadingDimensionsAreFlattened() {
        let x = seededTensor([2, 3, 4], seed: 5), w = seededTensor([6, 4], seed: 6)
        let y = linear(x, weight: w)
        XCTAssertEqual(y.shape, [2, 3, 6])
        let flat = linear(x.reshaped([6, 4]), weight: w)
        XCTAssertEqual(y.toArray(), flat.toArray())
        let errors = finiteDifferenceErrors(inputs: [x, w]) { t in linear(t[0], weight: t[1]) }
        for e in errors { XCTAssertLessThan(e, 1e-3) }
    }
}
