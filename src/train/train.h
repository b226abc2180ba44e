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
#include "../dist/dist.h"
#include "config.h"
#include "optim.h"
#include "schedule.h"

/* Resolves the bits of the run: the stage of a schedule the run is in (or
 * ended), else unset bits (w = 0) from the model file's default, else float. */
int dr_train_config_resolve_bits(dr_train_config *c, const dr_net *net);
/* Resolves the bits and applies them to the network, with the bounded
 * activation and the choice of bit kernels or float simulation. */
int dr_train_config_apply_bits(dr_train_config *c, dr_net *net);

/* A network restored from a checkpoint to resume: the bits its weights were
 * saved with (BITS) must be those its configuration gives, else the file is
 * damaged and resuming would be a different run. */
int dr_train_check_resumed(const dr_train_config *c, const dr_net *net, const char *path);

/* What a progress callback is told: after every optimizer step, and once
 * after each epoch's evaluation (end_of_epoch 1, test figures set). */
typedef struct {
    int epoch, epochs;       /* the epoch (1-based) and the run's total           */
    long images_done, images; /* training images of this epoch done, and its size */
    uint64_t step;           /* optimizer steps taken                             */
    double train_loss, train_err; /* running means over the epoch so far         */
    double test_acc, test_loss;   /* end_of_epoch: on the test split (else 0)     */
    double images_per_s;
    int end_of_epoch;
} dr_train_progress;

typedef struct {
    dr_net *net;
    dr_optim opt;
    dr_train_config cfg;
    const dr_dataset *train, *test;
    const char *out_dir; /* run folder: metrics.jsonl, last.ckpt, best.ckpt; NULL: no files */
    struct dr_guide_s *guide; /* guided training's partner (NULL: none); saved as guide.ckpt */
    int quiet;
    double last_acc; /* test accuracy after the last epoch */
    int stopped;     /* the run stopped at cfg.until_step, before its last epoch ended */
    /* data-parallel training (NULL: one process): rank 0 alone prints and writes */
    dr_group *group;
    dr_exchange_stats exchange; /* after the run: what the gradient exchange cost */
    /* called after every step and epoch (NULL: none); nonzero stops the run
     * there, as --until-step does (a later dr_train goes on exactly) */
    int (*on_progress)(void *user, const dr_train_progress *p);
    void *progress_user;
} dr_trainer;

int dr_train(dr_trainer *t);

/* Reads a run's metrics.jsonl: epochs and test accuracies (up to cap); returns the count. */
int dr_metrics_read(const char *run_dir, double *epoch, double *test_acc, double *train_acc, int cap);

/* Accuracy and mean loss of the network in evaluation mode. */
void dr_evaluate(dr_net *net, const dr_dataset *ds, double *acc, double *loss);
/* The same split over the ranks of g (NULL: one process): each evaluates its part. */
void dr_evaluate_part(dr_net *net, const dr_dataset *ds, dr_group *g, double *acc, double *loss);

#endif
