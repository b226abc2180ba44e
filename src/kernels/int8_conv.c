/* The integer first layer (int8_conv.h). Output pixels go in tiles of 8: two
 * conv rows of 4 columns, which are two 2x2 pooling windows side by side
 * when a max-pool follows. A kernel makes the tile's sums t[8][oc_pad] for
 * every channel, reading each window row as row4 bytes straight from the
 * input (where a tile's windows touch the padding or the end of the pixels,
 * from a copy with zeros: its patch); the epilogue turns t into codes. The
 * kernels differ only in how they make t. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../core/spin_barrier.h"
#include "../quant/quantize.h"
#include "bitgemm.h"
#include "direct_conv.h"
#include "direct_conv_impl.h"
#include "int8_conv.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define DR_X86 1
#elif defined(__aarch64__)
#include <arm_neon.h>
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#define TPIX 8 /* pixels per tile */
#define WIDE DR_INT8_MAX_K /* int16 per pixel in the AVX2 kernel's widened windows */

/* Where a tile's windows are read: pixel j's window row ky at src[j] + ky rs. */
typedef struct {
    const uint8_t *src[TPIX];
    ptrdiff_t rs;
} tile_rows;

int dr_int8_conv_suits(const dr_conv_geom *g)
{
    const int row4 = (g->kw * g->ic + 3) / 4 * 4; /* as dr_int8_conv_init pads a window row */
    return g->groups == 1 && (long)g->kh * row4 <= DR_INT8_MAX_K && g->oc <= DR_INT8_MAX_OC;
}

void dr_int8_conv_init(dr_int8_conv *c, const dr_conv_geom *g, const int8_t *q)
{
    memset(c, 0, sizeof *c);
    c->g = *g;
    c->K = dr_conv_k(g);
    c->oc_pad = (g->oc + 15) / 16 * 16;
    const int K = c->K, P = c->oc_pad, span = g->kw * g->ic;
    c->row4 = (span + 3) / 4 * 4;
    const size_t K4 = (size_t)g->kh * c->row4;
    c->q = dr_xmalloc((size_t)g->oc * K);
    memcpy(c->q, q, (size_t)g->oc * K);
    c->w4 = dr_xalign(K4 * P);
    c->w2 = dr_xalign(K4 * P * sizeof(int16_t));
    c->qsum = dr_xcalloc((size_t)P, sizeof(int32_t));
    memset(c->w4, 0, K4 * P);
    memset(c->w2, 0, K4 * P * sizeof(int16_t));
    for (int o = 0; o < g->oc; o++)
        for (int k = 0; k < K; k++) {
            const int8_t v = q[(size_t)o * K + k];
            const size_t at = (size_t)(k / span) * c->row4 + k % span; /* row ky, byte k % span */
            c->w4[((at / 4) * P + o) * 4 + at % 4] = v;
            c->w2[((at / 2) * P + o) * 2 + at % 2] = v;
            c->qsum[o] += v;
        }
}

void dr_int8_conv_free(dr_int8_conv *c)
{
    free(c->q), free(c->w4), free(c->w2), free(c->qsum);
    memset(c, 0, sizeof *c);
}

void dr_int8_quantize(const float *w, int oc, int K, float *scale, int8_t *q)
{
    for (int o = 0; o < oc; o++) {
        const float *r = w + (size_t)o * K;
        float m = 0;
        for (int k = 0; k < K; k++) m = fabsf(r[k]) > m ? fabsf(r[k]) : m;
        scale[o] = m / 127.0f;
        for (int k = 0; k < K; k++) {
            float v = m > 0 ? rintf(r[k] / scale[o]) : 0.0f;
            v = v > 127 ? 127 : v < -127 ? -127 : v;
            q[(size_t)o * K + k] = (int8_t)v;
        }
    }
}

DR_SIMD_CLONES static void pixels_span(const float *restrict x, size_t n, uint8_t *restrict px)
{
#pragma omp simd
    for (size_t k = 0; k < n; k++) {
        const float p = dr_rint(x[k] * (1.0f / DR_PIXEL_SCALE));
        px[k] = (uint8_t)(p < 0 ? 0 : p > 255 ? 255 : p);
    }
}

