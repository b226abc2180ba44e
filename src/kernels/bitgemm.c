/* Bit-GEMM kernels and their run-time selection. Each kernel computes one
 * block of DR_BG_ROWS rows x DR_BG_COLS columns; dr_bitgemm() spreads the
 * blocks over threads. */
#include "bitgemm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DR_X86 1
#endif

/* One block: its row r starts at x + r4[r] (r < DR_BG_ROWS). */
typedef void (*block_fn)(const dr_bg_geom *geo, const uint64_t *x, const size_t *r4, const uint64_t *y, int32_t *s);

/* Unpacks a block's geometry into locals; reduction word w of plane m of
 * row r is x[r4[r] + m * xplane + woff[w]]. */
#define GEOM                                                                                 \
    const size_t ldy = geo->ldy, lds = geo->lds;                                             \
    const int xplane = geo->xplane, yplanes = geo->yplanes, words = geo->words;              \
    int xplanes = geo->xplanes;                                                              \
    const int *woff = geo->woff

/* ---- plain C -------------------------------------------------------------- */

#define C_BLOCK_BODY                                                                        \
    GEOM;                                                                                   \
    int64_t tot[DR_BG_ROWS][DR_BG_COLS] = {{0}};                                            \
    for (int m = 0; m < xplanes; m++)                                                       \
        for (int k = 0; k < yplanes; k++) {                                                 \
            int64_t acc[DR_BG_ROWS][DR_BG_COLS] = {{0}};                                    \
            const uint64_t *ym = y + (size_t)k * words * ldy;                               \
            for (int w = 0; w < words; w++) {                                               \
                const uint64_t *yw = ym + (size_t)w * ldy;                                  \
                const size_t xw = (size_t)m * xplane + woff[w];                                \
                for (int r = 0; r < DR_BG_ROWS; r++) {                                      \
                    uint64_t a = x[r4[r] + xw];                                             \
                    if (!a) continue;                                                       \
                    for (int c = 0; c < DR_BG_COLS; c++) acc[r][c] += __builtin_popcountll(a & yw[c]); \
                }                                                                           \
            }                                                                               \
            for (int r = 0; r < DR_BG_ROWS; r++)                                            \
                for (int c = 0; c < DR_BG_COLS; c++) tot[r][c] += acc[r][c] << (m + k);     \
        }                                                                                   \
    for (int r = 0; r < DR_BG_ROWS; r++)                                                    \
        for (int c = 0; c < DR_BG_COLS; c++) s[r * lds + c] = (int32_t)tot[r][c];

static void block_c(const dr_bg_geom *geo, const uint64_t *x, const size_t *r4, const uint64_t *y, int32_t *s)
{
    C_BLOCK_BODY
}

#ifdef DR_X86
/* The same C, compiled for the popcnt instruction. */
__attribute__((target("popcnt"))) static void block_c_popcnt(const dr_bg_geom *geo, const uint64_t *x,
                                                              const size_t *r4, const uint64_t *y, int32_t *s)
{
    C_BLOCK_BODY
}

/* ---- AVX2: popcount by nibble lookup (vpshufb), byte sums by vpsadbw ------
 *
 * popcount(a & b) per byte = T[a & b_lo] + T[(a >> 4) & b_hi] with b_lo and
 * b_hi b's low and high nibbles (masked once per column word, for the 4
 * rows): 7.25 vector operations per 256 bit-MACs where masking each AND
 * took 8 (6-11% faster, one thread, a harness around dr_bitgemm). */

