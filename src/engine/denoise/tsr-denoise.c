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
  p->refine = 1;
  p->refine_k = 2.0;
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
  TSR_KEY_INT (TsrDenoiseParams, "denoise.refine", refine, 0, 1,
               N_("Refine the network's estimate: a star-aware Wiener filter in the wavelet domain (0 = off)")),
  TSR_KEY_DOUBLE (TsrDenoiseParams, "denoise.refine_k", refine_k, 0.5, 4,
                  N_("Noise multiplier of the Wiener refinement (higher = smoother)")),
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
  else if (p->refine != 0 && p->refine != 1)
    bad = "denoise.refine (0 or 1)";
  else if (!(p->refine_k >= 0.5 && p->refine_k <= 4.0))
    bad = "denoise.refine_k (0.5…4)";
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

/* ---- isolated outliers ------------------------------------------------------------------- */

static int
cmp_float (const void *a, const void *b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return (x > y) - (x < y);
}

/* A copy of the image in which single-pixel outliers on the sky are replaced, in every
 * channel, by the median of their 8 neighbours. The test is on the mean over the channels
 * of z = (x − that median)/σ (a debayered stack spreads a cold or hot pixel into all three
 * channels at −3…−4σ each, which no single channel shows clearly): cold if the mean z is
 * below −3 (mono −4); hot if above +5 (mono +6) while no neighbour's mean z reaches +2
 * (no star is narrower than a pixel). Only where the neighbours' median is within 5σ of
 * the sky in every channel, so a star's core, whose Poisson noise is many times σ, is never
 * touched. A stack of a few frames keeps such pixels (nothing to reject them against) and
 * the network, which never saw them in training, turns them into dark dots and star-like
 * blobs (docs/denoise.md, M 94). */
static TsrImage *
repair_outliers (const TsrImage *in, const float *bg, const float *sigma, guint *n_repaired)
{
  TsrImage *r = tsr_image_copy (in);
  const int w = in->width, h = in->height, nc = in->channels;
  const float cold = nc == 1 ? -4.0f : -3.0f, hot = nc == 1 ? 6.0f : 5.0f;
  guint n = 0;
  for (int y = 1; y < h - 1; y++)
    for (int x = 1; x < w - 1; x++)
      {
        gsize i = (gsize) y * w + x;
        gboolean ok = TRUE;
        for (int dy = -1; dy <= 1 && ok; dy++)
          for (int dx = -1; dx <= 1 && ok; dx++)
            ok = in->mask[(gsize) (y + dy) * w + x + dx];
        if (!ok)
          continue;
        /* cheap rejection: the mean z against the neighbours' mean */
        float zm = 0;
        for (int c = 0; c < nc; c++)
          {
            const float *p = tsr_image_plane (in, c);
            float m = 0;
            for (int dy = -1; dy <= 1; dy++)
              for (int dx = -1; dx <= 1; dx++)
                if (dx || dy)
                  m += p[(gsize) (y + dy) * w + x + dx];
            zm += (p[i] - m / 8) / sigma[c];
          }
        zm /= nc;
        if (!(zm < cold + 1.0f || zm > hot - 1.0f))
          continue;
        float med[3], z = 0, zmax = -G_MAXFLOAT;
        gboolean sky = TRUE;
        for (int c = 0; c < nc; c++)
          {
            const float *p = tsr_image_plane (in, c);
            float nb[8];
            int k = 0;
            for (int dy = -1; dy <= 1; dy++)
              for (int dx = -1; dx <= 1; dx++)
                if (dx || dy)
                  nb[k++] = p[(gsize) (y + dy) * w + x + dx];
            qsort (nb, 8, sizeof (float), cmp_float);
            med[c] = 0.5f * (nb[3] + nb[4]);
            z += (p[i] - med[c]) / sigma[c];
            sky = sky && med[c] - bg[c] < 5 * sigma[c] && isfinite (p[i]);
          }
        z /= nc;
        if (!sky)
          continue;
        if (z > hot)
          for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++)
              if (dx || dy)
                {
                  float zn = 0;
                  for (int c = 0; c < nc; c++)
                    zn += (tsr_image_plane (in, c)[(gsize) (y + dy) * w + x + dx] - med[c]) / sigma[c];
                  zmax = MAX (zmax, zn / nc);
                }
        if (z < cold || (z > hot && zmax < 2.0f))
          {
            for (int c = 0; c < nc; c++)
              tsr_image_plane (r, c)[i] = med[c];
            n++;
          }
      }
  *n_repaired = n;
  return r;
}

/* ---- refinement: star-aware Wiener stage -------------------------------------------------- */

