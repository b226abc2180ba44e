/* Batch normalisation over N, H, W per channel.
 * Training: batch statistics; running averages updated TensorFlow-style,
 * r = momentum * r + (1 - momentum) * batch (unbiased batch variance).
 * Evaluation: running averages. In data-parallel training the statistics
 * are those of the global batch: the ranks sum their per-channel sums
 * (forward: x, x^2; backward: dy, dy * xhat), unless the pass says bn_local.
 *
 * With an activation fused (plan.fused_act: the act is the bn's only reader)
 * the forward pass writes h(y) and its quantization f_a to the act's out, and
 * the backward pass makes the gradient of y, dy = h'(y) d(act out) with y
 * recomputed from xhat, block by block while summing it: each tensor is read
 * and written once per pass, and the results are the unfused layers', bit
 * for bit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../quant/quantize.h"
#include "layer.h"

#define ROWS 32 /* rows per block of the passes (in cache between the fused steps) */

typedef struct {
    float momentum, eps;
    float *xhat;   /* normalised input of the last training pass */
    float *invstd; /* 1 / sqrt(var + eps) used by the last pass  */
    double *s1, *s2;
} bn_priv;

static int bn_parse(dr_layer *l, dr_kv *kv)
{
    bn_priv *b = l->priv = dr_xcalloc(1, sizeof *b);
    return dr_kv_float(kv, "momentum", 0.9f, 0.0f, 1.0f, &b->momentum) ||
           dr_kv_float(kv, "eps", 1e-5f, 0.0f, 1.0f, &b->eps);
}

static int bn_setup(dr_layer *l, const dr_pass *p)
{
    bn_priv *b = l->priv;
    int c = l->in_shape.c;
    l->out_shape = l->in_shape;
    dr_layer_add_param(l, "gamma", (size_t)c, 0.0f);
    dr_layer_add_param(l, "beta", (size_t)c, 0.0f);
    l->state_size = 2 * (size_t)c; /* running mean, running variance (in the network's state arena) */
    b->xhat = dr_xalign((size_t)p->max_batch * dr_shape_size(l->in_shape) * sizeof(float));
    b->invstd = dr_xcalloc((size_t)c, sizeof(float));
    b->s1 = dr_xcalloc(2 * (size_t)c, sizeof(double)); /* s1 and s2 side by side: one sum over ranks */
    b->s2 = b->s1 + c;
    return 0;
}

static void bn_init(dr_layer *l, dr_rng *rng)
{
    (void)rng;
    int c = l->in_shape.c;
    for (int k = 0; k < c; k++) {
        l->params[0].value[k] = 1.0f;
        l->params[1].value[k] = 0.0f;
        l->state[k] = 0.0f;
        l->state[c + k] = 1.0f;
    }
}

/* The batch's rows (samples x pixels): the global batch's where the ranks share statistics. */
static int shared_stats(const dr_pass *p) { return p->train && p->group && p->group->size > 1 && !p->bn_local; }

static size_t stat_rows(const dr_layer *l, const dr_pass *p, int n)
{
    return (size_t)(shared_stats(p) && p->n_global ? p->n_global : n) * l->in_shape.h * l->in_shape.w;
}

/* xhat = (x - mean) invstd and y = gamma xhat + beta on `rows` rows of C
 * channels; vectorised per clone, the same roundings in each (ISO C: no
 * contraction). */
DR_SIMD_CLONES static void normalize_rows(const float *restrict x, const float *restrict mean,
                                          const float *restrict invstd, const float *restrict gamma,
                                          const float *restrict beta, size_t rows, int C, float *restrict xhat,
                                          float *restrict y)
{
    for (size_t r = 0; r < rows; r++)
        for (int k = 0; k < C; k++) {
            const float h = (x[r * C + k] - mean[k]) * invstd[k];
            xhat[r * C + k] = h;
            y[r * C + k] = gamma[k] * h + beta[k];
        }
}

/* y = gamma xhat + beta on `rows` rows (the fused backward's y). */
DR_SIMD_CLONES static void affine_rows(const float *restrict xhat, const float *restrict gamma,
                                       const float *restrict beta, size_t rows, int C, float *restrict y)
{
    for (size_t r = 0; r < rows; r++)
        for (int k = 0; k < C; k++) y[r * C + k] = gamma[k] * xhat[r * C + k] + beta[k];
}

/* dx (+)= scale (dy - mdy - xhat mdyx) on `rows` rows. */
DR_SIMD_CLONES static void input_grad_rows(const float *restrict dy, const float *restrict xhat,
                                           const float *restrict scale, const float *restrict mdy,
                                           const float *restrict mdyx, size_t rows, int C, int store,
                                           float *restrict dx)
{
    for (size_t r = 0; r < rows; r++) {
        float *d = dx + r * C;
        const float *g = dy + r * C, *xh = xhat + r * C;
        if (store)
            for (int k = 0; k < C; k++) d[k] = scale[k] * (g[k] - mdy[k] - xh[k] * mdyx[k]);
        else
            for (int k = 0; k < C; k++) d[k] += scale[k] * (g[k] - mdy[k] - xh[k] * mdyx[k]);
    }
}

