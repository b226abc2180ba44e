#include <stdlib.h>

#include "../core/common.h"
#include "layer.h"

#define SUM_CHUNKS 16

void dr_sum_rows(const float *x, size_t rows, int c_count, float *acc)
{
    /* Fixed chunking: each chunk sums its rows in order, then the chunks are
     * added in order, so the result is the same for any thread count. */
    int chunks = rows < SUM_CHUNKS ? (int)(rows ? rows : 1) : SUM_CHUNKS;
    double *part = dr_xcalloc((size_t)chunks * c_count, sizeof(double));
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < chunks; ch++) {
        size_t r0 = rows * ch / chunks, r1 = rows * (ch + 1) / chunks;
        double *p = part + (size_t)ch * c_count;
        for (size_t r = r0; r < r1; r++)
            for (int k = 0; k < c_count; k++) p[k] += x[r * c_count + k];
    }
    for (int ch = 0; ch < chunks; ch++)
        for (int k = 0; k < c_count; k++) acc[k] += (float)part[(size_t)ch * c_count + k];
    free(part);
}

#define MADE_ROWS 32 /* rows made, then summed, at a time: in cache between the two */

/* pa[k] += a[r][k] and pab[k] += a[r][k] b[r][k] over `rows` rows, rows in
 * order (vectorised across k, per clone). */
DR_SIMD_CLONES static void add_rows2(const float *a, const float *b, size_t rows, int c_count, double *restrict pa,
                                     double *restrict pab)
{
    for (size_t r = 0; r < rows; r++) {
        const float *ar = a + r * c_count, *br = b + r * c_count;
        for (int k = 0; k < c_count; k++) {
            pa[k] += ar[k];
            pab[k] += (double)ar[k] * br[k];
        }
    }
}

void dr_sum_rows2_made(const float *a, const float *b, size_t rows, int c_count,
                       void (*make)(void *ctx, size_t r0, size_t r1), void *ctx, double *sum_a, double *sum_ab)
{
    int chunks = rows < SUM_CHUNKS ? (int)(rows ? rows : 1) : SUM_CHUNKS;
    double *part = dr_xcalloc((size_t)chunks * c_count * 2, sizeof(double));
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < chunks; ch++) {
        size_t r0 = rows * ch / chunks, r1 = rows * (ch + 1) / chunks;
        double *pa = part + (size_t)ch * c_count * 2, *pab = pa + c_count;
        for (size_t m0 = r0; m0 < r1; m0 += MADE_ROWS) {
            const size_t m1 = m0 + MADE_ROWS < r1 ? m0 + MADE_ROWS : r1;
            if (make) make(ctx, m0, m1);
            add_rows2(a + m0 * c_count, (b ? b : a) + m0 * c_count, m1 - m0, c_count, pa, pab);
        }
    }
    for (int k = 0; k < c_count; k++) sum_a[k] = sum_ab[k] = 0;
    for (int ch = 0; ch < chunks; ch++) {
        const double *pa = part + (size_t)ch * c_count * 2, *pab = pa + c_count;
        for (int k = 0; k < c_count; k++) {
            sum_a[k] += pa[k];
            sum_ab[k] += pab[k];
        }
    }
    free(part);
}

void dr_sum_rows2(const float *a, const float *b, size_t rows, int c_count, double *sum_a, double *sum_ab)
{
    dr_sum_rows2_made(a, b, rows, c_count, NULL, NULL, sum_a, sum_ab);
}
