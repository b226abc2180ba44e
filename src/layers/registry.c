#include <string.h>

#include "layer.h"

const dr_layer_ops *dr_layer_ops_find(const char *type)
{
    static const dr_layer_ops *const all[] = {&dr_conv_ops,    &dr_fc_ops,   &dr_bn_ops,
                                              &dr_maxpool_ops, &dr_avgpool_ops, &dr_act_ops,
                                              &dr_dropout_ops, &dr_add_ops,  &dr_softmax_ops};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (!strcmp(all[i]->type, type)) return all[i];
    return NULL;
}
