/* The configuration of a training run, and the one table of its options
 * (config.c): each entry names a field, its command-line option (--name, an
 * argument, a help line) and its key in the stored text form. The usage
 * text of 'dorefa train' and 'dorefa sweep', their parser, and the text
 * checkpoints keep ("key=value ...") all follow from that table. */
#ifndef DR_CONFIG_H
#define DR_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../data/loader.h"
#include "../quant/bits.h"
#include "optim.h"

/* Fashion-MNIST as Debian's dataset-fashion-mnist installs it. */
#define DR_DEFAULT_DATA "/usr/share/datasets/fashion-mnist"

typedef struct {
    char model[384], data[384]; /* as given on the command line (for the record) */
    int epochs, batch;
    uint64_t seed;
    dr_optim_config optim;
    dr_augment aug;
    int limit_train, limit_test, svhn_extra;
    dr_bits bits; /* w = 0: the model file's default bits (else 32,32,32) */
    int float_kernels;    /* 1: quantized layers simulate in float (--kernels float) */
    char histograms[128]; /* epochs after which to write histograms, "1,5,10"; "" none */
    char schedule[256];   /* progressive quantization "W,A,G:E;W,A,G:E..."; "" none */
    float sp_start, sp_ramp; /* stochastic precision: ratio from sp_start to 1 over sp_ramp
                              * epochs; sp_start < 0: off */
    char guide[384];      /* guided training: the full-precision partner's model; "" none */
    float guide_T, guide_w_low, guide_w_full; /* temperature; weights of the distillation terms */
    char hint[100];       /* "LOW[:FULL]" layers joined by the hint term; "" none */
    float hint_w;
    int bounded_act; /* DR_ACT_CABS or DR_ACT_CRELU for every cabs/crelu layer; -1: as the file */
    int checkpoint_every; /* optimizer steps between mid-epoch saves of last.ckpt; 0: at epoch ends only */
    int bn_local;         /* data-parallel: 1 batch norm over each rank's part, 0 over the global batch */
    int exchange_bits;    /* data-parallel: gradients sent as K-bit codes; 0: as floats */
    /* progress */
    int epoch;     /* epochs completed */
    uint64_t step; /* optimizer steps taken */
    float best_acc;
    int best_epoch;
    /* within the epoch a mid-epoch checkpoint was saved in (epoch_batches 0: at its start) */
    int epoch_batches, epoch_wrong;   /* batches done, training images misclassified so far */
    double epoch_loss;                /* sum of their losses */
    double guide_kd, guide_hint, guide_loss; /* guided training's sums so far */
    /* the run, not stored: where it goes and how it shows */
    char out[1024];    /* run folder; "" the default */
    char resume[1024]; /* checkpoint to continue from; "" none */
    char configs[512]; /* dorefa sweep: the W,A,G list; "" its default grid */
    int threads;       /* 0: all cores */
    int quiet;
    uint64_t until_step; /* stop once this many optimizer steps are done, last.ckpt saved there; 0: run all */
} dr_train_config;

void dr_train_config_defaults(dr_train_config *c);
/* The stored form, "key=value ...": every entry of the table with a key,
 * strings escaped (%XX) so that any path round-trips. DR_CONFIG_TEXT_MAX
 * always holds it. */
#define DR_CONFIG_TEXT_MAX 16384
void dr_train_config_format(const dr_train_config *c, char *buf, size_t cap);
/* Reads the stored form over the defaults; origin names it in messages.
 * Keys it does not know are ignored (files of later versions). */
int dr_train_config_parse(const char *text, const char *origin, dr_train_config *c);

/* Decodes the %XX of the stored form (and of the training API's options). */
void dr_unescape(const char *s, char *buf, size_t cap);

/* The configuration of a resumed run: the stored one, the run's own settings
 * (the entries without a stored key: folder, threads, ...) from `run`, and
 * the resumable options given (given[i]: option i's argument, "" for a
 * flag, NULL when not given). The epochs already trained must keep their
 * learning rates; origin names the checkpoint in messages. */
int dr_train_config_resumed(const dr_train_config *stored, const dr_train_config *run, const char *const *given,
                            const char *origin, dr_train_config *cfg);

/* ---- the table ----------------------------------------------------------- */

enum {
    DR_OPT_INT,    /* int in [min, max]                                     */
    DR_OPT_U64,    /* uint64_t in [min, max]                                */
    DR_OPT_FLOAT,  /* float in [min, max]                                   */
    DR_OPT_DOUBLE, /* double, stored exactly (%.17g)                        */
    DR_OPT_STRING, /* char[size]; stored as "-" when empty                  */
    DR_OPT_FLAG,   /* int set to 1 by the option (no argument); stored 0/1  */
    DR_OPT_CHOICE, /* int index into choices, stored by name                */
    DR_OPT_BITS,   /* dr_bits w, a, g as "W,A,G"; stored 0,0,0 when unset   */
    DR_OPT_ACT,    /* a bounded activation (DR_ACT_*), stored by name or "-" */
    DR_OPT_HELP,   /* -h: the usage text                                    */
};

enum {
    DR_OPT_RESUMABLE = 1, /* may be given with --resume (the run's other settings stay) */
    DR_OPT_SWEEP = 2,     /* 'dorefa sweep' only                                         */
};

typedef struct dr_option {
    const char *name;     /* --name on the command line; NULL: stored only            */
    char short_name;      /* -x; 0: none                                               */
    const char *arg;      /* the argument in the help ("N", "W,A,G"); NULL: none      */
    const char *help;     /* help text; '\n' continues it on the next line            */
    const char *key;      /* key of the stored form; NULL: not stored                  */
    int type;             /* DR_OPT_* */
    size_t offset, size;  /* the field in dr_train_config                              */
    double min, max;      /* numbers: the range an option or a stored value must be in
                           * (the default value is always accepted)                     */
    const char *const *choices; /* DR_OPT_CHOICE: the names of the values 0, 1, ...     */
    /* The command line's reading of the argument, when it is not the type's (it may
     * set several fields); -1 with a message. */
    int (*set)(dr_train_config *c, const char *arg);
    unsigned flags; /* DR_OPT_RESUMABLE, DR_OPT_SWEEP */
} dr_option;

#define DR_MAX_TRAIN_OPTIONS 64 /* the table's size is checked against it */
extern const dr_option dr_train_options[];
extern const int dr_train_option_count;

/* The entry of --name (or of a stored-only key), NULL when none. */
const dr_option *dr_train_option_find(const char *name);
/* Sets the entry's field from a command-line argument (NULL for options that
 * take none); -1 with a message "--name ARG: expected ...". */
int dr_train_option_set(const dr_option *o, dr_train_config *c, const char *arg);
/* Copies the entry's field from one configuration to another. */
void dr_train_option_copy(const dr_option *o, dr_train_config *to, const dr_train_config *from);
/* Prints the options' help lines, aligned (sweep: with the sweep's own). */
void dr_train_options_usage(FILE *f, int sweep);

#endif
