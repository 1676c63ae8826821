/* tsr-render.c — display stretch and preview rendering (screens and PNGs only).
 *
 * The stretch is the usual "auto-stretch": per channel, the shadows clip at
 * median − 2.8·σ (σ = 1.4826·MAD), the white point is the channel's maximum, and the
 * midtones transfer function maps the median to 0.25.  Linked: one midtone balance (the
 * mean of the per-channel values) and one range (the widest channel's) for all channels,
 * the black point per channel — so the sky is shown neutral but the channels' relative
 * scale (star colours, a white balance) is kept; unlinked: everything per channel.
 *
 * A CFA mosaic is shown as a luminance made by averaging each 2×2 cell (superpixel); the
 * output keeps the full size with each superpixel value replicated.
 */
#include "tsr-render.h"
#include "tsr-error.h"
#include "tsr-json.h"
#include "tsr-stats.h"

#include <math.h>
#include <string.h>

#define TSR_STRETCH_SHADOWS_SIGMA 2.8
#define TSR_STRETCH_TARGET_BG     0.25
#define TSR_STRETCH_MAX_SAMPLES   250000

float
tsr_mtf (float m, float x)
{
  if (!(x > 0.0f))
    return 0.0f;
  if (x >= 1.0f)
    return 1.0f;
  if (x == m)
    return 0.5f;
  return ((m - 1.0f) * x) / ((2.0f * m - 1.0f) * x - m);
}

/* What is displayed: nplanes planes of pw × ph samples with a shared mask; output pixel
 * (x, y) shows plane sample (x >> shift, y >> shift). */
typedef struct
{
  int nplanes;
  int pw, ph;
  int shift;
  const float *planes[3];
  const guint8 *mask;
  float *own_plane;     /* CFA luminance, owned */
  guint8 *own_mask;
} DisplaySource;

static void
display_source_init (DisplaySource *src, const TsrImage *img)
{
  memset (src, 0, sizeof *src);

  if (img->cfa != TSR_CFA_NONE && img->channels == 1)
    {
      int w = img->width, h = img->height;
      int pw = (w + 1) / 2, ph = (h + 1) / 2;
      const float *in = tsr_image_plane (img, 0);
      float *lum = g_new (float, (gsize) pw * ph);
      guint8 *lmask = g_new (guint8, (gsize) pw * ph);

      for (int sy = 0; sy < ph; sy++)
        for (int sx = 0; sx < pw; sx++)
          {
            double sum = 0.0;
            int n = 0;
            for (int dy = 0; dy < 2; dy++)
              for (int dx = 0; dx < 2; dx++)
                {
                  int x = 2 * sx + dx, y = 2 * sy + dy;
                  if (x >= w || y >= h)
                    continue;
                  gsize i = (gsize) y * w + x;
                  if (img->mask[i])
                    {
                      sum += in[i];
                      n++;
                    }
                }
            gsize o = (gsize) sy * pw + sx;
            lum[o] = n > 0 ? (float) (sum / n) : 0.0f;
            lmask[o] = n > 0;
          }
      src->nplanes = 1;
      src->pw = pw;
      src->ph = ph;
      src->shift = 1;
      src->planes[0] = lum;
      src->mask = lmask;
      src->own_plane = lum;
      src->own_mask = lmask;
      return;
    }

  src->nplanes = CLAMP (img->channels, 1, 3);
  src->pw = img->width;
  src->ph = img->height;
  src->shift = 0;
  for (int c = 0; c < src->nplanes; c++)
    src->planes[c] = tsr_image_plane (img, c);
  src->mask = img->mask;
}

static void
display_source_clear (DisplaySource *src)
{
  g_free (src->own_plane);
  g_free (src->own_mask);
  memset (src, 0, sizeof *src);
}

/* linked: one range for every channel (tsr_stretch_auto); otherwise each channel's own
 * black-to-maximum range (tsr_stretch_auto_unlinked) */
