/* Every shipped model file loads and runs forward and backward on small
 * inputs; malformed model files give "file:line: what" errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static void run_model(const char *name, int channels, int size, int batch, int expect_classes)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.net", DOREFA_MODELS, name);
    dr_net_options opt = {.channels = channels, .height = size, .width = size, .max_batch = batch};
    dr_net *net = dr_net_load(path, &opt);
    if (!net) fail_msg("%s: %s", path, dr_last_error());
    assert_int_equal(dr_net_classes(net), expect_classes);
    dr_net_init(net, 1);
    size_t in_n = (size_t)batch * dr_shape_size(net->input);
    float *x = malloc(in_n * sizeof(float));
    int *y = malloc(sizeof(int) * (size_t)batch);
    tu_fill(x, in_n, 0, 1, 2);
    for (int i = 0; i < batch; i++) y[i] = i % expect_classes;
    net->pass.seed = 1;
    dr_net_forward(net, x, y, batch, 1);
    assert_true(isfinite(net->pass.loss) && net->pass.loss > 0);
    const float *p = dr_net_output(net);
    for (int i = 0; i < batch; i++) {
        double sum = 0;
        for (int c = 0; c < expect_classes; c++) sum += p[i * expect_classes + c];
        assert_true(fabs(sum - 1) < 1e-4);
    }
    dr_net_backward(net, batch);
    for (int k = 0; k < dr_net_param_count(net); k++) {
        dr_param *par = dr_net_param(net, k);
        double norm = 0;
        for (size_t i = 0; i < par->size; i++) norm += (double)par->grad[i] * par->grad[i];
        if (!isfinite(norm) || norm == 0) fail_msg("%s: gradient of %s is %g", name, par->name, norm);
    }
    dr_net_forward(net, x, y, batch, 0); /* evaluation mode runs too */
    assert_true(isfinite(net->pass.loss));
    free(x);
    free(y);
    dr_net_free(net);
}

static void test_default_model(void **s) { (void)s; run_model("default", 1, 0, 3, 10); }
static void test_svhn_models_grey_and_colour(void **s)
{
    (void)s;
    const char *names[] = {"svhn-a", "svhn-b", "svhn-c", "svhn-d"};
    for (int i = 0; i < 4; i++) {
        run_model(names[i], 3, 0, 2, 10);
        run_model(names[i], 1, 0, 2, 10); /* Fashion-MNIST resized to 40x40 */
    }
}
/* AlexNet at 67x67 keeps fc0 small (1x1x256 input) while running every layer. */
static void test_alexnet_small_input(void **s) { (void)s; run_model("alexnet", 3, 67, 2, 1000); }
static void test_resnet18_small_input(void **s) { (void)s; run_model("resnet18", 3, 32, 2, 1000); }

static void test_svhn_a_shapes_and_size(void **s)
{
    (void)s;
    dr_net *net = tu_shipped("svhn-a", 3, 1);
    /* spec section 4: 40 -> conv0 36 -> pool 18 -> 18 -> pool 9 -> 7 -> 7 -> 5 -> 1 */
    const char *names[] = {"conv0", "conv1", "conv2", "conv3", "conv4", "conv5", "conv6"};
    const int sizes[] = {36, 18, 18, 7, 7, 5, 1};
    double macs = 0;
    for (int i = 0; i < 7; i++) {
        dr_layer *l = dr_net_find(net, names[i]);
        assert_non_null(l);
        assert_int_equal(l->out_shape.h, sizes[i]);
        macs += (double)dr_shape_size(l->out_shape) * l->params[0].size / l->out_shape.c;
    }
    /* "About 42 M MACs per image for Model A" */
    assert_true(macs > 41e6 && macs < 43e6);
    dr_net_free(net);
}

/* ---- malformed model files --------------------------------------------------- */

static void expect_parse_error(const char *text, const char *where, const char *what)
{
    dr_net_options opt = {.channels = 1, .max_batch = 1};
    dr_net *net = dr_net_parse(text, "bad.net", &opt);
    if (net) fail_msg("model parsed, expected an error at %s", where);
    tu_assert_error_has(where);
    tu_assert_error_has(what);
}

