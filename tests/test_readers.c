/* Data readers on real files (MNIST, Fashion-MNIST, the SVHN fragment) and on
 * fixtures written here (IDX, CIFAR-10, MAT v5, image folders), including
 * every kind of bad input each reader must reject with a clear error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include <jpeglib.h>
#include <png.h>

#include "data/dataset.h"
#include "data/image.h"
#include "data/loader.h"
#include "testutil.h"

static char *tmp_path(const char *name)
{
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", tu_tmpdir(), name);
    return p;
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void mkdirs(const char *path)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') *p = 0, mkdir(tmp, 0777), *p = '/';
    mkdir(tmp, 0777);
}

/* ---- IDX -------------------------------------------------------------------- */

static size_t idx_bytes(uint8_t *buf, int dims, const uint32_t *d, uint8_t fill_base)
{
    buf[0] = buf[1] = 0, buf[2] = 8, buf[3] = (uint8_t)dims;
    size_t n = 1, off = 4;
    for (int i = 0; i < dims; i++, off += 4) {
        buf[off] = d[i] >> 24, buf[off + 1] = d[i] >> 16, buf[off + 2] = d[i] >> 8, buf[off + 3] = d[i];
        n *= d[i];
    }
    for (size_t i = 0; i < n; i++) buf[off + i] = (uint8_t)(fill_base + i);
    return off + n;
}

static void write_gz(const char *path, const void *data, size_t n)
{
    gzFile f = gzopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(gzwrite(f, data, (unsigned)n), (int)n);
    gzclose(f);
}

static void test_idx_fixture_plain_and_gzip(void **s)
{
    (void)s;
    uint8_t img[64], lbl[32];
    uint32_t di[3] = {3, 2, 2}, dl[1] = {3};
    size_t ni = idx_bytes(img, 3, di, 10), nl = idx_bytes(lbl, 1, dl, 0);
    lbl[8] = 4, lbl[9] = 0, lbl[10] = 9;
    write_bytes(tmp_path("i.idx"), img, ni);
    write_gz(tmp_path("l.idx.gz"), lbl, nl);
    dr_dataset ds;
    assert_int_equal(dr_idx_load(tmp_path("i.idx"), tmp_path("l.idx.gz"), &ds), 0);
    assert_int_equal(ds.n, 3);
    assert_int_equal(ds.h, 2);
    assert_int_equal(ds.c, 1);
    assert_int_equal(ds.classes, 10);
    assert_int_equal(ds.labels[0], 4);
    assert_int_equal(ds.labels[2], 9);
    assert_int_equal(ds.pixels[0], 10);
    assert_int_equal(ds.pixels[11], 21);
    dr_dataset_free(&ds);
}

