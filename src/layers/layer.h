/* A layer is a small table of functions over explicit buffers.
 *
 * Tensors are NHWC float arrays (channels innermost). Every layer owns its
 * output `out` and the gradient of the loss with respect to it, `dout`, both
 * sized for the network's largest batch. Backward functions ADD into the
 * gradients of their inputs (a tensor may feed several layers, e.g. a residual
 * add), and into their parameter gradients, which the network zeroes first;
 * except that a layer whose ops set `stores_input_grad` STORES the gradient of
 * an input it alone reads when dr_grad_store() says so (every element
 * written), and the network does not zero that gradient.
 *
 * Layers know nothing of the network around them: what they read of it is
 * their inputs (dr_input), the pass (dr_pass) and the decisions the planning
 * pass (model/plan.c) wrote into their `plan`. */
#ifndef DR_LAYER_H
#define DR_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "../core/rng.h"
#include "../kernels/products.h"
#include "../core/group.h"
#include "../core/kv.h"

typedef struct dr_layer dr_layer;

typedef struct {
    int h, w, c;
} dr_shape;

static inline size_t dr_shape_size(dr_shape s) { return (size_t)s.h * s.w * s.c; }

#define DR_NAME_MAX 48

/* A trained parameter: a view into the network's parameter arena. */
typedef struct {
    char name[DR_NAME_MAX + 8]; /* "layer.w" */
    float *value, *grad;        /* into the network's params and grads arenas */
    size_t offset;              /* of value in the params arena (and of grad, and of the optimizer moments) */
    size_t size;
    float l2; /* L2 weight decay coefficient; < 0: the run's --weight-decay */
} dr_param;

/* What a forward or backward pass needs beyond the layers: the network's
 * input, the mode, the random keys, the labels and the loss, scratch. */
typedef struct {
    int max_batch;
    float *in;           /* the network input, max_batch x input shape          */
    int train;           /* 1: training mode (batch statistics, dropout)        */
    uint64_t seed, step; /* random streams of dropout and the gradient quantizer */
    const int *labels;   /* labels of the batch, for the loss layer             */
    double loss;         /* mean cross-entropy of the last forward pass          */
    int grads_add;       /* 1: every backward adds (others add to douts too)     */
    int bit_kernels;     /* quantized layers use the bit-serial products (else float simulation) */
    /* Data-parallel training: this process holds samples [sample0, sample0 + n)
     * of a global batch of n_global (0: the batch is n); per-sample draws are
     * keyed by the global index. group: the ranks (NULL: one process); batch
     * norm sums its statistics over them unless bn_local. */
    int n_global;
    uint64_t sample0;
    dr_group *group;
    int bn_local;
    dr_workspace ws;     /* scratch shared by the layers                        */
} dr_pass;

/* What a layer type is, for the planning pass (flags of dr_layer_ops.roles). */
enum {
    DR_ROLE_PRODUCTS = 1 << 0,    /* weights and the three products (conv, fc): quantizable       */
    DR_ROLE_KEEPS_GRID = 1 << 1,  /* output values are input values (times a constant): a k-bit
                                   * input stays on its grid (maxpool, dropout)                   */
    DR_ROLE_MAX_POOL = 1 << 2,    /* a maximum over windows: commutes with rising per-channel
                                   * maps, so it may run on codes or inside a fused block          */
    DR_ROLE_DROPOUT = 1 << 3,     /* identity in evaluation, x / keep at kept cells in training   */
    DR_ROLE_NORM = 1 << 4,        /* a per-channel affine map in evaluation (bn)                  */
    DR_ROLE_BOUNDED_ACT = 1 << 5, /* an activation whose output may be quantized with f_a (act)   */
    DR_ROLE_LOSS = 1 << 6,        /* the loss: the network's last layer (softmax)                 */
};

