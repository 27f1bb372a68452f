// Direct 3D convolution on AVX-512 (stride 1, or 2 along W, any along D and H), in Float32 (FMA) or in bf16 (VDPBF16PS pairs
// summed in Float32), on NCDHW tensors as the network keeps them.
//
// The structure of conv_direct_avx2.c (read its header for why a panel and not im2col), with
// 16-lane vectors and the 32 zmm registers: tiles of 8 x 3, 6 x 4 or 4 x 6 output channels x
// vectors of 16 outputs (24 accumulators; the weights are broadcast from memory into each FMA, so
// the panel's vectors are the only other registers held), planned by dc_plan_tiles
// (conv_direct_plan.h).
//
// bf16: a panel line is a pair of input channels (2q, 2q + 1), word w holding the bf16 of both at
// position w (low half the even channel, zero for a missing odd one), rounded to nearest even
// (VCVTNE2PS2BF16) once when the panel is filled; a packed weight word pairs the same two channels
// of one tap. One VDPBF16PS then adds both channels' products to each of 16 Float32 outputs: half
// the instructions of the Float32 tile, half the panel bytes, and the input is rounded once per row
// group instead of once per im2col column (the bf16 GEMM path rounds a 27-times larger panel).
//
// Order: a worker's rows are swept in groups of up to 8 rows of one output plane, moving along D
// with the group's rows fixed (sweep): the panel keeps each line's kD input planes as a ring, so
// the next plane's group reuses kD - sD of them and fills only the new ones (the tiles find each
// plane's rows through plane_offsets). Each output value is still one tile's sum in the same
// order: the results are bit-identical to filling every plane each time.
//
// Strides: along D and H a stride only changes which input rows a panel holds; along W a panel row
// holds the padded input row in sW phases (conv_direct_plan.h), so the stride-2 down-sampling
// convolutions run here too, their panels filled with the even lanes of pairs of loads.
//
// Only for outputs at least 16 wide whose tile plan keeps at least 80% of its FMAs useful
// (volseg_conv_direct512_applies): narrower rows would waste most of each vector, and those
// convolutions (the network's deepest, few FLOPs) stay on the GEMMs.

#include "volseg_kernels.h"

#include <immintrin.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "avx512_words.h"
#include "conv_direct_plan.h"

#define AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,fma")))

#define VECTOR 16
#define MAX_MR 8
#define MAX_NV 6

static const int tile_shapes[3][2] = {{4, 6}, {6, 4}, {8, 3}}; // ties go to 8 x 3: fewest panel loads

// Panel lines: input channels, or pairs of them under bf16.
static int lines(const volseg_conv_shape *s, int bf16) { return bf16 ? (s->cin + 1) / 2 : s->cin; }

static dc_tile_plan plan(const volseg_conv_shape *s, int bf16, double *use) {
    return dc_plan_tiles(s, lines(s, bf16), VECTOR, tile_shapes, 3, use);
}

static long block_count(const volseg_conv_shape *s, int bf16) {
    const int mr = plan(s, bf16, 0).mr;
    return (s->cout + mr - 1) / mr;
}

int volseg_conv_direct512_applies(const volseg_conv_shape *s, int bf16) {
    double use = 0;
    plan(s, bf16, &use);
    return s->sw <= 2 && s->kw <= 64 && s->kd <= 64 && dc_output_width(s) >= VECTOR && use >= 0.8;
}

long volseg_conv_direct512_weight_blocks(const volseg_conv_shape *s, int bf16) { return block_count(s, bf16); }

long volseg_conv_direct512_packed_count(const volseg_conv_shape *s, int bf16) {
    return block_count(s, bf16) * plan(s, bf16, 0).mr * lines(s, bf16) * dc_kernel_volume(s);
}

// The panel, then one int per (line, kd) block: where its ring slot's rows start.
static long panel_words(const volseg_conv_shape *s, int bf16) {
    return dc_panel_rows(s, lines(s, bf16), plan(s, bf16, 0).rows) * dc_panel_width(s, VECTOR);
}

