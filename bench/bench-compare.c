/* bench-compare — per-channel sharpness, elongation and matched-resolution noise of linear
 * results, as ratios to the first one (issue #17's yardstick; docs/tbqr.md):
 *
 *   bench-compare BASE.fits OTHER.fits …
 *
 * Per image and channel (luminance for mono): stars detected on the channel (Tessera's
 * detector and PSF fit), median FWHM and median elongation (major/minor FWHM) of the
 * unsaturated stars with SNR ≥ 30; noise at 8×8 bins: robust σ of the differences of
 * neighbouring 8×8 block means (/√2, so smooth background and nebulosity cancel), per unit
 * of the median aperture flux (radius 3×FWHM) of those stars. Images of other sizes (a
 * drizzle at scale 2) are compared as they are: FWHM in their own pixels divided by their
 * scale to the first image's width. */
#include "tessera.h"

#include <math.h>
#include <stdio.h>

typedef struct
{
  double fwhm, elong, noise_flux;
  guint n;
} Row;

static double
block_noise (const float *p, const guint8 *m, int w, int h)
{
  int bw = w / 8, bh = h / 8;
  float *b = g_new (float, (gsize) bw * bh);
  guint8 *ok = g_new0 (guint8, (gsize) bw * bh);
  for (int by = 0; by < bh; by++)
    for (int bx = 0; bx < bw; bx++)
      {
        double s = 0;
        gboolean all = TRUE;
        for (int y = by * 8; y < by * 8 + 8; y++)
          for (int x = bx * 8; x < bx * 8 + 8; x++)
            {
              gsize k = (gsize) y * w + x;
              all &= m[k] != 0;
              s += p[k];
            }
        b[(gsize) by * bw + bx] = s / 64.0;
        ok[(gsize) by * bw + bx] = all;
      }
  GArray *d = g_array_new (FALSE, FALSE, sizeof (float));
  for (int by = 0; by < bh; by++)
    for (int bx = 0; bx + 1 < bw; bx++)
      {
        gsize k = (gsize) by * bw + bx;
        if (ok[k] && ok[k + 1])
          {
            float v = b[k + 1] - b[k];
            g_array_append_val (d, v);
          }
      }
  double s = NAN;
  if (d->len > 10)
    {
      float med = tsr_median_inplace ((float *) d->data, d->len);
      for (guint i = 0; i < d->len; i++)
        g_array_index (d, float, i) = fabsf (g_array_index (d, float, i) - med);
      s = 1.4826 * tsr_median_inplace ((float *) d->data, d->len) / sqrt (2.0);
    }
  g_array_unref (d);
  g_free (b);
  g_free (ok);
  return s;
}

static double
aperture (const float *p, int w, int h, double cx, double cy, double r)
{
  double sum = 0, bg = 0;
  int n = 0, nb = 0;
  for (int y = (int) (cy - r - 5); y <= (int) (cy + r + 5); y++)
    for (int x = (int) (cx - r - 5); x <= (int) (cx + r + 5); x++)
      {
        if (x < 0 || y < 0 || x >= w || y >= h)
          continue;
        double d = hypot (x - cx, y - cy);
        if (d <= r)
          sum += p[(gsize) y * w + x], n++;
        else if (d >= r + 2 && d <= r + 5)
          bg += p[(gsize) y * w + x], nb++;
      }
  return nb ? sum - n * bg / nb : NAN;
}

