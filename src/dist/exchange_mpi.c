/* The gradient exchange: the ranks' parameter gradients summed in buckets
 * while the backward pass runs.
 *
 * A bucket is a span of the gradient arena (whole layers, last layers first),
 * split into one part per rank. Phase 1 (an all-to-all) sends part d of
 * every rank's bucket to rank d; rank d adds the size parts in rank order;
 * phase 2 (an all-gather) returns the summed parts to every rank. That moves
 * 2 (N-1)/N of the bucket per rank, as a ring all-reduce, and the order of
 * the additions is fixed by the ranks, never by message timing. The two
 * phases use communicators of their own, posted in bucket order on every
 * rank: MPI matches collectives by their order.
 *
 * With bits K in 1..8 both phases carry K-bit codes with one scale per part
 * (Q_K of the spec, section 6) and error feedback: what a rank's codes miss
 * of its gradient is added to the next step's (and likewise what the owner's
 * codes of the sum miss of it), as 1-bit SGD. */
#ifdef DOREFA_HAVE_MPI
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "mpi_impl.h"

typedef struct {
    size_t lo, len;   /* span of the arena, in floats           */
    int ready_layer;  /* complete once this layer's backward ran */
    int state;        /* 0 idle, 1 phase 1 posted, 2 phase 2 posted, 3 done */
    MPI_Request req;
    int *scount, *sdispl, *rcount, *rdispl; /* per rank, in the unit of the phase */
    uint8_t *send, *recv;                   /* phase buffers                     */
} bucket;

struct dr_exchange {
    dr_mpi *m;
    dr_net *net;
    int bits, overlap, n, next_gather; /* buckets are gathered in order */
    bucket *b;
    float *resid_send, *resid_sum; /* error feedback (bits > 0): the rank's, the part owner's */
    double bytes, wait_s, code_s, steps, sum_s0; /* sum_s0: the group's small-sum time when the exchange began */
};


/* K-bit codes of a part: a float scale, then the codes packed LSB first. */
static size_t coded_bytes(size_t count, int bits) { return sizeof(float) + (count * (size_t)bits + 7) / 8; }

/* Codes of v + resid (updating resid to what they miss) into out. */
static void encode(const float *v, float *resid, size_t count, int bits, uint8_t *out)
{
    /* K >= 2: the grid of Q_K over [-s, s], s = max |x|. K = 1: +-s with s
     * the mean |x| (the scaled sign of 1-bit SGD): +-max would make every
     * small component as large as the largest, and the residual would grow
     * instead of shrinking (the error of +-mean is below |x| on the whole). */
    float s = 0;
    double total = 0;
    for (size_t i = 0; i < count; i++) {
        float a = fabsf(v[i] + resid[i]);
        s = a > s ? a : s;
        total += a;
    }
    if (bits == 1 && count) s = (float)(total / (double)count);
    if (!(s >= FLT_MIN)) s = 0;
    memcpy(out, &s, sizeof s);
    uint8_t *codes = out + sizeof s;
    memset(codes, 0, (count * (size_t)bits + 7) / 8);
    const float levels = (float)((1 << bits) - 1);
    for (size_t i = 0; i < count; i++) {
        const float x = v[i] + resid[i];
        unsigned c = 0;
        float deq = 0;
        if (s > 0) {
            float u = nearbyintf(levels * (x / (2 * s) + 0.5f));
            u = u < 0 ? 0 : u > levels ? levels : u;
            c = (unsigned)u;
            deq = 2 * s * (u / levels - 0.5f);
        }
        resid[i] = x - deq;
        const size_t bit = i * (size_t)bits;
        codes[bit / 8] |= (uint8_t)(c << (bit % 8));
        if (bit % 8 + (size_t)bits > 8) codes[bit / 8 + 1] |= (uint8_t)(c >> (8 - bit % 8));
    }
}