static void test_idx_bad_inputs(void **s)
{
    (void)s;
    uint8_t img[64], lbl[32];
    uint32_t di[3] = {3, 2, 2}, dl[1] = {3}, dl4[1] = {4};
    size_t ni = idx_bytes(img, 3, di, 0), nl = idx_bytes(lbl, 1, dl, 0);
    dr_dataset ds;
    write_bytes(tmp_path("l.idx"), lbl, nl);
    /* truncated */
    write_gz(tmp_path("trunc.idx.gz"), img, ni - 3);
    assert_int_equal(dr_idx_load(tmp_path("trunc.idx.gz"), tmp_path("l.idx"), &ds), -1);
    tu_assert_error_has("trunc.idx.gz: truncated");
    /* trailing garbage */
    uint8_t longer[80] = {0};
    memcpy(longer, img, ni);
    write_bytes(tmp_path("long.idx"), longer, ni + 5);
    assert_int_equal(dr_idx_load(tmp_path("long.idx"), tmp_path("l.idx"), &ds), -1);
    tu_assert_error_has("5 unexpected bytes");
    /* wrong magic */
    uint8_t bad[64];
    memcpy(bad, img, ni);
    bad[2] = 0x0D;
    write_bytes(tmp_path("magic.idx"), bad, ni);
    assert_int_equal(dr_idx_load(tmp_path("magic.idx"), tmp_path("l.idx"), &ds), -1);
    tu_assert_error_has("magic.idx: not an IDX ubyte file");
    /* labels file given as images */
    assert_int_equal(dr_idx_load(tmp_path("l.idx"), tmp_path("l.idx"), &ds), -1);
    tu_assert_error_has("1 dimensions, expected 3");
    /* label count mismatch */
    uint8_t lbl4[32];
    size_t nl4 = idx_bytes(lbl4, 1, dl4, 0);
    write_bytes(tmp_path("l4.idx"), lbl4, nl4);
    write_bytes(tmp_path("i.idx"), img, ni);
    assert_int_equal(dr_idx_load(tmp_path("i.idx"), tmp_path("l4.idx"), &ds), -1);
    tu_assert_error_has("l4.idx: 4 labels, but");
    /* corrupted gzip stream */
    uint8_t big[16 + 4 * 32 * 32];
    uint32_t db[3] = {4, 32, 32};
    size_t nb = idx_bytes(big, 3, db, 7);
    write_gz(tmp_path("corrupt.gz"), big, nb);
    size_t zlen;
    char *z = dr_read_file(tmp_path("corrupt.gz"), &zlen);
    z[zlen / 2] ^= 0x55;
    z[zlen / 2 + 1] ^= 0x55;
    write_bytes(tmp_path("corrupt.gz"), z, zlen);
    free(z);
    assert_int_equal(dr_idx_load(tmp_path("corrupt.gz"), tmp_path("l4.idx"), &ds), -1);
    tu_assert_error_has("corrupt.gz");
    /* missing file */
    assert_int_equal(dr_idx_load(tmp_path("nope.idx"), tmp_path("l.idx"), &ds), -1);
    tu_assert_error_has("nope.idx");
    /* dimensions are checked before any data is read: a height of 2^31 (with 2 GiB of data
     * behind it this reached memmove with a negative size), and a product beyond 4 GiB */
    const uint8_t tall[20] = {0, 0, 8, 3, 0, 0, 0, 1, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
    write_bytes(tmp_path("tall.idx"), tall, sizeof tall);
    assert_int_equal(dr_idx_load(tmp_path("tall.idx"), tmp_path("l.idx"), &ds), -1);
    tu_assert_error_has("tall.idx: bad IDX dimension 2147483648 (images are 1..4096 pixels a side)");
    const uint8_t many[16] = {0, 0, 8, 3, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0x10, 0, 0, 0, 0x10, 0};
    write_bytes(tmp_path("many.idx"), many, sizeof many);
    assert_int_equal(dr_idx_load(tmp_path("many.idx"), tmp_path("l.idx"), &ds), -1);
    tu_assert_error_has("many.idx: the IDX header declares more than 4 GiB of data");
}

static void check_real_idx(const char *dir, const int *first_labels)
{
    char img[512], lbl[512];
    snprintf(img, sizeof img, "%s/t10k-images-idx3-ubyte.gz", dir);
    snprintf(lbl, sizeof lbl, "%s/t10k-labels-idx1-ubyte.gz", dir);
    if (!tu_have(img)) return;
    dr_dataset ds;
    if (dr_idx_load(img, lbl, &ds)) fail_msg("%s", dr_last_error());
    assert_int_equal(ds.n, 10000);
    assert_int_equal(ds.h, 28);
    assert_int_equal(ds.w, 28);
    assert_int_equal(ds.classes, 10);
    for (int i = 0; i < 10; i++) assert_int_equal(ds.labels[i], first_labels[i]);
    long sum = 0;
    for (int i = 0; i < 28 * 28; i++) sum += ds.pixels[i];
    assert_true(sum > 10000); /* a real image, not zeros */
    dr_dataset_free(&ds);
    /* The folder layout is recognised, both splits. */
    dr_open_options opt = {0};
    assert_int_equal(dr_dataset_open(dir, DR_SPLIT_TRAIN, &opt, &ds), 0);
    assert_int_equal(ds.n, 60000);
    dr_dataset_free(&ds);
}

static void test_real_mnist(void **s)
{
    (void)s;
    static const int first[10] = {7, 2, 1, 0, 4, 1, 4, 9, 5, 9};
    check_real_idx(DOREFA_SHARED_DATA "/mnist", first);
}

static void test_real_fashion_mnist(void **s)
{
    (void)s;
    static const int first[10] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
    check_real_idx("/usr/share/datasets/fashion-mnist", first);
}

/* ---- CIFAR-10 --------------------------------------------------------------- */

static void test_cifar_fixture_and_bad_inputs(void **s)
{
    (void)s;
    uint8_t *rec = calloc(3, 3073);
    for (int r = 0; r < 3; r++) {
        rec[r * 3073] = (uint8_t)(r * 4);
        for (int i = 0; i < 3072; i++) rec[r * 3073 + 1 + i] = (uint8_t)(i / 1024 * 100 + r);
    }
    mkdirs(tmp_path("cifar"));
    write_bytes(tmp_path("cifar/data_batch_1.bin"), rec, 2 * 3073);
    write_bytes(tmp_path("cifar/test_batch.bin"), rec + 3073, 2 * 3073);
    dr_dataset ds;
    dr_open_options opt = {0};
    assert_int_equal(dr_dataset_open(tmp_path("cifar"), DR_SPLIT_TRAIN, &opt, &ds), 0);
    assert_int_equal(ds.n, 2);
    assert_int_equal(ds.c, 3);
    assert_int_equal(ds.labels[1], 4);
    /* planes R, G, B become interleaved RGB */
    assert_int_equal(ds.pixels[0], 0);
    assert_int_equal(ds.pixels[1], 100);
    assert_int_equal(ds.pixels[2], 200);
    assert_int_equal(ds.pixels[3072 + 5 * 3 + 2], 201);
    dr_dataset_free(&ds);
    assert_int_equal(dr_dataset_open(tmp_path("cifar"), DR_SPLIT_TEST, &opt, &ds), 0);
    assert_int_equal(ds.labels[1], 8);
    dr_dataset_free(&ds);
    const char *p = tmp_path("short.bin");
    write_bytes(p, rec, 3073 + 100);
    assert_int_equal(dr_cifar_load(&p, 1, &ds), -1);
    tu_assert_error_has("short.bin: size 3173 is not a whole number");
    rec[0] = 12;
    write_bytes(p, rec, 3073);
    assert_int_equal(dr_cifar_load(&p, 1, &ds), -1);
    tu_assert_error_has("label 12");
    free(rec);
}

/* ---- MAT v5 (SVHN) ---------------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t n;
} bytes;

static void add(bytes *b, const void *d, size_t n)
{
    b->p = realloc(b->p, b->n + n + 8);
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void add_u32(bytes *b, uint32_t v) { add(b, &v, 4); }
static void pad8(bytes *b)
{
    static const uint8_t z[8] = {0};
    add(b, z, (8 - b->n % 8) % 8);
}

/* miMATRIX element: class (9 uint8, 6 double), dims, name, data of type t. */
static void add_matrix(bytes *out, int class_id, const uint32_t *dims, int nd, const char *name,
                       uint32_t type, const void *data, size_t nbytes, int compress)
{
    bytes m = {0};
    add_u32(&m, 6), add_u32(&m, 8), add_u32(&m, (uint32_t)class_id), add_u32(&m, 0);
    add_u32(&m, 5), add_u32(&m, (uint32_t)(4 * nd));
    add(&m, dims, 4 * (size_t)nd);
    pad8(&m);
    size_t nl = strlen(name); /* names of up to 4 bytes use the small element format */
    if (nl <= 4) {
        add_u32(&m, (uint32_t)(nl << 16 | 1));
        uint8_t nb[4] = {0};
        memcpy(nb, name, nl);
        add(&m, nb, 4);
    } else {
        add_u32(&m, 1), add_u32(&m, (uint32_t)nl), add(&m, name, nl), pad8(&m);
    }
    add_u32(&m, type), add_u32(&m, (uint32_t)nbytes), add(&m, data, nbytes), pad8(&m);
    bytes el = {0};
    add_u32(&el, 14), add_u32(&el, (uint32_t)m.n), add(&el, m.p, m.n);
    if (compress) {
        uLongf zn = compressBound(el.n);
        uint8_t *z = malloc(zn);
        assert_int_equal(compress2(z, &zn, el.p, el.n, 6), Z_OK);
        add_u32(out, 15), add_u32(out, (uint32_t)zn), add(out, z, zn);
        free(z);
    } else {
        add(out, el.p, el.n);
    }
    free(m.p);
    free(el.p);
}

static void mat_header(bytes *f)
{
    char head[128];
    memset(head, ' ', 116);
    memcpy(head, "MATLAB 5.0 MAT-file, written by test_readers", 44);
    memset(head + 116, 0, 8);
    head[124] = 0, head[125] = 1, head[126] = 'I', head[127] = 'M';
    add(f, head, 128);
}

static bytes mat_file(int n, const double *labels, int with_y, int compress)
{
    bytes f = {0};
    mat_header(&f);
    uint32_t dx[4] = {4, 3, 3, (uint32_t)n};
    size_t nx = 4 * 3 * 3 * (size_t)n;
    uint8_t *x = malloc(nx);
    for (size_t i = 0; i < nx; i++) x[i] = (uint8_t)i; /* column-major index */
    add_matrix(&f, 9, dx, 4, "X", 2, x, nx, compress);
    if (with_y) {
        uint32_t dy[2] = {(uint32_t)n, 1};
        add_matrix(&f, 6, dy, 2, "y", 9, labels, 8 * (size_t)n, compress);
    }
    free(x);
    return f;
}

static void test_mat_fixtures(void **s)
{
    (void)s;
    double y[2] = {10, 3};
    for (int compress = 0; compress < 2; compress++) {
        bytes f = mat_file(2, y, 1, compress);
        write_bytes(tmp_path("ok.mat"), f.p, f.n);
        free(f.p);
        dr_dataset ds;
        if (dr_svhn_load(tmp_path("ok.mat"), &ds)) fail_msg("%s", dr_last_error());
        assert_int_equal(ds.n, 2);
        assert_int_equal(ds.h, 4);
        assert_int_equal(ds.w, 3);
        assert_int_equal(ds.c, 3);
        assert_int_equal(ds.labels[0], 0); /* 10 is the digit 0 */
        assert_int_equal(ds.labels[1], 3);
        /* pixel (row 1, col 2, channel 1) of image 1: column-major index 1 + 4*2 + 12*1 + 36 */
        assert_int_equal(ds.pixels[36 + (1 * 3 + 2) * 3 + 1], 1 + 8 + 12 + 36);
        dr_dataset_free(&ds);
    }
}

static void test_mat_bad_inputs(void **s)
{
    (void)s;
    dr_dataset ds;
    double y[2] = {1, 2}, bad_y[2] = {1, 11};
    bytes f = mat_file(2, y, 0, 1);
    write_bytes(tmp_path("noy.mat"), f.p, f.n);
    free(f.p);
    assert_int_equal(dr_svhn_load(tmp_path("noy.mat"), &ds), -1);
    tu_assert_error_has("noy.mat: no label 'y' matrix");
    f = mat_file(2, bad_y, 1, 0);
    write_bytes(tmp_path("bady.mat"), f.p, f.n);
    free(f.p);
    assert_int_equal(dr_svhn_load(tmp_path("bady.mat"), &ds), -1);
    tu_assert_error_has("label 1 is 11");
    f = mat_file(2, y, 1, 1);
    write_bytes(tmp_path("cut.mat"), f.p, f.n - 20);
    assert_int_equal(dr_svhn_load(tmp_path("cut.mat"), &ds), -1);
    tu_assert_error_has("cut.mat: truncated");
    f.p[200] ^= 0xFF; /* damage the compressed stream of X */
    write_bytes(tmp_path("flip.mat"), f.p, f.n);
    assert_int_equal(dr_svhn_load(tmp_path("flip.mat"), &ds), -1);
    tu_assert_error_has("flip.mat");
    write_bytes(tmp_path("head.mat"), "MATLAB 4", 8);
    assert_int_equal(dr_svhn_load(tmp_path("head.mat"), &ds), -1);
    tu_assert_error_has("not a MATLAB 5.0 MAT-file");
    free(f.p);
    /* a NaN label: refused before it is cast to int */
    double nan_y[2] = {1, NAN};
    f = mat_file(2, nan_y, 1, 0);
    write_bytes(tmp_path("nan.mat"), f.p, f.n);
    free(f.p);
    assert_int_equal(dr_svhn_load(tmp_path("nan.mat"), &ds), -1);
    tu_assert_error_has("label 1 is nan");
}

/* A MAT file whose 'X' declares dims with no data behind them, and one label. */
static bytes mat_with_x_dims(const uint32_t *dx)
{
    bytes f = {0};
    mat_header(&f);
    add_matrix(&f, 9, dx, 4, "X", 2, "", 0, 0);
    const uint32_t dy[2] = {1, 1};
    const double y = 1;
    add_matrix(&f, 6, dy, 2, "y", 9, &y, 8, 0);
    return f;
}

/* Dimensions whose product wraps 64 bits to 0 passed the byte count check (0
 * bytes present), and a later write ran off a 1-byte buffer. */
static void test_mat_dimensions_cannot_wrap(void **s)
{
    (void)s;
    dr_dataset ds;
    const uint32_t wrap[4] = {1u << 17, 1u << 17, 1, 1u << 30}; /* 2^64 elements */
    bytes f = mat_with_x_dims(wrap);
    write_bytes(tmp_path("wrap.mat"), f.p, f.n);
    free(f.p);
    assert_int_equal(dr_svhn_load(tmp_path("wrap.mat"), &ds), -1);
    tu_assert_error_has("wrap.mat: matrix dimensions too large (more than 2^34 elements)");
    const uint32_t flat[4] = {0, 5, 3, 1}; /* no pixels, one image */
    f = mat_with_x_dims(flat);
    write_bytes(tmp_path("flat.mat"), f.p, f.n);
    free(f.p);
    assert_int_equal(dr_svhn_load(tmp_path("flat.mat"), &ds), -1);
    tu_assert_error_has("flat.mat: 'X' is 0x5x3x1: images must be 1..4096 pixels a side");
}

static void test_svhn_fragment_is_rejected(void **s)
{
    (void)s;
    const char *path = DOREFA_SHARED_DATA "/svhn-fragment/train_32x32.truncated.mat";
    if (!tu_have(path)) return;
    dr_dataset ds;
    assert_int_equal(dr_svhn_load(path, &ds), -1);
    tu_assert_error_has("train_32x32.truncated.mat: truncated");
    tu_assert_error_has("'X'");
    tu_assert_error_has("182004347");
    tu_assert_error_has("no labels");
    /* Its genuine header passes the format check: only the first 128 bytes kept
     * give "no image matrix", not "not a MAT-file". */
    size_t len;
    char *buf = dr_read_file(path, &len);
    write_bytes(tmp_path("header-only.mat"), buf, 128);
    free(buf);
    assert_int_equal(dr_svhn_load(tmp_path("header-only.mat"), &ds), -1);
    tu_assert_error_has("no image 'X' matrix");
}

/* ---- image folders ------------------------------------------------------------ */

static void write_png(const char *path, int w, int h, int colour, uint8_t value)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = colour ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    uint8_t *px = malloc(PNG_IMAGE_SIZE(img));
    memset(px, value, PNG_IMAGE_SIZE(img));
    assert_true(png_image_write_to_file(&img, path, 0, px, 0, NULL));
    free(px);
}