static void
stretch_from_source (const DisplaySource *src, gboolean linked, TsrStretch *st)
{
  gsize n = (gsize) src->pw * src->ph;
  double msum = 0.0, meds[3] = { 0, 0, 0 };
  int mcount = 0;
  gboolean ranged[3] = { FALSE, FALSE, FALSE };

  for (int c = 0; c < 3; c++)
    {
      st->black[c] = 0.0f;
      st->white[c] = 1.0f;
    }
  st->midtone = 0.5f;

  double lo[3], hi[3], sig[3], sig_sum = 0.0;
  int n_sig = 0;
  for (int c = 0; c < src->nplanes; c++)
    {
      const float *plane = src->planes[c];
      float l = INFINITY, h = -INFINITY;

      for (gsize i = 0; i < n; i++)
        if (src->mask[i] && isfinite (plane[i]))
          {
            l = MIN (l, plane[i]);
            h = MAX (h, plane[i]);
          }
      if (!(h >= l))
        continue;   /* no valid sample: keep the defaults */

      float med = NAN, mad = NAN;
      tsr_plane_median_mad (plane, src->mask, n, TSR_STRETCH_MAX_SAMPLES, &med, &mad);
      if (!isfinite (med))
        med = l;
      if (!isfinite (mad) || mad < 0.0f)
        mad = 0.0f;
      lo[c] = l;
      hi[c] = h;
      meds[c] = med;
      sig[c] = TSR_MAD_TO_SIGMA * mad;
      sig_sum += sig[c];
      n_sig++;
      ranged[c] = TRUE;
    }

  /* Linked: the sky's median sits the same distance above black in every channel (the
   * channels' mean σ: the sky shows neutral whatever each channel's noise) and one range
   * (the widest channel's) serves every channel, so the channels' relative scale — star
   * colours, a colour calibration's white balance — shows; a range per channel would undo
   * any per-channel scale. Unlinked: each channel its own black and maximum. */
  double range = 0.0;
  for (int c = 0; c < src->nplanes; c++)
    {
      if (!ranged[c])
        continue;
      /* unlinked, black is never below the channel's darkest sample; linked it may be (a
       * channel of lower noise than the mean), so that every sky sits at the same grey */
      double s = linked && n_sig > 0 ? sig_sum / n_sig : sig[c];
      double black = meds[c] - TSR_STRETCH_SHADOWS_SIGMA * s;
      black = linked ? MIN (black, meds[c]) : CLAMP (black, lo[c], meds[c]);
      st->black[c] = (float) black;
      st->white[c] = (float) hi[c];
      if (!(hi[c] > black))
        {
          /* Flat channel: any range works; show it mid-grey-ish via the default m. */
          st->white[c] = (float) black + 1.0f;
          ranged[c] = FALSE;
          continue;
        }
      range = MAX (range, hi[c] - black);
    }
  for (int c = 0; c < src->nplanes; c++)
    if (ranged[c])
      {
        if (linked)
          st->white[c] = (float) (st->black[c] + range);
        double xm = (meds[c] - st->black[c]) / ((double) st->white[c] - st->black[c]);
        if (xm > 0.0 && xm < 1.0)
          {
            msum += tsr_mtf ((float) TSR_STRETCH_TARGET_BG, (float) xm);
            mcount++;
          }
      }

  if (src->nplanes == 1)
    for (int c = 1; c < 3; c++)
      {
        st->black[c] = st->black[0];
        st->white[c] = st->white[0];
      }

  if (mcount > 0)
    st->midtone = (float) CLAMP (msum / mcount, 1e-7, 1.0 - 1e-7);
}

void
tsr_stretch_auto (const TsrImage *img, TsrStretch *st)
{
  g_return_if_fail (img != NULL);
  g_return_if_fail (st != NULL);

  DisplaySource src;
  display_source_init (&src, img);
  stretch_from_source (&src, TRUE, st);
  display_source_clear (&src);
}

static inline guint32
stretch_byte (float v, float black, float white, float m)
{
  float x = (v - black) / (white - black);
  float y = tsr_mtf (m, x);
  int b = (int) lrintf (y * 255.0f);
  return (guint32) CLAMP (b, 0, 255);
}

void
tsr_stretch_auto_unlinked (const TsrImage *img, TsrStretch *st, float midtones[3])
{
  g_return_if_fail (img != NULL && st != NULL && midtones != NULL);
  DisplaySource src;
  display_source_init (&src, img);
  stretch_from_source (&src, FALSE, st);
  /* each channel's median to the target grey with its own balance */
  gsize n = (gsize) src.pw * src.ph;
  for (int c = 0; c < 3; c++)
    midtones[c] = st->midtone;
  for (int c = 0; c < src.nplanes; c++)
    {
      float med = NAN, mad = NAN;
      tsr_plane_median_mad (src.planes[c], src.mask, n, TSR_STRETCH_MAX_SAMPLES, &med, &mad);
      double xm = (med - st->black[c]) / (st->white[c] - st->black[c]);
      if (isfinite (xm) && xm > 0.0 && xm < 1.0)
        midtones[c] = CLAMP (tsr_mtf ((float) TSR_STRETCH_TARGET_BG, (float) xm), 1e-7f, 1.0f - 1e-7f);
    }
  if (src.nplanes == 1)
    midtones[1] = midtones[2] = midtones[0];
  display_source_clear (&src);
}

