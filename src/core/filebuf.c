#include "filebuf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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

/* A new file beside path, created with mode 0666 less the umask (as an ordinary
 * create would make it; mkstemp's 0600 kept shared files private). */
static int create_temp(const char *path, char *tmp, size_t cap)
{
    static unsigned counter;
    for (int attempt = 0; attempt < 100; attempt++) {
        const unsigned n = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
        snprintf(tmp, cap, "%s.tmp%ld.%u", path, (long)getpid(), n);
        const int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    return -1;
}

/* Flushes the folder holding path, so that a rename into it is on disk too. */
static int sync_folder(const char *path)
{
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = 0;
    else if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    const int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    const int rc = fsync(fd);
    close(fd);
    return rc;
}

void dr_remove_stale_temps(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *t = strstr(e->d_name, ".tmp");
        long pid;
        unsigned n;
        char rest;
        if (!t || sscanf(t + 4, "%ld.%u%c", &pid, &n, &rest) != 2 || pid <= 0) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* its writer may still be at work */
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
}

int dr_write_atomic(const char *path, const uint8_t *data, size_t len)
{
    char tmp[1200];
    int fd = create_temp(path, tmp, sizeof tmp);
    if (fd < 0) return dr_fail("%s: cannot create a temporary file beside it: %s", path, strerror(errno));
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, data + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            close(fd);
            unlink(tmp);
            return dr_fail("%s: write failed, the file is left as it was: %s", path, strerror(e));
        }
        done += (size_t)w;
    }
    if (fsync(fd) || close(fd)) {
        int e = errno;
        unlink(tmp);
        return dr_fail("%s: cannot flush to disk, the file is left as it was: %s", path, strerror(e));
    }
    if (rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return dr_fail("%s: cannot rename into place: %s", path, strerror(e));
    }
    if (sync_folder(path)) return dr_fail("%s: written, but its folder cannot be flushed: %s", path, strerror(errno));
    return 0;
}

uint64_t dr_fingerprint(const void *p, size_t len)
{
    uLong c = crc32(0L, Z_NULL, 0);
    for (size_t off = 0; off < len;) {
        const uInt n = (uInt)(len - off < ((size_t)1 << 30) ? len - off : (size_t)1 << 30);
        c = crc32(c, (const Bytef *)p + off, n);
        off += n;
    }
    return (uint64_t)c ^ (uint64_t)len << 32;
}

void dr_put_crc(dr_filebuf *b) { dr_put_u32(b, (uint32_t)crc32(0L, b->p, (uInt)b->len)); }

int dr_crc_ok(const uint8_t *p, size_t len)
{
    return len >= 4 && dr_get_u32(p + len - 4) == (uint32_t)crc32(0L, p, (uInt)(len - 4));
}

void dr_put_header(dr_filebuf *b, const char magic[8], uint32_t version, uint32_t sections)
{
    dr_put(b, magic, 8);
    dr_put_u32(b, version);
    dr_put_u32(b, sections);
}

int dr_read_sections(const char *path, const uint8_t *p, size_t len, const dr_file_kind *kind, uint32_t *version,
                     dr_section *sec, int cap)
{
    if (len < 8 || memcmp(p, kind->magic, 8))
        return dr_fail("%s: not a dorefa %s (bad magic%s)", path, kind->name, kind->magic_hint);
    if (len < 20) return dr_fail("%s: truncated %s (%zu bytes)", path, kind->name, len);
    const uint32_t v = dr_get_u32(p + 8);
    if (v > kind->newest)
        return dr_fail("%s: %s version %u, this dorefa reads versions %u to %u (a newer dorefa wrote it)", path,
                       kind->name, v, kind->oldest, kind->newest);
    if (v < kind->oldest)
        return dr_fail("%s: %s version %u was written by an older dorefa%s", path, kind->name, v, kind->too_old);
    if (!dr_crc_ok(p, len)) return dr_fail("%s: checksum mismatch: the file is truncated or corrupted", path);
    if (version) *version = v;
    size_t pos = 16, end = len - 4;
    int n = 0;
    for (uint32_t k = 0, ns = dr_get_u32(p + 12); k < ns; k++) {
        if (end - pos < 12) return dr_fail("%s: truncated section table", path);
        const uint8_t *tag = p + pos;
        uint64_t size = dr_get_u64(p + pos + 4);
        pos += 12;
        if (size > end - pos) return dr_fail("%s: section %.4s overruns the file", path, (const char *)tag);
        for (int j = 0; j < n; j++)
            if (!memcmp(sec[j].tag, tag, 4)) return dr_fail("%s: section %.4s is given twice", path, (const char *)tag);
        if (n == cap) return dr_fail("%s: more than %d sections", path, cap);
        memcpy(sec[n].tag, tag, 4);
        sec[n].off = pos, sec[n].len = size;
        n++;
        pos += size;
    }
    return n;
}
