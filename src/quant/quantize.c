#include "quantize.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../core/rng.h"

float dr_quantize_k(float r, int k)
{
    float n = dr_levels(k);
    return rintf(n * r) / n;
}

/* Fixed chunks of the weight tensors: per-chunk partial results combined in
 * chunk order, so the threads never change a sum. */
enum { WCHUNK = 4096 };

/* sum |w| over one chunk in double, in 8 lanes (element i in lane i % 8)
 * added in lane order: a fixed order, so every clone gives the same sum. */
DR_SIMD_CLONES static double chunk_sum_abs(const float *restrict w, size_t n)
{
    double lane[8] = {0}, p = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) lane[j] += fabsf(w[i + j]);
    for (int j = 0; j < 8; j++) p += lane[j];
    for (; i < n; i++) p += fabsf(w[i]);
    return p;
}

static double sum_abs(const float *w, size_t n)
{
    const size_t chunks = (n + WCHUNK - 1) / WCHUNK;
    double *part = dr_xmalloc(sizeof(double) * (chunks ? chunks : 1)), total = 0;
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < chunks; c++)
        part[c] = chunk_sum_abs(w + c * WCHUNK, DR_MIN((size_t)WCHUNK, n - c * WCHUNK));
    for (size_t c = 0; c < chunks; c++) total += part[c];
    free(part);
    return total;
}

/* tanh in double precision, rounded once to float: tanh |x| = e / (e + 2) with
 * e = expm1(2|x|), 2|x| = j ln 2 + r (|r| <= ln2 / 2), expm1(r) by its Taylor
 * polynomial to r^11 (error below 1e-11 relative) and e = 2^j expm1(r) +
 * 2^j - 1. The selections are on the bits (GCC does not vectorise this loop
 * with float or double ternaries); |x| is clamped at 10, beyond which tanh
 * rounds to 1, and a NaN is passed through. */
DR_SIMD_CLONES void dr_tanh_span(const float *restrict x, float *restrict t, size_t n)
{
    const double ln2 = 0x1.62e42fefa39efp-1, inv_ln2 = 0x1.71547652b82fep0, shift = 0x1.8p52;
    for (size_t i = 0; i < n; i++) {
        int32_t xb, ab;
        memcpy(&xb, x + i, sizeof xb);
        ab = xb & 0x7fffffff;
        const int32_t nan = ab > 0x7f800000 ? -1 : 0, ten = 0x41200000; /* 10.0f */
        ab = ab < ten ? ab : ten;
        float af;
        memcpy(&af, &ab, sizeof af);
        const double a = 2.0 * (double)af, jd = (a * inv_ln2 + shift) - shift, r = a - jd * ln2;
        double p = 1.0 / 39916800;
        p = p * r + 1.0 / 3628800;
        p = p * r + 1.0 / 362880;
        p = p * r + 1.0 / 40320;
        p = p * r + 1.0 / 5040;
        p = p * r + 1.0 / 720;
        p = p * r + 1.0 / 120;
        p = p * r + 1.0 / 24;
        p = p * r + 1.0 / 6;
        p = p * r + 0.5;
        p = p * r * r + r; /* expm1(r) */
        const double jb = jd + shift; /* j in the low bits */
        uint64_t sb;
        memcpy(&sb, &jb, sizeof sb);
        sb = (sb + 1023) << 52;
        double s;
        memcpy(&s, &sb, sizeof s); /* 2^j */
        const double e = s * p + (s - 1.0);
        const float th = (float)(e / (e + 2.0));
        int32_t tb;
        memcpy(&tb, &th, sizeof tb);
        tb |= xb & (int32_t)0x80000000; /* the sign of x */
        tb = (tb & ~nan) | (xb & nan);
        memcpy(t + i, &tb, sizeof tb);
    }
}

/* wq = 2 quantize_k(t inv + 1/2) - 1 (dr_rint is rintf on [0, n_k]); t may be wq. */
DR_SIMD_CLONES static void weights_from_tanh(const float *t, float *wq, size_t n, float inv, float levels)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) wq[i] = 2.0f * (dr_rint(levels * (t[i] * inv + 0.5f)) / levels) - 1.0f;
}

