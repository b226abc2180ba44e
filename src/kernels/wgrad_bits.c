/* Operands of the bit backward-weight product: bits along output pixels (see wgrad_bits.h). */
#include "wgrad_bits.h"

#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../core/vec16.h"
#include "bitgemm.h"

static inline int nwords(int bits) { return (bits + 63) / 64; }

/* 64x64 bit-matrix transpose: bit c of a[j] becomes bit j of a[c]. The
 * classic six swap stages (block size j = 32 .. 1 words and bits) on eight
 * vectors of 8 words: for j >= 8 the partners a[k], a[k | j] sit in different
 * vectors, for j < 8 in lanes of the same vector (a lane shuffle brings them
 * together). */
DR_SIMD_CLONES void dr_transpose64(uint64_t a[64])
{
    dr_v8u64 v[8];
    memcpy(v, a, sizeof v);
    uint64_t m = 0x00000000FFFFFFFFull;
    for (int j = 32; j >= 8; j >>= 1, m ^= m << j) {
        const int d = j / 8; /* vectors apart */
        for (int r = 0; r < 8; r++)
            if (!(r & d)) {
                const dr_v8u64 t = ((v[r] >> j) ^ v[r + d]) & m;
                v[r] ^= t << j;
                v[r + d] ^= t;
            }
    }
    /* j = 4, 2, 1 within each vector: lane l (bit j of l clear) pairs with l + j */
    static const dr_v8u64 lo4 = {~0ull, ~0ull, ~0ull, ~0ull, 0, 0, 0, 0}, lo2 = {~0ull, ~0ull, 0, 0, ~0ull, ~0ull, 0, 0},
                       lo1 = {~0ull, 0, ~0ull, 0, ~0ull, 0, ~0ull, 0};
#define TRANSPOSE_LANES(J, LO, M, ...)                                                                  \
    for (int r = 0; r < 8; r++) {                                                                       \
        const dr_v8u64 p = __builtin_shufflevector(v[r], v[r], __VA_ARGS__), t = ((v[r] >> (J)) ^ p) & (M); \
        v[r] = ((v[r] ^ (t << (J))) & LO) | ((v[r] ^ __builtin_shufflevector(t, t, __VA_ARGS__)) & ~LO); \
    }
    TRANSPOSE_LANES(4, lo4, 0x0F0F0F0F0F0F0F0Full, 4, 5, 6, 7, 0, 1, 2, 3)
    TRANSPOSE_LANES(2, lo2, 0x3333333333333333ull, 2, 3, 0, 1, 6, 7, 4, 5)
    TRANSPOSE_LANES(1, lo1, 0x5555555555555555ull, 1, 0, 3, 2, 5, 4, 7, 6)
#undef TRANSPOSE_LANES
    memcpy(a, v, sizeof v);
}

/* Offset in grid positions (pixels, one bit each) of tap (ky, kx) from an output pixel's position. */
static int tap_offset(const dr_conv_geom *g, const dr_pixel_map *pm, int ky, int kx)
{
    return (ky - g->pad_top + pm->y0) * pm->width + kx - g->pad_left + pm->x0;
}

void dr_wgrad_layout_set(dr_wgrad_layout *L, const dr_conv_geom *g, const dr_pixel_map *pm)
{
    const int rows = pm->pixels / pm->width;
    L->shifted = g->sh == 1 && g->sw == 1 && pm->y0 >= g->pad_top && pm->x0 >= g->pad_left &&
                 g->oh - 1 + g->kh - 1 - g->pad_top + pm->y0 < rows &&
                 g->ow - 1 + g->kw - 1 - g->pad_left + pm->x0 < pm->width;
    L->qw = L->shifted ? pm->width : g->ow;
    L->words = nwords((g->oh - 1) * L->qw + g->ow);
    L->tw = L->shifted ? L->words + tap_offset(g, pm, g->kh - 1, g->kw - 1) / 64 + 2 : 0;
    const size_t positions = (size_t)L->words * 64;
    if (positions > L->cap) {
        free(L->qmap), free(L->valid);
        L->qmap = dr_xmalloc(positions * sizeof *L->qmap);
        L->valid = dr_xmalloc((size_t)L->words * sizeof *L->valid);
        L->cap = positions;
    }
    memset(L->valid, 0, (size_t)L->words * sizeof *L->valid);
    for (int q = 0; q < (int)positions; q++) {
        const int oy = q / L->qw, ox = q % L->qw, inside = oy < g->oh && ox < g->ow;
        L->qmap[q] = inside ? oy * g->ow + ox : -1;
        if (inside) L->valid[q / 64] |= 1ull << (q % 64);
    }
}