__attribute__((target("avx2"))) static void block_avx2(const dr_bg_geom *geo, const uint64_t *x,
                                                        const size_t *r4, const uint64_t *y, int32_t *s)
{
    GEOM;
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1,
                                         2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0f);
    /* 4 rows x 32 columns, done as 4 passes of 8 columns (2 ymm of 4 lanes). */
    for (int c0 = 0; c0 < DR_BG_COLS; c0 += 8) {
        __m256i tot[DR_BG_ROWS][2];
        for (int r = 0; r < DR_BG_ROWS; r++) tot[r][0] = tot[r][1] = _mm256_setzero_si256();
        for (int m = 0; m < xplanes; m++)
            for (int k = 0; k < yplanes; k++) {
                const uint64_t *ym = y + (size_t)k * words * ldy + c0;
                __m256i acc[DR_BG_ROWS][2];
                for (int r = 0; r < DR_BG_ROWS; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
                for (int w0 = 0; w0 < words; w0 += 31) { /* byte counters hold 31 words of 8 */
                    int w1 = DR_MIN(words, w0 + 31);
                    __m256i bytes[DR_BG_ROWS][2];
                    for (int r = 0; r < DR_BG_ROWS; r++) bytes[r][0] = bytes[r][1] = _mm256_setzero_si256();
                    for (int w = w0; w < w1; w++) {
                        /* the columns' low and high nibbles, masked once for the 4 rows: then
                         * a & lo and (a >> 4) & hi are table indices as they stand */
                        const __m256i b0 = _mm256_loadu_si256((const __m256i *)(ym + (size_t)w * ldy));
                        const __m256i b1 = _mm256_loadu_si256((const __m256i *)(ym + (size_t)w * ldy + 4));
                        const __m256i lo0 = _mm256_and_si256(b0, low), hi0 = _mm256_and_si256(_mm256_srli_epi16(b0, 4), low);
                        const __m256i lo1 = _mm256_and_si256(b1, low), hi1 = _mm256_and_si256(_mm256_srli_epi16(b1, 4), low);
                        const size_t xw = (size_t)m * xplane + woff[w];
                        for (int r = 0; r < DR_BG_ROWS; r++) {
                            const __m256i a = _mm256_set1_epi64x((long long)x[r4[r] + xw]);
                            const __m256i ah = _mm256_srli_epi16(a, 4);
                            bytes[r][0] = _mm256_add_epi8(bytes[r][0], _mm256_shuffle_epi8(lut, _mm256_and_si256(a, lo0)));
                            bytes[r][0] = _mm256_add_epi8(bytes[r][0], _mm256_shuffle_epi8(lut, _mm256_and_si256(ah, hi0)));
                            bytes[r][1] = _mm256_add_epi8(bytes[r][1], _mm256_shuffle_epi8(lut, _mm256_and_si256(a, lo1)));
                            bytes[r][1] = _mm256_add_epi8(bytes[r][1], _mm256_shuffle_epi8(lut, _mm256_and_si256(ah, hi1)));
                        }
                    }
                    for (int r = 0; r < DR_BG_ROWS; r++)
                        for (int j = 0; j < 2; j++)
                            acc[r][j] = _mm256_add_epi64(acc[r][j], _mm256_sad_epu8(bytes[r][j], _mm256_setzero_si256()));
                }
                for (int r = 0; r < DR_BG_ROWS; r++)
                    for (int j = 0; j < 2; j++)
                        tot[r][j] = _mm256_add_epi64(tot[r][j], _mm256_slli_epi64(acc[r][j], m + k));
            }
        for (int r = 0; r < DR_BG_ROWS; r++)
            for (int j = 0; j < 2; j++) {
                int64_t v[4];
                _mm256_storeu_si256((__m256i *)v, tot[r][j]);
                for (int l = 0; l < 4; l++) s[r * lds + c0 + j * 4 + l] = (int32_t)v[l];
            }
    }
}

/* ---- AVX-512 VPOPCNTDQ: 4 rows x 4 vectors of 8 columns = 16 accumulators --
 *
 * The plane pairs are weighted by Horner's rule: pairs of weight 2^d are
 * summed into the accumulators from the highest d down, which double before
 * each lower d. The 16 accumulators stay in registers for the whole block (a
 * separate total per block would not fit beside them and spill). */

/* One row's 4 accumulators: a_j += popcount(v & b_j); and a_j doubled (Horner). */
#define AVX512_ROW(v, a0, a1, a2, a3)                                                      \
    a0 = _mm512_add_epi64(a0, _mm512_popcnt_epi64(_mm512_and_si512(v, b0)));               \
    a1 = _mm512_add_epi64(a1, _mm512_popcnt_epi64(_mm512_and_si512(v, b1)));               \
    a2 = _mm512_add_epi64(a2, _mm512_popcnt_epi64(_mm512_and_si512(v, b2)));               \
    a3 = _mm512_add_epi64(a3, _mm512_popcnt_epi64(_mm512_and_si512(v, b3)))
