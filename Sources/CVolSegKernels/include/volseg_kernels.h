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

/// 1 when this CPU runs `volseg_sgemm_bf16` (AVX-512F and AVX512_BF16), else 0. Checked once, cached.
int volseg_sgemm_bf16_available(void);

/// `volseg_sgemm`'s contract with bf16 products: op(A) and op(B) are rounded to bfloat16 (to nearest
/// even) as they are packed, and the products are summed in Float32. C stays Float32. Only call it
/// when volseg_sgemm_bf16_available() returns 1.
void volseg_sgemm_bf16(int transA, int transB, int m, int n, int k, float alpha,
                       const float *a, int lda, const float *b, int ldb,
                       float beta, float *c, int ldc);

/// dst[i] = src[i] rounded to bfloat16 as `volseg_sgemm_bf16` rounds its inputs, as a Float32.
/// Only call it when volseg_sgemm_bf16_available() returns 1.
void volseg_bf16_round(const float *src, float *dst, long count);

/// 1 when the CPU has AVX2 and FMA (the AVX2 kernels' and peak's requirement), else 0.
int volseg_cpu_supports_avx2_fma(void);
/// 1 when the CPU has AVX-512F, else 0.
int volseg_cpu_supports_avx512f(void);

/// A 3D convolution of one batch item and one group, for the direct kernels (conv_direct_avx2.c
/// takes stride 1 only, conv_direct_avx512.c also sW 2 and any sD, sH): input [cin][d][h][w],
/// weight [cout][cin][kd][kh][kw], zero padding pd, ph, pw on both sides, strides sd, sh, sw; the
/// output is [cout][(d + 2pd - kd) / sd + 1][(h + 2ph - kh) / sh + 1][(w + 2pw - kw) / sw + 1].
/// The kernels read the input through `channels`: cin pointers, channels[c] the start of channel
/// c's [d][h][w] volume, so the channels may lie in different tensors (a U-Net decoder convolves
/// the concatenation of the upsampled tensor and the skip without building it).
typedef struct volseg_conv_shape {
    int cin, d, h, w, cout, kd, kh, kw, pd, ph, pw, sd, sh, sw;
} volseg_conv_shape;

/// Blocks of output channels (the tile's 4 or 6 rows) the packed weight holds: the unit
/// `volseg_conv_direct_pack` packs.
long volseg_conv_direct_weight_blocks(const volseg_conv_shape *s);
/// Floats of the packed weight: blocks x tile rows x cin x kd x kh x kw (rows past cout are zeros).
long volseg_conv_direct_packed_count(const volseg_conv_shape *s);
/// Floats of scratch one call of `volseg_conv3d_direct_avx2` needs: one panel of zero-padded input
/// rows for up to 8 output rows (at most about 256 KiB where the channels allow).
long volseg_conv_direct_scratch_count(const volseg_conv_shape *s);
/// Packs blocks [block_begin, block_end) of `weight` into `packed` (callers may split the blocks
/// over threads).
void volseg_conv_direct_pack(const volseg_conv_shape *s, const float *weight, float *packed,
                             long block_begin, long block_end);
/// Output rows [row_begin, row_end) (row = od x OH + oh) of every output channel, plus `bias`
/// (NULL for none), written to `y`. `panel` holds `volseg_conv_direct_scratch_count` floats and
/// belongs to this call alone. Single-threaded; only call it where the CPU has AVX2 and FMA.
void volseg_conv3d_direct_avx2(const volseg_conv_shape *s, const float *const *channels, const float *packed,
                               const float *bias, float *y, int row_begin, int row_end, float *panel);

/// 1 when `volseg_conv3d_direct_weight_grad_avx2` takes this shape (kw == 3, cout a multiple of 4).
int volseg_conv_direct_weight_grad_applies(const volseg_conv_shape *s);
/// Floats of scratch one call of the weight-gradient kernel needs (a panel and the gradient's rows).
long volseg_conv_direct_weight_grad_scratch_count(const volseg_conv_shape *s);
/// Floats of one worker's lane partials: cout x cin x kd x kh x 3 x 8, zeroed before the first call.
long volseg_conv_direct_weight_grad_sums_count(const volseg_conv_shape *s);
/// Adds output rows [row_begin, row_end)'s share of dL/dweight, for the input `channels` and output gradient
/// `gy`, into the lane partials `sums`: weight element (co, ci, kd, kh, kw) is the sum over the 8
/// lanes of sums[((co x cin kd kh + (ci kd + kd) kh + kh) x 3 + kw) x 8 + lane]. Single-threaded;
/// AVX2 and FMA; only for shapes `volseg_conv_direct_weight_grad_applies` takes.
void volseg_conv3d_direct_weight_grad_avx2(const volseg_conv_shape *s, const float *const *channels, const float *gy,
                                           int row_begin, int row_end, float *scratch, float *sums);

/// The AVX-512 direct kernel (conv_direct_avx512.c), Float32 (bf16 == 0; AVX-512F) or bf16
/// (bf16 != 0: inputs and weights rounded to bfloat16, products summed in Float32; AVX512_BF16),
/// 1 when it takes this shape (stride 1 or 2 along W, any along D and H; kW <= 64; outputs at
/// least 16 wide; at least 80% of its tiles' FMAs useful), else 0.
int volseg_conv_direct512_applies(const volseg_conv_shape *s, int bf16);
/// Blocks of output channels (the tile's 4, 6 or 8 rows) the packed weight holds.
long volseg_conv_direct512_weight_blocks(const volseg_conv_shape *s, int bf16);
/// 4-byte words of the packed weight (Floats, or bf16 pair words under bf16).
long volseg_conv_direct512_packed_count(const volseg_conv_shape *s, int bf16);
/// 4-byte words of the panel one call of `volseg_conv3d_direct_avx512` needs (about 256 KiB at most
/// where the channels allow).
long volseg_conv_direct512_scratch_count(const volseg_conv_shape *s, int bf16);
/// Packs (and under bf16 rounds) blocks [block_begin, block_end) of `weight` into `packed`.
void volseg_conv_direct512_pack(const volseg_conv_shape *s, int bf16, const float *weight, float *packed,
                                long block_begin, long block_end);
/// `volseg_conv3d_direct_avx2`'s contract with the AVX-512 kernel: output rows [row_begin,
/// row_end) of every output channel, plus `bias` (NULL for none). Single-threaded; only for shapes
/// `volseg_conv_direct512_applies` takes, on a CPU with AVX-512F (and AVX512_BF16 under bf16).
void volseg_conv3d_direct_avx512(const volseg_conv_shape *s, int bf16, const float *const *channels, const float *packed,
                                 const float *bias, float *y, int row_begin, int row_end, float *panel);

/// FMA peak probes (fma_peak.c): `iterations` rounds of 24 independent 16-lane FMAs (768 FLOPs a
/// round) or 12 independent 8-lane FMAs (192 FLOPs a round). Only call each where the CPU has it.
float volseg_fma_chains_avx512(long iterations);
float volseg_fma_chains_avx2(long iterations);
/// `iterations` rounds of 24 independent 16-lane VDPBF16PS (1536 FLOPs a round): the bf16 peak.
/// Only call it where volseg_sgemm_bf16_available() returns 1.
float volseg_dpbf16_chains_avx512(long iterations);

#ifdef __cplusplus
}
#endif

#endif
