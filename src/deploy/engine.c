/* The inference engine: runs a deployment file. Float layers (first, last,
 * anything not quantized) run the training code's own forward functions in
 * evaluation mode; fused blocks run bit-GEMM + integer epilogue on codes. */
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../core/filebuf.h"
#include "../core/spin_barrier.h"
#include "../kernels/bitconv.h"
#include "../kernels/bitgemm.h"
#include "../kernels/bitpack.h"
#include "../kernels/direct_conv.h"
#include "../kernels/int8_conv.h"
#include "../layers/linear.h"
#include "../model/netio.h"
#include "../model/plan.h"
#include "../quant/quantize.h"
#include "deploy.h"
#include "epilogue.h"
#include "format.h"

typedef struct {
    int W, M, oc_pad;
    float alpha;         /* float epilogue: out = alpha (2 s - M asum) + bias */
    uint64_t *y;         /* weights, lane-interleaved bit-planes */
    dr_thresholds th;    /* fused: output codes from accumulators */
    uint64_t *xpix, *x;  /* packed input pixels, bit im2col      */
    int32_t *asum, *s;
    int32_t *scratch;    /* per thread: one sample's products and row sums */
    uint64_t *wscratch;  /* per thread: one sample's packed pixels and bit im2col */
    int scratch_threads; /* the threads the scratch was sized for */
    dr_bitconv conv;     /* fused 3x3-like convs: implicit, no im2col (conv.x set) */
} fused_block;

/* An 8-bit integer first layer and the chain after it ([bn] [maxpool] act
 * [maxpool]) as one pass to the codes of layer `out`. */
typedef struct {
    dr_int8_conv conv;
    float *scale; /* [oc]: w = scale q */
    dr_int8_epilogue ep;
    float *mul, *add;
    int out;
} int8_first;

struct dr_engine {
    dr_net *net;           /* its layers' plans say which fuse (infer_role) */
    fused_block *blocks;   /* per layer (used at heads) */
    uint8_t **codes;       /* per layer: its output as integer codes (act layers) */
    int *levels;           /* per layer: n of its codes (0: none) */
    unsigned char *has_f, *has_c;
    char bits[32];
    int n_fused;
    double *seconds; /* per layer, when profiling (dr_engine_profile) */
    float **wt;      /* per float conv with a short reduction: weights as [K][oc] (direct conv) */
    unsigned char *chained;      /* direct conv -> [maxpool] -> act (the plan's chain) run as one pass to codes */
    unsigned char *skip;         /* layers that pass computes                                    */
    int8_first **int8;           /* per layer: the integer first layer's pass (NULL: none)       */
    uint8_t *pixels;             /* its input: the batch's pixels as bytes                       */
};

/* ---- reading the file ------------------------------------------------------ */

typedef struct {
    const char *path;
    const uint8_t *p;
    size_t pos, end;
} reader;

static int take(reader *r, void *dst, size_t n, const char *what)
{
    if (r->end - r->pos < n) return dr_fail("%s: truncated %s", r->path, what);
    if (dst) memcpy(dst, r->p + r->pos, n);
    r->pos += n;
    return 0;
}

static int expect_record(reader *r, const dr_layer *l, int kind)
{
    uint16_t nl = 0;
    uint8_t k = 0;
    char name[DR_NAME_MAX + 1];
    if (take(r, &nl, 2, "layer record")) return -1;
    if (nl > DR_NAME_MAX) return dr_fail("%s: corrupt layer record (name of %u bytes)", r->path, nl);
    if (take(r, name, nl, "layer record") || take(r, &k, 1, "layer record")) return -1;
    name[nl] = 0;
    if (strcmp(name, l->name) || k != kind)
        return dr_fail("%s: expected layer '%s' (kind %d), found '%s' (kind %d): the file and its model differ",
                       r->path, l->name, kind, name, k);
    return 0;
}

static int take_floats(reader *r, float *dst, size_t count, const char *name)
{
    uint64_t n = 0;
    if (take(r, &n, 8, name)) return -1;
    if (n != count)
        return dr_fail("%s: layer '%s' has %llu values, the model needs %zu", r->path, name,
                       (unsigned long long)n, count);
    if (take(r, dst, count * sizeof(float), name)) return -1;
    for (size_t i = 0; i < count; i++)
        if (!isfinite(dst[i]))
            return dr_fail("%s: layer '%s' holds a non-finite value (%g at index %zu): the file is damaged", r->path,
                           name, dst[i], i);
    return 0;
}

/* Weight codes (unpacked from bit-planes) with their affine form. */
static uint8_t *take_weights(reader *r, dr_layer *l, float *wscale, int *M, int *W)
{
    dr_linear *c = l->priv;
    uint8_t w8 = 0;
    uint32_t m = 0, oc = 0, K = 0;
    if (take(r, &w8, 1, l->name) || take(r, wscale, 4, l->name) || take(r, &m, 4, l->name) ||
        take(r, &oc, 4, l->name) || take(r, &K, 4, l->name))
        return NULL;
    if (!isfinite(*wscale) || !(*wscale >= 0)) {
        dr_fail("%s: layer '%s': weight scale %g is not a finite, non-negative number: the file is damaged", r->path,
                l->name, *wscale);
        return NULL;
    }
    if (w8 < 1 || w8 > 8 || (int)oc != c->g.oc || (int)K != dr_conv_k(&c->g) || m > 255) {
        dr_fail("%s: layer '%s': weights %ux%u at %u bits, the model needs %dx%d at 1..8", r->path, l->name,
                oc, K, w8, c->g.oc, dr_conv_k(&c->g));
        return NULL;
    }
    const int words = ((int)K + 63) / 64;
    const size_t bytes = (size_t)oc * w8 * words * 8;
    if (r->end - r->pos < bytes) {
        dr_fail("%s: truncated weights of '%s'", r->path, l->name);
        return NULL;
    }
    uint8_t *codes = dr_xcalloc((size_t)oc * K, 1);
    for (uint32_t o = 0; o < oc; o++)
        for (int b = 0; b < w8; b++)
            for (uint32_t k = 0; k < K; k++) {
                uint64_t word;
                memcpy(&word, r->p + r->pos + (((size_t)o * w8 + b) * words + k / 64) * 8, 8);
                codes[(size_t)o * K + k] |= (uint8_t)(((word >> (k % 64)) & 1) << b);
            }
    r->pos += bytes;
    *M = (int)m, *W = w8;
    return codes;
}

