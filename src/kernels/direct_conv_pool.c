/* A first layer's direct convolution fused with the 2x2 max-pool after it.
 *
 * Forward: two pooling windows (2 conv rows x 4 conv columns = PIX pixels)
 * at a time, the same sums as dr_direct_conv, then only the pooled values
 * leave the registers: as activated, quantized codes for the inference
 * engine, or as floats with the winning pixel of each window for training
 * (the four sums of a window go through memory to a scalar scan: GCC made
 * the vector compare-and-select of the winner scalar in the AVX-512 clone).
 *
 * Backward-weight: only a window's winning pixel receives a gradient, so the
 * weight gradient is a sum over pooled outputs, a quarter of the conv's
 * pixels: dw[o][k] += sum_{s,p} dpool[s][p][o] x window(s, winner(p, o))[k].
 * One output channel at a time keeps its kh kernel rows in vector registers
 * while the pooled outputs stream past (a row of kw ic floats is read as
 * whole vectors from the sample's NHWC input; the lanes past it are left
 * out of the result). Each sample's sums are made on their own and the
 * samples added in order, as in dr_direct_backward_weight. */
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "direct_conv.h"
#include "direct_conv_impl.h"
#include "max4.h"

int dr_direct_pool_suits(const dr_conv_geom *g, const dr_conv_geom *pool)
{
    return pool->kh == 2 && pool->kw == 2 && pool->sh == 2 && pool->sw == 2 && pool->pad_top == 0 &&
           pool->pad_left == 0 && 2 * pool->oh <= g->oh && 2 * pool->ow <= g->ow && g->oc <= DR_DIRECT_MAX_OC;
}

/* Points src[j] at the windows of the tile's PIX pixels: pooled row py,
 * pooled columns px and px + 1 (when `two`; else window 0 repeated). */
static inline void tile_windows(const dr_conv_geom *g, const float *in, const size_t off[PIX], int s, int py, int px,
                                int two, const float *src[PIX][DR_DIRECT_MAX_KH], float edge[PIX][DR_DIRECT_MAX_K])
{
    const int y0 = 2 * py * g->sh - g->pad_top, x0 = 2 * px * g->sw - g->pad_left;
    if (two && y0 >= 0 && x0 >= 0 && y0 + g->sh + g->kh <= g->ih && x0 + 3 * g->sw + g->kw <= g->iw) {
        /* every window inside the input: plain offsets from the tile's corner */
        const float *corner = in + (((size_t)s * g->ih + y0) * g->iw + x0) * g->ic;
        for (int j = 0; j < PIX; j++)
            for (int ky = 0; ky < g->kh; ky++) src[j][ky] = corner + off[j] + (size_t)ky * g->iw * g->ic;
        return;
    }
    for (int j = 0; j < PIX; j++) {
        const int col = j % 4 < 2 || two ? 2 * px + j % 4 : 2 * px + j % 2;
        window_rows(g, in, s, 2 * py + j / 4, col, 1, src[j], edge[j]);
    }
}

/* The sums of NB blocks of 16 channels for the tile's PIX pixels, handed to
 * EPILOGUE(a, b, blk) for each block b (channel block blk). */
#define POOL_TILE(NB, EPILOGUE)                                                                         \
    do {                                                                                                \
        v16 a[PIX][NB];                                                                                 \
        for (int b = 0; b < NB; b++) {                                                                  \
            v16 b0;                                                                                     \
            bias_block(bias, b0blk + b, oc, (float *)&b0);                                              \
            for (int j = 0; j < PIX; j++) a[j][b] = b0;                                                 \
        }                                                                                               \
        const float *w = wt + b0blk * 16;                                                               \
        for (int ky = 0; ky < g->kh; ky++)                                                              \
            for (int t = 0; t < span; t++, w += oc_pad) {                                               \
                const v16u *wk = (const v16u *)w;                                                       \
                for (int j = 0; j < PIX; j++) {                                                         \
                    const float x = src[j][ky][t];                                                      \
                    for (int b = 0; b < NB; b++) a[j][b] += x * wk[b];                                  \
                }                                                                                       \
            }                                                                                           \
        for (int b = 0; b < NB; b++) EPILOGUE(a, b, b0blk + b);                                         \
    } while (0)

