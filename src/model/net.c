#include "net.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <omp.h>
#include <string.h>
#include <unistd.h>

#include "../core/common.h"
#include "../kernels/bitgemm.h"
#include "plan.h"

#ifndef DR_MODEL_DIRS
#define DR_MODEL_DIRS "models"
#endif

dr_param *dr_layer_add_param(dr_layer *l, const char *suffix, size_t size, float l2)
{
    dr_param *p = &l->params[l->n_params++];
    snprintf(p->name, sizeof p->name, "%s.%s", l->name, suffix);
    p->size = size;
    p->l2 = l2;
    return p; /* value and grad: views into the arenas, once all layers are set up */
}

dr_layer *dr_net_find(dr_net *net, const char *name)
{
    for (int i = 0; i < net->n_layers; i++)
        if (!strcmp(net->layers[i].name, name)) return &net->layers[i];
    return NULL;
}

/* ---- parsing ---------------------------------------------------------- */

static int parse_input_line(dr_net *net, dr_kv *kv, const dr_net_options *opt)
{
    int size, h, w, c, nb;
    if (dr_kv_int(kv, "size", 0, 1, 4096, &size) || dr_kv_int(kv, "height", size, 1, 4096, &h) ||
        dr_kv_int(kv, "width", size, 1, 4096, &w) || dr_kv_int(kv, "channels", 0, 1, 4096, &c) ||
        dr_kv_ints(kv, "bits", net->default_bits, 3, &nb) || dr_kv_check_unused(kv, "input"))
        return -1;
    for (int i = 0; i < nb; i++)
        if (nb != 3 || !dr_bits_valid(net->default_bits[i]))
            return dr_kv_fail(kv, "bits= must be W,A,G with each 1..8 or 32");
    if (!h || !w) return dr_kv_fail(kv, "input needs size= (or height= and width=)");
    if (opt->height) h = opt->height;
    if (opt->width) w = opt->width;
    if (opt->channels) c = opt->channels;
    if (!c) return dr_kv_fail(kv, "input channels unknown: give channels= or load a data set");
    net->input = (dr_shape){h, w, c};
    return 0;
}

/* Resolves from=a,b into producer indices. */
static int parse_from(dr_net *net, dr_layer *l, dr_kv *kv)
{
    const char *from;
    dr_kv_str(kv, "from", NULL, &from);
    if (!from) {
        l->src[0] = l->index - 1;
        l->n_in = 1;
        return 0;
    }
    char buf[128];
    snprintf(buf, sizeof buf, "%s", from);
    l->n_in = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (l->n_in == 2) return dr_kv_fail(kv, "from= takes at most two layers");
        int idx = -2;
        if (!strcmp(tok, "input"))
            idx = -1;
        else
            for (int i = 0; i < l->index; i++)
                if (!strcmp(net->layers[i].name, tok)) idx = i;
        if (idx == -2) return dr_kv_fail(kv, "from=%s: no earlier layer named '%s'", from, tok);
        l->src[l->n_in++] = idx;
    }
    return 0;
}

