/* Operands of the bit backward-weight product (products_bit.c): per sample,
 * the gradient G_i^T (a row per output channel) and the activations' window
 * columns (a column per (tap, input channel)), both with their bits along the
 * sample's output pixels, so the product reduces over those pixels.
 *
 * Output pixel (oy, ox) is bit q = oy qw + ox of the reduction. In the dense
 * layout qw = ow. In the shifted layout (stride 1, activations held in a grid
 * that already contains the padding) qw is the grid's width: then tap (ky, kx)
 * reads grid position q + ky qw + kx, so every window column is the grid's own
 * bit row shifted by a constant, and the grid is transposed once per sample
 * instead of once per tap. Positions with ox >= ow are gaps: zero in both
 * operands. */
#ifndef DR_WGRAD_BITS_H
#define DR_WGRAD_BITS_H

#include <stddef.h>
#include <stdint.h>

#include "conv_geom.h"

/* 64x64 bit-matrix transpose in place: bit c of a[j] becomes bit j of a[c]. */
void dr_transpose64(uint64_t a[64]);

/* Input pixels packed along channels ([plane][ceil(ic/64)] words each):
 * sample i's pixel (y, x) at base + i sample + ((y + y0) width + x + x0) words
 * per pixel; a sample holds `pixels` such pixels (its grid, borders included). */
typedef struct {
    const uint64_t *base;
    size_t sample;
    int width, y0, x0;
    int pixels;
} dr_pixel_map;

typedef struct {
    int qw;          /* positions per output row                              */
    int words;       /* 64-bit words of the reduction                         */
    int shifted;     /* window columns are shifts of the transposed grid      */
    int tw;          /* shifted: words of a transposed grid row               */
    int *qmap;       /* [words 64]: output pixel oy ow + ox of position q, -1 */
    uint64_t *valid; /* [words]: positions that are output pixels             */
    size_t cap;      /* positions allocated                                   */
} dr_wgrad_layout;

/* The layout for g reading its activations through pm (shifted where it can be). */
void dr_wgrad_layout_set(dr_wgrad_layout *L, const dr_conv_geom *g, const dr_pixel_map *pm);
void dr_wgrad_layout_free(dr_wgrad_layout *L);

/* X of sample i: x[o][plane][words] for o < oc (rows up to oc_pad zero), from
 * the gradient's pixels gpix[p][plane][ceil(oc/64)] (dr_pack_rows of the codes). */
void dr_wgrad_gradient_rows(const dr_wgrad_layout *L, const dr_conv_geom *g, const uint64_t *gpix, int planes,
                            int oc_pad, uint64_t *x);

/* Y of sample i: y[plane][words][k_pad], column k = (ky kw + kx) ic + c, zero
 * columns from K on; asum[k] = the sum of column k's codes. scratch: at least
 * dr_wgrad_scratch_words() words (shifted layout; NULL otherwise). */
void dr_wgrad_activation_cols(const dr_wgrad_layout *L, const dr_conv_geom *g, const dr_pixel_map *pm, int i,
                              int planes, int k_pad, uint64_t *scratch, uint64_t *y, int32_t *asum);
size_t dr_wgrad_scratch_words(const dr_wgrad_layout *L, const dr_conv_geom *g, int planes);

#endif