/* One block of 16 channels by block_sums_halves (AVX), then EPILOGUE as POOL_TILE's. */
#define POOL_TILE_HALVES(EPILOGUE)                                                                      \
    do {                                                                                                \
        v16 a[PIX][1], b0;                                                                              \
        bias_block(bias, b0blk, oc, (float *)&b0);                                                      \
        block_sums_halves(g, src, wt + b0blk * 16, oc_pad, b0, a);                                      \
        EPILOGUE(a, 0, b0blk);                                                                          \
    } while (0)

/* Window h of the tile is pixels 2h, 2h+1 (top row), 2h+4, 2h+5 (bottom). */
#define CODES_EPILOGUE(a, b, blk)                                                                       \
    for (int h = 0; h < 2; h++) {                                                                       \
        const int j = 2 * h;                                                                            \
        v16 m = a[j][b];                                                                                \
        v16i c;                                                                                         \
        c = dr_vgtf(a[j + 1][b], m); m = (v16)(((v16i)a[j + 1][b] & c) | ((v16i)m & ~c));                       \
        c = dr_vgtf(a[j + 4][b], m); m = (v16)(((v16i)a[j + 4][b] & c) | ((v16i)m & ~c));                       \
        c = dr_vgtf(a[j + 5][b], m); m = (v16)(((v16i)a[j + 5][b] & c) | ((v16i)m & ~c));                       \
        act_codes16(m, cabs, levels, tc[h] + (blk) * 16);                                               \
    }
/* The same for one block by halves of 8 channels (AVX2: GCC 12 compares
 * 16-float vectors lane by lane in scalar code where the target has no AVX-512). */
#if defined(__x86_64__)
#define CODES_EPILOGUE_HALVES(a, b, blk)                                                                \
    for (int h = 0; h < 2; h++)                                                                         \
        for (int q = 0; q < 2; q++) {                                                                   \
            const int j = 2 * h;                                                                        \
            v8 m, x;                                                                                    \
            dr_v8i c;                                                                                   \
            memcpy(&m, (const float *)&a[j][b] + 8 * q, sizeof m);                                      \
            memcpy(&x, (const float *)&a[j + 1][b] + 8 * q, sizeof x), c = x > m;                        \
            m = (v8)(((dr_v8i)x & c) | ((dr_v8i)m & ~c));                                               \
            memcpy(&x, (const float *)&a[j + 4][b] + 8 * q, sizeof x), c = x > m;                        \
            m = (v8)(((dr_v8i)x & c) | ((dr_v8i)m & ~c));                                               \
            memcpy(&x, (const float *)&a[j + 5][b] + 8 * q, sizeof x), c = x > m;                        \
            m = (v8)(((dr_v8i)x & c) | ((dr_v8i)m & ~c));                                               \
            act_codes8(m, cabs, levels, tc[h] + (blk) * 16 + 8 * q);                                    \
        }
#else
#define CODES_EPILOGUE_HALVES CODES_EPILOGUE
#endif
/* The four sums of each window, for dr_max4. */
#define SUMS_EPILOGUE(a, b, blk)                                                                        \
    for (int h = 0; h < 2; h++)                                                                         \
        for (int i = 0; i < 4; i++) memcpy(four[h][i] + (blk) * 16, &a[2 * h + i % 2 + i / 2 * 4][b], sizeof(v16));

/* The tiles: pooled row py, column pairs; TILE_BLOCKS(STORE, STORE_HALVES) runs
 * the blocks of one tile with STORE (STORE_HALVES after block_sums_halves). */
