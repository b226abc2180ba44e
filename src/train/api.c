/* The public training API (include/dorefa_train.h): 'dorefa train' as
 * functions over one network, its optimizer and its data. */
#include "../../include/dorefa_train.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../kernels/bitgemm.h"
#include "checkpoint.h"
#include "export.h"
#include "onnx.h"
#include "train.h"

struct dorefa_trainer {
    dr_train_config cfg;
    char *model_text;
    char origin[1100]; /* the model file, or "CHECKPOINT (model)", for messages */
    dr_dataset train, test;
    int have_data;
    int names_kept; /* the class names are a checkpoint's: data does not rename them */
    dr_net *net;
    dr_trainer t; /* the loop's state: net, optimizer, configuration */
    dorefa_progress_fn progress;
    void *user;
    char *description; /* dorefa_trainer_describe's text */
    char name[300];    /* dorefa_trainer_class_name's */
};

/* ---- options: "name=value ..." with the names of 'dorefa train' ------------------------- */

typedef struct {
    char *text;                           /* the options, cut into their values */
    const char *given[DR_MAX_TRAIN_OPTIONS]; /* per entry of the table: its value (NULL: not given) */
} options_t;

static int options_parse(const char *text, options_t *o)
{
    memset(o, 0, sizeof *o);
    if (dr_train_option_count > DR_MAX_TRAIN_OPTIONS) return dr_fail("too many options"); /* a build error really */
    o->text = dr_xstrdup(text ? text : "");
    for (char *p = o->text; *p;) {
        p += strspn(p, " \t\r\n");
        if (!*p) break;
        char *end = p + strcspn(p, " \t\r\n");
        if (*end) *end++ = 0;
        char *eq = strchr(p, '=');
        if (eq) *eq = 0;
        const dr_option *opt = dr_train_option_find(p);
        if (!opt || !opt->name || opt->type == DR_OPT_HELP)
            return dr_fail("option '%s': not an option of 'dorefa train' (see 'dorefa train --help')", p);
        const int i = (int)(opt - dr_train_options);
        if (!strcmp(opt->name, "resume") || (opt->flags & DR_OPT_SWEEP) || !strcmp(opt->name, "guide") ||
            !strcmp(opt->name, "quiet"))
            return dr_fail("option '%s': not for the training API (%s)", p,
                           !strcmp(opt->name, "resume") ? "dorefa_trainer_open continues a checkpoint"
                           : !strcmp(opt->name, "quiet") ? "it prints nothing; progress comes through the callback"
                                                         : "use the command line");
        if (opt->arg && !eq) return dr_fail("option '%s' needs a value: %s=%s", p, p, opt->arg);
        if (!opt->arg && eq) return dr_fail("option '%s' is a flag: give it without a value", p);
        if (eq) dr_unescape(eq + 1, eq + 1, strlen(eq + 1) + 1); /* decoding only shortens */
        o->given[i] = eq ? eq + 1 : "";
        p = end;
    }
    return 0;
}

static int options_apply(const options_t *o, dr_train_config *c)
{
    for (int i = 0; i < dr_train_option_count; i++)
        if (o->given[i] && dr_train_option_set(&dr_train_options[i], c, dr_train_options[i].arg ? o->given[i] : NULL))
            return -1;
    return 0;
}

