/* Convolution and fully connected layers. An FC layer is a VALID
 * convolution whose kernel covers its whole input, so both share the three
 * products of kernels/products.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../kernels/direct_conv.h"
#include "../model/net.h"
#include "layer.h"
#include "linear.h"
#include "../quant/policy.h"

static const char *const pad_names[] = {"valid", "same", NULL};

static int parse_common(dr_linear *c, dr_kv *kv, int default_bias)
{
    return dr_kv_int(kv, "bias", default_bias, 0, 1, &c->bias) ||
           dr_kv_float(kv, "l2", -1.0f, 0.0f, 1.0f, &c->l2);
}

static int conv_parse(dr_layer *l, dr_kv *kv)
{
    dr_linear *c = l->priv = dr_xcalloc(1, sizeof *c);
    int size, stride;
    if (dr_kv_int(kv, "filters", 0, 1, 1 << 16, &c->filters) ||
        dr_kv_int(kv, "size", 3, 1, 64, &size) || dr_kv_int(kv, "stride", 1, 1, 64, &stride) ||
        dr_kv_choice(kv, "pad", pad_names, DR_PAD_SAME, &c->pad_mode) ||
        dr_kv_int(kv, "groups", 1, 1, 64, &c->g.groups) || parse_common(c, kv, 0))
        return -1;
    if (!c->filters) return dr_kv_fail(kv, "conv needs filters=N");
    if (c->filters % c->g.groups)
        return dr_kv_fail(kv, "filters=%d is not divisible by groups=%d", c->filters, c->g.groups);
    c->g.kh = c->g.kw = size;
    c->g.sh = c->g.sw = stride;
    return 0;
}

static int fc_parse(dr_layer *l, dr_kv *kv)
{
    dr_linear *c = l->priv = dr_xcalloc(1, sizeof *c);
    if (dr_kv_int(kv, "outputs", 0, 1, 1 << 20, &c->filters) || parse_common(c, kv, 1)) return -1;
    if (!c->filters) return dr_kv_fail(kv, "fc needs outputs=N");
    c->g.groups = 1;
    c->g.sh = c->g.sw = 1;
    c->pad_mode = DR_PAD_VALID;
    c->is_fc = 1;
    return 0;
}

static int linear_setup(dr_layer *l, dr_net *net)
{
    (void)net;
    dr_linear *c = l->priv;
    dr_conv_geom *g = &c->g;
    g->ih = l->in_shape.h;
    g->iw = l->in_shape.w;
    g->ic = l->in_shape.c;
    g->oc = c->filters;
    if (c->is_fc) {
        g->kh = g->ih;
        g->kw = g->iw;
    }
    if (g->ic % g->groups)
        return dr_fail("input channels %d are not divisible by groups=%d", g->ic, g->groups);
    if (c->pad_mode == DR_PAD_VALID && (g->kh > g->ih || g->kw > g->iw))
        return dr_fail("kernel %dx%d is larger than the input %dx%d", g->kh, g->kw, g->ih, g->iw);
    dr_conv_geom_resolve(g, c->pad_mode);
    l->out_shape = (dr_shape){g->oh, g->ow, g->oc};
    dr_layer_add_param(l, "w", (size_t)g->oc * dr_conv_k(g), c->l2);
    if (c->bias) dr_layer_add_param(l, "b", (size_t)g->oc, 0.0f);
    c->products = &dr_products_float;
    return 0;
}

static void linear_init(dr_layer *l, dr_rng *rng)
{
    dr_linear *c = l->priv;
    dr_param *w = &l->params[0];
    /* He initialisation (variance 2 / fan_in), as tensorpack's default. */
    float std = sqrtf(2.0f / (float)dr_conv_k(&c->g));
    for (size_t i = 0; i < w->size; i++) w->value[i] = std * dr_rng_normal(rng);
    if (c->bias) memset(l->params[1].value, 0, l->params[1].size * sizeof(float));
}

/* The weights the products use: f_w(W) for quantized layers. */
static const float *layer_weights(dr_layer *l)
{
    dr_linear *c = l->priv;
    dr_param *w = &l->params[0];
    if (l->wbits >= DR_FLOAT_BITS) return w->value;
    if (!c->wq) c->wq = dr_xalign(w->size * sizeof(float));
    dr_quantize_weights(w->value, w->size, l->wbits, c->wq, &c->wst);
    return c->wq;
}

/* The products and what they need to know of the quantized operands. */
static const dr_products *products(dr_layer *l, dr_net *net, dr_qinfo *q)
{
    dr_linear *c = l->priv;
    *q = (dr_qinfo){.abits = 32, .wbits = l->wbits, .gbits = l->gbits, .ascale = 1, .wscale = c->wst.scale,
                    .gscale = c->gscale, .buf = &c->bits, .pass = c->pass};
    /* The input activation: an act layer's k-bit output, through max-pooling
     * (stays on the grid) and dropout (scales by 1/keep while training). */
    const dr_layer *act = dr_net_input_act(net, l);
    if (act && act->abits < 32) {
        q->abits = act->abits;
        q->ascale = 1.0f / (float)((1u << act->abits) - 1u);
        for (int j = l->in[0]; j >= 0 && &net->layers[j] != act; j = net->layers[j].in[0])
            if (net->layers[j].ops == &dr_dropout_ops && net->train) q->ascale /= dr_dropout_keep(&net->layers[j]);
    }
    return net->bit_kernels ? &dr_products_bit : c->products;
}

