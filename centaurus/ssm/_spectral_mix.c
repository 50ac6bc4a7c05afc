/* Channel mixing of complex spectra, bin by bin, in channel-major layout (spec §4.1, "full" variant).

   All arrays are interleaved complex (re, im) rows of `bins` bins, contiguous:
     mix:        out[b, o, f] (+)= Σ_i k(o, i)[f] · in[b, i, f], k(o, i) = K row o·so + i·si, conjugated if asked;
     outer_sum:  out[p, q, f] = Σ_b G[b, p, f] · conj(U[b, q, f]).
   Channels are consecutive rows; batch items are `*_items` rows apart (a slice of channels is then no copy).
   Each call covers the bins [f0, f1), so threads can share the bins out. torch's batched matrix products need
   frequency-major spectra instead, and the transposes to and from that layout cost more than the products.

   Rows are far apart (a row is a page or more), so a vector read from each in turn costs a TLB miss: the bins
   go a chunk at a time, the operands' chunks packed into small contiguous buffers first, as GEMM libraries do.
   A complex product a·c is summed as two real lane-wise products, a·c and swap(a)·c, where swap exchanges re
   and im; only the final sums are combined into (re, im), so the inner loops are plain multiply-adds. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define ROWS 8   /* batch rows whose accumulators stay in registers */
#define CHUNK 8  /* vectors of bins per chunk */

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif
#define INLINE static inline __attribute__((always_inline))

typedef float vec_f32 __attribute__((vector_size(64)));
typedef int mask_f32 __attribute__((vector_size(64)));
typedef double vec_f64 __attribute__((vector_size(64)));
typedef long long mask_f64 __attribute__((vector_size(64)));
#define SWAP_f32 ((mask_f32){1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14})
#define EVEN_ODD_f32 ((mask_f32){0, 17, 2, 19, 4, 21, 6, 23, 8, 25, 10, 27, 12, 29, 14, 31})
#define SWAP_f64 ((mask_f64){1, 0, 3, 2, 5, 4, 7, 6})
#define EVEN_ODD_f64 ((mask_f64){0, 9, 2, 11, 4, 13, 6, 15})

#define DEFINE_KERNELS(real, sfx)                                                                              \
enum { LANES_##sfx = sizeof(vec_##sfx) / sizeof(real) };                                                       \
                                                                                                               \
INLINE vec_##sfx load_##sfx(const real *p) { vec_##sfx v; memcpy(&v, p, sizeof v); return v; }                \
INLINE void store_##sfx(real *p, vec_##sfx v) { memcpy(p, &v, sizeof v); }                                     \
INLINE vec_##sfx swapped_##sfx(vec_##sfx v) { return __builtin_shuffle(v, SWAP_##sfx); }                       \
                                                                                                               \
/* (re, im) from same = (ar·cr, ai·ci) and swap = (ai·cr, ar·ci): a·c, or conj(a)·c if conj. */                 \
INLINE vec_##sfx combined_##sfx(vec_##sfx same, vec_##sfx swap, int conj) {                                    \
    vec_##sfx re = conj ? same + swapped_##sfx(same) : same - swapped_##sfx(same);                             \
    vec_##sfx im = conj ? swap - swapped_##sfx(swap) : swap + swapped_##sfx(swap);                             \
    return __builtin_shuffle(re, im, EVEN_ODD_##sfx);                                                          \
}                                                                                                              \
                                                                                                               \
/* One chunk, one output channel, `rows` (≤ ROWS) batch rows: us[v][i·rows + b], ks[v][i]. */                   \
INLINE void mix_chunk_##sfx(const vec_##sfx *us, const vec_##sfx *ks, real *out, ptrdiff_t n_in,               \
                            ptrdiff_t out_stride, int conj, int accumulate, const int rows) {                  \
    for (int v = 0; v < CHUNK; v++) {                                                                          \
        vec_##sfx same[ROWS] = {0}, swap[ROWS] = {0};                                                          \
        const vec_##sfx *u = us + v * n_in * rows, *k = ks + v * n_in;                                         \
        for (ptrdiff_t i = 0; i < n_in; i++) {                                                                 \
            vec_##sfx ki = k[i], kswap = swapped_##sfx(ki);                                                    \
            for (int b = 0; b < rows; b++) {                                                                   \
                same[b] += ki * u[i * rows + b];                                                               \
                swap[b] += kswap * u[i * rows + b];                                                            \
            }                                                                                                  \
        }                                                                                                      \
        for (int b = 0; b < rows; b++) {                                                                       \
            real *y = out + b * out_stride + v * LANES_##sfx;                                                  \
            vec_##sfx sum = combined_##sfx(same[b], swap[b], conj);                                            \
            store_##sfx(y, accumulate ? load_##sfx(y) + sum : sum);                                            \
        }                                                                                                      \
    }                                                                                                          \
}                                                                                                              \
                                                                                                               \