/* Weight codes [oc][K] packed for the bit-GEMM (fb->W planes, lane-interleaved) into fb->y. */
static void pack_weights(fused_block *fb, const dr_conv_geom *g, const uint8_t *codes)
{
    fb->oc_pad = dr_round_up(g->oc, DR_BG_COLS);
    fb->y = dr_xalign((size_t)fb->W * g->kh * g->kw * ((g->ic + 63) / 64) * fb->oc_pad * sizeof(uint64_t));
    dr_pack_cols(codes, g->oc, g->kh * g->kw, g->ic, fb->W, fb->oc_pad, fb->y, NULL);
}

static int load_fused(dr_engine *e, reader *r, int i)
{
    dr_net *net = e->net;
    dr_layer *l = &net->layers[i];
    dr_linear *c = l->priv;
    fused_block *fb = &e->blocks[i];
    float wscale;
    uint8_t *codes = take_weights(r, l, &wscale, &fb->M, &fb->W);
    if (!codes) return -1;
    const int oc = c->g.oc;
    pack_weights(fb, &c->g, codes);
    free(codes);
    uint8_t ob = 0, cabs = 0;
    if (take(r, &ob, 1, l->name) || take(r, &cabs, 1, l->name)) return -1;
    const dr_layer *act = &net->layers[l->plan.infer_act];
    if (ob != act->plan.abits || cabs != (act->plan.act_fn == DR_ACT_CABS))
        return dr_fail("%s: layer '%s': output %u bits (cabs %u), the model says %d bits", r->path, l->name, ob,
                       cabs, act->plan.abits);
    dr_thresholds *th = &fb->th;
    *th = (dr_thresholds){oc, fb->oc_pad, (int)dr_levels(ob), cabs, NULL, NULL, NULL, NULL, NULL};
    th->sign = dr_xcalloc((size_t)th->oc_pad, sizeof(int32_t));
    th->up = dr_xcalloc((size_t)th->oc_pad * th->nout, sizeof(int32_t));
    th->lo = dr_xcalloc((size_t)th->oc_pad * th->nout, sizeof(int32_t));
    int32_t *t = dr_xmalloc(sizeof(int32_t) * (size_t)oc * th->nout);
    int8_t *sign = dr_xmalloc((size_t)oc);
    int bad = take(r, sign, (size_t)oc, l->name);
    for (int o = 0; o < oc && !bad; o++) {
        if (sign[o] != 1 && sign[o] != -1) bad = dr_fail("%s: layer '%s': corrupt channel sign %d", r->path, l->name, sign[o]);
        th->sign[o] = sign[o];
    }
    for (int pass = 0; pass < 1 + cabs && !bad; pass++) { /* file: [oc][k]; kept as [k][oc_pad] */
        bad = take(r, t, sizeof(int32_t) * (size_t)oc * th->nout, l->name);
        for (int o = 0; o < oc && !bad; o++)
            for (int k = 0; k < th->nout; k++) (pass ? th->lo : th->up)[(size_t)k * th->oc_pad + o] = t[(size_t)o * th->nout + k];
    }
    free(t), free(sign);
    if (bad) return -1;
    { /* |acc'| <= |2q - M| (2^A - 1) K: at most 3,456 for W,A = 1,2 on 1,152 inputs */
        const long wmax = DR_MAX(fb->M, 2 * ((1 << fb->W) - 1) - fb->M), amax = (1 << l->plan.infer_src_bits) - 1;
        dr_thresholds_narrow(th, wmax * amax * dr_conv_k(&c->g));
    }
    if (!dr_linear_is_fc(l) && dr_bitconv_suits(&c->g))
        dr_bitconv_init(&fb->conv, &c->g, l->plan.infer_src_bits, net->max_batch);
    e->n_fused++;
    return 0;
}

static int is_products(const dr_layer *l) { return (l->ops->roles & DR_ROLE_PRODUCTS) != 0; }

/* A products layer's biases: u32 count + floats. */
static int take_bias(reader *r, dr_layer *l)
{
    uint32_t nb = 0;
    if (take(r, &nb, 4, l->name)) return -1;
    if (nb != (((dr_linear *)l->priv)->bias ? l->params[1].size : 0))
        return dr_fail("%s: layer '%s': %u biases, the model needs otherwise", r->path, l->name, nb);
    if (nb && take(r, l->params[1].value, nb * sizeof(float), l->name)) return -1;
    for (uint32_t k = 0; k < nb; k++)
        if (!isfinite(l->params[1].value[k]))
            return dr_fail("%s: layer '%s' holds a non-finite bias: the file is damaged", r->path, l->name);
    return 0;
}

/* The kind of the next layer record, or -1. */
static int next_kind(const reader *r)
{
    uint16_t nl;
    if (r->end - r->pos < 2) return -1;
    memcpy(&nl, r->p + r->pos, 2);
    return r->end - r->pos < 3u + nl ? -1 : r->p[r->pos + 2 + nl];
}

/* The integer pass of first layer i when the chain after it suits (else the
 * layer runs as a float conv on the dequantized weights): its epilogue from
 * the layers after it, all loaded. Returns whether it runs. */