/* Whether this pass computes the max-pool after the conv as well: a float
 * layer on the direct path whose input needs no gradient (the first layer)
 * and whose output gradient is not quantized. */
static int computes_pool(dr_layer *l, dr_net *net)
{
    dr_linear *c = l->priv;
    const dr_conv_geom *g = &c->g;
    return c->pool && l->wbits >= DR_FLOAT_BITS && l->gbits >= DR_FLOAT_BITS && !dr_net_input_grad(net, l, 0) &&
           !dr_conv_is_identity(g) && dr_direct_suits(g) && dr_direct_pool_suits(g, dr_pool_geom(c->pool)) &&
           dr_direct_pool_backward_suits(g);
}

void dr_conv_pair_pool(dr_layer *l, dr_layer *pool)
{
    dr_linear *c = l->priv;
    if (c->pool) dr_maxpool_fuse(c->pool, 0);
    c->pool = pool;
    c->pooled = 0;
}

const float *dr_linear_output_grad(dr_layer *l, int n)
{
    dr_linear *c = l->priv;
    if (c->pooled) dr_maxpool_input_grad(c->pool, n, l->dout);
    return l->dout;
}

static void linear_forward(dr_layer *l, dr_net *net, int n)
{
    dr_linear *c = l->priv;
    const float *in = dr_net_input(net, l, 0);
    const float *w = layer_weights(l);
    c->pass++; /* a new pass: its backward products may reuse this forward's packing */
    c->pooled = computes_pool(l, net);
    if (c->pool) c->pool_argmax = dr_maxpool_fuse(c->pool, c->pooled);
    if (c->pooled) {
        const dr_conv_geom *g = &c->g;
        float *wt = dr_workspace_get(&net->ws, (size_t)dr_conv_k(g) * ((g->oc + 15) / 16 * 16));
        dr_direct_weights(g, w, wt);
        dr_direct_conv_pool(g, dr_pool_geom(c->pool), n, in, wt, c->bias ? l->params[1].value : NULL, c->pool->out,
                            c->pool_argmax);
        return;
    }
    dr_qinfo q;
    products(l, net, &q)->forward(&c->g, n, in, w, c->bias ? l->params[1].value : NULL, l->out, &net->ws, &q);
}

static void linear_backward(dr_layer *l, dr_net *net, int n)
{
    dr_linear *c = l->priv;
    const float *in = dr_net_input(net, l, 0);
    float *din = dr_net_input_grad(net, l, 0);
    dr_param *w = &l->params[0];
    const size_t out_per = dr_shape_size(l->out_shape);
    if (c->pooled) { /* the gradient arrives at the pooled outputs */
        const dr_conv_geom *g = &c->g;
        float *scratch = dr_workspace_get(&net->ws, dr_direct_pool_backward_weight_scratch(g, dr_pool_geom(c->pool), n));
        dr_direct_pool_backward_weight(g, dr_pool_geom(c->pool), n, c->pool->dout, c->pool_argmax, in, w->grad,
                                       c->bias ? l->params[1].grad : NULL, scratch);
        return;
    }
    /* Gradient quantizer on the layer's output: both products consume f_g(dY). */
    const float *dout = l->dout;
    if (l->gbits < DR_FLOAT_BITS) {
        if (!c->dq) {
            c->dq = dr_xalign((size_t)net->max_batch * out_per * sizeof(float));
            c->gscale = dr_xalign((size_t)net->max_batch * sizeof(float));
        }
        dr_quantize_gradients(l->dout, n, out_per, l->gbits, net->seed, net->step, l->index, c->dq,
                              c->gscale);
        dout = c->dq;
    }
    if (c->bias) dr_sum_rows(dout, (size_t)n * c->g.oh * c->g.ow, c->g.oc, l->params[1].grad);
    dr_qinfo q;
    const dr_products *prod = products(l, net, &q);
    if (l->wbits < DR_FLOAT_BITS) {
        if (!c->dwq) c->dwq = dr_xalign(w->size * sizeof(float));
        memset(c->dwq, 0, w->size * sizeof(float));
        prod->backward_weight(&c->g, n, dout, in, c->dwq, &net->ws, &q);
        dr_quantize_weights_backward(w->value, c->dwq, w->size, l->wbits, &c->wst, w->grad);
    } else {
        prod->backward_weight(&c->g, n, dout, in, w->grad, &net->ws, &q);
    }
    if (din)
        prod->backward_input(&c->g, n, dout, l->wbits < DR_FLOAT_BITS ? c->wq : w->value, din, &net->ws, &q);
}

static void linear_destroy(dr_layer *l)
{
    dr_linear *c = l->priv;
    if (!c) return;
    free(c->wq);
    free(c->dwq);
    free(c->dq);
    free(c->gscale);
    dr_bitbuf_free(c->bits);
}

const dr_layer_ops dr_conv_ops = {"conv", conv_parse, linear_setup, linear_init,
                                  linear_forward, linear_backward, linear_destroy, 0};
const dr_layer_ops dr_fc_ops = {"fc", fc_parse, linear_setup, linear_init,
                                linear_forward, linear_backward, linear_destroy, 0};