static void set_threads(int n)
{
    if (n <= 0) return; /* the OpenMP and OpenBLAS defaults: all cores */
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

/* ---- creating --------------------------------------------------------------------------- */

static dorefa_trainer *trainer_new(void)
{
    dorefa_trainer *t = dr_xcalloc(1, sizeof *t);
    dr_train_config_defaults(&t->cfg);
    return t;
}

int dorefa_trainer_create(const char *model, const char *options, dorefa_trainer **trainer)
{
    if (!trainer) return dr_fail("dorefa_trainer_create: trainer pointer is NULL"), DOREFA_ERR_ARGUMENT;
    *trainer = NULL;
    if (!model) return dr_fail("dorefa_trainer_create: model is NULL"), DOREFA_ERR_ARGUMENT;
    if (dr_bitgemm_select_from_env()) return DOREFA_ERR_KERNEL;
    options_t o;
    dorefa_trainer *t = trainer_new();
    int rc = DOREFA_ERR_ARGUMENT;
    if (options_parse(options, &o) || options_apply(&o, &t->cfg)) goto fail;
    if (o.given[dr_train_option_find("schedule") - dr_train_options] &&
        (o.given[dr_train_option_find("bits") - dr_train_options] ||
         o.given[dr_train_option_find("epochs") - dr_train_options])) {
        dr_fail("option 'schedule' sets the bits and epochs: leave out bits and epochs");
        goto fail;
    }
    rc = DOREFA_ERR_FILE;
    snprintf(t->cfg.model, sizeof t->cfg.model, "%s", model);
    if (dr_model_resolve(model, t->origin, sizeof t->origin) || !(t->model_text = dr_read_file(t->origin, NULL)))
        goto fail;
    int h, w;
    if (dr_model_peek_input(t->model_text, t->origin, &h, &w)) goto fail;
    free(o.text);
    *trainer = t;
    return DOREFA_OK;
fail:
    free(o.text);
    dorefa_trainer_free(t);
    return rc;
}

int dorefa_trainer_open(const char *checkpoint, const char *options, dorefa_trainer **trainer)
{
    if (!trainer) return dr_fail("dorefa_trainer_open: trainer pointer is NULL"), DOREFA_ERR_ARGUMENT;
    *trainer = NULL;
    if (!checkpoint) return dr_fail("dorefa_trainer_open: checkpoint is NULL"), DOREFA_ERR_ARGUMENT;
    if (dr_bitgemm_select_from_env()) return DOREFA_ERR_KERNEL;
    options_t o;
    dr_train_config run, stored;
    dr_train_config_defaults(&run);
    if (options_parse(options, &o) || options_apply(&o, &run)) {
        free(o.text);
        return DOREFA_ERR_ARGUMENT;
    }
    for (int i = 0; i < dr_train_option_count; i++)
        if (o.given[i] && !(dr_train_options[i].flags & DR_OPT_RESUMABLE)) {
            free(o.text);
            return dr_fail("option '%s': a checkpoint keeps its own (only what 'dorefa train --resume' lets "
                           "change may be given)", dr_train_options[i].name), DOREFA_ERR_ARGUMENT;
        }
    dorefa_trainer *t = trainer_new();
    dr_checkpoint ck = {0};
    int rc = DOREFA_ERR_FILE;
    if (dr_checkpoint_read(checkpoint, &ck)) goto out; /* it frees what it read */
    if (dr_train_config_parse(ck.conf, checkpoint, &stored) ||
        dr_train_config_resumed(&stored, &run, o.given, checkpoint, &t->cfg))
        goto out;
    t->model_text = dr_xstrdup(ck.model);
    snprintf(t->origin, sizeof t->origin, "%s (model)", checkpoint);
    dr_net_options nopt = {.channels = ck.input.c, .max_batch = t->cfg.batch};
    if (!(t->net = dr_net_parse(t->model_text, t->origin, &nopt)) || dr_train_config_apply_bits(&t->cfg, t->net))
        goto out;
    dr_optim_init(&t->t.opt, &t->cfg.optim, t->net);
    /* a checkpoint saved without optimizer state (an evaluation's) goes on with fresh moments */
    if (dr_checkpoint_restore(&ck, t->net, ck.optm_off ? &t->t.opt : NULL) ||
        dr_train_check_resumed(&t->cfg, t->net, checkpoint))
        goto out;
    t->names_kept = t->net->class_names != NULL;
    rc = DOREFA_OK;
out:
    free(o.text);
    dr_checkpoint_free(&ck);
    if (rc == DOREFA_OK) *trainer = t;
    else dorefa_trainer_free(t);
    return rc;
}

void dorefa_trainer_free(dorefa_trainer *t)
{
    if (!t) return;
    dr_optim_free(&t->t.opt);
    dr_net_free(t->net);
    dr_dataset_free(&t->train);
    dr_dataset_free(&t->test);
    free(t->model_text);
    free(t->description);
    free(t);
}

/* ---- data ------------------------------------------------------------------------------- */

/* The network for `channels`-channel images, initialised from the seed. */
static int build(dorefa_trainer *t, int channels)
{
    dr_net_options nopt = {.channels = channels, .max_batch = t->cfg.batch};
    if (!(t->net = dr_net_parse(t->model_text, t->origin, &nopt))) return DOREFA_ERR_FILE;
    if (dr_train_config_apply_bits(&t->cfg, t->net)) {
        dr_net_free(t->net);
        t->net = NULL;
        return DOREFA_ERR_ARGUMENT;
    }
    dr_net_init(t->net, t->cfg.seed);
    dr_optim_init(&t->t.opt, &t->cfg.optim, t->net);
    return DOREFA_OK;
}

int dorefa_trainer_build(dorefa_trainer *t, int channels)
{
    if (!t) return dr_fail("dorefa_trainer_build: trainer is NULL"), DOREFA_ERR_ARGUMENT;
    if (channels < 1 || channels > 4096)
        return dr_fail("dorefa_trainer_build: %d channels (1..4096)", channels), DOREFA_ERR_ARGUMENT;
    if (t->net && t->net->input.c != channels)
        return dr_fail("dorefa_trainer_build: the network takes %d-channel images already", t->net->input.c),
               DOREFA_ERR_ARGUMENT;
    return t->net ? DOREFA_OK : build(t, channels);
}

/* The network once the data is known (its input channels), else checks the
 * data against the network there is. Takes over the two data sets. */
static int use_data(dorefa_trainer *t, dr_dataset *train, dr_dataset *test, const char *what)
{
    int rc = DOREFA_ERR_ARGUMENT;
    if (test->n && test->c != train->c) {
        dr_fail("%s: test images have %d channels, training images %d", what, test->c, train->c);
        goto fail;
    }
    if (t->net && t->net->input.c != train->c) {
        dr_fail("%s: %d-channel images, the network takes %d", what, train->c, t->net->input.c);
        goto fail;
    }
    if (!t->net && (rc = build(t, train->c))) goto fail;
    rc = DOREFA_ERR_ARGUMENT;
    const int classes = DR_MAX(train->classes, test->classes);
    if (dr_net_classes(t->net) < classes) {
        dr_fail("%s: the model has %d outputs but the data has %d classes", what, dr_net_classes(t->net), classes);
        goto fail;
    }
    if (train->class_names && !t->names_kept) dr_net_set_class_names(t->net, train->class_names);
    dr_dataset_free(&t->train);
    dr_dataset_free(&t->test);
    t->train = *train;
    t->test = *test;
    t->have_data = 1;
    snprintf(t->cfg.data, sizeof t->cfg.data, "%s", what);
    return DOREFA_OK;
fail:
    dr_dataset_free(train);
    dr_dataset_free(test);
    return rc;
}

static void input_size(const dorefa_trainer *t, int *h, int *w)
{
    if (t->net) *h = t->net->input.h, *w = t->net->input.w;
    else dr_model_peek_input(t->model_text, t->origin, h, w); /* checked when created */
}

int dorefa_trainer_set_data(dorefa_trainer *t, const char *path)
{
    if (!t || !path) return dr_fail("dorefa_trainer_set_data: NULL argument"), DOREFA_ERR_ARGUMENT;
    int h, w;
    input_size(t, &h, &w);
    dr_open_options opt = {.svhn_extra = t->cfg.svhn_extra, .h = h, .w = w};
    dr_dataset train = {0}, test = {0};
    if (dr_dataset_open(path, DR_SPLIT_TRAIN, &opt, &train)) return DOREFA_ERR_FILE;
    if (dr_dataset_open(path, DR_SPLIT_TEST, &opt, &test)) {
        dr_dataset_free(&train);
        return DOREFA_ERR_FILE;
    }
    dr_dataset_truncate(&train, t->cfg.limit_train);
    dr_dataset_truncate(&test, t->cfg.limit_test);
    if (dr_dataset_resize(&train, h, w) || dr_dataset_resize(&test, h, w)) {
        dr_dataset_free(&train);
        dr_dataset_free(&test);
        return DOREFA_ERR_FILE;
    }
    return use_data(t, &train, &test, path);
}

/* A data set copied from arrays, checked. */
static int copy_arrays(dr_dataset *ds, int h, int w, int c, const unsigned char *images, const int *labels, int n,
                       const char *what)
{
    memset(ds, 0, sizeof *ds);
    if (n < 0) return dr_fail("dorefa_trainer_set_arrays: %s: negative image count %d", what, n);
    if (n && (!images || !labels)) return dr_fail("dorefa_trainer_set_arrays: %s: NULL images or labels", what);
    const double bytes = (double)n * h * w * c;
    if (bytes > dr_memory_limit())
        return dr_fail("dorefa_trainer_set_arrays: %s: %d images of %dx%dx%d (%.0f MB) exceed the memory limit "
                       "(%.0f MB)", what, n, h, w, c, bytes / 1e6, dr_memory_limit() / 1e6);
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] > 65535)
            return dr_fail("dorefa_trainer_set_arrays: %s: label %d of image %d is not a class (0..65535)", what,
                           labels[i], i);
    *ds = (dr_dataset){.n = n, .h = h, .w = w, .c = c};
    ds->pixels = dr_xmalloc((size_t)bytes + 1);
    ds->labels = dr_xmalloc(sizeof(int) * (size_t)n + 1);
    if (n) memcpy(ds->pixels, images, (size_t)bytes), memcpy(ds->labels, labels, sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) ds->classes = DR_MAX(ds->classes, labels[i] + 1);
    snprintf(ds->source, sizeof ds->source, "%s arrays", what);
    return 0;
}

