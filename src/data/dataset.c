#include "dataset.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/common.h"

void dr_dataset_free(dr_dataset *ds)
{
    free(ds->pixels);
    free(ds->labels);
    free(ds->class_names);
    ds->pixels = NULL;
    ds->labels = NULL;
    ds->class_names = NULL;
    ds->n = 0;
}

void dr_resize_bilinear(const uint8_t *src, int sh, int sw, int c, uint8_t *dst, int dh, int dw)
{
    float sy = (float)sh / dh, sx = (float)sw / dw;
    for (int y = 0; y < dh; y++) {
        float fy = (y + 0.5f) * sy - 0.5f;
        if (fy < 0) fy = 0;
        int y0 = (int)fy, y1 = y0 + 1 < sh ? y0 + 1 : sh - 1;
        float wy = fy - y0;
        for (int x = 0; x < dw; x++) {
            float fx = (x + 0.5f) * sx - 0.5f;
            if (fx < 0) fx = 0;
            int x0 = (int)fx, x1 = x0 + 1 < sw ? x0 + 1 : sw - 1;
            float wx = fx - x0;
            for (int k = 0; k < c; k++) {
                float a = src[(y0 * sw + x0) * c + k], b = src[(y0 * sw + x1) * c + k];
                float d = src[(y1 * sw + x0) * c + k], e = src[(y1 * sw + x1) * c + k];
                float v = (a * (1 - wx) + b * wx) * (1 - wy) + (d * (1 - wx) + e * wx) * wy;
                dst[(y * dw + x) * c + k] = (uint8_t)lrintf(v);
            }
        }
    }
}

int dr_dataset_resize(dr_dataset *ds, int h, int w)
{
    if (ds->h == h && ds->w == w) return 0;
    size_t in_sz = (size_t)ds->h * ds->w * ds->c, out_sz = (size_t)h * w * ds->c;
    const double bytes = (double)ds->n * (double)out_sz;
    if (bytes > dr_memory_limit()) {
        char need[32], have[32];
        return dr_fail("%s: %d images at %dx%dx%d take %s, more than the %s they may use "
                       "(--limit-train and --limit-test take fewer)",
                       ds->source, ds->n, h, w, ds->c, dr_format_bytes(bytes, need, sizeof need),
                       dr_format_bytes(dr_memory_limit(), have, sizeof have));
    }
    uint8_t *out = dr_xmalloc((size_t)ds->n * out_sz);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < ds->n; i++)
        dr_resize_bilinear(ds->pixels + i * in_sz, ds->h, ds->w, ds->c, out + i * out_sz, h, w);
    free(ds->pixels);
    ds->pixels = out;
    ds->h = h;
    ds->w = w;
    return 0;
}

void dr_dataset_truncate(dr_dataset *ds, int n)
{
    if (n > 0 && n < ds->n) ds->n = n;
}

int dr_dataset_append(dr_dataset *a, dr_dataset *b)
{
    if (a->h != b->h || a->w != b->w || a->c != b->c) {
        int r = dr_fail("%s: images are %dx%dx%d, but %s has %dx%dx%d", b->source, b->h, b->w,
                        b->c, a->source, a->h, a->w, a->c);
        dr_dataset_free(b);
        return r;
    }
    size_t sz = (size_t)a->h * a->w * a->c;
    a->pixels = dr_xrealloc(a->pixels, (size_t)(a->n + b->n) * sz);
    a->labels = dr_xrealloc(a->labels, sizeof(int) * (size_t)(a->n + b->n));
    memcpy(a->pixels + (size_t)a->n * sz, b->pixels, (size_t)b->n * sz);
    memcpy(a->labels + a->n, b->labels, sizeof(int) * (size_t)b->n);
    a->n += b->n;
    if (b->classes > a->classes) a->classes = b->classes;
    size_t l = strlen(a->source);
    snprintf(a->source + l, sizeof a->source - l, " + %s", b->source);
    dr_dataset_free(b);
    return 0;
}

/* ---- layout detection ---------------------------------------------------- */

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Finds dir/name or dir/name.gz. */
static int find_idx(const char *dir, const char *const *names, char *out, size_t cap)
{
    for (int i = 0; names[i]; i++) {
        snprintf(out, cap, "%s/%s.gz", dir, names[i]);
        if (exists(out)) return 1;
        snprintf(out, cap, "%s/%s", dir, names[i]);
        if (exists(out)) return 1;
    }
    return 0;
}

