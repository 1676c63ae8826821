/* tsr-psf.c — Moffat PSF models and PSFs stacked from star stamps. */
#include "tsr-psf.h"
#include "tsr-stats.h"
#include "tsr-fft.h"
#include "tsr-warp.h"

#include <fftw3.h>

#include <math.h>
#include <string.h>

#define FWHM_TO_SIGMA (1.0 / 2.354820045)

int
tsr_psf_size_for_fwhm (double fwhm)
{
  if (!isfinite (fwhm) || fwhm <= 0)
    fwhm = 3.0;
  double sigma = fwhm * FWHM_TO_SIGMA;
  int size = 2 * (int) ceil (4.0 * sigma) + 1;
  return CLAMP (size, 11, 51);
}

static TsrPsf *
psf_alloc (int radius, int oversample)
{
  TsrPsf *p = g_new0 (TsrPsf, 1);
  p->radius = radius;
  p->size = 2 * radius + 1;
  p->oversample = MAX (oversample, 1);
  p->data = g_new0 (float, (gsize) p->size * p->size);
  p->fwhm = NAN;
  return p;
}

void
tsr_psf_free (TsrPsf *psf)
{
  if (!psf)
    return;
  g_free (psf->data);
  g_free (psf);
}

TsrPsf *
tsr_psf_copy (const TsrPsf *psf)
{
  TsrPsf *p = g_new (TsrPsf, 1);
  *p = *psf;
  p->data = g_memdup2 (psf->data, sizeof (float) * (gsize) psf->size * psf->size);
  return p;
}

static void
normalise (TsrPsf *p)
{
  double s = 0;
  gsize n = (gsize) p->size * p->size;
  for (gsize i = 0; i < n; i++)
    {
      if (!(p->data[i] > 0))
        p->data[i] = 0;
      s += p->data[i];
    }
  if (s <= 0)
    {
      memset (p->data, 0, n * sizeof (float));
      p->data[(gsize) p->radius * p->size + p->radius] = 1.0f;
      return;
    }
  for (gsize i = 0; i < n; i++)
    p->data[i] = (float) (p->data[i] / s);
}

TsrPsf *
tsr_psf_new_delta (int size, int oversample)
{
  if (size < 1)
    size = 1;
  if (size % 2 == 0)
    size++;
  TsrPsf *p = psf_alloc (size / 2, oversample);
  p->data[(gsize) p->radius * p->size + p->radius] = 1.0f;
  p->fwhm = 0;
  return p;
}

TsrPsf *
tsr_psf_new_moffat (double fwhm, double roundness, double theta, double beta, int oversample,
                    int size_px)
{
  if (!isfinite (fwhm) || fwhm <= 0.1)
    fwhm = 3.0;
  if (!isfinite (roundness) || roundness <= 0.05 || roundness > 1)
    roundness = 1.0;
  if (!isfinite (theta))
    theta = 0;
  if (!isfinite (beta) || beta <= 1.0)
    beta = 3.0;
  oversample = MAX (oversample, 1);
  if (size_px <= 0)
    size_px = tsr_psf_size_for_fwhm (fwhm);
  int radius = (size_px / 2) * oversample;
  TsrPsf *p = psf_alloc (radius, oversample);
  /* FWHM = 2 α sqrt(2^(1/β) − 1) along each axis */
  double k = 2.0 * sqrt (pow (2.0, 1.0 / beta) - 1.0);
  double fmaj = fwhm / sqrt (roundness), fmin = fwhm * sqrt (roundness);
  double amaj = fmaj / k, amin = fmin / k;
  double c = cos (theta), s = sin (theta);
  const int sub = 5;
  double step = 1.0 / oversample;
  for (int j = 0; j < p->size; j++)
    for (int i = 0; i < p->size; i++)
      {
        double acc = 0;
        for (int v = 0; v < sub; v++)
          for (int u = 0; u < sub; u++)
            {
              double dx = (i - radius + (u + 0.5) / sub - 0.5) * step;
              double dy = (j - radius + (v + 0.5) / sub - 0.5) * step;
              double a = (dx * c + dy * s) / amaj, b = (-dx * s + dy * c) / amin;
              acc += pow (1.0 + a * a + b * b, -beta);
            }
        p->data[(gsize) j * p->size + i] = (float) acc;
      }
  normalise (p);
  p->fwhm = tsr_psf_measure_fwhm (p);
  return p;
}

static float
median_of (float *v, guint n)
{
  return n ? tsr_median_inplace (v, n) : NAN;
}

