/* 16-lane vectors (GCC vector extensions) and their lane-wise comparisons,
 * for the loops written once for every target: 16 floats or int32 are one
 * AVX-512 register, two AVX ones, four NEON ones.
 *
 * The comparisons return all-ones (-1) where true, 0 where false, as the
 * extension's operators do. GCC 12 compiles a comparison of vectors wider
 * than the target's widest (NEON: 128 bits) lane by lane in scalar code
 * (cmp + csetm per lane); on aarch64 these split the vectors into 128-bit
 * quarters, which compile to cmge/cmgt/fcmgt. Elsewhere they are the
 * operators themselves. dr_vbytes narrows 16 lanes to bytes likewise. */
#ifndef DR_VEC16_H
#define DR_VEC16_H

#include <stdint.h>

typedef float v16 __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef uint8_t v16b __attribute__((vector_size(16)));
/* 8 lanes, one AVX2 register: for loops compiled for AVX2 without AVX-512,
 * where GCC 12 keeps 64-byte vectors in memory and compares them lane by
 * lane in scalar code (setcc), as it does on aarch64. */
typedef int32_t dr_v8i __attribute__((vector_size(32)));
typedef uint8_t dr_v32b __attribute__((vector_size(32)));
typedef uint8_t dr_v8b __attribute__((vector_size(8)));
/* 8 x 64-bit words, one AVX-512 register: bulk random draws (rng.h), bit transposes. */
typedef uint64_t dr_v8u64 __attribute__((vector_size(64)));

#if defined(__aarch64__)
#include <arm_neon.h>
typedef float dr_v4f __attribute__((vector_size(16)));
typedef int32_t dr_v4i __attribute__((vector_size(16)));
#define DR_VCMP16(name, type, quarter, op)                                                             \
    static inline __attribute__((always_inline)) v16i name(type a, type b)                             \
    {                                                                                                  \
        union { type w; quarter q[4]; } x = {a}, y = {b};                                              \
        union { v16i w; dr_v4i q[4]; } r;                                                              \
        for (int i = 0; i < 4; i++) r.q[i] = x.q[i] op y.q[i];                                         \
        return r.w;                                                                                    \
    }
#else
#define DR_VCMP16(name, type, quarter, op)                                                             \
    static inline __attribute__((always_inline)) v16i name(type a, type b) { return a op b; }
#endif

/* Vector arguments and returns change no ABI here: the helpers are always
 * inlined (the warning comes at each use, so it stays off for the includer). */
#pragma GCC diagnostic ignored "-Wpsabi"
DR_VCMP16(dr_vgt, v16i, dr_v4i, >)
DR_VCMP16(dr_vge, v16i, dr_v4i, >=)
DR_VCMP16(dr_vlt, v16i, dr_v4i, <)
DR_VCMP16(dr_vle, v16i, dr_v4i, <=)
DR_VCMP16(dr_vgtf, v16, dr_v4f, >)
DR_VCMP16(dr_vltf, v16, dr_v4f, <)
#undef DR_VCMP16

/* The low bytes of the 16 lanes (values 0..255). On aarch64 two narrowing
 * steps (xtn), where GCC 12 would move the bytes one by one. */
static inline __attribute__((always_inline)) v16b dr_vbytes(v16i a)
{
#if defined(__aarch64__)
    union { v16i w; int32x4_t q[4]; } x = {a};
    const int16x8_t lo = vcombine_s16(vmovn_s32(x.q[0]), vmovn_s32(x.q[1]));
    const int16x8_t hi = vcombine_s16(vmovn_s32(x.q[2]), vmovn_s32(x.q[3]));
    union { int8x16_t q; v16b b; } r = {vcombine_s8(vmovn_s16(lo), vmovn_s16(hi))};
    return r.b;
#else
    return __builtin_convertvector(a, v16b);
#endif
}

/* The low bytes of 8 lanes (values 0..255), for the AVX2 loops: one byte
 * shuffle (vpshufb + vpermq), where the conversion goes lane by lane. */
static inline __attribute__((always_inline)) dr_v8b dr_vbytes8(dr_v8i a)
{
    const dr_v32b w = (dr_v32b)a;
    return __builtin_shufflevector(w, w, 0, 4, 8, 12, 16, 20, 24, 28);
}

#endif
