// Direct 3D convolution with stride 1, AVX2 + FMA, on NCDHW tensors as the network keeps them.
//
// Why not im2col + GEMM here: a GEMM packs its operand panel again for every call and adds the kW
// taps through C in memory. This kernel reads each output row's inputs from one small panel of
// zero-padded input rows (Cin x kD x kH rows: tens to hundreds of KiB, in L2, contiguous, so
// channels whose planes lie a power of two apart do not fight over the same cache sets; read in
// place, they made the first version of this kernel run at a third of the speed) and keeps a tile
// of output channels x vectors of 8 outputs in 12 registers through every tap (6 x 2, BLIS's
// Haswell tile: 2 loads of the panel and 6 broadcasts of packed weights per 12 FMAs; or 4 x 3).
// Up to 8 output rows of one plane share a panel (see plan_tiles), and their output vectors are
// taken as one list, so a row 8 wide (the network's bottom) still fills a tile with the next
// row's vectors.
//
// Tried and dropped: reading the input in place with masked loads at the row ends instead of a
// panel (0.35-0.45 of the FMA peak on 32 channels at 64^3 against 0.6-0.75 with the panel); tiles
// outer and channel blocks inner (the panel slice of a tile does not fit L1, so nothing is gained
// and the weights leave L1); prefetching the next panel's input lines while the tiles of this one
// run (no gain, within the noise).

#include "volseg_kernels.h"
#include "conv_direct_plan.h"

#include <immintrin.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma")))

#define MAX_MR 6 // output channels per tile: 6 (6 x 2 tile) or 4 (4 x 3)
#define MAX_NV 3 // vectors of 8 outputs per tile: 2 or 3

// Every output vector is 8 lanes; tiles MR x NV = 6 x 2 or 4 x 3 (4 x 3 loads 7 values per 12 FMAs
// where 6 x 2 loads 8), planned by dc_plan_tiles (conv_direct_plan.h): the fewest FMAs wasted on
// zero weight rows and on vectors past a row group's last, ties to more rows per panel, then to
// 4 x 3. Sharing a panel between rows (up to 8) matters: measured on 16 channels at 128^3, filling
// was a quarter of the time with one panel per row. Measured (2-core Zen 3, best of 5 interleaved
// runs, GFLOP/s): 16 -> 16 channels at 128^3 6 x 2 137-144, 4 x 3 146-152; 32 -> 32 at 64^3
// 153-156 against 162-166.
static const int tile_shapes[2][2] = {{6, 2}, {4, 3}};

static int kernel_volume(const volseg_conv_shape *s) { return dc_kernel_volume(s); }
static int output_width(const volseg_conv_shape *s) { return dc_output_width(s); }
static int panel_width(const volseg_conv_shape *s) { return dc_panel_width(s, 8); }
static long panel_rows_count(const volseg_conv_shape *s, int rows) { return dc_panel_rows(s, s->cin, rows); }
static int most_group_rows(const volseg_conv_shape *s) { return dc_most_group_rows(s, s->cin, 8); }
static dc_tile_plan plan_tiles(const volseg_conv_shape *s) { return dc_plan_tiles(s, s->cin, 8, tile_shapes, 2, 0); }

static long panel_count(const volseg_conv_shape *s) { return panel_rows_count(s, plan_tiles(s).rows) * panel_width(s); }
static long block_count(const volseg_conv_shape *s) { int mr = plan_tiles(s).mr; return (s->cout + mr - 1) / mr; }

long volseg_conv_direct_weight_blocks(const volseg_conv_shape *s) { return block_count(s); }

long volseg_conv_direct_packed_count(const volseg_conv_shape *s) {
    return block_count(s) * plan_tiles(s).mr * s->cin * kernel_volume(s);
}

long volseg_conv_direct_scratch_count(const volseg_conv_shape *s) { return panel_count(s); }

void volseg_conv_direct_pack(const volseg_conv_shape *s, const float *weight, float *packed, long block_begin, long block_end) {
    const long taps = (long)s->cin * kernel_volume(s);
    const int mr = plan_tiles(s).mr;
    for (long b = block_begin; b < block_end; b++)
        for (long t = 0; t < taps; t++)
            for (int j = 0; j < mr; j++) {
                long co = b * mr + j;
                packed[(b * taps + t) * mr + j] = co < s->cout ? weight[co * taps + t] : 0;
            }
}

