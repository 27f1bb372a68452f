// AVX2 + FMA single-precision GEMM, single-threaded: the same Goto/BLIS structure as the AVX-512
// kernel (sgemm_driver.h's blocking loop), for CPUs without AVX-512 and for Intel Xeons on which
// Debian's OpenBLAS does not recognise the core and falls back to its SSE3 (Prescott) kernels at a
// fifth of the speed. `VOLSEG_ISA=avx2` sends work here on any machine, so both paths are tested.
//
// Tile: MR x NR = 6 x 16, BLIS's Haswell choice: 12 ymm accumulators, 2 ymm of B per k step and
// one broadcast of A, 15 of the 16 ymm registers. A wider tile (4 x 24 or 8 x 16) would need 16
// or more registers and spill.

#include "volseg_kernels.h"

#include <immintrin.h>

#include "sgemm_driver.h"

#define MR 6
#define NR 16
#ifndef KC
#define KC 256
#endif
#ifndef MC
#define MC 120
#endif
#ifndef NC
#define NC (NR * 24)
#endif
#ifndef DIRECT_ROWS
#define DIRECT_ROWS 64
#endif

#define AVX2 __attribute__((target("avx2,fma")))

int volseg_sgemm_avx2_available(void) { return volseg_cpu_supports_avx2_fma(); }

// Lanes < count of 8 set (as maskload/maskstore read them: the sign bit of each 32-bit lane).
AVX2 static inline __m256i lanes8(int count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// As sgemm_avx512.c's pack_panel: dst[p * width + i] = src[i * si + p * sp] for i < count, zeros up
// to width; 8 x 8 blocks are transposed in registers when the lines are strided and width allows.
AVX2 static void pack_panel(int width, int count, int kc, const float *src, long si, long sp, float *dst) {
    if (si == 1) {
        for (int p = 0; p < kc; p++) {
            const float *s = src + p * sp;
            float *d = dst + p * width;
            int i = 0;
            for (; i + 8 <= width; i += 8) _mm256_storeu_ps(d + i, _mm256_maskload_ps(s + i, lanes8(count - i)));
            for (; i < width; i++) d[i] = i < count ? s[i] : 0;
        }
        return;
    }
    volseg_pack_strided_lines(width, count, kc, src, si, sp, dst);
}

// C tile (rows x cols valid) = alpha * acc + beta * C; beta == 0 does not read C. Element (i, j)
// is c[i * rs + j * cs]: cs == 1 stores rows with masked vectors, any other layout goes through a
// tile in memory.
AVX2 static void store_tile(__m256 acc[MR][2], int rows, int cols, float *c, long rs, long cs, float alpha, float beta) {
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    if (cs == 1 && cols == NR) {
        // Full-width rows: plain stores (masked stores are microcoded and slow on AMD's cores).
        for (int i = 0; i < rows; i++) {
            float *ci = c + i * rs;
            __m256 r0 = _mm256_mul_ps(acc[i][0], va), r1 = _mm256_mul_ps(acc[i][1], va);
            if (beta != 0) {
                r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci), r0);
                r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + 8), r1);
            }
            _mm256_storeu_ps(ci, r0);
            _mm256_storeu_ps(ci + 8, r1);
        }
        return;
    }
    if (cs == 1) {
        __m256i m0 = lanes8(cols), m1 = lanes8(cols - 8);
        for (int i = 0; i < rows; i++) {
            float *ci = c + i * rs;
            __m256 r0 = _mm256_mul_ps(acc[i][0], va), r1 = _mm256_mul_ps(acc[i][1], va);
            if (beta != 0) {
                r0 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(ci, m0), r0);
                r1 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(ci + 8, m1), r1);
            }
            _mm256_maskstore_ps(ci, m0, r0);
            _mm256_maskstore_ps(ci + 8, m1, r1);
        }
        return;
    }
    float tile[MR * NR] __attribute__((aligned(32)));
    for (int i = 0; i < MR; i++) {
        _mm256_store_ps(tile + i * NR, _mm256_mul_ps(acc[i][0], va));
        _mm256_store_ps(tile + i * NR + 8, _mm256_mul_ps(acc[i][1], va));
    }
    for (int j = 0; j < cols; j++)
        for (int i = 0; i < rows; i++) {
            float *cij = c + i * rs + j * cs;
            *cij = beta != 0 ? tile[i * NR + j] + beta * *cij : tile[i * NR + j];
        }
}

// The 6 x 16 micro-kernel: acc = sum over p < kc of ap[p * MR + i] * bp[p * bs + j].
AVX2 static void micro_kernel(int kc, const float *ap, const float *bp, long bs,
                              int rows, int cols, float *c, long rs, long cs, float alpha, float beta) {
    __m256 acc[MR][2];
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
#pragma clang loop unroll_count(4)
    for (int p = 0; p < kc; p++) {
        __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
#pragma clang loop unroll(full)
        for (int i = 0; i < MR; i++) {
            __m256 a = _mm256_broadcast_ss(ap + i);
            acc[i][0] = _mm256_fmadd_ps(a, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(a, b1, acc[i][1]);
        }
        ap += MR;
        bp += bs;
    }
    store_tile(acc, rows, cols, c, rs, cs, alpha, beta);
}

#define ISA AVX2
#define SGEMM_NAME volseg_sgemm_avx2
#define SGEMM_DEFINE_DRIVER
#include "sgemm_driver.h"
