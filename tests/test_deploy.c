/* Deployment: an exported model run by the fused engine predicts what the
 * training graph predicts in evaluation mode; every shipped model exports and
 * loads; damaged files give clear errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../include/dorefa.h"
#include "core/filebuf.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "deploy/deploy.h"
#include "train/export.h"
#include "kernels/bitgemm.h"
#include "kernels/direct_conv.h"
#include "kernels/int8_conv.h"
#include "layers/linear.h"
#include "deploy/format.h"
#include "model/plan.h"
#include "train/precision.h"
#include "quant/quantize.h"
#include "train/checkpoint.h"
#include "train/train.h"
#include "testutil.h"

/* Random BN parameters and statistics (some scales negative) and biases, so
 * the folded thresholds see both signs and offsets. */
static void randomize_bn(dr_net *net, uint64_t seed)
{
    dr_rng r;
    dr_rng_seed(&r, seed, DR_RNG_TEST, 1, 0);
    for (int i = 0; i < net->n_layers; i++) {
        dr_layer *l = &net->layers[i];
        if (!(l->ops->roles & DR_ROLE_NORM)) continue;
        int C = l->in_shape.c;
        for (int c = 0; c < C; c++) {
            float u = dr_rng_uniform(&r);
            l->params[0].value[c] = (u < 0.25f ? -1.0f : 1.0f) * (0.3f + dr_rng_uniform(&r));
            l->params[1].value[c] = dr_rng_uniform(&r) - 0.3f;
            l->state[c] = 2.0f * (dr_rng_uniform(&r) - 0.5f);
            l->state[C + c] = 0.5f + 2.0f * dr_rng_uniform(&r);
        }
    }
}

/* Saves the network with its bits as a checkpoint and exports it. */
static void export_first(dr_net *net, const dr_bits *bits, int bounded_act, int first, const char *name,
                         char *model_path, size_t cap, dr_export_info *info)
{
    char ck[600];
    dr_train_config cfg;
    dr_train_config_defaults(&cfg);
    cfg.bits = *bits;
    cfg.bounded_act = bounded_act;
    char conf[DR_CONFIG_TEXT_MAX];
    dr_train_config_format(&cfg, conf, sizeof conf);
    snprintf(ck, sizeof ck, "%s/%s.ckpt", tu_tmpdir(), name);
    snprintf(model_path, cap, "%s/%s.dorefa", tu_tmpdir(), name);
    if (dr_checkpoint_save(ck, net, NULL, conf) || dr_export(ck, model_path, first, info))
        fail_msg("%s: %s", name, dr_last_error());
}

static void export_net(dr_net *net, const dr_bits *bits, int bounded_act, const char *name, char *model_path,
                       size_t cap, dr_export_info *info)
{
    export_first(net, bits, bounded_act, DR_FIRST_LAYER_FLOAT, name, model_path, cap, info);
}

/* The stated tolerance: logits within 2% of the largest logit. The engine
 * decides each activation code with exact integer thresholds while the
 * training graph rounds in float32, so an activation within a float rounding
 * of a quantization boundary can land on the neighbouring code (seen: up to
 * 0.1% at 8 bits, 1% through ResNet-18's 16 quantized layers); classes must
 * agree exactly. */
#define TOL 2e-2

/* Runs n images through the training graph (eval mode) and the engine;
 * fails unless every class agrees and the logits agree within tol, on all
 * images but `allowed` of them. */
static void compare_allowing(dr_net *net, dr_engine *e, const float *x, int n, double tol, int allowed,
                             const char *what)
{
    const int C = dr_net_classes(net);
    float *p = malloc(sizeof(float) * (size_t)n * C);
    dr_net_forward(net, x, NULL, n, 0);
    dr_engine_run(e, x, n, p);
    const float *za = dr_net_logits(net), *zb = dr_net_logits(dr_engine_net(e));
    double worst = 0;
    int over = 0;
    for (int i = 0; i < n; i++) {
        int ba = 0, bb = 0;
        double scale = 1, w = 0;
        for (int c = 0; c < C; c++) scale = fmax(scale, fabs(za[i * C + c]));
        for (int c = 0; c < C; c++) {
            if (za[i * C + c] > za[i * C + ba]) ba = c;
            if (zb[i * C + c] > zb[i * C + bb]) bb = c;
            w = fmax(w, fabs(za[i * C + c] - zb[i * C + c]) / scale);
        }
        if (ba != bb) fail_msg("%s: image %d: training graph says class %d, engine %d", what, i, ba, bb);
        over += w > tol;
        worst = fmax(worst, w);
    }
    if (over > allowed)
        fail_msg("%s: logits of %d images differ by more than %g (relative; worst %g), %d allowed", what, over, tol,
                 worst, allowed);
    free(p);
}

static void compare(dr_net *net, dr_engine *e, const float *x, int n, double tol, const char *what)
{
    compare_allowing(net, e, x, n, tol, 0, what);
}

