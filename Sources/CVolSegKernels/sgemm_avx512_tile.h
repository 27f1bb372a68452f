// The 8 x 48 tile store of the AVX-512 GEMM kernels (sgemm_avx512.c, sgemm_avx512_bf16.c): both
// accumulate in 24 zmm registers of Float32 and store them the same way, whatever their inputs were.
// The including file defines MR 8 and NR 48 first.

#ifndef VOLSEG_SGEMM_AVX512_TILE_H
#define VOLSEG_SGEMM_AVX512_TILE_H

#include <immintrin.h>

#include "avx512_words.h"
#include "sgemm_driver.h"

_Static_assert(MR == 8 && NR == 48, "the AVX-512 tile store is written for 8 x 48 tiles");

#define AVX512 __attribute__((target("avx512f,avx512vl,fma")))

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
            volseg_transpose8(tile + j0, NR, cols8, 8);
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

#endif