#define TILE_SETUP                                                                                      \
    const int oc = g->oc, oc_pad = (oc + 15) / 16 * 16, nb = oc_pad / 16, span = g->kw * g->ic;         \
    const int ph = pool->oh, pw = pool->ow, pairs = (pw + 1) / 2, wide = dr_wide_vectors();             \
    size_t off[PIX]; /* pixel j of a tile: its window's offset from the tile's corner */               \
    for (int j = 0; j < PIX; j++) off[j] = ((size_t)(j / 4) * g->sh * g->iw + (size_t)(j % 4) * g->sw) * g->ic
#define TILE_BEGIN                                                                                      \
    const int s = tile / (ph * pairs), py = tile / pairs % ph, px = tile % pairs * 2;                   \
    const int two = px + 1 < pw; /* the second window exists */                                         \
    const float *src[PIX][DR_DIRECT_MAX_KH];                                                            \
    float edge[PIX][DR_DIRECT_MAX_K];                                                                   \
    tile_windows(g, in, off, s, py, px, two, src, edge)
#define TILE_BLOCKS(STORE, STORE_HALVES)                                                                \
    do {                                                                                                \
        int b0blk = 0;                                                                                  \
        if (wide) { /* 3 x 8 accumulators fill AVX-512's 32 registers */                               \
            for (; b0blk + 3 <= nb; b0blk += 3) POOL_TILE(3, STORE);                                    \
            for (; b0blk < nb; b0blk++) POOL_TILE(1, STORE);                                            \
        } else                                                                                          \
            for (; b0blk < nb; b0blk++) POOL_TILE_HALVES(STORE_HALVES);                                 \
    } while (0)

DR_FMA_CLONES void dr_direct_conv_pool_codes(const dr_conv_geom *g, const dr_conv_geom *pool, int n, const float *in,
                                              const float *wt, const float *bias, int cabs, float levels,
                                              uint8_t *codes)
{
    TILE_SETUP;
#pragma omp parallel for schedule(dynamic, 64) /* a core slowed by other work takes fewer tiles */
    for (int tile = 0; tile < n * ph * pairs; tile++) {
        TILE_BEGIN;
        uint8_t tc[2][DR_DIRECT_MAX_OC + 16]; /* the tile's codes */
        TILE_BLOCKS(CODES_EPILOGUE, CODES_EPILOGUE_HALVES);
        for (int h = 0; h < 1 + two; h++) memcpy(codes + (((size_t)s * ph + py) * pw + px + h) * oc, tc[h], (size_t)oc);
    }
}

DR_FMA_CLONES void dr_direct_conv_pool(const dr_conv_geom *g, const dr_conv_geom *pool, int n, const float *in,
                                        const float *wt, const float *bias, float *out, int32_t *argmax)
{
    TILE_SETUP;
    const int32_t row = g->ow * oc; /* one conv row of the sample's output */
#pragma omp parallel for schedule(dynamic, 64)
    for (int tile = 0; tile < n * ph * pairs; tile++) {
        TILE_BEGIN;
        float four[2][4][DR_DIRECT_MAX_OC + 16]; /* per window: top left, top right, bottom left, bottom right */
        TILE_BLOCKS(SUMS_EPILOGUE, SUMS_EPILOGUE);
        for (int h = 0; h < 1 + two; h++) {
            const size_t r = (((size_t)s * ph + py) * pw + px + h) * oc;
            const int32_t base = (2 * py * g->ow + 2 * (px + h)) * oc;
            const float *const v[4] = {four[h][0], four[h][1], four[h][2], four[h][3]};
            const int32_t at[4] = {base, base + oc, base + row, base + row + oc};
            dr_max4(v, at, oc, out + r, argmax + r);
        }
    }
}

/* ---- backward-weight over the pooled outputs -------------------------------- */

#define MAXV 16 /* vector accumulators: kh kernel rows of L vectors each */

static inline int row_vectors(const dr_conv_geom *g) { return (g->kw * g->ic + 15) / 16; }

