/* Bit-serial products of quantized layers (spec section 2).
 *
 * Every operand is an affine image of unsigned k-bit integers, so each product
 * is an integer product S computed by dr_bitgemm() plus cheap row and column
 * sums. With a = ascale qa, w = u (2 qw - nw) (u = 1/n_W and nw = n_W, or
 * u = E and nw = 1 for 1-bit weights), g = v (2 qg - n_G) (v = m_i / n_G):
 *   forward          y[p,o]  = u ascale (2 S - nw asum[p])                      S = sum_k qw qa
 *   backward-input   dA[p,k] = u v (4 S - 2 nw gsum[p] - 2 n_G wsum[k] + n_G nw O)  S = sum_o qg qw
 *   backward-weight  dW[o,k] += ascale v (2 S_i - n_G asum_i[k]) per sample i     S_i = sum_p qg qa
 * The bracket is an exact integer, computed modulo 2^32 (S too may wrap:
 * only the bracket's value must fit, which int_fits() checks, else the float
 * product runs), so only the final scaling rounds. Padding is exact: a padded
 * activation is the integer 0. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../quant/bits.h"
#include "bitconv.h"
#include "bitgemm.h"
#include "bitpack.h"
#include "products.h"
#include "wgrad_bits.h"

struct dr_bitbuf {
    uint8_t *acodes, *wcodes, *gcodes;
    uint64_t *xpix, *x, *y, *gpix, *tgrid;
    int32_t *s, *rsum, *csum;
    size_t cap[12];
    uint64_t a_pass, g_pass, w_pass; /* the pass whose activation / gradient / weight codes are held */
    dr_bitconv_grad *grad_input;     /* stride-1 backward-input as an implicit convolution */
    dr_bitconv conv;                 /* stride-1 forward as an implicit convolution (conv.x set) */
    int a_grid;                      /* the held activations are conv's grid, not xpix    */
    dr_wgrad_layout wgrad;           /* backward-weight's reduction over output pixels    */
};

void dr_bitbuf_free(dr_bitbuf *b)
{
    if (!b) return;
    free(b->acodes), free(b->wcodes), free(b->gcodes), free(b->xpix), free(b->x), free(b->y), free(b->gpix), free(b->tgrid);
    free(b->s), free(b->rsum), free(b->csum);
    dr_bitconv_grad_free(b->grad_input);
    dr_bitconv_free(&b->conv);
    dr_wgrad_layout_free(&b->wgrad);
    free(b);
}

/* Grows buffer i of b to at least `bytes` (contents not kept). */
static void *grow(dr_bitbuf *b, void **p, int i, size_t bytes)
{
    if (bytes > b->cap[i]) {
        free(*p);
        *p = dr_xalign(bytes);
        b->cap[i] = bytes;
    }
    return *p;
}
#define GROW(b, field, i, n) ((__typeof__((b)->field))grow(b, (void **)&(b)->field, i, (n) * sizeof *(b)->field))

static dr_bitbuf *bitbuf(const dr_qinfo *q)
{
    if (!*q->buf) *q->buf = dr_xcalloc(1, sizeof(dr_bitbuf));
    return *q->buf;
}

static inline int nwords(int bits) { return (bits + 63) / 64; }
static inline float levels(int k) { return (float)((1u << k) - 1u); }

/* ---- integer codes --------------------------------------------------------- */

/* Codes are the quantizers' outputs scaled back to integers; they are clamped
 * to the byte range before the cast (a NaN, which compares false, gives 0), so
 * that a diverged run's values cannot make the cast undefined. */
static inline float byte_range(float v)
{
    v = v > 0.0f ? v : 0.0f;
    return v < 255.0f ? v : 255.0f;
}

static void activation_codes(const float *x, size_t count, float ascale, uint8_t *codes)
{
    const float inv = 1.0f / ascale;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < count; i++) codes[i] = (uint8_t)byte_range(x[i] * inv + 0.5f);
}

static void gradient_codes(const float *dq, int n, size_t per, int bits, const float *scale, uint8_t *codes)
{
    const float half = levels(bits) * 0.5f;
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n; s++) {
        const float *g = dq + (size_t)s * per;
        uint8_t *c = codes + (size_t)s * per;
        if (scale[s] == 0) {
            memset(c, 0, per);
            continue;
        }
        const float inv = 1.0f / scale[s];
        for (size_t i = 0; i < per; i++) c[i] = (uint8_t)byte_range((g[i] * inv + 1.0f) * half + 0.5f);
    }
}

