/* The public C API (include/dorefa.h) over the inference engine. */
#include "../../include/dorefa.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../kernels/bitgemm.h"
#include "../quant/quantize.h"
#include "deploy.h"

struct dorefa_model {
    dr_engine *e;
    int max_batch;
    char **names; /* per class: its name, or its number */
    float *x; /* a batch of input scaled as in training (DR_PIXEL_SCALE) */
};

int dorefa_load(const char *path, int max_batch, dorefa_model **model)
{
    if (!model) return dr_fail("dorefa_load: model pointer is NULL"), DOREFA_ERR_ARGUMENT;
    *model = NULL;
    if (!path) return dr_fail("dorefa_load: path is NULL"), DOREFA_ERR_ARGUMENT;
    if (max_batch < 1 || max_batch > 65536)
        return dr_fail("dorefa_load: max_batch %d is not in 1..65536", max_batch), DOREFA_ERR_ARGUMENT;
    if (dr_bitgemm_select_from_env()) return DOREFA_ERR_KERNEL;
    dr_engine *e = dr_engine_load(path, max_batch);
    if (!e) return DOREFA_ERR_FILE;
    *model = dr_xmalloc(sizeof **model);
    (*model)->e = e;
    (*model)->max_batch = max_batch;
    (*model)->x = dr_xalign(sizeof(float) * (size_t)max_batch * dr_shape_size(dr_engine_net(e)->input));
    const int C = dr_net_classes(dr_engine_net(e));
    (*model)->names = dr_xcalloc((size_t)C, sizeof(char *));
    for (int i = 0; i < C; i++) {
        char name[300];
        dr_net_class_name(dr_engine_net(e), i, name, sizeof name);
        (*model)->names[i] = dr_xstrdup(name);
    }
    return DOREFA_OK;
}

void dorefa_free(dorefa_model *model)
{
    if (!model) return;
    for (int i = 0; model->names && i < dr_net_classes(dr_engine_net(model->e)); i++) free(model->names[i]);
    free(model->names);
    free(model->x);
    dr_engine_free(model->e);
    free(model);
}

void dorefa_input_shape(const dorefa_model *model, int *height, int *width, int *channels)
{
    const dr_net *net = dr_engine_net(model->e);
    if (height) *height = net->input.h;
    if (width) *width = net->input.w;
    if (channels) *channels = net->input.c;
}

int dorefa_classes(const dorefa_model *model) { return dr_net_classes(dr_engine_net(model->e)); }

const char *dorefa_bits(const dorefa_model *model) { return dr_engine_bits(model->e); }

const char *dorefa_class_name(const dorefa_model *model, int i)
{
    if (!model || i < 0 || i >= dr_net_classes(dr_engine_net(model->e))) return NULL;
    return model->names[i];
}

int dorefa_predict(dorefa_model *model, const float *images, int n, float *probs)
{
    if (!model || !images || !probs) return dr_fail("dorefa_predict: NULL argument"), DOREFA_ERR_ARGUMENT;
    if (n < 0) return dr_fail("dorefa_predict: negative image count %d", n), DOREFA_ERR_ARGUMENT;
    const dr_net *net = dr_engine_net(model->e);
    const size_t in = dr_shape_size(net->input), C = (size_t)dr_net_classes(net);
    for (int s = 0; s < n; s += model->max_batch) {
        /* training and the engine see pixels times DR_PIXEL_SCALE: so must the caller's pixels */
        const int b = DR_MIN(model->max_batch, n - s);
        const float *src = images + (size_t)s * in;
        for (size_t i = 0; i < (size_t)b * in; i++) model->x[i] = src[i] * DR_PIXEL_SCALE;
        dr_engine_run(model->e, model->x, b, probs + (size_t)s * C);
    }
    return DOREFA_OK;
}

const char *dorefa_last_error(void) { return dr_last_error(); }

const char *dorefa_version(void) { return DOREFA_VERSION_STRING; }

/* ---- the quantizers ---------------------------------------------------------------------- */

static int check_bits(const char *fn, int bits)
{
    if ((bits >= 1 && bits <= 8) || bits == DR_FLOAT_BITS) return 0;
    return dr_fail("%s: bits %d is not 1..8 or 32", fn, bits), DOREFA_ERR_ARGUMENT;
}

static int check_finite(const char *fn, const float *v, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        if (!(v[i] >= lo && v[i] <= hi))
            return dr_fail("%s: value %zu is %g, outside [%g, %g]", fn, i, (double)v[i], (double)lo, (double)hi),
                   DOREFA_ERR_ARGUMENT;
    return 0;
}

int dorefa_quantize_weights(const float *w, long n, int bits, float *out)
{
    int rc;
    if (!w || !out) return dr_fail("dorefa_quantize_weights: NULL argument"), DOREFA_ERR_ARGUMENT;
    if (n < 1) return dr_fail("dorefa_quantize_weights: count %ld is not positive", n), DOREFA_ERR_ARGUMENT;
    if ((rc = check_bits("dorefa_quantize_weights", bits)) ||
        (rc = check_finite("dorefa_quantize_weights", w, (size_t)n, -FLT_MAX, FLT_MAX)))
        return rc;
    if (bits == DR_FLOAT_BITS) {
        memmove(out, w, sizeof(float) * (size_t)n);
        return DOREFA_OK;
    }
    dr_wq_state st;
    dr_quantize_weights(w, (size_t)n, bits, out, &st);
    return DOREFA_OK;
}

int dorefa_quantize_activations(const float *x, long n, int bits, float *out)
{
    int rc;
    if (!x || !out) return dr_fail("dorefa_quantize_activations: NULL argument"), DOREFA_ERR_ARGUMENT;
    if (n < 0) return dr_fail("dorefa_quantize_activations: count %ld is negative", n), DOREFA_ERR_ARGUMENT;
    if ((rc = check_bits("dorefa_quantize_activations", bits)) ||
        (rc = check_finite("dorefa_quantize_activations", x, (size_t)n, 0.0f, 1.0f)))
        return rc;
    memmove(out, x, sizeof(float) * (size_t)n);
    if (bits != DR_FLOAT_BITS) dr_quantize_activations(out, (size_t)n, bits);
    return DOREFA_OK;
}

int dorefa_quantize_gradients(const float *g, int samples, long per_sample, int bits, unsigned long long seed,
                              unsigned long long step, int layer, float *out)
{
    int rc;
    if (!g || !out) return dr_fail("dorefa_quantize_gradients: NULL argument"), DOREFA_ERR_ARGUMENT;
    if (samples < 0 || per_sample < 0)
        return dr_fail("dorefa_quantize_gradients: negative count"), DOREFA_ERR_ARGUMENT;
    if ((rc = check_bits("dorefa_quantize_gradients", bits)) ||
        (rc = check_finite("dorefa_quantize_gradients", g, (size_t)samples * (size_t)per_sample, -FLT_MAX, FLT_MAX)))
        return rc;
    dr_quantize_gradients(g, samples, (size_t)per_sample, bits, seed, step, layer, out, NULL);
    return DOREFA_OK;
}
