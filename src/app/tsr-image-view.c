/* tsr-image-view.c — the image view (see tsr-image-view.h).
 *
 * View transform: widget = (image − origin) · zoom, in image pixels whose centres are at
 * integer positions, so pixel (x, y) covers [x − ½, x + ½). The display surface may be a
 * reduced rendering (CFA frames are shown as 2×2 luminance): it is scaled by
 * img->width / surface width. */
#include "tsr-config.h"
#include <math.h>
#include <string.h>
#include <glib/gi18n.h>
#include "tsr-image-view.h"
#include "tsr-stall.h"
#include "tsr-maps.h"

struct _TsrImageView
{
  GtkDrawingArea parent_instance;

  TsrImage *img;
  cairo_surface_t *surface;
  int geometry_frame;
  double img_scale;       /* geometry pixels per img pixel (1, or the preview's reduction) */

  TsrAnalysis *analysis;
  TsrWeights *weights;
  TsrMapKind map_kind;    /* the map the "weights" overlay draws (issue #13, problem 4) */
  TsrMap *map;            /* its values for the weighing shown (NULL: none) */
  int map_frame;          /* the frame it was computed for (−1: the mean) */
  int selected_frame;
  TsrOverlay overlays;

  gboolean fit;
  double zoom, ox, oy;
  double drag_ox, drag_oy, drag_x0;
  double pointer_x, pointer_y;
  gboolean pointer_in;

  char *readout;

  /* split compare: the right of the divider shows compare_surface (same geometry as img) */
  cairo_surface_t *compare_surface;
  char *label_left, *label_right;
  double split;           /* divider position, fraction of the widget width */
  gboolean drag_split;    /* this drag moves the divider, not the image */

  /* alignment points of a planetary session (reference geometry) */
  guint n_points;
  double *pt_x, *pt_y, pt_cell;
  gboolean *pt_active;
  gboolean show_points;

  /* background extraction's sky samples (pixels of the image shown) */
  TsrBgSample *samples;
  guint n_samples;
  gboolean show_samples;
  gboolean pick_mode;
  /* a press in pick mode: a click (pick) or, on a sample, a drag that moves it */
  gboolean press_pick;        /* this press is a pick-mode one (not a pan) */
  gboolean press_secondary;   /* right button or Shift */
  double press_ix, press_iy;  /* where it began, image pixels */
  int drag_sample;            /* the sample under the press (−1: none: the drag pans) */
  gboolean dragging;          /* moved beyond the click threshold */
  double drag_dx, drag_dy;    /* the drag so far, image pixels */
};

/* A press that moves less than this (widget pixels) is a click. */
#define CLICK_SLOP 4.0

enum { SIGNAL_PICK, SIGNAL_MOVE_SAMPLE, N_SIGNALS };
static guint signals[N_SIGNALS];

enum { PROP_0, PROP_READOUT, N_PROPS };
static GParamSpec *props[N_PROPS];

G_DEFINE_TYPE (TsrImageView, tsr_image_view, GTK_TYPE_DRAWING_AREA)

static void
compute_fit (TsrImageView *self, int w, int h)
{
  if (!self->img || w <= 0 || h <= 0)
    return;
  double iw = self->img->width * self->img_scale, ih = self->img->height * self->img_scale;
  self->zoom = MIN (w / iw, h / ih);
  if (self->zoom <= 0)
    self->zoom = 1;
  self->ox = -0.5 - (w / self->zoom - iw) / 2;
  self->oy = -0.5 - (h / self->zoom - ih) / 2;
}

/* Tile cell (centre ± step/2, clipped to the reference) as a polygon in the displayed
 * geometry. Returns FALSE when the frame has no transform. */
static gboolean
tile_polygon (TsrImageView *self, guint t, double px[4], double py[4])
{
  const TsrAnalysis *a = self->analysis;
  double x0, y0, x1, y1;
  tsr_map_tile_cell (a, t, &x0, &y0, &x1, &y1);
  x0 -= 0.5, x1 -= 0.5, y0 -= 0.5, y1 -= 0.5;
  double cx[4] = { x0, x1, x1, x0 }, cy[4] = { y0, y0, y1, y1 };
  if (self->geometry_frame < 0)
    {
      memcpy (px, cx, sizeof cx);
      memcpy (py, cy, sizeof cy);
      return TRUE;
    }
  if ((guint) self->geometry_frame >= a->reg->n_frames)
    return FALSE;
  const TsrFrameReg *fr = &a->reg->frames[self->geometry_frame];
  if (!fr->registered)
    return FALSE;
  for (int k = 0; k < 4; k++)
    tsr_transform_apply (&fr->transform, cx[k], cy[k], &px[k], &py[k]);
  return TRUE;
}

/* The per-frame maps (weight, local quality) show the selected frame over that frame, and the
 * mean over the used frames over the combined images (live preview, result, …). */
static int
map_frame (TsrImageView *self)
{
  return self->geometry_frame >= 0 ? self->selected_frame : -1;
}

static void
recompute_map (TsrImageView *self)
{
  g_clear_pointer (&self->map, tsr_map_free);
  self->map_frame = map_frame (self);
  if (self->analysis && self->weights)
    self->map = tsr_map_compute (self->analysis, self->weights, self->map_kind, self->map_frame);
}

static double
tile_value (TsrImageView *self, guint t)
{
  return self->map && t < self->map->n_tiles ? self->map->v[t] : NAN;
}

