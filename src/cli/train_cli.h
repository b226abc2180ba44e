/* The training command's options and run, shared by 'dorefa train' and 'dorefa sweep'. */
#ifndef DR_TRAIN_CLI_H
#define DR_TRAIN_CLI_H

#include "train/train.h"

typedef struct {
    dr_train_config cfg;
    const char *out, *resume, *data_arg, *hist_arg, *configs;
    int quiet, epochs_arg, bad_with_resume;
    int schedule_arg; /* 1: --lr-decay given, 2: --lr-decay-every given */
} train_args;

typedef struct {
    double last_acc, best_acc;
    int best_epoch, epochs;
} train_result;

void train_args_init(train_args *a);
/* Returns -1 to go on, else the exit code (help printed, or a usage error). */
int train_parse_args(const char *cmd, const char *usage, int argc, char **argv, train_args *a);
/* Trains (or resumes) as the arguments say; res (may be NULL) receives the outcome. */
int train_execute(train_args *a, train_result *res);

#endif
