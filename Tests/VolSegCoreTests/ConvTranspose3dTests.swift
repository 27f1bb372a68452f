@testable import VolSegCore
import VolSegTestSupport
import XCTest

final class ConvTranspose3dTests: XCTestCase {
    /// Kernel == stride takes the GEMM + scatter path; the others the col2im path.
    func testForwardAndGradientsMatchFloat64Reference() {
        let cases: [(name: String, input: [Int], outputChannels: Int, kernel: [Int], stride: [Int], padding: [Int], outputPadding: [Int], groups: Int)] = [
            ("k2s2", [2, 3, 3, 4, 5], 4, [2, 2, 2], [2, 2, 2], [0, 0, 0], [0, 0, 0], 1),
            ("k122s122", [1, 4, 3, 3, 4], 2, [1, 2, 2], [1, 2, 2], [0, 0, 0], [0, 0, 0], 1),
            ("k3s2p1op1", [1, 2, 3, 4, 3], 3, [3, 3, 3], [2, 2, 2], [1, 1, 1], [1, 1, 1], 1),
            ("k2s2_groups2", [1, 4, 2, 3, 3], 4, [2, 2, 2], [2, 2, 2], [0, 0, 0], [0, 0, 0], 2),
        ]
        for c in cases {
            let x = seededTensor(c.input, seed: 1)
            let w = seededTensor([c.input[1], c.outputChannels / c.groups] + c.kernel, seed: 2)
            let b = seededTensor([c.outputChannels], seed: 3)
            x.requiresGrad = true; w.requiresGrad = true; b.requiresGrad = true
            let y = convTranspose3d(x, weight: w, bias: b, stride: c.stride, padding: c.padding,
                                    outputPadding: c.outputPadding, groups: c.groups)
            let gy = seededTensor(y.shape, seed: 4)
            Tensor.backward(roots: [y], gradients: [gy])
            let ref = ReferenceConvTranspose.forwardBackward(x: x, w: w, b: b, gy: gy, stride: c.stride, padding: c.padding,
                                                             outputShape: y.shape, groups: c.groups)
            let expectedSize: [Int] = (0..<3).map { axis -> Int in
                let spread: Int = (c.input[axis + 2] - 1) * c.stride[axis]
                return spread - 2 * c.padding[axis] + c.kernel[axis] + c.outputPadding[axis]
            }
            XCTAssertEqual(y.shape, [c.input[0], c.outputChannels] + expectedSize, c.name)
            XCTAssertLessThan(relativeError(y.toArray(), ref.y), 1e-5, "\(c.name) y")
            XCTAssertLessThan(relativeError(x.grad!.toArray(), ref.gx), 1e-5, "\(c.name) gx")
            XCTAssertLessThan(relativeError(w.grad!.toArray(), ref.gw), 1e-5, "\(c.name) gw")
            XCTAssertLessThan(relativeError(b.grad!.toArray(), ref.gb), 1e-5, "\(c.name) gb")
        }
    }

    func testGradientsMatchFiniteDifferences() {
        let x = seededTensor([1, 2, 2, 3, 2], seed: 5), w = seededTensor([2, 3, 2, 2, 2], seed: 6)
        let errors = finiteDifferenceErrors(inputs: [x, w]) { t in convTranspose3d(t[0], weight: t[1], stride: [2]) }
        for e in errors { XCTAssertLessThan(e, 1e-3) }
    }
}

/// Transposed convolution from its definition (each input scatters weight * value), in Float64.
enum ReferenceConvTranspose {
    static func forwardBackward(x: Tensor, w: Tensor, b: Tensor, gy: Tensor, stride: [Int], padding: [Int],
                                outputShape: [Int], groups: Int) -> (y: [Float], gx: [Float], gw: [Float], gb: [Float]) {
        let (n, cin) = (x.shape[0], x.shape[1])
        let coutG = w.shape[1], cout = coutG * groups, cinG = cin / groups
        let k = Array(w.shape[2...]), inSize = Array(x.shape[2...]), o = Array(outputShape[2...])
        let xv = x.toArray(), wv = w.toArray(), gyv = gy.toArray(), bv = b.toArray()
        func index(_ a: Int, _ c: Int, _ p: [Int], _ dims: [Int]) -> Int {
            let ac: Int = a * dims[1] + c
            let d: Int = ac * dims[2] + p[0]
            return (d * dims[3] + p[1]) * dims[4] + p[2]
        }
        var y = [Double](repeating: 0, count: gyv.count)
        var gx = [Double](repeating: 0, count: xv.count), gw = [Double](repeating: 0, count: wv.count)
        var gb = [Double](repeating: 0, count: cout)
        for b0 in 0..<n { for co in 0..<cout { for d in 0..<o[0] { for h in 0..<o[1] { for v in 0..<o[2] {
            let yi = index(b0, co, [d, h, v], outputShape)
            y[yi] += Double(bv[co]); gb[co] += Double(gyv[yi])
        } } } } }
        for b0 in 0..<n { for ci in 0..<cin { for d in 0..<inSize[0] { for h in 0..<inSize[1] { for v in 0..<inSize[2] {
            let xi = index(b0, ci, [d, h, v], x.shape)
            let group = ci / cinG
            for cg in 0..<coutG { for kd in 0..<k[0] { for kh in 0..<k[1] { for kw in 0..<k[2] {
                let position: [Int] = [d * stride[0] - padding[0] + kd, h * stride[1] - padding[1] + kh, v * stride[2] - padding[2] + kw]
                if (0..<3).contains(where: { position[$0] < 0 || position[$0] >= o[$0] }) { continue }
                let yi = index(b0, group * coutG + cg, position, outputShape)
                let wi = index(ci, cg, [kd, kh, kw], w.shape)
                y[yi] += Double(xv[xi]) * Double(wv[wi])
                gx[xi] += Double(gyv[yi]) * Double(wv[wi])
                gw[wi] += Double(gyv[yi]) * Double(xv[xi])
            } } } }
        } } } } }
        let f = { (a: [Double]) in a.map { Float($0) } }
        return (f(y), f(gx), f(gw), f(gb))
    }
}
