/* An image folder (train/ and test/, one class) holding the input as its one
 * PNG or JPEG image, read and resized to a model's input as training does. */
#include <stdio.h>

#include "data/dataset.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    const int jpeg = size >= 2 && data[0] == 0xFF && data[1] == 0xD8;
    fz_file(jpeg ? "img/train/a/x.jpg" : "img/train/a/x.png", data, size);
    fz_file(jpeg ? "img/test/a/x.jpg" : "img/test/a/x.png", data, size);
    remove(fz_path(jpeg ? "img/train/a/x.png" : "img/train/a/x.jpg"));
    remove(fz_path(jpeg ? "img/test/a/x.png" : "img/test/a/x.jpg"));
    dr_dataset ds;
    dr_open_options opt = {.h = 12, .w = 12};
    if (dr_dataset_open(fz_path("img"), DR_SPLIT_TRAIN, &opt, &ds) == 0) {
        dr_dataset_resize(&ds, 16, 16);
        dr_dataset_free(&ds);
    }
    return 0;
}
