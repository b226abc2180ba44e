/* dorefa bench infer: the fused bit-kernel engine beside this project's float path. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <omp.h>

#include "cli.h"
#include "core/common.h"
#include "core/rng.h"
#include "kernels/bitgemm.h"
#include "layers/linear.h"
#include "deploy/deploy.h"
#include "train/export.h"
#include "model/net.h"
#include "train/checkpoint.h"
#include "train/train.h"

static const char USAGE[] =
    "usage: dorefa bench infer [options]\n"
    "\n"
    "Inference throughput at batch 128 (median of --repeats) and at batch 1 (with latency\n"
    "percentiles over 200 images, with all threads and with one) of a model exported with\n"
    "'dorefa export' and run by the fused bit-kernel engine, beside the same model in full\n"
    "precision run by the float path (the training graph in evaluation mode). Random\n"
    "weights and inputs: speed does not depend on them.\n"
    "\n"
    "  -m, --model NAME|FILE  model (default: svhn-a)\n"
    "      --bits W,A         weight and activation bits (default: 1,2)\n"
    "      --channels N       input channels (default: 3)\n"
    "  -b, --batch N          large batch (default: 128)\n"
    "      --repeats N        repeats (default: 5)\n"
    "      --threads N        worker threads (default: all cores)\n"
    "      --first-layer L    the export's first layer: int8 or float (default: float)\n"
    "      --layers           also print the engine's time per layer at the large batch\n"
    "      --save FILE        also keep the exported model (random weights) as FILE\n"
    "  -h, --help             this help\n";

typedef struct {
    dr_engine *e;
    dr_net *net;
    float *x, *p;
} runner;

static void run(runner *r, int n)
{
    if (r->e) dr_engine_run(r->e, r->x, n, r->p);
    else dr_net_forward(r->net, r->x, NULL, n, 0);
}

/* Median images/s over repeats of `steps` batches of n, and (n == 1) latency percentiles. */
static double measure(runner *r, int n, int repeats, double *p50, double *p90, double *p99)
{
    double rates[64], lat[200];
    int steps = n == 1 ? 200 : 8;
    run(r, n); /* warm-up */
    for (int k = 0; k < repeats; k++) {
        double t0 = dr_now();
        for (int s = 0; s < steps; s++) {
            double t1 = dr_now();
            run(r, n);
            if (n == 1 && k == 0) lat[s] = 1e3 * (dr_now() - t1);
        }
        rates[k] = steps * n / (dr_now() - t0);
    }
    if (n == 1) {
        *p50 = dr_median(lat, 200); /* sorts */
        *p90 = lat[179], *p99 = lat[197];
    }
    return dr_median(rates, repeats);
}

/* Exports the (randomly initialised) network at W,A through a temporary
 * checkpoint; the network itself stays float (the float path runs it). */
static int export_model(dr_net *net, const char *model, int W, int A, int first, const char *dir, char *out,
                        size_t cap)
{
    char ck[1200];
    dr_train_config cfg;
    dr_train_config_defaults(&cfg);
    snprintf(cfg.model, sizeof cfg.model, "%s", model);
    cfg.bits = (dr_bits){W, A, DR_FLOAT_BITS, 0, 0};
    char conf[DR_CONFIG_TEXT_MAX];
    dr_train_config_format(&cfg, conf, sizeof conf);
    snprintf(ck, sizeof ck, "%s/bench.ckpt", dir);
    snprintf(out, cap, "%s/bench.dorefa", dir);
    dr_export_info info;
    const dr_bits fl = dr_bits_float();
    int rc = dr_net_apply_bits(net, &cfg.bits) || dr_checkpoint_save(ck, net, NULL, conf) ||
                     dr_export(ck, out, first, &info) || dr_net_apply_bits(net, &fl)
                 ? -1
                 : 0;
    unlink(ck);
    return rc;
}

/* The bytes of file `from` as file `to` (another file system maybe: no rename). */
static int copy_file(const char *from, const char *to)
{
    size_t len;
    char *buf = dr_read_file(from, &len);
    if (!buf) return -1;
    FILE *f = fopen(to, "wb");
    const int bad = !f || fwrite(buf, 1, len, f) != len;
    if ((f && fclose(f)) || bad) {
        free(buf);
        return dr_fail("%s: cannot write the model", to);
    }
    free(buf);
    return 0;
}

