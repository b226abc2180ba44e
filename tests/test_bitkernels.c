/* Bit-serial products (spec section 2) against the float product of the
 * dequantized tensors: every kernel variant the CPU runs, every pair of
 * bitwidths 1..8 x 1..8, odd shapes, padding, strides 1 and 2, batches 1 and 3. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/bitconv.h"
#include "kernels/bitgemm.h"
#include "kernels/bitpack.h"
#include "kernels/products.h"
#include "testutil.h"

/* ---- the bit-GEMM itself ------------------------------------------------------ */

static void test_bitgemm_matches_naive_counts(void **s)
{
    (void)s;
    const char *const *kernels = dr_bitgemm_available();
    assert_non_null(kernels[0]);
    dr_rng r;
    dr_rng_seed(&r, 5, DR_RNG_TEST, 0, 0);
    for (int kv = 0; kernels[kv]; kv++) {
        assert_int_equal(dr_bitgemm_select(kernels[kv]), 0);
        for (int trial = 0; trial < 12 + 64; trial++) {
            int rows = 1 + (int)dr_rng_below(&r, 13), cols = 1 + (int)dr_rng_below(&r, 70);
            int words = 1 + (int)dr_rng_below(&r, 40), mx = 1 + (int)dr_rng_below(&r, 8), my = 1 + (int)dr_rng_below(&r, 8);
            if (trial == 0) words = 70; /* more than the AVX2 byte counters hold at once */
            if (trial >= 12) /* one row (a small batch's 1x1 conv or fc): every pair of bitwidths */
                rows = 1, mx = 1 + (trial - 12) / 8, my = 1 + (trial - 12) % 8, words = 1 + trial % 3 * 20;
            int rows_pad = dr_round_up(rows, DR_BG_ROWS), cols_pad = dr_round_up(cols, DR_BG_COLS);
            uint64_t *x = calloc((size_t)rows_pad * mx * words, 8), *y = calloc((size_t)my * words * cols_pad, 8);
            int32_t *out = malloc(sizeof(int32_t) * rows_pad * cols_pad);
            for (size_t i = 0; i < (size_t)rows * mx * words; i++) x[i] = dr_rng_u64(&r);
            for (int k = 0; k < my; k++)
                for (int w = 0; w < words; w++)
                    for (int c = 0; c < cols; c++) y[((size_t)k * words + w) * cols_pad + c] = dr_rng_u64(&r);
            dr_bitgemm(&(dr_bitgemm_args){.x = x, .rows = rows, .xplanes = mx, .y = y, .cols_pad = cols_pad, .yplanes = my, .words = words, .s = out});
            for (int i = 0; i < rows; i++)
                for (int c = 0; c < cols; c++) {
                    int64_t want = 0;
                    for (int m = 0; m < mx; m++)
                        for (int k = 0; k < my; k++)
                            for (int w = 0; w < words; w++)
                                want += (int64_t)__builtin_popcountll(x[((size_t)i * mx + m) * words + w] &
                                                                      y[((size_t)k * words + w) * cols_pad + c])
                                        << (m + k);
                    if (out[(size_t)i * cols_pad + c] != want)
                        fail_msg("%s: S[%d][%d] = %d, expected %lld", kernels[kv], i, c, out[(size_t)i * cols_pad + c],
                                 (long long)want);
                }
            free(x), free(y), free(out);
        }
    }
    dr_bitgemm_select(kernels[0]);
}

/* ---- the three products ---------------------------------------------------------- */

typedef struct {
    int n, ih, iw, ic, oc, k, stride, pad;
} shape;

static const shape SHAPES[] = {
    {3, 7, 6, 37, 11, 3, 1, DR_PAD_SAME},   /* odd channels, padding      */
    {1, 9, 9, 70, 33, 3, 2, DR_PAD_SAME},   /* stride 2, > 64 channels    */
    {2, 6, 6, 5, 9, 5, 1, DR_PAD_VALID},    /* FC-like: kernel covers most */
    {3, 4, 4, 64, 8, 1, 1, DR_PAD_VALID},   /* 1x1                         */
    {2, 12, 11, 20, 9, 3, 1, DR_PAD_SAME},  /* a padded grid of 3 words     */
    {2, 11, 13, 70, 5, 3, 1, DR_PAD_VALID}, /* VALID grid of 3 words, 2 channel words */
};
#define NSHAPES (int)(sizeof SHAPES / sizeof SHAPES[0])

