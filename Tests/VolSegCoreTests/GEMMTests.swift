@testable import VolSegCore
import XCTest

/// Our AVX-512 sgemm against a Float64 reference, and the dispatching `BLAS.sgemm` against OpenBLAS.
final class GEMMTests: XCTestCase {
    /// One sampled problem: sizes, transposes, leading dimensions (some wider than the rows), scalars.
    struct Problem {
        var m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool
        var lda: Int, ldb: Int, ldc: Int, alpha: Float, beta: Float
    }

    static func problems() -> [Problem] {
        let sizes = [1, 3, 13, 17, 33, 64, 100, 255, 301]
        var state: UInt64 = 0x1234_5678_9ABC_DEF1
        func next(_ bound: Int) -> Int {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Int(state % UInt64(bound))
        }
        var result: [Problem] = []
        for combination in 0..<4 {
            let transposeA = combination & 1 == 1, transposeB = combination & 2 == 2
            for sample in 0..<12 {
                let m = sizes[next(sizes.count)], n = sizes[next(sizes.count)], k = sizes[next(sizes.count)]
                let pad = sample % 3 == 0 ? 0 : 1 + next(5)
                result.append(Problem(m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB,
                                      lda: (transposeA ? m : k) + pad, ldb: (transposeB ? k : n) + pad, ldc: n + pad,
                                      alpha: sample % 2 == 0 ? 0.75 : -1.5, beta: [0, 1, 0.5][sample % 3]))
            }
            // The convolution shapes: few rows, many columns; and the long-k weight-gradient shape.
            result.append(Problem(m: 32, n: 1000, k: 288, transposeA: transposeA, transposeB: transposeB,
                                  lda: transposeA ? 32 : 288, ldb: transposeB ? 288 : 1000, ldc: 1000, alpha: 1, beta: 0))
            result.append(Problem(m: 288, n: 32, k: 700, transposeA: transposeA, transposeB: transposeB,
                                  lda: transposeA ? 288 : 700, ldb: transposeB ? 700 : 32, ldc: 32, alpha: 1, beta: 1))
        }
        return result
    }

