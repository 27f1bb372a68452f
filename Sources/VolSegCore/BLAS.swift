import CBLAS
import CVolSegKernels
import Foundation

/// Which implementation runs a GEMM: one of our kernels (Sources/CVolSegKernels) or OpenBLAS; or,
/// for a convolution the direct kernel takes (`ConvDirect`), that kernel, logged as the implicit
/// GEMM it computes (Cout x output voxels x Cin kD kH kW).
public enum GEMMKernel: String, Sendable {
    case avx512, avx2
    /// `volseg_sgemm_bf16`: bf16 products, Float32 sums, under `ComputePrecision.run(.bf16, ...)`.
    case avx512BF16 = "avx512-bf16"
    case openBLAS = "openblas"
    case directConvolution = "direct-conv-avx2"
    case directConvolutionAVX512 = "direct-conv-avx512"
    /// The AVX-512 direct kernel on bf16 pair words, under `ComputePrecision.run(.bf16, ...)`.
    case directConvolutionBF16 = "direct-conv-avx512-bf16"
}

/// Row-major single-precision GEMM: C = alpha * op(A) * op(B) + beta * C, where op(A) is m x k and
/// op(B) is k x n.
///
/// Our kernels, AVX-512 (8 x 48 tiles) and AVX2 + FMA (6 x 16): the widest one the CPU has is
/// chosen at run time, one binary for both. The AVX-512 kernel takes the convolutions' GEMMs, and
/// OpenBLAS keeps the small and shallow calls where packing costs more than it saves; the AVX2
/// kernel takes every GEMM where OpenBLAS runs a generic core (see `kernel(m:n:k:)`). Why our own: OpenBLAS picks its kernels
/// from its CPU detection, which machines here override with OPENBLAS_CORETYPE=Haswell (measured on
/// the 2-core Zen 5, one thread, C harness: ours 175-210 GFLOP/s against OpenBLAS's 95-115 on the
/// convolution shapes), and which on an Intel Xeon it does not know falls back to its SSE3
/// "Prescott" kernels (30-41 GFLOP/s on 2048^3 where the CPU reaches 160-210). OPENBLAS_CORETYPE is
/// read by OpenBLAS only when it loads, and machines set it where other kernels crash or give wrong
/// results, so VolSeg never sets or changes it: when OpenBLAS reports a core older than the CPU it
/// warns once and sends every GEMM to our kernel instead.
///
/// Environment, read once at the first call: `VOLSEG_ISA=avx2` (or `avx512`) picks our kernel's
/// instruction set where the CPU has it, so the AVX2 path is tested on AVX-512 machines too;
/// `VOLSEG_GEMM=openblas` forces OpenBLAS everywhere (an escape hatch and a comparison), and
/// `VOLSEG_GEMM=own` (or the older spelling `avx512`) sends every call, however small, to ours.
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
        let chosen = kernel(m: m, n: n, k: k)
        GEMMShapeLog.note(m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, kernel: chosen)
        guard let isa = chosen == .avx512BF16 ? chosen : ownISA, chosen != .openBLAS else {
            openBLASSgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                          a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        // Our kernels are single-threaded. Inside a conv worker OpenBLAS is already on one thread
        // (SingleThreadedBLAS), and the call stays on this thread. Elsewhere (Linear layers, the
        // conv paths that run slabs one after another) OpenBLAS would use all threads, so we split
        // C into one block per thread ourselves: measured on 2048^3 with 2 threads (`volseg bench
        // kernels`), 2-thread OpenBLAS gives 233-240 GFLOP/s, ours split in two 348-358.
        ownSgemm(isa: isa, threads: openblas_get_num_threads() > 1 ? Parallel.threadCount : 1,
                 transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                 a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// The implementation `sgemm` uses for an m x n x k product (what `volseg bench kernels` names
    /// for each shape).
    public static func kernel(m: Int, n: Int, k: Int) -> GEMMKernel {
        // Under bf16 every GEMM, however small, is rounded the same way (`ComputePrecision.run`
        // checked the CPU can).
        if ComputePrecision.current == .bf16 { return .avx512BF16 }
        guard let isa = ownISA else { return .openBLAS }
        _ = genericOpenBLASWarning
        if mode == .own || openBLASIsGeneric { return isa }
        // Our AVX2 kernel does not beat OpenBLAS's own AVX2 kernels where OpenBLAS knows the CPU
        // (2-core AMD EPYC Zen 3, one thread, C harness, 2026-12-02: 0.76 against 0.93 of the FMA
        // peak on 2048^3, 0.56 against 0.68 on the conv shape 32 x 3234 x 288), so unless
        // VOLSEG_ISA asks for it, it only takes over from a generic OpenBLAS core.
        if isa == .avx2 && !isaRequested { return .openBLAS }
        return m * n * k >= minimumOwnWork && (k >= minimumOwnDepth || m <= 64) ? isa : .openBLAS
    }

    /// VOLSEG_GEMM: `openblas` forces OpenBLAS; `own` (or `avx512`, its older name) sends every
    /// call, however small, to our kernel (for tests, whose convolutions are mostly below the size
    /// thresholds); unset or anything else picks by size.
    enum Mode { case automatic, openBLAS, own }
    static let mode: Mode = {
        switch ProcessInfo.processInfo.environment["VOLSEG_GEMM"]?.lowercased() {
        case "openblas": return .openBLAS
        case "own", "avx512": return .own
        default: return .automatic
        }
    }()

    /// Whether this CPU can run the AVX-512 kernel (AVX-512F).
    public static var avx512Available: Bool { volseg_sgemm_available() != 0 }
    /// Whether this CPU can run the AVX2 kernel (AVX2 and FMA).
    public static var avx2Available: Bool { volseg_sgemm_avx2_available() != 0 }
    /// Whether this CPU can run the bf16 kernel (AVX-512F and AVX512_BF16).
    public static var bf16Available: Bool { volseg_sgemm_bf16_available() != 0 }

    /// Our kernel's instruction set: VOLSEG_ISA's where the CPU has it, else the widest the CPU
    /// has; nil when VOLSEG_GEMM=openblas or the CPU has neither (OpenBLAS then runs everything).
    public static let ownISA: GEMMKernel? = {
        if mode == .openBLAS { return nil }
        let available = [GEMMKernel.avx512, .avx2].filter { $0 == .avx512 ? avx512Available : avx2Available }
        guard let requested = requestedISA else { return available.first }
        if let isa = GEMMKernel(rawValue: requested), available.contains(isa) { return isa }
        FileHandle.standardError.write(Data(("warning: VOLSEG_ISA=\(requested) is not an instruction set this CPU runs "
            + "(it runs: \(available.map(\.rawValue).joined(separator: ", ")); known: avx512, avx2); "
            + "using \(available.first?.rawValue ?? "OpenBLAS")\n").utf8))
        return available.first
    }()

    static let requestedISA: String? = ProcessInfo.processInfo.environment["VOLSEG_ISA"].map { $0.lowercased() }.flatMap { $0.isEmpty ? nil : $0 }
    /// VOLSEG_ISA named the instruction set `ownISA` runs.
    static var isaRequested: Bool { requestedISA != nil && requestedISA == ownISA?.rawValue }

    /// The core OpenBLAS picked its kernels for (`openblas_get_corename()`: "Haswell", "SkylakeX",
    /// "Zen", or on a CPU it does not know "Prescott").
    public static let openBLASCore: String = openblas_get_corename().map { String(cString: $0) } ?? "unknown"

    /// OpenBLAS's cores whose sgemm uses AVX2 + FMA or wider; any other core on a CPU with AVX2 + FMA
    /// means OpenBLAS did not recognise the CPU and runs older, slower kernels.
    static let currentOpenBLASCores: Set<String> = ["haswell", "zen", "skylakex", "cooperlake", "sapphirerapids", "excavator"]

    /// OpenBLAS runs kernels older than the CPU (see `currentOpenBLASCores`).
    public static let openBLASIsGeneric: Bool = isGeneric(core: openBLASCore, cpuHasAVX2: avx2Available)

    static func isGeneric(core: String, cpuHasAVX2: Bool) -> Bool {
        cpuHasAVX2 && !currentOpenBLASCores.contains(core.lowercased())
    }

    /// Printed once, at the first GEMM, when OpenBLAS runs a generic core.
    static let genericOpenBLASWarning: Void = {
        guard openBLASIsGeneric, let isa = ownISA else { return }
        FileHandle.standardError.write(Data(("warning: OpenBLAS runs its \(openBLASCore) kernels on this CPU (it does not "
            + "recognise it); VolSeg's own \(isa.rawValue) GEMM takes every GEMM instead. OPENBLAS_CORETYPE, read by "
            + "OpenBLAS when it loads, is left as it is.\n").utf8))
    }()

    /// Below this many multiply-adds OpenBLAS is used: packing and call overhead dominate.
    static let minimumOwnWork = 8 * 1024
    /// Below this depth OpenBLAS is used when C has many rows: m 288, n 4096, k 32 (transposed A)
    /// measured 72-90 GFLOP/s against OpenBLAS's 113, while with m <= 64 ours stays ahead at any
    /// depth (m 32, k 32: 179 against 101; m 64, k 16: 141 against 98).
    static let minimumOwnDepth = 48
    /// Below this many multiply-adds a call is not split over threads (thread hand-off costs more).
    static let minimumSplitWork = 4 * 1024 * 1024

    /// Splits C into one block of columns (or rows, when C is narrow) per thread, each computed by
    /// our `isa` kernel on its own thread. Blocks are multiples of the kernel's tile (48 columns
    /// for either kernel, 8 or 6 rows).
    static func splitSgemm(isa: GEMMKernel, threads: Int, transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                           a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let byColumns = n >= m
        let length = byColumns ? n : m, unit = byColumns ? 48 : (isa == .avx2 ? 6 : 8)  // the bf16 tile is 8 x 48 too
        let block = (length + threads - 1) / threads
        let size = max(unit, (block + unit - 1) / unit * unit)
        let blocks = (length + size - 1) / size
        Parallel.forEach(blocks) { index in
            let start = index * size, count = min(size, length - start)
            if byColumns {
                singleThreadSgemm(isa: isa, transposeA: transposeA, transposeB: transposeB, m: m, n: count, k: k, alpha: alpha,
                                  a: a, lda: lda, b: b + (transposeB ? start * ldb : start), ldb: ldb,
                                  beta: beta, c: c + start, ldc: ldc)
            } else {
                singleThreadSgemm(isa: isa, transposeA: transposeA, transposeB: transposeB, m: count, n: n, k: k, alpha: alpha,
                                  a: a + (transposeA ? start : start * lda), lda: lda, b: b, ldb: ldb,
                                  beta: beta, c: c + start * ldc, ldc: ldc)
            }
        }
    }

    /// One of our kernels (`isa`, default `ownISA`), on this thread alone (`threads` 1) or with C
    /// split over `threads` threads when the call is big enough. Only call it with an `isa` the CPU
    /// has (`avx512Available`, `avx2Available`, `bf16Available`).
    public static func ownSgemm(isa: GEMMKernel? = nil, threads: Int = 1, transposeA: Bool = false, transposeB: Bool = false,
                                m: Int, n: Int, k: Int, alpha: Float = 1,
                                a: UnsafePointer<Float>, lda: Int,
                                b: UnsafePointer<Float>, ldb: Int,
                                beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let isa = isa ?? ownISA ?? .openBLAS
        precondition(isa == .avx512 ? avx512Available : isa == .avx2 ? avx2Available : isa == .avx512BF16 ? bf16Available : false,
                     "ownSgemm: this CPU cannot run the \(isa.rawValue) kernel")
        if threads > 1 && m * n * k >= minimumSplitWork {
            splitSgemm(isa: isa, threads: threads, transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                       alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        } else {
            singleThreadSgemm(isa: isa, transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                              a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }

    static func singleThreadSgemm(isa: GEMMKernel, transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                                  a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                                  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let kernel = isa == .avx2 ? volseg_sgemm_avx2 : isa == .avx512BF16 ? volseg_sgemm_bf16 : volseg_sgemm
        kernel(transposeA ? 1 : 0, transposeB ? 1 : 0, Int32(m), Int32(n), Int32(k), alpha,
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
