/* What the direct convolutions (direct_conv.c, direct_conv_pool.c) share:
 * vector types, the pixel tile and how a pixel's input window is found. */
#ifndef DR_DIRECT_CONV_IMPL_H
#define DR_DIRECT_CONV_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "direct_conv.h"

typedef float v16 __attribute__((vector_size(64)));
typedef float v8 __attribute__((vector_size(32))); /* AVX: 8 pixels x 8 channels of accumulators fit its 16 registers */
typedef int32_t v16i __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4))); /* unaligned loads */

#define PIX 8

/* Codes of 16 values (pooled or not): rint(levels min(1, act(m))), ties to even as
 * dr_rint rounds; the product goes through memory first so that no
 * multiply-add contraction can change the rounding. */
static inline void act_codes16(v16 m, int cabs, float levels, uint8_t *dst)
{
    const v16 zero = {0}, one = zero + 1.0f;
    v16 v = cabs ? (v16)((v16i)m & 0x7fffffff) : (v16)((v16i)m & (m > zero));
    v = (v16)(((v16i)v & (v < one)) | ((v16i)one & ~(v < one)));
    v16 p = v * levels;
    __asm__("" : "+m"(p));
    p = (p + 12582912.0f) - 12582912.0f;
    const v16i q = __builtin_convertvector(p, v16i);
    for (int o = 0; o < 16; o++) dst[o] = (uint8_t)q[o];
}

/* The clone running has AVX-512's 32 vector registers (the clones follow the
 * CPU): 16-float accumulators then; else 8-float ones, as AVX holds 16. */
static inline int dr_wide_registers(void)
{
#if defined(__x86_64__)
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

/* Points src[ky] at the kh input rows of output pixel (s, oy, ox): into the
 * input where the window lies inside it, else into edge[] gathered with
 * zeros for padding (and for a pixel past the batch, valid = 0). */
static inline void window_rows(const dr_conv_geom *g, const float *in, int s, int oy, int ox, int valid,
                               const float **src, float *edge)
{
    const int span = g->kw * g->ic;
    for (int ky = 0; ky < g->kh; ky++) {
        const int y = oy * g->sh - g->pad_top + ky, x0 = ox * g->sw - g->pad_left;
        if (valid && y >= 0 && y < g->ih && x0 >= 0 && x0 + g->kw <= g->iw) {
            src[ky] = in + (((size_t)s * g->ih + y) * g->iw + x0) * g->ic;
            continue;
        }
        float *dst = edge + ky * span;
        for (int kx = 0; kx < g->kw; kx++)
            for (int c = 0; c < g->ic; c++) {
                const int x = x0 + kx;
                const int inside = valid && y >= 0 && y < g->ih && x >= 0 && x < g->iw;
                dst[kx * g->ic + c] = inside ? in[(((size_t)s * g->ih + y) * g->iw + x) * g->ic + c] : 0;
            }
        src[ky] = dst;
    }
}

/* The biases of channel block b (zeros past oc). */
static inline void bias_block(const float *bias, int b, int oc, float *b0)
{
    for (int o = 0; o < 16; o++) b0[o] = bias && b * 16 + o < oc ? bias[b * 16 + o] : 0.0f;
}

/* a[j][0] = b0 + the sums of one block of 16 output channels (weights w, the
 * block's column of wt) for the PIX pixels whose window rows are src[j], in
 * two passes of 8 channels: eight 8-float accumulators fit AVX's 16 registers
 * where eight 16-float ones spill. Lane for lane the multiply-adds of the
 * 16-float loop, so the sums are the same. */
__attribute__((always_inline)) static inline void block_sums_halves(const dr_conv_geom *g,
                                                                    const float *(*src)[DR_DIRECT_MAX_KH],
                                                                    const float *w, int oc_pad, v16 b0, v16 (*a)[1])
{
    const int span = g->kw * g->ic;
    for (int half = 0; half < 2; half++) {
        v8 h[PIX], bh;
        memcpy(&bh, (const float *)&b0 + 8 * half, sizeof bh);
        for (int j = 0; j < PIX; j++) h[j] = bh;
        const float *wk8 = w + 8 * half;
        for (int ky = 0; ky < g->kh; ky++)
            for (int t = 0; t < span; t++, wk8 += oc_pad) {
                v8 wk;
                memcpy(&wk, wk8, sizeof wk);
                for (int j = 0; j < PIX; j++) h[j] += src[j][ky][t] * wk;
            }
        for (int j = 0; j < PIX; j++) memcpy((float *)&a[j][0] + 8 * half, &h[j], sizeof h[j]);
    }
}

#endif
