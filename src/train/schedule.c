#include "schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"

int dr_schedule_parse(const char *text, dr_schedule *s)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    s->n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        char *colon = strchr(tok, ':'), *end;
        if (!colon) return dr_fail("schedule '%s': stage '%s' needs W,A,G:EPOCHS", text, tok);
        *colon = 0;
        if (s->n == DR_MAX_STAGES) return dr_fail("schedule '%s': at most %d stages", text, DR_MAX_STAGES);
        if (dr_bits_parse(tok, &s->bits[s->n])) return dr_fail("schedule '%s': %s", text, dr_last_error());
        long e = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || *end || e < 1 || e > 100000)
            return dr_fail("schedule '%s': stage %d: epochs '%s' must be a positive integer", text, s->n + 1, colon + 1);
        s->epochs[s->n++] = (int)e;
    }
    if (!s->n) return dr_fail("schedule '%s' has no stages", text);
    return 0;
}

int dr_schedule_stage(const dr_schedule *s, int epoch)
{
    for (int i = 0, end = 0; i < s->n; i++)
        if (epoch < (end += s->epochs[i])) return i;
    return s->n - 1;
}

int dr_schedule_stage_start(const dr_schedule *s, int stage)
{
    int e = 0;
    for (int i = 0; i < stage && i < s->n; i++) e += s->epochs[i];
    return e;
}

int dr_schedule_epochs(const dr_schedule *s)
{
    int e = 0;
    for (int i = 0; i < s->n; i++) e += s->epochs[i];
    return e;
}
