/* Conv and fc layers ("products" layers): their private state, and what the
 * planning pass, the exporter and the engine read of them. */
#ifndef DR_LINEAR_H
#define DR_LINEAR_H

#include "../kernels/products.h"
#include "../quant/quantize.h"
#include "layer.h"

typedef struct {
    int filters, bias, pad_mode, is_fc;
    float l2;
    dr_conv_geom g;
    /* Quantized training buffers, allocated on first use. */
    float *wq;       /* f_w(W), what the products see              */
    float *wt;       /* tanh W (W >= 2 bits), kept for the f_w backward */
    float *dwq;      /* dL/dW_q before the f_w backward             */
    float *dq;       /* f_g(dL/dY), the gradient the products see   */
    float *gscale;   /* per-sample gradient scales m_i             */
    uint8_t *gcodes; /* f_g's integer codes of dq, for the bit products */
    dr_wq_state wst;
    dr_bitbuf *bits; /* scratch of the bit products */
    uint64_t pass;   /* forward passes so far: keys the bit products' shared packing */
} dr_linear;

static inline const dr_conv_geom *dr_linear_geom(const dr_layer *l) { return &((const dr_linear *)l->priv)->g; }
static inline int dr_linear_is_fc(const dr_layer *l) { return ((const dr_linear *)l->priv)->is_fc; }
/* The bias (params[1]), or NULL when the layer has none. */
static inline float *dr_linear_bias(const dr_layer *l)
{
    return ((const dr_linear *)l->priv)->bias ? l->params[1].value : NULL;
}
/* The weights as the products used them in the last pass: f_w(W) when quantized. */
const float *dr_linear_weights_used(const dr_layer *l);
/* The gradient of the layer's output for n samples, made dense first when
 * the layer computed its max-pool itself. */
const float *dr_linear_output_grad(dr_layer *l, int n);

#endif