static int open_idx(const char *dir, int split, dr_dataset *ds, int *found)
{
    static const char *const train_img[] = {"train-images-idx3-ubyte", "train-images.idx3-ubyte", NULL};
    static const char *const train_lbl[] = {"train-labels-idx1-ubyte", "train-labels.idx1-ubyte", NULL};
    static const char *const test_img[] = {"t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte",
                                           "test-images-idx3-ubyte", NULL};
    static const char *const test_lbl[] = {"t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte",
                                           "test-labels-idx1-ubyte", NULL};
    char img[1024], lbl[1024];
    int has_img = find_idx(dir, split == DR_SPLIT_TRAIN ? train_img : test_img, img, sizeof img);
    int has_lbl = find_idx(dir, split == DR_SPLIT_TRAIN ? train_lbl : test_lbl, lbl, sizeof lbl);
    if (!has_img && !has_lbl) return 0;
    *found = 1;
    if (!has_img)
        return dr_fail("%s: has %s but no %s images file", dir, lbl, split ? "t10k" : "train");
    if (!has_lbl)
        return dr_fail("%s: has %s but no matching labels file", dir, img);
    return dr_idx_load(img, lbl, ds);
}

static int open_cifar(const char *dir, int split, dr_dataset *ds, int *found)
{
    char paths[5][1024];
    const char *ptrs[5];
    int n = 0;
    if (split == DR_SPLIT_TRAIN) {
        for (int i = 1; i <= 5; i++) {
            snprintf(paths[n], sizeof paths[n], "%s/data_batch_%d.bin", dir, i);
            if (exists(paths[n])) ptrs[n] = paths[n], n++;
        }
    } else {
        snprintf(paths[0], sizeof paths[0], "%s/test_batch.bin", dir);
        if (exists(paths[0])) ptrs[0] = paths[0], n = 1;
    }
    if (!n) return 0;
    *found = 1;
    return dr_cifar_load(ptrs, n, ds);
}

static int open_svhn(const char *dir, int split, const dr_open_options *opt, dr_dataset *ds,
                     int *found)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s_32x32.mat", dir, split == DR_SPLIT_TRAIN ? "train" : "test");
    if (!exists(path)) return 0;
    *found = 1;
    if (dr_svhn_load(path, ds)) return -1;
    if (split == DR_SPLIT_TRAIN && opt && opt->svhn_extra) {
        snprintf(path, sizeof path, "%s/extra_32x32.mat", dir);
        dr_dataset extra = {0};
        if (dr_svhn_load(path, &extra)) {
            dr_dataset_free(ds);
            return -1;
        }
        if (dr_dataset_append(ds, &extra)) {
            dr_dataset_free(ds);
            return -1;
        }
    }
    return 0;
}

/* ---- class names ---------------------------------------------------------- */

static const char FASHION_NAMES[] = "T-shirt/top\nTrouser\nPullover\nDress\nCoat\nSandal\nShirt\nSneaker\nBag\nAnkle boot";
static const char CIFAR_NAMES[] = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck";
static const char DIGIT_NAMES[] = "0\n1\n2\n3\n4\n5\n6\n7\n8\n9";

int dr_class_names_read(const char *path, char **names)
{
    size_t len;
    char *text = dr_read_file(path, &len);
    if (!text) return -1;
    char *out = dr_xmalloc(len + 1);
    size_t o = 0;
    int line = 0;
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ')) len--; /* blank ends */
    for (char *p = text; p < text + len;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(text + len - p);
        line++;
        if (n && p[n - 1] == '\r') n--;
        const int why = dr_class_name_check(p, n);
        if (why) {
            int r = dr_fail("%s:%d: %s", path, line, why == DR_NAME_EMPTY  ? "empty class name"
                                                     : why == DR_NAME_LONG ? "class name over 255 bytes"
                                                                           : "class name with a control character");
            free(text), free(out);
            return r;
        }
        if (o) out[o++] = '\n';
        memcpy(out + o, p, n);
        o += n;
        p += n + (nl ? 1 + (p[n] == '\r') : 0);
    }
    out[o] = 0;
    free(text);
    if (!o) {
        free(out);
        return dr_fail("%s: no class names in it", path);
    }
    *names = out;
    return 0;
}

