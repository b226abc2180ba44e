/* Convolution and fully connected layers. An FC layer is a VALID
 * convolution whose kernel covers its whole input, so both share the three
 * products of kernels/products.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../kernels/direct_conv.h"
#include "layer.h"
#include "linear.h"

static const char *const pad_names[] = {"valid", "same", NULL};

static int check_bits(dr_kv *kv, int bits)
{
    if (bits && !dr_bits_valid(bits)) return dr_kv_fail(kv, "bitwidth %d: use 1..8, or 32 for float", bits);
    return 0;
}

/* bias= l2=, and the per-layer quantization overrides wbits= gbits= quant=. */
static int parse_common(dr_layer *l, dr_linear *c, dr_kv *kv, int default_bias)
{
    return dr_kv_int(kv, "bias", default_bias, 0, 1, &c->bias) ||
           dr_kv_float(kv, "l2", -1.0f, 0.0f, 1.0f, &c->l2) ||
           dr_kv_int(kv, "wbits", 0, 1, 32, &l->file_bits[0]) || dr_kv_int(kv, "gbits", 0, 1, 32, &l->file_bits[2]) ||
           dr_kv_int(kv, "quant", -1, 0, 1, &l->file_quant) || check_bits(kv, l->file_bits[0]) ||
           check_bits(kv, l->file_bits[2]);
}

static int conv_parse(dr_layer *l, dr_kv *kv)
{
    dr_linear *c = l->priv = dr_xcalloc(1, sizeof *c);
    int size, stride;
    if (dr_kv_int(kv, "filters", 0, 1, 1 << 16, &c->filters) ||
        dr_kv_int(kv, "size", 3, 1, 64, &size) || dr_kv_int(kv, "stride", 1, 1, 64, &stride) ||
        dr_kv_choice(kv, "pad", pad_names, DR_PAD_SAME, &c->pad_mode) ||
        dr_kv_int(kv, "groups", 1, 1, 64, &c->g.groups) || parse_common(l, c, kv, 0))
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
    if (dr_kv_int(kv, "outputs", 0, 1, 1 << 20, &c->filters) || parse_common(l, c, kv, 1)) return -1;
    if (!c->filters) return dr_kv_fail(kv, "fc needs outputs=N");
    c->g.groups = 1;
    c->g.sh = c->g.sw = 1;
    c->pad_mode = DR_PAD_VALID;
    c->is_fc = 1;
    return 0;
}

static int linear_setup(dr_layer *l, const dr_pass *p)
{
    (void)p;
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
    const double K = (double)g->kh * g->kw * (g->ic / g->groups); /* before dr_conv_k's int product */
    if (K * g->oc > 2147483647.0)
        return dr_fail("%d outputs of %.0f terms each: more than the limit of 2^31-1 weights", g->oc, K);
    l->out_shape = (dr_shape){g->oh, g->ow, g->oc};
    dr_layer_add_param(l, "w", (size_t)g->oc * dr_conv_k(g), c->l2);
    if (c->bias) dr_layer_add_param(l, "b", (size_t)g->oc, 0.0f);
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
    if (l->plan.wbits >= DR_FLOAT_BITS) return w->value;
    if (!c->wq) c->wq = dr_xalign(w->size * sizeof(float));
    if (l->plan.wbits > 1 && !c->wt) c->wt = dr_xalign(w->size * sizeof(float));
    dr_quantize_weights_keep(w->value, w->size, l->plan.wbits, c->wq, &c->wst, l->plan.wbits > 1 ? c->wt : NULL);
    return c->wq;
}

const float *dr_linear_weights_used(const dr_layer *l)
{
    const dr_linear *c = l->priv;
    return l->plan.wbits < DR_FLOAT_BITS && c->wq ? c->wq : l->params[0].value;
}

/* The products and what they need to know of the quantized operands: the
 * input codes as the plan found them (an act layer's k-bit output, through
 * max-pooling and dropout). */
static const dr_products *products(dr_layer *l, const dr_pass *p, dr_qinfo *q)
{
    dr_linear *c = l->priv;
    *q = (dr_qinfo){.abits = l->plan.in_bits, .wbits = l->plan.wbits, .gbits = l->plan.gbits,
                    .ascale = p->train ? l->plan.in_scale_train : l->plan.in_scale, .wscale = c->wst.scale,
                    .gscale = c->gscale, .buf = &c->bits, .pass = c->pass,
                    .acodes = l->plan.in_codes ? l->from[0]->codes : NULL};
    return p->bit_kernels ? &dr_products_bit : &dr_products_float;
}

const float *dr_linear_output_grad(dr_layer *l, int n)
{
    if (l->plan.fused_pool) dr_maxpool_input_grad(l->plan.fused_pool, n, l->dout);
    return l->dout;
}

static void linear_forward(dr_layer *l, dr_pass *p, int n)
{
    dr_linear *c = l->priv;
    const float *in = dr_input(l, p, 0);
    const float *w = layer_weights(l);
    const float *bias = dr_linear_bias(l);
    c->pass++; /* a new pass: its backward products may reuse this forward's packing */
    const dr_layer *pool = l->plan.fused_pool;
    if (pool) { /* this conv computes the max-pool after it */
        const dr_conv_geom *g = &c->g;
        float *wt = dr_workspace_get(&p->ws, (size_t)dr_conv_k(g) * ((g->oc + 15) / 16 * 16));
        dr_direct_weights(g, w, wt);
        dr_direct_conv_pool(g, dr_pool_geom(pool), n, in, wt, bias, pool->out, dr_pool_argmax(pool));
        return;
    }
    dr_qinfo q;
    products(l, p, &q)->forward(&c->g, n, in, w, bias, l->out, &p->ws, &q);
}

