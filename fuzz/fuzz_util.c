#include "fuzz.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char dir[256];

void fz_init(void)
{
    if (dir[0]) return;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/dorefa-fuzz-%ld", base, (long)getpid());
    mkdir(dir, 0700);
    setenv("DOREFA_MAX_MEMORY", "64M", 1);
    const char *threads = getenv("FUZZ_THREADS");
    omp_set_num_threads(threads ? atoi(threads) : 2);
}

const char *fz_path(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

const char *fz_file(const char *name, const uint8_t *data, size_t n)
{
    const char *path = fz_path(name);
    char sub[512];
    snprintf(sub, sizeof sub, "%s", path);
    for (char *p = sub + strlen(dir) + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(sub, 0700);
            *p = '/';
        }
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(data, 1, n, f) != n) abort();
    fclose(f);
    return path;
}

const char *fz_file_with_crc(const char *name, const uint8_t *data, size_t n)
{
    if (n < 20) return fz_file(name, data, n);
    uint8_t *copy = malloc(n);
    memcpy(copy, data, n);
    const uint32_t crc = (uint32_t)crc32(0L, copy, (uInt)(n - 4));
    memcpy(copy + n - 4, &crc, 4);
    const char *path = fz_file(name, copy, n);
    free(copy);
    return path;
}
