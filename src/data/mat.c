/* SVHN cropped digits in MATLAB v5 .mat files: X is uint8 HxWx3xN in
 * column-major order, y is N labels 1..10 where 10 means the digit 0.
 * Elements may be zlib-compressed (miCOMPRESSED). Only little-endian files. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../core/common.h"
#include "dataset.h"

enum { MI_INT8 = 1, MI_UINT8, MI_INT16, MI_UINT16, MI_INT32, MI_UINT32, MI_SINGLE, MI_DOUBLE = 9,
       MI_INT64 = 12, MI_UINT64, MI_MATRIX, MI_COMPRESSED };

typedef struct {
    uint32_t type, nbytes;
    size_t data, next; /* offsets of the data and of the following element */
} mat_tag;

typedef struct {
    char name[64];
    int ndims;
    uint32_t dims[8];
    uint32_t type; /* storage type of the real part */
    const uint8_t *data;
    size_t count;
} mat_array;

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static int type_size(uint32_t t)
{
    switch (t) {
    case MI_INT8: case MI_UINT8: return 1;
    case MI_INT16: case MI_UINT16: return 2;
    case MI_INT32: case MI_UINT32: case MI_SINGLE: return 4;
    case MI_DOUBLE: case MI_INT64: case MI_UINT64: return 8;
    default: return 0;
    }
}

/* Reads the tag at pos. Fails when the element does not fit in len
 * (`what` names the file and context for the message). */
static int read_tag(const uint8_t *buf, size_t len, size_t pos, mat_tag *t, const char *what)
{
    if (len - pos < 8) return dr_fail("%s: truncated element header at byte %zu", what, pos);
    uint32_t first = le32(buf + pos);
    if (first >> 16) { /* small data element: 2-byte size, 2-byte type, 4 data bytes */
        t->type = first & 0xffff;
        t->nbytes = first >> 16;
        t->data = pos + 4;
        t->next = pos + 8;
        if (t->nbytes > 4) return dr_fail("%s: bad small element at byte %zu", what, pos);
        return 0;
    }
    t->type = first;
    t->nbytes = le32(buf + pos + 4);
    t->data = pos + 8;
    size_t padded = t->type == MI_COMPRESSED ? t->nbytes : ((size_t)t->nbytes + 7) & ~(size_t)7;
    t->next = t->data + padded;
    if (t->nbytes > len - t->data)
        return dr_fail("%s: truncated: element at byte %zu declares %u bytes, only %zu remain", what,
                       pos, t->nbytes, len - t->data);
    if (t->next > len) t->next = len; /* the last element's padding may be missing */
    return 0;
}

/* Parses the contents of a miMATRIX element. */
static int parse_matrix(const uint8_t *buf, size_t len, mat_array *a, const char *path)
{
    memset(a, 0, sizeof *a);
    mat_tag t;
    size_t pos = 0;
    if (read_tag(buf, len, pos, &t, path) || t.type != MI_UINT32 || t.nbytes < 8)
        return dr_fail("%s: malformed matrix (array flags)", path);
    if (buf[t.data + 1] & 0x08) return dr_fail("%s: complex matrices are not supported", path);
    pos = t.next;
    if (read_tag(buf, len, pos, &t, path) || t.type != MI_INT32 || t.nbytes % 4 ||
        t.nbytes / 4 > 8 || t.nbytes < 8)
        return dr_fail("%s: malformed matrix (dimensions)", path);
    a->ndims = (int)(t.nbytes / 4);
    const size_t limit = (size_t)1 << 34; /* elements; checked before each product, which cannot wrap */
    size_t count = 1;
    for (int i = 0; i < a->ndims; i++) {
        a->dims[i] = le32(buf + t.data + 4 * i);
        if (a->dims[i] && count > limit / a->dims[i])
            return dr_fail("%s: matrix dimensions too large (more than 2^34 elements)", path);
        count *= a->dims[i];
    }
    pos = t.next;
    if (read_tag(buf, len, pos, &t, path) || t.type != MI_INT8)
        return dr_fail("%s: malformed matrix (name)", path);
    size_t nl = DR_MIN((size_t)t.nbytes, sizeof a->name - 1);
    memcpy(a->name, buf + t.data, nl);
    pos = t.next;
    if (read_tag(buf, len, pos, &t, path))
        return dr_fail("%s: matrix '%s': %s", path, a->name, dr_last_error());
    int ts = type_size(t.type);
    if (!ts) return dr_fail("%s: matrix '%s' has unsupported data type %u", path, a->name, t.type);
    if ((size_t)t.nbytes != count * ts)
        return dr_fail("%s: matrix '%s' holds %u bytes, its dimensions need %zu", path, a->name,
                       t.nbytes, count * ts);
    a->type = t.type;
    a->data = buf + t.data;
    a->count = count;
    return 0;
}