static int plan_int8(dr_engine *e, int i)
{
    dr_net *net = e->net;
    dr_layer *l = &net->layers[i];
    const dr_plan *st = &l->plan;
    const dr_conv_geom *g = dr_linear_geom(l);
    const int pool = st->chain_pool >= 0 ? st->chain_pool : st->chain_pool_after;
    const int out = st->chain_pool_after >= 0 ? st->chain_pool_after : st->chain_act;
    if (st->chain_act < 0 || !e->codes[out]) return 0;
    if (pool >= 0 && !dr_direct_pool_suits(g, dr_pool_geom(&net->layers[pool]))) return 0;
    int8_first *f = e->int8[i];
    const float *scale = f->scale;
    const int oc = g->oc;
    f->mul = dr_xmalloc(sizeof(float) * oc), f->add = dr_xmalloc(sizeof(float) * oc);
    const float *bias = dr_linear_bias(l);
    for (int o = 0; o < oc; o++) { /* v = acc scale / 256 + bias, then the batch norm */
        double m = (double)scale[o] * DR_PIXEL_SCALE, a = bias ? bias[o] : 0;
        if (st->chain_bn >= 0) {
            const dr_layer *bn = &net->layers[st->chain_bn];
            const float *gamma = bn->params[0].value, *beta = bn->params[1].value, *mean = bn->state,
                        *var = bn->state + oc;
            const double inv = 1.0f / sqrtf(var[o] + dr_bn_eps(bn)); /* as the float layer computes it */
            m *= gamma[o] * inv;
            a = gamma[o] * inv * (a - mean[o]) + beta[o];
        }
        f->mul[o] = (float)m, f->add[o] = (float)a;
    }
    const dr_layer *act = &net->layers[st->chain_act];
    f->ep = (dr_int8_epilogue){f->mul, f->add, pool >= 0 ? dr_pool_geom(&net->layers[pool]) : NULL,
                               st->chain_pool_after >= 0, act->plan.act_fn == DR_ACT_CABS, dr_levels(act->plan.abits)};
    f->out = out;
    const int chain[4] = {st->chain_bn, st->chain_pool, st->chain_act, st->chain_pool_after};
    for (int k = 0; k < 4; k++)
        if (chain[k] >= 0) e->skip[chain[k]] = 1;
    return 1;
}

static void free_int8(int8_first *f)
{
    if (!f) return;
    dr_int8_conv_free(&f->conv);
    free(f->scale), free(f->mul), free(f->add), free(f);
}

/* Kind 3: the first layer's 8-bit weights per output channel. */
static int load_int8(dr_engine *e, reader *r, int i)
{
    dr_layer *l = &e->net->layers[i];
    const dr_conv_geom *g = dr_linear_geom(l);
    const int oc = g->oc, K = dr_conv_k(g);
    uint32_t foc = 0, fk = 0;
    if (expect_record(r, l, DR_LAYR_INT8) || take(r, &foc, 4, l->name) || take(r, &fk, 4, l->name)) return -1;
    if ((int)foc != oc || (int)fk != K)
        return dr_fail("%s: layer '%s': 8-bit weights %ux%u, the model needs %dx%d", r->path, l->name, foc, fk, oc, K);
    float *scale = dr_xmalloc(sizeof(float) * oc);
    int8_t *q = dr_xmalloc((size_t)oc * K);
    int bad = take(r, scale, sizeof(float) * oc, l->name) || take(r, q, (size_t)oc * K, l->name);
    for (int o = 0; o < oc && !bad; o++)
        if (!isfinite(scale[o]) || scale[o] < 0)
            bad = dr_fail("%s: layer '%s': weight scale %g of channel %d is not a finite, non-negative number: the "
                          "file is damaged", r->path, l->name, scale[o], o);
    for (size_t k = 0; k < (size_t)oc * K && !bad; k++)
        if (q[k] == INT8_MIN)
            bad = dr_fail("%s: layer '%s': weight code -128 (expected -127..127): the file is damaged", r->path, l->name);
    if (!bad) bad = take_bias(r, l);
    if (!bad) {
        /* the float view of the same weights, for any path that computes in float */
        for (size_t k = 0; k < (size_t)oc * K; k++) l->params[0].value[k] = scale[k / K] * q[k];
        int8_first *f = e->int8[i] = dr_xcalloc(1, sizeof *f);
        dr_int8_conv_init(&f->conv, g, q);
        f->scale = scale, scale = NULL;
    }
    free(scale), free(q);
    return bad ? -1 : 0;
}