void dr_quantize_weights(const float *w, size_t n, int k, float *wq, dr_wq_state *st)
{
    dr_quantize_weights_keep(w, n, k, wq, st, NULL);
}

void dr_quantize_weights_keep(const float *w, size_t n, int k, float *wq, dr_wq_state *st, float *t)
{
    if (k >= DR_FLOAT_BITS) {
        for (size_t i = 0; i < n; i++) wq[i] = w[i];
        return;
    }
    if (k == 1) { /* Eq. 7: E * sign(w), sign(0) = +1 */
        const float e = n ? (float)(sum_abs(w, n) / (double)n) : 0.0f;
        st->scale = e;
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; i++) wq[i] = w[i] >= 0 ? e : -e;
        return;
    }
    /* Eq. 9: t = tanh(w), w_q = 2 quantize_k(t / (2M) + 1/2) - 1; wq holds t meanwhile unless kept */
    float *tw = t ? t : wq;
    float m = 0;
    size_t arg = 0;
#pragma omp parallel
    {
        float tm = 0;
        size_t ta = 0, i0, i1;
        dr_thread_span(n, &i0, &i1);
        dr_tanh_span(w + i0, tw + i0, i1 - i0);
        for (size_t i = i0; i < i1; i++) {
            const float a = fabsf(tw[i]);
            if (a > tm) tm = a, ta = i;
        }
#pragma omp critical
        if (tm > m || (tm == m && tm > 0 && ta < arg)) m = tm, arg = ta; /* the first maximum */
    }
    st->scale = m;
    st->argmax = arg;
    const float inv = m > 0 ? 0.5f / m : 0.0f;
#pragma omp parallel
    {
        size_t i0, i1;
        dr_thread_span(n, &i0, &i1);
        weights_from_tanh(tw + i0, wq + i0, i1 - i0, inv, dr_levels(k));
    }
}

/* One chunk of the f_w backward: dw = dwq inv (1 - t^2), and sum dwq t in
 * double, in 8 lanes (element i in lane i % 8) added in lane order: a fixed
 * order, the same in every clone. */
DR_SIMD_CLONES static double tanh_backward_chunk(const float *restrict t, const float *restrict dwq, size_t n,
                                                 float inv, float *restrict dw)
{
    for (size_t i = 0; i < n; i++) dw[i] = dwq[i] * inv * (1.0f - t[i] * t[i]);
    double lane[8] = {0}, p = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) lane[j] += (double)dwq[i + j] * t[i + j];
    for (int j = 0; j < 8; j++) p += lane[j];
    for (; i < n; i++) p += (double)dwq[i] * t[i];
    return p;
}

void dr_quantize_weights_backward(const float *w, const float *dwq, size_t n, int k,
                                  const dr_wq_state *st, float *dw)
{
    dr_quantize_weights_backward_kept(w, NULL, dwq, n, k, st, dw);
}

void dr_quantize_weights_backward_kept(const float *w, const float *t, const float *dwq, size_t n, int k,
                                       const dr_wq_state *st, float *dw)
{
    if (k == 1 || k >= DR_FLOAT_BITS) { /* E is treated as a constant */
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; i++) dw[i] = dwq[i];
        return;
    }
    float m = st->scale;
    if (m <= 0) {
        for (size_t i = 0; i < n; i++) dw[i] = 0;
        return;
    }
    /* With the rounding passed straight through, w_q = t / M. Then
     *   dL/dt_j = g_j / M - [j = argmax] sign(t_j) sum_i g_i t_i / M^2
     *   dL/dw_j = dL/dt_j (1 - t_j^2). */
    const size_t chunks = (n + WCHUNK - 1) / WCHUNK;
    const float inv = 1.0f / m;
    double *part = dr_xmalloc(sizeof(double) * chunks), dot = 0;
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < chunks; c++) {
        const size_t i0 = c * WCHUNK, m = DR_MIN((size_t)WCHUNK, n - i0);
        float tc[WCHUNK];
        if (!t) dr_tanh_span(w + i0, tc, m);
        part[c] = tanh_backward_chunk(t ? t + i0 : tc, dwq + i0, m, inv, dw + i0);
    }
    for (size_t c = 0; c < chunks; c++) dot += part[c];
    free(part);
    float ta;
    dr_tanh_span(w + st->argmax, &ta, 1); /* = t[argmax] */
    float sign = ta > 0 ? 1.0f : (ta < 0 ? -1.0f : 0.0f);
    dw[st->argmax] -= (float)(sign * dot / ((double)m * m)) * (1.0f - ta * ta);
}

