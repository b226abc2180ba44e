/* dorefa bench: throughput measurements (kept apart from the tests). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/common.h"
#include "model/net.h"
#include "train/optim.h"
#include "layers/linear.h"
#include "kernels/products.h"
#include <cblas.h>
#include <omp.h>
#include "train/train.h"
#include "kernels/bitconv.h"
#include "kernels/bitgemm.h"

static const char USAGE_KERNELS[] =
    "usage: dorefa bench kernels [options]\n"
    "\n"
    "Throughput of the bit-serial products on the conv layers of a model (default SVHN\n"
    "Model A, batch 128): forward at (W,A) = (1,1) (1,2) (1,4) (2,2), backward-input\n"
    "(G x W, W = 1) and backward-weight (G x A, A = 2) at G = 4, 6, 8. For each: the\n"
    "bit-GEMM alone and the whole product (packing, corrections), beside OpenBLAS sgemm\n"
    "on the same shape and beside the measured AND+popcount peak. Medians of --repeats.\n"
    "\n"
    "  -m, --model NAME|FILE  model (default: svhn-a)\n"
    "  -b, --batch N          batch size (default: 128)\n"
    "      --repeats N        timed repeats per entry, at least 5 (default: 5)\n"
    "      --threads N        worker threads (default: all cores)\n";

static const char USAGE[] =
    "usage: dorefa bench train [options]   (also: bench kernels, bench infer)\n"
    "\n"
    "Times full training steps (forward, backward, Adam update) on random data and\n"
    "prints images/s for each repeat and their median.\n"
    "\n"
    "  -m, --model NAME|FILE  model (default: svhn-a)\n"
    "  -b, --batch N          batch size (default: 128)\n"
    "      --channels N       input channels (default: 3)\n"
    "      --steps N          timed steps per repeat (default: 10)\n"
    "      --repeats N        repeats (default: 5)\n"
    "      --bits W,A,G       bitwidths (default: the model's, else 32,32,32)\n"
    "      --kernels K        bit or float (quantized layers; default: bit)\n"
    "      --threads N        worker threads (default: all cores)\n"
    "      --layers           also print the median time of each layer's forward and\n"
    "                         backward, gradient zeroing and the optimizer step\n"
    "  -h, --help             this help\n";

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double dr_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int bench_train(int argc, char **argv)
{
    static const struct option LONG[] = {{"model", 1, 0, 'm'},   {"batch", 1, 0, 'b'},
                                         {"channels", 1, 0, 'c'}, {"steps", 1, 0, 's'},
                                         {"repeats", 1, 0, 'r'}, {"threads", 1, 0, 't'},
                                         {"bits", 1, 0, 'B'},    {"kernels", 1, 0, 'K'},
                                         {"layers", 0, 0, 'L'},  {"help", 0, 0, 'h'},    {0, 0, 0, 0}};
    const char *model = "svhn-a";
    long batch = 128, channels = 3, steps = 10, repeats = 5, threads = 0;
    dr_bits bits = {0};
    int float_kernels = 0, layers = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:b:h", LONG, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'b': if (cli_int("bench", "batch", optarg, 1, 65536, &batch)) return EXIT_USAGE; break;
        case 'c': if (cli_int("bench", "channels", optarg, 1, 64, &channels)) return EXIT_USAGE; break;
        case 's': if (cli_int("bench", "steps", optarg, 1, 100000, &steps)) return EXIT_USAGE; break;
        case 'r': if (cli_int("bench", "repeats", optarg, 1, 1000, &repeats)) return EXIT_USAGE; break;
        case 't': if (cli_int("bench", "threads", optarg, 0, 1024, &threads)) return EXIT_USAGE; break;
        case 'B':
            if (dr_bits_parse(optarg, &bits)) return cli_usage_error("bench", "--bits %s: expected W,A,G", optarg);
            break;
        case 'K':
            if (strcmp(optarg, "bit") && strcmp(optarg, "float"))
                return cli_usage_error("bench", "--kernels %s: expected bit or float", optarg);
            float_kernels = !strcmp(optarg, "float");
            break;
        case 'L': layers = 1; break;
        case 'h': fputs(USAGE, stdout); return EXIT_OK;
        default: return cli_usage_error("bench", "unknown option");
        }
    }
    cli_set_threads((int)threads);
    char path[1024];
    if (dr_model_resolve(model, path, sizeof path)) return cli_error();
    dr_net_options opt = {.channels = (int)channels, .max_batch = (int)batch};
    dr_net *net = dr_net_load(path, &opt);
    if (!net) return cli_error();
    dr_net_init(net, 1);
    dr_train_config tc;
    dr_train_config_defaults(&tc);
    tc.bits = bits;
    tc.float_kernels = float_kernels;
    if (dr_train_config_apply_bits(&tc, net)) {
        dr_net_free(net);
        return cli_error();
    }
    dr_optim_config oc;
    dr_optim_defaults(&oc);
    dr_optim o;
    dr_optim_init(&o, &oc, net);
    size_t in_n = (size_t)batch * dr_shape_size(net->input);
    float *x = net->pass.in; /* the network's own input buffer: no copy per step */
    int *y = dr_xmalloc(sizeof(int) * (size_t)batch);
    dr_rng r;
    dr_rng_seed(&r, 1, DR_RNG_TEST, 0, 0);
    for (size_t i = 0; i < in_n; i++) x[i] = dr_rng_uniform(&r);
    for (long i = 0; i < batch; i++) y[i] = (int)(i % dr_net_classes(net));
    double *rates = dr_xmalloc(sizeof(double) * (size_t)repeats);
    /* Per-layer seconds per repeat: forward and backward of each layer, then zeroing and optimizer. */
    int nt = 2 * net->n_layers + 2;
    double *lt = dr_xcalloc((size_t)nt * (size_t)repeats, sizeof(double));
    for (long rep = -1; rep < repeats; rep++) { /* rep -1 warms up */
        double t0 = dr_now();
        for (long s = 0; s < (rep < 0 ? 2 : steps); s++) {
            net->pass.step = (uint64_t)s;
            if (!layers || rep < 0) {
                dr_net_forward(net, x, y, (int)batch, 1);
                dr_net_backward(net, (int)batch);
                dr_optim_step(&o, net, 1e-3f);
                continue;
            }
            double *t = lt + (size_t)rep * nt;
            net->pass.labels = y; /* what dr_net_forward does, one layer at a time */
            net->pass.train = 1;
            for (int i = 0; i < net->n_layers; i++) {
                t[2 + i] -= dr_now();
                net->layers[i].ops->forward(&net->layers[i], &net->pass, (int)batch);
                t[2 + i] += dr_now();
            }
            t[1] -= dr_now();
            dr_net_backward_begin(net, (int)batch, 0);
            t[1] += dr_now();
            for (int i = net->n_layers - 1; i >= 0; i--) {
                t[2 + net->n_layers + i] -= dr_now();
                net->layers[i].ops->backward(&net->layers[i], &net->pass, (int)batch);
                t[2 + net->n_layers + i] += dr_now();
            }
            t[0] -= dr_now();
            dr_optim_step(&o, net, 1e-3f);
            t[0] += dr_now();
        }
        if (rep >= 0) {
            rates[rep] = (double)steps * batch / (dr_now() - t0);
            printf("repeat %ld: %.1f images/s\n", rep + 1, rates[rep]);
        }
    }
    char bs[32];
    dr_bits_format(&tc.bits, bs, sizeof bs);
    printf("dorefa train %s bits %s kernels %s batch %ld input %dx%dx%ld: median %.1f images/s (%ld repeats of %ld steps)\n",
           model, bs, float_kernels ? "float" : dr_bitgemm_kernel(), batch, net->input.h, net->input.w, channels,
           dr_median(rates, (int)repeats), repeats, steps);
    if (layers) {
        printf("median time per step (ms):\n%-14s %10s %10s\n", "layer", "forward", "backward");
        double col[1000], sum = 0;
        for (int i = 0; i < net->n_layers; i++) {
            double f, b;
            for (long r = 0; r < repeats; r++) col[r] = lt[(size_t)r * nt + 2 + i];
            f = 1e3 * dr_median(col, (int)repeats) / steps;
            for (long r = 0; r < repeats; r++) col[r] = lt[(size_t)r * nt + 2 + net->n_layers + i];
            b = 1e3 * dr_median(col, (int)repeats) / steps;
            printf("%-14s %10.2f %10.2f\n", net->layers[i].name, f, b);
            sum += f + b;
        }
        static const char *other[2] = {"optimizer", "zero grads"};
        for (int k = 0; k < 2; k++) {
            for (long r = 0; r < repeats; r++) col[r] = lt[(size_t)r * nt + k];
            double v = 1e3 * dr_median(col, (int)repeats) / steps;
            printf("%-14s %10.2f\n", other[k], v);
            sum += v;
        }
        printf("%-14s %10.2f (sum of medians)\n", "total", sum);
    }
    free(lt);
    free(rates);
    free(y);
    dr_optim_free(&o);
    dr_net_free(net);
    return EXIT_OK;
}