#define REFINE_SCALES 5     /* à-trous detail scales of the Wiener filter */
#define STAR_THRESHOLD 3.0  /* compact-structure luminance (σ units) that seeds the star mask */
#define STAR_DILATE 5       /* px the star mask is grown by */
#define LOWPASS_SCALES 5    /* the residual's mean is restored below the scale of this smoothing */

/* Soft star mask from the network's estimate: luminance (mean over channels of
 * (est − bg)/σ) minus its smoothing over the two finest à-trous scales, so that compact
 * structures (stars) count and extended ones (nebulae, galaxy discs) do not; above
 * STAR_THRESHOLD → dilated by STAR_DILATE (square) → four passes of [1 2 1]/4 each way
 * (≈ Gaussian σ 1.4 px). Values 0…1. */
static float *
star_mask (const TsrImage *in, const float *est, const float *bg, const float *sigma)
{
  const int w = in->width, h = in->height, rd = STAR_DILATE;
  const gsize npix = tsr_image_npix (in);
  float *m = g_new (float, npix), *t = g_new (float, npix);
  for (gsize i = 0; i < npix; i++)
    {
      double l = 0;
      for (int c = 0; c < in->channels; c++)
        l += (est[(gsize) c * npix + i] - bg[c]) / sigma[c];
      t[i] = (float) (l / in->channels);
    }
  {
    g_autofree float *s1 = g_new (float, npix), *s2 = g_new (float, npix);
    tsr_wavelet_smooth (t, s1, m, w, h, 1);
    tsr_wavelet_smooth (s1, s2, m, w, h, 2);
    for (gsize i = 0; i < npix; i++)
      t[i] = t[i] - s2[i] > STAR_THRESHOLD ? 1.0f : 0.0f;
  }
  /* dilation: horizontal then vertical running maximum of a 0/1 map */
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        float v = 0;
        for (int k = MAX (0, x - rd); k <= MIN (w - 1, x + rd) && v == 0; k++)
          v = t[(gsize) y * w + k];
        m[(gsize) y * w + x] = v;
      }
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        float v = 0;
        for (int k = MAX (0, y - rd); k <= MIN (h - 1, y + rd) && v == 0; k++)
          v = m[(gsize) k * w + x];
        t[(gsize) y * w + x] = v;
      }
  for (int pass = 0; pass < 4; pass++)
    {
      for (int y = 0; y < h; y++)
        {
          const float *r = t + (gsize) y * w;
          for (int x = 0; x < w; x++)
            m[(gsize) y * w + x] = 0.25f * (r[MAX (x - 1, 0)] + 2 * r[x] + r[MIN (x + 1, w - 1)]);
        }
      for (int y = 0; y < h; y++)
        {
          const float *a = m + (gsize) MAX (y - 1, 0) * w, *b = m + (gsize) y * w;
          const float *c = m + (gsize) MIN (y + 1, h - 1) * w;
          for (int x = 0; x < w; x++)
            t[(gsize) y * w + x] = 0.25f * (a[x] + 2 * b[x] + c[x]);
        }
    }
  g_free (m);
  return t;
}

/* The B3 smoothing at scale 1 followed by the one at scale 2 (tsr_wavelet_smooth twice,
 * mirror edges) evaluated at one pixel: for the few pixels the dip and bump filters
 * replace, without a smoothed copy of every channel. */
static float
smooth12_at (const float *p, int w, int h, int x, int y)
{
  static const float k[5] = { 1 / 16.f, 4 / 16.f, 6 / 16.f, 4 / 16.f, 1 / 16.f };
  float s = 0;
  for (int b = -2; b <= 2; b++)
    {
      int yb = reflect (y + 2 * b, h);
      for (int a = -2; a <= 2; a++)
        {
          int xa = reflect (x + 2 * a, w);
          float s1 = 0;
          for (int j = -2; j <= 2; j++)
            {
              const float *row = p + (gsize) reflect (yb + j, h) * w;
              for (int i = -2; i <= 2; i++)
                s1 += k[i + 2] * k[j + 2] * row[reflect (xa + i, w)];
            }
          s += k[a + 2] * k[b + 2] * s1;
        }
    }
  return s;
}

/* Every channel of the listed pixels takes smooth12_at of the estimate as it was before
 * any of them changed. */