/* The input's codes: its quantizer's, or made from the float input. */
static const uint8_t *input_codes(dr_bitbuf *b, const float *in, size_t count, const dr_qinfo *q)
{
    if (q->acodes) return q->acodes;
    uint8_t *ac = GROW(b, acodes, 0, count);
    activation_codes(in, count, q->ascale, ac);
    return ac;
}

/* The weights as w = u (2 q - nw). */
static void weight_form(const dr_qinfo *q, float *u, int *nw)
{
    if (q->wbits == 1) *u = q->wscale, *nw = 1;
    else *u = 1 / levels(q->wbits), *nw = (1 << q->wbits) - 1;
}

/* ---- per-pass caches ------------------------------------------------------- */

/* The input's pixels as this pass's forward left them (the implicit
 * convolution's grid, or packed pixels), for backward-weight; packed pixels
 * (xpix[pixel][plane][cw]) made here when the forward did not run. */
static dr_pixel_map activation_pixels(dr_bitbuf *b, const dr_conv_geom *g, int n, const float *in, const dr_qinfo *q)
{
    const size_t pixels = (size_t)n * g->ih * g->iw;
    const int cw = (g->ic + 63) / 64, pw = q->abits * cw;
    if (q->pass && b->a_pass == q->pass && b->a_grid)
        return (dr_pixel_map){b->conv.x, (size_t)b->conv.hp * b->conv.wp * pw, b->conv.wp, g->pad_top, g->pad_left,
                              b->conv.hp * b->conv.wp};
    const dr_pixel_map plain = {b->xpix, (size_t)g->ih * g->iw * pw, g->iw, 0, 0, g->ih * g->iw};
    if (q->pass && b->a_pass == q->pass) return plain;
    const uint8_t *ac = input_codes(b, in, pixels * g->ic, q);
    uint64_t *xpix = GROW(b, xpix, 3, pixels * q->abits * cw);
    dr_pack_rows(ac, (int)pixels, g->ic, q->abits, cw, xpix);
    b->a_pass = q->pass;
    b->a_grid = 0;
    return (dr_pixel_map){xpix, plain.sample, plain.width, 0, 0, plain.pixels};
}

/* Gradient codes of the whole batch: made once per pass for both backward products. */
static const uint8_t *gradient_codes_of(dr_bitbuf *b, const dr_conv_geom *g, int n, const float *dout, const dr_qinfo *q)
{
    const size_t per = (size_t)dr_conv_p(g) * g->oc;
    if (q->gcodes) return q->gcodes;
    if (q->pass && b->g_pass == q->pass) return b->gcodes;
    uint8_t *gc = GROW(b, gcodes, 2, (size_t)n * per);
    gradient_codes(dout, n, per, q->gbits, q->gscale, gc);
    b->g_pass = q->pass;
    return gc;
}

/* Weight codes: made by the forward pass, reused by backward-input. */
static const uint8_t *weight_codes_of(dr_bitbuf *b, const dr_conv_geom *g, const float *w, const dr_qinfo *q)
{
    const size_t count = (size_t)g->oc * dr_conv_k(g);
    if (q->pass && b->w_pass == q->pass) return b->wcodes;
    uint8_t *wc = GROW(b, wcodes, 1, count);
    dr_weight_codes(w, count, q->wbits, wc);
    b->w_pass = q->pass;
    return wc;
}

/* ---- the three products -------------------------------------------------------- */

static int bit_ok(int a, int b) { return a < DR_FLOAT_BITS && b < DR_FLOAT_BITS; }

/* Whether a bracket (a sum of `terms` products of at most n_a n_b each) fits int32. */
static int int_fits(double terms, int a, int b)
{
    return terms * levels(a) * levels(b) < 2147483648.0;
}

/* The bracket's value from its terms added modulo 2^32 (unsigned: no overflow in C). */
static inline int32_t wrapped(uint32_t v) { return (int32_t)v; }

