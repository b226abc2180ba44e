/* Data-parallel training over MPI: the ranks (a dr_group, core/group.h) and
 * the gradient exchange. Only src/dist calls MPI; without MPI in the build
 * (or without mpirun) every function here says there is one process.
 *
 * One global batch of the single-process order is split over the ranks
 * (rank r computes its contiguous part, dr_part_start), every per-sample draw
 * is keyed by the global sample index, batch norm sums its statistics over
 * the ranks, and the parameter gradients are summed in buckets while the
 * backward pass runs, in rank order (see docs/distributed.md). */
#ifndef DR_DIST_H
#define DR_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "../core/group.h"
#include "../model/net.h"

/* 1: this process was started by mpirun (or another MPI launcher) with more than one rank. */
int dr_dist_launched(void);
/* 1: the build has MPI. */
int dr_dist_available(void);
/* Joins the run's ranks (MPI_Init) when launched by mpirun with more than one
 * rank; NULL otherwise (one process), or on failure with the error set. */
dr_group *dr_dist_start(int *argc, char ***argv);
/* Ranks of the run on this machine (for the default thread count); 1 without MPI. */
int dr_dist_local_ranks(void);
/* Leaves the run (MPI_Finalize) after an orderly end on every rank. */
void dr_dist_finish(dr_group *g);
/* Ends every rank at once (a failure this rank alone saw). Does not return. */
void dr_dist_abort(dr_group *g, int code);

/* 1 when every rank passes ok = 1. The ranks that failed have said why. */
int dr_dist_agree(dr_group *g, int ok);
/* Every rank gives n fingerprints (what[i] names fingerprint i for the
 * message); -1 with the error set on each rank whose value differs from
 * rank 0's, and on all ranks when any differs. */
int dr_dist_check_same(dr_group *g, const uint64_t *values, const char *const *what, int n);
/* bytes at buf from rank 0 to every rank. */
void dr_dist_broadcast(dr_group *g, void *buf, size_t bytes);

/* ---- the gradient exchange ------------------------------------------------------ */

typedef struct dr_exchange dr_exchange;

typedef struct {
    double bytes_sent;   /* payload this rank sent per step (mean)             */
    double wait_s;       /* per step: time blocked waiting after the backward   */
    double sync_s;       /* per step: time in the small sums (batch norm, totals; evaluation included) */
    double code_s;       /* per step: K-bit coding and decoding (--exchange-bits)                  */
    double steps;
    int buckets;
} dr_exchange_stats;

/* Buckets of about bucket_bytes over the gradient arena, last layers first.
 * bits 0: gradients sent as floats; 1..8: as bits-bit codes with one scale
 * per bucket part and error feedback (dist/exchange.c). overlap 0: nothing is
 * sent before the backward pass ends (to measure what overlapping hides). */
dr_exchange *dr_exchange_create(dr_group *g, dr_net *net, int bits, size_t bucket_bytes, int overlap);
/* Before the backward pass: the group's grads_ready hook starts sending. */
void dr_exchange_begin(dr_exchange *x);
/* After it: waits for every bucket; net->grads then holds the sum over ranks. */
void dr_exchange_finish(dr_exchange *x);
dr_exchange_stats dr_exchange_get_stats(const dr_exchange *x);
void dr_exchange_free(dr_exchange *x);

#endif
