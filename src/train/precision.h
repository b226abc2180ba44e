/* Stochastic precision (Zhuang et al.): each step quantizes a random subset
 * of the quantizable layers, the fraction rising over training. */
#ifndef DR_PRECISION_H
#define DR_PRECISION_H

#include <stdint.h>

#include "../model/net.h"

/* The fraction of quantizable layers quantized at epoch position t (epochs,
 * fractional): rises linearly from r0 to 1 at `ramp` epochs. */
float dr_precision_ratio(float r0, float ramp, double t);
/* Draws keep[n_layers] for one step from (seed, step), each quantizable
 * products layer (the plan's, under the bits applied) independently with
 * probability ratio; other layers are kept. Returns how many quantizable
 * layers were kept. */
int dr_precision_draw(const dr_net *net, float ratio, uint64_t seed, uint64_t step, unsigned char *keep);

#endif
