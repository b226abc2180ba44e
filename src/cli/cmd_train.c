/* dorefa train: train a network described by a model file on a data set. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#include <omp.h>
#include "train_cli.h"
#include "kernels/bitgemm.h"
#include "core/common.h"
#include "model/net.h"
#include "train/checkpoint.h"
#include "train/guide.h"
#include "train/train.h"

#include "core/filebuf.h"

static const char USAGE_HEAD[] =
    "usage: dorefa train [options]\n"
    "\n"
    "Trains a network and evaluates it on the test split after every epoch.\n"
    "Progress goes to stderr; the run folder gets metrics.jsonl, last.ckpt and best.ckpt.\n"
    "Options marked * may be given with --resume too.\n"
    "\n";

void train_args_init(train_args *a)
{
    memset(a, 0, sizeof *a);
    dr_train_config_defaults(&a->cfg);
}

const char *train_given(const train_args *a, const char *name)
{
    const dr_option *o = dr_train_option_find(name);
    return o ? a->given[o - dr_train_options] : NULL;
}

/* The names of the options that may be given with --resume, for the message. */
static void resumable_names(char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < dr_train_option_count; i++) {
        const dr_option *o = &dr_train_options[i];
        if (o->name && (o->flags & DR_OPT_RESUMABLE) && strcmp(o->name, "resume") && len < cap)
            len += (size_t)snprintf(buf + len, cap - len, "%s--%s", len ? ", " : "", o->name);
    }
}

int train_parse_args(const char *cmd, const char *usage_head, int argc, char **argv, train_args *a)
{
    /* getopt's tables from the option table: long option i returns 256 + i */
    struct option longs[TRAIN_MAX_OPTIONS + 1];
    char shorts[3 * TRAIN_MAX_OPTIONS + 1];
    int nl = 0, ns = 0;
    if (dr_train_option_count > TRAIN_MAX_OPTIONS) return cli_usage_error(cmd, "too many options");
    for (int i = 0; i < dr_train_option_count; i++) {
        const dr_option *o = &dr_train_options[i];
        if (!o->name) continue;
        longs[nl++] = (struct option){o->name, o->arg ? required_argument : no_argument, NULL, 256 + i};
        if (o->short_name) {
            shorts[ns++] = o->short_name;
            if (o->arg) shorts[ns++] = ':';
        }
    }
    longs[nl] = (struct option){0, 0, 0, 0};
    shorts[ns] = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        int i = c - 256;
        if (c < 256)
            for (i = 0; i < dr_train_option_count && (!dr_train_options[i].name || dr_train_options[i].short_name != c); i++)
                ;
        if (c == '?' || i < 0 || i >= dr_train_option_count) return cli_usage_error(cmd, "unknown option");
        const dr_option *o = &dr_train_options[i];
        if (o->type == DR_OPT_HELP) {
            fputs(usage_head, stdout);
            dr_train_options_usage(stdout, !strcmp(cmd, "sweep"));
            return EXIT_OK;
        }
        if (dr_train_option_set(o, &a->cfg, o->arg ? optarg : NULL)) return cli_usage_error(cmd, "%s", dr_last_error());
        a->given[i] = o->arg ? optarg : "";
    }
    if (optind < argc) return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (train_given(a, "configs") && strcmp(cmd, "sweep"))
        return cli_usage_error(cmd, "--configs belongs to 'dorefa sweep'");
    if (train_given(a, "schedule") && (train_given(a, "bits") || train_given(a, "epochs") || train_given(a, "configs")))
        return cli_usage_error(cmd, "--schedule sets the bits and epochs: leave out --bits, --epochs and --configs");
    if (train_given(a, "hint") && !train_given(a, "guide"))
        return cli_usage_error(cmd, "--hint needs --guide (the partner whose layer it follows)");
    if (train_given(a, "resume"))
        for (int i = 0; i < dr_train_option_count; i++)
            if (a->given[i] && !(dr_train_options[i].flags & DR_OPT_RESUMABLE)) {
                char names[400];
                resumable_names(names, sizeof names);
                return cli_usage_error(cmd, "with --resume the run's own settings are used; only %s may be given "
                                            "(--%s was)", names, dr_train_options[i].name);
            }
    return -1;
}