static void write_jpeg(const char *path, int w, int h, uint8_t value)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    FILE *f = fopen(path, "wb");
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w, c.image_height = (JDIMENSION)h;
    c.input_components = 3, c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 95, TRUE);
    jpeg_start_compress(&c, TRUE);
    uint8_t *row = malloc((size_t)w * 3);
    memset(row, value, (size_t)w * 3);
    while (c.next_scanline < c.image_height) jpeg_write_scanlines(&c, &row, 1);
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
    free(row);
}

/* A JPEG whose frame header declares 65500 x 65500 pixels (about 12.8 GB of
 * RGB) in a file of a few hundred bytes: refused before any allocation. */
static void test_jpeg_header_cannot_inflate(void **s)
{
    (void)s;
    write_jpeg(tmp_path("small.jpg"), 8, 8, 100);
    size_t n;
    uint8_t *p = (uint8_t *)dr_read_file(tmp_path("small.jpg"), &n);
    assert_non_null(p);
    size_t sof = 0;
    for (size_t i = 2; i + 9 < n && !sof; i++)
        if (p[i] == 0xFF && p[i + 1] == 0xC0) sof = i;
    assert_true(sof > 0);
    p[sof + 5] = p[sof + 7] = 0xFF, p[sof + 6] = p[sof + 8] = 0xDC; /* height, width: 65500 */
    write_bytes(tmp_path("huge.jpg"), p, n);
    free(p);
    int h, w, c;
    assert_null(dr_image_load(tmp_path("huge.jpg"), 3, &h, &w, &c));
    tu_assert_error_has("huge.jpg: image too large (65500x65500, at most 2^28 pixels)");
}