TsrPsf *
tsr_psf_from_stamps (const float *plane, const guint8 *mask, int width, int height,
                     TsrCfa cfa, int colour, const double *x, const double *y, guint n,
                     double fwhm, int oversample, guint min_stars)
{
  oversample = MAX (oversample, 1);
  int rpx = tsr_psf_size_for_fwhm (fwhm) / 2;         /* radius in image px */
  int R = rpx * oversample;                            /* in grid samples */
  int size = 2 * R + 1;
  gsize nb = (gsize) size * size;
  int ring0 = rpx + 1, ring1 = rpx + 4;
  gboolean per_colour = cfa != TSR_CFA_NONE && colour >= 0;
  /* fraction of the samples of a colour in a mosaic */
  double frac = 1.0;
  if (per_colour)
    frac = colour == TSR_GREEN ? 0.5 : 0.25;

  /* per star, per bin: value (NAN = none) */
  float *vals = g_new (float, (gsize) MAX (n, 1u) * nb);
  guint8 *cnt = g_new (guint8, nb);
  gsize ntmp = (gsize) (2 * (guint) ring1 + 1) * (2 * (guint) ring1 + 1);
  float *tmp = g_new (float, ntmp);
  guint used = 0;
  double core_r2 = (rpx + 0.5) * (rpx + 0.5);
  for (guint s = 0; s < n; s++)
    {
      double cx = x[s], cy = y[s];
      if (!isfinite (cx) || !isfinite (cy))
        continue;
      int ix = (int) floor (cx + 0.5), iy = (int) floor (cy + 0.5);
      if (ix - ring1 < 0 || iy - ring1 < 0 || ix + ring1 >= width || iy + ring1 >= height)
        continue;
      /* local background from a square ring outside the PSF */
      guint nt = 0;
      gboolean core_ok = TRUE;
      for (int yy = iy - ring1; yy <= iy + ring1 && core_ok; yy++)
        for (int xx = ix - ring1; xx <= ix + ring1; xx++)
          {
            gsize k = (gsize) yy * width + xx;
            int d = MAX (ABS (xx - ix), ABS (yy - iy));
            if (per_colour && tsr_cfa_color (cfa, xx, yy) != colour)
              continue;
            if (!mask[k])
              {
                if (d <= 2)
                  {
                    core_ok = FALSE;
                    break;
                  }
                continue;
              }
            if (d >= ring0)
              tmp[nt++] = plane[k];
          }
      if (!core_ok || nt < 8)
        continue;
      float bg = median_of (tmp, nt);
      double flux = 0;
      for (int yy = iy - rpx; yy <= iy + rpx; yy++)
        for (int xx = ix - rpx; xx <= ix + rpx; xx++)
          {
            gsize k = (gsize) yy * width + xx;
            if (!mask[k] || (per_colour && tsr_cfa_color (cfa, xx, yy) != colour))
              continue;
            double dx = xx - cx, dy = yy - cy;
            if (dx * dx + dy * dy <= core_r2)
              flux += plane[k] - bg;
          }
      flux /= frac;
      if (!(flux > 0))
        continue;
      float *row = vals + (gsize) used * nb;
      for (gsize b = 0; b < nb; b++)
        row[b] = NAN;
      memset (cnt, 0, nb);
      for (int yy = iy - rpx - 1; yy <= iy + rpx + 1; yy++)
        for (int xx = ix - rpx - 1; xx <= ix + rpx + 1; xx++)
          {
            gsize k = (gsize) yy * width + xx;
            if (!mask[k] || (per_colour && tsr_cfa_color (cfa, xx, yy) != colour))
              continue;
            int bx = (int) floor ((xx - cx) * oversample + 0.5) + R;
            int by = (int) floor ((yy - cy) * oversample + 0.5) + R;
            if (bx < 0 || by < 0 || bx >= size || by >= size)
              continue;
            gsize b = (gsize) by * size + bx;
            float v = (float) ((plane[k] - bg) / flux);
            /* two samples in one bin (oversample 1 and a centre near .5): average */
            row[b] = cnt[b] ? (row[b] * cnt[b] + v) / (cnt[b] + 1) : v;
            cnt[b]++;
          }
      used++;
    }
  g_free (tmp);
  g_free (cnt);
  if (used < MAX (min_stars, 1u))
    {
      g_free (vals);
      return NULL;
    }

  TsrPsf *p = psf_alloc (R, oversample);
  float *col = g_new (float, (gsize) used);
  guint8 *have = g_new0 (guint8, nb);
  for (gsize b = 0; b < nb; b++)
    {
      guint m = 0;
      for (guint s = 0; s < used; s++)
        {
          float v = vals[(gsize) s * nb + b];
          if (isfinite (v))
            col[m++] = v;
        }
      if (m > 0)
        {
          p->data[b] = median_of (col, m);
          have[b] = 1;
        }
    }
  g_free (col);
  g_free (vals);
  /* fill empty bins from their neighbours (sparse colour lattices, few stars) */
  for (int pass = 0; pass < 4 * oversample + 4; pass++)
    {
      gboolean any = FALSE;
      for (int j = 0; j < size; j++)
        for (int i = 0; i < size; i++)
          {
            gsize b = (gsize) j * size + i;
            if (have[b])
              continue;
            double s = 0;
            int m = 0;
            for (int dj = -1; dj <= 1; dj++)
              for (int di = -1; di <= 1; di++)
                {
                  int ii = i + di, jj = j + dj;
                  if (ii < 0 || jj < 0 || ii >= size || jj >= size)
                    continue;
                  gsize q = (gsize) jj * size + ii;
                  if (have[q] == 1)
                    {
                      s += p->data[q];
                      m++;
                    }
                }
            if (m > 0)
              {
                p->data[b] = (float) (s / m);
                have[b] = 2;
              }
            else
              any = TRUE;
          }
      for (gsize b = 0; b < nb; b++)
        if (have[b] == 2)
          have[b] = 1;
      if (!any)
        break;
    }
  g_free (have);
  /* residual background: the median of the outermost ring; then a smooth taper to zero
   * over the outer fifth of the radius, so the support ends softly */
  {
    float *ring = g_new (float, 4 * (gsize) (guint) size);
    guint m = 0;
    for (int i = 0; i < size; i++)
      {
        ring[m++] = p->data[i];
        ring[m++] = p->data[(gsize) (size - 1) * size + i];
      }
    for (int j = 1; j < size - 1; j++)
      {
        ring[m++] = p->data[(gsize) j * size];
        ring[m++] = p->data[(gsize) j * size + size - 1];
      }
    float off = median_of (ring, m);
    g_free (ring);
    double r_taper = 0.8 * R;
    for (int j = 0; j < size; j++)
      for (int i = 0; i < size; i++)
        {
          gsize b = (gsize) j * size + i;
          double d = hypot (i - R, j - R);
          double w = 1.0;
          if (d >= R + 0.5)
            w = 0;
          else if (d > r_taper)
            w = 0.5 * (1 + cos (G_PI * (d - r_taper) / (R + 0.5 - r_taper)));
          double v = (p->data[b] - (isfinite (off) ? off : 0)) * w;
          p->data[b] = v > 0 ? (float) v : 0.0f;
        }
  }
  normalise (p);
  p->from_stars = TRUE;
  p->n_stars = used;
  p->fwhm = tsr_psf_measure_fwhm (p);
  return p;
}

