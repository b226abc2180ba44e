/* dorefa export (checkpoint -> deployment file) and dorefa infer (run one). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli.h"
#include "core/common.h"
#include "data/image.h"
#include "data/loader.h"
#include "deploy/deploy.h"
#include "train/export.h"
#include "train/onnx.h"

static const char EXPORT_USAGE[] =
    "usage: dorefa export CHECKPOINT [-o MODEL] [--format dorefa|onnx] [--first-layer int8|float]\n"
    "\n"
    "Writes a compact deployment file: quantized weights as packed bit-planes (W bits per\n"
    "weight), BN, the bounded activation and activation quantization folded into integer\n"
    "thresholds per channel, the last layer in float, the first (float in training) in float\n"
    "or, with --first-layer int8, as 8-bit integer weights per output channel that the\n"
    "engine multiplies with the input's 8-bit pixels exactly (VNNI or AVX2 integer\n"
    "kernels). 'dorefa infer' runs it.\n"
    "With --format onnx, an ONNX model (opset 13) for other tools: weights as their\n"
    "quantized values, each quantized activation as QuantizeLinear -> Clip ->\n"
    "DequantizeLinear; input 'pixels' N x C x H x W (0..255), output 'probabilities'.\n"
    "\n"
    "  -o, --out FILE     output file (default: CHECKPOINT with .dorefa or .onnx for .ckpt)\n"
    "  -f, --format F     dorefa (default) or onnx\n"
    "      --first-layer L  int8 or float (default: float)\n"
    "  -h, --help         this help\n";

int cmd_export(int argc, char **argv)
{
    static const struct option LONG[] = {{"out", 1, 0, 'o'}, {"format", 1, 0, 'f'},
                                         {"first-layer", 1, 0, 'F'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *out = NULL;
    int c, onnx = 0, first = DR_FIRST_LAYER_DEFAULT;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:f:h", LONG, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'f':
            if (strcmp(optarg, "dorefa") && strcmp(optarg, "onnx"))
                return cli_usage_error("export", "--format %s: expected dorefa or onnx", optarg);
            onnx = !strcmp(optarg, "onnx");
            break;
        case 'F':
            if ((first = dr_first_layer_parse(optarg)) < 0)
                return cli_usage_error("export", "--first-layer %s: expected int8 or float", optarg);
            break;
        case 'h': fputs(EXPORT_USAGE, stdout); return EXIT_OK;
        default: return cli_usage_error("export", "unknown option");
        }
    }
    if (optind != argc - 1) return cli_usage_error("export", "expected one CHECKPOINT argument");
    const char *ckpt = argv[optind];
    char def[1100];
    if (!out) {
        size_t n = strlen(ckpt);
        int strip = n > 5 && !strcmp(ckpt + n - 5, ".ckpt");
        snprintf(def, sizeof def, "%.*s.%s", (int)(strip ? n - 5 : n), ckpt, onnx ? "onnx" : "dorefa");
        out = def;
    }
    if (onnx) {
        dr_onnx_info oi;
        if (dr_export_onnx(ckpt, out, &oi)) return cli_error();
        printf("%s: ONNX, %zu bytes, %d nodes (%d layers with quantized weights, %d quantized activations as "
               "QuantizeLinear -> Clip -> DequantizeLinear)\n", out, oi.file_bytes, oi.nodes, oi.quantized_weights,
               oi.quantized_acts);
        return EXIT_OK;
    }
    dr_export_info info;
    if (dr_export(ckpt, out, first, &info)) return cli_error();
    struct stat st;
    long ck_bytes = stat(ckpt, &st) ? -1 : (long)st.st_size;
    printf("%s: %zu bytes (%d fused bit blocks, %d float layers); float32 weights %zu bytes "
           "(%.1fx smaller), checkpoint %ld bytes\n",
           out, info.file_bytes, info.fused_blocks, info.float_layers, info.float_weight_bytes,
           (double)info.float_weight_bytes / (double)info.file_bytes, ck_bytes);
    if (first == DR_FIRST_LAYER_INT8 && info.int8_layer < 0)
        printf("%s: no 8-bit first layer: the first layer is not a conv with float weights on the input\n", out);
    return EXIT_OK;
}

static const char INFER_USAGE[] =
    "usage: dorefa infer MODEL INPUT... [options]\n"
    "\n"
    "Runs a deployment file (from 'dorefa export') on PNG/JPEG images, printing the top\n"
    "classes of each, or on a data set (folder or file as for training), printing its\n"
    "test accuracy.\n"
    "\n"
    "  -k, --top K       classes to print per image (default: 3)\n"
    "  -b, --batch N     batch size (default: 128)\n"
    "      --limit N     data set: only the first N images\n"
    "      --threads N   worker threads (default: all cores)\n"
    "  -h, --help        this help\n";

static int is_image(const char *p)
{
    const char *dot = strrchr(p, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

static void top_k(const float *p, int C, int k, int *best)
{
    for (int j = 0; j < k; j++) {
        int b = -1;
        for (int c = 0; c < C; c++) {
            int used = 0;
            for (int m = 0; m < j; m++) used |= best[m] == c;
            if (!used && (b < 0 || p[c] > p[b])) b = c;
        }
        best[j] = b;
    }
}

static int infer_images(dr_engine *e, char **paths, int n, int k)
{
    dr_net *net = dr_engine_net(e);
    const int h = net->input.h, w = net->input.w, ch = net->input.c, C = dr_net_classes(net);
    float *x = dr_xmalloc(sizeof(float) * (size_t)h * w * ch), *p = dr_xmalloc(sizeof(float) * (size_t)C);
    uint8_t *rs = dr_xmalloc((size_t)h * w * ch);
    int best[64], rc = EXIT_OK;
    for (int i = 0; i < n; i++) {
        int ih, iw, ic;
        uint8_t *img = dr_image_load(paths[i], ch, &ih, &iw, &ic);
        if (!img) {
            rc = cli_error();
            break;
        }
        dr_resize_bilinear(img, ih, iw, ch, rs, h, w);
        free(img);
        for (size_t j = 0; j < (size_t)h * w * ch; j++) x[j] = rs[j] * DR_PIXEL_SCALE; /* as training sees them */
        dr_engine_run(e, x, 1, p);
        top_k(p, C, k, best);
        printf("%s:", paths[i]);
        for (int j = 0; j < k; j++) {
            char name[300];
            dr_net_class_name(net, best[j], name, sizeof name);
            printf("%s %s (%.1f%%)", j ? "," : "", name, 100 * p[best[j]]);
        }
        printf("\n");
    }
    free(x), free(p), free(rs);
    return rc;
}

