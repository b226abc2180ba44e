#include "checkpoint.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/common.h"
#include "../core/filebuf.h"
#include "../model/netio.h"
#include "train.h"

static const dr_file_kind CHECKPOINT = {
    .magic = {'D', 'O', 'R', 'E', 'F', 'A', 'C', 'K'},
    .name = "checkpoint",
    .magic_hint = "",
    .oldest = 1,
    .newest = DR_CHECKPOINT_VERSION,
    .too_old = "",
};

/* ---- writing ------------------------------------------------------------ */

static void put_named(dr_filebuf *b, const char *name, const float *v, size_t n)
{
    dr_put_u16(b, (uint16_t)strlen(name));
    dr_put(b, name, strlen(name));
    dr_put_u64(b, n);
    dr_put(b, v, n * sizeof(float));
}

int dr_checkpoint_save(const char *path, dr_net *net, const dr_optim *opt, const char *conf)
{
    dr_filebuf b = {0};
    dr_put_header(&b, CHECKPOINT.magic, DR_CHECKPOINT_VERSION, (uint32_t)dr_net_sections(net, conf != NULL) + (opt ? 3 : 2));
    dr_put_net_sections(&b, net, conf);
    size_t s = dr_begin_section(&b, "PARM");
    for (int i = 0; i < dr_net_param_count(net); i++) {
        dr_param *p = dr_net_param(net, i);
        put_named(&b, p->name, p->value, p->size);
    }
    dr_end_section(&b, s);
    s = dr_begin_section(&b, "STAT");
    for (int i = 0; i < net->n_layers; i++)
        if (net->layers[i].state_size)
            put_named(&b, net->layers[i].name, net->layers[i].state, net->layers[i].state_size);
    dr_end_section(&b, s);
    if (opt) {
        s = dr_begin_section(&b, "OPTM");
        dr_put_u64(&b, opt->t);
        for (int i = 0; i < dr_net_param_count(net); i++) {
            dr_param *p = dr_net_param(net, i);
            put_named(&b, p->name, opt->m + p->offset, p->size);
            put_named(&b, p->name, opt->v + p->offset, p->size);
        }
        dr_end_section(&b, s);
    }
    dr_put_crc(&b);
    int r = dr_write_atomic(path, b.p, b.len);
    free(b.p);
    return r;
}

/* ---- reading ------------------------------------------------------------ */

int dr_checkpoint_read(const char *path, dr_checkpoint *ck)
{
    memset(ck, 0, sizeof *ck);
    snprintf(ck->path, sizeof ck->path, "%s", path);
    ck->buf = (uint8_t *)dr_read_file(path, &ck->len);
    if (!ck->buf) return -1;
    const uint8_t *b = ck->buf;
    size_t len = ck->len;
    dr_section sec[16];
    int ns = dr_read_sections(path, b, len, &CHECKPOINT, &ck->version, sec, 16);
    if (ns < 0) goto fail;
    for (int i = 0; i < ns; i++) {
        size_t pos = sec[i].off, n = sec[i].len;
        const char *tag = sec[i].tag;
        if (!memcmp(tag, "CONF", 4)) ck->conf = dr_xstrndup((const char *)b + pos, n);
        else if (!memcmp(tag, "MODL", 4)) ck->model = dr_xstrndup((const char *)b + pos, n);
        else if (!memcmp(tag, "INPT", 4)) {
            if (dr_get_input(path, b + pos, n, &ck->input)) goto fail;
        } else if (!memcmp(tag, "BITS", 4)) {
            if (dr_get_bits(path, b + pos, n, &ck->bits, &ck->bounded_act)) goto fail;
            ck->has_bits = 1;
        } else if (!memcmp(tag, "PARM", 4)) ck->parm_off = pos, ck->parm_len = n;
        else if (!memcmp(tag, "STAT", 4)) ck->stat_off = pos, ck->stat_len = n;
        else if (!memcmp(tag, "OPTM", 4)) ck->optm_off = pos, ck->optm_len = n;
        else if (!memcmp(tag, "CLSS", 4)) ck->clss_off = pos, ck->clss_len = n;
    }
    if (!ck->conf || !ck->model || !ck->input.c || !ck->parm_off || (ck->version >= 2 && !ck->has_bits)) {
        dr_fail("%s: checkpoint lacks a required section", path);
        goto fail;
    }
    return 0;
fail:
    dr_checkpoint_free(ck);
    return -1;
}

