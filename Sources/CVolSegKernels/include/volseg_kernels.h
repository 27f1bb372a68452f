#ifndef VOLSEG_KERNELS_H
#define VOLSEG_KERNELS_H

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when this CPU runs `volseg_sgemm`'s AVX-512 kernel (AVX-512F), else 0. Checked once, cached.
int volseg_sgemm_available(void);

/// Row-major single-precision GEMM, as cblas_sgemm(CblasRowMajor, ...):
/// C = alpha * op(A) * op(B) + beta * C, op(A) m x k, op(B) k x n; transA/transB nonzero = transposed.
/// beta == 0 never reads C. Single-threaded: callers split work over threads themselves.
/// Only call it when volseg_sgemm_available() returns 1.
void volseg_sgemm(int transA, int transB, int m, int n, int k, float alpha,
                  const float *a, int lda, const float *b, int ldb,
                  float beta, float *c, int ldc);

/// 1 when this CPU runs `volseg_sgemm_avx2` (AVX2 and FMA), else 0.
int volseg_sgemm_avx2_available(void);

/// `volseg_sgemm` with the AVX2 + FMA kernel (6 x 16 tiles): the same contract, for CPUs without
/// AVX-512. Only call it when volseg_sgemm_avx2_available() returns 1.
void volseg_sgemm_avx2(int transA, int transB, int m, int n, int k, float alpha,
                       const float *a, int lda, const float *b, int ldb,
                       float beta, float *c, int ldc);

/// 1 when the CPU has AVX2 and FMA (the AVX2 kernels' and peak's requirement), else 0.
int volseg_cpu_supports_avx2_fma(void);
/// 1 when the CPU has AVX-512F, else 0.
int volseg_cpu_supports_avx512f(void);

/// FMA peak probes (fma_peak.c): `iterations` rounds of 24 independent 16-lane FMAs (768 FLOPs a
/// round) or 12 independent 8-lane FMAs (192 FLOPs a round). Only call each where the CPU has it.
float volseg_fma_chains_avx512(long iterations);
float volseg_fma_chains_avx2(long iterations);

#ifdef __cplusplus
}
#endif

#endif
