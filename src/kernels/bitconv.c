/* Implicit bit convolution: packing into the padded grid, window sums, and
 * the bit-GEMM over grid rows. */
#include "bitconv.h"

#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "bitgemm.h"
#include "bitpack.h"

static int grid_w(const dr_conv_geom *g) { return g->ow + g->kw - 1; }
static int grid_h(const dr_conv_geom *g) { return g->oh + g->kh - 1; }

int dr_bitconv_suits(const dr_conv_geom *g)
{
    if (g->sh != 1 || g->sw != 1 || g->groups != 1 || g->ih + g->pad_top > grid_h(g) ||
        g->iw + g->pad_left > grid_w(g))
        return 0;
    /* computed rows per sample (rounded up to whole blocks) against the real ones: at most 1.25 */
    return 4 * dr_round_up(g->oh * g->ow, DR_BG_ROWS) <= 5 * g->oh * g->ow;
}

void dr_bitconv_init(dr_bitconv *c, const dr_conv_geom *g, int planes, int max_batch)
{
    memset(c, 0, sizeof *c);
    c->g = *g;
    c->planes = planes;
    c->cw = (g->ic + 63) / 64;
    c->hp = grid_h(g), c->wp = grid_w(g);
    c->grid_rows = (size_t)max_batch * c->hp * c->wp;
    c->rows_pad = dr_round_up(g->oh * g->ow, DR_BG_ROWS);
    c->seg = dr_xmalloc(sizeof(int) * (size_t)g->kh * g->kw);
    for (int ky = 0; ky < g->kh; ky++)
        for (int kx = 0; kx < g->kw; kx++) c->seg[ky * g->kw + kx] = (ky * c->wp + kx) * planes * c->cw;
    c->rowoff = dr_xmalloc(sizeof(size_t) * (size_t)c->rows_pad);
    for (int p = 0; p < c->rows_pad; p++) { /* the padding rows repeat the last pixel */
        const int q = p < g->oh * g->ow ? p : g->oh * g->ow - 1;
        c->rowoff[p] = ((size_t)(q / g->ow) * c->wp + q % g->ow) * planes * c->cw;
    }
    c->x = dr_xalign(c->grid_rows * planes * c->cw * sizeof(uint64_t));
    memset(c->x, 0, c->grid_rows * planes * c->cw * sizeof(uint64_t)); /* borders stay zero */
    c->pixsum = dr_xcalloc(c->grid_rows, sizeof(int32_t));
    c->asum = dr_xcalloc((size_t)max_batch * c->rows_pad, sizeof(int32_t));
}

void dr_bitconv_free(dr_bitconv *c)
{
    free(c->seg), free(c->rowoff), free(c->x), free(c->pixsum), free(c->asum);
    memset(c, 0, sizeof *c);
}

void dr_bitconv_ensure(dr_bitconv *c, const dr_conv_geom *g, int planes, int max_batch)
{
    if (c->x && c->planes == planes && !memcmp(&c->g, g, sizeof *g) &&
        c->grid_rows >= (size_t)max_batch * c->hp * c->wp)
        return;
    dr_bitconv_free(c);
    dr_bitconv_init(c, g, planes, max_batch);
}

/* Rows [r0, r1) of the input (over samples): packed into the grid. */
static void pack_rows(dr_bitconv *c, const uint8_t *codes, int r0, int r1)
{
    const dr_conv_geom *g = &c->g;
    for (int row = r0; row < r1; row++) {
        const int smp = row / g->ih, y = row % g->ih;
        const size_t p = ((size_t)smp * c->hp + y + g->pad_top) * c->wp + g->pad_left; /* the row's first pixel */
        dr_pack_rows_serial(codes + ((size_t)smp * g->ih + y) * g->iw * g->ic, g->iw, g->ic, c->planes, c->cw,
                            c->x + p * c->planes * c->cw, c->pixsum + p);
    }
}

