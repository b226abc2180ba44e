/* dorefa: run low-bitwidth convolutional networks (DoReFa-Net) exported with
 * 'dorefa export CHECKPOINT -o MODEL'. The engine computes quantized layers
 * with bit convolution kernels (AND + popcount over bit-planes) and integer
 * thresholds; first and last layers run in float.
 *
 *   dorefa_model *m;
 *   if (dorefa_load("model.dorefa", 128, &m) != DOREFA_OK) {
 *       fprintf(stderr, "%s\n", dorefa_last_error());
 *       return 1;
 *   }
 *   dorefa_predict(m, images, n, probs);   // probs: n x dorefa_classes(m)
 *   dorefa_free(m);
 *
 * Link with `pkg-config --cflags --libs dorefa`. Functions returning int give
 * DOREFA_OK or an error code; dorefa_last_error() then holds a one-line
 * message (per thread). A model may be used by one thread at a time. */
#ifndef DOREFA_H
#define DOREFA_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
    DOREFA_OK = 0,
    DOREFA_ERR_FILE = 1,     /* the model file cannot be read or is invalid */
    DOREFA_ERR_ARGUMENT = 2, /* a NULL pointer or a count out of range      */
    DOREFA_ERR_KERNEL = 3,   /* DOREFA_KERNEL names a kernel this CPU lacks  */
    DOREFA_ERR_TRAIN = 4,    /* training failed: it diverged, or a run folder could not be written */
};

typedef struct dorefa_model dorefa_model;

/* Loads a model for batches of up to max_batch images per run (larger
 * dorefa_predict calls are split). */
int dorefa_load(const char *path, int max_batch, dorefa_model **model);
void dorefa_free(dorefa_model *model);

/* Input images: height x width x channels, channels innermost (HWC). */
void dorefa_input_shape(const dorefa_model *model, int *height, int *width, int *channels);
int dorefa_classes(const dorefa_model *model);
/* The name of class i (UTF-8), as the training data set named it
 * ("Ankle boot"), or its number ("9") when it had no names; NULL when i is
 * out of range. Valid while the model is loaded. */
const char *dorefa_class_name(const dorefa_model *model, int i);
/* "W,A,G" the model was trained with. */
const char *dorefa_bits(const dorefa_model *model);

/* Class probabilities of n images (HWC float pixel values 0..255, images one
 * after another) into probs[n][classes]. */
int dorefa_predict(dorefa_model *model, const float *images, int n, float *probs);

/* The DoReFa quantizers on arrays: the values the training code computes,
 * for checking an implementation of one's own. bits 1..8; 32 copies.
 * f_w^k of n weights taken as one layer (k = 1: E sign(w), E = mean |w|;
 * k > 1: 2 quantize_k(tanh w / 2 max|tanh w| + 1/2) - 1). */
int dorefa_quantize_weights(const float *w, long n, int bits, float *out);
/* f_a^k = quantize_k(x) of n values, each in [0, 1]. */
int dorefa_quantize_activations(const float *x, long n, int bits, float *out);
/* f_g^k of `samples` gradients of per_sample values each (per-sample maximum,
 * uniform noise, stochastic rounding); the noise of sample i comes from
 * (seed, step, layer, i), as in training. */
int dorefa_quantize_gradients(const float *g, int samples, long per_sample, int bits, unsigned long long seed,
                              unsigned long long step, int layer, float *out);

const char *dorefa_last_error(void);
const char *dorefa_version(void);

#ifdef __cplusplus
}
#endif

#endif