#define AVX512_DOUBLE(a0, a1, a2, a3)                                                      \
    a0 = _mm512_add_epi64(a0, a0), a1 = _mm512_add_epi64(a1, a1);                          \
    a2 = _mm512_add_epi64(a2, a2), a3 = _mm512_add_epi64(a3, a3)
/* b0..b3 = word w of the block's 32 columns (at ym) */
#define AVX512_COLUMNS(ym, w)                                                              \
    const uint64_t *yw = (ym) + (size_t)(w) * ldy;                                         \
    const __m512i b0 = _mm512_loadu_si512(yw), b1 = _mm512_loadu_si512(yw + 8);             \
    const __m512i b2 = _mm512_loadu_si512(yw + 16), b3 = _mm512_loadu_si512(yw + 24)

/* Adds popcount(x_r & y_j) over the block's words for one plane pair. */
#define AVX512_PAIR(x0, x1, x2, x3, ym)                                                    \
    for (int w = 0; w < words; w++) {                                                      \
        AVX512_COLUMNS(ym, w);                                                             \
        const int o = woff[w];                                                             \
        __m512i v = _mm512_set1_epi64((long long)(x0)[o]);                                 \
        AVX512_ROW(v, a00, a01, a02, a03);                                                 \
        v = _mm512_set1_epi64((long long)(x1)[o]);                                         \
        AVX512_ROW(v, a10, a11, a12, a13);                                                 \
        v = _mm512_set1_epi64((long long)(x2)[o]);                                         \
        AVX512_ROW(v, a20, a21, a22, a23);                                                 \
        v = _mm512_set1_epi64((long long)(x3)[o]);                                         \
        AVX512_ROW(v, a30, a31, a32, a33);                                                 \
    }

/* The 16 accumulators = the block's whole product, rows r4[] of x against y. */
#define AVX512_HORNER(x, r4, y)                                                                             \
    for (int d = xplanes + yplanes - 2; d >= 0; d--) {                                                      \
        if (d < xplanes + yplanes - 2) { /* the accumulators are still 0 at the top d */                     \
            AVX512_DOUBLE(a00, a01, a02, a03); AVX512_DOUBLE(a10, a11, a12, a13);                           \
            AVX512_DOUBLE(a20, a21, a22, a23); AVX512_DOUBLE(a30, a31, a32, a33);                           \
        }                                                                                                   \
        for (int m = d < yplanes ? 0 : d - yplanes + 1; m < xplanes && m <= d; m++) {                      \
            const size_t xm = (size_t)m * xplane;                                                           \
            const uint64_t *x0 = (x) + (r4)[0] + xm, *x1 = (x) + (r4)[1] + xm, *x2 = (x) + (r4)[2] + xm;    \
            const uint64_t *x3 = (x) + (r4)[3] + xm;                                                        \
            AVX512_PAIR(x0, x1, x2, x3, (y) + (size_t)(d - m) * words * ldy)                                \
        }                                                                                                   \
    }

__attribute__((target("avx512f,avx512vpopcntdq"))) static void
block_avx512(const dr_bg_geom *geo, const uint64_t *x, const size_t *r4, const uint64_t *y, int32_t *s)
{
    GEOM;
    __m512i a00 = _mm512_setzero_si512(), a01 = a00, a02 = a00, a03 = a00;
    __m512i a10 = a00, a11 = a00, a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00;
    __m512i a30 = a00, a31 = a00, a32 = a00, a33 = a00;
    if (geo->one_row) { /* a quarter of the work: the other three rows are padding */
        for (int d = xplanes + yplanes - 2; d >= 0; d--) {
            AVX512_DOUBLE(a00, a01, a02, a03);
            for (int m = d < yplanes ? 0 : d - yplanes + 1; m < xplanes && m <= d; m++) {
                const uint64_t *ym = y + (size_t)(d - m) * words * ldy, *x0 = x + r4[0] + (size_t)m * xplane;
                for (int w = 0; w < words; w++) {
                    AVX512_COLUMNS(ym, w);
                    const __m512i v = _mm512_set1_epi64((long long)x0[woff[w]]);
                    AVX512_ROW(v, a00, a01, a02, a03);
                }
            }
        }
    } else {
        AVX512_HORNER(x, r4, y)
    }
#define STORE(r, j, a) _mm256_storeu_si256((__m256i *)(s + (r) * lds + (j) * 8), _mm512_cvtepi64_epi32(a))
    STORE(0, 0, a00); STORE(0, 1, a01); STORE(0, 2, a02); STORE(0, 3, a03);
    STORE(1, 0, a10); STORE(1, 1, a11); STORE(1, 2, a12); STORE(1, 3, a13);
    STORE(2, 0, a20); STORE(2, 1, a21); STORE(2, 2, a22); STORE(2, 3, a23);
    STORE(3, 0, a30); STORE(3, 1, a31); STORE(3, 2, a32); STORE(3, 3, a33);
#undef STORE
}