int dorefa_trainer_set_arrays(dorefa_trainer *t, int height, int width, int channels,
                              const unsigned char *train_images, const int *train_labels, int train_n,
                              const unsigned char *test_images, const int *test_labels, int test_n,
                              const char *class_names)
{
    if (!t) return dr_fail("dorefa_trainer_set_arrays: trainer is NULL"), DOREFA_ERR_ARGUMENT;
    int h, w;
    input_size(t, &h, &w);
    if (height != h || width != w || channels < 1 || channels > 4096)
        return dr_fail("dorefa_trainer_set_arrays: images of %dx%dx%d: the model takes %dx%d (height x width) with "
                       "1..4096 channels", height, width, channels, h, w), DOREFA_ERR_ARGUMENT;
    if (train_n < 1) return dr_fail("dorefa_trainer_set_arrays: no training images"), DOREFA_ERR_ARGUMENT;
    if (t->net && t->net->input.c != channels) /* before the arrays are read */
        return dr_fail("dorefa_trainer_set_arrays: %d-channel images, the network takes %d", channels,
                       t->net->input.c), DOREFA_ERR_ARGUMENT;
    dr_dataset train, test;
    if (copy_arrays(&train, h, w, channels, train_images, train_labels, train_n, "training")) return DOREFA_ERR_ARGUMENT;
    if (copy_arrays(&test, h, w, channels, test_images, test_labels, test_n, "test")) {
        dr_dataset_free(&train);
        return DOREFA_ERR_ARGUMENT;
    }
    if (class_names) train.class_names = dr_xstrdup(class_names);
    dr_dataset_truncate(&train, t->cfg.limit_train);
    dr_dataset_truncate(&test, t->cfg.limit_test);
    return use_data(t, &train, &test, "(arrays)");
}

