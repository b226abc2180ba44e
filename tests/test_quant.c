/* DoReFa quantizers (spec section 1) and where they sit in a network. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/plan.h"
#include "train/precision.h"
#include "quant/quantize.h"
#include "testutil.h"

static int on_grid(double v, int k) /* v * n_k is an integer */
{
    double s = v * ((1 << k) - 1);
    return fabs(s - nearbyint(s)) < 1e-4;
}

static void test_quantize_k_values(void **s)
{
    (void)s;
    for (float v = 0; v <= 300; v += 0.125f) { /* the fast rint used in hot loops, ties included */
        assert_true(dr_rint(v) == rintf(v));
        assert_true(dr_rint(-v) == rintf(-v));
    }
    /* n_k r exactly halfway rounds to even: k=1: 0.5 -> 0; k=2: 1.5 -> 2; k=3: 3.5 -> 4 */
    assert_true(dr_quantize_k(0.5f, 1) == 0.0f);
    assert_true(dr_quantize_k(0.5f, 2) == 2.0f / 3);
    assert_true(dr_quantize_k(0.5f, 3) == 4.0f / 7);
    assert_true(dr_quantize_k(0.5f, 4) == 8.0f / 15);
    assert_true(dr_quantize_k(0.3f, 2) == 1.0f / 3);  /* 0.9 -> 1   */
    assert_true(dr_quantize_k(0.7f, 1) == 1.0f);
    assert_true(dr_quantize_k(0.2f, 8) == 51.0f / 255); /* 51.0 */
    assert_true(dr_quantize_k(0.1f, 5) == 3.0f / 31);   /* 3.1 -> 3 */
    for (int k = 1; k <= 8; k++) {
        assert_true(dr_quantize_k(0.0f, k) == 0.0f);
        assert_true(dr_quantize_k(1.0f, k) == 1.0f);
        float x[101];
        for (int i = 0; i <= 100; i++) x[i] = i / 100.0f;
        dr_quantize_activations(x, 101, k);
        for (int i = 0; i <= 100; i++) {
            assert_true(on_grid(x[i], k));
            assert_true(fabsf(x[i] - i / 100.0f) <= 0.5f / ((1 << k) - 1) + 1e-6f);
        }
        /* with codes (past one chunk of 512): the same values, and codes n_k f_a(x) */
        enum { N = 1300 };
        float a[N], b[N];
        uint8_t codes[N];
        for (int i = 0; i < N; i++) a[i] = b[i] = (float)((i * 37) % N) / (N - 1);
        dr_quantize_activations(a, N, k);
        dr_quantize_activations_codes(b, N, k, codes);
        assert_memory_equal(a, b, sizeof a);
        for (int i = 0; i < N; i++) assert_true(codes[i] == a[i] * (float)((1 << k) - 1));
    }
    float y[3] = {0.25f, 0.5f, 0.9f};
    dr_quantize_activations(y, 3, 32); /* 32 bits: untouched */
    assert_true(y[0] == 0.25f && y[2] == 0.9f);
}

static void test_weight_quantizer_values(void **s)
{
    (void)s;
    float w1[4] = {0.5f, -1.0f, 0.0f, 2.5f}, q[4];
    dr_wq_state st;
    dr_quantize_weights(w1, 4, 1, q, &st); /* E = mean |w| = 1; sign(0) = +1 */
    assert_true(st.scale == 1.0f);
    assert_true(q[0] == 1.0f && q[1] == -1.0f && q[2] == 1.0f && q[3] == 1.0f);
    /* k = 2: t = tanh w = (0, 0.4621, -0.9640); x = t / 2M + 1/2 = (0.5, 0.7397, 0)
     * quantize_2: (1.5 -> 2, 2.219 -> 2, 0) / 3; w_q = 2x - 1 = (1/3, 1/3, -1) */
    float w2[3] = {0.0f, 0.5f, -2.0f};
    dr_quantize_weights(w2, 3, 2, q, &st);
    assert_true(fabsf(q[0] - 1.0f / 3) < 1e-6f && fabsf(q[1] - 1.0f / 3) < 1e-6f && q[2] == -1.0f);
    assert_int_equal(st.argmax, 2);
    /* every k: values on the grid {(2q - n) / n}, extremes reach +-1 */
    for (int k = 2; k <= 8; k++) {
        float w[64], wq[64];
        tu_fill(w, 64, -2, 2, (uint64_t)k);
        dr_quantize_weights(w, 64, k, wq, &st);
        int hit = 0;
        for (int i = 0; i < 64; i++) {
            assert_true(on_grid((wq[i] + 1) / 2, k));
            hit |= fabsf(fabsf(wq[i]) - 1) < 1e-6f;
        }
        assert_true(hit);
    }
}