static void
draw_overlays (TsrImageView *self, cairo_t *cr)
{
  double lw = 1.0 / self->zoom;
  const TsrAnalysis *a = self->analysis;
  if (a && self->weights && (self->overlays & (TSR_OVERLAY_WEIGHTS | TSR_OVERLAY_TILES))
      && self->weights->n_tiles == a->n_tiles)
    {
      for (guint t = 0; t < a->n_tiles; t++)
        {
          double px[4], py[4];
          if (!tile_polygon (self, t, px, py))
            break;
          cairo_move_to (cr, px[0], py[0]);
          for (int k = 1; k < 4; k++)
            cairo_line_to (cr, px[k], py[k]);
          cairo_close_path (cr);
          if (self->overlays & TSR_OVERLAY_WEIGHTS)
            {
              double r, g, b;
              if (tsr_map_color (self->map, tile_value (self, t), &r, &g, &b))
                cairo_set_source_rgba (cr, r, g, b, 0.45);
              else
                cairo_set_source_rgba (cr, 0.5, 0.5, 0.5, 0.3);
              /* cells share their edges: without antialiasing no seam is blended twice or
               * left out */
              cairo_set_antialias (cr, CAIRO_ANTIALIAS_NONE);
              cairo_fill_preserve (cr);
              cairo_set_antialias (cr, CAIRO_ANTIALIAS_DEFAULT);
            }
          else
            {
              if (self->weights->tile_type[t] == TSR_TILE_STAR)
                cairo_set_source_rgba (cr, 1.0, 0.62, 0.1, 0.28);
              else
                cairo_set_source_rgba (cr, 0.2, 0.55, 1.0, 0.28);
              cairo_fill_preserve (cr);
            }
          if (self->overlays & TSR_OVERLAY_TILES)
            {
              if (self->weights->tile_type[t] == TSR_TILE_STAR)
                cairo_set_source_rgba (cr, 1.0, 0.62, 0.1, 0.9);
              else
                cairo_set_source_rgba (cr, 0.3, 0.65, 1.0, 0.9);
            }
          else if (a->tile_step * self->zoom >= 14)
            cairo_set_source_rgba (cr, 1, 1, 1, 0.15);
          else
            {
              /* cells a few screen pixels wide: outlines would hide the map */
              cairo_new_path (cr);
              continue;
            }
          cairo_set_line_width (cr, lw);
          cairo_stroke (cr);
        }
    }

  if (a && (self->overlays & TSR_OVERLAY_STARS) && self->geometry_frame >= 0
      && (guint) self->geometry_frame < a->reg->n_frames)
    {
      const TsrStarList *sl = a->reg->frames[self->geometry_frame].stars;
      if (sl && sl->stars)
        {
          cairo_set_line_width (cr, 1.5 * lw);
          cairo_set_source_rgba (cr, 0.2, 1.0, 0.3, 0.85);
          for (guint i = 0; i < sl->stars->len; i++)
            {
              const TsrStar *s = &g_array_index (sl->stars, TsrStar, i);
              double r = isfinite (s->fwhm) ? MAX (1.5 * s->fwhm, 4 * lw) : 6 * lw;
              cairo_new_sub_path (cr);
              cairo_arc (cr, s->x, s->y, r, 0, 2 * G_PI);
            }
          cairo_stroke (cr);
        }
    }
}

/* Alignment points: an active point is its grid cell outlined in green with a centre dot;
 * an inactive one (too little structure: keeps the global shift) a small grey cross. */
static void
draw_points (TsrImageView *self, cairo_t *cr)
{
  if (!self->show_points || self->n_points == 0 || self->geometry_frame >= 0)
    return;
  double lw = 1.0 / self->zoom, h = self->pt_cell / 2;
  cairo_set_line_width (cr, 1.2 * lw);
  cairo_set_source_rgba (cr, 0.25, 1.0, 0.35, 0.75);
  for (guint i = 0; i < self->n_points; i++)
    if (self->pt_active[i])
      cairo_rectangle (cr, self->pt_x[i] - h + lw, self->pt_y[i] - h + lw, 2 * h - 2 * lw, 2 * h - 2 * lw);
  cairo_stroke (cr);
  for (guint i = 0; i < self->n_points; i++)
    if (self->pt_active[i])
      {
        cairo_new_sub_path (cr);
        cairo_arc (cr, self->pt_x[i], self->pt_y[i], 1.5 * lw, 0, 2 * G_PI);
      }
  cairo_fill (cr);
  double c = MIN (2 * lw, h / 3);
  cairo_set_source_rgba (cr, 0.7, 0.7, 0.7, 0.3);
  cairo_set_line_width (cr, lw);
  for (guint i = 0; i < self->n_points; i++)
    if (!self->pt_active[i])
      {
        cairo_move_to (cr, self->pt_x[i] - c, self->pt_y[i]);
        cairo_line_to (cr, self->pt_x[i] + c, self->pt_y[i]);
        cairo_move_to (cr, self->pt_x[i], self->pt_y[i] - c);
        cairo_line_to (cr, self->pt_x[i], self->pt_y[i] + c);
      }
  cairo_stroke (cr);
}

/* The colour of a sample state: used green, rejected light grey (dashed), added cyan,
 * excluded red. */
static void
sample_colour (TsrBgSampleState st, double rgb[3])
{
  static const double c[4][3] = { { 0.3, 1.0, 0.35 }, { 0.92, 0.92, 0.92 }, { 0.2, 0.85, 1.0 }, { 1.0, 0.3, 0.25 } };
  memcpy (rgb, c[CLAMP ((int) st, 0, 3)], sizeof c[0]);
}

static gboolean
samples_drawn (TsrImageView *self)
{
  return self->show_samples && self->n_samples > 0 && self->img && self->geometry_frame < 0;
}

/* The path of one sample box (its centre moved by dx, dy image pixels); excluded ones crossed. */
static void
sample_path (TsrImageView *self, cairo_t *cr, const TsrBgSample *s, double dx, double dy, double lw)
{
  double sc = self->img_scale;
  double h = 0.5 * s->size * sc - 1.5 * lw;
  double x = (s->x + dx + 0.5) * sc - 0.5, y = (s->y + dy + 0.5) * sc - 0.5;
  cairo_rectangle (cr, x - h, y - h, 2 * h, 2 * h);
  if (s->state == TSR_BG_SAMPLE_EXCLUDED)
    {
      cairo_move_to (cr, x - h, y - h);
      cairo_line_to (cr, x + h, y + h);
      cairo_move_to (cr, x + h, y - h);
      cairo_line_to (cr, x - h, y + h);
    }
}

/* A state's stroke: rejected boxes dashed (light on their dark outline, so they read on dark
 * and on bright sky alike); added and excluded ones wider. */
static void
sample_stroke_style (cairo_t *cr, int st, double lw, gboolean outline)
{
  double w = (st == TSR_BG_SAMPLE_ADDED || st == TSR_BG_SAMPLE_EXCLUDED ? 2.0 : 1.4) * lw;
  cairo_set_line_width (cr, outline ? w + 2.0 * lw : w);
  if (st == TSR_BG_SAMPLE_REJECTED && !outline)
    {
      double dash[2] = { 5 * lw, 4 * lw };
      cairo_set_dash (cr, dash, 2, 0);
    }
  else
    cairo_set_dash (cr, NULL, 0, 0);
}

/* Sample boxes: the image's pixel i is at geometry (i + 0.5)·scale − 0.5. Each is drawn
 * over a dark outline one screen pixel wider on each side. */
