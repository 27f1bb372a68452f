@testable import VolSegCore
import VolSegTestSupport
import XCTest

/// Convolution kernels against a naive Float64 reference written from the definition, over the
/// shapes of the golden cases and the awkward ones (odd sizes, groups, slabs cut mid-plane).
final class Conv3dTests: XCTestCase {
    struct Case {
        var name: String
        var input: [Int]        // [N, Cin, D, H, W]
        var outputChannels: Int
        var kernel: [Int]
        var stride: [Int]
        var padding: [Int]
        var groups = 1
        var bias = true
    }

    static let cases: [Case] = [
        Case(name: "k3s1p1", input: [2, 3, 5, 6, 7], outputChannels: 4, kernel: [3, 3, 3], stride: [1, 1, 1], padding: [1, 1, 1]),
        Case(name: "k3s2p1", input: [1, 4, 7, 6, 9], outputChannels: 3, kernel: [3, 3, 3], stride: [2, 2, 2], padding: [1, 1, 1]),
        Case(name: "k1s1", input: [2, 5, 3, 4, 5], outputChannels: 6, kernel: [1, 1, 1], stride: [1, 1, 1], padding: [0, 0, 0]),
        Case(name: "k1s2", input: [2, 5, 5, 4, 7], outputChannels: 3, kernel: [1, 1, 1], stride: [2, 2, 2], padding: [0, 0, 0]),
        Case(name: "aniso_k133_s122", input: [1, 3, 4, 9, 8], outputChannels: 5, kernel: [1, 3, 3], stride: [1, 2, 2], padding: [0, 1, 1]),
        Case(name: "depthwise_k3s1", input: [2, 4, 5, 6, 19], outputChannels: 4, kernel: [3, 3, 3], stride: [1, 1, 1], padding: [1, 1, 1], groups: 4),
        Case(name: "depthwise_k3s2", input: [1, 3, 7, 8, 21], outputChannels: 3, kernel: [3, 3, 3], stride: [2, 2, 2], padding: [1, 1, 1], groups: 3),
        Case(name: "depthwise_k5s3p2", input: [1, 2, 9, 7, 11], outputChannels: 2, kernel: [5, 3, 5], stride: [3, 1, 3], padding: [2, 0, 2], groups: 2),
        Case(name: "grouped_k3", input: [1, 4, 4, 5, 6], outputChannels: 6, kernel: [3, 3, 3], stride: [1, 1, 1], padding: [1, 1, 1], groups: 2),
        Case(name: "k2s3_no_bias", input: [1, 2, 8, 7, 8], outputChannels: 3, kernel: [2, 2, 2], stride: [3, 3, 3], padding: [0, 0, 0], bias: false),
        Case(name: "k3p2", input: [1, 2, 3, 4, 5], outputChannels: 2, kernel: [3, 3, 3], stride: [1, 1, 1], padding: [2, 2, 2]),
        // The direct kernel's edges: a channel block cut short (13 = 6 + 6 + 1), rows whose vectors
        // pair across rows (21 wide: 3 vectors a row), an odd number of rows, kW = 1 under kD = 3,
        // and outputs exactly 8 wide.
        Case(name: "direct_cout13_w21", input: [1, 3, 3, 5, 21], outputChannels: 13, kernel: [3, 3, 3], stride: [1, 1, 1], padding: [1, 1, 1]),
        Case(name: "direct_k311", input: [2, 2, 5, 3, 9], outputChannels: 7, kernel: [3, 1, 1], stride: [1, 1, 1], padding: [1, 0, 0]),
        Case(name: "direct_p0_w8", input: [2, 2, 4, 5, 10], outputChannels: 6, kernel: [3, 3, 3], stride: [1, 1, 1], padding: [0, 0, 0], bias: false),
        Case(name: "direct_k5p2_grouped", input: [1, 4, 6, 7, 17], outputChannels: 8, kernel: [5, 3, 5], stride: [1, 1, 1], padding: [2, 1, 2], groups: 2),
        // The direct weight gradient (kW 3, Cout per group a multiple of 4): two groups, two batch
        // items, rows 11 wide (a part vector), planes of 6 rows (groups of 4 then 2).
        Case(name: "direct_wgrad_grouped", input: [2, 4, 5, 6, 11], outputChannels: 8, kernel: [3, 3, 3], stride: [1, 1, 1], padding: [1, 1, 1], groups: 2),
        Case(name: "direct_wgrad_k233_p0", input: [1, 3, 4, 7, 9], outputChannels: 12, kernel: [2, 3, 3], stride: [1, 1, 1], padding: [0, 1, 0]),
    ]

