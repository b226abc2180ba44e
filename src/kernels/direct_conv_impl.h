/* What the direct convolutions (direct_conv.c, direct_conv_pool.c) share:
 * vector types, the pixel tile and how a pixel's input window is found. */
#ifndef DR_DIRECT_CONV_IMPL_H
#define DR_DIRECT_CONV_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../core/vec16.h"
#include "bitgemm.h"
#include "direct_conv.h"

typedef float v8 __attribute__((vector_size(32))); /* AVX: 8 pixels x 8 channels of accumulators fit its 16 registers */
typedef float v16u __attribute__((vector_size(64), aligned(4))); /* unaligned loads */

#define PIX 8

/* act_codes16(m, cabs, levels, dst): the codes of 16 values (act_codes.h). */
#define AC_LANES 16
#define AC_GT dr_vgtf
#define AC_LT dr_vltf
#if defined(__aarch64__)
#define AC_STORE(dst, q)                                                                                \
    do {                                                                                                \
        const v16b b_ = dr_vbytes(q);                                                                   \
        memcpy(dst, &b_, 16);                                                                           \
    } while (0)
#else
#define AC_STORE(dst, q)                                                                                \
    for (int o_ = 0; o_ < 16; o_++) (dst)[o_] = (uint8_t)(q)[o_] /* vpmovdb in the AVX-512 clones */
#endif
#define AC_NAME(x) x##16
#include "act_codes.h"
#undef AC_LANES
#undef AC_GT
#undef AC_LT
#undef AC_STORE
#undef AC_NAME

#if defined(__x86_64__)
/* act_codes8: the same for 8 values, for loops compiled for AVX2. */
#define AC_LANES 8
#define AC_GT(a, b) ((a) > (b))
#define AC_LT(a, b) ((a) < (b))
#define AC_STORE(dst, q)                                                                                \
    do {                                                                                                \
        const dr_v8b b_ = dr_vbytes8(q);                                                                \
        memcpy(dst, &b_, 8);                                                                            \
    } while (0)
#define AC_NAME(x) x##8
#include "act_codes.h"
#undef AC_LANES
#undef AC_GT
#undef AC_LT
#undef AC_STORE
#undef AC_NAME
#endif

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

#if defined(__aarch64__)
#include <arm_neon.h>

/* block_sums_halves in NEON: per pass of 8 channels, 8 pixels x 2 vectors of
 * accumulators (16 of the 32 registers); four inputs of a pixel in one load,
 * multiplied in by lane (fmla by element) against four inputs' weights. The
 * same fused multiply-adds in the same order, so the same sums. (GCC 12 keeps
 * the generic loop's accumulators on the stack here.) */
__attribute__((always_inline)) static inline void block_sums_neon(const dr_conv_geom *g,
                                                                  const float *(*src)[DR_DIRECT_MAX_KH],
                                                                  const float *w, int oc_pad, v16 b0, v16 (*a)[1])
{
    const int span = g->kw * g->ic;
    for (int half = 0; half < 2; half++) {
        const float *bias = (const float *)&b0 + 8 * half;
        float32x4_t h[PIX][2];
        for (int j = 0; j < PIX; j++) h[j][0] = vld1q_f32(bias), h[j][1] = vld1q_f32(bias + 4);
        const float *wk = w + 8 * half;
        for (int ky = 0; ky < g->kh; ky++) {
            int t = 0;
            for (; t + 4 <= span; t += 4, wk += 4 * (size_t)oc_pad) {
                float32x4_t lo[4], hi[4];
                for (int i = 0; i < 4; i++) lo[i] = vld1q_f32(wk + i * oc_pad), hi[i] = vld1q_f32(wk + i * oc_pad + 4);
                for (int j = 0; j < PIX; j++) {
                    const float32x4_t x = vld1q_f32(src[j][ky] + t);
                    h[j][0] = vfmaq_laneq_f32(h[j][0], lo[0], x, 0), h[j][1] = vfmaq_laneq_f32(h[j][1], hi[0], x, 0);
                    h[j][0] = vfmaq_laneq_f32(h[j][0], lo[1], x, 1), h[j][1] = vfmaq_laneq_f32(h[j][1], hi[1], x, 1);
                    h[j][0] = vfmaq_laneq_f32(h[j][0], lo[2], x, 2), h[j][1] = vfmaq_laneq_f32(h[j][1], hi[2], x, 2);
                    h[j][0] = vfmaq_laneq_f32(h[j][0], lo[3], x, 3), h[j][1] = vfmaq_laneq_f32(h[j][1], hi[3], x, 3);
                }
            }
            for (; t < span; t++, wk += oc_pad) {
                const float32x4_t lo = vld1q_f32(wk), hi = vld1q_f32(wk + 4);
                for (int j = 0; j < PIX; j++)
                    h[j][0] = vfmaq_n_f32(h[j][0], lo, src[j][ky][t]), h[j][1] = vfmaq_n_f32(h[j][1], hi, src[j][ky][t]);
            }
        }
        for (int j = 0; j < PIX; j++) {
            vst1q_f32((float *)&a[j][0] + 8 * half, h[j][0]);
            vst1q_f32((float *)&a[j][0] + 8 * half + 4, h[j][1]);
        }
    }
}
#endif

/* a[j][0] = b0 + the sums of one block of 16 output channels (weights w, the
 * block's column of wt) for the PIX pixels whose window rows are src[j], in
 * two passes of 8 channels: eight 8-float accumulators fit AVX's 16 registers
 * where eight 16-float ones spill. Lane for lane the multiply-adds of the
 * 16-float loop, so the sums are the same. On aarch64 the NEON loop above,
 * unless DOREFA_KERNEL=c. */
__attribute__((always_inline)) static inline void block_sums_halves(const dr_conv_geom *g,
                                                                    const float *(*src)[DR_DIRECT_MAX_KH],
                                                                    const float *w, int oc_pad, v16 b0, v16 (*a)[1])
{
#if defined(__aarch64__)
    if (dr_bitgemm_kernel()[0] == 'n') { /* "neon" */
        block_sums_neon(g, src, w, oc_pad, b0, a);
        return;
    }
#endif
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
