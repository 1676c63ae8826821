/* tsr-wavelets.c — à trous (B3 spline) wavelet sharpening on linear data. */
#include "tsr-planetary.h"
#include "tsr-error.h"
#include <glib/gi18n.h>
#include "tsr-stats.h"

#include <cairo.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "tsr-fits.h"
#include "tsr-tiff.h"

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
            s += k[t + 2] * r[tsr_reflect_index (x + t * step, w)];
          o[x] = s;
        }
    }
  for (int y = 0; y < h; y++)
    {
      int ys[5];
      for (int t = -2; t <= 2; t++)
        ys[t + 2] = tsr_reflect_index (y + t * step, h);
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
  /* the output and three work planes, whatever the number of layers: each layer is added to
   * the output as soon as it is formed (cur − next) instead of keeping all n of them */
  TsrImage *out = tsr_image_copy (img);
  float *cur = g_try_new (float, np), *next = g_try_new (float, np), *tmp = g_try_new (float, np);
  if (!out || !cur || !next || !tmp)
    {
      tsr_set_memory_error (error, (guint64) np * (img->channels * sizeof (float) + 1 + 3 * sizeof (float)),
                            "wavelet sharpening (the output and three work planes)");
      g_clear_pointer (&out, tsr_image_unref);
      g_free (cur);
      g_free (next);
      g_free (tmp);
      return NULL;
    }
  gboolean any_threshold = FALSE;
  for (int j = 0; j < n; j++)
    any_threshold |= j < p->n_thresholds && p->thresholds[j] > 0;
  for (int c = 0; c < img->channels && out; c++)
    {
      const float *src = tsr_image_plane (img, c);
      double sigma = any_threshold ? tsr_plane_noise (src, img->mask, w, h, 1) : 0;
      float *dst = tsr_image_plane (out, c);
      memset (dst, 0, np * sizeof (float));
      memcpy (cur, src, np * sizeof (float));
      for (int j = 0; j < n; j++)
        {
          if (g_cancellable_set_error_if_cancelled (cancellable, error))
            {
              g_clear_pointer (&out, tsr_image_unref);
              break;
            }
          b3_smooth (cur, next, tmp, w, h, 1 << j);
          double g = j < p->n_gains ? p->gains[j] : 1.0;
          double t = j < p->n_thresholds ? p->thresholds[j] * sigma * tsr_wavelet_noise_factor (j) : 0.0;
          if (t > 0)
            for (gsize i = 0; i < np; i++)
              {
                float L = cur[i] - next[i];
                float a = fabsf (L) - (float) t;
                dst[i] += (float) g * (a > 0 ? copysignf (a, L) : 0.f);
              }
          else
            for (gsize i = 0; i < np; i++)
              dst[i] += (float) g * (cur[i] - next[i]);
          float *sw = cur;
          cur = next;
          next = sw;
        }
      if (!out)
        break;
      for (gsize i = 0; i < np; i++)
        dst[i] += cur[i]; /* the residual (coarsest) plane */
      if (p->clip_negative)
        for (gsize i = 0; i < np; i++)
          dst[i] = MAX (dst[i], 0.f);
    }
  g_free (cur);
  g_free (next);
  g_free (tmp);
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

/* ------------------------------------------------------------------ automatic sharpening */

static void
auto_params (TsrWaveletParams *p, double amount)
{
  /* the shape: layer 2 (2 px) carries the detail of a well-sampled stack, layer 1 mostly the
   * noise (kept at gain 1 and soft-thresholded at 2 σ), layers 3–4 a little local contrast */
  static const double shape[5] = { 0, 1, 0.4, 0.1, 0 };
  static const double thr[5] = { 2, 0.5, 0, 0, 0 };
  tsr_wavelet_params_init (p);
  p->n_layers = p->n_gains = p->n_thresholds = 5;
  for (int j = 0; j < 5; j++)
    {
      p->gains[j] = 1 + amount * shape[j];
      p->thresholds[j] = thr[j];
    }
}

static TsrImage *
luminance_image (const TsrImage *img, GError **error)
{
  if (img->channels == 1)
    return tsr_image_ref ((TsrImage *) img);
  TsrImage *l = tsr_image_new_checked (img->width, img->height, 1, "the luminance of the stack", error);
  if (!l)
    return NULL;
  gsize np = tsr_image_npix (img);
  memcpy (l->mask, img->mask, np);
  float *d = tsr_image_plane (l, 0);
  for (gsize i = 0; i < np; i++)
    {
      double s = 0;
      for (int c = 0; c < img->channels; c++)
        s += tsr_image_plane (img, c)[i];
      d[i] = (float) (s / img->channels);
    }
  return l;
}

TsrImage *
tsr_wavelets_auto (const TsrImage *img, double noise_limit, double amount_max, TsrWaveletParams *params,
                   double *amount_out, GCancellable *cancellable, GError **error)
{
  /* chosen on the luminance (where the sharpness and the noise are measured), applied to every
   * channel; the noise grows with the amount, so the largest amount under the limit is found by
   * bisection */
  g_autoptr (TsrImage) lum = luminance_image (img, error);
  if (!lum)
    return NULL;
  TsrWaveletParams p;
  double lo = 0, hi = MAX (amount_max, 0);
  auto_params (&p, hi);
  g_autoptr (TsrImage) top = tsr_wavelets_apply (lum, &p, cancellable, error);
  if (!top)
    return NULL;
  double noise;
  tsr_planetary_sharpness (top, 0, 0, 0, 0, &noise);
  if (noise <= noise_limit)
    lo = hi;
  else
    for (int it = 0; it < 12 && hi - lo > 0.005; it++)
      {
        double mid = 0.5 * (lo + hi);
        auto_params (&p, mid);
        g_autoptr (TsrImage) t = tsr_wavelets_apply (lum, &p, cancellable, error);
        if (!t)
          return NULL;
        tsr_planetary_sharpness (t, 0, 0, 0, 0, &noise);
        if (noise <= noise_limit)
          lo = mid;
        else
          hi = mid;
      }
  /* the colour channels are thresholded each by its own noise: check the result itself and
   * step back while it is above the limit */
  TsrImage *out = NULL;
  for (int it = 0; it < 10; it++)
    {
      auto_params (&p, lo);
      g_clear_pointer (&out, tsr_image_unref);
      out = tsr_wavelets_apply (img, &p, cancellable, error);
      if (!out)
        return NULL;
      if (img->channels == 1 || lo <= 0)
        break;
      tsr_planetary_sharpness (out, 0, 0, 0, 0, &noise);
      if (noise <= noise_limit)
        break;
      lo = it == 8 ? 0 : 0.9 * lo;
    }
  tsr_header_set_double (out->header, "SHARPAMT", lo, "automatic wavelet sharpening amount");
  if (params)
    *params = p;
  if (amount_out)
    *amount_out = lo;
  return out;
}

/* ------------------------------------------------------------------ output helpers */

static int
tsr_planetary_float_cmp (const void *a, const void *b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return x < y ? -1 : x > y;
}

gboolean
tsr_planetary_write_png (const TsrImage *img, const char *path, GError **error)
{
  int w = img->width, h = img->height;
  gsize np = tsr_image_npix (img);
  gsize nv = 0;
  float *v = g_new (float, np * img->channels);
  for (int c = 0; c < img->channels; c++)
    for (gsize i = 0; i < np; i += 1)
      if (img->mask[i])
        v[nv++] = tsr_image_plane (img, c)[i];
  float lo = 0, hi = 1;
  if (nv > 0)
    {
      gsize k0 = (gsize) (0.0001 * (nv - 1)), k1 = (gsize) (0.9999 * (nv - 1));
      qsort (v, nv, sizeof (float), tsr_planetary_float_cmp);
      lo = v[k0];
      hi = v[k1];
    }
  g_free (v);
  if (!(hi > lo))
    hi = lo + 1;
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, w, h);
  cairo_surface_flush (s);
  guint8 *d = cairo_image_surface_get_data (s);
  int stride = cairo_image_surface_get_stride (s);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        gsize i = (gsize) y * w + x;
        guint32 px = 0;
        for (int c = 0; c < 3; c++)
          {
            float val = tsr_image_plane (img, img->channels == 3 ? c : 0)[i];
            float t = img->mask[i] ? (val - lo) / (hi - lo) : 0;
            t = CLAMP (t, 0.f, 1.f);
            px |= (guint32) lrintf (t * 255) << (16 - 8 * c);
          }
        memcpy (d + (gsize) y * stride + 4 * x, &px, 4);
      }
  cairo_surface_mark_dirty (s);
  g_autofree char *tmp = g_strdup_printf ("%s.part", path);
  cairo_status_t st = cairo_surface_write_to_png (s, tmp);
  cairo_surface_destroy (s);
  if (st != CAIRO_STATUS_SUCCESS)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO, "%s: cannot write the PNG: %s", path, cairo_status_to_string (st));
      g_unlink (tmp);
      return FALSE;
    }
  if (g_rename (tmp, path) != 0)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO, "%s: cannot rename %s: %s", path, tmp, g_strerror (errno));
      g_unlink (tmp);
      return FALSE;
    }
  return TRUE;
}

