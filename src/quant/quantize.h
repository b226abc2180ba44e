/* DoReFa-Net quantizers (spec section 1; paper sections 2.2-2.5).
 * n_k = 2^k - 1; round is round-half-to-even (rintf); 32 bits = no quantization. */
#ifndef DR_QUANTIZE_H
#define DR_QUANTIZE_H

#include <stddef.h>
#include <stdint.h>

#include "bits.h"

static inline float dr_levels(int k) { return (float)((1u << k) - 1u); }

/* rintf (round half to even) for |v| < 2^22 without a library call: adding
 * 1.5 * 2^23 leaves no fraction bits, so the FPU rounds in its default mode.
 * (Valid without -ffast-math, which would let the compiler fold it away.) */
static inline float dr_rint(float v) { return (v + 12582912.0f) - 12582912.0f; }

/* quantize_k(r) = round(n_k r) / n_k, r in [0, 1]. */
float dr_quantize_k(float r, int k);

/* Weight quantizer f_w^k over a whole layer. Keeps what the backward pass needs. */
typedef struct {
    float scale;     /* k = 1: E = mean |w|;  k > 1: M = max |tanh w| */
    size_t argmax;   /* k > 1: index of M (first one on ties)           */
} dr_wq_state;

void dr_quantize_weights(const float *w, size_t n, int k, float *wq, dr_wq_state *st);
/* The same, keeping t = tanh w in t[n] for the backward (k > 1; t untouched otherwise). */
void dr_quantize_weights_keep(const float *w, size_t n, int k, float *wq, dr_wq_state *st, float *t);
/* t = tanh x on the calling thread: in double, rounded once, so correctly
 * rounded on every input tried (glibc's tanhf is an ulp off on about 12% of
 * random floats); vectorised per CPU, the same results in every clone. */
void dr_tanh_span(const float *x, float *t, size_t n);
/* dL/dw from dL/dw_q (straight through the rounding): identity for k = 1,
 * the tanh / max chain rule of Eq. 10 for k > 1. Overwrites dw. */
void dr_quantize_weights_backward(const float *w, const float *dwq, size_t n, int k,
                                  const dr_wq_state *st, float *dw);
/* The same with t = tanh w as dr_quantize_weights_keep kept it (NULL: from w). */
void dr_quantize_weights_backward_kept(const float *w, const float *t, const float *dwq, size_t n, int k,
                                       const dr_wq_state *st, float *dw);

/* Activation quantizer f_a^k, in place; x must already lie in [0, 1]. */
void dr_quantize_activations(float *x, size_t n, int k);
/* The same, with the codes as dr_quantize_activations_span writes them. */
void dr_quantize_activations_codes(float *x, size_t n, int k, uint8_t *codes);
/* The same on the calling thread (a span of a tensor one pass computes); codes
 * (may be NULL) receives the integers n_k f_a(x) in 0..n_k, the codes the bit
 * products take (k < 32). */
void dr_quantize_activations_span(float *x, size_t n, int k, uint8_t *codes);

/* Gradient quantizer f_g^k (Eq. 12), backward only: per sample i of the
 * batch, m_i = max |dr_i|, x = dr / (2 m_i) + 1/2 + N, N ~ U(-1/2, 1/2) / n_k,
 * clipped to [0, 1], dq = 2 m_i (quantize_k(x) - 1/2); all-zero samples stay 0,
 * and so do samples whose m_i is below FLT_MIN (1/m_i would overflow).
 * The noise of sample i comes from (seed, step, layer, i). scales (may be NULL)
 * receives m_i. dq may equal dr. */
void dr_quantize_gradients(const float *dr, int n_samples, size_t per_sample, int k,
                           uint64_t seed, uint64_t step, int layer, float *dq, float *scales);
/* The same for samples first_sample.. of a larger batch (data-parallel training):
 * sample i draws the noise of sample first_sample + i. codes (may be NULL)
 * receives the integers n_k quantize_k(x) in 0..n_k (0 for a sample whose m_i
 * is 0), so that dq = m_i (2 codes / n_k - 1): the bit products' operand;
 * with codes, dq may be NULL (the codes alone). */
void dr_quantize_gradients_at(const float *dr, int n_samples, size_t per_sample, int k, uint64_t seed,
                              uint64_t step, int layer, uint64_t first_sample, float *dq, float *scales,
                              uint8_t *codes);

#endif
