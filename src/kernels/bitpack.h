/* Packing integer codes into the bit-plane layouts dr_bitgemm reads; shared by
 * the training products and the inference engine. */
#ifndef DR_BITPACK_H
#define DR_BITPACK_H

#include <stddef.h>
#include <stdint.h>

#include "conv_geom.h"

/* Codes of f_w-quantized weights: 0/1 for 1 bit (the sign), else the k-bit
 * integer q with w = 2 q / (2^k - 1) - 1. */
void dr_weight_codes(const float *wq, size_t count, int bits, uint8_t *codes);
/* Row packing: codes[r][len] -> out[r][plane][words], bit i of word i/64. */
void dr_pack_rows(const uint8_t *codes, int rows, int len, int planes, int words, uint64_t *out);
/* The same on the calling thread only; sums (may be NULL) receives each row's sum of codes. */
void dr_pack_rows_serial(const uint8_t *codes, int rows, int len, int planes, int words, uint64_t *out,
                         int32_t *sums);
/* Column packing, lane-interleaved: codes[col][seg][seglen] ->
 * out[plane][seg * segw + i / 64][cols_pad]; csum (may be NULL) receives the
 * sum of each column's codes. */
void dr_pack_cols(const uint8_t *codes, int cols, int nseg, int seglen, int planes, int cols_pad,
                  uint64_t *out, int32_t *csum);
/* Sum of each row's integers from its bit-planes. */
void dr_row_sums(const uint64_t *x, int rows, int planes, int words, int32_t *sum);
void dr_row_sums_serial(const uint64_t *x, int rows, int planes, int words, int32_t *sum); /* calling thread */
/* Bit im2col: xpix[pixel][plane][ceil(ic/64)] (dr_pack_rows of NHWC codes) ->
 * rows p of n samples, each the words of its window's pixels, zero words for
 * padding; rows up to rows_pad are zero. */
void dr_bit_im2col(const dr_conv_geom *g, int n, const uint64_t *xpix, int planes, uint64_t *x, int rows_pad);
void dr_bit_im2col_serial(const dr_conv_geom *g, int n, const uint64_t *xpix, int planes, uint64_t *x,
                          int rows_pad); /* on the calling thread */

#endif