/* With an 8-bit first layer the engine sums exactly where the graph sums the
 * same (dequantized) weights in float: a first-layer value within float
 * rounding of a code boundary can take the neighbouring code (seen: 1 of
 * 3.1 million codes on 200 Fashion-MNIST images through Model A), which the
 * bit layers after it can carry to the logits of that image (8.9% there).
 * The stated tolerance: every class equal; logits within TOL on all but 1%
 * of the images (and at least one); the first layer's codes equal but for 1
 * in 10^5 (test_int8_first_layer_on_fashion_slice). */
#define INT8_ALLOWED(n) ((n) / 100 + 1)

static const char *NETS[] = {
    /* crelu, BN then max-pool, a quantized FC last */
    "input size=12\nconv filters=8 size=3 bias=1\nact fn=crelu\nconv filters=16 size=3 pad=same\nbn\n"
    "maxpool size=2 pad=same\nact fn=crelu\nconv filters=16 size=3\nbn\nact fn=crelu\nfc outputs=10\nsoftmax\n",
    /* cabs (not monotone), max-pool before BN, conv bias, dropout before a fused conv, stride 2 */
    "input size=13\nconv filters=6 size=3 bias=1\nact fn=cabs\nconv filters=70 size=3 bias=1\nmaxpool size=3 stride=2 pad=same\n"
    "bn\nact fn=cabs\ndropout rate=0.5\nconv filters=12 size=3 stride=2 pad=same\nbn\nact fn=cabs\n"
    "conv filters=9 size=2\nbn\nact fn=relu\nfc outputs=7\nsoftmax\n",
    /* the default network's shape: act -> max-pool -> conv (pooled codes), a quantized
     * FC reading pooled codes, BN + ReLU + dropout before the float classifier */
    "input size=10\nconv filters=8 size=3 pad=same bias=1\nbn\nact fn=relu\nmaxpool size=2 pad=same\n"
    "conv filters=16 size=3 pad=same\nbn\nact fn=relu\nmaxpool size=2 pad=same\nfc outputs=32\nbn\n"
    "act fn=relu\ndropout rate=0.3\nfc outputs=10\nsoftmax\n",
    /* a fused block with a wide max-pool (81 cells per window) on a conv that runs implicitly */
    "input size=20\nconv filters=4 size=3 bias=1\nact fn=crelu\nconv filters=20 size=3 pad=same\nbn\n"
    "maxpool size=9 stride=3 pad=same\nact fn=crelu\nconv filters=8 size=3 pad=same\nbn\nact fn=crelu\n"
    "fc outputs=5\nsoftmax\n",
    /* a 2x2 max-pool before BN, cabs, 40 channels (the 16-bit epilogue's second 32 partly
     * stored; its pooled loop takes the sign after the max) */
    "input size=12\nconv filters=8 size=3 bias=1\nact fn=cabs\nconv filters=40 size=3 pad=same\nmaxpool size=2\n"
    "bn\nact fn=cabs\nconv filters=16 size=3\nbn\nact fn=cabs\nfc outputs=10\nsoftmax\n",
};

static void test_engine_matches_training_graph(void **s)
{
    (void)s;
    const int N = 24;
    const int wa[][2] = {{1, 1}, {1, 2}, {2, 2}, {1, 4}, {3, 5}, {8, 8}, {4, 3}, {2, 8}};
    const char *const *kernels = dr_bitgemm_available();
    int nk = 0;
    while (kernels[nk]) nk++;
    for (int m = 0; m < (int)(sizeof NETS / sizeof NETS[0]); m++)
        for (int k = 0; k < 8; k++) {
            /* every bit kernel in turn, and with it its epilogue's loops (16 or 8 channels wide) */
            assert_int_equal(dr_bitgemm_select(kernels[(m + k) % nk]), 0);
            dr_net *net = tu_net(NETS[m], 3, N);
            dr_net_init(net, (uint64_t)(10 * m + k + 1));
            randomize_bn(net, (uint64_t)k);
            dr_bits bits = {wa[k][0], wa[k][1], 32, 0, k % 2}; /* odd k: the last layer quantized too */
            assert_int_equal(dr_net_apply_bits(net, &bits), 0);
            net->pass.bit_kernels = k % 3 != 0; /* the reference: bit products or float simulation */
            char path[700], name[64];
            dr_export_info info;
            snprintf(name, sizeof name, "net%d-w%da%d", m, wa[k][0], wa[k][1]);
            export_net(net, &bits, -1, name, path, sizeof path, &info);
            assert_true(info.fused_blocks >= 1);
            dr_engine *e = dr_engine_load(path, N);
            if (!e) fail_msg("%s", dr_last_error());
            float *x = malloc(sizeof(float) * N * dr_shape_size(net->input));
            tu_fill(x, N * dr_shape_size(net->input), 0, 255, (uint64_t)k + 100);
            compare(net, e, x, N, TOL, name);
            compare(net, e, x, 1, TOL, name); /* batch 1 */
            free(x);
            dr_engine_free(e);
            dr_net_free(net);
        }
    dr_bitgemm_select(kernels[0]);
}