/* Share `part` of `parts` of the n pixels (in whole cache lines of bytes). */
static void pixels_part(const float *x, size_t n, uint8_t *px, int part, int parts)
{
    const long lines = (long)(n + 63) / 64;
    const size_t k0 = (size_t)dr_share_begin(lines, part, parts) * 64,
                 k1 = DR_MIN(n, (size_t)dr_share_begin(lines, part + 1, parts) * 64);
    if (k0 < k1) pixels_span(x + k0, k1 - k0, px + k0);
}

void dr_int8_pixels(const float *x, size_t n, uint8_t *px)
{
#pragma omp parallel
    pixels_part(x, n, px, omp_get_thread_num(), omp_get_num_threads());
}

uint8_t dr_int8_code(float v, int cabs, float levels)
{
    const float a = cabs ? fabsf(v) : v > 0.0f ? v : 0.0f, h = a < 1.0f ? a : 1.0f;
    return (uint8_t)dr_rint(h * levels);
}

/* ---- the kernels: a tile's sums t[TPIX][oc_pad] from its patch rows ------ */

typedef void tile_fn(const dr_int8_conv *c, const tile_rows *r, int32_t *t);

static void tile_c(const dr_int8_conv *c, const tile_rows *r, int32_t *t)
{
    const dr_conv_geom *g = &c->g;
    const int K = c->K, span = g->kw * g->ic;
    for (int j = 0; j < TPIX; j++)
        for (int o = 0; o < c->oc_pad; o++) {
            int32_t acc = 0;
            const int8_t *q = c->q + (size_t)o * K;
            for (int ky = 0; ky < g->kh && o < g->oc; ky++)
                for (int k = 0; k < span; k++) acc += (int32_t)r->src[j][ky * r->rs + k] * q[ky * span + k];
            t[j * c->oc_pad + o] = acc;
        }
}

#ifdef DR_X86
#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))

/* NB blocks of 16 channels from block b0: 8 x NB accumulators (24 of the 32
 * registers for NB = 3), NB weight vectors per group of 4 products. */
VNNI_TARGET __attribute__((always_inline)) static inline void vnni_blocks(const dr_int8_conv *c, const tile_rows *r,
                                                                        int32_t *t, int b0, const int NB)
{
    const int P = c->oc_pad, groups = c->row4 / 4;
    __m512i acc[TPIX][3];
    for (int j = 0; j < TPIX; j++)
        for (int b = 0; b < NB; b++) acc[j][b] = _mm512_setzero_si512();
    const int8_t *w = c->w4 + (size_t)b0 * 64;
    for (int ky = 0; ky < c->g.kh; ky++) {
        const uint8_t *src[TPIX];
        for (int j = 0; j < TPIX; j++) src[j] = r->src[j] + ky * r->rs;
        for (int gi = 0; gi < groups; gi++, w += (size_t)P * 4) {
            __m512i wv[3];
            for (int b = 0; b < NB; b++) wv[b] = _mm512_load_si512((const void *)(w + b * 64));
            for (int j = 0; j < TPIX; j++) {
                int32_t four;
                memcpy(&four, src[j] + 4 * gi, 4);
                const __m512i x = _mm512_set1_epi32(four);
                for (int b = 0; b < NB; b++) acc[j][b] = _mm512_dpbusd_epi32(acc[j][b], x, wv[b]);
            }
        }
    }
    for (int j = 0; j < TPIX; j++)
        for (int b = 0; b < NB; b++) _mm512_storeu_si512((void *)(t + j * P + (b0 + b) * 16), acc[j][b]);
}

VNNI_TARGET static void tile_vnni(const dr_int8_conv *c, const tile_rows *r, int32_t *t)
{
    const int nb = c->oc_pad / 16;
    int b = 0;
    for (; b + 3 <= nb; b += 3) vnni_blocks(c, r, t, b, 3);
    for (; b < nb; b++) vnni_blocks(c, r, t, b, 1);
}

/* 4 pixels (j0 ..) x NB blocks of 8 channels from block b0: 4 x NB
 * accumulators (12 of the 16 registers for NB = 3), NB weight vectors per
 * pair of products, one broadcast per pixel and pair. */
