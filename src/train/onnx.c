/* dorefa export --format onnx (onnx.h): the network in NCHW as ONNX nodes. */
#include "onnx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../core/filebuf.h"
#include "../layers/linear.h"
#include "../model/net.h"
#include "../quant/quantize.h"
#include "checkpoint.h"

/* ---- protobuf (proto2 wire format: varints, fixed32 floats, length-delimited) ---------- */

typedef dr_filebuf pb;

static void pb_varint(pb *b, uint64_t v)
{
    uint8_t buf[10];
    int n = 0;
    do {
        buf[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    dr_put(b, buf, (size_t)n);
}

static void pb_int(pb *b, int field, int64_t v) { pb_varint(b, (uint64_t)field << 3), pb_varint(b, (uint64_t)v); }

static void pb_bytes(pb *b, int field, const void *p, size_t n)
{
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, n);
    dr_put(b, p, n);
}

static void pb_str(pb *b, int field, const char *s) { pb_bytes(b, field, s, strlen(s)); }

static void pb_float(pb *b, int field, float f)
{
    pb_varint(b, (uint64_t)field << 3 | 5);
    dr_put(b, &f, 4);
}

/* An embedded message, from its own buffer (freed). */
static void pb_msg(pb *b, int field, pb *inner)
{
    pb_bytes(b, field, inner->p, inner->len);
    free(inner->p);
    *inner = (pb){0};
}

/* ---- ONNX messages (onnx.proto field numbers) -------------------------------------------- */

enum { T_FLOAT = 1, T_UINT8 = 2, T_INT64 = 7 };                   /* TensorProto.DataType  */
enum { A_FLOAT = 1, A_INT = 2, A_INTS = 7 };                      /* AttributeProto.type   */
enum { G_NODE = 1, G_NAME = 2, G_INIT = 5, G_INPUT = 11, G_OUTPUT = 12 }; /* GraphProto */

typedef struct {
    pb g;      /* the GraphProto being written */
    int nodes; /* for names */
} graph;

static void tensor(graph *gr, const char *name, int type, const int64_t *dims, int nd, const void *data, size_t bytes)
{
    pb t = {0};
    for (int i = 0; i < nd; i++) pb_int(&t, 1, dims[i]);
    pb_int(&t, 2, type);
    pb_str(&t, 8, name);
    pb_bytes(&t, 9, data, bytes); /* raw_data, little-endian */
    pb_msg(&gr->g, G_INIT, &t);
}

static void scalar_float(graph *gr, const char *name, float v) { tensor(gr, name, T_FLOAT, NULL, 0, &v, 4); }

static void attr_int(pb *a, const char *name, int64_t v)
{
    pb m = {0};
    pb_str(&m, 1, name);
    pb_int(&m, 3, v);
    pb_int(&m, 20, A_INT);
    pb_msg(a, 5, &m);
}

static void attr_float(pb *a, const char *name, float v)
{
    pb m = {0};
    pb_str(&m, 1, name);
    pb_float(&m, 2, v);
    pb_int(&m, 20, A_FLOAT);
    pb_msg(a, 5, &m);
}

static void attr_ints(pb *a, const char *name, const int64_t *v, int n)
{
    pb m = {0};
    pb_str(&m, 1, name);
    for (int i = 0; i < n; i++) pb_int(&m, 8, v[i]);
    pb_int(&m, 20, A_INTS);
    pb_msg(a, 5, &m);
}

/* A node: op(inputs) -> output, with attributes already in attrs (may be NULL). */
static void node(graph *gr, const char *op, const char *const *in, int n_in, const char *out, pb *attrs)
{
    pb n = {0};
    char name[300];
    for (int i = 0; i < n_in; i++) pb_str(&n, 1, in[i]);
    pb_str(&n, 2, out);
    snprintf(name, sizeof name, "%s_%d", op, gr->nodes++);
    pb_str(&n, 3, name);
    pb_str(&n, 4, op);
    if (attrs && attrs->len) dr_put(&n, attrs->p, attrs->len);
    if (attrs) free(attrs->p), *attrs = (pb){0};
    pb_msg(&gr->g, G_NODE, &n);
}

static void node1(graph *gr, const char *op, const char *in, const char *out)
{
    const char *ins[1] = {in};
    node(gr, op, ins, 1, out, NULL);
}

/* A graph input or output: float, N (symbolic) x dims. */
static void value_info(graph *gr, int field, const char *name, const int64_t *dims, int nd)
{
    pb shape = {0}, tt = {0}, type = {0}, vi = {0}, d = {0};
    pb_str(&d, 2, "N");
    pb_msg(&shape, 1, &d);
    for (int i = 0; i < nd; i++) {
        pb_int(&d, 1, dims[i]);
        pb_msg(&shape, 1, &d);
    }
    pb_int(&tt, 1, T_FLOAT);
    pb_msg(&tt, 2, &shape);
    pb_msg(&type, 1, &tt);
    pb_str(&vi, 1, name);
    pb_msg(&vi, 2, &type);
    pb_msg(&gr->g, field, &vi);
}

/* ---- the layers ------------------------------------------------------------------------- */

/* A conv's or pool's window: kernel_shape, strides, pads (begin: top, left; end: bottom, right). */
static void window(pb *a, const dr_conv_geom *g)
{
    int p[4];
    dr_conv_geom_pads(g, p);
    const int64_t k[2] = {g->kh, g->kw}, s[2] = {g->sh, g->sw}, pads[4] = {p[0], p[1], p[2], p[3]};
    attr_ints(a, "kernel_shape", k, 2);
    attr_ints(a, "strides", s, 2);
    attr_ints(a, "pads", pads, 4);
}

static const char *input_of(const dr_net *net, const dr_layer *l, int k)
{
    return l->src[k] < 0 ? "pixels_scaled" : net->layers[l->src[k]].name;
}

/* conv or fc: f_w(W) in NCHW layout (fc: over the NCHW flattening), the bias. */
static void products(graph *gr, const dr_net *net, dr_layer *l, dr_onnx_info *info)
{
    const dr_conv_geom *g = dr_linear_geom(l);
    const int fc = dr_linear_is_fc(l), icg = g->ic / g->groups;
    const size_t n = l->params[0].size;
    float *wq = dr_xmalloc(sizeof(float) * n), *w = dr_xmalloc(sizeof(float) * n);
    dr_wq_state st;
    dr_quantize_weights(l->params[0].value, n, l->plan.wbits, wq, &st);
    info->quantized_weights += l->plan.wbits < DR_FLOAT_BITS;
    /* dorefa [oc][kh][kw][icg] -> ONNX [oc][icg][kh][kw] (fc: [oc][c*h*w], the same order) */
    for (int o = 0; o < g->oc; o++)
        for (int y = 0; y < g->kh; y++)
            for (int x = 0; x < g->kw; x++)
                for (int c = 0; c < icg; c++)
                    w[(((size_t)o * icg + c) * g->kh + y) * g->kw + x] = wq[(((size_t)o * g->kh + y) * g->kw + x) * icg + c];
    char wname[300], bname[300], flat[300];
    snprintf(wname, sizeof wname, "%s.w", l->name);
    snprintf(bname, sizeof bname, "%s.b", l->name);
    const float *bias = dr_linear_bias(l);
    if (fc) {
        const int64_t dims[2] = {g->oc, (int64_t)icg * g->kh * g->kw};
        tensor(gr, wname, T_FLOAT, dims, 2, w, sizeof(float) * n);
    } else {
        const int64_t dims[4] = {g->oc, icg, g->kh, g->kw};
        tensor(gr, wname, T_FLOAT, dims, 4, w, sizeof(float) * n);
    }
    if (bias) {
        const int64_t d = g->oc;
        tensor(gr, bname, T_FLOAT, &d, 1, bias, sizeof(float) * (size_t)g->oc);
    }
    free(w), free(wq);
    pb a = {0};
    if (fc) {
        snprintf(flat, sizeof flat, "%s.flat", l->name);
        pb f = {0};
        attr_int(&f, "axis", 1);
        const char *fin[1] = {input_of(net, l, 0)};
        node(gr, "Flatten", fin, 1, flat, &f);
        attr_int(&a, "transB", 1);
        const char *in[3] = {flat, wname, bname};
        node(gr, "Gemm", in, bias ? 3 : 2, l->name, &a);
        return;
    }
    window(&a, g);
    attr_int(&a, "group", g->groups);
    const char *in[3] = {input_of(net, l, 0), wname, bname};
    node(gr, "Conv", in, bias ? 3 : 2, l->name, &a);
}

static void batch_norm(graph *gr, const dr_net *net, const dr_layer *l, float eps)
{
    const int C = l->in_shape.c;
    const int64_t d = C;
    char names[4][300];
    static const char *const what[4] = {"gamma", "beta", "mean", "var"};
    const float *src[4] = {l->params[0].value, l->params[1].value, l->state, l->state + C};
    for (int i = 0; i < 4; i++) {
        snprintf(names[i], sizeof names[i], "%s.%s", l->name, what[i]);
        tensor(gr, names[i], T_FLOAT, &d, 1, src[i], sizeof(float) * (size_t)C);
    }
    pb a = {0};
    attr_float(&a, "epsilon", eps);
    const char *in[5] = {input_of(net, l, 0), names[0], names[1], names[2], names[3]};
    node(gr, "BatchNormalization", in, 5, l->name, &a);
}

static void max_pool(graph *gr, const dr_net *net, const dr_layer *l)
{
    const dr_conv_geom *g = dr_pool_geom(l);
    pb a = {0};
    window(&a, g); /* MaxPool's padding never wins, as dorefa's */
    const char *in[1] = {input_of(net, l, 0)};
    node(gr, "MaxPool", in, 1, l->name, &a);
}

/* h, then f_a^k as QuantizeLinear -> Clip -> DequantizeLinear. */
static void activation(graph *gr, const dr_net *net, const dr_layer *l, dr_onnx_info *info)
{
    const int fn = l->plan.act_fn, k = l->plan.abits;
    char h[300], abs_out[300], q[300], qc[300], sc[300], zp[300], hi[300], lo[300], one[300], zero[300];
    const char *x = input_of(net, l, 0);
    snprintf(h, sizeof h, "%s%s", l->name, k < DR_FLOAT_BITS ? ".h" : "");
    snprintf(one, sizeof one, "%s.one", l->name);
    snprintf(zero, sizeof zero, "%s.zero", l->name);
    if (fn == DR_ACT_RELU) node1(gr, "Relu", x, h);
    else if (fn == DR_ACT_IDENTITY) node1(gr, "Identity", x, h);
    else {
        const char *src = x;
        if (fn == DR_ACT_CABS) {
            snprintf(abs_out, sizeof abs_out, "%s.abs", l->name);
            node1(gr, "Abs", x, abs_out);
            src = abs_out;
        }
        scalar_float(gr, zero, 0.0f);
        scalar_float(gr, one, 1.0f);
        const char *in[3] = {src, zero, one};
        node(gr, "Clip", in, 3, h, NULL);
    }
    if (k >= DR_FLOAT_BITS) return;
    info->quantized_acts++;
    const uint8_t z = 0, top = (uint8_t)dr_levels(k);
    snprintf(sc, sizeof sc, "%s.scale", l->name);
    snprintf(zp, sizeof zp, "%s.zero_point", l->name);
    snprintf(lo, sizeof lo, "%s.code_min", l->name);
    snprintf(hi, sizeof hi, "%s.code_max", l->name);
    snprintf(q, sizeof q, "%s.q", l->name);
    snprintf(qc, sizeof qc, "%s.code", l->name);
    scalar_float(gr, sc, 1.0f / dr_levels(k));
    tensor(gr, zp, T_UINT8, NULL, 0, &z, 1);
    tensor(gr, lo, T_UINT8, NULL, 0, &z, 1);
    tensor(gr, hi, T_UINT8, NULL, 0, &top, 1);
    const char *qin[3] = {h, sc, zp}, *cin[3] = {q, lo, hi}, *din[3] = {qc, sc, zp};
    node(gr, "QuantizeLinear", qin, 3, q, NULL);
    node(gr, "Clip", cin, 3, qc, NULL); /* the k-bit range of the 8-bit codes */
    node(gr, "DequantizeLinear", din, 3, l->name, NULL);
}

static int layer(graph *gr, const dr_net *net, dr_layer *l, dr_onnx_info *info)
{
    const char *type = l->ops->type, *x = input_of(net, l, 0);
    if (!strcmp(type, "conv") || !strcmp(type, "fc")) products(gr, net, l, info);
    else if (!strcmp(type, "bn")) batch_norm(gr, net, l, dr_bn_eps(l));
    else if (!strcmp(type, "maxpool")) max_pool(gr, net, l);
    else if (!strcmp(type, "avgpool")) node1(gr, "GlobalAveragePool", x, l->name);
    else if (!strcmp(type, "act")) activation(gr, net, l, info);
    else if (!strcmp(type, "dropout")) node1(gr, "Identity", x, l->name); /* identity at inference */
    else if (!strcmp(type, "add")) {
        const char *in[2] = {x, input_of(net, l, 1)};
        node(gr, "Add", in, 2, l->name, NULL);
    } else if (!strcmp(type, "softmax")) {
        char flat[300];
        snprintf(flat, sizeof flat, "%s.flat", l->name);
        pb f = {0}, a = {0};
        attr_int(&f, "axis", 1);
        const char *fin[1] = {x};
        node(gr, "Flatten", fin, 1, flat, &f);
        attr_int(&a, "axis", 1);
        const char *in[1] = {flat};
        node(gr, "Softmax", in, 1, "probabilities", &a);
    } else
        return dr_fail("%s: layer '%s' (%s) has no ONNX form here", net->path, l->name, type);
    return 0;
}

int dr_export_onnx_net(dr_net *net, const char *out_path, dr_onnx_info *info)
{
    memset(info, 0, sizeof *info);
    if (strcmp(net->layers[net->n_layers - 1].ops->type, "softmax"))
        return dr_fail("%s: the network does not end in softmax: no ONNX export", net->path);
    graph gr = {{0}, 0};
    pb_str(&gr.g, G_NAME, "dorefa");
    /* pixels 0..255 -> pixels / 256, as the network was trained */
    scalar_float(&gr, "pixel_scale", DR_PIXEL_SCALE);
    const char *in[2] = {"pixels", "pixel_scale"};
    node(&gr, "Mul", in, 2, "pixels_scaled", NULL);
    int rc = 0;
    for (int i = 0; i < net->n_layers && !rc; i++) {
        dr_layer *l = &net->layers[i];
        rc = layer(&gr, net, l, info);
    }
    if (rc) {
        free(gr.g.p);
        return -1;
    }
    const int64_t din[3] = {net->input.c, net->input.h, net->input.w}, dout[1] = {dr_net_classes(net)};
    value_info(&gr, G_INPUT, "pixels", din, 3);
    value_info(&gr, G_OUTPUT, "probabilities", dout, 1);
    info->nodes = gr.nodes;

    pb model = {0}, opset = {0};
    pb_int(&model, 1, 7); /* ir_version 7: opset 13's */
    pb_str(&model, 2, "dorefa");
    pb_str(&model, 3, DOREFA_VERSION_STRING);
    char doc[160];
    dr_bits_format(&net->bits, doc, sizeof doc);
    char text[300];
    snprintf(text, sizeof text, "DoReFa-Net, W,A,G = %s; input pixels 0..255 NCHW", doc);
    pb_str(&model, 6, text);
    pb_msg(&model, 7, &gr.g);
    pb_str(&opset, 1, "");
    pb_int(&opset, 2, 13);
    pb_msg(&model, 8, &opset);
    info->file_bytes = model.len;
    rc = dr_write_atomic(out_path, model.p, model.len);
    free(model.p);
    return rc;
}

int dr_export_onnx(const char *ckpt_path, const char *out_path, dr_onnx_info *info)
{
    dr_net *net = dr_checkpoint_load_net(ckpt_path, 1, NULL);
    int rc = net ? dr_export_onnx_net(net, out_path, info) : -1;
    dr_net_free(net);
    return rc;
}
