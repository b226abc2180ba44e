#include "rng.h"

#include <math.h>

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