    /// Runs `gemm` on the problem with deterministic A, B and C (NaN in C when beta is 0, which must
    /// not be read) and returns the largest error relative to sum |alpha a b| + |beta c| per element;
    /// also checks that C's padding columns (j >= n) are untouched.
    func maximumRelativeError(_ p: Problem, _ gemm: (Problem, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> Double {
        let aCount = p.lda * (p.transposeA ? p.k : p.m), bCount = p.ldb * (p.transposeB ? p.n : p.k)
        let a = (0..<aCount).map { Float(($0 * 37) % 101) / 50 - 1 }
        let b = (0..<bCount).map { Float(($0 * 53) % 97) / 48 - 1 }
        let c0 = (0..<(p.ldc * p.m)).map { p.beta == 0 ? Float.nan : Float(($0 * 29) % 89) / 44 - 1 }
        var c = c0
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in gemm(p, ap.baseAddress!, bp.baseAddress!, cp.baseAddress!) }
            }
        }
        var worst = 0.0
        for i in 0..<p.m {
            for j in 0..<p.ldc {
                let got = c[i * p.ldc + j]
                if j >= p.n {
                    XCTAssertTrue(got.bitPattern == c0[i * p.ldc + j].bitPattern, "padding column \(j) written")
                    continue
                }
                var sum = 0.0, magnitude = 0.0
                for q in 0..<p.k {
                    let av = Double(p.transposeA ? a[q * p.lda + i] : a[i * p.lda + q])
                    let bv = Double(p.transposeB ? b[j * p.ldb + q] : b[q * p.ldb + j])
                    sum += av * bv; magnitude += abs(av * bv)
                }
                let old = p.beta == 0 ? 0 : Double(c0[i * p.ldc + j])
                let expected = Double(p.alpha) * sum + Double(p.beta) * old
                let scale = abs(Double(p.alpha)) * magnitude + abs(Double(p.beta) * old) + 1e-30
                let error = abs(Double(got) - expected) / scale
                worst = error.isNaN ? .infinity : max(worst, error)
            }
        }
        return worst
    }

    func describe(_ p: Problem) -> String {
        "m \(p.m) n \(p.n) k \(p.k) transA \(p.transposeA) transB \(p.transposeB) lda \(p.lda) ldb \(p.ldb) ldc \(p.ldc) alpha \(p.alpha) beta \(p.beta)"
    }

    /// Our kernels on this CPU: AVX-512 where it has AVX-512F, AVX2 where it has AVX2 + FMA (both on
    /// an AVX-512 machine, so the AVX2 path is tested there too).
    static var ownKernels: [GEMMKernel] {
        [.avx512, .avx2].filter { $0 == .avx512 ? BLAS.avx512Available : BLAS.avx2Available }
    }

    func testOwnSgemmMatchesFloat64ReferenceForAllTransposes() throws {
        guard !Self.ownKernels.isEmpty else { throw XCTSkip("this CPU has neither AVX2 + FMA nor AVX-512F") }
        for isa in Self.ownKernels {
            for p in Self.problems() {
                let error = maximumRelativeError(p) { p, a, b, c in
                    BLAS.ownSgemm(isa: isa, transposeA: p.transposeA, transposeB: p.transposeB, m: p.m, n: p.n, k: p.k,
                                  alpha: p.alpha, a: a, lda: p.lda, b: b, ldb: p.ldb, beta: p.beta, c: c, ldc: p.ldc)
                }
                XCTAssertLessThan(error, 1e-5, "\(isa.rawValue) " + describe(p))
            }
        }
    }

    /// The split over threads (what `BLAS.sgemm` does outside conv workers) gives the same result.
    func testOwnSgemmSplitOverThreadsMatchesReference() throws {
        guard !Self.ownKernels.isEmpty else { throw XCTSkip("this CPU has neither AVX2 + FMA nor AVX-512F") }
        let shapes = [(m: 40, n: 2000, k: 300), (m: 900, n: 40, k: 150)]
        for isa in Self.ownKernels {
            for s in shapes {
                for transposes in 0..<4 {
                    let ta = transposes & 1 == 1, tb = transposes & 2 == 2
                    let p = Problem(m: s.m, n: s.n, k: s.k, transposeA: ta, transposeB: tb, lda: ta ? s.m : s.k,
                                    ldb: tb ? s.k : s.n, ldc: s.n, alpha: 0.5, beta: 0.5)
                    let error = maximumRelativeError(p) { p, a, b, c in
                        BLAS.splitSgemm(isa: isa, threads: 3, transposeA: p.transposeA, transposeB: p.transposeB, m: p.m, n: p.n,
                                        k: p.k, alpha: p.alpha, a: a, lda: p.lda, b: b, ldb: p.ldb, beta: p.beta, c: c, ldc: p.ldc)
                    }
                    XCTAssertLessThan(error, 1e-5, "\(isa.rawValue) " + describe(p))
                }
            }
        }
    }

    /// VOLSEG_ISA, where set (as `make test` sets it for its second pass), is the kernel in use, and
    /// with VOLSEG_GEMM=own every GEMM goes to it; unset, the widest kernel the CPU has is.
    func testKernelFollowsTheEnvironment() {
        let environment = ProcessInfo.processInfo.environment
        if let requested = environment["VOLSEG_ISA"], !requested.isEmpty, Self.ownKernels.map(\.rawValue).contains(requested) {
            XCTAssertEqual(BLAS.ownISA?.rawValue, requested)
            if environment["VOLSEG_GEMM"] == "own" { XCTAssertEqual(BLAS.kernel(m: 8, n: 8, k: 8).rawValue, requested) }
        } else if environment["VOLSEG_GEMM"] != "openblas" {
            XCTAssertEqual(BLAS.ownISA, Self.ownKernels.first)
        }
        print("GEMM: our kernel \(BLAS.ownISA?.rawValue ?? "none"), OpenBLAS core \(BLAS.openBLASCore), generic \(BLAS.openBLASIsGeneric)")
    }

    /// OpenBLAS's SSE-era cores on an AVX2 CPU are generic (it did not recognise the CPU); its AVX2
    /// and wider cores are not, and on a CPU without AVX2 nothing is.
    func testGenericOpenBLASCores() {
        for core in ["Prescott", "Core2", "Nehalem", "SandyBridge", "Barcelona"] {
            XCTAssertTrue(BLAS.isGeneric(core: core, cpuHasAVX2: true), core)
        }
        for core in ["Haswell", "SkylakeX", "Zen", "Cooperlake", "SapphireRapids"] {
            XCTAssertFalse(BLAS.isGeneric(core: core, cpuHasAVX2: true), core)
        }
        XCTAssertFalse(BLAS.isGeneric(core: "Prescott", cpuHasAVX2: false))
    }

    /// The shape log names the kernel `BLAS.kernel` picks, and counts the calls.
    func testShapeLogNamesTheChosenKernel() {
        let a = [Float](repeating: 1, count: 64 * 300), b = [Float](repeating: 1, count: 300 * 500)
        var c = [Float](repeating: 0, count: 64 * 500)
        let log = GEMMShapeLog.record {
            for _ in 0..<2 { BLAS.sgemm(m: 64, n: 500, k: 300, a: a, lda: 300, b: b, ldb: 500, c: &c, ldc: 500) }
        }
        XCTAssertEqual(log.count, 1)
        XCTAssertEqual(log.first?.calls, 2)
        XCTAssertEqual(log.first?.entry.kernel, BLAS.kernel(m: 64, n: 500, k: 300))
        XCTAssertEqual(c[0], 300)
        XCTAssertTrue(GEMMShapeLog.record {}.isEmpty)
    }

    /// `BLAS.sgemm` (whichever kernel it picks) and OpenBLAS itself both match the reference.
    func testDispatchingSgemmAndOpenBLASMatchReference() {
        for p in Self.problems() {
            let dispatched = maximumRelativeError(p) { p, a, b, c in
                BLAS.sgemm(transposeA: p.transposeA, transposeB: p.transposeB, m: p.m, n: p.n, k: p.k,
                           alpha: p.alpha, a: a, lda: p.lda, b: b, ldb: p.ldb, beta: p.beta, c: c, ldc: p.ldc)
            }
            XCTAssertLessThan(dispatched, 1e-5, "BLAS.sgemm " + describe(p))
            let openBLAS = maximumRelativeError(p) { p, a, b, c in
                BLAS.openBLASSgemm(transposeA: p.transposeA, transposeB: p.transposeB, m: p.m, n: p.n, k: p.k,
                                   alpha: p.alpha, a: a, lda: p.lda, b: b, ldb: p.ldb, beta: p.beta, c: c, ldc: p.ldc)
            }
            XCTAssertLessThan(openBLAS, 1e-5, "OpenBLAS " + describe(p))
        }
    }
}
