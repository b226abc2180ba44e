/* Deterministic random numbers.
 *
 * Every random draw in dorefa comes from a generator seeded by a tuple
 * (run seed, purpose, a, b) — e.g. (seed, DR_RNG_DROPOUT, step, layer).
 * Nothing depends on a long-lived stream, so a resumed run, a different
 * thread count or a background loader draws exactly the same numbers. */
#ifndef DR_RNG_H
#define DR_RNG_H

#include <stddef.h>
#include <stdint.h>

#include "vec16.h"

typedef struct { uint64_t s[4]; } dr_rng; /* xoshiro256** */

enum {
    DR_RNG_INIT = 1,    /* weight initialisation: a = layer index        */
    DR_RNG_SHUFFLE,     /* epoch order: a = epoch                         */
    DR_RNG_AUGMENT,     /* augmentation: a = epoch, b = sample position   */
    DR_RNG_DROPOUT,     /* dropout masks: a = step, b = layer             */
    DR_RNG_GRADQ,       /* gradient quantizer noise: a = step, b = layer  */
    DR_RNG_PRECISION,   /* stochastic precision: a = step                 */
    DR_RNG_TEST         /* tests                                          */
};

void dr_rng_seed(dr_rng *r, uint64_t seed, uint64_t purpose, uint64_t a, uint64_t b);
static inline uint64_t dr_rng_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t dr_rng_u64(dr_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = dr_rng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = dr_rng_rotl(s[3], 45);
    return result;
}
/* Eight xoshiro256** streams side by side, in GCC vector types (lane l of
 * s[j] is state word j of stream l), for bulk draws: one step of all eight is
 * a handful of vector instructions on any target. */
typedef struct { dr_v8u64 s[4]; } dr_rng8;

/* Lane l is seeded as dr_rng_seed with purpose | (l + 1) << 32. */
void dr_rng8_seed(dr_rng8 *r, uint64_t seed, uint64_t purpose, uint64_t a, uint64_t b);
/* count uniforms in [0, 1) with 24 random bits, count rounded up to 16 (u
 * must hold that many): u[16 t + l] and u[16 t + 8 + l] are the high and low
 * 24 bits of draw t of lane l. */
void dr_rng8_uniforms(dr_rng8 *r, float *u, size_t count);

/* Uniform in [0, 1) with 24 random bits. */
float dr_rng_uniform(dr_rng *r);
/* Uniform integer in [0, n). */
uint32_t dr_rng_below(dr_rng *r, uint32_t n);
/* Standard normal (Box-Muller). */
float dr_rng_normal(dr_rng *r);
/* Fisher-Yates permutation of 0..n-1. */
void dr_rng_permutation(dr_rng *r, uint32_t *perm, uint32_t n);

#endif