static uint64_t crc_of_data(const dr_dataset *d)
{
    return dr_fingerprint(d->pixels, (size_t)d->n * d->h * d->w * d->c) ^
           dr_fingerprint(d->labels, sizeof(int) * (size_t)d->n) << 1;
}

/* Data-parallel training: what the ranks must agree on before the first step. */
static int check_ranks(dr_group *g, const dr_train_config *cfg, const char *model_text, const dr_dataset *train,
                       const dr_dataset *test, const dr_net *net, const dr_optim *opt)
{
    char conf[DR_CONFIG_TEXT_MAX];
    dr_train_config_format(cfg, conf, sizeof conf);
    uint64_t v[5] = {dr_fingerprint(conf, strlen(conf)), dr_fingerprint(model_text, strlen(model_text)),
                     crc_of_data(train), crc_of_data(test),
                     dr_fingerprint(net->params, net->params_size * sizeof(float)) ^
                         dr_fingerprint(net->state, net->state_size * sizeof(float)) ^
                         (opt->m ? dr_fingerprint(opt->m, net->params_size * sizeof(float)) : 0)};
    char what_data[500], what_test[500];
    snprintf(what_data, sizeof what_data, "training images (from %s)", cfg->data);
    snprintf(what_test, sizeof what_test, "test images (from %s)", cfg->data);
    const char *what[5] = {"options (the stored configuration: bits, optimizer, seed, ...)", "model file", what_data,
                           what_test, "starting weights"};
    return dr_dist_check_same(g, v, what, 5);
}

/* Data-parallel training: the global batch splits over the ranks. */
static int check_split(const dr_group *g, const dr_train_config *cfg, int n_train)
{
    if (cfg->batch % g->size)
        return dr_fail("--batch %d does not split over %d ranks: give a multiple of %d (--batch is the global batch)",
                       cfg->batch, g->size, g->size);
    int last = n_train % cfg->batch;
    if (last && last < g->size)
        return dr_fail("the last batch of an epoch has %d images, fewer than the %d ranks: change --batch or --limit-train",
                       last, g->size);
    if (cfg->guide[0]) return dr_fail("--guide is not supported under mpirun yet: train the pair in one process");
    return 0;
}

