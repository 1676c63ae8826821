/* test-plot.c — the diagnostics drawings: they draw, they survive bad input, and what
 * they draw is where it should be. */
#include "tsr-test-util.h"

#include <cairo.h>
#include <float.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#ifdef CAIRO_HAS_SVG_SURFACE
#include <cairo-svg.h>
#endif

/* ---------------------------------------------------------------------------------- */
/* Helpers                                                                              */

typedef void (*DrawFn) (cairo_t *cr, double w, double h, gconstpointer data);

static cairo_surface_t *
render (DrawFn fn, gconstpointer data, int w, int h)
{
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, w, h);
  cairo_t *cr = cairo_create (s);
  fn (cr, w, h, data);
  g_assert_cmpint (cairo_status (cr), ==, CAIRO_STATUS_SUCCESS);
  cairo_destroy (cr);
  cairo_surface_flush (s);
  return s;
}

static void
pixel (cairo_surface_t *s, int x, int y, int *r, int *g, int *b)
{
  const guint8 *d = cairo_image_surface_get_data (s);
  int stride = cairo_image_surface_get_stride (s);
  guint32 p = *(const guint32 *) (d + (gsize) y * stride + (gsize) x * 4);
  *r = (p >> 16) & 0xff;
  *g = (p >> 8) & 0xff;
  *b = p & 0xff;
}

static gboolean
is_red (int r, int g, int b)
{
  return r > 170 && g < 100 && b < 100;
}

static gboolean
is_green (int r, int g, int b)
{
  return g > 120 && r < 100 && b < 120;
}

static guint
count_if (cairo_surface_t *s, gboolean (*pred) (int, int, int))
{
  int w = cairo_image_surface_get_width (s), h = cairo_image_surface_get_height (s);
  guint n = 0;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        int r, g, b;
        pixel (s, x, y, &r, &g, &b);
        n += pred (r, g, b) ? 1 : 0;
      }
  return n;
}

static gboolean
is_not_white (int r, int g, int b)
{
  return r < 250 || g < 250 || b < 250;
}

/* Draw into an SVG stream too (the report's other format): coordinates are written as
 * text there, so wild ones are visible. */
#ifdef CAIRO_HAS_SVG_SURFACE
static cairo_status_t
svg_append (void *closure, const unsigned char *data, unsigned int length)
{
  g_string_append_len ((GString *) closure, (const char *) data, length);
  return CAIRO_STATUS_SUCCESS;
}
#endif

static void
check_draws (DrawFn fn, gconstpointer data, double w, double h, gboolean svg_too)
{
  /* Image surface (sizes that cairo can make an image of). */
  int iw = isfinite (w) && w >= 1 && w < 4096 ? (int) w : 16;
  int ih = isfinite (h) && h >= 1 && h < 4096 ? (int) h : 16;
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, iw, ih);
  cairo_t *cr = cairo_create (s);
  fn (cr, w, h, data);
  g_assert_cmpint (cairo_status (cr), ==, CAIRO_STATUS_SUCCESS);
  cairo_destroy (cr);
  cairo_surface_destroy (s);

#ifdef CAIRO_HAS_SVG_SURFACE
  if (!svg_too)
    return;
  GString *svg = g_string_new (NULL);
  s = cairo_svg_surface_create_for_stream (svg_append, svg, iw, ih);
  cr = cairo_create (s);
  fn (cr, w, h, data);
  g_assert_cmpint (cairo_status (cr), ==, CAIRO_STATUS_SUCCESS);
  cairo_destroy (cr);
  cairo_surface_finish (s);
  g_assert_cmpint (cairo_surface_status (s), ==, CAIRO_STATUS_SUCCESS);
  cairo_surface_destroy (s);
  char *low = g_ascii_strdown (svg->str, svg->len);
  g_assert_null (strstr (low, "nan"));
  g_assert_null (strstr (low, "inf"));
  g_free (low);
  /* Every path coordinate and transform stays near the page (cairo clamps wild ones
   * silently). */
  const char *keys[] = { " d=\"", "matrix(" };
  for (guint k = 0; k < G_N_ELEMENTS (keys); k++)
    for (const char *p = strstr (svg->str, keys[k]); p != NULL; p = strstr (p, keys[k]))
      {
        p += strlen (keys[k]);
        while (*p != '\0' && *p != '"' && *p != ')')
          {
            char *end;
            double v = g_ascii_strtod (p, &end);
            if (end == p)
              {
                p++;
                continue;
              }
            g_assert_true (isfinite (v));
            g_assert_cmpfloat (fabs (v), <, 1e5);
            p = end;
          }
      }
  g_string_free (svg, TRUE);
