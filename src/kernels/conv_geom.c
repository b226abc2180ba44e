#include "conv_geom.h"

#include <stdio.h>

#include <string.h>

static void resolve_dim(int in, int k, int s, int mode, int *out, int *pad_before)
{
    if (mode == DR_PAD_SAME) {
        *out = (in + s - 1) / s;
        int total = (*out - 1) * s + k - in;
        if (total < 0) total = 0;
        *pad_before = total / 2;
    } else {
        *out = in >= k ? (in - k) / s + 1 : 0;
        *pad_before = 0;
    }
}

void dr_conv_geom_resolve(dr_conv_geom *g, int pad_mode)
{
    resolve_dim(g->ih, g->kh, g->sh, pad_mode, &g->oh, &g->pad_top);
    resolve_dim(g->iw, g->kw, g->sw, pad_mode, &g->ow, &g->pad_left);
}

int dr_conv_is_identity(const dr_conv_geom *g)
{
    if (g->groups != 1 || g->pad_top || g->pad_left) return 0;
    if (g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1) return 1;
    return g->kh == g->ih && g->kw == g->iw && g->oh == 1 && g->ow == 1;
}

static inline void copy_floats(float *restrict d, const float *restrict s, int n)
{
    for (int i = 0; i < n; i++) d[i] = s[i];
}

void dr_im2col(const dr_conv_geom *g, const float *in, int n, int grp, float *col)
{
    const int icg = g->ic / g->groups, K = dr_conv_k(g), P = dr_conv_p(g);
    const int rows = n * P;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        int s = r / P, p = r % P, oy = p / g->ow, ox = p % g->ow;
        const float *src = in + (size_t)s * g->ih * g->iw * g->ic + (size_t)grp * icg;
        float *dst = col + (size_t)r * K;
        int x0 = ox * g->sw - g->pad_left;
        /* Without groups a kernel row inside the input is one contiguous run. */
        int whole_row = g->groups == 1 && x0 >= 0 && x0 + g->kw <= g->iw;
        for (int ky = 0; ky < g->kh; ky++, dst += g->kw * icg) {
            int y = oy * g->sh - g->pad_top + ky;
            if (y < 0 || y >= g->ih) {
                memset(dst, 0, sizeof(float) * g->kw * icg);
                continue;
            }
            const float *row = src + (size_t)y * g->iw * g->ic;
            if (whole_row) {
                copy_floats(dst, row + (size_t)x0 * g->ic, g->kw * icg);
                continue;
            }
            for (int kx = 0; kx < g->kw; kx++) {
                int x = x0 + kx;
                if (x < 0 || x >= g->iw)
                    memset(dst + kx * icg, 0, sizeof(float) * icg);
                else
                    copy_floats(dst + kx * icg, row + (size_t)x * g->ic, icg);
            }
        }
    }
}

void dr_col2im_add(const dr_conv_geom *g, const float *col, int n, int grp, float *din)
{
    const int icg = g->ic / g->groups, K = dr_conv_k(g), P = dr_conv_p(g);
    /* One thread per sample: windows of different samples never overlap, so
     * the scatter is race-free and its summation order fixed. */
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n; s++) {
        float *dst = din + (size_t)s * g->ih * g->iw * g->ic + (size_t)grp * icg;
        for (int p = 0; p < P; p++) {
            int oy = p / g->ow, ox = p % g->ow;
            const float *src = col + ((size_t)s * P + p) * K;
            for (int ky = 0; ky < g->kh; ky++) {
                int y = oy * g->sh - g->pad_top + ky;
                if (y < 0 || y >= g->ih) {
                    src += g->kw * icg;
                    continue;
                }
                for (int kx = 0; kx < g->kw; kx++, src += icg) {
                    int x = ox * g->sw - g->pad_left + kx;
                    if (x < 0 || x >= g->iw) continue;
                    float *d = dst + ((size_t)y * g->iw + x) * g->ic;
                    for (int c = 0; c < icg; c++) d[c] += src[c];
                }
            }
        }
    }
}

/* The geometry as explicit padding on each side: a SAME conv pads after the
 * input what it does not pad before. */
void dr_conv_geom_pads(const dr_conv_geom *g, int pads[4])
{
    const int pb = (g->oh - 1) * g->sh + g->kh - g->ih - g->pad_top, pr = (g->ow - 1) * g->sw + g->kw - g->iw - g->pad_left;
    pads[0] = g->pad_top, pads[1] = g->pad_left, pads[2] = pb > 0 ? pb : 0, pads[3] = pr > 0 ? pr : 0;
}

void dr_conv_geom_describe(const dr_conv_geom *g, char *buf, size_t cap)
{
    int p[4];
    dr_conv_geom_pads(g, p);
    snprintf(buf, cap, " k=%d,%d stride=%d,%d pad=%d,%d,%d,%d", g->kh, g->kw, g->sh, g->sw, p[0], p[1], p[2], p[3]);
}
