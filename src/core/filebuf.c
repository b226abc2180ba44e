#include "filebuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include "common.h"

void dr_put(dr_filebuf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        while (b->len + n > b->cap) b->cap = b->cap ? b->cap * 2 : 1 << 16;
        b->p = dr_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

size_t dr_begin_section(dr_filebuf *b, const char tag[4])
{
    dr_put(b, tag, 4);
    dr_put_u64(b, 0);
    return b->len;
}

void dr_end_section(dr_filebuf *b, size_t start)
{
    uint64_t n = b->len - start;
    memcpy(b->p + start - 8, &n, 8);
}

int dr_write_atomic(const char *path, const uint8_t *data, size_t len)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) return dr_fail("%s: cannot create a temporary file: %s", path, strerror(errno));
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, data + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return dr_fail("%s: write failed: %s", path, strerror(e));
        }
        done += (size_t)w;
    }
    if (fsync(fd) || close(fd)) {
        unlink(tmp);
        return dr_fail("%s: cannot flush to disk: %s", path, strerror(errno));
    }
    if (rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return dr_fail("%s: cannot rename into place: %s", path, strerror(e));
    }
    return 0;
}

void dr_put_crc(dr_filebuf *b) { dr_put_u32(b, (uint32_t)crc32(0L, b->p, (uInt)b->len)); }

int dr_crc_ok(const uint8_t *p, size_t len)
{
    return len >= 4 && dr_get_u32(p + len - 4) == (uint32_t)crc32(0L, p, (uInt)(len - 4));
}