/* o[k] = scale (2 s[k] - base) + bias[k]: the forward's epilogue of one output pixel. */
DR_SIMD_CLONES static void store_bracket(float *restrict o, const int32_t *restrict s, int n, uint32_t base, float scale,
                                         const float *restrict bias)
{
    if (bias)
        for (int k = 0; k < n; k++) o[k] = scale * (float)wrapped(2u * (uint32_t)s[k] - base) + bias[k];
    else
        for (int k = 0; k < n; k++) o[k] = scale * (float)wrapped(2u * (uint32_t)s[k] - base);
}

/* Where backward-weight's padded bit work (64 pw G A per P real products)
 * stops paying: measured with `dorefa bench kernels` on SVHN Model A (2-core
 * AMD EPYC, AVX-512, each column block's product added straight into dW):
 * ratio 9.5 (conv1, G4) 1.4x faster than sgemm, 10.4 (conv3/4, G4) 1.2x,
 * 20.5 (conv5, G4) 1.4x slower: bit and float meet near 12. Each sample's
 * output pixels fill whole 64-bit words, and each of its column blocks pays
 * the bracket, so short reductions stay far from the AND+popcount ceiling. */
#define BIT_OVER_FLOAT 12.0
/* With the AVX2 kernel (nibble lookups, a quarter of that peak on a 2-core
 * Zen 3) the bit work pays far less: on the same shapes backward-weight ran
 * at 0.5x sgemm (conv1, ratio 9.5), 0.2x (conv3/4, 10.4), 0.1x (conv5,
 * 20.5). Ratios up to 4 (a layer of 128 or more output pixels per sample at
 * G4 A1) are left to the bits there; the scalar "c" kernel likewise. */
#define BIT_OVER_FLOAT_AVX2 4.0

/* Backward-weight reduces over each sample's output pixels alone (the gradient
 * scale m_i is per sample), so a layer with few output pixels fills 64-bit
 * words poorly: conv6 of SVHN Model A (1x1 output) uses 1 bit in 64. */
static int always_bits;

void dr_products_bit_always(int on) { always_bits = on; }

static int backward_weight_pays(const dr_conv_geom *g, int gbits, int abits)
{
    const int P = dr_conv_p(g);
    if (always_bits) return 1;
    const char *k = dr_bitgemm_kernel();
    const double crossover = !strcmp(k, "avx2") || !strcmp(k, "c") ? BIT_OVER_FLOAT_AVX2 : BIT_OVER_FLOAT;
    return 64.0 * nwords(P) * gbits * abits / P <= crossover;
}

static void bit_forward(const dr_conv_geom *g, int n, const float *in, const float *w, const float *bias,
                        float *out, dr_workspace *ws, const dr_qinfo *q)
{
    if (!q || g->groups != 1 || !bit_ok(q->abits, q->wbits) || !int_fits(dr_conv_k(g), q->abits, q->wbits)) {
        dr_products_float.forward(g, n, in, w, bias, out, ws, q);
        return;
    }
    dr_bitbuf *b = bitbuf(q);
    const int A = q->abits, W = q->wbits, cw = nwords(g->ic), KW = g->kh * g->kw * cw;
    const int P = dr_conv_p(g), rows = n * P, rows_pad = dr_round_up(rows, DR_BG_ROWS);
    const int oc_pad = dr_round_up(g->oc, DR_BG_COLS);
    b->g_pass = 0; /* gradients of this pass are not known yet */
    b->w_pass = 0; /* the weights may have changed since the last pass */
    const uint8_t *wc = weight_codes_of(b, g, w, q);
    uint64_t *y = GROW(b, y, 5, (size_t)W * KW * oc_pad);
    dr_pack_cols(wc, g->oc, g->kh * g->kw, g->ic, W, oc_pad, y, NULL);
    float u;
    int nw;
    weight_form(q, &u, &nw);
    const float scale = u * q->ascale;
    if (dr_bitconv_suits(g)) {
        /* implicit: each sample's codes go into the zero-bordered grid (kept
         * for backward-weight) and its product and epilogue stay in cache */
        dr_bitconv_ensure(&b->conv, g, A, n);
        dr_bitconv *c = &b->conv;
        const uint8_t *ac = input_codes(b, in, (size_t)n * g->ih * g->iw * g->ic, q);
        const size_t per_thread = (size_t)c->rows_pad * oc_pad;
        int32_t *sbuf = GROW(b, s, 6, (size_t)omp_get_max_threads() * per_thread);
#pragma omp parallel for schedule(dynamic)
        for (int i = 0; i < n; i++) {
            int32_t *si = sbuf + (size_t)omp_get_thread_num() * per_thread;
            dr_bitconv_pack(c, ac, i, 1, 1);
            dr_bitconv_product(c, i, 1, y, W, oc_pad, si, 1);
            const int32_t *asum = c->asum + (size_t)i * c->rows_pad;
            for (int p = 0; p < P; p++) {
                float *o = out + ((size_t)i * P + p) * g->oc;
                const int32_t *sp = si + (size_t)p * oc_pad;
                store_bracket(o, sp, g->oc, (uint32_t)nw * (uint32_t)asum[p], scale, bias);
            }
        }
        b->a_pass = q->pass;
        b->a_grid = 1;
        return;
    }
    /* codes and packed operands (the packed pixels are kept for backward-weight) */
    b->a_pass = 0; /* a new forward pass: recompute */
    const uint64_t *xpix = activation_pixels(b, g, n, in, q).base;
    uint64_t *x = GROW(b, x, 4, (size_t)rows_pad * A * KW);
    dr_bit_im2col(g, n, xpix, A, x, rows_pad);
    int32_t *asum = GROW(b, rsum, 7, (size_t)rows_pad);
    dr_row_sums(x, rows, A, KW, asum);
    int32_t *s = GROW(b, s, 6, (size_t)rows_pad * oc_pad);
    dr_bitgemm(&(dr_bitgemm_args){.x = x, .rows = rows, .xplanes = A, .y = y, .cols_pad = oc_pad, .yplanes = W, .words = KW, .s = s});
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++)
        store_bracket(out + (size_t)r * g->oc, s + (size_t)r * oc_pad, g->oc, (uint32_t)nw * (uint32_t)asum[r], scale, bias);
}

