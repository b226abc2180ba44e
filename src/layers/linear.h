/* Private state of conv and fc layers (shared with the quantization code). */
#ifndef DR_LINEAR_H
#define DR_LINEAR_H

#include "../kernels/products.h"
#include "../quant/quantize.h"

typedef struct dr_layer dr_layer;

typedef struct {
    int filters, bias, pad_mode, is_fc;
    float l2;
    dr_conv_geom g;
    const dr_products *products;
    /* Quantized training buffers, allocated on first use. */
    float *wq;       /* f_w(W), what the products see              */
    float *dwq;      /* dL/dW_q before the f_w backward             */
    float *dq;       /* f_g(dL/dY), the gradient the products see   */
    float *gscale;   /* per-sample gradient scales m_i             */
    dr_wq_state wst;
    dr_bitbuf *bits; /* scratch of the bit products */
    uint64_t pass;   /* forward passes so far: keys the bit products' shared packing */
    /* The max-pool that alone reads this conv's output (planned by the net;
     * NULL: none, or the output must be kept), and whether this pass
     * computed it too (a float first layer): out and dout are then unused. */
    dr_layer *pool;
    int pooled;
    int32_t *pool_argmax;
} dr_linear;

#endif