static int infer_dataset(dr_engine *e, const char *path, int B, int limit)
{
    dr_net *net = dr_engine_net(e);
    dr_dataset ds = {0};
    if (cli_load_split(path, DR_SPLIT_TEST, net->input.h, net->input.w, 0, limit, &ds)) return cli_error();
    if (ds.c != net->input.c) {
        dr_fail("%s: images have %d channels, the model expects %d", path, ds.c, net->input.c);
        dr_dataset_free(&ds);
        return cli_error();
    }
    double acc, loss, t0 = dr_now();
    cli_classify(e, NULL, &ds, B, NULL, &acc, &loss, NULL);
    double secs = dr_now() - t0;
    printf("%s on %s (test, %d images): accuracy %.2f%%  (%.0f images/s at batch %d)\n",
           net->path, path, ds.n, 100.0 * acc, ds.n / secs, B);
    dr_dataset_free(&ds);
    return EXIT_OK;
}

int cmd_infer(int argc, char **argv)
{
    static const struct option LONG[] = {{"top", 1, 0, 'k'},     {"batch", 1, 0, 'b'},
                                         {"limit", 1, 0, 'l'},   {"threads", 1, 0, 't'},
                                         {"help", 0, 0, 'h'},    {0, 0, 0, 0}};
    long k = 3, batch = 128, limit = 0, threads = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:b:h", LONG, NULL)) != -1) {
        switch (c) {
        case 'k': if (cli_int("infer", "top", optarg, 1, 64, &k)) return EXIT_USAGE; break;
        case 'b': if (cli_int("infer", "batch", optarg, 1, 65536, &batch)) return EXIT_USAGE; break;
        case 'l': if (cli_int("infer", "limit", optarg, 1, 1 << 30, &limit)) return EXIT_USAGE; break;
        case 't': if (cli_int("infer", "threads", optarg, 0, 1024, &threads)) return EXIT_USAGE; break;
        case 'h': fputs(INFER_USAGE, stdout); return EXIT_OK;
        default: return cli_usage_error("infer", "unknown option");
        }
    }
    if (argc - optind < 2) return cli_usage_error("infer", "expected MODEL and at least one INPUT");
    cli_set_threads((int)threads);
    int images = 0;
    for (int i = optind + 1; i < argc; i++) images += is_image(argv[i]);
    if (images && images != argc - optind - 1)
        return cli_usage_error("infer", "give either image files or one data set, not both");
    if (!images && argc - optind != 2) return cli_usage_error("infer", "give one data set at a time");
    dr_engine *e = dr_engine_load(argv[optind], images ? 1 : (int)batch);
    if (!e) return cli_error();
    if (k > dr_net_classes(dr_engine_net(e))) k = dr_net_classes(dr_engine_net(e));
    int rc = images ? infer_images(e, argv + optind + 1, images, (int)k)
                    : infer_dataset(e, argv[optind + 1], (int)batch, (int)limit);
    dr_engine_free(e);
    return rc;
}