    func testForwardAndGradientsMatchFloat64Reference() {
        for c in Self.cases {
            check(c)
        }
    }

    /// The kernel variants (plain im2col, W-shifted panel; slabs in order with a threaded GEMM, or
    /// spread over workers; the direct kernel where this CPU runs it) are interchangeable: each
    /// must match the reference on every case.
    func testEveryKernelVariantMatchesTheReference() {
        let saved = (ConvTuning.shiftedPanel, ConvTuning.workerGEMM, ConvTuning.panelBudgetBytes, ConvTuning.directKernel)
        defer { (ConvTuning.shiftedPanel, ConvTuning.workerGEMM, ConvTuning.panelBudgetBytes, ConvTuning.directKernel) = saved }
        ConvTuning.directKernel = true
        for c in Self.cases { check(c) }
        ConvTuning.directKernel = false
        for (shifted, workers) in [(false, false), (false, true), (true, false), (true, true)] {
            ConvTuning.shiftedPanel = shifted
            ConvTuning.workerGEMM = workers
            for budget in [1, 2000, 8 << 20] {
                ConvTuning.panelBudgetBytes = budget
                for c in Self.cases { check(c) }
            }
        }
    }

    /// Where our AVX2 code is in use, stride-1 convolutions (forward, input and weight gradients) go
    /// to the direct kernel; elsewhere no convolution goes there.
    func testStrideOneConvolutionsTakeTheDirectKernelOnAVX2() {
        let x = seededTensor([1, 3, 4, 5, 9], seed: 5), w = seededTensor([4, 3, 3, 3, 3], seed: 6)
        x.requiresGrad = true; w.requiresGrad = true
        let log = GEMMShapeLog.record {
            conv3d(x, weight: w, padding: [1]).sum().backward()
            _ = conv3d(x, weight: w, stride: [2], padding: [1])
        }
        let direct = log.filter { $0.entry.kernel == .directConvolution }
        if BLAS.ownISA == .avx2 && ConvTuning.directKernel {
            // Forward and weight gradient (Cout 4: m 4, the weight gradient's transposed), input gradient (Cin 3).
            XCTAssertEqual(direct.map { "\($0.entry.m)\($0.entry.transposeB ? "t" : "")" }.sorted(), ["3", "4", "4t"], "\(log)")
            XCTAssertEqual(direct.map(\.calls), [1, 1, 1])
            XCTAssertTrue(log.contains { $0.entry.kernel != .directConvolution }, "the stride-2 forward is a GEMM")
        } else {
            XCTAssertTrue(direct.isEmpty, "\(log)")
        }
    }

