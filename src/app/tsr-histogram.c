/* tsr-histogram.c — the histogram of the displayed image (see tsr-histogram.h).
 *
 * x: the data range [lo, hi] the counts were taken over (the window picks the bulk of the
 * samples and the stretch's points); y: log(1 + count), per channel (red,
 * green, blue lines, or one grey area for a monochrome image). Markers: black point (solid),
 * white point (solid), midtone point — the value the stretch shows as mid grey (dashed). */
#include "tsr-config.h"
#include <math.h>
#include <string.h>
#include <glib/gi18n.h>
#include "tsr-histogram.h"

struct _TsrHistogram
{
  GtkDrawingArea parent_instance;
  guint32 *counts;
  int nbins, nch;
  double lo, hi;
  float black[3], white[3], mid[3];
  gboolean have_points;
};

G_DEFINE_TYPE (TsrHistogram, tsr_histogram, GTK_TYPE_DRAWING_AREA)

/* The x range shown: from a little below the lowest black point to the highest white
 * point (the data beyond the white point is clipped white anyway). */
static void
histogram_draw (GtkDrawingArea *area, cairo_t *cr, int w, int h, gpointer data)
{
  TsrHistogram *self = TSR_HISTOGRAM (area);
  cairo_set_source_rgb (cr, 0.12, 0.12, 0.13);
  cairo_paint (cr);
  if (!self->counts || self->nbins <= 0 || !(self->hi > self->lo))
    {
      PangoLayout *layout = gtk_widget_create_pango_layout (GTK_WIDGET (area), _("No image"));
      int tw, th;
      pango_layout_get_pixel_size (layout, &tw, &th);
      cairo_set_source_rgba (cr, 1, 1, 1, 0.5);
      cairo_move_to (cr, (w - tw) / 2.0, (h - th) / 2.0);
      pango_cairo_show_layout (cr, layout);
      g_object_unref (layout);
      return;
    }
  double x0 = self->lo, x1 = self->hi;
  /* each pixel column shows the largest bin under it (a step curve, no comb when there are
   * fewer bins than columns) */
  double *col = g_new0 (double, (gsize) 3 * w);
  double ymax = 0;
  for (int c = 0; c < self->nch; c++)
    for (int px = 0; px < w; px++)
      {
        int b0 = (int) floor ((double) px / w * self->nbins), b1 = (int) floor ((double) (px + 1) / w * self->nbins);
        b0 = CLAMP (b0, 0, self->nbins - 1);
        b1 = CLAMP (MAX (b1 - 1, b0), 0, self->nbins - 1);
        guint32 m = 0;
        for (int b = b0; b <= b1; b++)
          m = MAX (m, self->counts[(gsize) c * self->nbins + b]);
        col[(gsize) c * w + px] = m;
      }
  for (gsize i = 0; i < (gsize) 3 * w; i++)
    {
      col[i] = log1p (col[i]);
      ymax = MAX (ymax, col[i]);
    }
  static const double rgb[3][3] = { { 1.0, 0.35, 0.3 }, { 0.4, 0.95, 0.4 }, { 0.4, 0.6, 1.0 } };
  for (int c = 0; c < self->nch; c++)
    {
      if (self->nch == 1)
        cairo_set_source_rgba (cr, 0.85, 0.85, 0.85, 0.8);
      else
        cairo_set_source_rgba (cr, rgb[c][0], rgb[c][1], rgb[c][2], 0.75);
      cairo_move_to (cr, 0, h);
      for (int px = 0; px < w; px++)
        cairo_line_to (cr, px + 0.5, h - (ymax > 0 ? col[(gsize) c * w + px] / ymax : 0) * (h - 4));
      cairo_line_to (cr, w, h);
      if (self->nch == 1)
        cairo_fill (cr);
      else
        {
          cairo_set_line_width (cr, 1.2);
          cairo_stroke (cr);
        }
    }
  g_free (col);

  if (self->have_points)
    {
      int nmark = self->nch == 3 && (self->black[0] != self->black[1] || self->mid[0] != self->mid[1]
                                     || self->white[0] != self->white[1] || self->black[1] != self->black[2]
                                     || self->mid[1] != self->mid[2] || self->white[1] != self->white[2])
                    ? 3 : 1;
      for (int c = 0; c < nmark; c++)
        {
          double b = self->black[c], wv = self->white[c];
          double m = b + self->mid[c] * (wv - b);   /* the value shown as mid grey */
          double xs[3] = { b, m, wv };
          for (int k = 0; k < 3; k++)
            {
              /* a point beyond the range sits at its edge */
              double px = CLAMP ((xs[k] - x0) / (x1 - x0) * w, 1, w - 1);
              if (nmark == 1)
                cairo_set_source_rgba (cr, 1, 1, 1, 0.9);
              else
                cairo_set_source_rgba (cr, rgb[c][0], rgb[c][1], rgb[c][2], 0.95);
              if (k == 1)
                {
                  double dash[] = { 3, 3 };
                  cairo_set_dash (cr, dash, 2, 0);
                }
              else
                cairo_set_dash (cr, NULL, 0, 0);
              cairo_set_line_width (cr, 1.5);
              cairo_move_to (cr, round (px) + 0.5, 0);
              cairo_line_to (cr, round (px) + 0.5, h);
              cairo_stroke (cr);
            }
        }
      cairo_set_dash (cr, NULL, 0, 0);
    }
}

static void
tsr_histogram_finalize (GObject *object)
{
  g_free (TSR_HISTOGRAM (object)->counts);
  G_OBJECT_CLASS (tsr_histogram_parent_class)->finalize (object);
}

static void
tsr_histogram_class_init (TsrHistogramClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = tsr_histogram_finalize;
}

static void
tsr_histogram_init (TsrHistogram *self)
{
  gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (self), histogram_draw, NULL, NULL);
  gtk_widget_set_size_request (GTK_WIDGET (self), 200, 44);
}

GtkWidget *
tsr_histogram_new (void)
{
  return g_object_new (TSR_TYPE_HISTOGRAM, NULL);
}

void
tsr_histogram_set_data (TsrHistogram *self, const guint32 *counts, int nbins, int nch, double lo, double hi)
{
  g_clear_pointer (&self->counts, g_free);
  self->nbins = counts ? nbins : 0;
  self->nch = CLAMP (nch, 1, 3);
  self->lo = lo;
  self->hi = hi;
  if (counts)
    self->counts = g_memdup2 (counts, sizeof (guint32) * self->nch * (gsize) nbins);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
tsr_histogram_set_points (TsrHistogram *self, const float black[3], const float white[3], const float mid[3])
{
  self->have_points = black && white && mid;
  if (self->have_points)
    {
      memcpy (self->black, black, sizeof self->black);
      memcpy (self->white, white, sizeof self->white);
      memcpy (self->mid, mid, sizeof self->mid);
    }
  gtk_widget_queue_draw (GTK_WIDGET (self));
}
