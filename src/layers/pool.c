/* Max pooling (SAME/VALID, TensorFlow rules: padded cells never win) and
 * global average pooling. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../kernels/conv_geom.h"
#include "../kernels/max4.h"
#include "layer.h"

typedef struct {
    int pad_mode;
    dr_conv_geom g;  /* window geometry (kh, kw, strides, padding) */
    int32_t *argmax; /* input offset (within the sample) of each output's max */
} pool_priv;

static const char *const pad_names[] = {"valid", "same", NULL};

static int maxpool_parse(dr_layer *l, dr_kv *kv)
{
    pool_priv *p = l->priv = dr_xcalloc(1, sizeof *p);
    int size, stride;
    if (dr_kv_int(kv, "size", 2, 1, 64, &size) || dr_kv_int(kv, "stride", size, 1, 64, &stride) ||
        dr_kv_choice(kv, "pad", pad_names, DR_PAD_VALID, &p->pad_mode))
        return -1;
    p->g.kh = p->g.kw = size;
    p->g.sh = p->g.sw = stride;
    p->g.groups = 1;
    return 0;
}

static int maxpool_setup(dr_layer *l, const dr_pass *pass)
{
    pool_priv *p = l->priv;
    p->g.ih = l->in_shape.h;
    p->g.iw = l->in_shape.w;
    p->g.ic = p->g.oc = l->in_shape.c;
    dr_conv_geom_resolve(&p->g, p->pad_mode);
    l->out_shape = (dr_shape){p->g.oh, p->g.ow, p->g.oc};
    p->argmax = dr_xalign((size_t)pass->max_batch * dr_shape_size(l->out_shape) * sizeof(int32_t));
    return 0;
}

/* 2x2 windows with stride 2 that lie inside the input: four loads per channel. */
static void maxpool_2x2(const pool_priv *p, const float *in, float *out, int32_t *argmax, int n)
{
    const dr_conv_geom *g = &p->g;
    const int C = g->ic, P = g->oh * g->ow;
    const size_t in_size = (size_t)g->ih * g->iw * C;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < n * P; r++) {
        int s = r / P, oy = (r % P) / g->ow, ox = (r % P) % g->ow;
        const int32_t o00 = ((2 * oy) * g->iw + 2 * ox) * C, o10 = o00 + g->iw * C;
        const int32_t at[4] = {o00, o00 + C, o10, o10 + C};
        const float *src = in + (size_t)s * in_size;
        const float *const v[4] = {src + at[0], src + at[1], src + at[2], src + at[3]};
        dr_max4(v, at, C, out + (size_t)r * C, argmax + (size_t)r * C);
    }
}

static void maxpool_forward(dr_layer *l, dr_pass *pass, int n)
{
    pool_priv *p = l->priv;
    if (l->plan.pooled_by) return; /* the conv before it computed out and argmax */
    const dr_conv_geom *g = &p->g;
    const float *in = dr_input(l, pass, 0);
    const size_t in_size = dr_shape_size(l->in_shape);
    const int C = g->ic, P = g->oh * g->ow;
    if (g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && !g->pad_top && !g->pad_left &&
        2 * g->oh <= g->ih && 2 * g->ow <= g->iw) {
        maxpool_2x2(p, in, l->out, p->argmax, n);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int r = 0; r < n * P; r++) {
        int s = r / P, oy = (r % P) / g->ow, ox = (r % P) % g->ow;
        const float *src = in + (size_t)s * in_size;
        float *dst = l->out + (size_t)r * C;
        int32_t *am = p->argmax + (size_t)r * C;
        int first = 1;
        for (int ky = 0; ky < g->kh; ky++) {
            int y = oy * g->sh - g->pad_top + ky;
            if (y < 0 || y >= g->ih) continue;
            for (int kx = 0; kx < g->kw; kx++) {
                int x = ox * g->sw - g->pad_left + kx;
                if (x < 0 || x >= g->iw) continue;
                int32_t off = (y * g->iw + x) * C;
                const float *v = src + off;
                if (first) { /* the first cell inside the input starts the maximum */
                    for (int c = 0; c < C; c++) {
                        dst[c] = v[c];
                        am[c] = off + c;
                    }
                    first = 0;
                    continue;
                }
                for (int c = 0; c < C; c++) {
                    int gt = v[c] > dst[c];
                    dst[c] = gt ? v[c] : dst[c];
                    am[c] = gt ? off + c : am[c];
                }
            }
        }
    }
}