void dr_wgrad_layout_free(dr_wgrad_layout *L)
{
    free(L->qmap), free(L->valid);
    memset(L, 0, sizeof *L);
}

void dr_wgrad_gradient_rows(const dr_wgrad_layout *L, const dr_conv_geom *g, const uint64_t *gpix, int planes,
                            int oc_pad, uint64_t *x)
{
    const int words = L->words, ow = nwords(g->oc), oc = g->oc;
    memset(x + (size_t)oc * planes * words, 0, sizeof(uint64_t) * (size_t)(oc_pad - oc) * planes * words);
    for (int pb = 0; pb < words; pb++)
        for (int b = 0; b < planes; b++)
            for (int w = 0; w < ow; w++) {
                uint64_t m[64];
                for (int j = 0; j < 64; j++) {
                    const int p = L->qmap[pb * 64 + j];
                    m[j] = p >= 0 ? gpix[((size_t)p * planes + b) * ow + w] : 0;
                }
                dr_transpose64(m);
                for (int c = 0; c < DR_MIN(64, oc - w * 64); c++) x[((size_t)(w * 64 + c) * planes + b) * words + pb] = m[c];
            }
}

size_t dr_wgrad_scratch_words(const dr_wgrad_layout *L, const dr_conv_geom *g, int planes)
{
    return L->shifted ? (size_t)planes * L->tw * nwords(g->ic) * 64 : 0;
}

/* dst[c] = the 64 bits of channel c's grid row from bit s of lo[c] on (s
 * bits into hi[c]), masked to the output pixels; as[c] += their count << b. */
#define SHIFTED_COPY_BODY                                                                               \
    if (s == 0)                                                                                         \
        for (int c = 0; c < ic; c++) dst[c] = lo[c] & valid;                                            \
    else                                                                                                \
        for (int c = 0; c < ic; c++) dst[c] = ((lo[c] >> s) | (hi[c] << (64 - s))) & valid;             \
    for (int c = 0; c < ic; c++) as[c] += (int32_t)__builtin_popcountll(dst[c]) << b;

DR_POPCNT_CLONES static void shifted_copy_c(uint64_t *restrict dst, const uint64_t *restrict lo,
                                            const uint64_t *restrict hi, int s, uint64_t valid, int32_t *restrict as,
                                            int ic, int b)
{
    SHIFTED_COPY_BODY
}

#if defined(__x86_64__)
/* The same, vectorised with VPOPCNTQ. */
__attribute__((target("avx512f,avx512vpopcntdq"))) static void
shifted_copy_avx512(uint64_t *restrict dst, const uint64_t *restrict lo, const uint64_t *restrict hi, int s,
                    uint64_t valid, int32_t *restrict as, int ic, int b)
{
    SHIFTED_COPY_BODY
}
#endif

static void shifted_copy(uint64_t *dst, const uint64_t *lo, const uint64_t *hi, int s, uint64_t valid, int32_t *as,
                         int ic, int b)
{
#if defined(__x86_64__)
    static int avx512 = -1;
    if (avx512 < 0) avx512 = dr_cpu_avx512_popcnt();
    if (avx512) {
        shifted_copy_avx512(dst, lo, hi, s, valid, as, ic, b);
        return;
    }
#endif
    shifted_copy_c(dst, lo, hi, s, valid, as, ic, b);
}

/* Shifted layout: t[plane][tw][cw 64] = the sample's grid transposed (bit t of
 * channel c's word = pixel t), then each window column is a shifted copy. */
