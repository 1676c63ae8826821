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

struct _TsrImageView
{
  GtkDrawingArea parent_instance;

  TsrImage *img;
  cairo_surface_t *surface;
  int geometry_frame;
  double img_scale;       /* geometry pixels per img pixel (1, or the preview's reduction) */

  TsrAnalysis *analysis;
  TsrWeights *weights;
  double w_lo, w_max;     /* colour scale: log from w_lo to w_max */
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
};

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
  const TsrTile *tile = &a->tiles[t];
  double h = a->tile_step / 2.0;
  double x0 = MAX (tile->cx - h, 0) - 0.5, x1 = MIN (tile->cx + h, a->width) - 0.5;
  double y0 = MAX (tile->cy - h, 0) - 0.5, y1 = MIN (tile->cy + h, a->height) - 0.5;
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

static double
tile_weight (TsrImageView *self, guint t)
{
  const TsrWeights *w = self->weights;
  if (self->selected_frame >= 0 && (guint) self->selected_frame < w->n_frames)
    return w->w[(gsize) self->selected_frame * w->n_tiles + t];
  double s = 0;
  guint n = 0;
  for (guint f = 0; f < w->n_frames; f++)
    if (w->used[f])
      {
        s += w->w[(gsize) f * w->n_tiles + t];
        n++;
      }
  return n ? s / n : NAN;
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
              double wv = tile_weight (self, t), r, g, b;
              if (isfinite (wv) && wv > 0 && self->w_max > 0)
                {
                  double tt = self->w_max > self->w_lo ? log (wv / self->w_lo) / log (self->w_max / self->w_lo) : 1;
                  tsr_colormap_viridis (CLAMP (tt, 0, 1), &r, &g, &b);
                  cairo_set_source_rgba (cr, r, g, b, 0.45);
                }
              else
                cairo_set_source_rgba (cr, 0.5, 0.5, 0.5, 0.3);
              cairo_fill_preserve (cr);
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
          else
            cairo_set_source_rgba (cr, 1, 1, 1, 0.15);
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

static void
draw_weight_legend (TsrImageView *self, cairo_t *cr, int w, int h)
{
  double bw = 200, bh = 10, x = w - bw - 16, y = h - 34;
  cairo_set_source_rgba (cr, 0, 0, 0, 0.55);
  cairo_rectangle (cr, x - 8, y - 8, bw + 16, bh + 30);
  cairo_fill (cr);
  for (int i = 0; i < (int) bw; i++)
    {
      double r, g, b;
      tsr_colormap_viridis (i / (bw - 1), &r, &g, &b);
      cairo_set_source_rgb (cr, r, g, b);
      cairo_rectangle (cr, x + i, y, 1, bh);
      cairo_fill (cr);
    }
  g_autofree char *text = g_strdup_printf (_("W  %.2g … %.3g (log scale)"), self->w_lo, self->w_max);
  PangoLayout *layout = gtk_widget_create_pango_layout (GTK_WIDGET (self), text);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_move_to (cr, x, y + bh + 2);
  pango_cairo_show_layout (cr, layout);
  g_object_unref (layout);
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
  cairo_restore (cr);
  if (self->compare_surface)
    draw_divider (self, cr, w, h);

  if ((self->overlays & TSR_OVERLAY_WEIGHTS) && self->weights && self->analysis)
    draw_weight_legend (self, cr, w, h);
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
      double h = a->tile_step / 2.0;
      for (guint t = 0; ok && t < a->n_tiles; t++)
        {
          const TsrTile *tile = &a->tiles[t];
          if (fabs (rx - tile->cx) <= h && fabs (ry - tile->cy) <= h)
            {
              g_string_append_printf (s, _("   tile %u (%s)  W %.3g"), t,
                                      self->weights->tile_type[t] == TSR_TILE_STAR ? _("star") : _("structure"),
                                      tile_weight (self, t));
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

static void
on_drag_begin (GtkGestureDrag *g, double x, double y, TsrImageView *self)
{
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
on_click (GtkGestureClick *g, int n_press, double x, double y, TsrImageView *self)
{
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
  g_free (self->readout);
  g_clear_pointer (&self->compare_surface, cairo_surface_destroy);
  g_free (self->label_left);
  g_free (self->label_right);
  tsr_image_view_set_points (self, 0, NULL, NULL, NULL, 0);
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
}

static void
tsr_image_view_init (TsrImageView *self)
{
  self->fit = TRUE;
  self->img_scale = 1.0;
  self->zoom = 1;
  self->geometry_frame = -1;
  self->selected_frame = -1;
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
  g_signal_connect (drag, "drag-begin", G_CALLBACK (on_drag_begin), self);
  g_signal_connect (drag, "drag-update", G_CALLBACK (on_drag_update), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (drag));

  GtkGesture *click = gtk_gesture_click_new ();
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

static int
compare_float (gconstpointer a, gconstpointer b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return (x > y) - (x < y);
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
  /* colour scale: logarithmic from the 2nd to the 98th percentile of W over used frames
   * and tiles (W = G·L spans orders of magnitude; a linear scale leaves most tiles dark) */
  self->w_lo = self->w_max = 0;
  if (w && w->n_tiles > 0)
    {
      GArray *v = g_array_new (FALSE, FALSE, sizeof (float));
      for (guint f = 0; f < w->n_frames; f++)
        for (guint t = 0; f < w->n_frames && w->used[f] && t < w->n_tiles; t++)
          {
            float x = w->w[(gsize) f * w->n_tiles + t];
            if (isfinite (x))
              g_array_append_val (v, x);
          }
      if (v->len > 0)
        {
          g_array_sort (v, compare_float);
          self->w_lo = g_array_index (v, float, (guint) floor (0.02 * (v->len - 1)));
          self->w_max = g_array_index (v, float, (guint) floor (0.98 * (v->len - 1)));
          self->w_lo = MAX (self->w_lo, self->w_max * 1e-3);
        }
      g_array_unref (v);
    }
  update_readout (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
tsr_image_view_set_selected_frame (TsrImageView *self, int frame)
{
  self->selected_frame = frame;
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
