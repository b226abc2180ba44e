/* What the MPI side of src/dist shares between its files. */
#ifndef DR_MPI_IMPL_H
#define DR_MPI_IMPL_H

#include <mpi.h>

#include "dist.h"

typedef struct {
    dr_group group;
    MPI_Comm world;     /* small sums, checks, broadcasts, evaluation            */
    MPI_Comm scatter;   /* the exchange's first phase (bucket parts to their owner) */
    MPI_Comm gather;    /* its second (summed parts to every rank)               */
    double timeout_s;   /* DOREFA_MPI_TIMEOUT: longest wait for the other ranks   */
    double sum_s;       /* time spent in the small sums (batch norm, step totals) */
    dr_exchange *exchange; /* armed by dr_exchange_begin: grads_ready goes to it  */
} dr_mpi;

static inline dr_mpi *dr_mpi_of(dr_group *g) { return (dr_mpi *)g->impl; }

/* Waits for n requests, polling (so that non-blocking collectives progress)
 * and ending the run if the other ranks stay silent for the timeout. */
void dr_mpi_wait(dr_mpi *m, MPI_Request *req, int n, const char *what);
/* The exchange's hook (exchange_mpi.c). */
void dr_exchange_grads_ready(dr_group *g, int layer);

#endif
