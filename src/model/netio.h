/* The sections every file of a network carries, checkpoints and deployment
 * files alike (core/filebuf.h: 4-byte tag, u64 length, bytes):
 *
 *   CONF  the training configuration, "key=value ..." text (optional; only
 *         training reads it: what a network needs is in the sections below)
 *   MODL  the model file text
 *   INPT  input height, width, channels (3 x i32)
 *   BITS  the quantization in effect for the saved weights (6 x i32): W, A,
 *         G (1..8, 32 = float), quantize_first, quantize_last (0/1), and the
 *         bounded activation of cabs/crelu layers (DR_ACT_CABS, DR_ACT_CRELU,
 *         or -1: as the model file says)
 *   CLSS  the class names, one per output, '\n'-separated UTF-8 (optional;
 *         readers before it ignore it) */
#ifndef DR_NETIO_H
#define DR_NETIO_H

#include "../core/filebuf.h"
#include "net.h"

/* How many sections dr_put_net_sections writes. */
int dr_net_sections(const dr_net *net, int with_conf);
/* Writes CONF (unless conf is NULL), MODL, INPT, BITS and CLSS (when the
 * network has class names) of a network whose bits are applied. */
void dr_put_net_sections(dr_filebuf *b, const dr_net *net, const char *conf);

/* The INPT section's contents, checked: each of height, width, channels
 * 1..4096, as a model file's input line allows. */
int dr_get_input(const char *path, const uint8_t *p, size_t n, dr_shape *input);
/* The BITS section's contents (n bytes at p), checked; path for messages. */
int dr_get_bits(const char *path, const uint8_t *p, size_t n, dr_bits *bits, int *bounded_act);

/* The CLSS section's contents, checked: `classes` names of 1..255 bytes, no
 * control characters; a NUL-terminated copy into *names. */
int dr_get_class_names(const char *path, const uint8_t *p, size_t n, int classes, char **names);

#endif
