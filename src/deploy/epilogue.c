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

/* ---- AVX-512BW: two 16-channel blocks as one vector of 32 int16 ---------- */
#include <immintrin.h>
#define BW_TARGET __attribute__((target("avx512f,avx512bw,avx512vl")))

/* What the loops over one output row of 32 channels need. */
typedef struct {
    const int16_t *up, *lo; /* the 32 channels' 16-bit thresholds, rows `stride` apart */
    size_t stride;
    int nout;
    __m512i neg0, neg1;     /* -1 where the sign is negative, per 16-channel half */
    __m512i m;              /* M in every lane */
    __mmask32 tail;         /* the channels to store (all 32 but at the end) */
} pair_consts;

/* 2 s - M asum of 16 channels, times the sign (neg: -1 where negative). */
BW_TARGET static inline __attribute__((always_inline)) __m512i signed_acc(const int32_t *s, __m512i masum, __m512i neg)
{
    const __m512i a = _mm512_sub_epi32(_mm512_slli_epi32(_mm512_loadu_si512(s), 1), masum);
    return _mm512_sub_epi32(_mm512_xor_si512(a, neg), neg);
}

BW_TARGET static inline __attribute__((always_inline)) __m512i narrow_pair(__m512i a, __m512i b)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi32_epi16(a)), _mm512_cvtepi32_epi16(b), 1);
}

/* The codes of v (32 channels) to dst. */
BW_TARGET static inline __attribute__((always_inline)) void store_codes(__m512i v, const __m512i *up, const __m512i *lo,
                                                                        const pair_consts *k, uint8_t *dst,
                                                                        const int NOUT, const int CABS)
{
    const __m512i one = _mm512_set1_epi16(1);
    const int nout = NOUT ? NOUT : k->nout;
    __m512i cnt = _mm512_setzero_si512();
    for (int j = 0; j < nout; j++) {
        const __m512i u = NOUT ? up[j] : _mm512_loadu_si512(k->up + (size_t)j * k->stride);
        cnt = _mm512_mask_add_epi16(cnt, _mm512_cmpge_epi16_mask(v, u), cnt, one);
    }
    if (CABS)
        for (int j = 0; j < nout; j++) {
            const __m512i l = NOUT ? lo[j] : _mm512_loadu_si512(k->lo + (size_t)j * k->stride);
            cnt = _mm512_mask_add_epi16(cnt, _mm512_cmple_epi16_mask(v, l), cnt, one);
        }
    _mm256_mask_storeu_epi8(dst, k->tail, _mm512_cvtepi16_epi8(cnt));
}

/* n outputs of a block without a pool: products rows s, s + lds, ..., row
 * sums asum[0 .. n), codes to dst, dst + oc, ... */
BW_TARGET static inline __attribute__((always_inline)) void plain_row(const pair_consts *k, const int32_t *s, size_t lds,
                                                                      const int32_t *asum, int n, uint8_t *dst, int oc,
                                                                      const int NOUT, const int CABS)
{
    __m512i up[7], lo[7];
    for (int j = 0; j < NOUT; j++) up[j] = _mm512_loadu_si512(k->up + (size_t)j * k->stride);
    for (int j = 0; j < NOUT && CABS; j++) lo[j] = _mm512_loadu_si512(k->lo + (size_t)j * k->stride);
    for (int x = 0; x < n; x++, s += lds, dst += oc) {
        const __m512i masum = _mm512_mullo_epi32(k->m, _mm512_set1_epi32(asum[x]));
        const __m512i v = narrow_pair(signed_acc(s, masum, k->neg0), signed_acc(s + 16, masum, k->neg1));
        store_codes(v, up, lo, k, dst, NOUT, CABS);
    }
}

/* n outputs of a 2x2, stride-2 max-pool whose windows lie inside: window x
 * reads rows 2x, 2x + 1 from s and from s + below (the next conv row). The
 * sign comes before the max, or after it when the pool came before BN. */
