/* The float products (im2col + sgemm, or direct for short reductions) against direct convolution loops in
 * double precision, for odd shapes, strides, padding modes and groups. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/bitgemm.h"
#include "kernels/direct_conv.h"
#include "kernels/products.h"
#include "testutil.h"

typedef struct {
    int n, ih, iw, ic, oc, k, stride, pad, groups;
} shape_case;

static void check_close(const char *what, const float *got, const double *want, size_t n)
{
    double err = 0, norm = 0;
    for (size_t i = 0; i < n; i++) {
        err += (got[i] - want[i]) * (got[i] - want[i]);
        norm += want[i] * want[i];
    }
    if (!(sqrt(err) <= 1e-5 * sqrt(norm) + 1e-6))
        fail_msg("%s: relative error %g", what, sqrt(err / (norm + 1e-30)));
}

static void run_case(const shape_case *c)
{
    dr_conv_geom g = {.ih = c->ih, .iw = c->iw, .ic = c->ic, .oc = c->oc, .kh = c->k, .kw = c->k,
                      .sh = c->stride, .sw = c->stride, .groups = c->groups};
    dr_conv_geom_resolve(&g, c->pad);
    size_t in_n = (size_t)c->n * c->ih * c->iw * c->ic, w_n = (size_t)c->oc * dr_conv_k(&g);
    size_t out_n = (size_t)c->n * g.oh * g.ow * c->oc;
    float *in = malloc(in_n * 4), *w = malloc(w_n * 4), *dout = malloc(out_n * 4);
    float *out = malloc(out_n * 4), *din = calloc(in_n, 4), *dw = calloc(w_n, 4);
    double *rout = calloc(out_n, 8), *rdin = calloc(in_n, 8), *rdw = calloc(w_n, 8);
    tu_fill(in, in_n, -1, 1, 1);
    tu_fill(w, w_n, -1, 1, 2);
    tu_fill(dout, out_n, -1, 1, 3);
    tu_conv_reference(&g, c->n, in, w, dout, rout, rdin, rdw, NULL);
    float *bias = malloc((size_t)c->oc * 4); /* every other case: a bias folded into the forward product */
    tu_fill(bias, (size_t)c->oc, -1, 1, 4);
    const int with_bias = (c->ih + c->oc) % 2;
    for (size_t i = 0; with_bias && i < out_n; i++) rout[i] += bias[i % c->oc];
    dr_workspace ws = {0};
    /* Poison the output: every element must be written. */
    for (size_t i = 0; i < out_n; i++) out[i] = NAN;
    dr_products_float.forward(&g, c->n, in, w, with_bias ? bias : NULL, out, &ws, NULL);
    const int store = (c->iw + c->oc) % 2; /* every other case stores din: every element written */
    for (size_t i = 0; store && i < in_n; i++) din[i] = NAN;
    dr_products_float.backward_input(&g, c->n, dout, w, din, store, &ws, NULL);
    dr_products_float.backward_weight(&g, c->n, dout, in, dw, &ws, NULL);
    check_close("forward", out, rout, out_n);
    check_close("backward_input", din, rdin, in_n);
    check_close("backward_weight", dw, rdw, w_n);
    dr_workspace_free(&ws);
    free(in), free(w), free(dout), free(out), free(din), free(dw), free(rout), free(rdin), free(rdw), free(bias);
}

