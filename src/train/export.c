/* dorefa export: checkpoint -> deployment file (deploy/format.h). The one
 * bridge from training to deployment: it reads a checkpoint, plans the
 * network as the engine will, and writes what the engine needs. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../core/filebuf.h"
#include "../deploy/format.h"
#include "../kernels/bitpack.h"
#include "../kernels/int8_conv.h"
#include "../layers/linear.h"
#include "../model/netio.h"
#include "../model/plan.h"
#include "../quant/quantize.h"
#include "checkpoint.h"
#include "export.h"

static void put_name(dr_filebuf *b, const char *name, int kind)
{
    dr_put_u16(b, (uint16_t)strlen(name));
    dr_put(b, name, strlen(name));
    dr_put_u8(b, (uint8_t)kind);
}

static void put_floats(dr_filebuf *b, const float *v, size_t n)
{
    dr_put_u64(b, n);
    dr_put(b, v, n * sizeof(float));
}

/* Weight codes of f_w(W) packed as bit-planes; returns the size in bytes. */
static size_t put_weights(dr_filebuf *b, dr_layer *l, float *wscale_out, int *M_out)
{
    dr_linear *c = l->priv;
    const int W = l->plan.wbits, oc = c->g.oc, K = dr_conv_k(&c->g), words = (K + 63) / 64;
    const size_t n = (size_t)oc * K;
    float *wq = dr_xmalloc(n * sizeof(float));
    uint8_t *codes = dr_xmalloc(n);
    dr_wq_state st;
    dr_quantize_weights(l->params[0].value, n, W, wq, &st);
    dr_weight_codes(wq, n, W, codes);
    float wscale = W == 1 ? st.scale : 1.0f / dr_levels(W);
    int M = W == 1 ? 1 : (int)dr_levels(W);
    uint64_t *packed = dr_xmalloc((size_t)oc * W * words * sizeof(uint64_t));
    dr_pack_rows(codes, oc, K, W, words, packed);
    dr_put_u8(b, (uint8_t)W);
    dr_put(b, &wscale, 4);
    dr_put_u32(b, (uint32_t)M);
    dr_put_u32(b, (uint32_t)oc);
    dr_put_u32(b, (uint32_t)K);
    size_t bytes = (size_t)oc * W * words * sizeof(uint64_t);
    dr_put(b, packed, bytes);
    free(packed), free(codes), free(wq);
    *wscale_out = wscale, *M_out = M;
    return bytes;
}

static int32_t clamp_i32(double v)
{
    if (v >= INT_MAX) return INT_MAX;
    if (v <= INT_MIN) return INT_MIN;
    return (int32_t)v;
}

/* The fused block's thresholds: v = s acc + b per channel, code >= k when
 * h(v) >= (k - 1/2) / n_out, i.e. acc' = sign(s) acc >= up_k (and, for cabs,
 * also when acc' <= lo_k: |v| >= tau). */
static void put_thresholds(dr_filebuf *b, dr_net *net, dr_layer *l, float wscale)
{
    dr_linear *c = l->priv;
    const dr_plan *st = &l->plan;
    const dr_layer *act = &net->layers[st->infer_act];
    const int oc = c->g.oc, nout = (int)dr_levels(act->plan.abits);
    const int cabs = act->plan.act_fn == DR_ACT_CABS;
    const double alpha = (double)wscale / dr_levels(st->infer_src_bits);
    dr_put_u8(b, (uint8_t)act->plan.abits);
    dr_put_u8(b, (uint8_t)cabs);
    double *s = dr_xmalloc(sizeof(double) * oc), *off = dr_xmalloc(sizeof(double) * oc);
    for (int o = 0; o < oc; o++) {
        s[o] = alpha;
        off[o] = c->bias ? l->params[1].value[o] : 0;
        if (st->infer_bn >= 0) {
            const dr_layer *bn = &net->layers[st->infer_bn];
            const float *gamma = bn->params[0].value, *beta = bn->params[1].value, *mean = bn->state,
                        *var = bn->state + oc;
            double inv = 1.0f / sqrtf(var[o] + dr_bn_eps(bn)); /* as the float layer computes it */
            s[o] = gamma[o] * inv * alpha;
            off[o] = gamma[o] * inv * (off[o] - mean[o]) + beta[o];
        }
        dr_put_u8(b, (uint8_t)(int8_t)(s[o] < 0 ? -1 : 1));
    }
    for (int pass = 0; pass < 1 + cabs; pass++)
        for (int o = 0; o < oc; o++) {
            double as = fabs(s[o]);
            for (int k = 1; k <= nout; k++) {
                double tau = (k - 0.5) / nout;
                int32_t t;
                if (pass == 0)
                    t = as > 0 ? clamp_i32(ceil((tau - off[o]) / as)) : off[o] >= tau ? INT_MIN : INT_MAX;
                else
                    t = as > 0 ? clamp_i32(floor((-tau - off[o]) / as)) : off[o] <= -tau ? INT_MAX : INT_MIN;
                dr_put(b, &t, 4);
            }
        }
    free(s), free(off);
}

