#include "train.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../core/common.h"
#include "../core/filebuf.h"
#include "../core/rng.h"
#include "../dist/dist.h"
#include "checkpoint.h"
#include "guide.h"
#include "histogram.h"
#include "precision.h"
#include "svg.h"

int dr_train_config_resolve_bits(dr_train_config *c, const dr_net *net)
{
    if (c->schedule[0]) { /* the bits of the stage the run is in (or ended) */
        dr_schedule s;
        if (dr_schedule_parse(c->schedule, &s)) return -1;
        int q1 = c->bits.quantize_first, q2 = c->bits.quantize_last;
        c->bits = s.bits[dr_schedule_stage(&s, c->epoch > 0 ? c->epoch - 1 : 0)];
        c->bits.quantize_first = q1, c->bits.quantize_last = q2;
    }
    if (!c->bits.w) {
        int has = net->default_bits[0] != 0;
        c->bits.w = has ? net->default_bits[0] : DR_FLOAT_BITS;
        c->bits.a = has ? net->default_bits[1] : DR_FLOAT_BITS;
        c->bits.g = has ? net->default_bits[2] : DR_FLOAT_BITS;
    }
    return 0;
}

int dr_train_check_resumed(const dr_train_config *c, const dr_net *net, const char *path)
{
    if (!memcmp(&net->bits, &c->bits, sizeof c->bits) && net->bounded_act == c->bounded_act) return 0;
    char saved[32], conf[32];
    dr_bits_format(&net->bits, saved, sizeof saved);
    dr_bits_format(&c->bits, conf, sizeof conf);
    return dr_fail("%s: its weights were saved at bits %s (first %d, last %d, bounded activation %s), its "
                   "configuration says %s (first %d, last %d, %s): the checkpoint is damaged",
                   path, saved, net->bits.quantize_first, net->bits.quantize_last, dr_act_name(net->bounded_act), conf,
                   c->bits.quantize_first, c->bits.quantize_last, dr_act_name(c->bounded_act));
}

int dr_train_config_apply_bits(dr_train_config *c, dr_net *net)
{
    if (dr_train_config_resolve_bits(c, net)) return -1;
    net->bounded_act = c->bounded_act;
    net->pass.bit_kernels = !c->float_kernels;
    return dr_net_apply_bits(net, &c->bits);
}

/* ---- evaluation ----------------------------------------------------------- */

void dr_evaluate(dr_net *net, const dr_dataset *ds, double *acc, double *loss)
{
    dr_evaluate_part(net, ds, NULL, acc, loss);
}

void dr_evaluate_part(dr_net *net, const dr_dataset *ds, dr_group *g, double *acc, double *loss)
{
    const int B = net->max_batch, C = dr_net_classes(net);
    /* this rank's part of the data set */
    const int first = g ? (int)dr_part_start((size_t)ds->n, g->rank, g->size) : 0,
              end = g ? (int)dr_part_start((size_t)ds->n, g->rank + 1, g->size) : ds->n;
    dr_group *keep = net->pass.group;
    net->pass.group = NULL, net->pass.n_global = 0, net->pass.sample0 = 0;
    uint32_t *idx = dr_xmalloc(sizeof(uint32_t) * (size_t)B);
    float *x = dr_xalign((size_t)B * dr_shape_size(net->input) * sizeof(float));
    int *y = dr_xmalloc(sizeof(int) * (size_t)B);
    long correct = 0;
    double total_loss = 0;
    for (int s0 = first; s0 < end; s0 += B) {
        int n = DR_MIN(B, end - s0);
        for (int i = 0; i < n; i++) idx[i] = (uint32_t)(s0 + i);
        dr_batch_fill(ds, idx, n, NULL, 0, 0, 0, x, y);
        dr_net_forward(net, x, y, n, 0);
        total_loss += (double)net->pass.loss * n;
        const float *p = dr_net_output(net);
        for (int i = 0; i < n; i++) {
            int best = 0;
            for (int c = 1; c < C; c++)
                if (p[i * C + c] > p[i * C + best]) best = c;
            correct += best == y[i];
        }
    }
    double sums[2] = {(double)correct, total_loss};
    dr_group_sum(g, sums, 2);
    net->pass.group = keep;
    *acc = ds->n ? sums[0] / ds->n : 0;
    *loss = ds->n ? sums[1] / ds->n : 0;
    free(idx);
    free(x);
    free(y);
}

