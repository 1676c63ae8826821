/* tsr-colour.c — colour calibration on the image's own stars. The average star of a field
 * is close to white (G-type dominated) and the sky far from objects should have no colour;
 * both are what Siril's and PixInsight's catalogue-free calibrations assume too. Here the
 * sky of each channel is its 3σ-clipped median, the star colour the median over stars of
 * aperture-flux ratios (the median keeps a few red giants or blue stars from steering it). */
#include "tsr-colour.h"

#include "tsr-background.h"
#include "tsr-error.h"
#include "tsr-stars.h"
#include "tsr-stats.h"

#include <glib/gi18n.h>
#include <math.h>
#include <string.h>

gboolean
tsr_aperture_flux (const TsrImage *img, int c, double x, double y, double r, double *flux)
{
  int w = img->width, h = img->height;
  double ro = r + 6.0, ri = r + 2.0;
  int x0 = (int) floor (x - ro), x1 = (int) ceil (x + ro), y0 = (int) floor (y - ro), y1 = (int) ceil (y + ro);
  if (x0 < 0 || y0 < 0 || x1 >= w || y1 >= h)
    return FALSE;
  const float *pl = tsr_image_plane (img, c);
  g_autofree float *ann = g_new (float, (gsize) (x1 - x0 + 1) * (y1 - y0 + 1));
  gsize na = 0, n_ann_all = 0;
  double sum = 0;
  gsize nap = 0;
  for (int yy = y0; yy <= y1; yy++)
    for (int xx = x0; xx <= x1; xx++)
      {
        double d2 = (xx - x) * (xx - x) + (yy - y) * (yy - y);
        gsize k = (gsize) yy * w + xx;
        if (d2 <= r * r)
          {
            if (!img->mask[k])
              return FALSE;
            sum += pl[k];
            nap++;
          }
        else if (d2 >= ri * ri && d2 <= ro * ro)
          {
            n_ann_all++;
            if (img->mask[k])
              ann[na++] = pl[k];
          }
      }
  if (nap == 0 || na < n_ann_all / 2 || na < 8)
    return FALSE;
  double bg = tsr_median_inplace (ann, na);
  *flux = sum - bg * nap;
  return TRUE;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

TsrImage *
tsr_colour_calibrate (const TsrImage *img, const TsrPostParams *p, TsrColourInfo *info, GCancellable *cancellable,
                      GError **error)
{
  g_return_val_if_fail (img != NULL && p != NULL, NULL);
  if (!tsr_post_params_validate (p, error))
    return NULL;
  if (img->channels != 3)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("colour calibration needs an RGB image (this one has %d channel; a raw Bayer mosaic is "
                     "demosaiced by process first)"), img->channels);
      return NULL;
    }
  int w = img->width, h = img->height;
  gsize n = tsr_image_npix (img);
  TsrColourInfo inf;
  memset (&inf, 0, sizeof inf);
  for (int c = 0; c < 3; c++)
    inf.sky[c] = tsr_sky_level (tsr_image_plane (img, c), img->mask, n, NULL);

  /* stars on the luminance */
  g_autoptr (TsrImage) lum = tsr_image_new (w, h, 1);
  memcpy (lum->mask, img->mask, n);
  for (gsize k = 0; k < n; k++)
    lum->data[k] = (img->data[k] + img->data[n + k] + img->data[2 * n + k]) / 3.0f;
  TsrStarParams sp;
  tsr_star_params_init (&sp);
  g_autoptr (TsrStarList) sl = tsr_stars_detect (lum, &sp, cancellable, error);
  if (!sl)
    return NULL;
  GArray *rr = g_array_new (FALSE, FALSE, sizeof (double)), *rb = g_array_new (FALSE, FALSE, sizeof (double));
  for (guint i = 0; i < sl->stars->len; i++)
    {
      const TsrStar *s = &g_array_index (sl->stars, TsrStar, i);
      if (s->saturated || !(s->snr >= p->colour_min_snr) || !isfinite (s->fwhm) || s->fwhm <= 0)
        continue;
      double r = MAX (3.0, 2.5 * s->fwhm), f[3];
      gboolean good = TRUE;
      for (int c = 0; c < 3 && good; c++)
        good = tsr_aperture_flux (img, c, s->x, s->y, r, &f[c]) && f[c] > 0;
      if (!good)
        continue;
      double rv = f[0] / f[1], bv = f[2] / f[1];
      g_array_append_val (rr, rv);
      g_array_append_val (rb, bv);
    }
  inf.n_stars = rr->len;
  if (rr->len < 3)
    {
      g_array_unref (rr);
      g_array_unref (rb);
      g_set_error (error, TSR_ERROR, TSR_ERROR_EMPTY,
                   _("colour calibration: only %u unsaturated stars with SNR ≥ %g were measured, at least 3 are "
                     "needed (lower post.colour_min_snr)"), inf.n_stars, p->colour_min_snr);
      return NULL;
    }
  qsort (rr->data, rr->len, sizeof (double), cmp_double);
  qsort (rb->data, rb->len, sizeof (double), cmp_double);
  guint mid = rr->len / 2;
  inf.ratio[0] = rr->len & 1 ? g_array_index (rr, double, mid)
                             : 0.5 * (g_array_index (rr, double, mid - 1) + g_array_index (rr, double, mid));
  inf.ratio[1] = 1.0;
  inf.ratio[2] = rb->len & 1 ? g_array_index (rb, double, mid)
                             : 0.5 * (g_array_index (rb, double, mid - 1) + g_array_index (rb, double, mid));
  g_array_unref (rr);
  g_array_unref (rb);
  g_autoptr (TsrImage) out = tsr_image_copy (img);
  for (int c = 0; c < 3; c++)
    {
      inf.scale[c] = 1.0 / inf.ratio[c];
      float *pl = tsr_image_plane (out, c);
      for (gsize k = 0; k < n; k++)
        pl[k] = (float) ((pl[k] - inf.sky[c]) * inf.scale[c] + inf.sky[1]);
    }
  g_autofree char *hist = g_strdup_printf ("tessera colour: sky %.6g %.6g %.6g set to %.6g (neutral background); "
                                           "average of %u stars R/G %.5f B/G %.5f, scales %.5f 1 %.5f",
                                           inf.sky[0], inf.sky[1], inf.sky[2], inf.sky[1], inf.n_stars,
                                           inf.ratio[0], inf.ratio[2], inf.scale[0], inf.scale[2]);
  tsr_header_add_history (out->header, hist);
  if (info)
    *info = inf;
  return g_steal_pointer (&out);
}
