/* tsr-plot.h — diagnostics drawings on any cairo context: the window draws them live,
 * the CLI writes the same drawing to PNG for the HTML report. One plotting code. */
#pragma once
#include <cairo.h>
#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct
{
  const char *title;
  const char *xlabel;
  const char *ylabel;
  gboolean dark;               /* dark theme (window) or light (report) */
} TsrPlotStyle;

/* One or more series over a common x: ys[s][i] for s < n_series; NAN values are gaps.
 * marks[i] (may be NULL) draws frame i as a hollow red marker (e.g. gated frames). */
void tsr_plot_series (cairo_t *cr, double width, double height, const TsrPlotStyle *st,
                      const double *x, const double *const *ys, const char *const *names,
                      guint n_series, guint n, const gboolean *marks);

/* Histogram of values (NAN skipped) with n_bins, plus a vertical line at threshold
 * (NAN = none) labelled threshold_label. */
void tsr_plot_histogram (cairo_t *cr, double width, double height, const TsrPlotStyle *st,
                         const double *values, guint n, guint n_bins, double threshold,
                         const char *threshold_label);

/* Funnel: horizontal bars with labels and counts, each relative to counts[0]. */
void tsr_plot_funnel (cairo_t *cr, double width, double height, const TsrPlotStyle *st,
                      const char *const *labels, const guint *counts, guint n);

/* A grid map (gw × gh values, row-major, NAN = no data) drawn as a colour map (viridis)
 * with a colour bar from vmin to vmax (NAN = automatic). */
void tsr_plot_map (cairo_t *cr, double width, double height, const TsrPlotStyle *st,
                   const float *values, int gw, int gh, double vmin, double vmax);

/* Validation summary: rows of name, value text, threshold text, pass flag. */
void tsr_plot_table (cairo_t *cr, double width, double height, const TsrPlotStyle *st,
                     const char *const *names, const char *const *values,
                     const char *const *limits, const gboolean *pass, guint n);

/* Render any of the above into a PNG file (atomic): draw(cr, w, h, data). */
typedef void (*TsrPlotDrawFunc) (cairo_t *cr, double width, double height, gpointer data);
gboolean tsr_plot_write_png (const char *path, int width, int height, TsrPlotDrawFunc draw,
                             gpointer data, GError **error);

/* Viridis colour for t in [0,1]. */
void tsr_colormap_viridis (double t, double *r, double *g, double *b);

G_END_DECLS
