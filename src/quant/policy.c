#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../core/rng.h"

static int valid_bits(long v) { return (v >= 1 && v <= 8) || v == 32; }

int dr_bits_parse(const char *s, dr_bits *b)
{
    long v[3];
    const char *p = s;
    for (int i = 0; i < 3; i++) {
        char *end;
        v[i] = strtol(p, &end, 10);
        if (end == p || !valid_bits(v[i]) || (i < 2 ? *end != ',' : *end != 0))
            return dr_fail("bits '%s': expected W,A,G with each 1..8 or 32 (float)", s);
        p = end + 1;
    }
    b->w = (int)v[0], b->a = (int)v[1], b->g = (int)v[2];
    return 0;
}

void dr_bits_format(const dr_bits *b, char *buf, size_t cap)
{
    snprintf(buf, cap, "%d,%d,%d", b->w, b->a, b->g);
}

static int is_weight_layer(const dr_layer *l) { return l->ops == &dr_conv_ops || l->ops == &dr_fc_ops; }

int dr_layer_is_quantized(const dr_layer *l)
{
    return l->wbits < 32 || l->abits < 32 || l->gbits < 32;
}

dr_layer *dr_net_input_act(dr_net *net, const dr_layer *l)
{
    int j = l->in[0];
    while (j >= 0 && (net->layers[j].ops == &dr_maxpool_ops || net->layers[j].ops == &dr_dropout_ops))
        j = net->layers[j].in[0];
    return j >= 0 && net->layers[j].ops == &dr_act_ops ? &net->layers[j] : NULL;
}

int dr_net_apply_bits(dr_net *net, const dr_bits *b) { return dr_net_apply_bits_select(net, b, NULL); }

/* Member of the quantized set under the first/last policy and file overrides. */
static int member(const dr_net *net, int i, int last, const dr_bits *b)
{
    const dr_layer *l = &net->layers[i];
    int first = l->in[0] < 0;
    int m = !(first && !b->quantize_first) && !(i == last && !b->quantize_last);
    return l->file_quant >= 0 ? l->file_quant : m;
}

static int last_weight_layer(const dr_net *net)
{
    int last = -1;
    for (int i = 0; i < net->n_layers; i++)
        if (is_weight_layer(&net->layers[i])) last = i;
    return last;
}

float dr_precision_ratio(float r0, float ramp, double t)
{
    if (ramp <= 0 || t >= ramp) return 1.0f;
    return r0 + (1.0f - r0) * (float)(t / ramp);
}

int dr_precision_draw(const dr_net *net, const dr_bits *b, float ratio, uint64_t seed, uint64_t step,
                      unsigned char *keep)
{
    const int last = last_weight_layer(net);
    int kept = 0;
    dr_rng rng;
    dr_rng_seed(&rng, seed, DR_RNG_PRECISION, step, 0);
    for (int i = 0; i < net->n_layers; i++) {
        keep[i] = 1;
        if (!is_weight_layer(&net->layers[i]) || !member(net, i, last, b)) continue;
        keep[i] = dr_rng_uniform(&rng) < ratio;
        kept += keep[i];
    }
    return kept;
}

int dr_net_apply_bits_select(dr_net *net, const dr_bits *b, const unsigned char *keep)
{
    int last = -1;
    for (int i = 0; i < net->n_layers; i++) {
        dr_layer *l = &net->layers[i];
        l->wbits = l->abits = l->gbits = 32;
        l->quantized = 0;
        if (is_weight_layer(l)) last = i;
        if (l->ops == &dr_act_ops && l->file_bits[1]) l->abits = l->file_bits[1]; /* explicit */
    }
    for (int i = 0; i < net->n_layers; i++) {
        dr_layer *l = &net->layers[i];
        if (!is_weight_layer(l)) continue;
        if (!member(net, i, last, b) || (keep && !keep[i])) continue;
        l->quantized = 1;
        l->wbits = l->file_bits[0] ? l->file_bits[0] : b->w;
        l->gbits = l->file_bits[2] ? l->file_bits[2] : b->g;
        dr_layer *a = dr_net_input_act(net, l); /* it quantizes our input */
        if (a) a->abits = a->file_bits[1] ? a->file_bits[1] : b->a;
    }
    return 0;
}