/* din (n samples of the input) += or, when store, = the gradient scattered to each window's max. */
static void scatter(const dr_layer *l, int n, float *din, int store)
{
    const pool_priv *p = l->priv;
    const size_t in_size = dr_shape_size(l->in_shape), out_size = dr_shape_size(l->out_shape);
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n; s++) { /* per sample: no two threads touch one input */
        float *d = din + (size_t)s * in_size;
        if (store) memset(d, 0, in_size * sizeof(float)); /* zeroed here, while it stays in cache */
        for (size_t i = 0; i < out_size; i++) {
            size_t o = (size_t)s * out_size + i;
            d[p->argmax[o]] += l->dout[o];
        }
    }
}

static void maxpool_backward(dr_layer *l, dr_pass *pass, int n)
{
    float *din = dr_input_grad(l, 0);
    /* computed by its producer: the producer reads dout and argmax */
    if (!din || l->plan.pooled_by) return;
    scatter(l, n, din, dr_grad_store(pass, l, 0));
}

int32_t *dr_pool_argmax(const dr_layer *l) { return ((const pool_priv *)l->priv)->argmax; }

void dr_maxpool_input_grad(const dr_layer *l, int n, float *din) { scatter(l, n, din, 1); }

static void maxpool_destroy(dr_layer *l)
{
    pool_priv *p = l->priv;
    if (p) free(p->argmax);
}

static void maxpool_describe(const dr_layer *l, char *buf, size_t cap)
{
    dr_conv_geom_describe(&((const pool_priv *)l->priv)->g, buf, cap); /* padded cells never win */
}

const dr_layer_ops dr_maxpool_ops = {
    .type = "maxpool",
    .roles = DR_ROLE_KEEPS_GRID | DR_ROLE_MAX_POOL,
    .parse = maxpool_parse,
    .setup = maxpool_setup,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
    .destroy = maxpool_destroy,
    .describe = maxpool_describe,
    .stores_input_grad = 1,
};

/* ---- global average pooling ------------------------------------------- */

static int avgpool_parse(dr_layer *l, dr_kv *kv)
{
    (void)l;
    (void)kv;
    return 0;
}

static int avgpool_setup(dr_layer *l, const dr_pass *p)
{
    (void)p;
    l->out_shape = (dr_shape){1, 1, l->in_shape.c};
    return 0;
}

static void avgpool_forward(dr_layer *l, dr_pass *p, int n)
{
    const float *in = dr_input(l, p, 0);
    const int C = l->in_shape.c, HW = l->in_shape.h * l->in_shape.w;
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n; s++) {
        float *o = l->out + (size_t)s * C;
        for (int c = 0; c < C; c++) o[c] = 0;
        for (int i = 0; i < HW; i++)
            for (int c = 0; c < C; c++) o[c] += in[((size_t)s * HW + i) * C + c];
        for (int c = 0; c < C; c++) o[c] /= (float)HW;
    }
}

static void avgpool_backward(dr_layer *l, dr_pass *p, int n)
{
    (void)p;
    float *din = dr_input_grad(l, 0);
    if (!din) return;
    const int C = l->in_shape.c, HW = l->in_shape.h * l->in_shape.w;
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n; s++)
        for (int i = 0; i < HW; i++)
            for (int c = 0; c < C; c++)
                din[((size_t)s * HW + i) * C + c] += l->dout[(size_t)s * C + c] / (float)HW;
}

const dr_layer_ops dr_avgpool_ops = {
    .type = "avgpool",
    .parse = avgpool_parse,
    .setup = avgpool_setup,
    .forward = avgpool_forward,
    .backward = avgpool_backward,
};

const struct dr_conv_geom_s *dr_pool_geom(const dr_layer *l) { return &((const pool_priv *)l->priv)->g; }