BW_TARGET static inline __attribute__((always_inline)) void pool2_row(const pair_consts *k, const int32_t *s, size_t lds,
                                                                      size_t below, const int32_t *asum, int n,
                                                                      uint8_t *dst, int oc, int pool_first,
                                                                      const int NOUT, const int CABS)
{
    __m512i up[7], lo[7];
    for (int j = 0; j < NOUT; j++) up[j] = _mm512_loadu_si512(k->up + (size_t)j * k->stride);
    for (int j = 0; j < NOUT && CABS; j++) lo[j] = _mm512_loadu_si512(k->lo + (size_t)j * k->stride);
    const __m512i zero = _mm512_setzero_si512(), n0 = pool_first ? zero : k->neg0, n1 = pool_first ? zero : k->neg1;
    for (int x = 0; x < n; x++, s += 2 * lds, asum += 2, dst += oc) {
        const size_t rows[4] = {0, lds, below * lds, (below + 1) * lds};
        const int32_t sums[4] = {asum[0], asum[1], asum[below], asum[below + 1]};
        __m512i a = _mm512_set1_epi32(INT32_MIN), b = a;
        for (int r = 0; r < 4; r++) {
            const __m512i masum = _mm512_mullo_epi32(k->m, _mm512_set1_epi32(sums[r]));
            a = _mm512_max_epi32(a, signed_acc(s + rows[r], masum, n0));
            b = _mm512_max_epi32(b, signed_acc(s + rows[r] + 16, masum, n1));
        }
        if (pool_first) {
            a = _mm512_sub_epi32(_mm512_xor_si512(a, k->neg0), k->neg0);
            b = _mm512_sub_epi32(_mm512_xor_si512(b, k->neg1), k->neg1);
        }
        store_codes(narrow_pair(a, b), up, lo, k, dst, NOUT, CABS);
    }
}

/* One small function per level count and cabs, each with its own registers. */
typedef void plain_fn(const pair_consts *, const int32_t *, size_t, const int32_t *, int, uint8_t *, int);
typedef void pool2_fn(const pair_consts *, const int32_t *, size_t, size_t, const int32_t *, int, uint8_t *, int, int);
#define PAIR_FNS(NOUT, CABS)                                                                            \
    BW_TARGET __attribute__((noinline)) static void plain_##NOUT##_##CABS(                             \
        const pair_consts *k, const int32_t *s, size_t lds, const int32_t *asum, int n, uint8_t *dst, int oc) \
    {                                                                                                   \
        plain_row(k, s, lds, asum, n, dst, oc, NOUT, CABS);                                             \
    }                                                                                                   \
    BW_TARGET __attribute__((noinline)) static void pool2_##NOUT##_##CABS(                             \
        const pair_consts *k, const int32_t *s, size_t lds, size_t below, const int32_t *asum, int n,   \
        uint8_t *dst, int oc, int pool_first)                                                           \
    {                                                                                                   \
        pool2_row(k, s, lds, below, asum, n, dst, oc, pool_first, NOUT, CABS);                          \
    }