// The Float32 panel of `count` output rows (od, oh ...): row (ci, kd, j) holds input row
// (ci, od - pd + kd, oh - ph + j) for j < kH + count - 1, after pW zeros and followed by zeros up
// to `wp`, or only zeros where that row is outside the input.
AVX2 static void fill_panel(const volseg_conv_shape *s, const float *const *channels, int od, int oh, int count, int wp,
                            float *panel) {
    const int w = s->w, pw = s->pw, span = s->kh + count - 1;
    const long plane = (long)s->h * w;
    const __m256 zero = _mm256_setzero_ps();
    float *dst = panel;
    for (int ci = 0; ci < s->cin; ci++)
        for (int kd = 0; kd < s->kd; kd++)
            for (int j = 0; j < span; j++, dst += wp) {
                int id = od - s->pd + kd, ih = oh - s->ph + j;
                int i = 0;
                if (id < 0 || id >= s->d || ih < 0 || ih >= s->h) {
                    for (; i + 8 <= wp; i += 8) _mm256_storeu_ps(dst + i, zero);
                    for (; i < wp; i++) dst[i] = 0;
                    continue;
                }
                const float *src = channels[ci] + id * plane + (long)ih * w;
                for (; i < pw; i++) dst[i] = 0;
                float *d = dst + pw;
                int c = 0;
                for (; c + 8 <= w; c += 8) _mm256_storeu_ps(d + c, _mm256_loadu_ps(src + c));
                for (; c < w; c++) d[c] = src[c];
                for (i = pw + w; i < wp; i++) dst[i] = 0;
            }
}

// The tiles: acc[j][v] += sum over (ci, kd) blocks c, taps kh and kw of weights[c][kh][kw][j] *
// src[v][(c span + kh) wp + kw + lane]. Each is its own function with its accumulators in named
// variables: inlined into the row loop, clang kept one 6 x 2 accumulator on the stack (half the
// speed), and for 4 x 3, which needs all 16 registers, it spilled even then, so that tap is
// written out in assembly with the accumulators pinned to ymm0-11 by the clobbers.
#define FMA_ROW(j)                                              \
    b = _mm256_broadcast_ss(wk + j);                            \
    a##j##0 = _mm256_fmadd_ps(b, x0, a##j##0);                  \
    a##j##1 = _mm256_fmadd_ps(b, x1, a##j##1);

__attribute__((target("avx2,fma"), noinline)) static void
tile_6x2(int blocks, int kh_count, int span, int wp, int kw, const float *const src[MAX_NV], const float *weights,
         __m256 acc[MAX_MR][MAX_NV]) {
    __m256 a00 = acc[0][0], a01 = acc[0][1], a10 = acc[1][0], a11 = acc[1][1], a20 = acc[2][0], a21 = acc[2][1];
    __m256 a30 = acc[3][0], a31 = acc[3][1], a40 = acc[4][0], a41 = acc[4][1], a50 = acc[5][0], a51 = acc[5][1];
    const float *wk = weights;
    for (int c = 0; c < blocks; c++) {
        for (int kh = 0; kh < kh_count; kh++) {
            const long offset = ((long)c * span + kh) * wp;
            const float *r0 = src[0] + offset, *r1 = src[1] + offset;
            for (int k = 0; k < kw; k++, wk += 6) {
                __m256 x0 = _mm256_loadu_ps(r0 + k), x1 = _mm256_loadu_ps(r1 + k), b;
                FMA_ROW(0) FMA_ROW(1) FMA_ROW(2) FMA_ROW(3) FMA_ROW(4) FMA_ROW(5)
            }
        }
    }
    acc[0][0] = a00; acc[0][1] = a01; acc[1][0] = a10; acc[1][1] = a11; acc[2][0] = a20; acc[2][1] = a21;
    acc[3][0] = a30; acc[3][1] = a31; acc[4][0] = a40; acc[4][1] = a41; acc[5][0] = a50; acc[5][1] = a51;
}

