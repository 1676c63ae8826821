/* tsr-cosmetic.c — hot and cold pixels found from the session's own frames. In each
 * sampled frame a sample is an outlier when it lies more than σ_k frame-noise σ from the
 * median of its 8 same-colour neighbours (2 px away on a Bayer mosaic, 1 px on mono) and,
 * for a high one, its 4 direct neighbours do not share the excess (a star, however sharp,
 * spreads over them; a defect does not). A position that is an outlier in at least the
 * given fraction of the frames is a defect: stars, which move across the sensor between
 * frames (dither, drift, field rotation), are not outliers at one sensor position for long. */
#include "tsr-cosmetic.h"
#include "tsr-calib.h"

#include "tsr-error.h"
#include "tsr-frames.h"
#include "tsr-stats.h"

#include <glib/gi18n.h>
#include <math.h>
#include <string.h>

struct _TsrCosmetic
{
  int width, height, step;
  guint8 *bad;
  gsize n_hot, n_cold;
  guint n_frames;
  /* the filter this one runs behind (the calibration), owned */
  TsrFrameFilterFunc prev_func;
  gpointer prev_data;
  GDestroyNotify prev_destroy;
};

static const int nb8[8][2] = { { -1, -1 }, { 0, -1 }, { 1, -1 }, { -1, 0 }, { 1, 0 }, { -1, 1 }, { 0, 1 }, { 1, 1 } };

static float
median_small (float *v, int n)
{
  /* insertion sort: n ≤ 8 */
  for (int i = 1; i < n; i++)
    {
      float t = v[i];
      int j = i - 1;
      while (j >= 0 && v[j] > t)
        v[j + 1] = v[j], j--;
      v[j + 1] = t;
    }
  return n % 2 ? v[n / 2] : 0.5f * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct
{
  const float *pl;
  const guint8 *mask;
  int w, h, st;
  float thr;
  guint8 *hot, *cold;
  gboolean unscreened;   /* the exact test at every valid sample (the test's reference) */
} OutlierJob;

/* Function multiversioning (x86-64 with glibc): the screen below is also compiled for AVX2
 * and picked at load time; no FMA, so both clones decide alike. */
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__has_attribute)
#if __has_attribute (target_clones)
#define TSR_COSMETIC_CLONES __attribute__ ((target_clones ("avx2", "default")))
#endif
#endif
#ifndef TSR_COSMETIC_CLONES
#define TSR_COSMETIC_CLONES
#endif

/* A branch-free screen of one row, x in [x0, x1): need[x - x0] = 0 where the sample can be
 * neither hot nor cold, 1 where the exact test must decide. With all 8 same-colour
 * neighbours valid, sorted v0 ≤ … ≤ v7, the median (v3 + v4) / 2 lies in [v3, v4] (also in
 * float: the sum rounds monotonically, halving is exact). A hot sample needs c − median > thr,
 * so v3 < c − thr: with fewer than 4 neighbours below lo = c − ⅞ thr, v3 ≥ lo and c − median
 * ≤ ⅞ thr. A cold one needs median − c > thr, so v4 > c + thr: with fewer than 4 above
 * hi = c + ⅞ thr, v4 ≤ hi. Each side is screened on its own (until session 40 both sides
 * together at ½ thr, which sent 3.6 % of M94's samples to the sorting test against 0.06 %
 * now). The ⅛ thr margin covers the float rounding of c ± ⅞ thr and of c − median as
 * long as |c| < thr · 2^16 (the rounding errors are then below 2^−7 thr); larger samples go
 * to the exact test. Invalid samples pass (the exact test skips them), samples with an
 * invalid neighbour go to the exact test. Vectorises: 8 or 16 samples per step. */
static TSR_COSMETIC_CLONES void
outlier_screen (const float *restrict pl, const guint8 *restrict mask, int w, int st, int y, int x0, int x1, float thr,
                guint8 *restrict need)
{
  const float h = 0.875f * thr, big = thr * 65536.0f;
  const float *r0 = pl + (gsize) (y - st) * w, *r1 = pl + (gsize) y * w, *r2 = pl + (gsize) (y + st) * w;
  const guint8 *m0 = mask + (gsize) (y - st) * w, *m1 = mask + (gsize) y * w, *m2 = mask + (gsize) (y + st) * w;
  for (int x = x0; x < x1; x++)
    {
      float c = r1[x], lo = c - h, hi = c + h;
      int below = (r0[x - st] < lo) + (r0[x] < lo) + (r0[x + st] < lo) + (r1[x - st] < lo) + (r1[x + st] < lo)
                  + (r2[x - st] < lo) + (r2[x] < lo) + (r2[x + st] < lo);
      int above = (r0[x - st] > hi) + (r0[x] > hi) + (r0[x + st] > hi) + (r1[x - st] > hi) + (r1[x + st] > hi)
                  + (r2[x - st] > hi) + (r2[x] > hi) + (r2[x + st] > hi);
      int all = (m0[x - st] != 0) & (m0[x] != 0) & (m0[x + st] != 0) & (m1[x - st] != 0) & (m1[x + st] != 0)
                & (m2[x - st] != 0) & (m2[x] != 0) & (m2[x + st] != 0);
      int quiet = all & (below <= 3) & (above <= 3) & (fabsf (c) < big);
      need[x - x0] = (guint8) ((m1[x] != 0) & !quiet);
    }
}

