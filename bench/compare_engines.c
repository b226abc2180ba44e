/* Two builds of the engine in one process: each library (libdorefa.so of
 * one build, at two different paths) loads the same exported model, and the
 * two are called in turn, in blocks, so that a busy or slowed machine slows
 * both alike; the p50 of each and their ratio, at batch BATCH.
 *   compare_engines OLD.so NEW.so MODEL BATCH ROUNDS
 * (bench/compare_engines.sh builds it and makes the model). Fails when the two
 * give different probabilities. */
#define _POSIX_C_SOURCE 199309L
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct dorefa_model dorefa_model;
typedef int (*load_fn)(const char *, int, dorefa_model **);
typedef int (*predict_fn)(dorefa_model *, const float *, int, float *);
typedef void (*shape_fn)(const dorefa_model *, int *, int *, int *);
typedef int (*classes_fn)(const dorefa_model *);

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 6) return fprintf(stderr, "usage: %s OLD.so NEW.so MODEL BATCH ROUNDS\n", argv[0]), 2;
    const int B = atoi(argv[4]), R = atoi(argv[5]), per = B >= 32 ? 2 : 50; /* calls per block */
    if (B < 1 || R < 1) return fprintf(stderr, "%s: BATCH and ROUNDS must be positive\n", argv[0]), 2;
    predict_fn predict[2];
    dorefa_model *m[2];
    int h = 0, w = 0, c = 0, classes = 0;
    for (int k = 0; k < 2; k++) {
        void *lib = dlopen(argv[1 + k], RTLD_NOW | RTLD_LOCAL);
        if (!lib) return fprintf(stderr, "%s\n", dlerror()), 1;
        load_fn load = (load_fn)dlsym(lib, "dorefa_load");
        predict[k] = (predict_fn)dlsym(lib, "dorefa_predict");
        shape_fn shape = (shape_fn)dlsym(lib, "dorefa_input_shape");
        classes_fn ncls = (classes_fn)dlsym(lib, "dorefa_classes");
        if (!load || !predict[k] || !shape || !ncls) return fprintf(stderr, "%s: not a dorefa library\n", argv[1 + k]), 1;
        if (load(argv[3], B, &m[k])) return fprintf(stderr, "%s: cannot load %s\n", argv[1 + k], argv[3]), 1;
        shape(m[k], &h, &w, &c);
        classes = ncls(m[k]);
    }
    const size_t in = (size_t)h * w * c;
    float *x = malloc(sizeof(float) * B * in), *p = malloc(sizeof(float) * B * classes),
          *q = malloc(sizeof(float) * B * classes);
    double *t[2] = {malloc(sizeof(double) * R * per), malloc(sizeof(double) * R * per)};
    for (size_t i = 0; i < B * in; i++) x[i] = (float)(i * 37 % 256);
    for (int i = 0; i < 20; i++) predict[0](m[0], x, B, p), predict[1](m[1], x, B, q); /* warm-up */
    if (memcmp(p, q, sizeof(float) * B * classes))
        return fprintf(stderr, "%s: the two builds give different probabilities\n", argv[0]), 1;
    int n[2] = {0, 0};
    for (int r = 0; r < R; r++)
        for (int j = 0; j < 2; j++) {
            const int k = r % 2 ? 1 - j : j; /* old, new, new, old, ... */
            for (int i = 0; i < per; i++) {
                const double t0 = now();
                predict[k](m[k], x, B, p);
                t[k][n[k]++] = now() - t0;
            }
        }
    for (int k = 0; k < 2; k++) qsort(t[k], (size_t)n[k], sizeof(double), cmp);
    const double a = t[0][n[0] / 2], b = t[1][n[1] / 2];
    printf("batch %d: old p50 %.1f us, new p50 %.1f us: new/old %.3f (%.0f -> %.0f images/s)\n", B, a * 1e6, b * 1e6,
           b / a, B / a, B / b);
    return 0;
}
