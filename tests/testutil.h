/* Helpers shared by the unit tests (cmocka). */
#ifndef DR_TESTUTIL_H
#define DR_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/common.h"
#include "core/rng.h"
#include "kernels/conv_geom.h"
#include "model/net.h"

/* Builds a network from model text; fails the test with the parser's message. */
dr_net *tu_net(const char *text, int channels, int max_batch);
/* Loads a shipped model (models/NAME.net) at its own input size. */
dr_net *tu_shipped(const char *name, int channels, int max_batch);
/* Fills x[n] with U(lo, hi) from a test stream. */
void tu_fill(float *x, size_t n, float lo, float hi, uint64_t seed);
/* Directory for files a test writes (created, unique per process). */
const char *tu_tmpdir(void);
/* Asserts that the last error message contains `needle`. */
void tu_assert_error_has(const char *needle);
/* Direct convolution loops in double precision: out = conv(in, w), din = its
 * input gradient for dout, dw its weight gradient (din, dw accumulate; all
 * zeroed by the caller). abs_out (may be NULL) gets sum |w a| per output. */
void tu_conv_reference(const dr_conv_geom *g, int n, const float *in, const float *w, const float *dout,
                       double *out, double *din, double *dw, double *abs_out);

/* Writes the sectioned file p[n] (a checkpoint or deployment file) to path
 * with section `tag` replaced by body[len] (body NULL: the section given
 * twice), and a valid checksum: damage behind the CRC. */
void tu_write_with_section(const char *path, const uint8_t *p, size_t n, const char *tag, const void *body,
                           size_t len);

/* Fashion-MNIST as Debian's dataset-fashion-mnist installs it (the install
 * step of the test command provides it); the training tests use it. */
#define TU_FASHION_MNIST "/usr/share/datasets/fashion-mnist"

/* True when a file exists; otherwise prints a skip note. */
int tu_have(const char *path);

#endif
