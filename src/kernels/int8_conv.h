/* A first layer in integers: the input pixels are 8-bit integers already,
 * so with its weights quantized to 8 bits at export (per output channel,
 * symmetric: w = scale[o] q, q in -127..127) the convolution is an exact
 * integer product,
 *   acc[p][o] = sum_k pixel[p][k] q[o][k]   (int32, no saturation),
 * and one pass takes it to the next layer's codes:
 *   v = acc mul[o] + add[o]   (weight scale, pixel scale, bias, a batch norm),
 *   [2x2 max-pool of v] -> h(v) -> code rint(levels h) -> [2x2 max-pool of codes]
 * (h: cabs min(1,|v|) or crelu min(1,max(0,v)), as the float layers compute).
 *
 * Kernels, all giving the same integers: "vnni" (AVX-512 VNNI vpdpbusd: four
 * u8 x s8 products per int32 lane), "avx2" (pixels and weights widened to
 * int16, vpmaddwd: two products per lane; vpmaddubsw would saturate at
 * 255 x 127 x 2), on aarch64 "sdot" (ARMv8.2 dot product: four s8 x s8
 * products per lane, pixels offset by -128 and corrected) and "neon"
 * (int16 multiply-accumulate by lane into int32), and "c". */
#ifndef DR_INT8_CONV_H
#define DR_INT8_CONV_H

#include <stddef.h>
#include <stdint.h>

#include "conv_geom.h"

#define DR_INT8_MAX_K 1024
#define DR_INT8_MAX_OC 1024

typedef struct {
    dr_conv_geom g;
    int K, oc_pad; /* K = kh kw ic; oc_pad: oc rounded up to 16 */
    /* The kernels read each of a window's kh rows (kw ic bytes, contiguous in
     * NHWC) as row4 bytes, kw ic rounded up to 4, straight from the input:
     * the bytes past kw ic meet zero weights. */
    int row4;
    int8_t *q;   /* [oc][K] the weight codes                                */
    int8_t *w4;  /* [kh row4 / 4][oc_pad][4]: groups of 4 for vnni          */
    int16_t *w2; /* [kh row4 / 2][oc_pad][2]: pairs for avx2 and neon       */
    int32_t *qsum; /* [oc_pad]: sum_k q[o][k], for sdot's unsigned-pixel offset */
} dr_int8_conv;

typedef struct {
    const float *mul, *add;   /* [oc]                                                        */
    const dr_conv_geom *pool; /* a 2x2 stride-2 max-pool (dr_direct_pool_suits), or NULL */
    int pool_after_act;       /* the pool takes the maximum of codes, not of v             */
    int cabs;                 /* h: cabs, else crelu                                       */
    float levels;             /* 2^A - 1                                                   */
} dr_int8_epilogue;

/* Whether the kernels handle g: groups 1, kh row4 <= DR_INT8_MAX_K (row4: kw ic
 * rounded up to 4), oc <= DR_INT8_MAX_OC. */
int dr_int8_conv_suits(const dr_conv_geom *g);
/* Prepares the kernels' weight layouts from q[oc][K] (copied). */
void dr_int8_conv_init(dr_int8_conv *c, const dr_conv_geom *g, const int8_t *q);
void dr_int8_conv_free(dr_int8_conv *c);

/* The kernel in use ("vnni", "avx2", "sdot", "neon" or "c"): the best the CPU
 * has, within DOREFA_KERNEL's choice (avx512: vnni where the CPU has it;
 * avx2; neon: sdot where the CPU has it; c). */
const char *dr_int8_kernel(void);
/* The kernels this CPU runs, most capable first (NULL-terminated). */
const char *const *dr_int8_available(void);

/* sums[n][oh][ow][oc] = acc for pixels px[n][ih][iw][ic]; kernel NULL: dr_int8_kernel().
 * (Windows whose last row would be read past the n samples' pixels are
 * copied first: px needs no slack.) */
void dr_int8_conv_sums(const dr_int8_conv *c, const char *kernel, int n, const uint8_t *px, int32_t *sums);
/* codes[n][oh'][ow'][oc] (the pool's size when there is one) after the epilogue. */
void dr_int8_conv_codes(const dr_int8_conv *c, const char *kernel, int n, const uint8_t *px,
                        const dr_int8_epilogue *ep, uint8_t *codes);
/* dr_int8_pixels of the network's input x into px, then dr_int8_conv_codes
 * of px, in one parallel region (px: n pixels' bytes and 64 more). */
void dr_int8_conv_run(const dr_int8_conv *c, const char *kernel, int n, const float *x, uint8_t *px,
                      const dr_int8_epilogue *ep, uint8_t *codes);
/* Pixel bytes from the network's input (pixel values times DR_PIXEL_SCALE):
 * px = rint(x / DR_PIXEL_SCALE) within 0..255 (exact for whole pixel values). */
void dr_int8_pixels(const float *x, size_t n, uint8_t *px);
/* One value's code, as the epilogue makes it: rint(levels h(v)). */
uint8_t dr_int8_code(float v, int cabs, float levels);

/* Per-channel symmetric 8-bit quantization of w[oc][K]: scale[o] = max|w[o]| / 127
 * (0 for an all-zero channel), q = rint(w / scale). */
void dr_int8_quantize(const float *w, int oc, int K, float *scale, int8_t *q);

#endif