#endif
}

/* Sizes every drawing must survive. */
static const double sizes[][2] = {
  { 640, 400 }, { 200, 120 }, { 40, 30 }, { 3, 3 }, { 1, 1 }, { 0, 0 }, { -5, 10 },
  { NAN, 100 }, { 100, INFINITY }, { 2000, 20 }, { 20, 2000 },
};

/* ---------------------------------------------------------------------------------- */
/* Series                                                                               */

typedef struct
{
  TsrPlotStyle st;
  const double *x;
  const double *const *ys;
  const char *const *names;
  guint n_series, n;
  const gboolean *marks;
} SeriesCase;

static void
draw_series (cairo_t *cr, double w, double h, gconstpointer data)
{
  const SeriesCase *c = data;
  tsr_plot_series (cr, w, h, &c->st, c->x, c->ys, c->names, c->n_series, c->n, c->marks);
}

static void
test_series_draws (void)
{
  enum { N = 60 };
  double x[N], a[N], b[N];
  gboolean marks[N] = { FALSE };
  for (int i = 0; i < N; i++)
    {
      x[i] = i * 10.0;
      a[i] = 2.5 + sin (i * 0.3);
      b[i] = 3.0 + 0.5 * cos (i * 0.2);
    }
  a[20] = a[21] = NAN;
  const double *ys[] = { a, b };
  const char *names[] = { "FWHM", "HFR" };
  SeriesCase c = { { "FWHM over time", "Frame", "FWHM (px)", FALSE }, x, ys, names, 2, N,
                   NULL };

  cairo_surface_t *s = render (draw_series, &c, 640, 400);
  guint drawn = count_if (s, is_not_white);
  g_assert_cmpuint (drawn, >, 4000);
  g_assert_cmpuint (count_if (s, is_red), ==, 0);   /* no marks, no red */
  cairo_surface_destroy (s);

  marks[5] = marks[40] = TRUE;
  c.marks = marks;
  s = render (draw_series, &c, 640, 400);
  g_assert_cmpuint (count_if (s, is_red), >, 30);
  cairo_surface_destroy (s);

  /* Dark theme: the background is dark, and something light is drawn on it. */
  c.st.dark = TRUE;
  s = render (draw_series, &c, 640, 400);
  int r, g, bb;
  pixel (s, 2, 2, &r, &g, &bb);
  g_assert_cmpint (r, <, 60);
  g_assert_cmpint (g, <, 60);
  g_assert_cmpint (bb, <, 60);
  g_assert_cmpuint (count_if (s, is_red), >, 30);
  cairo_surface_destroy (s);
}

