#include "kv.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

int dr_kv_fail(const dr_kv *kv, const char *fmt, ...)
{
    char msg[DR_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return dr_fail("%s:%d: %s", kv->file, kv->line, msg);
}

int dr_kv_parse(dr_kv *kv, const char *text, const char *file, int line)
{
    kv->file = file;
    kv->line = line;
    kv->n = 0;
    const char *p = text;
    for (;;) {
        while (*p && isspace((unsigned char)*p)) p++;
        if (!*p) return 0;
        const char *start = p;
        while (*p && !isspace((unsigned char)*p)) p++;
        size_t len = (size_t)(p - start);
        const char *eq = memchr(start, '=', len);
        if (!eq || eq == start || eq == start + len - 1)
            return dr_kv_fail(kv, "expected key=value, got '%.*s'", (int)len, start);
        size_t klen = (size_t)(eq - start), vlen = len - klen - 1;
        if (kv->n == DR_KV_MAX) return dr_kv_fail(kv, "too many arguments");
        if (klen >= sizeof kv->items[0].key || vlen >= sizeof kv->items[0].val)
            return dr_kv_fail(kv, "argument too long: '%.*s'", (int)len, start);
        dr_kv_item *it = &kv->items[kv->n];
        memcpy(it->key, start, klen);
        it->key[klen] = 0;
        memcpy(it->val, eq + 1, vlen);
        it->val[vlen] = 0;
        it->used = 0;
        for (int i = 0; i < kv->n; i++)
            if (!strcmp(kv->items[i].key, it->key))
                return dr_kv_fail(kv, "key '%s' given twice", it->key);
        kv->n++;
    }
}

static dr_kv_item *find(dr_kv *kv, const char *key)
{
    for (int i = 0; i < kv->n; i++)
        if (!strcmp(kv->items[i].key, key)) {
            kv->items[i].used = 1;
            return &kv->items[i];
        }
    return NULL;
}

int dr_kv_int(dr_kv *kv, const char *key, int def, int min, int max, int *out)
{
    dr_kv_item *it = find(kv, key);
    *out = def;
    if (!it) return 0;
    char *end;
    errno = 0;
    long v = strtol(it->val, &end, 10);
    if (*end || errno) return dr_kv_fail(kv, "%s=%s is not an integer", key, it->val);
    if (v < min || v > max)
        return dr_kv_fail(kv, "%s=%ld is out of range [%d, %d]", key, v, min, max);
    *out = (int)v;
    return 0;
}

int dr_kv_float(dr_kv *kv, const char *key, float def, float min, float max, float *out)
{
    dr_kv_item *it = find(kv, key);
    *out = def;
    if (!it) return 0;
    char *end;
    errno = 0;
    float v = strtof(it->val, &end);
    if (*end || errno || v != v) return dr_kv_fail(kv, "%s=%s is not a number", key, it->val);
    if (v < min || v > max)
        return dr_kv_fail(kv, "%s=%g is out of range [%g, %g]", key, v, min, max);
    *out = v;
    return 0;
}

int dr_kv_str(dr_kv *kv, const char *key, const char *def, const char **out)
{
    dr_kv_item *it = find(kv, key);
    *out = it ? it->val : def;
    return 0;
}

int dr_kv_choice(dr_kv *kv, const char *key, const char *const *choices, int def, int *out)
{
    dr_kv_item *it = find(kv, key);
    *out = def;
    if (!it) return 0;
    char list[256] = "";
    for (int i = 0; choices[i]; i++) {
        if (!strcmp(choices[i], it->val)) {
            *out = i;
            return 0;
        }
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "", choices[i]);
    }
    return dr_kv_fail(kv, "%s=%s is not one of: %s", key, it->val, list);
}

int dr_kv_ints(dr_kv *kv, const char *key, int *vals, int max_count, int *count)
{
    dr_kv_item *it = find(kv, key);
    *count = 0;
    if (!it) return 0;
    const char *p = it->val;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',') || *count == max_count)
            return dr_kv_fail(kv, "%s=%s: expected up to %d comma-separated integers", key,
                              it->val, max_count);
        vals[(*count)++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return 0;
}

int dr_kv_check_unused(const dr_kv *kv, const char *what)
{
    for (int i = 0; i < kv->n; i++)
        if (!kv->items[i].used)
            return dr_kv_fail(kv, "unknown key '%s' for %s", kv->items[i].key, what);
    return 0;
}