int
tsr_psf_wing_radius (double fwhm)
{
  if (!isfinite (fwhm) || fwhm <= 0)
    fwhm = 3.0;
  return CLAMP ((int) ceil (5.0 * fwhm), 8, 40);
}

/* The wings of a stacked PSF (stack: size × size, size = 2R + 1, centre (R, R), per unit
 * flux; freed here) and the PSF cut where they hold `enclosed`. */
static TsrPsf *
psf_with_wings (float *stack, int R, int oversample, double fwhm, double enclosed, guint used)
{
  int size = 2 * R + 1;
  /* The wings. Far from the core the per-sample median of a dozen normalised stamps is noise
   * plus what the stamps' sky estimates got wrong (neighbours, nebulosity): cutting where the
   * stack's own encircled energy reaches `enclosed` cut at 1.5 FWHM and lost 4–6 % of the
   * light (a bright ring and a moat round every bright star in the deconvolution). So: fit
   * A·(1 + r²/α²)^−β + c to the stack's azimuthal mean profile over the whole stamp (A, c
   * linear; α, β on a grid; annuli weighted by their sample count), keep the stack within
   * 2 FWHM of the centre (its offset c removed), take the model beyond, and cut where the
   * model holds `enclosed` of its total (at most the stamp radius). */
  int na = R + 2;
  double *prof = g_new0 (double, na), *cnt = g_new0 (double, na);
  for (int j = 0; j < size; j++)
    for (int i = 0; i < size; i++)
      {
        double d = hypot (i - R, j - R) / oversample;
        int a = (int) floor (d * oversample + 0.5);
        if (a <= R)
          {
            prof[a] += stack[(gsize) j * size + i];
            cnt[a]++;
          }
      }
  for (int a = 0; a <= R; a++)
    prof[a] = cnt[a] > 0 ? prof[a] / cnt[a] : 0;
  double best = INFINITY, bA = 0, bc = 0, balpha = fwhm, bbeta = 3;
  int a0 = (int) ceil (1.0 * fwhm * oversample);   /* the wings: the core (pixel aperture, field ellipticity) is the stack's */
  double blo = 1.5, bhi = 8.0;
  for (double beta = blo; beta <= bhi + 1e-4; beta += 0.125)
    for (double fs = 0.70; fs <= 1.30001; fs += 0.02)
      {
        double alpha = fs * fwhm / (2.0 * sqrt (pow (2.0, 1.0 / beta) - 1.0));
        double S = 0, Sm = 0, Smm = 0, Sy = 0, Smy = 0;
        for (int a = a0; a <= R; a++)
          {
            double r = (double) a / oversample, m = pow (1 + r * r / (alpha * alpha), -beta), w = cnt[a];
            S += w, Sm += w * m, Smm += w * m * m, Sy += w * prof[a], Smy += w * m * prof[a];
          }
        double det = S * Smm - Sm * Sm;
        if (!(det > 0))
          continue;
        double A = (S * Smy - Sm * Sy) / det, c = (Sy - A * Sm) / S;
        double chi = 0;
        for (int a = a0; a <= R; a++)
          {
            double r = (double) a / oversample, e = prof[a] - A * pow (1 + r * r / (alpha * alpha), -beta) - c;
            chi += cnt[a] * e * e;
          }
        if (A > 0 && chi < best)
          best = chi, bA = A, bc = c, balpha = alpha, bbeta = beta;
      }
  g_free (prof);
  g_free (cnt);
  int rj = (int) ceil (2.5 * fwhm * oversample);   /* stack inside, model outside */
  /* the model's enclosed energy: 1 − (1 + r²/α²)^(1−β) (continuous, per unit A·π α²/(β − 1)) */
  double rmod = balpha * sqrt (pow (1 - enclosed, 1.0 / (1 - bbeta)) - 1);
  int rcut = CLAMP ((int) ceil (rmod * oversample) + oversample, rj, R);
  if (!(bA > 0))
    bc = 0, rcut = MIN (rj, R);
  TsrPsf *p = psf_alloc (rcut, oversample);
  for (int j = 0; j < p->size; j++)
    for (int i = 0; i < p->size; i++)
      {
        double d = hypot (i - rcut, j - rcut);
        double v = 0;
        if (d <= rcut + 0.5)
          {
            /* stack within 1.5 FWHM, model beyond 2.5 FWHM, a smooth blend between (a step
             * in the PSF would ring in the deconvolution at its radius) */
            double st = stack[(gsize) (j + R - rcut) * size + (i + R - rcut)] - bc;
            double rr = d / oversample, t = bA > 0 ? CLAMP ((rr / fwhm - 1.5), 0.0, 1.0) : 0.0;
            double wb = t * t * (3 - 2 * t);
            v = (1 - wb) * st + (wb > 0 ? wb * bA * pow (1 + rr * rr / (balpha * balpha), -bbeta) : 0);
          }
        p->data[(gsize) j * p->size + i] = (float) v;
      }
  g_free (stack);
  normalise (p);
  p->from_stars = TRUE;
  p->n_stars = used;
  p->fwhm = tsr_psf_measure_fwhm (p);
  return p;
}

