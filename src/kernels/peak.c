/* AND + popcount peak: a loop with one operand held in registers and the other
 * streamed from L1, the ceiling the bit kernels are measured against. */
#include <stdint.h>
#include <stdlib.h>

#include "../core/common.h"
#include "bitgemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f,avx512vpopcntdq"))) static uint64_t peak_avx512(const uint64_t *buf, long iters)
{
    __m512i y0 = _mm512_set1_epi64(0x5555aaaa3333ccccll), y1 = _mm512_set1_epi64(0x0f0ff0f00ff0f00fll);
    __m512i y2 = _mm512_set1_epi64(0x123456789abcdef0ll), y3 = _mm512_set1_epi64(0x7777888899990000ll);
    __m512i acc[16];
    for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_si512();
    for (long i = 0; i < iters; i++) {
        const uint64_t *p = buf + (i & 63) * 32;
        __m512i x[4] = {_mm512_loadu_si512(p), _mm512_loadu_si512(p + 8), _mm512_loadu_si512(p + 16),
                        _mm512_loadu_si512(p + 24)};
        for (int r = 0; r < 4; r++) {
            acc[r * 4 + 0] = _mm512_add_epi64(acc[r * 4 + 0], _mm512_popcnt_epi64(_mm512_and_si512(x[r], y0)));
            acc[r * 4 + 1] = _mm512_add_epi64(acc[r * 4 + 1], _mm512_popcnt_epi64(_mm512_and_si512(x[r], y1)));
            acc[r * 4 + 2] = _mm512_add_epi64(acc[r * 4 + 2], _mm512_popcnt_epi64(_mm512_and_si512(x[r], y2)));
            acc[r * 4 + 3] = _mm512_add_epi64(acc[r * 4 + 3], _mm512_popcnt_epi64(_mm512_and_si512(x[r], y3)));
        }
    }
    __m512i s = acc[0];
    for (int i = 1; i < 16; i++) s = _mm512_add_epi64(s, acc[i]);
    return (uint64_t)_mm512_reduce_add_epi64(s);
}

/* AVX2 has no vector popcount: the nibble lookup (vpshufb) and byte sums
 * (vpsadbw) the AVX2 bit kernels use, the held operand's nibbles masked once
 * (as the kernel masks its column words), byte counters emptied every 31 rounds. */
__attribute__((target("avx2"))) static uint64_t peak_avx2(const uint64_t *buf, long iters)
{
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2,
                                         2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0f), zero = _mm256_setzero_si256();
    const __m256i y[4] = {_mm256_set1_epi64x(0x5555aaaa3333ccccll), _mm256_set1_epi64x(0x0f0ff0f00ff0f00fll),
                          _mm256_set1_epi64x(0x123456789abcdef0ll), _mm256_set1_epi64x(0x7777888899990000ll)};
    __m256i ylo[4], yhi[4];
    for (int c = 0; c < 4; c++) ylo[c] = _mm256_and_si256(y[c], low), yhi[c] = _mm256_and_si256(_mm256_srli_epi16(y[c], 4), low);
    __m256i total = zero;
    for (long i0 = 0; i0 < iters; i0 += 31) {
        __m256i bytes[4] = {zero, zero, zero, zero};
        for (long i = i0; i < iters && i < i0 + 31; i++) {
            const uint64_t *p = buf + (i & 63) * 32;
            for (int r = 0; r < 4; r++) {
                const __m256i x = _mm256_loadu_si256((const __m256i *)(p + 4 * r)), xh = _mm256_srli_epi16(x, 4);
                for (int c = 0; c < 4; c++) {
                    bytes[c] = _mm256_add_epi8(bytes[c], _mm256_shuffle_epi8(lut, _mm256_and_si256(x, ylo[c])));
                    bytes[c] = _mm256_add_epi8(bytes[c], _mm256_shuffle_epi8(lut, _mm256_and_si256(xh, yhi[c])));
                }
            }
        }
        for (int c = 0; c < 4; c++) total = _mm256_add_epi64(total, _mm256_sad_epu8(bytes[c], zero));
    }
    uint64_t v[4];
    _mm256_storeu_si256((__m256i *)v, total);
    return v[0] + v[1] + v[2] + v[3];
}
#endif