static void
test_series_degenerate (void)
{
  double one[1] = { 4.2 };
  double allnan[5] = { NAN, NAN, NAN, NAN, NAN };
  double constant[5] = { 7, 7, 7, 7, 7 };
  double huge[5] = { DBL_MAX, -DBL_MAX, 1e300, INFINITY, -INFINITY };
  double neg[5] = { -1e-9, -3e-9, -2e-9, -5e-9, -4e-9 };
  double big_offset[5] = { 1e15, 1e15 + 1e-3, 1e15, 1e15, 1e15 };
  double xs_nan[5] = { NAN, 1, NAN, 3, INFINITY };
  double xs_same[5] = { 2, 2, 2, 2, 2 };
  double xs_rev[5] = { 5, 4, 3, 2, 1 };
  gboolean marks[5] = { TRUE, TRUE, TRUE, TRUE, TRUE };
  const double *ys_one[] = { one };
  const double *ys_nan[] = { allnan };
  const double *ys_const[] = { constant };
  const double *ys_huge[] = { huge, neg };
  const double *ys_neg[] = { neg };
  const double *ys_off[] = { big_offset };
  const double *ys_null[] = { NULL, constant };
  const char *names_bad[] = { "\xff\xfe bad utf8", NULL };

  const SeriesCase cases[] = {
    { { NULL, NULL, NULL, FALSE }, NULL, NULL, NULL, 0, 0, NULL },
    { { "t", "x", "y", TRUE }, NULL, ys_one, NULL, 1, 0, NULL },
    { { "t", "x", "y", FALSE }, NULL, ys_one, NULL, 1, 1, NULL },
    { { "t", "x", "y", FALSE }, one, ys_one, NULL, 1, 1, marks },
    { { "t", "x", "y", FALSE }, NULL, ys_nan, NULL, 1, 5, NULL },
    { { "t", "x", "y", FALSE }, NULL, ys_nan, NULL, 1, 5, marks },
    { { "t", "x", "y", FALSE }, NULL, ys_const, NULL, 1, 5, NULL },
    { { "t", "x", "y", FALSE }, xs_same, ys_const, NULL, 1, 5, marks },
    { { "t", "x", "y", FALSE }, NULL, ys_huge, names_bad, 2, 5, marks },
    { { "t", "x", "y", FALSE }, xs_nan, ys_neg, NULL, 1, 5, NULL },
    { { "t", "x", "y", FALSE }, xs_rev, ys_off, NULL, 1, 5, NULL },
    { { "t", "x", "y", FALSE }, huge, ys_const, NULL, 1, 5, marks },
    { { "t", "x", "y", FALSE }, NULL, ys_null, NULL, 2, 5, marks },
    { { "\xc3\x28", "\xc3", "\xe2\x82", TRUE }, NULL, ys_null, names_bad, 2, 5, NULL },
  };

  for (guint k = 0; k < G_N_ELEMENTS (cases); k++)
    for (guint z = 0; z < G_N_ELEMENTS (sizes); z++)
      check_draws (draw_series, &cases[k], sizes[z][0], sizes[z][1], z < 3);

  /* Drawing on a context already in error is harmless. */
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, 10, 10);
  cairo_t *cr = cairo_create (s);
  cairo_restore (cr);   /* unbalanced: puts cr into an error state */
  g_assert_cmpint (cairo_status (cr), !=, CAIRO_STATUS_SUCCESS);
  draw_series (cr, 10, 10, &cases[2]);
  cairo_destroy (cr);
  cairo_surface_destroy (s);
}

/* ---------------------------------------------------------------------------------- */
/* Histogram                                                                            */

typedef struct
{
  TsrPlotStyle st;
  const double *values;
  guint n, n_bins;
  double threshold;
  const char *label;
} HistCase;

static void
draw_hist (cairo_t *cr, double w, double h, gconstpointer data)
{
  const HistCase *c = data;
  tsr_plot_histogram (cr, w, h, &c->st, c->values, c->n, c->n_bins, c->threshold, c->label);
}

static gboolean
is_bar (int r, int g, int b)
{
  return b > 150 && r < 120 && g > 100 && g < 190;
}