long volseg_conv_direct512_scratch_count(const volseg_conv_shape *s, int bf16) {
    return panel_words(s, bf16) + ((long)lines(s, bf16) * s->kd + VECTOR - 1) / VECTOR * VECTOR;
}

// packed[(b x taps + t) x mr + j] = weight of output channel b mr + j at tap t (zero past cout),
// t running over (line, kd, kh, kw); under bf16 a word pairs channels 2q and 2q + 1 of the tap.
static void pack_float32(const volseg_conv_shape *s, const float *weight, float *packed, long block_begin, long block_end) {
    const long taps = (long)s->cin * dc_kernel_volume(s);
    const int mr = plan(s, 0, 0).mr;
    for (long b = block_begin; b < block_end; b++)
        for (long t = 0; t < taps; t++)
            for (int j = 0; j < mr; j++) {
                const long co = b * mr + j;
                packed[(b * taps + t) * mr + j] = co < s->cout ? weight[co * taps + t] : 0;
            }
}

BF16 static void pack_pairs(const volseg_conv_shape *s, const float *weight, uint32_t *packed, long block_begin, long block_end) {
    const int volume = dc_kernel_volume(s), pairs = lines(s, 1), mr = plan(s, 1, 0).mr;
    const long taps = (long)pairs * volume, per_channel = (long)s->cin * volume;
    for (long b = block_begin; b < block_end; b++)
        for (int q = 0; q < pairs; q++)
            for (int tap = 0; tap < volume; tap++)
                for (int j = 0; j < mr; j++) {
                    const long co = b * mr + j, t = (long)q * volume + tap;
                    float lo = 0, hi = 0;
                    if (co < s->cout) {
                        lo = weight[co * per_channel + (2L * q) * volume + tap];
                        if (2 * q + 1 < s->cin) hi = weight[co * per_channel + (2L * q + 1) * volume + tap];
                    }
                    packed[(b * taps + t) * mr + j] = pair_word(lo, hi);
                }
}

void volseg_conv_direct512_pack(const volseg_conv_shape *s, int bf16, const float *weight, float *packed,
                                long block_begin, long block_end) {
    if (bf16) pack_pairs(s, weight, (uint32_t *)packed, block_begin, block_end);
    else pack_float32(s, weight, packed, block_begin, block_end);
}

// Lane l: row[base + stride l] where 0 <= base + stride l < w, else 0; stride 1 or 2 (the even
// lanes of two loads). Masked-off lanes are not read, so base may lie before or past the row.
AVX512 static inline __m512 strided_row(const float *row, int w, int base, int stride) {
    const __mmask16 m0 = lanes(w - base) & (__mmask16)~lanes(-base);
    const __m512 first = _mm512_maskz_loadu_ps(m0, row + base);
    if (stride == 1) return first;
    const __mmask16 m1 = lanes(w - base - 16) & (__mmask16)~lanes(-base - 16);
    const __m512 second = _mm512_maskz_loadu_ps(m1, row + base + 16);
    const __m512i evens = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    return _mm512_permutex2var_ps(first, evens, second);
}

