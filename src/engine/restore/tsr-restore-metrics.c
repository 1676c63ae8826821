/* tsr-restore-metrics.c — the paper's image metrics: Fourier sharpness S_F and the sky σ. */
#include "tsr-restore.h"
#include "tsr-fft.h"
#include "tsr-stats.h"

#include <fftw3.h>
#include <math.h>
#include <string.h>

/* Bounding box of the valid pixels, minus border. */
static gboolean
valid_box (const TsrImage *img, int border, int *x0, int *y0, int *x1, int *y1)
{
  int W = img->width, H = img->height;
  *x0 = W;
  *y0 = H;
  *x1 = *y1 = -1;
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      if (img->mask[(gsize) y * W + x])
        {
          *x0 = MIN (*x0, x);
          *x1 = MAX (*x1, x);
          *y0 = MIN (*y0, y);
          *y1 = MAX (*y1, y);
        }
  *x0 += border;
  *y0 += border;
  *x1 -= border;
  *y1 -= border;
  return *x1 > *x0 + 8 && *y1 > *y0 + 8;
}

double
tsr_restore_sky_sigma (const TsrImage *img, int border)
{
  int x0, y0, x1, y1;
  if (!valid_box (img, border, &x0, &y0, &x1, &y1))
    return NAN;
  int W = img->width;
  GArray *v = g_array_new (FALSE, FALSE, sizeof (float));
  for (int y = y0; y <= y1; y++)
    for (int x = x0; x <= x1; x++)
      if (img->mask[(gsize) y * W + x])
        g_array_append_val (v, img->data[(gsize) y * W + x]);
  /* iterated 3σ clipping about the median (SExtractor-like): stars and galaxies drop out */
  float *d = (float *) v->data;
  guint n = v->len;
  double med = 0, sd = 0;
  for (int it = 0; it < 8; it++)
    {
      float *tmp = g_memdup2 (d, sizeof (float) * n);
      med = tsr_median_inplace (tmp, n);
      g_free (tmp);
      double s = 0, s2 = 0;
      for (guint i = 0; i < n; i++)
        {
          s += d[i];
          s2 += (double) d[i] * d[i];
        }
      double mu = s / n;
      sd = sqrt (MAX (s2 / n - mu * mu, 0));
      guint m = 0;
      for (guint i = 0; i < n; i++)
        if (fabs (d[i] - med) <= 3 * sd)
          d[m++] = d[i];
      if (m == n || m < 16)
        break;
      n = m;
    }
  g_array_free (v, TRUE);
  return sd;
}

double
tsr_restore_fourier_sharpness (const TsrImage *img, int border, double sigma)
{
  int x0, y0, x1, y1;
  if (!valid_box (img, border, &x0, &y0, &x1, &y1))
    return NAN;
  if (!(sigma > 0))
    sigma = tsr_restore_sky_sigma (img, border);
  if (!(sigma > 0))
    return NAN;
  int w = x1 - x0 + 1, h = y1 - y0 + 1, W = img->width;
  float *in = fftwf_alloc_real ((gsize) w * h);
  fftwf_complex *out = fftwf_alloc_complex ((gsize) h * (w / 2 + 1));
  tsr_fftw_lock ();
  fftwf_plan p = fftwf_plan_dft_r2c_2d (h, w, in, out, FFTW_ESTIMATE);
  tsr_fftw_unlock ();
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        gsize k = (gsize) (y + y0) * W + x + x0;
        in[(gsize) y * w + x] = img->mask[k] ? (float) (img->data[k] / sigma) : 0.0f;
      }
  fftwf_execute (p);
  /* mean of log |F| over the full spectrum (the half spectrum, Hermitian weights) */
  double s = 0, n = 0;
  int wh = w / 2 + 1;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < wh; x++)
      {
        double re = out[(gsize) y * wh + x][0], im = out[(gsize) y * wh + x][1];
        double wt = (x == 0 || (w % 2 == 0 && x == w / 2)) ? 1 : 2;
        s += wt * log (hypot (re, im) + 1e-12);
        n += wt;
      }
  tsr_fftw_lock ();
  fftwf_destroy_plan (p);
  tsr_fftw_unlock ();
  fftwf_free (in);
  fftwf_free (out);
  return s / n;
}
