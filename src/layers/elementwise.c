/* Element-wise layers: activations, dropout, residual add. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../model/net.h"
#include "layer.h"
#include "../quant/quantize.h"

static int same_shape_setup(dr_layer *l, dr_net *net)
{
    (void)net;
    l->out_shape = l->in_shape;
    return 0;
}

/* ---- activations -------------------------------------------------------- */

enum { ACT_RELU = DR_ACT_RELU, ACT_CRELU = DR_ACT_CRELU, ACT_CABS = DR_ACT_CABS,
       ACT_IDENTITY = DR_ACT_IDENTITY };
static const char *const act_names[] = {"relu", "crelu", "cabs", "identity", NULL};

int dr_act_parse_name(const char *name)
{
    for (int i = 0; act_names[i]; i++)
        if (!strcmp(act_names[i], name)) return i;
    return -1;
}

const char *dr_act_name(int fn) { return fn >= 0 && fn <= ACT_IDENTITY ? act_names[fn] : "-"; }

typedef struct {
    int fn;
} act_priv;

static int act_parse(dr_layer *l, dr_kv *kv)
{
    act_priv *a = l->priv = dr_xcalloc(1, sizeof *a);
    if (dr_kv_choice(kv, "fn", act_names, -1, &a->fn)) return -1;
    if (a->fn < 0) return dr_kv_fail(kv, "act needs fn=relu|crelu|cabs|identity");
    return 0;
}

/* h(x) and h'(x). relu: max(0,x); crelu: min(1, max(0,x)); cabs: min(1,|x|).
 * One loop per function, so that each vectorizes. */
static void act_apply(int fn, const float *restrict x, float *restrict y, size_t n)
{
    switch (fn) {
    case ACT_RELU:
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
        break;
    case ACT_CRELU:
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; i++) {
            float v = x[i] > 0 ? x[i] : 0.0f; /* ternaries compile to min/max instructions; */
            y[i] = v < 1 ? v : 1.0f;          /* fminf would be a library call            */
        }
        break;
    case ACT_CABS:
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; i++) {
            float a = fabsf(x[i]);
            y[i] = a < 1 ? a : 1.0f;
        }
        break;
    default:
        memcpy(y, x, n * sizeof(float));
    }
}

/* One parallel, vectorised loop storing or adding dx[i] = expr. */
#define GRAD_LOOP(store, n, expr)                                          \
    do {                                                                   \
        if (store) {                                                       \
            _Pragma("omp parallel for simd schedule(static)")              \
            for (size_t i = 0; i < (n); i++) dx[i] = (expr);               \
        } else {                                                           \
            _Pragma("omp parallel for simd schedule(static)")              \
            for (size_t i = 0; i < (n); i++) dx[i] += (expr);              \
        }                                                                  \
    } while (0)

/* h'(x) as products of 0/1 selections, one statement each: GCC vectorizes
 * `c ? 1.0f : 0.0f` (branches on the random signs of x would mispredict). */
static inline float d_relu(float x)
{
    const float pos = x > 0 ? 1.0f : 0.0f;
    return pos;
}
static inline float d_crelu(float x)
{
    const float pos = x > 0 ? 1.0f : 0.0f, below = x < 1 ? 1.0f : 0.0f;
    return pos * below;
}
static inline float d_cabs(float x)
{
    const float inside = fabsf(x) < 1 ? 1.0f : 0.0f, pos = x > 0 ? 1.0f : 0.0f, neg = x < 0 ? 1.0f : 0.0f;
    return inside * (pos - neg);
}

/* dx (+)= dy * h'(x) */
static void act_grad(int fn, const float *restrict x, const float *restrict dy, float *restrict dx, size_t n,
                     int store)
{
    switch (fn) {
    case ACT_RELU:
        GRAD_LOOP(store, n, dy[i] * d_relu(x[i]));
        break;
    case ACT_CRELU:
        GRAD_LOOP(store, n, dy[i] * d_crelu(x[i]));
        break;
    case ACT_CABS:
        GRAD_LOOP(store, n, dy[i] * d_cabs(x[i]));
        break;
    default:
        GRAD_LOOP(store, n, dy[i]);
    }
}

/* The function an act layer applies: the run may choose the bounded activation h
 * (cabs or crelu layers), and a quantized activation must lie in [0, 1], so a
 * ReLU (or identity) there becomes min(1, max(0, x)). */
int dr_act_effective(const dr_layer *l, const dr_net *net)
{
    int fn = ((act_priv *)l->priv)->fn;
    if ((fn == ACT_CABS || fn == ACT_CRELU) && net->bounded_act >= 0) return net->bounded_act;
    return (fn == ACT_RELU || fn == ACT_IDENTITY) && l->abits < DR_FLOAT_BITS ? ACT_CRELU : fn;
}