// One input plane `id` of the panel of `count` output rows (oh ...), into ring slot `slot`: for every
// line, panel rows (line, slot, j) hold input row sH oh - pH + j of plane id of the line's channel
// (Float32) or channels 2q and 2q + 1 as pair words (bf16, zero for a missing odd channel), phase p
// word i being padded position sW i + p; zeros outside the input. One body for both, the store
// differing.
#define DEFINE_FILL(NAME, TARGET, BF16_WORDS)                                                                     \
    TARGET static void NAME(const volseg_conv_shape *s, const float *const *channels, int id, int oh, int count,    \
                            int slot, float *panel) {                                                              \
        const int sw = s->sw, phase = dc_phase_width(s, VECTOR), wp = sw * phase, span = dc_row_span(s, count);    \
        const long plane = (long)s->h * s->w;                                                                     \
        for (int q = 0; q < lines(s, BF16_WORDS); q++) {                                                           \
            float *dst = panel + ((long)q * s->kd + slot) * span * wp;                                             \
            for (int j = 0; j < span; j++, dst += wp) {                                                            \
                const int ih = s->sh * oh - s->ph + j;                                                             \
                if (id < 0 || id >= s->d || ih < 0 || ih >= s->h) {                                                \
                    memset(dst, 0, (size_t)wp * sizeof *dst);                                                      \
                    continue;                                                                                      \
                }                                                                                                  \
                const long at = id * plane + (long)ih * s->w;                                                      \
                const float *lo = channels[BF16_WORDS ? 2 * q : q] + at;                                           \
                const int has_high = BF16_WORDS && 2 * q + 1 < s->cin;                                             \
                const float *hi = has_high ? channels[2 * q + 1] + at : lo;                                        \
                for (int p = 0; p < sw; p++)                                                                       \
                    for (int i = 0; i < phase; i += VECTOR) {                                                      \
                        const int base = sw * i + p - s->pw;                                                       \
                        const __mmask16 m = lanes(phase - i);                                                      \
                        const __m512 l = strided_row(lo, s->w, base, sw);                                          \
                        STORE_##BF16_WORDS(dst + p * phase + i, m, l,                                              \
                                           has_high ? strided_row(hi, s->w, base, sw) : _mm512_setzero_ps());      \
                    }                                                                                              \
            }                                                                                                      \
        }                                                                                                          \
    }
#define STORE_0(dst, m, l, h) _mm512_mask_storeu_ps((dst), (m), (l))
#define STORE_1(dst, m, l, h) _mm512_mask_storeu_epi32((dst), (m), pair_words((l), (h)))

DEFINE_FILL(fill_float32_panel, AVX512, 0)
DEFINE_FILL(fill_pair_panel, BF16, 1)

// The tiles: acc[j][v] += over panel lines x kd blocks c, taps kh and kw of weights[c][kh][kw][j] *
// src[v][plane_offsets[c] + kh wp + taps[kw] + lane] (block c's rows sit where its plane's ring slot is). One function per shape and precision, accumulators in a
// local array the compiler keeps in registers (unrolled by constant bounds; checked in the
// disassembly: no stack traffic in the tap loop).
#define FMA_STEP(acc, x, w) _mm512_fmadd_ps((x), _mm512_set1_ps(*(w)), (acc))
#define DPBF16_STEP(acc, x, w) _mm512_dpbf16_ps((acc), (__m512bh)(x), (__m512bh)_mm512_set1_epi32((int)*(w)))

#define DEFINE_TILE(NAME, TARGET, WORD, STEP, MR, NV)                                                              \
    TARGET __attribute__((noinline)) static void NAME(int blocks, int kh_count, const int *plane_offsets, int wp, int kw, \
                                                      const int *taps, const float *const src[MAX_NV],              \
                                                      const WORD *weights, __m512 acc[MAX_MR][MAX_NV]) {            \
        __m512 a[MR][NV];                                                                                           \
        _Pragma("clang loop unroll(full)") for (int j = 0; j < MR; j++)                                             \
            _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; v++) a[j][v] = acc[j][v];                    \
        const WORD *wk = weights;                                                                                   \
        for (int c = 0; c < blocks; c++)                                                                            \
            for (int kh = 0; kh < kh_count; kh++) {                                                                 \
                const long offset = plane_offsets[c] + (long)kh * wp;                                               \
                for (int k = 0; k < kw; k++, wk += MR) {                                                            \
                    __m512 x[NV];                                                                                   \
                    _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; v++)                                 \
                        x[v] = _mm512_loadu_ps(src[v] + offset + taps[k]);                                          \
                    _Pragma("clang loop unroll(full)") for (int j = 0; j < MR; j++)                                 \
                        _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; v++)                             \
                            a[j][v] = STEP(a[j][v], x[v], wk + j);                                                  \
                }                                                                                                   \
            }                                                                                                       \
        _Pragma("clang loop unroll(full)") for (int j = 0; j < MR; j++)                                             \
            _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; v++) acc[j][v] = a[j][v];                    \
    }

