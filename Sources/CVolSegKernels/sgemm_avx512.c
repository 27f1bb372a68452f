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
// The blocking loop itself is sgemm_driver.h's, shared with the AVX2 kernel.

#include "volseg_kernels.h"

#include <immintrin.h>
#include <string.h>

#include "sgemm_driver.h"

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

#include "sgemm_avx512_tile.h"

int volseg_sgemm_available(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    return cached;
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
    volseg_pack_strided_lines(width, count, kc, src, si, sp, dst);
}

// The 8 x 48 micro-kernel: acc = sum over p < kc of ap[p * MR + i] * bp[p * bs + j].
// bs is NR for a packed B panel, or ldb when B is read in place (row-major, unpacked).
AVX512 static void micro_kernel(int kc, const float *ap, const float *bp, long bs,
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

#define ISA AVX512
#define SGEMM_NAME volseg_sgemm
#define SGEMM_DEFINE_DRIVER
#include "sgemm_driver.h"
