// AVX-512 single-precision GEMM, single-threaded, in the Goto/BLIS structure.
//
// Why it exists: OpenBLAS on these machines is pinned to its Haswell (AVX2) kernels by
// OPENBLAS_CORETYPE=Haswell, while the CPUs have AVX-512; the convolutions spend most of a
// training step in sgemm. Only this file's functions use AVX-512 (function attributes, no global
// -mavx512 flag), so the library still loads on AVX2-only machines; callers check
// volseg_sgemm_available() first.
//
// Structure: C is computed in MR x NR = 8 x 48 register tiles (24 zmm accumulators, 3 zmm of B per
// k step, one broadcast of A). MR = 8 because the row counts here are channel counts (16..256, all
// multiples of 8: no padded rows); NR = 48 because panelRows (48, 144, 288, ... 1152) are multiples
// of 48 when the problem is computed transposed (see `swap` below). op(A) is packed into MR-row
// panels, op(B) into NR-column panels, k in blocks of KC, zero-padded at the m/n edges; the tile
// store applies alpha and beta and masks the n edge. KC 192..512 and MC 64..128 measured the same
// within noise (the 2-core machine is shared); the defines can be overridden for such experiments.

#include "volseg_kernels.h"

#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MR 8
#define NR 48
#ifndef KC
#define KC 256
#endif
#ifndef MC
#define MC 128
#endif
#ifndef NC
#define NC (NR * 8)
#endif
#ifndef DIRECT_ROWS
#define DIRECT_ROWS 64
#endif

#define AVX512 __attribute__((target("avx512f,avx512vl,fma")))

int volseg_sgemm_available(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    return cached;
}

// Packing buffers: one pair per thread, allocated on first use (MC*KC + KC*NC floats = 512 KB) and
// freed when the thread ends. They are scratch of this kernel, not tensors, so they stay outside
// the memory ledger (like OpenBLAS's own buffers).
static pthread_key_t buffer_key;
static pthread_once_t buffer_once = PTHREAD_ONCE_INIT;
static _Thread_local float *thread_buffer;

static void make_buffer_key(void) { pthread_key_create(&buffer_key, free); }

static float *packing_buffer(void) {
    if (!thread_buffer) {
        pthread_once(&buffer_once, make_buffer_key);
        thread_buffer = aligned_alloc(64, sizeof(float) * (MC * KC + KC * NC));
        if (!thread_buffer) abort();
        pthread_setspecific(buffer_key, thread_buffer);
    }
    return thread_buffer;
}