/* Random quantized operands and their dequantized floats. */
static void make_operands(const dr_conv_geom *g, int n, int A, int W, int G, float ascale, uint64_t seed,
                          float *in, float *w, float *dout, float *gscale, float *wscale, uint8_t *acodes,
                          uint8_t *gcodes)
{
    dr_rng r;
    dr_rng_seed(&r, seed, DR_RNG_TEST, (uint64_t)(A * 100 + W * 10 + G), 1);
    const float nA = (float)((1u << A) - 1), nW = (float)((1u << W) - 1), nG = (float)((1u << G) - 1);
    for (size_t i = 0; i < (size_t)n * g->ih * g->iw * g->ic; i++) {
        acodes[i] = (uint8_t)dr_rng_below(&r, (uint32_t)nA + 1);
        in[i] = (float)acodes[i] * ascale;
    }
    *wscale = 0.05f + dr_rng_uniform(&r);
    for (size_t i = 0; i < (size_t)g->oc * dr_conv_k(g); i++) {
        uint32_t q = dr_rng_below(&r, (uint32_t)nW + 1);
        w[i] = W == 1 ? (q ? *wscale : -*wscale) : (2.0f * q - nW) / nW;
    }
    size_t per = (size_t)g->oh * g->ow * g->oc;
    for (int s = 0; s < n; s++) {
        gscale[s] = s == 1 ? 0.0f : 1e-3f + dr_rng_uniform(&r); /* sample 1: an all-zero gradient */
        for (size_t i = 0; i < per; i++) {
            const uint32_t q = dr_rng_below(&r, (uint32_t)nG + 1);
            dout[s * per + i] = gscale[s] * (2.0f * (float)q - nG) / nG;
            gcodes[s * per + i] = gscale[s] == 0 ? 0 : (uint8_t)q; /* as the gradient quantizer writes them */
        }
    }
}

static void close_enough(const char *what, int A, int W, int G, const float *got, const double *want,
                         const double *mag, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double tol = 2e-6 * (mag ? mag[i] : fabs(want[i])) + 1e-7;
        if (!(fabs(got[i] - want[i]) <= tol))
            fail_msg("%s (W,A,G = %d,%d,%d, kernel %s): element %zu is %.9g, float product %.9g", what, W, A, G,
                     dr_bitgemm_kernel(), i, got[i], want[i]);
    }
}

