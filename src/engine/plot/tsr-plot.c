/* tsr-plot.c — diagnostics drawings with cairo only (one plotting code for the window
 * and the report).
 *
 * Every function draws the whole area 0..width × 0..height (background included) and
 * leaves the caller's cairo state untouched. Input is never trusted: NAN and ±inf are
 * skipped, constant data get an expanded range, huge values are clamped to ±1e300 so
 * that differences stay finite, and every coordinate handed to cairo is finite. */
#include "tsr-plot.h"
#include "tsr-error.h"
#include "tsr-json.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <string.h>

#define BIG_VALUE 1e300
#define MAX_TICKS 40

/* ---------------------------------------------------------------------------------- */
/* Theme                                                                                */

typedef struct
{
  double r, g, b;
} Rgb;

typedef struct
{
  Rgb bg, fg, dim, grid, frame, red, green, accent, panel;
  const Rgb *palette;
  guint n_palette;
  gboolean dark;
} Theme;

/* Series colours; red is kept for marks and thresholds, so it is not in the palette. */
static const Rgb light_palette[] = {
  { 0.122, 0.467, 0.706 }, /* blue   #1f77b4 */
  { 1.000, 0.498, 0.055 }, /* orange #ff7f0e */
  { 0.173, 0.627, 0.173 }, /* green  #2ca02c */
  { 0.580, 0.404, 0.741 }, /* purple #9467bd */
  { 0.549, 0.337, 0.294 }, /* brown  #8c564b */
  { 0.090, 0.745, 0.812 }, /* teal   #17becf */
  { 0.737, 0.741, 0.133 }, /* olive  #bcbd22 */
  { 0.890, 0.467, 0.761 }, /* pink   #e377c2 */
};

static const Rgb dark_palette[] = {
  { 0.384, 0.627, 0.918 }, /* #62a0ea */
  { 1.000, 0.639, 0.282 }, /* #ffa348 */
  { 0.341, 0.890, 0.537 }, /* #57e389 */
  { 0.753, 0.380, 0.796 }, /* #c061cb */
  { 0.804, 0.671, 0.561 }, /* #cdab8f */
  { 0.576, 0.867, 0.831 }, /* #93ddd4 */
  { 0.976, 0.941, 0.420 }, /* #f9f06b */
  { 0.863, 0.541, 0.867 }, /* #dc8add */
};

static void
theme_init (Theme *t, const TsrPlotStyle *st)
{
  gboolean dark = st != NULL && st->dark;

  t->dark = dark;
  if (dark)
    {
      t->bg = (Rgb) { 0.141, 0.141, 0.141 };     /* #242424 */
      t->fg = (Rgb) { 0.92, 0.92, 0.92 };
      t->dim = (Rgb) { 0.70, 0.70, 0.70 };
      t->grid = (Rgb) { 0.24, 0.24, 0.24 };
      t->frame = (Rgb) { 0.50, 0.50, 0.50 };
      t->red = (Rgb) { 1.0, 0.33, 0.33 };
      t->green = (Rgb) { 0.34, 0.89, 0.54 };
      t->accent = dark_palette[0];
      t->panel = (Rgb) { 0.19, 0.19, 0.19 };
      t->palette = dark_palette;
      t->n_palette = G_N_ELEMENTS (dark_palette);
    }
  else
    {
      t->bg = (Rgb) { 1.0, 1.0, 1.0 };
      t->fg = (Rgb) { 0.13, 0.13, 0.13 };
      t->dim = (Rgb) { 0.35, 0.35, 0.35 };
      t->grid = (Rgb) { 0.89, 0.89, 0.89 };
      t->frame = (Rgb) { 0.45, 0.45, 0.45 };
      t->red = (Rgb) { 0.839, 0.153, 0.157 };    /* #d62728 */
      t->green = (Rgb) { 0.15, 0.60, 0.25 };
      t->accent = light_palette[0];
      t->panel = (Rgb) { 0.955, 0.955, 0.955 };
      t->palette = light_palette;
      t->n_palette = G_N_ELEMENTS (light_palette);
    }
}

static void
set_rgb (cairo_t *cr, Rgb c)
{
  cairo_set_source_rgb (cr, c.r, c.g, c.b);
}

static void
set_rgba (cairo_t *cr, Rgb c, double a)
{
  cairo_set_source_rgba (cr, c.r, c.g, c.b, a);
}

/* ---------------------------------------------------------------------------------- */
/* Small helpers                                                                        */

typedef struct
{
  double x, y, w, h;
} Box;

/* Path building that never hands a non-finite coordinate to cairo (cairo would silently
 * turn it into 0 and draw a stray line to the corner). */
static gboolean
finite2 (double a, double b)
{
  return isfinite (a) && isfinite (b);
}

static void
p_move_to (cairo_t *cr, double x, double y)
{
  if (finite2 (x, y))
    cairo_move_to (cr, x, y);
}

static void
p_line_to (cairo_t *cr, double x, double y)
{
  if (finite2 (x, y))
    cairo_line_to (cr, x, y);
}

static void
p_rectangle (cairo_t *cr, double x, double y, double w, double h)
{
  if (finite2 (x, y) && finite2 (w, h))
    cairo_rectangle (cr, x, y, w, h);
}

static void
p_arc (cairo_t *cr, double x, double y, double r, double a0, double a1)
{
  if (finite2 (x, y) && isfinite (r) && r >= 0)
    cairo_arc (cr, x, y, r, a0, a1);
}

static double
clampv (double v)
{
  if (v > BIG_VALUE)
    return BIG_VALUE;
  if (v < -BIG_VALUE)
    return -BIG_VALUE;
  return v;
}

