/* Finite-difference gradient checks for every layer, and batch-norm
 * train/eval semantics. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/products.h"
#include "layers/layer.h"
#include "layers/linear.h"
#include "model/plan.h"
#include "testutil.h"

static double numeric_grad(dr_net *net, dr_param *par, size_t i, float h, const float *x,
                           const int *y, int n)
{
    float keep = par->value[i];
    par->value[i] = keep + h;
    dr_net_forward(net, x, y, n, 1);
    double up = net->pass.loss;
    par->value[i] = keep - h;
    dr_net_forward(net, x, y, n, 1);
    double down = net->pass.loss;
    par->value[i] = keep;
    return (up - down) / (2.0 * h);
}

/* The gradients of dr_net_backward (stored where one layer alone reads a
 * tensor) equal those of the adding path (begin zeroes all, run adds). */
static void same_as_adding_everywhere(dr_net *net, int n)
{
    int stored = 0;
    for (int l = 0; l < net->n_layers; l++) stored += net->layers[l].plan.dout_stored;
    assert_true(stored > 0);
    const int np = dr_net_param_count(net);
    float **keep = malloc(sizeof(float *) * (size_t)np);
    for (int p = 0; p < np; p++) {
        dr_param *par = dr_net_param(net, p);
        keep[p] = malloc(par->size * sizeof(float));
        memcpy(keep[p], par->grad, par->size * sizeof(float));
    }
    dr_net_backward_begin(net, n, 1);
    dr_net_backward_run(net, n);
    for (int p = 0; p < np; p++) {
        dr_param *par = dr_net_param(net, p);
        for (size_t i = 0; i < par->size; i++)
            if (!(keep[p][i] == par->grad[i]))
                fail_msg("%s[%zu]: %.9g stored, %.9g added", par->name, i, keep[p][i], par->grad[i]);
        free(keep[p]);
    }
    free(keep);
}

/* Checks every parameter's analytic gradient against central differences of
 * the loss, on up to `per_param` random entries of each tensor. */
static void gradcheck(const char *model, int channels, int n, int per_param)
{
    dr_net *net = tu_net(model, channels, n);
    dr_net_init(net, 7);
    size_t in_n = (size_t)n * dr_shape_size(net->input);
    float *x = malloc(in_n * sizeof(float));
    int *y = malloc(sizeof(int) * (size_t)n);
    tu_fill(x, in_n, -1, 1, 11);
    for (int i = 0; i < n; i++) y[i] = i % dr_net_classes(net);
    net->pass.seed = 3;
    net->pass.step = 6; /* dropout masks; step 5's put a cabs input of the dropout model within 2e-3 of a kink */
    /* layers that store their input's gradient must write all of it: stale NaNs would show */
    for (int l = 0; l < net->n_layers; l++)
        for (size_t i = 0; i < (size_t)n * dr_shape_size(net->layers[l].out_shape); i++) net->layers[l].dout[i] = NAN;
    dr_net_forward(net, x, y, n, 1);
    dr_net_backward(net, n);
    same_as_adding_everywhere(net, n);
    int checked = 0, skipped = 0;
    for (int p = 0; p < dr_net_param_count(net); p++) {
        dr_param *par = dr_net_param(net, p);
        float *grad = malloc(par->size * sizeof(float));
        memcpy(grad, par->grad, par->size * sizeof(float));
        dr_rng r;
        dr_rng_seed(&r, 1, DR_RNG_TEST, (uint64_t)p, 0);
        for (int k = 0; k < per_param && k < (int)par->size; k++) {
            size_t i = par->size <= (size_t)per_param ? (size_t)k : dr_rng_below(&r, (uint32_t)par->size);
            double n1 = numeric_grad(net, par, i, 2e-3f, x, y, n);
            double n2 = numeric_grad(net, par, i, 1e-3f, x, y, n), ana = grad[i];
            double n3 = numeric_grad(net, par, i, 5e-4f, x, y, n);
            double tol = 2e-4 + 2e-2 * fmax(fabs(n2), fabs(ana));
            if (fabs(n1 - n2) > tol / 2 || fabs(n2 - n3) > tol / 2) { /* the step straddles a kink (ReLU, cabs, max) */
                skipped++;
                continue;
            }
            if (fabs(n2 - ana) > tol)
                fail_msg("%s[%zu]: analytic %.6g, numeric %.6g", par->name, i, ana, n2);
            checked++;
        }
        free(grad);
    }
    if (skipped * 4 > checked) fail_msg("%d of %d entries straddled kinks", skipped, checked);
    assert_true(checked > 0);
    free(x);
    free(y);
    dr_net_free(net);
}

