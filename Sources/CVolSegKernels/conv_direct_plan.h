// What the direct convolution kernels (conv_direct_avx2.c, conv_direct_avx512.c) share: the output
// geometry, the panel of zero-padded input rows and how a convolution is cut into register tiles.
//
// A panel holds, for a group of up to 8 output rows of one plane, `lines` x kD x span input rows of
// `panel_width` words each: a line is one input channel (Float32) or a pair of them (bf16 pair
// words, conv_direct_avx512.c); either way a word is 4 bytes. Output row oh + i of the group reads
// panel rows j = sH i + kh, so rows that share input rows read them once (span = sH (rows - 1) + kH).
// With a stride sW along W a panel row holds the padded input row in sW phases (phase p: padded
// positions p, p + sW, ...), so tap kw of output column o reads phase kw % sW at o + kw / sW: the
// vectors of outputs still read consecutive words. The AVX2 kernel takes stride 1 only.

#ifndef VOLSEG_CONV_DIRECT_PLAN_H
#define VOLSEG_CONV_DIRECT_PLAN_H

#include "volseg_kernels.h"

#include <immintrin.h>

static inline int dc_kernel_volume(const volseg_conv_shape *s) { return s->kd * s->kh * s->kw; }
static inline int dc_output_width(const volseg_conv_shape *s) { return (s->w + 2 * s->pw - s->kw) / s->sw + 1; }
static inline int dc_output_height(const volseg_conv_shape *s) { return (s->h + 2 * s->ph - s->kh) / s->sh + 1; }
static inline int dc_output_depth(const volseg_conv_shape *s) { return (s->d + 2 * s->pd - s->kd) / s->sd + 1; }

// Words of one phase of a panel row: every tap of every output vector of `vector` lanes reads
// inside it, (OW rounded up to the vector) + (kW - 1) / sW; with stride 1 that is at least pW + W,
// so the whole padded input row fits.
static inline int dc_phase_width(const volseg_conv_shape *s, int vector) {
    return (dc_output_width(s) + vector - 1) / vector * vector + (s->kw - 1) / s->sw;
}

static inline int dc_panel_width(const volseg_conv_shape *s, int vector) { return s->sw * dc_phase_width(s, vector); }

// Panel rows per (line, kd) for a group of `rows` output rows.
static inline int dc_row_span(const volseg_conv_shape *s, int rows) { return s->sh * (rows - 1) + s->kh; }

static inline long dc_panel_rows(const volseg_conv_shape *s, int lines, int rows) {
    return (long)lines * s->kd * dc_row_span(s, rows);
}

// The most output rows (up to 8) whose shared panel stays within 256 KiB (half of a 512 KiB L2, the
// smallest here), at least 1. Up to 8 rather than 4: each input row is filled (kH + R - 1) / R
// times instead of 1.5 times, measured on the 2-core Zen 4 (C harness, one thread, 48 planes,
// two interleaved runs) 5-8% faster on the network's shapes in all three kernels, e.g. 16 -> 16
// channels at 128^2: bf16 161 -> 173 GFLOP/s, Float32 AVX-512 87 -> 91, AVX2 76-85 -> 91-92.
static inline int dc_most_group_rows(const volseg_conv_shape *s, int lines, int vector) {
    int rows = 8;
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

// The `nv` output vectors of the tile that starts at vector `first` of a row group's `vectors`
// (`per_row` a row, `vector` lanes each): the group row (slot) and first column (w0) of each, and
// where it starts in the panel (its first panel row lies `row_stride` words per slot on). A vector
// past the last repeats the first, so the tile still runs whole; its results are not stored.
static inline void dc_tile_vectors(int first, int vectors, int per_row, int vector, int nv, long row_stride,
                                   const float *panel, const float **src, int *slot, int *w0) {
    for (int v = 0; v < nv; v++) {
        const int index = first + v < vectors ? first + v : first;
        slot[v] = index / per_row;
        w0[v] = index % per_row * vector;
        src[v] = panel + slot[v] * row_stride + w0[v];
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