static int load_layers(dr_engine *e, reader *r)
{
    dr_net *net = e->net;
    const int int8_first = dr_plan_int8_first(net); /* the layer a kind-3 record may be */
    for (int i = 0; i < net->n_layers; i++) {
        dr_layer *l = &net->layers[i];
        const dr_plan *st = &l->plan;
        if (st->infer_role == DR_INFER_HEAD) {
            if (expect_record(r, l, DR_LAYR_FUSED) || load_fused(e, r, i)) return -1;
        } else if (st->infer_role == DR_INFER_FLOAT && st->wbits < DR_FLOAT_BITS && is_products(l)) {
            float wscale;
            int M, W;
            uint8_t *codes;
            if (expect_record(r, l, DR_LAYR_PACKED) || !(codes = take_weights(r, l, &wscale, &M, &W))) return -1;
            /* the values are the quantized weights: the engine runs the float product on them */
            for (size_t k = 0; k < l->params[0].size; k++) l->params[0].value[k] = wscale * (float)(2 * codes[k] - M);
            if (st->infer_src >= 0) { /* coded input: the bit product, float epilogue */
                const dr_conv_geom *g = &((dr_linear *)l->priv)->g;
                fused_block *fb = &e->blocks[i];
                fb->W = W, fb->M = M;
                fb->alpha = wscale / dr_levels(st->infer_src_bits);
                pack_weights(fb, g, codes);
            }
            free(codes);
            if (take_bias(r, l)) return -1;
        } else if (st->infer_role == DR_INFER_FLOAT && i == int8_first &&
                   next_kind(r) == DR_LAYR_INT8) {
            if (load_int8(e, r, i)) return -1;
        } else if (st->infer_role == DR_INFER_FLOAT && (l->n_params || l->state_size)) {
            uint32_t na = 0;
            if (expect_record(r, l, DR_LAYR_FLOAT) || take(r, &na, 4, l->name)) return -1;
            if (na != (uint32_t)(l->n_params + (l->state_size ? 1 : 0)))
                return dr_fail("%s: layer '%s' has %u arrays, the model needs %d", r->path, l->name, na,
                               l->n_params + (l->state_size ? 1 : 0));
            for (int j = 0; j < l->n_params; j++)
                if (take_floats(r, l->params[j].value, l->params[j].size, l->name)) return -1;
            if (l->state_size && take_floats(r, l->state, l->state_size, l->name)) return -1;
        }
    }
    if (r->pos != r->end) return dr_fail("%s: %zu unexpected bytes after the last layer", r->path, r->end - r->pos);
    for (int i = 0; i < net->n_layers; i++)
        if (e->int8[i] && !plan_int8(e, i)) free_int8(e->int8[i]), e->int8[i] = NULL;
    for (int i = 0; i < net->n_layers; i++) { /* float convs with short reductions run direct */
        dr_layer *l = &net->layers[i];
        if (l->plan.infer_role != DR_INFER_FLOAT || !is_products(l) || dr_linear_is_fc(l) || e->blocks[i].y ||
            e->int8[i])
            continue;
        const dr_conv_geom *g = &((dr_linear *)l->priv)->g;
        if (!dr_direct_suits(g)) continue; /* the rest: im2col + sgemm */
        e->wt[i] = dr_xalign((size_t)dr_conv_k(g) * dr_round_up(g->oc, 16) * sizeof(float));
        dr_direct_weights(g, l->params[0].value, e->wt[i]);
        const int pool = l->plan.chain_pool, act = l->plan.chain_act;
        if (act >= 0 && e->codes[act] && l->plan.chain_bn < 0 && l->plan.chain_pool_after < 0) {
            e->chained[i] = 1;
            if (pool >= 0) e->skip[pool] = 1;
            e->skip[act] = 1;
        }
    }
    return 0;
}

dr_engine *dr_engine_load(const char *path, int max_batch)
{
    size_t len;
    uint8_t *buf = (uint8_t *)dr_read_file(path, &len);
    if (!buf) return NULL;
    dr_engine *e = dr_xcalloc(1, sizeof *e);
    char *model = NULL;
    dr_shape input = {0, 0, 0};
    int have_bits = 0, bounded_act = -1;
    dr_bits bits;
    reader layers = {path, buf, 0, 0};
    dr_section sec[16], clss = {{0}, 0, 0};
    int ns = dr_read_sections(path, buf, len, &DR_DEPLOY_FILE, NULL, sec, 16);
    if (ns < 0) goto fail;
    for (int k = 0; k < ns; k++) {
        size_t pos = sec[k].off, n = sec[k].len;
        const char *tag = sec[k].tag;
        if (!memcmp(tag, "MODL", 4)) model = dr_xstrndup((const char *)buf + pos, n);
        else if (!memcmp(tag, "INPT", 4)) {
            if (dr_get_input(path, buf + pos, n, &input)) goto fail;
        }
        else if (!memcmp(tag, "BITS", 4)) {
            if (dr_get_bits(path, buf + pos, n, &bits, &bounded_act)) goto fail;
            have_bits = 1;
        } else if (!memcmp(tag, "LAYR", 4)) layers.pos = pos, layers.end = pos + n;
        else if (!memcmp(tag, "CLSS", 4)) clss = sec[k];
    }
    if (!model || !have_bits || !layers.end || !input.c) {
        dr_fail("%s: model file lacks a required section", path);
        goto fail;
    }
    char origin[1100];
    snprintf(origin, sizeof origin, "%s (model)", path);
    dr_net_options nopt = {.channels = input.c, .height = input.h, .width = input.w, .max_batch = max_batch};
    if (!(e->net = dr_net_parse(model, origin, &nopt))) goto fail;
    e->net->bounded_act = bounded_act;
    if (clss.off && dr_get_class_names(path, buf + clss.off, clss.len, dr_net_classes(e->net), &e->net->class_names))
        goto fail;
    if (dr_net_apply_bits(e->net, &bits)) goto fail;
    dr_bits_format(&bits, e->bits, sizeof e->bits);
    dr_net *net = e->net;
    net->pass.bit_kernels = 0; /* layers outside fused blocks compute in float */
    const int L = net->n_layers;
    for (int i = 0; i < L; i++) /* the engine computes convs itself: a max-pool after one computes its own; */
        if (net->layers[i].plan.fused_pool || net->layers[i].plan.fused_act) /* it reads a bn's out */
            dr_net_keep_output(net, i);
    e->blocks = dr_xcalloc((size_t)L, sizeof *e->blocks);
    e->codes = dr_xcalloc((size_t)L, sizeof *e->codes);
    e->levels = dr_xcalloc((size_t)L, sizeof *e->levels);
    e->has_f = dr_xcalloc((size_t)L, 1);
    e->has_c = dr_xcalloc((size_t)L, 1);
    e->wt = dr_xcalloc((size_t)L, sizeof *e->wt);
    e->chained = dr_xcalloc((size_t)L, 1);
    e->skip = dr_xcalloc((size_t)L, 1);
    e->int8 = dr_xcalloc((size_t)L, sizeof *e->int8);
    for (int i = 0; i < L; i++) {
        const dr_plan *st = &net->layers[i].plan;
        if (st->infer_src < 0) continue;
        const int head = st->infer_role == DR_INFER_HEAD;
        int ends[2] = {st->infer_src, head ? st->infer_act : -1},
            bits[2] = {st->infer_src_bits, head ? net->layers[st->infer_act].plan.abits : 0};
        for (int k = 0; k < 1 + head; k++)
            if (!e->codes[ends[k]]) {
                e->codes[ends[k]] = dr_xalign((size_t)max_batch * dr_shape_size(net->layers[ends[k]].out_shape));
                e->levels[ends[k]] = (int)dr_levels(bits[k]);
            }
    }
    if (load_layers(e, &layers)) goto fail;
    free(buf), free(model);
    return e;
fail:
    free(buf), free(model);
    dr_engine_free(e);
    return NULL;
}

