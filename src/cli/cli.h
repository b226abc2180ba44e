/* Shared pieces of the dorefa subcommands. */
#ifndef DR_CLI_H
#define DR_CLI_H

#include "core/group.h"
#include "data/dataset.h"
#include "train/config.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };


int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_infer(int argc, char **argv);
int bench_infer(int argc, char **argv);

/* Median of v[n] (sorts v). */
double dr_median(double *v, int n);

/* The ranks of a data-parallel 'dorefa train' under mpirun (NULL: one process). */
extern dr_group *cli_group;

/* Prints "dorefa: <last error>" (with the rank under mpirun) and returns EXIT_FAIL. */
int cli_error(void);
/* Prints "dorefa CMD: message" plus a --help hint and returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Strict number parsing of option values. */
int cli_int(const char *cmd, const char *opt, const char *s, long min, long max, long *out);
int cli_float(const char *cmd, const char *opt, const char *s, double min, double max, double *out);

/* Sets OpenMP and OpenBLAS threads (0: all cores, shared by the ranks on this machine). */
void cli_set_threads(int n);

/* Classes pred[ds->n] (may be NULL), accuracy and mean loss (-log p of the
 * label) of the images of ds run by an engine (e) or a network in evaluation
 * mode (net), in batches of at most `batch` (the runner's max_batch); probs
 * (may be NULL): the class probabilities [ds->n][classes]. */
struct dr_engine;
struct dr_net;
void cli_classify(struct dr_engine *e, struct dr_net *net, const dr_dataset *ds, int batch, int *pred, double *acc,
                  double *loss, float *probs);

/* Each image's label, class and class probabilities (probs[n][classes]) to a
 * text file (eval_outputs.c gives the format), and a run's against such a
 * file: on how many images the class is the same, how many give the same
 * probabilities bit for bit, the largest difference of one probability and
 * where. -1 with a message naming the file when it cannot be written or read,
 * or does not hold these images (sizes, labels). */
int cli_save_outputs(const char *path, int n, int classes, const int *labels, const int *pred, const float *probs);
typedef struct {
    long same_class, identical;
    double max_diff;
    int worst_image;
} cli_output_diff;
int cli_compare_outputs(const char *path, int n, int classes, const int *labels, const int *pred, const float *probs,
                        cli_output_diff *d);

/* Loads one split at the model's input size (h x w), keeping the first `limit` images. */
int cli_load_split(const char *path, int split, int h, int w, int svhn_extra, int limit,
                   dr_dataset *ds);

#endif
