/* Direct float convolution for layers with a short reduction (the first layer
 * reads 1-3 image channels: K = 25..75), where im2col + sgemm runs well below
 * the FMA peak. Eight output pixels at a time: their K inputs are gathered
 * (zeros for padding), then for each block of 16 output channels eight vector
 * accumulators stay in registers while every input value is broadcast against
 * the block's weights, transposed to [K][oc_pad]. Eight pixels give eight
 * independent accumulator chains, enough to keep both FMA units busy (the
 * file is compiled with -ffp-contract=fast). direct_conv_pool.c runs the same
 * sums fused with the 2x2 max-pool that follows a first layer. */
#include "direct_conv.h"

#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "../core/common.h"
#include "direct_conv_impl.h"

int dr_direct_suits(const dr_conv_geom *g)
{
    return g->groups == 1 && g->kh * g->kw * g->ic <= DR_DIRECT_MAX_K && g->kh <= DR_DIRECT_MAX_KH;
}

void dr_direct_weights(const dr_conv_geom *g, const float *w, float *wt)
{
    const int K = g->kh * g->kw * g->ic, oc_pad = (g->oc + 15) / 16 * 16;
    for (int k = 0; k < K; k++)
        for (int o = 0; o < oc_pad; o++) wt[(size_t)k * oc_pad + o] = o < g->oc ? w[(size_t)o * K + k] : 0.0f;
}

DR_FMA_CLONES void dr_direct_conv(const dr_conv_geom *g, int n, const float *in, const float *wt, const float *bias,
                                   float *out)
{
    const int oc = g->oc, oc_pad = (oc + 15) / 16 * 16, nb = oc_pad / 16, P = g->oh * g->ow, rows = n * P;
    const int span = g->kw * g->ic; /* one kernel row of one pixel: contiguous in NHWC */
    const int wide = dr_wide_vectors();
#pragma omp parallel for schedule(static)
    for (int r0 = 0; r0 < rows; r0 += PIX) {
        const float *src[PIX][DR_DIRECT_MAX_KH];
        float edge[PIX][DR_DIRECT_MAX_K];
        for (int j = 0; j < PIX; j++) {
            const int r = r0 + j < rows ? r0 + j : r0;
            window_rows(g, in, r / P, r % P / g->ow, r % g->ow, r0 + j < rows, src[j], edge[j]);
        }
        for (int b = 0; b < nb; b++) {
            v16 a[PIX][1], b0; /* [1]: the layout block_sums_halves and the pool tiles share */
            bias_block(bias, b, oc, (float *)&b0);
            if (wide) {
                for (int j = 0; j < PIX; j++) a[j][0] = b0;
                const float *w = wt + b * 16;
                for (int ky = 0; ky < g->kh; ky++)
                    for (int t = 0; t < span; t++, w += oc_pad) {
                        v16 wk;
                        memcpy(&wk, w, sizeof wk);
                        for (int j = 0; j < PIX; j++) a[j][0] += src[j][ky][t] * wk;
                    }
            } else
                block_sums_halves(g, src, wt + b * 16, oc_pad, b0, a);
            const int cnt = oc - b * 16 < 16 ? oc - b * 16 : 16;
            for (int j = 0; j < PIX && r0 + j < rows; j++)
                memcpy(out + (size_t)(r0 + j) * oc + b * 16, &a[j][0], sizeof(float) * cnt);
        }
    }
}

/* Backward-weight: per sample, GPIX output pixels at a time, their windows
 * laid out as rows of col[GPIX][kp] and their gradients as dy[GPIX][oc_pad];
 * a tile of 8 weights (k) x NB blocks of 16 channels stays in registers while
 * the chunk's pixels stream past. */
#define GPIX 64
#define GRAD_TILE(NB)                                                                                   \
    do {                                                                                                \
        v16 a[8][NB];                                                                                   \
        float *pt = ps + (size_t)kt * oc_pad + b0 * 16;                                                 \
        for (int i = 0; i < 8; i++)                                                                     \
            for (int b = 0; b < NB; b++) memcpy(&a[i][b], pt + (size_t)i * oc_pad + b * 16, sizeof(v16)); \
        for (int j = 0; j < np; j++) {                                                                  \
            const v16 *d = (const v16 *)(dy + (size_t)j * oc_pad + b0 * 16);                            \
            const float *c = col + (size_t)j * kp + kt;                                                 \
            for (int i = 0; i < 8; i++)                                                                 \
                for (int b = 0; b < NB; b++) a[i][b] += c[i] * d[b];                                    \
        }                                                                                               \
        for (int i = 0; i < 8; i++)                                                                     \
            for (int b = 0; b < NB; b++) memcpy(pt + (size_t)i * oc_pad + b * 16, &a[i][b], sizeof(v16)); \
    } while (0)