/* Whether each backward product runs on bits (else it falls back to float and
 * reads the float gradient): the one place these are decided. */
static int backward_input_bits(const dr_conv_geom *g, const dr_qinfo *q)
{
    return q && g->groups == 1 && bit_ok(q->gbits, q->wbits) &&
           int_fits((double)g->oc * g->kh * g->kw, q->gbits, q->wbits);
}

static int backward_weight_bits(const dr_conv_geom *g, const dr_qinfo *q)
{
    return q && g->groups == 1 && bit_ok(q->gbits, q->abits) && int_fits(dr_conv_p(g), q->gbits, q->abits) &&
           backward_weight_pays(g, q->gbits, q->abits);
}

int dr_products_bit_backward_on_codes(const dr_conv_geom *g, const dr_qinfo *q)
{
    return backward_input_bits(g, q) && backward_weight_bits(g, q);
}

/* The weight codes wc[oc][K] as columns over the output channels,
 * y[plane][oc word][k_pad] (zero beyond oc and K), and b->csum[k] = the sum
 * of column k's codes: per 64 x 64 tile, each row's planes packed along k,
 * then transposed (bits along o). */
static const uint64_t *weight_columns(dr_bitbuf *b, const uint8_t *wc, int oc, int K, int W, int k_pad)
{
    const int ow = nwords(oc);
    uint64_t *y = GROW(b, y, 5, (size_t)W * ow * k_pad);
    int32_t *wsum = GROW(b, csum, 8, (size_t)k_pad);
#pragma omp parallel
    {
        uint64_t a[8][64], planes[8];
#pragma omp for schedule(static)
        for (int k0 = 0; k0 < k_pad; k0 += 64) {
            const int kn = DR_MAX(0, DR_MIN(64, K - k0)), cn = DR_MIN(64, k_pad - k0);
            for (int c = 0; c < cn; c++) wsum[k0 + c] = 0;
            for (int o0 = 0; o0 < oc; o0 += 64) {
                for (int j = 0; j < 64; j++) {
                    if (o0 + j < oc && kn > 0) dr_pack_rows_serial(wc + (size_t)(o0 + j) * K + k0, 1, kn, W, 1, planes, NULL);
                    else memset(planes, 0, sizeof planes);
                    for (int p = 0; p < W; p++) a[p][j] = planes[p];
                }
                for (int p = 0; p < W; p++) {
                    dr_transpose64(a[p]);
                    uint64_t *yp = y + ((size_t)p * ow + o0 / 64) * k_pad + k0;
                    for (int c = 0; c < cn; c++) {
                        yp[c] = a[p][c];
                        wsum[k0 + c] += __builtin_popcountll(a[p][c]) << p;
                    }
                }
            }
        }
    }
    return y;
}