PAIR_FNS(0, 0)
PAIR_FNS(0, 1)
PAIR_FNS(1, 0)
PAIR_FNS(1, 1)
PAIR_FNS(3, 0)
PAIR_FNS(3, 1)
PAIR_FNS(7, 0)
PAIR_FNS(7, 1)
#undef PAIR_FNS
#define PAIR_PICK(kind, nout, cabs)                                                                     \
    ((nout) == 1   ? ((cabs) ? kind##_1_1 : kind##_1_0)                                                \
     : (nout) == 3 ? ((cabs) ? kind##_3_1 : kind##_3_0)                                                \
     : (nout) == 7 ? ((cabs) ? kind##_7_1 : kind##_7_0)                                                \
                   : ((cabs) ? kind##_0_1 : kind##_0_0))

/* The outputs of output row oy of any pool, clipped to the conv's output (as
 * acc_at in epilogue_rows.h). */
BW_TARGET __attribute__((noinline)) static void any_pool_row(const dr_epilogue *e, const pair_consts *k, int smp,
                                                             int oy, int ow, int c0, uint8_t *dst, int oc)
{
    const dr_conv_geom *pg = e->pool;
    const size_t base = (size_t)smp * e->sample_rows, lds = e->lds;
    const __m512i zero = _mm512_setzero_si512(), n0 = e->pool_first ? zero : k->neg0,
                  n1 = e->pool_first ? zero : k->neg1;
    const int ya = DR_MAX(0, oy * pg->sh - pg->pad_top), yb = DR_MIN(e->oh, oy * pg->sh - pg->pad_top + pg->kh);
    for (int ox = 0; ox < ow; ox++, dst += oc) {
        const int xa = DR_MAX(0, ox * pg->sw - pg->pad_left), xb = DR_MIN(e->ow, ox * pg->sw - pg->pad_left + pg->kw);
        __m512i a = _mm512_set1_epi32(INT32_MIN), b = a;
        for (int y = ya; y < yb; y++)
            for (int x = xa; x < xb; x++) {
                const size_t row = base + (size_t)y * e->ow + x;
                const __m512i masum = _mm512_mullo_epi32(k->m, _mm512_set1_epi32(e->asum[row]));
                a = _mm512_max_epi32(a, signed_acc(e->s + row * lds + c0, masum, n0));
                b = _mm512_max_epi32(b, signed_acc(e->s + row * lds + c0 + 16, masum, n1));
            }
        if (e->pool_first) {
            a = _mm512_sub_epi32(_mm512_xor_si512(a, k->neg0), k->neg0);
            b = _mm512_sub_epi32(_mm512_xor_si512(b, k->neg1), k->neg1);
        }
        store_codes(narrow_pair(a, b), NULL, NULL, k, dst, 0, e->t->cabs);
    }
}

/* Output rows [y0, y1) on every pair of channel blocks: half the
 * comparisons of the 16-lane loops, the acc' fitting in 16 bits. */
BW_TARGET static void rows_avx512bw(const dr_epilogue *e, int y0, int y1)
{
    const dr_thresholds *t = e->t;
    const dr_conv_geom *pg = e->pool;
    const int oh = pg ? pg->oh : e->oh, ow = pg ? pg->ow : e->ow, oc = t->oc;
    /* a 2x2 stride-2 pool whose every window lies inside the conv's output */
    const int pool2 = pg && pg->kh == 2 && pg->kw == 2 && pg->sh == 2 && pg->sw == 2 && pg->pad_top == 0 &&
                      pg->pad_left == 0 && 2 * pg->oh <= e->oh && 2 * pg->ow <= e->ow;
    plain_fn *plain = PAIR_PICK(plain, t->nout, t->cabs);
    pool2_fn *pool = PAIR_PICK(pool2, t->nout, t->cabs);
    for (int c0 = 0; c0 < oc; c0 += 32) {
        pair_consts k = {t->up16 + c0, t->lo16 + c0, (size_t)t->oc_pad, t->nout,
                         _mm512_srai_epi32(_mm512_loadu_si512(t->sign + c0), 31),
                         _mm512_srai_epi32(_mm512_loadu_si512(t->sign + c0 + 16), 31), _mm512_set1_epi32(e->M),
                         oc - c0 >= 32 ? ~0u : (1u << (oc - c0)) - 1};
        for (int yy = y0; yy < y1; yy++) {
            const int smp = yy / oh, oy = yy % oh;
            uint8_t *dst = e->out + (size_t)yy * ow * oc + c0;
            if (!pg) {
                const size_t r0 = (size_t)smp * e->sample_rows + (size_t)oy * ow;
                plain(&k, e->s + r0 * e->lds + c0, e->lds, e->asum + r0, ow, dst, oc);
            } else if (pool2) {
                const size_t r0 = (size_t)smp * e->sample_rows + (size_t)2 * oy * e->ow;
                pool(&k, e->s + r0 * e->lds + c0, e->lds, (size_t)e->ow, e->asum + r0, ow, dst, oc, e->pool_first);
            } else {
                any_pool_row(e, &k, smp, oy, ow, c0, dst, oc);
            }
        }
    }
}
#undef PAIR_PICK

static int has_avx512bw(void)
{
    static int has = -1;
    if (has < 0) has = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    return has;
}

__attribute__((target("avx512f"))) static void rows_avx512(const dr_epilogue *e, int y0, int y1) { rows16(e, y0, y1); }
__attribute__((target("avx2"))) static void rows_avx2(const dr_epilogue *e, int y0, int y1) { rows8(e, y0, y1); }
static void rows_plain(const dr_epilogue *e, int y0, int y1) { rows16(e, y0, y1); }

/* The width dr_wide_vectors() says; the plain copy with the c kernel. */
void dr_epilogue_rows(const dr_epilogue *e, int y0, int y1)
{
    if (!strcmp(dr_bitgemm_kernel(), "c")) rows_plain(e, y0, y1);
    else if (dr_wide_vectors() && e->t->up16 && e->t->oc_pad % 32 == 0 && has_avx512bw()) rows_avx512bw(e, y0, y1);
    else if (dr_wide_vectors()) rows_avx512(e, y0, y1);
    else rows_avx2(e, y0, y1);
}
#else
void dr_epilogue_rows(const dr_epilogue *e, int y0, int y1) { rows16(e, y0, y1); }
#endif

void dr_thresholds_narrow(dr_thresholds *t, long max_acc)
{
    if (max_acc > INT16_MAX - 1) return; /* saturated thresholds then still decide as the int32 ones */
    const size_t count = (size_t)t->nout * t->oc_pad;
    t->up16 = dr_xalign(count * sizeof(int16_t));
    t->lo16 = dr_xalign(count * sizeof(int16_t));
    for (size_t k = 0; k < count; k++) {
        t->up16[k] = (int16_t)DR_MAX(INT16_MIN, DR_MIN(INT16_MAX, t->up[k]));
        t->lo16[k] = (int16_t)DR_MAX(INT16_MIN, DR_MIN(INT16_MAX, t->lo[k]));
    }
}

void dr_epilogue_run(const dr_epilogue *e)
{
#pragma omp parallel
    dr_epilogue_part(e, omp_get_thread_num(), omp_get_num_threads());
}

void dr_epilogue_part(const dr_epilogue *e, int part, int parts)
{
    const int total = e->n * (e->pool ? e->pool->oh : e->oh);
    dr_epilogue_rows(e, (int)dr_share_begin(total, part, parts), (int)dr_share_begin(total, part + 1, parts));
}
