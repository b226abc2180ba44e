/* The planning pass (plan.h): reads the graph and the layers' roles, writes
 * each layer's plan. The only code that reasons about more than one layer. */
#include "plan.h"

#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../kernels/direct_conv.h"
#include "../kernels/int8_conv.h"
#include "../layers/linear.h"

static int has(const dr_layer *l, unsigned role) { return (l->ops->roles & role) != 0; }

/* ---- readers -------------------------------------------------------------- */

/* readers[j]: how many input slots read layer j's output; reader[j]: the last of them. */
static void count_readers(const dr_net *net, int *readers, int *reader)
{
    for (int j = 0; j < net->n_layers; j++) readers[j] = 0, reader[j] = -1;
    for (int i = 0; i < net->n_layers; i++)
        for (int k = 0; k < net->layers[i].n_in; k++)
            if (net->layers[i].src[k] >= 0) readers[net->layers[i].src[k]]++, reader[net->layers[i].src[k]] = i;
}

/* A layer that alone reads a tensor and can store its gradient does so: that
 * gradient needs no zeroing and no read-modify-write. */
static void plan_gradients(dr_net *net, const int *readers)
{
    for (int i = 0; i < net->n_layers; i++) {
        dr_layer *l = &net->layers[i];
        for (int k = 0; k < l->n_in; k++) {
            const int src = l->src[k];
            l->plan.grad_store[k] = src >= 0 && readers[src] == 1 && l->ops->stores_input_grad;
            if (l->plan.grad_store[k]) net->layers[src].plan.dout_stored = 1;
        }
    }
}

/* The next layer of a chain: the single reader of j, reading only j; -1 otherwise. */
static int next_in_chain(const dr_net *net, const int *readers, const int *reader, int j)
{
    if (readers[j] != 1 || net->layers[reader[j]].n_in != 1) return -1;
    return reader[j];
}

/* ---- quantization ----------------------------------------------------------- */

/* The bounded activation whose output reaches products layer l's input
 * through max-pools and dropouts only (the layer that quantizes l's input
 * activations), or -1. */
static int input_act(const dr_net *net, const dr_layer *l)
{
    int j = l->src[0];
    while (j >= 0 && has(&net->layers[j], DR_ROLE_KEEPS_GRID)) j = net->layers[j].src[0];
    return j >= 0 && has(&net->layers[j], DR_ROLE_BOUNDED_ACT) ? j : -1;
}

static void plan_bits(dr_net *net, const unsigned char *keep)
{
    const dr_bits *b = &net->bits;
    int last = -1;
    for (int i = 0; i < net->n_layers; i++)
        if (has(&net->layers[i], DR_ROLE_PRODUCTS)) last = i;
    for (int i = 0; i < net->n_layers; i++) {
        dr_layer *l = &net->layers[i];
        dr_plan *p = &l->plan;
        p->wbits = p->abits = p->gbits = DR_FLOAT_BITS;
        if (has(l, DR_ROLE_BOUNDED_ACT) && l->file_bits[1]) p->abits = l->file_bits[1]; /* explicit */
        if (!has(l, DR_ROLE_PRODUCTS)) continue;
        const int first = l->src[0] < 0;
        const int member = !(first && !b->quantize_first) && !(i == last && !b->quantize_last);
        p->quantizable = l->file_quant >= 0 ? l->file_quant : member;
    }
    for (int i = 0; i < net->n_layers; i++) {
        dr_layer *l = &net->layers[i];
        if (!has(l, DR_ROLE_PRODUCTS) || !l->plan.quantizable || (keep && !keep[i])) continue;
        l->plan.quantized = 1;
        l->plan.wbits = l->file_bits[0] ? l->file_bits[0] : b->w;
        l->plan.gbits = l->file_bits[2] ? l->file_bits[2] : b->g;
        const int a = input_act(net, l); /* it quantizes our input */
        if (a >= 0) net->layers[a].plan.abits = net->layers[a].file_bits[1] ? net->layers[a].file_bits[1] : b->a;
    }
}

/* The function each bounded activation applies: the run may choose h for
 * cabs/crelu layers, and a quantized activation must lie in [0, 1], so a
 * ReLU (or identity) there becomes min(1, max(0, x)). */
