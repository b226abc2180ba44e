/* Example: classify raw images with a model from 'dorefa export'.
 *
 *   cc classify.c $(pkg-config --cflags --libs dorefa) -o classify
 *   ./classify model.dorefa image.raw...
 *
 * Each image file holds height x width x channels bytes (HWC), the model's
 * input size (printed when run without images). */
#include <dorefa.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL [IMAGE.raw...]\n", argv[0]);
        return 2;
    }
    dorefa_model *m;
    if (dorefa_load(argv[1], 1, &m) != DOREFA_OK) {
        fprintf(stderr, "%s\n", dorefa_last_error());
        return 1;
    }
    int h, w, c, classes = dorefa_classes(m);
    dorefa_input_shape(m, &h, &w, &c);
    printf("%s: dorefa %s, W,A,G = %s, input %dx%dx%d, %d classes\n", argv[1], dorefa_version(),
           dorefa_bits(m), h, w, c, classes);
    size_t size = (size_t)h * w * c;
    unsigned char *raw = malloc(size);
    float *x = malloc(size * sizeof(float)), *p = malloc((size_t)classes * sizeof(float));
    int rc = 0;
    for (int i = 2; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f || fread(raw, 1, size, f) != size) {
            fprintf(stderr, "%s: cannot read %zu bytes of pixels\n", argv[i], size);
            if (f) fclose(f);
            rc = 1;
            continue;
        }
        fclose(f);
        for (size_t j = 0; j < size; j++) x[j] = raw[j];
        if (dorefa_predict(m, x, 1, p) != DOREFA_OK) {
            fprintf(stderr, "%s\n", dorefa_last_error());
            rc = 1;
            break;
        }
        int best = 0;
        for (int k = 1; k < classes; k++)
            if (p[k] > p[best]) best = k;
        printf("%s: class %d %s (%.1f%%)\n", argv[i], best, dorefa_class_name(m, best), 100 * p[best]);
    }
    free(raw), free(x), free(p);
    dorefa_free(m);
    return rc;
}