static void
test_histogram_threshold (void)
{
  enum { N = 201, W = 600, H = 400 };
  double v[N];
  for (int i = 0; i < N; i++)
    v[i] = i / (double) (N - 1);          /* exactly 0 … 1, flat */
  HistCase c = { { "Registration CC", "CC", "Frames", FALSE }, v, N, 10, 0.3, "min CC" };

  cairo_surface_t *s = render (draw_hist, &c, W, H);

  /* The bars span the data range: their outer columns give the x mapping. */
  int x0 = -1, x1 = -1;
  for (int x = 0; x < W; x++)
    {
      int n = 0;
      for (int y = 0; y < H; y++)
        {
          int r, g, b;
          pixel (s, x, y, &r, &g, &b);
          n += is_bar (r, g, b);
        }
      if (n >= 20)
        {
          if (x0 < 0)
            x0 = x;
          x1 = x;
        }
    }
  g_assert_cmpint (x0, >=, 0);
  g_assert_cmpint (x1 - x0, >, W / 2);

  /* The column with the most red pixels is the dashed threshold line. */
  int best = -1, best_n = 0;
  for (int x = 0; x < W; x++)
    {
      int n = 0;
      for (int y = 0; y < H; y++)
        {
          int r, g, b;
          pixel (s, x, y, &r, &g, &b);
          n += is_red (r, g, b);
        }
      if (n > best_n)
        best_n = n, best = x;
    }
  double expect = x0 + 0.3 * (x1 + 1 - x0);
  g_assert_cmpint (best_n, >, 50);
  g_assert_cmpfloat (fabs (best - expect), <=, 3.0);
  cairo_surface_destroy (s);

  /* No threshold: no red at all. */
  c.threshold = NAN;
  s = render (draw_hist, &c, W, H);
  g_assert_cmpuint (count_if (s, is_red), ==, 0);
  g_assert_cmpuint (count_if (s, is_bar), >, 5000);
  cairo_surface_destroy (s);

  /* A threshold outside the data is still shown. */
  c.threshold = -0.5;
  s = render (draw_hist, &c, W, H);
  g_assert_cmpuint (count_if (s, is_red), >, 50);
  cairo_surface_destroy (s);
}

static void
test_histogram_degenerate (void)
{
  double one[1] = { 0.5 };
  double allnan[4] = { NAN, NAN, NAN, NAN };
  double constant[4] = { 3, 3, 3, 3 };
  double huge[5] = { DBL_MAX, -DBL_MAX, 1e300, INFINITY, NAN };
  double neg[4] = { -4, -3, -2.5, -1 };
  const HistCase cases[] = {
    { { NULL, NULL, NULL, FALSE }, NULL, 0, 0, NAN, NULL },
    { { "t", "x", "y", FALSE }, NULL, 10, 10, 0.5, "thr" },
    { { "t", "x", "y", TRUE }, one, 1, 0, NAN, NULL },
    { { "t", "x", "y", FALSE }, one, 1, 1, 0.5, "at the value" },
    { { "t", "x", "y", FALSE }, allnan, 4, 10, NAN, NULL },
    { { "t", "x", "y", FALSE }, allnan, 4, 10, 2.0, "\xff" },
    { { "t", "x", "y", FALSE }, constant, 4, 5, 3, "thr" },
    { { "t", "x", "y", FALSE }, huge, 5, 7, -DBL_MAX, "thr" },
    { { "t", "x", "y", FALSE }, neg, 4, 100000, INFINITY, "thr" },
    { { "t", "x", "y", FALSE }, neg, 4, 3, 1e300, "far right" },
  };
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++)
    for (guint z = 0; z < G_N_ELEMENTS (sizes); z++)
      check_draws (draw_hist, &cases[k], sizes[z][0], sizes[z][1], z < 3);
}

/* ---------------------------------------------------------------------------------- */
/* Funnel                                                                               */

typedef struct
{
  TsrPlotStyle st;
  const char *const *labels;
  const guint *counts;
  guint n;
} FunnelCase;

static void
draw_funnel (cairo_t *cr, double w, double h, gconstpointer data)
{
  const FunnelCase *c = data;
  tsr_plot_funnel (cr, w, h, &c->st, c->labels, c->counts, c->n);
}

