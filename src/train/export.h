/* dorefa export: a checkpoint -> a deployment file (deploy/format.h) that the
 * inference engine (deploy/deploy.h) runs. */
#ifndef DR_EXPORT_H
#define DR_EXPORT_H

#include <stddef.h>

typedef struct {
    size_t file_bytes, float_weight_bytes; /* exported size; the same weights in float32 */
    int fused_blocks, float_layers;
} dr_export_info;

/* Writes the deployment file of a checkpoint. */
int dr_export(const char *ckpt_path, const char *out_path, dr_export_info *info);
/* The same for a network whose bits are applied (conf: the training configuration text, or NULL). */
struct dr_net;
int dr_export_net(struct dr_net *net, const char *conf, const char *out_path, dr_export_info *info);

#endif
