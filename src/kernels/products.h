/* The three expensive products of a convolution or FC layer, kept as
 * separate, replaceable steps (Algorithm 1, lines 3, 13 and 14):
 *
 *   forward          Y[P, oc]  = A_col[P, K] · W[oc, K]^T
 *   backward_input   dA      (+)= col2im(dY[P, oc] · W[oc, K])
 *   backward_weight  dW[oc,K] += dY[P, oc]^T · A_col[P, K]
 *
 * The float implementation below uses im2col + OpenBLAS sgemm; quantized
 * layers plug in bit-serial implementations with the same signatures. */
#ifndef DR_PRODUCTS_H
#define DR_PRODUCTS_H

#include <stdint.h>

#include "conv_geom.h"

/* Scratch memory shared by the layers of one network. */
typedef struct {
    float *buf;
    size_t cap; /* floats */
} dr_workspace;

float *dr_workspace_get(dr_workspace *ws, size_t floats);
void dr_workspace_free(dr_workspace *ws);

/* What the bit products need to know about the quantized operands (spec section 2):
 * activations a = q_a * ascale, q_a in 0..2^abits-1 (ascale = 1/n_A, or
 * 1/(keep n_A) after dropout); weights w = (2 q_w - n_W) / n_W, or E (2b - 1)
 * for 1 bit; gradients of sample i g = m_i (2 q_g - n_G) / n_G. */
typedef struct dr_bitbuf dr_bitbuf; /* per-layer scratch of the bit products */

typedef struct {
    int abits, wbits, gbits;
    float ascale;
    float wscale;         /* E of 1-bit weights                  */
    const float *gscale;  /* m_i per sample                      */
    dr_bitbuf **buf;      /* the layer's scratch (created on use) */
    uint64_t pass;        /* nonzero: the forward and backward products of one
                           * pass over the same tensors share their packing */
    const uint8_t *gcodes; /* backward: the gradient's codes q_g, made by its
                            * quantizer (NULL: derived from the float gradient) */
    const uint8_t *acodes; /* the input's codes q_a, made by its quantizer
                            * (NULL: derived from the float input) */
} dr_qinfo;

typedef struct dr_products {
    const char *name;
    /* out = conv(in, w) + bias (bias[oc], or NULL) */
    void (*forward)(const dr_conv_geom *g, int n, const float *in, const float *w, const float *bias, float *out,
                    dr_workspace *ws, const dr_qinfo *q);
    /* store: 1 writes every element of din (as 0 + the sum, so a zero is +0
     * as if added to a zeroed din), 0 adds to it */
    void (*backward_input)(const dr_conv_geom *g, int n, const float *dout, const float *w,
                           float *din, int store, dr_workspace *ws, const dr_qinfo *q);
    void (*backward_weight)(const dr_conv_geom *g, int n, const float *dout, const float *in,
                            float *dw, dr_workspace *ws, const dr_qinfo *q);
} dr_products;

/* out[r][o] += bias[o] for rows r (nothing when bias is NULL). */
void dr_add_bias(float *out, size_t rows, int oc, const float *bias);

/* im2col + OpenBLAS sgemm; ignores q. */
extern const dr_products dr_products_float;
/* Bit-serial integer products (AND + popcount over bit-planes); each falls
 * back to the float product when one of its operands is not quantized. */
extern const dr_products dr_products_bit;
void dr_bitbuf_free(dr_bitbuf *b);
/* 1: both backward products of dr_products_bit run on bits for this layer and
 * q (q->gcodes given), so they never read the float gradient (dout may be NULL). */
int dr_products_bit_backward_on_codes(const dr_conv_geom *g, const dr_qinfo *q);
/* 1: use the bit products wherever the operands are quantized, even where the
 * cost model prefers float (tests, kernel benchmarks); 0: the cost model. */
void dr_products_bit_always(int on);

#endif
