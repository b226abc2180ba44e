/* Checkpoints: a versioned binary file holding everything needed to evaluate
 * a network or to continue its training exactly.
 *
 *   "DOREFACK" | u32 version | u32 section count | sections | u32 CRC-32
 *   section:  4-byte tag | u64 length | bytes
 *     CONF  training configuration and progress, "key=value ..." text
 *     MODL, INPT, BITS  the network's sections (model/netio.h)
 *     PARM  per parameter: u16 name length, name, u64 count, floats
 *     STAT  per layer with state (BN running averages): same layout
 *     OPTM  optimizer: u64 update count, then per parameter m and v
 *     CLSS  the class names (model/netio.h; optional)
 * All integers and floats little-endian; the CRC covers everything before it.
 * Writes are atomic: a temporary file in the same folder, fsync, rename. */
#ifndef DR_CHECKPOINT_H
#define DR_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "../model/net.h"
#include "optim.h"

/* Version 2 adds the BITS section. Version 1 files (the bits only in the
 * CONF text) are still read: their bits come from the configuration. */
#define DR_CHECKPOINT_VERSION 2

/* Saves a network whose bits are applied, with its optimizer (may be NULL)
 * and the configuration text. */
int dr_checkpoint_save(const char *path, dr_net *net, const dr_optim *opt, const char *conf);

typedef struct {
    char path[1024];
    uint8_t *buf;
    size_t len;
    uint32_t version;
    char *conf, *model;
    dr_shape input;
    int has_bits;    /* the BITS section (version 2 on): */
    dr_bits bits;    /*   the quantization the weights were saved with */
    int bounded_act; /*   and the bounded activation (-1: the model file's) */
    size_t parm_off, parm_len, stat_off, stat_len, optm_off, optm_len, clss_off, clss_len;
} dr_checkpoint;

/* Reads and verifies a checkpoint (magic, version, checksum, sections). */
int dr_checkpoint_read(const char *path, dr_checkpoint *ck);
/* Copies parameters and state into a network built from ck->model (and the
 * optimizer moments when opt is given), and applies the bits and bounded
 * activation they were saved with, and the class names. Names and sizes must match. */
int dr_checkpoint_restore(const dr_checkpoint *ck, dr_net *net, dr_optim *opt);
void dr_checkpoint_free(dr_checkpoint *ck);
/* The network of a checkpoint, restored (no optimizer), for batches of up to
 * max_batch; its configuration text into *conf when conf is given (the
 * caller frees both). NULL with a message. */
dr_net *dr_checkpoint_load_net(const char *path, int max_batch, char **conf);

#endif