TsrPsf *
tsr_psf_from_stamps_full (const float *plane, const guint8 *mask, int width, int height,
                          const double *x, const double *y, guint n, double fwhm, int oversample,
                          guint min_stars, double enclosed)
{
  oversample = MAX (oversample, 1);
  int Rs = tsr_psf_wing_radius (fwhm);                 /* stamp radius, image px */
  int ring0 = Rs + 1, ring1 = Rs + 5;                  /* sky: outside the wings */
  int R = Rs * oversample, size = 2 * R + 1;
  gsize nb = (gsize) size * size;
  float *vals = g_new (float, (gsize) MAX (n, 1u) * nb);
  gsize ntmp = (gsize) (2 * ring1 + 1) * (2 * ring1 + 1);
  float *tmp = g_new (float, ntmp);
  guint used = 0;
  for (guint s = 0; s < n; s++)
    {
      double cx = x[s], cy = y[s];
      if (!isfinite (cx) || !isfinite (cy))
        continue;
      int ix = (int) floor (cx + 0.5), iy = (int) floor (cy + 0.5);
      if (ix - ring1 - 3 < 0 || iy - ring1 - 3 < 0 || ix + ring1 + 3 >= width || iy + ring1 + 3 >= height)
        continue;
      guint nt = 0;
      gboolean ok = TRUE;
      for (int yy = iy - ring1; yy <= iy + ring1 && ok; yy++)
        for (int xx = ix - ring1; xx <= ix + ring1; xx++)
          {
            gsize k = (gsize) yy * width + xx;
            double d = hypot (xx - cx, yy - cy);
            if (!mask[k])
              {
                if (d <= Rs + 3)
                  {
                    ok = FALSE;   /* a masked (saturated, invalid) pixel in the stamp */
                    break;
                  }
                continue;
              }
            if (d >= ring0 && d <= ring1)
              tmp[nt++] = plane[k];
          }
      if (!ok || nt < 16)
        continue;
      float bg = tsr_median_inplace (tmp, nt);
      /* the stamp at the star's exact centre: Lanczos-3 interpolation of the frame at
       * (cx + i/r, cy + j/r), separable weights per row/column */
      float *row = vals + (gsize) used * nb;
      double flux = 0;
      double *wx = g_new (double, (gsize) size * 6), *wy = g_new (double, (gsize) size * 6);
      int *x0 = g_new (int, size), *y0 = g_new (int, size);
      for (int i = 0; i < size; i++)
        {
          double px = cx + (double) (i - R) / oversample, py = cy + (double) (i - R) / oversample;
          x0[i] = (int) floor (px) - 2;
          y0[i] = (int) floor (py) - 2;
          double sxw = 0, syw = 0;
          for (int t = 0; t < 6; t++)
            {
              sxw += wx[i * 6 + t] = tsr_lanczos3 (px - (x0[i] + t));
              syw += wy[i * 6 + t] = tsr_lanczos3 (py - (y0[i] + t));
            }
          for (int t = 0; t < 6; t++)
            {
              wx[i * 6 + t] /= sxw;
              wy[i * 6 + t] /= syw;
            }
        }
      for (int j = 0; j < size; j++)
        for (int i = 0; i < size; i++)
          {
            double acc = 0;
            for (int b = 0; b < 6; b++)
              {
                const float *src = plane + (gsize) (y0[j] + b) * width + x0[i];
                double ra = 0;
                for (int a = 0; a < 6; a++)
                  ra += wx[i * 6 + a] * (src[a] - bg);
                acc += wy[j * 6 + b] * ra;
              }
            row[(gsize) j * size + i] = (float) acc;
            flux += acc;
          }
      g_free (wx);
      g_free (wy);
      g_free (x0);
      g_free (y0);
      if (!(flux > 0))
        continue;
      for (gsize b = 0; b < nb; b++)
        row[b] = (float) (row[b] / flux);
      used++;
    }
  g_free (tmp);
  if (used < MAX (min_stars, 1u))
    {
      g_free (vals);
      return NULL;
    }
  /* per sample the median over stars */
  float *stack = g_new (float, nb), *col = g_new (float, used);
  for (gsize b = 0; b < nb; b++)
    {
      for (guint s = 0; s < used; s++)
        col[s] = vals[(gsize) s * nb + b];
      stack[b] = tsr_median_inplace (col, used);
    }
  g_free (col);
  g_free (vals);
  return psf_with_wings (stack, R, oversample, fwhm, enclosed, used);
}

