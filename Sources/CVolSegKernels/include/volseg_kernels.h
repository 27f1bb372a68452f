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

#ifdef __cplusplus
}
#endif

#endif