static void test_grad_conv_stride_bias_relu(void **s)
{
    (void)s;
    gradcheck("input size=7\n"
              "conv filters=4 size=3 stride=2 pad=same bias=1\n"
              "act fn=relu\n"
              "fc outputs=3\n"
              "softmax\n", 2, 3, 30);
}

static void test_grad_bn_cabs_maxpool_same(void **s)
{
    (void)s;
    gradcheck("input size=6\n"
              "conv filters=5 size=3 pad=same\n"
              "bn momentum=0.9 eps=1e-4\n"
              "act fn=cabs\n"
              "maxpool size=2 pad=same\n"
              "fc outputs=4 bias=1\n"
              "softmax\n", 3, 4, 30);
}

static void test_grad_crelu_maxpool_valid_avgpool(void **s)
{
    (void)s;
    gradcheck("input size=9\n"
              "conv filters=6 size=3 pad=valid bias=1\n"
              "act fn=crelu\n"
              "maxpool size=3 stride=2 pad=valid\n"
              "avgpool\n"
              "fc outputs=3\n"
              "softmax\n", 2, 3, 30);
}

static void test_grad_groups_dropout_fc_bn(void **s)
{
    (void)s;
    gradcheck("input size=5\n"
              "conv filters=4 size=3 pad=same groups=2 bias=1\n"
              "dropout rate=0.3\n"
              "fc outputs=6 bias=0\n"
              "bn\n"
              "act fn=cabs\n"
              "fc outputs=3\n"
              "softmax\n", 4, 5, 30);
}

static void test_grad_residual_add(void **s)
{
    (void)s;
    gradcheck("input size=5\n"
              "conv name=a filters=4 size=3 pad=same\n"
              "act name=ra fn=cabs\n"
              "conv name=b filters=4 size=3 pad=same\n"
              "add name=sum from=b,ra\n"
              "conv name=c filters=4 size=1 stride=2\n"
              "fc outputs=3\n"
              "softmax\n", 2, 3, 30);
}

/* A float first layer followed by a 2x2 max-pool computes the pool itself. */
static const char CONV_POOL_MODEL[] = "input size=8\n"
                                      "conv name=c filters=5 size=3 pad=same bias=1\n"
                                      "maxpool size=2\n"
                                      "act fn=cabs\n"
                                      "fc outputs=3\n"
                                      "softmax\n";

static void test_grad_first_conv_with_its_pool(void **s)
{
    (void)s;
    gradcheck(CONV_POOL_MODEL, 3, 3, 30);
}

/* ... and gives the pooled values, loss and gradients of the conv and the
 * max-pool run apart (the same sums; the weight gradient summed in another
 * order), and the dense output gradient on request (histograms). */
static void test_first_conv_with_its_pool_matches_layers_apart(void **s)
{
    (void)s;
    dr_net *a = tu_net(CONV_POOL_MODEL, 3, 4), *b = tu_net(CONV_POOL_MODEL, 3, 4);
    dr_net_keep_output(b, 0);
    dr_net_init(a, 5);
    dr_net_init(b, 5);
    float x[4 * 8 * 8 * 3];
    int y[4] = {0, 1, 2, 1};
    tu_fill(x, sizeof x / sizeof x[0], -1, 1, 9);
    dr_net_forward(a, x, y, 4, 1);
    dr_net_forward(b, x, y, 4, 1);
    assert_ptr_equal(a->layers[0].plan.fused_pool, &a->layers[1]);
    assert_ptr_equal(a->layers[1].plan.pooled_by, &a->layers[0]);
    assert_null(b->layers[0].plan.fused_pool);
    assert_null(b->layers[1].plan.pooled_by);
    const size_t pooled = 4 * dr_shape_size(a->layers[1].out_shape), dense = 4 * dr_shape_size(a->layers[0].out_shape);
    assert_memory_equal(a->layers[1].out, b->layers[1].out, pooled * sizeof(float));
    assert_true(a->pass.loss == b->pass.loss);
    dr_net_backward(a, 4);
    dr_net_backward(b, 4);
    assert_memory_equal(dr_linear_output_grad(&a->layers[0], 4), b->layers[0].dout, dense * sizeof(float));
    for (int p = 0; p < dr_net_param_count(a); p++) {
        const dr_param *pa = dr_net_param(a, p), *pb = dr_net_param(b, p);
        for (size_t i = 0; i < pa->size; i++)
            if (!(fabsf(pa->grad[i] - pb->grad[i]) <= 1e-6f + 1e-5f * fabsf(pb->grad[i])))
                fail_msg("%s[%zu]: %.9g fused, %.9g apart", pa->name, i, pa->grad[i], pb->grad[i]);
    }
    dr_net_free(a);
    dr_net_free(b);
}