/* Solve the leading n × n block of S x = r (Gaussian elimination, partial pivoting); FALSE
 * when singular. */
static gboolean
solve_small (const double S[6][6], const double r[6], int n, double x[6])
{
  double A[6][7];
  for (int i = 0; i < n; i++)
    {
      for (int k = 0; k < n; k++)
        A[i][k] = S[i][k];
      A[i][n] = r[i];
    }
  double scale = 0;
  for (int i = 0; i < n; i++)
    scale = MAX (scale, fabs (A[i][i]));
  for (int c = 0; c < n; c++)
    {
      int piv = c;
      for (int i = c + 1; i < n; i++)
        if (fabs (A[i][c]) > fabs (A[piv][c]))
          piv = i;
      if (!(fabs (A[piv][c]) > 1e-12 * MAX (scale, 1e-300)))
        return FALSE;
      if (piv != c)
        for (int k = 0; k <= n; k++)
          {
            double t = A[c][k];
            A[c][k] = A[piv][k];
            A[piv][k] = t;
          }
      for (int i = c + 1; i < n; i++)
        {
          double f = A[i][c] / A[c][c];
          for (int k = c; k <= n; k++)
            A[i][k] -= f * A[c][k];
        }
    }
  for (int i = n - 1; i >= 0; i--)
    {
      double v = A[i][n];
      for (int k = i + 1; k < n; k++)
        v -= A[i][k] * x[k];
      x[i] = v / A[i][i];
    }
  return TRUE;
}

/* One colour's own mosaic sites: every sample (its offset from the star's centre, its value
 * per unit of the star's flux) of every star goes into one pool; each grid sample of the PSF
 * is a local quadratic fit (tricube weights within 1 px) to the pooled samples round its
 * offset, refitted once without the samples beyond 4 robust σ of the first fit (neighbours,
 * cosmic rays). No interpolation of the mosaic: the red PSF is the red sites' blur. */
typedef struct
{
  float dx, dy, v;
} SiteSample;

