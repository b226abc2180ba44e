/* Implicit bit convolution (stride 1): the bit-GEMM reads each output pixel's
 * window straight from a zero-bordered grid of packed input pixels, one
 * pointer offset per kernel tap, instead of copying windows into an im2col
 * matrix. Output pixel (y, x) of sample i is grid row i hp wp + y wp + x;
 * the rows with x >= ow are computed but meaningless (the price: wp / ow
 * more work, so it pays on wide images only). */
#ifndef DR_BITCONV_H
#define DR_BITCONV_H

#include <stddef.h>
#include <stdint.h>

#include "conv_geom.h"

typedef struct {
    dr_conv_geom g;
    int planes, cw;     /* input bit-planes; 64-bit words per pixel and plane */
    int hp, wp;         /* the padded grid                                      */
    size_t grid_rows;   /* rows of the buffers below, past every row read       */
    int *seg;           /* [kh kw]: word offset of each tap                     */
    uint64_t *x;        /* [grid_rows][planes][cw], zero borders                 */
    int32_t *pixsum;    /* [grid_rows]: each pixel's sum of codes                */
    int32_t *asum;      /* [grid_rows]: each output row's window sum             */
} dr_bitconv;

/* Whether the implicit form suits g (stride 1, one group, little waste). */
int dr_bitconv_suits(const dr_conv_geom *g);
/* Buffers for up to max_batch samples of `planes`-bit codes. */
void dr_bitconv_init(dr_bitconv *c, const dr_conv_geom *g, int planes, int max_batch);
void dr_bitconv_free(dr_bitconv *c);
/* Packs samples [first, first + count) of NHWC codes into the grid, with
 * pixel and window sums; serial: on the calling thread only. */
void dr_bitconv_pack(dr_bitconv *c, const uint8_t *codes, int first, int count, int serial);
/* s[grid row][cols_pad] = the bit product with y (dr_pack_cols layout,
 * yplanes bit-planes) for every output pixel of samples [first, first +
 * count); s row 0 is grid row first hp wp. */
void dr_bitconv_product(const dr_bitconv *c, int first, int count, const uint64_t *y, int yplanes, int cols_pad,
                        int32_t *s, int serial);

#endif