static int set_names(dr_dataset *ds, const char *dir, const char *layout_names)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/classes.txt", dir);
    if (exists(path)) {
        char *names;
        if (dr_class_names_read(path, &names)) {
            dr_dataset_free(ds);
            return -1;
        }
        free(ds->class_names);
        ds->class_names = names;
    } else if (layout_names && !ds->class_names)
        ds->class_names = dr_xstrdup(layout_names);
    int n = 1;
    for (const char *p = ds->class_names; p && *p; p++) n += *p == '\n';
    if (ds->class_names && n < ds->classes) {
        int r = dr_fail("%s: names %d classes, the data set has %d", exists(path) ? path : dir, n, ds->classes);
        dr_dataset_free(ds);
        return r;
    }
    return 0;
}

static int layout_names(const char *dir, int split, dr_dataset *ds, int *found)
{
    int r;
    if ((r = open_idx(dir, split, ds, found)) || *found)
        return r ? r : set_names(ds, dir, strcasestr(dir, "fashion") ? FASHION_NAMES : DIGIT_NAMES);
    if ((r = open_cifar(dir, split, ds, found)) || *found) {
        char meta[1100];
        snprintf(meta, sizeof meta, "%s/batches.meta.txt", dir);
        if (!r && exists(meta) && dr_class_names_read(meta, &ds->class_names)) r = -1, dr_dataset_free(ds);
        return r ? r : set_names(ds, dir, CIFAR_NAMES);
    }
    return 0;
}

int dr_dataset_open(const char *path, int split, const dr_open_options *opt, dr_dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    size_t len = strlen(path);
    if (len > 4 && !strcmp(path + len - 4, ".mat")) {
        if (dr_svhn_load(path, ds)) return -1;
        ds->class_names = dr_xstrdup(DIGIT_NAMES);
        return 0;
    }
    if (!is_dir(path))
        return dr_fail("%s: %s", path, exists(path) ? "not a data set folder" : "no such folder");
    int found = 0, r;
    if ((r = layout_names(path, split, ds, &found)) || found) return r;
    char sub[1024];
    snprintf(sub, sizeof sub, "%s/cifar-10-batches-bin", path);
    if (is_dir(sub) && ((r = layout_names(sub, split, ds, &found)) || found))
        return r ? r : set_names(ds, path, NULL); /* the outer folder's classes.txt too */
    if ((r = open_svhn(path, split, opt, ds, &found)) || found) return r ? r : set_names(ds, path, DIGIT_NAMES);
    snprintf(sub, sizeof sub, "%s/%s", path, split == DR_SPLIT_TRAIN ? "train" : "test");
    if (is_dir(sub)) {
        /* Both splits take their class order from the train folder. */
        char trainsub[1024], **names = NULL;
        int n_classes, h = opt && opt->h ? opt->h : 32, w = opt && opt->w ? opt->w : 32;
        snprintf(trainsub, sizeof trainsub, "%s/train", path);
        if (dr_imgdir_classes(is_dir(trainsub) ? trainsub : sub, &names, &n_classes)) return -1;
        r = dr_imgdir_load(sub, h, w, 0, names, n_classes, ds);
        size_t tl = 0;
        for (int i = 0; i < n_classes; i++) tl += strlen(names[i]) + 1;
        char *text = dr_xmalloc(tl + 1);
        text[0] = 0;
        for (int i = 0, o = 0; i < n_classes; i++) o += sprintf(text + o, "%s%s", i ? "\n" : "", names[i]);
        for (int i = 0; i < n_classes; i++) free(names[i]);
        free(names);
        if (r) {
            free(text);
            return r;
        }
        ds->class_names = text;
        return set_names(ds, path, NULL);
    }
    return dr_fail("%s: no %s split found (looked for IDX, CIFAR-10 binary, SVHN .mat and "
                   "%s/<class>/ image folders)",
                   path, split == DR_SPLIT_TRAIN ? "train" : "test",
                   split == DR_SPLIT_TRAIN ? "train" : "test");
}