static double value_at(const mat_array *a, size_t i)
{
    const uint8_t *p = a->data + i * type_size(a->type);
    switch (a->type) {
    case MI_INT8: return *(const int8_t *)p;
    case MI_UINT8: return *p;
    case MI_INT16: { int16_t v; memcpy(&v, p, 2); return v; }
    case MI_UINT16: { uint16_t v; memcpy(&v, p, 2); return v; }
    case MI_INT32: { int32_t v; memcpy(&v, p, 4); return v; }
    case MI_UINT32: { uint32_t v; memcpy(&v, p, 4); return v; }
    case MI_SINGLE: { float v; memcpy(&v, p, 4); return v; }
    case MI_DOUBLE: { double v; memcpy(&v, p, 8); return v; }
    case MI_INT64: { int64_t v; memcpy(&v, p, 8); return (double)v; }
    default: { uint64_t v; memcpy(&v, p, 8); return (double)v; }
    }
}

/* Inflates what is there of a compressed element to learn the matrix name. */
static void peek_name(const uint8_t *z, size_t zlen, char *name, size_t cap)
{
    uint8_t out[4096];
    z_stream s = {0};
    snprintf(name, cap, "?");
    if (inflateInit(&s) != Z_OK) return;
    s.next_in = (uint8_t *)z;
    s.avail_in = (uInt)DR_MIN(zlen, (size_t)1 << 20);
    s.next_out = out;
    s.avail_out = sizeof out;
    inflate(&s, Z_SYNC_FLUSH);
    size_t got = sizeof out - s.avail_out;
    inflateEnd(&s);
    mat_tag t;
    if (got < 8 || read_tag(out, got, 0, &t, "") != 0 || t.type != MI_MATRIX) {
        /* The element is larger than what we inflated: walk its header by hand. */
        if (got < 8 || le32(out) != MI_MATRIX) return;
    }
    size_t pos = 8;
    for (int k = 0; k < 3 && pos + 8 <= got; k++) {
        uint32_t first = le32(out + pos), type, nb;
        size_t data, next;
        if (first >> 16) {
            type = first & 0xffff, nb = first >> 16, data = pos + 4, next = pos + 8;
        } else {
            type = first, nb = le32(out + pos + 4), data = pos + 8, next = data + ((nb + 7) & ~7u);
        }
        if (k == 2 && type == MI_INT8 && data + nb <= got) {
            snprintf(name, cap, "%.*s", (int)DR_MIN(nb, (uint32_t)cap - 1), (const char *)out + data);
            return;
        }
        pos = next;
    }
}

/* Inflates one compressed element into a new buffer holding a whole element. */
static uint8_t *inflate_element(const uint8_t *z, size_t zlen, size_t *out_len, const char *path,
                                size_t at)
{
    z_stream s = {0};
    uint8_t head[8];
    if (inflateInit(&s) != Z_OK) {
        dr_fail("%s: zlib initialisation failed", path);
        return NULL;
    }
    s.next_in = (uint8_t *)z;
    s.avail_in = (uInt)zlen;
    s.next_out = head;
    s.avail_out = 8;
    int r = inflate(&s, Z_SYNC_FLUSH);
    if ((r != Z_OK && r != Z_STREAM_END) || s.avail_out) {
        inflateEnd(&s);
        dr_fail("%s: corrupt compressed element at byte %zu", path, at);
        return NULL;
    }
    size_t total = 8 + (size_t)le32(head + 4);
    if (total > zlen * 1100 + 1024) { /* deflate cannot expand beyond ~1032:1 */
        inflateEnd(&s);
        dr_fail("%s: compressed element at byte %zu claims an impossible size", path, at);
        return NULL;
    }
    uint8_t *out = dr_xmalloc(total);
    memcpy(out, head, 8);
    size_t done = 8;
    while (done < total) {
        size_t chunk = DR_MIN(total - done, (size_t)1 << 30);
        s.next_out = out + done;
        s.avail_out = (uInt)chunk;
        r = inflate(&s, Z_NO_FLUSH);
        done += chunk - s.avail_out;
        if (r == Z_STREAM_END) break;
        if (r != Z_OK) {
            inflateEnd(&s);
            free(out);
            dr_fail("%s: %s in compressed element at byte %zu", path,
                    r == Z_BUF_ERROR ? "compressed data ends early" : "corrupt compressed data", at);
            return NULL;
        }
    }
    inflateEnd(&s);
    if (done < total) {
        free(out);
        dr_fail("%s: compressed element at byte %zu inflates to %zu bytes, its header says %zu", path,
                at, done, total);
        return NULL;
    }
    *out_len = total;
    return out;
}