/* With the rounding passed straight through, f_w^k(w) = tanh(w) / max|tanh w|
 * for k > 1; its exact gradient is checked by central differences. */
static double surrogate(const double *w, const double *c, int n)
{
    double m = 0, s = 0;
    for (int i = 0; i < n; i++) m = fmax(m, fabs(tanh(w[i])));
    for (int i = 0; i < n; i++) s += c[i] * tanh(w[i]) / m;
    return s;
}

/* tanh (the clone this CPU runs): the correctly rounded value (tanh in double, rounded
 * once) on random floats of every magnitude, weight-sized ones, and the edges. */
static void test_tanh_correctly_rounded(void **s)
{
    (void)s;
    enum { N = 200000 };
    static float x[N + 16], t[N + 16];
    dr_rng r;
    dr_rng_seed(&r, 5, DR_RNG_TEST, 0, 0);
    for (int i = 0; i < N; i++) {
        uint32_t b = (uint32_t)dr_rng_u64(&r);
        memcpy(&x[i], &b, sizeof b); /* any bits: tiny, huge, subnormal, NaN */
        if (i % 2) x[i] = (dr_rng_uniform(&r) - 0.5f) * (i % 4 == 1 ? 0.3f : 24.0f);
    }
    const float edges[16] = {0.0f, -0.0f, 1e-40f, -1e-30f, 0.5493061f, 9.0f, 9.1f, 9.2f,
                             10.0f, -10.0f, 88.0f, 1e30f, INFINITY, -INFINITY, NAN, -FLT_MIN};
    memcpy(x + N, edges, sizeof edges);
    dr_tanh_span(x, t, N + 16);
    for (int i = 0; i < N + 16; i++) {
        if (isnan(x[i])) {
            assert_true(isnan(t[i]));
            continue;
        }
        const float want = (float)tanh((double)x[i]);
        if (memcmp(&t[i], &want, sizeof want))
            fail_msg("tanh(%.9g) = %.9g, correctly rounded %.9g", x[i], t[i], want);
    }
}

static void test_weight_quantizer_gradient(void **s)
{
    (void)s;
    enum { N = 12 };
    float w[N], c[N], wq[N], dw[N];
    tu_fill(w, N, -1.5f, 1.5f, 4);
    tu_fill(c, N, -1, 1, 5);
    for (int k = 1; k <= 8; k++) {
        dr_wq_state st, st2;
        dr_quantize_weights(w, N, k, wq, &st);
        dr_quantize_weights_backward(w, c, N, k, &st, dw);
        /* keeping tanh w from the forward: the same weights and gradient */
        float t[N], wq2[N], dw2[N];
        dr_quantize_weights_keep(w, N, k, wq2, &st2, t);
        dr_quantize_weights_backward_kept(w, k > 1 ? t : NULL, c, N, k, &st2, dw2);
        assert_memory_equal(wq, wq2, sizeof wq);
        assert_memory_equal(dw, dw2, sizeof dw);
        for (int i = 0; k > 1 && i < N; i++) assert_true(t[i] == (float)tanh((double)w[i]));
        for (int i = 0; i < N; i++) {
            if (k == 1) { /* identity (E is a constant) */
                assert_true(dw[i] == c[i]);
                continue;
            }
            double wd[N], cd[N];
            for (int j = 0; j < N; j++) wd[j] = w[j], cd[j] = c[j];
            const double h = 1e-6;
            wd[i] += h;
            double up = surrogate(wd, cd, N);
            wd[i] -= 2 * h;
            double num = (up - surrogate(wd, cd, N)) / (2 * h);
            if (fabs(num - dw[i]) > 1e-4 * fmax(1, fabs(num)))
                fail_msg("k=%d dw[%d]: analytic %g numeric %g (argmax %zu)", k, i, dw[i], num, st.argmax);
        }
    }
}

