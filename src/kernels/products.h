/* The three expensive products of a convolution or FC layer, kept as
 * separate, replaceable steps (Algorithm 1, lines 3, 13 and 14):
 *
 *   forward          Y[P, oc]  = A_col[P, K] · W[oc, K]^T
 *   backward_input   dA       += col2im(dY[P, oc] · W[oc, K])
 *   backward_weight  dW[oc,K] += dY[P, oc]^T · A_col[P, K]
 *
 * The float implementation below uses im2col + OpenBLAS sgemm; quantized
 * layers plug in bit-serial implementations with the same signatures. */
#ifndef DR_PRODUCTS_H
#define DR_PRODUCTS_H

#include "conv_geom.h"

/* Scratch memory shared by the layers of one network. */
typedef struct {
    float *buf;
    size_t cap; /* floats */
} dr_workspace;

float *dr_workspace_get(dr_workspace *ws, size_t floats);
void dr_workspace_free(dr_workspace *ws);

typedef struct dr_products {
    const char *name;
    void (*forward)(const dr_conv_geom *g, int n, const float *in, const float *w, float *out,
                    dr_workspace *ws);
    void (*backward_input)(const dr_conv_geom *g, int n, const float *dout, const float *w,
                           float *din, dr_workspace *ws);
    void (*backward_weight)(const dr_conv_geom *g, int n, const float *dout, const float *in,
                            float *dw, dr_workspace *ws);
} dr_products;

extern const dr_products dr_products_float;

#endif
