/* tsr-cosmetic.c — hot and cold pixels found from the session's own frames. In each
 * sampled frame a sample is an outlier when it lies more than σ_k frame-noise σ from the
 * median of its 8 same-colour neighbours (2 px away on a Bayer mosaic, 1 px on mono) and,
 * for a high one, its 4 direct neighbours do not share the excess (a star, however sharp,
 * spreads over them; a defect does not). A position that is an outlier in at least the
 * given fraction of the frames is a defect: stars, which move across the sensor between
 * frames (dither, drift, field rotation), are not outliers at one sensor position for long. */
#include "tsr-cosmetic.h"

#include "tsr-error.h"
#include "tsr-parallel.h"
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

static int
cmp_float (const void *a, const void *b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return (x > y) - (x < y);
}

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
} OutlierJob;

/* Count the outliers of rows 2·st + [begin, end) of one plane (each row its own counters). */
static void
outlier_rows (gsize begin, gsize end, gpointer data)
{
  const OutlierJob *j = data;
  const float *pl = j->pl;
  int w = j->w, st = j->st;
  for (int y = 2 * st + (int) begin; y < 2 * st + (int) end; y++)
    for (int x = 2 * st; x < w - 2 * st; x++)
      {
        gsize k = (gsize) y * w + x;
        if (!j->mask[k])
          continue;
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
  const int st = c->step;
  for (guint i = 0; i < ns; i++)
    {
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        {
          tsr_cosmetic_free (c);
          return NULL;
        }
      guint idx = ns > 1 ? (guint) ((guint64) i * (nf - 1) / (ns - 1)) : 0;
      g_autoptr (TsrImage) img = tsr_session_read_frame (s, idx, error);
      if (!img)
        {
          tsr_cosmetic_free (c);
          return NULL;
        }
      for (int ch = 0; ch < img->channels; ch++)
        {
          const float *pl = tsr_image_plane (img, ch);
          double sig = tsr_plane_noise (pl, img->mask, w, h, st);
          if (!(sig > 0))
            continue;
          OutlierJob job = { pl, img->mask, w, h, st, (float) (p->sigma * sig), hot, cold };
          tsr_parallel_range ((gsize) MAX (h - 4 * st, 0), p->n_threads, 64, outlier_rows, &job);
        }
      if (progress)
        progress (_("Finding hot pixels"), i + 1, ns, progress_data);
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
  for (int y = 0; y < img->height; y++)
    {
      const guint8 *brow = c->bad + (gsize) (y0 + y) * w;
      for (int x = 0; x < w; x++)
        if (brow[x])
          for (int ch = 0; ch < img->channels; ch++)
            {
              float *pl = tsr_image_plane (img, ch);
              float v[8];
              int k = 0;
              for (int j = 0; j < 8; j++)
                {
                  int xx = x + nb8[j][0] * st, yy = y + nb8[j][1] * st;
                  if (xx < 0 || xx >= w || yy < 0 || yy >= img->height || y0 + yy >= c->height)
                    continue;
                  gsize q = (gsize) yy * w + xx;
                  if (c->bad[(gsize) (y0 + yy) * w + xx] || !img->mask[q])
                    continue;
                  v[k++] = pl[q];
                }
              gsize at = (gsize) y * w + x;
              if (k == 0)
                {
                  img->mask[at] = 0;
                  continue;
                }
              qsort (v, (size_t) k, sizeof (float), cmp_float);
              pl[at] = k % 2 ? v[k / 2] : 0.5f * (v[k / 2 - 1] + v[k / 2]);
            }
    }
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