int bench_infer(int argc, char **argv)
{
    static const struct option LONG[] = {{"model", 1, 0, 'm'},   {"bits", 1, 0, 'w'},    {"channels", 1, 0, 'c'},
                                         {"batch", 1, 0, 'b'},   {"repeats", 1, 0, 'r'}, {"threads", 1, 0, 't'},
                                         {"layers", 0, 0, 'L'},  {"first-layer", 1, 0, 'F'},
                                         {"save", 1, 0, 'S'},    {"help", 0, 0, 'h'},    {0, 0, 0, 0}};
    const char *model = "svhn-a", *save = NULL;
    long channels = 3, batch = 128, repeats = 5, threads = 0;
    int W = 1, A = 2, c, layers = 0, first = DR_FIRST_LAYER_DEFAULT;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:b:h", LONG, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'w':
            if (sscanf(optarg, "%d,%d", &W, &A) != 2 || W < 1 || W > 8 || A < 1 || A > 8)
                return cli_usage_error("bench", "--bits %s: expected W,A, each 1..8", optarg);
            break;
        case 'c': if (cli_int("bench", "channels", optarg, 1, 64, &channels)) return EXIT_USAGE; break;
        case 'b': if (cli_int("bench", "batch", optarg, 2, 4096, &batch)) return EXIT_USAGE; break;
        case 'r': if (cli_int("bench", "repeats", optarg, 1, 64, &repeats)) return EXIT_USAGE; break;
        case 't': if (cli_int("bench", "threads", optarg, 0, 1024, &threads)) return EXIT_USAGE; break;
        case 'L': layers = 1; break;
        case 'S': save = optarg; break;
        case 'F':
            if ((first = dr_first_layer_parse(optarg)) < 0)
                return cli_usage_error("bench", "--first-layer %s: expected int8 or float", optarg);
            break;
        case 'h': fputs(USAGE, stdout); return EXIT_OK;
        default: return cli_usage_error("bench", "unknown option");
        }
    }
    cli_set_threads((int)threads);
    char path[1024];
    dr_net_options opt = {.channels = (int)channels, .max_batch = (int)batch};
    dr_net *fnet = dr_model_resolve(model, path, sizeof path) ? NULL : dr_net_load(path, &opt);
    if (!fnet) return cli_error();
    dr_net_init(fnet, 1); /* the float path runs it; the engine runs its export */
    char dir[] = "/tmp/dorefa-bench-XXXXXX", file[1200];
    if (!mkdtemp(dir)) {
        dr_net_free(fnet);
        return dr_fail("cannot create a temporary folder"), cli_error();
    }
    dr_engine *e = export_model(fnet, model, W, A, first, dir, file, sizeof file) ? NULL : dr_engine_load(file, (int)batch);
    if (e && save && copy_file(file, save)) {
        dr_engine_free(e);
        e = NULL;
    }
    unlink(file);
    rmdir(dir);
    if (!e) {
        dr_net_free(fnet);
        return cli_error();
    }
    dr_net *net = dr_engine_net(e);
    size_t in = dr_shape_size(net->input);
    float *x = dr_xalign(sizeof(float) * (size_t)batch * in), *p = dr_xmalloc(sizeof(float) * (size_t)batch * 1024);
    dr_rng rng;
    dr_rng_seed(&rng, 1, DR_RNG_TEST, 0, 0);
    for (size_t i = 0; i < (size_t)batch * in; i++) x[i] = (float)dr_rng_below(&rng, 256) * DR_PIXEL_SCALE;
    printf("%s, %dx%dx%d input, W,A = %d,%d: %d fused bit blocks; %d threads; medians of %ld repeats\n", model,
           net->input.h, net->input.w, net->input.c, W, A, dr_engine_fused_blocks(e), omp_get_max_threads(), repeats);
    runner fused = {e, NULL, x, p}, flt = {NULL, fnet, x, p};
    double a50, a90, a99, b50, b90, b99;
    double fb = measure(&fused, (int)batch, (int)repeats, NULL, NULL, NULL);
    double f1 = measure(&fused, 1, (int)repeats, &a50, &a90, &a99);
    double lb = measure(&flt, (int)batch, (int)repeats, NULL, NULL, NULL);
    double l1 = measure(&flt, 1, (int)repeats, &b50, &b90, &b99);
    printf("%-22s %12s %12s %28s\n", "", "batch " "128", "batch 1", "batch-1 latency p50/p90/p99");
    printf("%-22s %8.0f i/s %8.0f i/s %14.3f/%.3f/%.3f ms\n", "fused bit engine", fb, f1, a50, a90, a99);
    printf("%-22s %8.0f i/s %8.0f i/s %14.3f/%.3f/%.3f ms\n", "float path (fp32)", lb, l1, b50, b90, b99);
    printf("fused / float: %.2fx at batch %ld, %.2fx at batch 1\n", fb / lb, batch, f1 / l1);
    const int all = omp_get_max_threads();
    if (all > 1) { /* batch 1 on one thread: no fork, no barriers */
        cli_set_threads(1);
        double c50, c90, c99, d50, d90, d99;
        const double g1 = measure(&fused, 1, (int)repeats, &c50, &c90, &c99),
                     m1 = measure(&flt, 1, (int)repeats, &d50, &d90, &d99);
        printf("batch 1 on 1 thread:  engine %8.0f i/s %.3f/%.3f/%.3f ms, float path %8.0f i/s %.3f/%.3f/%.3f ms\n",
               g1, c50, c90, c99, m1, d50, d90, d99);
        cli_set_threads(all);
    }
    if (layers) {
        static const char *roles[] = {"float", "fused bit block", "", ""};
        double *sec = dr_engine_profile(e);
        const int L = net->n_layers;
        double *one = dr_xcalloc((size_t)L, sizeof(double)); /* batch 1: 200 runs after a warm-up */
        run(&fused, 1);
        memset(sec, 0, sizeof(double) * L);
        for (int k = 0; k < 200; k++) run(&fused, 1);
        memcpy(one, sec, sizeof(double) * L);
        memset(sec, 0, sizeof(double) * L);
        for (int k = 0; k < 5; k++) run(&fused, (int)batch);
        const double peak = dr_popcount_peak(1.0);
        printf("engine time per batch of %ld, by layer (AND+popcount peak %.0f G bit-MAC/s on %d threads, %s),\n"
               "and per image at batch 1:\n", batch, peak / 1e9, omp_get_max_threads(), dr_bitgemm_kernel());
        double total1 = 0;
        for (int i = 0; i < net->n_layers; i++) {
            const int role = dr_engine_role(e, i);
            if (role > DR_INFER_HEAD) continue;
            const dr_layer *l = &net->layers[i];
            const int int8 = dr_engine_int8(e, i);
            printf("  %-12s %-16s %8.2f ms %7.1f us", l->name, int8 ? "int8 first layer" : roles[role],
                   1e3 * sec[i] / 5, 1e6 * one[i] / 200);
            total1 += one[i] / 200;
            if (int8) { /* with its chain: [bn] [pool] act [pool] */
                const dr_conv_geom *g = dr_linear_geom(l);
                const double macs = (double)batch * g->oh * g->ow * g->oc * dr_conv_k(g);
                printf("  %6.1f G MAC/s (8-bit, with the epilogue)", macs / (sec[i] / 5) / 1e9);
            }
            if (role == DR_INFER_HEAD) { /* W x A plane pairs per multiply-add */
                const dr_conv_geom *g = dr_linear_geom(l);
                const double macs = (double)batch * g->oh * g->ow * g->oc * dr_conv_k(g),
                             bitmacs = macs * l->plan.wbits * l->plan.infer_src_bits, rate = bitmacs / (sec[i] / 5);
                printf("  %6.1f G bit-MAC/s, %5.1f%% of peak", rate / 1e9, 100 * rate / peak);
            }
            printf("\n");
        }
        printf("  batch 1, all layers: %.1f us per image\n", 1e6 * total1);
        free(one);
    }
    free(x), free(p);
    dr_net_free(fnet);
    dr_engine_free(e);
    return EXIT_OK;
}
