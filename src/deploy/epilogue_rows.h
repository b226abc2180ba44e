/* The epilogue's loops over vectors of EP_LANES channels, included by
 * epilogue.c once per vector width: EP_LANES 16 (v16i: one AVX-512 register,
 * four NEON ones) and, on x86, 8 (dr_v8i: one AVX2 register; GCC 12 keeps
 * 64-byte vectors in memory and compares them lane by lane in scalar code
 * when the target has no AVX-512). The includer defines EP_LANES, EP_VI (the
 * int32 vector), EP_GT, EP_GE, EP_LE (lane-wise comparisons: -1 or 0),
 * EP_STORE_BYTES(dst, v, n) (the low bytes of the first n lanes) and EP_NAME(x)
 * (x with the width's suffix). */

#define VI EP_VI
typedef int32_t EP_NAME(vi_u) __attribute__((vector_size(EP_LANES * 4), aligned(4))); /* unaligned loads */
#define LOAD(p) ((VI)(*(const EP_NAME(vi_u) *)(p)))

static inline __attribute__((always_inline)) VI EP_NAME(vmax)(VI a, VI b)
{
    const VI gt = EP_GT(a, b);
    return (a & gt) | (b & ~gt);
}

/* acc' of output (smp, oy, ox) on channels [c0, c0 + EP_LANES): the max over its
 * pooling window, clipped to the conv's output (padded cells never win), of
 * sign (2 s - M asum); the sign is applied after the max when the pool came
 * before BN. A 2x2 window that lies inside takes the straight path. */
static inline __attribute__((always_inline)) VI EP_NAME(acc_at)(const dr_epilogue *e, int smp, int oy, int ox, int c0, VI neg)
{
    const int32_t *s = e->s + c0;
    const size_t base = (size_t)smp * e->sample_rows;
    const int M = e->M, pool_first = e->pool && e->pool_first;
#define ACC(row) (2 * LOAD(s + (row) * e->lds) - M * e->asum[row])
    if (!e->pool) {
        const size_t row = base + (size_t)oy * e->ow + ox;
        const VI a = ACC(row);
        return (a ^ neg) - neg;
    }
    const dr_conv_geom *pg = e->pool;
    int ya = oy * pg->sh - pg->pad_top, yb = ya + pg->kh, xa = ox * pg->sw - pg->pad_left, xb = xa + pg->kw;
    VI v = {0};
    if (pg->kh == 2 && pg->kw == 2 && ya >= 0 && xa >= 0 && yb <= e->oh && xb <= e->ow) {
        const size_t r0 = base + (size_t)ya * e->ow + xa, r1 = r0 + (size_t)e->ow;
        VI a = ACC(r0), b = ACC(r0 + 1), c = ACC(r1), d = ACC(r1 + 1);
        if (!pool_first) a = (a ^ neg) - neg, b = (b ^ neg) - neg, c = (c ^ neg) - neg, d = (d ^ neg) - neg;
        v = EP_NAME(vmax)(EP_NAME(vmax)(a, b), EP_NAME(vmax)(c, d));
    } else {
        ya = ya < 0 ? 0 : ya, xa = xa < 0 ? 0 : xa;
        yb = yb > e->oh ? e->oh : yb, xb = xb > e->ow ? e->ow : xb;
        for (int y = ya, first = 1; y < yb; y++)
            for (int x = xa; x < xb; x++, first = 0) {
                VI a = ACC(base + (size_t)y * e->ow + x);
                if (!pool_first) a = (a ^ neg) - neg;
                v = first ? a : EP_NAME(vmax)(a, v);
            }
    }
#undef ACC
    return pool_first ? (v ^ neg) - neg : v;
}

/* The code of acc' v against NOUT levels' thresholds (NOUT 0: nout of them,
 * read from memory; CABS: the lower ones too). */
static inline __attribute__((always_inline)) VI EP_NAME(code_of)(VI v, const VI *up, const VI *lo, int nout,
                                                                   const int32_t *tup, const int32_t *tlo,
                                                                   size_t stride, const int NOUT, const int CABS)
{
    VI cnt = {0};
    for (int k = 0; k < nout; k++) cnt -= EP_GE(v, NOUT ? up[k] : LOAD(tup + (size_t)k * stride));
    if (CABS)
        for (int k = 0; k < nout; k++) cnt -= EP_LE(v, NOUT ? lo[k] : LOAD(tlo + (size_t)k * stride));
    return cnt;
}

