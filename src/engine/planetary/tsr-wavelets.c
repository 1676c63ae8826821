/* tsr-wavelets.c — à trous (B3 spline) wavelet sharpening on linear data. */
#include "tsr-planetary.h"
#include "tsr-error.h"
#include "tsr-stats.h"

#include <math.h>
#include <string.h>

static inline int
mirror (int i, int n)
{
  if (n == 1)
    return 0;
  while (i < 0 || i >= n)
    {
      if (i < 0)
        i = -i;
      if (i >= n)
        i = 2 * (n - 1) - i;
    }
  return i;
}

/* out = B3 ⊛ in with holes of step: separable, rows then columns. */
static void
b3_smooth (const float *in, float *out, float *tmp, int w, int h, int step)
{
  static const float k[5] = { 1.f / 16, 4.f / 16, 6.f / 16, 4.f / 16, 1.f / 16 };
  for (int y = 0; y < h; y++)
    {
      const float *r = in + (gsize) y * w;
      float *o = tmp + (gsize) y * w;
      for (int x = 0; x < w; x++)
        {
          float s = 0;
          for (int t = -2; t <= 2; t++)
            s += k[t + 2] * r[mirror (x + t * step, w)];
          o[x] = s;
        }
    }
  for (int y = 0; y < h; y++)
    {
      int ys[5];
      for (int t = -2; t <= 2; t++)
        ys[t + 2] = mirror (y + t * step, h);
      float *o = out + (gsize) y * w;
      for (int x = 0; x < w; x++)
        {
          float s = 0;
          for (int t = 0; t < 5; t++)
            s += k[t] * tmp[(gsize) ys[t] * w + x];
          o[x] = s;
        }
    }
}

void
tsr_wavelet_decompose (const float *plane, int w, int h, int n, float **layers)
{
  gsize np = (gsize) w * h;
  float *cur = g_new (float, np), *next = g_new (float, np), *tmp = g_new (float, np);
  memcpy (cur, plane, np * sizeof (float));
  for (int j = 0; j < n; j++)
    {
      b3_smooth (cur, next, tmp, w, h, 1 << j);
      float *L = layers[j];
      for (gsize i = 0; i < np; i++)
        L[i] = cur[i] - next[i];
      float *t = cur;
      cur = next;
      next = t;
    }
  memcpy (layers[n], cur, np * sizeof (float));
  g_free (cur);
  g_free (next);
  g_free (tmp);
}

double
tsr_wavelet_noise_factor (int j)
{
  /* σ of layer j for unit white noise, measured once on a 512² Gaussian image (the usual
   * table for the B3 à trous transform, Starck & Murtagh) */
  static const double f[] = { 0.889, 0.200, 0.086, 0.041, 0.020, 0.010, 0.005, 0.0025 };
  return j >= 0 && j < (int) G_N_ELEMENTS (f) ? f[j] : 0.0025 / (1 << (j - 7));
}

TsrImage *
tsr_wavelets_apply (const TsrImage *img, const TsrWaveletParams *p, GCancellable *cancellable, GError **error)
{
  int n = p->n_layers;
  if (n < 1 || n > TSR_WAVELET_MAX_LAYERS)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, "wavelets: the number of layers must be 1–%d, got %d",
                   TSR_WAVELET_MAX_LAYERS, n);
      return NULL;
    }
  if ((1 << (n - 1)) * 4 >= 2 * MAX (img->width, img->height))
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   "wavelets: %d layers need an image wider than %d px (this one is %d × %d); use fewer layers", n,
                   (1 << (n - 1)) * 2, img->width, img->height);
      return NULL;
    }
  if (img->cfa != TSR_CFA_NONE)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   "wavelets: the image is a raw Bayer mosaic; sharpen a stacked (debayered) image");
      return NULL;
    }
  int w = img->width, h = img->height;
  gsize np = tsr_image_npix (img);
  TsrImage *out = tsr_image_copy (img);
  float **layers = g_new (float *, n + 1);
  for (int j = 0; j <= n; j++)
    layers[j] = g_new (float, np);
  for (int c = 0; c < img->channels; c++)
    {
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        {
          g_clear_pointer (&out, tsr_image_unref);
          break;
        }
      const float *src = tsr_image_plane (img, c);
      gboolean any_threshold = FALSE;
      for (int j = 0; j < n; j++)
        any_threshold |= j < p->n_thresholds && p->thresholds[j] > 0;
      double sigma = any_threshold ? tsr_plane_noise (src, img->mask, w, h, 1) : 0;
      tsr_wavelet_decompose (src, w, h, n, layers);
      float *dst = tsr_image_plane (out, c);
      memcpy (dst, layers[n], np * sizeof (float));
      for (int j = 0; j < n; j++)
        {
          double g = j < p->n_gains ? p->gains[j] : 1.0;
          double t = j < p->n_thresholds ? p->thresholds[j] * sigma * tsr_wavelet_noise_factor (j) : 0.0;
          const float *L = layers[j];
          if (t > 0)
            for (gsize i = 0; i < np; i++)
              {
                float a = fabsf (L[i]) - (float) t;
                dst[i] += (float) g * (a > 0 ? copysignf (a, L[i]) : 0.f);
              }
          else
            for (gsize i = 0; i < np; i++)
              dst[i] += (float) g * L[i];
        }
      if (p->clip_negative)
        for (gsize i = 0; i < np; i++)
          dst[i] = MAX (dst[i], 0.f);
    }
  for (int j = 0; j <= n; j++)
    g_free (layers[j]);
  g_free (layers);
  if (out)
    {
      GString *s = g_string_new ("wavelets: B3 a trous, gains");
      for (int j = 0; j < n; j++)
        g_string_append_printf (s, "%s%g", j ? "," : " ", j < p->n_gains ? p->gains[j] : 1.0);
      tsr_header_add_history (out->header, s->str);
      g_string_free (s, TRUE);
    }
  return out;
}
