#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>
#include <string.h>
#include <unistd.h>

dr_net *tu_net(const char *text, int channels, int max_batch)
{
    dr_net_options opt = {.channels = channels, .max_batch = max_batch};
    dr_net *net = dr_net_parse(text, "test.net", &opt);
    if (!net) fail_msg("model did not parse: %s", dr_last_error());
    return net;
}

dr_net *tu_shipped(const char *name, int channels, int max_batch)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.net", DOREFA_MODELS, name);
    dr_net_options opt = {.channels = channels, .max_batch = max_batch};
    dr_net *net = dr_net_load(path, &opt);
    if (!net) fail_msg("%s: %s", path, dr_last_error());
    return net;
}

void tu_fill(float *x, size_t n, float lo, float hi, uint64_t seed)
{
    dr_rng r;
    dr_rng_seed(&r, seed, DR_RNG_TEST, 0, 0);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * dr_rng_uniform(&r);
}

const char *tu_tmpdir(void)
{
    static char dir[256];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/dorefa-test-XXXXXX");
        if (!mkdtemp(dir)) fail_msg("cannot create a temporary folder");
    }
    return dir;
}

void tu_assert_error_has(const char *needle)
{
    const char *msg = dr_last_error();
    if (!strstr(msg, needle)) fail_msg("error '%s' does not mention '%s'", msg, needle);
}

int tu_have(const char *path)
{
    if (access(path, R_OK) == 0) return 1;
    fprintf(stderr, "[  SKIP    ] %s is missing\n", path);
    return 0;
}

void tu_conv_reference(const dr_conv_geom *g, int n, const float *in, const float *w, const float *dout,
                       double *out, double *din, double *dw, double *abs_out)
{
    int icg = g->ic / g->groups, ocg = g->oc / g->groups, K = dr_conv_k(g);
    for (int s = 0; s < n; s++)
        for (int oy = 0; oy < g->oh; oy++)
            for (int ox = 0; ox < g->ow; ox++)
                for (int o = 0; o < g->oc; o++) {
                    int grp = o / ocg;
                    size_t oi = (((size_t)s * g->oh + oy) * g->ow + ox) * g->oc + o;
                    double acc = 0, mag = 0;
                    for (int ky = 0; ky < g->kh; ky++)
                        for (int kx = 0; kx < g->kw; kx++) {
                            int y = oy * g->sh - g->pad_top + ky, x = ox * g->sw - g->pad_left + kx;
                            if (y < 0 || y >= g->ih || x < 0 || x >= g->iw) continue;
                            for (int c = 0; c < icg; c++) {
                                size_t ii = (((size_t)s * g->ih + y) * g->iw + x) * g->ic + grp * icg + c;
                                size_t wi = (size_t)o * K + (ky * g->kw + kx) * icg + c;
                                acc += (double)w[wi] * in[ii];
                                mag += fabs((double)w[wi] * in[ii]);
                                if (din) din[ii] += (double)w[wi] * dout[oi];
                                if (dw) dw[wi] += (double)in[ii] * dout[oi];
                            }
                        }
                    out[oi] = acc;
                    if (abs_out) abs_out[oi] = mag;
                }
}

void tu_write_with_section(const char *path, const uint8_t *p, size_t n, const char *tag, const void *body,
                           size_t len)
{
    uint8_t *q = malloc(2 * n + len + 64);
    size_t w = 16;
    uint32_t count;
    memcpy(q, p, 16);
    memcpy(&count, p + 12, 4);
    for (size_t pos = 16; pos < n - 4;) {
        uint64_t sz;
        memcpy(&sz, p + pos + 4, 8);
        const int hit = !memcmp(p + pos, tag, 4);
        if (!hit || !body) memcpy(q + w, p + pos, 12 + sz), w += 12 + sz;
        if (hit && !body) memcpy(q + w, p + pos, 12 + sz), w += 12 + sz, count++; /* twice */
        if (hit && body) {
            uint64_t l = len;
            memcpy(q + w, tag, 4), memcpy(q + w + 4, &l, 8), memcpy(q + w + 12, body, len), w += 12 + len;
        }
        pos += 12 + sz;
    }
    memcpy(q + 12, &count, 4);
    uint32_t crc = (uint32_t)crc32(0L, q, (uInt)w);
    memcpy(q + w, &crc, 4);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(q, 1, w + 4, f), w + 4);
    fclose(f);
    free(q);
}
