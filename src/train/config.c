/* The configuration's one table (config.h) and what follows from it: the
 * stored form and the reading of command-line arguments. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../core/kv.h"
#include "../layers/layer.h"
#include "schedule.h"

void dr_train_config_defaults(dr_train_config *c)
{
    memset(c, 0, sizeof *c);
    c->bounded_act = -1;
    c->sp_start = -1;
    c->guide_T = 2;
    c->guide_w_low = c->guide_w_full = 1;
    c->hint_w = 1;
    c->epochs = 5;
    c->batch = 128;
    c->seed = 1;
    dr_optim_defaults(&c->optim);
    c->best_acc = -1;
    snprintf(c->model, sizeof c->model, "default");
    snprintf(c->data, sizeof c->data, "%s", DR_DEFAULT_DATA);
}

/* ---- options that read their argument their own way --------------------- */

static int two_floats(const char *arg, float *a, float *b, int second_optional)
{
    char *end;
    errno = 0;
    *a = strtof(arg, &end);
    if (end == arg) return -1;
    if (*end == ',') {
        const char *p = end + 1;
        *b = strtof(p, &end);
        if (end == p) return -1;
    } else if (!second_optional) {
        return -1;
    }
    return *end || errno ? -1 : 0;
}

static int set_contrast(dr_train_config *c, const char *arg)
{
    float lo, hi;
    if (two_floats(arg, &lo, &hi, 0)) return dr_fail("--contrast %s: expected LO,HI", arg);
    if (!(lo > 0 && hi >= lo)) return dr_fail("--contrast %s: expected 0 < LO <= HI", arg);
    c->aug.contrast_lo = lo, c->aug.contrast_hi = hi;
    return 0;
}

static int set_svhn_augment(dr_train_config *c, const char *arg)
{
    (void)arg;
    c->aug.brightness = 30;
    c->aug.contrast_lo = 0.5f;
    c->aug.contrast_hi = 1.5f;
    return 0;
}

static int set_schedule(dr_train_config *c, const char *arg)
{
    dr_schedule s;
    if (strlen(arg) >= sizeof c->schedule) return dr_fail("--schedule: too long");
    if (dr_schedule_parse(arg, &s)) return -1;
    snprintf(c->schedule, sizeof c->schedule, "%s", arg);
    c->epochs = dr_schedule_epochs(&s);
    return 0;
}

static int set_precision(dr_train_config *c, const char *arg)
{
    float r0, ramp;
    if (two_floats(arg, &r0, &ramp, 0) || !(r0 >= 0 && r0 <= 1))
        return dr_fail("--stochastic-precision %s: expected R0,RAMP with 0 <= R0 <= 1", arg);
    if (!(ramp >= 0)) return dr_fail("--stochastic-precision %s: RAMP must be epochs >= 0", arg);
    c->sp_start = r0, c->sp_ramp = ramp;
    return 0;
}

static int set_guide_weights(dr_train_config *c, const char *arg)
{
    float lo, full = c->guide_w_full;
    if (two_floats(arg, &lo, &full, 1) || !(lo >= 0 && lo <= 1000) || !(full >= 0 && full <= 1000))
        return dr_fail("--guide-weights %s: expected L,F, each 0..1000", arg);
    c->guide_w_low = lo, c->guide_w_full = full;
    return 0;
}

static int set_hint(dr_train_config *c, const char *arg)
{
    if (strlen(arg) >= sizeof c->hint || !*arg || strpbrk(arg, " \t="))
        return dr_fail("--hint %s: expected LAYER or LAYER:LAYER", arg);
    snprintf(c->hint, sizeof c->hint, "%s", arg);
    return 0;
}

static int set_histograms(dr_train_config *c, const char *arg)
{
    if (strlen(arg) >= sizeof c->histograms || strspn(arg, "0123456789,") != strlen(arg))
        return dr_fail("--histograms %s: expected epochs like 1,5,10", arg);
    snprintf(c->histograms, sizeof c->histograms, "%s", arg);
    return 0;
}

static int set_bounded_act(dr_train_config *c, const char *arg)
{
    const int fn = dr_act_parse_name(arg);
    if (fn != DR_ACT_CABS && fn != DR_ACT_CRELU) return dr_fail("--bounded-act %s: expected cabs or crelu", arg);
    c->bounded_act = fn;
    return 0;
}

