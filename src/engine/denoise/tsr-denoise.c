/* tsr-denoise.c — the denoise job: normalisation, overlapping tiles with Gaussian
 * feathering (accumulator / weight map), strength blend; its parameters and key table. */
#include "tsr-denoise.h"
#include "tsr-error.h"

#include <glib/gi18n.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- parameters ------------------------------------------------------------------------ */

void
tsr_denoise_params_init (TsrDenoiseParams *p)
{
  memset (p, 0, sizeof *p);
  p->strength = 1.0;
  p->tile = 256;
  p->overlap = 0.25;
  p->feather_sigma = 0.25;
  p->threads = 0;
  p->weights = NULL;
}

void
tsr_denoise_params_clear (TsrDenoiseParams *p)
{
  g_clear_pointer (&p->weights, g_free);
}

static const TsrParamSpec specs[] = {
  TSR_KEY_DOUBLE (TsrDenoiseParams, "denoise.strength", strength, 0, 1,
                  N_("Blend of the denoised image with the input, 0…1")),
  TSR_KEY_INT (TsrDenoiseParams, "denoise.tile", tile, 64, 1024, N_("Tile size in pixels (a multiple of 4)")),
  TSR_KEY_DOUBLE (TsrDenoiseParams, "denoise.overlap", overlap, 0, 0.5,
                  N_("Fraction of a tile shared with its neighbour (0 = naïve tiling)")),
  TSR_KEY_DOUBLE (TsrDenoiseParams, "denoise.feather_sigma", feather_sigma, 0.05, 1,
                  N_("Gaussian σ of the tile weight, as a fraction of the tile")),
  TSR_KEY_INT (TsrDenoiseParams, "denoise.threads", threads, 0, 1024, N_("Worker threads (0 = one per core)")),
};

const TsrParamSpec *
tsr_denoise_params_specs (guint *n)
{
  return tsr_keys_table (specs, G_N_ELEMENTS (specs), n);
}

gboolean
tsr_denoise_params_set (TsrDenoiseParams *p, const char *key, const char *value, GError **error)
{
  const TsrParamSpec *s = tsr_keys_find (specs, G_N_ELEMENTS (specs), key);
  if (!s)
    {
      tsr_key_unknown_error (error, key);
      return FALSE;
    }
  TsrDenoiseParams q = *p;
  if (!tsr_key_set (s, &q, value, error) || !tsr_denoise_params_validate (&q, error))
    return FALSE;
  *p = q;
  return TRUE;
}

char *
tsr_denoise_params_get_string (const TsrDenoiseParams *p, const char *key)
{
  const TsrParamSpec *s = tsr_keys_find (specs, G_N_ELEMENTS (specs), key);
  return s ? tsr_key_get_string (s, p) : NULL;
}

gboolean
tsr_denoise_params_validate (const TsrDenoiseParams *p, GError **error)
{
  if (!tsr_keys_check_ranges (specs, G_N_ELEMENTS (specs), p, error))
    return FALSE;
  const char *bad = NULL;
  if (!(p->strength >= 0.0 && p->strength <= 1.0))
    bad = "denoise.strength (0…1)";
  else if (p->tile < 64 || p->tile > 1024 || p->tile % 4)
    bad = "denoise.tile (a multiple of 4 in 64…1024)";
  else if (!(p->overlap >= 0.0 && p->overlap <= 0.5))
    bad = "denoise.overlap (0…0.5)";
  else if (!(p->feather_sigma >= 0.05 && p->feather_sigma <= 1.0))
    bad = "denoise.feather_sigma (0.05…1)";
  if (bad)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, _("denoise: value out of range for %s"), bad);
      return FALSE;
    }
  return TRUE;
}

/* ---- normalisation --------------------------------------------------------------------- */

/* The lower median (as torch.median), of at most ~4 M samples taken at a fixed stride. */
static double
median_of (float *v, gsize n)
{
  if (n == 0)
    return 0.0;
  gsize k = (n - 1) / 2;
  /* quickselect */
  gsize lo = 0, hi = n - 1;
  while (lo < hi)
    {
      float pivot = v[lo + (hi - lo) / 2];
      gsize i = lo, j = hi;
      while (i <= j)
        {
          while (v[i] < pivot)
            i++;
          while (v[j] > pivot)
            j--;
          if (i <= j)
            {
              float t = v[i];
              v[i] = v[j];
              v[j] = t;
              i++;
              if (j == 0)
                break;
              j--;
            }
        }
      if (k <= j)
        hi = j;
      else if (k >= i)
        lo = i;
      else
        break;
    }
  return v[k];
}

