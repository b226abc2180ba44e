/* key=value arguments of one model-file line, with typed getters that
 * produce "file:line: ..." errors. */
#ifndef DR_KV_H
#define DR_KV_H

#define DR_KV_MAX 64

typedef struct {
    char key[32];
    char val[1280]; /* an escaped path of 384 bytes takes up to 1152 */
    int used;
} dr_kv_item;

typedef struct {
    const char *file;
    int line;
    int n;
    dr_kv_item items[DR_KV_MAX];
} dr_kv;

/* Splits "key=value key=value" into kv; returns -1 with an error on bad syntax. */
int dr_kv_parse(dr_kv *kv, const char *text, const char *file, int line);
/* Getters: return 0 when the key is absent (out = def) or valid, -1 otherwise. */
int dr_kv_int(dr_kv *kv, const char *key, int def, int min, int max, int *out);
int dr_kv_float(dr_kv *kv, const char *key, float def, float min, float max, float *out);
int dr_kv_str(dr_kv *kv, const char *key, const char *def, const char **out);
/* choices is a NULL-terminated list; out is the index of the match. */
int dr_kv_choice(dr_kv *kv, const char *key, const char *const *choices, int def, int *out);
/* Comma-separated integers "a,b,c" (count set to how many were read). */
int dr_kv_ints(dr_kv *kv, const char *key, int *vals, int max_count, int *count);
/* Fails naming the first key no getter asked for. */
int dr_kv_check_unused(const dr_kv *kv, const char *what);
/* Error helper: "file:line: message". */
int dr_kv_fail(const dr_kv *kv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
