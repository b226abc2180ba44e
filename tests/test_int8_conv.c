/* The integer first layer (kernels/int8_conv.h): every kernel the CPU runs
 * against integer loops (exact sums) on random shapes with odd channel
 * counts, borders, strides and the extreme values; its codes against the
 * same loops' epilogue and against the float convolution of the dequantized
 * weights; the per-channel quantizer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/bitgemm.h"
#include "kernels/direct_conv.h"
#include "kernels/int8_conv.h"
#include "testutil.h"

typedef struct {
    dr_conv_geom g;
    int n;
    uint8_t *px;
    int8_t *q;
} problem;

/* A random problem; extreme: pixels 255 and weights +-127 only. */
static problem make(dr_rng *r, int pad_same, int extreme)
{
    problem p = {.g = {.ih = 3 + (int)dr_rng_below(r, 14), .iw = 3 + (int)dr_rng_below(r, 17),
                       .ic = 1 + (int)dr_rng_below(r, 7), .oc = 1 + (int)dr_rng_below(r, 70),
                       .sh = 1, .sw = 1, .groups = 1}};
    p.g.kh = 1 + (int)dr_rng_below(r, 5);
    p.g.kw = 1 + (int)dr_rng_below(r, 5);
    if (dr_rng_below(r, 4) == 0) p.g.sh = p.g.sw = 2;
    if (p.g.kh > p.g.ih) p.g.kh = p.g.ih;
    if (p.g.kw > p.g.iw) p.g.kw = p.g.iw;
    dr_conv_geom_resolve(&p.g, pad_same ? DR_PAD_SAME : DR_PAD_VALID);
    p.n = 1 + (int)dr_rng_below(r, 3);
    const size_t npx = (size_t)p.n * p.g.ih * p.g.iw * p.g.ic, nq = (size_t)p.g.oc * dr_conv_k(&p.g);
    p.px = malloc(npx), p.q = malloc(nq);
    for (size_t i = 0; i < npx; i++) p.px[i] = extreme ? 255 : (uint8_t)dr_rng_below(r, 256);
    for (size_t i = 0; i < nq; i++)
        p.q[i] = extreme ? (dr_rng_below(r, 2) ? 127 : -127) : (int8_t)((int)dr_rng_below(r, 255) - 127);
    return p;
}

static void drop(problem *p) { free(p->px), free(p->q); }

/* The integer loops: sums[n][oh][ow][oc]. */
static int32_t *reference_sums(const problem *p)
{
    const dr_conv_geom *g = &p->g;
    const int K = dr_conv_k(g);
    int32_t *s = malloc(sizeof(int32_t) * (size_t)p->n * g->oh * g->ow * g->oc);
    for (int i = 0; i < p->n; i++)
        for (int oy = 0; oy < g->oh; oy++)
            for (int ox = 0; ox < g->ow; ox++)
                for (int o = 0; o < g->oc; o++) {
                    int64_t acc = 0;
                    for (int ky = 0; ky < g->kh; ky++)
                        for (int kx = 0; kx < g->kw; kx++) {
                            const int y = oy * g->sh - g->pad_top + ky, x = ox * g->sw - g->pad_left + kx;
                            if (y < 0 || y >= g->ih || x < 0 || x >= g->iw) continue;
                            for (int c = 0; c < g->ic; c++)
                                acc += (int64_t)p->px[(((size_t)i * g->ih + y) * g->iw + x) * g->ic + c] *
                                       p->q[(size_t)o * K + (ky * g->kw + kx) * g->ic + c];
                        }
                    s[(((size_t)i * g->oh + oy) * g->ow + ox) * g->oc + o] = (int32_t)acc;
                }
    return s;
}

