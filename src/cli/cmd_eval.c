/* dorefa eval: accuracy of a checkpoint on a data set split. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/common.h"
#include "model/net.h"
#include "train/checkpoint.h"
#include "train/train.h"

static const char USAGE[] =
    "usage: dorefa eval CHECKPOINT [options]\n"
    "\n"
    "Evaluates a checkpoint (evaluation mode: BN running averages, no dropout) and prints\n"
    "accuracy and mean loss.\n"
    "\n"
    "  -d, --data PATH     data set folder (default: the one the checkpoint was trained on)\n"
    "      --split NAME    test or train (default: test)\n"
    "      --limit N       use only the first N images\n"
    "  -b, --batch N       batch size (default: 256)\n"
    "      --threads N     worker threads (default: all cores)\n"
    "  -h, --help          this help\n";

int cmd_eval(int argc, char **argv)
{
    static const struct option LONG[] = {{"data", 1, 0, 'd'},  {"split", 1, 0, 's'},
                                         {"limit", 1, 0, 'l'}, {"batch", 1, 0, 'b'},
                                         {"threads", 1, 0, 't'}, {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *data = NULL;
    int split = DR_SPLIT_TEST, c;
    long limit = 0, batch = 256, threads = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:b:h", LONG, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 's':
            if (!strcmp(optarg, "test")) split = DR_SPLIT_TEST;
            else if (!strcmp(optarg, "train")) split = DR_SPLIT_TRAIN;
            else return cli_usage_error("eval", "--split %s: expected test or train", optarg);
            break;
        case 'l': if (cli_int("eval", "limit", optarg, 1, 1 << 30, &limit)) return EXIT_USAGE; break;
        case 'b': if (cli_int("eval", "batch", optarg, 1, 65536, &batch)) return EXIT_USAGE; break;
        case 't': if (cli_int("eval", "threads", optarg, 0, 1024, &threads)) return EXIT_USAGE; break;
        case 'h': fputs(USAGE, stdout); return EXIT_OK;
        default: return cli_usage_error("eval", "unknown option");
        }
    }
    if (optind != argc - 1) return cli_usage_error("eval", "expected one CHECKPOINT argument");
    const char *path = argv[optind];
    cli_set_threads((int)threads);
    dr_checkpoint ck;
    dr_train_config cfg;
    if (dr_checkpoint_read(path, &ck)) return cli_error();
    int rc = EXIT_FAIL;
    dr_dataset ds = {0};
    dr_net *net = NULL;
    char origin[1100];
    snprintf(origin, sizeof origin, "%s (model)", path);
    if (dr_train_config_parse(ck.conf, path, &cfg)) goto fail;
    if (!data) data = cfg.data[0] ? cfg.data : DR_DEFAULT_DATA;
    if (cli_load_split(data, split, ck.input.h, ck.input.w, 0, (int)limit, &ds)) goto fail;
    if (ds.c != ck.input.c) {
        dr_fail("%s: images have %d channels, the checkpoint expects %d", data, ds.c, ck.input.c);
        goto fail;
    }
    dr_net_options opt = {.channels = ck.input.c, .height = ck.input.h, .width = ck.input.w,
                          .max_batch = (int)batch};
    if (!(net = dr_net_parse(ck.model, origin, &opt)) || dr_checkpoint_restore(&ck, net, NULL)) goto fail;
    net->pass.bit_kernels = !cfg.float_kernels; /* as it was trained: bit kernels or their float simulation */
    if (dr_net_classes(net) < ds.classes) {
        dr_fail("%s: has %d classes, the model only %d outputs", data, ds.classes,
                dr_net_classes(net));
        goto fail;
    }
    double acc, loss, t0 = dr_now();
    dr_evaluate(net, &ds, &acc, &loss);
    double secs = dr_now() - t0;
    printf("%s on %s (%s, %d images): accuracy %.2f%%  loss %.4f  (%.0f images/s)\n", path, data,
           split == DR_SPLIT_TEST ? "test" : "train", ds.n, 100 * acc, loss, ds.n / secs);
    rc = EXIT_OK;
    goto done;
fail:
    rc = cli_error();
done:
    dr_net_free(net);
    dr_dataset_free(&ds);
    dr_checkpoint_free(&ck);
    return rc;
}
