/* Private state of conv and fc layers (shared with the quantization code). */
#ifndef DR_LINEAR_H
#define DR_LINEAR_H

#include "../kernels/products.h"

typedef struct {
    int filters, bias, pad_mode, is_fc;
    float l2;
    dr_conv_geom g;
    const dr_products *products;
} dr_linear;

#endif
