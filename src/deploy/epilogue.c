/* The integer epilogue of a fused block, vectorised over 16 channels at a
 * time: acc' = sign (2 s - M asum) per output, max-pooled when a pool is in
 * the block (before the sign when the pool came before BN), then counted
 * against every output level's thresholds. Compiled for AVX-512, AVX2 and
 * plain x86-64; the choice is made at run time. */
#include "epilogue.h"

#include <omp.h>
#include <string.h>

#include "../core/common.h"
#include "../core/vec16.h"

typedef int32_t v16i_u __attribute__((vector_size(64), aligned(4))); /* unaligned loads */
#define load16(p) (*(const v16i_u *)(p))

/* The helpers below return vectors but are always inlined into the clones. */
#pragma GCC diagnostic ignored "-Wpsabi"

static inline __attribute__((always_inline)) v16i vmax(v16i a, v16i b)
{
    const v16i gt = dr_vgt(a, b);
    return (a & gt) | (b & ~gt);
}

/* acc' of output (smp, oy, ox) on channels [c0, c0 + 16): the max over its
 * pooling window, clipped to the conv's output (padded cells never win), of
 * sign (2 s - M asum); the sign is applied after the max when the pool came
 * before BN. A 2x2 window that lies inside takes the straight path. */
static inline __attribute__((always_inline)) v16i acc_at(const dr_epilogue *e, int smp, int oy, int ox, int c0, v16i neg)
{
    const int32_t *s = e->s + c0;
    const size_t base = (size_t)smp * e->sample_rows;
    const int M = e->M, pool_first = e->pool && e->pool_first;
#define ACC(row) (2 * load16(s + (row) * e->lds) - M * e->asum[row])
    if (!e->pool) {
        const size_t row = base + (size_t)oy * e->ow + ox;
        const v16i a = ACC(row);
        return (a ^ neg) - neg;
    }
    const dr_conv_geom *pg = e->pool;
    int ya = oy * pg->sh - pg->pad_top, yb = ya + pg->kh, xa = ox * pg->sw - pg->pad_left, xb = xa + pg->kw;
    v16i v = {0};
    if (pg->kh == 2 && pg->kw == 2 && ya >= 0 && xa >= 0 && yb <= e->oh && xb <= e->ow) {
        const size_t r0 = base + (size_t)ya * e->ow + xa, r1 = r0 + (size_t)e->ow;
        v16i a = ACC(r0), b = ACC(r0 + 1), c = ACC(r1), d = ACC(r1 + 1);
        if (!pool_first) a = (a ^ neg) - neg, b = (b ^ neg) - neg, c = (c ^ neg) - neg, d = (d ^ neg) - neg;
        v = vmax(vmax(a, b), vmax(c, d));
    } else {
        ya = ya < 0 ? 0 : ya, xa = xa < 0 ? 0 : xa;
        yb = yb > e->oh ? e->oh : yb, xb = xb > e->ow ? e->ow : xb;
        for (int y = ya, first = 1; y < yb; y++)
            for (int x = xa; x < xb; x++, first = 0) {
                v16i a = ACC(base + (size_t)y * e->ow + x);
                if (!pool_first) a = (a ^ neg) - neg;
                v = first ? a : vmax(a, v);
            }
    }
#undef ACC
    return pool_first ? (v ^ neg) - neg : v;
}

/* Outputs [y0, y1) x all columns on channels [c0, c0 + 16) with NOUT levels
 * (0: any count, thresholds read from memory); NOUT <= 7 keeps the
 * thresholds of the channel block in registers across the pixels. */
static inline __attribute__((always_inline)) void block_rows(const dr_epilogue *e, int y0, int y1, int c0,
                                                             const int NOUT)
{
    const dr_thresholds *t = e->t;
    const int oh = e->pool ? e->pool->oh : e->oh, ow = e->pool ? e->pool->ow : e->ow, nout = NOUT ? NOUT : t->nout;
    const int keep = t->oc - c0 < 16 ? t->oc - c0 : 16;
    const v16i neg = load16(t->sign + c0) >> 31; /* -1 where the sign is negative: x*sign = (x^neg)-neg */
    v16i up[8], lo[8];
    for (int k = 0; k < NOUT; k++) {
        up[k] = load16(t->up + (size_t)k * t->oc_pad + c0);
        lo[k] = load16(t->lo + (size_t)k * t->oc_pad + c0);
    }
    for (int yy = y0; yy < y1; yy++) {
        const int smp = yy / oh, oy = yy % oh;
        uint8_t *dst = e->out + (size_t)yy * ow * t->oc + c0;
        for (int ox = 0; ox < ow; ox++, dst += t->oc) {
            const v16i v = acc_at(e, smp, oy, ox, c0, neg);
            v16i cnt = {0};
            for (int k = 0; k < nout; k++) cnt -= dr_vge(v, NOUT ? up[k] : load16(t->up + (size_t)k * t->oc_pad + c0));
            if (t->cabs)
                for (int k = 0; k < nout; k++) cnt -= dr_vle(v, NOUT ? lo[k] : load16(t->lo + (size_t)k * t->oc_pad + c0));
            const v16b codes = dr_vbytes(cnt);
            if (keep == 16) memcpy(dst, &codes, 16); /* one store */
            else memcpy(dst, &codes, (size_t)keep);
        }
    }
}

DR_SIMD_CLONES void dr_epilogue_rows(const dr_epilogue *e, int y0, int y1)
{
    for (int c0 = 0; c0 < e->t->oc; c0 += 16) switch (e->t->nout) {
        case 1: block_rows(e, y0, y1, c0, 1); break;
        case 3: block_rows(e, y0, y1, c0, 3); break;
        case 7: block_rows(e, y0, y1, c0, 7); break;
        default: block_rows(e, y0, y1, c0, 0);
        }
}

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
