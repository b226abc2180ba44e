/* Direct float convolution for short reductions (first layers). */
#ifndef DR_DIRECT_CONV_H
#define DR_DIRECT_CONV_H

#include <stdint.h>

#include "conv_geom.h"

#define DR_DIRECT_MAX_K 256
#define DR_DIRECT_MAX_KH 16
#define DR_DIRECT_MAX_OC 1024

/* Whether dr_direct_conv handles g: groups 1, K = kh kw ic <= DR_DIRECT_MAX_K, kh <= DR_DIRECT_MAX_KH. */
int dr_direct_suits(const dr_conv_geom *g);
/* w[oc][K] -> wt[K][oc_pad] as dr_direct_conv reads them (zeros beyond oc). */
void dr_direct_weights(const dr_conv_geom *g, const float *w, float *wt);

/* out[n][oh][ow][oc] = conv(in, w) + bias (bias may be NULL); wt holds the
 * weights transposed to [kh][kw][ic][oc_pad], oc_pad = oc rounded up to 16,
 * zeros beyond oc. groups must be 1, kh kw ic <= DR_DIRECT_MAX_K and kh <= DR_DIRECT_MAX_KH. */
void dr_direct_conv(const dr_conv_geom *g, int n, const float *in, const float *wt, const float *bias, float *out);

/* Weight gradient of dr_direct_conv: dw[oc][K] += sum over samples and output
 * pixels of dout x the input window, without im2col. Each sample's sum is
 * made on its own (scratch: dr_direct_backward_weight_scratch floats) and the
 * samples are added in order, so the result does not depend on the thread count. */
size_t dr_direct_backward_weight_scratch(const dr_conv_geom *g, int n);
void dr_direct_backward_weight(const dr_conv_geom *g, int n, const float *dout, const float *in, float *dw,
                               float *scratch);

/* Whether dr_direct_conv_pool_codes handles this conv and max-pool: 2x2
 * windows, stride 2, no padding, oc <= DR_DIRECT_MAX_OC. */
int dr_direct_pool_suits(const dr_conv_geom *g, const dr_conv_geom *pool);
/* The conv, the max-pool after it, a bounded activation (cabs: min(1,|x|),
 * else min(1,max(0,x))) and quantization to codes rint(levels h), in one
 * pass: codes[n][pool oh][pool ow][oc]. The pooled values are the ones
 * dr_direct_conv's outputs would give. */
void dr_direct_conv_pool_codes(const dr_conv_geom *g, const dr_conv_geom *pool, int n, const float *in,
                               const float *wt, const float *bias, int cabs, float levels, uint8_t *codes);
/* The conv and the max-pool after it for training: out[n][pool oh][pool ow][oc]
 * the pooled values (those of dr_direct_conv's outputs pooled as the max-pool
 * layer pools them, first pixel winning ties) and argmax[same] the winner's
 * offset in its sample's conv output ((y ow + x) oc + o), as the layer keeps it. */
void dr_direct_conv_pool(const dr_conv_geom *g, const dr_conv_geom *pool, int n, const float *in, const float *wt,
                         const float *bias, float *out, int32_t *argmax);
/* Whether dr_direct_pool_backward_weight handles g (kh rows of kw ic floats,
 * at most 4 vectors of 16 each and 16 in all); it must. */
int dr_direct_pool_backward_suits(const dr_conv_geom *g);
/* Weight and bias gradients of the fused conv + max-pool from the pooled
 * gradient dpool and dr_direct_conv_pool's argmax: dw[oc][K] and db[oc] (db
 * may be NULL) += the sums the conv's dense output gradient would give, which
 * is dpool at each window's winner and zero elsewhere. Samples are summed on
 * their own and added in order (scratch: dr_direct_pool_backward_weight_scratch floats). */
size_t dr_direct_pool_backward_weight_scratch(const dr_conv_geom *g, const dr_conv_geom *pool, int n);
void dr_direct_pool_backward_weight(const dr_conv_geom *g, const dr_conv_geom *pool, int n, const float *dpool,
                                    const int32_t *argmax, const float *in, float *dw, float *db, float *scratch);

#endif
