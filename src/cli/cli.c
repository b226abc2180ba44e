#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include <cblas.h>

#include "core/common.h"
#include "data/loader.h"
#include "deploy/deploy.h"
#include "dist/dist.h"
#include "model/net.h"

dr_group *cli_group;

int cli_error(void)
{
    if (cli_group) fprintf(stderr, "dorefa: rank %d: %s\n", cli_group->rank, dr_last_error());
    else fprintf(stderr, "dorefa: %s\n", dr_last_error());
    return EXIT_FAIL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "dorefa %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'dorefa %s --help')\n", cmd);
    va_end(ap);
    return EXIT_USAGE;
}

int cli_int(const char *cmd, const char *opt, const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < min || v > max) {
        cli_usage_error(cmd, "--%s %s: expected an integer in [%ld, %ld]", opt, s, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_float(const char *cmd, const char *opt, const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !(v >= min && v <= max)) {
        cli_usage_error(cmd, "--%s %s: expected a number in [%g, %g]", opt, s, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

void cli_set_threads(int n)
{
    if (n <= 0) n = omp_get_num_procs() / (cli_group ? dr_dist_local_ranks() : 1); /* ranks share the cores */
    if (n <= 0) n = 1;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int cli_load_split(const char *path, int split, int h, int w, int svhn_extra, int limit,
                   dr_dataset *ds)
{
    dr_open_options opt = {.svhn_extra = svhn_extra, .h = h, .w = w};
    if (dr_dataset_open(path, split, &opt, ds)) return -1;
    dr_dataset_truncate(ds, limit);
    if (dr_dataset_resize(ds, h, w)) {
        dr_dataset_free(ds);
        return -1;
    }
    return 0;
}

void cli_classify(dr_engine *e, dr_net *net, const dr_dataset *ds, int batch, int *pred, double *acc, double *loss,
                  float *out)
{
    const dr_net *shape = e ? dr_engine_net(e) : net;
    const int C = dr_net_classes(shape);
    float *x = dr_xalign(sizeof(float) * (size_t)batch * dr_shape_size(shape->input));
    float *probs = dr_xmalloc(sizeof(float) * (size_t)batch * C);
    int *y = dr_xmalloc(sizeof(int) * (size_t)batch);
    uint32_t *idx = dr_xmalloc(sizeof(uint32_t) * (size_t)batch);
    long correct = 0;
    double total = 0;
    for (int s = 0; s < ds->n; s += batch) {
        const int n = DR_MIN(batch, ds->n - s);
        for (int i = 0; i < n; i++) idx[i] = (uint32_t)(s + i);
        dr_batch_fill(ds, idx, n, NULL, 0, 0, 0, x, y);
        const float *p = probs;
        if (e) {
            dr_engine_run(e, x, n, probs);
        } else {
            dr_net_forward(net, x, y, n, 0);
            p = dr_net_output(net);
        }
        for (int i = 0; i < n; i++) {
            int best = 0;
            for (int c = 1; c < C; c++) best = p[i * C + c] > p[i * C + best] ? c : best;
            if (pred) pred[s + i] = best;
            if (out) memcpy(out + (size_t)(s + i) * C, p + (size_t)i * C, sizeof(float) * C);
            correct += best == y[i];
            total -= log(fmax(p[i * C + y[i]], 1e-30));
        }
    }
    *acc = (double)correct / DR_MAX(ds->n, 1), *loss = total / DR_MAX(ds->n, 1);
    free(x), free(probs), free(y), free(idx);
}