static void test_gradient_quantizer_unbiased(void **s)
{
    (void)s;
    enum { P = 40, DRAWS = 4000 };
    float g[P], q[P];
    tu_fill(g, P, -0.3f, 0.3f, 6);
    g[7] = 0.3f; /* the maximum: m = 0.3 */
    for (int k = 2; k <= 8; k += 2) {
        double mean[P] = {0};
        for (int d = 0; d < DRAWS; d++) {
            dr_quantize_gradients(g, 1, P, k, 11, (uint64_t)d, 3, q, NULL);
            for (int i = 0; i < P; i++) mean[i] += q[i];
        }
        /* Stochastic rounding: each draw is off by at most one step 2m/n_k, with
         * variance <= step^2 / 4; the mean of DRAWS draws has sd <= step / (2 sqrt(DRAWS)). */
        double step = 2 * 0.3 / ((1 << k) - 1), tol = 5 * step / (2 * sqrt((double)DRAWS));
        for (int i = 0; i < P; i++)
            if (fabs(mean[i] / DRAWS - g[i]) > tol)
                fail_msg("k=%d g[%d]=%g: mean of draws %g, tolerance %g", k, i, g[i], mean[i] / DRAWS, tol);
    }
}

static void test_gradient_quantizer_scaling_grid_zero_and_seed(void **s)
{
    (void)s;
    enum { P = 30 };
    float g[3 * P], q[3 * P], q2[3 * P], scales[3];
    tu_fill(g, 3 * P, -1, 1, 8);
    for (int i = 0; i < P; i++) g[i] *= 100.0f;     /* sample 0: large            */
    for (int i = 0; i < P; i++) g[P + i] = 0.0f;    /* sample 1: all zero         */
    for (int i = 0; i < P; i++) g[2 * P + i] *= 1e-3f; /* sample 2: tiny          */
    for (int k = 1; k <= 8; k++) {
        dr_quantize_gradients(g, 3, P, k, 1, 2, 3, q, scales);
        assert_true(scales[1] == 0.0f);
        for (int smp = 0; smp < 3; smp++) {
            float m = 0;
            for (int i = 0; i < P; i++) m = fmaxf(m, fabsf(g[smp * P + i]));
            assert_true(scales[smp] == m); /* one scale per sample */
            for (int i = 0; i < P; i++) {
                float v = q[smp * P + i];
                if (smp == 1) {
                    assert_true(v == 0.0f);
                    continue;
                }
                assert_true(fabsf(v) <= m * (1 + 1e-6f));
                assert_true(on_grid(v / (2 * m) + 0.5, k)); /* k-bit levels of this sample */
            }
        }
        dr_quantize_gradients(g, 3, P, k, 1, 2, 3, q2, NULL);
        assert_memory_equal(q, q2, sizeof q); /* same (seed, step, layer): same draw */
        /* the codes written beside dq: the same draw, dq = m (2 c / n_k - 1) */
        uint8_t codes[3 * P];
        memset(codes, 0xff, sizeof codes);
        dr_quantize_gradients_at(g, 3, P, k, 1, 2, 3, 0, q2, NULL, codes);
        assert_memory_equal(q, q2, sizeof q);
        const float nk = (float)((1u << k) - 1);
        for (int i = 0; i < 3 * P; i++) {
            assert_true(codes[i] <= nk);
            if (i / P == 1) assert_int_equal(codes[i], 0);
            else assert_true(fabsf(scales[i / P] * (2 * codes[i] / nk - 1) - q[i]) <= 1e-6f * scales[i / P]);
        }
        dr_quantize_gradients(g, 3, P, k, 1, 3, 3, q2, NULL);
        assert_memory_not_equal(q, q2, sizeof q);
    }
    float all_zero[8] = {0}, out[8];
    memset(out, 0x7f, sizeof out);
    dr_quantize_gradients(all_zero, 2, 4, 4, 1, 1, 1, out, NULL);
    for (int i = 0; i < 8; i++) assert_true(out[i] == 0.0f);
    /* a sample whose largest gradient is below FLT_MIN: 0.5 / m was infinite and 0 * inf a
     * NaN (the fuzzer's finding); it is zero now, and a normal sample beside it is not */
    const float tiny[8] = {1e-40f, 0, -3e-41f, 0, 0.5f, -0.25f, 0, 0.125f};
    float sc[2];
    dr_quantize_gradients(tiny, 2, 4, 4, 1, 1, 1, out, sc);
    for (int i = 0; i < 4; i++) assert_true(out[i] == 0.0f);
    assert_true(sc[0] == 0.0f && sc[1] == 0.5f);
    for (int i = 4; i < 8; i++) assert_true(isfinite(out[i]));
    /* m_i is the largest |g| that is not a NaN, past the 16 lanes of the vector maximum */
    float odd[40], osc[1], oq[40];
    for (int i = 0; i < 40; i++) odd[i] = (i % 3 ? 0.5f : -0.25f) * (float)(i % 7) / 7;
    odd[17] = NAN, odd[33] = -0.875f, odd[39] = -NAN;
    dr_quantize_gradients(odd, 1, 40, 4, 1, 1, 1, oq, osc);
    assert_true(osc[0] == 0.875f);
}