static int parse_layer_line(dr_net *net, const char *type, dr_kv *kv)
{
    const dr_layer_ops *ops = dr_layer_ops_find(type);
    if (!ops) return dr_kv_fail(kv, "unknown layer type '%s'", type);
    dr_layer *l = &net->layers[net->n_layers];
    memset(l, 0, sizeof *l);
    l->ops = ops;
    l->index = net->n_layers;
    l->line = kv->line;
    const char *name;
    dr_kv_str(kv, "name", NULL, &name);
    if (name) {
        if (strlen(name) >= DR_NAME_MAX) return dr_kv_fail(kv, "name '%s' is too long", name);
        if (!strcmp(name, "input") || dr_net_find(net, name))
            return dr_kv_fail(kv, "layer name '%s' is already used", name);
        strcpy(l->name, name);
    } else {
        snprintf(l->name, sizeof l->name, "%s%d", ops->type, l->index);
    }
    net->n_layers++; /* from here on destroy() owns the layer */
    l->file_quant = -1;
    if (parse_from(net, l, kv) || ops->parse(l, kv) || dr_kv_check_unused(kv, type)) return -1;
    l->in_shape = l->src[0] < 0 ? net->input : net->layers[l->src[0]].out_shape;
    for (int i = 1; i < l->n_in; i++) {
        dr_shape s = l->src[i] < 0 ? net->input : net->layers[l->src[i]].out_shape;
        if (s.h != l->in_shape.h || s.w != l->in_shape.w || s.c != l->in_shape.c)
            return dr_kv_fail(kv, "inputs of '%s' have different shapes (%dx%dx%d vs %dx%dx%d)",
                              l->name, l->in_shape.h, l->in_shape.w, l->in_shape.c, s.h, s.w, s.c);
    }
    if (ops->setup(l, &net->pass)) return dr_kv_fail(kv, "%s", dr_last_error());
    dr_shape o = l->out_shape;
    if (o.h <= 0 || o.w <= 0 || o.c <= 0)
        return dr_kv_fail(kv, "layer '%s' has an empty output (%dx%dx%d) for input %dx%dx%d",
                          l->name, o.h, o.w, o.c, l->in_shape.h, l->in_shape.w, l->in_shape.c);
    /* the limits: values of one tensor (a batch) and of one parameter, and memory in all */
    const double values = (double)net->max_batch * o.h * o.w * o.c;
    if (values > DR_MAX_TENSOR)
        return dr_kv_fail(kv, "layer '%s' gives %dx%dx%d values per image, %.0f for a batch of %d: more than "
                              "the limit of 2^31-1 per tensor", l->name, o.h, o.w, o.c, values, net->max_batch);
    double params = 0;
    for (int j = 0; j < l->n_params; j++) {
        if ((double)l->params[j].size > DR_MAX_TENSOR)
            return dr_kv_fail(kv, "layer '%s' has %zu parameters in '%s': more than the limit of 2^31-1", l->name,
                              l->params[j].size, l->params[j].name);
        params += (double)l->params[j].size;
    }
    /* out, dout and the layer's own buffers; per parameter its value, gradient, two optimizer
     * moments and a quantized layer's two copies */
    net->bytes_needed += 4.0 * (3 * values + 6 * params + l->state_size);
    if (net->bytes_needed > dr_memory_limit()) {
        char need[32], have[32];
        return dr_kv_fail(kv, "the network needs %s at batch %d up to layer '%s', more than the %s it may use",
                          dr_format_bytes(net->bytes_needed, need, sizeof need), net->max_batch, l->name,
                          dr_format_bytes(dr_memory_limit(), have, sizeof have));
    }
    size_t sz = (size_t)net->max_batch * dr_shape_size(o);
    l->out = dr_xalign(sz * sizeof(float));
    l->dout = dr_xalign(sz * sizeof(float));
    if (l->ops->roles & DR_ROLE_BOUNDED_ACT) l->codes = dr_xalign(sz); /* for plan.writes_codes */
    return 0;
}

/* The next model-file line with content: comment stripped, leading blanks
 * skipped, into buf. Returns NULL at the end of the text; sets *too_long (and
 * returns NULL) for a line that does not fit. */
static char *next_line(const char **p, int *lineno, char *buf, size_t cap, int *too_long)
{
    *too_long = 0;
    while (**p) {
        const char *eol = strchr(*p, '\n');
        size_t len = eol ? (size_t)(eol - *p) : strlen(*p);
        ++*lineno;
        if (len >= cap) {
            *too_long = 1;
            return NULL;
        }
        memcpy(buf, *p, len);
        buf[len] = 0;
        *p += len + (eol ? 1 : 0);
        char *hash = strchr(buf, '#');
        if (hash) *hash = 0;
        char *s = buf;
        while (isspace((unsigned char)*s)) s++;
        if (*s) return s;
    }
    return NULL;
}

/* Views into 64-byte aligned arenas: each view starts at a multiple of 16 floats. */
static size_t aligned(size_t floats) { return (floats + 15) & ~(size_t)15; }

/* Every layer is set up: its inputs are linked and its parameters and state
 * get their views into the arenas. */
static void finish_layers(dr_net *net)
{
    net->params_size = net->state_size = 0;
    for (int i = 0; i < net->n_layers; i++) {
        dr_layer *l = &net->layers[i];
        for (int k = 0; k < l->n_in; k++) l->from[k] = l->src[k] < 0 ? NULL : &net->layers[l->src[k]];
        for (int j = 0; j < l->n_params; j++) {
            l->params[j].offset = net->params_size;
            net->params_size += aligned(l->params[j].size);
        }
        l->state_offset = net->state_size;
        net->state_size += aligned(l->state_size);
    }
    const size_t pbytes = net->params_size * sizeof(float), sbytes = net->state_size * sizeof(float);
    net->params = memset(dr_xalign(pbytes), 0, pbytes);
    net->grads = memset(dr_xalign(pbytes), 0, pbytes);
    net->state = memset(dr_xalign(sbytes), 0, sbytes);
    for (int i = 0; i < net->n_layers; i++) {
        dr_layer *l = &net->layers[i];
        for (int j = 0; j < l->n_params; j++) {
            l->params[j].value = net->params + l->params[j].offset;
            l->params[j].grad = net->grads + l->params[j].offset;
        }
        l->state = l->state_size ? net->state + l->state_offset : NULL;
    }
}

