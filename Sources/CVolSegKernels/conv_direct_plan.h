// What the direct convolution kernels (conv_direct_avx2.c, conv_direct_avx512.c) share: the output
// geometry, the panel of zero-padded input rows and how a convolution is cut into register tiles.
//
// A panel holds, for a group of up to 4 output rows of one plane, `lines` x kD x (kH + rows - 1)
// input rows of `panel_width` words each: a line is one input channel (Float32) or a pair of them
// (bf16 pair words, conv_direct_avx512.c); either way a word is 4 bytes. Output row oh + i of the
// group reads panel rows j = kh + i, so rows that share kH - 1 input rows read them once.

#ifndef VOLSEG_CONV_DIRECT_PLAN_H
#define VOLSEG_CONV_DIRECT_PLAN_H

#include "volseg_kernels.h"

#include <immintrin.h>

static inline int dc_kernel_volume(const volseg_conv_shape *s) { return s->kd * s->kh * s->kw; }
static inline int dc_output_width(const volseg_conv_shape *s) { return s->w + 2 * s->pw - s->kw + 1; }
static inline int dc_output_height(const volseg_conv_shape *s) { return s->h + 2 * s->ph - s->kh + 1; }
static inline int dc_output_depth(const volseg_conv_shape *s) { return s->d + 2 * s->pd - s->kd + 1; }

// Every tap of every output vector of `vector` lanes reads inside its panel row: (OW rounded up to
// the vector) + kW - 1, which is at least pW + W, so the whole padded input row fits.
static inline int dc_panel_width(const volseg_conv_shape *s, int vector) {
    return (dc_output_width(s) + vector - 1) / vector * vector + s->kw - 1;
}

static inline long dc_panel_rows(const volseg_conv_shape *s, int lines, int rows) {
    return (long)lines * s->kd * (s->kh + rows - 1);
}

// The most output rows (up to 4) whose shared panel stays within 256 KiB (half of a 512 KiB L2, the
// smallest here), at least 1.
static inline int dc_most_group_rows(const volseg_conv_shape *s, int lines, int vector) {
    int rows = 4;
    while (rows > 1 && dc_panel_rows(s, lines, rows) * dc_panel_width(s, vector) * 4 > (256 << 10)) rows--;
    return rows;
}

// A tile: mr output channels x nv output vectors, held in registers through every tap.
typedef struct { int mr, nv, rows; } dc_tile_plan;

// Of the tile shapes {mr, nv} offered and the row counts that fit, the one that wastes the fewest
// FMAs on zero weight rows (Cout not a multiple of mr) and on vectors past the group's last (its
// vector count not a multiple of nv); ties go to more rows, then to the shape offered later.
// `use` (may be NULL) receives the fraction of the FMAs that count.
static inline dc_tile_plan dc_plan_tiles(const volseg_conv_shape *s, int lines, int vector, const int (*shapes)[2],
                                         int shape_count, double *use) {
    const int per_row = (dc_output_width(s) + vector - 1) / vector, most = dc_most_group_rows(s, lines, vector);
    dc_tile_plan best = {shapes[0][0], shapes[0][1], 1};
    double best_use = -1;
    for (int rows = 1; rows <= most; rows++) {
        for (int t = 0; t < shape_count; t++) {
            const int mr = shapes[t][0], nv = shapes[t][1], vectors = rows * per_row;
            const double u = (double)s->cout / ((s->cout + mr - 1) / mr * mr) * vectors / ((vectors + nv - 1) / nv * nv);
            if (u >= best_use - 1e-9) {
                best_use = u;
                best = (dc_tile_plan){mr, nv, rows};
            }
        }
    }
    if (use) *use = best_use;
    return best;
}

// The Float32 panel of `count` output rows (od, oh ...): row (ci, kd, j) holds input row
// (ci, od - pd + kd, oh - ph + j) for j < kH + count - 1, after pW zeros and followed by zeros up
// to `wp`, or only zeros where that row is outside the input. (AVX2 code: every CPU with either
// kernel has it.)
__attribute__((target("avx2,fma"))) static inline void
dc_fill_panel(const volseg_conv_shape *s, const float *x, int od, int oh, int count, int wp, float *panel) {
    const int w = s->w, pw = s->pw, span = s->kh + count - 1;
    const long plane = (long)s->h * w, channel = plane * s->d;
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
                const float *src = x + ci * channel + id * plane + (long)ih * w;
                for (; i < pw; i++) dst[i] = 0;
                float *d = dst + pw;
                int c = 0;
                for (; c + 8 <= w; c += 8) _mm256_storeu_ps(d + c, _mm256_loadu_ps(src + c));
                for (; c < w; c++) d[c] = src[c];
                for (i = pw + w; i < wp; i++) dst[i] = 0;
            }
}

// The group of output rows that starts at `row` (od x OH + oh) within [row, row_end): up to `most`
// rows, all in one plane (they share its panel).
static inline int dc_group_rows(const volseg_conv_shape *s, int row, int row_end, int most) {
    const int oh_count = dc_output_height(s), oh = row % oh_count;
    int count = most;
    if (count > row_end - row) count = row_end - row;
    if (count > oh_count - oh) count = oh_count - oh;
    return count;
}

#endif