/* The bins past the last whole chunk, one at a time. */                                                      \
static void mix_bin_##sfx(const real *in, ptrdiff_t in_items, const real *K, ptrdiff_t so, ptrdiff_t si,       \
                          int conj, real *out, ptrdiff_t out_items, int accumulate, ptrdiff_t batch,           \
                          ptrdiff_t n_in, ptrdiff_t n_out, ptrdiff_t row) {                                    \
    const real sign = conj ? -1 : 1;                                                                           \
    for (ptrdiff_t b = 0; b < batch; b++)                                                                      \
        for (ptrdiff_t o = 0; o < n_out; o++) {                                                                \
            real re = 0, im = 0;                                                                               \
            for (ptrdiff_t i = 0; i < n_in; i++) {                                                             \
                const real *k = K + (o * so + i * si) * row, *u = in + (b * in_items + i) * row;               \
                re += k[0] * u[0] - sign * k[1] * u[1];                                                        \
                im += k[0] * u[1] + sign * k[1] * u[0];                                                        \
            }                                                                                                  \
            real *y = out + (b * out_items + o) * row;                                                         \
            y[0] = accumulate ? y[0] + re : re;                                                                \
            y[1] = accumulate ? y[1] + im : im;                                                                \
        }                                                                                                      \
}                                                                                                              \
                                                                                                               \