/* The frame a sample's windows are read from: the input itself when no
 * window reaches past it, else a zero-padded copy; `slack` floats after its
 * end may be read (vectors past a row's last window). */
typedef struct {
    int direct, fh, fw, slack;
} frame_geom;

static frame_geom frame_of(const dr_conv_geom *g)
{
    frame_geom f = {0};
    const int fh = (g->oh - 1) * g->sh + g->kh, fw = (g->ow - 1) * g->sw + g->kw;
    f.direct = !g->pad_top && !g->pad_left && fh <= g->ih && fw <= g->iw;
    f.fh = f.direct ? g->ih : fh;
    f.fw = f.direct ? g->iw : fw;
    f.slack = 16 * row_vectors(g);
    return f;
}

int dr_direct_pool_backward_suits(const dr_conv_geom *g)
{
    const int L = row_vectors(g);
    return L <= 4 && g->kh * L <= MAXV; /* the instances below */
}

/* Per thread: the frame and, per channel, the pooled gradients and their
 * windows' offsets in the frame. */
static size_t thread_floats(const dr_conv_geom *g, const dr_conv_geom *pool)
{
    const frame_geom f = frame_of(g);
    return (size_t)f.fh * f.fw * g->ic + f.slack + 2 * (size_t)g->oc * pool->oh * pool->ow;
}

size_t dr_direct_pool_backward_weight_scratch(const dr_conv_geom *g, const dr_conv_geom *pool, int n)
{
    return (size_t)n * g->oc * (dr_conv_k(g) + 1) + (size_t)omp_get_max_threads() * thread_floats(g, pool);
}

/* Sample s's frame: a pointer into the input, or `buf` filled. */
static const float *sample_frame(const dr_conv_geom *g, const frame_geom *f, const float *in, int s, int n, float *buf)
{
    const size_t size = (size_t)g->ih * g->iw * g->ic;
    const float *x = in + (size_t)s * size;
    if (f->direct) {
        /* the last vector of the last window may run past the sample: only
         * the batch's last sample needs a copy with room after it */
        if (s < n - 1) return x;
        memcpy(buf, x, size * sizeof(float));
        memset(buf + size, 0, (size_t)f->slack * sizeof(float));
        return buf;
    }
    for (int y = 0; y < f->fh; y++)
        for (int xx = 0; xx < f->fw; xx++) {
            const int iy = y - g->pad_top, ix = xx - g->pad_left;
            float *d = buf + ((size_t)y * f->fw + xx) * g->ic;
            if (iy >= 0 && iy < g->ih && ix >= 0 && ix < g->iw)
                memcpy(d, x + ((size_t)iy * g->iw + ix) * g->ic, sizeof(float) * g->ic);
            else
                memset(d, 0, sizeof(float) * g->ic);
        }
    memset(buf + (size_t)f->fh * f->fw * g->ic, 0, (size_t)f->slack * sizeof(float));
    return buf;
}

/* One sample's pooled gradient by channel: gt[o][p] = dpool[p][o] and
 * wt[o][p] = where the window of p's winner for channel o starts in the frame. */
static inline void by_channel(const dr_conv_geom *g, const dr_conv_geom *pool, int fw, const float *dp,
                              const int32_t *am, const int32_t *base, const int32_t *woff, float *gt, int32_t *wt)
{
    const int oc = g->oc, PP = pool->oh * pool->ow;
    const int32_t row = g->ow * oc, rowstep = g->sh * fw * g->ic, colstep = g->sw * g->ic;
    for (int p = 0; p < PP; p++)
        for (int o = 0; o < oc; o++) {
            const int32_t at = am[(size_t)p * oc + o] - base[p] - o; /* 0, oc, row or row + oc */
            const int dy = at >= row, dx = at != (dy ? row : 0);
            wt[(size_t)o * PP + p] = woff[p] + (dy ? rowstep : 0) + (dx ? colstep : 0);
            gt[(size_t)o * PP + p] = dp[(size_t)p * oc + o];
        }
}

