/* IDX images and labels, plain or gzip-compressed: the input's first two bytes
 * say where the images file ends and the labels file begins. */
#include <stdio.h>

#include "data/dataset.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    if (size < 2) return 0;
    size_t cut = 2 + ((size_t)data[0] << 8 | data[1]);
    if (cut > size) cut = size;
    char img[512];
    snprintf(img, sizeof img, "%s", fz_file("images.idx", data + 2, cut - 2));
    const char *lbl = fz_file("labels.idx", data + cut, size - cut);
    dr_dataset ds;
    if (dr_idx_load(img, lbl, &ds) == 0) dr_dataset_free(&ds);
    return 0;
}
