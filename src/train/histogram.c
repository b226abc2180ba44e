#include "histogram.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/common.h"
#include "../layers/linear.h"
#include "svg.h"

#define BINS 64

typedef struct {
    double lo, hi, count[BINS];
} hist;

static void fill(hist *h, const float *v, size_t n)
{
    h->lo = INFINITY, h->hi = -INFINITY;
    for (size_t i = 0; i < n; i++) h->lo = fmin(h->lo, v[i]), h->hi = fmax(h->hi, v[i]);
    if (!n) h->lo = h->hi = 0;
    if (h->hi <= h->lo) h->hi = h->lo + 1e-6;
    memset(h->count, 0, sizeof h->count);
    for (size_t i = 0; i < n; i++) {
        int b = (int)((v[i] - h->lo) / (h->hi - h->lo) * BINS);
        h->count[b < 0 ? 0 : b >= BINS ? BINS - 1 : b]++;
    }
}

static void json_hist(FILE *f, const char *key, const hist *h, int last)
{
    fprintf(f, "    \"%s\": {\"lo\": %.9g, \"hi\": %.9g, \"counts\": [", key, h->lo, h->hi);
    for (int b = 0; b < BINS; b++) fprintf(f, "%s%.0f", b ? ", " : "", h->count[b]);
    fprintf(f, "]}%s\n", last ? "" : ",");
}

int dr_histograms_write(dr_net *net, int n, const char *dir, int epoch)
{
    if (mkdir(dir, 0777) && errno != EEXIST)
        return dr_fail("%s: cannot create folder: %s", dir, strerror(errno));
    char path[1200];
    snprintf(path, sizeof path, "%s/epoch%d.json", dir, epoch);
    FILE *f = fopen(path, "w");
    if (!f) return dr_fail("%s: cannot write: %s", path, strerror(errno));
    fprintf(f, "{\"epoch\": %d, \"batch\": %d, \"layers\": [\n", epoch, n);
    int first = 1, rc = 0;
    for (int i = 0; i < net->n_layers && !rc; i++) {
        dr_layer *l = &net->layers[i];
        if (!(l->ops->roles & DR_ROLE_PRODUCTS)) continue;
        hist hw, ha, hg;
        fill(&hw, dr_linear_weights_used(l), l->params[0].size);
        fill(&ha, dr_input(l, &net->pass, 0), (size_t)n * dr_shape_size(l->in_shape));
        fill(&hg, dr_linear_output_grad(l, n), (size_t)n * dr_shape_size(l->out_shape));
        fprintf(f, "%s  {\"layer\": \"%s\", \"bits\": [%d, %d, %d],\n", first ? "" : ",\n", l->name,
                l->plan.wbits, l->plan.in_bits, l->plan.gbits);
        json_hist(f, "weights", &hw, 0);
        json_hist(f, "activations", &ha, 0);
        json_hist(f, "gradients", &hg, 1);
        fputs("  }", f);
        first = 0;
        char title[160], wt[64];
        snprintf(title, sizeof title, "layer %s, epoch %d", l->name, epoch);
        snprintf(wt, sizeof wt, l->plan.wbits < DR_FLOAT_BITS ? "weights (%d-bit)" : "weights (float)", l->plan.wbits);
        dr_hist_panel panels[3] = {
            {wt, hw.lo, hw.hi, BINS, hw.count, 0},
            {"input activations", ha.lo, ha.hi, BINS, ha.count, 0},
            {"output gradients", hg.lo, hg.hi, BINS, hg.count, 1},
        };
        snprintf(path, sizeof path, "%s/epoch%d-%s.svg", dir, epoch, l->name);
        rc = dr_svg_histograms(path, title, panels, 3);
    }
    fputs("\n]}\n", f);
    if (fclose(f) && !rc) rc = dr_fail("%s/epoch%d.json: write error", dir, epoch);
    return rc;
}
