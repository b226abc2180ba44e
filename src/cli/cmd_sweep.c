/* dorefa sweep: trains one model at a list of (W,A,G) bitwidths and writes the
 * paper's Table 1 for it (markdown), beside the paper's numbers. Resumable:
 * finished configurations are reused, unfinished ones continue. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "core/common.h"
#include "train/checkpoint.h"
#include "train/svg.h"
#include "train/train.h"
#include "train_cli.h"

static const char USAGE_HEAD[] =
    "usage: dorefa sweep [train options] [--configs LIST] -o DIR\n"
    "\n"
    "Trains the model once per (W,A,G) configuration, each in DIR/W-A-G, with the same\n"
    "recipe (every 'dorefa train' option applies; the model defaults to svhn-a), and\n"
    "writes DIR/table.md (the paper's Table 1 columns beside its SVHN numbers) and\n"
    "DIR/accuracy.svg. Run it again to continue an interrupted sweep: finished\n"
    "configurations are reused. Each run shows its progress as 'dorefa train' does\n"
    "(-q: only a line per configuration). A configuration continued from its last.ckpt\n"
    "keeps its settings but for the options marked *.\n"
    "\n";

/* Table 1 of the paper (SVHN test accuracy, Models A-D); 0 where none. */
static const struct {
    int w, a, g;
    double acc[4];
} PAPER[] = {
    {1, 1, 2, {0.934, 0.924, 0.910, 0.803}}, {1, 1, 4, {0.968, 0.961, 0.916, 0.846}},
    {1, 1, 8, {0.970, 0.962, 0.902, 0.828}}, {1, 1, 32, {0.971, 0.963, 0.921, 0.841}},
    {1, 2, 2, {0.909, 0.930, 0.900, 0.808}}, {1, 2, 3, {0.968, 0.964, 0.934, 0.878}},
    {1, 2, 4, {0.975, 0.969, 0.939, 0.878}}, {2, 1, 2, {0.927, 0.928, 0.909, 0.846}},
    {2, 1, 4, {0.969, 0.957, 0.904, 0.827}}, {1, 2, 8, {0.975, 0.971, 0.946, 0.866}},
    {1, 2, 32, {0.976, 0.970, 0.950, 0.865}}, {1, 3, 3, {0.968, 0.964, 0.946, 0.887}},
    {1, 3, 4, {0.974, 0.974, 0.959, 0.897}}, {1, 3, 6, {0.977, 0.974, 0.949, 0.916}},
    {1, 4, 2, {0.815, 0.898, 0.911, 0.868}}, {1, 4, 4, {0.975, 0.974, 0.962, 0.915}},
    {1, 4, 8, {0.977, 0.975, 0.955, 0.895}}, {2, 2, 2, {0.900, 0.919, 0.856, 0.842}},
    {8, 8, 8, {0, 0, 0.970, 0.955}},         {32, 32, 32, {0.975, 0.975, 0.972, 0.950}},
};

/* Model letter a-d of svhn-a .. svhn-d (index), or -1. */
static int model_index(const char *model)
{
    const char *p = strstr(model, "svhn-");
    if (!p || p[5] < 'a' || p[5] > 'd' || (p[6] && p[6] != '.')) return -1;
    return p[5] - 'a';
}

static double paper_acc(const dr_bits *b, int m)
{
    if (m < 0) return 0;
    for (size_t i = 0; i < sizeof PAPER / sizeof PAPER[0]; i++)
        if (PAPER[i].w == b->w && PAPER[i].a == b->a && PAPER[i].g == b->g) return PAPER[i].acc[m];
    return 0;
}

/* The command line as a person would type it again: an argument with any
 * character outside a shell-safe set (or an empty one) in single quotes. */