/* ---- the table ---------------------------------------------------------------- */

#define AT(f) .offset = offsetof(dr_train_config, f), .size = sizeof(((dr_train_config *)0)->f)
#define IN(lo, hi) .min = (lo), .max = (hi)
#define BIG (1 << 30)

static const char *const OPTIMIZERS[] = {"adam", "sgd", NULL};
static const char *const KERNELS[] = {"bit", "float", NULL};
static const char *const BN_STATS[] = {"global", "local", NULL};

const dr_option dr_train_options[] = {
    {.name = "model", .short_name = 'm', .arg = "NAME|FILE", .key = "model", .type = DR_OPT_STRING, AT(model),
     .help = "model file, or the name of a shipped model (default: default)\n"
             "shipped: default, svhn-a, svhn-b, svhn-c, svhn-d, alexnet, resnet18"},
    {.name = "data", .short_name = 'd', .arg = "PATH", .key = "data", .type = DR_OPT_STRING, AT(data),
     .flags = DR_OPT_RESUMABLE,
     .help = "data set folder (IDX, CIFAR-10 binary, SVHN .mat, or\n"
             "train/ and test/ image folders) (default: " DR_DEFAULT_DATA ")"},
    {.name = "epochs", .short_name = 'e', .arg = "N", .key = "epochs", .type = DR_OPT_INT, AT(epochs), IN(1, 1000000),
     .flags = DR_OPT_RESUMABLE, .help = "total epochs"},
    {.name = "batch", .short_name = 'b', .arg = "N", .key = "batch", .type = DR_OPT_INT, AT(batch), IN(1, 65536),
     .help = "mini-batch size"},
    {.name = "out", .short_name = 'o', .arg = "DIR", .type = DR_OPT_STRING, AT(out), .flags = DR_OPT_RESUMABLE,
     .help = "run folder (default: runs/<model>; dorefa sweep: runs/sweep-<model>)"},
    {.name = "configs", .arg = "LIST", .type = DR_OPT_STRING, AT(configs), .flags = DR_OPT_SWEEP,
     .help = "W,A,G triples separated by ';', one run each (default: the grid\n"
             "32,32,32;1,2,32;1,2,4;1,1,4;1,2,8;2,2,4;1,4,4)"},
    {.name = "bits", .arg = "W,A,G", .key = "bits", .type = DR_OPT_BITS, AT(bits),
     .help = "bitwidths of weights, activations, gradients: 1..8, 32 = float\n"
             "(default: the model file's bits=, else 32,32,32)"},
    {.name = "schedule", .arg = "STAGES", .key = "schedule", .type = DR_OPT_STRING, AT(schedule), .set = set_schedule,
     .help = "progressive quantization: stages 'W,A,G:EPOCHS;...', each\n"
             "starting from the previous stage's weights (fresh optimizer\n"
             "moments), e.g. '1,32,32:3;1,2,4:3' (weights first, then\n"
             "activations) or '8,8,8:2;4,4,4:2;2,2,4:2'; RUN/stageK.ckpt\n"
             "after each stage; replaces --bits and --epochs"},
    {.name = "stochastic-precision", .arg = "R0,RAMP", .type = DR_OPT_STRING, .set = set_precision,
     .help = "each step quantizes every quantizable layer with probability\n"
             "r, rising linearly from R0 to 1 over RAMP epochs; evaluation\n"
             "is fully quantized (e.g. 0.5,3)"},
    {.key = "sp_start", .type = DR_OPT_FLOAT, AT(sp_start), IN(-1, 1)},
    {.key = "sp_ramp", .type = DR_OPT_FLOAT, AT(sp_ramp), IN(0, 1e6)},
    {.name = "guide", .arg = "MODEL", .key = "guide", .type = DR_OPT_STRING, AT(guide),
     .help = "guided training: train a full-precision MODEL (any model file\n"
             "with the same input and classes, e.g. the same one) beside\n"
             "this network; each adds a distillation term toward the other's\n"
             "softened outputs (RUN/guide.ckpt holds the partner)"},
    {.name = "guide-temperature", .arg = "T", .key = "guide_t", .type = DR_OPT_FLOAT, AT(guide_T), IN(0.01, 100),
     .help = "softening temperature"},
    {.name = "guide-weights", .arg = "L,F", .type = DR_OPT_STRING, .set = set_guide_weights,
     .help = "weights of the distillation term in the low-bitwidth and the\n"
             "full-precision network's loss (default: 1,1)"},
    {.key = "guide_w_low", .type = DR_OPT_FLOAT, AT(guide_w_low), IN(0, 1000)},
    {.key = "guide_w_full", .type = DR_OPT_FLOAT, AT(guide_w_full), IN(0, 1000)},
    {.name = "hint", .arg = "LOW[:FULL]", .key = "hint", .type = DR_OPT_STRING, AT(hint), .set = set_hint,
     .help = "also pull the output of layer LOW toward the partner's layer\n"
             "FULL (default: the same name) by an L2 term, and back"},
    {.name = "hint-weight", .arg = "X", .key = "hint_w", .type = DR_OPT_FLOAT, AT(hint_w), IN(0, 1e6),
     .help = "weight of the hint term"},
    {.name = "quantize-first", .key = "quantize_first", .type = DR_OPT_FLAG, AT(bits.quantize_first),
     .help = "quantize the first layer's weights too (paper Table 3)"},
    {.name = "quantize-last", .key = "quantize_last", .type = DR_OPT_FLAG, AT(bits.quantize_last),
     .help = "quantize the last layer's weights too (paper Table 3)"},
    {.name = "kernels", .arg = "K", .key = "kernels", .type = DR_OPT_CHOICE, AT(float_kernels), .choices = KERNELS,
     .help = "bit: quantized layers compute with bit-serial integer kernels\n"
             "(default); float: simulate them with float products"},
    {.name = "bounded-act", .arg = "H", .key = "bounded_act", .type = DR_OPT_ACT, AT(bounded_act),
     .set = set_bounded_act,
     .help = "h for the model's cabs/crelu layers: cabs = min(1,|x|),\n"
             "crelu = min(1,max(0,x)) (default: as in the model file)"},
    {.name = "bn", .arg = "S", .key = "bn", .type = DR_OPT_CHOICE, AT(bn_local), .choices = BN_STATS,
     .help = "under mpirun: global: batch norm's statistics over the global batch\n"
             "(default, as one process); local: each rank's own part (PyTorch DDP)"},
    {.name = "exchange-bits", .arg = "K", .key = "exchange_bits", .type = DR_OPT_INT, AT(exchange_bits), IN(0, 8),
     .help = "under mpirun: send weight gradients as K-bit codes (1..8) with error\n"
             "feedback; 0: as floats (default)"},
    {.name = "histograms", .arg = "E,E..", .key = "histograms", .type = DR_OPT_STRING, AT(histograms),
     .set = set_histograms, .flags = DR_OPT_RESUMABLE,
     .help = "after these epochs write per-layer histograms of weights,\n"
             "activations and gradients (RUN/histograms/*.json, *.svg)"},
    {.name = "seed", .arg = "N", .key = "seed", .type = DR_OPT_U64, AT(seed), IN(0, 0x7fffffff),
     .help = "random seed; the same seed gives the same run"},
    {.name = "optimizer", .arg = "NAME", .key = "optimizer", .type = DR_OPT_CHOICE, AT(optim.kind),
     .choices = OPTIMIZERS, .help = "adam or sgd"},
    {.name = "lr", .arg = "X", .key = "lr", .type = DR_OPT_FLOAT, AT(optim.lr), IN(0, 100), .help = "learning rate"},
    {.key = "beta1", .type = DR_OPT_FLOAT, AT(optim.beta1), IN(0, 1)},
    {.key = "beta2", .type = DR_OPT_FLOAT, AT(optim.beta2), IN(0, 1)},
    {.name = "adam-eps", .arg = "X", .key = "adam_eps", .type = DR_OPT_FLOAT, AT(optim.eps), IN(0, 1),
     .help = "Adam epsilon (default: 1e-5, as tensorpack)"},
    {.name = "momentum", .arg = "X", .key = "momentum", .type = DR_OPT_FLOAT, AT(optim.momentum), IN(0, 1),
     .help = "SGD momentum"},
    {.name = "lr-decay", .arg = "X", .key = "lr_decay", .type = DR_OPT_FLOAT, AT(optim.lr_decay), IN(0, 1),
     .flags = DR_OPT_RESUMABLE, .help = "multiply the learning rate by X ..."},
    {.name = "lr-decay-every", .arg = "N", .key = "lr_decay_every", .type = DR_OPT_INT, AT(optim.lr_decay_every),
     IN(1, 1000000), .flags = DR_OPT_RESUMABLE, .help = "... every N epochs (staircase; default: never)"},
    {.name = "weight-decay", .arg = "X", .key = "weight_decay", .type = DR_OPT_FLOAT, AT(optim.weight_decay), IN(0, 1),
     .help = "L2 on weights of layers without l2= in the model"},
    {.name = "brightness", .arg = "X", .key = "brightness", .type = DR_OPT_FLOAT, AT(aug.brightness), IN(0, 255),
     .help = "augmentation: add U(-X, X) to pixels (0..255)"},
    {.name = "contrast", .arg = "LO,HI", .type = DR_OPT_STRING, .set = set_contrast,
     .help = "augmentation: scale contrast by U(LO, HI)"},
    {.key = "contrast_lo", .type = DR_OPT_FLOAT, AT(aug.contrast_lo), IN(0, 1e3)},
    {.key = "contrast_hi", .type = DR_OPT_FLOAT, AT(aug.contrast_hi), IN(0, 1e3)},
    {.name = "svhn-augment", .type = DR_OPT_FLAG, .set = set_svhn_augment,
     .help = "the SVHN recipe: --brightness 30 --contrast 0.5,1.5"},
    {.name = "flip", .key = "flip", .type = DR_OPT_FLAG, AT(aug.flip), .help = "augmentation: random horizontal flips"},
    {.name = "crop-pad", .arg = "N", .key = "crop_pad", .type = DR_OPT_INT, AT(aug.crop_pad), IN(0, 64),
     .help = "augmentation: random crops after padding by N pixels"},
    {.name = "svhn-extra", .key = "svhn_extra", .type = DR_OPT_FLAG, AT(svhn_extra),
     .help = "add SVHN's extra_32x32.mat to the training set"},
    {.name = "limit-train", .arg = "N", .key = "limit_train", .type = DR_OPT_INT, AT(limit_train), IN(1, BIG),
     .help = "use only the first N training images (default: all)"},
    {.name = "limit-test", .arg = "N", .key = "limit_test", .type = DR_OPT_INT, AT(limit_test), IN(1, BIG),
     .help = "use only the first N test images (default: all)"},
    {.name = "checkpoint-every", .arg = "STEPS", .key = "checkpoint_every", .type = DR_OPT_INT,
     AT(checkpoint_every), IN(1, BIG), .flags = DR_OPT_RESUMABLE,
     .help = "also save RUN/last.ckpt every STEPS optimizer steps within an epoch;\n"
             "--resume continues from there exactly (default: at epoch ends)"},
    {.name = "until-step", .arg = "N", .type = DR_OPT_U64, AT(until_step), IN(1, 1e18), .flags = DR_OPT_RESUMABLE,
     .help = "stop once N optimizer steps are done in all, with RUN/last.ckpt saved\n"
             "there (mid-epoch if need be); --resume goes on exactly"},
    {.name = "resume", .arg = "CKPT", .type = DR_OPT_STRING, AT(resume), .flags = DR_OPT_RESUMABLE,
     .help = "continue a run from its checkpoint (its settings are kept;\n"
             "the options marked * may change, the learning-rate decay only\n"
             "if the epochs already trained keep their rates)"},
    {.name = "threads", .arg = "N", .type = DR_OPT_INT, AT(threads), IN(0, 1024), .flags = DR_OPT_RESUMABLE,
     .help = "worker threads (default: all cores)"},
    {.name = "quiet", .short_name = 'q', .type = DR_OPT_FLAG, AT(quiet), .flags = DR_OPT_RESUMABLE,
     .help = "no progress output"},
    {.name = "help", .short_name = 'h', .type = DR_OPT_HELP, .help = "this help"},
    /* progress, stored only */
    {.key = "epoch", .type = DR_OPT_INT, AT(epoch), IN(0, BIG)},
    {.key = "step", .type = DR_OPT_U64, AT(step), IN(0, 1e19)},
    {.key = "best_acc", .type = DR_OPT_FLOAT, AT(best_acc), IN(-1, 1)},
    {.key = "best_epoch", .type = DR_OPT_INT, AT(best_epoch), IN(0, BIG)},
    {.key = "epoch_batches", .type = DR_OPT_INT, AT(epoch_batches), IN(0, BIG)},
    {.key = "epoch_wrong", .type = DR_OPT_INT, AT(epoch_wrong), IN(0, BIG)},
    {.key = "epoch_loss", .type = DR_OPT_DOUBLE, AT(epoch_loss), IN(0, 1e300)},
    {.key = "guide_kd", .type = DR_OPT_DOUBLE, AT(guide_kd), IN(-1e300, 1e300)},
    {.key = "guide_hint", .type = DR_OPT_DOUBLE, AT(guide_hint), IN(0, 1e300)},
    {.key = "guide_loss", .type = DR_OPT_DOUBLE, AT(guide_loss), IN(0, 1e300)},
};
const int dr_train_option_count = (int)(sizeof dr_train_options / sizeof dr_train_options[0]);