static void test_malformed_models(void **s)
{
    (void)s;
    expect_parse_error("input size=8\nconvv filters=2\nsoftmax\n", "bad.net:2:", "unknown layer type 'convv'");
    expect_parse_error("input size=8\nconv filters=2 sise=3\n", "bad.net:2:", "unknown key 'sise'");
    expect_parse_error("input size=8\n\n# c\nconv filters=x\n", "bad.net:4:", "not an integer");
    expect_parse_error("input size=8\nconv filters=0\n", "bad.net:2:", "out of range");
    expect_parse_error("input size=8\nconv size=3\n", "bad.net:2:", "needs filters");
    expect_parse_error("input size=8\nconv filters=2 pad=full\n", "bad.net:2:", "not one of: valid, same");
    expect_parse_error("conv filters=2\n", "bad.net:1:", "first line must be 'input");
    expect_parse_error("input size=8\nadd from=nope,input\n", "bad.net:2:", "no earlier layer named 'nope'");
    expect_parse_error("input size=8\nconv name=a filters=2\nconv name=a filters=2\n", "bad.net:3:",
                       "already used");
    expect_parse_error("input size=8\nconv filters=2 size=9 pad=valid\n", "bad.net:2:", "larger than the input");
    expect_parse_error("input size=8\nfc outputs=3\n", "bad.net:2:", "last layer must be 'softmax'");
    expect_parse_error("input size=1\nsoftmax\nfc outputs=2\nsoftmax\n", "bad.net:2:", "only be the last");
    expect_parse_error("input size=8\nsoftmax\n", "bad.net:2:", "needs a flat input");
    expect_parse_error("input size=8\nconv filters=3 groups=2\n", "bad.net:2:", "not divisible");
    expect_parse_error("input size=8\nconv filters=2 size\n", "bad.net:2:", "expected key=value");
    expect_parse_error("input size=8\nconv name=a filters=2\nconv name=b filters=3 from=input\n"
                       "add from=a,b\n", "bad.net:4:", "different shapes");
    expect_parse_error("input size=8\nmaxpool size=9 pad=valid\nsoftmax\n", "bad.net:2:", "empty output");
    char long_line[1500] = "input size=8\n# ";
    memset(long_line + strlen(long_line), 'x', 1200);
    long_line[1400] = 0;
    expect_parse_error(long_line, "bad.net:2:", "line too long");
    int h, w;
    assert_int_equal(dr_model_peek_input(long_line, "bad.net", &h, &w), 0); /* the input line comes first */
    assert_int_equal(h, 8);
    assert_int_equal(dr_model_peek_input("# nothing\n", "empty.net", &h, &w), -1);
    tu_assert_error_has("empty.net: no 'input' line");
}

static void test_model_lookup(void **s)
{
    (void)s;
    char path[1024];
    assert_int_equal(dr_model_resolve("svhn-a", path, sizeof path), 0);
    assert_non_null(strstr(path, "svhn-a.net"));
    assert_int_equal(dr_model_resolve("no-such-model", path, sizeof path), -1);
    tu_assert_error_has("no-such-model");
}

/* A model file is checked against stated limits before its buffers are
 * allocated: layers, values per tensor, weights per layer, memory in all. */
static void test_model_limits(void **s)
{
    (void)s;
    dr_net_options opt = {.channels = 1, .max_batch = 1};
    /* 100,000 layers parsed and trained at 9.9 GB */
    size_t cap = 32 + 100000 * 20, n = 0;
    char *text = malloc(cap);
    n += (size_t)snprintf(text, cap, "input size=4\n");
    for (int i = 0; i < 100000; i++) n += (size_t)snprintf(text + n, cap - n, "act fn=relu\n");
    snprintf(text + n, cap - n, "softmax\n");
    assert_null(dr_net_parse(text, "deep.net", &opt));
    tu_assert_error_has("deep.net:4098: more than 4096 layers");
    free(text);
    /* within the documented limits (input 4096, a 1x1 conv of 128 filters, an fc): its
     * output is 2^31 values, and the fc's reduction overflowed int (2^64 bytes asked) */
    assert_null(dr_net_parse("input size=4096\nconv filters=128 size=1\nfc outputs=10\nsoftmax\n", "wide.net", &opt));
    tu_assert_error_has("wide.net:2: layer 'conv0' gives 4096x4096x128 values per image, 2147483648 for a batch of 1");
    assert_null(dr_net_parse("input size=2048\nconv filters=1 size=1\nfc outputs=1000\nsoftmax\n", "fc.net", &opt));
    tu_assert_error_has("fc.net:3: 1000 outputs of 4194304 terms each: more than the limit of 2^31-1 weights");
    dr_net_options big = {.channels = 4096, .max_batch = 4096};
    assert_null(dr_net_parse("input size=4096\nfc outputs=2\nsoftmax\n", "in.net", &big));
    tu_assert_error_has("in.net:1: input 4096x4096x4096 for a batch of 4096");
    /* memory: the machine's, or DOREFA_MAX_MEMORY */
    setenv("DOREFA_MAX_MEMORY", "1M", 1);
    assert_null(dr_net_parse("input size=64\nconv filters=64\nfc outputs=10\nsoftmax\n", "mem.net", &opt));
    tu_assert_error_has("mem.net:2: the network needs 3.0 MiB at batch 1 up to layer 'conv0', more than the 1.0 MiB it may use");
    unsetenv("DOREFA_MAX_MEMORY");
    dr_net *ok = dr_net_parse("input size=64\nconv filters=64\nfc outputs=10\nsoftmax\n", "mem.net", &opt);
    assert_non_null(ok);
    dr_net_free(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_limits),
        cmocka_unit_test(test_default_model),
        cmocka_unit_test(test_svhn_models_grey_and_colour),
        cmocka_unit_test(test_alexnet_small_input),
        cmocka_unit_test(test_resnet18_small_input),
        cmocka_unit_test(test_svhn_a_shapes_and_size),
        cmocka_unit_test(test_malformed_models),
        cmocka_unit_test(test_model_lookup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