/* out[i] (+)= the values of the codes. */
static void decode(const uint8_t *in, size_t count, int bits, float *out, int add)
{
    float s;
    memcpy(&s, in, sizeof s);
    const uint8_t *codes = in + sizeof s;
    const float levels = (float)((1 << bits) - 1);
    const unsigned mask = (1u << bits) - 1;
    for (size_t i = 0; i < count; i++) {
        const size_t bit = i * (size_t)bits;
        unsigned c = codes[bit / 8] >> (bit % 8);
        if (bit % 8 + (size_t)bits > 8) c |= (unsigned)codes[bit / 8 + 1] << (8 - bit % 8);
        c &= mask;
        const float v = s > 0 ? 2 * s * ((float)c / levels - 0.5f) : 0.0f;
        out[i] = add ? out[i] + v : v;
    }
}

dr_exchange *dr_exchange_create(dr_group *g, dr_net *net, int bits, size_t bucket_bytes, int overlap)
{
    dr_exchange *x = dr_xcalloc(1, sizeof *x);
    x->m = dr_mpi_of(g);
    x->sum_s0 = x->m->sum_s;
    x->net = net;
    x->bits = bits;
    x->overlap = overlap;
    const int N = g->size;
    x->b = dr_xcalloc((size_t)net->n_layers + 1, sizeof(bucket));
    size_t hi = net->params_size, target = DR_MAX(bucket_bytes / sizeof(float), 1);
    for (int i = net->n_layers - 1; i >= 0; i--) { /* last layers first: they are ready first */
        const dr_layer *l = &net->layers[i];
        if (!l->n_params) continue;
        size_t lo = l->params[0].offset;
        int last = 1; /* does any earlier layer have parameters? */
        for (int j = i - 1; j >= 0 && last; j--) last = net->layers[j].n_params == 0;
        if (last) lo = 0;
        if (hi - lo < target && !last) continue;
        x->b[x->n++] = (bucket){.lo = lo, .len = hi - lo, .ready_layer = i};
        hi = lo;
    }
    for (int k = 0; k < x->n; k++) {
        bucket *b = &x->b[k];
        b->scount = dr_xcalloc(4 * (size_t)N, sizeof(int));
        b->sdispl = b->scount + N, b->rcount = b->sdispl + N, b->rdispl = b->rcount + N;
        const size_t mine = dr_part_start(b->len, g->rank + 1, N) - dr_part_start(b->len, g->rank, N);
        size_t so = 0, ro = 0;
        for (int d = 0; d < N; d++) {
            const size_t part = dr_part_start(b->len, d + 1, N) - dr_part_start(b->len, d, N);
            const size_t su = bits ? coded_bytes(part, bits) : part * sizeof(float);
            const size_t ru = bits ? coded_bytes(mine, bits) : mine * sizeof(float);
            b->scount[d] = (int)su, b->sdispl[d] = (int)so, so += su;
            b->rcount[d] = (int)ru, b->rdispl[d] = (int)ro, ro += ru;
            if (d != g->rank) x->bytes += (double)su + (double)(bits ? coded_bytes(mine, bits) : mine * sizeof(float));
        }
        b->send = dr_xalign(DR_MAX(so, ro)); /* phase 2 reuses it for the gathered codes */
        b->recv = dr_xalign(ro);
    }
    if (bits) {
        x->resid_send = dr_xcalloc(net->params_size + 1, sizeof(float));
        x->resid_sum = dr_xcalloc(net->params_size + 1, sizeof(float));
    }
    return x;
}

static void post_scatter(dr_exchange *x, bucket *b)
{
    const int N = x->m->group.size;
    float *g = x->net->grads + b->lo;
    if (x->bits) {
        const double t0 = MPI_Wtime();
        for (int d = 0; d < N; d++) {
            const size_t a = dr_part_start(b->len, d, N), e = dr_part_start(b->len, d + 1, N);
            encode(g + a, x->resid_send + b->lo + a, e - a, x->bits, b->send + b->sdispl[d]);
        }
        x->code_s += MPI_Wtime() - t0;
    } else
        memcpy(b->send, g, b->len * sizeof(float));
    MPI_Ialltoallv(b->send, b->scount, b->sdispl, MPI_BYTE, b->recv, b->rcount, b->rdispl, MPI_BYTE,
                   x->m->scatter, &b->req);
    b->state = 1;
}

