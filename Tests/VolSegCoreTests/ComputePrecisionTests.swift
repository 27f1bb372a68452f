import CVolSegKernels
import Foundation
@testable import VolSegCore
import VolSegTestSupport
import XCTest

/// `ComputePrecision.bf16`: the rounding against PyTorch's (Tests/References/bf16/bf16_rounding.json,
/// made by bf16_rounding.py there), the bf16 GEMM against a Float64 product of the rounded inputs,
/// a convolution under bf16 against Float32; on a CPU without AVX512_BF16, the refusal.
final class ComputePrecisionTests: XCTestCase {
    var bf16Runs: Bool { ComputePrecision.isAvailable(.bf16) }

    func testUnavailableBF16IsRefusedWithTheReasonBeforeTheBodyRuns() throws {
        if bf16Runs {
            XCTAssertNil(ComputePrecision.unavailableReason(.bf16))
            XCTAssertEqual(try ComputePrecision.run(.bf16) { ComputePrecision.current }, .bf16)
            XCTAssertEqual(ComputePrecision.current, .float32, "the precision is scoped to the call")
            return
        }
        var ran = false
        XCTAssertThrowsError(try ComputePrecision.run(.bf16) { ran = true }) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("--precision bf16"), text)
            XCTAssertTrue(text.contains("AVX512_BF16") || text.contains("VOLSEG_"), text)
        }
        XCTAssertFalse(ran)
    }

    func testRoundingMatchesPyTorch() throws {
        guard bf16Runs else { throw XCTSkip("checked where the CPU has AVX512_BF16; the refusal is tested here instead") }
        let url = TestPaths.repositoryRoot.appendingPathComponent("Tests/References/bf16/bf16_rounding.json")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let input = (json["input_bits"] as! [NSNumber]).map { Float(bitPattern: $0.uint32Value) }
        let expected = (json["bf16_bits"] as! [NSNumber]).map { $0.uint32Value }
        var rounded = [Float](repeating: 0, count: input.count)
        volseg_bf16_round(input, &rounded, input.count)
        for (i, value) in input.enumerated() {
            // VCVTNEPS2BF16 reads denormal inputs as zero, where PyTorch keeps them: the one
            // documented difference (values below 1.18e-38 do not occur in the networks' GEMMs).
            let want = value.isSubnormal ? (value.sign == .minus ? Float(-0.0).bitPattern : 0) : expected[i]
            XCTAssertEqual(rounded[i].bitPattern, want, "input \(value)")
        }
        XCTAssertTrue(input.contains { $0.isSubnormal }, "the reference holds a denormal")
    }

    func testBF16GEMMIsTheFloat32SumOfRoundedProducts() throws {
        guard bf16Runs else { throw XCTSkip("checked where the CPU has AVX512_BF16; the refusal is tested here instead") }
        for p in GEMMTests.problems() {
            let aCount = p.lda * (p.transposeA ? p.k : p.m), bCount = p.ldb * (p.transposeB ? p.n : p.k)
            let a = (0..<aCount).map { Float(($0 * 37) % 101) / 50.3 - 1 }
            let b = (0..<bCount).map { Float(($0 * 53) % 97) / 48.7 - 1 }
            var ar = a, br = b
            volseg_bf16_round(a, &ar, aCount)
            volseg_bf16_round(b, &br, bCount)
            if aCount > 8 { XCTAssertNotEqual(a, ar, "the inputs are not already bf16") }
            let c0 = (0..<(p.ldc * p.m)).map { p.beta == 0 ? Float.nan : Float(($0 * 29) % 89) / 44 - 1 }
            var c = c0
            volseg_sgemm_bf16(p.transposeA ? 1 : 0, p.transposeB ? 1 : 0, Int32(p.m), Int32(p.n), Int32(p.k), p.alpha,
                              a, Int32(p.lda), b, Int32(p.ldb), p.beta, &c, Int32(p.ldc))
            for i in 0..<p.m {
                for j in 0..<p.ldc {
                    let got = c[i * p.ldc + j]
                    if j >= p.n {
                        XCTAssertEqual(got.bitPattern, c0[i * p.ldc + j].bitPattern, "padding column \(j) written")
                        continue
                    }
                    var sum = 0.0, magnitude = 0.0
                    for q in 0..<p.k {
                        let x = Double(p.transposeA ? ar[q * p.lda + i] : ar[i * p.lda + q])
                        let y = Double(p.transposeB ? br[j * p.ldb + q] : br[q * p.ldb + j])
                        sum += x * y
                        magnitude += abs(x * y)
                    }
                    var want = Double(p.alpha) * sum, scale = abs(Double(p.alpha)) * magnitude
                    if p.beta != 0 {
                        want += Double(p.beta) * Double(c0[i * p.ldc + j])
                        scale += abs(Double(p.beta) * Double(c0[i * p.ldc + j]))
                    }
                    // Products of bf16 values are exact in Float32; only the Float32 sums round.
                    XCTAssertLessThanOrEqual(abs(Double(got) - want), 1e-5 * max(scale, 1e-3),
                                             "\(p) at (\(i), \(j)): \(got) vs \(want)")
                }
            }
        }
    }

    func testConvolutionUnderBF16RoundsItsInputsOnly() throws {
        guard bf16Runs else { throw XCTSkip("checked where the CPU has AVX512_BF16; the refusal is tested here instead") }
        var generator = RandomGenerator(seed: 3)
        let x = Tensor.randomNormal([1, 8, 12, 12, 12], std: 1, generator: &generator)
        let w = Tensor.randomNormal([16, 8, 3, 3, 3], std: 0.2, generator: &generator)
        let float32 = withNoGrad { conv3d(x, weight: w, padding: [1]) }
        let (bf16, kernels) = try ComputePrecision.run(.bf16) {
            var out: Tensor?
            let log = GEMMShapeLog.record { out = withNoGrad { conv3d(x, weight: w, padding: [1]) } }
            return (out!, Set(log.map(\.entry.kernel)))
        }
        XCTAssertEqual(kernels, [.avx512BF16])
        var worst: Float = 0, largest: Float = 0
        for i in 0..<float32.count {
            worst = max(worst, abs(float32.data[i] - bf16.data[i]))
            largest = max(largest, abs(float32.data[i]))
        }
        // bf16 keeps 8 significant bits: relative rounding 2^-9 per operand, the sums' errors
        // partly cancel. Nonzero (the products were rounded), far below the outputs' size.
        XCTAssertGreaterThan(worst, 0)
        XCTAssertLessThan(worst, 0.02 * largest)
    }
    /// The bf16 direct convolution computes, to Float32 sums, the convolution of the bf16-rounded
    /// input and weight (the bias stays Float32), on the shapes it takes (Conv3dTests.avx512Cases:
    /// part vectors, groups, an odd channel count whose last pair has no high channel).
    func testBF16DirectConvolutionIsTheFloat32SumOfRoundedProducts() throws {
        guard bf16Runs else { throw XCTSkip("checked where the CPU has AVX512_BF16; the refusal is tested here instead") }
        for c in Conv3dTests.avx512Cases {
            let g = Conv3dTests.geometry(c)
            let x = seededTensor(c.input, seed: 1), w = seededTensor(g.weightShape, seed: 2)
            let b = c.bias ? seededTensor([c.outputChannels], seed: 3) : nil
            let (y, variant) = try ComputePrecision.run(.bf16) {
                (withNoGrad { conv3d(x, weight: w, bias: b, stride: c.stride, padding: c.padding, groups: c.groups) },
                 ConvDirect.variant(g))
            }
            XCTAssertEqual(variant, ConvTuning.directKernel ? .avx512BF16 : nil, c.name)
            let rounded = { (t: Tensor) -> Tensor in
                let r = Tensor.zeros(t.shape)
                volseg_bf16_round(t.data, r.data, t.count)
                return r
            }
            let ref = ReferenceConv.forwardBackward(x: rounded(x), w: rounded(w), b: b, gy: Tensor.zeros(y.shape),
                                                    stride: c.stride, padding: c.padding, groups: c.groups)
            XCTAssertLessThan(relativeError(y.toArray(), ref.y), 1e-5, c.name)
            // And it did round: the Float32 convolution differs.
            let float32 = withNoGrad { conv3d(x, weight: w, bias: b, stride: c.stride, padding: c.padding, groups: c.groups) }
            XCTAssertGreaterThan(relativeError(y.toArray(), float32.toArray()), 1e-4, c.name)
        }
    }
    /// A convolution with fewer than 8 input channels (a network's first) that the direct kernel
    /// takes stays Float32 under bf16: the same kernel and result as outside it.
    func testNarrowInputConvolutionKeepsFloat32UnderBF16() throws {
        guard bf16Runs else { throw XCTSkip("checked where the CPU has AVX512_BF16; the refusal is tested here instead") }
        let x = seededTensor([1, 4, 3, 4, 32], seed: 1), w = seededTensor([16, 4, 3, 3, 3], seed: 2)
        let g = ConvGeometry(input: x.shape, weight: w.shape, stride: [1], padding: [1], groups: 1)
        let float32 = withNoGrad { conv3d(x, weight: w, padding: [1]) }
        let (bf16, variant) = try ComputePrecision.run(.bf16) { (withNoGrad { conv3d(x, weight: w, padding: [1]) }, ConvDirect.variant(g)) }
        XCTAssertEqual(variant, ConvTuning.directKernel ? .avx512 : nil)
        if ConvTuning.directKernel { XCTAssertEqual(bf16.toArray(), float32.toArray()) }
        // Eight channels are rounded.
        let wide = ConvGeometry(input: [1, 8, 3, 4, 32], weight: [16, 8, 3, 3, 3], stride: [1], padding: [1], groups: 1)
        XCTAssertEqual(try ComputePrecision.run(.bf16) { ConvDirect.variant(wide) }, ConvTuning.directKernel ? .avx512BF16 : nil)
    }
}