/* A bn read only by an act runs it in its own passes: outputs, loss and
 * every gradient bit for bit those of the layers apart, in float and with
 * 1,2,4 bit kernels (the act quantizing), cabs and crelu, training and
 * evaluation; a bn whose output is read from outside keeps its own. */
static const char BN_ACT_MODEL[] = "input size=8\n"
                                   "conv name=c0 filters=6 size=3 pad=same bias=1\n"
                                   "maxpool size=2\n"
                                   "act fn=cabs\n"
                                   "conv name=c1 filters=20 size=3 pad=same\n"
                                   "bn name=b1 momentum=0.9 eps=1e-4\n"
                                   "act name=a1 fn=cabs\n"
                                   "conv name=c2 filters=12 size=3 pad=valid\n"
                                   "bn name=b2\n"
                                   "act name=a2 fn=crelu\n"
                                   "dropout rate=0.25\n"
                                   "fc outputs=3\n"
                                   "softmax\n";

static void test_bn_with_its_act_matches_layers_apart(void **s)
{
    (void)s;
    for (int quantized = 0; quantized < 2; quantized++) {
        dr_net *a = tu_net(BN_ACT_MODEL, 3, 5), *b = tu_net(BN_ACT_MODEL, 3, 5);
        const dr_bits bits = {.w = 1, .a = 2, .g = 4};
        if (quantized) {
            assert_int_equal(dr_net_apply_bits(a, &bits), 0);
            assert_int_equal(dr_net_apply_bits(b, &bits), 0);
            a->pass.bit_kernels = b->pass.bit_kernels = 1;
        }
        dr_layer *b1 = dr_net_find(a, "b1"), *a1 = dr_net_find(a, "a1"), *b2 = dr_net_find(a, "b2");
        assert_ptr_equal(b1->plan.fused_act, a1);
        assert_ptr_equal(a1->plan.normed_by, b1);
        assert_non_null(b2->plan.fused_act);
        dr_net_keep_output(b, dr_net_find(b, "b1")->index);
        dr_net_keep_output(b, dr_net_find(b, "b2")->index);
        assert_null(dr_net_find(b, "b1")->plan.fused_act);
        assert_null(dr_net_find(b, "a2")->plan.normed_by);
        dr_net_init(a, 7);
        dr_net_init(b, 7);
        for (int l = 0; l < a->n_layers; l++) /* gamma, beta away from 1, 0: h' and the clip both cut */
            if (a->layers[l].ops == &dr_bn_ops)
                for (int k = 0; k < a->layers[l].in_shape.c; k++) {
                    a->layers[l].params[0].value[k] = b->layers[l].params[0].value[k] = 0.5f + 0.1f * (float)k;
                    a->layers[l].params[1].value[k] = b->layers[l].params[1].value[k] = 0.3f - 0.05f * (float)k;
                }
        float x[5 * 8 * 8 * 3];
        int y[5] = {0, 1, 2, 1, 0};
        for (int step = 0; step < 2; step++) {
            tu_fill(x, sizeof x / sizeof x[0], 0, 1, 11 + step);
            for (int train = 1; train >= 0; train--) {
                dr_net_forward(a, x, y, 5, train);
                dr_net_forward(b, x, y, 5, train);
                for (int l = 0; l < a->n_layers; l++)
                    if (a->layers[l].ops == &dr_act_ops)
                        assert_memory_equal(a->layers[l].out, b->layers[l].out,
                                            5 * dr_shape_size(a->layers[l].out_shape) * sizeof(float));
                assert_true(a->pass.loss == b->pass.loss);
            }
            dr_net_forward(a, x, y, 5, 1);
            dr_net_forward(b, x, y, 5, 1);
            dr_net_backward(a, 5);
            dr_net_backward(b, 5);
            for (int p = 0; p < dr_net_param_count(a); p++) {
                const dr_param *pa = dr_net_param(a, p), *pb = dr_net_param(b, p);
                for (size_t i = 0; i < pa->size; i++)
                    if (pa->grad[i] != pb->grad[i])
                        fail_msg("bits %s: %s[%zu]: %.9g fused, %.9g apart", quantized ? "1,2,4" : "float", pa->name,
                                 i, pa->grad[i], pb->grad[i]);
            }
        }
        dr_net_free(a);
        dr_net_free(b);
    }
}

