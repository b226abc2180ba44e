/* dorefa train: train a network described by a model file on a data set. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train_cli.h"
#include "kernels/bitgemm.h"
#include "core/common.h"
#include "model/net.h"
#include "train/checkpoint.h"
#include "train/guide.h"
#include "train/train.h"

static const char USAGE[] =
    "usage: dorefa train [options]\n"
    "\n"
    "Trains a network and evaluates it on the test split after every epoch.\n"
    "Progress goes to stderr; the run folder gets metrics.jsonl, last.ckpt and best.ckpt.\n"
    "\n"
    "  -m, --model NAME|FILE    model file, or the name of a shipped model (default: default)\n"
    "                           shipped: default, svhn-a, svhn-b, svhn-c, svhn-d, alexnet, resnet18\n"
    "  -d, --data PATH          data set folder (IDX, CIFAR-10 binary, SVHN .mat, or\n"
    "                           train/ and test/ image folders) (default: " DR_DEFAULT_DATA ")\n"
    "  -e, --epochs N           total epochs (default: 5)\n"
    "  -b, --batch N            mini-batch size (default: 128)\n"
    "  -o, --out DIR            run folder (default: runs/<model>)\n"
    "      --bits W,A,G         bitwidths of weights, activations, gradients: 1..8, 32 = float\n"
    "                           (default: the model file's bits=, else 32,32,32)\n"
    "      --schedule STAGES    progressive quantization: stages 'W,A,G:EPOCHS;...', each\n"
    "                           starting from the previous stage's weights (fresh optimizer\n"
    "                           moments), e.g. '1,32,32:3;1,2,4:3' (weights first, then\n"
    "                           activations) or '8,8,8:2;4,4,4:2;2,2,4:2'; RUN/stageK.ckpt\n"
    "                           after each stage; replaces --bits and --epochs\n"
    "      --stochastic-precision R0,RAMP\n"
    "                           each step quantizes every quantizable layer with probability\n"
    "                           r, rising linearly from R0 to 1 over RAMP epochs; evaluation\n"
    "                           is fully quantized (e.g. 0.5,3)\n"
    "      --guide MODEL        guided training: train a full-precision MODEL (any model file\n"
    "                           with the same input and classes, e.g. the same one) beside\n"
    "                           this network; each adds a distillation term toward the other's\n"
    "                           softened outputs (RUN/guide.ckpt holds the partner)\n"
    "      --guide-temperature T  softening temperature (default: 2)\n"
    "      --guide-weights L,F  weights of the distillation term in the low-bitwidth and the\n"
    "                           full-precision network's loss (default: 1,1)\n"
    "      --hint LOW[:FULL]    also pull the output of layer LOW toward the partner's layer\n"
    "                           FULL (default: the same name) by an L2 term, and back\n"
    "      --hint-weight X      weight of the hint term (default: 1)\n"
    "      --quantize-first     quantize the first layer's weights too (paper Table 3)\n"
    "      --quantize-last      quantize the last layer's weights too (paper Table 3)\n"
    "      --kernels K          bit: quantized layers compute with bit-serial integer kernels\n"
    "                           (default); float: simulate them with float products\n"
    "      --bounded-act H      h for the model's cabs/crelu layers: cabs = min(1,|x|),\n"
    "                           crelu = min(1,max(0,x)) (default: as in the model file)\n"
    "      --histograms E,E..   after these epochs write per-layer histograms of weights,\n"
    "                           activations and gradients (RUN/histograms/*.json, *.svg)\n"
    "      --seed N             random seed; the same seed gives the same run (default: 1)\n"
    "      --optimizer NAME     adam or sgd (default: adam)\n"
    "      --lr X               learning rate (default: 0.001)\n"
    "      --adam-eps X         Adam epsilon (default: 1e-5, as tensorpack)\n"
    "      --momentum X         SGD momentum (default: 0.9)\n"
    "      --lr-decay X         multiply the learning rate by X ... (default: 0.5)\n"
    "      --lr-decay-every N   ... every N epochs (staircase; default: never)\n"
    "      --weight-decay X     L2 on weights of layers without l2= in the model (default: 0)\n"
    "      --brightness X       augmentation: add U(-X, X) to pixels (0..255)\n"
    "      --contrast LO,HI     augmentation: scale contrast by U(LO, HI)\n"
    "      --svhn-augment       the SVHN recipe: --brightness 30 --contrast 0.5,1.5\n"
    "      --flip               augmentation: random horizontal flips\n"
    "      --crop-pad N         augmentation: random crops after padding by N pixels\n"
    "      --svhn-extra         add SVHN's extra_32x32.mat to the training set\n"
    "      --limit-train N      use only the first N training images\n"
    "      --limit-test N       use only the first N test images\n"
    "      --resume CKPT        continue a run from its checkpoint (its settings are kept;\n"
    "                           --epochs, --data, --out, --histograms, --threads and --quiet\n"
    "                           may change, and --lr-decay(-every) if the epochs already\n"
    "                           trained keep their rates)\n"
    "      --threads N          worker threads (default: all cores)\n"
    "  -q, --quiet              no progress output\n"
    "  -h, --help               this help\n";

enum { O_SEED = 256, O_OPT, O_LR, O_EPS, O_MOM, O_DECAY, O_EVERY, O_WD, O_BRIGHT, O_CONTRAST,
       O_SVHNAUG, O_FLIP, O_CROP, O_EXTRA, O_LTRAIN, O_LTEST, O_RESUME, O_THREADS, O_BITS,
       O_QFIRST, O_QLAST, O_BACT, O_HIST, O_CONFIGS, O_KERNELS, O_SCHEDULE, O_SP, O_GUIDE, O_GUIDE_T,
       O_GUIDE_W, O_HINT, O_HINT_W };

static const struct option LONG[] = {
    {"model", 1, 0, 'm'},          {"data", 1, 0, 'd'},         {"epochs", 1, 0, 'e'},
    {"batch", 1, 0, 'b'},          {"out", 1, 0, 'o'},          {"seed", 1, 0, O_SEED},
    {"optimizer", 1, 0, O_OPT},    {"lr", 1, 0, O_LR},          {"adam-eps", 1, 0, O_EPS},
    {"momentum", 1, 0, O_MOM},     {"lr-decay", 1, 0, O_DECAY}, {"lr-decay-every", 1, 0, O_EVERY},
    {"weight-decay", 1, 0, O_WD},  {"brightness", 1, 0, O_BRIGHT}, {"contrast", 1, 0, O_CONTRAST},
    {"svhn-augment", 0, 0, O_SVHNAUG}, {"flip", 0, 0, O_FLIP}, {"crop-pad", 1, 0, O_CROP},
    {"svhn-extra", 0, 0, O_EXTRA}, {"limit-train", 1, 0, O_LTRAIN}, {"limit-test", 1, 0, O_LTEST},
    {"bits", 1, 0, O_BITS},        {"quantize-first", 0, 0, O_QFIRST}, {"quantize-last", 0, 0, O_QLAST},
    {"configs", 1, 0, O_CONFIGS},  {"schedule", 1, 0, O_SCHEDULE}, {"stochastic-precision", 1, 0, O_SP},  {"kernels", 1, 0, O_KERNELS},  {"bounded-act", 1, 0, O_BACT}, {"histograms", 1, 0, O_HIST}, {"resume", 1, 0, O_RESUME},    {"threads", 1, 0, O_THREADS}, {"quiet", 0, 0, 'q'},
    {"guide", 1, 0, O_GUIDE},      {"guide-temperature", 1, 0, O_GUIDE_T},
    {"guide-weights", 1, 0, O_GUIDE_W}, {"hint", 1, 0, O_HINT}, {"hint-weight", 1, 0, O_HINT_W},
    {"help", 0, 0, 'h'},           {0, 0, 0, 0}};

/* Options that may change when resuming. */
static int resumable(int opt)
{
    return opt == 'e' || opt == 'd' || opt == 'o' || opt == O_THREADS || opt == 'q' || opt == O_RESUME ||
           opt == O_HIST || opt == O_DECAY || opt == O_EVERY;
}

