/* Packing integer codes into the bit-plane layouts dr_bitgemm reads
 * (bitpack.h); shared by the training products and the inference engine. */
#include "bitpack.h"

#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "bitgemm.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static inline int nwords(int bits) { return (bits + 63) / 64; }

void dr_weight_codes(const float *wq, size_t count, int bits, uint8_t *codes)
{
    if (bits == 1) {
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < count; i++) codes[i] = wq[i] > 0;
        return;
    }
    const float half = (float)((1u << bits) - 1u) * 0.5f;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < count; i++) codes[i] = (uint8_t)((wq[i] + 1.0f) * half + 0.5f);
}

/* ---- rows and columns of bit-planes ---------------------------------------------- */

static void pack_rows_c(const uint8_t *codes, int rows, int len, int planes, int words, uint64_t *out, int32_t *sums)
{
    for (int r = 0; r < rows; r++) {
        const uint8_t *c = codes + (size_t)r * len;
        uint64_t *o = out + (size_t)r * planes * words, pl[8];
        int32_t sum = 0;
        for (int w = 0; w < words; w++) {
            uint8_t chunk[64];
            int n = DR_MIN(64, len - w * 64);
            if (n == 64) {
                memcpy(chunk, c + w * 64, 64);
            } else {
                memset(chunk, 0, 64);
                if (n > 0) memcpy(chunk, c + w * 64, (size_t)n);
            }
            dr_bytes_to_planes(chunk, planes, pl);
            for (int b = 0; b < planes; b++) o[b * words + w] = pl[b], sum += __builtin_popcountll(pl[b]) << b;
        }
        if (sums) sums[r] = sum;
    }
}

#if defined(__x86_64__)
/* AVX-512BW: a masked load of 64 codes, then one bit test per plane. */
__attribute__((target("avx512f,avx512bw,popcnt"))) static void
pack_rows_avx512(const uint8_t *codes, int rows, int len, int planes, int words, uint64_t *out, int32_t *sums)
{
    for (int r = 0; r < rows; r++) {
        const uint8_t *c = codes + (size_t)r * len;
        uint64_t *o = out + (size_t)r * planes * words;
        int32_t sum = 0;
        for (int w = 0; w < words; w++) {
            const int n = DR_MIN(64, len - w * 64);
            const __m512i v = _mm512_maskz_loadu_epi8(n >= 64 ? ~0ULL : n > 0 ? (1ULL << n) - 1 : 0, c + w * 64);
            for (int b = 0; b < planes; b++) {
                const uint64_t word = _mm512_test_epi8_mask(v, _mm512_set1_epi8((char)(1 << b)));
                o[b * words + w] = word;
                sum += (int32_t)__builtin_popcountll(word) << b;
            }
        }
        if (sums) sums[r] = sum;
    }
}
#endif

void dr_pack_rows_serial(const uint8_t *codes, int rows, int len, int planes, int words, uint64_t *out, int32_t *sums)
{
#if defined(__x86_64__)
    static int avx512 = -1;
    if (avx512 < 0) avx512 = __builtin_cpu_supports("avx512bw");
    if (avx512) {
        pack_rows_avx512(codes, rows, len, planes, words, out, sums);
        return;
    }
#endif
    pack_rows_c(codes, rows, len, planes, words, out, sums);
}

/* Row packing: codes[r][len] -> out[r][plane][words], bit i of word i/64. */
void dr_pack_rows(const uint8_t *codes, int rows, int len, int planes, int words, uint64_t *out)
{
    enum { CHUNK = 64 };
#pragma omp parallel for schedule(static)
    for (int r0 = 0; r0 < rows; r0 += CHUNK)
        dr_pack_rows_serial(codes + (size_t)r0 * len, DR_MIN(CHUNK, rows - r0), len, planes, words,
                            out + (size_t)r0 * planes * words, NULL);
}

/* Column packing, lane-interleaved: codes[col][seg][seglen] -> out[plane][seg * segw + i / 64][cols_pad];
 * csum[col] = sum of the column's codes. */