static void bit_backward_input(const dr_conv_geom *g, int n, const float *dout, const float *w, float *din,
                               int store, dr_workspace *ws, const dr_qinfo *q)
{
    if (!backward_input_bits(g, q)) {
        dr_products_float.backward_input(g, n, dout, w, din, store, ws, q);
        return;
    }
    dr_bitbuf *b = bitbuf(q);
    const int G = q->gbits, W = q->wbits, ow = nwords(g->oc), K = dr_conv_k(g), P = dr_conv_p(g);
    const int k_pad = dr_round_up(K, DR_BG_COLS);
    float u;
    int nw;
    weight_form(q, &u, &nw);
    if (dr_bitconv_grad_suits(g)) { /* gather form: no column matrix, no scatter */
        if (!b->grad_input) b->grad_input = dr_xcalloc(1, sizeof *b->grad_input);
        dr_bitconv_grad_input(b->grad_input, g, n, gradient_codes_of(b, g, n, dout, q), G, q->gscale,
                              weight_codes_of(b, g, w, q), W, u, nw, din, store);
        return;
    }
    if (store) memset(din, 0, sizeof(float) * (size_t)n * g->ih * g->iw * g->ic); /* the scatter adds */
    /* W^T, lane-interleaved over k, reduction over output channels; wsum[k] */
    const uint64_t *y = weight_columns(b, weight_codes_of(b, g, w, q), g->oc, K, W, k_pad);
    const int32_t *wsum = b->csum;
    /* samples in chunks bounded like an im2col; the corrections are fused
     * into the col2im scatter, so no float column matrix is written */
    int chunk = (int)DR_MAX(1, ((size_t)8 << 20) / ((size_t)P * K));
    chunk = DR_MIN(chunk, n);
    (void)ws;
    const int nG = (1 << G) - 1;
    const uint8_t *gall = gradient_codes_of(b, g, n, dout, q);
    for (int s0 = 0; s0 < n; s0 += chunk) {
        const int cn = DR_MIN(chunk, n - s0), rows = cn * P, rows_pad = dr_round_up(rows, DR_BG_ROWS);
        const uint8_t *gc = gall + (size_t)s0 * P * g->oc;
        uint64_t *x = GROW(b, x, 4, (size_t)rows_pad * G * ow);
        dr_pack_rows(gc, rows, g->oc, G, ow, x);
        memset(x + (size_t)rows * G * ow, 0, sizeof(uint64_t) * (rows_pad - rows) * G * ow);
        int32_t *gsum = GROW(b, rsum, 7, (size_t)rows_pad);
        dr_row_sums(x, rows, G, ow, gsum);
        int32_t *s = GROW(b, s, 6, (size_t)rows_pad * k_pad);
        dr_bitgemm(&(dr_bitgemm_args){.x = x, .rows = rows, .xplanes = G, .y = y, .cols_pad = k_pad, .yplanes = W, .words = ow, .s = s});
        /* one thread per sample: windows of different samples never overlap */
#pragma omp parallel for schedule(static)
        for (int si = 0; si < cn; si++) {
            const float scale = u * q->gscale[s0 + si] / (float)nG;
            float *dst = din + (size_t)(s0 + si) * g->ih * g->iw * g->ic;
            for (int p = 0; p < P; p++) {
                const int r = si * P + p, oy = p / g->ow, ox = p % g->ow;
                const uint32_t base = (uint32_t)(nG * nw) * (uint32_t)g->oc - 2u * nw * (uint32_t)gsum[r];
                const int32_t *sr = s + (size_t)r * k_pad;
                for (int ky = 0; ky < g->kh; ky++) {
                    int yy = oy * g->sh - g->pad_top + ky;
                    if (yy < 0 || yy >= g->ih) continue;
                    for (int kx = 0; kx < g->kw; kx++) {
                        int xx = ox * g->sw - g->pad_left + kx;
                        if (xx < 0 || xx >= g->iw) continue;
                        const int k0 = (ky * g->kw + kx) * g->ic;
                        float *d = dst + ((size_t)yy * g->iw + xx) * g->ic;
                        for (int c = 0; c < g->ic; c++)
                            d[c] += scale * (float)wrapped(4u * (uint32_t)sr[k0 + c] - 2u * nG * (uint32_t)wsum[k0 + c] + base);
                    }
                }
            }
        }
    }
}

