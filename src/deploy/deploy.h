/* Deployment (paper section 2.8, spec section 3): a trained network exported
 * to a compact file and run by a fused bit-kernel inference engine.
 *
 * The file (format.h) holds the model text, the bits it was trained with,
 * and per layer either float values (first and last layers, anything not
 * quantized) or W-bit weight codes packed as bit-planes. A quantized convolution whose input is an A-bit activation and
 * whose output goes through [bn] [maxpool] to a quantized act becomes one
 * fused block: AND+popcount products give an integer accumulator per output,
 *   acc = 2 sum(q_w q_a) - M sum(q_a)   (M = 1 for 1-bit weights, else n_W),
 * the real pre-activation is v = s_c acc + b_c (conv scale, bias and BN
 * folded), and the block's output code is the number of per-channel integer
 * thresholds acc' = sign(s_c) acc passes (two sets for cabs, which is not
 * monotone); max-pooling runs on acc' (v rises with it). No float work runs
 * between two fused blocks. Which layers fuse is the planning pass's decision
 * (model/plan.c: each layer's plan.infer_*). */
#ifndef DR_DEPLOY_H
#define DR_DEPLOY_H

#include <stddef.h>
#include <stdint.h>

#include "../model/net.h"

typedef struct dr_engine dr_engine;

/* Loads a deployment file for batches of up to max_batch images. */
dr_engine *dr_engine_load(const char *path, int max_batch);
void dr_engine_free(dr_engine *e);
/* Class probabilities of n images (NHWC floats: pixel values 0..255 times
 * DR_PIXEL_SCALE, as training sees them): probs[n][classes]. n <= max_batch.
 * An 8-bit integer first layer rounds them to whole pixel values. */
void dr_engine_run(dr_engine *e, const float *x, int n, float *probs);
dr_net *dr_engine_net(dr_engine *e); /* shapes, classes, logits of the last run */
const char *dr_engine_bits(const dr_engine *e); /* "W,A,G" it was trained with */
int dr_engine_fused_blocks(const dr_engine *e);
/* Turns on per-layer timing: seconds[layer] accumulates over runs (a fused
 * block's time is its head's). */
double *dr_engine_profile(dr_engine *e);
/* What the engine does with a layer (DR_INFER_*, the plan's). */
int dr_engine_role(const dr_engine *e, int layer);
/* Whether layer is an 8-bit integer first layer run by the integer kernels
 * (with the chain after it: its time is the whole pass's). */
int dr_engine_int8(const dr_engine *e, int layer);

#endif