/* Outputs [y0, y1) x all columns on channels [c0, c0 + EP_LANES) with NOUT levels
 * (0: any count, thresholds read from memory); NOUT <= 7 keeps the
 * thresholds of the channel block in registers across the pixels. Every
 * field the loops read is a local first: the code stores are bytes, which
 * may alias anything, so the compiler would read the structs again after
 * each. Without a pool the rows of a sample's output row are consecutive. */
static inline __attribute__((always_inline)) void EP_NAME(block_rows)(const dr_epilogue *e, int y0, int y1, int c0,
                                                                     const int NOUT, const int CABS)
{
    const dr_thresholds *t = e->t;
    const int oh = e->pool ? e->pool->oh : e->oh, ow = e->pool ? e->pool->ow : e->ow, nout = NOUT ? NOUT : t->nout;
    const int oc = t->oc, keep = oc - c0 < EP_LANES ? oc - c0 : EP_LANES, M = e->M;
    const size_t lds = e->lds, sample_rows = e->sample_rows, stride = (size_t)t->oc_pad;
    const int32_t *const tup = t->up + c0, *const tlo = t->lo + c0, *const asum = e->asum;
    const int32_t *const s = e->s + c0;
    const VI neg = LOAD(t->sign + c0) >> 31; /* -1 where the sign is negative: x*sign = (x^neg)-neg */
    VI up[8], lo[8];
    for (int k = 0; k < NOUT; k++) {
        up[k] = LOAD(tup + (size_t)k * stride);
        lo[k] = LOAD(tlo + (size_t)k * stride);
    }
    for (int yy = y0; yy < y1; yy++) {
        const int smp = yy / oh, oy = yy % oh;
        uint8_t *dst = e->out + (size_t)yy * ow * oc + c0;
        if (!e->pool) {
            const size_t r0 = (size_t)smp * sample_rows + (size_t)oy * ow;
            const int32_t *sp = s + r0 * lds, *ap = asum + r0;
            for (int ox = 0; ox < ow; ox++, dst += oc, sp += lds) {
                VI v = 2 * LOAD(sp) - M * ap[ox];
                v = (v ^ neg) - neg;
                const VI cnt = EP_NAME(code_of)(v, up, lo, nout, tup, tlo, stride, NOUT, CABS);
                if (keep == EP_LANES) EP_STORE_BYTES(dst, cnt, EP_LANES); /* one store */
                else EP_STORE_BYTES(dst, cnt, keep);
            }
            continue;
        }
        for (int ox = 0; ox < ow; ox++, dst += oc) {
            const VI v = EP_NAME(acc_at)(e, smp, oy, ox, c0, neg);
            const VI cnt = EP_NAME(code_of)(v, up, lo, nout, tup, tlo, stride, NOUT, CABS);
            if (keep == EP_LANES) EP_STORE_BYTES(dst, cnt, EP_LANES);
            else EP_STORE_BYTES(dst, cnt, keep);
        }
    }
}

#define EP_LEVELS(CABS)                                                                                 \
    switch (e->t->nout) {                                                                               \
    case 1: EP_NAME(block_rows)(e, y0, y1, c0, 1, CABS); break;                                        \
    case 3: EP_NAME(block_rows)(e, y0, y1, c0, 3, CABS); break;                                        \
    case 7: EP_NAME(block_rows)(e, y0, y1, c0, 7, CABS); break;                                        \
    default: EP_NAME(block_rows)(e, y0, y1, c0, 0, CABS);                                              \
    }

/* Output rows [y0, y1) on every channel block. */
static inline __attribute__((always_inline)) void EP_NAME(rows)(const dr_epilogue *e, int y0, int y1)
{
    for (int c0 = 0; c0 < e->t->oc; c0 += EP_LANES) {
        if (e->t->cabs) EP_LEVELS(1)
        else EP_LEVELS(0)
    }
}
#undef EP_LEVELS

#undef VI
#undef LOAD