typedef struct dr_layer_ops {
    const char *type;
    unsigned roles; /* DR_ROLE_* */
    /* Reads the layer's keys from the model-file line into l->priv. */
    int (*parse)(dr_layer *l, dr_kv *kv);
    /* l->in_shape is known: set l->out_shape, declare params and state
     * (dr_layer_add_param), allocate buffers for p->max_batch samples. */
    int (*setup)(dr_layer *l, const dr_pass *p);
    /* Parameter initialisation (NULL: nothing to initialise). */
    void (*init)(dr_layer *l, dr_rng *rng);
    void (*forward)(dr_layer *l, dr_pass *p, int n);
    void (*backward)(dr_layer *l, dr_pass *p, int n);
    void (*destroy)(dr_layer *l);
    /* Its own settings as " key=value" text for other tools (dr_net_describe;
     * NULL: none): geometry, epsilons, rates, the function applied. */
    void (*describe)(const dr_layer *l, char *buf, size_t cap);
    int stores_input_grad; /* 1: backward honours dr_grad_store() */
} dr_layer_ops;

/* Decisions of the planning pass (model/plan.c), made for the whole graph
 * after parsing and after every change of bits; layers only read them. */
enum { DR_INFER_FLOAT, DR_INFER_HEAD, DR_INFER_MEMBER, DR_INFER_SKIP };

typedef struct {
    int grad_store[2]; /* input k's gradient: this layer is its only reader and stores it */
    int dout_stored;   /* dout is stored by the only layer reading out: no zeroing */

    /* Quantization (DoReFa). Effective bitwidths, 32 = float: products layers
     * use wbits for their weights and gbits for the gradient reaching their
     * output; bounded activations quantize their output to abits. */
    int wbits, abits, gbits;
    int quantized;   /* products layer: member of the quantized set this pass          */
    int quantizable; /* products layer: member of the quantized set under the first/last
                      * policy and the file's quant= (stochastic precision draws these) */
    /* Products layer: its input activation a = q * in_scale with q in 0..2^in_bits-1
     * (the bounded activation in_act's codes through max-pools and dropouts; in_bits
     * 32: float input). in_scale_train holds the dropouts' 1/keep as well. */
    int in_act, in_bits;
    float in_scale, in_scale_train;
    /* A quantized products layer reading its bounded activation directly takes
     * that act's codes (in_codes); the act writes them beside its output
     * (writes_codes: into its `codes`, n_A f_a(x) in 0..n_A). */
    int in_codes, writes_codes;
    /* Bounded activation: the function it applies (DR_ACT_*): the run's choice
     * for cabs/crelu layers, crelu for a quantized relu or identity. */
    int act_fn;
    /* A conv whose output only a max-pool reads, with float weights and
     * gradient and no input gradient, computes that pool (the pool layer's
     * out, dout and winners); both name the other. */
    dr_layer *fused_pool, *pooled_by;
    /* A bn whose output only a bounded activation reads (and nothing from
     * outside) runs that activation and its quantizer in its own passes:
     * forward to the act's out, backward from the act's dout; both name the
     * other, and the bn's own out is not made. */
    dr_layer *fused_act, *normed_by;

    /* Inference (deploy/engine.c). A head is a quantized products layer whose
     * input are codes (from infer_src, an act or a max-pool of one past
     * dropouts, at infer_src_bits) and whose output goes through [bn]
     * [maxpool] to a quantized bounded activation: one fused block of bit
     * products and integer thresholds, its members absorbed. A float products
     * layer with quantized weights and coded input (infer_src >= 0) computes a
     * bit product with a float epilogue. A skipped dropout is not needed. */
    int infer_role;
    int infer_src, infer_src_bits;
    int infer_bn, infer_pool, infer_act; /* head: absorbed layers (-1: none); act ends the block */
    int infer_pool_before_bn;            /* head: conv -> maxpool -> bn order */
    /* A float layer followed by [bn] [maxpool] and a quantized crelu/cabs
     * act [then a maxpool], each the only reader of the one before: the
     * engine may run them as one pass to codes (-1: no such layer; the float
     * direct convolution takes only conv -> [maxpool] -> act, the integer
     * first layer all). */
    int chain_bn, chain_pool, chain_act, chain_pool_after;
} dr_plan;

#define DR_MAX_PARAMS 2

