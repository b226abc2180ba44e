/* Folder-per-class image trees: dir/<class>/<file>.png|jpg|jpeg. */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "../core/common.h"
#include "dataset.h"
#include "image.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entries of a folder: folders (want_dirs) or image files. */
static int list_dir(const char *dir, int want_dirs, char ***out, int *n)
{
    DIR *d = opendir(dir);
    if (!d) return dr_fail("%s: cannot open folder", dir);
    int cap = 64;
    *n = 0;
    *out = dr_xmalloc(sizeof(char *) * (size_t)cap);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st)) continue;
        if (want_dirs ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) continue;
        if (!want_dirs) {
            const char *dot = strrchr(e->d_name, '.');
            if (!dot || (strcasecmp(dot, ".png") && strcasecmp(dot, ".jpg") &&
                         strcasecmp(dot, ".jpeg")))
                continue;
        }
        if (*n == cap) *out = dr_xrealloc(*out, sizeof(char *) * (size_t)(cap *= 2));
        (*out)[(*n)++] = dr_xstrdup(e->d_name);
    }
    closedir(d);
    qsort(*out, (size_t)*n, sizeof(char *), cmp_str);
    return 0;
}

static void free_list(char **l, int n)
{
    for (int i = 0; i < n; i++) free(l[i]);
    free(l);
}

int dr_imgdir_classes(const char *dir, char ***names, int *n)
{
    if (list_dir(dir, 1, names, n)) return -1;
    if (*n < 2) {
        free_list(*names, *n);
        return dr_fail("%s: needs at least two class folders, found %d", dir, *n);
    }
    return 0;
}

int dr_imgdir_load(const char *dir, int h, int w, int channels, char **class_names, int n_classes,
                   dr_dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    char **own = NULL;
    if (!class_names) {
        if (dr_imgdir_classes(dir, &own, &n_classes)) return -1;
        class_names = own;
    }
    char **present;
    int n_present;
    if (list_dir(dir, 1, &present, &n_present)) goto fail;
    for (int i = 0; i < n_present; i++) {
        int known = 0;
        for (int k = 0; k < n_classes; k++) known |= !strcmp(present[i], class_names[k]);
        if (!known) {
            dr_fail("%s/%s: class folder not present in the training split", dir, present[i]);
            free_list(present, n_present);
            goto fail;
        }
    }
    free_list(present, n_present);
    ds->h = h;
    ds->w = w;
    ds->c = channels;
    ds->classes = n_classes;
    int cap = 0;
    for (int k = 0; k < n_classes; k++) {
        char cdir[4096];
        snprintf(cdir, sizeof cdir, "%s/%s", dir, class_names[k]);
        char **files;
        int n_files;
        struct stat st;
        if (stat(cdir, &st)) continue; /* a class may be absent from the test split */
        if (list_dir(cdir, 0, &files, &n_files)) goto fail;
        for (int i = 0; i < n_files; i++) {
            char path[8192];
            snprintf(path, sizeof path, "%s/%s", cdir, files[i]);
            int ih, iw, ic;
            uint8_t *px = dr_image_load(path, ds->c, &ih, &iw, &ic);
            if (!px) {
                free_list(files, n_files);
                goto fail;
            }
            if (!ds->c) ds->c = ic; /* the first image fixes the channel count */
            if (ds->n == cap) {
                cap = cap ? cap * 2 : 256;
                ds->pixels = dr_xrealloc(ds->pixels, (size_t)cap * h * w * ds->c);
                ds->labels = dr_xrealloc(ds->labels, sizeof(int) * (size_t)cap);
            }
            dr_resize_bilinear(px, ih, iw, ds->c, ds->pixels + (size_t)ds->n * h * w * ds->c, h, w);
            ds->labels[ds->n++] = k;
            free(px);
        }
        free_list(files, n_files);
    }
    if (!ds->n) {
        dr_fail("%s: no PNG or JPEG images in the class folders", dir);
        goto fail;
    }
    snprintf(ds->source, sizeof ds->source, "%s", dir);
    if (own) free_list(own, n_classes);
    return 0;
fail:
    if (own) free_list(own, n_classes);
    dr_dataset_free(ds);
    return -1;
}
