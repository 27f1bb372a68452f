// The Goto/BLIS blocking loop shared by the sgemm kernels (sgemm_avx512.c, sgemm_avx2.c): one
// implementation of the blocking, the swap to C^T and the in-place B panels, instantiated once per
// instruction set. The including file defines, before including this header with
// SGEMM_DEFINE_DRIVER set:
//   MR, NR             the register tile (rows x columns of C)
//   KC, MC, NC         the cache blocks (NC a multiple of NR)
//   DIRECT_ROWS        at most this many rows of C: full B panels are read in place
//   ISA                the function attribute that enables the instruction set
//   SGEMM_NAME         the driver's name
// and the static functions
//   pack_panel(width, count, kc, src, si, sp, dst)   one MR- or NR-wide panel, zero-padded
//   micro_kernel(kc, ap, bp, bs, rows, cols, c, rs, cs, alpha, beta)   one MR x NR tile of C

#ifndef VOLSEG_SGEMM_DRIVER_H
#define VOLSEG_SGEMM_DRIVER_H

// Enough for every kernel's MC * KC + KC * NC (AVX-512: 128 * 256 + 256 * 384 floats).
#define VOLSEG_SGEMM_BUFFER_FLOATS (128 * 256 + 256 * 384)

/// This thread's packing buffer (sgemm_buffers.c), VOLSEG_SGEMM_BUFFER_FLOATS floats, 64-byte aligned.
float *volseg_sgemm_packing_buffer(void);

#include <immintrin.h>

#define VOLSEG_AVX __attribute__((target("avx")))

// dst row k = src column k, for an 8 x 8 block (AVX).
VOLSEG_AVX static inline void volseg_transpose8(const float *src, long ss, float *dst, long ds) {
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + ss), r2 = _mm256_loadu_ps(src + 2 * ss),
           r3 = _mm256_loadu_ps(src + 3 * ss), r4 = _mm256_loadu_ps(src + 4 * ss), r5 = _mm256_loadu_ps(src + 5 * ss),
           r6 = _mm256_loadu_ps(src + 6 * ss), r7 = _mm256_loadu_ps(src + 7 * ss);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
           t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
           t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2)),
           u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2)),
           u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)), u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2)),
           u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)), u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + ds, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * ds, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * ds, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * ds, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * ds, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * ds, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * ds, _mm256_permute2f128_ps(u3, u7, 0x31));
}


// The packing case both kernels share: lines i of the panel are strided (si != 1), so
// dst[p * width + i] = src[i * si + p * sp] is gathered; when k is contiguous (sp == 1) and the
// width allows, 8 x 8 blocks are transposed in registers. Lines i >= count are zeros.
VOLSEG_AVX static inline void volseg_pack_strided_lines(int width, int count, int kc, const float *src, long si, long sp,
                                                        float *dst) {
    int full = sp == 1 && width % 8 == 0 ? (count / 8) * 8 : 0;
    int kc8 = (kc / 8) * 8;
    for (int i = 0; i < full; i += 8) {
        for (int p = 0; p < kc8; p += 8) volseg_transpose8(src + i * si + p, si, dst + p * width + i, width);
        for (int p = kc8; p < kc; p++)
            for (int r = 0; r < 8; r++) dst[p * width + i + r] = src[(i + r) * si + p];
    }
    for (int p = 0; p < kc; p++) {
        for (int i = full; i < count; i++) dst[p * width + i] = src[i * si + p * sp];
        for (int i = count; i < width; i++) dst[p * width + i] = 0;
    }
}

#endif

#ifdef SGEMM_DEFINE_DRIVER
#undef SGEMM_DEFINE_DRIVER

_Static_assert(MC * KC + KC * NC <= VOLSEG_SGEMM_BUFFER_FLOATS, "packing blocks exceed the shared buffer");
_Static_assert(NC % NR == 0 && MC % MR == 0, "cache blocks must be whole tiles");