dr_net *dr_net_parse(const char *text, const char *path, const dr_net_options *opt)
{
    if (dr_bitgemm_select_from_env()) return NULL; /* its products will run on that kernel */
    dr_net *net = dr_xcalloc(1, sizeof *net);
    net->path = dr_xstrdup(path);
    net->source = dr_xstrdup(text);
    net->max_batch = net->pass.max_batch = opt->max_batch > 0 ? opt->max_batch : 1;
    net->bounded_act = -1;
    net->bits = dr_bits_float();
    int cap = 16, lineno = 0, have_input = 0;
    net->layers = dr_xcalloc((size_t)cap, sizeof(dr_layer));
    const char *p = text;
    char line[1024], *s;
    int too_long;
    while ((s = next_line(&p, &lineno, line, sizeof line, &too_long))) {
        char *type = s;
        while (*s && !isspace((unsigned char)*s)) s++;
        if (*s) *s++ = 0;
        dr_kv kv;
        if (dr_kv_parse(&kv, s, path, lineno)) goto fail;
        if (!strcmp(type, "input")) {
            if (have_input) {
                dr_kv_fail(&kv, "input given twice");
                goto fail;
            }
            if (parse_input_line(net, &kv, opt)) goto fail;
            const double values = (double)net->max_batch * dr_shape_size(net->input);
            if (values > DR_MAX_TENSOR) {
                dr_kv_fail(&kv, "input %dx%dx%d for a batch of %d is %.0f values: more than the limit of 2^31-1",
                           net->input.h, net->input.w, net->input.c, net->max_batch, values);
                goto fail;
            }
            net->bytes_needed = 4.0 * values;
            have_input = 1;
            net->pass.in = dr_xalign((size_t)net->max_batch * dr_shape_size(net->input) * sizeof(float));
            continue;
        }
        if (!have_input) {
            dr_kv_fail(&kv, "the first line must be 'input size=N'");
            goto fail;
        }
        if (net->n_layers == DR_MAX_LAYERS) {
            dr_kv_fail(&kv, "more than %d layers", DR_MAX_LAYERS);
            goto fail;
        }
        if (net->n_layers == cap)
            net->layers = dr_xrealloc(net->layers, sizeof(dr_layer) * (size_t)(cap *= 2));
        if (parse_layer_line(net, type, &kv)) goto fail;
    }
    if (too_long) {
        dr_fail("%s:%d: line too long", path, lineno);
        goto fail;
    }
    if (!net->n_layers) {
        dr_fail("%s: no layers", path);
        goto fail;
    }
    if (!(net->layers[net->n_layers - 1].ops->roles & DR_ROLE_LOSS)) {
        dr_fail("%s:%d: the last layer must be 'softmax' (the loss)", path,
                net->layers[net->n_layers - 1].line);
        goto fail;
    }
    for (int i = 0; i < net->n_layers - 1; i++)
        if (net->layers[i].ops->roles & DR_ROLE_LOSS) {
            dr_fail("%s:%d: softmax may only be the last layer", path, net->layers[i].line);
            goto fail;
        }
    finish_layers(net);
    dr_net_plan(net, NULL);
    return net;
fail:
    dr_net_free(net);
    return NULL;
}

dr_net *dr_net_load(const char *path, const dr_net_options *opt)
{
    char *text = dr_read_file(path, NULL);
    if (!text) return NULL;
    dr_net *net = dr_net_parse(text, path, opt);
    free(text);
    return net;
}

void dr_net_free(dr_net *net)
{
    if (!net) return;
    for (int i = 0; i < net->n_layers; i++) {
        dr_layer *l = &net->layers[i];
        if (l->ops->destroy) l->ops->destroy(l);
        free(l->priv);
        free(l->out);
        free(l->dout);
        free(l->codes);
    }
    free(net->layers);
    free(net->params), free(net->grads), free(net->state);
    free(net->pass.in);
    free(net->path);
    free(net->source);
    free(net->class_names);
    dr_workspace_free(&net->pass.ws);
    free(net);
}

