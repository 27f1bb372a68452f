import Foundation
@testable import VolSegCore
@testable import VolSegNN
import VolSegTestSupport
import XCTest

/// The ops H-DenseUNet adds to the engine: neighbour-slice stacking, slices <-> volume, dropout,
/// fused BatchNorm + ReLU; against naive references and finite differences.
final class DenseUNetOpsTests: XCTestCase {
    func testNeighbourSliceStackRepeatsEdgeSlicesAndOrdersOffsetsThenChannels() {
        let (n, c, d, h, w) = (2, 2, 3, 2, 3)
        let x = seededTensor([n, c, d, h, w], seed: 4)
        let y = x.neighbourSliceStack(radius: 1)
        XCTAssertEqual(y.shape, [n * d, 3 * c, h, w])
        for s in 0..<n { for z in 0..<d { for k in 0..<3 { for ch in 0..<c { for i in 0..<h { for j in 0..<w {
            let source = min(max(z + k - 1, 0), d - 1)
            XCTAssertEqual(y[s * d + z, k * c + ch, i, j], x[s, ch, source, i, j])
        } } } } } }
        // A single slice is its own neighbour on both sides.
        let single = seededTensor([1, 1, 1, 2, 2]).neighbourSliceStack()
        XCTAssertEqual(single.slice(axis: 1, 0..<1).toArray(), single.slice(axis: 1, 2..<3).toArray())
    }

    func testSliceStackingAndVolumeConversionsHaveExactGradients() {
        for depth in [1, 2, 5] {
            let errors = finiteDifferenceErrors(inputs: [seededTensor([2, 2, depth, 3, 2], seed: 7)]) {
                $0[0].neighbourSliceStack(radius: 1) * 1.5
            }
            XCTAssertLessThan(errors[0], 1e-3, "depth \(depth)")
        }
        let volume = seededTensor([2, 3, 4, 2, 2], seed: 8)
        let slices = volume.slicesFromVolume()
        XCTAssertEqual(slices.shape, [8, 3, 2, 2])
        XCTAssertEqual(slices[5, 2, 1, 0], volume[1, 2, 1, 1, 0])
        XCTAssertEqual(slices.volumeFromSlices(depth: 4).toArray(), volume.toArray())
        let errors = finiteDifferenceErrors(inputs: [seededTensor([6, 2, 2, 3], seed: 9)]) {
            $0[0].volumeFromSlices(depth: 3) * 2
        }
        XCTAssertLessThan(errors[0], 1e-3)
    }

    func testDropoutKeepsSeventyPercentScaledAndRepeatsWithTheSeed() {
        let x = Tensor.full([1, 4, 8, 32, 32], value: 1)
        var a = RandomGenerator(seed: 3), b = RandomGenerator(seed: 3)
        let y = dropout(x, rate: 0.3, generator: &a).toArray()
        XCTAssertEqual(y, dropout(x, rate: 0.3, generator: &b).toArray(), "same seed, same mask")
        let kept = y.filter { $0 != 0 }
        XCTAssertTrue(kept.allSatisfy { abs($0 - 1 / 0.7) < 1e-6 })
        let share = Double(kept.count) / Double(y.count)
        XCTAssertEqual(share, 0.7, accuracy: 0.01, "kept share of 32768 values")
        XCTAssertNotEqual(dropout(x, rate: 0.3, generator: &a).toArray(), y, "the generator advances")
        // A planned run advances the generator exactly as a real one.
        var c = RandomGenerator(seed: 3)
        _ = dropout(Tensor.planned(x.shape), rate: 0.3, generator: &c)
        XCTAssertEqual(c.stateWords, b.stateWords)
        // The layer acts in training mode only.
        let layer = Dropout(rate: 0.3, initializer: ParameterInitializer(seed: 1))
        layer.eval()
        XCTAssertTrue(layer(x) === x)
    }

    func testFusedBatchNormReLUEqualsBatchNormThenReLU() {
        for training in [true, false] {
            let x = seededTensor([2, 3, 2, 4, 5], seed: 12)
            let weight = seededTensor([3], seed: 13, low: 0.5, high: 1.5)
            let bias = seededTensor([3], seed: 14, low: -0.3, high: 0.3)
            let (meanA, varA) = (Tensor(shape: [3], values: [0.1, -0.2, 0.05]), Tensor(shape: [3], values: [1.2, 0.8, 1.0]))
            let (meanB, varB) = (meanA.copy(), varA.copy())
            for t in [x, weight, bias] { t.requiresGrad = true }
            let fused = batchNormReLU(x, weight: weight, bias: bias, runningMean: meanA, runningVar: varA,
                                      training: training, updateRunningStats: training)
            let direction = seededTensor(fused.shape, seed: 15)
            Tensor.backward(roots: [fused], gradients: [direction])
            let fusedGrads = [x, weight, bias].map { $0.grad!.toArray() }
            for t in [x, weight, bias] { t.grad = nil }
            let chain = batchNorm(x, weight: weight, bias: bias, runningMean: meanB, runningVar: varB,
                                  training: training, updateRunningStats: training).relu()
            Tensor.backward(roots: [chain], gradients: [direction])
            XCTAssertLessThan(relativeError(fused, chain), 1e-6, "output, training \(training)")
            for (i, t) in [x, weight, bias].enumerated() {
                XCTAssertLessThan(relativeError(fusedGrads[i], t.grad!.toArray()), 1e-5, "gradient \(i), training \(training)")
            }
            XCTAssertEqual(meanA.toArray(), meanB.toArray())
            XCTAssertEqual(varA.toArray(), varB.toArray())
        }
    }
}