const dr_option *dr_train_option_find(const char *name)
{
    for (int i = 0; i < dr_train_option_count; i++) {
        const dr_option *o = &dr_train_options[i];
        if ((o->name && !strcmp(o->name, name)) || (!o->name && o->key && !strcmp(o->key, name))) return o;
    }
    return NULL;
}

/* ---- values ----------------------------------------------------------------------- */

static void *field(const dr_option *o, dr_train_config *c) { return (char *)c + o->offset; }
static const void *cfield(const dr_option *o, const dr_train_config *c) { return (const char *)c + o->offset; }

/* Strings in the stored form: '%' and every byte that would end a value
 * (blanks, '=', controls) or is not ASCII as %XX, so any path round-trips;
 * "-" stands for the empty string. */
static void escape(const char *s, char *buf, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    if (!*s) s = "-";
    for (; *s && n + 4 < cap; s++) {
        const unsigned char ch = (unsigned char)*s;
        if (ch <= ' ' || ch >= 0x7f || ch == '%' || ch == '=') {
            buf[n++] = '%', buf[n++] = hex[ch >> 4], buf[n++] = hex[ch & 15];
        } else {
            buf[n++] = (char)ch;
        }
    }
    buf[n] = 0;
}

static int hexval(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

void dr_unescape(const char *s, char *buf, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 1 < cap; s++) {
        int hi, lo;
        if (*s == '%' && (hi = hexval(s[1])) >= 0 && (lo = hexval(s[2])) >= 0) {
            buf[n++] = (char)(hi << 4 | lo);
            s += 2;
        } else {
            buf[n++] = *s;
        }
    }
    buf[n] = 0;
}

