/* The multi-bit product at the heart of every bit convolution (Eq. 3):
 *
 *   S[r][c] = sum_{m < MX} sum_{k < MY} 2^(m+k) sum_w popcount(X[r][m][w] & Y[k][w][c])
 *
 * X holds one row per output row (a pixel, or a channel), bit-plane m of its
 * k-bit integers packed in `words` 64-bit words. Y is lane-interleaved: for
 * plane k and word w, the words of all columns sit side by side, so a vector
 * register holds the same word of 8 columns and one broadcast X word meets 8
 * columns at once (no horizontal sums; any reduction length). */
#ifndef DR_BITGEMM_H
#define DR_BITGEMM_H

#include <stddef.h>
#include <stdint.h>

#define DR_BG_ROWS 4  /* rows per block: X row counts are padded to this  */
#define DR_BG_COLS 32 /* columns per block: Y column counts are padded to this */

static inline int dr_round_up(int v, int m) { return (v + m - 1) / m * m; }

typedef struct {
    const uint64_t *x; /* [rows_pad][xplanes][words]            */
    int rows;          /* rows to compute (x holds rows_pad)    */
    int xplanes;
    const uint64_t *y; /* [yplanes][words][cols_pad]            */
    int cols_pad, yplanes;
    int words;
    int32_t *s; /* [rows_pad][cols_pad]                           */
    /* Optional, for an implicit convolution (rows = output pixels read
     * straight from a padded grid of packed input pixels, no im2col):
     * the reduction is nseg segments of words / nseg words each, segment k
     * of a row starting seg[k] words after the row's start; X rows are xrow
     * words apart, a row's bit-planes xplane words apart. groups > 1 repeats
     * the `rows` rows every group_stride rows of X and S (one group per
     * sample). Zero: the dense layout above. */
    int nseg;
    const int *seg;
    size_t xrow;
    int xplane;
    int groups;
    size_t group_stride;
    /* Optional: row r of a group starts rowoff[r] words after the group's
     * start (rows rounded up to DR_BG_ROWS entries), groups group_xwords
     * words apart in X; S stays dense (group_stride rows apart). For a
     * convolution that reads a padded grid without computing its borders. */
    const size_t *rowoff;
    size_t group_xwords;
    int serial; /* 1: on the calling thread only (inside a caller's parallel loop or team) */
    /* Optional, with serial: only share `part` of `parts` equal shares of the
     * blocks, for a team whose threads each call with their own part (a small
     * batch's steps in one parallel region) and synchronise themselves. */
    int part, parts;
} dr_bitgemm_args;

/* Runs on all threads (OpenMP) with the selected kernel, unless a->serial. */
void dr_bitgemm(const dr_bitgemm_args *a);

/* How one block reads X, Y and writes S. */
typedef struct {
    size_t xrow;     /* words between X rows                        */
    int xplane;      /* words between a row's bit-planes            */
    int xplanes;
    const int *woff; /* [words]: where reduction word w sits in a row's plane */
    int words;
    size_t ldy;      /* Y row stride (its padded column count)       */
    int yplanes;
    size_t lds;
    int one_row; /* only row 0 is wanted (a product of one row, as a small batch's
                  * 1x1 conv or fc): kernels may skip the others and write them 0 */
} dr_bg_geom;

/* One block of DR_BG_ROWS rows x DR_BG_COLS columns (for callers that
 * schedule blocks themselves): x at the block's first row (row stride xrow
 * words), y at the block's first column, s at the block's first cell. */
void dr_bitgemm_block(const uint64_t *x, size_t xrow, int words, int xplanes, const uint64_t *y, size_t ldy,
                      int yplanes, int32_t *s, size_t lds);

/* For one block of DR_BG_ROWS rows of x (as dr_bitgemm_block) against every
 * column block of y covering columns [0, cols): d[r][k] += scale (float)(2 S[r][k]
 * - nG asum[k]) for r < rows, k < cols, the bracket wrapping as in 32-bit
 * integers (d rows ldd floats apart): backward-weight's per-sample step, its S
 * never stored. */
void dr_bitgemm_rows_add(const uint64_t *x, size_t xrow, int words, int xplanes, const uint64_t *y, size_t ldy,
                         int yplanes, int cols, const int32_t *asum, uint32_t nG, float scale, float *d, size_t ldd,
                         int rows);

/* Bit-planes of 64 codes: words[b] bit j = bit b of codes[j], for b < planes. */
void dr_bytes_to_planes(const uint8_t codes[64], int planes, uint64_t *words);

/* Whether the CPU has AVX-512F and VPOPCNTDQ (the "avx512" kernel's needs). */
int dr_cpu_avx512_popcnt(void);

/* Whether loops written for 16 lanes run their AVX-512 forms (16-lane vectors,
 * 32 registers) rather than their AVX2 ones (8 lanes): the CPU has AVX-512F
 * and no lesser bit kernel was chosen where avx512 runs (DOREFA_KERNEL=avx2
 * or c take the 8-lane forms, so that one CPU runs both). 0 off x86. */
int dr_wide_vectors(void);

/* Kernel selection: "avx512" (AVX-512 VPOPCNTDQ), "avx2", "c" (scalar popcount).
 * Chosen from the CPU at first use; DOREFA_KERNEL=c|avx2|avx512 forces one. */
const char *dr_bitgemm_kernel(void);
/* Forces a kernel by name; -1 with an error when the CPU lacks it. */
int dr_bitgemm_select(const char *name);
/* Selects the kernel DOREFA_KERNEL names, if it is set: -1 with a message
 * naming the variable when it names no kernel this CPU runs. */
int dr_bitgemm_select_from_env(void);
/* Names of the kernels this CPU can run, most capable first (NULL-terminated). */
const char *const *dr_bitgemm_available(void);

/* Measured AND+popcount ceiling in bit-MACs/s (all threads, `seconds` long). */
double dr_popcount_peak(double seconds);

#endif
