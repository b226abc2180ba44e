/* A CIFAR-10 binary folder holding the input as its test batch. */
#include "data/dataset.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    fz_file("cifar/test_batch.bin", data, size);
    dr_dataset ds;
    dr_open_options opt = {0};
    if (dr_dataset_open(fz_path("cifar"), DR_SPLIT_TEST, &opt, &ds) == 0) dr_dataset_free(&ds);
    return 0;
}
