/* dorefa export: checkpoint -> deployment file (layout in deploy.h and below).
 *
 *   "DOREFAMD" | u32 version | u32 sections | sections | u32 CRC-32
 *   CONF  the training configuration text (bits, bounded activation, ...)
 *   MODL  the model text;  INPT  h, w, c (3 x i32)
 *   LAYR  per layer that needs data, in order: u16 name length, name, u8 kind,
 *     kind 0 (float):  u32 arrays, each u64 count + floats (params, then state)
 *     kind 1 (packed weights, float epilogue) and kind 2 (fused block):
 *           u8 W, f32 wscale, u32 M, u32 oc, u32 K, oc x W x ceil(K/64) u64
 *           bit-planes of the weight codes (w = wscale (2 q - M));
 *     kind 1 then: u32 bias count + floats;
 *     kind 2 then: u8 output bits, u8 cabs, i8 sign[oc], i32 up[oc][n_out],
 *           and for cabs i32 lo[oc][n_out]. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../core/filebuf.h"
#include "../kernels/bitpack.h"
#include "../layers/linear.h"
#include "../quant/quantize.h"
#include "../train/checkpoint.h"
#include "../train/train.h"
#include "deploy.h"

const char DR_DEPLOY_MAGIC[8] = {'D', 'O', 'R', 'E', 'F', 'A', 'M', 'D'};

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
    const int W = l->wbits, oc = c->g.oc, K = dr_conv_k(&c->g), words = (K + 63) / 64;
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
static void put_thresholds(dr_filebuf *b, dr_net *net, const dr_deploy_step *st, dr_layer *l, float wscale)
{
    dr_linear *c = l->priv;
    const int oc = c->g.oc, nout = (int)dr_levels(net->layers[st->act].abits);
    const int cabs = dr_act_effective(&net->layers[st->act], net) == DR_ACT_CABS;
    const double alpha = (double)wscale / dr_levels(st->src_bits);
    dr_put_u8(b, (uint8_t)net->layers[st->act].abits);
    dr_put_u8(b, (uint8_t)cabs);
    double *s = dr_xmalloc(sizeof(double) * oc), *off = dr_xmalloc(sizeof(double) * oc);
    for (int o = 0; o < oc; o++) {
        s[o] = alpha;
        off[o] = c->bias ? l->params[1].value[o] : 0;
        if (st->bn >= 0) {
            const dr_layer *bn = &net->layers[st->bn];
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
    put_name(b, l->name, 0);
    dr_put_u32(b, (uint32_t)(l->n_params + (l->state_size ? 1 : 0)));
    for (int j = 0; j < l->n_params; j++) put_floats(b, l->params[j].value, l->params[j].size);
    if (l->state_size) put_floats(b, l->state, l->state_size);
}

int dr_export(const char *ckpt_path, const char *out_path, dr_export_info *info)
{
    dr_checkpoint ck;
    dr_train_config cfg;
    if (dr_checkpoint_read(ckpt_path, &ck)) return -1;
    char origin[1100];
    snprintf(origin, sizeof origin, "%s (model)", ckpt_path);
    dr_net_options nopt = {.channels = ck.input.c, .height = ck.input.h, .width = ck.input.w, .max_batch = 1};
    dr_net *net = NULL;
    int rc = -1;
    if (dr_train_config_parse(ck.conf, ckpt_path, &cfg) || !(net = dr_net_parse(ck.model, origin, &nopt)) ||
        dr_checkpoint_restore(&ck, net, NULL) || dr_train_config_apply_bits(&cfg, net))
        goto out;
    memset(info, 0, sizeof *info);
    dr_deploy_step *steps = dr_xmalloc(sizeof *steps * (size_t)net->n_layers);
    dr_deploy_plan(net, steps);
    dr_filebuf b = {0};
    char conf[4096];
    dr_train_config_format(&cfg, conf, sizeof conf);
    dr_put_header(&b, DR_DEPLOY_MAGIC, DR_DEPLOY_VERSION, 4);
    dr_put_net_sections(&b, net, conf);
    size_t s = dr_begin_section(&b, "LAYR");
    for (int i = 0; i < net->n_layers; i++) {
        dr_layer *l = &net->layers[i];
        for (int j = 0; j < l->n_params; j++) info->float_weight_bytes += l->params[j].size * sizeof(float);
        info->float_weight_bytes += l->state_size * sizeof(float);
        if (steps[i].role == DR_ROLE_HEAD) {
            float wscale;
            int M;
            put_name(&b, l->name, 2);
            put_weights(&b, l, &wscale, &M);
            put_thresholds(&b, net, &steps[i], l, wscale);
            info->fused_blocks++;
        } else if (steps[i].role == DR_ROLE_FLOAT && l->wbits < 32 &&
                   (l->ops == &dr_conv_ops || l->ops == &dr_fc_ops)) {
            float wscale;
            int M;
            put_name(&b, l->name, 1);
            put_weights(&b, l, &wscale, &M);
            int has_bias = ((dr_linear *)l->priv)->bias;
            dr_put_u32(&b, has_bias ? (uint32_t)l->params[1].size : 0);
            if (has_bias) dr_put(&b, l->params[1].value, l->params[1].size * sizeof(float));
            info->float_layers++;
        } else if (steps[i].role == DR_ROLE_FLOAT && (l->n_params || l->state_size)) {
            put_float_layer(&b, l);
            info->float_layers++;
        }
    }
    dr_end_section(&b, s);
    dr_put_crc(&b);
    info->file_bytes = b.len;
    rc = dr_write_atomic(out_path, b.p, b.len);
    free(b.p);
    free(steps);
out:
    dr_net_free(net);
    dr_checkpoint_free(&ck);
    return rc;
}