static void bn_forward(dr_layer *l, dr_pass *p, int n)
{
    bn_priv *b = l->priv;
    const int C = l->in_shape.c;
    const size_t R = (size_t)n * l->in_shape.h * l->in_shape.w, RS = stat_rows(l, p, n);
    const float *x = dr_input(l, p, 0), *gamma = l->params[0].value, *beta = l->params[1].value;
    float mean[C], *rmean = l->state, *rvar = l->state + C;
    if (p->train) {
        dr_sum_rows2(x, NULL, R, C, b->s1, b->s2);
        if (shared_stats(p)) dr_group_sum(p->group, b->s1, 2 * C);
        for (int k = 0; k < C; k++) {
            double m = b->s1[k] / (double)RS, v = b->s2[k] / (double)RS - m * m;
            if (v < 0) v = 0;
            mean[k] = (float)m;
            b->invstd[k] = (float)(1.0 / sqrt(v + b->eps));
            double unbiased = RS > 1 ? v * (double)RS / (double)(RS - 1) : v;
            rmean[k] = b->momentum * rmean[k] + (1.0f - b->momentum) * (float)m;
            rvar[k] = b->momentum * rvar[k] + (1.0f - b->momentum) * (float)unbiased;
        }
    } else {
        for (int k = 0; k < C; k++) {
            mean[k] = rmean[k];
            b->invstd[k] = 1.0f / sqrtf(rvar[k] + b->eps);
        }
    }
    const float *invstd = b->invstd;
    const dr_layer *a = l->plan.fused_act;
    float *xhat = b->xhat, *y = a ? a->out : l->out;
#pragma omp parallel for schedule(static) if (R * C >= DR_SMALL_LOOP) /* a team costs more than a small tensor */
    for (size_t r0 = 0; r0 < R; r0 += ROWS) {
        const size_t r1 = r0 + ROWS < R ? r0 + ROWS : R;
        normalize_rows(x + r0 * C, mean, invstd, gamma, beta, r1 - r0, C, xhat + r0 * C, y + r0 * C);
        if (a) { /* the act's forward on the block, in cache */
            dr_act_span(a->plan.act_fn, y + r0 * C, y + r0 * C, (r1 - r0) * C);
            dr_quantize_activations_span(y + r0 * C, (r1 - r0) * C, a->plan.abits,
                                         a->plan.writes_codes ? a->codes + r0 * C : NULL);
        }
    }
}

/* The fused act's backward on rows [r0, r1): dy = d(act out) h'(gamma xhat + beta). */
typedef struct {
    const dr_layer *l, *act;
    const float *xhat, *gamma, *beta;
} act_grad_rows;

static void make_act_grad(void *ctx, size_t r0, size_t r1)
{
    const act_grad_rows *g = ctx;
    const int C = g->l->in_shape.c;
    float *dy = g->l->dout;
    affine_rows(g->xhat + r0 * C, g->gamma, g->beta, r1 - r0, C, dy + r0 * C);
    dr_act_grad_span(g->act->plan.act_fn, dy + r0 * C, g->act->dout + r0 * C, dy + r0 * C, (r1 - r0) * C);
}

static void bn_backward(dr_layer *l, dr_pass *p, int n)
{
    bn_priv *b = l->priv;
    const int C = l->in_shape.c;
    const size_t R = (size_t)n * l->in_shape.h * l->in_shape.w, RS = stat_rows(l, p, n);
    const float *dy = l->dout, *xhat = b->xhat, *gamma = l->params[0].value;
    if (l->plan.fused_act) {
        act_grad_rows g = {l, l->plan.fused_act, xhat, gamma, l->params[1].value};
        dr_sum_rows2_made(dy, xhat, R, C, make_act_grad, &g, b->s1, b->s2);
    } else {
        dr_sum_rows2(dy, xhat, R, C, b->s1, b->s2);
    }
    for (int k = 0; k < C; k++) { /* this rank's part: the gradient exchange sums the ranks' */
        l->params[1].grad[k] += (float)b->s1[k];
        l->params[0].grad[k] += (float)b->s2[k];
    }
    float *dx = dr_input_grad(l, 0);
    if (shared_stats(p)) dr_group_sum(p->group, b->s1, 2 * C); /* every rank takes part, dx or not */
    if (!dx) return;
    float scale[C], mdy[C], mdyx[C];
    for (int k = 0; k < C; k++) {
        scale[k] = gamma[k] * b->invstd[k];
        /* In evaluation mode the statistics are constants. */
        mdy[k] = p->train ? (float)(b->s1[k] / (double)RS) : 0.0f;
        mdyx[k] = p->train ? (float)(b->s2[k] / (double)RS) : 0.0f;
    }
    const int store = dr_grad_store(p, l, 0);
#pragma omp parallel for schedule(static)
    for (size_t r0 = 0; r0 < R; r0 += ROWS) {
        const size_t r1 = r0 + ROWS < R ? r0 + ROWS : R;
        input_grad_rows(dy + r0 * C, xhat + r0 * C, scale, mdy, mdyx, r1 - r0, C, store, dx + r0 * C);
    }
}

static void bn_destroy(dr_layer *l)
{
    bn_priv *b = l->priv;
    if (!b) return;
    free(b->xhat);
    free(b->invstd);
    free(b->s1);
}

static void bn_describe(const dr_layer *l, char *buf, size_t cap)
{
    const bn_priv *b = l->priv;
    snprintf(buf, cap, " eps=%.9g momentum=%.9g", b->eps, b->momentum); /* state: running mean, then variance */
}

const dr_layer_ops dr_bn_ops = {
    .type = "bn",
    .roles = DR_ROLE_NORM,
    .parse = bn_parse,
    .setup = bn_setup,
    .init = bn_init,
    .forward = bn_forward,
    .backward = bn_backward,
    .destroy = bn_destroy,
    .stores_input_grad = 1,
    .describe = bn_describe,
};

float dr_bn_eps(const dr_layer *l) { return ((const bn_priv *)l->priv)->eps; }
