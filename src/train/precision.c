#include "precision.h"

#include "../core/rng.h"

float dr_precision_ratio(float r0, float ramp, double t)
{
    if (ramp <= 0 || t >= ramp) return 1.0f;
    return r0 + (1.0f - r0) * (float)(t / ramp);
}

int dr_precision_draw(const dr_net *net, float ratio, uint64_t seed, uint64_t step, unsigned char *keep)
{
    int kept = 0;
    dr_rng rng;
    dr_rng_seed(&rng, seed, DR_RNG_PRECISION, step, 0);
    for (int i = 0; i < net->n_layers; i++) {
        const dr_layer *l = &net->layers[i];
        keep[i] = 1;
        if (!(l->ops->roles & DR_ROLE_PRODUCTS) || !l->plan.quantizable) continue;
        keep[i] = dr_rng_uniform(&rng) < ratio;
        kept += keep[i];
    }
    return kept;
}