/* Median seconds per call of fn over `repeats` timings of at least 30 ms each. */
typedef void (*bench_fn)(void *ctx);
static double time_median(bench_fn fn, void *ctx, int repeats)
{
    double t[64];
    fn(ctx); /* warm up */
    for (int r = 0; r < repeats; r++) {
        long calls = 0;
        double t0 = dr_now(), el;
        do {
            fn(ctx);
            calls++;
            el = dr_now() - t0;
        } while (el < 0.03);
        t[r] = el / calls;
    }
    return dr_median(t, repeats);
}

typedef struct {
    const dr_conv_geom *g;
    int n, W, A, G, which; /* which: 0 forward, 1 backward-input, 2 backward-weight */
    float *in, *w, *dout, *out, *din, *dw, *gscale;
    uint8_t *acodes, *gcodes; /* the operands' codes, as the quantizers hand them over in training */
    dr_bitbuf *buf;
    dr_workspace ws;
    dr_bitgemm_args kargs;
    int m, nn, k; /* sgemm shape */
    float *sa, *sb, *sc;
} kbench;

static void run_product(void *p)
{
    kbench *b = p;
    dr_qinfo q = {b->A, b->W, b->G, 1.0f / (float)((1u << b->A) - 1), 0.5f, b->gscale, &b->buf, 0, b->gcodes, b->acodes};
    if (b->which == 0) dr_products_bit.forward(b->g, b->n, b->in, b->w, NULL, b->out, &b->ws, &q);
    if (b->which == 1) dr_products_bit.backward_input(b->g, b->n, b->dout, b->w, b->din, 0, &b->ws, &q);
    if (b->which == 2) dr_products_bit.backward_weight(b->g, b->n, b->dout, b->in, b->dw, &b->ws, &q);
}

