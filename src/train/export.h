/* dorefa export: a checkpoint -> a deployment file (deploy/format.h) that the
 * inference engine (deploy/deploy.h) runs. */
#ifndef DR_EXPORT_H
#define DR_EXPORT_H

#include <stddef.h>

typedef struct {
    size_t file_bytes, float_weight_bytes; /* exported size; the same weights in float32 */
    int fused_blocks, float_layers;
    int int8_layer; /* the layer exported as an 8-bit integer first layer, or -1 */
} dr_export_info;

/* The first layer (when it has float weights): float, or 8-bit integer
 * weights per output channel (the engine's integer kernels). */
enum { DR_FIRST_LAYER_FLOAT = 0, DR_FIRST_LAYER_INT8 = 1 };
#define DR_FIRST_LAYER_DEFAULT DR_FIRST_LAYER_FLOAT
/* "int8" or "float" -> DR_FIRST_LAYER_*; -1 with a message otherwise. */
int dr_first_layer_parse(const char *s);

/* Writes the deployment file of a checkpoint. */
int dr_export(const char *ckpt_path, const char *out_path, int first_layer, dr_export_info *info);
/* The same for a network whose bits are applied (conf: the training configuration text, or NULL). */
struct dr_net;
int dr_export_net(struct dr_net *net, const char *conf, const char *out_path, int first_layer, dr_export_info *info);

#endif
