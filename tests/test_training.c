/* Training end to end on a real Fashion-MNIST slice (the data set the install
 * step provides): accuracy reached, determinism
 * under a seed, exact resume from a checkpoint; checkpoint corruption; the
 * optimizer's update rule. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "data/loader.h"
#include <zlib.h>

#include "kernels/products.h"
#include "train/checkpoint.h"
#include "train/distill.h"
#include "train/guide.h"
#include "train/train.h"
#include "testutil.h"

static dr_dataset train_set, test_set;
static int have_data;

static int load_data(void **state)
{
    (void)state;
    if (!tu_have(TU_FASHION_MNIST "/t10k-labels-idx1-ubyte.gz")) return 0; /* the data tests skip */
    dr_open_options opt = {0};
    if (dr_dataset_open(TU_FASHION_MNIST, DR_SPLIT_TRAIN, &opt, &train_set) ||
        dr_dataset_open(TU_FASHION_MNIST, DR_SPLIT_TEST, &opt, &test_set))
        return -1;
    dr_dataset_truncate(&train_set, 4000);
    dr_dataset_truncate(&test_set, 1000);
    have_data = 1;
    return 0;
}

static int free_data(void **state)
{
    (void)state;
    dr_dataset_free(&train_set);
    dr_dataset_free(&test_set);
    return 0;
}

static const char MODEL[] = "input size=28\n"
                            "conv filters=8 size=3 pad=same bias=1\n"
                            "bn\n"
                            "act fn=relu\n"
                            "maxpool size=2 pad=same\n"
                            "conv filters=16 size=3 pad=same\n"
                            "bn\n"
                            "act fn=relu\n"
                            "maxpool size=2 pad=same\n"
                            "dropout rate=0.2\n"
                            "fc outputs=10\n"
                            "softmax\n";

/* Trains for `epochs` (from a checkpoint when resume is set) in `dir`; returns
 * a copy of all parameters and BN state, and the final test accuracy. */
static dr_bits run_bits = {32, 32, 32, 0, 0};
static int run_float_kernels;
static const char *run_schedule = "";
static const char *run_guide = ""; /* partner model file of guided training; "" none */
static float run_guide_w = 1;
static const char *run_hint = "";

static float *train_run(const char *dir, int epochs, uint64_t seed, const char *resume, double *acc,
                        size_t *count)
{
    dr_trainer t = {0};
    dr_train_config_defaults(&t.cfg);
    dr_checkpoint ck = {0};
    if (resume) {
        if (dr_checkpoint_read(resume, &ck) || dr_train_config_parse(ck.conf, resume, &t.cfg))
            fail_msg("%s", dr_last_error());
    } else {
        t.cfg.seed = seed;
        t.cfg.batch = 50;
        t.cfg.optim.lr = 2e-3f;
        t.cfg.aug.brightness = 10; /* exercise augmentation determinism too */
        t.cfg.bits = run_bits;
        t.cfg.float_kernels = run_float_kernels;
        snprintf(t.cfg.schedule, sizeof t.cfg.schedule, "%s", run_schedule);
        snprintf(t.cfg.guide, sizeof t.cfg.guide, "%s", run_guide);
        snprintf(t.cfg.hint, sizeof t.cfg.hint, "%s", run_hint);
        t.cfg.guide_w_low = t.cfg.guide_w_full = run_guide_w;
        t.cfg.hint_w = 0.5f;
    }
    t.cfg.epochs = epochs;
    t.net = tu_net(MODEL, 1, t.cfg.batch);
    dr_net_init(t.net, t.cfg.seed);
    if (dr_train_config_apply_bits(&t.cfg, t.net)) fail_msg("%s", dr_last_error());
    dr_optim_init(&t.opt, &t.cfg.optim, t.net);
    if (resume && dr_checkpoint_restore(&ck, t.net, &t.opt)) fail_msg("%s", dr_last_error());
    dr_checkpoint_free(&ck);
    dr_guide guide = {0};
    dr_net_options nopt = {.channels = 1, .max_batch = t.cfg.batch};
    if (t.cfg.guide[0]) {
        if (dr_guide_create(&guide, &t.cfg, resume, &nopt, t.net)) fail_msg("%s", dr_last_error());
        t.guide = &guide;
    }
    t.train = &train_set;
    t.test = &test_set;
    t.out_dir = dir;
    t.quiet = 1;
    if (dr_train(&t)) fail_msg("%s", dr_last_error());
    *acc = t.last_acc;
    size_t n = 0;
    for (int i = 0; i < dr_net_param_count(t.net); i++) n += dr_net_param(t.net, i)->size;
    for (int i = 0; i < t.net->n_layers; i++) n += t.net->layers[i].state_size;
    float *all = malloc(n * sizeof(float)), *p = all;
    for (int i = 0; i < dr_net_param_count(t.net); i++) {
        dr_param *par = dr_net_param(t.net, i);
        memcpy(p, par->value, par->size * sizeof(float));
        p += par->size;
    }
    for (int i = 0; i < t.net->n_layers; i++) {
        if (!t.net->layers[i].state_size) continue;
        memcpy(p, t.net->layers[i].state, t.net->layers[i].state_size * sizeof(float));
        p += t.net->layers[i].state_size;
    }
    *count = n;
    dr_optim_free(&t.opt);
    dr_guide_free(&guide);
    dr_net_free(t.net);
    return all;
}