static int
cmp_d (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static double
median (GArray *v)
{
  if (!v->len)
    return NAN;
  qsort (v->data, v->len, sizeof (double), cmp_d);
  return g_array_index (v, double, v->len / 2);
}

/* the first image's stars per channel (x, y, aperture radius): every image's flux is
 * measured on the same stars, so a detector that finds fewer faint stars in one image does
 * not raise its median flux */
static GArray *base_stars[3];

static Row
measure (const TsrImage *img, int c, double scale, gboolean first)
{
  Row r = { NAN, NAN, NAN, 0 };
  gsize n = (gsize) img->width * img->height;
  g_autoptr (TsrImage) pl = tsr_image_new (img->width, img->height, 1);
  memcpy (pl->mask, img->mask, n);
  for (gsize k = 0; k < n; k++)
    pl->data[k] = img->data[(gsize) c * n + k];
  TsrStarParams sp;
  tsr_star_params_init (&sp);
  TsrStarList *sl = tsr_stars_detect (pl, &sp, NULL, NULL);
  if (!sl)
    return r;
  GArray *f = g_array_new (FALSE, FALSE, sizeof (double)), *e = g_array_new (FALSE, FALSE, sizeof (double));
  GArray *fl = g_array_new (FALSE, FALSE, sizeof (double));
  for (guint i = 0; i < sl->stars->len; i++)
    {
      const TsrStar *s = &g_array_index (sl->stars, TsrStar, i);
      if (s->saturated || s->snr < 30 || !isfinite (s->fwhm) || !(s->roundness > 0))
        continue;
      double v = s->fwhm / scale, el = 1.0 / s->roundness;
      g_array_append_val (f, v);
      g_array_append_val (e, el);
      if (first)
        {
          if (!base_stars[c])
            base_stars[c] = g_array_new (FALSE, FALSE, sizeof (double) * 3);
          double st[3] = { s->x, s->y, MAX (4.0, 3.0 * s->fwhm) };
          g_array_append_vals (base_stars[c], st, 1);
        }
    }
  if (!base_stars[c])
    base_stars[c] = g_array_new (FALSE, FALSE, sizeof (double) * 3);
  for (guint i = 0; i < base_stars[c]->len; i++)
    {
      const double *st = (const double *) base_stars[c]->data + 3 * i;
      double a = aperture (pl->data, pl->width, pl->height, (st[0] + 0.5) * scale - 0.5, (st[1] + 0.5) * scale - 0.5,
                           st[2] * scale);
      if (isfinite (a))
        g_array_append_val (fl, a);
    }
  r.n = f->len;
  r.fwhm = median (f);
  r.elong = median (e);
  /* flux per unit area of the first image's pixels: a scale-2 result's aperture sums are
   * scale² larger, its 8×8 blocks cover a quarter of the sky */
  double flux = median (fl) / (scale * scale);
  r.noise_flux = block_noise (pl->data, pl->mask, pl->width, pl->height) / flux;
  g_array_unref (f);
  g_array_unref (e);
  g_array_unref (fl);
  tsr_star_list_free (sl);
  return r;
}

int
main (int argc, char **argv)
{
  if (argc < 2)
    {
      fprintf (stderr, "usage: bench-compare BASE.fits [OTHER.fits …]\n");
      return 2;
    }
  Row base[3];
  int base_w = 0;
  printf ("%-40s %-2s %6s %8s %8s %11s %8s %8s %8s\n", "file", "ch", "stars", "FWHM", "elong", "noise8/flux",
          "FWHM×", "elong×", "noise×");
  for (int i = 1; i < argc; i++)
    {
      GError *e = NULL;
      g_autoptr (TsrImage) img = tsr_fits_read (argv[i], &e);
      if (!img)
        {
          fprintf (stderr, "%s\n", e->message);
          return 1;
        }
      if (i == 1)
        base_w = img->width;
      double scale = (double) img->width / base_w;
      int C = img->channels;
      for (int c = 0; c < C; c++)
        {
          Row r = measure (img, c, scale, i == 1);
          if (i == 1)
            base[c] = r;
          const char *name = C == 3 ? (c == 0 ? "R" : c == 1 ? "G" : "B") : "L";
          g_autofree char *bn = g_path_get_basename (argv[i]);
          printf ("%-40s %-2s %6u %8.3f %8.3f %11.4g %8.3f %8.3f %8.3f\n", bn, name, r.n, r.fwhm, r.elong,
                  r.noise_flux, r.fwhm / base[MIN (c, 2)].fwhm, r.elong / base[MIN (c, 2)].elong,
                  r.noise_flux / base[MIN (c, 2)].noise_flux);
        }
    }
  return 0;
}