static void plan_activations(dr_net *net)
{
    for (int i = 0; i < net->n_layers; i++) {
        dr_layer *l = &net->layers[i];
        if (!has(l, DR_ROLE_BOUNDED_ACT)) continue;
        int fn = dr_act_file_fn(l);
        if ((fn == DR_ACT_CABS || fn == DR_ACT_CRELU) && (net->bounded_act == DR_ACT_CABS || net->bounded_act == DR_ACT_CRELU))
            fn = net->bounded_act;
        else if ((fn == DR_ACT_RELU || fn == DR_ACT_IDENTITY) && l->plan.abits < DR_FLOAT_BITS)
            fn = DR_ACT_CRELU;
        l->plan.act_fn = fn;
    }
}

/* A products layer's input activation: the bounded activation's k-bit codes,
 * through max-pooling (stays on the grid) and dropout (scales by 1/keep while
 * training); read directly, the act's codes themselves. */
static void plan_inputs(dr_net *net)
{
    for (int i = 0; i < net->n_layers; i++) {
        dr_layer *l = &net->layers[i];
        if (!has(l, DR_ROLE_PRODUCTS)) continue;
        dr_plan *p = &l->plan;
        p->in_act = input_act(net, l);
        p->in_bits = DR_FLOAT_BITS;
        p->in_scale = p->in_scale_train = 1;
        if (p->in_act < 0 || net->layers[p->in_act].plan.abits >= DR_FLOAT_BITS) continue;
        p->in_bits = net->layers[p->in_act].plan.abits;
        p->in_scale = p->in_scale_train = 1.0f / dr_levels(p->in_bits);
        for (int j = l->src[0]; j != p->in_act; j = net->layers[j].src[0])
            if (has(&net->layers[j], DR_ROLE_DROPOUT)) p->in_scale_train /= dr_dropout_keep(&net->layers[j]);
        if (l->src[0] == p->in_act) p->in_codes = net->layers[p->in_act].plan.writes_codes = 1;
    }
}

/* A conv read only by a max-pool computes the pool as well when it runs in
 * float on the direct path with no input gradient to make (the first layer)
 * and a float output gradient: its out and dout are then unused. */
static void plan_fused_pools(dr_net *net, const int *readers)
{
    for (int i = 0; i < net->n_layers; i++) {
        dr_layer *pool = &net->layers[i];
        const int src = pool->src[0];
        if (!has(pool, DR_ROLE_MAX_POOL) || src < 0 || readers[src] != 1) continue;
        dr_layer *c = &net->layers[src];
        if (!has(c, DR_ROLE_PRODUCTS) || dr_linear_is_fc(c) || c->keep_output || c->src[0] >= 0 ||
            c->plan.wbits < DR_FLOAT_BITS || c->plan.gbits < DR_FLOAT_BITS)
            continue;
        const dr_conv_geom *g = dr_linear_geom(c);
        if (dr_conv_is_identity(g) || !dr_direct_suits(g) || !dr_direct_pool_suits(g, dr_pool_geom(pool)) ||
            !dr_direct_pool_backward_suits(g))
            continue;
        c->plan.fused_pool = pool;
        pool->plan.pooled_by = c;
    }
}

/* A bn read only by a bounded activation (and not from outside) runs the
 * activation and its quantizer in its own passes (layer.h: fused_act). */
static void plan_fused_acts(dr_net *net, const int *readers)
{
    for (int i = 0; i < net->n_layers; i++) {
        dr_layer *a = &net->layers[i];
        const int src = a->src[0];
        if (!has(a, DR_ROLE_BOUNDED_ACT) || a->n_in != 1 || src < 0 || readers[src] != 1) continue;
        dr_layer *b = &net->layers[src];
        if (!has(b, DR_ROLE_NORM) || b->keep_output) continue;
        b->plan.fused_act = a;
        a->plan.normed_by = b;
    }
}

/* ---- deployment ------------------------------------------------------------ */

/* The layer whose codes feed a quantized products layer: its input past
 * dropouts (identity at inference), provided a quantized activation reaches
 * it through max-pooling and dropout only (pooled codes stay codes); -1
 * otherwise. */