/* Window sums of output rows [r0, r1) (over samples and y): each tap's row of
 * pixel sums added across the output row, in vectors. */
DR_SIMD_CLONES static void window_sums(dr_bitconv *c, int r0, int r1)
{
    const dr_conv_geom *g = &c->g;
    const int ow = g->ow;
    const size_t wp = (size_t)c->wp;
    for (int row = r0; row < r1; row++) {
        const int smp = row / g->oh, y = row % g->oh;
        const int32_t *ps = c->pixsum + ((size_t)smp * c->hp + y) * wp;
        int32_t *restrict dst = c->asum + (size_t)smp * c->rows_pad + (size_t)y * ow;
        for (int x = 0; x < ow; x++) dst[x] = 0;
        for (int ky = 0; ky < g->kh; ky++)
            for (int kx = 0; kx < g->kw; kx++) {
                const int32_t *restrict src = ps + ky * wp + kx;
                for (int x = 0; x < ow; x++) dst[x] += src[x];
            }
    }
}

void dr_bitconv_pack(dr_bitconv *c, const uint8_t *codes, int first, int count, int serial)
{
    const int ih = c->g.ih, oh = c->g.oh;
    if (serial) { /* plain loops: even an inactive parallel region costs a team setup */
        pack_rows(c, codes, first * ih, (first + count) * ih);
        window_sums(c, first * oh, (first + count) * oh);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int row = first * ih; row < (first + count) * ih; row++) pack_rows(c, codes, row, row + 1);
#pragma omp parallel for schedule(static)
    for (int row = first * oh; row < (first + count) * oh; row++) window_sums(c, row, row + 1);
}

void dr_bitconv_pack_part(dr_bitconv *c, const uint8_t *codes, int first, int count, int part, int parts)
{
    const int rows = count * c->g.ih, r0 = first * c->g.ih;
    pack_rows(c, codes, r0 + (int)dr_share_begin(rows, part, parts), r0 + (int)dr_share_begin(rows, part + 1, parts));
}

void dr_bitconv_sums_part(dr_bitconv *c, int first, int count, int part, int parts)
{
    const int rows = count * c->g.oh, r0 = first * c->g.oh;
    window_sums(c, r0 + (int)dr_share_begin(rows, part, parts), r0 + (int)dr_share_begin(rows, part + 1, parts));
}

static void product(const dr_bitconv *c, int first, int count, const uint64_t *y, int yplanes, int cols_pad,
                    int32_t *s, int serial, int part, int parts)
{
    const int taps = c->g.kh * c->g.kw;
    const size_t grid_words = (size_t)c->hp * c->wp * c->planes * c->cw; /* one sample's grid */
    dr_bitgemm(&(dr_bitgemm_args){.x = c->x + (size_t)first * grid_words,
                                  .rows = c->g.oh * c->g.ow,
                                  .xplanes = c->planes,
                                  .y = y,
                                  .cols_pad = cols_pad,
                                  .yplanes = yplanes,
                                  .words = taps * c->cw,
                                  .s = s,
                                  .nseg = taps,
                                  .seg = c->seg,
                                  .xrow = (size_t)c->planes * c->cw,
                                  .xplane = c->cw,
                                  .groups = count,
                                  .group_stride = (size_t)c->rows_pad,
                                  .rowoff = c->rowoff,
                                  .group_xwords = grid_words,
                                  .serial = serial,
                                  .part = part,
                                  .parts = parts});
}

void dr_bitconv_product(const dr_bitconv *c, int first, int count, const uint64_t *y, int yplanes, int cols_pad,
                        int32_t *s, int serial)
{
    product(c, first, count, y, yplanes, cols_pad, s, serial, 0, 0);
}

void dr_bitconv_product_part(const dr_bitconv *c, int first, int count, const uint64_t *y, int yplanes,
                             int cols_pad, int32_t *s, int part, int parts)
{
    product(c, first, count, y, yplanes, cols_pad, s, 1, part, parts);
}
