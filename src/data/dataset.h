/* In-memory image data sets: uint8 images (HWC) and integer labels. */
#ifndef DR_DATASET_H
#define DR_DATASET_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int n, h, w, c;
    uint8_t *pixels; /* n x h x w x c */
    int *labels;     /* n, each in [0, classes) */
    int classes;
    char source[512];
    char *class_names; /* the classes' names, one per line ("T-shirt/top\nTrouser..."); NULL: unknown */
} dr_dataset;

enum { DR_SPLIT_TRAIN, DR_SPLIT_TEST };

/* Readers. Every failure returns -1 with a one-line error naming the file. */
int dr_idx_load(const char *images_path, const char *labels_path, dr_dataset *ds);
int dr_cifar_load(const char *const *paths, int n_paths, dr_dataset *ds);
int dr_svhn_load(const char *mat_path, dr_dataset *ds);
/* Folder-per-class tree: dir/<class>/<image>.png|jpg. Images are resized to
 * h x w; channels: 1 or 3, or 0 to follow the first image. `class_names`
 * (may be NULL) fixes the class order, else sorted folder names. */
int dr_imgdir_load(const char *dir, int h, int w, int channels, char **class_names,
                   int n_classes, dr_dataset *ds);
/* Sorted names of the class folders under dir (caller frees each and the array). */
int dr_imgdir_classes(const char *dir, char ***names, int *n);

/* Opens one split of a data set folder, recognising its layout:
 *   IDX (MNIST, Fashion-MNIST): train-images-idx3-ubyte[.gz], t10k-...
 *   CIFAR-10 binary: data_batch_{1..5}.bin, test_batch.bin
 *   SVHN: train_32x32.mat (+ extra_32x32.mat when svhn_extra), test_32x32.mat
 *   image folders: train/<class>/..., test/<class>/...
 * A path to a single .mat file is read as that file. h, w: size for image
 * folders (0: 32). Class names: the folder's classes.txt (one per line) when
 * there is one, else the layout's (CIFAR-10's batches.meta.txt or its ten,
 * Fashion-MNIST's ten for a folder whose name says fashion, digits for
 * MNIST and SVHN, an image tree's folder names). */
typedef struct {
    int svhn_extra;
    int h, w;
} dr_open_options;
int dr_dataset_open(const char *path, int split, const dr_open_options *opt, dr_dataset *ds);

void dr_dataset_free(dr_dataset *ds);
/* Reads class names, one per line, from a file (classes.txt); -1 with a
 * message naming it when a line is empty, over 255 bytes or not text. */
int dr_class_names_read(const char *path, char **names);
/* Bilinear resize (half-pixel centres) of every image; no-op at the same size. */
int dr_dataset_resize(dr_dataset *ds, int h, int w); /* -1 when it would not fit in memory */
/* Keeps the first n images. */
void dr_dataset_truncate(dr_dataset *ds, int n);
/* Appends b to a (same image size); frees b. */
int dr_dataset_append(dr_dataset *a, dr_dataset *b);
/* Resizes one HWC uint8 image. */
void dr_resize_bilinear(const uint8_t *src, int sh, int sw, int c, uint8_t *dst, int dh, int dw);

#endif
