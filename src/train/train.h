/* The training loop: shuffled mini-batches, optimizer steps, evaluation
 * after every epoch, progress on stderr, metrics and checkpoints in a run
 * folder. Deterministic under the seed, and resumable at epoch boundaries
 * with bit-identical results. */
#ifndef DR_TRAIN_H
#define DR_TRAIN_H

#include "../data/dataset.h"
#include "../data/loader.h"
#include "../model/net.h"
#include "../model/plan.h"
#include "optim.h"

typedef struct {
    char model[384], data[384]; /* as given on the command line (for the record) */
    int epochs, batch;
    uint64_t seed;
    int threads;
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
    /* progress */
    int epoch;     /* epochs completed */
    uint64_t step; /* optimizer steps taken */
    float best_acc;
    int best_epoch;
} dr_train_config;

void dr_train_config_defaults(dr_train_config *c);
/* "key=value ..." text, as stored in checkpoints. */
void dr_train_config_format(const dr_train_config *c, char *buf, size_t cap);
int dr_train_config_parse(const char *text, const char *origin, dr_train_config *c);
/* Progressive quantization (Zhuang et al.): stages of (bits, epochs), each
 * starting from the previous stage's weights. */
#define DR_MAX_STAGES 8
typedef struct {
    int n;
    dr_bits bits[DR_MAX_STAGES];
    int epochs[DR_MAX_STAGES];
} dr_schedule;

/* Parses "1,32,32:3;1,2,4:3" (scheme a: weights first) or "8,8,8:2;4,4,4:2;2,2,4:2"
 * (scheme b: falling bitwidths). */
int dr_schedule_parse(const char *text, dr_schedule *s);
/* Stage (0-based) that epoch (0-based) belongs to. */
int dr_schedule_stage(const dr_schedule *s, int epoch);
int dr_schedule_epochs(const dr_schedule *s);
/* First epoch (0-based) of a stage. */
int dr_schedule_stage_start(const dr_schedule *s, int stage);

/* Resolves the bits of the run: the stage of a schedule the run is in (or
 * ended), else unset bits (w = 0) from the model file's default, else float. */
int dr_train_config_resolve_bits(dr_train_config *c, const dr_net *net);
/* Resolves the bits and applies them to the network, with the bounded
 * activation and the choice of bit kernels or float simulation. */
int dr_train_config_apply_bits(dr_train_config *c, dr_net *net);

typedef struct {
    dr_net *net;
    dr_optim opt;
    dr_train_config cfg;
    const dr_dataset *train, *test;
    const char *out_dir; /* run folder: metrics.jsonl, last.ckpt, best.ckpt */
    struct dr_guide_s *guide; /* guided training's partner (NULL: none); saved as guide.ckpt */
    int quiet;
    double last_acc; /* test accuracy after the last epoch */
} dr_trainer;

int dr_train(dr_trainer *t);

/* Reads a run's metrics.jsonl: epochs and test accuracies (up to cap); returns the count. */
int dr_metrics_read(const char *run_dir, double *epoch, double *test_acc, double *train_acc, int cap);

/* Accuracy and mean loss of the network in evaluation mode. */
void dr_evaluate(dr_net *net, const dr_dataset *ds, double *acc, double *loss);

#endif
