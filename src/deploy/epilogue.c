/* The integer epilogue of a fused block, vectorised over the channels:
 * acc' = sign (2 s - M asum) per output, max-pooled when a pool is in
 * the block (before the sign when the pool came before BN), then counted
 * against every output level's thresholds (the loops: epilogue_rows.h).
 * Compiled on x86 for AVX-512 and plain x86-64 over 16 channels at a time,
 * for AVX2 over 8; the choice is made at run time. */
#include "epilogue.h"

#include <omp.h>
#include <string.h>

#include "../core/common.h"
#include "../core/vec16.h"
#include "../kernels/bitgemm.h"

/* The helpers return vectors but are always inlined. */
#pragma GCC diagnostic ignored "-Wpsabi"

#define EP_LANES 16
#define EP_VI v16i
#define EP_GT dr_vgt
#define EP_GE dr_vge
#define EP_LE dr_vle
#define EP_STORE_BYTES(dst, v, n)                                                                       \
    do {                                                                                                \
        const v16b b_ = dr_vbytes(v);                                                                   \
        memcpy(dst, &b_, (size_t)(n));                                                                  \
    } while (0)
#define EP_NAME(x) x##16
#include "epilogue_rows.h"
#undef EP_LANES
#undef EP_VI
#undef EP_GT
#undef EP_GE
#undef EP_LE
#undef EP_STORE_BYTES
#undef EP_NAME

#if defined(__x86_64__) && !defined(DR_NO_CLONES)
#define EP_LANES 8
#define EP_VI dr_v8i
#define EP_GT(a, b) ((a) > (b))
#define EP_GE(a, b) ((a) >= (b))
#define EP_LE(a, b) ((a) <= (b))
#define EP_STORE_BYTES(dst, v, n)                                                                       \
    do {                                                                                                \
        const dr_v8b b_ = dr_vbytes8(v);                                                                \
        memcpy(dst, &b_, (size_t)(n));                                                                  \
    } while (0)
#define EP_NAME(x) x##8
#include "epilogue_rows.h"

__attribute__((target("avx512f"))) static void rows_avx512(const dr_epilogue *e, int y0, int y1) { rows16(e, y0, y1); }
__attribute__((target("avx2"))) static void rows_avx2(const dr_epilogue *e, int y0, int y1) { rows8(e, y0, y1); }
static void rows_plain(const dr_epilogue *e, int y0, int y1) { rows16(e, y0, y1); }

/* The width dr_wide_vectors() says; the plain copy with the c kernel. */
void dr_epilogue_rows(const dr_epilogue *e, int y0, int y1)
{
    if (!strcmp(dr_bitgemm_kernel(), "c")) rows_plain(e, y0, y1);
    else if (dr_wide_vectors()) rows_avx512(e, y0, y1);
    else rows_avx2(e, y0, y1);
}
#else
void dr_epilogue_rows(const dr_epilogue *e, int y0, int y1) { rows16(e, y0, y1); }
#endif

/* This thread's share of the output rows. */
static void thread_rows(const dr_epilogue *e)
{
    const int total = e->n * (e->pool ? e->pool->oh : e->oh);
    const int nt = omp_get_num_threads(), id = omp_get_thread_num();
    dr_epilogue_rows(e, (int)((long)total * id / nt), (int)((long)total * (id + 1) / nt));
}

void dr_epilogue_run(const dr_epilogue *e)
{
#pragma omp parallel
    thread_rows(e);
}

void dr_epilogue_run_in_team(const dr_epilogue *e)
{
    thread_rows(e);
#pragma omp barrier
}