__attribute__((target("avx2"), always_inline)) static inline void avx2_blocks(const dr_int8_conv *c,
                                                                             const int16_t *wide, int j0,
                                                                             int32_t *t, int b0, const int NB)
{
    const int P = c->oc_pad, pairs = c->g.kh * c->row4 / 2;
    __m256i acc[4][3];
    for (int j = 0; j < 4; j++)
        for (int b = 0; b < NB; b++) acc[j][b] = _mm256_setzero_si256();
    const int16_t *w = c->w2 + (size_t)b0 * 16;
    for (int pi = 0; pi < pairs; pi++, w += (size_t)P * 2) {
        __m256i wv[3];
        for (int b = 0; b < NB; b++) wv[b] = _mm256_load_si256((const __m256i *)(w + b * 16));
        for (int j = 0; j < 4; j++) {
            int32_t two;
            memcpy(&two, wide + (size_t)(j0 + j) * WIDE + 2 * pi, 4);
            const __m256i x = _mm256_set1_epi32(two);
            for (int b = 0; b < NB; b++) acc[j][b] = _mm256_add_epi32(acc[j][b], _mm256_madd_epi16(x, wv[b]));
        }
    }
    for (int j = 0; j < 4; j++)
        for (int b = 0; b < NB; b++) _mm256_storeu_si256((__m256i *)(t + (j0 + j) * P + (b0 + b) * 8), acc[j][b]);
}

/* Blocks of 8 channels, pixels and weights as int16 (vpmaddwd: two products
 * per lane): the windows widened once per tile (16, 8 or 4 bytes at a time). */
__attribute__((target("avx2"))) static void tile_avx2(const dr_int8_conv *c, const tile_rows *r, int32_t *t)
{
    const int kh = c->g.kh, row4 = c->row4, nb = c->oc_pad / 8;
    int16_t wide[TPIX * WIDE] __attribute__((aligned(32)));
    for (int j = 0; j < TPIX; j++)
        for (int ky = 0; ky < kh; ky++) {
            const uint8_t *src = r->src[j] + ky * r->rs;
            int16_t *d = wide + (size_t)j * WIDE + ky * row4;
            int b = 0;
            for (; b + 16 <= row4; b += 16)
                _mm256_storeu_si256((__m256i *)(d + b), _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(src + b))));
            if (b + 8 <= row4)
                _mm_storeu_si128((__m128i *)(d + b), _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(src + b)))), b += 8;
            if (b < row4) { /* 4 bytes */
                int32_t four;
                memcpy(&four, src + b, 4);
                _mm_storel_epi64((__m128i *)(d + b), _mm_cvtepu8_epi16(_mm_cvtsi32_si128(four)));
            }
        }
    for (int j0 = 0; j0 < TPIX; j0 += 4) {
        int b = 0;
        for (; b + 3 <= nb; b += 3) avx2_blocks(c, wide, j0, t, b, 3);
        for (; b < nb; b++) avx2_blocks(c, wide, j0, t, b, 1);
    }
}

static int has_vnni(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vnni");
}
static int has_avx2(void) { return __builtin_cpu_supports("avx2"); }
#endif


#if defined(__aarch64__)
/* Blocks of 8 channels, 8 x 2 accumulators: per group of 4 products the
 * pairs' weights deinterleaved from w2 (vld2q), each pixel's 4 bytes widened
 * to int16 and multiplied into int32 by lane (smlal: 4 products each). */
#define NEON_MAC4(acc, wk, p)                                                    \
    do {                                                                         \
        acc[0] = vmlal_lane_s16(acc[0], vget_low_s16(wk[0]), p, 0);              \
        acc[1] = vmlal_lane_s16(acc[1], vget_high_s16(wk[0]), p, 0);             \
        acc[0] = vmlal_lane_s16(acc[0], vget_low_s16(wk[1]), p, 1);              \
        acc[1] = vmlal_lane_s16(acc[1], vget_high_s16(wk[1]), p, 1);             \
        acc[0] = vmlal_lane_s16(acc[0], vget_low_s16(wk[2]), p, 2);              \
        acc[1] = vmlal_lane_s16(acc[1], vget_high_s16(wk[2]), p, 2);             \
        acc[0] = vmlal_lane_s16(acc[0], vget_low_s16(wk[3]), p, 3);              \
        acc[1] = vmlal_lane_s16(acc[1], vget_high_s16(wk[3]), p, 3);             \
    } while (0)

