#include "rng.h"

#include <math.h>
#include <string.h>

#include "common.h"

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void dr_rng_seed(dr_rng *r, uint64_t seed, uint64_t purpose, uint64_t a, uint64_t b)
{
    uint64_t x = seed;
    x = splitmix(&x) ^ purpose;
    x = splitmix(&x) ^ a;
    x = splitmix(&x) ^ b;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix(&x);
}

float dr_rng_uniform(dr_rng *r) { return (float)(dr_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }

uint32_t dr_rng_below(dr_rng *r, uint32_t n)
{
    /* Lemire's multiply-shift; the tiny bias (< n / 2^32) is irrelevant here. */
    return (uint32_t)(((dr_rng_u64(r) >> 32) * (uint64_t)n) >> 32);
}

float dr_rng_normal(dr_rng *r)
{
    double u1 = ((double)(dr_rng_u64(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    double u2 = (double)(dr_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

void dr_rng_permutation(dr_rng *r, uint32_t *perm, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) perm[i] = i;
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = dr_rng_below(r, i);
        uint32_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
}

typedef int32_t v8i32 __attribute__((vector_size(32)));
typedef float v8f32 __attribute__((vector_size(32)));

void dr_rng8_seed(dr_rng8 *r, uint64_t seed, uint64_t purpose, uint64_t a, uint64_t b)
{
    for (int l = 0; l < 8; l++) {
        dr_rng one; /* lane l: its own purpose word above the DR_RNG_* values */
        dr_rng_seed(&one, seed, purpose | (uint64_t)(l + 1) << 32, a, b);
        for (int j = 0; j < 4; j++) r->s[j][l] = one.s[j];
    }
}

DR_SIMD_CLONES void dr_rng8_uniforms(dr_rng8 *r, float *u, size_t count)
{
    dr_v8u64 s0 = r->s[0], s1 = r->s[1], s2 = r->s[2], s3 = r->s[3];
    const v8f32 unit = (v8f32){0} + 1.0f / 16777216.0f;
    for (size_t t = 0; t < count; t += 16) {
        const dr_v8u64 x = (s1 << 2) + s1, y = (x << 7) | (x >> 57), v = (y << 3) + y; /* rotl(5 s1, 7) 9 */
        const dr_v8u64 sh = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= sh;
        s3 = (s3 << 45) | (s3 >> 19);
        const v8f32 hi = __builtin_convertvector(__builtin_convertvector(v >> 40, v8i32), v8f32) * unit;
        const v8f32 lo = __builtin_convertvector(__builtin_convertvector((v >> 8) & 0xffffff, v8i32), v8f32) * unit;
        memcpy(u + t, &hi, sizeof hi);
        memcpy(u + t + 8, &lo, sizeof lo);
    }
    r->s[0] = s0, r->s[1] = s1, r->s[2] = s2, r->s[3] = s3;
}