static void run_kernel(void *p) { dr_bitgemm(&((kbench *)p)->kargs); }

static void run_kernel_per_sample(void *p)
{
    kbench *b = p; /* backward-weight: one bit-GEMM per sample */
    for (int i = 0; i < b->n; i++) dr_bitgemm(&b->kargs);
}

static void run_sgemm(void *p)
{
    kbench *b = p;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b->m, b->nn, b->k, 1.0f, b->sa, b->k, b->sb, b->k, 0.0f,
                b->sc, b->nn);
}

static uint64_t *random_words(size_t n, dr_rng *r)
{
    uint64_t *p = dr_xalign(n * sizeof(uint64_t));
    for (size_t i = 0; i < n; i++) p[i] = dr_rng_u64(r);
    return p;
}

static int bench_kernels(int argc, char **argv)
{
    static const struct option LONG[] = {{"model", 1, 0, 'm'}, {"batch", 1, 0, 'b'}, {"repeats", 1, 0, 'r'},
                                         {"threads", 1, 0, 't'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *model = "svhn-a";
    long batch = 128, repeats = 5, threads = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:b:h", LONG, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'b': if (cli_int("bench", "batch", optarg, 1, 4096, &batch)) return EXIT_USAGE; break;
        case 'r': if (cli_int("bench", "repeats", optarg, 5, 64, &repeats)) return EXIT_USAGE; break;
        case 't': if (cli_int("bench", "threads", optarg, 0, 1024, &threads)) return EXIT_USAGE; break;
        case 'h': fputs(USAGE_KERNELS, stdout); return EXIT_OK;
        default: return cli_usage_error("bench", "unknown option");
        }
    }
    cli_set_threads((int)threads);
    char path[1024];
    if (dr_model_resolve(model, path, sizeof path)) return cli_error();
    dr_net_options opt = {.channels = 3, .max_batch = 1};
    dr_net *net = dr_net_load(path, &opt);
    if (!net) return cli_error();
    dr_products_bit_always(1);
    double peak = dr_popcount_peak(1.0);
    printf("kernel %s, %d threads; AND+popcount peak %.0f G bit-MAC/s\n", dr_bitgemm_kernel(),
           omp_get_max_threads(), peak / 1e9);
    printf("%-6s %-9s %-5s %10s | %9s %6s %7s | %9s %7s | %9s %8s\n", "layer", "product", "bits", "MACs",
           "kernel", "%peak", "x sgemm", "product", "x sgemm", "sgemm", "G MAC/s");
    dr_rng r;
    dr_rng_seed(&r, 1, DR_RNG_TEST, 0, 0);
    const int n = (int)batch;
    for (int li = 0; li < net->n_layers; li++) {
        dr_layer *l = &net->layers[li];
        if (!(l->ops->roles & DR_ROLE_PRODUCTS) || dr_linear_is_fc(l) || l->src[0] < 0)
            continue; /* the quantizable conv layers */
        const dr_linear *lin = l->priv;
        const dr_conv_geom *g = &lin->g;
        const int K = dr_conv_k(g), P = dr_conv_p(g), M = n * P;
        const double macs = (double)M * g->oc * K;
        kbench b = {.g = g, .n = n};
        size_t in_n = (size_t)n * g->ih * g->iw * g->ic, out_n = (size_t)M * g->oc, w_n = (size_t)g->oc * K;
        b.in = dr_xalign(in_n * 4), b.w = dr_xalign(w_n * 4), b.dout = dr_xalign(out_n * 4);
        b.out = dr_xalign(out_n * 4), b.din = dr_xalign(in_n * 4), b.dw = dr_xalign(w_n * 4);
        b.gscale = dr_xalign((size_t)n * 4);
        b.acodes = dr_xalign(in_n), b.gcodes = dr_xalign(out_n);
        for (int i = 0; i < n; i++) b.gscale[i] = 0.5f;
        for (size_t i = 0; i < w_n; i++) b.w[i] = dr_rng_uniform(&r) < 0.5f ? 0.5f : -0.5f; /* 1-bit, E = 0.5 */
        /* {product, W, A, G}: forward at four (W,A); both backward products at G = 4, 6, 8 */
        static const int configs[][4] = {{0, 1, 1, 32}, {0, 1, 2, 32}, {0, 1, 4, 32}, {0, 2, 2, 32},
                                         {1, 1, 2, 4},  {2, 1, 2, 4},  {1, 1, 2, 6},  {2, 1, 2, 6},
                                         {1, 1, 2, 8},  {2, 1, 2, 8}};
        for (size_t ci = 0; ci < sizeof configs / sizeof configs[0]; ci++) {
            const int which = configs[ci][0], W = configs[ci][1], A = configs[ci][2], G = configs[ci][3];
            b.W = W, b.A = A, b.G = G, b.which = which;
            const float nA = (float)((1u << A) - 1), nG = (float)((1u << (G < DR_FLOAT_BITS ? G : 1)) - 1);
            for (size_t i = 0; i < in_n; i++) {
                b.acodes[i] = (uint8_t)dr_rng_below(&r, (uint32_t)nA + 1);
                b.in[i] = (float)b.acodes[i] / nA;
            }
            for (size_t i = 0; i < out_n; i++) {
                b.gcodes[i] = (uint8_t)dr_rng_below(&r, (uint32_t)nG + 1);
                b.dout[i] = 0.5f * (2.0f * (float)b.gcodes[i] - nG) / nG;
            }
            memset(b.din, 0, in_n * 4);
            /* the bit-GEMM alone, on random operands of the product's shape */
            int rows, xpl, ypl, words, cols_pad, per_sample = 0;
            if (which == 0) rows = M, xpl = A, ypl = W, words = g->kh * g->kw * ((g->ic + 63) / 64), cols_pad = dr_round_up(g->oc, DR_BG_COLS);
            else if (which == 1 && dr_bitconv_grad_suits(g)) /* as the product runs it: an implicit conv of the
                                                                gradient, a row per input pixel, a column per channel */
                rows = n * g->ih * g->iw, xpl = G, ypl = W, words = g->kh * g->kw * ((g->oc + 63) / 64),
                cols_pad = dr_round_up(g->ic, DR_BG_COLS);
            else if (which == 1) rows = M, xpl = G, ypl = W, words = (g->oc + 63) / 64, cols_pad = dr_round_up(K, DR_BG_COLS);
            else rows = g->oc, xpl = G, ypl = A, words = (P + 63) / 64, cols_pad = dr_round_up(K, DR_BG_COLS), per_sample = 1;
            int rows_pad = dr_round_up(rows, DR_BG_ROWS);
            uint64_t *x = random_words((size_t)rows_pad * xpl * words, &r), *y = random_words((size_t)ypl * words * cols_pad, &r);
            int32_t *s = dr_xalign((size_t)rows_pad * cols_pad * 4);
            b.kargs = (dr_bitgemm_args){.x = x, .rows = rows, .xplanes = xpl, .y = y, .cols_pad = cols_pad, .yplanes = ypl, .words = words, .s = s};
            double tk = time_median(per_sample ? run_kernel_per_sample : run_kernel, &b, (int)repeats);
            double tp = time_median(run_product, &b, (int)repeats);
            /* sgemm of the same product shape */
            b.m = which == 2 ? g->oc : M, b.nn = which == 0 ? g->oc : K, b.k = which == 0 ? K : which == 1 ? g->oc : M;
            b.sa = dr_xalign((size_t)b.m * b.k * 4), b.sb = dr_xalign((size_t)b.nn * b.k * 4), b.sc = dr_xalign((size_t)b.m * b.nn * 4);
            for (size_t i = 0; i < (size_t)b.m * b.k; i++) b.sa[i] = dr_rng_uniform(&r);
            for (size_t i = 0; i < (size_t)b.nn * b.k; i++) b.sb[i] = dr_rng_uniform(&r);
            double ts = time_median(run_sgemm, &b, (int)repeats);
            const int pa = which == 0 ? W : which == 1 ? G : G, pb = which == 0 ? A : which == 1 ? W : A;
            double bitmacs = macs * pa * pb;
            char bits[16];
            snprintf(bits, sizeof bits, which == 0 ? "W%dA%d" : "G%d", which == 0 ? W : G, which == 0 ? A : 0);
            printf("%-6s %-9s %-5s %9.0fM | %6.0f G/s %5.1f%% %6.1fx | %6.2f ms %6.1fx | %6.2f ms %8.1f\n", l->name,
                   which == 0 ? "forward" : which == 1 ? "bwd-input" : "bwd-wgt", bits, macs / 1e6,
                   bitmacs / tk / 1e9, 100 * bitmacs / tk / peak, ts / tk, tp * 1e3, ts / tp, ts * 1e3, macs / ts / 1e9);
            fflush(stdout);
            free(x), free(y), free(s), free(b.sa), free(b.sb), free(b.sc);
        }
        free(b.in), free(b.w), free(b.dout), free(b.out), free(b.din), free(b.dw), free(b.gscale);
        free(b.acodes), free(b.gcodes);
        dr_bitbuf_free(b.buf);
        dr_workspace_free(&b.ws);
    }
    printf("kernel: binary MACs/s of the bit-GEMM alone (MACs x bit-plane pairs), as %% of the peak and\n"
           "as a speed-up over sgemm on the same shape; product: the whole bit product as training\n"
           "runs it (packing, corrections; the codes come from the quantizers) and its speed-up\n"
           "over sgemm alone. Medians of %ld timings.\n", repeats);
    dr_products_bit_always(0);
    dr_net_free(net);
    return EXIT_OK;
}

int cmd_bench(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (!strcmp(argv[1], "train")) return bench_train(argc - 1, argv + 1);
    if (!strcmp(argv[1], "kernels")) return bench_kernels(argc - 1, argv + 1);
    if (!strcmp(argv[1], "infer")) return bench_infer(argc - 1, argv + 1);
    return cli_usage_error("bench", "unknown benchmark '%s'", argv[1]);
}