static void tile_neon(const dr_int8_conv *c, const tile_rows *r, int32_t *t)
{
    const int P = c->oc_pad, groups = c->row4 / 4;
    for (int b = 0; b < P / 8; b++) {
        int32x4_t acc[TPIX][2];
        for (int j = 0; j < TPIX; j++) acc[j][0] = acc[j][1] = vdupq_n_s32(0);
        const int16_t *w = c->w2 + (size_t)b * 16;
        for (int ky = 0; ky < c->g.kh; ky++)
            for (int gi = 0; gi < groups; gi++, w += (size_t)P * 4) {
                const int16x8x2_t a = vld2q_s16(w), z = vld2q_s16(w + (size_t)P * 2);
                const int16x8_t wk[4] = {a.val[0], a.val[1], z.val[0], z.val[1]};
                for (int j = 0; j < TPIX; j++) {
                    uint32_t four;
                    memcpy(&four, r->src[j] + ky * r->rs + 4 * gi, 4);
                    const int16x4_t p = vget_low_s16(vreinterpretq_s16_u16(vmovl_u8(vcreate_u8(four))));
                    NEON_MAC4(acc[j], wk, p);
                }
            }
        for (int j = 0; j < TPIX; j++) {
            vst1q_s32(t + j * P + b * 8, acc[j][0]);
            vst1q_s32(t + j * P + b * 8 + 4, acc[j][1]);
        }
    }
}

/* ARMv8.2's dot product (sdot: four s8 x s8 products per int32 lane). The
 * pixels are unsigned, so each goes in as x - 128 (its top bit flipped) and
 * 128 sum_k q[o][k] is added back: sum (x - 128) q + 128 sum q = sum x q,
 * exactly (|sum| <= 255 x 127 x 1024 < 2^31). Blocks of 8 channels, two
 * w4 vectors of 4 channels x 4 products each. */
__attribute__((target("arch=armv8.2-a+dotprod"))) static void tile_sdot(const dr_int8_conv *c, const tile_rows *r, int32_t *t)
{
    const int P = c->oc_pad, groups = c->row4 / 4;
    for (int b = 0; b < P / 8; b++) {
        int32x4_t acc[TPIX][2];
        for (int j = 0; j < TPIX; j++) acc[j][0] = acc[j][1] = vdupq_n_s32(0);
        const int8_t *w = c->w4 + (size_t)b * 32;
        for (int ky = 0; ky < c->g.kh; ky++)
            for (int gi = 0; gi < groups; gi++, w += (size_t)P * 4) {
                const int8x16_t w0 = vld1q_s8(w), w1 = vld1q_s8(w + 16);
                for (int j = 0; j < TPIX; j++) {
                    uint32_t four;
                    memcpy(&four, r->src[j] + ky * r->rs + 4 * gi, 4);
                    const int8x16_t x = vreinterpretq_s8_u32(vdupq_n_u32(four ^ 0x80808080u));
                    acc[j][0] = vdotq_s32(acc[j][0], w0, x);
                    acc[j][1] = vdotq_s32(acc[j][1], w1, x);
                }
            }
        const int32x4_t k0 = vshlq_n_s32(vld1q_s32(c->qsum + b * 8), 7), k1 = vshlq_n_s32(vld1q_s32(c->qsum + b * 8 + 4), 7);
        for (int j = 0; j < TPIX; j++) {
            vst1q_s32(t + j * P + b * 8, vaddq_s32(acc[j][0], k0));
            vst1q_s32(t + j * P + b * 8 + 4, vaddq_s32(acc[j][1], k1));
        }
    }
}

static int has_dotprod(void) { return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0; }
static int has_neon(void) { return 1; } /* Advanced SIMD is part of every aarch64 CPU */
#endif

static int always(void) { return 1; }