/* Count the outliers of rows 2·st + [begin, end) of one plane (each row its own counters). */
static void
outlier_rows (gsize begin, gsize end, gpointer data)
{
  const OutlierJob *j = data;
  const float *pl = j->pl;
  int w = j->w, st = j->st;
  int x0 = 2 * st, x1 = w - 2 * st;
  g_autofree guint8 *need = g_new (guint8, MAX (x1 - x0, 1));
  for (int y = 2 * st + (int) begin; y < 2 * st + (int) end; y++)
    {
      if (x1 <= x0)
        break;
      if (j->unscreened)
        for (int x = x0; x < x1; x++)
          need[x - x0] = j->mask[(gsize) y * w + x] != 0;
      else
        outlier_screen (pl, j->mask, w, st, y, x0, x1, j->thr, need);
      for (int x = x0; x < x1; x++)
        {
          if (!need[x - x0])
            continue;
          gsize k = (gsize) y * w + x;
          float v[8];
          int m = 0;
          for (int q = 0; q < 8; q++)
            {
              gsize o = (gsize) (y + nb8[q][1] * st) * w + x + nb8[q][0] * st;
              if (j->mask[o])
                v[m++] = pl[o];
            }
          if (m < 5)
            continue;
          float med = median_small (v, m), ex = pl[k] - med;
          if (ex > j->thr)
            {
              /* direct neighbours (other colours on a mosaic): a star lifts them too */
              float dn = 0.25f * (pl[k - 1] + pl[k + 1] + pl[k - w] + pl[k + w]);
              float ring = 0.25f * (pl[k - 2 * w] + pl[k + 2 * w] + pl[k - 2] + pl[k + 2]);
              if (dn - ring < 0.25f * ex && j->hot[k] < 255)
                j->hot[k]++;
            }
          else if (ex < -j->thr && j->cold[k] < 255)
            j->cold[k]++;
        }
    }
}

/* The counts of one worker of the hot-pixel search: the frames it measured add up in its own
 * maps (a frame's outliers touch positions all over the sensor), which are summed at the end. */
typedef struct
{
  guint8 *hot, *cold;
} Counts;

typedef struct
{
  const TsrCosmeticParams *p;
  int w, h, st;
  gsize n;
  GMutex lock;
  GSList *free;       /* counts no worker holds now, under lock */
  GSList *all;        /* every counts made */
} FindJob;

static gboolean
find_frame (guint index, const TsrFrameInfo *frame, TsrImage *img, gpointer user_data, GCancellable *cancellable,
            GError **error)
{
  FindJob *j = user_data;
  g_mutex_lock (&j->lock);
  Counts *cn = j->free ? j->free->data : NULL;
  if (cn)
    j->free = g_slist_delete_link (j->free, j->free);
  g_mutex_unlock (&j->lock);
  if (!cn)
    {
      cn = g_new0 (Counts, 1);
      cn->hot = g_try_malloc0 (j->n);
      cn->cold = cn->hot ? g_try_malloc0 (j->n) : NULL;
      if (!cn->cold)
        {
          g_free (cn->hot);
          g_free (cn);
          tsr_set_memory_error (error, 2 * j->n, _("the hot-pixel maps (cosmetic.session=false avoids them)"));
          return FALSE;
        }
      g_mutex_lock (&j->lock);
      j->all = g_slist_prepend (j->all, cn);
      g_mutex_unlock (&j->lock);
    }
  for (int ch = 0; ch < img->channels; ch++)
    {
      const float *pl = tsr_image_plane (img, ch);
      double sig = tsr_plane_noise (pl, img->mask, j->w, j->h, j->st);
      if (!(sig > 0))
        continue;
      OutlierJob oj = { pl, img->mask, j->w, j->h, j->st, (float) (j->p->sigma * sig), cn->hot, cn->cold, FALSE };
      outlier_rows (0, (gsize) MAX (j->h - 4 * j->st, 0), &oj);
    }
  g_mutex_lock (&j->lock);
  j->free = g_slist_prepend (j->free, cn);
  g_mutex_unlock (&j->lock);
  return TRUE;
}

void
tsr_cosmetic_count_plane (const float *pl, const guint8 *mask, int w, int h, int st, float thr, gboolean screened,
                          guint8 *hot, guint8 *cold)
{
  OutlierJob oj = { pl, mask, w, h, st, thr, hot, cold, !screened };
  outlier_rows (0, (gsize) MAX (h - 4 * st, 0), &oj);
}

