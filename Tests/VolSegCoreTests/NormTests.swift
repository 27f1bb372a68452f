@testable import VolSegCore
import VolSegTestSupport
import XCTest


/// Asserts ‖actual − expected‖ / ‖expected‖ < 1e-4 (the golden README's bound) and prints it.
private func assertMatches(_ actual: Tensor?, _ expected: Tensor, _ label: String,
                           file: StaticString = #filePath, line: UInt = #line) {
    guard let actual else { return XCTFail("\(label): no value", file: file, line: line) }
    let error = relativeError(actual, expected)
    print("golden \(label): relative error \(error)")
    XCTAssertLessThan(error, 1e-4, label, file: file, line: line)
}

final class NormGoldenTests: XCTestCase {
    /// Runs a norm on the case's x with gamma/beta as leaves and checks y, gx, ggamma, gbeta.
    private func check(_ group: String, _ op: (Tensor, Tensor, Tensor) -> Tensor) throws {
        let x = try golden(group, "x"), gamma = try golden(group, "gamma"), beta = try golden(group, "beta")
        x.requiresGrad = true; gamma.requiresGrad = true; beta.requiresGrad = true
        let y = op(x, gamma, beta)
        Tensor.backward(roots: [y], gradients: [try golden(group, "gy")])
        assertMatches(y, try golden(group, "y"), "\(group) y")
        assertMatches(x.grad, try golden(group, "gx"), "\(group) gx")
        assertMatches(gamma.grad, try golden(group, "ggamma"), "\(group) ggamma")
        assertMatches(beta.grad, try golden(group, "gbeta"), "\(group) gbeta")
    }

    func testBatchNormTrainingMatchesPyTorchAndUpdatesRunningStatistics() throws {
        let group = "batchnorm3d_train"
        let runningMean = try golden(group, "running_mean_before"), runningVar = try golden(group, "running_var_before")
        try check(group) { x, w, b in
            batchNorm(x, weight: w, bias: b, runningMean: runningMean, runningVar: runningVar,
                      training: true, updateRunningStats: true, momentum: 0.1, eps: 1e-5)
        }
        assertMatches(runningMean, try golden(group, "running_mean"), "\(group) running_mean")
        assertMatches(runningVar, try golden(group, "running_var"), "\(group) running_var")
    }

    func testBatchNormRecomputeLeavesRunningStatisticsAlone() throws {
        let x = seededTensor([2, 3, 4, 4, 4], seed: 7)
        let mean = Tensor.zeros([3]), variance = Tensor.full([3], value: 1)
        let first = batchNorm(x, weight: nil, bias: nil, runningMean: mean, runningVar: variance,
                              training: true, updateRunningStats: true)
        let (m, v) = (mean.toArray(), variance.toArray())
        let again = batchNorm(x, weight: nil, bias: nil, runningMean: mean, runningVar: variance,
                              training: true, updateRunningStats: false)
        XCTAssertEqual(mean.toArray(), m)
        XCTAssertEqual(variance.toArray(), v)
        XCTAssertEqual(again.toArray(), first.toArray())
    }

    func testBatchNormEvaluationMatchesPyTorch() throws {
        let group = "batchnorm3d_eval"
        let runningMean = try golden(group, "running_mean"), runningVar = try golden(group, "running_var")
        let before = (runningMean.toArray(), runningVar.toArray())
        try check(group) { x, w, b in
            batchNorm(x, weight: w, bias: b, runningMean: runningMean, runningVar: runningVar,
                      training: false, updateRunningStats: true, eps: 1e-5)
        }
        XCTAssertEqual(runningMean.toArray(), before.0, "evaluation mode never moves the running mean")
        XCTAssertEqual(runningVar.toArray(), before.1)
    }

    func testInstanceNormMatchesPyTorch() throws {
        try check("instancenorm3d_affine") { x, w, b in instanceNorm(x, weight: w, bias: b, eps: 1e-5) }
    }

    func testGroupNormMatchesPyTorch() throws {
        try check("groupnorm3d_g4") { x, w, b in groupNorm(x, groups: 4, weight: w, bias: b, eps: 1e-5) }
    }
}

