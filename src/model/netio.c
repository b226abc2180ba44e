#include "netio.h"

#include <string.h>

#include "../core/common.h"

int dr_net_sections(const dr_net *net, int with_conf) { return 3 + !!with_conf + !!net->class_names; }

void dr_put_net_sections(dr_filebuf *b, const dr_net *net, const char *conf)
{
    size_t s;
    if (conf) {
        s = dr_begin_section(b, "CONF");
        dr_put(b, conf, strlen(conf));
        dr_end_section(b, s);
    }
    s = dr_begin_section(b, "MODL");
    dr_put(b, net->source, strlen(net->source));
    dr_end_section(b, s);
    s = dr_begin_section(b, "INPT");
    const int32_t dims[3] = {net->input.h, net->input.w, net->input.c};
    dr_put(b, dims, sizeof dims);
    dr_end_section(b, s);
    s = dr_begin_section(b, "BITS");
    const int32_t bits[6] = {net->bits.w, net->bits.a, net->bits.g, net->bits.quantize_first,
                             net->bits.quantize_last, net->bounded_act};
    dr_put(b, bits, sizeof bits);
    dr_end_section(b, s);
    if (net->class_names) {
        s = dr_begin_section(b, "CLSS");
        dr_put(b, net->class_names, strlen(net->class_names));
        dr_end_section(b, s);
    }
}

int dr_get_class_names(const char *path, const uint8_t *p, size_t n, int classes, char **names)
{
    int lines = 0;
    for (size_t at = 0;; lines++) { /* name `lines` is [at, end) */
        const uint8_t *nl = memchr(p + at, '\n', n - at);
        const size_t end = nl ? (size_t)(nl - p) : n;
        const int why = dr_class_name_check((const char *)p + at, end - at);
        if (why == DR_NAME_CONTROL)
            return dr_fail("%s: corrupt CLSS section (a control character in class %d)", path, lines);
        if (why)
            return dr_fail("%s: corrupt CLSS section (class %d: %s)", path, lines,
                           why == DR_NAME_LONG ? "name over 255 bytes" : "empty name");
        if (!nl) break;
        at = end + 1;
    }
    lines++;
    if (lines != classes)
        return dr_fail("%s: corrupt CLSS section (%d names for %d classes)", path, lines, classes);
    *names = dr_xstrndup((const char *)p, n);
    return 0;
}

int dr_get_input(const char *path, const uint8_t *p, size_t n, dr_shape *input)
{
    int32_t d[3];
    if (n != sizeof d) return dr_fail("%s: corrupt INPT section (%zu bytes, expected %zu)", path, n, sizeof d);
    memcpy(d, p, sizeof d);
    for (int i = 0; i < 3; i++)
        if (d[i] < 1 || d[i] > 4096)
            return dr_fail("%s: corrupt INPT section: input %dx%dx%d (each must be 1..4096)", path, d[0], d[1], d[2]);
    *input = (dr_shape){d[0], d[1], d[2]};
    return 0;
}

int dr_get_bits(const char *path, const uint8_t *p, size_t n, dr_bits *bits, int *bounded_act)
{
    int32_t v[6];
    if (n != sizeof v) return dr_fail("%s: corrupt BITS section (%zu bytes, expected %zu)", path, n, sizeof v);
    memcpy(v, p, sizeof v);
    if (!dr_bits_valid(v[0]) || !dr_bits_valid(v[1]) || !dr_bits_valid(v[2]) || (v[3] & ~1) || (v[4] & ~1) ||
        (v[5] != -1 && v[5] != DR_ACT_CABS && v[5] != DR_ACT_CRELU))
        return dr_fail("%s: corrupt BITS section (%d,%d,%d, first %d, last %d, bounded activation %d)", path, v[0],
                       v[1], v[2], v[3], v[4], v[5]);
    *bits = (dr_bits){v[0], v[1], v[2], v[3], v[4]};
    *bounded_act = v[5];
    return 0;
}