static const struct {
    const char *name;
    tile_fn *fn;
    int (*supported)(void);
} KERNELS[] = {
#ifdef DR_X86
    {"vnni", tile_vnni, has_vnni},
    {"avx2", tile_avx2, has_avx2},
#elif defined(__aarch64__)
    {"sdot", tile_sdot, has_dotprod},
    {"neon", tile_neon, has_neon},
#endif
    {"c", tile_c, always},
};
#define N_KERNELS (int)(sizeof KERNELS / sizeof KERNELS[0])

/* DOREFA_KERNEL (through the bit kernels' choice) caps the choice: c -> c,
 * avx2 -> avx2, avx512 -> the best. */
const char *dr_int8_kernel(void)
{
    const char *bit = dr_bitgemm_kernel();
    for (int i = 0; i < N_KERNELS; i++) {
        if (!KERNELS[i].supported()) continue;
        if (!strcmp(bit, "c") && strcmp(KERNELS[i].name, "c")) continue;
        if (!strcmp(bit, "avx2") && !strcmp(KERNELS[i].name, "vnni")) continue;
        return KERNELS[i].name;
    }
    return "c";
}

const char *const *dr_int8_available(void)
{
    static const char *names[N_KERNELS + 1];
    int n = 0;
    for (int i = 0; i < N_KERNELS; i++)
        if (KERNELS[i].supported()) names[n++] = KERNELS[i].name;
    names[n] = NULL;
    return names;
}

static tile_fn *kernel_fn(const char *name)
{
    if (!name) name = dr_int8_kernel();
    for (int i = 0; i < N_KERNELS; i++)
        if (!strcmp(KERNELS[i].name, name) && KERNELS[i].supported()) return KERNELS[i].fn;
    return tile_c;
}

/* ---- tiles ----------------------------------------------------------------- */

/* A tile's patch: TPIX windows of kh rows of row4 bytes (zeroed once: the
 * bytes past kw ic stay zero). */
static uint8_t *new_patch(const dr_int8_conv *c)
{
    const size_t bytes = (size_t)TPIX * c->g.kh * c->row4;
    uint8_t *p = dr_xalign(bytes);
    memset(p, 0, bytes);
    return p;
}

/* Copies output pixel (s, oy, ox)'s window into dst (kh rows of row4
 * bytes), zeros for padding. */
static void gather(const dr_int8_conv *c, const uint8_t *px, int s, int oy, int ox, uint8_t *dst)
{
    const dr_conv_geom *g = &c->g;
    const int x0 = ox * g->sw - g->pad_left;
    for (int ky = 0; ky < g->kh; ky++) {
        const int y = oy * g->sh - g->pad_top + ky;
        uint8_t *d = dst + ky * c->row4;
        const uint8_t *row = px + ((size_t)s * g->ih + y) * g->iw * g->ic;
        for (int kx = 0; kx < g->kw; kx++) {
            const int x = x0 + kx;
            if (y >= 0 && y < g->ih && x >= 0 && x < g->iw) memcpy(d + kx * g->ic, row + (size_t)x * g->ic, (size_t)g->ic);
            else memset(d + kx * g->ic, 0, (size_t)g->ic);
        }
    }
}

/* The tile at conv rows y0, y0 + 1 and columns x0 .. x0 + 3: pixel j at
 * (y0 + j / 4, x0 + j % 4), clamped into the output (a clamped pixel repeats
 * one inside; its results are not used). Read in place where every window
 * lies inside the input and the last row's row4 bytes inside the pixels. */
