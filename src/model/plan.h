/* The planning pass: every decision about the network's graph, made in one
 * place after parsing and after every change of bits, and written into each
 * layer's `plan` (layers and the engine only read it):
 *
 * - readers: a layer that alone reads a tensor stores its gradient;
 * - where the quantizers sit (spec section 1, Algorithm 1): every quantized
 *   products layer (conv, fc) uses f_w^W weights, and the gradient reaching its
 *   output passes f_g^G; the bounded activation feeding it (through max-pools
 *   and dropouts, which keep values on the grid) quantizes its output with f_a^A,
 *   and a ReLU there becomes min(1, max(0, x)), as tensorpack's AlexNet does;
 *   the first layer (reading the image) and the last products layer stay float
 *   unless asked for (Table 3); model-file keys quant=, wbits=, gbits=, abits=
 *   override per layer;
 * - each products layer's input codes: their bits and scale, and whether the
 *   act it reads directly hands them over (writes_codes);
 * - a float first conv read only by a max-pool computes that pool, and a
 *   bn read only by a bounded activation runs it and its quantizer;
 * - deployment: which layers fuse into bit-kernel blocks, which run in float. */
#ifndef DR_PLAN_H
#define DR_PLAN_H

#include "net.h"

/* Sets the bits in effect (net->bits) and plans again; can be called between
 * training stages. */
int dr_net_apply_bits(dr_net *net, const dr_bits *b);
/* As dr_net_apply_bits, but only the products layers with keep[index] != 0
 * (and the activations feeding them) are quantized (stochastic precision);
 * keep == NULL keeps all. */
int dr_net_apply_bits_select(dr_net *net, const dr_bits *b, const unsigned char *keep);
/* The bounded activation h of the model's cabs/crelu layers (DR_ACT_CABS or
 * DR_ACT_CRELU; -1: as the model file says), and plans again; -1 with a
 * message for any other value. */
int dr_net_set_bounded_act(dr_net *net, int fn);
/* Layer i's output and output gradient are read from outside the network
 * (a hint loss): the layer keeps them (no fused max-pool). */
void dr_net_keep_output(dr_net *net, int i);

/* The layer an 8-bit integer first layer can be (an export option): the
 * first products layer, a conv reading the network input, with float weights
 * and a shape the integer kernels take; -1 when there is none. */
int dr_plan_int8_first(const dr_net *net);

/* The pass itself, under net->bits and net->bounded_act (keep as above). */
void dr_net_plan(dr_net *net, const unsigned char *keep);

#endif