DEFINE_TILE(tile_f32_4x6, AVX512, float, FMA_STEP, 4, 6)
DEFINE_TILE(tile_f32_6x4, AVX512, float, FMA_STEP, 6, 4)
DEFINE_TILE(tile_f32_8x3, AVX512, float, FMA_STEP, 8, 3)
DEFINE_TILE(tile_bf16_4x6, BF16, uint32_t, DPBF16_STEP, 4, 6)
DEFINE_TILE(tile_bf16_6x4, BF16, uint32_t, DPBF16_STEP, 6, 4)
DEFINE_TILE(tile_bf16_8x3, BF16, uint32_t, DPBF16_STEP, 8, 3)

AVX512 static void run_tile(int bf16, int mr, int blocks, int kh_count, const int *plane_offsets, int wp, int kw, const int *taps,
                            const float *const src[MAX_NV], const float *weights, __m512 acc[MAX_MR][MAX_NV]) {
    const uint32_t *words = (const uint32_t *)weights;
    if (bf16) {
        if (mr == 4) tile_bf16_4x6(blocks, kh_count, plane_offsets, wp, kw, taps, src, words, acc);
        else if (mr == 6) tile_bf16_6x4(blocks, kh_count, plane_offsets, wp, kw, taps, src, words, acc);
        else tile_bf16_8x3(blocks, kh_count, plane_offsets, wp, kw, taps, src, words, acc);
    } else {
        if (mr == 4) tile_f32_4x6(blocks, kh_count, plane_offsets, wp, kw, taps, src, weights, acc);
        else if (mr == 6) tile_f32_6x4(blocks, kh_count, plane_offsets, wp, kw, taps, src, weights, acc);
        else tile_f32_8x3(blocks, kh_count, plane_offsets, wp, kw, taps, src, weights, acc);
    }
}

// Output rows [oh_begin, oh_end) of planes [od_begin, od_end), each group of up to `most` rows of one
// plane after the other along D: the panel keeps each line's kD input planes as a ring (plane id in
// slot id mod kD), so moving one output plane on fills only the sD planes it has not seen, instead
// of all kD (measured before it: the fill was 15-17% of the convolution, each input row gathered
// kD (kH + R - 1) / R times; now about (kH + R - 1) / R).
typedef struct {
    const volseg_conv_shape *s;
    int bf16, mr, nv, most, blocks, wp, per_row, ow, oh_count;
    long block_stride, out_channel;
    const int *taps;
    const float *const *channels;
    const float *packed, *bias;
    float *y, *panel;
    int *plane_offsets;
} sweep_args;