static void put_float_layer(dr_filebuf *b, dr_layer *l)
{
    put_name(b, l->name, DR_LAYR_FLOAT);
    dr_put_u32(b, (uint32_t)(l->n_params + (l->state_size ? 1 : 0)));
    for (int j = 0; j < l->n_params; j++) put_floats(b, l->params[j].value, l->params[j].size);
    if (l->state_size) put_floats(b, l->state, l->state_size);
}

/* The first layer's weights as 8-bit integers per output channel (w = scale q). */
static void put_int8_layer(dr_filebuf *b, dr_layer *l)
{
    dr_linear *c = l->priv;
    const int oc = c->g.oc, K = dr_conv_k(&c->g);
    float *scale = dr_xmalloc(sizeof(float) * oc);
    int8_t *q = dr_xmalloc((size_t)oc * K);
    dr_int8_quantize(l->params[0].value, oc, K, scale, q);
    put_name(b, l->name, DR_LAYR_INT8);
    dr_put_u32(b, (uint32_t)oc);
    dr_put_u32(b, (uint32_t)K);
    dr_put(b, scale, sizeof(float) * oc);
    dr_put(b, q, (size_t)oc * K);
    dr_put_u32(b, c->bias ? (uint32_t)l->params[1].size : 0);
    if (c->bias) dr_put(b, l->params[1].value, l->params[1].size * sizeof(float));
    free(scale), free(q);
}

int dr_first_layer_parse(const char *s)
{
    if (!strcmp(s, "int8")) return DR_FIRST_LAYER_INT8;
    if (!strcmp(s, "float")) return DR_FIRST_LAYER_FLOAT;
    return dr_fail("first layer '%s': expected int8 or float", s);
}

int dr_export(const char *ckpt_path, const char *out_path, int first_layer, dr_export_info *info)
{
    char *conf = NULL;
    dr_net *net = dr_checkpoint_load_net(ckpt_path, 1, &conf);
    int rc = net ? dr_export_net(net, conf, out_path, first_layer, info) : -1;
    dr_net_free(net);
    free(conf);
    return rc;
}

int dr_export_net(dr_net *net, const char *conf, const char *out_path, int first_layer, dr_export_info *info)
{
    memset(info, 0, sizeof *info);
    info->int8_layer = first_layer == DR_FIRST_LAYER_INT8 ? dr_plan_int8_first(net) : -1;
    dr_filebuf b = {0};
    /* a file without the integer first layer stays readable by version-2 engines */
    dr_put_header(&b, DR_DEPLOY_FILE.magic, info->int8_layer >= 0 ? DR_DEPLOY_VERSION : DR_DEPLOY_OLDEST,
                  (uint32_t)dr_net_sections(net, conf != NULL) + 1);
    dr_put_net_sections(&b, net, conf);
    size_t s = dr_begin_section(&b, "LAYR");
    for (int i = 0; i < net->n_layers; i++) {
        dr_layer *l = &net->layers[i];
        for (int j = 0; j < l->n_params; j++) info->float_weight_bytes += l->params[j].size * sizeof(float);
        info->float_weight_bytes += l->state_size * sizeof(float);
        const int role = l->plan.infer_role;
        if (i == info->int8_layer) {
            put_int8_layer(&b, l);
            info->float_layers++;
        } else if (role == DR_INFER_HEAD) {
            float wscale;
            int M;
            put_name(&b, l->name, DR_LAYR_FUSED);
            put_weights(&b, l, &wscale, &M);
            put_thresholds(&b, net, l, wscale);
            info->fused_blocks++;
        } else if (role == DR_INFER_FLOAT && l->plan.wbits < DR_FLOAT_BITS && (l->ops->roles & DR_ROLE_PRODUCTS)) {
            float wscale;
            int M;
            put_name(&b, l->name, DR_LAYR_PACKED);
            put_weights(&b, l, &wscale, &M);
            int has_bias = ((dr_linear *)l->priv)->bias;
            dr_put_u32(&b, has_bias ? (uint32_t)l->params[1].size : 0);
            if (has_bias) dr_put(&b, l->params[1].value, l->params[1].size * sizeof(float));
            info->float_layers++;
        } else if (role == DR_INFER_FLOAT && (l->n_params || l->state_size)) {
            put_float_layer(&b, l);
            info->float_layers++;
        }
    }
    dr_end_section(&b, s);
    dr_put_crc(&b);
    info->file_bytes = b.len;
    int rc = dr_write_atomic(out_path, b.p, b.len);
    free(b.p);
    return rc;
}