static void
test_funnel (void)
{
  const char *labels[] = { "Frames", "Readable", "Stars found", "Registered", "Accepted" };
  const guint counts[] = { 480, 478, 470, 452, 401 };
  const guint zeros[] = { 0, 0, 0 };
  const guint growing[] = { 0, 5, G_MAXUINT };
  const char *bad[] = { "\xfe\xff", NULL, "a very long label that will not fit anywhere at all" };
  FunnelCase c = { { "Frame funnel", NULL, NULL, FALSE }, labels, counts, 5 };

  cairo_surface_t *s = render (draw_funnel, &c, 600, 300);
  g_assert_cmpuint (count_if (s, is_not_white), >, 5000);
  cairo_surface_destroy (s);

  const FunnelCase cases[] = {
    c,
    { { NULL, NULL, NULL, TRUE }, labels, counts, 5 },
    { { NULL, NULL, NULL, FALSE }, NULL, NULL, 0 },
    { { "t", NULL, NULL, FALSE }, labels, NULL, 3 },
    { { "t", NULL, NULL, FALSE }, NULL, counts, 5 },
    { { "t", NULL, NULL, FALSE }, labels, zeros, 3 },
    { { "t", NULL, NULL, FALSE }, bad, growing, 3 },
    { { "t", NULL, NULL, FALSE }, labels, counts, 1 },
  };
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++)
    for (guint z = 0; z < G_N_ELEMENTS (sizes); z++)
      check_draws (draw_funnel, &cases[k], sizes[z][0], sizes[z][1], z < 3);
}

/* ---------------------------------------------------------------------------------- */
/* Map                                                                                  */

typedef struct
{
  TsrPlotStyle st;
  const float *values;
  int gw, gh;
  double vmin, vmax;
} MapCase;

static void
draw_map (cairo_t *cr, double w, double h, gconstpointer data)
{
  const MapCase *c = data;
  tsr_plot_map (cr, w, h, &c->st, c->values, c->gw, c->gh, c->vmin, c->vmax);
}

static gboolean
is_coloured (int r, int g, int b)
{
  return MAX (r, MAX (g, b)) - MIN (r, MIN (g, b)) > 40;
}

static void
test_map_gradient (void)
{
  enum { GW = 8, GH = 4, W = 500, H = 300 };
  float v[GW * GH];
  for (int y = 0; y < GH; y++)
    for (int x = 0; x < GW; x++)
      v[y * GW + x] = 10.0f * x;
  MapCase c = { { "FWHM map", "x tile", "y tile", FALSE }, v, GW, GH, NAN, NAN };

  for (int dark = 0; dark < 2; dark++)
    {
      c.st.dark = dark;
      cairo_surface_t *s = render (draw_map, &c, W, H);

      /* The first coloured run along the middle row is the map (the colour bar is to
       * its right, after a gap). */
      int y = H / 2, x = 0;
      int r, g, b;
      for (; x < W; x++)
        {
          pixel (s, x, y, &r, &g, &b);
          if (is_coloured (r, g, b))
            break;
        }
      int start = x;
      for (; x < W; x++)
        {
          pixel (s, x, y, &r, &g, &b);
          if (!is_coloured (r, g, b))
            break;
        }
      int end = x;   /* exclusive */
      g_assert_cmpint (end - start, >, W / 3);

      double prev_l = -1, prev_g = -1;
      for (int k = 0; k < GW; k++)
        {
          int px = start + (int) ((k + 0.5) * (end - start) / GW);
          pixel (s, px, y, &r, &g, &b);
          double l = 0.2126 * r + 0.7152 * g + 0.0722 * b;
          g_assert_cmpfloat (l, >, prev_l);
          g_assert_cmpfloat (g, >, prev_g);
          prev_l = l;
          prev_g = g;
        }
      cairo_surface_destroy (s);
    }

  /* Fixed limits: values at vmin and vmax map to the ends of viridis. */
  c.st.dark = FALSE;
  c.vmin = 0;
  c.vmax = 70;
  cairo_surface_t *s = render (draw_map, &c, W, H);
  cairo_surface_destroy (s);
}