/* levels quantize_k(x) of one gradient value, x = g / 2m + 1/2 + noise clipped to [0, 1]. */
static inline __attribute__((always_inline)) float grad_level(float g, float u, float inv2m, float step, float levels)
{
    float x = g * inv2m + 0.5f + (u - 0.5f) * step;
    x = x < 0 ? 0 : (x > 1 ? 1 : x);
    return dr_rint(levels * x);
}

/* The integer code of a level r in 0..255; a NaN (a diverged run) gives 0, not an undefined cast. */
static inline __attribute__((always_inline)) int32_t level_code(float r) { return (int32_t)(r > 0 ? r : 0.0f); }

/* f_a with codes on at most ACT_CHUNK values; the codes go through int32 lanes
 * (GCC does not vectorise the loop that stores bytes itself). */
enum { ACT_CHUNK = 512 };
DR_SIMD_CLONES static void quantize_activations_codes(float *restrict x, size_t n, float levels,
                                                      uint8_t *restrict codes)
{
    int32_t c[ACT_CHUNK];
    for (size_t i = 0; i < n; i++) {
        const float r = dr_rint(x[i] * levels);
        x[i] = r / levels;
        c[i] = level_code(r);
    }
    for (size_t i = 0; i < n; i++) codes[i] = (uint8_t)c[i];
}

DR_SIMD_CLONES void dr_quantize_activations_span(float *x, size_t n, int k, uint8_t *codes)
{
    if (k >= DR_FLOAT_BITS) return;
    const float levels = dr_levels(k);
    if (codes) {
        for (size_t i0 = 0; i0 < n; i0 += ACT_CHUNK)
            quantize_activations_codes(x + i0, DR_MIN(ACT_CHUNK, n - i0), levels, codes + i0);
        return;
    }
#pragma omp simd
    for (size_t i = 0; i < n; i++) x[i] = dr_rint(x[i] * levels) / levels; /* as quantize_k */
}

void dr_quantize_activations(float *x, size_t n, int k) { dr_quantize_activations_codes(x, n, k, NULL); }

void dr_quantize_activations_codes(float *x, size_t n, int k, uint8_t *codes)
{
    if (k >= DR_FLOAT_BITS) return;
#pragma omp parallel /* one span per thread */
    {
        size_t i0, i1;
        dr_thread_span(n, &i0, &i1);
        dr_quantize_activations_span(x + i0, i1 - i0, k, codes ? codes + i0 : NULL);
    }
}

/* Eq. 12 on count elements of one sample, u[i] its uniforms in [0, 1): a plain
 * loop the compiler vectorises (no contraction in ISO C mode, so every clone
 * rounds as the scalar code does). */
DR_SIMD_CLONES static void quantize_span(const float *g, const float *u, size_t count, float inv2m, float two_m,
                                         float levels, float *q)
{
    const float step = 1.0f / levels;
    for (size_t i = 0; i < count; i++) q[i] = two_m * (grad_level(g[i], u[i], inv2m, step, levels) / levels - 0.5f);
}

/* The same, and the integers levels quantize_k(x) beside it (the bit products'
 * codes), for count <= GRAD_CHUNK. The codes go through int32 lanes first: GCC does
 * not vectorise the loop when it stores bytes itself. */
enum { GRAD_CHUNK = 512 }; /* a multiple of 16 */
DR_SIMD_CLONES static void quantize_span_codes(const float *restrict g, const float *restrict u, size_t count,
                                               float inv2m, float two_m, float levels, float *restrict q,
                                               uint8_t *restrict codes)
{
    const float step = 1.0f / levels;
    int32_t c[GRAD_CHUNK];
    for (size_t i = 0; i < count; i++) {
        const float r = grad_level(g[i], u[i], inv2m, step, levels);
        q[i] = two_m * (r / levels - 0.5f);
        c[i] = level_code(r);
    }
    for (size_t i = 0; i < count; i++) codes[i] = (uint8_t)c[i];
}

