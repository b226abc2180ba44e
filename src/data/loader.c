#include "loader.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../core/group.h"
#include "../core/rng.h"

static void augment_one(const uint8_t *src, int h, int w, int c, const dr_augment *aug,
                        dr_rng *rng, float *dst)
{
    const size_t sz = (size_t)h * w * c;
    int flip = aug && aug->flip && dr_rng_uniform(rng) < 0.5f;
    int dy = 0, dx = 0;
    if (aug && aug->crop_pad) {
        dy = (int)dr_rng_below(rng, 2 * aug->crop_pad + 1) - aug->crop_pad;
        dx = (int)dr_rng_below(rng, 2 * aug->crop_pad + 1) - aug->crop_pad;
    }
    for (int yy = 0; yy < h; yy++)
        for (int xx = 0; xx < w; xx++) {
            int sy = yy + dy, sx = (flip ? w - 1 - xx : xx) + dx;
            float *d = dst + ((size_t)yy * w + xx) * c;
            if (sy < 0 || sy >= h || sx < 0 || sx >= w)
                for (int k = 0; k < c; k++) d[k] = 0;
            else
                for (int k = 0; k < c; k++) d[k] = src[((size_t)sy * w + sx) * c + k];
        }
    if (aug && aug->brightness > 0) {
        float b = (2 * dr_rng_uniform(rng) - 1) * aug->brightness;
        for (size_t i = 0; i < sz; i++) dst[i] = fminf(255.f, fmaxf(0.f, dst[i] + b));
    }
    if (aug && aug->contrast_hi > 0) {
        float f = aug->contrast_lo + dr_rng_uniform(rng) * (aug->contrast_hi - aug->contrast_lo);
        double mean = 0;
        for (size_t i = 0; i < sz; i++) mean += dst[i];
        mean /= (double)sz;
        for (size_t i = 0; i < sz; i++)
            dst[i] = fminf(255.f, fmaxf(0.f, (float)((dst[i] - mean) * f + mean)));
    }
    for (size_t i = 0; i < sz; i++) dst[i] *= DR_PIXEL_SCALE;
}

void dr_batch_fill(const dr_dataset *ds, const uint32_t *idx, int n, const dr_augment *aug,
                   uint64_t seed, uint64_t epoch, uint64_t pos0, float *x, int *y)
{
    const size_t sz = (size_t)ds->h * ds->w * ds->c;
    for (int i = 0; i < n; i++) {
        dr_rng rng;
        dr_rng_seed(&rng, seed, DR_RNG_AUGMENT, epoch, pos0 + (uint64_t)i);
        augment_one(ds->pixels + idx[i] * sz, ds->h, ds->w, ds->c, aug, &rng, x + i * sz);
        y[i] = ds->labels[idx[i]];
    }
}

/* ---- background prefetch: two slots, one producer, one consumer ---------- */

struct dr_loader {
    const dr_dataset *ds;
    const uint32_t *order;
    int count, batch, n_batches, next_produce, next_consume;
    int part, parts; /* the part of every batch this process computes, of parts */
    dr_augment aug;
    int has_aug;
    uint64_t seed, epoch;
    float *x[2];
    int *y[2], size[2], ready[2], stop;
    int held; /* slot the consumer is reading, -1: none */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
};

static void *producer(void *arg)
{
    dr_loader *L = arg;
    for (;;) {
        pthread_mutex_lock(&L->mu);
        int b = L->next_produce, slot = b & 1;
        while (!L->stop && L->ready[slot]) pthread_cond_wait(&L->cv, &L->mu);
        int stop = L->stop || b >= L->n_batches;
        pthread_mutex_unlock(&L->mu);
        if (stop) return NULL;
        /* this process's part [lo, hi) of global batch b; augmentation keyed by the global position */
        int start = b * L->batch, nb = DR_MIN(L->batch, L->count - start);
        const int lo = (int)dr_part_start((size_t)nb, L->part, L->parts),
                  n = (int)dr_part_start((size_t)nb, L->part + 1, L->parts) - lo;
        dr_batch_fill(L->ds, L->order + start + lo, n, L->has_aug ? &L->aug : NULL, L->seed, L->epoch,
                      (uint64_t)(start + lo), L->x[slot], L->y[slot]);
        pthread_mutex_lock(&L->mu);
        L->size[slot] = n;
        L->ready[slot] = 1;
        L->next_produce = b + 1;
        pthread_cond_broadcast(&L->cv);
        pthread_mutex_unlock(&L->mu);
    }
}

dr_loader *dr_loader_start(const dr_dataset *ds, const uint32_t *order, int count, int batch,
                           const dr_augment *aug, uint64_t seed, uint64_t epoch, int first_batch)
{
    return dr_loader_start_part(ds, order, count, batch, aug, seed, epoch, first_batch, 0, 1);
}

dr_loader *dr_loader_start_part(const dr_dataset *ds, const uint32_t *order, int count, int batch,
                                const dr_augment *aug, uint64_t seed, uint64_t epoch, int first_batch,
                                int part, int parts)
{
    dr_loader *L = dr_xcalloc(1, sizeof *L);
    L->part = part;
    L->parts = parts;
    L->ds = ds;
    L->order = order;
    L->count = count;
    L->batch = batch;
    L->n_batches = (count + batch - 1) / batch;
    L->next_produce = L->next_consume = first_batch;
    L->held = -1;
    if (aug) L->aug = *aug, L->has_aug = 1;
    L->seed = seed;
    L->epoch = epoch;
    size_t sz = (size_t)batch * ds->h * ds->w * ds->c;
    for (int i = 0; i < 2; i++) {
        L->x[i] = dr_xalign(sz * sizeof(float));
        L->y[i] = dr_xmalloc(sizeof(int) * (size_t)batch);
    }
    pthread_mutex_init(&L->mu, NULL);
    pthread_cond_init(&L->cv, NULL);
    pthread_create(&L->thread, NULL, producer, L);
    return L;
}

int dr_loader_next(dr_loader *L, const float **x, const int **y)
{
    pthread_mutex_lock(&L->mu);
    if (L->held >= 0) { /* the consumer is done with the batch it held */
        L->ready[L->held] = 0;
        L->held = -1;
        pthread_cond_broadcast(&L->cv);
    }
    int b = L->next_consume;
    if (b >= L->n_batches) {
        pthread_mutex_unlock(&L->mu);
        return 0;
    }
    int slot = b & 1;
    while (!L->ready[slot]) pthread_cond_wait(&L->cv, &L->mu);
    L->next_consume = b + 1;
    L->held = slot;
    int n = L->size[slot];
    pthread_mutex_unlock(&L->mu);
    *x = L->x[slot];
    *y = L->y[slot];
    return n;
}

void dr_loader_stop(dr_loader *L)
{
    if (!L) return;
    pthread_mutex_lock(&L->mu);
    L->stop = 1;
    pthread_cond_broadcast(&L->cv);
    pthread_mutex_unlock(&L->mu);
    pthread_join(L->thread, NULL);
    for (int i = 0; i < 2; i++) {
        free(L->x[i]);
        free(L->y[i]);
    }
    pthread_mutex_destroy(&L->mu);
    pthread_cond_destroy(&L->cv);
    free(L);
}