static void
draw_samples (TsrImageView *self, cairo_t *cr)
{
  if (!samples_drawn (self))
    return;
  double lw = 1.0 / self->zoom;
  for (int st = 0; st < 4; st++)
    for (int pass = 0; pass < 2; pass++)
      {
        double rgb[3];
        sample_colour (st, rgb);
        if (pass == 0)
          cairo_set_source_rgba (cr, 0, 0, 0, 0.75);
        else
          cairo_set_source_rgba (cr, rgb[0], rgb[1], rgb[2], 0.95);
        sample_stroke_style (cr, st, lw, pass == 0);
        for (guint i = 0; i < self->n_samples; i++)
          {
            const TsrBgSample *s = &self->samples[i];
            if ((int) s->state == st)
              sample_path (self, cr, s, 0, 0, lw);
          }
        cairo_stroke (cr);
      }
  /* a box being dragged: where it will go, in the added colour */
  if (self->dragging && self->drag_sample >= 0 && (guint) self->drag_sample < self->n_samples)
    {
      TsrBgSample moved = self->samples[self->drag_sample];
      moved.state = TSR_BG_SAMPLE_ADDED;
      for (int pass = 0; pass < 2; pass++)
        {
          double rgb[3];
          sample_colour (TSR_BG_SAMPLE_ADDED, rgb);
          if (pass == 0)
            cairo_set_source_rgba (cr, 0, 0, 0, 0.75);
          else
            cairo_set_source_rgba (cr, rgb[0], rgb[1], rgb[2], 0.95);
          sample_stroke_style (cr, TSR_BG_SAMPLE_ADDED, lw, pass == 0);
          sample_path (self, cr, &moved, self->drag_dx, self->drag_dy, lw);
          cairo_stroke (cr);
        }
    }
  cairo_set_dash (cr, NULL, 0, 0);
}

static PangoLayout *legend_layout (TsrImageView *self, const char *text);

/* The legend of the sample colours, bottom left, with the count of each. */
static void
draw_samples_legend (TsrImageView *self, cairo_t *cr, int w, int h)
{
  if (!samples_drawn (self))
    return;
  guint count[4] = { 0 };
  for (guint i = 0; i < self->n_samples; i++)
    count[CLAMP ((int) self->samples[i].state, 0, 3)]++;
  const char *names[4] = { _("sky sample used"), _("rejected (stars, nebulosity)"), _("added by you"),
                           _("excluded by you") };
  double y = h - 8 - 4 * 18;
  cairo_set_source_rgba (cr, 0, 0, 0, 0.6);
  cairo_rectangle (cr, 4, y - 4, 240, 4 * 18 + 8);
  cairo_fill (cr);
  for (int st = 0; st < 4; st++, y += 18)
    {
      double rgb[3];
      sample_colour (st, rgb);
      cairo_set_source_rgb (cr, rgb[0], rgb[1], rgb[2]);
      sample_stroke_style (cr, st, 1.0, FALSE);
      if (st == TSR_BG_SAMPLE_REJECTED)
        {
          double dash[2] = { 3, 2 };
          cairo_set_dash (cr, dash, 2, 0);
        }
      cairo_rectangle (cr, 10, y + 3, 10, 10);
      cairo_stroke (cr);
      cairo_set_dash (cr, NULL, 0, 0);
      g_autofree char *text = g_strdup_printf ("%s: %u", names[st], count[st]);
      PangoLayout *layout = legend_layout (self, text);
      cairo_set_source_rgb (cr, 0.92, 0.92, 0.92);
      cairo_move_to (cr, 28, y);
      pango_cairo_show_layout (cr, layout);
      g_object_unref (layout);
    }
}

static void
draw_message (GtkWidget *widget, cairo_t *cr, int w, int h, const char *text)
{
  PangoLayout *layout = gtk_widget_create_pango_layout (widget, text);
  int tw, th;
  pango_layout_get_pixel_size (layout, &tw, &th);
  cairo_set_source_rgba (cr, 0.8, 0.8, 0.8, 0.8);
  cairo_move_to (cr, (w - tw) / 2.0, (h - th) / 2.0);
  pango_cairo_show_layout (cr, layout);
  g_object_unref (layout);
}

static PangoLayout *
legend_layout (TsrImageView *self, const char *text)
{
  PangoLayout *layout = gtk_widget_create_pango_layout (GTK_WIDGET (self), text);
  PangoFontDescription *fd = pango_font_description_from_string ("Sans 10");
  pango_layout_set_font_description (layout, fd);
  pango_font_description_free (fd);
  return layout;
}

static char *
format_value (const TsrMap *m, double v)
{
  if (m->kind == TSR_MAP_COVERAGE)
    return g_strdup_printf ("%.0f", v);
  if (m->kind == TSR_MAP_NEFF)
    return g_strdup_printf ("%.1f", v);
  return g_strdup_printf ("%.3g", v);
}

/* The map's legend in the lower right corner: its title, a colour bar with the scale's ends
 * and the range of the values shown, or one swatch per cluster; or why the map is empty. */