/* The same tile over one block of 8 channels (b8): eight 8-float
 * accumulators, for AVX's 16 registers (with 16-float ones GCC 12 keeps the
 * tile in memory where the target has no AVX-512). Each accumulator lane
 * takes the same multiply-adds in the same order as in GRAD_TILE. */
#define GRAD_TILE8(b8)                                                                                  \
    do {                                                                                                \
        v8 a[8];                                                                                        \
        float *pt = ps + (size_t)kt * oc_pad + (b8) * 8;                                                \
        for (int i = 0; i < 8; i++) memcpy(&a[i], pt + (size_t)i * oc_pad, sizeof(v8));                \
        for (int j = 0; j < np; j++) {                                                                  \
            v8 d;                                                                                       \
            memcpy(&d, dy + (size_t)j * oc_pad + (b8) * 8, sizeof d);                                   \
            const float *c = col + (size_t)j * kp + kt;                                                 \
            for (int i = 0; i < 8; i++) a[i] += c[i] * d;                                               \
        }                                                                                               \
        for (int i = 0; i < 8; i++) memcpy(pt + (size_t)i * oc_pad, &a[i], sizeof(v8));                \
    } while (0)

static inline int grad_kp(const dr_conv_geom *g) { return (g->kh * g->kw * g->ic + 7) / 8 * 8; }

size_t dr_direct_backward_weight_scratch(const dr_conv_geom *g, int n)
{
    const size_t kp = (size_t)grad_kp(g), oc_pad = (size_t)(g->oc + 15) / 16 * 16;
    return (size_t)n * kp * oc_pad + (size_t)omp_get_max_threads() * GPIX * (kp + oc_pad) + 16;
}

DR_FMA_CLONES void dr_direct_backward_weight(const dr_conv_geom *g, int n, const float *dout, const float *in,
                                              float *dw, float *scratch)
{
    const int oc = g->oc, oc_pad = (oc + 15) / 16 * 16, nb = oc_pad / 16, K = g->kh * g->kw * g->ic;
    const int kp = grad_kp(g), span = g->kw * g->ic, P = g->oh * g->ow, wide = dr_wide_vectors();
    float *part = scratch, *bufs = scratch + (size_t)n * kp * oc_pad;
    bufs += (16 - ((uintptr_t)bufs / sizeof(float)) % 16) % 16; /* 64-byte aligned rows of dy */
#pragma omp parallel
    {
        float *dy = bufs + (size_t)omp_get_thread_num() * GPIX * (kp + oc_pad), *col = dy + (size_t)GPIX * oc_pad;
#pragma omp for schedule(dynamic)
        for (int s = 0; s < n; s++) {
            float *ps = part + (size_t)s * kp * oc_pad;
            memset(ps, 0, sizeof(float) * kp * oc_pad);
            for (int p0 = 0; p0 < P; p0 += GPIX) {
                const int np = P - p0 < GPIX ? P - p0 : GPIX;
                for (int j = 0; j < np; j++) {
                    const float *src[DR_DIRECT_MAX_KH];
                    float edge[DR_DIRECT_MAX_K];
                    const int p = p0 + j;
                    window_rows(g, in, s, p / g->ow, p % g->ow, 1, src, edge);
                    float *c = col + (size_t)j * kp;
                    for (int ky = 0; ky < g->kh; ky++) memcpy(c + ky * span, src[ky], sizeof(float) * span);
                    for (int k = K; k < kp; k++) c[k] = 0;
                    float *d = dy + (size_t)j * oc_pad;
                    memcpy(d, dout + ((size_t)s * P + p) * oc, sizeof(float) * oc);
                    for (int o = oc; o < oc_pad; o++) d[o] = 0;
                }
                for (int kt = 0; kt < kp; kt += 8) {
                    int b0 = 0;
                    if (!wide)
                        for (int b8 = 0; b8 < 2 * nb; b8++) GRAD_TILE8(b8);
                    else {
                        for (; b0 + 3 <= nb; b0 += 3) GRAD_TILE(3);
                        for (; b0 < nb; b0++) GRAD_TILE(1);
                    }
                }
            }
        }
    }
#pragma omp parallel for schedule(static)
    for (int o = 0; o < oc; o++)
        for (int k = 0; k < K; k++) {
            float acc = dw[(size_t)o * K + k];
            for (int s = 0; s < n; s++) acc += part[((size_t)s * kp + k) * oc_pad + o];
            dw[(size_t)o * K + k] = acc;
        }
}
