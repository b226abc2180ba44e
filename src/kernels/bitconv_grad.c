/* Backward-input of a stride-1 convolution as an implicit bit convolution.
 *
 * dA = W^T dY followed by col2im scatters every output pixel's K products
 * onto its window; read in gather form it is a convolution of the gradient
 * with the flipped, transposed kernel, W'[c][ky'][kx'][o] = W[o][kh-1-ky'][kw-1-kx'][c],
 * padded by kh-1-pad_top rows and kw-1-pad_left columns. Gradient codes go
 * into dr_bitconv's zero-bordered grid and each input pixel's value is one
 * bit-GEMM row: no column matrix, no scatter.
 *
 * A border code 0 is not the value 0 (g = v (2 q - n_G), v = m / n_G), so the
 * sums run over the valid taps only, per input pixel (y, x) and channel c
 * (weights w = u (2 q - nw)):
 *   dA = u v (4 S - 2 nw gwin - 2 n_G wrect[c] + n_G nw oc taps)
 * an exact integer in the brackets (added modulo 2^32), with S and gwin (the window's sum of codes) from the grid, where border
 * codes are 0 and add nothing, wrect the sum of W' codes over the valid taps
 * (a rectangle of taps: four lookups in prefix sums) and `taps` its size. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "bitconv.h"
#include "bitgemm.h"
#include "bitpack.h"

static dr_conv_geom transposed(const dr_conv_geom *g)
{
    return (dr_conv_geom){.ih = g->oh, .iw = g->ow, .ic = g->oc, .oh = g->ih, .ow = g->iw, .oc = g->ic,
                          .kh = g->kh, .kw = g->kw, .sh = 1, .sw = 1, .pad_top = g->kh - 1 - g->pad_top,
                          .pad_left = g->kw - 1 - g->pad_left, .groups = 1};
}

int dr_bitconv_grad_suits(const dr_conv_geom *g)
{
    if (g->sh != 1 || g->sw != 1 || g->groups != 1 || g->pad_top >= g->kh || g->pad_left >= g->kw) return 0;
    /* every (output pixel, tap) pair is one useful window word; the grid
     * computes input pixels x taps: a 5x5 VALID conv on a 5x5 input would
     * read 24 border taps for each useful one (SVHN Model A's conv6) */
    if (2 * g->oh * g->ow < g->ih * g->iw) return 0;
    const dr_conv_geom t = transposed(g);
    return dr_bitconv_suits(&t);
}

void dr_bitconv_grad_free(dr_bitconv_grad *b)
{
    if (!b) return;
    dr_bitconv_free(&b->conv);
    free(b->wflip), free(b->y), free(b->pre), free(b->s);
    free(b);
}

/* (Re)sizes b for g, G-bit gradients, W-bit weights, n samples and the current thread count. */
static void setup(dr_bitconv_grad *b, const dr_conv_geom *g, int G, int W, int n)
{
    const dr_conv_geom t = transposed(g);
    dr_bitconv_ensure(&b->conv, &t, G, n);
    if (b->wflip && b->W == W && !memcmp(&b->g, g, sizeof *g) && b->threads >= omp_get_max_threads()) return;
    free(b->wflip), free(b->y), free(b->pre), free(b->s);
    b->g = *g, b->W = W;
    b->ic_pad = dr_round_up(g->ic, DR_BG_COLS);
    const int taps = g->kh * g->kw, ow = (g->oc + 63) / 64;
    b->wflip = dr_xalign((size_t)g->ic * taps * g->oc);
    b->y = dr_xalign(sizeof(uint64_t) * (size_t)W * taps * ow * b->ic_pad);
    b->pre = dr_xalign(sizeof(int32_t) * (size_t)(g->kh + 1) * (g->kw + 1) * g->ic);
    b->threads = omp_get_max_threads();
    b->s = dr_xalign(sizeof(int32_t) * (size_t)b->threads * b->conv.rows_pad * b->ic_pad);
}