static void tile_sums(const dr_int8_conv *c, tile_fn *fn, const uint8_t *px, int n, int s, int y0, int x0,
                      uint8_t *patch, int32_t *t)
{
    const dr_conv_geom *g = &c->g;
    const int y1 = DR_MIN(y0 + 1, g->oh - 1), x3 = DR_MIN(x0 + 3, g->ow - 1);
    const int top = y0 * g->sh - g->pad_top, left = x0 * g->sw - g->pad_left;
    const int bottom = y1 * g->sh - g->pad_top + g->kh, right = x3 * g->sw - g->pad_left + g->kw;
    const size_t rowb = (size_t)g->iw * g->ic;
    const uint8_t *last = px + ((size_t)s * g->ih + bottom - 1) * rowb + (size_t)(right - g->kw) * g->ic;
    const int inside = top >= 0 && left >= 0 && bottom <= g->ih && right <= g->iw &&
                       last + c->row4 <= px + (size_t)n * g->ih * rowb;
    tile_rows r;
    r.rs = inside ? (ptrdiff_t)rowb : c->row4;
    if (inside && y1 == y0 + 1 && x3 == x0 + 3) { /* no pixel clamped: fixed steps from the first */
        const uint8_t *p0 = px + ((size_t)s * g->ih + top) * rowb + (size_t)left * g->ic;
        const size_t down = (size_t)g->sh * rowb, across = (size_t)g->sw * g->ic;
        for (int j = 0; j < TPIX; j++) r.src[j] = p0 + (size_t)(j / 4) * down + (size_t)(j % 4) * across;
        fn(c, &r, t);
        return;
    }
    for (int j = 0; j < TPIX; j++) {
        const int y = DR_MIN(y0 + j / 4, g->oh - 1), x = DR_MIN(x0 + j % 4, g->ow - 1);
        if (inside) {
            r.src[j] = px + ((size_t)s * g->ih + y * g->sh - g->pad_top) * rowb + (size_t)(x * g->sw - g->pad_left) * g->ic;
        } else {
            uint8_t *d = patch + (size_t)j * g->kh * c->row4;
            gather(c, px, s, y, x, d);
            r.src[j] = d;
        }
    }
    fn(c, &r, t);
}

void dr_int8_conv_sums(const dr_int8_conv *c, const char *kernel, int n, const uint8_t *px, int32_t *sums)
{
    const dr_conv_geom *g = &c->g;
    tile_fn *fn = kernel_fn(kernel);
    const int rows = (g->oh + 1) / 2, quads = (g->ow + 3) / 4, oc = g->oc;
#pragma omp parallel
    {
        uint8_t *patch = new_patch(c);
        int32_t *t = dr_xalign(sizeof(int32_t) * TPIX * (size_t)c->oc_pad);
#pragma omp for schedule(dynamic, 16)
        for (int tile = 0; tile < n * rows * quads; tile++) {
            const int s = tile / (rows * quads), y0 = tile / quads % rows * 2, x0 = tile % quads * 4;
            tile_sums(c, fn, px, n, s, y0, x0, patch, t);
            for (int j = 0; j < TPIX; j++) {
                const int y = y0 + j / 4, x = x0 + j % 4;
                if (y < g->oh && x < g->ow)
                    memcpy(sums + (((size_t)s * g->oh + y) * g->ow + x) * oc, t + j * c->oc_pad, sizeof(int32_t) * oc);
            }
        }
        free(patch), free(t);
    }
}

/* ---- the epilogue ------------------------------------------------------------ */

/* The epilogue's constants padded to whole blocks of 16 channels. */
typedef struct {
    const dr_int8_epilogue *ep;
    float *mul, *add; /* [oc_pad], zeros past oc */
} padded_epilogue;

#pragma GCC diagnostic ignored "-Wpsabi" /* vector helpers, always inlined */
#define TC_LANES 16
#define TC_GT dr_vgt
#define TC_LT dr_vlt
#define TC_LTF dr_vltf
#define TC_NAME(x) x##16
#include "int8_codes.h"
#undef TC_LANES
#undef TC_GT
#undef TC_LT
#undef TC_LTF
#undef TC_NAME

/* One copy of a tile's codes (int8_codes.h) for the target it was compiled for. */
typedef void codes_fn(const padded_epilogue *pe, const int32_t *t, int P, int pooled, uint8_t *tc);

static void codes_plain(const padded_epilogue *pe, const int32_t *t, int P, int pooled, uint8_t *tc)
{
    tile_codes16(pe, t, P, pooled, tc);
}

#if defined(DR_X86) && !defined(DR_NO_CLONES)
#define TC_LANES 8
#define TC_GT(a, b) ((a) > (b))
#define TC_LT(a, b) ((a) < (b))
#define TC_LTF(a, b) ((a) < (b))
#define TC_NAME(x) x##8
#include "int8_codes.h"