AVX512 static void sweep(const sweep_args *a, int od_begin, int od_end, int oh_begin, int oh_end) {
    const volseg_conv_shape *s = a->s;
    const int line_count = lines(s, a->bf16), planes = line_count * s->kd, mr = a->mr, nv = a->nv;
    int held[64]; // the input plane each ring slot holds (kD <= 64 here; INT_MIN: none)
    for (int oh = oh_begin; oh < oh_end;) {
        const int count = oh_end - oh < a->most ? oh_end - oh : a->most, span = dc_row_span(s, count);
        for (int k = 0; k < s->kd; k++) held[k] = INT_MIN;
        for (int od = od_begin; od < od_end; od++) {
            for (int kd = 0; kd < s->kd; kd++) {
                const int id = s->sd * od - s->pd + kd, slot = ((id % s->kd) + s->kd) % s->kd;
                if (held[slot] != id) {
                    if (a->bf16) fill_pair_panel(s, a->channels, id, oh, count, slot, a->panel);
                    else fill_float32_panel(s, a->channels, id, oh, count, slot, a->panel);
                    held[slot] = id;
                }
                for (int q = 0; q < line_count; q++) a->plane_offsets[q * s->kd + kd] = ((q * s->kd + slot) * span) * a->wp;
            }
            const int row = od * a->oh_count + oh, vectors = count * a->per_row;
            for (int b = 0; b < a->blocks; b++) {
                const float *weights = a->packed + b * a->block_stride;
                const int live = s->cout - b * mr < mr ? s->cout - b * mr : mr;
                for (int first = 0; first < vectors; first += nv) {
                    const float *src[MAX_NV];
                    int slot[MAX_NV], w0[MAX_NV];
                    dc_tile_vectors(first, vectors, a->per_row, VECTOR, nv, (long)s->sh * a->wp, a->panel, src, slot, w0);
                    __m512 acc[MAX_MR][MAX_NV];
                    for (int j = 0; j < mr; j++) {
                        const __m512 start = _mm512_set1_ps(a->bias && j < live ? a->bias[b * mr + j] : 0.f);
                        for (int v = 0; v < nv; v++) acc[j][v] = start;
                    }
                    run_tile(a->bf16, mr, planes, s->kh, a->plane_offsets, a->wp, s->kw, a->taps, src, weights, acc);
                    for (int v = 0; v < nv && first + v < vectors; v++) {
                        const __mmask16 m = lanes(a->ow - w0[v]);
                        float *out = a->y + (long)(row + slot[v]) * a->ow + w0[v];
                        for (int j = 0; j < live; j++) _mm512_mask_storeu_ps(out + (b * mr + j) * a->out_channel, m, acc[j][v]);
                    }
                }
            }
        }
        oh += count;
    }
}

// AVX-512F code that calls the bf16 functions (fill_pair_panel, the bf16 tiles) only when bf16 is
// set: the Float32 path runs on AVX-512 CPUs without AVX512_BF16. Rows [row_begin, row_end) are
// swept as a partial first plane, the whole planes, and a partial last plane.
AVX512 void volseg_conv3d_direct_avx512(const volseg_conv_shape *s, int bf16, const float *const *channels, const float *packed,
                                        const float *bias, float *y, int row_begin, int row_end, float *panel) {
    const int ow = dc_output_width(s), oh_count = dc_output_height(s), phase = dc_phase_width(s, VECTOR);
    const dc_tile_plan p = plan(s, bf16, 0);
    int taps[64]; // where tap kw reads in a panel row (kW <= 64: volseg_conv_direct512_applies)
    for (int k = 0; k < s->kw; k++) taps[k] = k % s->sw * phase + k / s->sw;
    const sweep_args a = {s, bf16, p.mr, p.nv, p.rows, (int)block_count(s, bf16), dc_panel_width(s, VECTOR),
                          (ow + VECTOR - 1) / VECTOR, ow, oh_count, (long)lines(s, bf16) * dc_kernel_volume(s) * p.mr,
                          (long)dc_output_depth(s) * oh_count * ow, taps, channels, packed, bias, y, panel,
                          (int *)(panel + panel_words(s, bf16))};
    if (row_begin >= row_end) return;
    const int first = row_begin / oh_count, last = (row_end - 1) / oh_count;
    if (first == last) {
        sweep(&a, first, first + 1, row_begin % oh_count, (row_end - 1) % oh_count + 1);
        return;
    }
    int whole_begin = first, whole_end = last + 1;
    if (row_begin % oh_count != 0) sweep(&a, first, first + 1, row_begin % oh_count, oh_count), whole_begin++;
    if (row_end % oh_count != 0) whole_end--;
    if (whole_begin < whole_end) sweep(&a, whole_begin, whole_end, 0, oh_count);
    if (row_end % oh_count != 0) sweep(&a, last, last + 1, 0, row_end % oh_count);
}
