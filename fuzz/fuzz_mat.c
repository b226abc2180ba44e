/* An SVHN .mat file (MATLAB 5.0, elements plain or zlib-compressed). */
#include "data/dataset.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    const char *path = fz_file("svhn.mat", data, size);
    dr_dataset ds;
    if (dr_svhn_load(path, &ds) == 0) dr_dataset_free(&ds);
    return 0;
}