static void act_forward(dr_layer *l, dr_net *net, int n)
{
    size_t total = (size_t)n * dr_shape_size(l->out_shape);
    act_apply(dr_act_effective(l, net), dr_net_input(net, l, 0), l->out, total);
    dr_quantize_activations(l->out, total, l->abits); /* f_a; straight-through backward */
}

static void act_backward(dr_layer *l, dr_net *net, int n)
{
    float *dx = dr_net_input_grad(net, l, 0);
    if (!dx) return;
    act_grad(dr_act_effective(l, net), dr_net_input(net, l, 0), l->dout, dx, (size_t)n * dr_shape_size(l->out_shape),
             dr_grad_store(net, l, 0));
}

const dr_layer_ops dr_act_ops = {"act", act_parse, same_shape_setup, NULL,
                                 act_forward, act_backward, NULL, 1};

/* ---- dropout ------------------------------------------------------------ */

typedef struct {
    float rate;
    uint8_t *mask;
} dropout_priv;

float dr_dropout_keep(const dr_layer *l) { return 1.0f - ((const dropout_priv *)l->priv)->rate; }

static int dropout_parse(dr_layer *l, dr_kv *kv)
{
    dropout_priv *d = l->priv = dr_xcalloc(1, sizeof *d);
    return dr_kv_float(kv, "rate", 0.5f, 0.0f, 0.99f, &d->rate);
}

static int dropout_setup(dr_layer *l, dr_net *net)
{
    dropout_priv *d = l->priv;
    l->out_shape = l->in_shape;
    d->mask = dr_xalign((size_t)net->max_batch * dr_shape_size(l->in_shape));
    return 0;
}

static void dropout_forward(dr_layer *l, dr_net *net, int n)
{
    dropout_priv *d = l->priv;
    const float *x = dr_net_input(net, l, 0);
    size_t per = dr_shape_size(l->out_shape), total = (size_t)n * per;
    if (!net->train || d->rate == 0) {
        for (size_t i = 0; i < total; i++) l->out[i] = x[i];
        return;
    }
    const float keep = 1.0f - d->rate, scale = 1.0f / keep;
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n; s++) {
        dr_rng8 rng; /* streams per (step, layer, sample): thread-count independent */
        dr_rng8_seed(&rng, net->seed, DR_RNG_DROPOUT, net->step, ((uint64_t)l->index << 32) | s);
        enum { CHUNK = 512 };
        float u[CHUNK];
        for (size_t i0 = (size_t)s * per; i0 < (size_t)(s + 1) * per; i0 += CHUNK) {
            const size_t count = DR_MIN(CHUNK, (size_t)(s + 1) * per - i0);
            dr_rng8_uniforms(&rng, u, count);
            uint8_t *mask = d->mask + i0;
            const float *xi = x + i0;
            float *out = l->out + i0;
            for (size_t j = 0; j < count; j++) {
                mask[j] = u[j] < keep;
                out[j] = u[j] < keep ? xi[j] * scale : 0.0f;
            }
        }
    }
}

static void dropout_backward(dr_layer *l, dr_net *net, int n)
{
    dropout_priv *d = l->priv;
    float *dx = dr_net_input_grad(net, l, 0);
    if (!dx) return;
    const size_t total = (size_t)n * dr_shape_size(l->out_shape);
    const float *dy = l->dout;
    const int store = dr_grad_store(net, l, 0);
    if (!net->train || d->rate == 0) {
        GRAD_LOOP(store, total, dy[i]);
        return;
    }
    const float scale = 1.0f / (1.0f - d->rate);
    const uint8_t *mask = d->mask;
    GRAD_LOOP(store, total, mask[i] ? dy[i] * scale : 0.0f);
}

static void dropout_destroy(dr_layer *l)
{
    dropout_priv *d = l->priv;
    if (d) free(d->mask);
}

const dr_layer_ops dr_dropout_ops = {"dropout", dropout_parse, dropout_setup, NULL,
                                     dropout_forward, dropout_backward, dropout_destroy, 1};

/* ---- residual add -------------------------------------------------------- */

static int add_parse(dr_layer *l, dr_kv *kv)
{
    if (l->n_in != 2) return dr_kv_fail(kv, "add needs two inputs: from=a,b");
    return 0;
}

static void add_forward(dr_layer *l, dr_net *net, int n)
{
    const float *a = dr_net_input(net, l, 0), *b = dr_net_input(net, l, 1);
    size_t total = (size_t)n * dr_shape_size(l->out_shape);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < total; i++) l->out[i] = a[i] + b[i];
}

static void add_backward(dr_layer *l, dr_net *net, int n)
{
    size_t total = (size_t)n * dr_shape_size(l->out_shape);
    for (int k = 0; k < 2; k++) {
        float *d = dr_net_input_grad(net, l, k);
        if (!d) continue;
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < total; i++) d[i] += l->dout[i];
    }
}

const dr_layer_ops dr_add_ops = {"add", add_parse, same_shape_setup, NULL,
                                 add_forward, add_backward, NULL, 0};
