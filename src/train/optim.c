#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"

void dr_optim_defaults(dr_optim_config *c)
{
    c->kind = DR_OPT_ADAM;
    c->lr = 1e-3f;
    c->beta1 = 0.9f;
    c->beta2 = 0.999f;
    c->eps = 1e-5f; /* tensorpack's choice for the DoReFa SVHN recipe */
    c->momentum = 0.9f;
    c->lr_decay = 0.5f;
    c->lr_decay_every = 0;
    c->weight_decay = 0.0f;
}

void dr_optim_init(dr_optim *o, const dr_optim_config *cfg, dr_net *net)
{
    o->cfg = *cfg;
    o->size = net->params_size;
    o->m = memset(dr_xalign(o->size * sizeof(float)), 0, o->size * sizeof(float));
    o->v = memset(dr_xalign(o->size * sizeof(float)), 0, o->size * sizeof(float));
    o->t = 0;
}

void dr_optim_free(dr_optim *o)
{
    free(o->m);
    free(o->v);
    o->m = o->v = NULL;
    o->size = 0;
}

float dr_optim_lr(const dr_optim_config *c, int epoch)
{
    if (c->lr_decay_every <= 0) return c->lr;
    return c->lr * powf(c->lr_decay, (float)(epoch / c->lr_decay_every));
}

static float l2_of(const dr_optim *o, const dr_param *p)
{
    return p->l2 >= 0 ? p->l2 : o->cfg.weight_decay;
}

void dr_optim_step(dr_optim *o, dr_net *net, float lr)
{
    o->t++;
    const dr_optim_config *c = &o->cfg;
    float bc1 = 1.0f - powf(c->beta1, (float)o->t), bc2 = 1.0f - powf(c->beta2, (float)o->t);
    float step = lr * sqrtf(bc2) / bc1;
    for (int i = 0; i < dr_net_param_count(net); i++) {
        dr_param *p = dr_net_param(net, i);
        float l2 = l2_of(o, p), *w = p->value, *g = p->grad, *m = o->m + p->offset, *v = o->v + p->offset;
        size_t n = p->size;
        if (c->kind == DR_OPT_ADAM) {
#pragma omp parallel for schedule(static) if (n > 65536)
            for (size_t k = 0; k < n; k++) {
                float gk = g[k] + l2 * w[k];
                m[k] = c->beta1 * m[k] + (1 - c->beta1) * gk;
                v[k] = c->beta2 * v[k] + (1 - c->beta2) * gk * gk;
                /* TensorFlow's form: epsilon added to sqrt(v) after bias correction of lr. */
                w[k] -= step * m[k] / (sqrtf(v[k]) + c->eps);
            }
        } else {
#pragma omp parallel for schedule(static) if (n > 65536)
            for (size_t k = 0; k < n; k++) {
                float gk = g[k] + l2 * w[k];
                m[k] = c->momentum * m[k] + gk;
                w[k] -= lr * m[k];
            }
        }
    }
}