/* The value's text in the stored form (and in the help's defaults). */
static void format_value(const dr_option *o, const dr_train_config *c, char *buf, size_t cap)
{
    const void *p = cfield(o, c);
    switch (o->type) {
    case DR_OPT_INT:
    case DR_OPT_FLAG: snprintf(buf, cap, "%d", *(const int *)p); break;
    case DR_OPT_U64: snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)p); break;
    case DR_OPT_FLOAT: snprintf(buf, cap, "%.9g", *(const float *)p); break;
    case DR_OPT_DOUBLE: snprintf(buf, cap, "%.17g", *(const double *)p); break;
    case DR_OPT_STRING: escape(p, buf, cap); break;
    case DR_OPT_CHOICE: snprintf(buf, cap, "%s", o->choices[*(const int *)p]); break;
    case DR_OPT_BITS: {
        const dr_bits *b = p;
        snprintf(buf, cap, "%d,%d,%d", b->w, b->a, b->g);
        break;
    }
    case DR_OPT_ACT: snprintf(buf, cap, "%s", dr_act_name(*(const int *)p)); break;
    default: snprintf(buf, cap, "-");
    }
}

/* Reads text into the field: numbers within [min, max] or equal to the
 * default; stored says which form (stored floats read with strtof, the
 * command line's with strtod, as each always has). what names the value. */
