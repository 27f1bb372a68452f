// The machine's FMA peak, measured: independent fused multiply-add chains on full-width vectors,
// enough of them to cover the FMA latency on every x86 core here (4 cycles, 2 FMA ports: 8 in
// flight; 12 AVX2 and 24 AVX-512 chains). `volseg bench peak` runs these on one thread and on all
// threads, and the other benchmarks report their GFLOP/s as a fraction of it: a ratio against the
// same machine in the same run, where absolute times move by 1.5x between machines.

#include "volseg_kernels.h"

#include <immintrin.h>

int volseg_cpu_supports_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

int volseg_cpu_supports_avx512f(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

// Each call does `iterations` x 24 FMAs of 16 lanes (768 FLOPs per iteration). The result is
// returned so the chains cannot be optimised away; its value means nothing.
__attribute__((target("avx512f"))) float volseg_fma_chains_avx512(long iterations) {
    __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    __m512 c[24];
    for (int i = 0; i < 24; i++) c[i] = _mm512_set1_ps((float)i);
    for (long n = 0; n < iterations; n++) {
#pragma clang loop unroll(full)
        for (int i = 0; i < 24; i++) c[i] = _mm512_fmadd_ps(c[i], a, b);
    }
    __m512 sum = c[0];
    for (int i = 1; i < 24; i++) sum = _mm512_add_ps(sum, c[i]);
    return _mm512_reduce_add_ps(sum);
}

// `iterations` x 12 FMAs of 8 lanes (192 FLOPs per iteration).
__attribute__((target("avx2,fma"))) float volseg_fma_chains_avx2(long iterations) {
    __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    __m256 c[12];
    for (int i = 0; i < 12; i++) c[i] = _mm256_set1_ps((float)i);
    for (long n = 0; n < iterations; n++) {
#pragma clang loop unroll(full)
        for (int i = 0; i < 12; i++) c[i] = _mm256_fmadd_ps(c[i], a, b);
    }
    __m256 sum = c[0];
    for (int i = 1; i < 12; i++) sum = _mm256_add_ps(sum, c[i]);
    float lanes[8];
    _mm256_storeu_ps(lanes, sum);
    return lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7];
}

// `iterations` x 24 VDPBF16PS of 16 lanes, each lane two bf16 products added to a Float32 sum
// (1536 FLOPs per iteration, counting a product and its addition as 2): the peak the bf16 GEMM
// (`volseg_sgemm_bf16`) is measured against.
__attribute__((target("avx512f,avx512bf16"))) float volseg_dpbf16_chains_avx512(long iterations) {
    __m512bh a = (__m512bh)_mm512_set1_epi32(0x3F803F80), b = (__m512bh)_mm512_set1_epi32(0x33D633D6);  // 1.0, 1e-7
    __m512 c[24];
    for (int i = 0; i < 24; i++) c[i] = _mm512_set1_ps((float)i);
    for (long n = 0; n < iterations; n++) {
#pragma clang loop unroll(full)
        for (int i = 0; i < 24; i++) c[i] = _mm512_dpbf16_ps(c[i], a, b);
    }
    __m512 sum = c[0];
    for (int i = 1; i < 24; i++) sum = _mm512_add_ps(sum, c[i]);
    return _mm512_reduce_add_ps(sum);
}