void dr_engine_free(dr_engine *e)
{
    if (!e) return;
    for (int i = 0; e->net && e->blocks && i < e->net->n_layers; i++) { /* a failed load may stop before blocks */
        fused_block *fb = &e->blocks[i];
        free(fb->y), free(fb->th.sign), free(fb->th.up), free(fb->th.lo), free(fb->th.up16), free(fb->th.lo16), free(fb->xpix), free(fb->x);
        free(fb->asum), free(fb->s), free(fb->scratch), free(fb->wscratch);
        dr_bitconv_free(&fb->conv);
        free(e->codes[i]);
        if (e->wt) free(e->wt[i]);
        if (e->int8) free_int8(e->int8[i]);
    }
    free(e->wt), free(e->chained), free(e->skip), free(e->int8), free(e->pixels);
    free(e->seconds);
    free(e->blocks), free(e->codes), free(e->levels), free(e->has_f), free(e->has_c);
    dr_net_free(e->net);
    free(e);
}

/* ---- running ------------------------------------------------------------------ */

static void ensure_float(dr_engine *e, int j, int n)
{
    if (j < 0 || e->has_f[j]) return;
    dr_layer *l = &e->net->layers[j];
    const size_t count = (size_t)n * dr_shape_size(l->out_shape);
    const float lv = (float)e->levels[j];
    for (size_t k = 0; k < count; k++) l->out[k] = (float)e->codes[j][k] / lv; /* as f_a rounds */
    e->has_f[j] = 1;
}

static void ensure_codes(dr_engine *e, int j, int n)
{
    if (e->has_c[j]) return;
    ensure_float(e, j, n);
    dr_layer *l = &e->net->layers[j];
    const size_t count = (size_t)n * dr_shape_size(l->out_shape);
    const float lv = (float)e->levels[j];
    for (size_t k = 0; k < count; k++) e->codes[j][k] = (uint8_t)dr_rint(l->out[k] * lv);
    e->has_c[j] = 1;
}

static int32_t *grow_i32(int32_t **p, size_t count)
{
    if (!*p) *p = dr_xalign(count * sizeof(int32_t));
    return *p;
}

/* The bit product through the bit im2col of samples [first, first + count)
 * of a conv/fc's coded source: s[rows][oc_pad] and the row sums asum[rows];
 * xpix and x receive the packed pixels and the im2col rows. serial: the
 * packing on the calling thread only; gemm_serial: the product too. Returns
 * the rows (count P). */
static int im2col_product(dr_engine *e, int i, int first, int count, uint64_t *xpix, uint64_t *x, int32_t *asum,
                          int32_t *s, int serial, int gemm_serial)
{
    const dr_layer *l = &e->net->layers[i];
    const dr_conv_geom *g = dr_linear_geom(l);
    const fused_block *fb = &e->blocks[i];
    const int A = l->plan.infer_src_bits, cw = (g->ic + 63) / 64, KW = g->kh * g->kw * cw, rows = count * dr_conv_p(g);
    const int pixels = count * g->ih * g->iw, rows_pad = dr_round_up(rows, DR_BG_ROWS);
    const uint8_t *codes = e->codes[l->plan.infer_src] + (size_t)first * g->ih * g->iw * g->ic;
    if (serial) {
        dr_pack_rows_serial(codes, pixels, g->ic, A, cw, xpix, NULL);
        dr_bit_im2col_serial(g, count, xpix, A, x, rows_pad);
        dr_row_sums_serial(x, rows, A, KW, asum);
    } else {
        dr_pack_rows(codes, pixels, g->ic, A, cw, xpix);
        dr_bit_im2col(g, count, xpix, A, x, rows_pad);
        dr_row_sums(x, rows, A, KW, asum);
    }
    dr_bitgemm(&(dr_bitgemm_args){.x = x, .rows = rows, .xplanes = A, .y = fb->y, .cols_pad = fb->oc_pad,
                                  .yplanes = fb->W, .words = KW, .s = s, .serial = gemm_serial});
    return rows;
}

/* The bit product of a conv/fc over the codes of all n samples of its source,
 * on all threads: s[rows][oc_pad] and the row sums of the codes; returns the
 * row count. */