static void linear_backward(dr_layer *l, dr_pass *p, int n)
{
    dr_linear *c = l->priv;
    const float *in = dr_input(l, p, 0);
    float *din = dr_input_grad(l, 0);
    dr_param *w = &l->params[0];
    const size_t out_per = dr_shape_size(l->out_shape);
    const dr_layer *pool = l->plan.fused_pool;
    if (pool) { /* the gradient arrives at the pooled outputs */
        const dr_conv_geom *g = &c->g;
        float *scratch = dr_workspace_get(&p->ws, dr_direct_pool_backward_weight_scratch(g, dr_pool_geom(pool), n));
        dr_direct_pool_backward_weight(g, dr_pool_geom(pool), n, pool->dout, dr_pool_argmax(pool), in, w->grad,
                                       c->bias ? l->params[1].grad : NULL, scratch);
        return;
    }
    /* Gradient quantizer on the layer's output: both products consume f_g(dY),
     * as its codes for the bit products, and as floats unless both of them run
     * on the codes (then dq is not made, and dout is NULL) and no bias needs it. */
    const float *dout = l->dout;
    const int wbits = l->plan.wbits, gbits = l->plan.gbits;
    uint8_t *gcodes = NULL;
    if (gbits < DR_FLOAT_BITS) {
        if (!c->dq) {
            c->dq = dr_xalign((size_t)p->max_batch * out_per * sizeof(float));
            c->gscale = dr_xalign((size_t)p->max_batch * sizeof(float));
        }
        if (p->bit_kernels && !c->gcodes) c->gcodes = dr_xalign((size_t)p->max_batch * out_per);
        if (p->bit_kernels) gcodes = c->gcodes;
    }
    dr_qinfo q;
    const dr_products *prod = products(l, p, &q);
    q.gcodes = gcodes;
    if (gbits < DR_FLOAT_BITS) {
        const int codes_only = gcodes && !c->bias && dr_products_bit_backward_on_codes(&c->g, &q);
        dr_quantize_gradients_at(l->dout, n, out_per, gbits, p->seed, p->step, l->index, p->sample0,
                                 codes_only ? NULL : c->dq, c->gscale, gcodes);
        dout = codes_only ? NULL : c->dq;
    }
    if (c->bias) dr_sum_rows(dout, (size_t)n * c->g.oh * c->g.ow, c->g.oc, l->params[1].grad);
    if (wbits > 1 && wbits < DR_FLOAT_BITS) { /* through f_w's backward (1 bit: the identity, E a constant) */
        if (!c->dwq) c->dwq = dr_xalign(w->size * sizeof(float));
        memset(c->dwq, 0, w->size * sizeof(float));
        prod->backward_weight(&c->g, n, dout, in, c->dwq, &p->ws, &q);
        dr_quantize_weights_backward_kept(w->value, c->wt, c->dwq, w->size, wbits, &c->wst, w->grad);
    } else {
        prod->backward_weight(&c->g, n, dout, in, w->grad, &p->ws, &q);
    }
    if (din)
        prod->backward_input(&c->g, n, dout, wbits < DR_FLOAT_BITS ? c->wq : w->value, din, dr_grad_store(p, l, 0),
                             &p->ws, &q);
}

static void linear_destroy(dr_layer *l)
{
    dr_linear *c = l->priv;
    if (!c) return;
    free(c->wq);
    free(c->wt);
    free(c->dwq);
    free(c->dq);
    free(c->gscale);
    free(c->gcodes);
    dr_bitbuf_free(c->bits);
}

static void linear_describe(const dr_layer *l, char *buf, size_t cap)
{
    const dr_linear *c = l->priv;
    dr_conv_geom_describe(&c->g, buf, cap);
    size_t n = strlen(buf);
    snprintf(buf + n, cap - n, " groups=%d bias=%d wbits=%d gbits=%d inbits=%d", c->g.groups, c->bias, l->plan.wbits,
             l->plan.gbits, l->plan.in_bits); /* inbits: its input are f_a codes of these bits (32: float) */
}

const dr_layer_ops dr_conv_ops = {
    .type = "conv",
    .roles = DR_ROLE_PRODUCTS,
    .parse = conv_parse,
    .setup = linear_setup,
    .init = linear_init,
    .forward = linear_forward,
    .backward = linear_backward,
    .destroy = linear_destroy,
    .describe = linear_describe,
    .stores_input_grad = 1,
};
const dr_layer_ops dr_fc_ops = {
    .type = "fc",
    .roles = DR_ROLE_PRODUCTS,
    .parse = fc_parse,
    .setup = linear_setup,
    .init = linear_init,
    .forward = linear_forward,
    .backward = linear_backward,
    .destroy = linear_destroy,
    .describe = linear_describe,
    .stores_input_grad = 1,
};