// One tap of the 4 x 3 tile: 3 loads of the panel, 4 broadcasts of weights, 12 FMAs.
#define TAP_4x3(p0, p1, p2, w)                                                                        \
    __asm__ volatile("vmovups (%[q0]), %%ymm12\n\t"                                                   \
                     "vmovups (%[q1]), %%ymm13\n\t"                                                   \
                     "vmovups (%[q2]), %%ymm14\n\t"                                                   \
                     "vbroadcastss 0(%[ww]), %%ymm15\n\t"                                             \
                     "vfmadd231ps %%ymm12, %%ymm15, %[a00]\n\t"                                       \
                     "vfmadd231ps %%ymm13, %%ymm15, %[a01]\n\t"                                       \
                     "vfmadd231ps %%ymm14, %%ymm15, %[a02]\n\t"                                       \
                     "vbroadcastss 4(%[ww]), %%ymm15\n\t"                                             \
                     "vfmadd231ps %%ymm12, %%ymm15, %[a10]\n\t"                                       \
                     "vfmadd231ps %%ymm13, %%ymm15, %[a11]\n\t"                                       \
                     "vfmadd231ps %%ymm14, %%ymm15, %[a12]\n\t"                                       \
                     "vbroadcastss 8(%[ww]), %%ymm15\n\t"                                             \
                     "vfmadd231ps %%ymm12, %%ymm15, %[a20]\n\t"                                       \
                     "vfmadd231ps %%ymm13, %%ymm15, %[a21]\n\t"                                       \
                     "vfmadd231ps %%ymm14, %%ymm15, %[a22]\n\t"                                       \
                     "vbroadcastss 12(%[ww]), %%ymm15\n\t"                                            \
                     "vfmadd231ps %%ymm12, %%ymm15, %[a30]\n\t"                                       \
                     "vfmadd231ps %%ymm13, %%ymm15, %[a31]\n\t"                                       \
                     "vfmadd231ps %%ymm14, %%ymm15, %[a32]\n\t"                                       \
                     : [a00] "+x"(a00), [a01] "+x"(a01), [a02] "+x"(a02), [a10] "+x"(a10),           \
                       [a11] "+x"(a11), [a12] "+x"(a12), [a20] "+x"(a20), [a21] "+x"(a21),           \
                       [a22] "+x"(a22), [a30] "+x"(a30), [a31] "+x"(a31), [a32] "+x"(a32)            \
                     : [q0] "r"(p0), [q1] "r"(p1), [q2] "r"(p2), [ww] "r"(w)                          \
                     : "xmm12", "xmm13", "xmm14", "xmm15", "memory")

__attribute__((target("avx2,fma"), noinline)) static void
tile_4x3(int blocks, int kh_count, int span, int wp, int kw, const float *const src[MAX_NV], const float *weights,
         __m256 acc[MAX_MR][MAX_NV]) {
    __m256 a00 = acc[0][0], a01 = acc[0][1], a02 = acc[0][2], a10 = acc[1][0], a11 = acc[1][1], a12 = acc[1][2];
    __m256 a20 = acc[2][0], a21 = acc[2][1], a22 = acc[2][2], a30 = acc[3][0], a31 = acc[3][1], a32 = acc[3][2];
    const float *wk = weights;
    for (int c = 0; c < blocks; c++) {
        for (int kh = 0; kh < kh_count; kh++) {
            const long offset = ((long)c * span + kh) * wp;
            const float *r0 = src[0] + offset, *r1 = src[1] + offset, *r2 = src[2] + offset;
            for (int k = 0; k < kw; k++, wk += 4) TAP_4x3(r0 + k, r1 + k, r2 + k, wk);
        }
    }
    acc[0][0] = a00; acc[0][1] = a01; acc[0][2] = a02; acc[1][0] = a10; acc[1][1] = a11; acc[1][2] = a12;
    acc[2][0] = a20; acc[2][1] = a21; acc[2][2] = a22; acc[3][0] = a30; acc[3][1] = a31; acc[3][2] = a32;
}

