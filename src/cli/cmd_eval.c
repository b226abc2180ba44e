/* dorefa eval: accuracy of checkpoints and exported models on a data set
 * split, and how often they agree. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/common.h"
#include "core/filebuf.h"
#include "deploy/deploy.h"
#include "deploy/format.h"
#include "model/net.h"
#include "train/checkpoint.h"
#include "train/train.h"

static const char USAGE[] =
    "usage: dorefa eval CHECKPOINT|MODEL... [options]\n"
    "\n"
    "Evaluates checkpoints (evaluation mode: BN running averages, no dropout) and model files\n"
    "from 'dorefa export' (run by the engine) on the same images and prints each one's\n"
    "accuracy and mean loss; with several, also on how many images each gives the first\n"
    "one's class.\n"
    "\n"
    "  -d, --data PATH     data set folder (default: the one the first file was trained on)\n"
    "      --split NAME    test or train (default: test)\n"
    "      --limit N       use only the first N images\n"
    "  -b, --batch N       batch size (default: 256)\n"
    "      --threads N     worker threads (default: all cores)\n"
    "      --save-outputs FILE     write each image's label, class and class probabilities,\n"
    "                              as the first file gives them, to FILE (text)\n"
    "      --compare-outputs FILE  compare the first file's outputs with those saved in FILE\n"
    "                              (same images): same classes, largest difference\n"
    "  -h, --help          this help\n";

#define MAX_FILES 8

/* One file to evaluate: a checkpoint's network or an exported model's engine. */
typedef struct {
    const char *path;
    dr_net *net;   /* checkpoint */
    dr_engine *e;  /* model file */
    char data[1024]; /* the data set it was trained on ("" unknown) */
} model;