TsrPsf *
tsr_psf_from_sites (const float *plane, const guint8 *mask, int width, int height, TsrCfa cfa, int colour,
                    const double *x, const double *y, guint n, double fwhm, int oversample, guint min_stars,
                    double enclosed)
{
  if (cfa == TSR_CFA_NONE || colour < 0)
    return tsr_psf_from_stamps_full (plane, mask, width, height, x, y, n, fwhm, oversample, min_stars, enclosed);
  oversample = MAX (oversample, 1);
  int Rs = tsr_psf_wing_radius (fwhm);
  int ring0 = Rs + 1, ring1 = Rs + 5;
  int R = Rs * oversample, size = 2 * R + 1;
  gsize nb = (gsize) size * size;
  /* the fraction of the sites that have this colour: the lattice sum × 1/frac is the flux */
  int nsite = 0;
  for (int yy = 0; yy < 2; yy++)
    for (int xx = 0; xx < 2; xx++)
      nsite += tsr_cfa_color (cfa, xx, yy) == colour;
  if (nsite == 0)
    return NULL;
  double frac = nsite / 4.0;
  GArray *pool = g_array_new (FALSE, FALSE, sizeof (SiteSample));
  gsize ntmp = (gsize) (2 * ring1 + 1) * (2 * ring1 + 1);
  float *tmp = g_new (float, ntmp);
  guint used = 0;
  for (guint s = 0; s < n; s++)
    {
      double cx = x[s], cy = y[s];
      if (!isfinite (cx) || !isfinite (cy))
        continue;
      int ix = (int) floor (cx + 0.5), iy = (int) floor (cy + 0.5);
      if (ix - ring1 < 0 || iy - ring1 < 0 || ix + ring1 >= width || iy + ring1 >= height)
        continue;
      guint nt = 0;
      gboolean ok = TRUE;
      for (int yy = iy - ring1; yy <= iy + ring1 && ok; yy++)
        for (int xx = ix - ring1; xx <= ix + ring1; xx++)
          {
            gsize k = (gsize) yy * width + xx;
            double d = hypot (xx - cx, yy - cy);
            if (!mask[k])
              {
                if (d <= Rs + 1)
                  {
                    ok = FALSE;
                    break;
                  }
                continue;
              }
            if (tsr_cfa_color (cfa, xx, yy) == colour && d >= ring0 && d <= ring1)
              tmp[nt++] = plane[k];
          }
      if (!ok || nt < 8)
        continue;
      float bg = tsr_median_inplace (tmp, nt);
      double flux = 0;
      guint first = pool->len;
      for (int yy = iy - Rs - 1; yy <= iy + Rs + 1; yy++)
        for (int xx = ix - Rs - 1; xx <= ix + Rs + 1; xx++)
          {
            if (tsr_cfa_color (cfa, xx, yy) != colour)
              continue;
            double dx = xx - cx, dy = yy - cy;
            if (dx * dx + dy * dy > (Rs + 0.5) * (Rs + 0.5))
              continue;
            float v = plane[(gsize) yy * width + xx] - bg;
            flux += v;
            SiteSample q = { (float) dx, (float) dy, v };
            g_array_append_val (pool, q);
          }
      flux /= frac;
      if (!(flux > 0))
        {
          g_array_set_size (pool, first);
          continue;
        }
      for (guint i = first; i < pool->len; i++)
        g_array_index (pool, SiteSample, i).v = (float) (g_array_index (pool, SiteSample, i).v / flux);
      used++;
    }
  g_free (tmp);
  if (used < MAX (min_stars, 1u))
    {
      g_array_free (pool, TRUE);
      return NULL;
    }
  /* the samples by the image pixel cell of their offset, for the neighbour search */
  int cw = 2 * Rs + 5;   /* cells −Rs−2 … Rs+2 */
  guint *start = g_new0 (guint, (gsize) cw * cw + 1);
  const SiteSample *ps = (const SiteSample *) pool->data;
  guint np = pool->len;
  guint *cell = g_new (guint, np);
  for (guint i = 0; i < np; i++)
    {
      int ccx = CLAMP ((int) floor (ps[i].dx + 0.5) + Rs + 2, 0, cw - 1);
      int ccy = CLAMP ((int) floor (ps[i].dy + 0.5) + Rs + 2, 0, cw - 1);
      cell[i] = (guint) (ccy * cw + ccx);
      start[cell[i] + 1]++;
    }
  for (int c = 0; c < cw * cw; c++)
    start[c + 1] += start[c];
  guint *order = g_new (guint, MAX (np, 1u)), *fill = g_memdup2 (start, sizeof (guint) * ((gsize) cw * cw + 1));
  for (guint i = 0; i < np; i++)
    order[fill[cell[i]]++] = i;
  g_free (fill);
  g_free (cell);
  float *stack = g_new0 (float, nb);
  const double h = 1.0;   /* kernel half-width, image px */
  GArray *nbr = g_array_new (FALSE, FALSE, sizeof (guint));
  float *rz = g_new (float, MAX (np, 1u));
  for (int j = 0; j < size; j++)
    for (int i = 0; i < size; i++)
      {
        double ox = (double) (i - R) / oversample, oy = (double) (j - R) / oversample;
        int ccx = (int) floor (ox + 0.5) + Rs + 2, ccy = (int) floor (oy + 0.5) + Rs + 2;
        g_array_set_size (nbr, 0);
        for (int b = ccy - 1; b <= ccy + 1; b++)
          for (int a = ccx - 1; a <= ccx + 1; a++)
            {
              if (a < 0 || b < 0 || a >= cw || b >= cw)
                continue;
              for (guint t = start[b * cw + a]; t < start[b * cw + a + 1]; t++)
                {
                  const SiteSample *q = &ps[order[t]];
                  if (hypot (q->dx - ox, q->dy - oy) < h)
                    g_array_append_val (nbr, order[t]);
                }
            }
        /* quadratic (6 terms; a linear fit's value at a peak sits ½ f''·⟨d²⟩ low: −5 … −8 %
         * on the test's stars), linear where fewer than 12 samples are near */
        double sol[6] = { 0 };
        double lim = INFINITY;
        gboolean have = FALSE;
        for (int pass = 0; pass < 2; pass++)
          {
            double S[6][6] = { { 0 } }, Rv[6] = { 0 };
            guint m = 0;
            for (guint t = 0; t < nbr->len; t++)
              {
                const SiteSample *q = &ps[g_array_index (nbr, guint, t)];
                double ex = q->dx - ox, ey = q->dy - oy;
                double f[6] = { 1, ex, ey, ex * ex, ex * ey, ey * ey };
                if (pass == 1)
                  {
                    double e = 0;
                    for (int a = 0; a < 6; a++)
                      e += sol[a] * f[a];
                    if (fabs (q->v - e) > lim)
                      continue;
                  }
                double u = hypot (ex, ey) / h, w = 1 - u * u * u;
                w = w * w * w;
                for (int a = 0; a < 6; a++)
                  {
                    Rv[a] += w * f[a] * q->v;
                    for (int b = 0; b < 6; b++)
                      S[a][b] += w * f[a] * f[b];
                  }
                m++;
              }
            if (m == 0)
              break;
            double nsol[6] = { 0 };
            int np6 = m >= 12 ? 6 : m >= 6 ? 3 : 1;
            while (np6 > 1 && !solve_small (S, Rv, np6, nsol))
              np6 = np6 == 6 ? 3 : 1;
            if (np6 == 1)
              {
                memset (nsol, 0, sizeof nsol);
                nsol[0] = Rv[0] / S[0][0];
              }
            memcpy (sol, nsol, sizeof sol);
            have = TRUE;
            guint nr = 0;
            for (guint t = 0; t < nbr->len; t++)
              {
                const SiteSample *q = &ps[g_array_index (nbr, guint, t)];
                double ex = q->dx - ox, ey = q->dy - oy;
                double f[6] = { 1, ex, ey, ex * ex, ex * ey, ey * ey }, e = 0;
                for (int a = 0; a < 6; a++)
                  e += sol[a] * f[a];
                rz[nr++] = (float) (q->v - e);
              }
            if (nr < 8)
              break;
            float med = tsr_median_inplace (rz, nr);
            lim = 4.0 * TSR_MAD_TO_SIGMA * tsr_mad_inplace (rz, nr, med) + fabs (med);
          }
        stack[(gsize) j * size + i] = have ? (float) sol[0] : 0.0f;
      }
  g_free (rz);
  g_array_free (nbr, TRUE);
  g_free (order);
  g_free (start);
  g_array_free (pool, TRUE);
  return psf_with_wings (stack, R, oversample, fwhm, enclosed, used);
}

