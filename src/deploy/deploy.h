/* Deployment (paper section 2.8, spec section 3): a trained network exported
 * to a compact file and run by a fused bit-kernel inference engine.
 *
 * The file ("DOREFAMD", version, sections, CRC-32) holds the model text, the
 * bits it was trained with, and per layer either float values (first and
 * last layers, anything not quantized) or W-bit weight codes packed as
 * bit-planes. A quantized convolution whose input is an A-bit activation and
 * whose output goes through [bn] [maxpool] to a quantized act becomes one
 * fused block: AND+popcount products give an integer accumulator per output,
 *   acc = 2 sum(q_w q_a) - M sum(q_a)   (M = 1 for 1-bit weights, else n_W),
 * the real pre-activation is v = s_c acc + b_c (conv scale, bias and BN
 * folded), and the block's output code is the number of per-channel integer
 * thresholds acc' = sign(s_c) acc passes (two sets for cabs, which is not
 * monotone); max-pooling runs on acc' (v rises with it). No float work runs
 * between two fused blocks. */
#ifndef DR_DEPLOY_H
#define DR_DEPLOY_H

#include <stddef.h>
#include <stdint.h>

#include "../model/net.h"

#define DR_DEPLOY_VERSION 1

enum { DR_ROLE_FLOAT, DR_ROLE_HEAD, DR_ROLE_MEMBER, DR_ROLE_SKIP };

/* What the engine does with each layer. */
typedef struct {
    int role;
    int src;            /* head, or a float-epilogue bit conv: the layer whose codes feed
                         * it (an act or a max-pool of one, past dropouts); -1: float input */
    int src_bits;       /* head: their bitwidth                        */
    int bn, pool, act;  /* head: absorbed layers (-1: none); act ends the block */
    int pool_before_bn; /* head: conv -> maxpool -> bn order           */
} dr_deploy_step;

/* Decides the roles of a network whose bits are applied (steps[n_layers]). */
void dr_deploy_plan(dr_net *net, dr_deploy_step *steps);
/* A float layer i followed by [maxpool] and a quantized crelu/cabs act, each
 * the only reader of the one before: 1 with their indices (pool -1: none). */
int dr_deploy_float_chain(dr_net *net, const dr_deploy_step *steps, int i, int *pool, int *act);

typedef struct {
    size_t file_bytes, float_weight_bytes; /* exported size; the same weights in float32 */
    int fused_blocks, float_layers;
} dr_export_info;

/* Writes the deployment file of a checkpoint. */
int dr_export(const char *ckpt_path, const char *out_path, dr_export_info *info);

typedef struct dr_engine dr_engine;

/* Loads a deployment file for batches of up to max_batch images. */
dr_engine *dr_engine_load(const char *path, int max_batch);
void dr_engine_free(dr_engine *e);
/* Class probabilities of n images (NHWC floats, pixel values 0..255 as in
 * training): probs[n][classes]. n <= max_batch. */
void dr_engine_run(dr_engine *e, const float *x, int n, float *probs);
dr_net *dr_engine_net(dr_engine *e); /* shapes, classes, logits of the last run */
const char *dr_engine_bits(const dr_engine *e); /* "W,A,G" it was trained with */
int dr_engine_fused_blocks(const dr_engine *e);
/* Turns on per-layer timing: seconds[layer] accumulates over runs (a fused
 * block's time is its head's). */
double *dr_engine_profile(dr_engine *e);
int dr_engine_role(const dr_engine *e, int layer);

#endif