/* ---- training ------------------------------------------------------------------------------ */

static int on_progress(void *user, const dr_train_progress *p)
{
    const dorefa_trainer *t = user;
    const dorefa_progress q = {p->epoch, p->epochs, p->images_done, p->images, (unsigned long long)p->step,
                               p->train_loss, p->train_err, p->test_acc, p->test_loss, p->images_per_s,
                               p->end_of_epoch};
    return t->progress(&q, t->user);
}

static int need_net(const dorefa_trainer *t, const char *fn)
{
    if (!t) return dr_fail("%s: trainer is NULL", fn);
    if (!t->net) return dr_fail("%s: no data set yet (dorefa_trainer_set_data or _set_arrays builds the network)", fn);
    return 0;
}

int dorefa_trainer_train(dorefa_trainer *t, int epochs, dorefa_progress_fn progress, void *user)
{
    if (!t) return dr_fail("dorefa_trainer_train: trainer is NULL"), DOREFA_ERR_ARGUMENT;
    if (epochs < 0 || epochs > 1000000)
        return dr_fail("dorefa_trainer_train: epochs %d is not in 0..1000000", epochs), DOREFA_ERR_ARGUMENT;
    int rc;
    if (!t->have_data && (rc = dorefa_trainer_set_data(t, t->cfg.data))) return rc;
    if (epochs) t->cfg.epochs = t->cfg.epoch + epochs;
    else if (t->cfg.epoch >= t->cfg.epochs)
        return dr_fail("dorefa_trainer_train: %d of %d epochs are trained; ask for more epochs", t->cfg.epoch,
                       t->cfg.epochs), DOREFA_ERR_ARGUMENT;
    set_threads(t->cfg.threads);
    t->t.net = t->net;
    t->t.cfg = t->cfg;
    t->t.train = &t->train;
    t->t.test = t->test.n ? &t->test : NULL;
    t->t.out_dir = t->cfg.out[0] ? t->cfg.out : NULL;
    t->t.quiet = 1;
    t->progress = progress, t->user = user;
    t->t.on_progress = progress ? on_progress : NULL;
    t->t.progress_user = t;
    rc = dr_train(&t->t);
    t->cfg = t->t.cfg; /* its progress: epochs, steps, best accuracy, where inside an epoch it stopped */
    return rc ? DOREFA_ERR_TRAIN : DOREFA_OK;
}

