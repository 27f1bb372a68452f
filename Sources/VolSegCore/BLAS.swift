import CBLAS
import CVolSegKernels
import Foundation

/// Row-major single-precision GEMM: C = alpha * op(A) * op(B) + beta * C, where op(A) is m x k and
/// op(B) is k x n.
///
/// Two implementations: our AVX-512 kernel (Sources/CVolSegKernels) where the CPU has AVX-512F,
/// else OpenBLAS. OpenBLAS is pinned to its Haswell (AVX2) kernels on our machines
/// (OPENBLAS_CORETYPE=Haswell, which we must not change); measured on the 2-core Zen 5 (one
/// thread, C harness): ours 175-210 GFLOP/s against OpenBLAS's 95-115 on the convolution shapes
/// (m = 16..128 channels, n = thousands of columns, k = 144..1152, and the transposed
/// weight-gradient shape), 171-199 against 115 on 2048^3. `volseg bench kernels` (2 threads):
/// conv3d forward 79 -> 42 ms, forward + backward 237 -> 135 ms.
///
/// `VOLSEG_GEMM=openblas` in the environment forces OpenBLAS everywhere (read once, at the first
/// call): an escape hatch and a way to compare. `VOLSEG_GEMM=avx512` forces ours for every call.
public enum BLAS {
    public static func sgemm(transposeA: Bool = false, transposeB: Bool = false,
                             m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            // BLAS leaves C scaled by beta; with k = 0 there is nothing else to add.
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : c[i * ldc + j] * beta } }
            return
        }
        guard useOwnKernel, (m * n * k >= minimumOwnWork && (k >= minimumOwnDepth || m <= 64)) || mode == .avx512 else {
            openBLASSgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                          a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        // Our kernel is single-threaded. Inside a conv worker OpenBLAS is already on one thread
        // (SingleThreadedBLAS), and the call stays on this thread. Elsewhere (Linear layers, the
        // conv paths that run slabs one after another) OpenBLAS would use all threads, so we split
        // C into one block per thread ourselves: measured on 2048^3 with 2 threads (`volseg bench
        // kernels`), 2-thread OpenBLAS gives 233-240 GFLOP/s, ours split in two 348-358.
        avx512Sgemm(threads: openblas_get_num_threads() > 1 ? Parallel.threadCount : 1,
                    transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                    a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// VOLSEG_GEMM: `openblas` forces OpenBLAS; `avx512` sends every call, however small, to our
    /// kernel (where the CPU has it; for tests, whose convolutions are mostly below the size
    /// thresholds); unset or anything else picks by size.
    enum Mode { case automatic, openBLAS, avx512 }
    static let mode: Mode = {
        switch ProcessInfo.processInfo.environment["VOLSEG_GEMM"]?.lowercased() {
        case "openblas": return .openBLAS
        case "avx512": return .avx512
        default: return .automatic
        }
    }()

    /// Whether `sgemm` may use our AVX-512 kernel: the CPU has AVX-512F and VOLSEG_GEMM is not `openblas`.
    public static let useOwnKernel: Bool = avx512Available && mode != .openBLAS

    /// Whether this CPU can run `avx512Sgemm`.
    public static var avx512Available: Bool { volseg_sgemm_available() != 0 }

    /// Below this many multiply-adds OpenBLAS is used: packing and call overhead dominate.
    static let minimumOwnWork = 8 * 1024
    /// Below this depth OpenBLAS is used when C has many rows: m 288, n 4096, k 32 (transposed A)
    /// measured 72-90 GFLOP/s against OpenBLAS's 113, while with m <= 64 ours stays ahead at any
    /// depth (m 32, k 32: 179 against 101; m 64, k 16: 141 against 98).
    static let minimumOwnDepth = 48
    /// Below this many multiply-adds a call is not split over threads (thread hand-off costs more).
    static let minimumSplitWork = 4 * 1024 * 1024

    /// Splits C into one block of columns (or rows, when C is narrow) per thread, each computed by
    /// `avx512Sgemm` on its own thread. Blocks are multiples of the kernel's tile (48 columns, 8 rows).
    static func splitSgemm(threads: Int, transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                           a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let byColumns = n >= m
        let length = byColumns ? n : m, unit = byColumns ? 48 : 8
        let block = (length + threads - 1) / threads
        let size = max(unit, (block + unit - 1) / unit * unit)
        let blocks = (length + size - 1) / size
        Parallel.forEach(blocks) { index in
            let start = index * size, count = min(size, length - start)
            if byColumns {
                volsegSgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: count, k: k, alpha: alpha,
                            a: a, lda: lda, b: b + (transposeB ? start * ldb : start), ldb: ldb,
                            beta: beta, c: c + start, ldc: ldc)
            } else {
                volsegSgemm(transposeA: transposeA, transposeB: transposeB, m: count, n: n, k: k, alpha: alpha,
                            a: a + (transposeA ? start : start * lda), lda: lda, b: b, ldb: ldb,
                            beta: beta, c: c + start * ldc, ldc: ldc)
            }
        }
    }

    /// Our AVX-512 kernel, on this thread alone (`threads` 1) or with C split over `threads`
    /// threads when the call is big enough. Only call it when `avx512Available`.
    public static func avx512Sgemm(threads: Int = 1, transposeA: Bool = false, transposeB: Bool = false,
                                   m: Int, n: Int, k: Int, alpha: Float = 1,
                                   a: UnsafePointer<Float>, lda: Int,
                                   b: UnsafePointer<Float>, ldb: Int,
                                   beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        precondition(avx512Available, "avx512Sgemm needs a CPU with AVX-512F")
        if threads > 1 && m * n * k >= minimumSplitWork {
            splitSgemm(threads: threads, transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                       alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        } else {
            volsegSgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                        a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }

    static func volsegSgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        volseg_sgemm(transposeA ? 1 : 0, transposeB ? 1 : 0, Int32(m), Int32(n), Int32(k), alpha,
                     a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// OpenBLAS's cblas_sgemm, with the threads OpenBLAS is set to.
    public static func openBLASSgemm(transposeA: Bool = false, transposeB: Bool = false,
                                     m: Int, n: Int, k: Int, alpha: Float = 1,
                                     a: UnsafePointer<Float>, lda: Int,
                                     b: UnsafePointer<Float>, ldb: Int,
                                     beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor,
                    transposeA ? CblasTrans : CblasNoTrans,
                    transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