/* Reads one named float array at *pos into dst (expected name and count). */
static int take_named(const dr_checkpoint *ck, size_t *pos, size_t end, const char *name,
                      float *dst, size_t count)
{
    const uint8_t *b = ck->buf;
    if (end - *pos < 2) return dr_fail("%s: missing entry for '%s'", ck->path, name);
    uint16_t nl = (uint16_t)(b[*pos] | b[*pos + 1] << 8);
    if (end - *pos < 2u + nl + 8u) return dr_fail("%s: truncated entry for '%s'", ck->path, name);
    const char *got = (const char *)b + *pos + 2;
    if (nl != strlen(name) || memcmp(got, name, nl))
        return dr_fail("%s: expected '%s', found '%.*s' (model and checkpoint differ)", ck->path,
                       name, (int)nl, got);
    uint64_t n = dr_get_u64(b + *pos + 2 + nl);
    if (n != count)
        return dr_fail("%s: '%s' has %llu values, the model needs %zu (model and checkpoint differ)",
                       ck->path, name,
                       (unsigned long long)n, count);
    size_t at = *pos + 2 + nl + 8;
    if (end - at < count * sizeof(float))
        return dr_fail("%s: truncated values of '%s'", ck->path, name);
    memcpy(dst, b + at, count * sizeof(float));
    *pos = at + count * sizeof(float);
    for (size_t i = 0; i < count; i++)
        if (!isfinite(dst[i]))
            return dr_fail("%s: '%s' holds a non-finite value (%g at index %zu): the checkpoint is damaged", ck->path,
                           name, dst[i], i);
    return 0;
}

/* Every entry of a section was read: a checkpoint of a larger model is not this one. */
static int section_done(const dr_checkpoint *ck, size_t pos, size_t end, const char *what)
{
    if (pos != end)
        return dr_fail("%s: %zu bytes of %s beyond what the model holds (model and checkpoint differ)", ck->path,
                       end - pos, what);
    return 0;
}

/* The bits a checkpoint's weights were saved with: its BITS section, or in a
 * version 1 file its configuration (the schedule's stage, the model's default). */
static int restore_bits(const dr_checkpoint *ck, dr_net *net)
{
    if (ck->has_bits) {
        net->bounded_act = ck->bounded_act;
        return dr_net_apply_bits(net, &ck->bits);
    }
    dr_train_config cfg;
    if (dr_train_config_parse(ck->conf, ck->path, &cfg) || dr_train_config_resolve_bits(&cfg, net)) return -1;
    net->bounded_act = cfg.bounded_act;
    return dr_net_apply_bits(net, &cfg.bits);
}

int dr_checkpoint_restore(const dr_checkpoint *ck, dr_net *net, dr_optim *opt)
{
    if (restore_bits(ck, net)) return -1;
    if (ck->clss_off) {
        char *names;
        if (dr_get_class_names(ck->path, ck->buf + ck->clss_off, ck->clss_len, dr_net_classes(net), &names))
            return -1;
        free(net->class_names);
        net->class_names = names;
    }
    size_t pos = ck->parm_off, end = ck->parm_off + ck->parm_len;
    for (int i = 0; i < dr_net_param_count(net); i++) {
        dr_param *p = dr_net_param(net, i);
        if (take_named(ck, &pos, end, p->name, p->value, p->size)) return -1;
    }
    if (section_done(ck, pos, end, "parameters")) return -1;
    pos = ck->stat_off;
    end = ck->stat_off + ck->stat_len;
    for (int i = 0; i < net->n_layers; i++) {
        dr_layer *l = &net->layers[i];
        if (l->state_size && take_named(ck, &pos, end, l->name, l->state, l->state_size)) return -1;
    }
    if (section_done(ck, pos, end, "layer state")) return -1;
    if (!opt) return 0;
    if (!ck->optm_off) return dr_fail("%s: has no optimizer state to resume from", ck->path);
    pos = ck->optm_off;
    end = ck->optm_off + ck->optm_len;
    if (end - pos < 8) return dr_fail("%s: truncated optimizer state", ck->path);
    opt->t = dr_get_u64(ck->buf + pos);
    pos += 8;
    for (int i = 0; i < dr_net_param_count(net); i++) {
        dr_param *p = dr_net_param(net, i);
        if (take_named(ck, &pos, end, p->name, opt->m + p->offset, p->size) ||
            take_named(ck, &pos, end, p->name, opt->v + p->offset, p->size))
            return -1;
        for (size_t k = 0; k < p->size; k++)
            if (opt->v[p->offset + k] < 0)
                return dr_fail("%s: the optimizer state of '%s' is damaged (a negative second moment)", ck->path,
                               p->name);
    }
    return section_done(ck, pos, end, "optimizer state");
}

void dr_checkpoint_free(dr_checkpoint *ck)
{
    free(ck->buf);
    free(ck->conf);
    free(ck->model);
    ck->buf = NULL;
    ck->conf = ck->model = NULL;
}

dr_net *dr_checkpoint_load_net(const char *path, int max_batch, char **conf)
{
    dr_checkpoint ck;
    if (dr_checkpoint_read(path, &ck)) return NULL;
    char origin[1100];
    snprintf(origin, sizeof origin, "%s (model)", path);
    dr_net_options nopt = {.channels = ck.input.c, .height = ck.input.h, .width = ck.input.w, .max_batch = max_batch};
    dr_net *net = dr_net_parse(ck.model, origin, &nopt);
    if (net && dr_checkpoint_restore(&ck, net, NULL)) dr_net_free(net), net = NULL;
    if (net && conf) *conf = dr_xstrdup(ck.conf);
    dr_checkpoint_free(&ck);
    return net;
}
