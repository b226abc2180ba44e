/* Direct float convolution for short reductions (first layers). */
#ifndef DR_DIRECT_CONV_H
#define DR_DIRECT_CONV_H

#include "conv_geom.h"

#define DR_DIRECT_MAX_K 256
#define DR_DIRECT_MAX_KH 16

/* out[n][oh][ow][oc] = conv(in, w) + bias (bias may be NULL); wt holds the
 * weights transposed to [kh][kw][ic][oc_pad], oc_pad = oc rounded up to 16,
 * zeros beyond oc. groups must be 1, kh kw ic <= DR_DIRECT_MAX_K and kh <= DR_DIRECT_MAX_KH. */
void dr_direct_conv(const dr_conv_geom *g, int n, const float *in, const float *wt, const float *bias, float *out);

#endif