static int bit_product(dr_engine *e, int i, int n, int32_t **s_out, int32_t **asum_out)
{
    dr_net *net = e->net;
    const dr_plan *st = &net->layers[i].plan;
    const dr_conv_geom *g = dr_linear_geom(&net->layers[i]);
    fused_block *fb = &e->blocks[i];
    const int A = st->infer_src_bits, cw = (g->ic + 63) / 64, KW = g->kh * g->kw * cw, B = net->max_batch;
    const size_t max_rows_pad = (size_t)dr_round_up(B * dr_conv_p(g), DR_BG_ROWS);
    if (!fb->xpix) {
        fb->xpix = dr_xalign((size_t)B * g->ih * g->iw * A * cw * sizeof(uint64_t));
        fb->x = dr_xalign(max_rows_pad * A * KW * sizeof(uint64_t));
    }
    ensure_codes(e, st->infer_src, n);
    int32_t *asum = grow_i32(&fb->asum, max_rows_pad), *s = grow_i32(&fb->s, max_rows_pad * fb->oc_pad);
    *s_out = s, *asum_out = asum;
    /* few rows (a small batch of a late layer): packed on this thread, no team to start and wait
     * for; the product too unless its weights are wide enough to share (conv6 of Model A at
     * batch 1: 16 column blocks of 50 words, one row, bound by reading the weights) */
    const int few = n * dr_conv_p(g) < 16, wide = fb->oc_pad / DR_BG_COLS >= 4 * omp_get_max_threads() && KW >= 32;
    return im2col_product(e, i, 0, n, fb->xpix, fb->x, asum, s, few, few && !wide);
}

/* A bit conv whose output goes on in float: out = alpha (2 s - M asum) + bias. */
static void run_bit_float(dr_engine *e, int i, int n)
{
    dr_layer *l = &e->net->layers[i];
    dr_linear *c = l->priv;
    fused_block *fb = &e->blocks[i];
    int32_t *s, *asum;
    const int rows = bit_product(e, i, n, &s, &asum), oc = c->g.oc;
    const float *bias = c->bias ? l->params[1].value : NULL;
#pragma omp parallel for schedule(static) if (rows >= 16)
    for (int r = 0; r < rows; r++)
        for (int o = 0; o < oc; o++)
            l->out[(size_t)r * oc + o] =
                fb->alpha * (float)(2 * s[(size_t)r * fb->oc_pad + o] - fb->M * asum[r]) + (bias ? bias[o] : 0.0f);
}

/* A fused block's epilogue over samples [first, first + count), reading
 * bit products s (row 0: the first sample's) with row sums asum. */
static dr_epilogue epilogue_of(dr_engine *e, int i, int first, int count, const int32_t *s, const int32_t *asum)
{
    const dr_net *net = e->net;
    const dr_plan *st = &net->layers[i].plan;
    const dr_conv_geom *g = dr_linear_geom(&net->layers[i]);
    const fused_block *fb = &e->blocks[i];
    const dr_conv_geom *pg = st->infer_pool >= 0 ? dr_pool_geom(&net->layers[st->infer_pool]) : NULL;
    const size_t sample_rows = fb->conv.x ? (size_t)fb->conv.rows_pad : (size_t)g->oh * g->ow;
    const size_t out_pixels = pg ? (size_t)pg->oh * pg->ow : (size_t)g->oh * g->ow;
    return (dr_epilogue){&fb->th, s, (size_t)fb->oc_pad, asum, fb->M, count, g->oh, g->ow, sample_rows,
                         pg, st->infer_pool_before_bn,
                         e->codes[st->infer_act] + (size_t)first * out_pixels * g->oc};
}

/* A block one sample at a time per thread: packing, product and epilogue of
 * a sample stay in the thread's cache (the batch-wide steps would stream
 * every intermediate through memory and wait at a barrier after each). */
static void run_fused_by_sample(dr_engine *e, int i, int n)
{
    const dr_plan *st = &e->net->layers[i].plan;
    const dr_conv_geom *g = dr_linear_geom(&e->net->layers[i]);
    fused_block *fb = &e->blocks[i];
    dr_bitconv *c = &fb->conv;
    const int implicit = c->x != NULL, threads = omp_get_max_threads(), A = st->infer_src_bits, cw = (g->ic + 63) / 64;
    const size_t rows = (size_t)dr_round_up(dr_conv_p(g), DR_BG_ROWS);
    const size_t per = rows * (fb->oc_pad + 1); /* products, then row sums */
    const size_t wper = implicit ? 0 : ((size_t)g->ih * g->iw + rows * g->kh * g->kw) * A * cw;
    if (fb->scratch_threads < threads) {
        free(fb->scratch), free(fb->wscratch);
        fb->scratch = dr_xalign(per * threads * sizeof(int32_t));
        fb->wscratch = wper ? dr_xalign(wper * threads * sizeof(uint64_t)) : NULL;
        fb->scratch_threads = threads;
    }
#pragma omp parallel
    {
        int32_t *s = fb->scratch + per * (size_t)omp_get_thread_num(), *asum = s + rows * fb->oc_pad;
        uint64_t *w = fb->wscratch ? fb->wscratch + wper * (size_t)omp_get_thread_num() : NULL;
#pragma omp for schedule(dynamic) /* a core slowed by other work takes fewer samples */
        for (int j = 0; j < n; j++) {
            if (implicit) {
                dr_bitconv_pack(c, e->codes[st->infer_src], j, 1, 1);
                dr_bitconv_product(c, j, 1, fb->y, fb->W, fb->oc_pad, s, 1);
            } else {
                im2col_product(e, i, j, 1, w, w + (size_t)g->ih * g->iw * A * cw, asum, s, 1, 1);
            }
            dr_epilogue ep = epilogue_of(e, i, j, 1, s, implicit ? c->asum + (size_t)j * c->rows_pad : asum);
            dr_epilogue_rows(&ep, 0, st->infer_pool >= 0 ? ep.pool->oh : g->oh);
        }
    }
}

#define CHAIN_MAX 32

/* At a small batch, the implicit fused blocks from layer i on that follow one
 * another (nothing but their own members between them; at most `most`) in
 * one parallel region: each block's steps on all threads, a spinning barrier
 * where one step needs another's results. Returns the last block's layer. */