static double
cubic_w (double t)
{
  const double a = -0.5;
  t = fabs (t);
  if (t < 1)
    return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2)
    return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  return 0;
}

static double
sample_cubic (const TsrPsf *p, double gx, double gy)
{
  int x0 = (int) floor (gx), y0 = (int) floor (gy);
  double acc = 0;
  for (int j = y0 - 1; j <= y0 + 2; j++)
    {
      if (j < 0 || j >= p->size)
        continue;
      double wy = cubic_w (gy - j);
      for (int i = x0 - 1; i <= x0 + 2; i++)
        {
          if (i < 0 || i >= p->size)
            continue;
          acc += wy * cubic_w (gx - i) * p->data[(gsize) j * p->size + i];
        }
    }
  return acc;
}

TsrPsf *
tsr_psf_resample (const TsrPsf *psf, int oversample)
{
  oversample = MAX (oversample, 1);
  if (oversample == psf->oversample)
    return tsr_psf_copy (psf);
  int rpx = (psf->radius + psf->oversample - 1) / psf->oversample;
  TsrPsf *p = psf_alloc (rpx * oversample, oversample);
  for (int j = 0; j < p->size; j++)
    for (int i = 0; i < p->size; i++)
      {
        double dx = (double) (i - p->radius) / oversample, dy = (double) (j - p->radius) / oversample;
        double gx = psf->radius + dx * psf->oversample, gy = psf->radius + dy * psf->oversample;
        double v = sample_cubic (psf, gx, gy);
        p->data[(gsize) j * p->size + i] = v > 0 ? (float) v : 0.0f;
      }
  normalise (p);
  p->from_stars = psf->from_stars;
  p->n_stars = psf->n_stars;
  p->fwhm = tsr_psf_measure_fwhm (p);
  return p;
}

