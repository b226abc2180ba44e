/* Element-wise layers: activations, dropout, residual add. */
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../quant/quantize.h"
#include "layer.h"

static int same_shape_setup(dr_layer *l, const dr_pass *p)
{
    (void)p;
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

/* fn=, and the per-layer override abits= of the quantizer on the output. */
static int act_parse(dr_layer *l, dr_kv *kv)
{
    act_priv *a = l->priv = dr_xcalloc(1, sizeof *a);
    if (dr_kv_choice(kv, "fn", act_names, -1, &a->fn) || dr_kv_int(kv, "abits", 0, 1, 32, &l->file_bits[1]))
        return -1;
    if (a->fn < 0) return dr_kv_fail(kv, "act needs fn=relu|crelu|cabs|identity");
    if (l->file_bits[1] && !dr_bits_valid(l->file_bits[1]))
        return dr_kv_fail(kv, "bitwidth %d: use 1..8, or 32 for float", l->file_bits[1]);
    return 0;
}

int dr_act_file_fn(const dr_layer *l) { return ((const act_priv *)l->priv)->fn; }

/* h(x) and h'(x). relu: max(0,x); crelu: min(1, max(0,x)); cabs: min(1,|x|).
 * One loop per function, so that each vectorizes. Spans run on the calling
 * thread (y may be x); the layer splits its tensor into one span per thread. */
DR_SIMD_CLONES void dr_act_span(int fn, const float *x, float *y, size_t n)
{
    switch (fn) {
    case ACT_RELU:
#pragma omp simd
        for (size_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
        break;
    case ACT_CRELU:
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            float v = x[i] > 0 ? x[i] : 0.0f; /* ternaries compile to min/max instructions; */
            y[i] = v < 1 ? v : 1.0f;          /* fminf would be a library call            */
        }
        break;
    case ACT_CABS:
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            float a = fabsf(x[i]);
            y[i] = a < 1 ? a : 1.0f;
        }
        break;
    default:
        if (y != x) memcpy(y, x, n * sizeof(float));
    }
}

static void act_apply(int fn, const float *x, float *y, size_t n)
{
#pragma omp parallel if (n >= DR_SMALL_LOOP) /* a team costs more than a small tensor */
    {
        size_t i0, i1;
        dr_thread_span(n, &i0, &i1);
        dr_act_span(fn, x + i0, y + i0, i1 - i0);
    }
}

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

/* One vectorised loop storing or adding dx[i] = expr, under the OpenMP
 * directive OMP: "omp simd" over a span on the calling thread, "omp parallel
 * for simd schedule(static)" over a whole tensor. */
#define GRAD_LOOP(OMP, store, n, expr)                                     \
    do {                                                                   \
        if (store) {                                                       \
            _Pragma(OMP)                                                   \
            for (size_t i = 0; i < (n); i++) dx[i] = (expr);               \
        } else {                                                           \
            _Pragma(OMP)                                                   \
            for (size_t i = 0; i < (n); i++) dx[i] += (expr);              \
        }                                                                  \
    } while (0)
#define GRAD_SPAN(store, n, expr) GRAD_LOOP("omp simd", store, n, expr)
#define GRAD_TENSOR(store, n, expr) GRAD_LOOP("omp parallel for simd schedule(static)", store, n, expr)

/* dx (+)= dy * h'(x) over a span (dx may be x). */
DR_SIMD_CLONES static void act_grad_span(int fn, const float *x, const float *dy, float *dx, size_t n, int store)
{
    switch (fn) {
    case ACT_RELU:
        GRAD_SPAN(store, n, dy[i] * d_relu(x[i]));
        break;
    case ACT_CRELU:
        GRAD_SPAN(store, n, dy[i] * d_crelu(x[i]));
        break;
    case ACT_CABS:
        GRAD_SPAN(store, n, dy[i] * d_cabs(x[i]));
        break;
    default:
        GRAD_SPAN(store, n, dy[i]);
    }
}

void dr_act_grad_span(int fn, const float *x, const float *dy, float *dx, size_t n) { act_grad_span(fn, x, dy, dx, n, 1); }

static void act_grad(int fn, const float *x, const float *dy, float *dx, size_t n, int store)
{
#pragma omp parallel
    {
        size_t i0, i1;
        dr_thread_span(n, &i0, &i1);
        act_grad_span(fn, x + i0, dy + i0, dx + i0, i1 - i0, store);
    }
}

/* The function is the plan's (act_fn): the run's bounded activation, and
 * min(1, max(0, x)) for a ReLU whose output is quantized. */
static void act_forward(dr_layer *l, dr_pass *p, int n)
{
    if (l->plan.normed_by) return; /* the bn before it computed out */
    size_t total = (size_t)n * dr_shape_size(l->out_shape);
    act_apply(l->plan.act_fn, dr_input(l, p, 0), l->out, total);
    /* f_a; straight-through backward */
    dr_quantize_activations_codes(l->out, total, l->plan.abits, l->plan.writes_codes ? l->codes : NULL);
}

static void act_backward(dr_layer *l, dr_pass *p, int n)
{
    if (l->plan.normed_by) return; /* the bn before it takes h' in its own backward */
    float *dx = dr_input_grad(l, 0);
    if (!dx) return;
    act_grad(l->plan.act_fn, dr_input(l, p, 0), l->dout, dx, (size_t)n * dr_shape_size(l->out_shape),
             dr_grad_store(p, l, 0));
}

static void act_describe(const dr_layer *l, char *buf, size_t cap)
{
    snprintf(buf, cap, " fn=%s abits=%d", dr_act_name(l->plan.act_fn), l->plan.abits); /* h, then f_a^abits */
}

