/* tsr-wavelet.c — the classical baseline: à-trous B3-spline wavelet soft thresholding. */
#include "tsr-denoise.h"

#include <math.h>
#include <string.h>

/* Noise σ of each à-trous B3-spline detail scale for unit white noise (Starck & Murtagh). */
static const double scale_noise[] = { 0.8907, 0.2007, 0.0856, 0.0413, 0.0205, 0.0103, 0.0052 };

/* out = B3 smoothing of in with holes of 2^j (separable 1 4 6 4 1 / 16). */
static void
smooth (const float *in, float *out, float *tmp, int w, int h, int step)
{
  static const float k[5] = { 1 / 16.f, 4 / 16.f, 6 / 16.f, 4 / 16.f, 1 / 16.f };
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        float s = 0;
        for (int t = -2; t <= 2; t++)
          s += k[t + 2] * in[(gsize) y * w + tsr_reflect_index (x + t * step, w)];
        tmp[(gsize) y * w + x] = s;
      }
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        float s = 0;
        for (int t = -2; t <= 2; t++)
          s += k[t + 2] * tmp[(gsize) tsr_reflect_index (y + t * step, h) * w + x];
        out[(gsize) y * w + x] = s;
      }
}

TsrImage *
tsr_wavelet_denoise (const TsrImage *in, int scales, double k)
{
  scales = CLAMP (scales, 1, (int) G_N_ELEMENTS (scale_noise));
  TsrImage *out = tsr_image_copy (in);
  const int w = in->width, h = in->height;
  const gsize n = tsr_image_npix (in);
  g_autofree float *cur = g_new (float, n);
  g_autofree float *next = g_new (float, n);
  g_autofree float *tmp = g_new (float, n);
  for (int c = 0; c < in->channels; c++)
    {
      double bg, sigma;
      tsr_denoise_stats (in, c, &bg, &sigma);
      float *dst = tsr_image_plane (out, c);
      const float *src = tsr_image_plane (in, c);
      for (gsize i = 0; i < n; i++)
        cur[i] = in->mask[i] && isfinite (src[i]) ? src[i] : (float) bg;
      memset (dst, 0, sizeof (float) * n);
      for (int j = 0; j < scales; j++)
        {
          smooth (cur, next, tmp, w, h, 1 << j);
          const float thr = (float) (k * sigma * scale_noise[j]);
          for (gsize i = 0; i < n; i++)
            {
              float d = cur[i] - next[i];
              float a = fabsf (d) - thr;
              dst[i] += a > 0 ? copysignf (a, d) : 0.0f;
            }
          float *t = cur;
          cur = next;
          next = t;
        }
      for (gsize i = 0; i < n; i++)
        dst[i] = in->mask[i] && isfinite (src[i]) ? dst[i] + cur[i] : src[i];
    }
  return out;
}

/* B3 smoothing with holes of `step`, fast in the interior (mirror only near the edges). */
void
tsr_wavelet_smooth (const float *in, float *out, float *tmp, int w, int h, int step)
{
  const float k0 = 6 / 16.f, k1 = 4 / 16.f, k2 = 1 / 16.f;
  const int s1 = step, s2 = 2 * step;
  for (int y = 0; y < h; y++)
    {
      const float *r = in + (gsize) y * w;
      float *t = tmp + (gsize) y * w;
      int lo = MIN (s2, w), hi = MAX (lo, w - s2);
      for (int x = 0; x < lo; x++)
        t[x] = k2 * (r[tsr_reflect_index (x - s2, w)] + r[tsr_reflect_index (x + s2, w)]) + k1 * (r[tsr_reflect_index (x - s1, w)] + r[tsr_reflect_index (x + s1, w)])
               + k0 * r[x];
      for (int x = lo; x < hi; x++)
        t[x] = k2 * (r[x - s2] + r[x + s2]) + k1 * (r[x - s1] + r[x + s1]) + k0 * r[x];
      for (int x = hi; x < w; x++)
        t[x] = k2 * (r[tsr_reflect_index (x - s2, w)] + r[tsr_reflect_index (x + s2, w)]) + k1 * (r[tsr_reflect_index (x - s1, w)] + r[tsr_reflect_index (x + s1, w)])
               + k0 * r[x];
    }
  for (int y = 0; y < h; y++)
    {
      const float *a = tmp + (gsize) tsr_reflect_index (y - s2, h) * w, *b = tmp + (gsize) tsr_reflect_index (y - s1, h) * w;
      const float *c = tmp + (gsize) y * w, *d = tmp + (gsize) tsr_reflect_index (y + s1, h) * w;
      const float *e = tmp + (gsize) tsr_reflect_index (y + s2, h) * w;
      float *o = out + (gsize) y * w;
      for (int x = 0; x < w; x++)
        o[x] = k2 * (a[x] + e[x]) + k1 * (b[x] + d[x]) + k0 * c[x];
    }
}

void
tsr_wavelet_wiener (const float *noisy, const float *pilot, float *out, int w, int h, int scales, double sigma)
{
  scales = CLAMP (scales, 1, (int) G_N_ELEMENTS (scale_noise));
  const gsize n = (gsize) w * h;
  float *cx = g_new (float, n), *nx = g_new (float, n), *cp = g_new (float, n), *np = g_new (float, n);
  float *tmp = g_new (float, n);
  memcpy (cx, noisy, sizeof (float) * n);
  memcpy (cp, pilot, sizeof (float) * n);
  memset (out, 0, sizeof (float) * n);
  const float s2 = (float) (sigma * sigma);
  for (int j = 0; j < scales; j++)
    {
      tsr_wavelet_smooth (cx, nx, tmp, w, h, 1 << j);
      tsr_wavelet_smooth (cp, np, tmp, w, h, 1 << j);
      const float f = (float) (scale_noise[j] * scale_noise[j]);
      for (gsize i = 0; i < n; i++)
        {
          float dx = cx[i] - nx[i], dp = cp[i] - np[i];
          float v = f * s2, d2 = dp * dp;
          out[i] += d2 > 0 ? dx * (d2 / (d2 + v)) : 0.0f;
        }
      float *t = cx;
      cx = nx;
      nx = t;
      t = cp;
      cp = np;
      np = t;
    }
  for (gsize i = 0; i < n; i++)
    out[i] += cx[i];
  g_free (cx);
  g_free (nx);
  g_free (cp);
  g_free (np);
  g_free (tmp);
}