/* ---- placement --------------------------------------------------------------- */

static void test_policy_on_model_a(void **s)
{
    (void)s;
    dr_net *net = tu_shipped("svhn-a", 3, 1);
    assert_int_equal(net->default_bits[0], 1);
    assert_int_equal(net->default_bits[2], 4);
    dr_bits b = {1, 2, 4, 0, 0};
    dr_net_apply_bits(net, &b);
    dr_layer *conv0 = dr_net_find(net, "conv0"), *conv3 = dr_net_find(net, "conv3"),
             *fc = dr_net_find(net, "fc");
    assert_int_equal(conv0->plan.wbits, 32); /* first layer float */
    assert_int_equal(conv0->plan.gbits, 32);
    assert_int_equal(fc->plan.wbits, 32);    /* last layer float */
    assert_int_equal(conv3->plan.wbits, 1);
    assert_int_equal(conv3->plan.gbits, 4);
    /* activations: the one feeding conv1 (after pool0) is 2-bit; the cabs before fc is not */
    int quantized_acts = 0;
    for (int i = 0; i < net->n_layers; i++)
        if (net->layers[i].ops->roles & DR_ROLE_BOUNDED_ACT) quantized_acts += net->layers[i].plan.abits == 2;
    assert_int_equal(quantized_acts, 6);
    assert_int_equal(net->layers[fc->src[0]].plan.abits, 32);
    /* Table 3: quantize first and last too */
    b.quantize_first = b.quantize_last = 1;
    dr_net_apply_bits(net, &b);
    assert_int_equal(conv0->plan.wbits, 1);
    assert_int_equal(fc->plan.wbits, 1);
    assert_int_equal(net->layers[fc->src[0]].plan.abits, 2);
    dr_net_free(net);
}

static void test_policy_file_overrides(void **s)
{
    (void)s;
    dr_net *net = tu_net("input size=8\n"
                         "conv name=c0 filters=4 quant=1 wbits=8\n"
                         "act name=a0 fn=relu abits=4\n"
                         "maxpool\n"
                         "conv name=c1 filters=4 gbits=8\n"
                         "act name=a1 fn=cabs\n"
                         "dropout\n"
                         "conv name=c2 filters=4 quant=0\n"
                         "fc name=f outputs=3\n"
                         "softmax\n", 1, 2);
    dr_bits b = {2, 3, 6, 0, 0};
    dr_net_apply_bits(net, &b);
    assert_int_equal(dr_net_find(net, "c0")->plan.wbits, 8);
    assert_int_equal(dr_net_find(net, "c0")->plan.gbits, 6);
    assert_int_equal(dr_net_find(net, "a0")->plan.abits, 4);
    assert_int_equal(dr_net_find(net, "c1")->plan.wbits, 2);
    assert_int_equal(dr_net_find(net, "c1")->plan.gbits, 8);
    assert_int_equal(dr_net_find(net, "a1")->plan.abits, 32); /* feeds c2, which is float */
    assert_int_equal(dr_net_find(net, "c2")->plan.wbits, 32);
    /* A quantized ReLU is clipped to [0, 1] and lands on the 4-bit grid. */
    float x[8 * 8 * 2];
    tu_fill(x, 128, 0, 3, 1);
    dr_net_forward(net, x, NULL, 2, 0);
    dr_layer *a0 = dr_net_find(net, "a0");
    for (size_t i = 0; i < 2 * dr_shape_size(a0->out_shape); i++) {
        assert_true(a0->out[i] >= 0 && a0->out[i] <= 1);
        assert_true(on_grid(a0->out[i], 4));
    }
    dr_net_free(net);
    dr_net_options opt = {.channels = 1, .max_batch = 1};
    assert_null(dr_net_parse("input size=8\nconv filters=2 wbits=12\nsoftmax\n", "b.net", &opt));
    tu_assert_error_has("b.net:2: bitwidth 12");
    assert_null(dr_net_parse("input size=8 bits=1,2\nsoftmax\n", "b.net", &opt));
    tu_assert_error_has("b.net:1:");
    dr_bits parsed;
    assert_int_equal(dr_bits_parse("1,2,32", &parsed), 0);
    assert_int_equal(parsed.g, 32);
    assert_int_equal(dr_bits_parse("1,2,9", &parsed), -1);
    assert_int_equal(dr_bits_parse("1,2", &parsed), -1);
}