static void
test_map_degenerate (void)
{
  float one[1] = { 1.0f };
  float nan4[4] = { NAN, NAN, NAN, NAN };
  float mixed[6] = { 1, NAN, 3, INFINITY, -INFINITY, 2 };
  float constant[4] = { 5, 5, 5, 5 };
  float huge[4] = { FLT_MAX, -FLT_MAX, 0, 1 };
  float *wide = g_new0 (float, 5000);
  for (int i = 0; i < 5000; i++)
    wide[i] = (float) i;

  const MapCase cases[] = {
    { { NULL, NULL, NULL, FALSE }, NULL, 0, 0, NAN, NAN },
    { { "t", "x", "y", FALSE }, NULL, 4, 4, NAN, NAN },
    { { "t", "x", "y", FALSE }, one, 0, 1, NAN, NAN },
    { { "t", "x", "y", FALSE }, one, -3, -3, NAN, NAN },
    { { "t", "x", "y", TRUE }, one, 1, 1, NAN, NAN },
    { { "t", "x", "y", FALSE }, nan4, 2, 2, NAN, NAN },
    { { "t", "x", "y", TRUE }, nan4, 4, 1, 0, 1 },
    { { "t", "x", "y", FALSE }, mixed, 3, 2, NAN, NAN },
    { { "t", "x", "y", FALSE }, constant, 2, 2, NAN, NAN },
    { { "t", "x", "y", FALSE }, constant, 2, 2, 9, 1 },
    { { "t", "x", "y", FALSE }, constant, 2, 2, 3, 3 },
    { { "t", "x", "y", FALSE }, huge, 2, 2, NAN, NAN },
    { { "t", "x", "y", FALSE }, huge, 2, 2, -DBL_MAX, DBL_MAX },
    { { "t", "x", "y", FALSE }, constant, 2, 2, INFINITY, NAN },
    { { "t", "x", "y", FALSE }, wide, 5000, 1, NAN, NAN },
    { { "t", "x", "y", FALSE }, wide, 1, 5000, NAN, 10 },
  };
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++)
    for (guint z = 0; z < G_N_ELEMENTS (sizes); z++)
      check_draws (draw_map, &cases[k], sizes[z][0], sizes[z][1], z < 3);
  g_free (wide);

  /* Cells without data are drawn grey, not in a viridis colour. */
  float holes[4] = { 0, NAN, 1, 2 };
  MapCase c = { { NULL, NULL, NULL, FALSE }, holes, 4, 1, NAN, NAN };
  cairo_surface_t *s = render (draw_map, &c, 400, 200);
  guint grey = 0;
  for (int x = 0; x < 400; x++)
    {
      int r, g, b;
      pixel (s, x, 100, &r, &g, &b);
      grey += (abs (r - g) < 8 && abs (g - b) < 8 && r > 60 && r < 200);
    }
  g_assert_cmpuint (grey, >, 30);
  cairo_surface_destroy (s);
}

/* ---------------------------------------------------------------------------------- */
/* Table                                                                                */

typedef struct
{
  TsrPlotStyle st;
  const char *const *names, *const *values, *const *limits;
  const gboolean *pass;
  guint n;
} TableCase;

static void
draw_table (cairo_t *cr, double w, double h, gconstpointer data)
{
  const TableCase *c = data;
  tsr_plot_table (cr, w, h, &c->st, c->names, c->values, c->limits, c->pass, c->n);
}

