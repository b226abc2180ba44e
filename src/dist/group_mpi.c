/* The ranks over MPI: start, fixed-order sums, agreement, checks, timeouts. */
#ifdef DOREFA_HAVE_MPI
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "mpi_impl.h"

int dr_dist_available(void) { return 1; }

void dr_mpi_wait(dr_mpi *m, MPI_Request *req, int n, const char *what)
{
    double start = MPI_Wtime();
    for (long polls = 0;; polls++) {
        int done = 0;
        MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE);
        if (done) return;
        if ((polls & 255) == 255) {
            if (MPI_Wtime() - start > m->timeout_s) {
                fprintf(stderr, "dorefa: rank %d: no answer from the other ranks for %.0f s (%s); stopping the run "
                                "(DOREFA_MPI_TIMEOUT sets the limit)\n", m->group.rank, m->timeout_s, what);
                MPI_Abort(m->world, 75);
            }
            sched_yield(); /* ranks may share cores */
        }
    }
}

/* Rank order: every rank's vector arrives (allgather), each rank adds them 0..size-1. */
static void sum_doubles(dr_group *g, double *v, int n)
{
    dr_mpi *m = dr_mpi_of(g);
    const double t0 = MPI_Wtime();
    double *all = dr_xmalloc(sizeof(double) * (size_t)n * (size_t)g->size);
    MPI_Request r;
    MPI_Iallgather(v, n, MPI_DOUBLE, all, n, MPI_DOUBLE, m->world, &r);
    dr_mpi_wait(m, &r, 1, "summing over ranks");
    for (int i = 0; i < n; i++) {
        double s = all[i];
        for (int k = 1; k < g->size; k++) s += all[(size_t)k * n + i];
        v[i] = s;
    }
    free(all);
    m->sum_s += MPI_Wtime() - t0;
}

dr_group *dr_dist_start(int *argc, char ***argv)
{
    if (!dr_dist_launched()) return NULL;
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        dr_fail("MPI_Init failed");
        return NULL;
    }
    dr_mpi *m = dr_xcalloc(1, sizeof *m);
    MPI_Comm_dup(MPI_COMM_WORLD, &m->world);
    MPI_Comm_dup(MPI_COMM_WORLD, &m->scatter);
    MPI_Comm_dup(MPI_COMM_WORLD, &m->gather);
    MPI_Comm_rank(m->world, &m->group.rank);
    MPI_Comm_size(m->world, &m->group.size);
    const char *t = getenv("DOREFA_MPI_TIMEOUT");
    m->timeout_s = t && atof(t) > 0 ? atof(t) : 300;
    m->group.sum = sum_doubles;
    m->group.grads_ready = dr_exchange_grads_ready;
    m->group.impl = m;
    return &m->group;
}

void dr_dist_finish(dr_group *g)
{
    if (!g) return;
    dr_mpi *m = dr_mpi_of(g);
    MPI_Comm_free(&m->world);
    MPI_Comm_free(&m->scatter);
    MPI_Comm_free(&m->gather);
    free(m);
    MPI_Finalize();
}

void dr_dist_abort(dr_group *g, int code)
{
    fflush(stderr);
    MPI_Abort(g ? dr_mpi_of(g)->world : MPI_COMM_WORLD, code);
    exit(code);
}

int dr_dist_agree(dr_group *g, int ok)
{
    if (!g || g->size < 2) return ok;
    double v = ok ? 0 : 1;
    g->sum(g, &v, 1);
    return v == 0;
}

int dr_dist_check_same(dr_group *g, const uint64_t *values, const char *const *what, int n)
{
    if (!g || g->size < 2) return 0;
    dr_mpi *m = dr_mpi_of(g);
    uint64_t *first = dr_xmalloc(sizeof(uint64_t) * (size_t)n);
    memcpy(first, values, sizeof(uint64_t) * (size_t)n);
    MPI_Request r;
    MPI_Ibcast(first, n, MPI_UINT64_T, 0, m->world, &r);
    dr_mpi_wait(m, &r, 1, "checking the ranks' settings");
    int bad = -1;
    for (int i = 0; i < n && bad < 0; i++)
        if (first[i] != values[i]) bad = i;
    free(first);
    int ok = dr_dist_agree(g, bad < 0);
    if (bad >= 0) return dr_fail("rank %d: its %s differ from rank 0's", g->rank, what[bad]);
    if (!ok) return dr_fail("another rank's settings differ from rank 0's (its message names them)");
    return 0;
}

void dr_dist_broadcast(dr_group *g, void *buf, size_t bytes)
{
    if (!g || g->size < 2) return;
    dr_mpi *m = dr_mpi_of(g);
    for (size_t off = 0; off < bytes;) { /* counts are ints */
        int chunk = (int)DR_MIN(bytes - off, (size_t)1 << 30);
        MPI_Request r;
        MPI_Ibcast((char *)buf + off, chunk, MPI_BYTE, 0, m->world, &r);
        dr_mpi_wait(m, &r, 1, "broadcasting from rank 0");
        off += (size_t)chunk;
    }
}
#endif