/* W' codes packed as the product's columns, and the prefix sums of their per-tap sums. */
static void flip_weights(dr_bitconv_grad *b, const uint8_t *wcodes)
{
    const dr_conv_geom *g = &b->g;
    const int taps = g->kh * g->kw, ic = g->ic, oc = g->oc, kw1 = g->kw + 1;
    int32_t *pre = b->pre;
    memset(pre, 0, sizeof(int32_t) * (size_t)(g->kh + 1) * kw1 * ic);
    for (int c = 0; c < ic; c++)
        for (int t = 0; t < taps; t++) { /* tap t of W' is tap taps-1-t of W */
            uint8_t *dst = b->wflip + ((size_t)c * taps + t) * oc;
            const uint8_t *src = wcodes + (size_t)(taps - 1 - t) * ic + c;
            int32_t sum = 0;
            for (int o = 0; o < oc; o++) sum += dst[o] = src[(size_t)o * taps * ic];
            const int ky = t / g->kw, kx = t % g->kw; /* pre[a][b] = sum over ky < a, kx < b */
            pre[((ky + 1) * kw1 + kx + 1) * ic + c] = sum + pre[(ky * kw1 + kx + 1) * ic + c] +
                                                      pre[((ky + 1) * kw1 + kx) * ic + c] - pre[(ky * kw1 + kx) * ic + c];
        }
    dr_pack_cols(b->wflip, ic, taps, oc, b->W, b->ic_pad, b->y, NULL);
}

/* d[c] += scale (4 s[c] - 2 nG wrect[c] + base), wrect from four prefix-sum rows (all modulo 2^32). */
DR_SIMD_CLONES static void add_bracket(float *restrict d, const int32_t *restrict s, const int32_t *r11, const int32_t *r01,
                        const int32_t *r10, const int32_t *r00, int n, uint32_t nG, uint32_t base, float scale, int store)
{
    if (store) { /* 0 + v: a zero is +0, as added to a zeroed d */
        for (int c = 0; c < n; c++) {
            const uint32_t wrect = (uint32_t)r11[c] - (uint32_t)r01[c] - (uint32_t)r10[c] + (uint32_t)r00[c];
            d[c] = 0.0f + scale * (float)(int32_t)(4u * (uint32_t)s[c] - 2u * nG * wrect + base);
        }
        return;
    }
    for (int c = 0; c < n; c++) {
        const uint32_t wrect = (uint32_t)r11[c] - (uint32_t)r01[c] - (uint32_t)r10[c] + (uint32_t)r00[c];
        d[c] += scale * (float)(int32_t)(4u * (uint32_t)s[c] - 2u * nG * wrect + base);
    }
}

void dr_bitconv_grad_input(dr_bitconv_grad *b, const dr_conv_geom *g, int n, const uint8_t *gcodes, int G,
                           const float *gscale, const uint8_t *wcodes, int W, float u, int nw, float *din,
                           int store)
{
    setup(b, g, G, W, n);
    flip_weights(b, wcodes);
    dr_bitconv *c = &b->conv;
    const int ic = g->ic, ic_pad = b->ic_pad, kw1 = g->kw + 1, pt = c->g.pad_top, pl = c->g.pad_left;
    const int nG = (1 << G) - 1;
#pragma omp parallel for schedule(dynamic)
    for (int i = 0; i < n; i++) {
        if (gscale[i] == 0) { /* an all-zero gradient adds nothing */
            if (store) memset(din + (size_t)i * g->ih * g->iw * ic, 0, sizeof(float) * g->ih * g->iw * ic);
            continue;
        }
        int32_t *s = b->s + (size_t)omp_get_thread_num() * c->rows_pad * ic_pad;
        dr_bitconv_pack(c, gcodes, i, 1, 1);
        dr_bitconv_product(c, i, 1, b->y, W, ic_pad, s, 1);
        const float scale = u * gscale[i] / (float)nG;
        const int32_t *gwin = c->asum + (size_t)i * c->rows_pad;
        for (int y = 0; y < g->ih; y++) {
            const int ky0 = DR_MAX(0, pt - y), ky1 = DR_MIN(g->kh, pt + g->oh - y);
            for (int x = 0; x < g->iw; x++) {
                const int kx0 = DR_MAX(0, pl - x), kx1 = DR_MIN(g->kw, pl + g->ow - x), p = y * g->iw + x;
                const int32_t *r11 = b->pre + (ky1 * kw1 + kx1) * ic, *r01 = b->pre + (ky0 * kw1 + kx1) * ic;
                const int32_t *r10 = b->pre + (ky1 * kw1 + kx0) * ic, *r00 = b->pre + (ky0 * kw1 + kx0) * ic;
                const uint32_t base = (uint32_t)(nG * nw) * (uint32_t)(g->oc * (ky1 - ky0) * (kx1 - kx0)) - 2u * nw * (uint32_t)gwin[p];
                add_bracket(din + ((size_t)i * g->ih * g->iw + p) * ic, s + (size_t)p * ic_pad, r11, r01, r10, r00, ic,
                            (uint32_t)nG, base, scale, store);
            }
        }
    }
}
