/* bench-compare — per-channel sharpness, elongation and matched-resolution noise of linear
 * results, as ratios to the first one (issue #17's yardstick; docs/tbqr.md):
 *
 *   bench-compare BASE.fits OTHER.fits …
 *
 * Per image and channel (luminance for mono): stars detected on the channel (Tessera's
 * detector and PSF fit), median FWHM and median elongation (major/minor FWHM) of the
 * unsaturated stars with SNR ≥ 30; noise at 8×8 bins: robust σ of the differences of
 * neighbouring 8×8 block means (/√2, so smooth background and nebulosity cancel), per unit
 * of star flux: the median aperture flux (one radius for all images and channels: 3 × the
 * widest median FWHM) of the N brightest of those stars,
 * N the smallest count over the images (rank-matched, so it works across tools whose
 * results have other reference frames, and a detector that finds fewer faint stars in one
 * image does not raise its median flux). Images of other sizes (a drizzle at scale 2) are
 * compared as they are: FWHM in their own pixels divided by their scale to the first
 * image's width, fluxes per first-image pixel area, bins of 8×8 first-image pixels (16×16
 * at scale 2: with 8×8 of its own pixels a scale-2 image read twice the noise).
 *
 * Last lines, per RGB image: the colour of the median bright star (R/G, B/G of those
 * fluxes) and the noise of each channel per unit of the stars' GREEN flux; for the stars of
 * both images matched by position, the noise per unit of the same stars' flux and their
 * point-source SNR (aperture of the first image's FWHM over the σ of that aperture on a sky
 * grid); and, per channel of a sharper image, its elongation and noise at matched resolution. A demosaic that
 * moves star flux between channels (RCD as Siril ships it: R and B gain from green) lowers
 * its R and B noise per own-channel flux without lowering any noise; per unit green flux it
 * cannot (it stays sensitive to the images' colour balance, i.e. their reference frames). */
#include "tessera.h"

#include <math.h>
#include <stdio.h>

typedef struct
{
  double fwhm, elong, noise_flux;
  double elong_se;     /* bootstrap standard error of the median elongation */
  guint n;
} Row;