static void
draw_map_legend (TsrImageView *self, cairo_t *cr, int w, int h)
{
  const TsrMap *m = self->map;
  if (!m)
    return;
  double bw = 240, bh = 12, pad = 8;
  GPtrArray *lines = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (lines, g_strdup (m->title));
  gboolean bar = !m->note && m->kind != TSR_MAP_CLUSTERS;
  if (m->note)
    g_ptr_array_add (lines, g_strdup (m->note));
  else if (bar)
    {
      g_autofree char *lo = format_value (m, m->lo), *hi = format_value (m, m->hi);
      g_autofree char *vmin = format_value (m, m->v_min), *vmax = format_value (m, m->v_max);
      if (m->log_scale)
        g_ptr_array_add (lines, g_strdup_printf (_("%s … %s (log scale); tiles %s … %s"), lo, hi, vmin, vmax));
      else if (m->diverging)
        g_ptr_array_add (lines, g_strdup_printf (_("%s … 0 … %s (blue worse, red better); tiles %s … %s"), lo, hi,
                                                 vmin, vmax));
      else
        g_ptr_array_add (lines, g_strdup_printf (_("%s … %s; tiles %s … %s"), lo, hi, vmin, vmax));
    }
  g_ptr_array_add (lines, NULL);
  g_autofree char *text = g_strjoinv ("\n", (char **) lines->pdata);
  g_ptr_array_unref (lines);
  PangoLayout *layout = legend_layout (self, text);
  pango_layout_set_width (layout, 300 * PANGO_SCALE);   /* the box stays in the corner */
  pango_layout_set_wrap (layout, PANGO_WRAP_WORD_CHAR);
  int tw, th;
  pango_layout_get_pixel_size (layout, &tw, &th);
  int n_sw = m->kind == TSR_MAP_CLUSTERS && !m->note ? m->n_classes : 0;
  double sw_h = n_sw ? 16 * ((n_sw + 4) / 5) : 0;
  double box_w = MAX (tw, bw) + 2 * pad;
  double box_h = th + 2 * pad + (bar ? bh + 4 : 0) + sw_h;
  double x = w - box_w - 10, y = h - box_h - 10;
  cairo_save (cr);
  cairo_set_source_rgba (cr, 0, 0, 0, 0.62);
  cairo_rectangle (cr, x, y, box_w, box_h);
  cairo_fill (cr);
  double yy = y + pad;
  if (bar)
    {
      for (int i = 0; i < (int) bw; i++)
        {
          double t = i / (bw - 1), v, r, g, b;
          if (m->log_scale)
            v = m->lo * pow (m->hi / m->lo, t);
          else
            v = m->lo + t * (m->hi - m->lo);
          if (!tsr_map_color (m, v, &r, &g, &b))
            continue;
          cairo_set_source_rgb (cr, r, g, b);
          cairo_rectangle (cr, x + pad + i, yy, 1, bh);
          cairo_fill (cr);
        }
      /* the range of the tiles shown, as a bracket under the bar */
      if (isfinite (m->v_min) && isfinite (m->v_max))
        {
          double t0, t1;
          if (m->log_scale)
            {
              t0 = m->v_min > 0 ? log (m->v_min / m->lo) / log (m->hi / m->lo) : 0;
              t1 = m->v_max > 0 ? log (m->v_max / m->lo) / log (m->hi / m->lo) : 0;
            }
          else
            {
              t0 = (m->v_min - m->lo) / (m->hi - m->lo);
              t1 = (m->v_max - m->lo) / (m->hi - m->lo);
            }
          t0 = CLAMP (t0, 0, 1);
          t1 = CLAMP (t1, 0, 1);
          cairo_set_source_rgb (cr, 1, 1, 1);
          cairo_set_line_width (cr, 1.5);
          cairo_move_to (cr, x + pad + t0 * (bw - 1), yy + bh + 3);
          cairo_line_to (cr, x + pad + t0 * (bw - 1), yy - 1);
          cairo_move_to (cr, x + pad + t1 * (bw - 1), yy + bh + 3);
          cairo_line_to (cr, x + pad + t1 * (bw - 1), yy - 1);
          cairo_move_to (cr, x + pad + t0 * (bw - 1), yy + bh + 2);
          cairo_line_to (cr, x + pad + t1 * (bw - 1), yy + bh + 2);
          cairo_stroke (cr);
        }
      yy += bh + 4;
    }
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_move_to (cr, x + pad, yy);
  pango_cairo_show_layout (cr, layout);
  yy += th;
  for (int k = 0; k < n_sw; k++)
    {
      double sx = x + pad + (k % 5) * 56, sy = yy + 2 + (k / 5) * 16;
      double r, g, b;
      tsr_map_class_color (k, &r, &g, &b);
      cairo_set_source_rgb (cr, r, g, b);
      cairo_rectangle (cr, sx, sy, 12, 12);
      cairo_fill (cr);
      g_autofree char *num = g_strdup_printf ("%d (%d)", k + 1, m->class_frames ? m->class_frames[k] : 0);
      pango_layout_set_width (layout, -1);
      pango_layout_set_text (layout, num, -1);
      cairo_set_source_rgb (cr, 1, 1, 1);
      cairo_move_to (cr, sx + 15, sy - 2);
      pango_cairo_show_layout (cr, layout);
    }
  g_object_unref (layout);
  cairo_restore (cr);
}

/* The compare image right of the divider, in the same transform as the image. */
static void
draw_compare (TsrImageView *self, cairo_t *cr, int w, int h)
{
  double xs = round (self->split * w);
  cairo_save (cr);
  cairo_rectangle (cr, xs, 0, w - xs, h);
  cairo_clip (cr);
  cairo_set_source_rgb (cr, 0.09, 0.09, 0.1);
  cairo_paint (cr);
  cairo_scale (cr, self->zoom, self->zoom);
  cairo_translate (cr, -self->ox, -self->oy);
  double ss = self->img->width * self->img_scale / cairo_image_surface_get_width (self->compare_surface);
  cairo_translate (cr, -0.5, -0.5);
  cairo_scale (cr, ss, ss);
  cairo_set_source_surface (cr, self->compare_surface, 0, 0);
  cairo_pattern_set_filter (cairo_get_source (cr),
                            self->zoom * ss >= 2 ? CAIRO_FILTER_NEAREST : CAIRO_FILTER_GOOD);
  cairo_paint (cr);
  cairo_restore (cr);
}

static void
draw_divider (TsrImageView *self, cairo_t *cr, int w, int h)
{
  double xs = round (self->split * w);
  cairo_save (cr);
  cairo_set_source_rgba (cr, 1, 1, 1, 0.85);
  cairo_set_line_width (cr, 2);
  cairo_move_to (cr, xs, 0);
  cairo_line_to (cr, xs, h);
  cairo_stroke (cr);
  /* a handle in the middle */
  cairo_arc (cr, xs, h / 2.0, 7, 0, 2 * G_PI);
  cairo_fill (cr);
  PangoLayout *layout = gtk_widget_create_pango_layout (GTK_WIDGET (self), NULL);
  const char *labels[2] = { self->label_left, self->label_right };
  for (int i = 0; i < 2; i++)
    {
      if (!labels[i] || !*labels[i])
        continue;
      pango_layout_set_text (layout, labels[i], -1);
      int tw, th;
      pango_layout_get_pixel_size (layout, &tw, &th);
      double x = i == 0 ? xs - tw - 14 : xs + 10;
      cairo_set_source_rgba (cr, 0, 0, 0, 0.6);
      cairo_rectangle (cr, x - 4, 8, tw + 8, th + 4);
      cairo_fill (cr);
      cairo_set_source_rgb (cr, 1, 1, 1);
      cairo_move_to (cr, x, 10);
      pango_cairo_show_layout (cr, layout);
    }
  g_object_unref (layout);
  cairo_restore (cr);
}

static void view_draw_impl (GtkDrawingArea *area, cairo_t *cr, int w, int h);

static void
view_draw (GtkDrawingArea *area, cairo_t *cr, int w, int h, gpointer data)
{
  gint64 t0 = TSR_STALL_T0 ();
  view_draw_impl (area, cr, w, h);
  tsr_stall_note ("image-view draw", t0);
}

static void
view_draw_impl (GtkDrawingArea *area, cairo_t *cr, int w, int h)
{
  TsrImageView *self = TSR_IMAGE_VIEW (area);
  cairo_set_source_rgb (cr, 0.09, 0.09, 0.1);
  cairo_paint (cr);
  if (!self->img || !self->surface)
    {
      draw_message (GTK_WIDGET (area), cr, w, h, _("Open a session folder (Ctrl+O)"));
      return;
    }
  if (self->fit)
    compute_fit (self, w, h);

  cairo_save (cr);
  cairo_scale (cr, self->zoom, self->zoom);
  cairo_translate (cr, -self->ox, -self->oy);
  cairo_save (cr);
  double ss = self->img->width * self->img_scale / cairo_image_surface_get_width (self->surface);
  cairo_translate (cr, -0.5, -0.5);
  cairo_scale (cr, ss, ss);
  cairo_set_source_surface (cr, self->surface, 0, 0);
  cairo_pattern_set_filter (cairo_get_source (cr),
                            self->zoom * ss >= 2 ? CAIRO_FILTER_NEAREST : CAIRO_FILTER_GOOD);
  cairo_paint (cr);
  cairo_restore (cr);
  cairo_restore (cr);
  if (self->compare_surface)
    draw_compare (self, cr, w, h);
  cairo_save (cr);
  cairo_scale (cr, self->zoom, self->zoom);
  cairo_translate (cr, -self->ox, -self->oy);
  draw_overlays (self, cr);
  draw_points (self, cr);
  draw_samples (self, cr);
  cairo_restore (cr);
  draw_samples_legend (self, cr, w, h);
  if (self->compare_surface)
    draw_divider (self, cr, w, h);

  if ((self->overlays & TSR_OVERLAY_WEIGHTS) && self->weights && self->analysis)
    draw_map_legend (self, cr, w, h);
}