/* ---- progress --------------------------------------------------------------- */

static void fmt_time(double s, char *buf, size_t cap)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

typedef struct {
    int tty;
    double start, last;
    long images_at_start;
} progress_t;

static void progress_line(progress_t *pr, const dr_trainer *t, int epoch, int done, double loss,
                          double err, long images_done, int final)
{
    double now = dr_now();
    if (!final && now - pr->last < (pr->tty ? 0.25 : 15.0)) return;
    pr->last = now;
    double rate = (images_done - pr->images_at_start) / DR_MAX(now - pr->start, 1e-9);
    long left = (long)(t->cfg.epochs - epoch) * t->train->n - done;
    char eta[32];
    fmt_time(rate > 0 ? left / rate : 0, eta, sizeof eta);
    fprintf(stderr, "%sepoch %d/%d %6d/%d  %7.0f img/s  loss %.4f  err %5.2f%%  ETA %s%s",
            pr->tty ? "\r" : "", epoch + 1, t->cfg.epochs, done, t->train->n, rate, loss,
            100 * err, eta, pr->tty ? "\033[K" : "\n");
    fflush(stderr);
}

static int listed(const char *list, int epoch)
{
    for (const char *p = list; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) return 0;
        if (v == epoch) return 1;
        p = *end ? end + 1 : end;
    }
    return 0;
}

int dr_metrics_read(const char *run_dir, double *epoch, double *test_acc, double *train_acc, int cap)
{
    char path[1200], line[1024];
    snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = 0;
    while (n < cap && fgets(line, sizeof line, f)) {
        const char *e = strstr(line, "\"epoch\": "), *a = strstr(line, "\"test_acc\": "),
                   *t = strstr(line, "\"train_err\": ");
        if (!e || !a || !t) continue;
        epoch[n] = atof(e + 9);
        test_acc[n] = 100 * atof(a + 12);
        train_acc[n] = 100 * (1 - atof(t + 13));
        n++;
    }
    fclose(f);
    return n;
}

/* RUN/accuracy.svg: test (and training) accuracy against epoch, the paper's Figure 1. */
static int plot_accuracy(const dr_trainer *t)
{
    enum { CAP = 4096 };
    static double ep[CAP], te[CAP], tr[CAP];
    int n = dr_metrics_read(t->out_dir, ep, te, tr, CAP);
    char path[1200], title[600], bits[32];
    dr_bits_format(&t->cfg.bits, bits, sizeof bits);
    snprintf(path, sizeof path, "%s/accuracy.svg", t->out_dir);
    snprintf(title, sizeof title, "%s, W,A,G = %s", t->cfg.model, bits);
    dr_series s[2] = {{"test", n, ep, te}, {"train (running)", n, ep, tr}};
    return dr_svg_lines(path, title, "epoch", "accuracy (%)", s, 2);
}

/* ---- the loop ------------------------------------------------------------------ */

static int make_dir(const char *dir)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0777);
            *p = '/';
        }
    if (mkdir(tmp, 0777) && errno != EEXIST)
        return dr_fail("%s: cannot create run folder: %s", dir, strerror(errno));
    return 0;
}

/* A resumed run's log keeps the lines of the epochs its checkpoint completed:
 * a run killed after logging an epoch but before saving it logs it again. */
static int keep_log_lines(const char *path, int epochs)
{
    size_t len;
    char *text = dr_read_file(path, &len);
    if (!text) return 0; /* no log yet: a new one */
    char *end = text;
    for (int k = 0; k < epochs && *end; k++) {
        char *nl = strchr(end, '\n');
        if (!nl) break;
        end = nl + 1;
    }
    int rc = (size_t)(end - text) == len ? 0 : dr_write_atomic(path, (const uint8_t *)text, (size_t)(end - text));
    free(text);
    return rc;
}

