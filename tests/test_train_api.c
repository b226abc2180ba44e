/* The training API (include/dorefa_train.h): the same run as 'dorefa train',
 * bit for bit; arrays in memory; a callback that sees every step and can stop
 * the run where a later call goes on exactly; checkpoints and deployment files
 * the rest of dorefa reads; clear errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../include/dorefa_train.h"
#include "core/filebuf.h"
#include "train/checkpoint.h"
#include "testutil.h"

/* A small model on 28x28 grey images: conv, BN, cabs, conv, pool, fc. */
static const char MODEL[] = "input size=28\nconv name=c1 filters=8 size=3 bias=1\nact fn=cabs\n"
                            "conv name=c2 filters=16 size=3\nbn name=b2\nmaxpool size=2\nact fn=cabs\n"
                            "fc name=f outputs=10\nsoftmax\n";

static char model_path[600];

static int have_fashion(void)
{
    char p[600];
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", TU_FASHION_MNIST);
    if (access(p, R_OK) == 0) return 1;
    printf("skipped: no Fashion-MNIST at %s\n", TU_FASHION_MNIST);
    return 0;
}

#define API_OK(call)                                                                                              \
    do {                                                                                                          \
        int rc_ = (call);                                                                                         \
        if (rc_ != DOREFA_OK) fail_msg("%s -> %d: %s", #call, rc_, dorefa_last_error());                          \
    } while (0)

static int setup(void **s)
{
    (void)s;
    snprintf(model_path, sizeof model_path, "%s/small.net", tu_tmpdir());
    FILE *f = fopen(model_path, "w");
    assert_non_null(f);
    fputs(MODEL, f);
    fclose(f);
    return 0;
}

/* The PARM and STAT sections of a checkpoint: the trained state. */
static uint64_t state_of(const char *path)
{
    dr_checkpoint ck;
    if (dr_checkpoint_read(path, &ck)) fail_msg("%s", dr_last_error());
    uint64_t v = dr_fingerprint(ck.buf + ck.parm_off, ck.parm_len) ^ dr_fingerprint(ck.buf + ck.stat_off, ck.stat_len) << 1 ^
                 dr_fingerprint(ck.buf + ck.optm_off, ck.optm_len) << 2;
    dr_checkpoint_free(&ck);
    return v;
}

typedef struct {
    int steps, epochs_seen, stop_at;
    double last_acc;
    unsigned long long last_step;
} seen_t;

static int count(const dorefa_progress *p, void *user)
{
    seen_t *s = user;
    if (p->end_of_epoch) {
        s->epochs_seen++;
        s->last_acc = p->test_accuracy;
    } else {
        s->steps++;
        assert_true(p->step == s->last_step + 1);
        assert_true(p->images_done > 0 && p->images_done <= p->images);
    }
    s->last_step = p->step;
    return s->stop_at && (int)p->step == s->stop_at;
}

/* The API on a data path gives 'dorefa train''s checkpoint, bit for bit. */
static void test_same_as_the_command_line(void **s)
{
    (void)s;
    if (!have_fashion()) return;
    if (!getenv("DOREFA_CLI")) {
        printf("skipped: DOREFA_CLI (the dorefa program, set by ctest) is not set\n");
        return;
    }
    char cli[2400], run[600], api_ck[600], cli_ck[700];
    snprintf(run, sizeof run, "%s/cli", tu_tmpdir());
    snprintf(cli, sizeof cli, "%s train --model %s --data %s --bits 1,2,4 --epochs 2 --batch 50 --limit-train 400 "
             "--limit-test 100 --seed 5 --quiet --out %s > /dev/null", getenv("DOREFA_CLI"), model_path,
             TU_FASHION_MNIST, run);
    assert_int_equal(system(cli), 0);
    snprintf(cli_ck, sizeof cli_ck, "%s/last.ckpt", run);

    dorefa_trainer *t;
    API_OK(dorefa_trainer_create(model_path, "bits=1,2,4 epochs=2 batch=50 limit-train=400 limit-test=100 seed=5", &t));
    API_OK(dorefa_trainer_set_data(t, TU_FASHION_MNIST));
    seen_t seen = {0};
    API_OK(dorefa_trainer_train(t, 0, count, &seen));
    assert_int_equal(seen.steps, 16);
    assert_int_equal(seen.epochs_seen, 2);
    assert_int_equal(dorefa_trainer_epoch(t), 2);
    assert_int_equal(dorefa_trainer_step(t), 16);
    double acc, loss;
    API_OK(dorefa_trainer_evaluate(t, &acc, &loss));
    assert_true(acc == seen.last_acc);
    assert_true(acc > 0.3 && loss > 0);
    snprintf(api_ck, sizeof api_ck, "%s/api.ckpt", tu_tmpdir());
    API_OK(dorefa_trainer_save(t, api_ck));
    assert_true(state_of(api_ck) == state_of(cli_ck));
    /* the whole file too: the same configuration text, progress and class names */
    size_t la, lc;
    char *a = dr_read_file(api_ck, &la), *c = dr_read_file(cli_ck, &lc);
    assert_true(la == lc && !memcmp(a, c, la));
    free(a), free(c);

    /* the exported model runs in the engine with the class names of the data */
    char mf[600];
    snprintf(mf, sizeof mf, "%s/api.dorefa", tu_tmpdir());
    API_OK(dorefa_trainer_export(t, mf));
    dorefa_model *m;
    API_OK(dorefa_load(mf, 8, &m));
    assert_string_equal(dorefa_bits(m), "1,2,4");
    assert_string_equal(dorefa_class_name(m, 9), "Ankle boot");
    assert_string_equal(dorefa_class_name(m, 0), "T-shirt/top");
    assert_null(dorefa_class_name(m, 10));
    assert_null(dorefa_class_name(m, -1));
    dorefa_free(m);
    dorefa_trainer_free(t);
}

/* Synthetic arrays: class k is a bright square at one of 10 places. */
static void make_arrays(int n, unsigned char *x, int *y, uint64_t seed)
{
    dr_rng r;
    dr_rng_seed(&r, seed, DR_RNG_TEST, 2, 0);
    for (int i = 0; i < n; i++) {
        y[i] = (int)(dr_rng_uniform(&r) * 10) % 10;
        unsigned char *img = x + (size_t)i * 784;
        for (int p = 0; p < 784; p++) img[p] = (unsigned char)(dr_rng_uniform(&r) * 60);
        const int r0 = 2 + (y[i] / 5) * 13, c0 = 2 + (y[i] % 5) * 5;
        for (int a = 0; a < 8; a++)
            for (int b = 0; b < 4; b++) img[(r0 + a) * 28 + c0 + b] = 250;
    }
}

/* Arrays in memory; a callback stop mid-epoch, then a later call, is the
 * uninterrupted run; a saved checkpoint opens and goes on alike. */
static void test_arrays_stop_and_go_on(void **s)
{
    (void)s;
    enum { N = 300, NT = 100 };
    unsigned char *x = malloc((size_t)N * 784), *xt = malloc((size_t)NT * 784);
    int y[N], yt[NT];
    make_arrays(N, x, y, 1);
    make_arrays(NT, xt, yt, 2);
    const char *opts = "bits=2,2,6 batch=32 seed=9 lr=0.003";
    dorefa_trainer *a, *b;
    API_OK(dorefa_trainer_create(model_path, opts, &a));
    API_OK(dorefa_trainer_set_arrays(a, 28, 28, 1, x, y, N, xt, yt, NT, "zero\none\ntwo"));
    API_OK(dorefa_trainer_train(a, 3, NULL, NULL));
    double acc;
    API_OK(dorefa_trainer_evaluate(a, &acc, NULL));
    assert_true(acc > 0.5); /* the squares are easy (seen: about 0.9); chance is 0.1 */

    API_OK(dorefa_trainer_create(model_path, opts, &b));
    API_OK(dorefa_trainer_set_arrays(b, 28, 28, 1, x, y, N, xt, yt, NT, "zero\none\ntwo"));
    seen_t seen = {.stop_at = 13}; /* inside the second epoch (10 steps each) */
    API_OK(dorefa_trainer_train(b, 3, count, &seen));
    assert_int_equal(dorefa_trainer_step(b), 13);
    assert_int_equal(dorefa_trainer_epoch(b), 1);
    char ck[600];
    snprintf(ck, sizeof ck, "%s/mid.ckpt", tu_tmpdir());
    API_OK(dorefa_trainer_save(b, ck));
    dorefa_trainer *c;
    API_OK(dorefa_trainer_open(ck, "epochs=3", &c));
    API_OK(dorefa_trainer_set_arrays(c, 28, 28, 1, x, y, N, xt, yt, NT, NULL));
    API_OK(dorefa_trainer_train(c, 0, NULL, NULL)); /* the rest of the 3 epochs */
    seen.stop_at = 0;
    API_OK(dorefa_trainer_train(b, 0, count, &seen));
    char ka[600], kb[600], kc[600];
    snprintf(ka, sizeof ka, "%s/a.ckpt", tu_tmpdir());
    snprintf(kb, sizeof kb, "%s/b.ckpt", tu_tmpdir());
    snprintf(kc, sizeof kc, "%s/c.ckpt", tu_tmpdir());
    API_OK(dorefa_trainer_save(a, ka));
    API_OK(dorefa_trainer_save(b, kb));
    API_OK(dorefa_trainer_save(c, kc));
    assert_true(state_of(ka) == state_of(kb));
    assert_true(state_of(ka) == state_of(kc));
    assert_int_equal(dorefa_trainer_step(c), 30);
    /* the names given, the rest numbered; the checkpoint's kept over data without names */
    char mf[600];
    snprintf(mf, sizeof mf, "%s/c.dorefa", tu_tmpdir());
    API_OK(dorefa_trainer_export(c, mf));
    dorefa_model *m;
    API_OK(dorefa_load(mf, 8, &m));
    assert_string_equal(dorefa_class_name(m, 1), "one");
    assert_string_equal(dorefa_class_name(m, 3), "3");
    dorefa_free(m);
    /* three more epochs asked for: epochs counts from where the trainer is */
    assert_int_equal(dorefa_trainer_train(c, 0, NULL, NULL), DOREFA_ERR_ARGUMENT);
    tu_assert_error_has("3 of 3 epochs are trained");
    dorefa_trainer_free(a), dorefa_trainer_free(b), dorefa_trainer_free(c);
    free(x), free(xt);
}

static void test_errors(void **s)
{
    (void)s;
    dorefa_trainer *t = (dorefa_trainer *)1;
    assert_int_equal(dorefa_trainer_create(model_path, "bitz=1,2,4", &t), DOREFA_ERR_ARGUMENT);
    assert_null(t);
    tu_assert_error_has("option 'bitz': not an option of 'dorefa train'");
    assert_int_equal(dorefa_trainer_create(model_path, "bits=9,2,4", &t), DOREFA_ERR_ARGUMENT);
    tu_assert_error_has("--bits");
    assert_int_equal(dorefa_trainer_create(model_path, "epochs", &t), DOREFA_ERR_ARGUMENT);
    tu_assert_error_has("needs a value");
    assert_int_equal(dorefa_trainer_create(model_path, "resume=x.ckpt", &t), DOREFA_ERR_ARGUMENT);
    tu_assert_error_has("dorefa_trainer_open");
    assert_int_equal(dorefa_trainer_create("/nonexistent/m.net", "", &t), DOREFA_ERR_FILE);
    tu_assert_error_has("/nonexistent/m.net");
    assert_int_equal(dorefa_trainer_open("/nonexistent/c.ckpt", NULL, &t), DOREFA_ERR_FILE);
    tu_assert_error_has("/nonexistent/c.ckpt");
    assert_int_equal(dorefa_trainer_create(model_path, NULL, NULL), DOREFA_ERR_ARGUMENT);

    API_OK(dorefa_trainer_create(model_path, "out=a%20folder", &t));
    assert_int_equal(dorefa_trainer_evaluate(t, NULL, NULL), DOREFA_ERR_ARGUMENT);
    tu_assert_error_has("no data set yet");
    assert_int_equal(dorefa_trainer_save(t, "x.ckpt"), DOREFA_ERR_ARGUMENT);
    unsigned char x[2 * 784] = {0};
    int y[2] = {0, 1}, bad[2] = {0, -3};
    assert_int_equal(dorefa_trainer_set_arrays(t, 32, 32, 1, x, y, 2, NULL, NULL, 0, NULL), DOREFA_ERR_ARGUMENT);
    tu_assert_error_has("the model takes 28x28");
    assert_int_equal(dorefa_trainer_set_arrays(t, 28, 28, 1, x, bad, 2, NULL, NULL, 0, NULL), DOREFA_ERR_ARGUMENT);
    tu_assert_error_has("label -3 of image 1");
    assert_int_equal(dorefa_trainer_set_arrays(t, 28, 28, 1, x, y, 0, NULL, NULL, 0, NULL), DOREFA_ERR_ARGUMENT);
    assert_int_equal(dorefa_trainer_set_data(t, "/nonexistent/data"), DOREFA_ERR_FILE);
    tu_assert_error_has("/nonexistent/data");
    API_OK(dorefa_trainer_set_arrays(t, 28, 28, 1, x, y, 2, NULL, NULL, 0, NULL));
    assert_int_equal(dorefa_trainer_evaluate(t, NULL, NULL), DOREFA_ERR_ARGUMENT);
    tu_assert_error_has("no test images");
    assert_int_equal(dorefa_trainer_set_arrays(t, 28, 28, 3, x, y, 1, NULL, NULL, 0, NULL), DOREFA_ERR_ARGUMENT);
    tu_assert_error_has("3-channel images, the network takes 1");
    dorefa_trainer_free(t);
    /* a checkpoint keeps its own bits */
    char ck[600];
    snprintf(ck, sizeof ck, "%s/mid.ckpt", tu_tmpdir());
    assert_int_equal(dorefa_trainer_open(ck, "bits=1,1,1", &t), DOREFA_ERR_ARGUMENT);
    tu_assert_error_has("option 'bits': a checkpoint keeps its own");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_the_command_line),
        cmocka_unit_test(test_arrays_stop_and_go_on),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