static double
block_noise (const float *p, const guint8 *m, int w, int h, int q)
{
  int bw = w / q, bh = h / q;
  float *b = g_new (float, (gsize) bw * bh);
  guint8 *ok = g_new0 (guint8, (gsize) bw * bh);
  for (int by = 0; by < bh; by++)
    for (int bx = 0; bx < bw; bx++)
      {
        double s = 0;
        gboolean all = TRUE;
        for (int y = by * q; y < by * q + q; y++)
          for (int x = bx * q; x < bx * q + q; x++)
            {
              gsize k = (gsize) y * w + x;
              all &= m[k] != 0;
              s += p[k];
            }
        b[(gsize) by * bw + bx] = s / ((double) q * q);
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

/* σ of annulus-subtracted aperture sums of radius r on a grid of positions over a plane
 * (1.4826 · MAD: the positions that hit a star do not count): the noise a point source of
 * that aperture sees, correlations included. */
static double
aperture_sky_sigma (const float *p, const guint8 *m, int w, int h, double r)
{
  int step = (int) ceil (2 * (r + 6));
  GArray *v = g_array_new (FALSE, FALSE, sizeof (float));
  for (int y = step; y < h - step; y += step)
    for (int x = step; x < w - step; x += step)
      {
        if (!m[(gsize) y * w + x])
          continue;
        float a = (float) aperture (p, w, h, x + 0.5 * (y / step % 2), y, r);
        if (isfinite (a))
          g_array_append_val (v, a);
      }
  double sig = NAN;
  if (v->len >= 20)
    {
      float *d = (float *) v->data;
      float med = tsr_median_inplace (d, v->len);
      sig = 1.4826 * tsr_mad_inplace (d, v->len, med);
    }
  g_array_unref (v);
  return sig;
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

/* Bootstrap standard error of the median of v (200 resamples, a fixed seed: the same
 * figures every run). */
static double
median_se (GArray *v)
{
  if (v->len < 5)
    return NAN;
  GRand *rng = g_rand_new_with_seed (17);
  GArray *b = g_array_sized_new (FALSE, FALSE, sizeof (double), v->len);
  double s = 0, s2 = 0;
  const int R = 200;
  for (int r = 0; r < R; r++)
    {
      g_array_set_size (b, 0);
      for (guint i = 0; i < v->len; i++)
        g_array_append_val (b, g_array_index (v, double, g_rand_int_range (rng, 0, (gint32) v->len)));
      double md = median (b);
      s += md, s2 += md * md;
    }
  g_array_unref (b);
  g_rand_free (rng);
  double mean = s / R;
  return sqrt (MAX (s2 / R - mean * mean, 0));
}

typedef struct
{
  Row row;
  double noise;        /* σ of the 8×8 block means */
  GArray *flux;        /* aperture fluxes of its stars, per first-image pixel area */
  GArray *pos;         /* x, y of those stars (own pixels) */
  TsrStarList *stars;  /* every detected star (for matching the images) */
} Meas;

static Meas
measure (const TsrImage *img, int c, double scale)
{
  Meas m = { { NAN, NAN, NAN, 0 }, NAN, g_array_new (FALSE, FALSE, sizeof (double)),
             g_array_new (FALSE, FALSE, sizeof (double)) };
  gsize n = (gsize) img->width * img->height;
  g_autoptr (TsrImage) pl = tsr_image_new (img->width, img->height, 1);
  memcpy (pl->mask, img->mask, n);
  for (gsize k = 0; k < n; k++)
    pl->data[k] = img->data[(gsize) c * n + k];
  TsrStarParams sp;
  tsr_star_params_init (&sp);
  TsrStarList *sl = tsr_stars_detect (pl, &sp, NULL, NULL);
  if (!sl)
    return m;
  GArray *f = g_array_new (FALSE, FALSE, sizeof (double)), *e = g_array_new (FALSE, FALSE, sizeof (double));
  for (guint i = 0; i < sl->stars->len; i++)
    {
      const TsrStar *s = &g_array_index (sl->stars, TsrStar, i);
      if (s->saturated || s->snr < 30 || !isfinite (s->fwhm) || !(s->roundness > 0))
        continue;
      double v = s->fwhm / scale, el = 1.0 / s->roundness;
      g_array_append_val (f, v);
      g_array_append_val (e, el);
      g_array_append_val (m.pos, s->x);
      g_array_append_val (m.pos, s->y);
    }
  m.row.n = f->len;
  m.stars = sl;
  m.row.fwhm = median (f);
  m.row.elong_se = median_se (e);
  m.row.elong = median (e);
  /* bins of 8×8 first-image pixels: 16×16 of a drizzle at scale 2 */
  m.noise = block_noise (pl->data, pl->mask, pl->width, pl->height, MAX (1, (int) lround (8 * scale)));
  g_array_unref (f);
  g_array_unref (e);
  return m;
}

/* Plane c of img blurred by a Gaussian of σ px (separable, truncated at 4σ, normalised over
 * the valid pixels it reaches; the mask kept), as a one-channel image. */
static TsrImage *
blur_plane (const TsrImage *img, int c, double sigma)
{
  int w = img->width, h = img->height, r = (int) ceil (4 * sigma);
  gsize n = (gsize) w * h;
  double *k = g_new (double, 2 * r + 1);
  for (int i = -r; i <= r; i++)
    k[i + r] = exp (-0.5 * i * i / (sigma * sigma));
  const float *src = img->data + (gsize) c * n;
  double *tv = g_new0 (double, n), *tw = g_new0 (double, n);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        double sv = 0, sw = 0;
        for (int i = MAX (-r, -x); i <= MIN (r, w - 1 - x); i++)
          {
            gsize q = (gsize) y * w + x + i;
            if (img->mask[q])
              sv += k[i + r] * src[q], sw += k[i + r];
          }
        tv[(gsize) y * w + x] = sv;
        tw[(gsize) y * w + x] = sw;
      }
  TsrImage *out = tsr_image_new (w, h, 1);
  memcpy (out->mask, img->mask, n);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        double sv = 0, sw = 0;
        for (int i = MAX (-r, -y); i <= MIN (r, h - 1 - y); i++)
          {
            gsize q = (gsize) (y + i) * w + x;
            sv += k[i + r] * tv[q], sw += k[i + r] * tw[q];
          }
        out->data[(gsize) y * w + x] = sw > 0 ? (float) (sv / sw) : 0.0f;
      }
  g_free (k);
  g_free (tv);
  g_free (tw);
  return out;
}

/* Channel c of img blurred until its median FWHM (in first-image pixels, img at the given
 * scale) is the target's within 0.5 %: FWHM² adds nearly as for Gaussians, so σ starts at
 * √(target² − own²)/2.3548 and is refined by the secant rule on the measured FWHM. Returns
 * the measurement of the blurred channel (row.fwhm NAN when the channel is already as wide
 * as the target or nothing was measured) and the σ used (first-image pixels). */
static Meas
measure_matched (const TsrImage *img, int c, double scale, double own, double target, double *sigma_out)
{
  Meas m = { { NAN, NAN, NAN, 0 }, NAN, NULL, NULL, NULL };
  *sigma_out = NAN;
  if (!(own > 0 && target > own * 1.005))
    return m;
  double s0 = 0, f0 = own, s1 = sqrt (target * target - own * own) / 2.3548;
  for (int it = 0; it < 5; it++)
    {
      g_autoptr (TsrImage) b = blur_plane (img, c, s1 * scale);
      if (m.stars)
        tsr_star_list_free (m.stars);
      if (m.flux)
        g_array_unref (m.flux);
      if (m.pos)
        g_array_unref (m.pos);
      m = measure (b, 0, scale);
      *sigma_out = s1;
      double f1 = m.row.fwhm;
      if (!isfinite (f1) || fabs (f1 / target - 1) < 0.005 || f1 == f0)
        break;
      double s2 = s1 + (target - f1) * (s1 - s0) / (f1 - f0);
      s0 = s1, f0 = f1;
      s1 = CLAMP (s2, 0.05, 4 * s1);
    }
  return m;
}

int
main (int argc, char **argv)
{
  if (argc < 2)
    {
      fprintf (stderr, "usage: bench-compare BASE.fits [OTHER.fits …]\n");
      return 2;
    }
  int ni = argc - 1, base_w = 0;
  Meas *m = g_new0 (Meas, (gsize) ni * 3);
  int *nc = g_new0 (int, ni);
  guint nmin[3] = { G_MAXUINT, G_MAXUINT, G_MAXUINT };
  double *fl = g_new0 (double, (gsize) ni * 3);
  TsrImage **imgs = g_new0 (TsrImage *, ni);
  for (int i = 0; i < ni; i++)
    {
      GError *e = NULL;
      TsrImage *img = imgs[i] = tsr_fits_read (argv[i + 1], &e);
      if (!img)
        {
          fprintf (stderr, "%s\n", e->message);
          return 1;
        }
      if (i == 0)
        base_w = img->width;
      nc[i] = MIN (img->channels, 3);
      for (int c = 0; c < nc[i]; c++)
        m[i * 3 + c] = measure (img, c, (double) img->width / base_w);
    }
  /* star fluxes in ONE aperture for every image and channel: 3 × the widest median FWHM
   * (first-image pixels). With 3 × each star's own FWHM a sharper channel got a smaller
   * aperture and lost its wings (Seestar stars: a few per cent between 2.1 and 2.6 px), which
   * made that channel's noise per flux look worse the sharper it was. */
  double fmax = 0;
  for (int i = 0; i < ni; i++)
    for (int c = 0; c < nc[i]; c++)
      if (isfinite (m[i * 3 + c].row.fwhm))
        fmax = MAX (fmax, m[i * 3 + c].row.fwhm);
  double rap = MAX (4.0, 3.0 * fmax);
  for (int i = 0; i < ni; i++)
    for (int c = 0; c < nc[i]; c++)
      {
        Meas *q = &m[i * 3 + c];
        const TsrImage *img = imgs[i];
        double scale = (double) img->width / base_w;
        gsize np = (gsize) img->width * img->height;
        for (guint k = 0; k + 1 < q->pos->len; k += 2)
          {
            double a = aperture (img->data + (gsize) c * np, img->width, img->height, g_array_index (q->pos, double, k),
                                 g_array_index (q->pos, double, k + 1), rap * scale)
                       / (scale * scale);
            if (isfinite (a) && a > 0)
              g_array_append_val (q->flux, a);
          }
        nmin[c] = MIN (nmin[c], q->flux->len);
      }
  printf ("%-40s %-2s %6s %8s %8s %11s %8s %8s %8s\n", "file", "ch", "stars", "FWHM", "elong", "noise8/flux",
          "FWHM×", "elong×", "noise×");
  for (int i = 0; i < ni; i++)
    for (int c = 0; c < nc[i]; c++)
      {
        Meas *q = &m[i * 3 + c];
        /* the median flux of the nmin brightest stars */
        qsort (q->flux->data, q->flux->len, sizeof (double), cmp_d);
        guint k = nmin[c];
        double flux = k ? g_array_index (q->flux, double, q->flux->len - 1 - k / 2) : NAN;
        q->row.noise_flux = q->noise / flux;
        fl[i * 3 + c] = flux;
      }
  for (int i = 0; i < ni; i++)
    for (int c = 0; c < nc[i]; c++)
      {
        const Row *r = &m[i * 3 + c].row, *b = &m[MIN (c, nc[0] - 1)].row;
        const char *name = nc[i] == 3 ? (c == 0 ? "R" : c == 1 ? "G" : "B") : "L";
        g_autofree char *bn = g_path_get_basename (argv[i + 1]);
        printf ("%-40s %-2s %6u %8.3f %8.3f %11.4g %8.3f %8.3f %8.3f\n", bn, name, r->n, r->fwhm, r->elong,
                r->noise_flux, r->fwhm / b->fwhm, r->elong / b->elong, r->noise_flux / b->noise_flux);
      }
  printf ("noise8/flux: σ of 8×8 block means over the median aperture flux (radius %.1f px for all) of the "
          "%u/%u/%u brightest stars (rank-matched); FWHM in first-image pixels\n", rap, nmin[0], nmin[1], nmin[2]);
  /* the colour of the median bright star: a demosaic that moves flux between channels (or
   * a colour scale) shows here, and it enters noise8/flux per channel */
  for (int i = 0; i < ni; i++)
    if (nc[i] == 3 && nc[0] == 3)
      {
        g_autofree char *bn = g_path_get_basename (argv[i + 1]);
        double rg = fl[i * 3] / fl[i * 3 + 1], bg = fl[i * 3 + 2] / fl[i * 3 + 1];
        double q[3];
        for (int c = 0; c < 3; c++)
          q[c] = (m[i * 3 + c].noise / fl[i * 3 + 1]) / (m[c].noise / fl[1]);
        printf ("%-40s star flux R/G %.4f B/G %.4f (× first image's: %.4f %.4f); noise8 per unit green "
                "flux × first image's: R %.3f G %.3f B %.3f\n", bn, rg, bg, rg / (fl[0] / fl[1]),
                bg / (fl[2] / fl[1]), q[0], q[1], q[2]);
      }
  /* The same stars in both images: the green star lists matched (similarity), every
   * unsaturated first-image star of green SNR ≥ 30 measured per channel at its place in both
   * images with the common aperture. The median per-channel flux ratio puts the noise of
   * each channel per unit of the same stars' flux in that channel — independent of which
   * stars each image detects, but it still counts a demosaic or normalisation that makes
   * stars brighter in a channel than the sensor recorded (RCD as Siril ships it; a colour
   * scale from sky statistics instead of star fluxes) as a gain: see the colour line. */
  for (int i = 1; i < ni; i++)
    {
      if (nc[i] != nc[0] || !m[1 % nc[0]].stars || !m[i * 3 + 1 % nc[i]].stars)
        continue;
      int cg = nc[0] == 3 ? 1 : 0;
      TsrTransform T;
      guint nmatch = 0;
      double rms = NAN;
      if (!tsr_match_stars (m[cg].stars, m[i * 3 + cg].stars, TSR_MODEL_SIMILARITY, 40, 3.0, 8, &T, &nmatch, &rms))
        {
          printf ("%s: star lists do not match; no position-matched fluxes\n", argv[i + 1]);
          continue;
        }
      const TsrImage *a = imgs[0], *b = imgs[i];
      gsize na = (gsize) a->width * a->height, nb = (gsize) b->width * b->height;
      double sb = (double) b->width / base_w;
      GArray *q[3], *sa[3], *sb_[3];
      double rc[3], siga[3], sigb[3];
      for (int c = 0; c < nc[0]; c++)
        {
          q[c] = g_array_new (FALSE, FALSE, sizeof (double));
          sa[c] = g_array_new (FALSE, FALSE, sizeof (double));
          sb_[c] = g_array_new (FALSE, FALSE, sizeof (double));
          /* point-source SNR: an aperture of the first image's FWHM in that channel */
          rc[c] = MAX (1.5, m[c].row.fwhm);
          siga[c] = aperture_sky_sigma (a->data + c * na, a->mask, a->width, a->height, rc[c]);
          sigb[c] = aperture_sky_sigma (b->data + c * nb, b->mask, b->width, b->height, rc[c] * sb) / (sb * sb);
        }
      for (guint k = 0; k < m[cg].stars->stars->len; k++)
        {
          const TsrStar *st = &g_array_index (m[cg].stars->stars, TsrStar, k);
          if (st->saturated || st->snr < 30)
            continue;
          double bx, by;
          tsr_transform_apply (&T, st->x, st->y, &bx, &by);
          double fa[3], fb[3];
          gboolean ok = TRUE;
          for (int c = 0; c < nc[0]; c++)
            {
              fa[c] = aperture (a->data + c * na, a->width, a->height, st->x, st->y, rap);
              fb[c] = aperture (b->data + c * nb, b->width, b->height, bx, by, rap * sb) / (sb * sb);
              ok &= fa[c] > 0 && isfinite (fb[c]);
            }
          if (ok)
            for (int c = 0; c < nc[0]; c++)
              {
                g_array_append_val (q[c], (double) { fb[c] / fa[c] });
                double pa = aperture (a->data + c * na, a->width, a->height, st->x, st->y, rc[c]);
                double pb = aperture (b->data + c * nb, b->width, b->height, bx, by, rc[c] * sb) / (sb * sb);
                if (isfinite (pa) && isfinite (pb))
                  {
                    g_array_append_val (sa[c], (double) { pa / siga[c] });
                    g_array_append_val (sb_[c], (double) { pb / sigb[c] });
                  }
              }
        }
      g_autofree char *bn = g_path_get_basename (argv[i + 1]);
      double r[3];
      for (int c = 0; c < nc[0]; c++)
        r[c] = median (q[c]);
      printf ("%-40s %u matched stars (RMS %.2f px), %u measured: noise8 per unit flux of the same stars × first "
              "image's:", bn, nmatch, rms, q[0]->len);
      for (int c = 0; c < nc[0]; c++)
        printf (" %s %.3f", nc[0] == 3 ? (c == 0 ? "R" : c == 1 ? "G" : "B") : "L",
                (m[i * 3 + c].noise / m[c].noise) / r[c]);
      if (nc[0] == 3)
        printf ("; their colour × first image's: R/G %.4f B/G %.4f; noise8 per unit of their GREEN flux: R %.3f G %.3f "
                "B %.3f", r[0] / r[1], r[2] / r[1], (m[i * 3].noise / m[0].noise) / r[1],
                (m[i * 3 + 1].noise / m[1].noise) / r[1], (m[i * 3 + 2].noise / m[2].noise) / r[1]);
      printf ("\n%-40s point-source SNR of the same stars (aperture radius = the first image's FWHM, noise of "
              "that aperture on a sky grid) × first image's:", bn);
      for (int c = 0; c < nc[0]; c++)
        printf (" %s %.3f", nc[0] == 3 ? (c == 0 ? "R" : c == 1 ? "G" : "B") : "L", median (sb_[c]) / median (sa[c]));
      printf ("\n");
      for (int c = 0; c < nc[0]; c++)
        {
          g_array_unref (q[c]);
          g_array_unref (sa[c]);
          g_array_unref (sb_[c]);
        }
    }
  /* At matched resolution: each channel of a sharper image blurred (Gaussian) to the first
   * image's median FWHM in that channel, then measured again. A sharper image shows more of
   * the anisotropy every frame's PSF has (an isotropic blur b takes axes a > c to
   * √(a² + b²) / √(c² + b²), nearer 1), so elongation compares fairly only here; the noise at
   * 8×8 bins per unit of the same stars' flux (the unblurred fluxes: the blur keeps them) is
   * printed beside it. BENCH_NO_MATCHED=1 leaves this out. */
  if (!g_getenv ("BENCH_NO_MATCHED"))
    for (int i = 1; i < ni; i++)
      {
        g_autofree char *bn = g_path_get_basename (argv[i + 1]);
        double scale = (double) imgs[i]->width / base_w;
        for (int c = 0; c < nc[i] && c < nc[0]; c++)
          {
            const Row *r = &m[i * 3 + c].row, *b = &m[c].row;
            const char *name = nc[i] == 3 ? (c == 0 ? "R" : c == 1 ? "G" : "B") : "L";
            double sg;
            Meas q = measure_matched (imgs[i], c, scale, r->fwhm, b->fwhm, &sg);
            if (!isfinite (q.row.fwhm))
              {
                printf ("%-40s %-2s matched resolution: not sharper than the first image, or no star measured "
                        "(FWHM× %.3f)\n", bn, name, r->fwhm / b->fwhm);
                if (q.stars)
                  tsr_star_list_free (q.stars);
                if (q.flux)
                  g_array_unref (q.flux);
                if (q.pos)
                  g_array_unref (q.pos);
                continue;
              }
            double nf = (q.noise / fl[i * 3 + c]) / (m[c].noise / fl[c]);
            /* the ratio's standard error from the two medians' bootstrap errors */
            double er = q.row.elong / b->elong;
            double se = er * hypot (q.row.elong_se / q.row.elong, b->elong_se / b->elong);
            printf ("%-40s %-2s matched resolution (Gaussian σ %.2f px): stars %u, FWHM× %.3f, elong %.3f × first "
                    "image's %.3f ± %.3f (unblurred %.3f), noise8/flux× %.3f (unblurred %.3f)\n", bn, name, sg,
                    q.row.n, q.row.fwhm / b->fwhm, q.row.elong, er, se, r->elong / b->elong, nf,
                    r->noise_flux / b->noise_flux);
            if (q.stars)
              tsr_star_list_free (q.stars);
            g_array_unref (q.flux);
            g_array_unref (q.pos);
          }
      }
  for (int i = 0; i < ni; i++)
    {
      for (int c = 0; c < nc[i]; c++)
        {
          g_array_unref (m[i * 3 + c].flux);
          g_array_unref (m[i * 3 + c].pos);
          if (m[i * 3 + c].stars)
            tsr_star_list_free (m[i * 3 + c].stars);
        }
      tsr_image_unref (imgs[i]);
    }
  g_free (imgs);
  g_free (m);
  g_free (nc);
  g_free (fl);
  return 0;
}