/* A real test slice through Model D at (1,2) with the bounded activation
 * crelu and random BN statistics: every class equal. */
/* The first 200 Fashion-MNIST test images at 40x40, as training sees them
 * (x: 200 x 1600 floats, the caller frees); NULL (with a skip note) when
 * the data set is missing. */
static float *fashion_slice_40(void)
{
    if (!tu_have(TU_FASHION_MNIST "/t10k-images-idx3-ubyte.gz")) return NULL;
    dr_dataset ds;
    dr_open_options opt = {0};
    assert_int_equal(dr_dataset_open(TU_FASHION_MNIST, DR_SPLIT_TEST, &opt, &ds), 0);
    dr_dataset_truncate(&ds, 200);
    assert_int_equal(dr_dataset_resize(&ds, 40, 40), 0);
    float *x = malloc(sizeof(float) * 200 * 1600);
    int y[200];
    uint32_t idx[200];
    for (int i = 0; i < 200; i++) idx[i] = (uint32_t)i;
    dr_batch_fill(&ds, idx, 200, NULL, 0, 0, 0, x, y);
    dr_dataset_free(&ds);
    return x;
}

static void test_engine_on_fashion_slice(void **s)
{
    (void)s;
    float *x = fashion_slice_40();
    if (!x) return;
    dr_net *net = tu_shipped("svhn-d", 1, 200);
    dr_net_init(net, 3);
    randomize_bn(net, 3);
    net->bounded_act = DR_ACT_CRELU;
    dr_bits bits = {1, 2, 4, 0, 0};
    assert_int_equal(dr_net_apply_bits(net, &bits), 0);
    net->pass.bit_kernels = 1;
    char path[700];
    dr_export_info info;
    export_net(net, &bits, DR_ACT_CRELU, "svhn-d-fashion", path, sizeof path, &info);
    assert_int_equal(info.fused_blocks, 5);
    dr_engine *e = dr_engine_load(path, 200);
    if (!e) fail_msg("%s", dr_last_error());
    compare(net, e, x, 200, TOL, "svhn-d on Fashion-MNIST");
    free(x);
    dr_engine_free(e);
    dr_net_free(net);
}

static void test_shipped_models_export_and_load(void **s)
{
    (void)s;
    const char *names[] = {"default", "svhn-a", "svhn-b", "svhn-c", "svhn-d", "alexnet", "resnet18"};
    for (int i = 0; i < 7; i++) {
        int ch = i == 0 ? 1 : 3;
        dr_net *net = tu_shipped(names[i], ch, 1);
        dr_net_init(net, 5);
        dr_bits bits = {32, 32, 32, 0, 0};
        if (net->default_bits[0]) bits = (dr_bits){net->default_bits[0], net->default_bits[1], net->default_bits[2], 0, 0};
        else bits = (dr_bits){1, 2, 4, 0, 0}; /* the default network: quantize it too */
        assert_int_equal(dr_net_apply_bits(net, &bits), 0);
        char path[700];
        dr_export_info info;
        export_net(net, &bits, -1, names[i], path, sizeof path, &info);
        if (i > 0) assert_true(info.file_bytes * 3 < info.float_weight_bytes); /* packed bits are small */
        dr_engine *e = dr_engine_load(path, 1);
        if (!e) fail_msg("%s: %s", names[i], dr_last_error());
        float *x = malloc(sizeof(float) * dr_shape_size(net->input));
        tu_fill(x, dr_shape_size(net->input), 0, 255, 9);
        net->pass.bit_kernels = 1;
        compare(net, e, x, 1, TOL, names[i]);
        free(x);
        dr_engine_free(e);
        dr_net_free(net);
    }
}

static uint8_t *file_bytes(const char *path, size_t *len) { return (uint8_t *)dr_read_file(path, len); }