static void test_sums_exact_every_kernel(void **st)
{
    (void)st;
    dr_rng r;
    dr_rng_seed(&r, 24, DR_RNG_TEST, 0, 0);
    int kernels = 0;
    for (const char *const *k = dr_int8_available(); *k; k++, kernels++) {
        for (int trial = 0; trial < 40; trial++) {
            problem p = make(&r, trial % 2, trial % 10 == 9);
            dr_int8_conv c;
            dr_int8_conv_init(&c, &p.g, p.q);
            const size_t count = (size_t)p.n * p.g.oh * p.g.ow * p.g.oc;
            int32_t *want = reference_sums(&p), *got = malloc(sizeof(int32_t) * count);
            dr_int8_conv_sums(&c, *k, p.n, p.px, got);
            for (size_t i = 0; i < count; i++)
                if (got[i] != want[i])
                    fail_msg("%s: %dx%dx%d k%dx%d s%d oc %d pad %d,%d: sum %zu = %d, expected %d", *k, p.g.ih, p.g.iw,
                             p.g.ic, p.g.kh, p.g.kw, p.g.sh, p.g.oc, p.g.pad_top, p.g.pad_left, i, got[i], want[i]);
            free(want), free(got);
            dr_int8_conv_free(&c);
            drop(&p);
        }
    }
    printf("int8 kernels on this CPU:");
    for (const char *const *k = dr_int8_available(); *k; k++) printf(" %s", *k);
    printf(" (in use: %s)\n", dr_int8_kernel());
    assert_true(kernels >= 1);
}

/* The longest reduction at the extremes: 255 x 127 x 1024 per sum, beyond
 * int16 and vpmaddubsw's saturation, inside int32. */
static void test_sums_longest_reduction(void **st)
{
    (void)st;
    dr_conv_geom g = {.ih = 16, .iw = 16, .ic = 4, .oc = 17, .kh = 16, .kw = 16, .sh = 1, .sw = 1, .groups = 1};
    dr_conv_geom_resolve(&g, DR_PAD_VALID);
    assert_int_equal(dr_conv_k(&g), DR_INT8_MAX_K);
    assert_true(dr_int8_conv_suits(&g));
    uint8_t *px = malloc(16 * 16 * 4);
    int8_t *q = malloc((size_t)17 * 1024);
    memset(px, 255, 16 * 16 * 4);
    for (int i = 0; i < 17 * 1024; i++) q[i] = i / 1024 % 2 ? -127 : 127;
    dr_int8_conv c;
    dr_int8_conv_init(&c, &g, q);
    for (const char *const *k = dr_int8_available(); *k; k++) {
        int32_t s[17];
        dr_int8_conv_sums(&c, *k, 1, px, s);
        for (int o = 0; o < 17; o++) assert_int_equal(s[o], (o % 2 ? -1 : 1) * 255 * 127 * 1024);
    }
    dr_int8_conv_free(&c);
    free(px), free(q);
    /* the bound is on the padded rows (kw ic rounded up to 4, kh of them): a
     * tall one-channel column of 300 taps has K = 300 but 1,200 padded bytes */
    dr_conv_geom tall = {.ih = 300, .iw = 1, .ic = 1, .oc = 4, .kh = 300, .kw = 1, .sh = 1, .sw = 1, .groups = 1};
    dr_conv_geom_resolve(&tall, DR_PAD_VALID);
    assert_true(dr_conv_k(&tall) <= DR_INT8_MAX_K);
    assert_false(dr_int8_conv_suits(&tall));
    tall.kh = tall.ih = DR_INT8_MAX_K / 4; /* 256 rows of 4 padded bytes: exactly the bound */
    dr_conv_geom_resolve(&tall, DR_PAD_VALID);
    assert_true(dr_int8_conv_suits(&tall));
}

/* Codes: of each kernel, equal to the integer loops' sums through
 * dr_int8_code and the pooling rule; and the float convolution of the
 * dequantized weights (double precision) gives the same codes except where
 * its value lies within float rounding of a code boundary. */