gboolean
tsr_display_range (const TsrImage *img, double *lo_out, double *hi_out)
{
  g_return_val_if_fail (img != NULL, FALSE);
  DisplaySource src;
  display_source_init (&src, img);
  gsize n = (gsize) src.pw * src.ph;
  double lo = INFINITY, hi = -INFINITY;
  for (int c = 0; c < src.nplanes; c++)
    for (gsize i = 0; i < n; i++)
      if (src.mask[i] && isfinite (src.planes[c][i]))
        {
          lo = MIN (lo, src.planes[c][i]);
          hi = MAX (hi, src.planes[c][i]);
        }
  display_source_clear (&src);
  if (!(hi >= lo))
    return FALSE;
  *lo_out = lo;
  *hi_out = hi;
  return TRUE;
}

int
tsr_display_histogram (const TsrImage *img, int nbins, double lo, double hi, guint32 *counts)
{
  g_return_val_if_fail (img != NULL && nbins > 0 && counts != NULL, 0);
  memset (counts, 0, sizeof (guint32) * 3 * (gsize) nbins);
  DisplaySource src;
  display_source_init (&src, img);
  gsize n = (gsize) src.pw * src.ph;
  double scale = hi > lo ? nbins / (hi - lo) : 0;
  for (int c = 0; c < src.nplanes; c++)
    for (gsize i = 0; i < n; i++)
      if (src.mask[i] && isfinite (src.planes[c][i]))
        {
          double b = (src.planes[c][i] - lo) * scale;
          int k = b <= 0 ? 0 : b >= nbins ? nbins - 1 : (int) b;
          counts[(gsize) c * nbins + k]++;
        }
  int nch = src.nplanes >= 3 ? 3 : 1;
  display_source_clear (&src);
  return nch;
}

cairo_surface_t *
tsr_render_surface (const TsrImage *img, const TsrStretch *st, int downsample)
{
  return tsr_render_surface_full (img, st, NULL, downsample);
}

cairo_surface_t *
tsr_render_surface_full (const TsrImage *img, const TsrStretch *st, const float *midtones, int downsample)
{
  g_return_val_if_fail (img != NULL, NULL);

  TsrStretch auto_st;
  if (st == NULL)
    {
      tsr_stretch_auto (img, &auto_st);
      st = &auto_st;
    }
  int d = MAX (downsample, 1);
  int w = img->width, h = img->height;
  int ow = MAX ((w + d - 1) / d, 1);
  int oh = MAX ((h + d - 1) / d, 1);

  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, ow, oh);
  if (cairo_surface_status (surface) != CAIRO_STATUS_SUCCESS)
    return surface;   /* an error surface; callers check cairo_surface_status () */

  DisplaySource src;
  display_source_init (&src, img);

  float black[3], white[3];
  for (int c = 0; c < 3; c++)
    {
      black[c] = st->black[c];
      white[c] = st->white[c];
      if (!(white[c] > black[c]) || !isfinite (white[c] - black[c]))
        white[c] = black[c] + 1.0f;
    }
  float mc[3];
  for (int c = 0; c < 3; c++)
    {
      mc[c] = midtones ? midtones[c] : st->midtone;
      if (!(mc[c] > 0.0f && mc[c] < 1.0f))
        mc[c] = 0.5f;
    }

  cairo_surface_flush (surface);
  unsigned char *pixels = cairo_image_surface_get_data (surface);
  int stride = cairo_image_surface_get_stride (surface);

  for (int oy = 0; oy < oh; oy++)
    {
      guint32 *row = (guint32 *) (pixels + (gsize) oy * stride);
      int y0 = oy * d, y1 = MIN (y0 + d, h);

      for (int ox = 0; ox < ow; ox++)
        {
          int x0 = ox * d, x1 = MIN (x0 + d, w);
          double sum[3] = { 0.0, 0.0, 0.0 };
          int n = 0;

          for (int y = y0; y < y1; y++)
            {
              gsize prow = (gsize) (y >> src.shift) * src.pw;
              for (int x = x0; x < x1; x++)
                {
                  gsize i = prow + (gsize) (x >> src.shift);
                  if (!src.mask[i])
                    continue;
                  for (int c = 0; c < src.nplanes; c++)
                    sum[c] += src.planes[c][i];
                  n++;
                }
            }

          if (n == 0)
            {
              row[ox] = 0xFF000000u;   /* no data: opaque black */
              continue;
            }

          guint32 r, g, b;
          if (src.nplanes >= 3)
            {
              r = stretch_byte ((float) (sum[0] / n), black[0], white[0], mc[0]);
              g = stretch_byte ((float) (sum[1] / n), black[1], white[1], mc[1]);
              b = stretch_byte ((float) (sum[2] / n), black[2], white[2], mc[2]);
            }
          else
            r = g = b = stretch_byte ((float) (sum[0] / n), black[0], white[0], mc[0]);
          row[ox] = 0xFF000000u | (r << 16) | (g << 8) | b;
        }
    }

  cairo_surface_mark_dirty (surface);
  display_source_clear (&src);
  return surface;
}

