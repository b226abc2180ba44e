/* The deployment file, written by 'dorefa export' (train/export.c) and read
 * by the engine (engine.c):
 *
 *   "DOREFAMD" | u32 version | u32 sections | sections | u32 CRC-32
 *   CONF, MODL, INPT, BITS  the network's sections (model/netio.h); CONF, the
 *         training configuration, is kept for the record: the engine reads
 *         only MODL, INPT and BITS
 *   LAYR  per layer that needs data, in order: u16 name length, name, u8 kind,
 *     kind 0 (float):  u32 arrays, each u64 count + floats (params, then state)
 *     kind 1 (packed weights, float epilogue) and kind 2 (fused block):
 *           u8 W, f32 wscale, u32 M, u32 oc, u32 K, oc x W x ceil(K/64) u64
 *           bit-planes of the weight codes (w = wscale (2 q - M));
 *     kind 1 then: u32 bias count + floats;
 *     kind 2 then: u8 output bits, u8 cabs, i8 sign[oc], i32 up[oc][n_out],
 *           and for cabs i32 lo[oc][n_out];
 *     kind 3 (8-bit integer first layer, 'dorefa export --first-layer int8'):
 *           u32 oc, u32 K, f32 scale[oc], i8 q[oc][K] in -127..127
 *           (w = scale q), u32 bias count + floats.
 * All integers and floats little-endian. */
#ifndef DR_DEPLOY_FORMAT_H
#define DR_DEPLOY_FORMAT_H

#include "../core/filebuf.h"

/* Version 2 adds BITS, version 3 layer kind 3. Version 1 files (the bits
 * only in the CONF text) are refused with a message: exporting the
 * checkpoint again makes a new one. */
#define DR_DEPLOY_VERSION 3
#define DR_DEPLOY_OLDEST 2

enum { DR_LAYR_FLOAT = 0, DR_LAYR_PACKED = 1, DR_LAYR_FUSED = 2, DR_LAYR_INT8 = 3 };

static const dr_file_kind DR_DEPLOY_FILE = {
    .magic = {'D', 'O', 'R', 'E', 'F', 'A', 'M', 'D'},
    .name = "model file",
    .magic_hint = "; 'dorefa export' makes one from a checkpoint",
    .oldest = DR_DEPLOY_OLDEST,
    .newest = DR_DEPLOY_VERSION,
    .too_old = "; export it again from its checkpoint with 'dorefa export CHECKPOINT'",
};

#endif
