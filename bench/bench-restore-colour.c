/* bench-restore-colour — star flux per channel and star colour of a restored (or any) result
 * against the mean stack of the same frames, in the same geometry (issue #15; docs/restore.md):
 *
 *   bench-restore-colour MEAN.fits RESTORED.fits [--galaxy X,Y] [--aperture K] [--recolour S]
 *
 * Stars are detected on the mean stack's luminance (Tessera's detector and PSF fit); kept:
 * unsaturated, SNR ≥ 30, no other detected star within 6 median FWHMs. Per star and channel
 * the aperture sum (radius 3 median FWHMs, minus the mean of the annulus r + 2 … r + 6) in
 * both images. Printed: per channel Σ restored / Σ mean; the median over stars of
 * (R/G)_restored / (R/G)_mean − 1 and the same for B/G (the colour carried); the colour
 * fringe: median over stars of |colour of the ring 1–2.5 FWHM / colour of the core ≤ 1 FWHM − 1|
 * (R/G and B/G) in each image. With --galaxy, the luminance of both images averaged in 5 px
 * rings around (X, Y) out to 200 px, minus the median of the 160–200 px rings, and their
 * ratio. --aperture: the aperture radius in median FWHMs (3). --recolour S: the restored
 * image's luminance coloured again by tsr_restore_colour with a window of S median FWHMs
 * (restore.chroma = S) before the measures. --png PREFIX (with --galaxy): 400 × 400 crops
 * around the galaxy of both images with the mean stack's automatic stretch, PREFIX-mean.png
 * and PREFIX-restored.png. Mono images: the flux line only. */
#include "tessera.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static TsrImage *
plane_of (const TsrImage *img, int c)
{
  TsrImage *o = tsr_image_new (img->width, img->height, 1);
  memcpy (o->data, tsr_image_plane (img, c), sizeof (float) * (gsize) img->width * img->height);
  memcpy (o->mask, img->mask, (gsize) img->width * img->height);
  return o;
}

static TsrImage *
luminance (const TsrImage *img)
{
  TsrImage *o = tsr_image_new (img->width, img->height, 1);
  gsize n = (gsize) img->width * img->height;
  for (gsize k = 0; k < n; k++)
    {
      double s = 0;
      for (int c = 0; c < img->channels; c++)
        s += img->data[(gsize) c * n + k];
      o->data[k] = (float) (s / img->channels);
    }
  memcpy (o->mask, img->mask, n);
  return o;
}

/* core (d ≤ r1), ring (r1 < d ≤ r2) and whole (d ≤ r2) sums minus the r2 + 2 … r2 + 6 annulus mean */
static void
measure (const TsrImage *p, double cx, double cy, double r1, double r2, double *core, double *ring)
{
  int W = p->width, H = p->height;
  double bg = 0;
  int nb = 0;
  for (int y = (int) (cy - r2 - 7); y <= (int) (cy + r2 + 7); y++)
    for (int x = (int) (cx - r2 - 7); x <= (int) (cx + r2 + 7); x++)
      {
        if (x < 0 || y < 0 || x >= W || y >= H || !p->mask[(gsize) y * W + x])
          continue;
        double d = hypot (x - cx, y - cy);
        if (d >= r2 + 2 && d <= r2 + 6)
          {
            bg += p->data[(gsize) y * W + x];
            nb++;
          }
      }
  bg /= MAX (nb, 1);
  *core = *ring = 0;
  for (int y = (int) floor (cy - r2); y <= (int) ceil (cy + r2); y++)
    for (int x = (int) floor (cx - r2); x <= (int) ceil (cx + r2); x++)
      {
        if (x < 0 || y < 0 || x >= W || y >= H)
          continue;
        double d = hypot (x - cx, y - cy), v = p->data[(gsize) y * W + x] - bg;
        if (d <= r1)
          *core += v;
        else if (d <= r2)
          *ring += v;
      }
}

static int
cmp_d (const void *a, const void *b)
{
  double d = *(const double *) a - *(const double *) b;
  return d < 0 ? -1 : d > 0;
}