#if defined(__aarch64__)
#include <arm_neon.h>

/* The NEON kernel's operations: AND, vcnt byte counts added in bytes (emptied
 * into 64-bit totals every 31 rounds, as the kernel does), 4 column vectors
 * held in registers against 4 streamed. */
static uint64_t peak_neon(const uint64_t *buf, long iters)
{
    const uint64x2_t y[4] = {vdupq_n_u64(0x5555aaaa3333ccccull), vdupq_n_u64(0x0f0ff0f00ff0f00full),
                             vdupq_n_u64(0x123456789abcdef0ull), vdupq_n_u64(0x7777888899990000ull)};
    uint64x2_t total = vdupq_n_u64(0);
    for (long i0 = 0; i0 < iters; i0 += 31) {
        uint8x16_t bytes[4][4];
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++) bytes[r][c] = vdupq_n_u8(0);
        for (long i = i0; i < iters && i < i0 + 31; i++) {
            const uint64_t *p = buf + (i & 63) * 32;
            for (int r = 0; r < 4; r++) {
                const uint64x2_t x = vld1q_u64(p + 2 * r);
                for (int c = 0; c < 4; c++)
                    bytes[r][c] = vaddq_u8(bytes[r][c], vcntq_u8(vreinterpretq_u8_u64(vandq_u64(x, y[c]))));
            }
        }
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++) total = vaddq_u64(total, vpaddlq_u32(vpaddlq_u16(vpaddlq_u8(bytes[r][c]))));
    }
    return vgetq_lane_u64(total, 0) + vgetq_lane_u64(total, 1);
}
#endif

static uint64_t peak_c(const uint64_t *buf, long iters)
{
    uint64_t acc[16] = {0}, y[4] = {0x5555aaaa3333ccccull, 0x0f0ff0f00ff0f00full, 0x123456789abcdef0ull, 0x7777888899990000ull};
    for (long i = 0; i < iters; i++) {
        const uint64_t *p = buf + (i & 63) * 32;
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++) acc[r * 4 + c] += (uint64_t)__builtin_popcountll(p[r] & y[c]);
    }
    uint64_t s = 0;
    for (int i = 0; i < 16; i++) s += acc[i];
    return s;
}

/* Bit-MACs per second over all threads, for the selected kernel's instruction set. */
double dr_popcount_peak(double seconds)
{
    uint64_t *buf = dr_xalign(64 * 32 * sizeof(uint64_t));
    for (int i = 0; i < 64 * 32; i++) buf[i] = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
    int wide = 0, avx2 = 0, neon = 0;
#if defined(__x86_64__)
    wide = !__builtin_strcmp(dr_bitgemm_kernel(), "avx512");
    avx2 = !__builtin_strcmp(dr_bitgemm_kernel(), "avx2");
#elif defined(__aarch64__)
    neon = !__builtin_strcmp(dr_bitgemm_kernel(), "neon");
#endif
    const long iters = wide ? 2000000 : 4000000;
    const double bits_per_iter = wide ? 16.0 * 512 : avx2 ? 16.0 * 256 : neon ? 16.0 * 128 : 16.0 * 64;
    double total = 0, t0 = dr_now(), elapsed;
    volatile uint64_t sink = 0;
    do {
#pragma omp parallel reduction(+ : total)
        {
            uint64_t r;
#if defined(__x86_64__)
            if (wide) r = peak_avx512(buf, iters);
            else if (avx2) r = peak_avx2(buf, iters);
            else
#elif defined(__aarch64__)
            if (neon) r = peak_neon(buf, iters);
            else
#endif
                r = peak_c(buf, iters);
#pragma omp atomic
            sink += r;
            total += (double)iters * bits_per_iter;
        }
        elapsed = dr_now() - t0;
    } while (elapsed < seconds);
    (void)sink;
    free(buf);
    return total / elapsed;
}