static int run_small_chain(dr_engine *e, int i, int n, int most)
{
    const dr_net *net = e->net;
    int heads[CHAIN_MAX], nh = 0;
    dr_epilogue eps[CHAIN_MAX];
    int32_t *prods[CHAIN_MAX]; /* each block's products */
    for (int j = i; j < net->n_layers && nh < DR_MIN(most, CHAIN_MAX); j++) {
        const int role = net->layers[j].plan.infer_role;
        if (role == DR_INFER_HEAD && e->blocks[j].conv.x) heads[nh++] = j;
        else if (role != DR_INFER_MEMBER && role != DR_INFER_SKIP) break;
    }
    for (int k = 0; k < nh; k++) {
        fused_block *fb = &e->blocks[heads[k]];
        const int src = net->layers[heads[k]].plan.infer_src;
        int made = 0; /* by a block before it in the chain */
        for (int q = 0; q < k; q++) made |= net->layers[heads[q]].plan.infer_act == src;
        if (!made) ensure_codes(e, src, n);
        prods[k] = grow_i32(&fb->s, (size_t)net->max_batch * fb->conv.rows_pad * fb->oc_pad);
        eps[k] = epilogue_of(e, heads[k], 0, n, prods[k], fb->conv.asum);
    }
    dr_spin_barrier bar = {0};
#pragma omp parallel /* one team for every step: a small batch's layers are short next to team starts */
    {
        const int id = omp_get_thread_num(), nt = omp_get_num_threads();
        for (int k = 0; k < nh; k++) {
            fused_block *fb = &e->blocks[heads[k]];
            dr_bitconv *c = &fb->conv;
            if (k > 0) dr_spin_barrier_wait(&bar, nt); /* the codes of the block before */
            dr_bitconv_pack_part(c, e->codes[net->layers[heads[k]].plan.infer_src], 0, n, id, nt);
            dr_spin_barrier_wait(&bar, nt);
            dr_bitconv_sums_part(c, 0, n, id, nt);
            dr_bitconv_product_part(c, 0, n, fb->y, fb->W, fb->oc_pad, prods[k], id, nt);
            dr_spin_barrier_wait(&bar, nt);
            dr_epilogue_part(&eps[k], id, nt);
        }
    }
    for (int k = 0; k < nh; k++) {
        const int act = net->layers[heads[k]].plan.infer_act;
        e->has_c[act] = 1;
        e->has_f[act] = 0;
    }
    return heads[nh - 1];
}

static int small_batch(int n) { return n < 2 * omp_get_max_threads(); }

/* Fused block i (and at a small batch the implicit blocks right after it, but
 * one by one when profiled); returns the last block's layer. */
static int run_fused(dr_engine *e, int i, int n)
{
    const dr_plan *st = &e->net->layers[i].plan;
    fused_block *fb = &e->blocks[i];
    if (small_batch(n) && fb->conv.x) return run_small_chain(e, i, n, e->seconds ? 1 : CHAIN_MAX);
    ensure_codes(e, st->infer_src, n);
    if (!small_batch(n)) {
        run_fused_by_sample(e, i, n);
    } else {
        int32_t *s, *asum;
        bit_product(e, i, n, &s, &asum);
        dr_epilogue ep = epilogue_of(e, i, 0, n, s, asum);
        dr_epilogue_run(&ep);
    }
    e->has_c[st->infer_act] = 1;
    e->has_f[st->infer_act] = 0;
    return i;
}

static void pool_codes(dr_engine *e, int i, int n)
{
    const dr_layer *l = &e->net->layers[i];
    const dr_conv_geom *g = dr_pool_geom(l);
    const uint8_t *in = e->codes[l->src[0]];
    uint8_t *out = e->codes[i];
    const int C = g->ic;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < n * g->oh * g->ow; r++) {
        const int s = r / (g->oh * g->ow), oy = r / g->ow % g->oh, ox = r % g->ow;
        uint8_t *dst = out + (size_t)r * C;
        memset(dst, 0, (size_t)C);
        for (int ky = 0; ky < g->kh; ky++)
            for (int kx = 0; kx < g->kw; kx++) {
                const int y = oy * g->sh - g->pad_top + ky, x = ox * g->sw - g->pad_left + kx;
                if (y < 0 || y >= g->ih || x < 0 || x >= g->iw) continue;
                const uint8_t *v = in + (((size_t)s * g->ih + y) * g->iw + x) * C;
                for (int c = 0; c < C; c++) dst[c] = v[c] > dst[c] ? v[c] : dst[c];
            }
    }
    e->has_c[i] = 1;
}

/* Max-pool, bounded activation and quantization of a float layer's output in
 * one pass, straight to codes: max(x) then h then rint(h n) is what the
 * float layers compute (adding the bias commutes with max; the act layer
 * rounds h n to the nearest code). */