final class NormTests: XCTestCase {
    func testFusedInstanceNormLeakyReLUEqualsTheUnfusedPair() {
        // Odd spatial size: vector body and scalar tail both run.
        let x = seededTensor([2, 3, 5, 6, 7], seed: 11, low: -2, high: 3)
        let w = seededTensor([3], seed: 12, low: 0.5, high: 1.5), b = seededTensor([3], seed: 13)
        let gy = seededTensor([2, 3, 5, 6, 7], seed: 14)
        func run(_ f: (Tensor, Tensor, Tensor) -> Tensor) -> [[Float]] {
            for t in [x, w, b] { t.requiresGrad = true; t.grad = nil }
            let y = f(x, w, b)
            Tensor.backward(roots: [y], gradients: [gy])
            return [y.toArray(), x.grad!.toArray(), w.grad!.toArray(), b.grad!.toArray()]
        }
        let fused = run { instanceNormLeakyReLU($0, weight: $1, bias: $2, slope: 0.01) }
        let pair = run { instanceNorm($0, weight: $1, bias: $2).leakyReLU(slope: 0.01) }
        for (f, p) in zip(fused, pair) { XCTAssertLessThan(relativeError(f, p), 1e-6) }
    }

    func testNearZeroGammaFallsBackToTheInputAndStillMatchesThePair() {
        // Channel 1's gamma is too small to rebuild x - mean from the output: the norm keeps x.
        let x = seededTensor([1, 3, 4, 5, 6], seed: 21, low: -2, high: 3)
        let w = Tensor(shape: [3], values: [1.2, 1e-4, -0.7]), b = Tensor(shape: [3], values: [0.1, 0.5, -0.2])
        let gy = seededTensor([1, 3, 4, 5, 6], seed: 22)
        func run(_ f: (Tensor, Tensor, Tensor) -> Tensor) -> [[Float]] {
            for t in [x, w, b] { t.requiresGrad = true; t.grad = nil }
            Tensor.backward(roots: [f(x, w, b)], gradients: [gy])
            return [x.grad!.toArray(), w.grad!.toArray(), b.grad!.toArray()]
        }
        let fused = run { instanceNormLeakyReLU($0, weight: $1, bias: $2, slope: 0.01) }
        let pair = run { instanceNorm($0, weight: $1, bias: $2).leakyReLU(slope: 0.01) }
        for (f, p) in zip(fused, pair) { XCTAssertLessThan(relativeError(f, p), 1e-5) }
    }

    func testNormKeepsItsOutputSoItsInputIsFreed() {
        // A convolution's output z feeds the norm; once the norm has run, only its output y (which
        // the next layer keeps anyway) stays alive for backward, not z.
        let ledger = MemoryLedger.shared
        let x = seededTensor([1, 2, 8, 8, 8], seed: 23)
        x.requiresGrad = true
        let w = Tensor.full([2], value: 1), b = Tensor.zeros([2])
        w.requiresGrad = true; b.requiresGrad = true
        let before = ledger.currentBytes
        var y: Tensor? = instanceNormLeakyReLU(x * 2, weight: w, bias: b)
        XCTAssertEqual(ledger.currentBytes - before, x.count * 4, "the norm's input (x * 2) should be freed")
        y!.sum().backward()
        y = nil
        XCTAssertNotNil(x.grad)
    }

    func testOverwritingNormEqualsTheFusedOpAndAllocatesNothing() {
        let x = seededTensor([1, 3, 5, 6, 7], seed: 31, low: -2, high: 3)
        let w = seededTensor([3], seed: 32, low: 0.5, high: 1.5), b = seededTensor([3], seed: 33)
        let expected = instanceNormLeakyReLU(x, weight: w, bias: b).toArray()
        let ledger = MemoryLedger.shared
        let before = ledger.currentBytes
        let y = withNoGrad { instanceNormLeakyReLUOverwriting(x, weight: w, bias: b) }
        XCTAssertEqual(ledger.currentBytes, before)
        XCTAssertTrue(y === x)
        XCTAssertLessThan(relativeError(y.toArray(), expected), 1e-7)
    }

