/* Minimal SVG charts: line plots and histograms a person can open in a browser. */
#ifndef DR_SVG_H
#define DR_SVG_H

typedef struct {
    const char *name;
    int n;
    const double *x, *y;
} dr_series;

/* Line chart of several series. Returns -1 with an error naming the file. */
int dr_svg_lines(const char *path, const char *title, const char *xlabel, const char *ylabel,
                 const dr_series *s, int n_series);

typedef struct {
    const char *title;
    double lo, hi;       /* value range of the bins */
    int bins;
    const double *count; /* bins */
    int log_y;           /* logarithmic count axis (gradients) */
} dr_hist_panel;

/* Histograms side by side in one picture. */
int dr_svg_histograms(const char *path, const char *title, const dr_hist_panel *p, int n_panels);

#endif