DR_POPCNT_CLONES static void columns_shifted(const dr_wgrad_layout *L, const dr_conv_geom *g, const dr_pixel_map *pm,
                                             int i, int planes, int k_pad, uint64_t *t, uint64_t *y, int32_t *asum)
{
    const int cw = nwords(g->ic), cpad = cw * 64, tw = L->tw, words = L->words, ic = g->ic;
    const uint64_t *base = pm->base + (size_t)i * pm->sample;
    for (int tb = 0; tb < tw; tb++)
        for (int b = 0; b < planes; b++)
            for (int w = 0; w < cw; w++) {
                uint64_t m[64];
                for (int j = 0; j < 64; j++) {
                    const int p = tb * 64 + j;
                    m[j] = p < pm->pixels ? base[((size_t)p * planes + b) * cw + w] : 0;
                }
                dr_transpose64(m);
                memcpy(t + ((size_t)b * tw + tb) * cpad + w * 64, m, sizeof m);
            }
    for (int ky = 0; ky < g->kh; ky++)
        for (int kx = 0; kx < g->kw; kx++) {
            const int off = tap_offset(g, pm, ky, kx), k0 = (ky * g->kw + kx) * ic, s = off % 64;
            for (int b = 0; b < planes; b++)
                for (int wq = 0; wq < words; wq++) {
                    const uint64_t *lo = t + ((size_t)b * tw + wq + off / 64) * cpad, *hi = lo + cpad;
                    shifted_copy(y + ((size_t)b * words + wq) * k_pad + k0, lo, hi, s, L->valid[wq], asum + k0, ic, b);
                }
        }
}

/* Dense layout: each tap's window pixels gathered and transposed 64 pixels x
 * 64 channels at a time. */
DR_POPCNT_CLONES static void columns_dense(const dr_wgrad_layout *L, const dr_conv_geom *g, const dr_pixel_map *pm,
                                           int i, int planes, int k_pad, uint64_t *y, int32_t *asum)
{
    const int words = L->words, cw = nwords(g->ic), ic = g->ic;
    const uint64_t *base = pm->base + (size_t)i * pm->sample;
    for (int kk = 0; kk < g->kh * g->kw; kk++) {
        const int ky = kk / g->kw, kx = kk % g->kw;
        for (int pb = 0; pb < words; pb++) {
            const uint64_t *src[64];
            for (int j = 0; j < 64; j++) {
                const int p = L->qmap[pb * 64 + j], oy = p / g->ow, ox = p % g->ow;
                const int yy = oy * g->sh - g->pad_top + ky, xx = ox * g->sw - g->pad_left + kx;
                src[j] = p >= 0 && yy >= 0 && yy < g->ih && xx >= 0 && xx < g->iw
                             ? base + ((size_t)(yy + pm->y0) * pm->width + xx + pm->x0) * planes * cw
                             : NULL;
            }
            for (int b = 0; b < planes; b++)
                for (int w = 0; w < cw; w++) {
                    uint64_t m[64];
                    for (int j = 0; j < 64; j++) m[j] = src[j] ? src[j][b * cw + w] : 0;
                    dr_transpose64(m);
                    const int nc = DR_MIN(64, ic - w * 64), k0 = kk * ic + w * 64;
                    uint64_t *dst = y + ((size_t)b * words + pb) * k_pad + k0;
                    for (int c = 0; c < nc; c++) dst[c] = m[c], asum[k0 + c] += __builtin_popcountll(m[c]) << b;
                }
        }
    }
}

void dr_wgrad_activation_cols(const dr_wgrad_layout *L, const dr_conv_geom *g, const dr_pixel_map *pm, int i,
                              int planes, int k_pad, uint64_t *scratch, uint64_t *y, int32_t *asum)
{
    const int K = dr_conv_k(g);
    memset(asum, 0, sizeof(int32_t) * (size_t)k_pad);
    for (int b = 0; b < planes; b++)
        for (int w = 0; w < L->words; w++) memset(y + ((size_t)b * L->words + w) * k_pad + K, 0, sizeof(uint64_t) * (k_pad - K));
    if (L->shifted) columns_shifted(L, g, pm, i, planes, k_pad, scratch, y, asum);
    else columns_dense(L, g, pm, i, planes, k_pad, y, asum);
}
