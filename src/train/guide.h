/* Guided training (Zhuang et al., joint knowledge distillation): a
 * full-precision partner network trained at the same time as the
 * low-bitwidth one, on the same batches. Each network's loss adds
 *   weight * T^2 KL(softmax(other / T) || softmax(own / T))
 * toward the other's softened logits, and optionally
 *   hint_weight * 0.5 |own_layer - other_layer|^2
 * between one named intermediate layer of each (same shape). */
#ifndef DR_GUIDE_H
#define DR_GUIDE_H

#include "../model/net.h"
#include "optim.h"
#include "train.h"

typedef struct dr_guide_s {
    dr_net *net;      /* the full-precision partner */
    dr_optim opt;     /* its own optimizer          */
    float T;          /* temperature                */
    float w_low, w_full; /* weight of the term in the low-bitwidth and the partner's loss */
    float hint_w;
    int hint_low, hint_full; /* layer indices; -1: no hint */
    double kd_sum, hint_sum, partner_loss_sum; /* sums over the epoch's samples (for the log) */
} dr_guide;

/* Checks the partner against the low-bitwidth network (input, classes, hint
 * layers "LOW[:FULL]" of equal shape; "" for none). */
int dr_guide_setup(dr_guide *g, dr_net *low, dr_net *partner, float T, float w_low, float w_full,
                   const char *hint, float hint_w);
/* One step after the low-bitwidth network's training forward pass over (x, y, n):
 * the partner's forward pass, then both backward passes with the extra terms,
 * then the partner's optimizer step. The caller steps the low-bitwidth network. */
void dr_guide_step(dr_guide *g, dr_net *low, const float *x, const int *y, int n, float lr);
void dr_guide_free(dr_guide *g);

/* The partner of a run: a new full-precision network from cfg->guide
 * (initialised from the seed), or, when resuming from `resume`, the one saved
 * beside it as guide.ckpt (which must be from the same epoch). */
int dr_guide_create(dr_guide *g, const dr_train_config *cfg, const char *resume,
                    const dr_net_options *nopt, dr_net *low);

#endif
