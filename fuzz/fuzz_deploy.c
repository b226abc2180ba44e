/* A deployment file through the public API: dorefa_load, then a prediction
 * of two images. */
#include <stdlib.h>

#include "../include/dorefa.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    const char *path = fz_file_with_crc("x.dorefa", data, size);
    dorefa_model *m;
    if (dorefa_load(path, 2, &m) != DOREFA_OK) return 0;
    int h, w, c;
    dorefa_input_shape(m, &h, &w, &c);
    float *x = calloc(2 * (size_t)h * w * c, sizeof(float)), *p = calloc(2 * (size_t)dorefa_classes(m), sizeof(float));
    for (size_t i = 0; i < 2 * (size_t)h * w * c; i++) x[i] = (float)(i * 7 % 256);
    if (dorefa_predict(m, x, 2, p) != DOREFA_OK) abort();
    free(x), free(p);
    dorefa_free(m);
    return 0;
}