static void
set_readout (TsrImageView *self, char *text)
{
  if (g_strcmp0 (text, self->readout) == 0)
    {
      g_free (text);
      return;
    }
  g_free (self->readout);
  self->readout = text;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_READOUT]);
}

static void
update_readout (TsrImageView *self)
{
  if (!self->img || !self->pointer_in)
    {
      set_readout (self, g_strdup (""));
      return;
    }
  double ix = self->ox + self->pointer_x / self->zoom;
  double iy = self->oy + self->pointer_y / self->zoom;
  int x = (int) floor (ix + 0.5), y = (int) floor (iy + 0.5);
  const TsrImage *img = self->img;
  /* the pixel of img under the pointer (img may be a reduced rendering of the geometry) */
  int px = (int) floor ((ix + 0.5) / self->img_scale), py = (int) floor ((iy + 0.5) / self->img_scale);
  if (px < 0 || py < 0 || px >= img->width || py >= img->height)
    {
      set_readout (self, g_strdup (""));
      return;
    }
  gsize k = (gsize) py * img->width + px;
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, "x %d  y %d   ", x, y);
  if (!img->mask[k])
    g_string_append (s, _("no data"));
  else if (img->channels == 3)
    g_string_append_printf (s, "R %.6g  G %.6g  B %.6g", tsr_image_plane (img, 0)[k],
                            tsr_image_plane (img, 1)[k], tsr_image_plane (img, 2)[k]);
  else if (img->cfa != TSR_CFA_NONE)
    g_string_append_printf (s, "%c %.6g", "RGB"[tsr_cfa_color (img->cfa, px, py)], img->data[k]);
  else
    g_string_append_printf (s, "%.6g", img->data[k]);

  /* tile under the pointer, in reference coordinates */
  const TsrAnalysis *a = self->analysis;
  if (a && self->weights && self->weights->n_tiles == a->n_tiles
      && (self->overlays & (TSR_OVERLAY_WEIGHTS | TSR_OVERLAY_TILES)))
    {
      double rx = ix, ry = iy;
      gboolean ok = TRUE;
      if (self->geometry_frame >= 0 && (guint) self->geometry_frame < a->reg->n_frames)
        {
          TsrTransform inv;
          const TsrFrameReg *fr = &a->reg->frames[self->geometry_frame];
          ok = fr->registered && tsr_transform_invert (&fr->transform, &inv);
          if (ok)
            tsr_transform_apply (&inv, ix, iy, &rx, &ry);
        }
      for (guint t = 0; ok && t < a->n_tiles; t++)
        {
          double x0, y0, x1, y1;
          tsr_map_tile_cell (a, t, &x0, &y0, &x1, &y1);
          if (rx + 0.5 >= x0 && rx + 0.5 < x1 && ry + 0.5 >= y0 && ry + 0.5 < y1)
            {
              g_string_append_printf (s, _("   tile %u (%s)"), t,
                                      self->weights->tile_type[t] == TSR_TILE_STAR ? _("star") : _("structure"));
              if ((self->overlays & TSR_OVERLAY_WEIGHTS) && self->map && isfinite (tile_value (self, t)))
                g_string_append_printf (s, "  %s %.3g", tsr_map_kind_name (self->map_kind), tile_value (self, t));
              break;
            }
        }
    }
  set_readout (self, g_string_free (s, FALSE));
}

static void
on_motion (GtkEventControllerMotion *c, double x, double y, TsrImageView *self)
{
  self->pointer_x = x;
  self->pointer_y = y;
  self->pointer_in = TRUE;
  update_readout (self);
}

static void
on_leave (GtkEventControllerMotion *c, TsrImageView *self)
{
  self->pointer_in = FALSE;
  update_readout (self);
}

