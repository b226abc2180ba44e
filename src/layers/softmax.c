/* Softmax with cross-entropy loss: the last layer of every network.
 * out holds the class probabilities; the pass's loss the batch's mean loss. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "../core/common.h"
#include "layer.h"

static int softmax_parse(dr_layer *l, dr_kv *kv)
{
    (void)l;
    (void)kv;
    return 0;
}

static int softmax_setup(dr_layer *l, const dr_pass *p)
{
    (void)p;
    if (l->in_shape.h != 1 || l->in_shape.w != 1)
        return dr_fail("softmax needs a flat input (1x1xC), got %dx%dx%d", l->in_shape.h,
                       l->in_shape.w, l->in_shape.c);
    l->out_shape = l->in_shape;
    return 0;
}

static void softmax_forward(dr_layer *l, dr_pass *p, int n)
{
    const float *x = dr_input(l, p, 0);
    const int C = l->in_shape.c;
    double loss = 0;
    for (int s = 0; s < n; s++) {
        const float *xs = x + (size_t)s * C;
        float *prob = l->out + (size_t)s * C, mx = -FLT_MAX;
        for (int c = 0; c < C; c++) mx = fmaxf(mx, xs[c]);
        double sum = 0;
        for (int c = 0; c < C; c++) sum += exp((double)xs[c] - mx);
        for (int c = 0; c < C; c++) prob[c] = (float)(exp((double)xs[c] - mx) / sum);
        if (p->labels) loss += log(sum) - ((double)xs[p->labels[s]] - mx);
    }
    p->loss = n ? loss / n : 0.0;
}

static void softmax_backward(dr_layer *l, dr_pass *p, int n)
{
    float *dx = dr_input_grad(l, 0);
    if (!dx) return;
    const int C = l->in_shape.c, store = dr_grad_store(p, l, 0);
    if (store) memset(dx, 0, sizeof(float) * (size_t)n * C);
    if (!p->labels) return;
    /* the gradient of the global batch's mean loss: the ranks' parts add up to it */
    const float batch = (float)(p->n_global ? p->n_global : n);
    for (int s = 0; s < n; s++)
        for (int c = 0; c < C; c++)
            dx[(size_t)s * C + c] +=
                (l->out[(size_t)s * C + c] - (c == p->labels[s] ? 1.0f : 0.0f)) / batch;
}

const dr_layer_ops dr_softmax_ops = {
    .type = "softmax",
    .roles = DR_ROLE_LOSS,
    .parse = softmax_parse,
    .setup = softmax_setup,
    .forward = softmax_forward,
    .backward = softmax_backward,
    .stores_input_grad = 1,
};