static void test_image_folders(void **s)
{
    (void)s;
    mkdirs(tmp_path("imgs/train/cat"));
    mkdirs(tmp_path("imgs/train/dog"));
    mkdirs(tmp_path("imgs/test/dog"));
    write_png(tmp_path("imgs/train/cat/a.png"), 20, 10, 1, 50);
    write_jpeg(tmp_path("imgs/train/cat/b.jpg"), 8, 8, 200);
    write_png(tmp_path("imgs/train/dog/c.png"), 16, 16, 0, 100); /* grey, converted to RGB */
    write_png(tmp_path("imgs/test/dog/d.png"), 5, 7, 1, 7);
    dr_dataset ds;
    dr_open_options opt = {.h = 12, .w = 12};
    if (dr_dataset_open(tmp_path("imgs"), DR_SPLIT_TRAIN, &opt, &ds)) fail_msg("%s", dr_last_error());
    assert_int_equal(ds.n, 3);
    assert_int_equal(ds.h, 12);
    assert_int_equal(ds.c, 3);
    assert_int_equal(ds.classes, 2);
    assert_int_equal(ds.labels[0], 0);
    assert_int_equal(ds.labels[2], 1);
    assert_int_equal(ds.pixels[0], 50);
    assert_in_range(ds.pixels[12 * 12 * 3 + 40], 197, 203); /* JPEG is lossy */
    assert_int_equal(ds.pixels[2 * 12 * 12 * 3 + 7], 100);
    dr_dataset_free(&ds);
    assert_int_equal(dr_dataset_open(tmp_path("imgs"), DR_SPLIT_TEST, &opt, &ds), 0);
    assert_int_equal(ds.n, 1);
    assert_int_equal(ds.labels[0], 1); /* "dog" keeps the training split's index */
    dr_dataset_free(&ds);
    /* bad inputs: a corrupt image, a class the training split lacks */
    static const char broken[] = "\x89PNG\r\n\x1a\n garbage", fake[] = "\xff\xd8\xff\xe0 not really";
    write_bytes(tmp_path("imgs/test/dog/broken.png"), broken, sizeof broken - 1);
    assert_int_equal(dr_dataset_open(tmp_path("imgs"), DR_SPLIT_TEST, &opt, &ds), -1);
    tu_assert_error_has("broken.png");
    remove(tmp_path("imgs/test/dog/broken.png"));
    write_bytes(tmp_path("imgs/test/dog/fake.jpg"), fake, sizeof fake - 1);
    assert_int_equal(dr_dataset_open(tmp_path("imgs"), DR_SPLIT_TEST, &opt, &ds), -1);
    tu_assert_error_has("fake.jpg: bad JPEG");
    remove(tmp_path("imgs/test/dog/fake.jpg"));
    mkdirs(tmp_path("imgs/test/cow"));
    assert_int_equal(dr_dataset_open(tmp_path("imgs"), DR_SPLIT_TEST, &opt, &ds), -1);
    tu_assert_error_has("cow: class folder not present");
    /* not a data set at all */
    assert_int_equal(dr_dataset_open(tmp_path("imgs/train/cat"), DR_SPLIT_TRAIN, &opt, &ds), -1);
    tu_assert_error_has("no train split found");
    assert_int_equal(dr_dataset_open(tmp_path("missing-dir"), DR_SPLIT_TRAIN, &opt, &ds), -1);
    tu_assert_error_has("no such folder");
}