struct dr_layer {
    const dr_layer_ops *ops;
    int index;
    char name[DR_NAME_MAX];
    int line;               /* line in the model file */
    int src[2], n_in;       /* producing layers; -1 is the network input */
    dr_layer *from[2];      /* the producing layers (NULL: the network input) */
    dr_shape in_shape;      /* shape of the first input */
    dr_shape out_shape;
    float *out, *dout;
    uint8_t *codes; /* a bounded activation's output as integer codes (plan.writes_codes) */
    dr_param params[DR_MAX_PARAMS];
    int n_params;
    float *state; /* saved, untrained state (BN running mean and variance): a view into the network's state arena */
    size_t state_offset, state_size;
    void *priv;
    int file_bits[3]; /* per-layer overrides from the model file (W, A, G; 0: none) */
    int file_quant;   /* quant=0|1 in the model file (-1: none)                    */
    int keep_output;  /* out and dout are read from outside the network: no fused max-pool */
    dr_plan plan;
};

/* Input k of a layer in this pass, and its gradient (NULL for the network input). */
static inline float *dr_input(const dr_layer *l, const dr_pass *p, int k)
{
    return l->from[k] ? l->from[k]->out : p->in;
}
static inline float *dr_input_grad(const dr_layer *l, int k) { return l->from[k] ? l->from[k]->dout : NULL; }
/* Whether layer l's backward stores (rather than adds) the gradient of its input k. */
static inline int dr_grad_store(const dr_pass *p, const dr_layer *l, int k)
{
    return l->plan.grad_store[k] && !p->grads_add;
}

/* Declares parameter i of a layer: its value and gradient live in the
 * network's arenas, allocated once every layer is set up. */
dr_param *dr_layer_add_param(dr_layer *l, const char *suffix, size_t size, float l2);

/* Finds the ops table for a model-file keyword, NULL when unknown. */
const dr_layer_ops *dr_layer_ops_find(const char *type);

/* Deterministic column sums: acc[c] += sum_r x[r * c_count + c], summed in
 * a fixed order that does not depend on the thread count. */
void dr_sum_rows(const float *x, size_t rows, int c_count, float *acc);
/* sum_a[c] = sum_r a[r,c] and sum_ab[c] = sum_r a[r,c] * b[r,c] (b = NULL: a*a),
 * in double precision and the same fixed order. */
void dr_sum_rows2(const float *a, const float *b, size_t rows, int c_count, double *sum_a,
                  double *sum_ab);
/* The same, where each block of rows [r0, r1) of a is first written by
 * make(ctx, r0, r1) on the thread that sums it, and summed while in cache:
 * the sums are those of dr_sum_rows2 over the finished a (make NULL: it is
 * dr_sum_rows2). */
void dr_sum_rows2_made(const float *a, const float *b, size_t rows, int c_count, void (*make)(void *ctx, size_t r0, size_t r1),
                       void *ctx, double *sum_a, double *sum_ab);

/* ---- what the layer types tell the planning pass and the engine ---------- */

extern const dr_layer_ops dr_conv_ops, dr_fc_ops, dr_bn_ops, dr_maxpool_ops, dr_avgpool_ops,
    dr_act_ops, dr_dropout_ops, dr_add_ops, dr_softmax_ops;

/* Activation functions of act layers. */
enum { DR_ACT_RELU, DR_ACT_CRELU, DR_ACT_CABS, DR_ACT_IDENTITY };
int dr_act_parse_name(const char *name); /* -1 when unknown */
const char *dr_act_name(int fn);
/* The function a bounded activation's model-file line names (fn=). */
int dr_act_file_fn(const dr_layer *l);
/* y = h(x) and dx = dy h'(x) over n elements on the calling thread (y, dx may be x). */
void dr_act_span(int fn, const float *x, float *y, size_t n);
void dr_act_grad_span(int fn, const float *x, const float *dy, float *dx, size_t n);
/* Keep probability of a dropout layer (1 - rate). */
float dr_dropout_keep(const dr_layer *l);
/* Epsilon of a bn layer. */
float dr_bn_eps(const dr_layer *l);
/* Window geometry of a max-pool layer, and its winners: the input offset
 * (within the sample) of each output's maximum, n x out_shape. */
struct dr_conv_geom_s;
const struct dr_conv_geom_s *dr_pool_geom(const dr_layer *l);
int32_t *dr_pool_argmax(const dr_layer *l);
/* din = the gradient of a max-pool's input for n samples (its dout at each
 * window's max, zero elsewhere): a fused producer's dense output gradient. */
void dr_maxpool_input_grad(const dr_layer *l, int n, float *din);

#endif