    /// Shapes the AVX-512 direct kernel takes (outputs at least 16 wide, tiles at least 80% useful),
    /// with at least 8 input channels per group so that bf16 rounds them too (ComputePrecisionTests):
    /// a 6 x 4 tile on rows 20 wide (a part vector), 8 x 3 on two groups of two batch items with kW 5
    /// (17 wide), odd channel counts (a bf16 pair without its high channel), no padding or bias,
    /// kW 1, and strided ones.
    static let avx512Cases: [Case] = [
        Case(name: "direct512_cin9_cout12_w20", input: [1, 9, 4, 5, 20], outputChannels: 12, kernel: [3, 3, 3], stride: [1, 1, 1], padding: [1, 1, 1]),
        Case(name: "direct512_k335_grouped_w17", input: [2, 16, 3, 6, 17], outputChannels: 16, kernel: [3, 3, 5], stride: [1, 1, 1], padding: [1, 1, 2], groups: 2),
        Case(name: "direct512_cin11_p0_w18", input: [1, 11, 4, 4, 18], outputChannels: 12, kernel: [3, 3, 3], stride: [1, 1, 1], padding: [0, 0, 0], bias: false),
        Case(name: "direct512_k311_w32", input: [1, 8, 5, 3, 32], outputChannels: 8, kernel: [3, 1, 1], stride: [1, 1, 1], padding: [1, 0, 0]),
        // Strides: 2 everywhere with an odd width (the last phase word a padding zero), 2 along H
        // and W only with kW 5 (taps in both phases), and no padding on an odd channel count.
        Case(name: "direct512_s2_w33", input: [1, 8, 5, 6, 33], outputChannels: 12, kernel: [3, 3, 3], stride: [2, 2, 2], padding: [1, 1, 1]),
        Case(name: "direct512_s122_k335_w36", input: [1, 8, 3, 5, 36], outputChannels: 8, kernel: [3, 3, 5], stride: [1, 2, 2], padding: [1, 1, 2]),
        Case(name: "direct512_s2_p0_cin9_w35", input: [1, 9, 4, 5, 35], outputChannels: 12, kernel: [3, 3, 3], stride: [2, 2, 2], padding: [0, 0, 0], bias: false),
    ]

    static func geometry(_ c: Case) -> ConvGeometry {
        ConvGeometry(input: c.input, weight: [c.outputChannels, c.input[1] / c.groups] + c.kernel, stride: c.stride,
                     padding: c.padding, groups: c.groups)
    }

    /// Where our AVX-512 code is in use, these forwards go to the AVX-512 direct kernel (and the
    /// weight gradients to the GEMMs), and every part matches the reference; elsewhere the same
    /// cases check the kernels that run there.
    func testAVX512DirectKernelMatchesTheReference() {
        for c in Self.avx512Cases {
            let g = Self.geometry(c)
            if BLAS.ownISA == .avx512 && ConvTuning.directKernel {
                XCTAssertEqual(ConvDirect.variant(g), .avx512, c.name)
                XCTAssertFalse(ConvDirect.appliesToWeightGradient(g), c.name)
            }
            check(c)
        }
        // Narrower than a vector: the GEMM keeps it.
        let narrow = ConvGeometry(input: [1, 3, 4, 5, 15], weight: [12, 3, 3, 3, 3], stride: [1], padding: [1], groups: 1)
        if BLAS.ownISA == .avx512 { XCTAssertNil(ConvDirect.variant(narrow)) }
    }