int train_execute(train_args *a, train_result *res)
{
    dr_group *g = res ? NULL : cli_group; /* the sweep runs in one process */
    int agreed = !g;
    dr_train_config cfg = a->cfg;
    const char *resume = cfg.resume[0] ? cfg.resume : NULL, *out = cfg.out[0] ? cfg.out : NULL;
    const int quiet = cfg.quiet;
    cli_set_threads(cfg.threads);
    dr_checkpoint ck = {0};
    char model_path[1100], *model_text = NULL;
    const char *model_origin = model_path;
    if (resume) {
        dr_train_config stored;
        if (dr_checkpoint_read(resume, &ck) || dr_train_config_parse(ck.conf, resume, &stored) ||
            dr_train_config_resumed(&stored, &a->cfg, a->given, a->cfg.resume, &cfg)) {
            dr_checkpoint_free(&ck);
            return cli_error();
        }
        model_text = dr_xstrdup(ck.model);
        snprintf(model_path, sizeof model_path, "%s (model)", resume);
    } else {
        if (dr_model_resolve(cfg.model, model_path, sizeof model_path) ||
            !(model_text = dr_read_file(model_path, NULL)))
            return cli_error();
    }
    if (resume && cfg.epoch >= cfg.epochs) {
        fprintf(stderr, "dorefa: %s has already trained %d of %d epochs; give a larger --epochs\n",
                resume, cfg.epoch, cfg.epochs);
        free(model_text);
        dr_checkpoint_free(&ck);
        return EXIT_FAIL;
    }

    int rc = EXIT_FAIL, h, w;
    dr_dataset train = {0}, test = {0};
    dr_net *net = NULL;
    dr_trainer t = {0};
    dr_guide guide = {0};
    if (dr_model_peek_input(model_text, model_origin, &h, &w) ||
        cli_load_split(cfg.data, DR_SPLIT_TRAIN, h, w, cfg.svhn_extra, cfg.limit_train, &train) ||
        cli_load_split(cfg.data, DR_SPLIT_TEST, h, w, 0, cfg.limit_test, &test)) {
        rc = cli_error();
        goto done;
    }
    if (test.c != train.c) {
        fprintf(stderr, "dorefa: %s: test images have %d channels, training images %d\n", cfg.data,
                test.c, train.c);
        goto done;
    }
    if (g && check_split(g, &cfg, train.n)) {
        rc = cli_error();
        goto done;
    }
    dr_net_options nopt = {.channels = train.c, .max_batch = g ? cfg.batch / g->size : cfg.batch};
    if (!(net = dr_net_parse(model_text, model_origin, &nopt))) {
        rc = cli_error();
        goto done;
    }
    dr_net_set_class_names(net, train.class_names); /* a resumed run's own, when it has them, below */
    if (resume && (net->input.c != ck.input.c)) {
        fprintf(stderr, "dorefa: %s was trained on %d-channel images, %s has %d\n", resume,
                ck.input.c, cfg.data, train.c);
        goto done;
    }
    int classes = DR_MAX(train.classes, test.classes);
    if (dr_net_classes(net) < classes) {
        fprintf(stderr, "dorefa: %s: the model has %d outputs but %s has %d classes\n",
                model_origin, dr_net_classes(net), cfg.data, classes);
        goto done;
    }
    if (dr_train_config_apply_bits(&cfg, net)) {
        rc = cli_error();
        goto done;
    }
    t.net = net;
    t.train = &train;
    t.test = &test;
    t.quiet = quiet;
    dr_net_init(net, cfg.seed);
    dr_optim_init(&t.opt, &cfg.optim, net);
    if (resume && dr_checkpoint_restore(&ck, net, &t.opt)) {
        rc = cli_error();
        goto done;
    }
    if (resume && dr_train_check_resumed(&cfg, net, resume)) {
        rc = cli_error();
        goto done;
    }
    if (cfg.guide[0]) {
        if (dr_guide_create(&guide, &cfg, resume, &nopt, net)) {
            rc = cli_error();
            goto done;
        }
        t.guide = &guide;
    }
    char out_dir[1024];
    if (out) snprintf(out_dir, sizeof out_dir, "%s", out);
    else if (resume) {
        snprintf(out_dir, sizeof out_dir, "%s", resume);
        char *slash = strrchr(out_dir, '/');
        if (slash) *slash = 0; else snprintf(out_dir, sizeof out_dir, ".");
    } else {
        const char *base = strrchr(cfg.model, '/') ? strrchr(cfg.model, '/') + 1 : cfg.model;
        snprintf(out_dir, sizeof out_dir, "runs/%.*s", (int)strcspn(base, "."), base);
    }
    t.out_dir = out_dir;
    t.cfg = cfg;
    t.group = g;
    if (g) {
        agreed = 1;
        if (!dr_dist_agree(g, 1)) {
            if (g->rank == 0) fprintf(stderr, "dorefa: another rank could not start (its message above)\n");
            goto done;
        }
        if (check_ranks(g, &cfg, model_text, &train, &test, net, &t.opt)) {
            rc = cli_error();
            goto done;
        }
    }
    if (!quiet && (!g || g->rank == 0)) {
        fprintf(stderr, "dorefa: model %s: %d layers, %zu parameters, input %dx%dx%d\n",
                resume ? resume : model_path, net->n_layers, dr_net_weight_count(net), h, w, train.c);
        char bits[32];
        dr_bits_format(&cfg.bits, bits, sizeof bits);
        fprintf(stderr, "dorefa: bits W,A,G = %s%s%s%s%s\n", bits,
                cfg.bits.quantize_first ? ", first layer quantized" : "",
                cfg.bits.quantize_last ? ", last layer quantized" : "",
                cfg.bounded_act >= 0 ? ", bounded activation " : "",
                cfg.bounded_act >= 0 ? dr_act_name(cfg.bounded_act) : "");
        fprintf(stderr, "dorefa: quantized products: %s\n",
                cfg.float_kernels ? "float simulation" : dr_bitgemm_kernel());
        fprintf(stderr, "dorefa: data %s: %d training, %d test images, %d classes; run folder %s\n",
                cfg.data, train.n, test.n, classes, out_dir);
        if (g)
            fprintf(stderr, "dorefa: data-parallel over %d ranks, %d images of each batch of %d per rank, %d thread%s "
                            "each; batch norm over the %s; gradients exchanged as %s\n",
                    g->size, cfg.batch / g->size, cfg.batch, omp_get_max_threads(), omp_get_max_threads() > 1 ? "s" : "",
                    cfg.bn_local ? "rank's part (--bn local)" : "global batch", cfg.exchange_bits ? "codes" : "floats");
        if (t.guide)
            fprintf(stderr, "dorefa: guided by a full-precision %s (%zu parameters): T %g, weights %g,%g%s%s\n",
                    cfg.guide, dr_net_weight_count(guide.net), cfg.guide_T, cfg.guide_w_low,
                    cfg.guide_w_full, cfg.hint[0] ? ", hint " : "", cfg.hint);
        if (resume) fprintf(stderr, "dorefa: resuming after epoch %d\n", cfg.epoch);
    }
    if (dr_train(&t)) {
        rc = cli_error();
        if (g) dr_dist_abort(g, rc); /* a failure one rank alone may have seen: end them all */
        goto done;
    }
    if (g && g->rank) {
        rc = EXIT_OK;
        goto done;
    }
    if (g && !quiet)
        fprintf(stderr, "dorefa: gradient exchange: %d buckets, %.2f MB sent per step per rank, %.2f ms per step "
                        "waited after the backward pass, %.2f ms in batch-norm and other sums\n",
                t.exchange.buckets, t.exchange.bytes_sent / 1e6, 1e3 * t.exchange.wait_s, 1e3 * t.exchange.sync_s);
    if (res) {
        res->last_acc = t.last_acc;
        res->best_acc = t.cfg.best_acc;
        res->best_epoch = t.cfg.best_epoch;
        res->epochs = t.cfg.epoch;
    }
    if (t.stopped) {
        printf("stopped at step %llu (%d epochs and %d batches done); --resume %s/last.ckpt goes on\n",
               (unsigned long long)t.cfg.step, t.cfg.epoch, t.cfg.epoch_batches, out_dir);
        if (res) res->epochs = t.cfg.epoch;
    } else if (!res) /* 'dorefa train'; the sweep prints its table */
        printf("test accuracy %.2f%% (best %.2f%% at epoch %d) after %d epochs; run folder %s\n",
               100 * t.last_acc, 100 * t.cfg.best_acc, t.cfg.best_epoch, t.cfg.epoch, out_dir);
    rc = EXIT_OK;
done:
    if (!agreed) dr_dist_agree(g, 0); /* this rank failed before the start: the others learn it */
    dr_optim_free(&t.opt);
    dr_guide_free(&guide);
    dr_net_free(net);
    dr_dataset_free(&train);
    dr_dataset_free(&test);
    dr_checkpoint_free(&ck);
    free(model_text);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    train_args a;
    train_args_init(&a);
    int rc = train_parse_args("train", USAGE_HEAD, argc, argv, &a);
    if (rc >= 0) return rc;
    return train_execute(&a, NULL);
}
