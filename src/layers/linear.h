/* Private state of conv and fc layers (shared with the quantization code). */
#ifndef DR_LINEAR_H
#define DR_LINEAR_H

#include "../kernels/products.h"
#include "../quant/quantize.h"

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
} dr_linear;

#endif