// dst row k = src column k, for an 8 x 8 block (AVX).
AVX512 static inline void transpose8(const float *src, long ss, float *dst, long ds) {
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

static inline __mmask16 lanes(int count) {
    return count >= 16 ? (__mmask16)0xFFFF : count <= 0 ? (__mmask16)0 : (__mmask16)((1u << count) - 1);
}

// Packs a panel of `width` (MR or NR) lines of a matrix into dst[p * width + i], p < kc, i < width;
// element (i, p) of the source is src[i * si + p * sp]; lines i >= count are zeros. One of si, sp
// is 1 in every BLAS layout: si == 1 copies rows of the panel, sp == 1 transposes 8 x 8 blocks.
AVX512 static void pack_panel(int width, int count, int kc, const float *src, long si, long sp, float *dst) {
    if (si == 1) {
        for (int p = 0; p < kc; p++) {
            const float *s = src + p * sp;
            float *d = dst + p * width;
            for (int i = 0; i < width; i += 16) {
                __mmask16 mask = lanes(count - i);
                if (width - i >= 16) {
                    _mm512_store_ps(d + i, _mm512_maskz_loadu_ps(mask, s + i));
                } else {  // width 8
                    _mm256_store_ps(d + i, _mm256_maskz_loadu_ps((__mmask8)mask, s + i));
                }
            }
        }
        return;
    }
    int full = sp == 1 ? (count / 8) * 8 : 0;
    int kc8 = (kc / 8) * 8;
    for (int i = 0; i < full; i += 8) {
        for (int p = 0; p < kc8; p += 8) transpose8(src + i * si + p, si, dst + p * width + i, width);
        for (int p = kc8; p < kc; p++)
            for (int r = 0; r < 8; r++) dst[p * width + i + r] = src[(i + r) * si + p];
    }
    for (int p = 0; p < kc; p++) {
        for (int i = full; i < count; i++) dst[p * width + i] = src[i * si + p * sp];
        for (int i = count; i < width; i++) dst[p * width + i] = 0;
    }
}

// C tile (rows x cols valid of the MR x NR tile) = alpha * acc + beta * C; beta == 0 does not read C.
// Element (i, j) of the tile is c[i * rs + j * cs]; cs == 1 is the ordinary row-major store,
// rs == 1 the transposed one (the swapped problem).
AVX512 static void store_tile(__m512 acc[MR][3], int rows, int cols, float *c, long rs, long cs, float alpha, float beta) {
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    if (cs == 1) {
        __mmask16 m0 = lanes(cols), m1 = lanes(cols - 16), m2 = lanes(cols - 32);
        for (int i = 0; i < rows; i++) {
            float *ci = c + i * rs;
            __m512 r0 = _mm512_mul_ps(acc[i][0], va), r1 = _mm512_mul_ps(acc[i][1], va), r2 = _mm512_mul_ps(acc[i][2], va);
            if (beta != 0) {
                r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, ci), r0);
                r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, ci + 16), r1);
                r2 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m2, ci + 32), r2);
            }
            _mm512_mask_storeu_ps(ci, m0, r0);
            _mm512_mask_storeu_ps(ci + 16, m1, r1);
            _mm512_mask_storeu_ps(ci + 32, m2, r2);
        }
        return;
    }
    float tile[MR * NR] __attribute__((aligned(64)));
    for (int i = 0; i < MR; i++)
        for (int v = 0; v < 3; v++) _mm512_store_ps(tile + i * NR + 16 * v, _mm512_mul_ps(acc[i][v], va));
    if (rs == 1 && rows == MR) {
        // Transposed store: tile column j is 8 contiguous floats of C.
        float cols8[8 * 8] __attribute__((aligned(32)));
        __m256 b8 = _mm256_set1_ps(beta);
        for (int j0 = 0; j0 < cols; j0 += 8) {
            transpose8(tile + j0, NR, cols8, 8);
            int jn = cols - j0 < 8 ? cols - j0 : 8;
            for (int j = 0; j < jn; j++) {
                float *cj = c + (j0 + j) * cs;
                __m256 r = _mm256_load_ps(cols8 + 8 * j);
                if (beta != 0) r = _mm256_fmadd_ps(b8, _mm256_loadu_ps(cj), r);
                _mm256_storeu_ps(cj, r);
            }
        }
        return;
    }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            float *cij = c + i * rs + j * cs;
            *cij = beta != 0 ? tile[i * NR + j] + beta * *cij : tile[i * NR + j];
        }
}

// The 8 x 48 micro-kernel: acc = sum over p < kc of ap[p * MR + i] * bp[p * bs + j].
// bs is NR for a packed B panel, or ldb when B is read in place (row-major, unpacked).
AVX512 static void kernel_8x48(int kc, const float *ap, const float *bp, long bs,
                               int rows, int cols, float *c, long rs, long cs, float alpha, float beta) {
    __m512 acc[MR][3];
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = acc[i][2] = _mm512_setzero_ps();
#pragma clang loop unroll_count(2)
    for (int p = 0; p < kc; p++) {
        __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16), b2 = _mm512_loadu_ps(bp + 32);
#pragma clang loop unroll(full)
        for (int i = 0; i < MR; i++) {
            __m512 a = _mm512_set1_ps(ap[i]);
            acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
            acc[i][2] = _mm512_fmadd_ps(a, b2, acc[i][2]);
        }
        ap += MR;
        bp += bs;
    }
    store_tile(acc, rows, cols, c, rs, cs, alpha, beta);
}

static void scale_c(int m, int n, float beta, float *c, int ldc) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) c[(long)i * ldc + j] = beta == 0 ? 0 : beta * c[(long)i * ldc + j];
}

static long round_up(long value, long unit) { return (value + unit - 1) / unit * unit; }

AVX512 void volseg_sgemm(int transA, int transB, int m, int n, int k, float alpha,
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
    float *abuf = packing_buffer(), *bbuf = abuf + MC * KC;
    // With few rows (the convolutions' m = Cout = 16..64) each B element is used only M times, and
    // packing it costs about as much as using it: when op(B)'s rows are contiguous, full NR-wide
    // panels are read in place (C harness, one thread: m 16, n 4096, k 144 went 143 -> 212
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
                        kernel_8x48(kc, abuf + (long)ir * kc,
                                    inPlace ? y + pc * yp + (jc + jr) : bbuf + (long)jr * kc, inPlace ? yp : NR, rows, cols,
                                    c + (ic + ir) * ci + (jc + jr) * cj, ci, cj, alpha, betaBlock);
                    }
                }
            }
        }
    }
}