/* ---- class names ------------------------------------------------------------------- */

static void test_class_names(void **s)
{
    (void)s;
    dr_dataset ds;
    dr_open_options opt = {.h = 12, .w = 12};
    /* the layouts' own: folder names, CIFAR-10's ten, MNIST's digits, Fashion-MNIST's */
    if (dr_dataset_open(tmp_path("imgs"), DR_SPLIT_TRAIN, &opt, &ds)) fail_msg("%s", dr_last_error());
    assert_string_equal(ds.class_names, "cat\ndog");
    dr_dataset_free(&ds);
    assert_null(ds.class_names);
    assert_int_equal(dr_dataset_open(tmp_path("cifar"), DR_SPLIT_TEST, &opt, &ds), 0);
    assert_non_null(strstr(ds.class_names, "airplane\nautomobile\nbird"));
    dr_dataset_free(&ds);
    if (tu_have(DOREFA_SHARED_DATA "/mnist/t10k-images-idx3-ubyte.gz")) {
        assert_int_equal(dr_dataset_open(DOREFA_SHARED_DATA "/mnist", DR_SPLIT_TEST, &opt, &ds), 0);
        assert_string_equal(ds.class_names, "0\n1\n2\n3\n4\n5\n6\n7\n8\n9");
        dr_dataset_free(&ds);
    }
    if (tu_have("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")) {
        assert_int_equal(dr_dataset_open("/usr/share/datasets/fashion-mnist", DR_SPLIT_TEST, &opt, &ds), 0);
        assert_non_null(strstr(ds.class_names, "T-shirt/top\nTrouser"));
        assert_non_null(strstr(ds.class_names, "\nAnkle boot"));
        dr_dataset_free(&ds);
    }
    /* CIFAR-10's batches.meta.txt, then a classes.txt over any layout (CRLF lines too) */
    write_bytes(tmp_path("cifar/batches.meta.txt"), "plane\ncar\nb\nc\nd\ne\nf\ng\nh\ni\n\n", 27); /* as CIFAR's, a blank line at the end */
    assert_int_equal(dr_dataset_open(tmp_path("cifar"), DR_SPLIT_TEST, &opt, &ds), 0);
    assert_non_null(strstr(ds.class_names, "plane\ncar\nb"));
    dr_dataset_free(&ds);
    write_bytes(tmp_path("cifar/classes.txt"), "A\r\nB b\r\nc\nd\ne\nf\ng\nh\ni\nj", 23);
    assert_int_equal(dr_dataset_open(tmp_path("cifar"), DR_SPLIT_TRAIN, &opt, &ds), 0);
    assert_non_null(strstr(ds.class_names, "A\nB b\nc\n"));
    dr_dataset_free(&ds);
    /* bad lists: a line empty, fewer names than classes */
    write_bytes(tmp_path("cifar/classes.txt"), "A\n\nc\n", 5);
    assert_int_equal(dr_dataset_open(tmp_path("cifar"), DR_SPLIT_TRAIN, &opt, &ds), -1);
    tu_assert_error_has("classes.txt:2: empty class name");
    write_bytes(tmp_path("cifar/classes.txt"), "A\nB\n", 4);
    assert_int_equal(dr_dataset_open(tmp_path("cifar"), DR_SPLIT_TRAIN, &opt, &ds), -1);
    tu_assert_error_has("classes.txt: names 2 classes, the data set has 10");
    remove(tmp_path("cifar/classes.txt"));
    remove(tmp_path("cifar/batches.meta.txt"));
}

