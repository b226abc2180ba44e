/* Checkpoints: a versioned binary file holding everything needed to evaluate
 * a network or to continue its training exactly.
 *
 *   "DOREFACK" | u32 version | u32 section count | sections | u32 CRC-32
 *   section:  4-byte tag | u64 length | bytes
 *     CONF  training configuration and progress, "key=value ..." text
 *     MODL  the model file text
 *     INPT  input height, width, channels (3 x i32)
 *     PARM  per parameter: u16 name length, name, u64 count, floats
 *     STAT  per layer with state (BN running averages): same layout
 *     OPTM  optimizer: u64 update count, then per parameter m and v
 * All integers and floats little-endian; the CRC covers everything before it.
 * Writes are atomic: a temporary file in the same folder, fsync, rename. */
#ifndef DR_CHECKPOINT_H
#define DR_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "../model/net.h"
#include "../core/filebuf.h"
#include "optim.h"

#define DR_CHECKPOINT_VERSION 1

int dr_checkpoint_save(const char *path, dr_net *net, const dr_optim *opt, const char *conf);
/* The CONF, MODL and INPT sections (shared with deployment files). */
void dr_put_net_sections(dr_filebuf *b, const dr_net *net, const char *conf);

typedef struct {
    char path[1024];
    uint8_t *buf;
    size_t len;
    char *conf, *model;
    dr_shape input;
    size_t parm_off, parm_len, stat_off, stat_len, optm_off, optm_len;
} dr_checkpoint;

/* Reads and verifies a checkpoint (magic, version, checksum, sections). */
int dr_checkpoint_read(const char *path, dr_checkpoint *ck);
/* Copies parameters and state into a network built from ck->model (and the
 * optimizer moments when opt is given). Names and sizes must match. */
int dr_checkpoint_restore(const dr_checkpoint *ck, dr_net *net, dr_optim *opt);
void dr_checkpoint_free(dr_checkpoint *ck);

#endif