static void test_float_products_match_direct_loops(void **state)
{
    (void)state;
    static const shape_case cases[] = {
        {2, 7, 7, 3, 5, 3, 1, DR_PAD_SAME, 1},   {3, 8, 6, 5, 4, 3, 2, DR_PAD_SAME, 1},
        {1, 9, 9, 4, 6, 5, 1, DR_PAD_VALID, 1},  {2, 10, 10, 6, 4, 3, 2, DR_PAD_VALID, 2},
        {2, 6, 6, 4, 8, 1, 1, DR_PAD_SAME, 1},   /* 1x1: im2col is the input itself */
        {4, 3, 3, 7, 5, 3, 1, DR_PAD_VALID, 1},  /* FC view: kernel covers the input */
        {2, 11, 11, 6, 6, 5, 3, DR_PAD_SAME, 3}, {1, 5, 5, 1, 1, 2, 2, DR_PAD_SAME, 1},
        /* direct convolution (K <= 256): more than one chunk of 64 pixels,
         * channel counts off the 16-lane blocks, groups of 3 blocks and single ones */
        {3, 11, 10, 3, 37, 5, 1, DR_PAD_SAME, 1}, {2, 9, 9, 2, 70, 3, 2, DR_PAD_SAME, 1},
        {2, 6, 6, 40, 20, 3, 1, DR_PAD_SAME, 1}, /* K = 360: im2col + sgemm */
    };
    /* with every bit kernel in turn: below the CPU's best, the direct loops' 8-float forms (AVX2's) */
    for (const char *const *k = dr_bitgemm_available(); *k; k++) {
        assert_int_equal(dr_bitgemm_select(*k), 0);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
    }
    dr_bitgemm_select(dr_bitgemm_available()[0]);
}

static void test_same_padding_follows_tensorflow(void **state)
{
    (void)state;
    dr_conv_geom g = {.ih = 18, .iw = 9, .kh = 2, .kw = 3, .sh = 2, .sw = 2, .groups = 1};
    dr_conv_geom_resolve(&g, DR_PAD_SAME);
    assert_int_equal(g.oh, 9);        /* ceil(18 / 2) */
    assert_int_equal(g.ow, 5);        /* ceil(9 / 2)  */
    assert_int_equal(g.pad_top, 0);   /* total 0: (9-1)*2+2-18 */
    assert_int_equal(g.pad_left, 1);  /* total 2 -> 1 before, 1 after */
    dr_conv_geom_resolve(&g, DR_PAD_VALID);
    assert_int_equal(g.oh, 9);
    assert_int_equal(g.ow, 4);
}

/* The first layer's conv fused with its 2x2 max-pool (training): pooled values
 * and winners exactly those of dr_direct_conv followed by the max-pool's scan
 * (integer sums: many ties, the first pixel must win), and its weight and
 * bias gradients from the pooled gradient equal the dense conv's for the
 * scattered gradient. Odd pooled sizes, a conv row left over, SAME padding,
 * stride 2, kernels whose rows take 1 or 2 vectors, channels across tiles. */