void train_args_init(train_args *a)
{
    memset(a, 0, sizeof *a);
    dr_train_config_defaults(&a->cfg);
    snprintf(a->cfg.model, sizeof a->cfg.model, "default");
    snprintf(a->cfg.data, sizeof a->cfg.data, "%s", DR_DEFAULT_DATA);
    a->epochs_arg = -1;
}

int train_parse_args(const char *cmd, const char *usage, int argc, char **argv, train_args *a)
{
    long v;
    double f;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:d:e:b:o:qh", LONG, NULL)) != -1) {
        if (!resumable(c) && c != '?' && c != 'h') a->bad_with_resume = c;
        switch (c) {
        case 'm': snprintf(a->cfg.model, sizeof a->cfg.model, "%s", optarg); break;
        case 'd': a->data_arg = optarg; break;
        case 'e': if (cli_int(cmd, "epochs", optarg, 1, 1000000, &v)) return EXIT_USAGE;
                  a->epochs_arg = (int)v; break;
        case 'b': if (cli_int(cmd, "batch", optarg, 1, 65536, &v)) return EXIT_USAGE;
                  a->cfg.batch = (int)v; break;
        case 'o': a->out = optarg; break;
        case 'q': a->quiet = 1; break;
        case 'h': fputs(usage, stdout); return EXIT_OK;
        case O_SEED: if (cli_int(cmd, "seed", optarg, 0, 0x7fffffffL, &v)) return EXIT_USAGE;
                     a->cfg.seed = (uint64_t)v; break;
        case O_OPT:
            if (!strcmp(optarg, "adam")) a->cfg.optim.kind = DR_OPT_ADAM;
            else if (!strcmp(optarg, "sgd")) a->cfg.optim.kind = DR_OPT_SGD;
            else return cli_usage_error(cmd, "--optimizer %s: expected adam or sgd", optarg);
            break;
        case O_LR: if (cli_float(cmd, "lr", optarg, 0, 100, &f)) return EXIT_USAGE;
                   a->cfg.optim.lr = (float)f; break;
        case O_EPS: if (cli_float(cmd, "adam-eps", optarg, 0, 1, &f)) return EXIT_USAGE;
                    a->cfg.optim.eps = (float)f; break;
        case O_MOM: if (cli_float(cmd, "momentum", optarg, 0, 1, &f)) return EXIT_USAGE;
                    a->cfg.optim.momentum = (float)f; break;
        case O_DECAY: if (cli_float(cmd, "lr-decay", optarg, 0, 1, &f)) return EXIT_USAGE;
                      a->cfg.optim.lr_decay = (float)f; a->schedule_arg |= 1; break;
        case O_EVERY: if (cli_int(cmd, "lr-decay-every", optarg, 1, 1000000, &v)) return EXIT_USAGE;
                      a->cfg.optim.lr_decay_every = (int)v; a->schedule_arg |= 2; break;
        case O_WD: if (cli_float(cmd, "weight-decay", optarg, 0, 1, &f)) return EXIT_USAGE;
                   a->cfg.optim.weight_decay = (float)f; break;
        case O_BRIGHT: if (cli_float(cmd, "brightness", optarg, 0, 255, &f)) return EXIT_USAGE;
                       a->cfg.aug.brightness = (float)f; break;
        case O_CONTRAST: {
            char *end;
            a->cfg.aug.contrast_lo = strtof(optarg, &end);
            if (*end != ',') return cli_usage_error(cmd, "--contrast %s: expected LO,HI", optarg);
            a->cfg.aug.contrast_hi = strtof(end + 1, &end);
            if (*end || !(a->cfg.aug.contrast_lo > 0 && a->cfg.aug.contrast_hi >= a->cfg.aug.contrast_lo))
                return cli_usage_error(cmd, "--contrast %s: expected 0 < LO <= HI", optarg);
            break;
        }
        case O_SVHNAUG: a->cfg.aug.brightness = 30; a->cfg.aug.contrast_lo = 0.5f;
                        a->cfg.aug.contrast_hi = 1.5f; break;
        case O_FLIP: a->cfg.aug.flip = 1; break;
        case O_CROP: if (cli_int(cmd, "crop-pad", optarg, 0, 64, &v)) return EXIT_USAGE;
                     a->cfg.aug.crop_pad = (int)v; break;
        case O_EXTRA: a->cfg.svhn_extra = 1; break;
        case O_LTRAIN: if (cli_int(cmd, "limit-train", optarg, 1, 1 << 30, &v)) return EXIT_USAGE;
                       a->cfg.limit_train = (int)v; break;
        case O_LTEST: if (cli_int(cmd, "limit-test", optarg, 1, 1 << 30, &v)) return EXIT_USAGE;
                      a->cfg.limit_test = (int)v; break;
        case O_RESUME: a->resume = optarg; break;
        case O_CONFIGS: a->configs = optarg; break;
        case O_BITS:
            if (dr_bits_parse(optarg, &a->cfg.bits))
                return cli_usage_error(cmd, "--bits %s: expected W,A,G, each 1..8 or 32", optarg);
            break;
        case O_QFIRST: a->cfg.bits.quantize_first = 1; break;
        case O_SCHEDULE: {
            dr_schedule sc;
            if (strlen(optarg) >= sizeof a->cfg.schedule || dr_schedule_parse(optarg, &sc))
                return cli_usage_error(cmd, "--schedule: %s", dr_last_error());
            snprintf(a->cfg.schedule, sizeof a->cfg.schedule, "%s", optarg);
            a->cfg.epochs = dr_schedule_epochs(&sc);
            break;
        }
        case O_SP: {
            char *end;
            a->cfg.sp_start = strtof(optarg, &end);
            if (*end != ',' || !(a->cfg.sp_start >= 0 && a->cfg.sp_start <= 1))
                return cli_usage_error(cmd, "--stochastic-precision %s: expected R0,RAMP with 0 <= R0 <= 1", optarg);
            a->cfg.sp_ramp = strtof(end + 1, &end);
            if (*end || !(a->cfg.sp_ramp >= 0))
                return cli_usage_error(cmd, "--stochastic-precision %s: RAMP must be epochs >= 0", optarg);
            break;
        }
        case O_KERNELS:
            if (strcmp(optarg, "bit") && strcmp(optarg, "float"))
                return cli_usage_error(cmd, "--kernels %s: expected bit or float", optarg);
            a->cfg.float_kernels = !strcmp(optarg, "float");
            break;
        case O_HIST:
            if (strlen(optarg) >= sizeof a->cfg.histograms || strspn(optarg, "0123456789,") != strlen(optarg))
                return cli_usage_error(cmd, "--histograms %s: expected epochs like 1,5,10", optarg);
            a->hist_arg = optarg;
            break;
        case O_BACT:
            a->cfg.bounded_act = dr_act_parse_name(optarg);
            if (a->cfg.bounded_act != DR_ACT_CABS && a->cfg.bounded_act != DR_ACT_CRELU)
                return cli_usage_error(cmd, "--bounded-act %s: expected cabs or crelu", optarg);
            break;
        case O_QLAST: a->cfg.bits.quantize_last = 1; break;
        case O_GUIDE:
            if (strlen(optarg) >= sizeof a->cfg.guide) return cli_usage_error(cmd, "--guide: name too long");
            snprintf(a->cfg.guide, sizeof a->cfg.guide, "%s", optarg);
            break;
        case O_GUIDE_T: if (cli_float(cmd, "guide-temperature", optarg, 0.01, 100, &f)) return EXIT_USAGE;
                        a->cfg.guide_T = (float)f; break;
        case O_GUIDE_W: {
            char *end;
            a->cfg.guide_w_low = strtof(optarg, &end);
            if (*end == ',') a->cfg.guide_w_full = strtof(end + 1, &end);
            if (*end || !(a->cfg.guide_w_low >= 0 && a->cfg.guide_w_low <= 1000) ||
                !(a->cfg.guide_w_full >= 0 && a->cfg.guide_w_full <= 1000))
                return cli_usage_error(cmd, "--guide-weights %s: expected L,F, each 0..1000", optarg);
            break;
        }
        case O_HINT:
            if (strlen(optarg) >= sizeof a->cfg.hint || !*optarg || strpbrk(optarg, " \t="))
                return cli_usage_error(cmd, "--hint %s: expected LAYER or LAYER:LAYER", optarg);
            snprintf(a->cfg.hint, sizeof a->cfg.hint, "%s", optarg);
            break;
        case O_HINT_W: if (cli_float(cmd, "hint-weight", optarg, 0, 1e6, &f)) return EXIT_USAGE;
                       a->cfg.hint_w = (float)f; break;
        case O_THREADS: if (cli_int(cmd, "threads", optarg, 0, 1024, &v)) return EXIT_USAGE;
                        a->cfg.threads = (int)v; break;
        default: return cli_usage_error(cmd, "unknown option");
        }
    }
    if (optind < argc) return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (a->configs && strcmp(cmd, "sweep"))
        return cli_usage_error(cmd, "--configs belongs to 'dorefa sweep'");
    if (a->cfg.schedule[0] && (a->cfg.bits.w || a->epochs_arg > 0 || a->configs))
        return cli_usage_error(cmd, "--schedule sets the bits and epochs: leave out --bits, --epochs and --configs");
    if (a->cfg.hint[0] && !a->cfg.guide[0])
        return cli_usage_error(cmd, "--hint needs --guide (the partner whose layer it follows)");
    if (a->resume && a->bad_with_resume)
        return cli_usage_error(cmd, "with --resume the run's own settings are used; only "
                                        "--epochs, --data, --out, --histograms, --threads, --quiet and "
                                        "the learning-rate decay may be given");
    return -1;
}