/* dr_bitgemm_rows_add on AVX-512: each column block's accumulators go
 * straight into d (no S in memory, one call per row block). */
__attribute__((target("avx512f,avx512vpopcntdq"))) static void
rows_add_avx512(const uint64_t *x, size_t xrow, int words, int xplanes, const uint64_t *y, size_t ldy, int yplanes,
                int cols, const int32_t *asum, uint32_t nG, float scale, float *dst, size_t ldd, int rows)
{
    const int xplane = words;
    const size_t r4[DR_BG_ROWS] = {0, xrow, 2 * xrow, 3 * xrow};
    int woff[words];
    for (int w = 0; w < words; w++) woff[w] = w;
    const __m512 vs = _mm512_set1_ps(scale);
    const __m512i vn = _mm512_set1_epi32((int)nG);
    for (int k0 = 0; k0 < cols; k0 += DR_BG_COLS, y += DR_BG_COLS) {
        __m512i a00 = _mm512_setzero_si512(), a01 = a00, a02 = a00, a03 = a00;
        __m512i a10 = a00, a11 = a00, a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        __m512i a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        AVX512_HORNER(x, r4, y)
        const int n = cols - k0 < DR_BG_COLS ? cols - k0 : DR_BG_COLS;
        const __mmask16 m0 = (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1), m1 = (__mmask16)(n >= 32 ? 0xffff : n > 16 ? (1u << (n - 16)) - 1 : 0);
        const __m512i na0 = _mm512_mullo_epi32(vn, _mm512_maskz_loadu_epi32(m0, asum + k0));
        const __m512i na1 = _mm512_mullo_epi32(vn, _mm512_maskz_loadu_epi32(m1, asum + k0 + 16));
        /* d += scale (float)(int32)(2 S - nG asum), the bracket wrapping as in 32-bit integers */
#define HALF(lo, hi) _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(lo)), _mm512_cvtepi64_epi32(hi), 1)
#define ADD_ROW(r, b0, b1, b2, b3)                                                                          \
        if ((r) < rows) {                                                                                   \
            float *dr = dst + (size_t)(r) * ldd + k0;                                                       \
            const __m512i s0 = _mm512_sub_epi32(_mm512_slli_epi32(HALF(b0, b1), 1), na0);                   \
            const __m512i s1 = _mm512_sub_epi32(_mm512_slli_epi32(HALF(b2, b3), 1), na1);                   \
            _mm512_mask_storeu_ps(dr, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, dr), _mm512_mul_ps(vs, _mm512_cvtepi32_ps(s0)))); \
            _mm512_mask_storeu_ps(dr + 16, m1, _mm512_add_ps(_mm512_maskz_loadu_ps(m1, dr + 16), _mm512_mul_ps(vs, _mm512_cvtepi32_ps(s1)))); \
        }
        ADD_ROW(0, a00, a01, a02, a03) ADD_ROW(1, a10, a11, a12, a13)
        ADD_ROW(2, a20, a21, a22, a23) ADD_ROW(3, a30, a31, a32, a33)
#undef ADD_ROW
#undef HALF
    }
}
#undef AVX512_HORNER
#undef AVX512_PAIR
#undef AVX512_COLUMNS
#undef AVX512_DOUBLE
#undef AVX512_ROW
#endif