/* ---- resizing and augmentation ---------------------------------------------------- */

static void test_resize_bilinear(void **s)
{
    { /* a data set resized to a model's input is checked against memory first */
        dr_dataset big = {.n = 1000, .h = 4, .w = 4, .c = 3, .classes = 2};
        big.pixels = calloc(1000 * 48, 1);
        big.labels = calloc(1000, sizeof(int));
        snprintf(big.source, sizeof big.source, "big.idx");
        setenv("DOREFA_MAX_MEMORY", "1M", 1);
        assert_int_equal(dr_dataset_resize(&big, 64, 64), -1);
        unsetenv("DOREFA_MAX_MEMORY");
        tu_assert_error_has("big.idx: 1000 images at 64x64x3 take 11.7 MiB, more than the 1.0 MiB they may use");
        assert_int_equal(dr_dataset_resize(&big, 8, 8), 0);
        dr_dataset_free(&big);
    }
    (void)s;
    uint8_t src[2 * 2] = {0, 100, 100, 200}, dst[4 * 4];
    dr_resize_bilinear(src, 2, 2, 1, dst, 4, 4);
    /* corners keep their values; centres interpolate with half-pixel alignment */
    assert_int_equal(dst[0], 0);
    assert_int_equal(dst[15], 200);
    assert_int_equal(dst[1], 25);  /* x = 0.25 -> 0.25 * 100 */
    assert_int_equal(dst[5], 50);  /* (0.25, 0.25) */
    uint8_t flat[9], out[25];
    memset(flat, 77, 9);
    dr_resize_bilinear(flat, 3, 3, 1, out, 5, 5);
    for (int i = 0; i < 25; i++) assert_int_equal(out[i], 77);
}

