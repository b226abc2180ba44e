/* The scan of a 2x2 max-pooling window that the max-pool layer and the
 * first layer's fused conv + max-pool share, so that both pick the same winner. */
#ifndef DR_MAX4_H
#define DR_MAX4_H

#include <stdint.h>

/* For c < n: out[c] = the largest of v[0][c] .. v[3][c], scanned in that
 * order (the first one wins ties), and argmax[c] = at[k] + c for the winner k. */
static inline void dr_max4(const float *const v[4], const int32_t at[4], int n, float *restrict out,
                           int32_t *restrict argmax)
{
    for (int c = 0; c < n; c++) {
        float m = v[0][c];
        int32_t a = at[0] + c;
        if (v[1][c] > m) m = v[1][c], a = at[1] + c;
        if (v[2][c] > m) m = v[2][c], a = at[2] + c;
        if (v[3][c] > m) m = v[3][c], a = at[3] + c;
        out[c] = m;
        argmax[c] = a;
    }
}

#endif