/* ---- NEON (aarch64): vcnt byte counts, widened by pairwise adds ---------- */

#if defined(__aarch64__)
#include <arm_neon.h>

/* 4 rows x 32 columns as 8 passes of 4 columns (two 2-lane vectors); plane
 * pairs weighted by Horner's rule as in the AVX-512 kernel. Per word a pass
 * ANDs each row's broadcast word with the columns' words, counts bits per
 * byte (vcnt) and adds the byte counts (at most 8 per word: 31 words fit a
 * byte), then widens them once per 31 words into 64-bit totals (vpaddl). */
static void block_neon(const dr_bg_geom *geo, const uint64_t *x, const size_t *r4, const uint64_t *y, int32_t *s)
{
    GEOM;
    const int rows = geo->one_row ? 1 : DR_BG_ROWS;
    for (int c0 = 0; c0 < DR_BG_COLS; c0 += 4) {
        uint64x2_t tot[DR_BG_ROWS][2];
        for (int r = 0; r < DR_BG_ROWS; r++) tot[r][0] = tot[r][1] = vdupq_n_u64(0);
        for (int d = xplanes + yplanes - 2; d >= 0; d--) {
            for (int r = 0; r < rows; r++)
                tot[r][0] = vaddq_u64(tot[r][0], tot[r][0]), tot[r][1] = vaddq_u64(tot[r][1], tot[r][1]);
            for (int m = d < yplanes ? 0 : d - yplanes + 1; m < xplanes && m <= d; m++) {
                const uint64_t *ym = y + (size_t)(d - m) * words * ldy + c0;
                const size_t xm = (size_t)m * xplane;
                for (int w0 = 0; w0 < words; w0 += 31) {
                    const int w1 = DR_MIN(words, w0 + 31);
                    uint8x16_t bytes[DR_BG_ROWS][2];
                    for (int r = 0; r < DR_BG_ROWS; r++) bytes[r][0] = bytes[r][1] = vdupq_n_u8(0);
                    for (int w = w0; w < w1; w++) {
                        const uint64x2_t b0 = vld1q_u64(ym + (size_t)w * ldy), b1 = vld1q_u64(ym + (size_t)w * ldy + 2);
                        for (int r = 0; r < rows; r++) {
                            const uint64x2_t v = vdupq_n_u64(x[r4[r] + xm + woff[w]]);
                            bytes[r][0] = vaddq_u8(bytes[r][0], vcntq_u8(vreinterpretq_u8_u64(vandq_u64(v, b0))));
                            bytes[r][1] = vaddq_u8(bytes[r][1], vcntq_u8(vreinterpretq_u8_u64(vandq_u64(v, b1))));
                        }
                    }
                    for (int r = 0; r < rows; r++)
                        for (int j = 0; j < 2; j++)
                            tot[r][j] = vaddq_u64(tot[r][j], vpaddlq_u32(vpaddlq_u16(vpaddlq_u8(bytes[r][j]))));
                }
            }
        }
        for (int r = 0; r < DR_BG_ROWS; r++)
            vst1q_s32(s + r * lds + c0, vreinterpretq_s32_u32(vcombine_u32(vmovn_u64(tot[r][0]), vmovn_u64(tot[r][1]))));
    }
}
#endif

/* ---- selection -------------------------------------------------------------- */

typedef struct {
    const char *name;
    block_fn fn;
    int (*supported)(void);
} kernel_t;

static int always(void) { return 1; }
#ifdef DR_X86
static int has_popcnt(void) { return __builtin_cpu_supports("popcnt"); }
static int has_avx2(void) { return __builtin_cpu_supports("avx2"); }
#endif

int dr_wide_vectors(void)
{
#ifdef DR_X86
    return __builtin_cpu_supports("avx512f") && (!dr_cpu_avx512_popcnt() || !strcmp(dr_bitgemm_kernel(), "avx512"));
#else
    return 0;
#endif
}

int dr_cpu_avx512_popcnt(void)
{
#ifdef DR_X86
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq");
#else
    return 0;
#endif
}

