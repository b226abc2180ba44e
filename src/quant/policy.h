/* Where the quantizers sit (spec section 1, Algorithm 1):
 * - every quantized conv/fc layer uses f_w^W weights, and the gradient reaching
 *   its output passes f_g^G;
 * - the act layer feeding a quantized layer (through max-pooling or dropout,
 *   which keep values on the grid) quantizes its output with f_a^A; a ReLU
 *   there becomes min(1, max(0, x)), as tensorpack's AlexNet does;
 * - the first layer (reading the image) and the last weight layer stay float
 *   unless asked for (Table 3); model-file keys quant=, wbits=, gbits=, abits=
 *   override per layer. */
#ifndef DR_POLICY_H
#define DR_POLICY_H

#include "../model/net.h"

typedef struct {
    int w, a, g;        /* 1..8, or 32 for float */
    int quantize_first; /* quantize the first layer's weights too */
    int quantize_last;  /* quantize the last weight layer too     */
} dr_bits;

/* Parses "W,A,G" (each 1..8 or 32). */
int dr_bits_parse(const char *s, dr_bits *b);
void dr_bits_format(const dr_bits *b, char *buf, size_t cap);

/* Sets every layer's effective bitwidths. Can be called again between
 * training stages. */
int dr_net_apply_bits(dr_net *net, const dr_bits *b);

/* As dr_net_apply_bits, but only the conv/fc layers with keep[index] != 0
 * (and the acts feeding them) are quantized; keep == NULL keeps all. */
int dr_net_apply_bits_select(dr_net *net, const dr_bits *b, const unsigned char *keep);

/* Stochastic precision (Zhuang et al.): the fraction of quantizable layers
 * quantized at epoch position t (epochs, fractional) rises linearly from r0
 * to 1 at `ramp` epochs; each layer is drawn independently per step. */
float dr_precision_ratio(float r0, float ramp, double t);
/* Draws keep[] for one step: returns how many quantizable layers were kept. */
int dr_precision_draw(const dr_net *net, const dr_bits *b, float ratio, uint64_t seed, uint64_t step,
                      unsigned char *keep);

/* The act layer whose output reaches l's input through max-pooling or dropout
 * only (the layer that quantizes l's input activations), or NULL. */
dr_layer *dr_net_input_act(dr_net *net, const dr_layer *l);

/* True when a layer computes with quantized values in any way. */
int dr_layer_is_quantized(const dr_layer *l);

#endif
