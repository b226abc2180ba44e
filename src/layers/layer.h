/* A layer is a small table of functions over explicit buffers.
 *
 * Tensors are NHWC float arrays (channels innermost). Every layer owns its
 * output `out` and the gradient of the loss with respect to it, `dout`, both
 * sized for the network's largest batch. Backward functions ADD into the
 * gradients of their inputs (a tensor may feed several layers, e.g. a residual
 * add), and into their parameter gradients, which the network zeroes first;
 * except that a layer whose ops set `stores_input_grad` STORES the gradient of
 * an input it alone reads when dr_grad_store() says so (every element
 * written), and the network does not zero that gradient. */
#ifndef DR_LAYER_H
#define DR_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "../core/rng.h"
#include "../model/kv.h"

typedef struct dr_net dr_net;
typedef struct dr_layer dr_layer;

typedef struct {
    int h, w, c;
} dr_shape;

static inline size_t dr_shape_size(dr_shape s) { return (size_t)s.h * s.w * s.c; }

#define DR_NAME_MAX 48

typedef struct {
    char name[DR_NAME_MAX + 8]; /* "layer.w" */
    float *value, *grad;
    size_t size;
    float l2; /* L2 weight decay coefficient; < 0: the run's --weight-decay */
} dr_param;

typedef struct dr_layer_ops {
    const char *type;
    /* Reads the layer's keys from the model-file line into l->priv. */
    int (*parse)(dr_layer *l, dr_kv *kv);
    /* l->in_shape is known: set l->out_shape, allocate params and buffers. */
    int (*setup)(dr_layer *l, dr_net *net);
    /* Parameter initialisation (NULL: nothing to initialise). */
    void (*init)(dr_layer *l, dr_rng *rng);
    void (*forward)(dr_layer *l, dr_net *net, int n);
    void (*backward)(dr_layer *l, dr_net *net, int n);
    void (*destroy)(dr_layer *l);
    int stores_input_grad; /* 1: backward honours dr_grad_store() */
} dr_layer_ops;

#define DR_MAX_PARAMS 2

struct dr_layer {
    const dr_layer_ops *ops;
    int index;
    char name[DR_NAME_MAX];
    int line;          /* line in the model file */
    int in[2], n_in;   /* producing layers; -1 is the network input */
    dr_shape in_shape; /* shape of the first input */
    dr_shape out_shape;
    float *out, *dout;
    int grad_store[2]; /* input k's gradient: this layer is its only reader and stores it */
    int dout_stored;   /* dout is stored by the only layer reading out: no zeroing */
    dr_param params[DR_MAX_PARAMS];
    int n_params;
    float *state; /* saved, untrained state (BN running mean and variance) */
    size_t state_size;
    void *priv;

    /* Quantization (DoReFa). Effective bitwidths, 32 = float: conv/fc layers use
     * wbits for their weights and gbits for the gradient reaching their output;
     * act layers quantize their output to abits. Set by dr_net_apply_bits(). */
    int wbits, abits, gbits;
    int quantized;       /* conv/fc: member of the quantized set                   */
    int file_bits[3];    /* per-layer overrides from the model file (W, A, G; 0: none) */
    int file_quant;      /* quant=0|1 in the model file (-1: none)                    */
};

/* Allocates parameter i of a layer (zeroed value and gradient). */
dr_param *dr_layer_add_param(dr_layer *l, const char *suffix, size_t size, float l2);

extern const dr_layer_ops dr_conv_ops, dr_fc_ops, dr_bn_ops, dr_maxpool_ops, dr_avgpool_ops,
    dr_act_ops, dr_dropout_ops, dr_add_ops, dr_softmax_ops;

/* Activation functions of act layers. */
enum { DR_ACT_RELU, DR_ACT_CRELU, DR_ACT_CABS, DR_ACT_IDENTITY };
int dr_act_parse_name(const char *name); /* -1 when unknown */
/* Keep probability of a dropout layer (1 - rate). */
float dr_dropout_keep(const dr_layer *l);
const char *dr_act_name(int fn);
/* The function an act layer applies in this network (the run's bounded
 * activation; a quantized ReLU or identity becomes crelu). */
int dr_act_effective(const dr_layer *l, const dr_net *net);
/* Epsilon of a bn layer; window geometry of a maxpool layer. */
float dr_bn_eps(const dr_layer *l);
struct dr_conv_geom_s;
const struct dr_conv_geom_s *dr_pool_geom(const dr_layer *l);
/* A conv layer that computes the max-pool after it (dr_direct_conv_pool)
 * marks it so for this pass (on = 1: its forward and backward then do
 * nothing) and writes the returned argmax array in the layer's format. */
int32_t *dr_maxpool_fuse(dr_layer *l, int on);
/* din = the gradient of a max-pool's input for n samples (its dout at each
 * window's max, zero elsewhere): a fused producer's dense output gradient. */
void dr_maxpool_input_grad(const dr_layer *l, int n, float *din);

/* Conv layer l computes the max-pool that alone reads its output when its
 * products allow (pool NULL: never, e.g. when its output must be kept). */
void dr_conv_pair_pool(dr_layer *l, dr_layer *pool);
/* The gradient of a conv/fc layer's output for n samples, made dense first
 * when the layer computed its max-pool itself. */
const float *dr_linear_output_grad(dr_layer *l, int n);

/* Finds the ops table for a model-file keyword, NULL when unknown. */
const dr_layer_ops *dr_layer_ops_find(const char *type);

/* Deterministic column sums: acc[c] += sum_r x[r * c_count + c], summed in
 * a fixed order that does not depend on the thread count. */
void dr_sum_rows(const float *x, size_t rows, int c_count, float *acc);
/* sum_a[c] = sum_r a[r,c] and sum_ab[c] = sum_r a[r,c] * b[r,c] (b = NULL: a*a),
 * in double precision and the same fixed order. */
void dr_sum_rows2(const float *a, const float *b, size_t rows, int c_count, double *sum_a,
                  double *sum_ab);

#endif