void dr_pack_cols(const uint8_t *codes, int cols, int nseg, int seglen, int planes, int cols_pad,
                      uint64_t *out, int32_t *csum)
{
    const int segw = nwords(seglen), words = nseg * segw;
    for (int b = 0; b < planes; b++) /* zero the padding lanes */
        for (int w = 0; w < words; w++)
            memset(out + ((size_t)b * words + w) * cols_pad + cols, 0, sizeof(uint64_t) * (cols_pad - cols));
#pragma omp parallel
    {
        uint64_t *seg = dr_xmalloc(sizeof(uint64_t) * (size_t)planes * segw); /* one segment's planes */
#pragma omp for schedule(static)
        for (int col = 0; col < cols; col++) {
            const uint8_t *c = codes + (size_t)col * nseg * seglen;
            int32_t sum = 0;
            for (int sg = 0; sg < nseg; sg++) {
                int32_t ssum;
                dr_pack_rows_serial(c + (size_t)sg * seglen, 1, seglen, planes, segw, seg, &ssum); /* codes < 2^planes */
                sum += ssum;
                for (int b = 0; b < planes; b++)
                    for (int w0 = 0; w0 < segw; w0++)
                        out[((size_t)b * words + sg * segw + w0) * cols_pad + col] = seg[b * segw + w0];
            }
            if (csum) csum[col] = sum;
        }
        free(seg);
    }
}

/* Sum of each row's integers from its bit-planes: sum_m 2^m popcount(plane m). */
static inline __attribute__((always_inline)) int32_t row_sum(const uint64_t *x, int r, int planes, int words)
{
    int32_t s = 0;
    for (int b = 0; b < planes; b++)
        for (int w = 0; w < words; w++) s += __builtin_popcountll(x[((size_t)r * planes + b) * words + w]) << b;
    return s;
}

DR_POPCNT_CLONES void dr_row_sums(const uint64_t *x, int rows, int planes, int words, int32_t *sum)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) sum[r] = row_sum(x, r, planes, words);
}

DR_POPCNT_CLONES void dr_row_sums_serial(const uint64_t *x, int rows, int planes, int words, int32_t *sum)
{
    for (int r = 0; r < rows; r++) sum[r] = row_sum(x, r, planes, words);
}

/* Bit im2col: rows p of n samples, each the words of its window's pixels
 * (channels padded to 64 per pixel), zero words for padding. */
static inline void im2col_row(const dr_conv_geom *g, const uint64_t *xpix, int planes, uint64_t *x, int r, int rows)
{
    const int cw = nwords(g->ic), KW = g->kh * g->kw * cw, P = dr_conv_p(g);
    uint64_t *dst = x + (size_t)r * planes * KW;
    if (r >= rows) {
        memset(dst, 0, sizeof(uint64_t) * planes * KW);
        return;
    }
    int s = r / P, p = r % P, oy = p / g->ow, ox = p % g->ow;
    for (int ky = 0; ky < g->kh; ky++)
        for (int kx = 0; kx < g->kw; kx++) {
            int y = oy * g->sh - g->pad_top + ky, xx = ox * g->sw - g->pad_left + kx;
            int seg = ky * g->kw + kx;
            int inside = y >= 0 && y < g->ih && xx >= 0 && xx < g->iw;
            const uint64_t *src = xpix + (((size_t)s * g->ih + (inside ? y : 0)) * g->iw + (inside ? xx : 0)) * planes * cw;
            for (int b = 0; b < planes; b++)
                for (int w = 0; w < cw; w++) dst[b * KW + seg * cw + w] = inside ? src[b * cw + w] : 0;
        }
}

void dr_bit_im2col(const dr_conv_geom *g, int n, const uint64_t *xpix, int planes, uint64_t *x, int rows_pad)
{
    const int rows = n * dr_conv_p(g);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows_pad; r++) im2col_row(g, xpix, planes, x, r, rows);
}

void dr_bit_im2col_serial(const dr_conv_geom *g, int n, const uint64_t *xpix, int planes, uint64_t *x, int rows_pad)
{
    const int rows = n * dr_conv_p(g);
    for (int r = 0; r < rows_pad; r++) im2col_row(g, xpix, planes, x, r, rows);
}