/* The common preamble: FALSE when there is nothing sensible to draw on. */
static gboolean
begin_plot (cairo_t *cr, double width, double height, const TsrPlotStyle *st, Theme *t)
{
  if (cr == NULL || cairo_status (cr) != CAIRO_STATUS_SUCCESS)
    return FALSE;
  if (!isfinite (width) || !isfinite (height) || width < 1 || height < 1)
    return FALSE;
  theme_init (t, st);
  cairo_save (cr);
  p_rectangle (cr, 0, 0, width, height);
  cairo_clip (cr);
  set_rgb (cr, t->bg);
  cairo_paint (cr);
  cairo_select_font_face (cr, "Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_line_join (cr, CAIRO_LINE_JOIN_ROUND);
  cairo_set_line_cap (cr, CAIRO_LINE_CAP_BUTT);
  return TRUE;
}

static void
end_plot (cairo_t *cr)
{
  cairo_restore (cr);
}

/* Base font size in pixels, scaled to the plot size. */
static double
font_size_for (double width, double height)
{
  return CLAMP (MIN (width, height) / 28.0, 9.0, 13.0);
}

/* Text that cairo accepts (valid UTF-8); free with g_free. */
static char *
safe_text (const char *s)
{
  if (s == NULL)
    return g_strdup ("");
  if (g_utf8_validate (s, -1, NULL))
    return g_strdup (s);
  return g_utf8_make_valid (s, -1);
}

static double
text_width (cairo_t *cr, const char *s)
{
  cairo_text_extents_t ext;
  char *txt = safe_text (s);
  cairo_text_extents (cr, txt, &ext);
  g_free (txt);
  return isfinite (ext.x_advance) ? ext.x_advance : 0;
}

/* Draw s with its anchor at (x, y): halign 0 = left, 0.5 = centre, 1 = right; the
 * vertical anchor is the middle of the font's ascent. */
static void
draw_text (cairo_t *cr, double x, double y, const char *s, double halign)
{
  cairo_font_extents_t fe;
  char *txt;

  if (s == NULL || *s == '\0' || !isfinite (x) || !isfinite (y))
    return;
  txt = safe_text (s);
  cairo_font_extents (cr, &fe);
  double w = text_width (cr, txt);
  p_move_to (cr, x - w * halign, y + (fe.ascent - fe.descent) / 2.0);
  cairo_show_text (cr, txt);
  cairo_new_path (cr);
  g_free (txt);
}

static void
set_font (cairo_t *cr, double size, gboolean bold)
{
  cairo_select_font_face (cr, "Sans", CAIRO_FONT_SLANT_NORMAL,
                          bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, size);
}

static gboolean
has_text (const char *s)
{
  return s != NULL && *s != '\0';
}

/* Title centred at the top; returns the height used. */
static double
draw_title (cairo_t *cr, const Theme *t, const TsrPlotStyle *st, double width, double fs)
{
  if (st == NULL || !has_text (st->title))
    return fs * 0.8;
  set_font (cr, fs * 1.15, TRUE);
  set_rgb (cr, t->fg);
  draw_text (cr, width / 2.0, fs * 1.2, st->title, 0.5);
  set_font (cr, fs, FALSE);
  return fs * 2.4;
}

static void
draw_no_data (cairo_t *cr, const Theme *t, const Box *b, double fs)
{
  set_font (cr, fs, FALSE);
  set_rgba (cr, t->fg, 0.6);
  draw_text (cr, b->x + b->w / 2.0, b->y + b->h / 2.0, _("No data"), 0.5);
}

/* ---------------------------------------------------------------------------------- */
/* Axes with nice (1-2-5) ticks                                                         */

typedef struct
{
  double lo, hi;       /* the range shown, finite, hi > lo */
  double step;         /* tick step (0 = no ticks) */
  double ticks[MAX_TICKS];
  guint n_ticks;
  gboolean integer;    /* ticks only at integers */
} Axis;

/* Make [lo, hi] finite and non-empty. */
static void
sanitize_range (double *lo, double *hi)
{
  double a = *lo, b = *hi;

  if (!isfinite (a) || !isfinite (b))
    {
      if (isfinite (a))
        b = a;
      else if (isfinite (b))
        a = b;
      else
        a = 0, b = 1;
    }
  a = clampv (a);
  b = clampv (b);
  if (a > b)
    {
      double tmp = a;
      a = b;
      b = tmp;
    }
  double mag = MAX (fabs (a), fabs (b));
  if (b - a <= mag * 1e-9 || b - a < 1e-300)
    {
      double half = mag > 0 ? mag * 0.05 : 0.5;
      a -= half;
      b += half;
    }
  *lo = a;
  *hi = b;
}

static double
nice_step (double span, int max_ticks, gboolean integer)
{
  if (!(span > 0) || !isfinite (span) || max_ticks < 1)
    return 0;
  double raw = span / max_ticks;
  double mag = pow (10.0, floor (log10 (raw)));
  if (!(mag > 0) || !isfinite (mag))
    return 0;
  double f = raw / mag;
  double nice = f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 5.0 ? 5.0 : 10.0;
  double step = nice * mag;
  if (integer && step < 1.0)
    step = 1.0;
  return step;
}

static void
axis_ticks (Axis *ax, int max_ticks)
{
  ax->n_ticks = 0;
  ax->step = nice_step (ax->hi - ax->lo, MAX (max_ticks, 1), ax->integer);
  if (ax->step <= 0)
    return;
  double k0 = ceil (ax->lo / ax->step - 1e-9);
  double k1 = floor (ax->hi / ax->step + 1e-9);
  if (!isfinite (k0) || !isfinite (k1) || k1 - k0 > MAX_TICKS - 1)
    return;
  for (double k = k0; k <= k1 && ax->n_ticks < MAX_TICKS; k += 1.0)
    {
      double v = k * ax->step;
      if (fabs (v) < ax->step * 1e-6)
        v = 0;
      if (ax->n_ticks > 0 && v <= ax->ticks[ax->n_ticks - 1])
        break;                  /* no progress: the step is below double precision */
      ax->ticks[ax->n_ticks++] = v;
    }
}

static void
format_value (char *buf, gsize len, double v, double step)
{
  double mag = fabs (v);

  if (v == 0)
    {
      g_strlcpy (buf, "0", len);
      return;
    }
  if (step > 0 && isfinite (step) && mag < 1e6 && step >= 1e-4)
    {
      int dec = (int) ceil (-log10 (step) - 1e-9);
      dec = CLAMP (dec, 0, 6);
      g_snprintf (buf, len, "%.*f", dec, v);
      return;
    }
  int digits = 3;
  if (step > 0 && isfinite (step))
    digits = (int) ceil (log10 (mag / step) + 1e-9) + 1;
  digits = CLAMP (digits, 1, 12);
  g_snprintf (buf, len, "%.*g", digits, v);
}

/* A short label for a single value (colour bars, thresholds). */
static void
format_short (char *buf, gsize len, double v)
{
  if (!isfinite (v))
    g_strlcpy (buf, "—", len);
  else if (v == 0)
    g_strlcpy (buf, "0", len);
  else if (fabs (v) >= 1e5 || fabs (v) < 1e-3)
    g_snprintf (buf, len, "%.3g", v);
  else
    g_snprintf (buf, len, "%.4g", v);
}

static double
map_x (const Axis *ax, const Box *b, double v)
{
  return b->x + (clampv (v) - ax->lo) / (ax->hi - ax->lo) * b->w;
}

static double
map_y (const Axis *ax, const Box *b, double v)
{
  return b->y + b->h - (clampv (v) - ax->lo) / (ax->hi - ax->lo) * b->h;
}

static double
widest_tick_label (cairo_t *cr, const Axis *ax)
{
  double w = 0;
  char buf[64];
  for (guint i = 0; i < ax->n_ticks; i++)
    {
      format_value (buf, sizeof buf, ax->ticks[i], ax->step);
      w = MAX (w, text_width (cr, buf));
    }
  return w;
}

/* Lay out a plot area with axes around it; ax and ay must have their ranges set. */
static Box
layout_axes (cairo_t *cr, double width, double height, double top, double fs,
             const TsrPlotStyle *st, Axis *ax, Axis *ay)
{
  Box b;
  double pad = fs * 0.6;
  gboolean xl = st != NULL && has_text (st->xlabel);
  gboolean yl = st != NULL && has_text (st->ylabel);

  set_font (cr, fs, FALSE);
  double bottom = pad + fs * 1.6 + (xl ? fs * 1.5 : 0);
  double h = height - top - bottom;
  axis_ticks (ay, (int) CLAMP (h / (fs * 3.0), 2, 10));
  double left = pad + (yl ? fs * 1.6 : 0) + widest_tick_label (cr, ay) + fs * 0.6;
  double right = fs * 1.5;
  double w = width - left - right;

  /* Fewer x ticks until their labels fit side by side. */
  int want = (int) CLAMP (w / (fs * 5.0), 2, 12);
  for (; want >= 1; want--)
    {
      axis_ticks (ax, want);
      double lw = widest_tick_label (cr, ax);
      if (ax->n_ticks <= 1 || (lw + fs * 1.2) * ax->n_ticks <= w)
        break;
    }

  b.x = left;
  b.y = top;
  b.w = MAX (w, 0);
  b.h = MAX (h, 0);
  return b;
}

static void
draw_axes (cairo_t *cr, const Theme *t, const TsrPlotStyle *st, const Box *b,
           const Axis *ax, const Axis *ay, double fs, double height)
{
  char buf[64];

  if (b->w < 2 || b->h < 2)
    return;

  /* Grid. */
  cairo_set_line_width (cr, 1.0);
  set_rgb (cr, t->grid);
  for (guint i = 0; i < ax->n_ticks; i++)
    {
      double x = round (map_x (ax, b, ax->ticks[i])) + 0.5;
      p_move_to (cr, x, b->y);
      p_line_to (cr, x, b->y + b->h);
    }
  for (guint i = 0; i < ay->n_ticks; i++)
    {
      double y = round (map_y (ay, b, ay->ticks[i])) + 0.5;
      p_move_to (cr, b->x, y);
      p_line_to (cr, b->x + b->w, y);
    }
  cairo_stroke (cr);

  /* Frame. */
  set_rgb (cr, t->frame);
  p_rectangle (cr, round (b->x) + 0.5, round (b->y) + 0.5, round (b->w), round (b->h));
  cairo_stroke (cr);

  /* Tick marks and labels. */
  set_font (cr, fs, FALSE);
  for (guint i = 0; i < ax->n_ticks; i++)
    {
      double x = round (map_x (ax, b, ax->ticks[i])) + 0.5;
      set_rgb (cr, t->frame);
      p_move_to (cr, x, b->y + b->h);
      p_line_to (cr, x, b->y + b->h + fs * 0.3);
      cairo_stroke (cr);
      set_rgb (cr, t->dim);
      format_value (buf, sizeof buf, ax->ticks[i], ax->step);
      draw_text (cr, x, b->y + b->h + fs * 1.0, buf, 0.5);
    }
  for (guint i = 0; i < ay->n_ticks; i++)
    {
      double y = round (map_y (ay, b, ay->ticks[i])) + 0.5;
      set_rgb (cr, t->frame);
      p_move_to (cr, b->x - fs * 0.3, y);
      p_line_to (cr, b->x, y);
      cairo_stroke (cr);
      set_rgb (cr, t->dim);
      format_value (buf, sizeof buf, ay->ticks[i], ay->step);
      draw_text (cr, b->x - fs * 0.5, y, buf, 1.0);
    }

  /* Axis labels. */
  set_rgb (cr, t->fg);
  if (st != NULL && has_text (st->xlabel))
    draw_text (cr, b->x + b->w / 2.0, height - fs * 0.9, st->xlabel, 0.5);
  if (st != NULL && has_text (st->ylabel))
    {
      cairo_save (cr);
      cairo_translate (cr, fs * 1.0, b->y + b->h / 2.0);
      cairo_rotate (cr, -G_PI / 2.0);
      draw_text (cr, 0, 0, st->ylabel, 0.5);
      cairo_restore (cr);
    }
}

/* ---------------------------------------------------------------------------------- */
/* Series                                                                               */

static void
marker (cairo_t *cr, double x, double y, double r)
{
  cairo_new_sub_path (cr);
  p_arc (cr, x, y, r, 0, 2 * G_PI);
}

void
tsr_plot_series (cairo_t *cr, double width, double height, const TsrPlotStyle *st,
                 const double *x, const double *const *ys, const char *const *names,
                 guint n_series, guint n, const gboolean *marks)
{
  Theme t;
  Axis ax = { 0 }, ay = { 0 };

  if (!begin_plot (cr, width, height, st, &t))
    return;
  if (ys == NULL)
    n_series = 0;

  double fs = font_size_for (width, height);
  double top = draw_title (cr, &t, st, width, fs);

#define XV(i) (x != NULL ? x[i] : (double) (i))

  /* Ranges over finite values only. */
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  gboolean any = FALSE;
  for (guint i = 0; i < n; i++)
    {
      double xv = XV (i);
      if (!isfinite (xv))
        continue;
      gboolean used = FALSE;
      for (guint s = 0; s < n_series; s++)
        {
          if (ys[s] == NULL || !isfinite (ys[s][i]))
            continue;
          double v = clampv (ys[s][i]);
          ylo = MIN (ylo, v);
          yhi = MAX (yhi, v);
          used = TRUE;
        }
      if (used || (marks != NULL && marks[i]))
        {
          xlo = MIN (xlo, clampv (xv));
          xhi = MAX (xhi, clampv (xv));
        }
      any = any || used;
    }

  gboolean x_integer = (x == NULL);
  sanitize_range (&xlo, &xhi);
  if (any)
    {
      double pad = (yhi - ylo) * 0.06;
      if (isfinite (pad) && pad > 0)
        ylo -= pad, yhi += pad;
    }
  else
    ylo = 0, yhi = 1;
  sanitize_range (&ylo, &yhi);
  if (any && (xhi - xlo) > 0)
    {
      /* A little air left and right so end markers are not cut by the frame. */
      double pad = (xhi - xlo) * 0.02;
      xlo -= pad, xhi += pad;
    }
  ax.lo = xlo, ax.hi = xhi, ax.integer = x_integer;
  ay.lo = ylo, ay.hi = yhi;

  Box b = layout_axes (cr, width, height, top, fs, st, &ax, &ay);
  draw_axes (cr, &t, st, &b, &ax, &ay, fs, height);
  if (b.w < 2 || b.h < 2)
    goto out;
  if (!any && (marks == NULL || n == 0))
    {
      draw_no_data (cr, &t, &b, fs);
      goto out;
    }

  cairo_save (cr);
  p_rectangle (cr, b.x, b.y, b.w, b.h);
  cairo_clip (cr);

  double r = CLAMP (fs * 0.22, 1.5, 3.0);
  gboolean dense = n > b.w / (r * 3.0);
  for (guint s = 0; s < n_series; s++)
    {
      const double *y = ys[s];
      if (y == NULL)
        continue;
      Rgb c = t.palette[s % t.n_palette];

      /* Lines, broken at NAN. */
      cairo_set_line_width (cr, 1.6);
      set_rgb (cr, c);
      gboolean pen = FALSE;
      for (guint i = 0; i < n; i++)
        {
          double xv = XV (i);
          if (!isfinite (xv) || !isfinite (y[i]))
            {
              pen = FALSE;
              continue;
            }
          double px = map_x (&ax, &b, xv), py = map_y (&ay, &b, y[i]);
          if (pen)
            p_line_to (cr, px, py);
          else
            p_move_to (cr, px, py);
          pen = TRUE;
        }
      cairo_stroke (cr);

      /* Markers: every point unless too dense; isolated points always. */
      for (guint i = 0; i < n; i++)
        {
          double xv = XV (i);
          if (!isfinite (xv) || !isfinite (y[i]))
            continue;
          gboolean prev = i > 0 && isfinite (XV (i - 1)) && isfinite (y[i - 1]);
          gboolean next = i + 1 < n && isfinite (XV (i + 1)) && isfinite (y[i + 1]);
          if (dense && prev && next)
            continue;
          marker (cr, map_x (&ax, &b, xv), map_y (&ay, &b, y[i]), dense ? r * 0.8 : r);
        }
      cairo_fill (cr);
    }

  /* Marked frames: hollow red circles on every value of that frame, or a ring on the
   * bottom edge when the frame has no value at all. */
  if (marks != NULL)
    {
      cairo_set_line_width (cr, 1.6);
      set_rgb (cr, t.red);
      for (guint i = 0; i < n; i++)
        {
          double xv = XV (i);
          if (!marks[i] || !isfinite (xv))
            continue;
          double px = map_x (&ax, &b, xv);
          gboolean drawn = FALSE;
          for (guint s = 0; s < n_series; s++)
            {
              if (ys[s] == NULL || !isfinite (ys[s][i]))
                continue;
              marker (cr, px, map_y (&ay, &b, ys[s][i]), r * 2.2);
              drawn = TRUE;
            }
          if (!drawn)
            marker (cr, px, b.y + b.h - r * 2.2 - 2, r * 2.2);
        }
      cairo_stroke (cr);
    }

  /* Legend (several series). */
  if (n_series > 1)
    {
      set_font (cr, fs * 0.95, FALSE);
      double lw = 0;
      char **labels = g_new0 (char *, n_series);
      for (guint s = 0; s < n_series; s++)
        {
          if (names != NULL && has_text (names[s]))
            labels[s] = g_strdup (names[s]);
          else
            labels[s] = g_strdup_printf (_("Series %u"), s + 1);
          lw = MAX (lw, text_width (cr, labels[s]));
        }
      double row = fs * 1.45, sample = fs * 2.0;
      double bw = fs * 0.8 + sample + fs * 0.5 + lw + fs * 0.8;
      double bh = row * n_series + fs * 0.6;
      double bx = b.x + b.w - bw - fs * 0.6, by = b.y + fs * 0.6;
      set_rgba (cr, t.bg, 0.88);
      p_rectangle (cr, bx, by, bw, bh);
      cairo_fill_preserve (cr);
      set_rgb (cr, t.grid);
      cairo_set_line_width (cr, 1.0);
      cairo_stroke (cr);
      for (guint s = 0; s < n_series; s++)
        {
          double cy = by + fs * 0.3 + row * (s + 0.5);
          double sx = bx + fs * 0.8;
          set_rgb (cr, t.palette[s % t.n_palette]);
          cairo_set_line_width (cr, 1.6);
          p_move_to (cr, sx, cy);
          p_line_to (cr, sx + sample, cy);
          cairo_stroke (cr);
          marker (cr, sx + sample / 2.0, cy, r);
          cairo_fill (cr);
          set_rgb (cr, t.fg);
          draw_text (cr, sx + sample + fs * 0.5, cy, labels[s], 0.0);
          g_free (labels[s]);
        }
      g_free (labels);
    }
  cairo_restore (cr);

out:
#undef XV
  end_plot (cr);
}

/* ---------------------------------------------------------------------------------- */
/* Histogram                                                                            */

void
tsr_plot_histogram (cairo_t *cr, double width, double height, const TsrPlotStyle *st,
                    const double *values, guint n, guint n_bins, double threshold,
                    const char *threshold_label)
{
  Theme t;
  Axis ax = { 0 }, ay = { 0 };
  guint *counts = NULL;

  if (!begin_plot (cr, width, height, st, &t))
    return;
  if (values == NULL)
    n = 0;

  double fs = font_size_for (width, height);
  double top = draw_title (cr, &t, st, width, fs);

  double lo = INFINITY, hi = -INFINITY;
  guint n_ok = 0;
  for (guint i = 0; i < n; i++)
    {
      if (!isfinite (values[i]))
        continue;
      double v = clampv (values[i]);
      lo = MIN (lo, v);
      hi = MAX (hi, v);
      n_ok++;
    }
  gboolean thr = isfinite (threshold);
  double thv = thr ? clampv (threshold) : 0;

  if (n_bins == 0)
    n_bins = (guint) CLAMP (ceil (sqrt ((double) n_ok)), 5, 60);
  n_bins = MIN (n_bins, 10000);

  /* The bins span exactly the data; a threshold outside it widens the axis. */
  double dlo = lo, dhi = hi;
  if (n_ok == 0)
    {
      dlo = thr ? thv : 0;
      dhi = thr ? thv : 1;
    }
  sanitize_range (&dlo, &dhi);
  double alo = dlo, ahi = dhi;
  if (thr && (thv < alo || thv > ahi))
    {
      alo = MIN (alo, thv);
      ahi = MAX (ahi, thv);
      double pad = (ahi - alo) * 0.05;
      alo -= pad, ahi += pad;
      sanitize_range (&alo, &ahi);
    }

  counts = g_new0 (guint, n_bins);
  guint cmax = 0;
  for (guint i = 0; i < n; i++)
    {
      if (!isfinite (values[i]))
        continue;
      double f = (clampv (values[i]) - dlo) / (dhi - dlo);
      gint64 k = (gint64) floor (f * n_bins);
      k = CLAMP (k, 0, (gint64) n_bins - 1);
      counts[k]++;
      cmax = MAX (cmax, counts[k]);
    }

  ax.lo = alo, ax.hi = ahi;
  ay.lo = 0, ay.hi = MAX (cmax, 1) * 1.08, ay.integer = TRUE;
  Box b = layout_axes (cr, width, height, top, fs, st, &ax, &ay);
  draw_axes (cr, &t, st, &b, &ax, &ay, fs, height);
  if (b.w < 2 || b.h < 2)
    goto out;

  cairo_save (cr);
  p_rectangle (cr, b.x, b.y, b.w, b.h);
  cairo_clip (cr);

  if (n_ok == 0)
    draw_no_data (cr, &t, &b, fs);
  else
    {
      double x0 = map_x (&ax, &b, dlo), x1 = map_x (&ax, &b, dhi);
      double bw = (x1 - x0) / n_bins;
      double gap = bw >= 4 ? 1.0 : 0.0;
      set_rgba (cr, t.accent, 0.85);
      for (guint k = 0; k < n_bins; k++)
        {
          if (counts[k] == 0)
            continue;
          double y = map_y (&ay, &b, counts[k]);
          double left = x0 + k * bw, right = x0 + (k + 1) * bw;
          /* Keep the outer edges of the first and last bins exact. */
          double l = k == 0 ? left : left + gap / 2, rr = k + 1 == n_bins ? right : right - gap / 2;
          p_rectangle (cr, l, y, MAX (rr - l, 0.5), b.y + b.h - y);
        }
      cairo_fill (cr);
    }

  if (thr)
    {
      double xt = map_x (&ax, &b, thv);
      double dash[2] = { fs * 0.5, fs * 0.3 };
      set_rgb (cr, t.red);
      cairo_set_line_width (cr, 2.0);
      cairo_set_dash (cr, dash, 2, 0);
      p_move_to (cr, xt, b.y);
      p_line_to (cr, xt, b.y + b.h);
      cairo_stroke (cr);
      cairo_set_dash (cr, NULL, 0, 0);

      char num[64];
      format_short (num, sizeof num, thv);
      char *label = has_text (threshold_label)
                      ? g_strdup_printf ("%s = %s", threshold_label, num) : g_strdup (num);
      set_font (cr, fs * 0.95, FALSE);
      double tw = text_width (cr, label);
      double ty = b.y + fs * 1.0;
      double pad = fs * 0.4;
      double tx = xt + pad;
      double align = 0.0;
      if (tx + tw > b.x + b.w - 2)
        {
          tx = xt - pad;
          align = 1.0;
        }
      /* A backdrop so the label stays readable over bars. */
      set_rgba (cr, t.bg, 0.8);
      p_rectangle (cr, tx - tw * align - 2, ty - fs * 0.7, tw + 4, fs * 1.4);
      cairo_fill (cr);
      set_rgb (cr, t.red);
      draw_text (cr, tx, ty, label, align);
      g_free (label);
    }
  cairo_restore (cr);

out:
  g_free (counts);
  end_plot (cr);
}

/* ---------------------------------------------------------------------------------- */
/* Funnel                                                                               */

void
tsr_plot_funnel (cairo_t *cr, double width, double height, const TsrPlotStyle *st,
                 const char *const *labels, const guint *counts, guint n)
{
  Theme t;

  if (!begin_plot (cr, width, height, st, &t))
    return;
  if (counts == NULL)
    n = 0;

  double fs = font_size_for (width, height);
  double top = draw_title (cr, &t, st, width, fs);
  double pad = fs * 0.8;
  Box b = { pad, top, width - 2 * pad, height - top - pad };

  if (b.w < 4 || b.h < 4)
    goto out;
  if (n == 0)
    {
      draw_no_data (cr, &t, &b, fs);
      goto out;
    }

  set_font (cr, fs, FALSE);
  double lw = 0;
  for (guint i = 0; i < n; i++)
    if (labels != NULL)
      lw = MAX (lw, text_width (cr, labels[i]));
  lw = MIN (lw, b.w * 0.4);

  /* The widest counts text must fit after the longest bar. */
  char buf[96];
  double tw_max = 0;
  for (guint i = 0; i < n; i++)
    {
      g_snprintf (buf, sizeof buf, "%u (100.0 %%)", counts[i]);
      tw_max = MAX (tw_max, text_width (cr, buf));
    }
  double cw = tw_max + fs;

  double bar_x = b.x + lw + (lw > 0 ? fs * 0.8 : 0);
  double bar_w = b.x + b.w - bar_x - cw;
  if (bar_w < 4)
    bar_w = MAX (b.x + b.w - bar_x, 0);

  guint ref = counts[0];
  guint cmax = 0;
  for (guint i = 0; i < n; i++)
    cmax = MAX (cmax, counts[i]);
  double scale = MAX (ref, cmax);

  /* When every count fits inside its own bar, the bars may use the full width. */
  double full = MAX (b.x + b.w - bar_x, 0);
  gboolean all_inside = scale > 0;
  for (guint i = 0; i < n && all_inside; i++)
    {
      double len = full * counts[i] / scale;
      all_inside = len - tw_max - fs > 0 && len > full * 0.5;
    }
  if (all_inside)
    bar_w = full;

  double row = MIN (b.h / n, fs * 3.2);
  double bh = MAX (row * 0.62, 1.0);

  for (guint i = 0; i < n; i++)
    {
      double cy = b.y + row * (i + 0.5);
      if (cy - bh / 2 > height)
        break;

      /* Label, clipped to its column. */
      if (labels != NULL && has_text (labels[i]))
        {
          cairo_save (cr);
          p_rectangle (cr, b.x, cy - row / 2, lw + 1, row);
          cairo_clip (cr);
          set_rgb (cr, t.fg);
          draw_text (cr, b.x + lw, cy, labels[i], lw < text_width (cr, labels[i]) ? 0.0 : 1.0);
          cairo_restore (cr);
        }

      double len = scale > 0 ? bar_w * counts[i] / scale : 0;
      /* Faint track behind the bar, the bar on top, darkening down the funnel. */
      set_rgb (cr, t.panel);
      p_rectangle (cr, bar_x, cy - bh / 2, bar_w, bh);
      cairo_fill (cr);
      double a = n > 1 ? 1.0 - 0.35 * i / (double) (n - 1) : 1.0;
      set_rgba (cr, t.accent, a);
      if (len > 0)
        {
          p_rectangle (cr, bar_x, cy - bh / 2, MAX (len, 1.0), bh);
          cairo_fill (cr);
        }

      if (ref > 0)
        g_snprintf (buf, sizeof buf, "%u (%.1f %%)", counts[i], 100.0 * counts[i] / ref);
      else
        g_snprintf (buf, sizeof buf, "%u", counts[i]);
      /* Inside the bar when every bar of that length could hold any count text, so
       * that the rows read alike. */
      if (len - tw_max - fs > 0 && len > bar_w * 0.5)
        {
          cairo_set_source_rgb (cr, 1, 1, 1);
          draw_text (cr, bar_x + len - fs * 0.5, cy, buf, 1.0);
        }
      else
        {
          set_rgb (cr, t.fg);
          draw_text (cr, bar_x + len + fs * 0.5, cy, buf, 0.0);
        }
    }

out:
  end_plot (cr);
}

/* ---------------------------------------------------------------------------------- */
/* Colour map                                                                           */

/* Viridis (matplotlib), 32 samples from 0 to 1. */
static const float viridis[32][3] = {
  { 0.267004f, 0.004874f, 0.329415f }, { 0.277226f, 0.051694f, 0.376952f },
  { 0.282476f, 0.097322f, 0.419512f }, { 0.282707f, 0.139311f, 0.456198f },
  { 0.278091f, 0.179895f, 0.486378f }, { 0.269135f, 0.219428f, 0.509891f },
  { 0.256727f, 0.257753f, 0.527184f }, { 0.242024f, 0.294643f, 0.539209f },
  { 0.226238f, 0.329990f, 0.547163f }, { 0.210442f, 0.363857f, 0.552221f },
  { 0.195406f, 0.396437f, 0.555351f }, { 0.181469f, 0.428018f, 0.557198f },
  { 0.168567f, 0.458906f, 0.558067f }, { 0.156364f, 0.489386f, 0.557941f },
  { 0.144531f, 0.519687f, 0.556527f }, { 0.133240f, 0.549960f, 0.553339f },
  { 0.123824f, 0.580261f, 0.547771f }, { 0.119437f, 0.610548f, 0.539181f },
  { 0.124880f, 0.640696f, 0.526955f }, { 0.144265f, 0.670502f, 0.510553f },
  { 0.178260f, 0.699707f, 0.489565f }, { 0.224778f, 0.728016f, 0.463676f },
  { 0.281241f, 0.755099f, 0.432683f }, { 0.345678f, 0.780606f, 0.396463f },
  { 0.416685f, 0.804187f, 0.355022f }, { 0.493212f, 0.825508f, 0.308486f },
  { 0.574264f, 0.844290f, 0.257249f }, { 0.658650f, 0.860391f, 0.202425f },
  { 0.744774f, 0.873934f, 0.147518f }, { 0.830605f, 0.885438f, 0.104259f },
  { 0.914000f, 0.895812f, 0.100132f }, { 0.993248f, 0.906157f, 0.143936f },
};

void
tsr_colormap_viridis (double tt, double *r, double *g, double *b)
{
  if (!isfinite (tt))
    tt = 0;
  tt = CLAMP (tt, 0.0, 1.0);
  double f = tt * 31.0;
  int i = (int) floor (f);
  if (i >= 31)
    i = 30;
  double u = f - i;
  if (r != NULL)
    *r = viridis[i][0] + (viridis[i + 1][0] - viridis[i][0]) * u;
  if (g != NULL)
    *g = viridis[i][1] + (viridis[i + 1][1] - viridis[i][1]) * u;
  if (b != NULL)
    *b = viridis[i][2] + (viridis[i + 1][2] - viridis[i][2]) * u;
}

#define MAP_IMAGE_MAX 4096

void
tsr_plot_map (cairo_t *cr, double width, double height, const TsrPlotStyle *st,
              const float *values, int gw, int gh, double vmin, double vmax)
{
  Theme t;
  cairo_surface_t *img = NULL;
  guint8 *nan_cells = NULL;

  if (!begin_plot (cr, width, height, st, &t))
    return;

  double fs = font_size_for (width, height);
  double top = draw_title (cr, &t, st, width, fs);
  gboolean have = values != NULL && gw > 0 && gh > 0;
  gboolean xl = st != NULL && has_text (st->xlabel);
  gboolean yl = st != NULL && has_text (st->ylabel);

  /* Range. */
  double lo = vmin, hi = vmax;
  if (have && (!isfinite (lo) || !isfinite (hi)))
    {
      double dlo = INFINITY, dhi = -INFINITY;
      gsize total = (gsize) gw * (gsize) gh;
      for (gsize i = 0; i < total; i++)
        if (isfinite (values[i]))
          {
            dlo = MIN (dlo, values[i]);
            dhi = MAX (dhi, values[i]);
          }
      if (!isfinite (lo))
        lo = isfinite (hi) && dlo > hi ? hi : dlo;
      if (!isfinite (hi))
        hi = isfinite (lo) && dhi < lo ? lo : dhi;
    }
  gboolean any = isfinite (lo) && isfinite (hi);
  if (!any)
    lo = 0, hi = 1;
  sanitize_range (&lo, &hi);

  /* Layout: map on the left, colour bar and its labels on the right. */
  set_font (cr, fs, FALSE);
  char s_lo[64], s_mid[64], s_hi[64];
  format_short (s_lo, sizeof s_lo, lo);
  format_short (s_mid, sizeof s_mid, (lo + hi) / 2.0);
  format_short (s_hi, sizeof s_hi, hi);
  double lab_w = MAX (text_width (cr, s_lo), MAX (text_width (cr, s_mid), text_width (cr, s_hi)));
  double pad = fs * 0.8;
  double cb_w = CLAMP (width * 0.035, 8.0, 18.0);
  double right = cb_w + fs * 0.5 + lab_w + pad;
  double left = pad + (yl ? fs * 1.6 : 0);
  double bottom = pad + (xl ? fs * 1.8 : 0);
  Box area = { left, top, width - left - right - pad, height - top - bottom };
  if (area.w < 2 || area.h < 2)
    goto out;

  if (!have)
    {
      draw_no_data (cr, &t, &area, fs);
      goto out;
    }

  /* Square cells, centred in the area. */
  double cell = MIN (area.w / gw, area.h / gh);
  double mw = cell * gw, mh = cell * gh;
  Box m = { area.x + (area.w - mw) / 2.0, area.y + (area.h - mh) / 2.0, mw, mh };

  /* Paint the grid into a small image (one pixel per cell, or a nearest-neighbour
   * sample of the grid when it is huge) and scale it up without smoothing. */
  int iw = MIN (gw, MAP_IMAGE_MAX), ih = MIN (gh, MAP_IMAGE_MAX);
  img = cairo_image_surface_create (CAIRO_FORMAT_RGB24, iw, ih);
  if (cairo_surface_status (img) != CAIRO_STATUS_SUCCESS)
    goto out;
  cairo_surface_flush (img);
  guint8 *data = cairo_image_surface_get_data (img);
  int stride = cairo_image_surface_get_stride (img);
  gboolean any_nan = FALSE;
  nan_cells = g_new0 (guint8, (gsize) iw * ih);
  guint32 grey = t.dark ? 0x5a5a5a : 0x9a9a9a;
  for (int j = 0; j < ih; j++)
    {
      gint64 cy = (gint64) j * gh / ih;
      guint32 *rowp = (guint32 *) (data + (gsize) j * stride);
      for (int i = 0; i < iw; i++)
        {
          gint64 cx = (gint64) i * gw / iw;
          double v = values[cy * gw + cx];
          if (!isfinite (v))
            {
              rowp[i] = grey;
              nan_cells[(gsize) j * iw + i] = 1;
              any_nan = TRUE;
              continue;
            }
          double r, g, bb;
          tsr_colormap_viridis ((v - lo) / (hi - lo), &r, &g, &bb);
          rowp[i] = ((guint32) lround (r * 255) << 16) | ((guint32) lround (g * 255) << 8)
                    | (guint32) lround (bb * 255);
        }
    }
  cairo_surface_mark_dirty (img);

  cairo_save (cr);
  p_rectangle (cr, m.x, m.y, m.w, m.h);
  cairo_clip (cr);
  cairo_translate (cr, m.x, m.y);
  cairo_scale (cr, m.w / iw, m.h / ih);
  cairo_set_source_surface (cr, img, 0, 0);
  cairo_pattern_set_filter (cairo_get_source (cr), CAIRO_FILTER_NEAREST);
  cairo_pattern_set_extend (cairo_get_source (cr), CAIRO_EXTEND_PAD);
  cairo_paint (cr);
  cairo_restore (cr);

  /* Hatch the cells without data when they are large enough to show it. */
  double px_w = m.w / iw, px_h = m.h / ih;
  if (any_nan && px_w >= 5 && px_h >= 5)
    {
      cairo_save (cr);
      for (int j = 0; j < ih; j++)
        for (int i = 0; i < iw; i++)
          {
            if (!nan_cells[(gsize) j * iw + i])
              continue;
            int i0 = i;
            while (i + 1 < iw && nan_cells[(gsize) j * iw + i + 1])
              i++;
            p_rectangle (cr, m.x + i0 * px_w, m.y + j * px_h, (i - i0 + 1) * px_w, px_h);
          }
      cairo_clip (cr);
      cairo_set_source_rgba (cr, t.dark ? 0.75 : 0.3, t.dark ? 0.75 : 0.3,
                             t.dark ? 0.75 : 0.3, 0.55);
      cairo_set_line_width (cr, 1.0);
      double step = 6.0;
      for (double d = -m.h; d < m.w; d += step)
        {
          p_move_to (cr, m.x + d, m.y + m.h);
          p_line_to (cr, m.x + d + m.h, m.y);
        }
      cairo_stroke (cr);
      cairo_restore (cr);
    }

  /* Outline. */
  set_rgb (cr, t.frame);
  cairo_set_line_width (cr, 1.0);
  p_rectangle (cr, round (m.x) + 0.5, round (m.y) + 0.5, MAX (round (m.w) - 1, 0),
                   MAX (round (m.h) - 1, 0));
  cairo_stroke (cr);

  /* Colour bar as tall as the map (at least a few font heights). */
  {
    double cb_h = MAX (m.h, MIN (area.h, fs * 6));
    double cb_x = area.x + area.w + pad;
    double cb_y = area.y + (area.h - cb_h) / 2.0;
    cairo_pattern_t *pat = cairo_pattern_create_linear (0, cb_y + cb_h, 0, cb_y);
    for (int k = 0; k < 32; k++)
      {
        double r, g, bb, tt = k / 31.0;
        tsr_colormap_viridis (tt, &r, &g, &bb);
        cairo_pattern_add_color_stop_rgb (pat, tt, r, g, bb);
      }
    p_rectangle (cr, cb_x, cb_y, cb_w, cb_h);
    cairo_set_source (cr, pat);
    cairo_fill (cr);
    cairo_pattern_destroy (pat);
    set_rgb (cr, t.frame);
    p_rectangle (cr, round (cb_x) + 0.5, round (cb_y) + 0.5, round (cb_w) - 1,
                     round (cb_h) - 1);
    cairo_stroke (cr);

    set_font (cr, fs * 0.95, FALSE);
    set_rgb (cr, t.dim);
    double lx = cb_x + cb_w + fs * 0.4;
    draw_text (cr, lx, cb_y + fs * 0.45, s_hi, 0.0);
    if (cb_h > fs * 4)
      draw_text (cr, lx, cb_y + cb_h / 2.0, s_mid, 0.0);
    draw_text (cr, lx, cb_y + cb_h - fs * 0.45, s_lo, 0.0);
  }

  /* Axis labels. */
  set_font (cr, fs, FALSE);
  set_rgb (cr, t.fg);
  if (xl)
    draw_text (cr, m.x + m.w / 2.0, MIN (m.y + m.h + fs * 1.3, height - fs * 0.8), st->xlabel,
               0.5);
  if (yl)
    {
      cairo_save (cr);
      cairo_translate (cr, MAX (m.x - fs * 0.9, fs * 0.9), m.y + m.h / 2.0);
      cairo_rotate (cr, -G_PI / 2.0);
      draw_text (cr, 0, 0, st->ylabel, 0.5);
      cairo_restore (cr);
    }

out:
  if (img != NULL)
    cairo_surface_destroy (img);
  g_free (nan_cells);
  end_plot (cr);
}

/* ---------------------------------------------------------------------------------- */
/* Validation table                                                                     */

static void
draw_check (cairo_t *cr, double x, double cy, double s)
{
  p_move_to (cr, x, cy);
  p_line_to (cr, x + s * 0.35, cy + s * 0.35);
  p_line_to (cr, x + s, cy - s * 0.4);
  cairo_stroke (cr);
}

static void
draw_cross (cairo_t *cr, double x, double cy, double s)
{
  double h = s * 0.4;
  p_move_to (cr, x + s * 0.1, cy - h);
  p_line_to (cr, x + s * 0.9, cy + h);
  p_move_to (cr, x + s * 0.9, cy - h);
  p_line_to (cr, x + s * 0.1, cy + h);
  cairo_stroke (cr);
}

void
tsr_plot_table (cairo_t *cr, double width, double height, const TsrPlotStyle *st,
                const char *const *names, const char *const *values,
                const char *const *limits, const gboolean *pass, guint n)
{
  Theme t;

  if (!begin_plot (cr, width, height, st, &t))
    return;

  /* A table is read row by row: its text size follows the width, not the height. */
  double fs = CLAMP (width / 48.0, 9.0, 13.0);
  double top = draw_title (cr, &t, st, width, fs);
  double pad = fs * 0.8;
  Box b = { pad, top, width - 2 * pad, height - top - pad };
  if (b.w < 4 || b.h < 4)
    goto out;

  const char *heads[4] = { _("Check"), _("Value"), _("Limit"), _("Result") };
  const char *const *cols[3] = { names, values, limits };
  double cw[4];
  double cell_pad = fs * 0.8;

  set_font (cr, fs, TRUE);
  for (int c = 0; c < 4; c++)
    cw[c] = text_width (cr, heads[c]);
  cw[3] = MAX (cw[3], fs * 1.4 + text_width (cr, "FAIL"));
  set_font (cr, fs, FALSE);
  for (guint i = 0; i < n; i++)
    for (int c = 0; c < 3; c++)
      if (cols[c] != NULL && cols[c][i] != NULL)
        cw[c] = MAX (cw[c], text_width (cr, cols[c][i]));

  double total = 0;
  for (int c = 0; c < 4; c++)
    {
      cw[c] += 2 * cell_pad;
      total += cw[c];
    }
  /* Too wide: shrink the text columns (cells are clipped), keep the result column. */
  if (total > b.w)
    {
      double avail = MAX (b.w - cw[3], 0);
      double textw = total - cw[3];
      for (int c = 0; c < 3; c++)
        cw[c] = textw > 0 ? cw[c] * avail / textw : 0;
      total = b.w;
    }
  /* Roomy: give the spare width to the name column, up to a comfortable size. */
  else
    {
      double extra = MIN (b.w - total, fs * 12);
      cw[0] += extra;
      total += extra;
    }
  double tx = b.x + (b.w - total) / 2.0;
  double row = fs * 1.9;

  /* Rows that fit; the last visible line says how many were left out. */
  guint fit = (guint) MAX (floor (b.h / row) - 1, 0);
  guint shown = n;
  gboolean more = FALSE;
  if (shown > fit)
    {
      more = TRUE;
      shown = fit > 0 ? fit - 1 : 0;
    }

  /* Header. */
  set_rgb (cr, t.panel);
  p_rectangle (cr, tx, b.y, total, row);
  cairo_fill (cr);
  set_font (cr, fs, TRUE);
  set_rgb (cr, t.fg);
  {
    double x = tx;
    for (int c = 0; c < 4; c++)
      {
        cairo_save (cr);
        p_rectangle (cr, x, b.y, cw[c], row);
        cairo_clip (cr);
        draw_text (cr, x + cell_pad, b.y + row / 2.0, heads[c], 0.0);
        cairo_restore (cr);
        x += cw[c];
      }
  }
  set_rgb (cr, t.frame);
  cairo_set_line_width (cr, 1.0);
  p_move_to (cr, tx, round (b.y + row) + 0.5);
  p_line_to (cr, tx + total, round (b.y + row) + 0.5);
  cairo_stroke (cr);

  set_font (cr, fs, FALSE);
  for (guint i = 0; i < shown; i++)
    {
      double y = b.y + row * (i + 1);
      if (i % 2 == 1)
        {
          set_rgba (cr, t.panel, 0.7);
          p_rectangle (cr, tx, y, total, row);
          cairo_fill (cr);
        }
      double x = tx;
      for (int c = 0; c < 3; c++)
        {
          const char *s = cols[c] != NULL ? cols[c][i] : NULL;
          cairo_save (cr);
          p_rectangle (cr, x, y, cw[c], row);
          cairo_clip (cr);
          set_rgb (cr, c == 0 ? t.fg : t.dim);
          draw_text (cr, x + cell_pad, y + row / 2.0, s, 0.0);
          cairo_restore (cr);
          x += cw[c];
        }
      /* Result: a drawn tick or cross (no font needed) and PASS / FAIL. */
      double cy = y + row / 2.0, mark = fs * 0.9;
      cairo_save (cr);
      p_rectangle (cr, x, y, cw[3], row);
      cairo_clip (cr);
      if (pass == NULL)
        {
          set_rgb (cr, t.dim);
          draw_text (cr, x + cell_pad, cy, "—", 0.0);
        }
      else
        {
          Rgb c = pass[i] ? t.green : t.red;
          set_rgb (cr, c);
          cairo_set_line_width (cr, MAX (fs * 0.16, 1.5));
          cairo_set_line_cap (cr, CAIRO_LINE_CAP_ROUND);
          if (pass[i])
            draw_check (cr, x + cell_pad, cy, mark);
          else
            draw_cross (cr, x + cell_pad, cy, mark);
          set_font (cr, fs, TRUE);
          draw_text (cr, x + cell_pad + mark + fs * 0.4, cy, pass[i] ? "PASS" : "FAIL", 0.0);
          set_font (cr, fs, FALSE);
        }
      cairo_restore (cr);
    }
  if (more && fit > 0)
    {
      set_rgb (cr, t.dim);
      char *msg = g_strdup_printf (_("… %u more"), n - shown);
      draw_text (cr, tx + cell_pad, b.y + row * (shown + 1.5), msg, 0.0);
      g_free (msg);
    }
  if (n == 0)
    {
      set_rgba (cr, t.fg, 0.6);
      draw_text (cr, tx + total / 2.0, b.y + row * 1.5, _("No checks"), 0.5);
    }

out:
  end_plot (cr);
}

/* ---------------------------------------------------------------------------------- */
/* PNG                                                                                  */

static cairo_status_t
append_png (void *closure, const unsigned char *data, unsigned int length)
{
  g_byte_array_append ((GByteArray *) closure, data, length);
  return CAIRO_STATUS_SUCCESS;
}

gboolean
tsr_plot_write_png (const char *path, int width, int height, TsrPlotDrawFunc draw,
                    gpointer data, GError **error)
{
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (draw != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (width <= 0 || height <= 0 || width > 32767 || height > 32767)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("Cannot write “%s”: a plot of %d × %d pixels is not possible; use a "
                     "size between 1 and 32767"), path, width, height);
      return FALSE;
    }

  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, width, height);
  cairo_status_t status = cairo_surface_status (surface);
  if (status != CAIRO_STATUS_SUCCESS)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FAILED,
                   _("Cannot write “%s”: no image of %d × %d pixels (cairo: %s)"), path,
                   width, height, cairo_status_to_string (status));
      cairo_surface_destroy (surface);
      return FALSE;
    }

  cairo_t *cr = cairo_create (surface);
  draw (cr, width, height, data);
  status = cairo_status (cr);
  cairo_destroy (cr);
  if (status != CAIRO_STATUS_SUCCESS)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FAILED,
                   _("Cannot write “%s”: drawing the plot failed (cairo: %s)"), path,
                   cairo_status_to_string (status));
      cairo_surface_destroy (surface);
      return FALSE;
    }

  cairo_surface_flush (surface);
  GByteArray *png = g_byte_array_new ();
  status = cairo_surface_write_to_png_stream (surface, append_png, png);
  cairo_surface_destroy (surface);
  if (status != CAIRO_STATUS_SUCCESS)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO,
                   _("Cannot write “%s”: PNG encoding failed (cairo: %s)"), path,
                   cairo_status_to_string (status));
      g_byte_array_unref (png);
      return FALSE;
    }

  gboolean ok = tsr_write_file_atomic (path, (const char *) png->data, (gssize) png->len,
                                       error);
  g_byte_array_unref (png);
  return ok;
}