int dorefa_trainer_evaluate(dorefa_trainer *t, double *accuracy, double *loss)
{
    if (need_net(t, "dorefa_trainer_evaluate")) return DOREFA_ERR_ARGUMENT;
    if (!t->test.n) return dr_fail("dorefa_trainer_evaluate: the data has no test images"), DOREFA_ERR_ARGUMENT;
    set_threads(t->cfg.threads);
    double acc, l;
    dr_evaluate(t->net, &t->test, &acc, &l);
    if (accuracy) *accuracy = acc;
    if (loss) *loss = l;
    return DOREFA_OK;
}

int dorefa_trainer_predict(dorefa_trainer *t, const float *images, int n, float *probs)
{
    if (need_net(t, "dorefa_trainer_predict")) return DOREFA_ERR_ARGUMENT;
    if (!images || !probs || n < 0) return dr_fail("dorefa_trainer_predict: NULL argument or n < 0"), DOREFA_ERR_ARGUMENT;
    set_threads(t->cfg.threads);
    dr_net *net = t->net;
    const size_t per = dr_shape_size(net->input);
    const int C = dr_net_classes(net), B = net->max_batch;
    float *x = dr_xalign(sizeof(float) * per * (size_t)B);
    for (int s0 = 0; s0 < n; s0 += B) {
        const int m = DR_MIN(B, n - s0);
        for (size_t i = 0; i < per * (size_t)m; i++) x[i] = images[per * (size_t)s0 + i] * DR_PIXEL_SCALE;
        dr_net_forward(net, x, NULL, m, 0);
        memcpy(probs + (size_t)s0 * C, dr_net_output(net), sizeof(float) * (size_t)m * C);
    }
    free(x);
    return DOREFA_OK;
}

int dorefa_trainer_epoch(const dorefa_trainer *t) { return t ? t->cfg.epoch : 0; }

unsigned long long dorefa_trainer_step(const dorefa_trainer *t) { return t ? (unsigned long long)t->cfg.step : 0; }

int dorefa_trainer_save(dorefa_trainer *t, const char *checkpoint)
{
    if (need_net(t, "dorefa_trainer_save")) return DOREFA_ERR_ARGUMENT;
    if (!checkpoint) return dr_fail("dorefa_trainer_save: path is NULL"), DOREFA_ERR_ARGUMENT;
    char conf[DR_CONFIG_TEXT_MAX];
    dr_train_config_format(&t->cfg, conf, sizeof conf);
    return dr_checkpoint_save(checkpoint, t->net, &t->t.opt, conf) ? DOREFA_ERR_FILE : DOREFA_OK;
}

int dorefa_trainer_export_first_layer(dorefa_trainer *t, const char *model_file, const char *first_layer)
{
    if (need_net(t, "dorefa_trainer_export")) return DOREFA_ERR_ARGUMENT;
    if (!model_file) return dr_fail("dorefa_trainer_export: path is NULL"), DOREFA_ERR_ARGUMENT;
    const int first = first_layer ? dr_first_layer_parse(first_layer) : DR_FIRST_LAYER_DEFAULT;
    if (first < 0) return DOREFA_ERR_ARGUMENT;
    char conf[DR_CONFIG_TEXT_MAX];
    dr_train_config_format(&t->cfg, conf, sizeof conf);
    dr_export_info info;
    return dr_export_net(t->net, conf, model_file, first, &info) ? DOREFA_ERR_FILE : DOREFA_OK;
}

int dorefa_trainer_export(dorefa_trainer *t, const char *model_file)
{
    return dorefa_trainer_export_first_layer(t, model_file, NULL);
}

