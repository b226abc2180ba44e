/* The public C API (include/dorefa.h) over the inference engine. */
#include "../../include/dorefa.h"

#include <stdlib.h>

#include "../core/common.h"
#include "../kernels/bitgemm.h"
#include "deploy.h"

struct dorefa_model {
    dr_engine *e;
    int max_batch;
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
    return DOREFA_OK;
}

void dorefa_free(dorefa_model *model)
{
    if (!model) return;
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

int dorefa_predict(dorefa_model *model, const float *images, int n, float *probs)
{
    if (!model || !images || !probs) return dr_fail("dorefa_predict: NULL argument"), DOREFA_ERR_ARGUMENT;
    if (n < 0) return dr_fail("dorefa_predict: negative image count %d", n), DOREFA_ERR_ARGUMENT;
    const dr_net *net = dr_engine_net(model->e);
    const size_t in = dr_shape_size(net->input), C = (size_t)dr_net_classes(net);
    for (int s = 0; s < n; s += model->max_batch) {
        int b = DR_MIN(model->max_batch, n - s);
        dr_engine_run(model->e, images + (size_t)s * in, b, probs + (size_t)s * C);
    }
    return DOREFA_OK;
}

const char *dorefa_last_error(void) { return dr_last_error(); }

const char *dorefa_version(void) { return DOREFA_VERSION_STRING; }
