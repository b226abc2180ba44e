/* Bitwidths of a quantized run: W-bit weights, A-bit activations, G-bit
 * gradients (each 1..8, or DR_FLOAT_BITS for float), and whether the first
 * and last weight layers are quantized too (paper Table 3). */
#ifndef DR_BITS_H
#define DR_BITS_H

#include <stddef.h>

#define DR_FLOAT_BITS 32

typedef struct {
    int w, a, g;        /* 1..8, or 32 for float */
    int quantize_first; /* quantize the first layer's weights too */
    int quantize_last;  /* quantize the last weight layer too     */
} dr_bits;

/* The float configuration: 32,32,32, first and last layers float. */
static inline dr_bits dr_bits_float(void) { return (dr_bits){DR_FLOAT_BITS, DR_FLOAT_BITS, DR_FLOAT_BITS, 0, 0}; }
/* 1..8 or 32. */
static inline int dr_bits_valid(long v) { return (v >= 1 && v <= 8) || v == DR_FLOAT_BITS; }

/* Parses "W,A,G" (each 1..8 or 32). */
int dr_bits_parse(const char *s, dr_bits *b);
void dr_bits_format(const dr_bits *b, char *buf, size_t cap);

#endif