/* The codes alone (no dq), for count <= GRAD_CHUNK. */
DR_SIMD_CLONES static void quantize_span_codes_only(const float *restrict g, const float *restrict u, size_t count,
                                                    float inv2m, float levels, uint8_t *restrict codes)
{
    const float step = 1.0f / levels;
    int32_t c[GRAD_CHUNK];
    for (size_t i = 0; i < count; i++) c[i] = level_code(grad_level(g[i], u[i], inv2m, step, levels));
    for (size_t i = 0; i < count; i++) codes[i] = (uint8_t)c[i];
}

/* max(0, max_i |g_i|) over the values that are not NaN (NaN compares false
 * in the scalar maximum this replaces). On the bits: non-negative floats
 * order as their bit patterns do, and NaNs are the patterns above infinity's;
 * an integer maximum vectorises, a float one written as a comparison does not. */
DR_SIMD_CLONES static float max_abs(const float *restrict g, size_t n)
{
    const int32_t inf = 0x7f800000;
    int32_t m = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t a;
        memcpy(&a, g + i, sizeof a);
        a &= 0x7fffffff;
        a = a > inf ? 0 : a;
        m = a > m ? a : m;
    }
    float f;
    memcpy(&f, &m, sizeof f);
    return f;
}

void dr_quantize_gradients(const float *dr, int n_samples, size_t per_sample, int k,
                           uint64_t seed, uint64_t step, int layer, float *dq, float *scales)
{
    dr_quantize_gradients_at(dr, n_samples, per_sample, k, seed, step, layer, 0, dq, scales, NULL);
}

void dr_quantize_gradients_at(const float *dr, int n_samples, size_t per_sample, int k, uint64_t seed,
                              uint64_t step, int layer, uint64_t first_sample, float *dq, float *scales,
                              uint8_t *codes)
{
    if (k >= DR_FLOAT_BITS) {
        if (dq != dr)
            for (size_t i = 0; i < (size_t)n_samples * per_sample; i++) dq[i] = dr[i];
        return;
    }
    const float levels = dr_levels(k);
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n_samples; s++) {
        const float *g = dr + (size_t)s * per_sample;
        float *q = dq ? dq + (size_t)s * per_sample : NULL, m = max_abs(g, per_sample);
        /* below float's normal range 0.5 / m overflows and 0 * inf is a NaN: such a
         * gradient is taken as zero (it is below 1e-38 everywhere) */
        if (!(m >= FLT_MIN)) m = 0;
        if (scales) scales[s] = m;
        if (m == 0) {
            for (size_t i = 0; q && i < per_sample; i++) q[i] = 0;
            if (codes) memset(codes + (size_t)s * per_sample, 0, per_sample);
            continue;
        }
        dr_rng8 rng; /* one set of streams per (step, layer, sample): thread-count independent */
        dr_rng8_seed(&rng, seed, DR_RNG_GRADQ, step, ((uint64_t)(uint32_t)layer << 32) | (uint32_t)(first_sample + (uint64_t)s));
        float u[GRAD_CHUNK];
        for (size_t i0 = 0; i0 < per_sample; i0 += GRAD_CHUNK) {
            const size_t count = per_sample - i0 < GRAD_CHUNK ? per_sample - i0 : GRAD_CHUNK;
            dr_rng8_uniforms(&rng, u, count);
            if (codes && !q)
                quantize_span_codes_only(g + i0, u, count, 0.5f / m, levels, codes + (size_t)s * per_sample + i0);
            else if (codes)
                quantize_span_codes(g + i0, u, count, 0.5f / m, 2.0f * m, levels, q + i0,
                                    codes + (size_t)s * per_sample + i0);
            else
                quantize_span(g + i0, u, count, 0.5f / m, 2.0f * m, levels, q + i0);
        }
    }
}