static void
flatten_pixels (const TsrImage *in, float *est, GArray *idx)
{
  const int w = in->width, h = in->height, nc = in->channels;
  const gsize npix = tsr_image_npix (in);
  g_autofree float *v = g_new (float, (gsize) MAX (idx->len, 1) * nc);
  for (guint k = 0; k < idx->len; k++)
    {
      gsize i = g_array_index (idx, gsize, k);
      for (int c = 0; c < nc; c++)
        v[(gsize) k * nc + c] = smooth12_at (est + (gsize) c * npix, w, h, (int) (i % w), (int) (i / w));
    }
  for (guint k = 0; k < idx->len; k++)
    for (int c = 0; c < nc; c++)
      est[(gsize) c * npix + g_array_index (idx, gsize, k)] = v[(gsize) k * nc + c];
}

/* Luminance of the estimate (mean over channels of (est − bg)/σ) into l, its smoothing at
 * scales 1 and 2 into s (the smoothing is linear: the luminance of the smoothed channels). */
static void
luminance_and_smoothing (const TsrImage *in, const float *est, const float *bg, const float *sigma, float *l,
                         float *s, float *tmp, float *tmp2)
{
  const int w = in->width, h = in->height, nc = in->channels;
  const gsize npix = tsr_image_npix (in);
  for (gsize i = 0; i < npix; i++)
    {
      double a = 0;
      for (int c = 0; c < nc; c++)
        a += (est[(gsize) c * npix + i] - bg[c]) / sigma[c];
      l[i] = (float) (a / nc);
    }
  tsr_wavelet_smooth (l, tmp2, tmp, w, h, 1);
  tsr_wavelet_smooth (tmp2, s, tmp, w, h, 2);
}

/* The network's estimate with its compact dips flattened: a local minimum of the
 * luminance more than DIP_THRESHOLD σ below its own smoothing over the two finest à-trous
 * scales takes that smoothing in every channel. The sky has no structure darker than its
 * surroundings and narrower than a star; such dips are noise the network kept (debayered
 * stacks have noise correlated between channels, which its training data had not), and
 * the Wiener filter would keep them in turn because its pilot shows them. */
#define DIP_THRESHOLD 0.5
static guint
fill_dips (const TsrImage *in, float *est, const float *bg, const float *sigma)
{
  const int w = in->width, h = in->height;
  const gsize npix = tsr_image_npix (in);
  g_autofree float *l = g_new (float, npix), *sm = g_new (float, npix);
  {
    g_autofree float *tmp = g_new (float, npix), *tmp2 = g_new (float, npix);
    luminance_and_smoothing (in, est, bg, sigma, l, sm, tmp, tmp2);
  }
  /* a dip: a local minimum of the luminance (strictly below its 8 neighbours), more than
   * the threshold below the smoothing, on the sky (the smoothing within 3σ of it: not the
   * dark ring a star's smoothing spreads into, nor a dark lane inside a bright galaxy) */
  GArray *idx = g_array_new (FALSE, FALSE, sizeof (gsize));
  for (int y = 1; y < h - 1; y++)
    for (int x = 1; x < w - 1; x++)
      {
        gsize i = (gsize) y * w + x;
        if (!(l[i] - sm[i] < -DIP_THRESHOLD) || fabsf (sm[i]) > 3.0f)
          continue;
        gboolean minimum = TRUE;
        for (int dy = -1; dy <= 1 && minimum; dy++)
          for (int dx = -1; dx <= 1 && minimum; dx++)
            minimum = (!dx && !dy) || l[i] < l[(gsize) (y + dy) * w + x + dx];
        if (minimum)
          g_array_append_val (idx, i);
      }
  flatten_pixels (in, est, idx);
  guint n = idx->len;
  g_array_free (idx, TRUE);
  return n;
}

/* The network's estimate with its insignificant compact bumps flattened: a local maximum
 * of the estimate's luminance more than 0.5σ above its two-scale smoothing is kept only if
 * the *input* shows a source there: its luminance band-passed (B3 smoothing at scale 1
 * minus the smoothing over scales 1–3) above BUMP_SNR times that band's own noise, measured
 * on the image (1.4826·MAD, so noise correlated between channels or pixels is accounted
 * for). Otherwise the pixels of the bump within 2 px take the smoothing: a noise peak the
 * network shaped like a faint star. */