static int coded_source(const dr_net *net, const dr_layer *l, int *bits)
{
    if (l->plan.in_bits >= DR_FLOAT_BITS) return -1;
    int src = l->src[0];
    while (has(&net->layers[src], DR_ROLE_DROPOUT)) src = net->layers[src].src[0];
    *bits = l->plan.in_bits;
    return src;
}

static int is_bit_product(const dr_layer *l)
{
    return has(l, DR_ROLE_PRODUCTS) && l->plan.wbits < DR_FLOAT_BITS && dr_linear_geom(l)->groups == 1;
}

static int thresholds_suit(const dr_layer *act) { return act->plan.act_fn == DR_ACT_CRELU || act->plan.act_fn == DR_ACT_CABS; }

static void try_fuse(dr_net *net, const int *readers, const int *reader, int i)
{
    dr_layer *l = &net->layers[i];
    int src_bits, src;
    if (!is_bit_product(l) || (src = coded_source(net, l, &src_bits)) < 0) return;
    int bn = -1, pool = -1, act = -1, pool_first = 0;
    for (int j = next_in_chain(net, readers, reader, i); j >= 0 && act < 0; j = next_in_chain(net, readers, reader, j)) {
        const dr_layer *m = &net->layers[j];
        if (has(m, DR_ROLE_NORM) && bn < 0) bn = j;
        else if (has(m, DR_ROLE_MAX_POOL) && pool < 0) pool = j, pool_first = bn < 0;
        else if (has(m, DR_ROLE_BOUNDED_ACT) && m->plan.abits < DR_FLOAT_BITS) act = j;
        else break;
    }
    if (act < 0 || !thresholds_suit(&net->layers[act])) return;
    dr_plan *p = &l->plan;
    p->infer_role = DR_INFER_HEAD;
    p->infer_src = src, p->infer_src_bits = src_bits;
    p->infer_bn = bn, p->infer_pool = pool, p->infer_act = act;
    p->infer_pool_before_bn = pool_first && pool >= 0;
    if (bn >= 0) net->layers[bn].plan.infer_role = DR_INFER_MEMBER;
    if (pool >= 0) net->layers[pool].plan.infer_role = DR_INFER_MEMBER;
    net->layers[act].plan.infer_role = DR_INFER_MEMBER;
}

/* A float layer i followed by [bn] [maxpool] and a quantized crelu/cabs act
 * [then a maxpool], each the only reader of the one before. */
static void float_chain(dr_net *net, const int *readers, const int *reader, int i)
{
    dr_plan *p = &net->layers[i].plan;
    int bn = -1, pool = -1, after = -1, j = next_in_chain(net, readers, reader, i);
#define FLOAT_ROLE(j, role) (has(&net->layers[j], role) && net->layers[j].plan.infer_role == DR_INFER_FLOAT)
    if (j >= 0 && FLOAT_ROLE(j, DR_ROLE_NORM)) bn = j, j = next_in_chain(net, readers, reader, j);
    if (j >= 0 && FLOAT_ROLE(j, DR_ROLE_MAX_POOL)) pool = j, j = next_in_chain(net, readers, reader, j);
    if (j < 0) return;
    const dr_layer *act = &net->layers[j];
    if (!has(act, DR_ROLE_BOUNDED_ACT) || act->plan.abits >= DR_FLOAT_BITS || act->plan.infer_role != DR_INFER_FLOAT ||
        !thresholds_suit(act))
        return;
    const int k = next_in_chain(net, readers, reader, j);
    if (pool < 0 && k >= 0 && FLOAT_ROLE(k, DR_ROLE_MAX_POOL)) after = k;
#undef FLOAT_ROLE
    p->chain_bn = bn, p->chain_pool = pool, p->chain_act = j, p->chain_pool_after = after;
}

