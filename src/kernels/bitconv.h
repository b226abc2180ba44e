/* Implicit bit convolution (stride 1): the bit-GEMM reads each output pixel's
 * window straight from a zero-bordered grid of packed input pixels, one
 * offset per output pixel and one per kernel tap, instead of copying windows
 * into an im2col matrix. Output pixel (y, x) of sample i is row
 * i rows_pad + y ow + x of the products and window sums. */
#ifndef DR_BITCONV_H
#define DR_BITCONV_H

#include <stddef.h>
#include <stdint.h>

#include "conv_geom.h"

typedef struct {
    dr_conv_geom g;
    int planes, cw;     /* input bit-planes; 64-bit words per pixel and plane */
    int hp, wp;         /* the padded grid                                      */
    size_t grid_rows;   /* grid pixels of all samples (hp wp each)              */
    int rows_pad;       /* output rows per sample: oh ow rounded up to DR_BG_ROWS */
    int *seg;           /* [kh kw]: word offset of each tap                     */
    size_t *rowoff;     /* [rows_pad]: word offset of each output pixel's window */
    uint64_t *x;        /* [grid_rows][planes][cw], zero borders                 */
    int32_t *pixsum;    /* [grid_rows]: each pixel's sum of codes                */
    int32_t *asum;      /* [max_batch rows_pad]: each output pixel's window sum  */
} dr_bitconv;

/* Whether the implicit form suits g (stride 1, one group, little waste). */
int dr_bitconv_suits(const dr_conv_geom *g);
/* Buffers for up to max_batch samples of `planes`-bit codes. */
void dr_bitconv_init(dr_bitconv *c, const dr_conv_geom *g, int planes, int max_batch);
void dr_bitconv_free(dr_bitconv *c);
/* dr_bitconv_init unless c already holds g with `planes` bit-planes for at
 * least max_batch samples (c zeroed or initialised before). */
void dr_bitconv_ensure(dr_bitconv *c, const dr_conv_geom *g, int planes, int max_batch);
/* Packs samples [first, first + count) of NHWC codes into the grid, with
 * pixel and window sums; serial: on the calling thread only. */
void dr_bitconv_pack(dr_bitconv *c, const uint8_t *codes, int first, int count, int serial);
/* The same as the steps of a team whose threads each call with their own
 * part of `parts`: packing (all parts done before any thread goes on), then
 * the window sums and the product, in either order. */
void dr_bitconv_pack_part(dr_bitconv *c, const uint8_t *codes, int first, int count, int part, int parts);
void dr_bitconv_sums_part(dr_bitconv *c, int first, int count, int part, int parts);
/* s[count rows_pad][cols_pad] = the bit product with y (dr_pack_cols
 * layout, yplanes bit-planes) for every output pixel of samples [first,
 * first + count); s row 0 is sample first's pixel (0, 0). */
void dr_bitconv_product(const dr_bitconv *c, int first, int count, const uint64_t *y, int yplanes, int cols_pad,
                        int32_t *s, int serial);
void dr_bitconv_product_part(const dr_bitconv *c, int first, int count, const uint64_t *y, int yplanes,
                             int cols_pad, int32_t *s, int part, int parts);

/* Backward-input of a stride-1 convolution g as an implicit bit convolution
 * of its gradient codes (bitconv_grad.c): din += the dequantized W^T dY. */
typedef struct {
    dr_conv_geom g;     /* the forward convolution                     */
    int W, ic_pad, threads;
    dr_bitconv conv;    /* over the gradient, with the transposed geometry */
    uint8_t *wflip;     /* [ic][taps][oc] flipped, transposed weight codes */
    uint64_t *y;        /* the same packed as the product's columns        */
    int32_t *pre;       /* [kh+1][kw+1][ic] prefix sums of per-tap code sums */
    int32_t *s;         /* per thread [rows_pad][ic_pad] products          */
} dr_bitconv_grad;

int dr_bitconv_grad_suits(const dr_conv_geom *g);
/* gcodes [n][oh][ow][oc] (g = m_i (2 q - n_G) / n_G per sample, m_i = gscale[i]),
 * wcodes [oc][kh][kw][ic] (w = u (2 q - nw)); store: write din (else add to it). */
void dr_bitconv_grad_input(dr_bitconv_grad *b, const dr_conv_geom *g, int n, const uint8_t *gcodes, int G,
                           const float *gscale, const uint8_t *wcodes, int W, float u, int nw, float *din,
                           int store);
void dr_bitconv_grad_free(dr_bitconv_grad *b);

#endif