static void check_products(const shape *sh, int A, int W, int G, float ascale)
{
    dr_conv_geom g = {.ih = sh->ih, .iw = sh->iw, .ic = sh->ic, .oc = sh->oc, .kh = sh->k, .kw = sh->k,
                      .sh = sh->stride, .sw = sh->stride, .groups = 1};
    dr_conv_geom_resolve(&g, sh->pad);
    const int n = sh->n;
    size_t in_n = (size_t)n * g.ih * g.iw * g.ic, w_n = (size_t)g.oc * dr_conv_k(&g), out_n = (size_t)n * g.oh * g.ow * g.oc;
    float *in = malloc(in_n * 4), *w = malloc(w_n * 4), *dout = malloc(out_n * 4), *gs = malloc(n * 4), ws_e;
    float *out = malloc(out_n * 4), *din = calloc(in_n, 4), *dw = calloc(w_n, 4);
    double *rout = calloc(out_n, 8), *rmag = calloc(out_n, 8), *rdin = calloc(in_n, 8), *rdw = calloc(w_n, 8);
    uint8_t *acodes = malloc(in_n), *gcodes = malloc(out_n);
    make_operands(&g, n, A, W, G, ascale, 9, in, w, dout, gs, &ws_e, acodes, gcodes);
    tu_conv_reference(&g, n, in, w, dout, rout, rdin, rdw, rmag);
    dr_bitbuf *buf = NULL;
    /* as a layer does, half the cases share packing between the products of one pass, and
     * (other halves) take the gradient's and the input's codes from their quantizers */
    dr_qinfo q = {A, W, G, ascale, ws_e, gs, &buf, (uint64_t)((A + W) % 2 ? 0 : 1 + A), (A + G) % 2 ? gcodes : NULL,
                  (W + G) % 2 ? acodes : NULL};
    dr_workspace wsp = {0};
    for (size_t i = 0; i < out_n; i++) out[i] = NAN; /* every output must be written */
    float *bias = NULL; /* a third of the cases: a bias folded into the forward epilogue */
    if ((A + W) % 3 == 0) {
        bias = malloc((size_t)g.oc * 4);
        for (int o = 0; o < g.oc; o++) bias[o] = 0.25f * (float)(o % 7) - 0.5f;
        for (size_t i = 0; i < out_n; i++) rout[i] += bias[i % g.oc], rmag[i] += fabs(bias[i % g.oc]);
    }
    dr_products_bit.forward(&g, n, in, w, bias, out, &wsp, &q);
    free(bias);
    const int store = (A + W + G) % 2; /* half the cases store din: every element must be written */
    for (size_t i = 0; store && i < in_n; i++) din[i] = NAN;
    /* given the codes, where both run on them a layer does not make the float gradient */
    const float *gf = q.gcodes && dr_products_bit_backward_on_codes(&g, &q) ? NULL : dout;
    dr_products_bit.backward_input(&g, n, gf, w, din, store, &wsp, &q);
    dr_products_bit.backward_weight(&g, n, gf, in, dw, &wsp, &q);
    close_enough("forward", A, W, G, out, rout, rmag, out_n);
    /* gradient magnitudes: bound by the sums of |terms| in double */
    double *mag_in = calloc(in_n, 8), *mag_w = calloc(w_n, 8), *dummy = calloc(out_n, 8);
    float *aw = malloc(w_n * 4), *aa = malloc(in_n * 4), *ad = malloc(out_n * 4);
    for (size_t i = 0; i < w_n; i++) aw[i] = fabsf(w[i]);
    for (size_t i = 0; i < in_n; i++) aa[i] = fabsf(in[i]);
    for (size_t i = 0; i < out_n; i++) ad[i] = fabsf(dout[i]);
    tu_conv_reference(&g, n, aa, aw, ad, dummy, mag_in, mag_w, NULL);
    close_enough("backward_input", A, W, G, din, rdin, mag_in, in_n);
    close_enough("backward_weight", A, W, G, dw, rdw, mag_w, w_n);
    dr_bitbuf_free(buf);
    dr_workspace_free(&wsp);
    free(in), free(w), free(dout), free(gs), free(out), free(din), free(dw), free(rout), free(rmag), free(rdin), free(rdw);
    free(mag_in), free(mag_w), free(dummy), free(aw), free(aa), free(ad), free(acodes), free(gcodes);
}

static void test_products_all_bitwidths(void **s)
{
    (void)s;
    const char *const *kernels = dr_bitgemm_available();
    for (int kv = 0; kernels[kv]; kv++) {
        assert_int_equal(dr_bitgemm_select(kernels[kv]), 0);
        for (int A = 1; A <= 8; A++)
            for (int W = 1; W <= 8; W++) {
                int G = 1 + (A * 3 + W) % 8; /* G runs through 1..8 as well */
                float nA = (float)((1u << A) - 1);
                check_products(&SHAPES[(A + W) % NSHAPES], A, W, G, 1.0f / nA);
            }
    }
    dr_bitgemm_select(kernels[0]);
}

static void test_products_every_shape_and_dropout_scale(void **s)
{
    (void)s;
    /* each shape at a few bitwidths, and activations scaled by 1/(keep n_A) as after dropout */
    for (int i = 0; i < NSHAPES; i++) {
        check_products(&SHAPES[i], 2, 1, 4, 1.0f / 3);
        check_products(&SHAPES[i], 8, 8, 8, 1.0f / 255);
        check_products(&SHAPES[i], 2, 1, 4, 1.0f / (3 * 0.5f));
    }
}

