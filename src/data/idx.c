/* IDX files (MNIST, Fashion-MNIST), plain or gzip-compressed (zlib's gzread
 * reads both). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../core/common.h"
#include "dataset.h"

#define IDX_MAX_BYTES ((size_t)1 << 32) /* data bytes of one file */
#define IDX_MAX_SIDE 4096                /* image height and width, as model files */

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

/* Reads n bytes (or fewer at the end of the file) into dst; -1 on a read error. */
static long read_some(gzFile f, uint8_t *dst, size_t n, const char *path)
{
    size_t done = 0;
    while (done < n) {
        int got = gzread(f, dst + done, (unsigned)DR_MIN(n - done, (size_t)1 << 30));
        if (got < 0) {
            int errnum;
            const char *msg = gzerror(f, &errnum);
            return dr_fail("%s: corrupt compressed data (%s)", path, msg);
        }
        if (got == 0) break;
        done += (size_t)got;
    }
    return (long)done;
}

/* Reads one IDX ubyte file (plain or gzip) of want_dims dimensions: the
 * header is checked before any data is read, and the buffer grows only with
 * the data actually present, so a header cannot make it allocate more than
 * the file holds. Returns the data (dims[0] x ... bytes), NULL with an error. */
static uint8_t *idx_read(const char *path, int want_dims, uint32_t *dims)
{
    gzFile f = gzopen(path, "rb");
    if (!f) {
        dr_fail("%s: cannot open", path);
        return NULL;
    }
    uint8_t head[16], *buf = NULL;
    const size_t hlen = 4 + 4 * (size_t)want_dims;
    long got = read_some(f, head, hlen, path);
    if (got < 0) goto fail;
    if (got < 4) {
        dr_fail("%s: too short for an IDX file (%ld bytes)", path, got);
        goto fail;
    }
    if (head[0] || head[1] || head[2] != 0x08) {
        dr_fail("%s: not an IDX ubyte file (magic %02x %02x %02x %02x)", path, head[0], head[1], head[2], head[3]);
        goto fail;
    }
    if (head[3] != want_dims) {
        dr_fail("%s: IDX file has %d dimensions, expected %d (%s)", path, head[3], want_dims,
                want_dims == 3 ? "images" : "labels");
        goto fail;
    }
    if ((size_t)got < hlen) {
        dr_fail("%s: truncated IDX header", path);
        goto fail;
    }
    size_t total = 1;
    for (int i = 0; i < want_dims; i++) {
        dims[i] = be32(head + 4 + 4 * i);
        if (!dims[i] || (i > 0 && dims[i] > IDX_MAX_SIDE) || dims[i] > INT_MAX) {
            dr_fail("%s: bad IDX dimension %u (%s)", path, dims[i],
                    i ? "images are 1..4096 pixels a side" : "1..2^31-1 items");
            goto fail;
        }
        if (total > IDX_MAX_BYTES / dims[i]) {
            dr_fail("%s: the IDX header declares more than 4 GiB of data", path);
            goto fail;
        }
        total *= dims[i];
    }
    size_t cap = DR_MIN(total, (size_t)1 << 20), n = 0;
    buf = dr_xmalloc(cap + 1);
    for (;;) {
        long r = read_some(f, buf + n, cap + 1 - n, path);
        if (r < 0) goto fail;
        n += (size_t)r;
        if (n < cap + 1 || cap == total) break; /* the end of the file, or one byte past the data */
        cap = DR_MIN(2 * cap, total);
        buf = dr_xrealloc(buf, cap + 1);
    }
    if (n < total) {
        dr_fail("%s: truncated: header promises %zu data bytes, only %zu present", path, total, n);
        goto fail;
    }
    if (n > total) { /* count what follows, without keeping it */
        uint8_t scratch[1 << 14];
        long r;
        while ((r = read_some(f, scratch, sizeof scratch, path)) > 0) n += (size_t)r;
        if (r < 0) goto fail;
        dr_fail("%s: %zu unexpected bytes after the data", path, n - total);
        goto fail;
    }
    gzclose(f);
    return buf;
fail:
    gzclose(f);
    free(buf);
    return NULL;
}

int dr_idx_load(const char *images_path, const char *labels_path, dr_dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    uint32_t idims[3], ldims[1];
    uint8_t *ibuf = idx_read(images_path, 3, idims), *lbuf = NULL;
    if (!ibuf || !(lbuf = idx_read(labels_path, 1, ldims))) goto fail;
    if (idims[0] != ldims[0]) {
        dr_fail("%s: %u labels, but %s has %u images", labels_path, ldims[0], images_path,
                idims[0]);
        goto fail;
    }
    ds->n = (int)idims[0];
    ds->h = (int)idims[1];
    ds->w = (int)idims[2];
    ds->c = 1;
    ds->labels = dr_xmalloc(sizeof(int) * (size_t)ds->n);
    ds->classes = 0;
    for (int i = 0; i < ds->n; i++) {
        ds->labels[i] = lbuf[i];
        if (ds->labels[i] + 1 > ds->classes) ds->classes = ds->labels[i] + 1;
    }
    ds->pixels = ibuf;
    snprintf(ds->source, sizeof ds->source, "%s", images_path);
    free(lbuf);
    return 0;
fail:
    free(ibuf);
    free(lbuf);
    dr_dataset_free(ds);
    return -1;
}