gboolean
tsr_planetary_image_name_check (const char *path, GError **error)
{
  static const char *const known[] = { ".png", ".tif", ".tiff", ".fit", ".fits", ".fts", NULL };
  g_autofree char *low = g_ascii_strdown (path, -1);
  for (int i = 0; known[i]; i++)
    if (g_str_has_suffix (low, known[i]))
      return TRUE;
  g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
               _("%s: unknown output type (name it .fits, .tif or .png)"), path);
  return FALSE;
}

gboolean
tsr_planetary_write_image (const TsrImage *img, const char *path, GError **error)
{
  return tsr_planetary_write_image_as (img, path, path, error);
}

gboolean
tsr_planetary_write_image_as (const TsrImage *img, const char *path, const char *final_name, GError **error)
{
  if (!tsr_planetary_image_name_check (final_name, error))
    return FALSE;
  g_autofree char *low = g_ascii_strdown (final_name, -1);
  if (g_str_has_suffix (low, ".png"))
    return tsr_planetary_write_png (img, path, error);
  if (g_str_has_suffix (low, ".tif") || g_str_has_suffix (low, ".tiff"))
    return tsr_tiff_write (path, img, TSR_TIFF_FLOAT32, error);
  return tsr_fits_write (path, img, NULL, error);
}
