/* Codes of AC_LANES values (pooled or not): rint(levels min(1, act(m))),
 * ties to even as dr_rint rounds; the product goes through memory first so
 * that no multiply-add contraction can change the rounding. Included once per
 * vector width: AC_LANES 16 (v16: one AVX-512 register, four NEON ones) and,
 * for code compiled for AVX2, 8 (one AVX register: GCC 12 keeps 64-byte
 * vectors in memory and compares them lane by lane in scalar code when the
 * target has no AVX-512). The includer defines AC_LANES, AC_GT and AC_LT
 * (lane-wise float comparisons: -1 or 0), AC_STORE(dst, q) (the low bytes of
 * the int32 lanes q) and AC_NAME(x) (x with the width's suffix). */

typedef float AC_NAME(acf) __attribute__((vector_size(AC_LANES * 4)));
typedef int32_t AC_NAME(aci) __attribute__((vector_size(AC_LANES * 4)));

static inline __attribute__((always_inline)) void AC_NAME(act_codes)(AC_NAME(acf) m, int cabs, float levels,
                                                                     uint8_t *dst)
{
    typedef AC_NAME(acf) vf;
    typedef AC_NAME(aci) vi;
    const vf zero = {0}, one = zero + 1.0f;
    vf v = cabs ? (vf)((vi)m & 0x7fffffff) : (vf)((vi)m & AC_GT(m, zero));
    const vi below = AC_LT(v, one);
    v = (vf)(((vi)v & below) | ((vi)one & ~below));
    vf p = v * levels;
    __asm__("" : "+m"(p));
    p = (p + 12582912.0f) - 12582912.0f;
    const vi q = __builtin_convertvector(p, vi);
    AC_STORE(dst, q);
}