static gboolean
on_scroll (GtkEventControllerScroll *c, double dx, double dy, TsrImageView *self)
{
  if (!self->img)
    return FALSE;
  if (self->fit)
    compute_fit (self, gtk_widget_get_width (GTK_WIDGET (self)), gtk_widget_get_height (GTK_WIDGET (self)));
  double f = pow (1.2, -dy);
  double nz = CLAMP (self->zoom * f, 0.02, 64.0);
  double px = self->pointer_in ? self->pointer_x : gtk_widget_get_width (GTK_WIDGET (self)) / 2.0;
  double py = self->pointer_in ? self->pointer_y : gtk_widget_get_height (GTK_WIDGET (self)) / 2.0;
  double ix = self->ox + px / self->zoom, iy = self->oy + py / self->zoom;
  self->zoom = nz;
  self->ox = ix - px / nz;
  self->oy = iy - py / nz;
  self->fit = FALSE;
  update_readout (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  return TRUE;
}

/* The sample at image pixel (x, y): an added one first (drawn over the grid), −1 for none. */
static int
sample_at (TsrImageView *self, double x, double y)
{
  int hit = -1;
  for (guint i = 0; i < self->n_samples; i++)
    {
      const TsrBgSample *s = &self->samples[i];
      if (fabs (x - s->x) <= 0.5 * s->size && fabs (y - s->y) <= 0.5 * s->size
          && (hit < 0 || s->state == TSR_BG_SAMPLE_ADDED))
        hit = (int) i;
    }
  return hit;
}

/* Pick mode: a press at widget (x, y); FALSE when it is not one (the drag pans). */
static gboolean
pick_press (TsrImageView *self, double x, double y, guint button, gboolean shift)
{
  self->press_pick = FALSE;
  self->dragging = FALSE;
  self->drag_sample = -1;
  double ix, iy;
  if (!self->pick_mode || !tsr_image_view_widget_to_image (self, x, y, &ix, &iy))
    return FALSE;
  self->press_pick = TRUE;
  self->press_secondary = button == GDK_BUTTON_SECONDARY || shift;
  self->press_ix = ix;
  self->press_iy = iy;
  self->drag_dx = self->drag_dy = 0;
  /* only the primary button drags a sample (the right one excludes) */
  self->drag_sample = samples_drawn (self) && !self->press_secondary ? sample_at (self, ix, iy) : -1;
  return TRUE;
}

/* The pointer moved by (dx, dy) widget pixels since the press: TRUE when the pick-mode press
 * handles it (a sample follows it; else the view pans). */
static gboolean
pick_motion (TsrImageView *self, double dx, double dy)
{
  if (!self->press_pick || self->drag_sample < 0)
    return FALSE;
  if (hypot (dx, dy) >= CLICK_SLOP)
    self->dragging = TRUE;
  self->drag_dx = dx / self->zoom / self->img_scale;
  self->drag_dy = dy / self->zoom / self->img_scale;
  gtk_widget_queue_draw (GTK_WIDGET (self));
  return TRUE;
}

/* The release after (dx, dy): a click emits "pick", a drag of a sample "move-sample". */
static void
pick_release (TsrImageView *self, double dx, double dy)
{
  if (!self->press_pick)
    return;
  self->press_pick = FALSE;
  gboolean moved = hypot (dx, dy) >= CLICK_SLOP;
  int sample = self->drag_sample;
  self->dragging = FALSE;
  self->drag_sample = -1;
  gtk_widget_queue_draw (GTK_WIDGET (self));
  if (!moved)
    g_signal_emit (self, signals[SIGNAL_PICK], 0, self->press_ix, self->press_iy, self->press_secondary);
  else if (sample >= 0)
    g_signal_emit (self, signals[SIGNAL_MOVE_SAMPLE], 0, self->press_ix, self->press_iy,
                   self->press_ix + dx / self->zoom / self->img_scale, self->press_iy + dy / self->zoom / self->img_scale);
}

void
tsr_image_view_pointer_press_release (TsrImageView *self, double x0, double y0, double x1, double y1, guint button,
                                      gboolean shift)
{
  g_return_if_fail (TSR_IS_IMAGE_VIEW (self));
  if (!pick_press (self, x0, y0, button, shift))
    return;
  /* the way there in a few steps, as motion events come */
  for (int k = 1; k <= 4; k++)
    pick_motion (self, (x1 - x0) * k / 4, (y1 - y0) * k / 4);
  pick_release (self, x1 - x0, y1 - y0);
}

static void
on_drag_begin (GtkGestureDrag *g, double x, double y, TsrImageView *self)
{
  guint button = gtk_gesture_single_get_current_button (GTK_GESTURE_SINGLE (g));
  GdkModifierType mods = gtk_event_controller_get_current_event_state (GTK_EVENT_CONTROLLER (g));
  pick_press (self, x, y, button, (mods & GDK_SHIFT_MASK) != 0);
  if (self->fit)
    compute_fit (self, gtk_widget_get_width (GTK_WIDGET (self)), gtk_widget_get_height (GTK_WIDGET (self)));
  self->drag_ox = self->ox;
  self->drag_oy = self->oy;
  /* a press within a few pixels of the divider moves the divider */
  int w = gtk_widget_get_width (GTK_WIDGET (self));
  self->drag_split = self->compare_surface && w > 0 && fabs (x - self->split * w) <= 10;
  self->drag_x0 = x;
}

static void
on_drag_update (GtkGestureDrag *g, double dx, double dy, TsrImageView *self)
{
  if (!self->img)
    return;
  if (pick_motion (self, dx, dy))
    return;
  if (gtk_gesture_single_get_current_button (GTK_GESTURE_SINGLE (g)) != GDK_BUTTON_PRIMARY
      || (self->press_pick && self->press_secondary))
    return;   /* only the primary button pans (no Shift+drag in pick mode either) */
  if (self->drag_split)
    {
      int w = gtk_widget_get_width (GTK_WIDGET (self));
      tsr_image_view_set_split (self, w > 0 ? (self->drag_x0 + dx) / w : 0.5);
      return;
    }
  self->fit = FALSE;
  self->ox = self->drag_ox - dx / self->zoom;
  self->oy = self->drag_oy - dy / self->zoom;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
on_drag_end (GtkGestureDrag *g, double dx, double dy, TsrImageView *self)
{
  pick_release (self, dx, dy);
}

static gboolean on_key_pressed (GtkEventControllerKey *c, guint keyval, guint keycode, GdkModifierType state,
                                TsrImageView *self);

static void
on_click (GtkGestureClick *g, int n_press, double x, double y, TsrImageView *self)
{
  gtk_widget_grab_focus (GTK_WIDGET (self));
  double ix, iy;
  guint button = gtk_gesture_single_get_current_button (GTK_GESTURE_SINGLE (g));
  /* in pick mode the drag gesture tells a click (pick) from a drag (move) at the release */
  if (self->pick_mode && tsr_image_view_widget_to_image (self, x, y, &ix, &iy))
    return;
  if (button != GDK_BUTTON_PRIMARY)
    return;
  if (n_press == 2)
    tsr_image_view_zoom_fit (self);
}

static void
tsr_image_view_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  TsrImageView *self = TSR_IMAGE_VIEW (object);
  switch (prop_id)
    {
    case PROP_READOUT: g_value_set_string (value, self->readout); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
tsr_image_view_finalize (GObject *object)
{
  TsrImageView *self = TSR_IMAGE_VIEW (object);
  g_clear_pointer (&self->img, tsr_image_unref);
  g_clear_pointer (&self->surface, cairo_surface_destroy);
  g_clear_pointer (&self->analysis, tsr_analysis_unref);
  g_clear_pointer (&self->weights, tsr_weights_unref);
  g_clear_pointer (&self->map, tsr_map_free);
  g_free (self->readout);
  g_clear_pointer (&self->compare_surface, cairo_surface_destroy);
  g_free (self->label_left);
  g_free (self->label_right);
  tsr_image_view_set_points (self, 0, NULL, NULL, NULL, 0);
  g_free (self->samples);
  G_OBJECT_CLASS (tsr_image_view_parent_class)->finalize (object);
}

static void
tsr_image_view_class_init (TsrImageViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->get_property = tsr_image_view_get_property;
  object_class->finalize = tsr_image_view_finalize;
  props[PROP_READOUT] = g_param_spec_string ("readout", NULL, NULL, "",
                                             G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, props);
  signals[SIGNAL_PICK] = g_signal_new ("pick", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                       G_TYPE_NONE, 3, G_TYPE_DOUBLE, G_TYPE_DOUBLE,
                                       G_TYPE_BOOLEAN);
  signals[SIGNAL_MOVE_SAMPLE] = g_signal_new ("move-sample", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                              NULL, NULL, G_TYPE_NONE, 4, G_TYPE_DOUBLE, G_TYPE_DOUBLE, G_TYPE_DOUBLE,
                                              G_TYPE_DOUBLE);
}

static void
tsr_image_view_init (TsrImageView *self)
{
  self->fit = TRUE;
  self->img_scale = 1.0;
  self->zoom = 1;
  self->geometry_frame = -1;
  self->selected_frame = -1;
  self->map_frame = -1;
  self->readout = g_strdup ("");
  self->split = 0.5;
  gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (self), view_draw, NULL, NULL);
  gtk_widget_set_hexpand (GTK_WIDGET (self), TRUE);
  gtk_widget_set_vexpand (GTK_WIDGET (self), TRUE);

  GtkEventController *motion = gtk_event_controller_motion_new ();
  g_signal_connect (motion, "motion", G_CALLBACK (on_motion), self);
  g_signal_connect (motion, "leave", G_CALLBACK (on_leave), self);
  gtk_widget_add_controller (GTK_WIDGET (self), motion);

  GtkEventController *scroll = gtk_event_controller_scroll_new (GTK_EVENT_CONTROLLER_SCROLL_VERTICAL);
  g_signal_connect (scroll, "scroll", G_CALLBACK (on_scroll), self);
  gtk_widget_add_controller (GTK_WIDGET (self), scroll);

  GtkGesture *drag = gtk_gesture_drag_new ();
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (drag), 0);   /* pick mode: the right button too */
  g_signal_connect (drag, "drag-begin", G_CALLBACK (on_drag_begin), self);
  g_signal_connect (drag, "drag-update", G_CALLBACK (on_drag_update), self);
  g_signal_connect (drag, "drag-end", G_CALLBACK (on_drag_end), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (drag));

  /* keyboard: + − 0 (fit) 1 (100 %) and the arrows pan, once the view has the focus (a click
   * gives it) */
  gtk_widget_set_focusable (GTK_WIDGET (self), TRUE);
  GtkEventController *keys = gtk_event_controller_key_new ();
  g_signal_connect (keys, "key-pressed", G_CALLBACK (on_key_pressed), self);
  gtk_widget_add_controller (GTK_WIDGET (self), keys);

  GtkGesture *click = gtk_gesture_click_new ();
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (click), 0);   /* the right button excludes a sample */
  g_signal_connect (click, "pressed", G_CALLBACK (on_click), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (click));
}

