#include "guide.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/common.h"
#include "../model/plan.h"
#include "checkpoint.h"
#include "distill.h"
#include "train.h"

static int find_layer(dr_net *net, const char *name, const char *which)
{
    dr_layer *l = dr_net_find(net, name);
    if (!l) return dr_fail("--hint: the %s network (%s) has no layer named '%s'", which, net->path, name);
    return l->index;
}

int dr_guide_setup(dr_guide *g, dr_net *low, dr_net *partner, float T, float w_low, float w_full,
                   const char *hint, float hint_w)
{
    memset(g, 0, sizeof *g);
    g->T = T, g->w_low = w_low, g->w_full = w_full, g->hint_w = hint_w;
    g->hint_low = g->hint_full = -1;
    if (partner->input.h != low->input.h || partner->input.w != low->input.w ||
        partner->input.c != low->input.c)
        return dr_fail("guide model %s takes %dx%dx%d images, %s takes %dx%dx%d", partner->path,
                       partner->input.h, partner->input.w, partner->input.c, low->path,
                       low->input.h, low->input.w, low->input.c);
    if (dr_net_classes(partner) != dr_net_classes(low))
        return dr_fail("guide model %s has %d outputs, %s has %d", partner->path,
                       dr_net_classes(partner), low->path, dr_net_classes(low));
    if (partner->max_batch < low->max_batch)
        return dr_fail("guide model %s: batch %d is smaller than %d", partner->path, partner->max_batch,
                       low->max_batch);
    if (hint && hint[0]) {
        char a[DR_NAME_MAX * 2 + 2];
        snprintf(a, sizeof a, "%s", hint);
        char *colon = strchr(a, ':'), *b = colon ? colon + 1 : a;
        if (colon) *colon = 0;
        if ((g->hint_low = find_layer(low, a, "low-bitwidth")) < 0 ||
            (g->hint_full = find_layer(partner, b, "guide")) < 0)
            return -1;
        dr_shape s = low->layers[g->hint_low].out_shape, t = partner->layers[g->hint_full].out_shape;
        if (s.h != t.h || s.w != t.w || s.c != t.c)
            return dr_fail("--hint %s: layer '%s' gives %dx%dx%d, the guide's '%s' %dx%dx%d", hint, a,
                           s.h, s.w, s.c, b, t.h, t.w, t.c);
        dr_net_keep_output(low, g->hint_low);
        dr_net_keep_output(partner, g->hint_full);
    }
    g->net = partner; /* owned from here on */
    return 0;
}

void dr_guide_step(dr_guide *g, dr_net *low, const float *x, const int *y, int n, float lr)
{
    dr_net *full = g->net;
    full->pass.seed = low->pass.seed ^ 0x9e3779b97f4a7c15ull; /* its own dropout masks */
    full->pass.step = low->pass.step;
    dr_net_forward(full, x, y, n, 1);
    g->partner_loss_sum += full->pass.loss * n;
    const int C = dr_net_classes(low);
    dr_net_backward_begin(low, n, 1);
    dr_net_backward_begin(full, n, 1);
    /* both terms read the forward values of both networks, before any update */
    g->kd_sum += n * dr_distill_loss(dr_net_logits(low), dr_net_logits(full), n, C, g->T, g->w_low,
                                     dr_net_logits_grad(low));
    dr_distill_loss(dr_net_logits(full), dr_net_logits(low), n, C, g->T, g->w_full,
                    dr_net_logits_grad(full));
    if (g->hint_low >= 0) {
        dr_layer *a = &low->layers[g->hint_low], *b = &full->layers[g->hint_full];
        size_t per = dr_shape_size(a->out_shape);
        g->hint_sum += n * dr_hint_loss(a->out, b->out, n, per, g->hint_w, a->dout);
        dr_hint_loss(b->out, a->out, n, per, g->hint_w, b->dout);
    }
    dr_net_backward_run(low, n);
    dr_net_backward_run(full, n);
    dr_optim_step(&g->opt, full, lr);
}

void dr_guide_free(dr_guide *g)
{
    dr_optim_free(&g->opt);
    dr_net_free(g->net);
    memset(g, 0, sizeof *g);
}

/* Guided training's full-precision partner: a new network from cfg->guide, or
 * the one saved beside the checkpoint a run resumes from. */
int dr_guide_create(dr_guide *g, const dr_train_config *cfg, const char *resume, const dr_net_options *nopt,
                    dr_net *low)
{
    char path[1100];
    dr_checkpoint ck = {0};
    char *text = NULL;
    dr_net *partner = NULL;
    int rc = -1;
    if (resume) {
        /* the partner saved at the same step: guide.ckpt, or the one before it
         * (guide.prev.ckpt) when the run was stopped between its two saves */
        const char *slash = strrchr(resume, '/');
        const int dir = slash ? (int)(slash - resume + 1) : 0;
        dr_train_config pc;
        int found = 0;
        for (int k = 0; k < 2 && !found; k++) {
            snprintf(path, sizeof path, "%.*s%s", dir, resume, k ? "guide.prev.ckpt" : "guide.ckpt");
            if (access(path, R_OK)) continue;
            if (dr_checkpoint_read(path, &ck) || dr_train_config_parse(ck.conf, path, &pc)) goto out;
            found = pc.epoch == cfg->epoch && pc.step == cfg->step;
            if (!found) dr_checkpoint_free(&ck);
        }
        if (!found) {
            snprintf(path, sizeof path, "%.*sguide.ckpt", dir, resume);
            dr_fail("%s: no guide partner saved at step %llu beside it (%s, or guide.prev.ckpt)", resume,
                    (unsigned long long)cfg->step, path);
            goto out;
        }
        text = dr_xstrdup(ck.model);
        snprintf(path, sizeof path, "%s (guide model)", resume);
    } else if (dr_model_resolve(cfg->guide, path, sizeof path) || !(text = dr_read_file(path, NULL)))
        goto out;
    if (!(partner = dr_net_parse(text, path, nopt))) goto out;
    partner->bounded_act = cfg->bounded_act;
    const dr_bits full = dr_bits_float();
    if (dr_net_apply_bits(partner, &full)) goto out;
    dr_net_init(partner, cfg->seed + 7919);
    if (dr_guide_setup(g, low, partner, cfg->guide_T, cfg->guide_w_low, cfg->guide_w_full, cfg->hint,
                       cfg->hint_w))
        goto out;
    partner = NULL; /* g owns it now */
    dr_optim_init(&g->opt, &cfg->optim, g->net);
    if (resume && dr_checkpoint_restore(&ck, g->net, &g->opt)) goto out;
    rc = 0;
out:
    dr_net_free(partner);
    dr_checkpoint_free(&ck);
    free(text);
    return rc;
}