static int is_model_file(const char *path)
{
    char magic[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(magic, 1, 8, f);
    fclose(f);
    return n == 8 && !memcmp(magic, DR_DEPLOY_FILE.magic, 8);
}

/* The training data folder recorded in a model file's CONF section. */
static void model_file_data(const char *path, char *data, size_t cap)
{
    size_t len;
    uint8_t *buf = (uint8_t *)dr_read_file(path, &len);
    dr_section sec[16];
    int ns = buf ? dr_read_sections(path, buf, len, &DR_DEPLOY_FILE, NULL, sec, 16) : -1;
    for (int k = 0; k < ns; k++)
        if (!memcmp(sec[k].tag, "CONF", 4)) {
            char *conf = dr_xstrndup((const char *)buf + sec[k].off, sec[k].len);
            dr_train_config cfg;
            if (!dr_train_config_parse(conf, path, &cfg)) snprintf(data, cap, "%s", cfg.data);
            free(conf);
        }
    free(buf);
}

static int open_model(model *m, const char *path, int batch)
{
    memset(m, 0, sizeof *m);
    m->path = path;
    if (is_model_file(path)) {
        if (!(m->e = dr_engine_load(path, batch))) return -1;
        model_file_data(path, m->data, sizeof m->data);
        return 0;
    }
    dr_checkpoint ck;
    dr_train_config cfg;
    if (dr_checkpoint_read(path, &ck)) return -1;
    char origin[1100];
    snprintf(origin, sizeof origin, "%s (model)", path);
    dr_net_options opt = {.channels = ck.input.c, .height = ck.input.h, .width = ck.input.w, .max_batch = batch};
    int rc = dr_train_config_parse(ck.conf, path, &cfg) || !(m->net = dr_net_parse(ck.model, origin, &opt)) ||
                     dr_checkpoint_restore(&ck, m->net, NULL)
                 ? -1
                 : 0;
    if (!rc) {
        m->net->pass.bit_kernels = !cfg.float_kernels; /* as it was trained: bit kernels or their float simulation */
        snprintf(m->data, sizeof m->data, "%s", cfg.data);
    }
    dr_checkpoint_free(&ck);
    return rc;
}

static const dr_net *net_of(const model *m) { return m->e ? dr_engine_net(m->e) : m->net; }

int cmd_eval(int argc, char **argv)
{
    static const struct option LONG[] = {{"data", 1, 0, 'd'},  {"split", 1, 0, 's'},
                                         {"limit", 1, 0, 'l'}, {"batch", 1, 0, 'b'},
                                         {"threads", 1, 0, 't'}, {"save-outputs", 1, 0, 'S'},
                                         {"compare-outputs", 1, 0, 'C'}, {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *data = NULL, *save = NULL, *compare = NULL;
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
        case 'S': save = optarg; break;
        case 'C': compare = optarg; break;
        case 'h': fputs(USAGE, stdout); return EXIT_OK;
        default: return cli_usage_error("eval", "unknown option");
        }
    }
    const int nf = argc - optind;
    if (nf < 1) return cli_usage_error("eval", "expected one CHECKPOINT (or MODEL) argument or more");
    if (nf > MAX_FILES) return cli_usage_error("eval", "at most %d files", MAX_FILES);
    cli_set_threads((int)threads);
    model m[MAX_FILES];
    int opened = 0, rc = EXIT_FAIL, *pred = NULL;
    float *probs = NULL;
    dr_dataset ds = {0};
    for (; opened < nf; opened++)
        if (open_model(&m[opened], argv[optind + opened], (int)batch)) {
            dr_net_free(m[opened].net), dr_engine_free(m[opened].e);
            goto fail;
        }
    const dr_shape in = net_of(&m[0])->input;
    for (int k = 1; k < nf; k++) {
        const dr_shape s = net_of(&m[k])->input;
        if (s.h != in.h || s.w != in.w || s.c != in.c) {
            dr_fail("%s: input %dx%dx%d, %s's is %dx%dx%d: files compared must take the same images", m[k].path, s.h,
                    s.w, s.c, m[0].path, in.h, in.w, in.c);
            goto fail;
        }
    }
    if (!data) data = m[0].data[0] ? m[0].data : DR_DEFAULT_DATA;
    if (cli_load_split(data, split, in.h, in.w, 0, (int)limit, &ds)) goto fail;
    if (ds.c != in.c) {
        dr_fail("%s: images have %d channels, the %s expects %d", data, ds.c, m[0].e ? "model" : "checkpoint", in.c);
        goto fail;
    }
    for (int k = 0; k < nf; k++)
        if (dr_net_classes(net_of(&m[k])) < ds.classes) {
            dr_fail("%s: has %d classes, %s only %d outputs", data, ds.classes, m[k].path, dr_net_classes(net_of(&m[k])));
            goto fail;
        }
    pred = dr_xmalloc(sizeof(int) * (size_t)ds.n * nf);
    const int classes = dr_net_classes(net_of(&m[0]));
    if (save || compare) probs = dr_xmalloc(sizeof(float) * (size_t)ds.n * classes);
    for (int k = 0; k < nf; k++) {
        double acc, loss, t0 = dr_now();
        cli_classify(m[k].e, m[k].net, &ds, (int)batch, pred + (size_t)k * ds.n, &acc, &loss, k ? NULL : probs);
        const double secs = dr_now() - t0;
        printf("%s on %s (%s, %d images): accuracy %.2f%%  loss %.4f  (%.0f images/s)", m[k].path, data,
               split == DR_SPLIT_TEST ? "test" : "train", ds.n, 100 * acc, loss, ds.n / secs);
        if (k > 0) {
            long same = 0;
            for (int i = 0; i < ds.n; i++) same += pred[(size_t)k * ds.n + i] == pred[i];
            printf("; the class of %s for %.2f%% of the images", m[0].path, 100.0 * same / ds.n);
        }
        printf("\n");
    }
    if (save && cli_save_outputs(save, ds.n, classes, ds.labels, pred, probs)) goto fail;
    if (save) printf("outputs of %s written to %s\n", m[0].path, save);
    if (compare) {
        cli_output_diff d;
        if (cli_compare_outputs(compare, ds.n, classes, ds.labels, pred, probs, &d)) goto fail;
        printf("outputs of %s against %s: the same class for %.2f%% of the images, the same probabilities for "
               "%.2f%%; largest difference of a probability %.3g (image %d)\n",
               m[0].path, compare, 100.0 * d.same_class / ds.n, 100.0 * d.identical / ds.n, d.max_diff, d.worst_image);
    }
    rc = EXIT_OK;
    goto done;
fail:
    rc = cli_error();
done:
    for (int k = 0; k < opened; k++) dr_net_free(m[k].net), dr_engine_free(m[k].e);
    free(pred), free(probs);
    dr_dataset_free(&ds);
    return rc;
}