static void test_conv_pool_pass_matches_steps(void **state)
{
    (void)state;
    dr_rng r;
    dr_rng_seed(&r, 5, DR_RNG_TEST, 0, 0);
    const char *const *kernels = dr_bitgemm_available();
    int nk = 0;
    while (kernels[nk]) nk++;
    for (int trial = 0; trial < 24; trial++) {
        /* each bit kernel in turn: below the CPU's best, the 8-float loops (AVX2's) run */
        assert_int_equal(dr_bitgemm_select(kernels[trial % nk]), 0);
        const int k = trial % 3 == 2 ? 7 : 3 + 2 * (trial % 2), stride = 1 + (trial % 4 == 3);
        dr_conv_geom g = {.ih = 8 + (int)dr_rng_below(&r, 9), .iw = 8 + (int)dr_rng_below(&r, 9),
                          .ic = 1 + (int)dr_rng_below(&r, 3), .oc = 1 + (int)dr_rng_below(&r, 70),
                          .kh = k, .kw = k, .sh = stride, .sw = stride, .groups = 1};
        dr_conv_geom_resolve(&g, trial % 3 ? DR_PAD_SAME : DR_PAD_VALID);
        dr_conv_geom pg = {.ih = g.oh, .iw = g.ow, .ic = g.oc, .oc = g.oc, .kh = 2, .kw = 2, .sh = 2, .sw = 2,
                           .groups = 1};
        dr_conv_geom_resolve(&pg, trial % 2 ? DR_PAD_VALID : DR_PAD_SAME);
        if (!dr_direct_pool_suits(&g, &pg)) dr_conv_geom_resolve(&pg, DR_PAD_VALID); /* SAME on an odd size pads */
        assert_true(dr_direct_pool_suits(&g, &pg));
        assert_true(dr_direct_pool_backward_suits(&g));
        const int n = 1 + trial % 3, K = dr_conv_k(&g), oc_pad = (g.oc + 15) / 16 * 16, P = g.oh * g.ow;
        const int PP = pg.oh * pg.ow;
        const size_t in_n = (size_t)n * g.ih * g.iw * g.ic, out_n = (size_t)n * P * g.oc, pn = (size_t)n * PP * g.oc;
        float *in = malloc(sizeof(float) * in_n), *w = malloc(sizeof(float) * K * g.oc);
        float *wt = malloc(sizeof(float) * K * oc_pad), *bias = malloc(sizeof(float) * g.oc);
        float *out = malloc(sizeof(float) * out_n), *pooled = malloc(sizeof(float) * pn);
        float *dpool = malloc(sizeof(float) * pn), *dw = malloc(sizeof(float) * K * g.oc);
        float *db = malloc(sizeof(float) * g.oc);
        int32_t *am = malloc(sizeof(int32_t) * pn);
        for (size_t i = 0; i < in_n; i++) in[i] = (float)dr_rng_below(&r, 3);
        for (int i = 0; i < K * g.oc; i++) w[i] = (float)dr_rng_below(&r, 3) - 1.0f;
        for (int o = 0; o < g.oc; o++) bias[o] = (float)dr_rng_below(&r, 2);
        dr_direct_weights(&g, w, wt);
        dr_direct_conv_pool(&g, &pg, n, in, wt, bias, pooled, am);
        dr_direct_conv(&g, n, in, wt, bias, out);
        int ties = 0;
        for (int s = 0; s < n; s++)
            for (int p = 0; p < PP; p++)
                for (int o = 0; o < g.oc; o++) {
                    const size_t at = ((size_t)s * PP + p) * g.oc + o;
                    const int y = 2 * (p / pg.ow), x = 2 * (p % pg.ow);
                    int32_t best = (y * g.ow + x) * g.oc + o;
                    for (int q = 1; q < 4; q++) {
                        const int32_t c = ((y + q / 2) * g.ow + x + q % 2) * g.oc + o;
                        ties += out[(size_t)s * P * g.oc + c] == out[(size_t)s * P * g.oc + best];
                        if (out[(size_t)s * P * g.oc + c] > out[(size_t)s * P * g.oc + best]) best = c;
                    }
                    assert_int_equal(am[at], best);
                    assert_true(pooled[at] == out[(size_t)s * P * g.oc + best]);
                }
        assert_true(ties > 0);
        /* backward: the dense gradient is dpool at the winners, zero elsewhere */
        tu_fill(dpool, pn, -1, 1, 20 + (uint64_t)trial);
        float *dense = calloc(out_n, sizeof(float));
        for (int s = 0; s < n; s++)
            for (int p = 0; p < PP; p++)
                for (int o = 0; o < g.oc; o++) {
                    const size_t at = ((size_t)s * PP + p) * g.oc + o;
                    dense[(size_t)s * P * g.oc + am[at]] = dpool[at];
                }
        double *rout = calloc(out_n, 8), *rdin = calloc(in_n, 8), *rdw = calloc((size_t)K * g.oc, 8);
        double *rdb = calloc((size_t)g.oc, 8);
        tu_conv_reference(&g, n, in, w, dense, rout, rdin, rdw, NULL);
        for (size_t i = 0; i < out_n; i++) rdb[i % g.oc] += dense[i];
        for (int i = 0; i < K * g.oc; i++) rdw[i] += dw[i] = 0.25f * (float)(i % 5); /* dw and db are added to */
        for (int o = 0; o < g.oc; o++) rdb[o] += db[o] = -0.5f;
        float *scratch = malloc(sizeof(float) * dr_direct_pool_backward_weight_scratch(&g, &pg, n));
        dr_direct_pool_backward_weight(&g, &pg, n, dpool, am, in, dw, db, scratch);
        check_close("pooled backward_weight", dw, rdw, (size_t)K * g.oc);
        check_close("pooled bias gradient", db, rdb, (size_t)g.oc);
        free(in), free(w), free(wt), free(bias), free(out), free(pooled), free(dpool), free(dw), free(db), free(am);
        free(dense), free(rout), free(rdin), free(rdw), free(rdb), free(scratch);
    }
    dr_bitgemm_select(kernels[0]);
}