static void
test_table (void)
{
  const char *names[] = { "FWHM improvement", "Sky noise ratio", "Seam metric" };
  const char *values[] = { "12.4 %", "0.93", "0.8 %" };
  const char *limits[] = { "≥ 5 %", "≤ 1.05", "≤ 0.5 %" };
  const gboolean pass[] = { TRUE, TRUE, FALSE };
  const gboolean all_pass[] = { TRUE, TRUE, TRUE };
  TableCase c = { { "Validation", NULL, NULL, FALSE }, names, values, limits, pass, 3 };

  cairo_surface_t *s = render (draw_table, &c, 600, 200);
  g_assert_cmpuint (count_if (s, is_green), >, 40);
  g_assert_cmpuint (count_if (s, is_red), >, 40);
  cairo_surface_destroy (s);

  c.pass = all_pass;
  s = render (draw_table, &c, 600, 200);
  g_assert_cmpuint (count_if (s, is_red), ==, 0);
  cairo_surface_destroy (s);

  enum { MANY = 200 };
  const char *many[MANY];
  gboolean many_pass[MANY];
  for (int i = 0; i < MANY; i++)
    {
      many[i] = i % 3 ? "row" : "\xff\xfe not UTF-8";
      many_pass[i] = i % 2;
    }
  const TableCase cases[] = {
    c,
    { { NULL, NULL, NULL, TRUE }, names, values, limits, pass, 3 },
    { { NULL, NULL, NULL, FALSE }, NULL, NULL, NULL, NULL, 0 },
    { { "t", NULL, NULL, FALSE }, names, NULL, NULL, NULL, 3 },
    { { "t", NULL, NULL, FALSE }, NULL, values, limits, pass, 3 },
    { { "t", NULL, NULL, FALSE }, many, many, many, many_pass, MANY },
  };
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++)
    for (guint z = 0; z < G_N_ELEMENTS (sizes); z++)
      check_draws (draw_table, &cases[k], sizes[z][0], sizes[z][1], z < 3);
}

/* ---------------------------------------------------------------------------------- */
/* Viridis                                                                              */

static void
test_viridis (void)
{
  double r, g, b, pg = -1;
  tsr_colormap_viridis (0, &r, &g, &b);
  g_assert_cmpfloat (fabs (r - 0.267), <, 0.01);
  g_assert_cmpfloat (fabs (g - 0.005), <, 0.01);
  g_assert_cmpfloat (fabs (b - 0.329), <, 0.01);
  tsr_colormap_viridis (1, &r, &g, &b);
  g_assert_cmpfloat (fabs (r - 0.993), <, 0.01);
  g_assert_cmpfloat (fabs (g - 0.906), <, 0.01);
  g_assert_cmpfloat (fabs (b - 0.144), <, 0.01);
  tsr_colormap_viridis (0.5, &r, &g, &b);
  g_assert_cmpfloat (fabs (r - 0.128), <, 0.01);
  g_assert_cmpfloat (fabs (g - 0.567), <, 0.01);
  g_assert_cmpfloat (fabs (b - 0.551), <, 0.01);

  /* Green rises monotonically; out-of-range and NaN input clamp. */
  for (int i = 0; i <= 100; i++)
    {
      tsr_colormap_viridis (i / 100.0, &r, &g, &b);
      g_assert_cmpfloat (g, >, pg);
      pg = g;
    }
  double values[] = { -5, 7, NAN, INFINITY, -INFINITY };
  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    {
      tsr_colormap_viridis (values[i], &r, &g, &b);
      g_assert_true (isfinite (r) && isfinite (g) && isfinite (b));
      g_assert_true (r >= 0 && r <= 1 && g >= 0 && g <= 1 && b >= 0 && b <= 1);
    }
}

/* ---------------------------------------------------------------------------------- */
/* PNG                                                                                  */

static void
png_draw (cairo_t *cr, double w, double h, gpointer data)
{
  double y[] = { 1, 3, 2, 5, 4 };
  const double *ys[] = { y };
  TsrPlotStyle st = { "PNG", "x", "y", FALSE };
  tsr_plot_series (cr, w, h, &st, NULL, ys, NULL, 1, 5, NULL);
}