int train_execute(train_args *a, train_result *res)
{
    dr_train_config cfg = a->cfg;
    const char *resume = a->resume, *out = a->out;
    int quiet = a->quiet;
    cli_set_threads(cfg.threads);
    dr_checkpoint ck = {0};
    char model_path[1024], *model_text = NULL;
    const char *model_origin = model_path;
    if (resume) {
        if (dr_checkpoint_read(resume, &ck) || dr_train_config_parse(ck.conf, resume, &cfg))
            return cli_error();
        model_text = dr_xstrdup(ck.model);
        snprintf(model_path, sizeof model_path, "%s (model)", resume);
    } else {
        if (dr_model_resolve(cfg.model, model_path, sizeof model_path) ||
            !(model_text = dr_read_file(model_path, NULL)))
            return cli_error();
    }
    if (a->epochs_arg > 0) cfg.epochs = a->epochs_arg;
    if (a->data_arg) snprintf(cfg.data, sizeof cfg.data, "%s", a->data_arg);
    if (a->hist_arg) snprintf(cfg.histograms, sizeof cfg.histograms, "%s", a->hist_arg);
    if (resume && a->schedule_arg) {
        /* A longer schedule may be given, as long as the epochs already trained keep their
         * rates: the resumed run is then the run that schedule gives from scratch. */
        dr_optim_config next = cfg.optim;
        if (a->schedule_arg & 1) next.lr_decay = a->cfg.optim.lr_decay;
        if (a->schedule_arg & 2) next.lr_decay_every = a->cfg.optim.lr_decay_every;
        for (int e = 0; e < cfg.epoch; e++)
            if (dr_optim_lr(&next, e) != dr_optim_lr(&cfg.optim, e)) {
                fprintf(stderr, "dorefa: %s: the new learning-rate decay changes the rate of epoch %d, "
                                "already trained (%g, was %g)\n", resume, e + 1, dr_optim_lr(&next, e),
                        dr_optim_lr(&cfg.optim, e));
                free(model_text);
                dr_checkpoint_free(&ck);
                return EXIT_FAIL;
            }
        cfg.optim = next;
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
    dr_net_options nopt = {.channels = train.c, .max_batch = cfg.batch};
    if (!(net = dr_net_parse(model_text, model_origin, &nopt))) {
        rc = cli_error();
        goto done;
    }
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
    if (!quiet) {
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
        if (t.guide)
            fprintf(stderr, "dorefa: guided by a full-precision %s (%zu parameters): T %g, weights %g,%g%s%s\n",
                    cfg.guide, dr_net_weight_count(guide.net), cfg.guide_T, cfg.guide_w_low,
                    cfg.guide_w_full, cfg.hint[0] ? ", hint " : "", cfg.hint);
        if (resume) fprintf(stderr, "dorefa: resuming after epoch %d\n", cfg.epoch);
    }
    if (dr_train(&t)) {
        rc = cli_error();
        goto done;
    }
    if (res) {
        res->last_acc = t.last_acc;
        res->best_acc = t.cfg.best_acc;
        res->best_epoch = t.cfg.best_epoch;
        res->epochs = t.cfg.epoch;
    }
    if (!res) /* 'dorefa train'; the sweep prints its table */
        printf("test accuracy %.2f%% (best %.2f%% at epoch %d) after %d epochs; run folder %s\n",
               100 * t.last_acc, 100 * t.cfg.best_acc, t.cfg.best_epoch, t.cfg.epoch, out_dir);
    rc = EXIT_OK;
done:
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
    int rc = train_parse_args("train", USAGE, argc, argv, &a);
    if (rc >= 0) return rc;
    return train_execute(&a, NULL);
}