GtkWidget *
tsr_image_view_new (void)
{
  return g_object_new (TSR_TYPE_IMAGE_VIEW, NULL);
}

void
tsr_image_view_set_image (TsrImageView *self, TsrImage *img, cairo_surface_t *surface, int geometry_frame)
{
  tsr_image_view_set_image_scaled (self, img, surface, geometry_frame, 1.0);
}

void
tsr_image_view_set_image_scaled (TsrImageView *self, TsrImage *img, cairo_surface_t *surface, int geometry_frame,
                                 double scale)
{
  if (!(scale > 0))
    scale = 1.0;
  gboolean same_size = self->img && img && fabs (self->img->width * self->img_scale - img->width * scale) < 0.5
                       && fabs (self->img->height * self->img_scale - img->height * scale) < 0.5;
  if (img)
    tsr_image_ref (img);
  if (surface)
    cairo_surface_reference (surface);
  g_clear_pointer (&self->img, tsr_image_unref);
  g_clear_pointer (&self->surface, cairo_surface_destroy);
  self->img = img;
  self->surface = surface;
  self->geometry_frame = geometry_frame;
  self->img_scale = scale;
  if (!same_size)
    self->fit = TRUE;
  if (map_frame (self) != self->map_frame)
    recompute_map (self);
  update_readout (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
tsr_image_view_set_compare (TsrImageView *self, cairo_surface_t *surface, const char *left_label,
                            const char *right_label)
{
  if (surface)
    cairo_surface_reference (surface);
  g_clear_pointer (&self->compare_surface, cairo_surface_destroy);
  self->compare_surface = surface;
  g_free (self->label_left);
  g_free (self->label_right);
  self->label_left = g_strdup (left_label);
  self->label_right = g_strdup (right_label);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

gboolean
tsr_image_view_has_compare (TsrImageView *self)
{
  return self->compare_surface != NULL;
}

void
tsr_image_view_set_split (TsrImageView *self, double fraction)
{
  self->split = CLAMP (fraction, 0.0, 1.0);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

double
tsr_image_view_get_split (TsrImageView *self)
{
  return self->split;
}

void
tsr_image_view_set_analysis (TsrImageView *self, TsrAnalysis *a, TsrWeights *w)
{
  if (a)
    tsr_analysis_ref (a);
  if (w)
    tsr_weights_ref (w);
  g_clear_pointer (&self->analysis, tsr_analysis_unref);
  g_clear_pointer (&self->weights, tsr_weights_unref);
  self->analysis = a;
  self->weights = w;
  recompute_map (self);
  update_readout (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
tsr_image_view_set_selected_frame (TsrImageView *self, int frame)
{
  self->selected_frame = frame;
  recompute_map (self);
  update_readout (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
tsr_image_view_set_overlays (TsrImageView *self, TsrOverlay overlays)
{
  self->overlays = overlays;
  update_readout (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
tsr_image_view_zoom_fit (TsrImageView *self)
{
  /* img_scale stays: it belongs to the image shown (a reduced preview keeps covering its
   * full geometry, so the overlays stay on it — issue #13, problem 3) */
  self->fit = TRUE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

const char *
tsr_image_view_get_readout (TsrImageView *self)
{
  return self->readout;
}

void
tsr_image_view_set_points (TsrImageView *self, guint n, const double *x, const double *y, const gboolean *active,
                           double cell)
{
  g_clear_pointer (&self->pt_x, g_free);
  g_clear_pointer (&self->pt_y, g_free);
  g_clear_pointer (&self->pt_active, g_free);
  self->n_points = x && y && active ? n : 0;
  self->pt_cell = cell;
  if (self->n_points)
    {
      self->pt_x = g_memdup2 (x, n * sizeof *x);
      self->pt_y = g_memdup2 (y, n * sizeof *y);
      self->pt_active = g_memdup2 (active, n * sizeof *active);
    }
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
tsr_image_view_set_points_visible (TsrImageView *self, gboolean visible)
{
  self->show_points = visible;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

guint
tsr_image_view_get_n_points_drawn (TsrImageView *self)
{
  return self->show_points && self->img && self->geometry_frame < 0 ? self->n_points : 0;
}

TsrImage *
tsr_image_view_get_image (TsrImageView *self)
{
  return self->img;
}

void
tsr_image_view_render (TsrImageView *self, cairo_t *cr, int w, int h)
{
  view_draw_impl (GTK_DRAWING_AREA (self), cr, w, h);
}

gboolean
tsr_image_view_replace_surfaces (TsrImageView *self, const TsrImage *img, cairo_surface_t *surface,
                                 cairo_surface_t *compare)
{
  if (!img || self->img != img || !surface)
    return FALSE;
  cairo_surface_reference (surface);
  g_clear_pointer (&self->surface, cairo_surface_destroy);
  self->surface = surface;
  if (compare && self->compare_surface)
    {
      cairo_surface_reference (compare);
      g_clear_pointer (&self->compare_surface, cairo_surface_destroy);
      self->compare_surface = compare;
    }
  gtk_widget_queue_draw (GTK_WIDGET (self));
  return TRUE;
}

cairo_surface_t *
tsr_image_view_get_surface (TsrImageView *self)
{
  return self->surface;
}

void
tsr_image_view_set_map (TsrImageView *self, TsrMapKind kind)
{
  if ((guint) kind >= TSR_MAP_N_KINDS)
    return;
  self->map_kind = kind;
  recompute_map (self);
  update_readout (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

TsrMapKind
tsr_image_view_get_map_kind (TsrImageView *self)
{
  return self->map_kind;
}

const TsrMap *
tsr_image_view_get_map (TsrImageView *self)
{
  return (self->overlays & TSR_OVERLAY_WEIGHTS) ? self->map : NULL;
}

gboolean
tsr_image_view_image_to_widget (TsrImageView *self, double ix, double iy, double *wx, double *wy)
{
  if (!self->img)
    return FALSE;
  if (self->fit)
    compute_fit (self, gtk_widget_get_width (GTK_WIDGET (self)), gtk_widget_get_height (GTK_WIDGET (self)));
  *wx = (ix - self->ox) * self->zoom;
  *wy = (iy - self->oy) * self->zoom;
  return TRUE;
}

/* ---------------------------------------------------------------- keyboard zoom and pan */

static void
zoom_about (TsrImageView *self, double nz, double px, double py)
{
  if (!self->img)
    return;
  if (self->fit)
    compute_fit (self, gtk_widget_get_width (GTK_WIDGET (self)), gtk_widget_get_height (GTK_WIDGET (self)));
  nz = CLAMP (nz, 0.02, 64.0);
  double ix = self->ox + px / self->zoom, iy = self->oy + py / self->zoom;
  self->zoom = nz;
  self->ox = ix - px / nz;
  self->oy = iy - py / nz;
  self->fit = FALSE;
  update_readout (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
tsr_image_view_zoom_by (TsrImageView *self, double factor)
{
  if (!self->img || !(factor > 0))
    return;
  if (self->fit)
    compute_fit (self, gtk_widget_get_width (GTK_WIDGET (self)), gtk_widget_get_height (GTK_WIDGET (self)));
  zoom_about (self, self->zoom * factor, gtk_widget_get_width (GTK_WIDGET (self)) / 2.0,
              gtk_widget_get_height (GTK_WIDGET (self)) / 2.0);
}

void
tsr_image_view_zoom_one (TsrImageView *self)
{
  /* one pixel of the geometry per screen pixel */
  zoom_about (self, 1.0, gtk_widget_get_width (GTK_WIDGET (self)) / 2.0, gtk_widget_get_height (GTK_WIDGET (self)) / 2.0);
}

void
tsr_image_view_pan (TsrImageView *self, double fx, double fy)
{
  if (!self->img)
    return;
  if (self->fit)
    compute_fit (self, gtk_widget_get_width (GTK_WIDGET (self)), gtk_widget_get_height (GTK_WIDGET (self)));
  self->fit = FALSE;
  self->ox += fx * gtk_widget_get_width (GTK_WIDGET (self)) / self->zoom;
  self->oy += fy * gtk_widget_get_height (GTK_WIDGET (self)) / self->zoom;
  update_readout (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
tsr_image_view_get_view (TsrImageView *self, double *zoom, double *ox, double *oy)
{
  if (self->fit && self->img)
    compute_fit (self, gtk_widget_get_width (GTK_WIDGET (self)), gtk_widget_get_height (GTK_WIDGET (self)));
  *zoom = self->zoom;
  *ox = self->ox;
  *oy = self->oy;
}

static gboolean
on_key_pressed (GtkEventControllerKey *c, guint keyval, guint keycode, GdkModifierType state, TsrImageView *self)
{
  if (state & (GDK_CONTROL_MASK | GDK_ALT_MASK))
    return FALSE;   /* the window's shortcuts */
  switch (keyval)
    {
    case GDK_KEY_plus: case GDK_KEY_equal: case GDK_KEY_KP_Add:
      tsr_image_view_zoom_by (self, 1.25);
      return TRUE;
    case GDK_KEY_minus: case GDK_KEY_KP_Subtract:
      tsr_image_view_zoom_by (self, 0.8);
      return TRUE;
    case GDK_KEY_0: case GDK_KEY_KP_0:
      tsr_image_view_zoom_fit (self);
      return TRUE;
    case GDK_KEY_1: case GDK_KEY_KP_1:
      tsr_image_view_zoom_one (self);
      return TRUE;
    case GDK_KEY_Left: tsr_image_view_pan (self, -0.1, 0); return TRUE;
    case GDK_KEY_Right: tsr_image_view_pan (self, 0.1, 0); return TRUE;
    case GDK_KEY_Up: tsr_image_view_pan (self, 0, -0.1); return TRUE;
    case GDK_KEY_Down: tsr_image_view_pan (self, 0, 0.1); return TRUE;
    default: return FALSE;
    }
}

void
tsr_image_view_set_samples (TsrImageView *self, const TsrBgSample *samples, guint n)
{
  g_return_if_fail (TSR_IS_IMAGE_VIEW (self));
  g_clear_pointer (&self->samples, g_free);
  self->n_samples = samples ? n : 0;
  if (self->n_samples)
    self->samples = g_memdup2 (samples, sizeof (TsrBgSample) * n);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
tsr_image_view_set_samples_visible (TsrImageView *self, gboolean visible)
{
  g_return_if_fail (TSR_IS_IMAGE_VIEW (self));
  self->show_samples = visible;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

guint
tsr_image_view_get_n_samples_drawn (TsrImageView *self)
{
  return samples_drawn (self) ? self->n_samples : 0;
}

void
tsr_image_view_set_pick_mode (TsrImageView *self, gboolean on)
{
  g_return_if_fail (TSR_IS_IMAGE_VIEW (self));
  self->pick_mode = on;
  gtk_widget_set_cursor_from_name (GTK_WIDGET (self), on ? "crosshair" : NULL);
}

gboolean
tsr_image_view_widget_to_image (TsrImageView *self, double wx, double wy, double *ix, double *iy)
{
  if (!self->img)
    return FALSE;
  if (self->fit)
    compute_fit (self, gtk_widget_get_width (GTK_WIDGET (self)), gtk_widget_get_height (GTK_WIDGET (self)));
  double gx = self->ox + wx / self->zoom, gy = self->oy + wy / self->zoom;
  *ix = (gx + 0.5) / self->img_scale - 0.5;
  *iy = (gy + 0.5) / self->img_scale - 0.5;
  return TRUE;
}
