/* The C API's latency at batch 1: p50 of dorefa_predict over repeated calls on
 * one image (for bench/python_overhead.sh, beside Python's Model.predict).
 *   predict_latency MODEL CALLS  ->  "c_api_p50_us X" */
#define _POSIX_C_SOURCE 199309L
#include <dorefa.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 3) return fprintf(stderr, "usage: %s MODEL CALLS\n", argv[0]), 2;
    dorefa_model *m;
    if (dorefa_load(argv[1], 1, &m)) return fprintf(stderr, "%s\n", dorefa_last_error()), 1;
    int h, w, c, n = atoi(argv[2]);
    dorefa_input_shape(m, &h, &w, &c);
    float *x = malloc(sizeof(float) * (size_t)h * w * c), p[1024];
    double *t = malloc(sizeof(double) * (size_t)n);
    for (int i = 0; i < h * w * c; i++) x[i] = (float)(i * 37 % 256);
    for (int i = 0; i < 20; i++) dorefa_predict(m, x, 1, p); /* warm-up */
    for (int i = 0; i < n; i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        dorefa_predict(m, x, 1, p);
        clock_gettime(CLOCK_MONOTONIC, &b);
        t[i] = (b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3;
    }
    qsort(t, (size_t)n, sizeof *t, cmp);
    printf("c_api_p50_us %.2f\n", t[n / 2]);
    dorefa_free(m);
    free(x), free(t);
    return 0;
}
