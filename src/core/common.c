#define _POSIX_C_SOURCE 200809L
#include "common.h"

#include <errno.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char err_buf[DR_ERR_MAX];

int dr_fail(const char *fmt, ...)
{
    char msg[DR_ERR_MAX]; /* the arguments may include dr_last_error() itself */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(err_buf, msg, sizeof msg);
    return -1;
}

const char *dr_last_error(void) { return err_buf[0] ? err_buf : "unknown error"; }

static void default_oom(size_t n)
{
    fprintf(stderr, "dorefa: out of memory (asked for %zu bytes)\n", n);
    abort();
}

static dr_oom_handler oom = default_oom;

void dr_set_oom_handler(dr_oom_handler h) { oom = h ? h : default_oom; }

static void out_of_memory(size_t n)
{
    oom(n);
    abort(); /* a handler must not return */
}

void *dr_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) out_of_memory(n);
    return p;
}

void *dr_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) out_of_memory(count * size);
    return p;
}

void *dr_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) out_of_memory(n);
    return q;
}

char *dr_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = dr_xmalloc(n);
    memcpy(d, s, n);
    return d;
}

char *dr_xstrndup(const char *s, size_t n)
{
    char *d = dr_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

void *dr_xalign(size_t n)
{
    void *p = NULL;
    size_t rounded = (n + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, rounded ? rounded : 64) != 0) out_of_memory(n);
    return p;
}

double dr_memory_limit(void)
{
    const char *env = getenv("DOREFA_MAX_MEMORY");
    if (env && *env) {
        char *end;
        double v = strtod(env, &end);
        const double unit = *end == 'K' ? 1024.0 : *end == 'M' ? 1048576.0 : *end == 'G' ? 1073741824.0 : 1.0;
        if (v > 0) return v * unit;
    }
    const long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? 0.8 * (double)pages * (double)size : 1e18; /* the rest: data, the system */
}

const char *dr_format_bytes(double bytes, char *buf, size_t cap)
{
    if (bytes >= 1073741824.0) snprintf(buf, cap, "%.1f GiB", bytes / 1073741824.0);
    else if (bytes >= 1048576.0) snprintf(buf, cap, "%.1f MiB", bytes / 1048576.0);
    else snprintf(buf, cap, "%.0f bytes", bytes);
    return buf;
}

void dr_thread_span(size_t n, size_t *i0, size_t *i1)
{
    const size_t nt = (size_t)omp_get_num_threads(), id = (size_t)omp_get_thread_num();
    *i0 = n * id / nt, *i1 = n * (id + 1) / nt;
}

double dr_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

char *dr_read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        dr_fail("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = dr_xmalloc(cap);
    for (;;) {
        if (len + 1 >= cap) buf = dr_xrealloc(buf, cap *= 2);
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        dr_fail("%s: read error", path);
        return NULL;
    }
    buf[len] = 0;
    if (len_out) *len_out = len;
    return buf;
}

int dr_class_name_check(const char *p, size_t n)
{
    if (!n) return DR_NAME_EMPTY;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 32 || p[i] == 127) return DR_NAME_CONTROL;
    return n > 255 ? DR_NAME_LONG : DR_NAME_OK;
}