/* 8-bit operands at their extremes over 40000 terms: each product's integer
 * bracket (40000 * 255 * 255) would not fit 32 bits, so the float product must
 * take over; the sums are exact in float. */
static void test_products_beyond_int32(void **s)
{
    (void)s;
    enum { T = 40000 };
    const struct { int ih, iw, ic, oc; } geo[] = {{1, 1, T, 1}, {1, 1, 1, T}, {200, 200, 1, 1}};
    for (int v = 0; v < 3; v++) {
        dr_conv_geom g = {.ih = geo[v].ih, .iw = geo[v].iw, .ic = geo[v].ic, .oc = geo[v].oc, .kh = 1, .kw = 1,
                          .sh = 1, .sw = 1, .groups = 1};
        dr_conv_geom_resolve(&g, DR_PAD_VALID);
        const size_t in_n = (size_t)g.ih * g.iw * g.ic, w_n = (size_t)g.oc * g.ic, out_n = (size_t)g.oh * g.ow * g.oc;
        float *in = malloc(in_n * 4), *w = malloc(w_n * 4), *dout = malloc(out_n * 4), gs = 0.5f;
        float *out = malloc(out_n * 4), *din = calloc(in_n, 4), *dw = calloc(w_n, 4);
        for (size_t i = 0; i < in_n; i++) in[i] = 1.0f; /* code 255 of 1/255 */
        for (size_t i = 0; i < w_n; i++) w[i] = 1.0f;   /* code 255 */
        for (size_t i = 0; i < out_n; i++) dout[i] = gs; /* code 255 of a scale 0.5 */
        dr_bitbuf *buf = NULL;
        dr_qinfo q = {8, 8, 8, 1.0f / 255, 0, &gs, &buf, 1, NULL, NULL};
        dr_workspace wsp = {0};
        dr_products_bit.forward(&g, 1, in, w, NULL, out, &wsp, &q);
        dr_products_bit.backward_input(&g, 1, dout, w, din, 0, &wsp, &q);
        dr_products_bit.backward_weight(&g, 1, dout, in, dw, &wsp, &q);
        /* forward sums ic terms, backward-input oc terms, backward-weight the pixels */
        assert_float_equal(out[0], (float)g.ic, 1e-3 * g.ic);
        assert_float_equal(din[0], 0.5f * (float)g.oc, 1e-3 * g.oc);
        assert_float_equal(dw[0], 0.5f * (float)(g.oh * g.ow), 1e-3 * g.oh * g.ow);
        dr_bitbuf_free(buf);
        dr_workspace_free(&wsp);
        free(in), free(w), free(dout), free(out), free(din), free(dw);
    }
}

/* ---- the implicit convolution (no im2col) ---------------------------------------- */

/* Every output of dr_bitconv_product against the naive integer sum of code
 * products over the zero-padded window, and its window sums, for every pair
 * of bitwidths, with odd channel counts (1..3 words per pixel), 3x3 and 5x5,
 * SAME and VALID, on every kernel the CPU runs. */
