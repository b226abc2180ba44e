/* dorefa export --format onnx: a trained network as an ONNX model (opset 13)
 * for other tools, its low-bitwidth structure visible:
 *   - input "pixels" N x C x H x W, pixel values 0..255 (a Mul by 1/256
 *     first, as dorefa trains on pixels / 256); output "probabilities" N x classes;
 *   - conv and fc weights as their quantized values f_w(W) (at most 2^W
 *     distinct values per layer), NCHW layouts (fc over the NCHW flattening);
 *   - each quantized activation f_a^k as QuantizeLinear (scale 1/(2^k - 1),
 *     zero point 0, uint8) -> Clip to 0..2^k - 1 -> DequantizeLinear, the form
 *     Brevitas exports; cabs as Abs -> Clip, crelu as Clip, BN as
 *     BatchNormalization, max-pools with their padding, dropout as Identity.
 * The model is written by hand as protobuf (onnx.proto's field numbers). */
#ifndef DR_ONNX_H
#define DR_ONNX_H

#include <stddef.h>

struct dr_net;

typedef struct {
    size_t file_bytes;
    int nodes, quantized_acts, quantized_weights; /* graph nodes; f_a chains; layers with f_w weights */
} dr_onnx_info;

int dr_export_onnx(const char *ckpt_path, const char *out_path, dr_onnx_info *info);
/* The same for a network whose bits are applied. */
int dr_export_onnx_net(struct dr_net *net, const char *out_path, dr_onnx_info *info);

#endif
