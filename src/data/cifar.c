/* CIFAR-10 binary batches: records of 1 label byte + 3072 pixel bytes
 * (1024 R, 1024 G, 1024 B, row-major 32x32). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "dataset.h"

#define REC 3073

int dr_cifar_load(const char *const *paths, int n_paths, dr_dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    ds->h = ds->w = 32;
    ds->c = 3;
    ds->classes = 10;
    for (int f = 0; f < n_paths; f++) {
        size_t len;
        uint8_t *buf = (uint8_t *)dr_read_file(paths[f], &len);
        if (!buf) goto fail;
        if (len == 0 || len % REC) {
            dr_fail("%s: size %zu is not a whole number of %d-byte CIFAR-10 records%s", paths[f],
                    len, REC, len > REC ? " (truncated?)" : "");
            free(buf);
            goto fail;
        }
        int n = (int)(len / REC);
        ds->pixels = dr_xrealloc(ds->pixels, (size_t)(ds->n + n) * 3072);
        ds->labels = dr_xrealloc(ds->labels, sizeof(int) * (size_t)(ds->n + n));
        for (int i = 0; i < n; i++) {
            const uint8_t *r = buf + (size_t)i * REC;
            if (r[0] > 9) {
                dr_fail("%s: record %d has label %d (CIFAR-10 labels are 0..9)", paths[f], i, r[0]);
                free(buf);
                goto fail;
            }
            ds->labels[ds->n + i] = r[0];
            uint8_t *px = ds->pixels + (size_t)(ds->n + i) * 3072;
            for (int p = 0; p < 1024; p++)
                for (int c = 0; c < 3; c++) px[p * 3 + c] = r[1 + c * 1024 + p];
        }
        ds->n += n;
        free(buf);
    }
    snprintf(ds->source, sizeof ds->source, "%s%s", paths[0], n_paths > 1 ? " ..." : "");
    return 0;
fail:
    dr_dataset_free(ds);
    return -1;
}
