/* Per-layer histograms of weights, activations and gradients (the paper's
 * Figures 2 and 3), taken from the last training batch of an epoch. */
#ifndef DR_HISTOGRAM_H
#define DR_HISTOGRAM_H

#include "../model/net.h"

/* Writes DIR/epochE.json and DIR/epochE-LAYER.svg for every conv/fc layer;
 * n is the size of the batch whose buffers the network still holds. */
int dr_histograms_write(dr_net *net, int n, const char *dir, int epoch);

#endif