/* A network and its optimizer as out_dir/file, with the run's configuration text. */
static int save_net(dr_trainer *t, const char *file, dr_net *net, const dr_optim *opt)
{
    char path[1200], conf[DR_CONFIG_TEXT_MAX];
    snprintf(path, sizeof path, "%s/%s", t->out_dir, file);
    dr_train_config_format(&t->cfg, conf, sizeof conf);
    return dr_checkpoint_save(path, net, opt, conf);
}

/* The rank that writes the run folder (none without one). */
static int writer(const dr_trainer *t) { return t->out_dir && (!t->group || t->group->rank == 0); }

/* Data-parallel with per-rank batch norm: rank 0's running statistics become
 * every rank's (as DDP's buffer broadcast), before they are evaluated or saved. */
static void share_state(dr_trainer *t)
{
    if (t->group && t->cfg.bn_local) dr_dist_broadcast(t->group, t->net->state, t->net->state_size * sizeof(float));
}

static int save(dr_trainer *t, const char *file) { return writer(t) ? save_net(t, file, t->net, &t->opt) : 0; }

/* After every epoch the ranks hold the same weights, bit for bit (else a
 * sum was not formed alike everywhere: a bug, never a rounding matter). */
static int check_same_weights(dr_trainer *t, int epoch)
{
    if (!t->group) return 0;
    const dr_net *net = t->net;
    uint64_t v[2] = {dr_fingerprint(net->params, net->params_size * sizeof(float)),
                     dr_fingerprint(net->state, net->state_size * sizeof(float))};
    char w[64], st[64];
    snprintf(w, sizeof w, "weights after epoch %d", epoch);
    snprintf(st, sizeof st, "batch-norm statistics after epoch %d", epoch);
    const char *what[2] = {w, st};
    return dr_dist_check_same(t->group, v, what, 2);
}

/* The partner of guided training, with the same configuration text (its step
 * tells a resumed run that the two files belong together). The one before
 * becomes guide.prev.ckpt, so a run stopped between this save and last.ckpt's
 * still finds the partner of its last.ckpt. */
static int save_guide(dr_trainer *t)
{
    if (!writer(t)) return 0;
    char cur[1200], prev[1200];
    snprintf(cur, sizeof cur, "%s/guide.ckpt", t->out_dir);
    snprintf(prev, sizeof prev, "%s/guide.prev.ckpt", t->out_dir);
    if (rename(cur, prev) && errno != ENOENT) return dr_fail("%s: cannot rename: %s", cur, strerror(errno));
    return save_net(t, "guide.ckpt", t->guide->net, &t->guide->opt);
}