AVX2 void volseg_conv3d_direct_avx2(const volseg_conv_shape *s, const float *const *channels, const float *packed,
                                    const float *bias, float *y, int row_begin, int row_end, float *panel) {
    const int ow = output_width(s), oh_count = dc_output_height(s);
    const long out_channel = (long)dc_output_depth(s) * oh_count * ow;
    const dc_tile_plan plan = plan_tiles(s);
    const int mr = plan.mr, nv = plan.nv, most = plan.rows;
    const int blocks = (int)block_count(s), wp = panel_width(s), planes = s->cin * s->kd;
    const long block_stride = (long)s->cin * kernel_volume(s) * mr;
    const int per_row = (ow + 7) / 8;

    for (int row = row_begin; row < row_end;) {
        const int od = row / oh_count, oh = row % oh_count, count = dc_group_rows(s, row, row_end, most);
        const int span = s->kh + count - 1;
        fill_panel(s, channels, od, oh, count, wp, panel);
        const int vectors = count * per_row;
        for (int b = 0; b < blocks; b++) {
            const float *weights = packed + b * block_stride;
            const int live = s->cout - b * mr < mr ? s->cout - b * mr : mr;
            for (int first = 0; first < vectors; first += nv) {
                const float *src[MAX_NV];
                int slot[MAX_NV], w0[MAX_NV];
                dc_tile_vectors(first, vectors, per_row, 8, nv, wp, panel, src, slot, w0);
                __m256 acc[MAX_MR][MAX_NV];
                for (int j = 0; j < mr; j++) {
                    const __m256 start = _mm256_set1_ps(bias && j < live ? bias[b * mr + j] : 0.f);
                    for (int v = 0; v < nv; v++) acc[j][v] = start;
                }
                if (mr == 4) tile_4x3(planes, s->kh, span, wp, s->kw, src, weights, acc);
                else tile_6x2(planes, s->kh, span, wp, s->kw, src, weights, acc);
                for (int v = 0; v < nv && first + v < vectors; v++) {
                    const int lanes_live = ow - w0[v] < 8 ? ow - w0[v] : 8;
                    float *out = y + (long)(row + slot[v]) * ow + w0[v];
                    for (int j = 0; j < live; j++) {
                        float *dst = out + (b * mr + j) * out_channel;
                        if (lanes_live == 8) {
                            _mm256_storeu_ps(dst, acc[j][v]);
                        } else {
                            float lanes[8];
                            _mm256_storeu_ps(lanes, acc[j][v]);
                            memcpy(dst, lanes, lanes_live * sizeof(float));
                        }
                    }
                }
            }
        }
        row += count;
    }
}

// ---- Weight gradient ----
//
// dW[co][ci][kd][kh][kw] = sum over output rows and columns of gy[co][row][col] times the input
// under tap (kd, kh, kw): the same panels, read against the gradient's rows instead of weights.
// A tile is 4 output channels x the 3 taps kw of one panel row, summed over the group's output
// vectors lane by lane; each worker adds its tiles into its own lane partials, which the caller
// adds up (over workers, then lanes, in a fixed order: bit-reproducible). Only for kW = 3 and Cout
// a multiple of 4 (the network's convolutions); others go to the GEMM.

// One output vector of the weight-gradient tile: 3 loads of the panel (taps kw = 0, 1, 2), 4 of
// the gradient (one per output channel), 12 FMAs; as TAP_4x3, in assembly for the registers.
#define WEIGHT_TAP(g0, g1, g2, g3, p)                                                                 \
    __asm__ volatile("vmovups (%[q]), %%ymm12\n\t"                                                    \
                     "vmovups 4(%[q]), %%ymm13\n\t"                                                   \
                     "vmovups 8(%[q]), %%ymm14\n\t"                                                   \
                     "vmovups (%[h0]), %%ymm15\n\t"                                                   \
                     "vfmadd231ps %%ymm12, %%ymm15, %[a00]\n\t"                                       \
                     "vfmadd231ps %%ymm13, %%ymm15, %[a01]\n\t"                                       \
                     "vfmadd231ps %%ymm14, %%ymm15, %[a02]\n\t"                                       \
                     "vmovups (%[h1]), %%ymm15\n\t"                                                   \
                     "vfmadd231ps %%ymm12, %%ymm15, %[a10]\n\t"                                       \
                     "vfmadd231ps %%ymm13, %%ymm15, %[a11]\n\t"                                       \
                     "vfmadd231ps %%ymm14, %%ymm15, %[a12]\n\t"                                       \
                     "vmovups (%[h2]), %%ymm15\n\t"                                                   \
                     "vfmadd231ps %%ymm12, %%ymm15, %[a20]\n\t"                                       \
                     "vfmadd231ps %%ymm13, %%ymm15, %[a21]\n\t"                                       \
                     "vfmadd231ps %%ymm14, %%ymm15, %[a22]\n\t"                                       \
                     "vmovups (%[h3]), %%ymm15\n\t"                                                   \
                     "vfmadd231ps %%ymm12, %%ymm15, %[a30]\n\t"                                       \
                     "vfmadd231ps %%ymm13, %%ymm15, %[a31]\n\t"                                       \
                     "vfmadd231ps %%ymm14, %%ymm15, %[a32]\n\t"                                       \
                     : [a00] "+x"(a00), [a01] "+x"(a01), [a02] "+x"(a02), [a10] "+x"(a10),           \
                       [a11] "+x"(a11), [a12] "+x"(a12), [a20] "+x"(a20), [a21] "+x"(a21),           \
                       [a22] "+x"(a22), [a30] "+x"(a30), [a31] "+x"(a31), [a32] "+x"(a32)            \
                     : [q] "r"(p), [h0] "r"(g0), [h1] "r"(g1), [h2] "r"(g2), [h3] "r"(g3)             \
                     : "xmm12", "xmm13", "xmm14", "xmm15", "memory")