#define BUMP_SNR 5.0
static guint
flatten_bumps (const TsrImage *in, float *est, const float *bg, const float *sigma)
{
  const int w = in->width, h = in->height, nc = in->channels;
  const gsize npix = tsr_image_npix (in);
  g_autofree float *le = g_new (float, npix), *b = g_new (float, npix);
  g_autofree float *lx = g_new (float, npix), *tmp = g_new (float, npix);
  {
    g_autofree float *sm = g_new (float, npix);
    luminance_and_smoothing (in, est, bg, sigma, le, sm, tmp, lx);
    for (gsize i = 0; i < npix; i++)
      le[i] -= sm[i];
    /* the input's luminance, then its band-pass c1 − c3 into b */
    for (gsize i = 0; i < npix; i++)
      {
        double x = 0;
        for (int c = 0; c < nc; c++)
          {
            const float *src = tsr_image_plane (in, c);
            x += ((in->mask[i] && isfinite (src[i]) ? src[i] : est[(gsize) c * npix + i]) - bg[c]) / sigma[c];
          }
        lx[i] = (float) (x / nc);
      }
    tsr_wavelet_smooth (lx, b, tmp, w, h, 1);   /* c1 */
    tsr_wavelet_smooth (b, sm, tmp, w, h, 2);
    tsr_wavelet_smooth (sm, lx, tmp, w, h, 4);  /* c3 */
    for (gsize i = 0; i < npix; i++)
      b[i] -= lx[i];
  }
  const gsize stride = MAX ((gsize) 1, npix / (1u << 20));
  gsize n = 0;
  for (gsize i = 0; i < npix; i += stride)
    tmp[n++] = b[i];
  double med = median_of (tmp, n);
  for (gsize i = 0; i < n; i++)
    tmp[i] = fabsf (tmp[i] - (float) med);
  const double noise = 1.4826 * median_of (tmp, n);
  GArray *idx = g_array_new (FALSE, FALSE, sizeof (gsize));
  memset (tmp, 0, sizeof (float) * npix); /* marks the pixels already listed */
  guint nb = 0;
  for (int y = 2; y < h - 2; y++)
    for (int x = 2; x < w - 2; x++)
      {
        gsize i = (gsize) y * w + x;
        if (!(le[i] > 0.5f) || b[i] - med > BUMP_SNR * noise)
          continue;
        gboolean top = TRUE;
        for (int dy = -1; dy <= 1 && top; dy++)
          for (int dx = -1; dx <= 1 && top; dx++)
            top = (!dx && !dy) || le[i] > le[(gsize) (y + dy) * w + x + dx];
        if (!top)
          continue;
        for (int dy = -2; dy <= 2; dy++)
          for (int dx = -2; dx <= 2; dx++)
            {
              gsize o = (gsize) (y + dy) * w + x + dx;
              if (dx * dx + dy * dy <= 4 && le[o] > 0 && tmp[o] == 0)
                {
                  tmp[o] = 1;
                  g_array_append_val (idx, o);
                }
            }
        nb++;
      }
  flatten_pixels (in, est, idx);
  g_array_free (idx, TRUE);
  return nb;
}

typedef struct
{
  const TsrImage *in;
  const float *mask;   /* soft star mask: there the network's estimate is kept */
  float *est;          /* channels × npix: the network's estimate in, the refined one out */
  const float *sigma;
  double k;
  gint next;
} Refine;

/* One channel: (1) empirical Wiener filter of the noisy plane guided by the network's
 * estimate (tsr_wavelet_wiener, noise σ·k); (2) inside the star mask the network's
 * estimate instead (the Wiener weights shrink the faint negative ring of a star's
 * coarse-scale coefficients, which spreads flux into its wings); (3) the residual
 * (estimate − input) loses its local mean at scales above LOWPASS_SCALES (≈ 60 px): the
 * output's large-scale level is the input's, so no shrinkage can raise the sky or leave a
 * halo around a star, and the noise this puts back is ~1 % of σ. */
static gpointer
refine_worker (gpointer data)
{
  Refine *rf = data;
  const TsrImage *in = rf->in;
  const int w = in->width, h = in->height;
  const gsize npix = tsr_image_npix (in);
  for (;;)
    {
      int c = g_atomic_int_add (&rf->next, 1);
      if (c >= in->channels)
        break;
      float *est = rf->est + (gsize) c * npix;
      const float *src = tsr_image_plane (in, c);
      /* o: the input (invalid samples filled with the estimate), filtered in place; the
       * low-pass buffers only after the filter has freed its own (peak memory) */
      g_autofree float *o = g_new (float, npix);
      for (gsize i = 0; i < npix; i++)
        o[i] = in->mask[i] && isfinite (src[i]) ? src[i] : est[i];
      tsr_wavelet_wiener (o, est, o, w, h, REFINE_SCALES, rf->k * rf->sigma[c]);
      for (gsize i = 0; i < npix; i++)
        {
          float x = in->mask[i] && isfinite (src[i]) ? src[i] : est[i];
          o[i] = rf->mask[i] * est[i] + (1.0f - rf->mask[i]) * o[i];
          est[i] = o[i] - x;
        }
      g_autofree float *r = g_new (float, npix);
      g_autofree float *tmp = g_new (float, npix);
      float *cur = est, *next = r;
      for (int j = 0; j < LOWPASS_SCALES; j++)
        {
          tsr_wavelet_smooth (cur, next, tmp, w, h, 1 << j);
          float *t = cur;
          cur = next;
          next = t;
        }
      for (gsize i = 0; i < npix; i++)
        o[i] -= cur[i];
      memcpy (est, o, sizeof (float) * npix);
    }
  return NULL;
}

