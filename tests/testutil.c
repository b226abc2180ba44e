#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

dr_net *tu_net(const char *text, int channels, int max_batch)
{
    dr_net_options opt = {.channels = channels, .max_batch = max_batch};
    dr_net *net = dr_net_parse(text, "test.net", &opt);
    if (!net) fail_msg("model did not parse: %s", dr_last_error());
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