static const kernel_t KERNELS[] = {
#if defined(__aarch64__)
    {"neon", block_neon, always}, /* Advanced SIMD is part of every aarch64 CPU */
#endif
#ifdef DR_X86
    {"avx512", block_avx512, dr_cpu_avx512_popcnt},
    {"avx2", block_avx2, has_avx2},
    {"c", block_c_popcnt, has_popcnt},
#endif
    {"c", block_c, always},
};
#define N_KERNELS (int)(sizeof KERNELS / sizeof KERNELS[0])

static const kernel_t *selected;

int dr_bitgemm_select(const char *name)
{
    for (int i = 0; i < N_KERNELS; i++)
        if (!strcmp(KERNELS[i].name, name)) {
            if (!KERNELS[i].supported()) continue; /* e.g. "c" without popcnt: the next one */
            selected = &KERNELS[i];
            return 0;
        }
    for (int i = 0; i < N_KERNELS; i++)
        if (!strcmp(KERNELS[i].name, name))
            return dr_fail("kernel '%s' needs instructions this CPU lacks", name);
    char known[64] = "";
    for (int i = 0; i < N_KERNELS; i++)
        if (!strstr(known, KERNELS[i].name)) /* the table lists "c" twice on x86 */
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", *known ? ", " : "", KERNELS[i].name);
    return dr_fail("unknown kernel '%s' (this build has: %s)", name, known);
}

int dr_bitgemm_select_from_env(void)
{
    const char *env = getenv("DOREFA_KERNEL");
    if (!env || !*env) return 0;
    if (dr_bitgemm_select(env)) return dr_fail("DOREFA_KERNEL=%s: %s", env, dr_last_error());
    return 0;
}

/* The kernel in use: DOREFA_KERNEL's, else the best the CPU has. A bad
 * DOREFA_KERNEL was reported by dr_bitgemm_select_from_env (networks check it
 * when they are made); here it falls back to the CPU's best. */
static const kernel_t *current(void)
{
    if (selected) return selected;
    if (dr_bitgemm_select_from_env()) selected = NULL;
    for (int i = 0; !selected && i < N_KERNELS; i++)
        if (KERNELS[i].supported()) selected = &KERNELS[i];
    return selected;
}

const char *dr_bitgemm_kernel(void) { return current()->name; }

const char *const *dr_bitgemm_available(void)
{
    static const char *names[N_KERNELS + 1];
    int n = 0;
    for (int i = 0; i < N_KERNELS; i++) {
        int dup = 0;
        for (int j = 0; j < n; j++) dup |= !strcmp(names[j], KERNELS[i].name);
        if (!dup && KERNELS[i].supported()) names[n++] = KERNELS[i].name;
    }
    names[n] = NULL;
    return names;
}

void dr_bitgemm_block(const uint64_t *x, size_t xrow, int words, int xplanes, const uint64_t *y, size_t ldy,
                      int yplanes, int32_t *s, size_t lds)
{
    int woff[words];
    for (int w = 0; w < words; w++) woff[w] = w;
    const dr_bg_geom geo = {xrow, words, xplanes, woff, words, ldy, yplanes, lds, 0};
    const size_t r4[DR_BG_ROWS] = {0, xrow, 2 * xrow, 3 * xrow};
    current()->fn(&geo, x, r4, y, s);
}

static void planes_c(const uint8_t codes[64], int planes, uint64_t *words)
{
    for (int b = 0; b < planes; b++) {
        uint64_t w = 0;
        for (int j = 0; j < 64; j++) w |= (uint64_t)((codes[j] >> b) & 1) << j;
        words[b] = w;
    }
}

#ifdef DR_X86
/* Shift bit b of every byte to its top bit, then collect the top bits. */
__attribute__((target("avx2"))) static void planes_avx2(const uint8_t codes[64], int planes, uint64_t *words)
{
    __m256i lo = _mm256_loadu_si256((const __m256i *)codes), hi = _mm256_loadu_si256((const __m256i *)(codes + 32));
    for (int b = 0; b < planes; b++) {
        __m128i sh = _mm_cvtsi32_si128(7 - b);
        uint32_t l = (uint32_t)_mm256_movemask_epi8(_mm256_sll_epi16(lo, sh));
        uint32_t h = (uint32_t)_mm256_movemask_epi8(_mm256_sll_epi16(hi, sh));
        words[b] = (uint64_t)h << 32 | l;
    }
}
#endif

