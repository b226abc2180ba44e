/* Softmax with cross-entropy loss: the last layer of every network.
 * out holds the class probabilities; net->loss the batch's mean loss. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "../core/common.h"
#include "../model/net.h"
#include "layer.h"

static int softmax_parse(dr_layer *l, dr_kv *kv)
{
    (void)l;
    (void)kv;
    return 0;
}

static int softmax_setup(dr_layer *l, dr_net *net)
{
    (void)net;
    if (l->in_shape.h != 1 || l->in_shape.w != 1)
        return dr_fail("softmax needs a flat input (1x1xC), got %dx%dx%d", l->in_shape.h,
                       l->in_shape.w, l->in_shape.c);
    l->out_shape = l->in_shape;
    return 0;
}

static void softmax_forward(dr_layer *l, dr_net *net, int n)
{
    const float *x = dr_net_input(net, l, 0);
    const int C = l->in_shape.c;
    double loss = 0;
    for (int s = 0; s < n; s++) {
        const float *xs = x + (size_t)s * C;
        float *p = l->out + (size_t)s * C, mx = -FLT_MAX;
        for (int c = 0; c < C; c++) mx = fmaxf(mx, xs[c]);
        double sum = 0;
        for (int c = 0; c < C; c++) sum += exp((double)xs[c] - mx);
        for (int c = 0; c < C; c++) p[c] = (float)(exp((double)xs[c] - mx) / sum);
        if (net->labels) loss += log(sum) - ((double)xs[net->labels[s]] - mx);
    }
    net->loss = n ? loss / n : 0.0;
}

static void softmax_backward(dr_layer *l, dr_net *net, int n)
{
    float *dx = dr_net_input_grad(net, l, 0);
    if (!dx) return;
    const int C = l->in_shape.c, store = dr_grad_store(net, l, 0);
    if (store) memset(dx, 0, sizeof(float) * (size_t)n * C);
    if (!net->labels) return;
    for (int s = 0; s < n; s++)
        for (int c = 0; c < C; c++)
            dx[(size_t)s * C + c] +=
                (l->out[(size_t)s * C + c] - (c == net->labels[s] ? 1.0f : 0.0f)) / (float)n;
}

const dr_layer_ops dr_softmax_ops = {"softmax", softmax_parse, softmax_setup, NULL,
                                     softmax_forward, softmax_backward, NULL, 1};
