// 16-lane helpers shared by the AVX-512 kernels (the GEMMs and the direct convolution): lane masks,
// and bf16 pair words, the operand VDPBF16PS takes (two bfloat16 values in one 32-bit word, summed
// as a pair into one Float32 lane).

#ifndef VOLSEG_AVX512_WORDS_H
#define VOLSEG_AVX512_WORDS_H

#include <immintrin.h>
#include <stdint.h>

#define BF16 __attribute__((target("avx512f,avx512vl,avx512bw,avx512bf16,fma")))

// The first `count` of 16 lanes (none when count <= 0).
static inline __mmask16 lanes(int count) {
    return count >= 16 ? (__mmask16)0xFFFF : count <= 0 ? (__mmask16)0 : (__mmask16)((1u << count) - 1);
}

// Word j of the result: the bf16 of lo[j] (low half) and of hi[j] (high half), each rounded to
// nearest even. VCVTNE2PS2BF16 puts lo's 16 values in words 0..15 and hi's in 16..31; the
// permutation interleaves them.
BF16 static inline __m512i pair_words(__m512 lo, __m512 hi) {
    const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                                23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

BF16 static inline uint32_t pair_word(float lo, float hi) {
    return (uint32_t)_mm_cvtsi128_si32(_mm512_castsi512_si128(pair_words(_mm512_set1_ps(lo), _mm512_set1_ps(hi))));
}

#endif
