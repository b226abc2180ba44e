/* src/dist without MPI in the build: one process, always. */
#ifndef DOREFA_HAVE_MPI
#include <stdlib.h>

#include "../core/common.h"
#include "dist.h"

int dr_dist_available(void) { return 0; }

dr_group *dr_dist_start(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    return NULL;
}

void dr_dist_finish(dr_group *g) { (void)g; }

void dr_dist_abort(dr_group *g, int code)
{
    (void)g;
    exit(code);
}

int dr_dist_agree(dr_group *g, int ok)
{
    (void)g;
    return ok;
}

int dr_dist_check_same(dr_group *g, const uint64_t *values, const char *const *what, int n)
{
    (void)g, (void)values, (void)what, (void)n;
    return 0;
}

void dr_dist_broadcast(dr_group *g, void *buf, size_t bytes) { (void)g, (void)buf, (void)bytes; }

dr_exchange *dr_exchange_create(dr_group *g, dr_net *net, int bits, size_t bucket_bytes, int overlap)
{
    (void)g, (void)net, (void)bits, (void)bucket_bytes, (void)overlap;
    return NULL;
}

void dr_exchange_begin(dr_exchange *x) { (void)x; }
void dr_exchange_finish(dr_exchange *x) { (void)x; }
dr_exchange_stats dr_exchange_get_stats(const dr_exchange *x)
{
    (void)x;
    return (dr_exchange_stats){0};
}
void dr_exchange_free(dr_exchange *x) { (void)x; }
#endif