static void test_implicit_conv_matches_naive_sums(void **s)
{
    (void)s;
    dr_rng r;
    dr_rng_seed(&r, 11, DR_RNG_TEST, 0, 0);
    const char *const *kernels = dr_bitgemm_available();
    int checked = 0;
    for (int A = 1; A <= 8; A++)
        for (int W = 1; W <= 8; W++) {
            dr_conv_geom g = {.ih = 5 + (int)dr_rng_below(&r, 4), .iw = 20 + (int)dr_rng_below(&r, 16),
                              .ic = 1 + (int)dr_rng_below(&r, 150), .oc = 1 + (int)dr_rng_below(&r, 40),
                              .sh = 1, .sw = 1, .groups = 1};
            g.kh = g.kw = (A + W) % 3 ? 3 : 5;
            dr_conv_geom_resolve(&g, (A * W) % 2 ? DR_PAD_SAME : DR_PAD_VALID);
            if (!dr_bitconv_suits(&g)) continue;
            assert_int_equal(dr_bitgemm_select(kernels[(A + W) % 2 && kernels[1] ? 1 : 0]), 0);
            const int n = 2, K = dr_conv_k(&g), cols_pad = dr_round_up(g.oc, DR_BG_COLS);
            uint8_t *x = malloc((size_t)n * g.ih * g.iw * g.ic), *w = malloc((size_t)g.oc * K);
            for (size_t i = 0; i < (size_t)n * g.ih * g.iw * g.ic; i++) x[i] = (uint8_t)dr_rng_below(&r, 1u << A);
            for (size_t i = 0; i < (size_t)g.oc * K; i++) w[i] = (uint8_t)dr_rng_below(&r, 1u << W);
            const int cw = (g.ic + 63) / 64;
            uint64_t *y = dr_xalign((size_t)W * g.kh * g.kw * cw * cols_pad * 8);
            dr_pack_cols(w, g.oc, g.kh * g.kw, g.ic, W, cols_pad, y, NULL);
            dr_bitconv c;
            dr_bitconv_init(&c, &g, A, n);
            dr_bitconv_pack(&c, x, 0, n, 0);
            int32_t *out = malloc(sizeof(int32_t) * n * c.rows_pad * cols_pad);
            dr_bitconv_product(&c, 0, n, y, W, cols_pad, out, 0);
            for (int i = 0; i < n; i++)
                for (int oy = 0; oy < g.oh; oy++)
                    for (int ox = 0; ox < g.ow; ox++) {
                        const size_t row = (size_t)i * c.rows_pad + (size_t)oy * g.ow + ox;
                        int32_t want_sum = 0;
                        for (int o = 0; o < g.oc; o++) {
                            int64_t want = 0;
                            for (int ky = 0; ky < g.kh; ky++)
                                for (int kx = 0; kx < g.kw; kx++) {
                                    const int yy = oy - g.pad_top + ky, xx = ox - g.pad_left + kx;
                                    if (yy < 0 || yy >= g.ih || xx < 0 || xx >= g.iw) continue;
                                    for (int ci = 0; ci < g.ic; ci++) {
                                        const int xc = x[(((size_t)i * g.ih + yy) * g.iw + xx) * g.ic + ci];
                                        want += xc * w[(size_t)o * K + (ky * g.kw + kx) * g.ic + ci];
                                        if (!o) want_sum += xc;
                                    }
                                }
                            if (out[row * cols_pad + o] != want)
                                fail_msg("A=%d W=%d %dx%dx%d k%d: S[%d][%d][%d][%d] = %d, expected %lld", A, W, g.ih, g.iw,
                                         g.ic, g.kh, i, oy, ox, o, out[row * cols_pad + o], (long long)want);
                        }
                        assert_int_equal(c.asum[row], want_sum);
                    }
            checked++;
            dr_bitconv_free(&c);
            free(x), free(w), free(y), free(out);
        }
    if (checked < 48) fail_msg("only %d of 64 shapes suit the implicit form", checked);
    dr_bitgemm_select(kernels[0]);
}

static void test_forced_kernel_by_name(void **s)
{
    (void)s;
    assert_int_equal(dr_bitgemm_select("c"), 0);
    assert_string_equal(dr_bitgemm_kernel(), "c");
    assert_int_equal(dr_bitgemm_select("nonsense"), -1);
    tu_assert_error_has("unknown kernel 'nonsense'");
    dr_bitgemm_select(dr_bitgemm_available()[0]);
    printf("kernels on this CPU:");
    for (const char *const *k = dr_bitgemm_available(); *k; k++) printf(" %s", *k);
    printf("\n");
}

int main(void)
{
    dr_products_bit_always(1); /* test the bit path even where the cost model would not use it */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bitgemm_matches_naive_counts),
        cmocka_unit_test(test_products_all_bitwidths),
        cmocka_unit_test(test_products_every_shape_and_dropout_scale),
        cmocka_unit_test(test_products_beyond_int32),
        cmocka_unit_test(test_implicit_conv_matches_naive_sums),
        cmocka_unit_test(test_forced_kernel_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