int dr_train(dr_trainer *t)
{
    dr_train_config *cfg = &t->cfg;
    dr_net *net = t->net;
    dr_group *g = t->group && t->group->size > 1 ? t->group : NULL;
    t->group = g;
    const int write = writer(t), quiet = t->quiet || (t->group && t->group->rank);
    if (write && make_dir(t->out_dir)) return -1;
    if (write) dr_remove_stale_temps(t->out_dir);
    char log_path[1200] = "/dev/null";
    if (t->out_dir) snprintf(log_path, sizeof log_path, "%s/metrics.jsonl", t->out_dir);
    /* a resumed run continues its log from the checkpoint's epoch; a new run starts one */
    const int resumed = cfg->epoch > 0 || cfg->epoch_batches > 0;
    if (!resumed && !quiet && write && access(log_path, F_OK) == 0)
        fprintf(stderr, "dorefa: %s holds an earlier run; starting a new one there\n", t->out_dir);
    if (write && resumed && keep_log_lines(log_path, cfg->epoch)) return -1;
    FILE *log = fopen(write ? log_path : "/dev/null", write && resumed ? "a" : "w");
    if (!log) return dr_fail("%s: cannot open for appending: %s", log_path, strerror(errno));
    dr_exchange *xch = NULL;
    if (g) {
        const char *kb = getenv("DOREFA_MPI_BUCKET_KB"), *ov = getenv("DOREFA_MPI_OVERLAP");
        xch = dr_exchange_create(g, net, cfg->exchange_bits, (size_t)(kb && atoi(kb) > 0 ? atoi(kb) : 1024) << 10,
                                 !(ov && !strcmp(ov, "0")));
        net->pass.group = g;
        net->pass.bn_local = cfg->bn_local;
    }

    const int N = t->train->n, C = dr_net_classes(net);
    uint32_t *order = dr_xmalloc(sizeof(uint32_t) * (size_t)N);
    progress_t pr = {isatty(2), dr_now(), 0, (long)cfg->epoch * N};
    pr.last = 0;
    int rc = 0;
    dr_schedule sched = {0};
    if (cfg->schedule[0] && dr_schedule_parse(cfg->schedule, &sched)) {
        fclose(log);
        free(order);
        return -1;
    }
    unsigned char *keep = dr_xmalloc((size_t)net->n_layers);
    int stopped = 0; /* --until-step reached */
    for (int epoch = cfg->epoch; epoch < cfg->epochs && !stopped; epoch++) {
        int stage = sched.n ? dr_schedule_stage(&sched, epoch) : 0;
        dr_bits bits_now = sched.n ? sched.bits[stage] : cfg->bits;
        bits_now.quantize_first = cfg->bits.quantize_first;
        bits_now.quantize_last = cfg->bits.quantize_last;
        /* a run resumed from a mid-epoch checkpoint starts inside its epoch */
        const int first_batch = epoch == cfg->epoch ? cfg->epoch_batches : 0;
        if (sched.n) {
            int first_of_stage = stage > 0 && epoch == dr_schedule_stage_start(&sched, stage) && !first_batch;
            if (dr_net_apply_bits(net, &bits_now)) {
                rc = -1;
                break;
            }
            if (first_of_stage) { /* a new stage starts from these weights with fresh moments */
                dr_optim_free(&t->opt);
                dr_optim_init(&t->opt, &cfg->optim, net);
            }
            if (!t->quiet && (epoch == cfg->epoch || first_of_stage)) {
                char b[32];
                dr_bits_format(&bits_now, b, sizeof b);
                fprintf(stderr, "dorefa: stage %d/%d: W,A,G = %s\n", stage + 1, sched.n, b);
            }
        }
        dr_rng rng;
        dr_rng_seed(&rng, cfg->seed, DR_RNG_SHUFFLE, (uint64_t)epoch, 0);
        dr_rng_permutation(&rng, order, (uint32_t)N);
        float lr = dr_optim_lr(&cfg->optim, epoch);
        dr_loader *L = dr_loader_start_part(t->train, order, N, cfg->batch, &cfg->aug, cfg->seed, (uint64_t)epoch,
                                            first_batch, g ? g->rank : 0, g ? g->size : 1);
        if (t->guide) {
            t->guide->kd_sum = first_batch ? cfg->guide_kd : 0;
            t->guide->hint_sum = first_batch ? cfg->guide_hint : 0;
            t->guide->partner_loss_sum = first_batch ? cfg->guide_loss : 0;
        }
        double t0 = dr_now(), loss_sum = first_batch ? cfg->epoch_loss : 0;
        long wrong = first_batch ? cfg->epoch_wrong : 0;
        int done = first_batch * cfg->batch, n, last_n = 0, batches = first_batch;
        const float *x;
        const int *y;
        while ((n = dr_loader_next(L, &x, &y)) > 0) {
            net->pass.seed = cfg->seed;
            net->pass.step = cfg->step;
            const int nb = g ? DR_MIN(cfg->batch, N - batches * cfg->batch) : n; /* the global batch */
            if (g) net->pass.n_global = nb, net->pass.sample0 = dr_part_start((size_t)nb, g->rank, g->size);
            if (cfg->sp_start >= 0) { /* stochastic precision: a random subset is quantized */
                float ratio = dr_precision_ratio(cfg->sp_start, cfg->sp_ramp, epoch + (double)done / N);
                dr_precision_draw(net, ratio, cfg->seed, cfg->step, keep);
                if (dr_net_apply_bits_select(net, &bits_now, keep)) {
                    rc = -1;
                    break;
                }
            }
            dr_net_forward(net, x, y, n, 1);
            if (t->guide)
                dr_guide_step(t->guide, net, x, y, n, lr);
            else if (xch) {
                dr_exchange_begin(xch);
                dr_net_backward(net, n);
                dr_exchange_finish(xch);
            } else
                dr_net_backward(net, n);
            dr_optim_step(&t->opt, net, lr);
            cfg->step++;
            const float *p = dr_net_output(net);
            long wrong_now = 0;
            for (int i = 0; i < n; i++) {
                int best = 0;
                for (int c = 1; c < C; c++)
                    if (p[i * C + c] > p[i * C + best]) best = c;
                wrong_now += best != y[i];
            }
            double step_sums[2] = {(double)net->pass.loss * n, (double)wrong_now}; /* over the ranks */
            dr_group_sum(g, step_sums, 2);
            if (!isfinite(step_sums[0])) {
                rc = dr_fail("training diverged: loss is %f at epoch %d step %llu (try a lower --lr)",
                             step_sums[0] / nb, epoch + 1, (unsigned long long)cfg->step);
                break;
            }
            loss_sum += step_sums[0];
            wrong += (long)step_sums[1];
            done += nb;
            last_n = n;
            batches++;
            if (!quiet)
                progress_line(&pr, t, epoch, done, loss_sum / done, (double)wrong / done,
                              (long)epoch * N + done, 0);
            int stop = cfg->until_step && cfg->step >= cfg->until_step;
            if (t->on_progress) {
                dr_train_progress p = {epoch + 1, cfg->epochs, done, N, cfg->step, loss_sum / done,
                                       (double)wrong / done, 0, 0, done / DR_MAX(dr_now() - t0, 1e-9), 0};
                if (t->on_progress(t->progress_user, &p)) stop = 1;
            }
            if (stop) stopped = 1;
            if (done < N && (stop || (cfg->checkpoint_every > 0 && cfg->step % (uint64_t)cfg->checkpoint_every == 0))) {
                cfg->epoch_batches = batches, cfg->epoch_wrong = (int)wrong, cfg->epoch_loss = loss_sum;
                if (t->guide)
                    cfg->guide_kd = t->guide->kd_sum, cfg->guide_hint = t->guide->hint_sum,
                    cfg->guide_loss = t->guide->partner_loss_sum;
                share_state(t);
                if ((t->guide && save_guide(t)) || save(t, "last.ckpt")) {
                    rc = -1;
                    break;
                }
            }
            if (stop) break;
        }
        dr_loader_stop(L);
        if (rc || (stopped && done < N)) break; /* stopped inside the epoch: last.ckpt holds where */
        cfg->epoch_batches = cfg->epoch_wrong = 0; /* at the epoch's end */
        cfg->epoch_loss = cfg->guide_kd = cfg->guide_hint = cfg->guide_loss = 0;
        double train_s = dr_now() - t0, acc = 0, test_loss = 0;
        if (cfg->sp_start >= 0 && dr_net_apply_bits(net, &bits_now)) { /* evaluation: fully quantized */
            rc = -1;
            break;
        }
        if (write && listed(cfg->histograms, epoch + 1)) { /* before evaluation overwrites the buffers */
            char dir[1200];
            snprintf(dir, sizeof dir, "%s/histograms", t->out_dir);
            if (dr_histograms_write(net, last_n, dir, epoch + 1)) {
                rc = -1;
                break;
            }
        }
        share_state(t);
        if (check_same_weights(t, epoch + 1)) {
            rc = -1;
            break;
        }
        if (t->test) dr_evaluate_part(net, t->test, g, &acc, &test_loss);
        double guide_acc = 0, guide_loss = 0;
        if (t->guide && t->test) dr_evaluate(t->guide->net, t->test, &guide_acc, &guide_loss);
        cfg->epoch = epoch + 1;
        t->last_acc = acc;
        /* with a schedule, the model is the last stage's: only its epochs compete */
        int best = t->test && acc > cfg->best_acc && (!sched.n || stage == sched.n - 1);
        if (best) cfg->best_acc = (float)acc, cfg->best_epoch = epoch + 1;
        double ips = done / DR_MAX(train_s, 1e-9);
        if (!quiet) {
            if (pr.tty) fprintf(stderr, "\r\033[K");
            fprintf(stderr,
                    "epoch %d/%d: train loss %.4f err %.2f%% | test acc %.2f%% loss %.4f | "
                    "%.1f s, %.0f img/s\n",
                    epoch + 1, cfg->epochs, loss_sum / N, 100.0 * wrong / N, 100 * acc,
                    test_loss, train_s, ips);
            if (t->guide)
                fprintf(stderr, "         guide: train loss %.4f, distillation %.4f, hint %.4f | test acc %.2f%%\n",
                        t->guide->partner_loss_sum / N, t->guide->kd_sum / N, t->guide->hint_sum / N,
                        100 * guide_acc);
        }
        fprintf(log,
                "{\"epoch\": %d, \"step\": %llu, \"lr\": %.6g, \"train_loss\": %.6f, "
                "\"train_err\": %.6f, \"test_acc\": %.6f, \"test_loss\": %.6f, "
                "\"images_per_s\": %.1f, \"epoch_seconds\": %.3f, \"time\": %ld",
                epoch + 1, (unsigned long long)cfg->step, lr, loss_sum / N, (double)wrong / N, acc,
                test_loss, ips, train_s, (long)time(NULL));
        if (g) {
            dr_exchange_stats xs = dr_exchange_get_stats(xch);
            fprintf(log, ", \"ranks\": %d, \"exchange_bytes_per_step\": %.0f, \"exchange_wait_ms\": %.3f, \"sync_ms\": %.3f, "
                         "\"exchange_code_ms\": %.3f",
                    g->size, xs.bytes_sent, 1e3 * xs.wait_s, 1e3 * xs.sync_s, 1e3 * xs.code_s);
        }
        if (t->guide)
            fprintf(log, ", \"distill_loss\": %.6f, \"hint_loss\": %.6f, \"guide_train_loss\": %.6f, "
                         "\"guide_test_acc\": %.6f",
                    t->guide->kd_sum / N, t->guide->hint_sum / N, t->guide->partner_loss_sum / N, guide_acc);
        fprintf(log, "}\n");
        if (write && (fflush(log) || fsync(fileno(log)))) {
            rc = dr_fail("%s: write failed: %s", log_path, strerror(errno));
            break;
        }
        if (t->on_progress) {
            dr_train_progress p = {epoch + 1, cfg->epochs, N, N, cfg->step, loss_sum / N, (double)wrong / N,
                                   acc, test_loss, ips, 1};
            if (t->on_progress(t->progress_user, &p)) stopped = 1;
        }
        char stage_file[32] = "";
        if (sched.n && epoch + 1 == dr_schedule_stage_start(&sched, stage) + sched.epochs[stage])
            snprintf(stage_file, sizeof stage_file, "stage%d.ckpt", stage + 1);
        /* last.ckpt last: a run killed before it resumes from the previous one and redoes
         * this epoch, rewriting the others as they were (and its log line: see keep_log_lines) */
        if ((best && save(t, "best.ckpt")) || (stage_file[0] && save(t, stage_file)) || (t->guide && save_guide(t)) ||
            save(t, "last.ckpt") || (write && plot_accuracy(t))) {
            rc = -1;
            break;
        }
    }
    fclose(log);
    free(order);
    free(keep);
    if (xch) t->exchange = dr_exchange_get_stats(xch);
    /* the ranks end together: rank 0's last saves are on disk when any rank returns */
    if (g && !rc && !dr_dist_agree(g, 1)) rc = dr_fail("another rank failed (its message names it)");
    dr_exchange_free(xch);
    net->pass.group = NULL, net->pass.n_global = 0, net->pass.sample0 = 0;
    t->stopped = stopped && cfg->epoch < cfg->epochs;
    return rc;
}
