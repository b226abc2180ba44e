/* Losses of guided (joint knowledge distillation) training, Zhuang et al.:
 * each network is pulled toward the other's softened outputs, and optionally
 * toward its intermediate features. */
#ifndef DR_DISTILL_H
#define DR_DISTILL_H

#include <stddef.h>

/* T^2 KL(softmax(t / T) || softmax(z / T)), averaged over the n rows of C
 * logits; dz (may be NULL) receives weight * dL/dz = weight T (softmax(z/T) -
 * softmax(t/T)) / n, added to what it holds. t is treated as a constant.
 * Returns the loss (without the weight). */
double dr_distill_loss(const float *z, const float *t, int n, int C, float T, float weight, float *dz);

/* 0.5 |a - b|^2 / (n per): half the mean squared difference over n samples
 * of `per` values; da (may be NULL) receives weight (a - b) / (n per), added.
 * Returns the loss (without the weight). */
double dr_hint_loss(const float *a, const float *b, int n, size_t per, float weight, float *da);

#endif
