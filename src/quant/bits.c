#include "bits.h"

#include <stdio.h>
#include <stdlib.h>

#include "../core/common.h"

int dr_bits_parse(const char *s, dr_bits *b)
{
    long v[3];
    const char *p = s;
    for (int i = 0; i < 3; i++) {
        char *end;
        v[i] = strtol(p, &end, 10);
        if (end == p || !dr_bits_valid(v[i]) || (i < 2 ? *end != ',' : *end != 0))
            return dr_fail("bits '%s': expected W,A,G with each 1..8 or 32 (float)", s);
        p = end + 1;
    }
    b->w = (int)v[0], b->a = (int)v[1], b->g = (int)v[2];
    return 0;
}

void dr_bits_format(const dr_bits *b, char *buf, size_t cap) { snprintf(buf, cap, "%d,%d,%d", b->w, b->a, b->g); }