CLONES int centaurus_mix_##sfx(const real *in, ptrdiff_t in_items, const real *K, ptrdiff_t so, ptrdiff_t si,  \
                               int conj, real *out, ptrdiff_t out_items, int accumulate, ptrdiff_t batch,      \
                               ptrdiff_t n_in, ptrdiff_t n_out, ptrdiff_t bins, ptrdiff_t f0, ptrdiff_t f1) {  \
    const ptrdiff_t row = 2 * bins, width = CHUNK * LANES_##sfx;                                               \
    vec_##sfx *us = aligned_alloc(64, sizeof(vec_##sfx) * CHUNK * n_in * ROWS);                                \
    vec_##sfx *ks = aligned_alloc(64, sizeof(vec_##sfx) * CHUNK * n_in);                                       \
    if (!us || !ks) { free(us); free(ks); return -1; }                                                         \
    ptrdiff_t at = 2 * f0;                                                                                     \
    for (; at + width <= 2 * f1; at += width)                                                                  \
        for (ptrdiff_t b0 = 0; b0 < batch; b0 += ROWS) {                                                       \
            const int rows = batch - b0 < ROWS ? (int)(batch - b0) : ROWS;                                     \
            for (int b = 0; b < rows; b++)                                                                     \
                for (ptrdiff_t i = 0; i < n_in; i++)                                                           \
                    for (int v = 0; v < CHUNK; v++)                                                            \
                        us[(v * n_in + i) * rows + b] =                                                        \
                            load_##sfx(in + ((b0 + b) * in_items + i) * row + at + v * LANES_##sfx);           \
            for (ptrdiff_t o = 0; o < n_out; o++) {                                                            \
                for (ptrdiff_t i = 0; i < n_in; i++)                                                           \
                    for (int v = 0; v < CHUNK; v++)                                                            \
                        ks[v * n_in + i] = load_##sfx(K + (o * so + i * si) * row + at + v * LANES_##sfx);     \
                real *y = out + (b0 * out_items + o) * row + at;                                               \
                const ptrdiff_t out_step = out_items * row;                                                    \
                switch (rows) { /* constant row counts keep the accumulators in registers */                   \
                    case 8: mix_chunk_##sfx(us, ks, y, n_in, out_step, conj, accumulate, 8); break;            \
                    case 7: mix_chunk_##sfx(us, ks, y, n_in, out_step, conj, accumulate, 7); break;            \
                    case 6: mix_chunk_##sfx(us, ks, y, n_in, out_step, conj, accumulate, 6); break;            \
                    case 5: mix_chunk_##sfx(us, ks, y, n_in, out_step, conj, accumulate, 5); break;            \
                    case 4: mix_chunk_##sfx(us, ks, y, n_in, out_step, conj, accumulate, 4); break;            \
                    case 3: mix_chunk_##sfx(us, ks, y, n_in, out_step, conj, accumulate, 3); break;            \
                    case 2: mix_chunk_##sfx(us, ks, y, n_in, out_step, conj, accumulate, 2); break;            \
                    default: mix_chunk_##sfx(us, ks, y, n_in, out_step, conj, accumulate, 1); break;           \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
    for (; at < 2 * f1; at += 2)                                                                               \
        mix_bin_##sfx(in + at, in_items, K + at, so, si, conj, out + at, out_items, accumulate, batch, n_in,   \
                      n_out, row);                                                                             \
    free(us);                                                                                                  \
    free(ks);                                                                                                  \
    return 0;                                                                                                  \
}                                                                                                              \
                                                                                                               \
CLONES int centaurus_outer_sum_##sfx(const real *G, ptrdiff_t g_items, const real *U, ptrdiff_t u_items,        \
                                     real *out, ptrdiff_t batch, ptrdiff_t P, ptrdiff_t Q, ptrdiff_t bins,     \
                                     ptrdiff_t f0, ptrdiff_t f1) {                                             \
    const ptrdiff_t row = 2 * bins, width = CHUNK * LANES_##sfx;                                               \
    vec_##sfx *gs = aligned_alloc(64, sizeof(vec_##sfx) * CHUNK * batch * P * 2), *swaps = gs + CHUNK * batch * P; \
    vec_##sfx *us = aligned_alloc(64, sizeof(vec_##sfx) * CHUNK * batch * Q);                                  \
    if (!gs || !us) { free(gs); free(us); return -1; }                                                         \
    ptrdiff_t at = 2 * f0;                                                                                     \
    for (; at + width <= 2 * f1; at += width) {                                                                \
        /* gs[v][p·batch + b] and us[v][q·batch + b]: the batch rows of one channel side by side */            \
        for (ptrdiff_t b = 0; b < batch; b++)                                                                  \
            for (int v = 0; v < CHUNK; v++) {                                                                  \
                for (ptrdiff_t p = 0; p < P; p++) {                                                            \
                    const ptrdiff_t at_pack = (v * P + p) * batch + b;                                         \
                    gs[at_pack] = load_##sfx(G + (b * g_items + p) * row + at + v * LANES_##sfx);                    \
                    swaps[at_pack] = swapped_##sfx(gs[at_pack]);                                               \
                }                                                                                              \
                for (ptrdiff_t q = 0; q < Q; q++)                                                              \
                    us[(v * Q + q) * batch + b] = load_##sfx(U + (b * u_items + q) * row + at + v * LANES_##sfx);   \
            }                                                                                                  \
        for (ptrdiff_t p = 0; p < P; p++)                                                                      \
            for (ptrdiff_t q = 0; q < Q; q++)                                                                  \
                for (int v = 0; v < CHUNK; v++) {                                                              \
                    const ptrdiff_t at_g = (v * P + p) * batch;                                                \
                    const vec_##sfx *g = gs + at_g, *g_swap = swaps + at_g, *u = us + (v * Q + q) * batch;     \
                    vec_##sfx same = {0}, swap = {0};                                                          \
                    for (ptrdiff_t b = 0; b < batch; b++) {                                                    \
                        same += g[b] * u[b];                                                                   \
                        swap += g_swap[b] * u[b];                                                    \
                    }                                                                                          \
                    /* g·conj(u) is conj(conj(g)·u): the conjugated combination, imaginary part negated */     \
                    store_##sfx(out + (p * Q + q) * row + at + v * LANES_##sfx, combined_##sfx(same, -swap, 1));\
                }                                                                                              \
    }                                                                                                          \
    for (; at < 2 * f1; at += 2)                                                                               \
        for (ptrdiff_t p = 0; p < P; p++)                                                                      \
            for (ptrdiff_t q = 0; q < Q; q++) {                                                                \
                real re = 0, im = 0;                                                                           \
                for (ptrdiff_t b = 0; b < batch; b++) {                                                        \
                    const real *g = G + (b * g_items + p) * row + at, *u = U + (b * u_items + q) * row + at;   \
                    re += g[0] * u[0] + g[1] * u[1];                                                           \
                    im += g[1] * u[0] - g[0] * u[1];                                                           \
                }                                                                                              \
                out[(p * Q + q) * row + at] = re;                                                              \
                out[(p * Q + q) * row + at + 1] = im;                                                          \
            }                                                                                                  \
    free(gs);                                                                                                  \
    free(us);                                                                                                  \
    return 0;                                                                                                  \
}

DEFINE_KERNELS(float, f32)
DEFINE_KERNELS(double, f64)
