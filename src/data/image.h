/* Decoding single PNG / JPEG files into uint8 HWC with 1 or 3 channels. */
#ifndef DR_IMAGE_H
#define DR_IMAGE_H

#include <stdint.h>

/* The most pixels an image may declare (PNG and JPEG alike). */
#define DR_IMAGE_MAX_PIXELS ((size_t)1 << 28)

/* channels: 1 or 3 to convert, 0 for the file's own (grey -> 1, colour -> 3).
 * Returns the pixels (free()) or NULL with an error naming the file. */
uint8_t *dr_image_load(const char *path, int channels, int *h, int *w, int *c);

#endif
