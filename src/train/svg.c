#include "svg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../core/common.h"

static const char *const COLOURS[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

static FILE *open_svg(const char *path, int w, int h)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        dr_fail("%s: cannot write: %s", path, strerror(errno));
        return NULL;
    }
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", w, h);
    return f;
}

static int close_svg(FILE *f, const char *path)
{
    fputs("</svg>\n", f);
    if (fclose(f)) return dr_fail("%s: write error", path);
    return 0;
}

/* Escapes the few characters XML cares about. */
static void text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else fputc(*s, f);
    }
}

static double nice_step(double range)
{
    double raw = range / 5, mag = pow(10, floor(log10(raw > 0 ? raw : 1)));
    double r = raw / mag;
    return (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag;
}

int dr_svg_lines(const char *path, const char *title, const char *xlabel, const char *ylabel,
                 const dr_series *s, int n_series)
{
    const int W = 720, H = 440, L = 70, R = 180, T = 40, B = 50;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < n_series; i++)
        for (int k = 0; k < s[i].n; k++) {
            x0 = fmin(x0, s[i].x[k]), x1 = fmax(x1, s[i].x[k]);
            y0 = fmin(y0, s[i].y[k]), y1 = fmax(y1, s[i].y[k]);
        }
    if (!isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (x1 <= x0) x1 = x0 + 1;
    double pad = (y1 - y0) * 0.05 + 1e-9;
    y0 -= pad, y1 += pad;
    FILE *f = open_svg(path, W, H);
    if (!f) return -1;
    fprintf(f, "<text x=\"%d\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">", (W - R + L) / 2);
    text(f, title);
    fprintf(f, "</text>\n<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n",
            L, T, W - L - R, H - T - B);
#define PX(v) (L + ((v) - x0) / (x1 - x0) * (W - L - R))
#define PY(v) (H - B - ((v) - y0) / (y1 - y0) * (H - T - B))
    double ys = nice_step(y1 - y0), xs = nice_step(x1 - x0);
    if (xs < 1) xs = 1;
    for (double v = ceil(y0 / ys) * ys; v <= y1; v += ys)
        fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                L, W - R, PY(v), PY(v), L - 6, PY(v) + 4, v);
    for (double v = ceil(x0 / xs) * xs; v <= x1; v += xs)
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", PX(v), H - B + 16, v);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", (W - R + L) / 2, H - 12);
    text(f, xlabel);
    fprintf(f, "</text>\n<text transform=\"translate(18,%d) rotate(-90)\" text-anchor=\"middle\">", (H - B + T) / 2);
    text(f, ylabel);
    fputs("</text>\n", f);
    for (int i = 0; i < n_series; i++) {
        const char *c = COLOURS[i % 10];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", c);
        for (int k = 0; k < s[i].n; k++) fprintf(f, "%.1f,%.1f ", PX(s[i].x[k]), PY(s[i].y[k]));
        fputs("\"/>\n", f);
        for (int k = 0; k < s[i].n; k++)
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", PX(s[i].x[k]), PY(s[i].y[k]), c);
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"3\" fill=\"%s\"/><text x=\"%d\" y=\"%d\">",
                W - R + 12, T + 10 + 18 * i, c, W - R + 32, T + 15 + 18 * i);
        text(f, s[i].name);
        fputs("</text>\n", f);
    }
#undef PX
#undef PY
    return close_svg(f, path);
}

int dr_svg_histograms(const char *path, const char *title, const dr_hist_panel *p, int n_panels)
{
    const int PW = 320, PH = 240, T = 50, L = 50, GAP = 30, B = 40;
    const int W = L + n_panels * (PW + GAP), H = T + PH + B;
    FILE *f = open_svg(path, W, H);
    if (!f) return -1;
    fprintf(f, "<text x=\"%d\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">", W / 2);
    text(f, title);
    fputs("</text>\n", f);
    for (int i = 0; i < n_panels; i++) {
        const dr_hist_panel *h = &p[i];
        int x = L + i * (PW + GAP);
        double mx = 0;
        for (int b = 0; b < h->bins; b++) mx = fmax(mx, h->log_y ? log10(1 + h->count[b]) : h->count[b]);
        if (mx <= 0) mx = 1;
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", x + PW / 2, T - 8);
        text(f, h->title);
        fprintf(f, "%s</text>\n<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n",
                h->log_y ? " (log count)" : "", x, T, PW, PH);
        double bw = (double)PW / h->bins;
        for (int b = 0; b < h->bins; b++) {
            double v = h->log_y ? log10(1 + h->count[b]) : h->count[b], bh = v / mx * (PH - 4);
            if (h->count[b] > 0 && bh < 1) bh = 1;
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\"/>\n",
                    x + b * bw, T + PH - bh, bw > 1.5 ? bw - 0.5 : bw, bh, COLOURS[i % 10]);
        }
        fprintf(f, "<text x=\"%d\" y=\"%d\">%.3g</text><text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.3g</text>\n",
                x, T + PH + 16, h->lo, x + PW, T + PH + 16, h->hi);
    }
    return close_svg(f, path);
}