/* ---- batch norm semantics --------------------------------------------------- */

static const char BN_MODEL[] = "input size=3\n"
                               "bn name=bn momentum=0.8 eps=1e-3\n"
                               "fc outputs=2\n"
                               "softmax\n";

static void test_bn_training_uses_batch_statistics(void **s)
{
    (void)s;
    const int n = 6, C = 4, HW = 9;
    dr_net *net = tu_net(BN_MODEL, C, n);
    dr_net_init(net, 1);
    dr_layer *bn = dr_net_find(net, "bn");
    for (int c = 0; c < C; c++) {
        bn->params[0].value[c] = 1.5f + c; /* gamma */
        bn->params[1].value[c] = -0.5f * c; /* beta */
    }
    float *x = malloc(sizeof(float) * n * HW * C);
    tu_fill(x, (size_t)n * HW * C, -2, 3, 5);
    dr_net_forward(net, x, NULL, n, 1);
    for (int c = 0; c < C; c++) {
        double m = 0, v = 0, xm = 0, xv = 0;
        for (int r = 0; r < n * HW; r++) m += bn->out[r * C + c], xm += x[r * C + c];
        m /= n * HW;
        xm /= n * HW;
        for (int r = 0; r < n * HW; r++) {
            v += pow(bn->out[r * C + c] - m, 2);
            xv += pow(x[r * C + c] - xm, 2);
        }
        v /= n * HW;
        assert_true(fabs(m - (-0.5 * c)) < 1e-5);
        double expect_var = pow(1.5 + c, 2) * (xv / (n * HW)) / (xv / (n * HW) + 1e-3);
        assert_true(fabs(v - expect_var) < 1e-4 * expect_var);
        /* running averages: 0.8 * init + 0.2 * batch (unbiased variance) */
        assert_true(fabs(bn->state[c] - 0.2 * xm) < 1e-6);
        assert_true(fabs(bn->state[C + c] - (0.8 + 0.2 * xv / (n * HW - 1))) < 1e-5);
    }
    free(x);
    dr_net_free(net);
}

static void test_bn_evaluation_uses_running_averages(void **s)
{
    (void)s;
    const int C = 2;
    dr_net *net = tu_net(BN_MODEL, C, 1);
    dr_net_init(net, 1);
    dr_layer *bn = dr_net_find(net, "bn");
    bn->state[0] = 0.25f, bn->state[1] = -1.0f;     /* running means     */
    bn->state[2] = 4.0f, bn->state[3] = 0.5f;       /* running variances */
    bn->params[0].value[0] = 2.0f, bn->params[1].value[0] = 0.1f;
    float x[9 * 2];
    tu_fill(x, 18, -1, 1, 9);
    dr_net_forward(net, x, NULL, 1, 0);
    for (int r = 0; r < 9; r++) {
        double e0 = 2.0 * (x[r * 2] - 0.25) / sqrt(4.0 + 1e-3) + 0.1;
        double e1 = 1.0 * (x[r * 2 + 1] + 1.0) / sqrt(0.5 + 1e-3);
        assert_true(fabs(bn->out[r * 2] - e0) < 1e-5);
        assert_true(fabs(bn->out[r * 2 + 1] - e1) < 1e-5);
    }
    /* Evaluation leaves the running averages alone. */
    assert_true(bn->state[0] == 0.25f && bn->state[3] == 0.5f);
    dr_net_free(net);
}