static void plan_inference(dr_net *net, const int *readers, const int *reader)
{
    for (int i = 0; i < net->n_layers; i++)
        if (net->layers[i].plan.infer_role == DR_INFER_FLOAT) try_fuse(net, readers, reader, i);
    /* a quantized products layer that cannot fuse (no quantized act after it)
     * still takes coded input through the bit product, with a float epilogue */
    for (int i = 0; i < net->n_layers; i++) {
        dr_layer *l = &net->layers[i];
        int bits, src;
        if (l->plan.infer_role != DR_INFER_FLOAT || !is_bit_product(l) || (src = coded_source(net, l, &bits)) < 0)
            continue;
        l->plan.infer_src = src, l->plan.infer_src_bits = bits;
    }
    /* a dropout read only by layers taking coded input is not needed (identity at inference) */
    for (int i = 0; i < net->n_layers; i++) {
        if (!has(&net->layers[i], DR_ROLE_DROPOUT)) continue;
        int all_coded = 1;
        for (int k = i + 1; k < net->n_layers; k++) {
            const dr_layer *r = &net->layers[k];
            for (int m = 0; m < r->n_in; m++)
                if (r->src[m] == i && r->plan.infer_src < 0 &&
                    !(has(r, DR_ROLE_DROPOUT) && r->plan.infer_role == DR_INFER_SKIP))
                    all_coded = 0;
        }
        if (all_coded) net->layers[i].plan.infer_role = DR_INFER_SKIP;
    }
    for (int i = 0; i < net->n_layers; i++)
        if (net->layers[i].plan.infer_role == DR_INFER_FLOAT) float_chain(net, readers, reader, i);
}

int dr_plan_int8_first(const dr_net *net)
{
    for (int i = 0; i < net->n_layers; i++) {
        const dr_layer *l = &net->layers[i];
        if (!has(l, DR_ROLE_PRODUCTS)) continue;
        const int ok = l->n_in == 1 && l->src[0] < 0 && !dr_linear_is_fc(l) && l->plan.wbits >= DR_FLOAT_BITS &&
                       l->plan.infer_role == DR_INFER_FLOAT && dr_int8_conv_suits(dr_linear_geom(l));
        return ok ? i : -1;
    }
    return -1;
}

/* ---- the pass ------------------------------------------------------------------ */

void dr_net_plan(dr_net *net, const unsigned char *keep)
{
    const int L = net->n_layers;
    int *readers = dr_xmalloc(sizeof(int) * (size_t)(2 * L)), *reader = readers + L;
    for (int i = 0; i < L; i++) {
        dr_plan *p = &net->layers[i].plan;
        memset(p, 0, sizeof *p);
        p->in_act = p->infer_src = p->infer_bn = p->infer_pool = p->infer_act = -1;
        p->chain_bn = p->chain_pool = p->chain_act = p->chain_pool_after = -1;
        p->in_bits = DR_FLOAT_BITS;
        p->in_scale = p->in_scale_train = 1;
    }
    count_readers(net, readers, reader);
    plan_gradients(net, readers);
    plan_bits(net, keep);
    plan_activations(net);
    plan_inputs(net);
    plan_fused_pools(net, readers);
    plan_fused_acts(net, readers);
    plan_inference(net, readers, reader);
    free(readers);
}

int dr_net_apply_bits_select(dr_net *net, const dr_bits *b, const unsigned char *keep)
{
    if (!dr_bits_valid(b->w) || !dr_bits_valid(b->a) || !dr_bits_valid(b->g))
        return dr_fail("%s: bits %d,%d,%d: each must be 1..8 or 32", net->path, b->w, b->a, b->g);
    net->bits = *b;
    dr_net_plan(net, keep);
    return 0;
}

int dr_net_apply_bits(dr_net *net, const dr_bits *b) { return dr_net_apply_bits_select(net, b, NULL); }

int dr_net_set_bounded_act(dr_net *net, int fn)
{
    if (fn != -1 && fn != DR_ACT_CABS && fn != DR_ACT_CRELU)
        return dr_fail("%s: bounded activation %d: expected cabs or crelu (or -1: the model file's)", net->path, fn);
    net->bounded_act = fn;
    dr_net_plan(net, NULL);
    return 0;
}

void dr_net_keep_output(dr_net *net, int i)
{
    net->layers[i].keep_output = 1;
    dr_net_plan(net, NULL);
}