static void pool_act_codes(dr_engine *e, int i, int n)
{
    dr_net *net = e->net;
    const dr_layer *l = &net->layers[i], *act = &net->layers[l->plan.chain_act];
    const int cabs = act->plan.act_fn == DR_ACT_CABS, C = l->out_shape.c;
    const float lv = dr_levels(act->plan.abits);
    uint8_t *out = e->codes[l->plan.chain_act];
    const dr_conv_geom *pg = l->plan.chain_pool >= 0 ? dr_pool_geom(&net->layers[l->plan.chain_pool]) : NULL;
    const int oh = pg ? pg->oh : l->out_shape.h, ow = pg ? pg->ow : l->out_shape.w;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < n * oh * ow; r++) {
        const int s = r / (oh * ow), oy = r / ow % oh, ox = r % ow;
        float m[C];
        if (!pg) {
            memcpy(m, l->out + (size_t)r * C, sizeof(float) * C);
        } else {
            for (int c = 0; c < C; c++) m[c] = -INFINITY;
            for (int ky = 0; ky < pg->kh; ky++)
                for (int kx = 0; kx < pg->kw; kx++) {
                    const int y = oy * pg->sh - pg->pad_top + ky, x = ox * pg->sw - pg->pad_left + kx;
                    if (y < 0 || y >= pg->ih || x < 0 || x >= pg->iw) continue;
                    const float *v = l->out + (((size_t)s * pg->ih + y) * pg->iw + x) * C;
                    for (int c = 0; c < C; c++) m[c] = v[c] > m[c] ? v[c] : m[c];
                }
        }
        uint8_t *dst = out + (size_t)r * C;
        for (int c = 0; c < C; c++) {
            const float a = cabs ? fabsf(m[c]) : m[c] > 0.0f ? m[c] : 0.0f, h = a < 1.0f ? a : 1.0f;
            dst[c] = (uint8_t)dr_rint(h * lv);
        }
    }
    e->has_c[l->plan.chain_act] = 1;
    e->has_f[l->plan.chain_act] = 0;
}

/* The integer first layer's pass: pixels as bytes, then sums and epilogue
 * to the codes of the chain's last layer. */
static void run_int8(dr_engine *e, int i, int n)
{
    dr_net *net = e->net;
    const int8_first *f = e->int8[i];
    if (!e->pixels) e->pixels = dr_xalign((size_t)net->max_batch * dr_shape_size(net->input) + 64);
    dr_int8_conv_run(&f->conv, NULL, n, net->pass.in, e->pixels, &f->ep, e->codes[f->out]);
    e->has_c[f->out] = 1;
    e->has_f[f->out] = 0;
}

/* A float products layer: the float product of its (dequantized) weights,
 * as its own forward computes it in evaluation with float products. */
static void run_float_products(dr_engine *e, int i, int n)
{
    dr_net *net = e->net;
    dr_layer *l = &net->layers[i];
    dr_products_float.forward(dr_linear_geom(l), n, dr_input(l, &net->pass, 0), l->params[0].value,
                              dr_linear_bias(l), l->out, &net->pass.ws, NULL);
}

void dr_engine_run(dr_engine *e, const float *x, int n, float *probs)
{
    dr_net *net = e->net;
    float *own_in = net->pass.in;
    net->pass.in = (float *)x; /* the layers only read their input: no copy */
    net->pass.labels = NULL;
    net->pass.train = 0;
    memset(e->has_f, 0, (size_t)net->n_layers);
    memset(e->has_c, 0, (size_t)net->n_layers);
    for (int i = 0; i < net->n_layers; i++) {
        dr_layer *l = &net->layers[i];
        double t0 = e->seconds ? dr_now() : 0;
        switch (l->plan.infer_role) {
        case DR_INFER_HEAD:
            i = run_fused(e, i, n); /* (one block when profiled: the time is block i's) */
            break;
        case DR_INFER_FLOAT:
            if (e->skip[i]) continue; /* computed by the pass of the conv before it */
            if (e->int8[i]) {
                run_int8(e, i, n);
                break;
            }
            if (e->blocks[i].y) { /* quantized weights and coded input: bit product */
                run_bit_float(e, i, n);
                e->has_f[i] = 1;
                break;
            }
            if ((l->ops->roles & DR_ROLE_MAX_POOL) && e->codes[i] && e->has_c[l->src[0]] && !e->has_f[l->src[0]]) {
                pool_codes(e, i, n); /* max-pooling of codes is pooling of quantized values */
                break;
            }
            for (int k = 0; k < l->n_in; k++) ensure_float(e, l->src[k], n);
            if (e->wt[i]) {
                dr_linear *c = l->priv;
                const float *bias = dr_linear_bias(l);
                const int pool = l->plan.chain_pool, act = l->plan.chain_act;
                if (e->chained[i] && pool >= 0 && dr_direct_pool_suits(&c->g, dr_pool_geom(&net->layers[pool]))) {
                    const dr_layer *a = &net->layers[act]; /* conv, pool, act and quantization in one pass */
                    dr_direct_conv_pool_codes(&c->g, dr_pool_geom(&net->layers[pool]), n, dr_input(l, &net->pass, 0),
                                              e->wt[i], bias, a->plan.act_fn == DR_ACT_CABS, dr_levels(a->plan.abits),
                                              e->codes[act]);
                    e->has_c[act] = 1;
                    e->has_f[act] = 0;
                    break; /* the conv's own float output is not made: only the pool read it */
                }
                dr_direct_conv(&c->g, n, dr_input(l, &net->pass, 0), e->wt[i], bias, l->out);
                if (e->chained[i]) pool_act_codes(e, i, n);
            } else if (is_products(l)) {
                run_float_products(e, i, n);
            } else {
                l->ops->forward(l, &net->pass, n);
            }
            e->has_f[i] = 1;
            break;
        default: break;
        }
        if (e->seconds) e->seconds[i] += dr_now() - t0;
    }
    net->pass.in = own_in;
    memcpy(probs, dr_net_output(net), (size_t)n * dr_net_classes(net) * sizeof(float));
}

dr_net *dr_engine_net(dr_engine *e) { return e->net; }
const char *dr_engine_bits(const dr_engine *e) { return e->bits; }
int dr_engine_fused_blocks(const dr_engine *e) { return e->n_fused; }

double *dr_engine_profile(dr_engine *e)
{
    if (!e->seconds) e->seconds = dr_xcalloc((size_t)e->net->n_layers, sizeof(double));
    return e->seconds;
}

int dr_engine_role(const dr_engine *e, int layer) { return e->net->layers[layer].plan.infer_role; }

int dr_engine_int8(const dr_engine *e, int layer) { return e->int8[layer] != NULL; }