int dr_svhn_load(const char *path, dr_dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    size_t len;
    uint8_t *file = (uint8_t *)dr_read_file(path, &len);
    if (!file) return -1;
    uint8_t *blocks[16];
    int n_blocks = 0, rc = -1;
    mat_array X = {0}, y = {0};
    int have_x = 0, have_y = 0;
    if (len < 128 || memcmp(file, "MATLAB 5.0 MAT-file", 19)) {
        dr_fail("%s: not a MATLAB 5.0 MAT-file", path);
        goto done;
    }
    if (file[126] != 'I' || file[127] != 'M') {
        dr_fail("%s: big-endian MAT-files are not supported", path);
        goto done;
    }
    for (size_t pos = 128; pos < len;) {
        mat_tag t;
        if (read_tag(file, len, pos, &t, path)) {
            if (len - pos >= 8 && le32(file + pos) == MI_COMPRESSED) {
                char name[64];
                peek_name(file + pos + 8, len - pos - 8, name, sizeof name);
                dr_fail("%s: truncated: compressed matrix '%s' at byte %zu declares %u bytes but "
                        "only %zu remain; %s",
                        path, name, pos, le32(file + pos + 4), len - pos - 8,
                        have_y ? "the file is cut inside it" : "the file is cut inside it and holds no labels 'y'");
            }
            goto done;
        }
        const uint8_t *el = file + t.data;
        size_t el_len = t.nbytes;
        if (t.type == MI_COMPRESSED) {
            if (n_blocks == 16) {
                dr_fail("%s: too many compressed elements", path);
                goto done;
            }
            size_t inner_len;
            uint8_t *inner = inflate_element(el, el_len, &inner_len, path, pos);
            if (!inner) goto done;
            blocks[n_blocks++] = inner;
            mat_tag it;
            if (read_tag(inner, inner_len, 0, &it, path)) goto done;
            if (it.type != MI_MATRIX) {
                pos = t.next;
                continue;
            }
            el = inner + it.data;
            el_len = it.nbytes;
        } else if (t.type != MI_MATRIX) {
            pos = t.next;
            continue;
        }
        mat_array a;
        if (parse_matrix(el, el_len, &a, path)) goto done;
        if (!strcmp(a.name, "X")) X = a, have_x = 1;
        if (!strcmp(a.name, "y")) y = a, have_y = 1;
        pos = t.next;
    }
    if (!have_x || !have_y) {
        dr_fail("%s: no %s matrix (SVHN files hold images 'X' and labels 'y')", path,
                !have_x ? "image 'X'" : "label 'y'");
        goto done;
    }
    if (X.type != MI_UINT8 || X.ndims != 4 || (X.dims[2] != 3 && X.dims[2] != 1)) {
        dr_fail("%s: 'X' must be uint8 HxWx3xN", path);
        goto done;
    }
    if (X.dims[0] < 1 || X.dims[0] > 4096 || X.dims[1] < 1 || X.dims[1] > 4096 || X.dims[3] > INT_MAX) {
        dr_fail("%s: 'X' is %ux%ux%ux%u: images must be 1..4096 pixels a side, at most 2^31-1 of them", path,
                X.dims[0], X.dims[1], X.dims[2], X.dims[3]);
        goto done;
    }
    if (y.count != X.dims[3]) {
        dr_fail("%s: %zu labels in 'y' but %u images in 'X'", path, y.count, X.dims[3]);
        goto done;
    }
    ds->h = (int)X.dims[0];
    ds->w = (int)X.dims[1];
    ds->c = (int)X.dims[2];
    ds->n = (int)X.dims[3];
    ds->classes = 10;
    ds->labels = dr_xmalloc(sizeof(int) * (size_t)ds->n);
    for (int i = 0; i < ds->n; i++) {
        double v = value_at(&y, (size_t)i);
        if (!(v >= 0 && v <= 10) || v != (int)v) { /* NaN fails the range test before the cast */
            dr_fail("%s: label %d is %g (SVHN labels are 1..10)", path, i, v);
            goto done;
        }
        ds->labels[i] = (int)v % 10; /* label 10 is the digit 0 */
    }
    /* Column-major H x W x C x N  ->  N x H x W x C. */
    size_t hw = (size_t)ds->h * ds->w, img = hw * ds->c;
    ds->pixels = dr_xmalloc(img * (size_t)ds->n);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < ds->n; i++)
        for (int r = 0; r < ds->h; r++)
            for (int col = 0; col < ds->w; col++)
                for (int c = 0; c < ds->c; c++)
                    ds->pixels[i * img + ((size_t)r * ds->w + col) * ds->c + c] =
                        X.data[i * img + c * hw + (size_t)col * ds->h + r];
    snprintf(ds->source, sizeof ds->source, "%s", path);
    rc = 0;
done:
    if (rc) dr_dataset_free(ds);
    for (int i = 0; i < n_blocks; i++) free(blocks[i]);
    free(file);
    return rc;
}
