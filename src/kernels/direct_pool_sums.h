/* One sample's weight-gradient sums for dr_direct_pool_backward_weight
 * (direct_conv_pool.c), over vectors of PS_LANES floats; included there once
 * per width: 16 (AVX-512's registers) and 8 (AVX2's: GCC 12 keeps 64-byte
 * vectors in memory where the target has no AVX-512, here every multiply-add
 * of the accumulators). The includer defines PS_LANES and PS_NAME(x) (x with
 * the width's suffix).
 *
 * part[o][K + 1] = the weight gradient sums of channel o and, last, its bias
 * gradient. KH kernel rows of L 16-float vectors (L16 of PS_LANES floats),
 * known at compile time in each instance so that the accumulators stay in
 * registers; two sets of them (even and odd p) where they fit AVX-512's
 * registers, to hide the multiply-add latency. Either width makes the same
 * multiply-adds in the same order for every weight, so the sums are the same. */

typedef float PS_NAME(psv) __attribute__((vector_size(PS_LANES * 4)));
typedef float PS_NAME(psvu) __attribute__((vector_size(PS_LANES * 4), aligned(4))); /* unaligned loads */

__attribute__((always_inline)) static inline void PS_NAME(sample_sums)(const dr_conv_geom *g, const dr_conv_geom *pool,
                                                                       const int KH, const int L16, const float *frame,
                                                                       int fw, const float *gt, const int32_t *wt,
                                                                       float *part)
{
    typedef PS_NAME(psv) vf;
    typedef PS_NAME(psvu) vfu;
    enum { W = PS_LANES, MAXACC = 2 * MAXV * 16 / PS_LANES };
    const int L = L16 * 16 / W;
    const int oc = g->oc, PP = pool->oh * pool->ow, span = g->kw * g->ic, K = dr_conv_k(g);
    const int V = KH * L, two = 2 * KH * L16 <= 12; /* two sets fit the 32 vector registers with room */
    const size_t fwic = (size_t)fw * g->ic;
    for (int o = 0; o < oc; o++, gt += PP, wt += PP) {
        vf acc[MAXACC] = {{0}};
        float bsum = 0;
        int p = 0;
        if (two)
            for (; p + 1 < PP; p += 2) {
                const float g0 = gt[p], g1 = gt[p + 1];
                const float *r0 = frame + wt[p], *r1 = frame + wt[p + 1];
                for (int ky = 0; ky < KH; ky++, r0 += fwic, r1 += fwic)
                    for (int l = 0; l < L; l++) {
                        acc[ky * L + l] += g0 * *(const vfu *)(r0 + W * l);
                        acc[V + ky * L + l] += g1 * *(const vfu *)(r1 + W * l);
                    }
                bsum += g0 + g1;
            }
        for (; p < PP; p++) {
            const float *r = frame + wt[p];
            for (int ky = 0; ky < KH; ky++, r += fwic)
                for (int l = 0; l < L; l++) acc[ky * L + l] += gt[p] * *(const vfu *)(r + W * l);
            bsum += gt[p];
        }
        if (two)
            for (int v = 0; v < V; v++) acc[v] += acc[V + v];
        float *po = part + (size_t)o * (K + 1);
        for (int ky = 0; ky < KH; ky++)
            for (int t = 0; t < span; t++) po[ky * span + t] = acc[ky * L + t / W][t % W];
        po[K] = bsum;
    }
}