double
tsr_psf_measure_fwhm (const TsrPsf *psf)
{
  float peak = 0;
  gsize n = (gsize) psf->size * psf->size;
  for (gsize i = 0; i < n; i++)
    peak = MAX (peak, psf->data[i]);
  if (!(peak > 0))
    return NAN;
  const int sub = 4;
  double half = 0.5 * peak, area = 0;
  for (int j = 0; j < psf->size - 1; j++)
    for (int i = 0; i < psf->size - 1; i++)
      {
        const float *d = psf->data + (gsize) j * psf->size + i;
        float a = d[0], b = d[1], c = d[psf->size], e = d[psf->size + 1];
        if (MAX (MAX (a, b), MAX (c, e)) < half)
          continue;
        for (int v = 0; v < sub; v++)
          for (int u = 0; u < sub; u++)
            {
              double fx = (u + 0.5) / sub, fy = (v + 0.5) / sub;
              double val = (1 - fy) * ((1 - fx) * a + fx * b) + fy * ((1 - fx) * c + fx * e);
              if (val >= half)
                area += 1.0 / (sub * sub);
            }
      }
  /* a delta: no interpolated area; report the sample size */
  double fwhm = 2.0 * sqrt (area / G_PI);
  return fwhm / psf->oversample;
}

void
tsr_psf_centroid (const TsrPsf *psf, double *dx, double *dy)
{
  double s = 0, sx = 0, sy = 0;
  for (int j = 0; j < psf->size; j++)
    for (int i = 0; i < psf->size; i++)
      {
        double v = psf->data[(gsize) j * psf->size + i];
        s += v;
        sx += v * (i - psf->radius);
        sy += v * (j - psf->radius);
      }
  if (dx)
    *dx = s > 0 ? sx / s / psf->oversample : 0;
  if (dy)
    *dy = s > 0 ? sy / s / psf->oversample : 0;
}

/* The residual kernel k with k ∗ g = psf for a Gaussian g of standard deviation sigma_px image
 * pixels (deconvolution to a finite target resolution, Magain, Courbin & Sohy 1998): computed
 * on the stamp zero-padded to twice its side, K = PSF · G / (G² + ε) (a Wiener division that
 * bounds the gain where G is small), cropped back to the stamp, negative samples cut (the
 * multiplicative solve needs k ≥ 0) and renormalised. */
TsrPsf *
tsr_psf_divide_gaussian (const TsrPsf *psf, double sigma_px)
{
  g_return_val_if_fail (psf != NULL, NULL);
  TsrPsf *out = tsr_psf_copy (psf);
  if (!(sigma_px > 0))
    return out;
  int s = psf->size, n = 2 * s;
  int nc = n / 2 + 1;
  float *real = fftwf_alloc_real ((gsize) n * n);
  fftwf_complex *spec = fftwf_alloc_complex ((gsize) n * nc);
  tsr_fftw_lock ();
  fftwf_plan fw = fftwf_plan_dft_r2c_2d (n, n, real, spec, FFTW_ESTIMATE);
  fftwf_plan bw = fftwf_plan_dft_c2r_2d (n, n, spec, real, FFTW_ESTIMATE);
  tsr_fftw_unlock ();
  memset (real, 0, sizeof (float) * n * n);
  /* centre sample at (0, 0), the rest wrapped round: the division keeps the centre */
  for (int j = 0; j < s; j++)
    for (int i = 0; i < s; i++)
      {
        int x = (i - psf->radius + n) % n, y = (j - psf->radius + n) % n;
        real[(gsize) y * n + x] = psf->data[(gsize) j * s + i];
      }
  fftwf_execute (fw);
  double sg = sigma_px * psf->oversample, eps = 1e-3;
  for (int y = 0; y < n; y++)
    {
      double fy = (y <= n / 2 ? y : y - n) / (double) n;
      for (int x = 0; x < nc; x++)
        {
          double fx = x / (double) n;
          double g = exp (-2 * G_PI * G_PI * sg * sg * (fx * fx + fy * fy));
          double f = g / (g * g + eps * (1 - g));   /* exactly 1/g at zero frequency */
          spec[(gsize) y * nc + x][0] *= (float) (f / ((double) n * n));
          spec[(gsize) y * nc + x][1] *= (float) (f / ((double) n * n));
        }
    }
  fftwf_execute (bw);
  double sum = 0;
  for (int j = 0; j < s; j++)
    for (int i = 0; i < s; i++)
      {
        int x = (i - psf->radius + n) % n, y = (j - psf->radius + n) % n;
        /* the multiplicative solve needs a non-negative kernel: the division's small
         * negative lobes (a PSF barely wider than the target) are cut */
        sum += out->data[(gsize) j * s + i] = MAX (real[(gsize) y * n + x], 0.0f);
      }
  if (sum > 0)
    for (int k = 0; k < s * s; k++)
      out->data[k] = (float) (out->data[k] / sum);
  tsr_fftw_lock ();
  fftwf_destroy_plan (fw);
  fftwf_destroy_plan (bw);
  tsr_fftw_unlock ();
  fftwf_free (real);
  fftwf_free (spec);
  out->fwhm = tsr_psf_measure_fwhm (out);
  return out;
}