static void write_bytes(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static void fix_crc(uint8_t *p, size_t n)
{
    uint32_t c = (uint32_t)crc32(0L, p, (uInt)(n - 4));
    memcpy(p + n - 4, &c, 4);
}

static void expect_load_error(const char *path, const char *needle)
{
    dorefa_model *m = NULL;
    int rc = dorefa_load(path, 4, &m);
    if (rc == DOREFA_OK) fail_msg("%s loaded; expected an error with '%s'", path, needle);
    assert_int_equal(rc, DOREFA_ERR_FILE);
    assert_null(m);
    if (!strstr(dorefa_last_error(), needle) || !strstr(dorefa_last_error(), path))
        fail_msg("error '%s' lacks '%s' or the path", dorefa_last_error(), needle);
    if (strchr(dorefa_last_error(), '\n')) fail_msg("error is not one line: %s", dorefa_last_error());
}

static void test_damaged_files(void **s)
{
    (void)s;
    dr_net *net = tu_net(NETS[1], 3, 9);
    dr_net_init(net, 2);
    dr_bits bits = {1, 2, 32, 0, 0};
    assert_int_equal(dr_net_apply_bits(net, &bits), 0);
    dr_net_set_class_names(net, "cat\nsea lion"); /* the other five by number */
    char good[700], bad[700];
    dr_export_info info;
    export_net(net, &bits, -1, "damage", good, sizeof good, &info);
    snprintf(bad, sizeof bad, "%s/damaged.dorefa", tu_tmpdir());
    size_t n;
    uint8_t *p = file_bytes(good, &n), *q = malloc(n);
    assert_int_equal(n, info.file_bytes);
    /* the public API on the good file */
    dorefa_model *m;
    assert_int_equal(dorefa_load(good, 4, &m), DOREFA_OK);
    int h, w, c;
    dorefa_input_shape(m, &h, &w, &c);
    assert_int_equal(h * 100 + w * 10 + c, 1300 + 130 + 3);
    assert_int_equal(dorefa_classes(m), 7);
    assert_string_equal(dorefa_bits(m), "1,2,32");
    assert_string_equal(dorefa_class_name(m, 1), "sea lion");
    assert_string_equal(dorefa_class_name(m, 6), "6");
    assert_null(dorefa_class_name(m, 7));
    float x[9 * 507], probs[9 * 7];
    tu_fill(x, 9 * 507, 0, 255, 4);
    assert_int_equal(dorefa_predict(m, x, 9, probs), DOREFA_OK); /* 9 > max_batch 4: split */
    for (int i = 0; i < 9; i++) {
        double sum = 0;
        for (int k = 0; k < 7; k++) sum += probs[i * 7 + k];
        assert_true(fabs(sum - 1) < 1e-5);
    }
    /* pixels 0..255 in, as training sees them (pixels / 256): the same classes as the training
     * graph (the API once passed them unscaled, and every class could differ) */
    float scaled[9 * 507];
    for (int i = 0; i < 9 * 507; i++) scaled[i] = x[i] / 256;
    dr_net_forward(net, scaled, NULL, 9, 0);
    for (int i = 0; i < 9; i++) {
        int a = 0, b = 0;
        for (int k = 1; k < 7; k++) {
            if (probs[i * 7 + k] > probs[i * 7 + a]) a = k;
            if (dr_net_output(net)[i * 7 + k] > dr_net_output(net)[i * 7 + b]) b = k;
        }
        assert_int_equal(a, b);
        for (int k = 0; k < 7; k++) assert_true(fabs(probs[i * 7 + k] - dr_net_output(net)[i * 7 + k]) < 0.02);
    }
    float one[7];
    assert_int_equal(dorefa_predict(m, x + 8 * 507, 1, one), DOREFA_OK);
    assert_memory_equal(one, probs + 8 * 7, sizeof one); /* batch-independent */
    assert_int_equal(dorefa_predict(m, NULL, 1, probs), DOREFA_ERR_ARGUMENT);
    dorefa_free(m);
    assert_int_equal(dorefa_load(good, 0, &m), DOREFA_ERR_ARGUMENT);
    /* a bad DOREFA_KERNEL is an error returned to the caller, not an exit */
    setenv("DOREFA_KERNEL", "avx1024", 1);
    assert_int_equal(dorefa_load(good, 4, &m), DOREFA_ERR_KERNEL);
    assert_null(m);
    tu_assert_error_has("DOREFA_KERNEL=avx1024: unknown kernel 'avx1024'");
    assert_null(dr_engine_load(good, 4));
    tu_assert_error_has("DOREFA_KERNEL=avx1024");
    unsetenv("DOREFA_KERNEL");
    /* truncations */
    size_t cuts[] = {0, 5, 12, 19, 40, n / 2, n - 5, n - 1};
    for (int i = 0; i < 8; i++) {
        write_bytes(bad, p, cuts[i]);
        expect_load_error(bad, cuts[i] < 8 ? "bad magic" : cuts[i] < 20 ? "truncated" : "checksum mismatch");
    }
    /* single bit flips anywhere: the checksum catches them */
    for (size_t at = 3; at < n; at += n / 37 + 1) {
        memcpy(q, p, n);
        q[at] ^= 0x10;
        write_bytes(bad, q, n);
        expect_load_error(bad, at < 8 ? "bad magic" : "checksum mismatch");
    }
    /* a newer version, and the older one whose bits were only in its CONF text */
    memcpy(q, p, n);
    q[8] = 4;
    fix_crc(q, n);
    write_bytes(bad, q, n);
    expect_load_error(bad, "model file version 4, this dorefa reads versions 2 to 3 (a newer dorefa wrote it)");
    q[8] = 1;
    fix_crc(q, n);
    write_bytes(bad, q, n);
    expect_load_error(bad, "model file version 1 was written by an older dorefa; export it again from its checkpoint");
    /* sections damaged behind a valid checksum: a repeated one (its earlier copy leaked),
     * an input shape a few bytes can make enormous, impossible bits, a model text that
     * does not parse (the engine freed blocks it had not made) */
    tu_write_with_section(bad, p, n, "MODL", NULL, 0);
    expect_load_error(bad, "section MODL is given twice");
    /* a configuration that would fail to apply (the engine freed blocks it had not made):
     * the engine reads the bits from BITS and never applies CONF, so the model loads */
    static const char bad_conf[] = "schedule=garbage bits=9,9";
    tu_write_with_section(bad, p, n, "CONF", bad_conf, strlen(bad_conf));
    assert_int_equal(dorefa_load(bad, 2, &m), DOREFA_OK);
    dorefa_free(m);
    const int32_t huge_input[3] = {1 << 30, 1 << 30, 3};
    tu_write_with_section(bad, p, n, "INPT", huge_input, sizeof huge_input);
    expect_load_error(bad, "corrupt INPT section: input 1073741824x1073741824x3 (each must be 1..4096)");
    const int32_t bad_bits[6] = {12, 2, 32, 0, 0, -1};
    tu_write_with_section(bad, p, n, "BITS", bad_bits, sizeof bad_bits);
    expect_load_error(bad, "corrupt BITS section (12,2,32");
    static const char empty_name[] = "cat\n\n2\n3\n4\n5\n6", six[] = "cat\nb\n2\n3\n4\n5";
    tu_write_with_section(bad, p, n, "CLSS", empty_name, strlen(empty_name));
    expect_load_error(bad, "corrupt CLSS section (class 1: empty name)");
    tu_write_with_section(bad, p, n, "CLSS", six, strlen(six));
    expect_load_error(bad, "corrupt CLSS section (6 names for 7 classes)");
    static const char flat[] = "input size=13\nconv filters=6 size=3 bias=1\nsoftmax\n";
    tu_write_with_section(bad, p, n, "MODL", flat, strlen(flat));
    expect_load_error(bad, "damaged.dorefa (model):3: softmax needs a flat input");
    /* a float that is not a number (the last layer's last bias, just before the CRC) */
    memcpy(q, p, n);
    const float nanv = NAN;
    memcpy(q + n - 8, &nanv, 4);
    fix_crc(q, n);
    write_bytes(bad, q, n);
    expect_load_error(bad, "holds a non-finite value (nan at index 6): the file is damaged");
    /* damage behind a valid checksum in the layer records: an error or a
     * working model, never a crash (the sanitizer build watches) */
    size_t layr = 0;
    for (size_t i = 16; i + 4 < n; i++)
        if (!memcmp(p + i, "LAYR", 4)) layr = i + 12;
    assert_true(layr > 0);
    dr_rng r;
    dr_rng_seed(&r, 7, DR_RNG_TEST, 0, 0);
    int loaded = 0;
    for (int t = 0; t < 200; t++) {
        memcpy(q, p, n);
        size_t at = layr + (size_t)(dr_rng_uniform(&r) * (double)(n - 4 - layr));
        q[at] = (uint8_t)(dr_rng_uniform(&r) * 256);
        fix_crc(q, n);
        write_bytes(bad, q, n);
        if (dorefa_load(bad, 2, &m) == DOREFA_OK) {
            loaded++;
            assert_int_equal(dorefa_predict(m, x, 2, probs), DOREFA_OK);
            dorefa_free(m);
        } else {
            assert_non_null(strstr(dorefa_last_error(), "damaged.dorefa"));
        }
    }
    assert_true(loaded > 0); /* most bytes are weights and thresholds */
    free(p), free(q);
    dr_net_free(net);
}

/* The first layer's one-pass conv + 2x2 max-pool + activation + quantization
 * gives exactly the codes of dr_direct_conv followed by those steps done
 * apart: odd pooled widths (a lone last window), a conv row left over by
 * the pool, SAME padding, channel counts across the 48-channel tiles. */
static void test_first_layer_pass_matches_steps(void **st)
{
    (void)st;
    dr_rng r;
    dr_rng_seed(&r, 3, DR_RNG_TEST, 0, 0);
    for (int trial = 0; trial < 24; trial++) {
        dr_conv_geom g = {.ih = 6 + (int)dr_rng_below(&r, 9), .iw = 6 + (int)dr_rng_below(&r, 9),
                          .ic = 1 + (int)dr_rng_below(&r, 3), .oc = 1 + (int)dr_rng_below(&r, 70),
                          .kh = 3 + 2 * (trial % 2), .kw = 3 + 2 * (trial % 2), .sh = 1, .sw = 1, .groups = 1};
        dr_conv_geom_resolve(&g, trial % 3 ? DR_PAD_SAME : DR_PAD_VALID);
        dr_conv_geom pg = {.ih = g.oh, .iw = g.ow, .ic = g.oc, .oc = g.oc, .kh = 2, .kw = 2, .sh = 2, .sw = 2,
                           .groups = 1};
        dr_conv_geom_resolve(&pg, DR_PAD_VALID);
        assert_true(dr_direct_pool_suits(&g, &pg));
        const int n = 2, K = dr_conv_k(&g), oc_pad = (g.oc + 15) / 16 * 16, cabs = trial % 2, bits = 1 + trial % 4;
        const float lv = (float)((1 << bits) - 1);
        float *in = malloc(sizeof(float) * n * g.ih * g.iw * g.ic), *wt = calloc((size_t)K * oc_pad, sizeof(float));
        float *bias = malloc(sizeof(float) * g.oc), *out = malloc(sizeof(float) * n * g.oh * g.ow * g.oc);
        for (int i = 0; i < n * g.ih * g.iw * g.ic; i++) in[i] = (float)dr_rng_below(&r, 256);
        for (int k = 0; k < K; k++)
            for (int o = 0; o < g.oc; o++) wt[k * oc_pad + o] = (dr_rng_uniform(&r) - 0.5f) / 300;
        for (int o = 0; o < g.oc; o++) bias[o] = dr_rng_uniform(&r) - 0.5f;
        const size_t pooled = (size_t)n * pg.oh * pg.ow * g.oc;
        uint8_t *got = malloc(pooled), *want = malloc(pooled);
        dr_direct_conv_pool_codes(&g, &pg, n, in, wt, bias, cabs, lv, got);
        dr_direct_conv(&g, n, in, wt, bias, out);
        for (int i = 0; i < n; i++)
            for (int py = 0; py < pg.oh; py++)
                for (int px = 0; px < pg.ow; px++)
                    for (int o = 0; o < g.oc; o++) {
                        float m = -INFINITY;
                        for (int k = 0; k < 4; k++) {
                            const float v = out[(((size_t)i * g.oh + 2 * py + k / 2) * g.ow + 2 * px + k % 2) * g.oc + o];
                            m = v > m ? v : m;
                        }
                        const float a = cabs ? fabsf(m) : m > 0 ? m : 0, h = a < 1 ? a : 1;
                        want[(((size_t)i * pg.oh + py) * pg.ow + px) * g.oc + o] = (uint8_t)dr_rint(h * lv);
                    }
        assert_memory_equal(got, want, pooled);
        free(in), free(wt), free(bias), free(out), free(got), free(want);
    }
}

/* ---- the 8-bit integer first layer -------------------------------------------- */

/* The first layer's weights as the int8 export stores them, dequantized:
 * the training graph with these is what the engine must reproduce. */
static void dequantize_first_layer(dr_net *net, int i)
{
    dr_layer *l = &net->layers[i];
    const dr_conv_geom *g = dr_linear_geom(l);
    const int oc = g->oc, K = dr_conv_k(g);
    float *scale = malloc(sizeof(float) * oc);
    int8_t *q = malloc((size_t)oc * K);
    dr_int8_quantize(l->params[0].value, oc, K, scale, q);
    for (size_t k = 0; k < (size_t)oc * K; k++) l->params[0].value[k] = scale[k / K] * q[k];
    free(scale), free(q);
}

/* Whole pixel values (as images give), scaled as training sees them. */
static void fill_pixels(float *x, size_t n, uint64_t seed)
{
    dr_rng r;
    dr_rng_seed(&r, seed, DR_RNG_TEST, 2, 0);
    for (size_t i = 0; i < n; i++) x[i] = (float)dr_rng_below(&r, 256) * DR_PIXEL_SCALE;
}

static const char *INT8_NETS[] = {
    /* Model A's head: conv (bias) -> 2x2 max-pool -> cabs */
    "input size=14\nconv filters=20 size=5 bias=1\nmaxpool size=2 pad=same\nact fn=cabs\n"
    "conv filters=16 size=3 pad=same\nbn\nact fn=cabs\nfc outputs=10\nsoftmax\n",
    /* the default network's: conv (bias, SAME) -> bn -> relu -> max-pool (the pool reads codes) */
    "input size=10\nconv filters=8 size=3 pad=same bias=1\nbn\nact fn=relu\nmaxpool size=2 pad=same\n"
    "conv filters=16 size=3 pad=same\nbn\nact fn=relu\nmaxpool size=2 pad=same\nfc outputs=10\nsoftmax\n",
    /* no pool, 70 channels (past the 48-channel blocks), stride 2 */
    "input size=13\nconv filters=70 size=3 stride=2 pad=same\nbn\nact fn=crelu\nconv filters=12 size=3\nbn\n"
    "act fn=crelu\nfc outputs=7\nsoftmax\n",
    /* a pool the integer pass does not take (3x3 stride 2): the float conv runs the 8-bit weights */
    "input size=13\nconv filters=6 size=3 bias=1\nmaxpool size=3 stride=2 pad=same\nact fn=cabs\n"
    "conv filters=12 size=3\nbn\nact fn=cabs\nfc outputs=7\nsoftmax\n",
};

static void test_int8_first_layer_matches_training_graph(void **st)
{
    (void)st;
    const int N = 24;
    const int wa[][2] = {{1, 2}, {1, 1}, {2, 2}, {4, 8}};
    const char *const *kernels = dr_bitgemm_available();
    for (int m = 0; m < (int)(sizeof INT8_NETS / sizeof INT8_NETS[0]); m++)
        for (int k = 0; k < 4; k++) {
            dr_net *net = tu_net(INT8_NETS[m], 3, N);
            dr_net_init(net, (uint64_t)(7 * m + k + 1));
            randomize_bn(net, (uint64_t)k + 5);
            dr_bits bits = {wa[k][0], wa[k][1], 32, 0, 0};
            assert_int_equal(dr_net_apply_bits(net, &bits), 0);
            net->pass.bit_kernels = 1;
            char path[700], name[64];
            dr_export_info info;
            snprintf(name, sizeof name, "int8-net%d-w%da%d", m, wa[k][0], wa[k][1]);
            export_first(net, &bits, -1, DR_FIRST_LAYER_INT8, name, path, sizeof path, &info);
            assert_int_equal(info.int8_layer, 0);
            /* every bit kernel (and with it the int8 kernel it allows) in turn */
            assert_int_equal(dr_bitgemm_select(kernels[k % 2 && kernels[1] ? 1 : 0]), 0);
            dr_engine *e = dr_engine_load(path, N);
            if (!e) fail_msg("%s", dr_last_error());
            assert_int_equal(dr_engine_int8(e, 0), m != 3);
            dequantize_first_layer(net, 0);
            float *x = malloc(sizeof(float) * N * dr_shape_size(net->input));
            fill_pixels(x, N * dr_shape_size(net->input), (uint64_t)k + 40);
            compare_allowing(net, e, x, N, TOL, INT8_ALLOWED(N), name);
            compare_allowing(net, e, x, 1, TOL, INT8_ALLOWED(1), name);
            free(x);
            dr_engine_free(e);
            dr_net_free(net);
        }
    dr_bitgemm_select(kernels[0]);
}

/* Model A with random weights and batch norm statistics (seed), at `bits`,
 * its reference graph computing with the bit products. */
static dr_net *model_a(int channels, int max_batch, uint64_t seed, const dr_bits *bits)
{
    dr_net *net = tu_shipped("svhn-a", channels, max_batch);
    dr_net_init(net, seed);
    randomize_bn(net, seed);
    assert_int_equal(dr_net_apply_bits(net, bits), 0);
    net->pass.bit_kernels = 1;
    return net;
}

/* A small batch of Model A: its conv6 (512 filters over 25 taps of 128
 * channels, one output pixel) is a bit product whose output goes on in float;
 * at batch 1 it packs its one row on the calling thread and the threads share
 * its 16 column blocks, while a batch of 16 rows or more packs on all threads
 * and shares row blocks too. The same integers: the
 * conv's outputs for an image alone equal its outputs in the batch, bit for
 * bit (the float layers after it may round differently by batch size), and
 * classes and logits agree with the training graph. */
static void test_small_batch_matches_large(void **st)
{
    (void)st;
    enum { N = 16, OC = 512 };
    dr_bits bits = {1, 2, 32, 0, 0};
    dr_net *net = model_a(3, N, 12, &bits);
    char path[700];
    dr_export_info info;
    export_net(net, &bits, -1, "svhn-a-small-batch", path, sizeof path, &info);
    dr_engine *e = dr_engine_load(path, N);
    if (!e) fail_msg("%s", dr_last_error());
    const dr_layer *conv6 = dr_net_find(dr_engine_net(e), "conv6");
    assert_non_null(conv6);
    assert_int_equal(dr_shape_size(conv6->out_shape), OC);
    const int in = dr_shape_size(net->input);
    float *x = malloc(sizeof(float) * N * in), probs[N * 10], *batch = malloc(sizeof(float) * N * OC);
    tu_fill(x, (size_t)N * in, 0, 255, 77);
    dr_engine_run(e, x, N, probs);
    memcpy(batch, conv6->out, sizeof(float) * N * OC);
    for (int i = 0; i < N; i += 5) {
        dr_engine_run(e, x + (size_t)i * in, 1, probs);
        assert_memory_equal(conv6->out, batch + (size_t)i * OC, sizeof(float) * OC);
        compare(net, e, x + (size_t)i * in, 1, TOL, "svhn-a at batch 1");
    }
    free(x), free(batch);
    dr_engine_free(e);
    dr_net_free(net);
}

/* Model A at (1,2) on a real Fashion-MNIST slice, the first layer in 8 bits:
 * every class that of the training graph with the dequantized weights. */
static void test_int8_first_layer_on_fashion_slice(void **st)
{
    (void)st;
    float *x = fashion_slice_40();
    if (!x) return;
    dr_bits bits = {1, 2, 4, 0, 0};
    dr_net *net = model_a(1, 200, 4, &bits);
    char path[700];
    dr_export_info info;
    export_first(net, &bits, -1, DR_FIRST_LAYER_INT8, "svhn-a-int8", path, sizeof path, &info);
    assert_int_equal(info.int8_layer, 0);
    dr_engine *e = dr_engine_load(path, 200);
    if (!e) fail_msg("%s", dr_last_error());
    assert_true(dr_engine_int8(e, 0));
    dequantize_first_layer(net, 0);
    /* the first layer's codes: the integer pass's against the graph's (float sums of the same weights) */
    dr_net_forward(net, x, NULL, 200, 0);
    {
        const dr_layer *l = &net->layers[0], *act = &net->layers[2];
        const dr_conv_geom *g = dr_linear_geom(l);
        const int oc = g->oc, K = dr_conv_k(g);
        float *scale = malloc(sizeof(float) * oc), *mul = malloc(sizeof(float) * oc);
        int8_t *q = malloc((size_t)oc * K);
        dr_int8_quantize(net->layers[0].params[0].value, oc, K, scale, q); /* dequantized: the same codes */
        for (int o = 0; o < oc; o++) mul[o] = scale[o] * DR_PIXEL_SCALE;
        uint8_t *px = malloc(200 * 1600), *codes = malloc((size_t)200 * act->out_shape.h * act->out_shape.w * oc);
        dr_int8_pixels(x, 200 * 1600, px);
        dr_int8_conv c;
        dr_int8_conv_init(&c, g, q);
        dr_int8_epilogue ep = {mul, l->params[1].value, dr_pool_geom(&net->layers[1]), 0, 1, 3};
        dr_int8_conv_codes(&c, NULL, 200, px, &ep, codes);
        const size_t count = (size_t)200 * dr_shape_size(act->out_shape);
        size_t differ = 0;
        for (size_t k = 0; k < count; k++) differ += codes[k] != (uint8_t)dr_rint(act->out[k] * 3);
        printf("first layer codes: %zu of %zu differ from the graph's\n", differ, count);
        assert_true(differ * 100000 <= count);
        dr_int8_conv_free(&c);
        free(scale), free(mul), free(q), free(px), free(codes);
    }
    compare_allowing(net, e, x, 200, TOL, INT8_ALLOWED(200), "svhn-a, 8-bit first layer, on Fashion-MNIST");
    free(x);
    dr_engine_free(e);
    dr_net_free(net);
}

/* A damaged 8-bit layer record behind a valid checksum: clear errors. */
static void test_int8_damaged_records(void **st)
{
    (void)st;
    dr_net *net = tu_net(INT8_NETS[0], 3, 2);
    dr_net_init(net, 9);
    dr_bits bits = {1, 2, 32, 0, 0};
    assert_int_equal(dr_net_apply_bits(net, &bits), 0);
    char good[700], bad[700];
    dr_export_info info;
    export_first(net, &bits, -1, DR_FIRST_LAYER_INT8, "int8-damage", good, sizeof good, &info);
    snprintf(bad, sizeof bad, "%s/int8-damaged.dorefa", tu_tmpdir());
    size_t n;
    uint8_t *p = file_bytes(good, &n), *q = malloc(n);
    const char *name = net->layers[0].name;
    const size_t nl = strlen(name);
    size_t rec = 0; /* the record: u16 name length, name, kind 3 */
    for (size_t i = 0; i + nl + 3 < n && !rec; i++)
        if (p[i] == nl && p[i + 1] == 0 && !memcmp(p + i + 2, name, nl) && p[i + 2 + nl] == DR_LAYR_INT8) rec = i;
    assert_true(rec > 0);
    const size_t oc_at = rec + 3 + nl, scale_at = oc_at + 8, q_at = scale_at + 4 * 20;
    struct {
        size_t at;
        uint8_t v[4];
        int len;
        const char *msg;
    } cases[] = {
        {oc_at, {21, 0, 0, 0}, 4, "8-bit weights 21x75, the model needs 20x75"},
        {scale_at + 4, {0, 0, 0x80, 0xbf}, 4, "weight scale -1 of channel 1 is not a finite, non-negative number"},
        {q_at + 7, {0x80}, 1, "weight code -128 (expected -127..127)"},
    };
    for (int c = 0; c < 3; c++) {
        memcpy(q, p, n);
        memcpy(q + cases[c].at, cases[c].v, (size_t)cases[c].len);
        fix_crc(q, n);
        write_bytes(bad, q, n);
        expect_load_error(bad, cases[c].msg);
    }
    write_bytes(bad, p, n - 1);
    expect_load_error(bad, "checksum mismatch");
    /* the header says version 3 only for files with the integer layer */
    assert_int_equal(p[8], 3);
    free(p), free(q);
    dr_net_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_matches_training_graph),
        cmocka_unit_test(test_engine_on_fashion_slice),
        cmocka_unit_test(test_shipped_models_export_and_load),
        cmocka_unit_test(test_damaged_files),
        cmocka_unit_test(test_first_layer_pass_matches_steps),
        cmocka_unit_test(test_small_batch_matches_large),
        cmocka_unit_test(test_int8_first_layer_matches_training_graph),
        cmocka_unit_test(test_int8_first_layer_on_fashion_slice),
        cmocka_unit_test(test_int8_damaged_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