static int parse_value(const dr_option *o, dr_train_config *c, const char *text, int stored, const char *what)
{
    const char *sep = stored ? "" : " "; /* "--epochs x" on the command line, "epochs=x" stored */
    void *p = field(o, c);
    dr_train_config def;
    dr_train_config_defaults(&def);
    const void *d = cfield(o, &def);
    char *end;
    errno = 0;
    switch (o->type) {
    case DR_OPT_INT: {
        const long v = strtol(text, &end, 10);
        if (!*text || *end || errno || ((v < o->min || v > o->max) && v != *(const int *)d))
            return dr_fail("%s%s%s: expected an integer in [%.0f, %.0f]", what, sep, text, o->min, o->max);
        *(int *)p = (int)v;
        return 0;
    }
    case DR_OPT_U64: {
        const unsigned long long v = strtoull(text, &end, 10);
        if (!*text || *text == '-' || *end || errno || ((v < o->min || (double)v > o->max) && v != *(const uint64_t *)d))
            return dr_fail("%s%s%s: expected an integer in [%.0f, %.0f]", what, sep, text, o->min, o->max);
        *(uint64_t *)p = v;
        return 0;
    }
    case DR_OPT_FLOAT: {
        const float v = stored ? strtof(text, &end) : (float)strtod(text, &end);
        const double check = stored ? v : strtod(text, NULL);
        if (!*text || *end || errno || check != check || (!(check >= o->min && check <= o->max) && v != *(const float *)d))
            return dr_fail("%s%s%s: expected a number in [%g, %g]", what, sep, text, o->min, o->max);
        *(float *)p = v;
        return 0;
    }
    case DR_OPT_DOUBLE: {
        const double v = strtod(text, &end);
        if (!*text || *end || !(v >= o->min && v <= o->max))
            return dr_fail("%s%s%s: expected a number in [%g, %g]", what, sep, text, o->min, o->max);
        *(double *)p = v;
        return 0;
    }
    case DR_OPT_STRING: {
        char plain[1100];
        if (stored) dr_unescape(strcmp(text, "-") ? text : "", plain, sizeof plain);
        else snprintf(plain, sizeof plain, "%s", text);
        if (strlen(plain) >= o->size) return dr_fail("%s%s%s: too long", what, sep, text);
        snprintf(p, o->size, "%s", plain);
        return 0;
    }
    case DR_OPT_FLAG:
        if (strcmp(text, "0") && strcmp(text, "1")) return dr_fail("%s%s%s: expected 0 or 1", what, sep, text);
        *(int *)p = text[0] == '1';
        return 0;
    case DR_OPT_CHOICE:
        for (int i = 0; o->choices[i]; i++)
            if (!strcmp(o->choices[i], text)) {
                *(int *)p = i;
                return 0;
            }
        return dr_fail("%s%s%s: expected %s or %s", what, sep, text, o->choices[0], o->choices[1]);
    case DR_OPT_BITS: {
        dr_bits *b = p;
        if (stored && !strcmp(text, "0,0,0")) {
            b->w = b->a = b->g = 0;
            return 0;
        }
        dr_bits v = *b;
        if (dr_bits_parse(text, &v)) return dr_fail("%s%s%s: expected W,A,G, each 1..8 or 32", what, sep, text);
        b->w = v.w, b->a = v.a, b->g = v.g;
        return 0;
    }
    case DR_OPT_ACT: {
        const int fn = stored && !strcmp(text, "-") ? -1 : dr_act_parse_name(text);
        if (fn != -1 && fn != DR_ACT_CABS && fn != DR_ACT_CRELU)
            return dr_fail("%s%s%s: expected cabs or crelu", what, sep, text);
        *(int *)p = fn;
        return 0;
    }
    default: return dr_fail("%s: takes no value", what);
    }
}

