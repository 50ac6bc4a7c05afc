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
   and im (one permute per vector of a, outside the batch loop); only the final sums are combined into (re, im),
   so the inner loops are plain multiply-adds. The kernels are compiled for 512-, 256- and 128-bit vectors and
   picked by what the CPU has. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define ROWS 8         /* batch rows whose accumulators stay in registers (fewer for narrow vectors) */
#define CHUNK_BYTES 512 /* bytes of a row per chunk */
#define INLINE static inline __attribute__((always_inline))

/* Kernels on vectors of `bytes` bytes of `real` (`index`: the integer of its size), with at most `rows_max`
   batch rows at once, compiled for `target`. */
#define DEFINE_KERNELS(real, index, name, bytes, rows_max, target)                                                    \
typedef real vec_##name __attribute__((vector_size(bytes)));                                                   \
enum { LANES_##name = bytes / sizeof(real), CHUNK_##name = CHUNK_BYTES / bytes, ROWS_##name = rows_max };     \
                                                                                                               \
INLINE vec_##name load_##name(const real *p) { vec_##name v; memcpy(&v, p, sizeof v); return v; }            \
/* The masks are constants after unrolling: each shuffle is one permute. */                                   \
INLINE vec_##name swapped_##name(vec_##name v) {                                                               \
    index pairs __attribute__((vector_size(bytes)));                                                           \
    for (int l = 0; l < LANES_##name; l++) pairs[l] = l ^ 1;                                                   \
    return __builtin_shuffle(v, pairs);                                                                        \
}                                                                                                              \
INLINE vec_##name load_swapped_##name(const real *p) { return swapped_##name(load_##name(p)); }               \
/* Stores (re, im) from same = Σ (ar·cr, ai·ci) and swap = Σ (ai·cr, ar·ci): Σ a·c, or Σ conj(a)·c if conj,    \
   with the imaginary part negated if negate; added to what is there if accumulate. */                        \
INLINE void store_##name(real *y, vec_##name same, vec_##name swap, int conj, int negate, int accumulate) {    \
    vec_##name re = conj ? same + swapped_##name(same) : same - swapped_##name(same);   /* in even lanes */    \
    vec_##name im = conj ? swap - swapped_##name(swap) : swap + swapped_##name(swap);   /* in odd lanes */     \
    index pick __attribute__((vector_size(bytes)));                                                            \
    for (int l = 0; l < LANES_##name; l++) pick[l] = l % 2 ? LANES_##name + l : l;                             \
    vec_##name sum = __builtin_shuffle(re, negate ? -im : im, pick);                                           \
    vec_##name total = accumulate ? load_##name(y) + sum : sum;                                                \
    memcpy(y, &total, sizeof total);                                                                           \
}                                                                                                              \
                                                                                                               \
/* One chunk, one output channel, `rows` batch rows: us[v][i·rows + b]; ks[v][i]. */                    \
INLINE void mix_chunk_##name(const vec_##name *us, const vec_##name *ks, real *out,                            \
                             ptrdiff_t n_in, ptrdiff_t out_step, int conj, int accumulate, const int rows) {   \
    for (int v = 0; v < CHUNK_##name; v++) {                                                                   \
        vec_##name same[ROWS] = {0}, swap[ROWS] = {0};                                                         \
        const vec_##name *u = us + v * n_in * rows, *k = ks + v * n_in;            \
        for (ptrdiff_t i = 0; i < n_in; i++) {                                                                 \
            vec_##name ki = k[i], kswap = swapped_##name(ki);                                                  \
            for (int b = 0; b < rows; b++) {                                                                   \
                same[b] += ki * u[i * rows + b];                                                               \
                swap[b] += kswap * u[i * rows + b];                                                            \
            }                                                                                                  \
        }                                                                                                      \
        for (int b = 0; b < rows; b++)                                                                         \
            store_##name(out + b * out_step + v * LANES_##name, same[b], swap[b], conj, 0, accumulate);        \
    }                                                                                                          \
}                                                                                                              \
                                                                                                               \
