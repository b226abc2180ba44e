/* A model file's text: parsed as training parses it (the input's first byte
 * picks the channels and the bits), and when it parses and is small (so that
 * runs stay quick: memory and multiply-adds), one training step (forward, backward) and one evaluation
 * pass on a batch of two. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "model/net.h"
#include "model/plan.h"

/* Multiply-adds per image of the products (a 35x35 conv on 43x43 pixels is
 * small in memory and 45 M MACs: seconds under the sanitizers). */
static double macs(const dr_net *net)
{
    double m = 0;
    for (int i = 0; i < net->n_layers; i++) {
        const dr_layer *l = &net->layers[i];
        if ((l->ops->roles & DR_ROLE_PRODUCTS) && l->n_params && l->out_shape.c)
            m += (double)dr_shape_size(l->out_shape) * (double)l->params[0].size / l->out_shape.c;
    }
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    if (size < 1) return 0;
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    dr_net_options opt = {.channels = 1 + data[0] % 3, .max_batch = 2};
    dr_net *net = dr_net_parse(text, "fuzz.net", &opt);
    free(text);
    if (!net) return 0;
    static const dr_bits BITS[4] = {{32, 32, 32, 0, 0}, {1, 2, 4, 0, 0}, {2, 3, 8, 1, 1}, {8, 1, 2, 0, 1}};
    static const int ACTS[3] = {-1, DR_ACT_CABS, DR_ACT_CRELU};
    if (dr_net_set_bounded_act(net, ACTS[(data[0] >> 2) % 3])) abort();
    if (dr_net_apply_bits(net, &BITS[(data[0] >> 4) % 4]) == 0 && net->bytes_needed < 4e6 && macs(net) < 4e6) {
        net->pass.bit_kernels = (data[0] >> 6) & 1;
        dr_net_init(net, 1);
        const size_t in = 2 * dr_shape_size(net->input);
        float *x = calloc(in, sizeof(float));
        for (size_t i = 0; i < in; i++) x[i] = (float)(i % 256);
        int y[2] = {0, dr_net_classes(net) - 1};
        dr_net_forward(net, x, y, 2, 1);
        dr_net_backward(net, 2);
        dr_net_forward(net, x, NULL, 2, 0);
        free(x);
    }
    dr_net_free(net);
    return 0;
}