void
tsr_denoise_stats (const TsrImage *img, int c, double *bg, double *sigma)
{
  const gsize npix = tsr_image_npix (img);
  const gsize stride = MAX ((gsize) 1, npix / (4u << 20));
  const float *p = tsr_image_plane (img, c);
  g_autofree float *v = g_new (float, npix / stride + 1);
  gsize n = 0;
  for (gsize i = 0; i < npix; i += stride)
    if (img->mask[i] && isfinite (p[i]))
      v[n++] = p[i];
  *bg = median_of (v, n);
  /* horizontal differences of valid neighbours */
  n = 0;
  for (gsize i = 0; i < npix; i += stride)
    {
      gsize x = i % img->width;
      if (x + 1 < (gsize) img->width && img->mask[i] && img->mask[i + 1] && isfinite (p[i]) && isfinite (p[i + 1]))
        v[n++] = p[i + 1] - p[i];
    }
  double med = median_of (v, n);
  for (gsize i = 0; i < n; i++)
    v[i] = fabsf (v[i] - (float) med);
  *sigma = 1.4826 * median_of (v, n) / G_SQRT2;
}

/* ---- the tiled job --------------------------------------------------------------------- */

static inline int
reflect (int i, int n)
{
  if (n == 1)
    return 0;
  int period = 2 * (n - 1);
  i %= period;
  if (i < 0)
    i += period;
  return i < n ? i : period - i;
}

typedef struct
{
  const TsrImage *in;
  const TsrDenoiseNet *net;
  const TsrDenoiseParams *p;
  int tile, step, origin, nx, ny;
  float bg[3], sigma[3];
  float *weight;        /* tile × tile */
  float *acc;           /* channels × npix (normalised linear units) */
  float *wsum;          /* npix */
  GMutex lock;
  gint next;            /* atomic tile counter */
  guint done;
  TsrProgressFunc progress;
  gpointer progress_data;
  GCancellable *cancellable;
} Job;

static gpointer
worker (gpointer data)
{
  Job *j = data;
  const TsrImage *in = j->in;
  const int T = j->tile, W = in->width, H = in->height;
  const gsize npix = tsr_image_npix (in);
  const gboolean mono = in->channels == 1;
  TsrDenoiseNetState *st = tsr_denoise_net_state_new ();
  g_autoptr (TsrNnTensor) x = tsr_nn_tensor_new (1, 3, T, T);
  g_autoptr (TsrNnTensor) y = tsr_nn_tensor_new (1, 3, T, T);
  g_autofree float *lin = g_new (float, (gsize) 3 * T * T);
  const int ntiles = j->nx * j->ny;
  for (;;)
    {
      int t = g_atomic_int_add (&j->next, 1);
      if (t >= ntiles || g_cancellable_is_cancelled (j->cancellable))
        break;
      int x0 = j->origin + (t % j->nx) * j->step, y0 = j->origin + (t / j->nx) * j->step;
      for (int c = 0; c < 3; c++)
        {
          int sc = mono ? 0 : c;
          const float *plane = tsr_image_plane (in, sc);
          float *dst = x->data + (gsize) c * T * T;
          const float bg = j->bg[sc], inv = 1.0f / j->sigma[sc];
          for (int ty = 0; ty < T; ty++)
            {
              int iy = reflect (y0 + ty, H);
              for (int tx = 0; tx < T; tx++)
                {
                  gsize i = (gsize) iy * W + reflect (x0 + tx, W);
                  float v = in->mask[i] && isfinite (plane[i]) ? plane[i] : bg;
                  dst[(gsize) ty * T + tx] = asinhf ((v - bg) * inv);
                }
            }
        }
      tsr_denoise_net_forward (j->net, st, x, y);
      for (gsize i = 0; i < (gsize) 3 * T * T; i++)
        lin[i] = sinhf (x->data[i]) + y->data[i];
      g_mutex_lock (&j->lock);
      for (int ty = 0; ty < T; ty++)
        {
          int iy = y0 + ty;
          if (iy < 0 || iy >= H)
            continue;
          for (int tx = 0; tx < T; tx++)
            {
              int ix = x0 + tx;
              if (ix < 0 || ix >= W)
                continue;
              gsize o = (gsize) iy * W + ix, k = (gsize) ty * T + tx;
              float w = j->weight[k];
              if (mono)
                j->acc[o] += w * (lin[k] + lin[(gsize) T * T + k] + lin[(gsize) 2 * T * T + k]) * (1.0f / 3.0f);
              else
                for (int c = 0; c < 3; c++)
                  j->acc[(gsize) c * npix + o] += w * lin[(gsize) c * T * T + k];
              j->wsum[o] += w;
            }
        }
      j->done++;
      if (j->progress)
        j->progress (_("Denoising"), j->done, (guint) ntiles, j->progress_data);
      g_mutex_unlock (&j->lock);
    }
  tsr_denoise_net_state_free (st);
  return NULL;
}

