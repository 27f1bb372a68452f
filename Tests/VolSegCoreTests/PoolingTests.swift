@testable import VolSegCore
import VolSegTestSupport
import XCTest


/// Distinct values at least 0.05 apart, shuffled: no two elements of a window come within a
/// finite-difference step of each other, so the maximum never switches during the check.
private func separatedTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    let n = Tensor.elementCount(shape)
    let keys = seededTensor([n], seed: seed).toArray()
    let order = (0..<n).sorted { keys[$0] < keys[$1] }
    var values = [Float](repeating: 0, count: n)
    for (rank, index) in order.enumerated() { values[index] = Float(rank) * 0.05 - Float(n) * 0.025 }
    return Tensor(shape: shape, values: values)
}

/// Straightforward pooling of [N, C, D, H, W] for reference.
private func naivePool(_ x: Tensor, kernel k: [Int], stride s: [Int], max useMax: Bool) -> [Float] {
    let (n, c, d, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4])
    let od = (d - k[0]) / s[0] + 1, oh = (h - k[1]) / s[1] + 1, ow = (w - k[2]) / s[2] + 1
    var out: [Float] = []
    for i in 0..<(n * c) { for a in 0..<od { for b in 0..<oh { for e in 0..<ow {
        var values: [Float] = []
        for u in 0..<k[0] { for v in 0..<k[1] { for t in 0..<k[2] {
            values.append(x.data[(((i * d) + a * s[0] + u) * h + b * s[1] + v) * w + e * s[2] + t])
        } } }
        out.append(useMax ? values.max()! : values.reduce(0, +) / Float(values.count))
    } } } }
    return out
}

final class PoolingGoldenTests: XCTestCase {
    func testMaxPoolMatchesPyTorch() throws { try checkUnaryGolden("maxpool3d_k2s2") { $0.maxPool(kernel: [2, 2, 2], stride: [2, 2, 2]) } }
    func testAvgPoolMatchesPyTorch() throws { try checkUnaryGolden("avgpool3d_k2s2") { $0.avgPool(kernel: [2, 2, 2]) } }
    func testGlobalAvgPoolMatchesPyTorch() throws { try checkUnaryGolden("global_avgpool3d") { $0.globalAvgPool() } }
}

final class PoolingTests: XCTestCase {
    func testOverlappingAndAnisotropicPoolsMatchANaiveLoop() {
        let x = seededTensor([2, 3, 7, 6, 9], seed: 41)
        for (kernel, stride) in [([3, 3, 3], [2, 2, 2]), ([1, 2, 3], [1, 2, 2]), ([2, 2, 2], [1, 3, 2])] {
            XCTAssertEqual(x.maxPool(kernel: kernel, stride: stride).toArray(),
                           naivePool(x, kernel: kernel, stride: stride, max: true), "max \(kernel) \(stride)")
            let avg = x.avgPool(kernel: kernel, stride: stride).toArray()
            XCTAssertLessThan(relativeError(avg, naivePool(x, kernel: kernel, stride: stride, max: false)), 1e-6)
        }
    }

    func testVectorisedPairWindowsMatchANaiveLoop() {
        // Output rows of 9 and 17: the eight-at-a-time path plus a scalar tail.
        for shape in [[1, 2, 4, 5, 19], [2, 1, 3, 4, 34]] {
            let x = seededTensor(shape, seed: 44)
            for (kernel, stride) in [([2, 2, 2], [2, 2, 2]), ([1, 3, 2], [1, 2, 2]), ([2, 1, 2], [1, 1, 2])] {
                XCTAssertEqual(x.maxPool(kernel: kernel, stride: stride).toArray(),
                               naivePool(x, kernel: kernel, stride: stride, max: true), "\(shape) \(kernel) \(stride)")
            }
        }
    }

    func testPoolGradientsMatchFiniteDifferences() {
        let x = separatedTensor([2, 2, 5, 6, 5], seed: 42)
        let ops: [(String, (Tensor) -> Tensor)] = [
            ("max k3 s2", { $0.maxPool(kernel: [3, 3, 3], stride: [2, 2, 2]) }),
            ("avg k3 s2", { $0.avgPool(kernel: [3, 3, 3], stride: [2, 2, 2]) }),
            ("max k2 s(1,2,2)", { $0.maxPool(kernel: [2, 2, 2], stride: [1, 2, 2]) }),
            ("global", { $0.globalAvgPool() }),
        ]
        for (name, op) in ops {
            XCTAssertLessThan(finiteDifferenceErrors(inputs: [x], step: 1e-2) { op($0[0]) }[0], 1e-3, name)
        }
    }

    func testTwoDimensionalPoolsMatchTheThreeDimensionalKernel() {
        let x2 = separatedTensor([2, 3, 8, 7], seed: 43)
        let x3 = x2.reshaped([2, 3, 1, 8, 7])
        XCTAssertEqual(x2.maxPool(kernel: [2, 3], stride: [2, 2]).toArray(),
                       x3.maxPool(kernel: [1, 2, 3], stride: [1, 2, 2]).toArray())
        XCTAssertEqual(x2.maxPool(kernel: [2, 3], stride: [2, 2]).shape, [2, 3, 4, 3])
        XCTAssertEqual(x2.avgPool(kernel: [2, 2]).toArray(), x3.avgPool(kernel: [1, 2, 2]).toArray())
        XCTAssertEqual(x2.globalAvgPool().shape, [2, 3, 1, 1])
        let errors = finiteDifferenceErrors(inputs: [x2], step: 1e-2) { t in
            t[0].maxPool(kernel: [3, 3], stride: [2, 2]) * t[0].avgPool(kernel: [3, 3], stride: [2, 2])
        }
        XCTAssertLessThan(errors[0], 1e-3)
    }

    func testPlannedPoolsAllocateLikeRealOnes() {
        func peak(planned: Bool) -> Int {
            let x = planned ? Tensor.planned([2, 3, 8, 8, 8]) : seededTensor([2, 3, 8, 8, 8])
            x.requiresGrad = true
            return MemoryLedger.shared.measurePeak {
                (x.maxPool(kernel: [2, 2, 2]).avgPool(kernel: [3, 3, 3], stride: [1, 1, 1]).globalAvgPool()).sum().backward()
            }.peakBytes
        }
        XCTAssertEqual(peak(planned: true), peak(planned: false))
    }
}
