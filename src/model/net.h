/* A network: layers in model-file order, each reading the previous layer's
 * output unless the model file names its inputs with from=.
 *
 * Its trained parameters live in one arena (params), their gradients in
 * another of the same layout (grads), BN running statistics in a third
 * (state); each layer's dr_param and state are views into them. */
#ifndef DR_NET_H
#define DR_NET_H

#include "../layers/layer.h"
#include "../quant/bits.h"

/* Limits a model file is checked against when it is parsed. */
#define DR_MAX_LAYERS 4096
#define DR_MAX_TENSOR 2147483647.0 /* values of one layer's output for a batch, or of one parameter */

typedef struct dr_net {
    char *path;   /* model file name (for messages)        */
    char *source; /* model file text (kept in checkpoints)  */
    char *class_names; /* one line per output class (CLSS); NULL: unknown */
    dr_shape input;
    int default_bits[3]; /* W, A, G the model file recommends (input bits=); 0: none */
    int n_layers;
    dr_layer *layers;

    /* Quantization in effect (dr_net_apply_bits) and the bounded activation
     * chosen for the model's cabs/crelu layers (DR_ACT_*; -1: the file's). */
    dr_bits bits;
    int bounded_act;

    /* The arenas: every parameter, every gradient (same offsets), every
     * layer's state. Sizes in floats; each view starts 64-byte aligned. */
    float *params, *grads, *state;
    size_t params_size, state_size;

    dr_pass pass; /* the per-pass context the layers read */
    int max_batch;
    double bytes_needed; /* estimated memory of the buffers, checked against dr_memory_limit() */
} dr_net;

typedef struct {
    int channels; /* input channels (from the data set); 0: the file's value */
    int height, width; /* override of the file's input size; 0: keep   */
    int max_batch;
} dr_net_options;

/* Parses model text; `path` is used in error messages "path:line: ...". The
 * network starts in float (32,32,32) with the file's bounded activations. */
dr_net *dr_net_parse(const char *text, const char *path, const dr_net_options *opt);
dr_net *dr_net_load(const char *path, const dr_net_options *opt);
void dr_net_free(dr_net *net);

/* Initialises every parameter from the seed (He-normal weights, zero biases). */
void dr_net_init(dr_net *net, uint64_t seed);

/* Runs the batch x[n] (NHWC) forward; with labels, the loss layer computes the loss. */
void dr_net_forward(dr_net *net, const float *x, const int *labels, int n, int train);
/* Backpropagates the loss of the last training forward pass; param grads are overwritten. */
void dr_net_backward(dr_net *net, int n);
/* The same in two steps: begin zeroes the gradients; with extra_terms it
 * zeroes every dout and the caller may then add its own loss terms'
 * gradients into layer douts (every layer then adds). run backpropagates. */
void dr_net_backward_begin(dr_net *net, int n, int extra_terms);
void dr_net_backward_run(dr_net *net, int n);

/* Logits: the input of the final softmax layer, and its gradient buffer. */
const float *dr_net_logits(dr_net *net);
float *dr_net_logits_grad(dr_net *net);

/* The network's output (class probabilities of the last layer), n x classes. */
const float *dr_net_output(const dr_net *net);
int dr_net_classes(const dr_net *net);

/* Parameter iteration: total count and the i-th across all layers. */
int dr_net_param_count(const dr_net *net);
dr_param *dr_net_param(dr_net *net, int i);
size_t dr_net_weight_count(const dr_net *net);

dr_layer *dr_net_find(dr_net *net, const char *name);

/* The network as text for other tools (the PyTorch bridge), one line each:
 *   net input=H,W,C classes=N bits=W,A,G first=0|1 last=0|1 bounded=cabs|crelu|-
 *   layer type=conv name=conv1 from=-1 in=H,W,C out=H,W,C params=conv1.w,conv1.b state=0 ...
 * from: the layers read (-1: the image); params: the parameters' names;
 * state: the layer's state values (bn: running mean, then variance); then
 * the layer's own keys (its describe op), with the planned bits and
 * functions. The caller frees it. */
char *dr_net_describe(const dr_net *net);

/* Names the classes from a text of one name per line: one line per output,
 * those the text lacks named by their number; NULL clears them. */
void dr_net_set_class_names(dr_net *net, const char *names);
/* The name of class i ("3" when the network has none), into buf. */
void dr_net_class_name(const dr_net *net, int i, char *buf, size_t cap);

/* Reads only the input size (h, w) of model text: enough to load data first. */
int dr_model_peek_input(const char *text, const char *path, int *h, int *w);

/* Looks a model up: an existing path, else NAME or NAME.net in the shipped models folder. */
int dr_model_resolve(const char *name, char *path, size_t cap);

#endif
