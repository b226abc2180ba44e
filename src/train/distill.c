#include "distill.h"

#include <math.h>

/* Softmax of row / T in double. */
static void soft(const float *row, int C, float T, double *p)
{
    double mx = -INFINITY, sum = 0;
    for (int c = 0; c < C; c++) mx = fmax(mx, row[c] / (double)T);
    for (int c = 0; c < C; c++) sum += p[c] = exp(row[c] / (double)T - mx);
    for (int c = 0; c < C; c++) p[c] /= sum;
}

double dr_distill_loss(const float *z, const float *t, int n, int C, float T, float weight, float *dz)
{
    double loss = 0, ps[C], pt[C];
    for (int i = 0; i < n; i++) {
        soft(z + (size_t)i * C, C, T, ps);
        soft(t + (size_t)i * C, C, T, pt);
        for (int c = 0; c < C; c++) {
            if (pt[c] > 0) loss += pt[c] * (log(pt[c]) - log(ps[c] > 1e-300 ? ps[c] : 1e-300));
            if (dz) dz[(size_t)i * C + c] += (float)(weight * T * (ps[c] - pt[c]) / n);
        }
    }
    return n ? (double)T * T * loss / n : 0;
}

double dr_hint_loss(const float *a, const float *b, int n, size_t per, float weight, float *da)
{
    double loss = 0, scale = 1.0 / ((double)n * per);
    for (size_t i = 0; i < (size_t)n * per; i++) {
        double d = (double)a[i] - b[i];
        loss += 0.5 * d * d;
        if (da) da[i] += (float)(weight * d * scale);
    }
    return n && per ? loss * scale : 0;
}
