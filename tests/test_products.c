/* The float products (im2col + sgemm, or direct for short reductions) against direct convolution loops in
 * double precision, for odd shapes, strides, padding modes and groups. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    dr_products_float.backward_input(&g, c->n, dout, w, din, &ws, NULL);
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
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_float_products_match_direct_loops),
        cmocka_unit_test(test_same_padding_follows_tensorflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