int dr_train_option_set(const dr_option *o, dr_train_config *c, const char *arg)
{
    char what[64];
    snprintf(what, sizeof what, "--%s", o->name ? o->name : o->key);
    if (o->set) return o->set(c, arg);
    if (o->type == DR_OPT_FLAG) return *(int *)field(o, c) = 1, 0;
    return parse_value(o, c, arg, 0, what);
}

void dr_train_option_copy(const dr_option *o, dr_train_config *to, const dr_train_config *from)
{
    if (o->size) memcpy(field(o, to), cfield(o, from), o->size);
}

/* ---- the stored form ------------------------------------------------------------------ */

void dr_train_config_format(const dr_train_config *c, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < dr_train_option_count && len < cap; i++) {
        const dr_option *o = &dr_train_options[i];
        if (!o->key) continue;
        char v[3 * 1024 + 4];
        format_value(o, c, v, sizeof v);
        len += (size_t)snprintf(buf + len, cap - len, "%s%s=%s", len ? " " : "", o->key, v);
    }
}

int dr_train_config_parse(const char *text, const char *origin, dr_train_config *c)
{
    dr_train_config_defaults(c);
    c->model[0] = c->data[0] = 0; /* absent: unknown */
    dr_kv kv;
    if (dr_kv_parse(&kv, text, origin, 1)) return -1;
    for (int i = 0; i < dr_train_option_count; i++) {
        const dr_option *o = &dr_train_options[i];
        const char *v;
        if (!o->key || (dr_kv_str(&kv, o->key, NULL, &v), !v)) continue;
        char what[600];
        snprintf(what, sizeof what, "%s: %s=", origin, o->key);
        if (parse_value(o, c, v, 1, what)) return -1;
    }
    return 0;
}