/* ---- running ------------------------------------------------------------ */

void dr_net_init(dr_net *net, uint64_t seed)
{
    for (int i = 0; i < net->n_layers; i++) {
        dr_layer *l = &net->layers[i];
        dr_rng rng;
        dr_rng_seed(&rng, seed, DR_RNG_INIT, (uint64_t)i, 0);
        if (l->ops->init) l->ops->init(l, &rng);
    }
}

void dr_net_forward(dr_net *net, const float *x, const int *labels, int n, int train)
{
    if (x != net->pass.in) memcpy(net->pass.in, x, (size_t)n * dr_shape_size(net->input) * sizeof(float));
    net->pass.labels = labels;
    net->pass.train = train;
    for (int i = 0; i < net->n_layers; i++) net->layers[i].ops->forward(&net->layers[i], &net->pass, n);
}

/* Zeroes the output gradients that backward adds to, and the gradient arena. */
static void zero_gradients(dr_net *net, int n)
{
    /* the output gradients are most of a step's memory: zeroed by all threads */
#pragma omp parallel
    {
        const size_t nt = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
        for (int i = 0; i < net->n_layers; i++) {
            dr_layer *l = &net->layers[i];
            const size_t size = net->pass.grads_add || !l->plan.dout_stored ? (size_t)n * dr_shape_size(l->out_shape) : 0;
            const size_t a = size * t / nt, b = size * (t + 1) / nt;
            memset(l->dout + a, 0, (b - a) * sizeof(float));
        }
        const size_t a = net->params_size * t / nt, b = net->params_size * (t + 1) / nt;
        memset(net->grads + a, 0, (b - a) * sizeof(float));
    }
}

void dr_net_backward_begin(dr_net *net, int n, int extra_terms)
{
    net->pass.grads_add = extra_terms; /* the caller adds to douts before the layers run */
    zero_gradients(net, n);
}

void dr_net_backward_run(dr_net *net, int n)
{
    dr_group *g = net->pass.group;
    for (int i = net->n_layers - 1; i >= 0; i--) {
        net->layers[i].ops->backward(&net->layers[i], &net->pass, n);
        if (g && g->grads_ready) g->grads_ready(g, i); /* its gradients may go out while the rest runs */
    }
}

void dr_net_backward(dr_net *net, int n)
{
    dr_net_backward_begin(net, n, 0);
    dr_net_backward_run(net, n);
}

const float *dr_net_logits(dr_net *net) { return dr_input(&net->layers[net->n_layers - 1], &net->pass, 0); }

float *dr_net_logits_grad(dr_net *net) { return dr_input_grad(&net->layers[net->n_layers - 1], 0); }

const float *dr_net_output(const dr_net *net) { return net->layers[net->n_layers - 1].out; }

int dr_net_classes(const dr_net *net) { return net->layers[net->n_layers - 1].out_shape.c; }

int dr_net_param_count(const dr_net *net)
{
    int c = 0;
    for (int i = 0; i < net->n_layers; i++) c += net->layers[i].n_params;
    return c;
}

dr_param *dr_net_param(dr_net *net, int k)
{
    for (int i = 0; i < net->n_layers; i++) {
        if (k < net->layers[i].n_params) return &net->layers[i].params[k];
        k -= net->layers[i].n_params;
    }
    return NULL;
}

size_t dr_net_weight_count(const dr_net *net)
{
    size_t c = 0;
    for (int i = 0; i < net->n_layers; i++)
        for (int j = 0; j < net->layers[i].n_params; j++) c += net->layers[i].params[j].size;
    return c;
}

int dr_model_resolve(const char *name, char *path, size_t cap)
{
    if (access(name, R_OK) == 0 || strchr(name, '/')) {
        snprintf(path, cap, "%s", name);
        return 0;
    }
    char dirs[1024];
    snprintf(dirs, sizeof dirs, "%s", DR_MODEL_DIRS);
    for (char *d = strtok(dirs, ":"); d; d = strtok(NULL, ":")) {
        const char *ext = strstr(name, ".net") ? "" : ".net";
        snprintf(path, cap, "%s/%s%s", d, name, ext);
        if (access(path, R_OK) == 0) return 0;
    }
    return dr_fail("%s: no such model file (and no shipped model of that name in %s)", name,
                   DR_MODEL_DIRS);
}