/* The bins past the last whole chunk, one at a time. */                                                      \
static void mix_bin_##name(const real *in, ptrdiff_t in_items, const real *K, ptrdiff_t so, ptrdiff_t si,      \
                           int conj, real *out, ptrdiff_t out_items, int accumulate, ptrdiff_t batch,          \
                           ptrdiff_t n_in, ptrdiff_t n_out, ptrdiff_t row) {                                   \
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
target int centaurus_mix_##name(const real *in, ptrdiff_t in_items, const real *K, ptrdiff_t so, ptrdiff_t si,   \
                                int conj, real *out, ptrdiff_t out_items, int accumulate, ptrdiff_t batch,     \
                                ptrdiff_t n_in, ptrdiff_t n_out, ptrdiff_t bins, ptrdiff_t f0, ptrdiff_t f1) { \
    const ptrdiff_t row = 2 * bins, width = CHUNK_##name * LANES_##name, out_step = out_items * row;           \
    vec_##name *us = aligned_alloc(64, sizeof(vec_##name) * CHUNK_##name * n_in * (ROWS + 1));                 \
    if (!us) return -1;                                                                                        \
    vec_##name *ks = us + CHUNK_##name * n_in * ROWS;                                                          \
    ptrdiff_t at = 2 * f0;                                                                                     \
    for (; at + width <= 2 * f1; at += width)                                                                  \
        for (ptrdiff_t b0 = 0; b0 < batch; b0 += ROWS_##name) {                                                \
            const int rows = batch - b0 < ROWS_##name ? (int)(batch - b0) : ROWS_##name;                       \
            for (int b = 0; b < rows; b++)                                                                     \
                for (ptrdiff_t i = 0; i < n_in; i++)                                                           \
                    for (int v = 0; v < CHUNK_##name; v++)                                                     \
                        us[(v * n_in + i) * rows + b] =                                                        \
                            load_##name(in + ((b0 + b) * in_items + i) * row + at + v * LANES_##name);         \
            for (ptrdiff_t o = 0; o < n_out; o++) {                                                            \
                for (ptrdiff_t i = 0; i < n_in; i++)                                                           \
                    for (int v = 0; v < CHUNK_##name; v++)                                                     \
                        ks[v * n_in + i] = load_##name(K + (o * so + i * si) * row + at + v * LANES_##name);   \
                real *y = out + (b0 * out_items + o) * row + at;                                               \
                switch (rows) { /* constant row counts keep the accumulators in registers */                   \
                    case 8: mix_chunk_##name(us, ks, y, n_in, out_step, conj, accumulate, 8); break;           \
                    case 7: mix_chunk_##name(us, ks, y, n_in, out_step, conj, accumulate, 7); break;           \
                    case 6: mix_chunk_##name(us, ks, y, n_in, out_step, conj, accumulate, 6); break;           \
                    case 5: mix_chunk_##name(us, ks, y, n_in, out_step, conj, accumulate, 5); break;           \
                    case 4: mix_chunk_##name(us, ks, y, n_in, out_step, conj, accumulate, 4); break;           \
                    case 3: mix_chunk_##name(us, ks, y, n_in, out_step, conj, accumulate, 3); break;           \
                    case 2: mix_chunk_##name(us, ks, y, n_in, out_step, conj, accumulate, 2); break;           \
                    default: mix_chunk_##name(us, ks, y, n_in, out_step, conj, accumulate, 1); break;          \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
    for (; at < 2 * f1; at += 2)                                                                               \
        mix_bin_##name(in + at, in_items, K + at, so, si, conj, out + at, out_items, accumulate, batch, n_in,   \
                       n_out, row);                                                                            \
    free(us);                                                                                                  \
    return 0;                                                                                                  \
}                                                                                                              \
                                                                                                               \
target int centaurus_outer_sum_##name(const real *G, ptrdiff_t g_items, const real *U, ptrdiff_t u_items,    \
                                      real *out, ptrdiff_t batch, ptrdiff_t P, ptrdiff_t Q, ptrdiff_t bins,    \
                                      ptrdiff_t f0, ptrdiff_t f1) {                                            \
    const ptrdiff_t row = 2 * bins, width = CHUNK_##name * LANES_##name, packed = CHUNK_##name * batch;        \
    vec_##name *gs = aligned_alloc(64, sizeof(vec_##name) * packed * (2 * P + Q));                             \
    if (!gs) return -1;                                                                                        \
    vec_##name *gswaps = gs + packed * P, *us = gswaps + packed * P;                                           \
    ptrdiff_t at = 2 * f0;                                                                                     \
    for (; at + width <= 2 * f1; at += width) {                                                                \
        /* gs, gswaps[v][p·batch + b] and us[v][q·batch + b]: the batch rows of a channel side by side */      \
        for (ptrdiff_t b = 0; b < batch; b++)                                                                  \
            for (int v = 0; v < CHUNK_##name; v++) {                                                           \
                for (ptrdiff_t p = 0; p < P; p++) {                                                            \
                    const real *g = G + (b * g_items + p) * row + at + v * LANES_##name;                       \
                    gs[(v * P + p) * batch + b] = load_##name(g);                                              \
                    gswaps[(v * P + p) * batch + b] = load_swapped_##name(g);                                  \
                }                                                                                              \
                for (ptrdiff_t q = 0; q < Q; q++)                                                              \
                    us[(v * Q + q) * batch + b] = load_##name(U + (b * u_items + q) * row + at + v * LANES_##name); \
            }                                                                                                  \
        for (ptrdiff_t p = 0; p < P; p++)                                                                      \
            for (ptrdiff_t q = 0; q < Q; q++)                                                                  \
                for (int v = 0; v < CHUNK_##name; v++) {                                                       \
                    const ptrdiff_t at_g = (v * P + p) * batch;                                                \
                    const vec_##name *g = gs + at_g, *gswap = gswaps + at_g, *u = us + (v * Q + q) * batch;    \
                    vec_##name same = {0}, swap = {0};                                                         \
                    for (ptrdiff_t b = 0; b < batch; b++) {                                                    \
                        same += g[b] * u[b];                                                                   \
                        swap += gswap[b] * u[b];                                                               \
                    }                                                                                          \
                    /* g·conj(u) = conj(conj(g)·u) */                                                          \
                    store_##name(out + (p * Q + q) * row + at + v * LANES_##name, same, swap, 1, 1, 0);        \
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
    return 0;                                                                                                  \
}

#if defined(__x86_64__) && defined(__GNUC__)
#define AVX512 __attribute__((target("arch=x86-64-v4")))
#define AVX2 __attribute__((target("arch=x86-64-v3")))
DEFINE_KERNELS(float, int, f32_avx512, 64, 8, AVX512)
DEFINE_KERNELS(double, long long, f64_avx512, 64, 8, AVX512)
DEFINE_KERNELS(float, int, f32_avx2, 32, 6, AVX2)
DEFINE_KERNELS(double, long long, f64_avx2, 32, 6, AVX2)
#endif
DEFINE_KERNELS(float, int, f32_base, 16, 6, )
DEFINE_KERNELS(double, long long, f64_base, 16, 6, )

/* The entry points take the widest vectors the CPU has; each width is exported too, for the tests. */
#if defined(__x86_64__) && defined(__GNUC__)
#define PICK(sfx, kernel)                                                                                      \
    __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") ? centaurus_##kernel##_##sfx##_avx512 : \
    __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? centaurus_##kernel##_##sfx##_avx2 :      \
    centaurus_##kernel##_##sfx##_base
#else
#define PICK(sfx, kernel) centaurus_##kernel##_##sfx##_base
#endif

#define DEFINE_ENTRY_POINTS(real, sfx)                                                                         \
int centaurus_mix_##sfx(const real *in, ptrdiff_t in_items, const real *K, ptrdiff_t so, ptrdiff_t si,         \
                        int conj, real *out, ptrdiff_t out_items, int accumulate, ptrdiff_t batch,             \
                        ptrdiff_t n_in, ptrdiff_t n_out, ptrdiff_t bins, ptrdiff_t f0, ptrdiff_t f1) {         \
    return (PICK(sfx, mix))(in, in_items, K, so, si, conj, out, out_items, accumulate, batch, n_in, n_out,     \
                            bins, f0, f1);                                                                     \
}                                                                                                              \
int centaurus_outer_sum_##sfx(const real *G, ptrdiff_t g_items, const real *U, ptrdiff_t u_items, real *out,   \
                              ptrdiff_t batch, ptrdiff_t P, ptrdiff_t Q, ptrdiff_t bins, ptrdiff_t f0,         \
                              ptrdiff_t f1) {                                                                  \
    return (PICK(sfx, outer_sum))(G, g_items, U, u_items, out, batch, P, Q, bins, f0, f1);                     \
}

DEFINE_ENTRY_POINTS(float, f32)
DEFINE_ENTRY_POINTS(double, f64)