static cairo_status_t
png_write_to_bytes (void *closure, const unsigned char *data, unsigned int length)
{
  g_byte_array_append ((GByteArray *) closure, data, length);
  return CAIRO_STATUS_SUCCESS;
}

gboolean
tsr_write_png_preview (const TsrImage *img, const char *path, int max_size, GError **error)
{
  return tsr_write_png_preview_with (img, NULL, path, max_size, error);
}

gboolean
tsr_write_png_preview_with (const TsrImage *img, const TsrStretch *stretch, const char *path, int max_size,
                            GError **error)
{
  g_return_val_if_fail (img != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  int w = img->width, h = img->height;
  int longest = MAX (w, h);
  int fw = w, fh = h;
  int d = 1;

  if (max_size > 0 && longest > max_size)
    {
      double s = (double) max_size / longest;
      fw = CLAMP ((int) lround (w * s), 1, max_size);
      fh = CLAMP ((int) lround (h * s), 1, max_size);
      /* Box-average by the largest integer factor that keeps at least the final size,
       * then let cairo do the remaining (< 2×) resampling. */
      d = MAX (1, MIN (w / fw, h / fh));
    }

  TsrStretch st;
  if (stretch)
    st = *stretch;
  else
    tsr_stretch_auto (img, &st);
  cairo_surface_t *surface = tsr_render_surface (img, &st, d);
  if (cairo_surface_status (surface) != CAIRO_STATUS_SUCCESS)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FAILED,
                   "Cannot render the preview for “%s” (%d × %d): %s; pass a maximum size",
                   path, w, h, cairo_status_to_string (cairo_surface_status (surface)));
      cairo_surface_destroy (surface);
      return FALSE;
    }

  int sw = cairo_image_surface_get_width (surface);
  int sh = cairo_image_surface_get_height (surface);
  if (sw != fw || sh != fh)
    {
      cairo_surface_t *scaled = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, fw, fh);
      cairo_t *cr = cairo_create (scaled);
      cairo_scale (cr, (double) fw / sw, (double) fh / sh);
      cairo_set_source_surface (cr, surface, 0, 0);
      cairo_pattern_set_filter (cairo_get_source (cr), CAIRO_FILTER_GOOD);
      cairo_pattern_set_extend (cairo_get_source (cr), CAIRO_EXTEND_PAD);
      cairo_set_operator (cr, CAIRO_OPERATOR_SOURCE);
      cairo_paint (cr);
      cairo_status_t cst = cairo_status (cr);
      cairo_destroy (cr);
      cairo_surface_destroy (surface);
      surface = scaled;
      if (cst != CAIRO_STATUS_SUCCESS)
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_FAILED,
                       "Cannot scale the preview for “%s”: %s", path,
                       cairo_status_to_string (cst));
          cairo_surface_destroy (surface);
          return FALSE;
        }
    }

  GByteArray *bytes = g_byte_array_new ();
  cairo_status_t status = cairo_surface_write_to_png_stream (surface, png_write_to_bytes, bytes);
  cairo_surface_destroy (surface);
  if (status != CAIRO_STATUS_SUCCESS)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FAILED, "Cannot encode the PNG preview “%s”: %s",
                   path, cairo_status_to_string (status));
      g_byte_array_unref (bytes);
      return FALSE;
    }

  gboolean ok = tsr_write_file_atomic (path, (const char *) bytes->data, (gssize) bytes->len,
                                       error);
  g_byte_array_unref (bytes);
  return ok;
}
