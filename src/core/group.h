/* The ranks of a data-parallel run, as the layers and the trainer see them.
 *
 * One process: no group (NULL). Under mpirun, src/dist makes one over MPI;
 * nothing outside src/dist calls MPI. Every collective gives all ranks the
 * same bits: sums are formed in rank order 0..size-1, never in the order
 * messages arrive, so a run is reproducible for its number of ranks. */
#ifndef DR_GROUP_H
#define DR_GROUP_H

#include <stddef.h>

typedef struct dr_group dr_group;
struct dr_group {
    int rank, size;
    /* v[0..n) <- the sum over ranks of every rank's v, in rank order. */
    void (*sum)(dr_group *g, double *v, int n);
    /* The backward pass has finished layer `layer`: its parameter gradients
     * are complete and may be sent (the gradient exchange, dist/exchange.c). */
    void (*grads_ready)(dr_group *g, int layer);
    void *impl;
};

/* Part r of `parts` of n items (a batch, a data set, a bucket) is the
 * contiguous range [dr_part_start(n, r, parts), dr_part_start(n, r + 1, parts)). */
static inline size_t dr_part_start(size_t n, int r, int parts) { return n * (size_t)r / (size_t)parts; }

static inline void dr_group_sum(dr_group *g, double *v, int n)
{
    if (g && g->size > 1) g->sum(g, v, n);
}

#endif