// sums[j][kw] lanes += over the group's slots and vectors of gy[j][slot][vector] x
// panel_row[slot][vector + kw], for the 4 output channels j; sums[j] lies j * sum_stride on.
__attribute__((target("avx2,fma"), noinline)) static void
weight_tile(int count, int vector_floats, int gy_stride, int wp, const float *gy, const float *panel_row, float *sums,
            long sum_stride) {
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
    __m256 a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
    for (int slot = 0; slot < count; slot++) {
        const float *g = gy + (long)slot * vector_floats, *p = panel_row + (long)slot * wp;
        for (int v = 0; v < vector_floats; v += 8)
            WEIGHT_TAP(g + v, g + gy_stride + v, g + 2 * gy_stride + v, g + 3 * gy_stride + v, p + v);
    }
    const __m256 acc[4][3] = {{a00, a01, a02}, {a10, a11, a12}, {a20, a21, a22}, {a30, a31, a32}};
    for (int j = 0; j < 4; j++)
        for (int k = 0; k < 3; k++) {
            float *d = sums + j * sum_stride + k * 8;
            _mm256_storeu_ps(d, _mm256_add_ps(_mm256_loadu_ps(d), acc[j][k]));
        }
}

int volseg_conv_direct_weight_grad_applies(const volseg_conv_shape *s) { return s->kw == 3 && s->cout % 4 == 0; }

long volseg_conv_direct_weight_grad_scratch_count(const volseg_conv_shape *s) {
    const int rows = most_group_rows(s), vector_floats = (output_width(s) + 7) / 8 * 8;
    return panel_rows_count(s, rows) * panel_width(s) + (long)s->cout * rows * vector_floats;
}

long volseg_conv_direct_weight_grad_sums_count(const volseg_conv_shape *s) {
    return (long)s->cout * s->cin * s->kd * s->kh * 3 * 8;
}

AVX2 void volseg_conv3d_direct_weight_grad_avx2(const volseg_conv_shape *s, const float *const *channels, const float *gy,
                                                int row_begin, int row_end, float *scratch, float *sums) {
    const int ow = output_width(s), oh_count = dc_output_height(s), wp = panel_width(s), most = most_group_rows(s);
    const int vector_floats = (ow + 7) / 8 * 8, gy_stride = most * vector_floats;
    const long out_channel = (long)dc_output_depth(s) * oh_count * ow;
    const int planes = s->cin * s->kd, panel_rows = planes * s->kh;
    const long sum_stride = (long)panel_rows * 3 * 8;
    float *panel = scratch, *gy_rows = scratch + panel_rows_count(s, most) * wp;

    for (int row = row_begin; row < row_end;) {
        const int od = row / oh_count, oh = row % oh_count, count = dc_group_rows(s, row, row_end, most);
        const int span = s->kh + count - 1;
        fill_panel(s, channels, od, oh, count, wp, panel);
        // The group's gradient rows, zero past OW so the last vector adds nothing: [co][slot][vector_floats].
        for (int co = 0; co < s->cout; co++)
            for (int slot = 0; slot < count; slot++) {
                float *d = gy_rows + (long)co * gy_stride + slot * vector_floats;
                memcpy(d, gy + co * out_channel + (long)(row + slot) * ow, ow * sizeof(float));
                memset(d + ow, 0, (vector_floats - ow) * sizeof(float));
            }
        for (int b = 0; b < s->cout / 4; b++)
            for (int c = 0; c < planes; c++)
                for (int kh = 0; kh < s->kh; kh++)
                    weight_tile(count, vector_floats, gy_stride, wp, gy_rows + (long)b * 4 * gy_stride,
                                panel + ((long)c * span + kh) * wp, sums + ((long)b * 4 * panel_rows + c * s->kh + kh) * 3 * 8,
                                sum_stride);
        row += count;
    }
}