static void bit_backward_weight(const dr_conv_geom *g, int n, const float *dout, const float *in, float *dw,
                                dr_workspace *ws, const dr_qinfo *q)
{
    if (!backward_weight_bits(g, q)) {
        dr_products_float.backward_weight(g, n, dout, in, dw, ws, q);
        return;
    }
    dr_bitbuf *b = bitbuf(q);
    const int G = q->gbits, A = q->abits, K = dr_conv_k(g), P = dr_conv_p(g), oc = g->oc;
    const int k_pad = dr_round_up(K, DR_BG_COLS), oc_pad = dr_round_up(oc, DR_BG_ROWS);
    const int ow = nwords(oc);
    /* 1. both operands packed along channels per pixel (the activations as the
     *    forward pass of this pass left them) */
    const dr_pixel_map apix = activation_pixels(b, g, n, in, q);
    const uint8_t *gc = gradient_codes_of(b, g, n, dout, q);
    uint64_t *gpix = GROW(b, gpix, 10, (size_t)n * P * G * ow);
    dr_pack_rows(gc, n * P, oc, G, ow, gpix);
    /* 2. per sample, with bits along its output pixels (wgrad_bits.h): G_i^T
     *    and the window columns, asum_i[k] from their popcounts */
    dr_wgrad_layout *L = &b->wgrad;
    dr_wgrad_layout_set(L, g, &apix);
    const int pw = L->words;
    const size_t xs = (size_t)oc_pad * G * pw, ys = (size_t)A * pw * k_pad, ts = dr_wgrad_scratch_words(L, g, A);
    uint64_t *x = GROW(b, x, 4, (size_t)n * xs), *y = GROW(b, y, 5, (size_t)n * ys);
    uint64_t *tg = GROW(b, tgrid, 11, (size_t)omp_get_max_threads() * ts);
    int32_t *asum = GROW(b, csum, 8, (size_t)n * k_pad);
#pragma omp parallel for schedule(dynamic)
    for (int i = 0; i < n; i++) {
        if (q->gscale[i] == 0) continue; /* an all-zero gradient adds nothing */
        dr_wgrad_gradient_rows(L, g, gpix + (size_t)i * P * G * ow, G, oc_pad, x + (size_t)i * xs);
        dr_wgrad_activation_cols(L, g, &apix, i, A, k_pad, ts ? tg + (size_t)omp_get_thread_num() * ts : NULL,
                                 y + (size_t)i * ys, asum + (size_t)i * k_pad);
    }
    /* 3. each thread owns a range of output-channel blocks and walks the
     *    samples in order (dW rows are summed in the same order for any thread
     *    count), all its blocks per sample while that sample's columns are in cache */
    const int nG = (1 << G) - 1;
    const int row_blocks = oc_pad / DR_BG_ROWS;
#pragma omp parallel
    {
        const int nt = omp_get_num_threads(), t = omp_get_thread_num();
        const int rb0 = (int)((long)row_blocks * t / nt), rb1 = (int)((long)row_blocks * (t + 1) / nt);
        for (int i = 0; i < n; i++)
            for (int rb = rb0; rb < rb1; rb++) {
                if (q->gscale[i] == 0) continue;
                const float scale = q->ascale * q->gscale[i] / (float)nG;
                const uint64_t *xi = x + (size_t)i * xs + (size_t)rb * DR_BG_ROWS * G * pw;
                const int o = rb * DR_BG_ROWS;
                dr_bitgemm_rows_add(xi, (size_t)G * pw, pw, G, y + (size_t)i * ys, (size_t)k_pad, A, K,
                                    asum + (size_t)i * k_pad, (uint32_t)nG, scale, dw + (size_t)o * K, (size_t)K,
                                    DR_MIN(DR_BG_ROWS, oc - o));
            }
    }
}

const dr_products dr_products_bit = {
    .name = "bit",
    .forward = bit_forward,
    .backward_input = bit_backward_input,
    .backward_weight = bit_backward_weight,
};
