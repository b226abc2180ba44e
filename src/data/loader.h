/* Turning a data set into float batches: augmentation, scaling to [0,1)
 * (pixels / 256, as the SVHN recipe), and a background prefetch thread. */
#ifndef DR_LOADER_H
#define DR_LOADER_H

#include <stdint.h>

#include "dataset.h"

typedef struct {
    float brightness;          /* add U(-b, b) to every pixel (0..255 scale); 0: off */
    float contrast_lo, contrast_hi; /* scale around the image mean by U(lo, hi); 0: off */
    int flip;                  /* random horizontal flip                            */
    int crop_pad;              /* zero-pad by p pixels, then crop back at random    */
} dr_augment;

/* Fills x (n x h x w x c floats) and y with the images ds[idx[0..n)].
 * Augmentation draws from (seed, epoch, pos0 + i): the same sample at the same
 * position of the same epoch is always augmented the same way. aug may be NULL. */
void dr_batch_fill(const dr_dataset *ds, const uint32_t *idx, int n, const dr_augment *aug,
                   uint64_t seed, uint64_t epoch, uint64_t pos0, float *x, int *y);

typedef struct dr_loader dr_loader;

/* Starts producing the batches of one epoch in the background:
 * batch b holds order[b*batch .. ), for b from first_batch on. */
dr_loader *dr_loader_start(const dr_dataset *ds, const uint32_t *order, int count, int batch,
                           const dr_augment *aug, uint64_t seed, uint64_t epoch, int first_batch);
/* The same for data-parallel training: the batches are this process's part
 * `part` of each (of `parts`, contiguous: samples [nb part/parts, nb (part+1)/parts)
 * of a batch of nb), augmented as one process would augment them. */
dr_loader *dr_loader_start_part(const dr_dataset *ds, const uint32_t *order, int count, int batch,
                                const dr_augment *aug, uint64_t seed, uint64_t epoch, int first_batch,
                                int part, int parts);
/* Next batch (pointers valid until the next call); returns its size, 0 at the end. */
int dr_loader_next(dr_loader *L, const float **x, const int **y);
void dr_loader_stop(dr_loader *L);

#endif