/* ---- usage ------------------------------------------------------------------------------- */

void dr_train_options_usage(FILE *f, int sweep)
{
    dr_train_config def;
    dr_train_config_defaults(&def);
    for (int i = 0; i < dr_train_option_count; i++) {
        const dr_option *o = &dr_train_options[i];
        if (!o->name || ((o->flags & DR_OPT_SWEEP) && !sweep)) continue;
        char left[64], help[700];
        const int star = (o->flags & DR_OPT_RESUMABLE) && strcmp(o->name, "resume"); /* may change on resuming */
        snprintf(left, sizeof left, "%c %c%c%c --%s%s%s", star ? '*' : ' ', o->short_name ? '-' : ' ',
                 o->short_name ? o->short_name : ' ', o->short_name ? ',' : ' ', o->name, o->arg ? " " : "",
                 o->arg ? o->arg : "");
        snprintf(help, sizeof help, "%s", o->help);
        const int numeric = o->type == DR_OPT_INT || o->type == DR_OPT_U64 || o->type == DR_OPT_FLOAT ||
                            o->type == DR_OPT_CHOICE;
        if (numeric && o->size && !o->set && !strstr(help, "default")) {
            char v[64];
            format_value(o, &def, v, sizeof v);
            if (o->type == DR_OPT_FLOAT) snprintf(v, sizeof v, "%g", *(const float *)cfield(o, &def));
            size_t l = strlen(help);
            snprintf(help + l, sizeof help - l, " (default: %s)", v);
        }
        if (strlen(left) > 25) fprintf(f, "%s\n%27s", left, ""); /* a long option: its help on the next line */
        else fprintf(f, "%-27s", left);
        for (const char *p = help; *p;) {
            const char *nl = strchr(p, '\n');
            const int n = nl ? (int)(nl - p) : (int)strlen(p);
            fprintf(f, "%.*s\n", n, p);
            p += n;
            if (*p) p++, fprintf(f, "%27s", "");
        }
    }
}

/* ---- resuming -------------------------------------------------------------------------- */

int dr_train_config_resumed(const dr_train_config *stored, const dr_train_config *run, const char *const *given,
                            const char *origin, dr_train_config *cfg)
{
    *cfg = *stored;
    for (int i = 0; i < dr_train_option_count; i++) {
        const dr_option *o = &dr_train_options[i];
        if (!o->key) dr_train_option_copy(o, cfg, run);
        else if (given[i] && (o->flags & DR_OPT_RESUMABLE) && dr_train_option_set(o, cfg, o->arg ? given[i] : NULL))
            return -1;
    }
    for (int e = 0; e < stored->epoch; e++)
        if (dr_optim_lr(&cfg->optim, e) != dr_optim_lr(&stored->optim, e))
            return dr_fail("%s: the new learning-rate decay changes the rate of epoch %d, already trained (%g, was %g)",
                           origin, e + 1, dr_optim_lr(&cfg->optim, e), dr_optim_lr(&stored->optim, e));
    return 0;
}