static void
png_draw_broken (cairo_t *cr, double w, double h, gpointer data)
{
  cairo_restore (cr);   /* leaves the context in an error state */
}

static void
test_write_png (void)
{
  g_autofree char *dir = tsr_test_tmpdir ("plot");
  g_autofree char *path = g_build_filename (dir, "series.png", NULL);
  GError *error = NULL;

  g_assert_true (tsr_plot_write_png (path, 320, 200, png_draw, NULL, &error));
  g_assert_no_error (error);
  cairo_surface_t *s = cairo_image_surface_create_from_png (path);
  g_assert_cmpint (cairo_surface_status (s), ==, CAIRO_STATUS_SUCCESS);
  g_assert_cmpint (cairo_image_surface_get_width (s), ==, 320);
  g_assert_cmpint (cairo_image_surface_get_height (s), ==, 200);
  cairo_surface_destroy (s);

  /* Overwrite with another size. */
  g_assert_true (tsr_plot_write_png (path, 64, 48, png_draw, NULL, &error));
  s = cairo_image_surface_create_from_png (path);
  g_assert_cmpint (cairo_image_surface_get_width (s), ==, 64);
  g_assert_cmpint (cairo_image_surface_get_height (s), ==, 48);
  cairo_surface_destroy (s);

  /* A folder that does not exist: a clear error naming the path, nothing left behind. */
  g_autofree char *missing = g_build_filename (dir, "no-such-folder", "plot.png", NULL);
  g_assert_false (tsr_plot_write_png (missing, 100, 100, png_draw, NULL, &error));
  g_assert_error (error, TSR_ERROR, TSR_ERROR_IO);
  g_assert_nonnull (strstr (error->message, missing));
  g_clear_error (&error);
  g_autofree char *missing_dir = g_path_get_dirname (missing);
  g_assert_false (g_file_test (missing_dir, G_FILE_TEST_EXISTS));

  /* Bad sizes and a drawing that fails are errors, and write nothing. */
  g_autofree char *other = g_build_filename (dir, "other.png", NULL);
  g_assert_false (tsr_plot_write_png (other, 0, 100, png_draw, NULL, &error));
  g_assert_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG);
  g_clear_error (&error);
  g_assert_false (tsr_plot_write_png (other, 100, -1, png_draw, NULL, &error));
  g_assert_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG);
  g_clear_error (&error);
  g_assert_false (tsr_plot_write_png (other, 100, 100, png_draw_broken, NULL, &error));
  g_assert_error (error, TSR_ERROR, TSR_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, other));
  g_clear_error (&error);
  g_assert_false (g_file_test (other, G_FILE_TEST_EXISTS));

  /* Only the one PNG is in the folder: no temporary files left. */
  GDir *d = g_dir_open (dir, 0, NULL);
  guint count = 0;
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_assert_cmpstr (name, ==, "series.png");
      count++;
    }
  g_dir_close (d);
  g_assert_cmpuint (count, ==, 1);

  tsr_test_rmtree (dir);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/plot/series/draws", test_series_draws);
  g_test_add_func ("/plot/series/degenerate", test_series_degenerate);
  g_test_add_func ("/plot/histogram/threshold", test_histogram_threshold);
  g_test_add_func ("/plot/histogram/degenerate", test_histogram_degenerate);
  g_test_add_func ("/plot/funnel", test_funnel);
  g_test_add_func ("/plot/map/gradient", test_map_gradient);
  g_test_add_func ("/plot/map/degenerate", test_map_degenerate);
  g_test_add_func ("/plot/table", test_table);
  g_test_add_func ("/plot/viridis", test_viridis);
  g_test_add_func ("/plot/write-png", test_write_png);
  return g_test_run ();
}