__attribute__((target("avx512f"))) static void codes_avx512(const padded_epilogue *pe, const int32_t *t, int P,
                                                            int pooled, uint8_t *tc)
{
    tile_codes16(pe, t, P, pooled, tc);
}
__attribute__((target("avx2"))) static void codes_avx2(const padded_epilogue *pe, const int32_t *t, int P,
                                                       int pooled, uint8_t *tc)
{
    tile_codes8(pe, t, P, pooled, tc);
}

/* The width dr_wide_vectors() says; the plain copy with the c tile kernel. */
static codes_fn *codes_for(tile_fn *fn)
{
    return fn == tile_c ? codes_plain : dr_wide_vectors() ? codes_avx512 : codes_avx2;
}
#else
static codes_fn *codes_for(tile_fn *fn)
{
    (void)fn;
    return codes_plain;
}
#endif

/* x: when not NULL, the network's input, converted into px_out (= px) first. */
static void conv_codes(const dr_int8_conv *c, const char *kernel, int n, const float *x, uint8_t *px_out,
                       const uint8_t *px, const dr_int8_epilogue *ep, uint8_t *codes)
{
    const dr_conv_geom *g = &c->g, *pool = ep->pool;
    tile_fn *fn = kernel_fn(kernel);
    codes_fn *tile_codes = codes_for(fn);
    const int oc = g->oc, P = c->oc_pad;
    padded_epilogue pe = {ep, dr_xcalloc((size_t)P, sizeof(float)), dr_xcalloc((size_t)P, sizeof(float))};
    memcpy(pe.mul, ep->mul, sizeof(float) * oc);
    memcpy(pe.add, ep->add, sizeof(float) * oc);
    /* with a pool: pooled row py, pooled columns px, px + 1 per tile */
    const int rows = pool ? pool->oh : (g->oh + 1) / 2, cols = pool ? (pool->ow + 1) / 2 : (g->ow + 3) / 4;
    dr_spin_barrier bar = {0};
#pragma omp parallel
    {
        if (x) { /* the pixels first, by the same team */
            const int nt = omp_get_num_threads();
            pixels_part(x, (size_t)n * g->ih * g->iw * g->ic, px_out, omp_get_thread_num(), nt);
            dr_spin_barrier_wait(&bar, nt);
        }
        uint8_t *patch = new_patch(c);
        int32_t *t = dr_xalign(sizeof(int32_t) * TPIX * (size_t)P);
        uint8_t *tc = dr_xalign((size_t)TPIX * P);
#pragma omp for schedule(dynamic, 16) nowait /* the region's end waits */
        for (int tile = 0; tile < n * rows * cols; tile++) {
            const int s = tile / (rows * cols), r = tile / cols % rows, q = tile % cols;
            tile_sums(c, fn, px, n, s, 2 * r, 4 * q, patch, t);
            tile_codes(&pe, t, P, pool != NULL, tc);
            if (pool) {
                for (int h = 0; h < 2 && 2 * q + h < pool->ow; h++)
                    memcpy(codes + (((size_t)s * pool->oh + r) * pool->ow + 2 * q + h) * oc, tc + h * P, (size_t)oc);
                continue;
            }
            for (int j = 0; j < TPIX; j++) {
                const int y = 2 * r + j / 4, x = 4 * q + j % 4;
                if (y < g->oh && x < g->ow)
                    memcpy(codes + (((size_t)s * g->oh + y) * g->ow + x) * oc, tc + j * P, (size_t)oc);
            }
        }
        free(patch), free(t), free(tc);
    }
    free(pe.mul), free(pe.add);
}

void dr_int8_conv_codes(const dr_int8_conv *c, const char *kernel, int n, const uint8_t *px,
                        const dr_int8_epilogue *ep, uint8_t *codes)
{
    conv_codes(c, kernel, n, NULL, NULL, px, ep, codes);
}

void dr_int8_conv_run(const dr_int8_conv *c, const char *kernel, int n, const float *x, uint8_t *px,
                      const dr_int8_epilogue *ep, uint8_t *codes)
{
    conv_codes(c, kernel, n, x, px, px, ep, codes);
}
