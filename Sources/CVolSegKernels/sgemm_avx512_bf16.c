// bfloat16 GEMM with Float32 accumulation (AVX512_BF16), single-threaded: `segment --precision
// bf16` and `evaluate --model --precision bf16` run the networks' GEMMs here.
//
// Why: VDPBF16PS multiplies pairs of bf16 values and adds both products to a Float32 lane, twice the
// multiply-adds of a Float32 FMA per instruction, and halves the bytes of every packed panel. Inputs
// and outputs stay Float32: A and B are rounded to bf16 (round to nearest even, VCVTNE2PS2BF16) while
// they are packed, the products are exact in Float32, and the sums are Float32 (as oneDNN and
// PyTorch's bf16 inference accumulate).
//
// Structure: sgemm_driver.h's blocking loop with the Float32 AVX-512 kernel's 8 x 48 tile and tile
// store (sgemm_avx512_tile.h). A panel line holds k in pairs: element (i, k-pair q) is one 32-bit
// word, the bf16 of k = 2q in its low half and of k = 2q + 1 in its high half (zero past an odd k),
// which is the operand VDPBF16PS takes. A panel of kc Float32 lines fits in the space of kc / 2 + 1
// pair lines, so the driver's buffer offsets hold. B is never read in place (DIRECT_ROWS 0): it must
// be rounded.

#include "volseg_kernels.h"

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "sgemm_driver.h"

#define MR 8
#define NR 48
#define KC 256
#define MC 128
#define NC (NR * 8)
#define DIRECT_ROWS 0

_Static_assert(KC % 2 == 0, "k blocks must hold whole pairs");

#include "sgemm_avx512_tile.h"

int volseg_sgemm_bf16_available(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16") ? 1 : 0;
    }
    return cached;
}

// dst (pair words) line q, lane i = the pair (k = 2q, 2q + 1) of line i, for i < count; zeros up to
// width. Element (i, p) of the source is src[i * si + p * sp], as in the Float32 kernels.
BF16 static void pack_panel(int width, int count, int kc, const float *src, long si, long sp, float *buffer) {
    uint32_t *dst = (uint32_t *)buffer;
    int pairs = (kc + 1) / 2;
    if (si == 1) {
        for (int q = 0; q < pairs; q++) {
            const float *lo = src + 2L * q * sp, *hi = lo + sp;
            int hasHigh = 2 * q + 1 < kc;
            uint32_t *d = dst + (long)q * width;
            for (int i = 0; i < width; i += 16) {
                __mmask16 load = lanes(count - i), store = lanes(width - i);
                __m512 l = _mm512_maskz_loadu_ps(load, lo + i);
                __m512 h = hasHigh ? _mm512_maskz_loadu_ps(load, hi + i) : _mm512_setzero_ps();
                _mm512_mask_storeu_epi32(d + i, store, pair_words(l, h));
            }
        }
        return;
    }
    for (int i = 0; i < count; i++) {
        const float *line = src + i * si;
        for (int q = 0; q < pairs; q++) {
            float l = line[2L * q * sp], h = 2 * q + 1 < kc ? line[(2L * q + 1) * sp] : 0;
            dst[(long)q * width + i] = pair_word(l, h);
        }
    }
    for (int q = 0; q < pairs; q++)
        for (int i = count; i < width; i++) dst[(long)q * width + i] = 0;
}

// acc = sum over k of a(i, k) b(k, j), a k-pair a step: one broadcast word of A per row, three zmm of B.
BF16 static void micro_kernel(int kc, const float *apanel, const float *bpanel, long bs,
                              int rows, int cols, float *c, long rs, long cs, float alpha, float beta) {
    const uint32_t *ap = (const uint32_t *)apanel, *bp = (const uint32_t *)bpanel;
    __m512 acc[MR][3];
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = acc[i][2] = _mm512_setzero_ps();
    int pairs = (kc + 1) / 2;
#pragma clang loop unroll_count(2)
    for (int q = 0; q < pairs; q++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(bp), b1 = (__m512bh)_mm512_loadu_si512(bp + 16),
                 b2 = (__m512bh)_mm512_loadu_si512(bp + 32);
#pragma clang loop unroll(full)
        for (int i = 0; i < MR; i++) {
            __m512bh a = (__m512bh)_mm512_set1_epi32((int)ap[i]);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], a, b0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], a, b1);
            acc[i][2] = _mm512_dpbf16_ps(acc[i][2], a, b2);
        }
        ap += MR;
        bp += bs;
    }
    store_tile(acc, rows, cols, c, rs, cs, alpha, beta);
}

BF16 void volseg_bf16_round(const float *src, float *dst, long count) {
    for (long i = 0; i < count; i++) {
        uint32_t word = pair_word(src[i], 0) << 16;
        memcpy(dst + i, &word, sizeof word);
    }
}

#define ISA BF16
#define SGEMM_NAME volseg_sgemm_bf16
#define SGEMM_DEFINE_DRIVER
#include "sgemm_driver.h"
