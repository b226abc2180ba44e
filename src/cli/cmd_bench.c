/* dorefa bench: throughput measurements (kept apart from the tests). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/common.h"
#include "model/net.h"
#include "train/optim.h"
#include "train/train.h"
#include "kernels/bitgemm.h"

static const char USAGE[] =
    "usage: dorefa bench train [options]\n"
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
                                         {"help", 0, 0, 'h'},    {0, 0, 0, 0}};
    const char *model = "svhn-a";
    long batch = 128, channels = 3, steps = 10, repeats = 5, threads = 0;
    dr_bits bits = {0};
    int float_kernels = 0;
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
    dr_train_config_apply_bits(&tc, net);
    dr_optim_config oc;
    dr_optim_defaults(&oc);
    dr_optim o;
    dr_optim_init(&o, &oc, net);
    size_t in_n = (size_t)batch * dr_shape_size(net->input);
    float *x = dr_xalign(in_n * sizeof(float));
    int *y = dr_xmalloc(sizeof(int) * (size_t)batch);
    dr_rng r;
    dr_rng_seed(&r, 1, DR_RNG_TEST, 0, 0);
    for (size_t i = 0; i < in_n; i++) x[i] = dr_rng_uniform(&r);
    for (long i = 0; i < batch; i++) y[i] = (int)(i % dr_net_classes(net));
    double *rates = dr_xmalloc(sizeof(double) * (size_t)repeats);
    for (long rep = -1; rep < repeats; rep++) { /* rep -1 warms up */
        double t0 = dr_now();
        for (long s = 0; s < (rep < 0 ? 2 : steps); s++) {
            net->step = (uint64_t)s;
            dr_net_forward(net, x, y, (int)batch, 1);
            dr_net_backward(net, (int)batch);
            dr_optim_step(&o, net, 1e-3f);
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
    free(rates);
    free(x);
    free(y);
    dr_optim_free(&o);
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
    return cli_usage_error("bench", "unknown benchmark '%s'", argv[1]);
}
