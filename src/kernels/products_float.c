/* Float products: im2col (in sample chunks bounded by a workspace budget)
 * followed by one OpenBLAS sgemm per chunk and group. */
#include "products.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "direct_conv.h"

#define CHUNK_FLOATS ((size_t)8 << 20) /* 32 MiB of im2col columns at most */

float *dr_workspace_get(dr_workspace *ws, size_t floats)
{
    if (floats > ws->cap) {
        free(ws->buf);
        ws->buf = dr_xalign(floats * sizeof(float));
        ws->cap = floats;
    }
    return ws->buf;
}

void dr_workspace_free(dr_workspace *ws)
{
    free(ws->buf);
    ws->buf = NULL;
    ws->cap = 0;
}

static int chunk_samples(const dr_conv_geom *g, int n)
{
    size_t per = (size_t)dr_conv_p(g) * dr_conv_k(g);
    size_t c = CHUNK_FLOATS / (per ? per : 1);
    if (c < 1) c = 1;
    return c > (size_t)n ? n : (int)c;
}

/* out[r][o] += bias[o] over rows r */
void dr_add_bias(float *out, size_t rows, int oc, const float *bias)
{
    if (!bias) return;
#pragma omp parallel for schedule(static) if (rows * oc >= DR_SMALL_LOOP) /* a team costs more than a small tensor */
    for (size_t r = 0; r < rows; r++)
        for (int k = 0; k < oc; k++) out[r * oc + k] += bias[k];
}

static void float_forward(const dr_conv_geom *g, int n, const float *in, const float *w, const float *bias,
                          float *out, dr_workspace *ws, const dr_qinfo *q)
{
    (void)q;
    const int K = dr_conv_k(g), P = dr_conv_p(g), ocg = g->oc / g->groups;
    const size_t in_stride = (size_t)g->ih * g->iw * g->ic, out_stride = (size_t)P * g->oc;
    if (dr_conv_is_identity(g)) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n * P, g->oc, K, 1.0f, in, K, w, K,
                    0.0f, out, g->oc);
        dr_add_bias(out, (size_t)n * P, g->oc, bias);
        return;
    }
    if (dr_direct_suits(g)) { /* short reductions (first layers): direct, no im2col */
        float *wt = dr_workspace_get(ws, (size_t)K * ((g->oc + 15) / 16 * 16));
        dr_direct_weights(g, w, wt);
        dr_direct_conv(g, n, in, wt, bias, out);
        return;
    }
    int chunk = chunk_samples(g, n);
    float *col = dr_workspace_get(ws, (size_t)chunk * P * K);
    for (int s0 = 0; s0 < n; s0 += chunk) {
        int cn = DR_MIN(chunk, n - s0);
        for (int grp = 0; grp < g->groups; grp++) {
            dr_im2col(g, in + s0 * in_stride, cn, grp, col);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, cn * P, ocg, K, 1.0f, col, K,
                        w + (size_t)grp * ocg * K, K, 0.0f, out + s0 * out_stride + grp * ocg,
                        g->oc);
        }
    }
    dr_add_bias(out, (size_t)n * P, g->oc, bias);
}

static void float_backward_input(const dr_conv_geom *g, int n, const float *dout, const float *w,
                                 float *din, int store, dr_workspace *ws, const dr_qinfo *q)
{
    (void)q;
    const int K = dr_conv_k(g), P = dr_conv_p(g), ocg = g->oc / g->groups;
    const size_t in_stride = (size_t)g->ih * g->iw * g->ic, out_stride = (size_t)P * g->oc;
    if (store) memset(din, 0, sizeof(float) * (size_t)n * in_stride);
    if (dr_conv_is_identity(g)) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n * P, K, g->oc, 1.0f, dout, g->oc,
                    w, K, 1.0f, din, K);
        return;
    }
    int chunk = chunk_samples(g, n);
    float *col = dr_workspace_get(ws, (size_t)chunk * P * K);
    for (int s0 = 0; s0 < n; s0 += chunk) {
        int cn = DR_MIN(chunk, n - s0);
        for (int grp = 0; grp < g->groups; grp++) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cn * P, K, ocg, 1.0f,
                        dout + s0 * out_stride + grp * ocg, g->oc, w + (size_t)grp * ocg * K, K,
                        0.0f, col, K);
            dr_col2im_add(g, col, cn, grp, din + s0 * in_stride);
        }
    }
}

static void float_backward_weight(const dr_conv_geom *g, int n, const float *dout, const float *in,
                                  float *dw, dr_workspace *ws, const dr_qinfo *q)
{
    (void)q;
    const int K = dr_conv_k(g), P = dr_conv_p(g), ocg = g->oc / g->groups;
    const size_t in_stride = (size_t)g->ih * g->iw * g->ic, out_stride = (size_t)P * g->oc;
    if (dr_conv_is_identity(g)) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, g->oc, K, n * P, 1.0f, dout, g->oc,
                    in, K, 1.0f, dw, K);
        return;
    }
    if (dr_direct_suits(g)) {
        dr_direct_backward_weight(g, n, dout, in, dw, dr_workspace_get(ws, dr_direct_backward_weight_scratch(g, n)));
        return;
    }
    int chunk = chunk_samples(g, n);
    float *col = dr_workspace_get(ws, (size_t)chunk * P * K);
    for (int s0 = 0; s0 < n; s0 += chunk) {
        int cn = DR_MIN(chunk, n - s0);
        for (int grp = 0; grp < g->groups; grp++) {
            dr_im2col(g, in + s0 * in_stride, cn, grp, col);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ocg, K, cn * P, 1.0f,
                        dout + s0 * out_stride + grp * ocg, g->oc, col, K, 1.0f,
                        dw + (size_t)grp * ocg * K, K);
        }
    }
}

const dr_products dr_products_float = {
    .name = "float",
    .forward = float_forward,
    .backward_input = float_backward_input,
    .backward_weight = float_backward_weight,
};