static void test_codes_against_references(void **st)
{
    (void)st;
    dr_rng r;
    dr_rng_seed(&r, 25, DR_RNG_TEST, 0, 0);
    long compared = 0, near = 0;
    for (int trial = 0; trial < 48; trial++) {
        problem p = make(&r, trial % 3 == 0, 0);
        const dr_conv_geom *g = &p.g;
        const int oc = g->oc, K = dr_conv_k(g), cabs = trial % 2, after = trial / 2 % 2;
        const float levels = (float)((1 << (1 + trial % 8)) - 1);
        dr_conv_geom pool = {.ih = g->oh, .iw = g->ow, .ic = oc, .oc = oc, .kh = 2, .kw = 2, .sh = 2, .sw = 2, .groups = 1};
        dr_conv_geom_resolve(&pool, DR_PAD_VALID);
        const int pooled = trial % 4 != 3 && g->oh >= 2 && g->ow >= 2 && dr_direct_pool_suits(g, &pool);
        /* a first layer's float weights, their int8 form, and an affine epilogue */
        float *w = malloc(sizeof(float) * (size_t)oc * K), *scale = malloc(sizeof(float) * oc);
        float *mul = malloc(sizeof(float) * oc), *add = malloc(sizeof(float) * oc);
        tu_fill(w, (size_t)oc * K, -0.3f, 0.3f, 100 + trial);
        dr_int8_quantize(w, oc, K, scale, p.q);
        float *bias = malloc(sizeof(float) * oc);
        tu_fill(bias, oc, -0.5f, 0.5f, 200 + trial);
        for (int o = 0; o < oc; o++) {
            const float bn = o % 3 ? 1.5f : -0.75f; /* a folded batch norm, negative on some channels */
            mul[o] = scale[o] * DR_PIXEL_SCALE * bn;
            add[o] = bias[o] * bn;
        }
        dr_int8_conv c;
        dr_int8_conv_init(&c, g, p.q);
        const int oh = pooled ? pool.oh : g->oh, ow = pooled ? pool.ow : g->ow;
        const size_t count = (size_t)p.n * oh * ow * oc;
        /* the references: codes from exact sums, codes from the float convolution */
        int32_t *sums = reference_sums(&p);
        const size_t in_count = (size_t)p.n * g->ih * g->iw * g->ic;
        float *xin = malloc(sizeof(float) * in_count), *wq = malloc(sizeof(float) * (size_t)oc * K);
        for (size_t i = 0; i < in_count; i++) xin[i] = p.px[i] * DR_PIXEL_SCALE;
        for (int o = 0; o < oc; o++)
            for (int k = 0; k < K; k++) wq[(size_t)o * K + k] = scale[o] * p.q[(size_t)o * K + k];
        double *fconv = calloc((size_t)p.n * g->oh * g->ow * oc, sizeof(double));
        tu_conv_reference(g, p.n, xin, wq, NULL, fconv, NULL, NULL, NULL);
        uint8_t *want = malloc(count), *fwant = malloc(count), *got = malloc(count);
        unsigned char *nearb = calloc(count, 1);
        for (int i = 0; i < p.n; i++)
            for (int y = 0; y < oh; y++)
                for (int x = 0; x < ow; x++)
                    for (int o = 0; o < oc; o++) {
                        const size_t at = (((size_t)i * oh + y) * ow + x) * oc + o;
                        float best = -INFINITY, fbest = -INFINITY;
                        int bc = 0, fbc = 0;
                        for (int d = 0; d < (pooled ? 4 : 1); d++) {
                            const int cy = pooled ? 2 * y + d / 2 : y, cx = pooled ? 2 * x + d % 2 : x;
                            const size_t ci = (((size_t)i * g->oh + cy) * g->ow + cx) * oc + o;
                            const float v = (float)sums[ci] * mul[o] + add[o];
                            const double bn = o % 3 ? 1.5 : -0.75;
                            const float fv = (float)((fconv[ci] + bias[o]) * bn);
                            /* a value within float rounding of a code boundary may round either way */
                            const double h = fmin(1.0, cabs ? fabs(fv) : fmax(0.0, fv)), edge = h * levels - floor(h * levels);
                            if (fabs(edge - 0.5) < 1e-4 * (1 + h * levels)) nearb[at] = 1;
                            if (pooled && !after) {
                                best = v > best ? v : best, fbest = fv > fbest ? fv : fbest;
                            } else {
                                const int cc = dr_int8_code(v, cabs, levels), fc = dr_int8_code(fv, cabs, levels);
                                bc = cc > bc ? cc : bc, fbc = fc > fbc ? fc : fbc;
                            }
                        }
                        want[at] = pooled && !after ? dr_int8_code(best, cabs, levels) : (uint8_t)bc;
                        fwant[at] = pooled && !after ? dr_int8_code(fbest, cabs, levels) : (uint8_t)fbc;
                    }
        for (const char *const *k = dr_int8_available(); *k; k++) {
            dr_int8_epilogue ep = {mul, add, pooled ? &pool : NULL, after, cabs, levels};
            memset(got, 0xee, count);
            dr_int8_conv_codes(&c, *k, p.n, p.px, &ep, got);
            for (size_t i = 0; i < count; i++)
                if (got[i] != want[i])
                    fail_msg("%s trial %d (%dx%dx%d k%dx%d oc %d pool %d after %d cabs %d levels %g): code %zu = %d, "
                             "expected %d", *k, trial, g->ih, g->iw, g->ic, g->kh, g->kw, oc, pooled, after, cabs,
                             levels, i, got[i], want[i]);
        }
        for (size_t i = 0; i < count; i++) {
            compared++;
            if (nearb[i]) near++;
            else if (want[i] != fwant[i])
                fail_msg("trial %d: code %zu = %d, the float convolution's %d", trial, i, want[i], fwant[i]);
        }
        dr_int8_conv_free(&c);
        free(w), free(scale), free(mul), free(add), free(bias), free(sums), free(xin), free(wq), free(fconv);
        free(want), free(fwant), free(got), free(nearb);
        drop(&p);
    }
    printf("codes: %ld compared with the float convolution, %ld within rounding of a boundary\n", compared, near);
    assert_true(near * 100 < compared);
}