#define PS_LANES 16
#define PS_NAME(x) x##16
#include "direct_pool_sums.h"
#undef PS_LANES
#undef PS_NAME
#define PS_LANES 8
#define PS_NAME(x) x##8
#include "direct_pool_sums.h"
#undef PS_LANES
#undef PS_NAME

DR_FMA_CLONES void dr_direct_pool_backward_weight(const dr_conv_geom *g, const dr_conv_geom *pool, int n,
                                                   const float *dpool, const int32_t *argmax, const float *in,
                                                   float *dw, float *db, float *scratch)
{
    const int oc = g->oc, K = dr_conv_k(g), PP = pool->oh * pool->ow, L = row_vectors(g);
    const int wide = dr_wide_vectors(); /* else AVX's 16 registers: vectors of 8 */
    const frame_geom f = frame_of(g);
    const size_t fsize = (size_t)f.fh * f.fw * g->ic + f.slack, per_thread = thread_floats(g, pool);
    float *part = scratch, *frames = scratch + (size_t)n * oc * (K + 1);
    /* per pooled output p: its window's top-left conv pixel, as an offset in
     * the sample's conv output (base) and of its input window in the frame */
    int32_t *base = dr_xmalloc(sizeof(int32_t) * 2 * (size_t)PP), *woff = base + PP;
    for (int p = 0; p < PP; p++) {
        const int y = 2 * (p / pool->ow), x = 2 * (p % pool->ow);
        base[p] = (y * g->ow + x) * oc;
        woff[p] = (y * g->sh * f.fw + x * g->sw) * g->ic;
    }
#pragma omp parallel
    {
        float *buf = frames + (size_t)omp_get_thread_num() * per_thread, *gt = buf + fsize;
        int32_t *wt = (int32_t *)(gt + (size_t)oc * PP);
#pragma omp for schedule(dynamic)
        for (int s = 0; s < n; s++) {
            const float *frame = sample_frame(g, &f, in, s, n, buf);
            const float *dp = dpool + (size_t)s * PP * oc;
            const int32_t *am = argmax + (size_t)s * PP * oc;
            float *ps = part + (size_t)s * oc * (K + 1);
            by_channel(g, pool, f.fw, dp, am, base, woff, gt, wt);
            switch (L * 100 + g->kh) { /* one instance per shape of the accumulators */
#define CASE(l, kh)                                                                                     \
    case l * 100 + kh:                                                                                  \
        if (wide) sample_sums16(g, pool, kh, l, frame, f.fw, gt, wt, ps);                               \
        else sample_sums8(g, pool, kh, l, frame, f.fw, gt, wt, ps);                                     \
        break;
                CASE(1, 1) CASE(1, 2) CASE(1, 3) CASE(1, 4) CASE(1, 5) CASE(1, 6) CASE(1, 7) CASE(1, 8)
                CASE(1, 9) CASE(1, 10) CASE(1, 11) CASE(1, 12) CASE(1, 13) CASE(1, 14) CASE(1, 15) CASE(1, 16)
                CASE(2, 1) CASE(2, 2) CASE(2, 3) CASE(2, 4) CASE(2, 5) CASE(2, 6) CASE(2, 7) CASE(2, 8)
                CASE(3, 1) CASE(3, 2) CASE(3, 3) CASE(3, 4) CASE(3, 5)
                CASE(4, 1) CASE(4, 2) CASE(4, 3) CASE(4, 4)
#undef CASE
            }
        }
    }
    free(base);
#pragma omp parallel for schedule(static)
    for (int o = 0; o < oc; o++)
        for (int k = 0; k <= K; k++) {
            float acc = 0;
            for (int s = 0; s < n; s++) acc += part[((size_t)s * oc + o) * (K + 1) + k];
            if (k < K)
                dw[(size_t)o * K + k] += acc;
            else if (db)
                db[o] += acc;
        }
}
