/* Which layers of a network fuse into bit-kernel blocks, which run in float. */
#include "deploy.h"

#include <stdlib.h>

#include "../core/common.h"
#include "../layers/linear.h"
#include "../quant/policy.h"

static int consumers(const dr_net *net, int j, int *only)
{
    int c = 0;
    for (int i = 0; i < net->n_layers; i++)
        for (int k = 0; k < net->layers[i].n_in; k++)
            if (net->layers[i].in[k] == j) c++, *only = i;
    return c;
}

/* The next layer of a chain: the single consumer of j, reading only j. */
static int next_in_chain(const dr_net *net, int j)
{
    int only = -1;
    if (consumers(net, j, &only) != 1 || net->layers[only].n_in != 1) return -1;
    return only;
}

static int is_linear(const dr_layer *l) { return l->ops == &dr_conv_ops || l->ops == &dr_fc_ops; }

/* The layer whose codes feed a quantized conv/fc: its input past dropouts
 * (identity at inference), provided a quantized act reaches it through
 * max-pooling and dropout only (pooled codes stay codes); -1 otherwise. */
static int coded_source(dr_net *net, dr_layer *l, int *bits)
{
    const dr_layer *act = dr_net_input_act(net, l);
    if (!act || act->abits >= 32) return -1;
    int src = l->in[0];
    while (net->layers[src].ops == &dr_dropout_ops) src = net->layers[src].in[0];
    *bits = act->abits;
    return src;
}

static void try_fuse(dr_net *net, int i, dr_deploy_step *st)
{
    dr_layer *l = &net->layers[i];
    if (!is_linear(l) || l->wbits >= 32 || ((dr_linear *)l->priv)->g.groups != 1) return;
    int src_bits, src = coded_source(net, l, &src_bits);
    if (src < 0) return;
    int bn = -1, pool = -1, act = -1, pool_first = 0;
    for (int j = next_in_chain(net, i); j >= 0 && act < 0; j = next_in_chain(net, j)) {
        const dr_layer *m = &net->layers[j];
        if (m->ops == &dr_bn_ops && bn < 0) bn = j;
        else if (m->ops == &dr_maxpool_ops && pool < 0) pool = j, pool_first = bn < 0;
        else if (m->ops == &dr_act_ops && m->abits < 32) act = j;
        else break;
    }
    if (act < 0) return;
    int fn = dr_act_effective(&net->layers[act], net);
    if (fn != DR_ACT_CRELU && fn != DR_ACT_CABS) return;
    st[i] = (dr_deploy_step){DR_ROLE_HEAD, src, src_bits, bn, pool, act, pool_first && pool >= 0};
    if (bn >= 0) st[bn].role = DR_ROLE_MEMBER;
    if (pool >= 0) st[pool].role = DR_ROLE_MEMBER;
    st[act].role = DR_ROLE_MEMBER;
}

void dr_deploy_plan(dr_net *net, dr_deploy_step *steps)
{
    for (int i = 0; i < net->n_layers; i++)
        steps[i] = (dr_deploy_step){DR_ROLE_FLOAT, -1, 0, -1, -1, -1, 0};
    for (int i = 0; i < net->n_layers; i++)
        if (steps[i].role == DR_ROLE_FLOAT) try_fuse(net, i, steps);
    /* a quantized conv/fc that cannot fuse (no quantized act after it) still
     * takes coded input through the bit product, with a float epilogue */
    for (int i = 0; i < net->n_layers; i++) {
        dr_layer *l = &net->layers[i];
        if (steps[i].role != DR_ROLE_FLOAT || !is_linear(l) || l->wbits >= 32 ||
            ((dr_linear *)l->priv)->g.groups != 1)
            continue;
        int bits, src = coded_source(net, l, &bits);
        if (src >= 0) steps[i].src = src, steps[i].src_bits = bits;
    }
    /* a dropout read only by layers taking coded input is not needed (identity at inference) */
    for (int i = 0; i < net->n_layers; i++) {
        if (net->layers[i].ops != &dr_dropout_ops) continue;
        int all_heads = 1;
        for (int k = i + 1; k < net->n_layers; k++)
            for (int m = 0; m < net->layers[k].n_in; m++)
                if (net->layers[k].in[m] == i && steps[k].src < 0 &&
                    !(net->layers[k].ops == &dr_dropout_ops && steps[k].role == DR_ROLE_SKIP))
                    all_heads = 0;
        if (all_heads) steps[i].role = DR_ROLE_SKIP;
    }
}

int dr_deploy_float_chain(dr_net *net, const dr_deploy_step *steps, int i, int *pool, int *act)
{
    *pool = *act = -1;
    int j = next_in_chain(net, i);
    if (j >= 0 && net->layers[j].ops == &dr_maxpool_ops && steps[j].role == DR_ROLE_FLOAT)
        *pool = j, j = next_in_chain(net, j);
    if (j < 0 || net->layers[j].ops != &dr_act_ops || net->layers[j].abits >= 32 || steps[j].role != DR_ROLE_FLOAT)
        return 0;
    int fn = dr_act_effective(&net->layers[j], net);
    if (fn != DR_ACT_CRELU && fn != DR_ACT_CABS) return 0;
    *act = j;
    return 1;
}
