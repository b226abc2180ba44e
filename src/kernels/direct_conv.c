/* Direct float convolution for layers with a short reduction (the first layer
 * reads 1-3 image channels: K = 25..75), where im2col + sgemm runs well below
 * the FMA peak. Eight output pixels at a time: their K inputs are gathered
 * (zeros for padding), then for each block of 16 output channels eight vector
 * accumulators stay in registers while every input value is broadcast against
 * the block's weights, transposed to [K][oc_pad]. Eight pixels give eight
 * independent accumulator chains, enough to keep both FMA units busy (the
 * file is compiled with -ffp-contract=fast). dr_direct_conv_pool_codes runs
 * the same sums for two 2x2 pooling windows at a time, up to 48 channels per
 * pass, and leaves only the pooled, activated, quantized codes. */
#include "direct_conv.h"

#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "../core/common.h"

typedef float v16 __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4))); /* unaligned loads */

#define PIX 8

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

DR_SIMD_CLONES void dr_direct_conv(const dr_conv_geom *g, int n, const float *in, const float *wt, const float *bias,
                                   float *out)
{
    const int oc = g->oc, oc_pad = (oc + 15) / 16 * 16, nb = oc_pad / 16, P = g->oh * g->ow, rows = n * P;
    const int span = g->kw * g->ic; /* one kernel row of one pixel: contiguous in NHWC */
#pragma omp parallel for schedule(static)
    for (int r0 = 0; r0 < rows; r0 += PIX) {
        const float *src[PIX][DR_DIRECT_MAX_KH];
        float edge[PIX][DR_DIRECT_MAX_K];
        for (int j = 0; j < PIX; j++) {
            const int r = r0 + j < rows ? r0 + j : r0;
            window_rows(g, in, r / P, r % P / g->ow, r % g->ow, r0 + j < rows, src[j], edge[j]);
        }
        for (int b = 0; b < nb; b++) {
            v16 a[PIX], b0;
            bias_block(bias, b, oc, (float *)&b0);
            for (int j = 0; j < PIX; j++) a[j] = b0;
            const float *w = wt + b * 16;
            for (int ky = 0; ky < g->kh; ky++)
                for (int t = 0; t < span; t++, w += oc_pad) {
                    v16 wk;
                    memcpy(&wk, w, sizeof wk);
                    for (int j = 0; j < PIX; j++) a[j] += src[j][ky][t] * wk;
                }
            const int cnt = oc - b * 16 < 16 ? oc - b * 16 : 16;
            for (int j = 0; j < PIX && r0 + j < rows; j++)
                memcpy(out + (size_t)(r0 + j) * oc + b * 16, &a[j], sizeof(float) * cnt);
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

static inline int grad_kp(const dr_conv_geom *g) { return (g->kh * g->kw * g->ic + 7) / 8 * 8; }

size_t dr_direct_backward_weight_scratch(const dr_conv_geom *g, int n)
{
    const size_t kp = (size_t)grad_kp(g), oc_pad = (size_t)(g->oc + 15) / 16 * 16;
    return (size_t)n * kp * oc_pad + (size_t)omp_get_max_threads() * GPIX * (kp + oc_pad) + 16;
}

DR_SIMD_CLONES void dr_direct_backward_weight(const dr_conv_geom *g, int n, const float *dout, const float *in,
                                              float *dw, float *scratch)
{
    const int oc = g->oc, oc_pad = (oc + 15) / 16 * 16, nb = oc_pad / 16, K = g->kh * g->kw * g->ic;
    const int kp = grad_kp(g), span = g->kw * g->ic, P = g->oh * g->ow;
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
                    for (; b0 + 3 <= nb; b0 += 3) GRAD_TILE(3);
                    for (; b0 < nb; b0++) GRAD_TILE(1);
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

int dr_direct_pool_suits(const dr_conv_geom *g, const dr_conv_geom *pool)
{
    return pool->kh == 2 && pool->kw == 2 && pool->sh == 2 && pool->sw == 2 && pool->pad_top == 0 &&
           pool->pad_left == 0 && 2 * pool->oh <= g->oh && 2 * pool->ow <= g->ow && g->oc <= DR_DIRECT_MAX_OC;
}

/* Codes of 16 pooled values: rint(levels min(1, act(m))), ties to even as
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

/* Two pooling windows side by side: 2 conv rows x 4 conv columns = PIX
 * pixels, NB blocks of 16 channels at once (8 NB accumulators). */
#define POOL_TILE(NB)                                                                                   \
    do {                                                                                                \
        v16 a[PIX][NB];                                                                                 \
        for (int b = 0; b < NB; b++) {                                                                  \
            v16 b0;                                                                                     \
            bias_block(bias, b0blk + b, oc, (float *)&b0);                                              \
            for (int j = 0; j < PIX; j++) a[j][b] = b0;                                                 \
        }                                                                                               \
        const float *w = wt + b0blk * 16;                                                               \
        for (int ky = 0; ky < g->kh; ky++)                                                              \
            for (int t = 0; t < span; t++, w += oc_pad) {                                               \
                const v16u *wk = (const v16u *)w;                                                       \
                for (int j = 0; j < PIX; j++) {                                                         \
                    const float x = src[j][ky][t];                                                      \
                    for (int b = 0; b < NB; b++) a[j][b] += x * wk[b];                                  \
                }                                                                                       \
            }                                                                                           \
        for (int b = 0; b < NB; b++)                                                                    \
            for (int h = 0; h < 2; h++) {                                                               \
                const int j = 2 * h; /* window h: pixels j, j+1 (top row), j+4, j+5 (bottom) */        \
                v16 m = a[j][b];                                                                        \
                v16i c;                                                                     \
                c = a[j + 1][b] > m; m = (v16)(((v16i)a[j + 1][b] & c) | ((v16i)m & ~c));               \
                c = a[j + 4][b] > m; m = (v16)(((v16i)a[j + 4][b] & c) | ((v16i)m & ~c));               \
                c = a[j + 5][b] > m; m = (v16)(((v16i)a[j + 5][b] & c) | ((v16i)m & ~c));               \
                act_codes16(m, cabs, levels, tc[h] + (b0blk + b) * 16);                                  \
            }                                                                                           \
    } while (0)

DR_SIMD_CLONES void dr_direct_conv_pool_codes(const dr_conv_geom *g, const dr_conv_geom *pool, int n, const float *in,
                                              const float *wt, const float *bias, int cabs, float levels,
                                              uint8_t *codes)
{
    const int oc = g->oc, oc_pad = (oc + 15) / 16 * 16, nb = oc_pad / 16, span = g->kw * g->ic;
    const int ph = pool->oh, pw = pool->ow, pairs = (pw + 1) / 2;
    size_t off[PIX]; /* pixel j of a tile: its window's offset from the tile's corner */
    for (int j = 0; j < PIX; j++) off[j] = ((size_t)(j / 4) * g->sh * g->iw + (size_t)(j % 4) * g->sw) * g->ic;
#pragma omp parallel for schedule(dynamic, 64) /* a core slowed by other work takes fewer tiles */
    for (int tile = 0; tile < n * ph * pairs; tile++) {
        const int s = tile / (ph * pairs), py = tile / pairs % ph, px = tile % pairs * 2;
        const int two = px + 1 < pw; /* the second window exists */
        const float *src[PIX][DR_DIRECT_MAX_KH];
        float edge[PIX][DR_DIRECT_MAX_K];
        const int y0 = 2 * py * g->sh - g->pad_top, x0 = 2 * px * g->sw - g->pad_left;
        if (two && y0 >= 0 && x0 >= 0 && y0 + g->sh + g->kh <= g->ih && x0 + 3 * g->sw + g->kw <= g->iw) {
            /* every window inside the input: plain offsets from the tile's corner */
            const float *corner = in + (((size_t)s * g->ih + y0) * g->iw + x0) * g->ic;
            for (int j = 0; j < PIX; j++)
                for (int ky = 0; ky < g->kh; ky++) src[j][ky] = corner + off[j] + (size_t)ky * g->iw * g->ic;
        } else {
            for (int j = 0; j < PIX; j++) {
                const int col = j % 4 < 2 || two ? 2 * px + j % 4 : 2 * px + j % 2; /* else repeat window 0 */
                window_rows(g, in, s, 2 * py + j / 4, col, 1, src[j], edge[j]);
            }
        }
        uint8_t tc[2][DR_DIRECT_MAX_OC + 16]; /* the tile's codes */
        int b0blk = 0;
        for (; b0blk + 3 <= nb; b0blk += 3) POOL_TILE(3);
        for (; b0blk < nb; b0blk++) POOL_TILE(1);
        for (int h = 0; h < 1 + two; h++) memcpy(codes + (((size_t)s * ph + py) * pw + px + h) * oc, tc[h], (size_t)oc);
    }
}