static void write_command(FILE *f, int argc, char **argv)
{
    static const char SAFE[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=.,:/@%";
    fputs("dorefa sweep", f);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (*a && !a[strspn(a, SAFE)]) {
            fprintf(f, " %s", a);
            continue;
        }
        fputs(" '", f);
        for (; *a; a++)
            if (*a == '\'') fputs("'\\''", f);
            else fputc(*a, f);
        fputc('\'', f);
    }
}

static double run_seconds(const char *dir)
{
    char path[1200], line[1024];
    snprintf(path, sizeof path, "%.1000s/metrics.jsonl", dir);
    FILE *f = fopen(path, "r");
    double s = 0;
    if (!f) return 0;
    while (fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "\"epoch_seconds\": ");
        if (p) s += atof(p + 17);
    }
    fclose(f);
    return s;
}

#define MAX_CONFIGS 32

int cmd_sweep(int argc, char **argv)
{
    train_args base;
    train_args_init(&base);
    snprintf(base.cfg.model, sizeof base.cfg.model, "svhn-a");
    int rc = train_parse_args("sweep", USAGE_HEAD, argc, argv, &base);
    if (rc >= 0) return rc;
    if (base.cfg.resume[0]) return cli_usage_error("sweep", "--resume: run the sweep again to continue it");
    const char *list = base.cfg.configs[0] ? base.cfg.configs : "32,32,32;1,2,32;1,2,4;1,1,4;1,2,8;2,2,4;1,4,4";
    dr_bits cfgs[MAX_CONFIGS];
    int n = 0;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *tok = strtok(buf, "; "); tok; tok = strtok(NULL, "; ")) {
        if (n == MAX_CONFIGS) return cli_usage_error("sweep", "--configs: at most %d", MAX_CONFIGS);
        if (dr_bits_parse(tok, &cfgs[n])) return cli_usage_error("sweep", "--configs: %s", dr_last_error());
        cfgs[n].quantize_first = base.cfg.bits.quantize_first;
        cfgs[n].quantize_last = base.cfg.bits.quantize_last;
        n++;
    }
    if (!n) return cli_usage_error("sweep", "--configs is empty");
    char out[1024];
    const char *base_name = strrchr(base.cfg.model, '/') ? strrchr(base.cfg.model, '/') + 1 : base.cfg.model;
    if (base.cfg.out[0]) snprintf(out, sizeof out, "%s", base.cfg.out);
    else snprintf(out, sizeof out, "runs/sweep-%.*s", (int)strcspn(base_name, "."), base_name);
    mkdir("runs", 0777);
    if (mkdir(out, 0777) && errno != EEXIST) {
        fprintf(stderr, "dorefa: %s: cannot create: %s\n", out, strerror(errno));
        return EXIT_FAIL;
    }
    const int epochs = base.cfg.epochs;
    train_result res[MAX_CONFIGS];
    char dirs[MAX_CONFIGS][960];
    for (int i = 0; i < n; i++) {
        snprintf(dirs[i], sizeof dirs[i], "%.900s/%d-%d-%d", out, cfgs[i].w, cfgs[i].a, cfgs[i].g);
        char ckpt[1000];
        snprintf(ckpt, sizeof ckpt, "%.960s/last.ckpt", dirs[i]);
        train_args a = base;
        a.cfg.bits = cfgs[i];
        snprintf(a.cfg.out, sizeof a.cfg.out, "%.960s", dirs[i]);
        memset(&res[i], 0, sizeof res[i]);
        if (access(ckpt, R_OK) == 0) {
            dr_checkpoint ck;
            dr_train_config done;
            if (dr_checkpoint_read(ckpt, &ck) || dr_train_config_parse(ck.conf, ckpt, &done)) return cli_error();
            dr_checkpoint_free(&ck);
            if (done.epoch >= epochs) {
                res[i] = (train_result){0, done.best_acc, done.best_epoch, done.epoch};
                fprintf(stderr, "dorefa sweep: %d,%d,%d already trained (%d epochs), best %.2f%%\n",
                        cfgs[i].w, cfgs[i].a, cfgs[i].g, done.epoch, 100 * done.best_acc);
                continue;
            }
            snprintf(a.cfg.resume, sizeof a.cfg.resume, "%.1000s", ckpt); /* its settings, and the resumable options */
        }
        fprintf(stderr, "dorefa sweep: [%d/%d] W,A,G = %d,%d,%d, %d epochs -> %s\n", i + 1, n,
                cfgs[i].w, cfgs[i].a, cfgs[i].g, epochs, dirs[i]);
        if ((rc = train_execute(&a, &res[i])) != EXIT_OK) return rc;
        fprintf(stderr, "dorefa sweep: %d,%d,%d: best test accuracy %.2f%% at epoch %d\n", cfgs[i].w,
                cfgs[i].a, cfgs[i].g, 100 * res[i].best_acc, res[i].best_epoch);
    }

    /* table.md */
    int m = model_index(base.cfg.model);
    char path[1200];
    snprintf(path, sizeof path, "%s/table.md", out);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "dorefa: %s: cannot write: %s\n", path, strerror(errno));
        return EXIT_FAIL;
    }
    fprintf(f, "# %s on %s\n\n", base.cfg.model, base.cfg.data);
    fputs("Command: `", f);
    write_command(f, argc, argv);
    fputs("`\n\n", f);
    fprintf(f, "| W | A | G | training complexity W(A+G) | inference complexity WA | storage relative size "
               "| best test accuracy | at epoch | epochs | training time | paper (SVHN, Table 1) |\n"
               "|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < n; i++) {
        const dr_bits *b = &cfgs[i];
        int fl = b->w == DR_FLOAT_BITS || b->a == DR_FLOAT_BITS || b->g == DR_FLOAT_BITS;
        double p = paper_acc(b, m);
        char tc[16] = "-", ic[16] = "-", pp[16] = "-";
        if (!fl) snprintf(tc, sizeof tc, "%d", b->w * (b->a + b->g));
        if (b->w < DR_FLOAT_BITS && b->a < DR_FLOAT_BITS) snprintf(ic, sizeof ic, "%d", b->w * b->a);
        if (p > 0) snprintf(pp, sizeof pp, "%.1f%%", 100 * p);
        fprintf(f, "| %d | %d | %d | %s | %s | %d | %.2f%% | %d | %d | %.0f s | %s |\n", b->w, b->a, b->g, tc,
                ic, b->w, 100 * res[i].best_acc, res[i].best_epoch, res[i].epochs, run_seconds(dirs[i]), pp);
    }
    fprintf(f, "\nEvery row: the same recipe and seed, %d epochs; best test accuracy over the epochs, "
               "as the paper reports. Complexities and storage are relative to one 1-bit product / "
               "1-bit weights (paper Table 1; '-' where a factor is float).\n", epochs);
    fclose(f);

    /* accuracy.svg: every configuration's test accuracy against epoch */
    enum { CAP = 1024 };
    static double ep[MAX_CONFIGS][CAP], te[MAX_CONFIGS][CAP], tr[MAX_CONFIGS][CAP];
    static char names[MAX_CONFIGS][32];
    dr_series series[MAX_CONFIGS];
    for (int i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "%d,%d,%d", cfgs[i].w, cfgs[i].a, cfgs[i].g);
        int k = dr_metrics_read(dirs[i], ep[i], te[i], tr[i], CAP);
        series[i] = (dr_series){names[i], k, ep[i], te[i]};
    }
    snprintf(path, sizeof path, "%s/accuracy.svg", out);
    char title[600];
    snprintf(title, sizeof title, "%s: test accuracy by W,A,G", base.cfg.model);
    if (dr_svg_lines(path, title, "epoch", "test accuracy (%)", series, n)) return cli_error();
    snprintf(path, sizeof path, "%s/table.md", out);
    char *table = dr_read_file(path, NULL);
    if (table) fputs(table, stdout);
    free(table);
    return EXIT_OK;
}
