/* Geometry of a 2-D convolution over NHWC tensors (channels innermost).
 *
 * The same description serves fully connected layers: an FC layer is a
 * VALID convolution whose kernel covers the whole input (oh = ow = 1).
 * Weights are [oc][kh][kw][ic/groups], so one output channel's weights are
 * contiguous with channels innermost, ready to be packed into 64-bit words. */
#ifndef DR_CONV_GEOM_H
#define DR_CONV_GEOM_H

#include <stddef.h>

typedef struct dr_conv_geom_s {
    int ih, iw, ic;          /* input spatial size and channels          */
    int oh, ow, oc;          /* output                                    */
    int kh, kw;              /* kernel                                    */
    int sh, sw;              /* stride                                    */
    int pad_top, pad_left;   /* implicit zero padding before the input    */
    int groups;              /* grouped convolution (AlexNet's split=2)   */
} dr_conv_geom;

enum { DR_PAD_VALID = 0, DR_PAD_SAME = 1 };

/* Fills oh/ow/pad_* from the input size, kernel, stride and padding mode
 * (TensorFlow's rules: SAME gives ceil(in/stride), extra padding after). */
void dr_conv_geom_resolve(dr_conv_geom *g, int pad_mode);

/* The padding on each side (top, left, bottom, right) made explicit: SAME
 * pads after the input what it does not pad before; a VALID window that
 * leaves input rows or columns unread pads 0 there. */
void dr_conv_geom_pads(const dr_conv_geom *g, int pads[4]);
/* " k=KH,KW stride=SH,SW pad=TOP,LEFT,BOTTOM,RIGHT". */
void dr_conv_geom_describe(const dr_conv_geom *g, char *buf, size_t cap);

/* Reduction length of one output value: kh * kw * ic / groups. */
static inline int dr_conv_k(const dr_conv_geom *g) { return g->kh * g->kw * (g->ic / g->groups); }
/* Output pixels per sample. */
static inline int dr_conv_p(const dr_conv_geom *g) { return g->oh * g->ow; }
/* True when the im2col matrix of a sample is the sample itself. */
int dr_conv_is_identity(const dr_conv_geom *g);

/* im2col for samples [0, n) of `in` (n samples), group `grp`:
 * col[(s*P + p) * K + k]. */
void dr_im2col(const dr_conv_geom *g, const float *in, int n, int grp, float *col);
/* Adds the columns back onto the input gradient (inverse scatter of im2col). */
void dr_col2im_add(const dr_conv_geom *g, const float *col, int n, int grp, float *din);

#endif