static void test_augmentation_is_deterministic_and_bounded(void **s)
{
    (void)s;
    dr_dataset ds = {.n = 2, .h = 6, .w = 6, .c = 1, .classes = 2};
    ds.pixels = malloc(72);
    ds.labels = malloc(2 * sizeof(int));
    for (int i = 0; i < 72; i++) ds.pixels[i] = (uint8_t)(i * 3);
    ds.labels[0] = 0, ds.labels[1] = 1;
    dr_augment aug = {.brightness = 30, .contrast_lo = 0.5f, .contrast_hi = 1.5f, .flip = 1, .crop_pad = 2};
    uint32_t idx[2] = {1, 0};
    float a[72], b[72], c[72], plain[72];
    int y[2];
    dr_batch_fill(&ds, idx, 2, &aug, 5, 3, 10, a, y);
    dr_batch_fill(&ds, idx, 2, &aug, 5, 3, 10, b, y);
    dr_batch_fill(&ds, idx, 2, &aug, 5, 4, 10, c, y);
    dr_batch_fill(&ds, idx, 2, NULL, 0, 0, 0, plain, y);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    assert_int_equal(y[0], 1);
    for (int i = 0; i < 72; i++) {
        assert_true(a[i] >= 0 && a[i] < 1);
        assert_true(plain[i] == ds.pixels[(i + 36) % 72] / 256.0f);
    }
    dr_dataset_free(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_fixture_plain_and_gzip),
        cmocka_unit_test(test_idx_bad_inputs),
        cmocka_unit_test(test_real_mnist),
        cmocka_unit_test(test_real_fashion_mnist),
        cmocka_unit_test(test_cifar_fixture_and_bad_inputs),
        cmocka_unit_test(test_mat_fixtures),
        cmocka_unit_test(test_mat_bad_inputs),
        cmocka_unit_test(test_mat_dimensions_cannot_wrap),
        cmocka_unit_test(test_svhn_fragment_is_rejected),
        cmocka_unit_test(test_jpeg_header_cannot_inflate),
        cmocka_unit_test(test_image_folders),
        cmocka_unit_test(test_class_names),
        cmocka_unit_test(test_resize_bilinear),
        cmocka_unit_test(test_augmentation_is_deterministic_and_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
