/* IDX files (MNIST, Fashion-MNIST), plain or gzip-compressed (zlib's gzread
 * reads both). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../core/common.h"
#include "dataset.h"

#define IDX_MAX_BYTES ((size_t)1 << 32)

/* Reads the whole (decompressed) file; NULL with an error on failure. */
static uint8_t *read_gz(const char *path, size_t *len)
{
    gzFile f = gzopen(path, "rb");
    if (!f) {
        dr_fail("%s: cannot open", path);
        return NULL;
    }
    size_t cap = 1 << 20, n = 0;
    uint8_t *buf = dr_xmalloc(cap);
    for (;;) {
        if (n == cap) {
            if (cap >= IDX_MAX_BYTES) {
                dr_fail("%s: larger than 4 GiB, not an IDX file", path);
                goto fail;
            }
            buf = dr_xrealloc(buf, cap *= 2);
        }
        int got = gzread(f, buf + n, (unsigned)DR_MIN(cap - n, (size_t)1 << 30));
        if (got < 0) {
            int errnum;
            const char *msg = gzerror(f, &errnum);
            dr_fail("%s: corrupt compressed data (%s)", path, msg);
            goto fail;
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    gzclose(f);
    *len = n;
    return buf;
fail:
    gzclose(f);
    free(buf);
    return NULL;
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

/* Validates the header; returns the data offset, fills dims. */
static int idx_header(const char *path, const uint8_t *buf, size_t len, int want_dims,
                      uint32_t *dims)
{
    if (len < 4) return dr_fail("%s: too short for an IDX file (%zu bytes)", path, len);
    if (buf[0] || buf[1] || buf[2] != 0x08)
        return dr_fail("%s: not an IDX ubyte file (magic %02x %02x %02x %02x)", path, buf[0],
                       buf[1], buf[2], buf[3]);
    if (buf[3] != want_dims)
        return dr_fail("%s: IDX file has %d dimensions, expected %d (%s)", path, buf[3], want_dims,
                       want_dims == 3 ? "images" : "labels");
    size_t off = 4 + 4 * (size_t)want_dims;
    if (len < off) return dr_fail("%s: truncated IDX header", path);
    size_t total = 1;
    for (int i = 0; i < want_dims; i++) {
        dims[i] = be32(buf + 4 + 4 * i);
        total *= dims[i];
        if (!dims[i] || total > IDX_MAX_BYTES)
            return dr_fail("%s: bad IDX dimension %u", path, dims[i]);
    }
    if (len - off < total)
        return dr_fail("%s: truncated: header promises %zu data bytes, only %zu present", path,
                       total, len - off);
    if (len - off > total)
        return dr_fail("%s: %zu unexpected bytes after the data", path, len - off - total);
    return (int)off;
}

int dr_idx_load(const char *images_path, const char *labels_path, dr_dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    size_t ilen, llen;
    uint8_t *ibuf = read_gz(images_path, &ilen), *lbuf = NULL;
    if (!ibuf) return -1;
    uint32_t idims[3], ldims[1];
    int ioff = idx_header(images_path, ibuf, ilen, 3, idims), loff = -1;
    if (ioff < 0) goto fail;
    if (!(lbuf = read_gz(labels_path, &llen))) goto fail;
    if ((loff = idx_header(labels_path, lbuf, llen, 1, ldims)) < 0) goto fail;
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
        ds->labels[i] = lbuf[loff + i];
        if (ds->labels[i] + 1 > ds->classes) ds->classes = ds->labels[i] + 1;
    }
    size_t bytes = (size_t)ds->n * ds->h * ds->w;
    memmove(ibuf, ibuf + ioff, bytes);
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