static void scale_c(int m, int n, float beta, float *c, int ldc) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) c[(long)i * ldc + j] = beta == 0 ? 0 : beta * c[(long)i * ldc + j];
}

static long round_up(long value, long unit) { return (value + unit - 1) / unit * unit; }

ISA void SGEMM_NAME(int transA, int transB, int m, int n, int k, float alpha,
                    const float *a, int lda, const float *b, int ldb,
                    float beta, float *c, int ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == 0) {
        scale_c(m, n, beta, c, ldc);
        return;
    }
    // X = op(A) (M x K, element (i, p) at x[i * xi + p * xp]), Y = op(B) (K x N, (p, j) at
    // y[p * yp + j * yj]), C (i, j) at c[i * ci + j * cj].
    const float *x = a, *y = b;
    long xi = transA ? 1 : lda, xp = transA ? lda : 1;
    long yp = transB ? 1 : ldb, yj = transB ? ldb : 1;
    long ci = ldc, cj = 1;
    long M = m, N = n;
    // Swap: compute C^T = op(B)^T op(A)^T when that pads fewer rows and columns to whole tiles.
    // The weight gradient (m = panelRows, 48..1152, n = channels, 16..256) wants this: as is, n = 32
    // would fill only 32 of 48 tile columns.
    if (round_up(n, MR) * round_up(m, NR) < round_up(m, MR) * round_up(n, NR)) {
        const float *t = x; x = y; y = t;
        long nxi = yj, nxp = yp, nyp = xp, nyj = xi;
        xi = nxi; xp = nxp; yp = nyp; yj = nyj;
        ci = 1; cj = ldc;
        M = n; N = m;
    }
    float *abuf = volseg_sgemm_packing_buffer(), *bbuf = abuf + MC * KC;
    // With few rows (the convolutions' m = Cout = 16..64) each B element is used only M times, and
    // packing it costs about as much as using it: when op(B)'s rows are contiguous, full NR-wide
    // panels are read in place (C harness, one thread, AVX-512: m 16, n 4096, k 144 went 143 -> 212
    // GFLOP/s; m 64, k 576: 190 -> 206). Edge panels are still packed (zero-padded).
    int direct = yj == 1 && M <= DIRECT_ROWS;
    for (long jc = 0; jc < N; jc += NC) {
        int nc = (int)(N - jc < NC ? N - jc : NC);
        for (long pc = 0; pc < k; pc += KC) {
            int kc = (int)(k - pc < KC ? k - pc : KC);
            float betaBlock = pc == 0 ? beta : 1;
            for (int jr = 0; jr < nc; jr += NR) {
                int cols = nc - jr < NR ? nc - jr : NR;
                if (direct && cols == NR) continue;
                pack_panel(NR, cols, kc, y + pc * yp + (jc + jr) * yj, yj, yp, bbuf + (long)jr * kc);
            }
            for (long ic = 0; ic < M; ic += MC) {
                int mc = (int)(M - ic < MC ? M - ic : MC);
                for (int ir = 0; ir < mc; ir += MR) {
                    int rows = mc - ir < MR ? mc - ir : MR;
                    pack_panel(MR, rows, kc, x + (ic + ir) * xi + pc * xp, xi, xp, abuf + (long)ir * kc);
                }
                for (int jr = 0; jr < nc; jr += NR) {
                    int cols = nc - jr < NR ? nc - jr : NR;
                    for (int ir = 0; ir < mc; ir += MR) {
                        int rows = mc - ir < MR ? mc - ir : MR;
                        int inPlace = direct && cols == NR;
                        micro_kernel(kc, abuf + (long)ir * kc,
                                     inPlace ? y + pc * yp + (jc + jr) : bbuf + (long)jr * kc, inPlace ? yp : NR, rows, cols,
                                     c + (ic + ir) * ci + (jc + jr) * cj, ci, cj, alpha, betaBlock);
                    }
                }
            }
        }
    }
}

#endif