    /// A convolution of parts (a decoder's upsampled tensor and skip) is the convolution of their
    /// concatenation, bit for bit, in every precision this CPU runs; where a direct kernel takes it
    /// at inference, no concatenation is built. Splits: one inside a bf16 channel pair (5 + 4), one
    /// across the groups' boundary with two batch items (5 + 11 over groups of 8), three parts, and
    /// a strided one. With autograd on, the parts are concatenated and the gradients reach each part.
    func testConvolutionOfPartsIsTheConvolutionOfTheirConcatenation() throws {
        let splits: [(Case, [Int])] = [
            (Self.avx512Cases[0], [5, 4]),
            (Self.avx512Cases[1], [5, 11]),
            (Self.avx512Cases[2], [3, 3, 5]),
            (Self.avx512Cases[4], [4, 4]),
            (Self.cases[0], [1, 2]),
        ]
        let precisions: [ComputePrecision] = ComputePrecision.isAvailable(.bf16) ? [.float32, .bf16] : [.float32]
        for (c, split) in splits {
            XCTAssertEqual(split.reduce(0, +), c.input[1], c.name)
            let g = Self.geometry(c)
            let parts = split.enumerated().map { i, channels in
                seededTensor([c.input[0], channels] + c.input[2...], seed: UInt64(10 + i))
            }
            let w = seededTensor(g.weightShape, seed: 2), b = c.bias ? seededTensor([c.outputChannels], seed: 3) : nil
            for precision in precisions {
                let (whole, fused, profile) = try ComputePrecision.run(precision) {
                    let whole = withNoGrad {
                        conv3d(Tensor.concat(parts, axis: 1), weight: w, bias: b, stride: c.stride, padding: c.padding, groups: c.groups)
                    }
                    var fused: Tensor?
                    let profile = OpProfile.record {
                        fused = withNoGrad {
                            conv3d(concatenating: parts, weight: w, bias: b, stride: c.stride, padding: c.padding, groups: c.groups)
                        }
                    }
                    return (whole, fused!, profile.lines.map(\.op))
                }
                XCTAssertEqual(fused.shape, whole.shape, c.name)
                XCTAssertEqual(fused.toArray(), whole.toArray(), "\(c.name) \(precision)")
                let direct = try ComputePrecision.run(precision) { ConvDirect.applies(g) }
                XCTAssertEqual(profile.contains("concat"), !direct, "\(c.name) \(precision): \(profile)")
            }
            // Training: the gradient of each part is its slice of the concatenation's.
            let trainable = parts.map { p -> Tensor in let t = p.detached(); t.requiresGrad = true; return t }
            conv3d(concatenating: trainable, weight: w, bias: b, stride: c.stride, padding: c.padding, groups: c.groups).sum().backward()
            let whole = Tensor.concat(parts, axis: 1).detached()
            whole.requiresGrad = true
            conv3d(whole, weight: w, bias: b, stride: c.stride, padding: c.padding, groups: c.groups).sum().backward()
            var start = 0
            for (part, channels) in zip(trainable, split) {
                XCTAssertEqual(part.grad?.toArray(), whole.grad?.slice(axis: 1, start..<(start + channels)).toArray(), c.name)
                start += channels
            }
        }
    }

    func testGradientsMatchFiniteDifferences() {
        let x = seededTensor([1, 2, 4, 5, 6], seed: 11)
        let w = seededTensor([3, 2, 3, 3, 3], seed: 12)
        let b = seededTensor([3], seed: 13)
        let errors = finiteDifferenceErrors(inputs: [x, w, b]) { t in
            conv3d(t[0], weight: t[1], bias: t[2], stride: [2, 1, 1], padding: [1])
        }
        for e in errors { XCTAssertLessThan(e, 1e-3) }
        let dx = seededTensor([1, 3, 4, 5, 6], seed: 14)
        let dw = seededTensor([3, 1, 3, 3, 3], seed: 15)
        let depthwiseErrors = finiteDifferenceErrors(inputs: [dx, dw]) { t in
            conv3d(t[0], weight: t[1], stride: [1, 2, 2], padding: [1], groups: 3)
        }
        for e in depthwiseErrors { XCTAssertLessThan(e, 1e-3) }
    }

    func testOnlyRequestedGradientsAreComputed() {
        let x = seededTensor([1, 2, 4, 4, 4], seed: 1)
        let w = seededTensor([2, 2, 3, 3, 3], seed: 2)
        w.requiresGrad = true
        conv3d(x, weight: w, padding: [1]).sum().backward()
        XCTAssertNil(x.grad)
        XCTAssertNotNil(w.grad)
        XCTAssertNil(withNoGrad { conv3d(x, weight: w, padding: [1]) }.gradNode)
    }