int dorefa_trainer_export_onnx(dorefa_trainer *t, const char *onnx_file)
{
    if (need_net(t, "dorefa_trainer_export_onnx")) return DOREFA_ERR_ARGUMENT;
    if (!onnx_file) return dr_fail("dorefa_trainer_export_onnx: path is NULL"), DOREFA_ERR_ARGUMENT;
    dr_onnx_info info;
    return dr_export_onnx_net(t->net, onnx_file, &info) ? DOREFA_ERR_FILE : DOREFA_OK;
}

/* ---- tensors ------------------------------------------------------------------------------ */

const char *dorefa_trainer_describe(dorefa_trainer *t)
{
    if (need_net(t, "dorefa_trainer_describe")) return NULL;
    free(t->description);
    t->description = dr_net_describe(t->net);
    return t->description;
}

/* The values of a tensor by name, and their count; NULL with a message. */
static float *find_tensor(dorefa_trainer *t, const char *fn, const char *name, size_t *n)
{
    if (need_net(t, fn)) return NULL;
    if (!name) return dr_fail("%s: name is NULL", fn), NULL;
    for (int i = 0; i < dr_net_param_count(t->net); i++) {
        dr_param *p = dr_net_param(t->net, i);
        if (!strcmp(p->name, name)) return *n = p->size, p->value;
    }
    const size_t len = strlen(name);
    for (int i = 0; i < t->net->n_layers; i++) {
        dr_layer *l = &t->net->layers[i];
        const size_t ln = strlen(l->name);
        if (l->state_size && len == ln + 6 && !strncmp(name, l->name, ln) && !strcmp(name + ln, ".state"))
            return *n = l->state_size, l->state;
    }
    return dr_fail("%s: the network has no tensor '%s'", fn, name), NULL;
}

long dorefa_trainer_get_tensor(dorefa_trainer *t, const char *name, float *out, long cap)
{
    size_t n;
    const float *v = find_tensor(t, "dorefa_trainer_get_tensor", name, &n);
    if (!v) return -1;
    if (cap > 0 && !out) return dr_fail("dorefa_trainer_get_tensor: out is NULL"), -1;
    if (cap > 0) memcpy(out, v, sizeof(float) * (size_t)((long)n < cap ? (long)n : cap));
    return (long)n;
}

int dorefa_trainer_set_tensor(dorefa_trainer *t, const char *name, const float *values, long n)
{
    size_t count;
    float *v = find_tensor(t, "dorefa_trainer_set_tensor", name, &count);
    if (!v) return DOREFA_ERR_ARGUMENT;
    if (!values || n != (long)count)
        return dr_fail("dorefa_trainer_set_tensor: '%s' has %zu values, %ld given", name, count, n),
               DOREFA_ERR_ARGUMENT;
    for (long i = 0; i < n; i++)
        if (!isfinite(values[i]))
            return dr_fail("dorefa_trainer_set_tensor: '%s': value %ld is not finite", name, i), DOREFA_ERR_ARGUMENT;
    memcpy(v, values, sizeof(float) * (size_t)n);
    return DOREFA_OK;
}

/* ---- class names ------------------------------------------------------------------------ */

const char *dorefa_trainer_class_name(dorefa_trainer *t, int i)
{
    if (!t || !t->net || i < 0 || i >= dr_net_classes(t->net)) return NULL;
    dr_net_class_name(t->net, i, t->name, sizeof t->name);
    return t->name;
}

int dorefa_trainer_set_class_names(dorefa_trainer *t, const char *names)
{
    if (need_net(t, "dorefa_trainer_set_class_names")) return DOREFA_ERR_ARGUMENT;
    if (!names) return dr_fail("dorefa_trainer_set_class_names: names is NULL"), DOREFA_ERR_ARGUMENT;
    for (const char *p = names; *p;) {
        const size_t n = strcspn(p, "\n");
        if (dr_class_name_check(p, n))
            return dr_fail("dorefa_trainer_set_class_names: a name is empty, over 255 bytes or not text"),
                   DOREFA_ERR_ARGUMENT;
        p += n + (p[n] == '\n');
    }
    dr_net_set_class_names(t->net, names);
    t->names_kept = 1; /* data set later does not rename them */
    return DOREFA_OK;
}