/* Stochastic precision: the ratio schedule, the selection's statistics under a
 * seed, and what a dropped layer looks like. */
static void test_stochastic_precision(void **s)
{
    (void)s;
    assert_true(dr_precision_ratio(0.5f, 4, 0) == 0.5f);
    assert_true(fabsf(dr_precision_ratio(0.5f, 4, 2) - 0.75f) < 1e-6f);
    assert_true(dr_precision_ratio(0.5f, 4, 4) == 1.0f);
    assert_true(dr_precision_ratio(0.5f, 4, 9) == 1.0f);
    assert_true(dr_precision_ratio(0.2f, 0, 0) == 1.0f);
    dr_net *net = tu_shipped("svhn-a", 3, 1);
    dr_bits b = {1, 2, 4, 0, 0};
    unsigned char keep[64], keep2[64];
    const int STEPS = 4000;
    long kept = 0;
    for (int step = 0; step < STEPS; step++) {
        int k = dr_precision_draw(net, 0.3f, 9, (uint64_t)step, keep);
        assert_in_range(k, 0, 6); /* conv1..conv6 are quantizable; conv0 and fc are not */
        kept += k;
        assert_true(keep[dr_net_find(net, "conv0")->index] && keep[dr_net_find(net, "fc")->index]);
    }
    /* 24,000 Bernoulli(0.3) draws: sd of the mean 0.003; 5 sd */
    double mean = (double)kept / (STEPS * 6.0);
    if (fabs(mean - 0.3) > 0.015) fail_msg("kept fraction %.4f, expected 0.3", mean);
    dr_precision_draw(net, 0.5f, 9, 77, keep);
    dr_precision_draw(net, 0.5f, 9, 77, keep2);
    assert_memory_equal(keep, keep2, (size_t)net->n_layers); /* same seed and step: same draw */
    assert_int_equal(dr_precision_draw(net, 1.0f, 9, 5, keep), 6);
    /* a dropped layer computes in float, and so does the act feeding it */
    dr_layer *conv3 = dr_net_find(net, "conv3");
    keep[conv3->index] = 0;
    dr_net_apply_bits_select(net, &b, keep);
    assert_int_equal(conv3->plan.wbits, 32);
    assert_int_equal(conv3->plan.gbits, 32);
    assert_int_equal(net->layers[conv3->plan.in_act].plan.abits, 32);
    assert_int_equal(dr_net_find(net, "conv4")->plan.wbits, 1);
    dr_net_apply_bits(net, &b); /* evaluation: everything quantized again */
    assert_int_equal(conv3->plan.wbits, 1);
    assert_int_equal(net->layers[conv3->plan.in_act].plan.abits, 2);
    dr_net_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantize_k_values),
        cmocka_unit_test(test_weight_quantizer_values),
        cmocka_unit_test(test_tanh_correctly_rounded),
        cmocka_unit_test(test_weight_quantizer_gradient),
        cmocka_unit_test(test_gradient_quantizer_unbiased),
        cmocka_unit_test(test_gradient_quantizer_scaling_grid_zero_and_seed),
        cmocka_unit_test(test_policy_on_model_a),
        cmocka_unit_test(test_policy_file_overrides),
        cmocka_unit_test(test_stochastic_precision),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
