/* The integer epilogue of a fused block, vectorised over 16 channels at a
 * time: acc' = sign (2 s - M asum) per output, max-pooled when a pool is in
 * the block (before the sign when the pool came before BN), then counted
 * against every output level's thresholds. Compiled for AVX-512, AVX2 and
 * plain x86-64; the choice is made at run time. */
#include "epilogue.h"

#include <omp.h>
#include <string.h>

#if defined(__x86_64__)
#define SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SIMD_CLONES
#endif

typedef int32_t v16i __attribute__((vector_size(64)));
typedef int32_t v16i_u __attribute__((vector_size(64), aligned(4))); /* unaligned loads */
typedef uint8_t v16b __attribute__((vector_size(16)));
#define load16(p) (*(const v16i_u *)(p))

SIMD_CLONES void dr_epilogue_rows(const dr_epilogue *e, int y0, int y1)
{
    const dr_thresholds *t = e->t;
    const int oh = e->pool ? e->pool->oh : e->oh, ow = e->pool ? e->pool->ow : e->ow;
    const int M = e->M, pool_first = e->pool && e->pool_first;
    for (int yy = y0; yy < y1; yy++)
    for (int ox = 0; ox < ow; ox++) {
        const int smp = yy / oh, oy = yy % oh;
        /* the window of conv outputs this output takes the max over, clipped to the
         * conv's output (padded cells never win); a single cell without a pool */
        int ya = oy, yb = oy + 1, xa = ox, xb = ox + 1;
        if (e->pool) {
            const dr_conv_geom *pg = e->pool;
            ya = oy * pg->sh - pg->pad_top, yb = ya + pg->kh, xa = ox * pg->sw - pg->pad_left, xb = xa + pg->kw;
            ya = ya < 0 ? 0 : ya, xa = xa < 0 ? 0 : xa;
            yb = yb > e->oh ? e->oh : yb, xb = xb > e->ow ? e->ow : xb;
        }
        const size_t base = (size_t)smp * e->sample_rows;
        uint8_t *dst = e->out + ((size_t)yy * ow + ox) * t->oc;
        for (int c0 = 0; c0 < t->oc; c0 += 16) {
            const v16i neg = load16(t->sign + c0) >> 31; /* -1 where the sign is negative: x*sign = (x^neg)-neg */
            v16i v = {0};
            for (int y = ya, first = 1; y < yb; y++)
                for (int x = xa; x < xb; x++, first = 0) {
                    const size_t row = base + (size_t)y * e->grid_w + x;
                    v16i a = 2 * load16(e->s + row * e->lds + c0) - M * e->asum[row];
                    if (!pool_first) a = (a ^ neg) - neg;
                    const v16i gt = a > v;
                    v = first ? a : (a & gt) | (v & ~gt);
                }
            if (pool_first) v = (v ^ neg) - neg;
            v16i cnt = {0};
            for (int k = 0; k < t->nout; k++) cnt -= v >= load16(t->up + (size_t)k * t->oc_pad + c0);
            if (t->cabs)
                for (int k = 0; k < t->nout; k++) cnt -= v <= load16(t->lo + (size_t)k * t->oc_pad + c0);
            const v16b codes = __builtin_convertvector(cnt, v16b);
            if (t->oc - c0 >= 16) memcpy(dst + c0, &codes, 16);
            else memcpy(dst + c0, &codes, (size_t)(t->oc - c0));
        }
    }
}

void dr_epilogue_run(const dr_epilogue *e)
{
    const int total = e->n * (e->pool ? e->pool->oh : e->oh);
#pragma omp parallel
    {
        const int nt = omp_get_num_threads(), id = omp_get_thread_num();
        dr_epilogue_rows(e, (int)((long)total * id / nt), (int)((long)total * (id + 1) / nt));
    }
}