TsrCosmetic *
tsr_cosmetic_find (TsrSession *s, const TsrCosmeticParams *p, TsrProgressFunc progress, gpointer progress_data,
                   GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (s != NULL && p != NULL, NULL);
  int w = s->width, h = s->height;
  gsize n = (gsize) w * h;
  guint nf = tsr_session_n_frames (s), ns = MIN (nf, (guint) MAX (p->max_frames, 3));
  TsrCosmetic *c = g_new0 (TsrCosmetic, 1);
  c->width = w;
  c->height = h;
  c->step = s->cfa != TSR_CFA_NONE ? 2 : 1;
  c->bad = g_try_malloc0 (n);
  g_autofree guint8 *hot = c->bad ? g_try_malloc0 (n) : NULL, *cold = hot ? g_try_malloc0 (n) : NULL;
  if (!cold)
    {
      tsr_set_memory_error (error, 3 * n, _("the hot-pixel maps (cosmetic.session=false avoids them)"));
      tsr_cosmetic_free (c);
      return NULL;
    }
  c->n_frames = ns;
  if (nf < 3)
    {
      c->n_frames = 0;
      return c;
    }
  /* the sampled frames in parallel (tsr_frames_map), each worker counting into its own maps;
   * reading a frame and its noise were serial per frame before, only the outlier rows ran in
   * parallel */
  FindJob job = { p, w, h, c->step, n, { 0 }, NULL, NULL };
  g_mutex_init (&job.lock);
  guint *idx = g_new (guint, ns);
  for (guint i = 0; i < ns; i++)
    idx[i] = ns > 1 ? (guint) ((guint64) i * (nf - 1) / (ns - 1)) : 0;
  TsrMapOptions opt;
  tsr_map_options_init (&opt, _("Finding hot pixels"));
  opt.indices = idx;
  opt.n_indices = ns;
  opt.n_threads = p->n_threads;
  gboolean ok = tsr_frames_map (s, &opt, find_frame, &job, progress, progress_data, cancellable, error);
  for (GSList *l = job.all; l; l = l->next)
    {
      Counts *cn = l->data;
      for (gsize q = 0; ok && q < n; q++)
        {
          hot[q] = (guint8) MIN (255u, (guint) hot[q] + cn->hot[q]);
          cold[q] = (guint8) MIN (255u, (guint) cold[q] + cn->cold[q]);
        }
      g_free (cn->hot);
      g_free (cn->cold);
      g_free (cn);
    }
  g_slist_free (job.all);
  g_slist_free (job.free);
  g_mutex_clear (&job.lock);
  g_free (idx);
  if (!ok)
    {
      tsr_cosmetic_free (c);
      return NULL;
    }
  guint need = (guint) ceil (p->fraction * ns);
  need = MAX (need, 2);
  for (gsize k = 0; k < n; k++)
    {
      if (hot[k] >= need)
        c->bad[k] = 1, c->n_hot++;
      else if (cold[k] >= need)
        c->bad[k] = 1, c->n_cold++;
    }
  return c;
}

gsize
tsr_cosmetic_n_hot (const TsrCosmetic *c)
{
  return c ? c->n_hot : 0;
}

gsize
tsr_cosmetic_n_cold (const TsrCosmetic *c)
{
  return c ? c->n_cold : 0;
}

const guint8 *
tsr_cosmetic_map (const TsrCosmetic *c)
{
  return c->bad;
}

void
tsr_cosmetic_apply (const TsrCosmetic *c, TsrImage *img, int y0)
{
  int w = c->width, st = c->step;
  if (c->n_hot + c->n_cold == 0 || img->width != w)
    return;
  tsr_calib_repair_pixels (c->bad, c->height, st, img, y0, FALSE);
}

static gboolean
cosmetic_filter (guint index, const TsrFrameInfo *frame, TsrImage *img, int y0, gpointer data, GError **error)
{
  TsrCosmetic *c = data;
  if (c->prev_func && !c->prev_func (index, frame, img, y0, c->prev_data, error))
    return FALSE;
  tsr_cosmetic_apply (c, img, y0);
  return TRUE;
}

void
tsr_cosmetic_attach (TsrCosmetic *c, TsrSession *s)
{
  g_return_if_fail (c != NULL && s != NULL);
  int margin = 2 * c->step;
  gsize bytes = (gsize) c->width * c->height;
  GString *h = g_string_new (NULL);
  if (s->filter)
    {
      /* take over the installed filter: it runs first, then the defects are replaced */
      c->prev_func = s->filter->func;
      c->prev_data = s->filter->data;
      c->prev_destroy = s->filter->destroy;
      s->filter->destroy = NULL;
      margin = MAX (margin, s->filter->margin_rows);
      bytes += s->filter->bytes;
      if (s->filter->history)
        g_string_append_printf (h, "%s; ", s->filter->history);
    }
  g_string_append_printf (h, "Tessera cosmetic correction from the session: %lu hot and %lu cold pixels (outliers "
                             "at the same sensor position in most of %u frames) replaced by their same-colour neighbours",
                          (unsigned long) c->n_hot, (unsigned long) c->n_cold, c->n_frames);
  g_autofree char *history = g_string_free (h, FALSE);
  tsr_session_set_filter (s, cosmetic_filter, c, (GDestroyNotify) tsr_cosmetic_free, margin, bytes, history);
}

void
tsr_cosmetic_free (TsrCosmetic *c)
{
  if (!c)
    return;
  if (c->prev_destroy)
    c->prev_destroy (c->prev_data);
  g_free (c->bad);
  g_free (c);
}