static void
refine_stage (const TsrImage *in, float *est, const float *bg, const float *sigma, const TsrDenoiseParams *p,
              guint nt)
{
  fill_dips (in, est, bg, sigma);
  flatten_bumps (in, est, bg, sigma);
  g_autofree float *mask = star_mask (in, est, bg, sigma);
  Refine rf = { in, mask, est, sigma, p->refine_k, 0 };
  GThread **threads = g_new (GThread *, nt);
  for (guint i = 1; i < nt; i++)
    threads[i] = g_thread_new ("tsr-denoise-refine", refine_worker, &rf);
  refine_worker (&rf);
  for (guint i = 1; i < nt; i++)
    g_thread_join (threads[i]);
  g_free (threads);
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
  /* Memory, planned before the first image-sized buffer so that a frame too large for what
   * is available is one clear refusal, never an abort halfway: the output and the
   * outlier-repaired copy of the input, the network's accumulator and weight sum (3·C + 1
   * planes and two masks), then the largest of the refinement's stages — the dip and bump
   * filters (5 planes) or the star mask plus 6 planes per refinement worker (the Wiener
   * filter's pyramids). Fewer refinement workers are used when that makes it fit. */
  const guint64 plane = (guint64) tsr_image_npix (in) * sizeof (float);
  const guint64 base = plane * (3 * in->channels + 1) + 2 * (guint64) tsr_image_npix (in);
  guint nt_refine = p->threads > 0 ? (guint) p->threads : g_get_num_processors ();
  nt_refine = MAX (1u, MIN (nt_refine, (guint) in->channels));
  const guint64 avail = tsr_memory_available ();
  guint64 need = base;
  for (;;)
    {
      guint64 stage = p->refine ? MAX (5 * plane, plane + 6 * plane * nt_refine) : 0;
      need = flat || p->strength == 0.0 ? plane * in->channels + plane / 4 : base + stage;
      if (need <= avail || nt_refine == 1)
        break;
      nt_refine--;
    }
  if (need > avail)
    {
      g_autofree char *what =
        g_strdup_printf (_("denoising an image of %d × %d × %d"), in->width, in->height, in->channels);
      tsr_set_memory_error (error, need, what);
      return NULL;
    }
  TsrImage *out = tsr_image_copy (in);
  if (!out)
    {
      tsr_set_memory_error (error, plane * in->channels + plane / 4, _("the denoised image"));
      return NULL;
    }
  g_autoptr (TsrImage) repaired = NULL;
  if (!flat && p->strength > 0.0)
    {
      repaired = repair_outliers (in, j.bg, j.sigma, &stats.n_repaired);
      j.in = repaired;
    }
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
  /* the network's estimate in image units (acc is reused for it) */
  for (int c = 0; c < in->channels; c++)
    {
      const float *src = tsr_image_plane (in, c);
      float *a = acc + (gsize) c * npix;
      for (gsize i = 0; i < npix; i++)
        a[i] = wsum[i] > 0.0f ? j.bg[c] + j.sigma[c] * (a[i] / wsum[i]) : src[i];
    }
  if (p->refine)
    {
      gint64 t1 = g_get_monotonic_time ();
      refine_stage (j.in, acc, j.bg, j.sigma, p, nt_refine);
      stats.refine_seconds = (g_get_monotonic_time () - t1) / 1e6;
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
          dst[i] = s * a[i] + (1.0f - s) * src[i];
        }
    }
  {
    g_autofree char *r = p->refine ? g_strdup_printf ("k %.2f", p->refine_k) : g_strdup ("off");
    g_autofree char *h = g_strdup_printf ("Tessera denoise: ResUNet base %d, tile %d, overlap %.2f, refine %s, "
                                          "strength %.2f", tsr_denoise_net_base (net), T, p->overlap, r, p->strength);
    tsr_header_add_history (out->header, h);
  }
  stats.n_tiles = (guint) (j.nx * j.ny);
  stats.seconds = (g_get_monotonic_time () - t0) / 1e6;
  stats.gflop = tsr_denoise_net_flops (net, T, T) * stats.n_tiles / 1e9;
  if (stats_out)
    *stats_out = stats;
  return out;
}