static double
median (double *v, guint n)
{
  if (n == 0)
    return NAN;
  qsort (v, n, sizeof (double), cmp_d);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int
main (int argc, char **argv)
{
  const char *gal = NULL;
  double apk = 3, recol = 0;
  const char *png = NULL;
  const char *files[2] = { NULL, NULL };
  int nf = 0;
  for (int i = 1; i < argc; i++)
    {
      if (!strcmp (argv[i], "--galaxy") && i + 1 < argc)
        gal = argv[++i];
      else if (!strcmp (argv[i], "--aperture") && i + 1 < argc)
        apk = g_ascii_strtod (argv[++i], NULL);
      else if (!strcmp (argv[i], "--png") && i + 1 < argc)
        png = argv[++i];
      else if (!strcmp (argv[i], "--recolour") && i + 1 < argc)
        recol = g_ascii_strtod (argv[++i], NULL);
      else if (nf < 2)
        files[nf++] = argv[i];
    }
  if (nf != 2)
    {
      fprintf (stderr, "usage: bench-restore-colour MEAN.fits RESTORED.fits [--galaxy X,Y] [--aperture K] [--recolour S] [--png PREFIX]\n");
      return 2;
    }
  GError *e = NULL;
  g_autoptr (TsrImage) mean = tsr_fits_read (files[0], &e);
  g_autoptr (TsrImage) rest = mean ? tsr_fits_read (files[1], &e) : NULL;
  if (!rest)
    {
      fprintf (stderr, "%s\n", e->message);
      return 1;
    }
  if (mean->width != rest->width || mean->height != rest->height || mean->channels != rest->channels)
    {
      fprintf (stderr, "%s: not the shape of %s\n", files[1], files[0]);
      return 1;
    }
  int nc = mean->channels, W = mean->width, H = mean->height;
  g_autoptr (TsrImage) ml = luminance (mean);
  TsrStarParams sp;
  tsr_star_params_init (&sp);
  g_autoptr (TsrStarList) sl = tsr_stars_detect (ml, &sp, NULL, &e);
  if (!sl)
    {
      fprintf (stderr, "%s: %s\n", files[0], e->message);
      return 1;
    }
  double fwhm = isfinite (sl->fwhm_median) ? sl->fwhm_median : 3.0;
  double ap = apk * fwhm, iso = MAX (6, 2 * apk) * fwhm;
  if (recol > 0 && nc == 3)
    {
      g_autoptr (TsrImage) rl = luminance (rest);
      TsrImage *rc = tsr_restore_colour (rl, mean, recol * fwhm);
      tsr_image_unref (rest);
      rest = rc;
      printf ("recoloured: restore.chroma = %.2f (sigma %.2f px)\n", recol, recol * fwhm);
    }
  TsrImage *mp[3], *rp[3];
  for (int c = 0; c < nc; c++)
    {
      mp[c] = plane_of (mean, c);
      rp[c] = plane_of (rest, c);
    }
  guint ns = sl->stars->len, n = 0;
  double sm[3] = { 0 }, sr[3] = { 0 };
  double *col[2], *frr[2], *frm[2];
  for (int i = 0; i < 2; i++)
    {
      col[i] = g_new (double, ns + 1);
      frr[i] = g_new (double, ns + 1);
      frm[i] = g_new (double, ns + 1);
    }
  for (guint i = 0; i < ns; i++)
    {
      const TsrStar *s = &g_array_index (sl->stars, TsrStar, i);
      if (s->saturated || !(s->snr >= 30) || s->x < ap + 8 || s->y < ap + 8 || s->x > W - 9 - ap || s->y > H - 9 - ap)
        continue;
      gboolean alone = TRUE;
      for (guint k = 0; k < ns && alone; k++)
        {
          const TsrStar *o = &g_array_index (sl->stars, TsrStar, k);
          alone = k == i || hypot (o->x - s->x, o->y - s->y) > iso;
        }
      if (!alone)
        continue;
      double cm[3], cr[3];
      for (int c = 0; c < nc; c++)
        {
          double a, b;
          measure (mp[c], s->x, s->y, ap, ap, &a, &b);
          sm[c] += a;
          cm[c] = a;
          measure (rp[c], s->x, s->y, ap, ap, &a, &b);
          sr[c] += a;
          cr[c] = a;
        }
      if (nc == 3)
        {
          double c1[3], r1[3], c2[3], r2[3];
          for (int c = 0; c < 3; c++)
            {
              measure (mp[c], s->x, s->y, fwhm, 2.5 * fwhm, &c1[c], &r1[c]);
              measure (rp[c], s->x, s->y, fwhm, 2.5 * fwhm, &c2[c], &r2[c]);
            }
          for (int q = 0; q < 2; q++)
            {
              int c = q ? 2 : 0;
              col[q][n] = (cr[c] / cr[1]) / (cm[c] / cm[1]) - 1;
              frm[q][n] = fabs ((r1[c] / r1[1]) / (c1[c] / c1[1]) - 1);
              frr[q][n] = fabs ((r2[c] / r2[1]) / (c2[c] / c2[1]) - 1);
            }
        }
      n++;
    }
  static const char *const cn[3] = { "R", "G", "B" };
  printf ("stars: %u of %u detected (unsaturated, SNR >= 30, alone within %.0f FWHM); median FWHM %.2f px; aperture %.1f px\n",
          n, ns, iso / fwhm, fwhm, ap);
  for (int c = 0; c < nc; c++)
    printf ("%s flux: restored / mean stack %.4f\n", nc == 3 ? cn[c] : "luminance", sr[c] / sm[c]);
  if (nc == 3 && n > 0)
    {
      double absr[2][n];
      for (int q = 0; q < 2; q++)
        for (guint i = 0; i < n; i++)
          absr[q][i] = fabs (col[q][i]);
      double mr = median (col[0], n), mb = median (col[1], n), ar = median (absr[0], n), ab = median (absr[1], n);
      printf ("star colour, restored / mean stack - 1 (median; median |.|): R/G %+.2f %% (%.2f %%), B/G %+.2f %% (%.2f %%)\n",
              100 * mr, 100 * ar, 100 * mb, 100 * ab);
      printf ("colour fringe |ring colour / core colour - 1| (median): restored R/G %.2f %% B/G %.2f %%; mean stack R/G "
              "%.2f %% B/G %.2f %%\n",
              100 * median (frr[0], n), 100 * median (frr[1], n), 100 * median (frm[0], n), 100 * median (frm[1], n));
    }
  if (gal)
    {
      double gx, gy;
      if (sscanf (gal, "%lf,%lf", &gx, &gy) != 2)
        {
          fprintf (stderr, "--galaxy X,Y: %s\n", gal);
          return 2;
        }
      g_autoptr (TsrImage) rl = luminance (rest);
      enum { NR = 40 };
      double s1[NR] = { 0 }, s2[NR] = { 0 };
      int cnt[NR] = { 0 };
      for (int y = MAX (0, (int) gy - 200); y < MIN (H, (int) gy + 200); y++)
        for (int x = MAX (0, (int) gx - 200); x < MIN (W, (int) gx + 200); x++)
          {
            int r = (int) (hypot (x - gx, y - gy) / 5);
            gsize k = (gsize) y * W + x;
            if (r >= NR || !ml->mask[k])
              continue;
            s1[r] += ml->data[k];
            s2[r] += rl->data[k];
            cnt[r]++;
          }
      double skm[8], skr[8];
      for (int r = 32; r < NR; r++)
        {
          skm[r - 32] = s1[r] / MAX (cnt[r], 1);
          skr[r - 32] = s2[r] / MAX (cnt[r], 1);
        }
      double bm = median (skm, 8), br = median (skr, 8);
      printf ("galaxy rings around (%.1f, %.1f), luminance minus the 160-200 px median: ring  mean  restored  ratio\n", gx, gy);
      for (int r = 0; r < 32; r++)
        {
          double m = s1[r] / MAX (cnt[r], 1) - bm, q = s2[r] / MAX (cnt[r], 1) - br;
          printf ("  %3d-%3d  %9.2f  %9.2f  %6.3f\n", 5 * r, 5 * r + 5, m, q, q / m);
        }
    }
  if (gal && png)
    {
      double gx, gy;
      sscanf (gal, "%lf,%lf", &gx, &gy);
      int x0 = CLAMP ((int) gx - 200, 0, MAX (W - 400, 0)), y0 = CLAMP ((int) gy - 200, 0, MAX (H - 400, 0));
      int cw = MIN (400, W), ch = MIN (400, H);
      TsrStretch st;
      tsr_stretch_auto (mean, &st);
      const TsrImage *src[2] = { mean, rest };
      const char *name[2] = { "mean", "restored" };
      for (int i = 0; i < 2; i++)
        {
          g_autoptr (TsrImage) cr = tsr_image_new (cw, ch, nc);
          for (int c = 0; c < nc; c++)
            for (int y = 0; y < ch; y++)
              memcpy (cr->data + ((gsize) c * ch + y) * cw, tsr_image_plane (src[i], c) + (gsize) (y0 + y) * W + x0,
                      sizeof (float) * cw);
          g_autofree char *path = g_strdup_printf ("%s-%s.png", png, name[i]);
          if (!tsr_write_png_preview_with (cr, &st, path, 400, &e))
            {
              fprintf (stderr, "%s\n", e->message);
              return 1;
            }
        }
    }
  for (int c = 0; c < nc; c++)
    {
      tsr_image_unref (mp[c]);
      tsr_image_unref (rp[c]);
    }
  for (int i = 0; i < 2; i++)
    {
      g_free (col[i]);
      g_free (frr[i]);
      g_free (frm[i]);
    }
  return 0;
}