    func testNormGradientsMatchFiniteDifferences() {
        let x = seededTensor([2, 4, 3, 3, 5], seed: 21, low: -2, high: 2)
        let w = seededTensor([4], seed: 22, low: 0.5, high: 1.5), b = seededTensor([4], seed: 23)
        let cases: [(String, ([Tensor]) -> Tensor)] = [
            ("instance", { instanceNorm($0[0], weight: $0[1], bias: $0[2]) }),
            ("group", { groupNorm($0[0], groups: 2, weight: $0[1], bias: $0[2]) }),
            ("batch", { t in
                batchNorm(t[0], weight: t[1], bias: t[2], runningMean: Tensor.zeros([4]),
                          runningVar: Tensor.full([4], value: 1), training: true, updateRunningStats: false)
            }),
        ]
        for (name, f) in cases {
            // Float32 forward, Float64 difference: 2e-3 leaves room for the rounding of y.
            let errors = finiteDifferenceErrors(inputs: [x, w, b], step: 1e-2, f)
            for (input, e) in zip(["x", "weight", "bias"], errors) {
                XCTAssertLessThan(e, 2e-3, "\(name) \(input)")
            }
        }
    }

    func testFusedInstanceNormLeakyReLUGradientMatchesFiniteDifferences() {
        // Each plane holds values ±(0.3...2) in mirrored pairs, so its mean is 0 and no normalised
        // value comes within a step of LeakyReLU's kink (bias 0, positive weights).
        let magnitudes = seededTensor([2, 4, 15], seed: 24, low: 0.3, high: 2).toArray()
        var values: [Float] = []
        for plane in 0..<8 {
            let half = magnitudes[(plane * 15)..<(plane * 15 + 15)]
            values += half + half.map { -$0 }
        }
        let x = Tensor(shape: [2, 4, 2, 3, 5], values: values)
        let w = seededTensor([4], seed: 25, low: 0.5, high: 1.5), b = Tensor.zeros([4])
        let errors = finiteDifferenceErrors(inputs: [x, w, b], step: 1e-2) {
            instanceNormLeakyReLU($0[0], weight: $0[1], bias: $0[2], slope: 0.2)
        }
        for (input, e) in zip(["x", "weight", "bias"], errors) { XCTAssertLessThan(e, 2e-3, "fused \(input)") }
    }

    func testStatisticsSurviveALargeCommonOffset() {
        // CT intensities: values around 1000 with unit spread; E[x²] - E[x]² would lose the variance.
        let base = seededTensor([1, 2, 8, 8, 8], seed: 31)
        let shifted = base + Float(1000)
        let y0 = instanceNorm(base, weight: nil, bias: nil), y1 = instanceNorm(shifted, weight: nil, bias: nil)
        // The shifted input itself carries float32 rounding of 1000 + x (about 3e-5 absolute).
        XCTAssertLessThan(relativeError(y1, y0), 1e-4)
    }

    func testPlannedNormsAllocateLikeRealOnes() {
        let ledger = MemoryLedger.shared
        func peak(planned: Bool) -> Int {
            let x = planned ? Tensor.planned([2, 4, 6, 6, 6]) : seededTensor([2, 4, 6, 6, 6], seed: 3)
            let w = Tensor.full([4], value: 1), b = Tensor.zeros([4])
            x.requiresGrad = true; w.requiresGrad = true; b.requiresGrad = true
            return ledger.measurePeak {
                let y = groupNorm(batchNorm(instanceNormLeakyReLU(x, weight: w, bias: b), weight: w, bias: b,
                                            runningMean: Tensor.zeros([4]), runningVar: Tensor.full([4], value: 1),
                                            training: true, updateRunningStats: true),
                                  groups: 2, weight: w, bias: b)
                y.sum().backward()
            }.peakBytes
        }
        XCTAssertEqual(peak(planned: true), peak(planned: false))
    }
}
