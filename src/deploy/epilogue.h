/* The integer epilogue of a fused block: accumulators to output codes. */
#ifndef DR_EPILOGUE_H
#define DR_EPILOGUE_H

#include <stddef.h>
#include <stdint.h>

#include "../kernels/conv_geom.h"

/* Per-channel thresholds of a block's output codes, padded to oc_pad
 * (a multiple of 16) channels. */
typedef struct {
    int oc, oc_pad, nout, cabs;
    int32_t *sign;    /* [oc_pad]: +1 or -1 (the sign of the folded scale) */
    int32_t *up, *lo; /* [nout][oc_pad]: code += acc' >= up[k]; cabs: also acc' <= lo[k] */
    int16_t *up16, *lo16; /* the same saturated to 16 bits where every acc' fits (dr_thresholds_narrow), else NULL */
} dr_thresholds;

/* Makes t's 16-bit thresholds when |acc'| <= max_acc fits in 16 bits (the
 * AVX-512BW loops then compare 32 channels at a time); the caller frees them. */
void dr_thresholds_narrow(dr_thresholds *t, long max_acc);

typedef struct {
    const dr_thresholds *t;
    const int32_t *s;      /* bit products, row stride lds                          */
    size_t lds;
    const int32_t *asum;   /* per row: the sum of the input codes (acc = 2 s - M asum) */
    int M;
    int n, oh, ow;         /* the conv's output: samples and size                   */
    size_t sample_rows;    /* output (y, x) of sample i is row i sample_rows + y ow + x */
    const dr_conv_geom *pool; /* max-pool in the block (NULL: none)                   */
    int pool_first;        /* the pool came before BN: it takes the unsigned acc     */
    uint8_t *out;          /* codes [n][oh'][ow'][oc], oh' ow' after the pool        */
} dr_epilogue;

/* All output rows, on all threads. */
void dr_epilogue_run(const dr_epilogue *e);
/* Share `part` of `parts` of the output rows (a team's threads each call with their own). */
void dr_epilogue_part(const dr_epilogue *e, int part, int parts);
/* Output rows [y0, y1) (over samples and y, after the pool) on the calling thread. */
void dr_epilogue_rows(const dr_epilogue *e, int y0, int y1);

#endif
