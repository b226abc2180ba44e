/* The training command's options and run, shared by 'dorefa train' and
 * 'dorefa sweep'; the options themselves are the table of train/config.h. */
#ifndef DR_TRAIN_CLI_H
#define DR_TRAIN_CLI_H

#include "train/config.h"

#define TRAIN_MAX_OPTIONS DR_MAX_TRAIN_OPTIONS

typedef struct {
    dr_train_config cfg;
    /* per entry of dr_train_options: its argument when given on the command
     * line ("" for an option without one), else NULL */
    const char *given[TRAIN_MAX_OPTIONS];
} train_args;

typedef struct {
    double last_acc, best_acc;
    int best_epoch, epochs;
} train_result;

void train_args_init(train_args *a);
/* The argument of option --name when given, else NULL. */
const char *train_given(const train_args *a, const char *name);
/* Parses the command line of 'dorefa CMD' (train or sweep; usage_head starts
 * its help). Returns -1 to go on, else the exit code (help printed, or a
 * usage error). */
int train_parse_args(const char *cmd, const char *usage_head, int argc, char **argv, train_args *a);
/* Trains (or resumes, when cfg.resume is set) as the arguments say; res (may
 * be NULL) receives the outcome. */
int train_execute(train_args *a, train_result *res);

#endif