static void test_softmax_loss_value(void **s)
{
    (void)s;
    /* fc with identity weights turns the input into logits (1, 2, 3). */
    dr_net *net = tu_net("input size=1\nfc name=f outputs=3 bias=0\nsoftmax\n", 3, 1);
    dr_layer *f = dr_net_find(net, "f");
    for (int i = 0; i < 9; i++) f->params[0].value[i] = (i % 4 == 0);
    float x[3] = {1, 2, 3};
    int y = 0;
    dr_net_forward(net, x, &y, 1, 0);
    double lse = log(exp(1.0) + exp(2.0) + exp(3.0));
    assert_true(fabs(net->pass.loss - (lse - 1.0)) < 1e-6);
    assert_true(fabs(dr_net_output(net)[2] - exp(3.0 - lse)) < 1e-6);
    dr_net_free(net);
}

static void test_dropout_eval_is_identity_and_train_scales(void **s)
{
    (void)s;
    dr_net *net = tu_net("input size=4\ndropout name=d rate=0.25\nfc outputs=2\nsoftmax\n", 8, 2);
    float x[4 * 4 * 8 * 2];
    tu_fill(x, sizeof x / sizeof x[0], 0.5f, 1, 3);
    dr_layer *d = dr_net_find(net, "d");
    dr_net_forward(net, x, NULL, 2, 0);
    assert_memory_equal(d->out, x, sizeof x);
    net->pass.seed = 1, net->pass.step = 1;
    dr_net_forward(net, x, NULL, 2, 1);
    int kept = 0;
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) {
        if (d->out[i] != 0) {
            assert_true(fabsf(d->out[i] - x[i] / 0.75f) < 1e-6f);
            kept++;
        }
    }
    /* 256 draws with keep 0.75: 192 expected, sd ~6.9 */
    assert_in_range(kept, 192 - 35, 192 + 35);
    dr_net_free(net);
}

/* The bounded activation and its quantizer in one pass: out = rint(h(x) n) / n
 * (round half to even) for every function and bitwidth, h(x) alone in float. */
static void test_act_values_and_quantization(void **s)
{
    (void)s;
    const char *fns[] = {"cabs", "crelu", "relu"};
    for (int f = 0; f < 3; f++)
        for (int k = 1; k <= 9; k++) {
            const int bits = k == 9 ? 32 : k;
            char model[160];
            snprintf(model, sizeof model, "input size=4\nact name=a fn=%s abits=%d\nfc outputs=2\nsoftmax\n", fns[f],
                     bits);
            dr_net *net = tu_net(model, 2, 2);
            dr_layer *a = dr_net_find(net, "a");
            float x[4 * 4 * 2 * 2];
            const size_t n = sizeof x / sizeof x[0];
            tu_fill(x, n, -1.5f, 1.5f, (uint64_t)(f * 10 + k));
            const float levels = (float)((1u << (bits < 32 ? bits : 1)) - 1);
            if (bits < 32) x[0] = 0.5f / levels, x[1] = -1.5f / levels; /* exact halves: rounded to even */
            dr_net_forward(net, x, NULL, 2, 0);
            for (size_t i = 0; i < n; i++) {
                float h = f == 0 ? fabsf(x[i]) : x[i] > 0 ? x[i] : 0.0f;
                if (f < 2 || bits < 32) h = h < 1 ? h : 1.0f; /* a quantized relu is clipped (crelu) */
                const float want = bits < 32 ? nearbyintf(h * levels) / levels : h;
                if (a->out[i] != want)
                    fail_msg("act fn=%s abits=%d: out[%zu] = %.9g for x = %.9g, expected %.9g", fns[f], bits, i,
                             a->out[i], x[i], want);
            }
            dr_net_free(net);
        }
}