static void test_short_training_reaches_accuracy_and_resumes_exactly(void **s)
{
    (void)s;
    if (!have_data) return;
    char a[600], b[600], ckpt[700];
    snprintf(a, sizeof a, "%s/run-a", tu_tmpdir());
    snprintf(b, sizeof b, "%s/run-b", tu_tmpdir());
    double acc_a, acc_b, acc_half;
    size_t na, nb, nh;
    float *wa = train_run(a, 3, 42, NULL, &acc_a, &na);
    /* Stated target: 3 epochs on 4,000 Fashion-MNIST images reach 78% test
     * accuracy on the first 1,000 test images (seen here: 82.1%; chance 10%). */
    if (acc_a < 0.78) fail_msg("test accuracy %.2f%% after 3 epochs, expected >= 78%%", 100 * acc_a);
    float *wh = train_run(b, 2, 42, NULL, &acc_half, &nh);
    snprintf(ckpt, sizeof ckpt, "%s/last.ckpt", b);
    float *wb = train_run(b, 3, 0, ckpt, &acc_b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(wa, wb, na * sizeof(float)); /* bit-identical */
    assert_true(acc_a == acc_b);
    assert_memory_not_equal(wa, wh, na * sizeof(float));
    free(wa), free(wb), free(wh);
    /* the metrics log has one line per epoch */
    char log[700];
    snprintf(log, sizeof log, "%s/metrics.jsonl", a);
    char *text = dr_read_file(log, NULL);
    assert_non_null(text);
    int lines = 0;
    for (char *p = text; *p; p++) lines += *p == '\n';
    assert_int_equal(lines, 3);
    assert_non_null(strstr(text, "\"epoch\": 3"));
    free(text);
}

static void test_seed_changes_the_run(void **s)
{
    (void)s;
    if (!have_data) return;
    char c[600];
    snprintf(c, sizeof c, "%s/run-c", tu_tmpdir());
    double acc1, acc2;
    size_t n1, n2;
    float *w1 = train_run(c, 1, 1, NULL, &acc1, &n1);
    float *w2 = train_run(c, 1, 2, NULL, &acc2, &n2);
    float *w3 = train_run(c, 1, 1, NULL, &acc2, &n2);
    assert_memory_not_equal(w1, w2, n1 * sizeof(float));
    assert_memory_equal(w1, w3, n1 * sizeof(float));
    free(w1), free(w2), free(w3);
}

/* Our loops and the bit kernels keep every sum in an order fixed by the data,
 * not by the thread count, so a run that uses no OpenBLAS product is bit for
 * bit the same on one thread and on three. (OpenBLAS's sgemm is not: its
 * result depends on how it splits the matrices over threads, 1 vs 2 on every
 * machine seen, 2 vs 3 as well on an AMD EPYC with its Zen kernels. So the
 * last layer is quantized here too and every quantized product forced onto
 * the bit kernels; the first layer's direct convolution is our own.) */
static void test_thread_count_does_not_change_a_quantized_run(void **s)
{
    (void)s;
    if (!have_data) return;
    char d[600];
    snprintf(d, sizeof d, "%s/run-threads", tu_tmpdir());
    double acc1, acc2;
    size_t n1, n2;
    const int threads = omp_get_max_threads();
    run_bits = (dr_bits){1, 2, 4, 0, 1}; /* the last layer quantized too, */
    dr_products_bit_always(1);           /* and on the bit products: no sgemm left */
    omp_set_num_threads(1);
    float *w1 = train_run(d, 1, 5, NULL, &acc1, &n1);
    omp_set_num_threads(3);
    float *w2 = train_run(d, 1, 5, NULL, &acc2, &n2);
    omp_set_num_threads(threads);
    dr_products_bit_always(0);
    run_bits = (dr_bits){32, 32, 32, 0, 0};
    assert_int_equal(n1, n2);
    assert_memory_equal(w1, w2, n1 * sizeof(float));
    assert_true(acc1 == acc2);
    free(w1), free(w2);
}

static void read_losses(const char *dir, double *loss, int n)
{
    char path[700], line[1024];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    for (int i = 0; i < n; i++) {
        assert_non_null(fgets(line, sizeof line, f));
        loss[i] = atof(strstr(line, "\"train_loss\": ") + 14);
    }
    fclose(f);
}

/* Bit kernels compute the same products as the float simulation (exact
 * integers, then float scaling), so a seeded run follows the same loss curve.
 * The two round differently in the last bit, and once a quantizer input sits on
 * a rounding threshold a code flips and the runs drift apart like any chaotic
 * system. So: one forward pass agrees to 1e-4, the per-epoch training losses
 * within 2% in the first epoch and 5% after (seen: 0.04% to 2%). */
static void test_bit_kernels_follow_float_simulation(void **s)
{
    (void)s;
    if (!have_data) return;
    char fdir[600], bdir[600];
    snprintf(fdir, sizeof fdir, "%s/sim-float", tu_tmpdir());
    snprintf(bdir, sizeof bdir, "%s/sim-bit", tu_tmpdir());
    double accf, accb, lf[3], lb[3];
    size_t nf, nb;
    run_bits = (dr_bits){1, 2, 4, 0, 0};
    run_float_kernels = 1;
    dr_products_bit_always(1); /* bit products in every quantized layer, as in the exactness tests */
    { /* one forward pass on the same batch, both ways */
        dr_net *net = tu_net(MODEL, 1, 64);
        dr_net_init(net, 3);
        dr_net_apply_bits(net, &run_bits);
        float *x = malloc(sizeof(float) * 64 * 28 * 28);
        int y[64];
        uint32_t idx[64];
        for (int i = 0; i < 64; i++) idx[i] = (uint32_t)i;
        dr_batch_fill(&train_set, idx, 64, NULL, 0, 0, 0, x, y);
        double loss[2];
        for (int k = 0; k < 2; k++) {
            net->pass.bit_kernels = k;
            dr_net_forward(net, x, y, 64, 1);
            loss[k] = net->pass.loss;
        }
        printf("one forward pass: loss %.9f (float simulation), %.9f (bit kernels)\n", loss[0], loss[1]);
        assert_true(fabs(loss[0] - loss[1]) <= 1e-4 * loss[0]);
        free(x);
        dr_net_free(net);
    }
    float *wf = train_run(fdir, 3, 7, NULL, &accf, &nf);
    run_float_kernels = 0;
    float *wb = train_run(bdir, 3, 7, NULL, &accb, &nb);
    dr_products_bit_always(0);
    run_bits = (dr_bits){32, 32, 32, 0, 0};
    read_losses(fdir, lf, 3);
    read_losses(bdir, lb, 3);
    for (int e = 0; e < 3; e++) {
        printf("epoch %d: train loss float simulation %.6f, bit kernels %.6f\n", e + 1, lf[e], lb[e]);
        double tol = e == 0 ? 0.02 : 0.05;
        if (fabs(lf[e] - lb[e]) > tol * lf[e]) fail_msg("epoch %d: loss %.6f vs %.6f", e + 1, lf[e], lb[e]);
    }
    printf("test accuracy: float simulation %.4f, bit kernels %.4f\n", accf, accb);
    /* The two runs start equal and part by float rounding (the losses above stay within 1-2%), so
     * after 3 epochs they are two nearly independent networks of the same quality: on 1,000 test
     * images at about 80% their accuracies differ by sqrt(2 0.8 0.2 / 1000) = 1.8 points (one
     * standard deviation). Seen: 2.2 points (0.8030 against 0.8250) on an Intel Xeon with
     * AVX-512, where the bound was 2 (the code before the int8 work gave the same numbers);
     * the bound is now 4 points, two standard deviations. */
    if (fabs(accf - accb) > 0.04) fail_msg("test accuracy %.4f (float) vs %.4f (bit)", accf, accb);
    assert_true(accb > 0.7); /* it learns (seen: 0.80; chance 0.1) */
    free(wf), free(wb);
}

/* All parameters and state of a checkpoint, in train_run's order. */
static float *checkpoint_values(const char *path, size_t *count)
{
    dr_checkpoint ck;
    if (dr_checkpoint_read(path, &ck)) fail_msg("%s", dr_last_error());
    dr_net *net = tu_net(ck.model, ck.input.c, 1);
    assert_int_equal(dr_checkpoint_restore(&ck, net, NULL), 0);
    size_t n = 0;
    for (int i = 0; i < dr_net_param_count(net); i++) n += dr_net_param(net, i)->size;
    for (int i = 0; i < net->n_layers; i++) n += net->layers[i].state_size;
    float *all = malloc(n * sizeof(float)), *p = all;
    for (int i = 0; i < dr_net_param_count(net); i++) {
        memcpy(p, dr_net_param(net, i)->value, dr_net_param(net, i)->size * sizeof(float));
        p += dr_net_param(net, i)->size;
    }
    for (int i = 0; i < net->n_layers; i++)
        if (net->layers[i].state_size) {
            memcpy(p, net->layers[i].state, net->layers[i].state_size * sizeof(float));
            p += net->layers[i].state_size;
        }
    *count = n;
    dr_checkpoint_free(&ck);
    dr_net_free(net);
    return all;
}

/* Progressive quantization: stage 1 of a schedule is exactly a plain run of its
 * bits, and a run resumed from a stage checkpoint ends with exactly the weights
 * of the uninterrupted schedule (the hand-over carries the weights over). */
static void test_progressive_schedule_hand_over(void **s)
{
    (void)s;
    dr_schedule sc;
    assert_int_equal(dr_schedule_parse("1,32,32:3;1,2,4:2", &sc), 0);
    assert_int_equal(sc.n, 2);
    assert_int_equal(sc.bits[1].a, 2);
    assert_int_equal(dr_schedule_epochs(&sc), 5);
    assert_int_equal(dr_schedule_stage(&sc, 2), 0);
    assert_int_equal(dr_schedule_stage(&sc, 3), 1);
    assert_int_equal(dr_schedule_stage_start(&sc, 1), 3);
    assert_int_equal(dr_schedule_parse("1,2,4", &sc), -1);
    tu_assert_error_has("needs W,A,G:EPOCHS");
    assert_int_equal(dr_schedule_parse("1,2,4:0", &sc), -1);
    assert_int_equal(dr_schedule_parse("1,2,9:1", &sc), -1);
    assert_int_equal(dr_schedule_parse("", &sc), -1);
    if (!have_data) return;
    char plain[600], sched[600], resumed[600], ck[700];
    snprintf(plain, sizeof plain, "%s/prog-plain", tu_tmpdir());
    snprintf(sched, sizeof sched, "%s/prog-sched", tu_tmpdir());
    snprintf(resumed, sizeof resumed, "%s/prog-resumed", tu_tmpdir());
    double acc;
    size_t n1, n2, n3, n4;
    run_bits = (dr_bits){1, 32, 32, 0, 0};
    float *w_plain = train_run(plain, 1, 5, NULL, &acc, &n1);
    run_bits = (dr_bits){32, 32, 32, 0, 0};
    run_schedule = "1,32,32:1;1,2,4:1";
    float *w_sched = train_run(sched, 2, 5, NULL, &acc, &n2);
    run_schedule = "";
    snprintf(ck, sizeof ck, "%s/stage1.ckpt", sched);
    float *w_stage1 = checkpoint_values(ck, &n3);
    assert_int_equal(n1, n3);
    assert_memory_equal(w_plain, w_stage1, n1 * sizeof(float)); /* stage 1 = a plain run */
    assert_memory_not_equal(w_stage1, w_sched, n1 * sizeof(float)); /* stage 2 trained on */
    /* resume from the stage-1 checkpoint in another folder */
    float *w_res = train_run(resumed, 2, 0, ck, &acc, &n4);
    assert_int_equal(n2, n4);
    assert_memory_equal(w_sched, w_res, n2 * sizeof(float));
    free(w_plain), free(w_sched), free(w_stage1), free(w_res);
}

/* ---- checkpoint files ----------------------------------------------------------- */

static void write_file(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(data, 1, n, f);
    fclose(f);
}

static void test_checkpoint_round_trip_and_corruption(void **s)
{
    (void)s;
    dr_net *net = tu_net(MODEL, 1, 2);
    dr_net_init(net, 9);
    dr_optim opt;
    dr_optim_config oc;
    dr_optim_defaults(&oc);
    dr_optim_init(&opt, &oc, net);
    opt.t = 17;
    opt.m[3] = 0.5f;
    net->layers[1].state[0] = 1.25f;
    char path[600];
    snprintf(path, sizeof path, "%s/x.ckpt", tu_tmpdir());
    assert_int_equal(dr_checkpoint_save(path, net, &opt, "epochs=3 epoch=2 seed=5"), 0);

    dr_checkpoint ck;
    assert_int_equal(dr_checkpoint_read(path, &ck), 0);
    dr_net *net2 = tu_net(ck.model, ck.input.c, 2);
    dr_optim opt2;
    dr_optim_init(&opt2, &oc, net2);
    assert_int_equal(dr_checkpoint_restore(&ck, net2, &opt2), 0);
    assert_int_equal(opt2.t, 17);
    assert_true(opt2.m[3] == 0.5f);
    assert_true(net2->layers[1].state[0] == 1.25f);
    dr_param *p1 = dr_net_param(net, 0), *p2 = dr_net_param(net2, 0);
    assert_memory_equal(p1->value, p2->value, p1->size * sizeof(float));
    dr_train_config cfg;
    assert_int_equal(dr_train_config_parse(ck.conf, path, &cfg), 0);
    assert_int_equal(cfg.epoch, 2);
    assert_int_equal(cfg.seed, 5);
    dr_checkpoint_free(&ck);

    size_t len;
    char *buf = dr_read_file(path, &len), bad[600];
    snprintf(bad, sizeof bad, "%s/bad.ckpt", tu_tmpdir());
    /* truncated */
    write_file(bad, buf, len / 2);
    assert_int_equal(dr_checkpoint_read(bad, &ck), -1);
    tu_assert_error_has("bad.ckpt: checksum mismatch");
    /* one flipped bit in a weight */
    buf[len / 2] ^= 0x10;
    write_file(bad, buf, len);
    assert_int_equal(dr_checkpoint_read(bad, &ck), -1);
    tu_assert_error_has("checksum mismatch");
    buf[len / 2] ^= 0x10;
    /* another version */
    buf[8] = 99;
    write_file(bad, buf, len);
    assert_int_equal(dr_checkpoint_read(bad, &ck), -1);
    tu_assert_error_has("checkpoint version 99");
    buf[8] = DR_CHECKPOINT_VERSION;
    /* not a checkpoint */
    write_file(bad, "hello world, not a checkpoint", 29);
    assert_int_equal(dr_checkpoint_read(bad, &ck), -1);
    tu_assert_error_has("not a dorefa checkpoint");
    write_file(bad, "", 0);
    assert_int_equal(dr_checkpoint_read(bad, &ck), -1);
    /* a weight that is not a number, saved by a diverged run or damaged: refused, naming it */
    dr_param *w0 = dr_net_param(net, 0);
    const float keep = w0->value[5];
    w0->value[5] = NAN;
    char nanp[600];
    snprintf(nanp, sizeof nanp, "%s/nan.ckpt", tu_tmpdir());
    assert_int_equal(dr_checkpoint_save(nanp, net, &opt, "epochs=3"), 0);
    w0->value[5] = keep;
    assert_int_equal(dr_checkpoint_read(nanp, &ck), 0);
    dr_net *net3 = tu_net(ck.model, ck.input.c, 2);
    assert_int_equal(dr_checkpoint_restore(&ck, net3, NULL), -1);
    tu_assert_error_has("nan.ckpt: 'conv0.w' holds a non-finite value (nan at index 5)");
    dr_net_free(net3);
    dr_checkpoint_free(&ck);
    /* a damaged optimizer state: refused by a resume */
    opt.v[7] = -1;
    assert_int_equal(dr_checkpoint_save(nanp, net, &opt, "epochs=3"), 0);
    opt.v[7] = 0;
    assert_int_equal(dr_checkpoint_read(nanp, &ck), 0);
    net3 = tu_net(ck.model, ck.input.c, 2);
    assert_int_equal(dr_checkpoint_restore(&ck, net3, NULL), 0); /* evaluating it is fine */
    assert_int_equal(dr_checkpoint_restore(&ck, net3, &opt2), -1);
    tu_assert_error_has("the optimizer state of 'conv0.w' is damaged");
    dr_net_free(net3);
    dr_checkpoint_free(&ck);
    /* damage behind a valid checksum: a repeated section, an enormous input shape */
    tu_write_with_section(bad, (const uint8_t *)buf, len, "CONF", NULL, 0);
    assert_int_equal(dr_checkpoint_read(bad, &ck), -1);
    tu_assert_error_has("bad.ckpt: section CONF is given twice");
    const int32_t huge[3] = {1 << 30, 1 << 30, 1};
    tu_write_with_section(bad, (const uint8_t *)buf, len, "INPT", huge, sizeof huge);
    assert_int_equal(dr_checkpoint_read(bad, &ck), -1);
    tu_assert_error_has("bad.ckpt: corrupt INPT section: input 1073741824x1073741824x1");
    /* a checkpoint of another model */
    assert_int_equal(dr_checkpoint_read(path, &ck), 0);
    dr_net *other = tu_net("input size=28\nconv filters=4\nfc outputs=10\nsoftmax\n", 1, 1);
    assert_int_equal(dr_checkpoint_restore(&ck, other, NULL), -1);
    tu_assert_error_has("differ");
    dr_checkpoint_free(&ck);
    dr_net_free(other);
    free(buf);
    dr_optim_free(&opt);
    dr_optim_free(&opt2);
    dr_net_free(net);
    dr_net_free(net2);
}

/* A checkpoint carries the bits and bounded activation its weights were
 * trained with (BITS), and restoring applies them. A version 1 file (no
 * BITS: the bits only in its CONF text) still loads, its bits taken from the
 * configuration: the schedule's stage, else bits=, else the model's default. */
static void test_checkpoint_bits_and_version_1(void **s)
{
    (void)s;
    dr_net *net = tu_shipped("svhn-a", 1, 2);
    dr_net_init(net, 4);
    dr_net_set_bounded_act(net, DR_ACT_CRELU);
    const dr_bits b = {2, 3, 6, 1, 0};
    assert_int_equal(dr_net_apply_bits(net, &b), 0);
    char path[600], old[600];
    snprintf(path, sizeof path, "%s/bits.ckpt", tu_tmpdir());
    snprintf(old, sizeof old, "%s/bits-v1.ckpt", tu_tmpdir());
    /* the configuration text says otherwise: BITS wins */
    assert_int_equal(dr_checkpoint_save(path, net, NULL, "bits=1,2,4 bounded_act=cabs"), 0);
    dr_checkpoint ck;
    assert_int_equal(dr_checkpoint_read(path, &ck), 0);
    assert_int_equal(ck.version, DR_CHECKPOINT_VERSION);
    dr_net *back = tu_net(ck.model, 1, 2);
    assert_int_equal(dr_checkpoint_restore(&ck, back, NULL), 0);
    assert_memory_equal(&back->bits, &b, sizeof b);
    assert_int_equal(back->bounded_act, DR_ACT_CRELU);
    assert_int_equal(dr_net_find(back, "conv0")->plan.wbits, 2); /* quantize_first */
    assert_int_equal(dr_net_find(back, "conv0")->plan.gbits, 6);
    dr_net_free(back);
    /* the same file as version 1 wrote it: no BITS section */
    size_t len, w = 16;
    uint8_t *buf = (uint8_t *)dr_read_file(path, &len), *v1 = malloc(len);
    memcpy(v1, buf, 16);
    uint32_t version = 1, count = 0;
    for (size_t pos = 16; pos < len - 4;) {
        uint64_t n;
        memcpy(&n, buf + pos + 4, 8);
        if (memcmp(buf + pos, "BITS", 4)) memcpy(v1 + w, buf + pos, 12 + n), w += 12 + n, count++;
        pos += 12 + n;
    }
    memcpy(v1 + 8, &version, 4);
    memcpy(v1 + 12, &count, 4);
    uint32_t crc = (uint32_t)crc32(0L, v1, (uInt)w);
    memcpy(v1 + w, &crc, 4);
    FILE *f = fopen(old, "wb");
    assert_non_null(f);
    fwrite(v1, 1, w + 4, f);
    fclose(f);
    dr_checkpoint_free(&ck);
    assert_int_equal(dr_checkpoint_read(old, &ck), 0);
    assert_int_equal(ck.version, 1);
    assert_false(ck.has_bits);
    back = tu_net(ck.model, 1, 2);
    assert_int_equal(dr_checkpoint_restore(&ck, back, NULL), 0);
    const dr_bits from_conf = {1, 2, 4, 0, 0};
    assert_memory_equal(&back->bits, &from_conf, sizeof from_conf);
    assert_int_equal(back->bounded_act, DR_ACT_CABS);
    /* a resume checks BITS against the configuration: the first file says 1,2,4 cabs
     * in CONF but 2,3,6 crelu in BITS, so resuming it would be another run */
    dr_train_config rc;
    assert_int_equal(dr_train_config_parse("bits=1,2,4 bounded_act=cabs", "x", &rc), 0);
    assert_int_equal(dr_train_check_resumed(&rc, back, old), 0);
    dr_net *mixed = tu_net(ck.model, 1, 2);
    dr_checkpoint ck2;
    assert_int_equal(dr_checkpoint_read(path, &ck2), 0);
    assert_int_equal(dr_checkpoint_restore(&ck2, mixed, NULL), 0);
    assert_int_equal(dr_train_check_resumed(&rc, mixed, path), -1);
    tu_assert_error_has("bits.ckpt: its weights were saved at bits 2,3,6 (first 1, last 0, bounded activation crelu), "
                        "its configuration says 1,2,4 (first 0, last 0, cabs)");
    dr_checkpoint_free(&ck2);
    dr_net_free(mixed);
    dr_net_free(back);
    dr_checkpoint_free(&ck);
    /* version 2 without BITS is damaged, not old */
    memcpy(v1 + 8, &(uint32_t){2}, 4);
    crc = (uint32_t)crc32(0L, v1, (uInt)w);
    memcpy(v1 + w, &crc, 4);
    f = fopen(old, "wb");
    fwrite(v1, 1, w + 4, f);
    fclose(f);
    assert_int_equal(dr_checkpoint_read(old, &ck), -1);
    tu_assert_error_has("lacks a required section");
    free(buf), free(v1);
    dr_net_free(net);
}

/* The configuration's stored form follows the option table: every stored
 * field survives format -> parse, and the text an earlier version wrote reads
 * the same. */
static void test_config_text_round_trip(void **s)
{
    (void)s;
    dr_train_config a, b;
    dr_train_config_defaults(&a);
    snprintf(a.model, sizeof a.model, "models/my model=1 at 100%%\tnow.net"); /* blanks, '=', '%' */
    snprintf(a.data, sizeof a.data, "/data/caf\xc3\xa9 %%41");
    snprintf(a.schedule, sizeof a.schedule, "1,32,32:2;1,2,4:3");
    a.epochs = 7, a.batch = 33, a.seed = 12345, a.optim.kind = DR_OPT_SGD, a.optim.lr = 0.0123f;
    a.optim.lr_decay_every = 4, a.aug.contrast_lo = 0.25f, a.aug.contrast_hi = 1.75f, a.aug.flip = 1;
    a.bits = (dr_bits){2, 3, 6, 1, 1}, a.float_kernels = 1, a.bounded_act = DR_ACT_CRELU, a.sp_start = 0.5f;
    a.guide_w_full = 0.3f, a.bn_local = 1, a.exchange_bits = 3, a.epoch = 3, a.step = 1ull << 40, a.best_acc = 0.875f, a.best_epoch = 2;
    char text[DR_CONFIG_TEXT_MAX];
    dr_train_config_format(&a, text, sizeof text);
    assert_int_equal(dr_train_config_parse(text, "x", &b), 0);
    int stored = 0;
    for (int i = 0; i < dr_train_option_count; i++) {
        const dr_option *o = &dr_train_options[i];
        if (!o->key) continue;
        stored++;
        if (memcmp((char *)&a + o->offset, (char *)&b + o->offset, o->size)) fail_msg("%s does not round-trip", o->key);
    }
    assert_int_equal(stored, 50);
    /* written by version 0.1.0 (the same keys, in its own order) */
    static const char old[] =
        "model=default data=/usr/share/datasets/fashion-mnist epochs=2 batch=128 seed=1 optimizer=adam "
        "lr=0.00100000005 beta1=0.899999976 beta2=0.999000013 adam_eps=9.99999975e-06 momentum=0.899999976 "
        "lr_decay=0.5 lr_decay_every=0 weight_decay=0 brightness=0 contrast_lo=0 contrast_hi=0 flip=0 crop_pad=0 "
        "limit_train=2048 limit_test=512 svhn_extra=0 bits=2,2,4 quantize_first=0 quantize_last=0 bounded_act=- "
        "kernels=bit histograms=- schedule=- sp_start=0.5 sp_ramp=1 guide=- guide_t=2 guide_w_low=1 "
        "guide_w_full=1 hint=- hint_w=1 epoch=2 step=32 best_acc=0.779296875 best_epoch=2";
    assert_int_equal(dr_train_config_parse(old, "old", &b), 0);
    assert_true(b.optim.lr == 1e-3f && b.optim.eps == 1e-5f && b.sp_start == 0.5f && b.best_acc == 0.779296875f);
    assert_int_equal(b.limit_train, 2048);
    assert_int_equal(b.bits.a, 2);
    assert_int_equal(b.bounded_act, -1);
    assert_int_equal(b.step, 32);
    assert_string_equal(b.schedule, "");
    /* damaged values name the file and the key */
    assert_int_equal(dr_train_config_parse("epochs=x", "ck.ckpt", &b), -1);
    tu_assert_error_has("ck.ckpt: epochs=x: expected an integer");
    assert_int_equal(dr_train_config_parse("bits=1,2", "ck.ckpt", &b), -1);
    tu_assert_error_has("ck.ckpt: bits=1,2: expected W,A,G");
}

/* ---- distillation losses (guided training) ------------------------------------ */

static void test_distillation_losses_and_gradients(void **s)
{
    (void)s;
    enum { N = 3, C = 5 };
    float z[N * C], t[N * C], dz[N * C];
    tu_fill(z, N * C, -3, 3, 1);
    tu_fill(t, N * C, -3, 3, 2);
    for (float T = 1; T <= 4; T *= 2) {
        for (int i = 0; i < N * C; i++) dz[i] = 0;
        double l = dr_distill_loss(z, t, N, C, T, 0.7f, dz);
        assert_true(l > 0);
        for (int i = 0; i < N * C; i++) {
            const float h = 1e-3f, keep = z[i];
            z[i] = keep + h;
            double up = dr_distill_loss(z, t, N, C, T, 1, NULL);
            z[i] = keep - h;
            double down = dr_distill_loss(z, t, N, C, T, 1, NULL);
            z[i] = keep;
            double num = 0.7 * (up - down) / (2 * h);
            if (fabs(num - dz[i]) > 1e-4 + 1e-3 * fabs(num)) fail_msg("T=%g dz[%d]: %g vs numeric %g", T, i, dz[i], num);
        }
        /* identical outputs: no loss, no pull */
        for (int i = 0; i < N * C; i++) dz[i] = 0;
        assert_true(fabs(dr_distill_loss(t, t, N, C, T, 1, dz)) < 1e-12);
        for (int i = 0; i < N * C; i++) assert_true(fabsf(dz[i]) < 1e-7f);
    }
    float a[N * 4], b[N * 4], da[N * 4] = {0};
    tu_fill(a, N * 4, -1, 1, 3);
    tu_fill(b, N * 4, -1, 1, 4);
    double l = dr_hint_loss(a, b, N, 4, 2.0f, da);
    double want = 0;
    for (int i = 0; i < N * 4; i++) want += 0.5 * (a[i] - b[i]) * (a[i] - b[i]) / (N * 4);
    assert_true(fabs(l - want) < 1e-9);
    for (int i = 0; i < N * 4; i++) assert_true(fabsf(da[i] - 2.0f * (a[i] - b[i]) / (N * 4)) < 1e-6f);
}

/* Guided training wiring: after dr_guide_step, the low-bitwidth network's
 * parameter gradients are those of CE + w KD(its logits, the partner's) +
 * hint_w hint(its layer, the partner's), by finite differences, and the
 * partner's are those of its own CE + KD + hint toward the low network. */
static void test_guided_step_gradients(void **s)
{
    (void)s;
    static const char net_text[] = "input size=3\n"
                                   "conv name=c filters=3 size=3 pad=same bias=1\n"
                                   "act name=a fn=identity\n"
                                   "fc name=f outputs=4 bias=1\n"
                                   "softmax\n";
    enum { N = 3, C = 4 };
    dr_net *low = tu_net(net_text, 2, N), *full = tu_net(net_text, 2, N);
    dr_net_init(low, 1);
    dr_net_init(full, 2);
    dr_guide g;
    assert_int_equal(dr_guide_setup(&g, low, full, 2.0f, 0.7f, 0.3f, "a:c", 0.5f), 0);
    dr_optim_config oc;
    dr_optim_defaults(&oc);
    dr_optim_init(&g.opt, &oc, full);
    float x[N * 18];
    int y[N] = {0, 3, 1};
    tu_fill(x, N * 18, -1, 1, 7);
    dr_net_forward(low, x, y, N, 1);
    dr_guide_step(&g, low, x, y, N, 0); /* lr 0: the partner stays as it was */
    float zt[N * C], ht[N * 27], zl[N * C], hl[N * 27];
    memcpy(zt, dr_net_logits(full), sizeof zt);
    memcpy(ht, dr_net_find(full, "c")->out, sizeof ht);
    memcpy(zl, dr_net_logits(low), sizeof zl);
    memcpy(hl, dr_net_find(low, "a")->out, sizeof hl);
    for (int which = 0; which < 2; which++) {
        dr_net *net = which ? full : low;
        const float *other_z = which ? zl : zt, *other_h = which ? hl : ht;
        const char *hint_layer = which ? "c" : "a";
        float w = which ? 0.3f : 0.7f;
        for (int k = 0; k < dr_net_param_count(net); k++) {
            dr_param *p = dr_net_param(net, k);
            for (size_t i = 0; i < p->size; i += 5) {
                const float h = 1e-2f, keep = p->value[i];
                double L[2];
                for (int sgn = 0; sgn < 2; sgn++) {
                    p->value[i] = keep + (sgn ? -h : h);
                    dr_net_forward(net, x, y, N, 1);
                    L[sgn] = net->pass.loss + w * dr_distill_loss(dr_net_logits(net), other_z, N, C, 2.0f, 1, NULL) +
                             0.5 * dr_hint_loss(dr_net_find(net, hint_layer)->out, other_h, N, 27, 1, NULL);
                }
                p->value[i] = keep;
                double num = (L[0] - L[1]) / (2 * h);
                if (fabs(num - p->grad[i]) > 2e-3 + 2e-2 * fabs(num))
                    fail_msg("%s %s[%zu]: gradient %g, numeric %g", which ? "partner" : "low", p->name, i,
                             p->grad[i], num);
            }
        }
    }
    /* a hint between layers of different shapes is refused */
    dr_guide g2;
    assert_int_equal(dr_guide_setup(&g2, low, full, 2, 1, 1, "a:f", 1), -1);
    tu_assert_error_has("gives 3x3x3");
    assert_int_equal(dr_guide_setup(&g2, low, full, 2, 1, 1, "nosuch", 1), -1);
    tu_assert_error_has("no layer named 'nosuch'");
    dr_guide_free(&g); /* frees full */
    dr_net_free(low);
}

/* Guided training end to end: with zero weights the low-bitwidth network
 * trains exactly as without a partner; with weights it differs, and a run
 * resumed from its epoch-1 checkpoint (partner from guide.ckpt) ends with the
 * uninterrupted run's weights, for both networks. */
static void test_guided_training_runs_and_resumes(void **s)
{
    (void)s;
    if (!have_data) return;
    char model[600], plain[600], zero[600], full[600], half[600], ck[700], g1[700], g2[700];
    snprintf(model, sizeof model, "%s/guide.net", tu_tmpdir());
    FILE *f = fopen(model, "w");
    assert_non_null(f);
    fputs(MODEL, f);
    fclose(f);
    snprintf(plain, sizeof plain, "%s/guide-plain", tu_tmpdir());
    snprintf(zero, sizeof zero, "%s/guide-zero", tu_tmpdir());
    snprintf(full, sizeof full, "%s/guide-full", tu_tmpdir());
    snprintf(half, sizeof half, "%s/guide-half", tu_tmpdir());
    double acc;
    size_t n[6];
    run_bits = (dr_bits){2, 2, 4, 0, 0};
    float *w_plain = train_run(plain, 1, 9, NULL, &acc, &n[0]);
    run_guide = model;
    run_guide_w = 0;
    float *w_zero = train_run(zero, 1, 9, NULL, &acc, &n[1]);
    assert_int_equal(n[0], n[1]);
    assert_memory_equal(w_plain, w_zero, n[0] * sizeof(float));
    run_guide_w = 1;
    run_hint = "maxpool7";
    float *w_full = train_run(full, 2, 9, NULL, &acc, &n[2]);
    double acc_full = acc;
    float *w_half = train_run(half, 1, 9, NULL, &acc, &n[3]);
    assert_memory_not_equal(w_plain, w_half, n[0] * sizeof(float));
    run_guide = run_hint = "";
    run_bits = (dr_bits){32, 32, 32, 0, 0};
    snprintf(ck, sizeof ck, "%s/last.ckpt", half);
    float *w_res = train_run(half, 2, 0, ck, &acc, &n[4]);
    assert_memory_equal(w_full, w_res, n[2] * sizeof(float));
    assert_true(acc == acc_full);
    snprintf(g1, sizeof g1, "%s/guide.ckpt", full);
    snprintf(g2, sizeof g2, "%s/guide.ckpt", half);
    float *p1 = checkpoint_values(g1, &n[4]), *p2 = checkpoint_values(g2, &n[5]);
    assert_int_equal(n[4], n[5]);
    assert_memory_equal(p1, p2, n[4] * sizeof(float));
    /* the partner learned too: the log has its accuracy */
    char log[700];
    snprintf(log, sizeof log, "%s/metrics.jsonl", full);
    char *text = dr_read_file(log, NULL);
    const char *ga = text ? strstr(text, "\"guide_test_acc\": ") : NULL;
    assert_non_null(ga);
    assert_true(atof(ga + 18) > 0.5);
    free(text);
    free(w_plain), free(w_zero), free(w_full), free(w_half), free(w_res), free(p1), free(p2);
}

/* ---- optimizer ---------------------------------------------------------------------- */

static void test_adam_and_sgd_updates(void **s)
{
    (void)s;
    dr_net *net = tu_net("input size=1\nfc name=f outputs=2 bias=0 l2=0.5\nsoftmax\n", 1, 1);
    dr_param *w = &dr_net_find(net, "f")->params[0];
    w->value[0] = 1.0f, w->value[1] = -2.0f;
    w->grad[0] = 0.1f, w->grad[1] = 0.0f;
    dr_optim_config c;
    dr_optim_defaults(&c);
    dr_optim o;
    dr_optim_init(&o, &c, net);
    dr_optim_step(&o, net, 0.01f);
    /* g = 0.1 + 0.5 * 1 = 0.6; first Adam step moves by lr * g / (|g| + eps') */
    double g = 0.6, m = 0.1 * g, v = 0.001 * g * g;
    double step = 0.01 * sqrt(1 - 0.999) / (1 - 0.9);
    assert_true(fabs(w->value[0] - (1.0 - step * m / (sqrt(v) + 1e-5))) < 1e-6);
    assert_true(fabs(w->value[1] - (-2.0 - step * (0.1 * -1.0) / (sqrt(0.001 * 1.0) + 1e-5))) < 1e-6);
    dr_optim_free(&o);
    c.kind = DR_OPT_SGD;
    dr_optim_init(&o, &c, net);
    w->value[0] = 1.0f, w->grad[0] = 0.1f, w->grad[1] = 0;
    dr_optim_step(&o, net, 0.1f);
    dr_optim_step(&o, net, 0.1f); /* velocity 0.6, then 0.9*0.6 + (0.1 + 0.5*0.94) */
    assert_true(fabs(w->value[0] - (0.94 - 0.1 * (0.54 + 0.1 + 0.47))) < 1e-6);
    dr_optim_free(&o);
    c.lr = 1.0f, c.lr_decay = 0.5f, c.lr_decay_every = 100;
    assert_true(dr_optim_lr(&c, 99) == 1.0f);
    assert_true(dr_optim_lr(&c, 100) == 0.5f);
    assert_true(dr_optim_lr(&c, 250) == 0.25f);
    dr_net_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_short_training_reaches_accuracy_and_resumes_exactly),
        cmocka_unit_test(test_seed_changes_the_run),
        cmocka_unit_test(test_thread_count_does_not_change_a_quantized_run),
        cmocka_unit_test(test_bit_kernels_follow_float_simulation),
        cmocka_unit_test(test_progressive_schedule_hand_over),
        cmocka_unit_test(test_checkpoint_round_trip_and_corruption),
        cmocka_unit_test(test_checkpoint_bits_and_version_1),
        cmocka_unit_test(test_config_text_round_trip),
        cmocka_unit_test(test_adam_and_sgd_updates),
        cmocka_unit_test(test_distillation_losses_and_gradients),
        cmocka_unit_test(test_guided_step_gradients),
        cmocka_unit_test(test_guided_training_runs_and_resumes),
    };
    return cmocka_run_group_tests(tests, load_data, free_data);
}