/* The direct convolution's sums are one fused multiply-add chain per output,
 * bias first, then the window in [ky][kx][ic] order: with every kernel the
 * build has (DOREFA_KERNEL: on aarch64 the NEON loop or the generic one),
 * each output equals that chain done with fmaf, bit for bit. Non-integer
 * inputs, window rows of 1 to 21 floats (the NEON loop's 4-float steps and
 * their remainders), padding, channel counts off the 16-lane blocks. */
static void test_direct_conv_is_one_fma_chain_every_kernel(void **state)
{
    (void)state;
#if defined(__x86_64__)
    if (!__builtin_cpu_supports("fma")) skip(); /* the build's default clone multiplies, then adds */
#endif
    dr_rng r;
    dr_rng_seed(&r, 26, DR_RNG_TEST, 0, 0);
    const char *const *kernels = dr_bitgemm_available();
    for (int trial = 0; trial < 12; trial++) {
        const int k = 1 + 2 * (trial % 4), ic = 1 + trial % 3;
        dr_conv_geom g = {.ih = 6 + trial % 5, .iw = 7 + trial % 4, .ic = ic, .oc = 5 + 9 * trial,
                          .kh = k, .kw = k, .sh = 1 + trial % 2, .sw = 1 + trial % 2, .groups = 1};
        dr_conv_geom_resolve(&g, trial % 3 ? DR_PAD_SAME : DR_PAD_VALID);
        assert_true(dr_direct_suits(&g));
        const int n = 2, K = dr_conv_k(&g), oc_pad = (g.oc + 15) / 16 * 16;
        const size_t in_n = (size_t)n * g.ih * g.iw * ic, out_n = (size_t)n * g.oh * g.ow * g.oc;
        float *in = malloc(sizeof(float) * in_n), *w = malloc(sizeof(float) * K * g.oc);
        float *wt = malloc(sizeof(float) * K * oc_pad), *bias = malloc(sizeof(float) * g.oc);
        float *out = malloc(sizeof(float) * out_n);
        for (size_t i = 0; i < in_n; i++) in[i] = dr_rng_uniform(&r);
        for (int i = 0; i < K * g.oc; i++) w[i] = dr_rng_uniform(&r) - 0.5f;
        for (int o = 0; o < g.oc; o++) bias[o] = dr_rng_uniform(&r) - 0.5f;
        dr_direct_weights(&g, w, wt);
        for (const char *const *kn = kernels; *kn; kn++) {
            assert_int_equal(dr_bitgemm_select(*kn), 0);
            memset(out, 0, sizeof(float) * out_n);
            dr_direct_conv(&g, n, in, wt, bias, out);
            for (int s = 0; s < n; s++)
                for (int oy = 0; oy < g.oh; oy++)
                    for (int ox = 0; ox < g.ow; ox++)
                        for (int o = 0; o < g.oc; o++) {
                            float acc = bias[o];
                            for (int ky = 0; ky < k; ky++)
                                for (int kx = 0; kx < k; kx++)
                                    for (int c = 0; c < ic; c++) {
                                        const int y = oy * g.sh - g.pad_top + ky, x = ox * g.sw - g.pad_left + kx;
                                        const float v = y >= 0 && y < g.ih && x >= 0 && x < g.iw
                                                            ? in[(((size_t)s * g.ih + y) * g.iw + x) * ic + c]
                                                            : 0.0f;
                                        acc = fmaf(v, w[(size_t)o * K + (ky * k + kx) * ic + c], acc);
                                    }
                            const float got = out[(((size_t)s * g.oh + oy) * g.ow + ox) * g.oc + o];
                            if (got != acc)
                                fail_msg("kernel %s, k%d ic %d oc %d: output (%d,%d,%d,%d) = %.9g, the chain %.9g", *kn,
                                         k, ic, g.oc, s, oy, ox, o, got, acc);
                        }
        }
        free(in), free(w), free(wt), free(bias), free(out);
    }
    dr_bitgemm_select(kernels[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_float_products_match_direct_loops),
        cmocka_unit_test(test_same_padding_follows_tensorflow),
        cmocka_unit_test(test_conv_pool_pass_matches_steps),
        cmocka_unit_test(test_direct_conv_is_one_fma_chain_every_kernel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