int dr_model_peek_input(const char *text, const char *path, int *h, int *w)
{
    dr_net_options opt = {.channels = 1, .max_batch = 1};
    /* Parse just the lines up to and including 'input'. */
    const char *p = text;
    char line[1024], *s;
    int lineno = 0, too_long;
    while ((s = next_line(&p, &lineno, line, sizeof line, &too_long))) {
        if (strncmp(s, "input", 5) || (s[5] && !isspace((unsigned char)s[5])))
            return dr_fail("%s:%d: the first line must be 'input size=N'", path, lineno);
        dr_kv kv;
        dr_net net = {0};
        if (dr_kv_parse(&kv, s + 5, path, lineno)) return -1;
        for (int i = 0; i < kv.n; i++)
            if (!strcmp(kv.items[i].key, "channels")) kv.items[i].used = 1;
        if (parse_input_line(&net, &kv, &opt)) return -1;
        *h = net.input.h;
        *w = net.input.w;
        return 0;
    }
    if (too_long) return dr_fail("%s:%d: line too long", path, lineno);
    return dr_fail("%s: no 'input' line", path);
}

/* ---- class names ------------------------------------------------------------ */

/* The i-th line of a text, or NULL, and its length. */
static const char *line_of(const char *text, int i, size_t *len)
{
    const char *p = text;
    for (int k = 0; p && k < i; k++) p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL;
    *len = p ? strcspn(p, "\n") : 0;
    return p && *len ? p : NULL;
}

void dr_net_set_class_names(dr_net *net, const char *names)
{
    free(net->class_names);
    net->class_names = NULL;
    if (!names) return;
    const int C = dr_net_classes(net);
    size_t cap = strlen(names) + 12 * (size_t)C + 1, o = 0;
    char *out = dr_xmalloc(cap);
    out[0] = 0;
    for (int i = 0; i < C; i++) {
        size_t n;
        const char *p = line_of(names, i, &n);
        o += (size_t)(p ? snprintf(out + o, cap - o, "%s%.*s", i ? "\n" : "", (int)n, p)
                        : snprintf(out + o, cap - o, "%s%d", i ? "\n" : "", i));
    }
    net->class_names = out;
}

void dr_net_class_name(const dr_net *net, int i, char *buf, size_t cap)
{
    size_t n;
    const char *p = line_of(net->class_names, i, &n);
    if (p) snprintf(buf, cap, "%.*s", (int)n, p);
    else snprintf(buf, cap, "%d", i);
}

/* ---- description ---------------------------------------------------------------- */

char *dr_net_describe(const dr_net *net)
{
    size_t cap = 512 + (size_t)net->n_layers * 1024, n = 0;
    char *buf = dr_xmalloc(cap);
    n += (size_t)snprintf(buf, cap, "net input=%d,%d,%d classes=%d bits=%d,%d,%d first=%d last=%d bounded=%s\n",
                          net->input.h, net->input.w, net->input.c, dr_net_classes(net), net->bits.w, net->bits.a,
                          net->bits.g, net->bits.quantize_first, net->bits.quantize_last, dr_act_name(net->bounded_act));
    for (int i = 0; i < net->n_layers && n < cap; i++) {
        const dr_layer *l = &net->layers[i];
        n += (size_t)snprintf(buf + n, cap - n, "layer type=%s name=%s from=", l->ops->type, l->name);
        for (int k = 0; k < l->n_in && n < cap; k++) n += (size_t)snprintf(buf + n, cap - n, "%s%d", k ? "," : "", l->src[k]);
        n += (size_t)snprintf(buf + n, cap - n, " in=%d,%d,%d out=%d,%d,%d params=", l->in_shape.h, l->in_shape.w,
                              l->in_shape.c, l->out_shape.h, l->out_shape.w, l->out_shape.c);
        for (int k = 0; k < l->n_params && n < cap; k++)
            n += (size_t)snprintf(buf + n, cap - n, "%s%s", k ? "," : "", l->params[k].name);
        if (!l->n_params && n < cap) n += (size_t)snprintf(buf + n, cap - n, "-");
        if (n < cap) n += (size_t)snprintf(buf + n, cap - n, " state=%zu", l->state_size);
        if (l->ops->describe && n < cap) l->ops->describe(l, buf + n, cap - n), n += strlen(buf + n);
        if (n < cap) n += (size_t)snprintf(buf + n, cap - n, "\n");
    }
    return buf;
}