TsrImage *
tsr_denoise_run (const TsrImage *in, const TsrDenoiseParams *p, TsrDenoiseStats *stats_out,
                 TsrProgressFunc progress, gpointer progress_data, GCancellable *cancellable, GError **error)
{
  gint64 t0 = g_get_monotonic_time ();
  if (!tsr_denoise_params_validate (p, error))
    return NULL;
  if (in->cfa != TSR_CFA_NONE)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("denoise: the image is a raw Bayer mosaic (%s); denoise a stacked, debayered or mono image"),
                   tsr_cfa_name (in->cfa));
      return NULL;
    }
  if (in->channels != 1 && in->channels != 3)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, _("denoise: %d channels; only mono and RGB images"),
                   in->channels);
      return NULL;
    }
  g_autoptr (TsrDenoiseNet) net = tsr_denoise_net_load (p->weights, error);
  if (!net)
    return NULL;
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  Job j = { 0 };
  j.in = in;
  j.net = net;
  j.p = p;
  j.tile = p->tile;
  const int T = p->tile;
  int ov = (int) lround (T * p->overlap);
  ov -= ov % 2;
  j.step = T - ov;
  j.origin = -ov / 2;
  j.nx = in->width + ov <= T ? 1 : (in->width + ov - T + j.step - 1) / j.step + 1;
  j.ny = in->height + ov <= T ? 1 : (in->height + ov - T + j.step - 1) / j.step + 1;
  TsrDenoiseStats stats = { 0 };
  gboolean flat = FALSE;
  for (int c = 0; c < in->channels; c++)
    {
      double bg, sg;
      tsr_denoise_stats (in, c, &bg, &sg);
      j.bg[c] = (float) bg;
      j.sigma[c] = (float) sg;
      stats.bg[c] = bg;
      stats.sigma[c] = sg;
      flat = flat || !(sg > 0.0);
    }
  TsrImage *out = tsr_image_copy (in);
  if (flat || p->strength == 0.0)
    {
      /* no measurable noise in a channel (a constant image): nothing to remove */
      if (stats_out)
        *stats_out = stats;
      return out;
    }
  /* Gaussian tile weight, shifted to reach 0 at the border (continuous blend); uniform for
   * the naïve non-overlapping tiling */
  g_autofree float *weight = g_new (float, (gsize) T * T);
  {
    g_autofree double *g1 = g_new (double, T);
    double s = p->feather_sigma * T, half = T / 2.0, edge = exp (-0.5 * (half / s) * (half / s));
    for (int i = 0; i < T; i++)
      {
        double d = (i + 0.5) - half;
        g1[i] = ov > 0 ? (exp (-0.5 * (d / s) * (d / s)) - edge) / (1.0 - edge) : 1.0;
      }
    for (int y = 0; y < T; y++)
      for (int x = 0; x < T; x++)
        weight[(gsize) y * T + x] = (float) (g1[y] * g1[x]);
  }
  const gsize npix = tsr_image_npix (in);
  j.weight = weight;
  g_autofree float *acc = g_new0 (float, (gsize) in->channels * npix);
  g_autofree float *wsum = g_new0 (float, npix);
  j.acc = acc;
  j.wsum = wsum;
  g_mutex_init (&j.lock);
  j.progress = progress;
  j.progress_data = progress_data;
  j.cancellable = cancellable;
  /* one GEMM per worker thread: parallel over tiles, not inside each small product */
  tsr_nn_blas_single_thread ();
  guint nt = p->threads > 0 ? (guint) p->threads : g_get_num_processors ();
  nt = MIN (nt, (guint) (j.nx * j.ny));
  GThread **threads = g_new (GThread *, nt);
  for (guint i = 1; i < nt; i++)
    threads[i] = g_thread_new ("tsr-denoise", worker, &j);
  worker (&j);
  for (guint i = 1; i < nt; i++)
    g_thread_join (threads[i]);
  g_free (threads);
  g_mutex_clear (&j.lock);
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    {
      tsr_image_unref (out);
      return NULL;
    }
  const float s = (float) p->strength;
  for (int c = 0; c < in->channels; c++)
    {
      const float *src = tsr_image_plane (in, c);
      float *dst = tsr_image_plane (out, c);
      const float *a = acc + (gsize) c * npix;
      for (gsize i = 0; i < npix; i++)
        {
          if (!in->mask[i] || !isfinite (src[i]) || !(wsum[i] > 0.0f))
            continue;
          float den = j.bg[c] + j.sigma[c] * (a[i] / wsum[i]);
          dst[i] = s * den + (1.0f - s) * src[i];
        }
    }
  {
    g_autofree char *h = g_strdup_printf ("Tessera denoise: ResUNet base %d, tile %d, overlap %.2f, strength %.2f",
                                          tsr_denoise_net_base (net), T, p->overlap, p->strength);
    tsr_header_add_history (out->header, h);
  }
  stats.n_tiles = (guint) (j.nx * j.ny);
  stats.seconds = (g_get_monotonic_time () - t0) / 1e6;
  stats.gflop = tsr_denoise_net_flops (net, T, T) * stats.n_tiles / 1e9;
  if (stats_out)
    *stats_out = stats;
  return out;
}
