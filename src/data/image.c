#include "image.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

#include "../core/common.h"

static uint8_t *load_png(const char *path, int channels, int *h, int *w, int *c)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) {
        dr_fail("%s: bad PNG: %s", path, img.message);
        return NULL;
    }
    if (!channels) channels = (img.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1;
    img.format = channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    if ((size_t)img.width * img.height > DR_IMAGE_MAX_PIXELS) {
        png_image_free(&img);
        dr_fail("%s: image too large (%ux%u, at most 2^28 pixels)", path, img.width, img.height);
        return NULL;
    }
    uint8_t *px = dr_xmalloc(PNG_IMAGE_SIZE(img));
    if (!png_image_finish_read(&img, NULL, px, 0, NULL)) {
        dr_fail("%s: bad PNG: %s", path, img.message);
        free(px);
        return NULL;
    }
    *h = (int)img.height;
    *w = (int)img.width;
    *c = channels;
    return px;
}

typedef struct {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

static void jpeg_fail(j_common_ptr cinfo)
{
    jpeg_err *e = (jpeg_err *)cinfo->err;
    e->mgr.format_message(cinfo, e->msg);
    longjmp(e->jump, 1);
}

/* Corrupt-data warnings (level < 0) are errors: never decode a damaged image silently. */
static void jpeg_emit(j_common_ptr cinfo, int level)
{
    if (level < 0) jpeg_fail(cinfo);
}

static uint8_t *load_jpeg(const char *path, int want_channels, int *h, int *w, int *c)
{
    volatile int channels = want_channels;
    FILE *f = fopen(path, "rb");
    if (!f) {
        dr_fail("%s: cannot open", path);
        return NULL;
    }
    struct jpeg_decompress_struct cinfo;
    jpeg_err err;
    uint8_t *volatile px = NULL;
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpeg_fail;
    err.mgr.emit_message = jpeg_emit;
    if (setjmp(err.jump)) {
        dr_fail("%s: bad JPEG: %s", path, err.msg);
        jpeg_destroy_decompress(&cinfo);
        fclose(f);
        free(px);
        return NULL;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, f);
    jpeg_read_header(&cinfo, TRUE);
    if ((size_t)cinfo.image_width * cinfo.image_height > DR_IMAGE_MAX_PIXELS) {
        dr_fail("%s: image too large (%ux%u, at most 2^28 pixels)", path, cinfo.image_width, cinfo.image_height);
        jpeg_destroy_decompress(&cinfo);
        fclose(f);
        return NULL;
    }
    if (!channels) channels = cinfo.jpeg_color_space == JCS_GRAYSCALE ? 1 : 3;
    cinfo.out_color_space = channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_start_decompress(&cinfo);
    /* rows are kept as they decode: a header alone (the data cut short fails at
     * its first missing row) cannot make it allocate the whole image */
    const size_t stride = (size_t)cinfo.output_width * channels;
    size_t rows_cap = DR_MIN((size_t)cinfo.output_height, (size_t)64);
    px = dr_xmalloc(stride * rows_cap);
    while (cinfo.output_scanline < cinfo.output_height) {
        if (cinfo.output_scanline == rows_cap) {
            rows_cap = DR_MIN(2 * rows_cap, (size_t)cinfo.output_height);
            px = dr_xrealloc(px, stride * rows_cap);
        }
        JSAMPROW row = px + stride * cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    *h = (int)cinfo.output_height;
    *w = (int)cinfo.output_width;
    *c = channels;
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    fclose(f);
    return px;
}

uint8_t *dr_image_load(const char *path, int channels, int *h, int *w, int *c)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        dr_fail("%s: cannot open", path);
        return NULL;
    }
    uint8_t sig[8] = {0};
    size_t got = fread(sig, 1, 8, f);
    fclose(f);
    if (got >= 8 && !png_sig_cmp(sig, 0, 8)) return load_png(path, channels, h, w, c);
    if (got >= 3 && sig[0] == 0xFF && sig[1] == 0xD8 && sig[2] == 0xFF)
        return load_jpeg(path, channels, h, w, c);
    dr_fail("%s: not a PNG or JPEG image", path);
    return NULL;
}
