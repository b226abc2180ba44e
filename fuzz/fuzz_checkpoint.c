/* A checkpoint, read as 'dorefa eval' and '--resume' read it: the file, its
 * model, the parameters, state and optimizer moments, then one evaluation pass. */
#include <stdlib.h>

#include "fuzz.h"
#include "model/net.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/optim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    const char *path = fz_file_with_crc("x.ckpt", data, size);
    dr_checkpoint ck;
    if (dr_checkpoint_read(path, &ck)) return 0;
    dr_train_config cfg;
    dr_net_options nopt = {.channels = ck.input.c, .height = ck.input.h, .width = ck.input.w, .max_batch = 1};
    dr_net *net = NULL;
    if (dr_train_config_parse(ck.conf, path, &cfg) == 0 && (net = dr_net_parse(ck.model, path, &nopt))) {
        dr_optim opt;
        dr_optim_init(&opt, &cfg.optim, net);
        if (dr_checkpoint_restore(&ck, net, &opt) == 0) {
            float *x = calloc(dr_shape_size(net->input), sizeof(float));
            dr_net_forward(net, x, NULL, 1, 0);
            free(x);
        }
        dr_optim_free(&opt);
    }
    dr_net_free(net);
    dr_checkpoint_free(&ck);
    return 0;
}