const dr_layer_ops dr_act_ops = {
    .type = "act",
    .roles = DR_ROLE_BOUNDED_ACT,
    .parse = act_parse,
    .setup = same_shape_setup,
    .forward = act_forward,
    .backward = act_backward,
    .stores_input_grad = 1,
    .describe = act_describe,
};

/* ---- dropout ------------------------------------------------------------ */

typedef struct {
    float rate;
    float *mask; /* 1 kept, 0 dropped: floats, so that both passes' loops vectorise */
} dropout_priv;

float dr_dropout_keep(const dr_layer *l) { return 1.0f - ((const dropout_priv *)l->priv)->rate; }

static int dropout_parse(dr_layer *l, dr_kv *kv)
{
    dropout_priv *d = l->priv = dr_xcalloc(1, sizeof *d);
    return dr_kv_float(kv, "rate", 0.5f, 0.0f, 0.99f, &d->rate);
}

static int dropout_setup(dr_layer *l, const dr_pass *p)
{
    dropout_priv *d = l->priv;
    l->out_shape = l->in_shape;
    d->mask = dr_xalign((size_t)p->max_batch * dr_shape_size(l->in_shape) * sizeof(float));
    return 0;
}

/* mask = u < keep, out = x / keep where kept, else 0 (vectorised per clone). */
DR_SIMD_CLONES static void dropout_span(const float *restrict u, const float *restrict x, size_t n, float keep,
                                        float scale, float *restrict mask, float *restrict out)
{
    for (size_t j = 0; j < n; j++) {
        mask[j] = u[j] < keep ? 1.0f : 0.0f;
        out[j] = u[j] < keep ? x[j] * scale : 0.0f;
    }
}

/* dx (+)= dy / keep where kept, else 0. */
DR_SIMD_CLONES static void dropout_grad_span(const float *restrict mask, const float *restrict dy, size_t n,
                                             float scale, int store, float *restrict dx)
{
    GRAD_SPAN(store, n, mask[i] != 0 ? dy[i] * scale : 0.0f);
}

static void dropout_forward(dr_layer *l, dr_pass *p, int n)
{
    dropout_priv *d = l->priv;
    const float *x = dr_input(l, p, 0);
    size_t per = dr_shape_size(l->out_shape), total = (size_t)n * per;
    if (!p->train || d->rate == 0) {
        for (size_t i = 0; i < total; i++) l->out[i] = x[i];
        return;
    }
    const float keep = 1.0f - d->rate, scale = 1.0f / keep;
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n; s++) {
        dr_rng8 rng; /* streams per (step, layer, global sample): thread- and rank-count independent */
        dr_rng8_seed(&rng, p->seed, DR_RNG_DROPOUT, p->step, ((uint64_t)l->index << 32) | (p->sample0 + (uint64_t)s));
        enum { CHUNK = 512 };
        float u[CHUNK];
        for (size_t i0 = (size_t)s * per; i0 < (size_t)(s + 1) * per; i0 += CHUNK) {
            const size_t count = DR_MIN(CHUNK, (size_t)(s + 1) * per - i0);
            dr_rng8_uniforms(&rng, u, count);
            dropout_span(u, x + i0, count, keep, scale, d->mask + i0, l->out + i0);
        }
    }
}

static void dropout_backward(dr_layer *l, dr_pass *p, int n)
{
    dropout_priv *d = l->priv;
    float *dx = dr_input_grad(l, 0);
    if (!dx) return;
    const size_t total = (size_t)n * dr_shape_size(l->out_shape);
    const float *dy = l->dout;
    const int store = dr_grad_store(p, l, 0);
    if (!p->train || d->rate == 0) {
        GRAD_TENSOR(store, total, dy[i]);
        return;
    }
    const float scale = 1.0f / (1.0f - d->rate);
#pragma omp parallel
    {
        size_t i0, i1;
        dr_thread_span(total, &i0, &i1);
        dropout_grad_span(d->mask + i0, dy + i0, i1 - i0, scale, store, dx + i0);
    }
}

static void dropout_destroy(dr_layer *l)
{
    dropout_priv *d = l->priv;
    if (d) free(d->mask);
}

static void dropout_describe(const dr_layer *l, char *buf, size_t cap)
{
    snprintf(buf, cap, " rate=%.9g", ((const dropout_priv *)l->priv)->rate);
}

const dr_layer_ops dr_dropout_ops = {
    .type = "dropout",
    .roles = DR_ROLE_KEEPS_GRID | DR_ROLE_DROPOUT,
    .parse = dropout_parse,
    .setup = dropout_setup,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .destroy = dropout_destroy,
    .stores_input_grad = 1,
    .describe = dropout_describe,
};

/* ---- residual add -------------------------------------------------------- */

static int add_parse(dr_layer *l, dr_kv *kv)
{
    if (l->n_in != 2) return dr_kv_fail(kv, "add needs two inputs: from=a,b");
    return 0;
}

static void add_forward(dr_layer *l, dr_pass *p, int n)
{
    const float *a = dr_input(l, p, 0), *b = dr_input(l, p, 1);
    size_t total = (size_t)n * dr_shape_size(l->out_shape);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < total; i++) l->out[i] = a[i] + b[i];
}

static void add_backward(dr_layer *l, dr_pass *p, int n)
{
    (void)p;
    size_t total = (size_t)n * dr_shape_size(l->out_shape);
    for (int k = 0; k < 2; k++) {
        float *d = dr_input_grad(l, k);
        if (!d) continue;
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < total; i++) d[i] += l->dout[i];
    }
}

const dr_layer_ops dr_add_ops = {
    .type = "add",
    .parse = add_parse,
    .setup = same_shape_setup,
    .forward = add_forward,
    .backward = add_backward,
};
