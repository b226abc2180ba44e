/* dorefa eval --save-outputs / --compare-outputs: each image's class
 * probabilities written as text on one machine and compared on another (a
 * deployment file on aarch64 against the same file on x86, a new build
 * against an old one). The file: a header line
 *   dorefa-outputs IMAGES CLASSES
 * then per image its label, the class given and the CLASSES probabilities
 * (%.9g: a float read back is the float written). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/common.h"

int cli_save_outputs(const char *path, int n, int classes, const int *labels, const int *pred, const float *p)
{
    FILE *f = fopen(path, "w");
    if (!f) return dr_fail("%s: cannot write: %s", path, strerror(errno));
    fprintf(f, "dorefa-outputs %d %d\n", n, classes);
    for (int i = 0; i < n; i++) {
        fprintf(f, "%d %d", labels[i], pred[i]);
        for (int c = 0; c < classes; c++) fprintf(f, " %.9g", p[(size_t)i * classes + c]);
        fputc('\n', f);
    }
    const int bad = ferror(f);
    if (fclose(f) || bad) return dr_fail("%s: write failed: %s", path, strerror(errno));
    return 0;
}

/* Reads one number of line `line`: -1 with the reason. */
static int read_value(FILE *f, const char *path, int line, const char *fmt, void *v)
{
    if (fscanf(f, fmt, v) == 1) return 0;
    return dr_fail("%s: line %d: %s", path, line, feof(f) ? "ends early" : "not a number");
}

int cli_compare_outputs(const char *path, int n, int classes, const int *labels, const int *pred, const float *p,
                        cli_output_diff *d)
{
    memset(d, 0, sizeof *d);
    FILE *f = fopen(path, "r");
    if (!f) return dr_fail("%s: cannot open: %s", path, strerror(errno));
    int fn = 0, fc = 0, rc = 0;
    if (fscanf(f, "dorefa-outputs %d %d", &fn, &fc) != 2) {
        rc = dr_fail("%s: not a file of 'dorefa eval --save-outputs' (no 'dorefa-outputs IMAGES CLASSES' line)", path);
        goto done;
    }
    if (fn != n || fc != classes) {
        rc = dr_fail("%s: %d images of %d classes, this run has %d of %d", path, fn, fc, n, classes);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        int label, cls;
        if (read_value(f, path, i + 2, "%d", &label) || read_value(f, path, i + 2, "%d", &cls)) {
            rc = -1;
            goto done;
        }
        if (label != labels[i]) {
            rc = dr_fail("%s: line %d: label %d, image %d's is %d: not the same images", path, i + 2, label, i, labels[i]);
            goto done;
        }
        d->same_class += cls == pred[i];
        double worst = 0;
        for (int c = 0; c < classes; c++) {
            float v;
            if (read_value(f, path, i + 2, "%f", &v)) {
                rc = -1;
                goto done;
            }
            const double diff = fabs((double)v - p[(size_t)i * classes + c]);
            worst = diff > worst ? diff : worst;
        }
        d->identical += worst == 0;
        if (worst > d->max_diff) d->max_diff = worst, d->worst_image = i;
    }
done:
    fclose(f);
    return rc;
}
