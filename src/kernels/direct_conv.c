/* Direct float convolution for layers with a short reduction (the first layer
 * reads 1-3 image channels: K = 25..75), where im2col + sgemm runs well below
 * the FMA peak. Eight output pixels at a time: their K inputs are gathered
 * (zeros for padding), then for each block of 16 output channels eight vector
 * accumulators stay in registers while every input value is broadcast against
 * the block's weights, transposed to [K][oc_pad]. Eight pixels give eight
 * independent accumulator chains, enough to keep both FMA units busy (the
 * file is compiled with -ffp-contract=fast). */
#include "direct_conv.h"

#include <string.h>

#if defined(__x86_64__)
#define SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SIMD_CLONES
#endif

typedef float v16 __attribute__((vector_size(64)));

#define PIX 8

SIMD_CLONES void dr_direct_conv(const dr_conv_geom *g, int n, const float *in, const float *wt, const float *bias,
                                float *out)
{
    const int oc = g->oc, oc_pad = (oc + 15) / 16 * 16, nb = oc_pad / 16, P = g->oh * g->ow, rows = n * P;
    const int span = g->kw * g->ic; /* one kernel row of one pixel: contiguous in NHWC */
#pragma omp parallel for schedule(static)
    for (int r0 = 0; r0 < rows; r0 += PIX) {
        const float *src[PIX][DR_DIRECT_MAX_KH];
        float edge[PIX][DR_DIRECT_MAX_K];
        int s = r0 / P, oy = r0 % P / g->ow, ox = r0 % g->ow;
        for (int j = 0; j < PIX; j++) {
            for (int ky = 0; ky < g->kh; ky++) {
                const int y = oy * g->sh - g->pad_top + ky, x0 = ox * g->sw - g->pad_left;
                if (r0 + j < rows && y >= 0 && y < g->ih && x0 >= 0 && x0 + g->kw <= g->iw) {
                    src[j][ky] = in + (((size_t)s * g->ih + y) * g->iw + x0) * g->ic;
                    continue;
                }
                float *dst = edge[j] + ky * span; /* padding: gather, zeros outside */
                for (int kx = 0; kx < g->kw; kx++)
                    for (int c = 0; c < g->ic; c++) {
                        const int x = x0 + kx;
                        const int inside = r0 + j < rows && y >= 0 && y < g->ih && x >= 0 && x < g->iw;
                        dst[kx * g->ic + c] = inside ? in[(((size_t)s * g->ih + y) * g->iw + x) * g->ic + c] : 0;
                    }
                src[j][ky] = dst;
            }
            if (++ox == g->ow) { /* next pixel */
                ox = 0;
                if (++oy == g->oh) oy = 0, s++;
            }
        }
        for (int b = 0; b < nb; b++) {
            v16 a[PIX], b0;
            memset(&b0, 0, sizeof b0);
            if (bias)
                for (int o = 0; o < 16 && b * 16 + o < oc; o++) b0[o] = bias[b * 16 + o];
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