/* Phase 1 done: sum this rank's part in rank order, send it to all. */
static void post_gather(dr_exchange *x, bucket *b)
{
    const int N = x->m->group.size, r = x->m->group.rank;
    const size_t a = dr_part_start(b->len, r, N), count = dr_part_start(b->len, r + 1, N) - a;
    float *sum = x->net->grads + b->lo + a;
    if (x->bits) {
        const double t0 = MPI_Wtime();
        for (int s = 0; s < N; s++) decode(b->recv + b->rdispl[s], count, x->bits, sum, s > 0);
        encode(sum, x->resid_sum + b->lo + a, count, x->bits, b->send + b->sdispl[r]);
        x->code_s += MPI_Wtime() - t0;
        MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_BYTE, b->send, b->scount, b->sdispl, MPI_BYTE, x->m->gather, &b->req);
    } else {
        const float *in = (const float *)b->recv;
        for (size_t i = 0; i < count; i++) {
            float s = in[i];
            for (int k = 1; k < N; k++) s += in[(size_t)k * count + i];
            sum[i] = s;
        }
        MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_BYTE, x->net->grads + b->lo, b->scount, b->sdispl, MPI_BYTE,
                        x->m->gather, &b->req);
    }
    b->state = 2;
}

static void gathered(dr_exchange *x, bucket *b)
{
    const int N = x->m->group.size;
    if (x->bits) {
        const double t0 = MPI_Wtime();
        for (int d = 0; d < N; d++) {
            const size_t a = dr_part_start(b->len, d, N), e = dr_part_start(b->len, d + 1, N);
            decode(b->send + b->sdispl[d], e - a, x->bits, x->net->grads + b->lo + a, 0);
        }
        x->code_s += MPI_Wtime() - t0;
    }
    b->state = 3;
}

/* Moves every bucket on as far as its messages allow, without waiting. */
static void progress(dr_exchange *x)
{
    for (int k = 0; k < x->n; k++) {
        bucket *b = &x->b[k];
        int done = 0;
        if (b->state == 1 && k == x->next_gather) {
            MPI_Test(&b->req, &done, MPI_STATUS_IGNORE);
            if (done) post_gather(x, b), x->next_gather++;
        } else if (b->state == 2) {
            MPI_Test(&b->req, &done, MPI_STATUS_IGNORE);
            if (done) gathered(x, b);
        }
    }
}

void dr_exchange_grads_ready(dr_group *g, int layer)
{
    dr_exchange *x = dr_mpi_of(g)->exchange;
    if (!x || !x->overlap) return;
    for (int k = 0; k < x->n; k++)
        if (x->b[k].ready_layer == layer && x->b[k].state == 0) post_scatter(x, &x->b[k]);
    progress(x);
}

void dr_exchange_begin(dr_exchange *x)
{
    for (int k = 0; k < x->n; k++) x->b[k].state = 0;
    x->next_gather = 0;
    x->m->exchange = x;
}

void dr_exchange_finish(dr_exchange *x)
{
    double t0 = MPI_Wtime();
    for (int k = 0; k < x->n; k++)
        if (x->b[k].state == 0) post_scatter(x, &x->b[k]);
    for (int k = 0; k < x->n; k++) {
        bucket *b = &x->b[k];
        if (b->state == 1) {
            dr_mpi_wait(x->m, &b->req, 1, "exchanging gradients");
            post_gather(x, b);
            x->next_gather = k + 1;
        }
        if (b->state == 2) {
            dr_mpi_wait(x->m, &b->req, 1, "exchanging gradients");
            gathered(x, b);
        }
    }
    x->m->exchange = NULL;
    x->wait_s += MPI_Wtime() - t0;
    x->steps++;
}

dr_exchange_stats dr_exchange_get_stats(const dr_exchange *x)
{
    return (dr_exchange_stats){.bytes_sent = x->bytes, .wait_s = x->steps ? x->wait_s / x->steps : 0,
                               .sync_s = x->steps ? (x->m->sum_s - x->sum_s0) / x->steps : 0,
                               .code_s = x->steps ? x->code_s / x->steps : 0,
                               .steps = x->steps, .buckets = x->n};
}

void dr_exchange_free(dr_exchange *x)
{
    if (!x) return;
    for (int k = 0; k < x->n; k++) {
        free(x->b[k].scount);
        free(x->b[k].send);
        free(x->b[k].recv);
    }
    free(x->b);
    free(x->resid_send);
    free(x->resid_sum);
    free(x);
}
#endif