void dr_bytes_to_planes(const uint8_t codes[64], int planes, uint64_t *words)
{
#ifdef DR_X86
    static int avx2 = -1;
    if (avx2 < 0) avx2 = __builtin_cpu_supports("avx2");
    if (avx2) {
        planes_avx2(codes, planes, words);
        return;
    }
#endif
    planes_c(codes, planes, words);
}

void dr_bitgemm(const dr_bitgemm_args *a)
{
    block_fn fn = current()->fn;
    const int nseg = a->nseg > 0 ? a->nseg : 1, segw = a->words / nseg, groups = a->groups > 0 ? a->groups : 1;
    int *woff = dr_xmalloc(sizeof(int) * (size_t)a->words);
    for (int w = 0; w < a->words; w++) woff[w] = (a->nseg > 0 ? a->seg[w / segw] : 0) + w % segw;
    const dr_bg_geom geo = {a->xrow ? a->xrow : (size_t)a->xplanes * a->words,
                            a->xplane ? a->xplane : a->words,
                            a->xplanes,
                            woff,
                            a->words,
                            (size_t)a->cols_pad,
                            a->yplanes,
                            (size_t)a->cols_pad,
                            a->rows == 1};
    const int row_blocks = (a->rows + DR_BG_ROWS - 1) / DR_BG_ROWS, col_blocks = a->cols_pad / DR_BG_COLS;
    const size_t gstride = groups > 1 ? a->group_stride : 0;
    const long blocks = (long)groups * row_blocks * col_blocks;
    const size_t dense[DR_BG_ROWS] = {0, geo.xrow, 2 * geo.xrow, 3 * geo.xrow};
#define BLOCK(b)                                                                                        \
    do {                                                                                                \
        const int gi = (int)((b) / ((long)row_blocks * col_blocks)), rb = (int)((b) / col_blocks % row_blocks); \
        const size_t row = gi * gstride + (size_t)rb * DR_BG_ROWS, col = (size_t)((b) % col_blocks) * DR_BG_COLS; \
        if (a->rowoff)                                                                                  \
            fn(&geo, a->x + gi * a->group_xwords, a->rowoff + (size_t)rb * DR_BG_ROWS, a->y + col,       \
               a->s + row * a->cols_pad + col);                                                         \
        else                                                                                            \
            fn(&geo, a->x + row * geo.xrow, dense, a->y + col, a->s + row * a->cols_pad + col);         \
    } while (0)
    if (a->serial) { /* a plain loop: even an inactive parallel region costs a team setup */
        const long b0 = a->parts > 1 ? dr_share_begin(blocks, a->part, a->parts) : 0;
        const long b1 = a->parts > 1 ? dr_share_begin(blocks, a->part + 1, a->parts) : blocks;
        for (long b = b0; b < b1; b++) BLOCK(b);
    } else {
#pragma omp parallel for schedule(static)
        for (long b = 0; b < blocks; b++) BLOCK(b);
    }
#undef BLOCK
    free(woff);
}

void dr_bitgemm_rows_add(const uint64_t *x, size_t xrow, int words, int xplanes, const uint64_t *y, size_t ldy,
                         int yplanes, int cols, const int32_t *asum, uint32_t nG, float scale, float *d, size_t ldd,
                         int rows)
{
#ifdef DR_X86
    if (current()->fn == block_avx512) {
        rows_add_avx512(x, xrow, words, xplanes, y, ldy, yplanes, cols, asum, nG, scale, d, ldd, rows);
        return;
    }
#endif
    int32_t s[DR_BG_ROWS * DR_BG_COLS];
    for (int k0 = 0; k0 < cols; k0 += DR_BG_COLS) {
        dr_bitgemm_block(x, xrow, words, xplanes, y + k0, ldy, yplanes, s, DR_BG_COLS);
        const int n = DR_MIN(cols - k0, DR_BG_COLS);
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < n; k++)
                d[(size_t)r * ldd + k0 + k] +=
                    scale * (float)(int32_t)(2u * (uint32_t)s[r * DR_BG_COLS + k] - nG * (uint32_t)asum[k0 + k]);
    }
}