/* Max-pooling values against direct loops: the 2x2 fast path and the generic one. */
static void test_maxpool_values(void **s)
{
    (void)s;
    const char *models[] = {"input height=4 width=6\nmaxpool name=p size=2\nfc outputs=2\nsoftmax\n",
                            "input height=5 width=7\nmaxpool name=p size=2 pad=same\nfc outputs=2\nsoftmax\n",
                            "input height=7 width=7\nmaxpool name=p size=3 stride=2\nfc outputs=2\nsoftmax\n"};
    for (int m = 0; m < 3; m++) {
        dr_net *net = tu_net(models[m], 3, 2);
        dr_layer *p = dr_net_find(net, "p");
        int H = net->input.h, W = net->input.w, C = 3, k = m == 2 ? 3 : 2;
        float x[2 * 7 * 7 * 3];
        tu_fill(x, (size_t)2 * H * W * C, -1, 1, (uint64_t)m + 3);
        dr_net_forward(net, x, NULL, 2, 0);
        for (int n = 0; n < 2; n++)
            for (int oy = 0; oy < p->out_shape.h; oy++)
                for (int ox = 0; ox < p->out_shape.w; ox++)
                    for (int c = 0; c < C; c++) {
                        float want = -1e30f;
                        for (int dy = 0; dy < k; dy++)
                            for (int dx = 0; dx < k; dx++) {
                                int y = oy * 2 + dy, xx = ox * 2 + dx; /* SAME here pads after only */
                                if (y < H && xx < W) want = fmaxf(want, x[((n * H + y) * W + xx) * C + c]);
                            }
                        float got = p->out[((n * p->out_shape.h + oy) * p->out_shape.w + ox) * C + c];
                        if (got != want) fail_msg("model %d: out[%d,%d,%d,%d] = %g, expected %g", m, n, oy, ox, c, got, want);
                    }
        dr_net_free(net);
    }
}

/* A diverged run (inputs that are not numbers, or far out of range) goes
 * through the bit products without undefined casts: codes are clamped to the
 * byte range (the sanitizer build checks float-to-integer casts); and a
 * bounded activation must be cabs or crelu. */
static void test_bit_products_survive_diverged_values(void **s)
{
    (void)s;
    dr_net *net = tu_net("input size=6\nconv filters=4 size=3 bias=1\nact fn=cabs\nconv filters=4 size=3\n"
                         "act fn=crelu\nfc outputs=3\nsoftmax\n", 1, 2);
    dr_net_init(net, 1);
    const dr_bits b = {1, 2, 4, 1, 1};
    assert_int_equal(dr_net_apply_bits(net, &b), 0);
    net->pass.bit_kernels = 1;
    dr_products_bit_always(1);
    float x[2 * 36];
    int y[2] = {0, 2};
    for (int i = 0; i < 72; i++) x[i] = i % 3 ? NAN : 1e30f;
    dr_net_forward(net, x, y, 2, 1);
    dr_net_backward(net, 2);
    dr_products_bit_always(0);
    assert_int_equal(dr_net_set_bounded_act(net, DR_ACT_RELU), -1);
    tu_assert_error_has("bounded activation 0: expected cabs or crelu");
    assert_int_equal(dr_net_set_bounded_act(net, DR_ACT_CRELU), 0);
    dr_net_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_conv_stride_bias_relu),
        cmocka_unit_test(test_bit_products_survive_diverged_values),
        cmocka_unit_test(test_act_values_and_quantization),
        cmocka_unit_test(test_grad_bn_cabs_maxpool_same),
        cmocka_unit_test(test_grad_crelu_maxpool_valid_avgpool),
        cmocka_unit_test(test_grad_groups_dropout_fc_bn),
        cmocka_unit_test(test_grad_residual_add),
        cmocka_unit_test(test_grad_first_conv_with_its_pool),
        cmocka_unit_test(test_first_conv_with_its_pool_matches_layers_apart),
        cmocka_unit_test(test_bn_with_its_act_matches_layers_apart),
        cmocka_unit_test(test_bn_training_uses_batch_statistics),
        cmocka_unit_test(test_bn_evaluation_uses_running_averages),
        cmocka_unit_test(test_softmax_loss_value),
        cmocka_unit_test(test_dropout_eval_is_identity_and_train_scales),
        cmocka_unit_test(test_maxpool_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