static void test_quantize_per_channel(void **st)
{
    (void)st;
    const int oc = 5, K = 37;
    float w[5 * 37], scale[5];
    int8_t q[5 * 37];
    tu_fill(w, sizeof w / sizeof *w, -2, 2, 7);
    for (int k = 0; k < K; k++) w[2 * K + k] = 0; /* an all-zero channel */
    w[3 * K + 4] = -9;                            /* a channel whose largest weight is negative */
    dr_int8_quantize(w, oc, K, scale, q);
    for (int o = 0; o < oc; o++) {
        int maxq = 0;
        for (int k = 0; k < K; k++) {
            const int v = q[o * K + k];
            maxq = abs(v) > maxq ? abs(v) : maxq;
            assert_true(fabsf(w[o * K + k] - scale[o] * v) <= scale[o] * 0.5f * (1 + 1e-5f));
        }
        assert_int_equal(maxq, o == 2 ? 0 : 127);
    }
    assert_true(scale[2] == 0.0f);
    assert_int_equal(q[3 * K + 4], -127);
    assert_true(fabsf(scale[3] - 9.0f / 127) < 1e-7f);
}

static void test_kernel_follows_dorefa_kernel(void **st)
{
    (void)st;
    assert_int_equal(dr_bitgemm_select("c"), 0);
    assert_string_equal(dr_int8_kernel(), "c");
    if (!dr_bitgemm_select("avx2")) assert_string_equal(dr_int8_kernel(), "avx2");
    dr_bitgemm_select(dr_bitgemm_available()[0]);
    assert_string_equal(dr_int8_kernel(), dr_int8_available()[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sums_exact_every_kernel),
        cmocka_unit_test(test_sums_longest_reduction),
        cmocka_unit_test(test_codes_against_references),
        cmocka_unit_test(test_quantize_per_channel),
        cmocka_unit_test(test_kernel_follows_dorefa_kernel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
