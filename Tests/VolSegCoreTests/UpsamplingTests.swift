@testable import VolSegCore
import VolSegTestSupport
import XCTest


/// PyTorch's align_corners = false rule written out per voxel in Float64: the reference for sizes
/// the golden file does not cover.
private func naiveResize(_ x: Tensor, to size: [Int], linear: Bool) -> [Float] {
    let input = Array(x.shape[2...])
    func taps(_ axis: Int, _ j: Int) -> [(Int, Double)] {
        let n = input[axis], scale = Double(n) / Double(size[axis])
        if !linear { return [(min(Int((Double(j) * scale).rounded(.down)), n - 1), 1)] }
        let source = max(0, scale * (Double(j) + 0.5) - 0.5)
        let lower = min(Int(source), n - 1), upper = min(lower + 1, n - 1), t = source - Double(lower)
        return [(lower, 1 - t), (upper, t)]
    }
    var out: [Float] = []
    for plane in 0..<(x.shape[0] * x.shape[1]) { for d in 0..<size[0] { for h in 0..<size[1] { for w in 0..<size[2] {
        var s = 0.0
        for (i, a) in taps(0, d) { for (j, b) in taps(1, h) { for (k, c) in taps(2, w) {
            s += a * b * c * Double(x.data[((plane * input[0] + i) * input[1] + j) * input[2] + k])
        } } }
        out.append(Float(s))
    } } } }
    return out
}

final class UpsamplingGoldenTests: XCTestCase {
    func testNearestUpsamplingMatchesPyTorch() throws {
        try checkUnaryGolden("upsample_nearest_x2") { $0.upsampleNearest(scale: [2, 2, 2]) }
    }

    func testTrilinearUpsamplingMatchesPyTorch() throws {
        try checkUnaryGolden("upsample_trilinear_x2") { $0.upsampleTrilinear(scale: [2, 2, 2]) }
    }
}

final class UpsamplingTests: XCTestCase {
    func testResizeToAnySizeMatchesTheAlignCornersFalseRule() {
        let x = seededTensor([2, 2, 3, 5, 7], seed: 51)
        for size in [[5, 4, 3], [3, 11, 7], [1, 9, 2]] {
            XCTAssertLessThan(relativeError(x.resizedTrilinear(to: size).toArray(), naiveResize(x, to: size, linear: true)),
                              1e-6, "trilinear \(size)")
            XCTAssertEqual(x.resizedNearest(to: size, rule: .floor).toArray(), naiveResize(x, to: size, linear: false), "nearest \(size)")
        }
        // A size that is an integer multiple resamples exactly as the scale factor does.
        XCTAssertEqual(x.resizedTrilinear(to: [6, 10, 21]).toArray(), x.upsampleTrilinear(scale: [2, 2, 3]).toArray())
        XCTAssertEqual(x.resizedNearest(to: [3, 15, 14], rule: .floor).toArray(), x.upsampleNearest(scale: [1, 3, 2]).toArray())
    }

    func testResamplingGradientsMatchFiniteDifferences() {
        let x = seededTensor([1, 2, 3, 4, 5], seed: 52)
        let ops: [(String, (Tensor) -> Tensor)] = [
            ("trilinear x(2,3,1)", { $0.upsampleTrilinear(scale: [2, 3, 1]) }),
            ("nearest x(1,2,3)", { $0.upsampleNearest(scale: [1, 2, 3]) }),
            ("trilinear to (5,3,8)", { $0.resizedTrilinear(to: [5, 3, 8]) }),
            ("trilinear to (2,7,2)", { $0.resizedTrilinear(to: [2, 7, 2]) }),
            ("nearest to (4,3,7)", { $0.resizedNearest(to: [4, 3, 7], rule: .floor) }),
        ]
        for (name, op) in ops {
            XCTAssertLessThan(finiteDifferenceErrors(inputs: [x], step: 1e-2) { op($0[0]) }[0], 1e-3, name)
        }
    }

    func testTwoDimensionalInputResamplesBilinearly() {
        let x2 = seededTensor([2, 3, 4, 5], seed: 53)
        let x3 = x2.reshaped([2, 3, 1, 4, 5])
        XCTAssertEqual(x2.upsampleTrilinear(scale: [2, 2]).toArray(), x3.upsampleTrilinear(scale: [1, 2, 2]).toArray())
        XCTAssertEqual(x2.resizedTrilinear(to: [7, 3]).shape, [2, 3, 7, 3])
        XCTAssertLessThan(finiteDifferenceErrors(inputs: [x2], step: 1e-2) { $0[0].resizedTrilinear(to: [7, 3]) }[0], 1e-3)
    }

    func testPlannedResamplingAllocatesLikeARealOne() {
        func peak(planned: Bool) -> Int {
            let x = planned ? Tensor.planned([1, 2, 4, 5, 6]) : seededTensor([1, 2, 4, 5, 6])
            x.requiresGrad = true
            return MemoryLedger.shared.measurePeak {
                x.upsampleNearest(scale: [2, 2, 2]).upsampleTrilinear(scale: [2, 1, 2]).resizedTrilinear(to: [5, 5, 5]).sum().backward()
            }.peakBytes
        }
        XCTAssertEqual(peak(planned: true), peak(planned: false))
    }
}