    func check(_ c: Case, file: StaticString = #filePath, line: UInt = #line) {
        let weightShape = [c.outputChannels, c.input[1] / c.groups] + c.kernel
        let x = seededTensor(c.input, seed: 1)
        let w = seededTensor(weightShape, seed: 2)
        let b = c.bias ? seededTensor([c.outputChannels], seed: 3) : nil
        x.requiresGrad = true; w.requiresGrad = true; b?.requiresGrad = true
        let y = conv3d(x, weight: w, bias: b, stride: c.stride, padding: c.padding, groups: c.groups)
        let gy = seededTensor(y.shape, seed: 4)
        Tensor.backward(roots: [y], gradients: [gy])
        let ref = ReferenceConv.forwardBackward(x: x, w: w, b: b, gy: gy, stride: c.stride, padding: c.padding, groups: c.groups)
        XCTAssertEqual(y.shape, ref.yShape, c.name, file: file, line: line)
        let errors = [relativeError(y.toArray(), ref.y), relativeError(x.grad!.toArray(), ref.gx),
                      relativeError(w.grad!.toArray(), ref.gw), b.map { relativeError($0.grad!.toArray(), ref.gb) } ?? 0]
        for (name, e) in zip(["y", "gx", "gw", "gb"], errors) {
            XCTAssertLessThan(e, 1e-5, "\(c.name) \(name)", file: file, line: line)
        }
    }
}

/// Convolution straight from its definition, in Float64: y, and the gradients for a given gy.
enum ReferenceConv {
    static func forwardBackward(x: Tensor, w: Tensor, b: Tensor?, gy: Tensor, stride: [Int], padding: [Int], groups: Int)
        -> (y: [Float], yShape: [Int], gx: [Float], gw: [Float], gb: [Float]) {
        let (n, cin, d, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4])
        let (cout, k) = (w.shape[0], Array(w.shape[2...]))
        let s = stride.count == 1 ? Array(repeating: stride[0], count: 3) : stride
        let p = padding.count == 1 ? Array(repeating: padding[0], count: 3) : padding
        let o: [Int] = (0..<3).map { axis -> Int in (x.shape[axis + 2] + 2 * p[axis] - k[axis]) / s[axis] + 1 }
        let cinG = cin / groups, coutG = cout / groups
        let xv = x.toArray(), wv = w.toArray(), gyv = gy.toArray()
        var y = [Double](repeating: 0, count: n * cout * o[0] * o[1] * o[2])
        var gx = [Double](repeating: 0, count: xv.count), gw = [Double](repeating: 0, count: wv.count)
        var gb = [Double](repeating: 0, count: cout)
        func index(_ a: Int, _ b: Int, _ c: Int, _ e: Int, _ f: Int, _ dims: [Int]) -> Int {
            let ab: Int = a * dims[1] + b
            let abc: Int = ab * dims[2] + c
            return (abc * dims[3] + e) * dims[4] + f
        }
        let yDims: [Int] = [n, cout] + o, xDims: [Int] = x.shape, wDims: [Int] = w.shape
        for b0 in 0..<n { for co in 0..<cout { for od in 0..<o[0] { for oh in 0..<o[1] { for ow in 0..<o[2] {
            let yi = index(b0, co, od, oh, ow, yDims)
            var acc: Double = b.map { Double($0.data[co]) } ?? 0
            let g = Double(gyv[yi])
            gb[co] += g
            let group = co / coutG
            for cg in 0..<cinG { for kd in 0..<k[0] { for kh in 0..<k[1] { for kw in 0..<k[2] {
                let id: Int = od * s[0] - p[0] + kd
                let ih: Int = oh * s[1] - p[1] + kh
                let iw: Int = ow * s[2] - p[2] + kw
                if id < 0 || id >= d || ih < 0 || ih >= h || iw < 0 || iw >= wd { continue }
                let xi = index(b0, group * cinG + cg, id, ih, iw, xDims)
                let wi = index(co, cg, kd, kh, kw, wDims)
                acc += Double(xv[xi]) * Double(wv[wi])
                gx[xi] += g * Double(wv[wi])
                gw[wi] += g * Double(xv[xi])
            } } } }
            y[yi] = acc
        } } } } }
        let f = { (a: [Double]) in a.map { Float($0) } }
        return (f(y), [n, cout] + o, f(gx), f(gw), f(gb))
    }
}
