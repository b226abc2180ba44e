/* A tile's codes from its sums, over vectors of TC_LANES channels; included
 * by int8_conv.c once per vector width (16, and 8 for AVX2: act_codes.h says
 * why), after act_codes.h for the same width. The includer defines TC_LANES,
 * TC_GT and TC_LT (lane-wise int32 comparisons: -1 or 0), TC_LTF (the same
 * for floats) and TC_NAME(x) (x with the width's suffix, as AC_NAME).
 *
 * Per pixel (no pool) or per pooling window (pixels 2h, 2h + 1, 2h + 4,
 * 2h + 5 of window h): the code of the largest v = acc mul + add, or the
 * largest code when the pool comes after the act. v is monotone in acc
 * (rising for mul >= 0, falling for mul < 0), so the largest v is that of
 * the largest or the smallest sum: pooled in integers, one conversion per
 * window. tc: [8][oc_pad] bytes. */

typedef int32_t TC_NAME(tci_u) __attribute__((vector_size(TC_LANES * 4), aligned(4))); /* unaligned loads */

static inline __attribute__((always_inline)) void TC_NAME(tile_codes)(const padded_epilogue *pe, const int32_t *t,
                                                                      int P, int pooled, uint8_t *tc)
{
    typedef TC_NAME(acf) vf;
    typedef TC_NAME(aci) vi;
#define LOADI(p) ((vi)(*(const TC_NAME(tci_u) *)(p)))
#define VALUES(p) (__builtin_convertvector(LOADI(p), vf) * mul + add)
    const dr_int8_epilogue *ep = pe->ep;
    const int cabs = ep->cabs;
    const float lv = ep->levels;
    const vf zero = {0};
    for (int b = 0; b < P; b += TC_LANES) {
        vf mul, add;
        memcpy(&mul, pe->mul + b, sizeof mul);
        memcpy(&add, pe->add + b, sizeof add);
        if (!pooled) {
            for (int j = 0; j < TPIX; j++) TC_NAME(act_codes)(VALUES(t + j * P + b), cabs, lv, tc + j * P + b);
            continue;
        }
        const vi falling = TC_LTF(mul, zero);
        for (int h = 0; h < 2; h++) {
            const int32_t *w = t + 2 * h * P + b;
            uint8_t *dst = tc + h * P + b;
            if (!ep->pool_after_act) {
                vi hi = LOADI(w), lo = hi;
                const int32_t *const more[3] = {w + P, w + 4 * P, w + 5 * P};
                for (int k = 0; k < 3; k++) {
                    const vi a = LOADI(more[k]);
                    const vi above = TC_GT(a, hi), below = TC_LT(a, lo);
                    hi = (a & above) | (hi & ~above);
                    lo = (a & below) | (lo & ~below);
                }
                const vi m = (lo & falling) | (hi & ~falling);
                TC_NAME(act_codes)(VALUES(&m), cabs, lv, dst);
                continue;
            }
            uint8_t c[4][TC_LANES];
            const int32_t *const four[4] = {w, w + P, w + 4 * P, w + 5 * P};
            for (int k = 0; k < 4; k++) TC_NAME(act_codes)(VALUES(four[k]), cabs, lv, c[k]);
            for (int o = 0; o < TC_LANES; o++) {
                const uint8_t m0 = c[0][o] > c[1][o] ? c[0][o] : c[1][o], m1 = c[2][o] > c[3][o] ? c[2][o] : c[3][o];
                dst[o] = m0 > m1 ? m0 : m1;
            }
        }
    }
#undef LOADI
#undef VALUES
}
