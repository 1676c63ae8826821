/* tsr-preview.c — live preview reconstruction (see tsr-preview.h).
 *
 * Cache layout: per frame one block of C planes of pw × ph floats plus a pw × ph mask
 * (NULL for frames without a transform). Preview pixel (px, py) stands for the reference
 * pixels [px·d, px·d + d) × [py·d, py·d + d); its value is the mean of the frame samples
 * within ±max(d, 2)/2 of the mapped centre, per colour for Bayer mosaics. */
#include "tsr-preview.h"
#include "tsr-error.h"
#include "tsr-frames.h"
#include <glib/gi18n.h>
#include <math.h>
#include <string.h>

#define MAX_HANN 8

struct _TsrPreviewCache
{
  gatomicrefcount ref;
  TsrAnalysis *a;
  int factor;
  int pw, ph, channels;
  guint n_frames;
  float **data;      /* n_frames × (channels × pw × ph), NULL = not registered */
  guint8 **mask;     /* n_frames × (pw × ph) */
  GMutex lock;
};

typedef struct
{
  TsrPreviewCache *c;
  TsrNormMode norm;
} BuildJob;

static void
normalise_sample (const TsrAnalysis *a, const TsrFrameMetrics *fm, TsrNormMode mode, int col,
                  int x, int y, double *v)
{
  if (mode == TSR_NORM_NONE)
    return;
  const double *pp = fm->plane[col];
  double bg = pp[0] + pp[1] * x + pp[2] * y;
  if (mode == TSR_NORM_DIVIDE_BACKGROUND)
    *v = bg > 1e-6 ? *v / bg * a->ref_plane[col] : *v;
  else
    *v = (*v - bg) / (fm->scale > 0 ? fm->scale : 1.0) + a->ref_plane[col];
}

static gboolean
build_frame (guint index, const TsrFrameInfo *frame, TsrImage *img, gpointer user_data,
             GCancellable *cancellable, GError **error)
{
  BuildJob *j = user_data;
  TsrPreviewCache *c = j->c;
  const TsrAnalysis *a = c->a;
  const TsrFrameReg *fr = &a->reg->frames[index];
  if (!fr->registered)
    return TRUE;
  if (img->width != a->width || img->height != a->height)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH, _("%s: the frame's size changed since the analysis"),
                   frame->path);
      return FALSE;
    }
  const int d = c->factor, pw = c->pw, ph = c->ph, C = c->channels;
  const gsize np = (gsize) pw * ph;
  float *out = g_new0 (float, np * C);
  guint8 *mask = g_new0 (guint8, np);
  const gboolean cfa = img->cfa != TSR_CFA_NONE && img->channels == 1;
  const double half = MAX (d, 2) / 2.0;
  const TsrFrameMetrics *fm = &a->frames[index];
  const int W = img->width, H = img->height;

  for (int py = 0; py < ph; py++)
    {
      if ((py & 15) == 0 && g_cancellable_set_error_if_cancelled (cancellable, error))
        {
          g_free (out);
          g_free (mask);
          return FALSE;
        }
      for (int px = 0; px < pw; px++)
        {
          double rx = px * d + (d - 1) / 2.0, ry = py * d + (d - 1) / 2.0, fx, fy;
          tsr_transform_apply (&fr->transform, rx, ry, &fx, &fy);
          int x0 = (int) ceil (fx - half), x1 = (int) floor (fx + half - 1e-9);
          int y0 = (int) ceil (fy - half), y1 = (int) floor (fy + half - 1e-9);
          if (x0 < 0 || y0 < 0 || x1 >= W || y1 >= H || x1 < x0 || y1 < y0)
            continue;
          double sum[3] = { 0 }, cnt[3] = { 0 };
          for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++)
              {
                gsize k = (gsize) y * W + x;
                if (!img->mask[k])
                  continue;
                if (cfa)
                  {
                    int col = tsr_cfa_color (img->cfa, x, y);
                    double v = img->data[k];
                    normalise_sample (a, fm, j->norm, col, x, y, &v);
                    sum[col] += v;
                    cnt[col] += 1;
                  }
                else
                  for (int ch = 0; ch < img->channels && ch < 3; ch++)
                    {
                      double v = tsr_image_plane (img, ch)[k];
                      normalise_sample (a, fm, j->norm, img->channels == 3 ? ch : 0, x, y, &v);
                      sum[ch] += v;
                      cnt[ch] += 1;
                    }
              }
          gboolean ok = TRUE;
          for (int ch = 0; ch < C; ch++)
            ok = ok && cnt[ch] > 0;
          if (!ok)
            continue;
          gsize q = (gsize) py * pw + px;
          for (int ch = 0; ch < C; ch++)
            out[ch * np + q] = (float) (sum[ch] / cnt[ch]);
          mask[q] = 1;
        }
    }
  g_mutex_lock (&c->lock);
  c->data[index] = out;
  c->mask[index] = mask;
  g_mutex_unlock (&c->lock);
  return TRUE;
}

TsrPreviewCache *
tsr_preview_cache_build (TsrAnalysis *a, int max_side, gsize max_bytes,
                         TsrProgressFunc progress, gpointer progress_data,
                         GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (a != NULL && a->reg != NULL && a->reg->session != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (max_side <= 0)
    max_side = 512;
  if (max_bytes == 0)
    max_bytes = (gsize) 256 << 20;

  const int C = (a->cfa != TSR_CFA_NONE || a->channels == 3) ? 3 : 1;
  const guint n = a->reg->n_frames;
  int d = MAX (1, (MAX (a->width, a->height) + max_side - 1) / max_side);
  for (;; d++)
    {
      gsize pw = (gsize) (a->width + d - 1) / d, ph = (gsize) (a->height + d - 1) / d;
      if (pw * ph * (C * sizeof (float) + 1) * MAX (n, 1u) <= max_bytes || pw * ph <= 64)
        break;
    }

  TsrPreviewCache *c = g_new0 (TsrPreviewCache, 1);
  g_atomic_ref_count_init (&c->ref);
  c->a = tsr_analysis_ref (a);
  c->factor = d;
  c->pw = (a->width + d - 1) / d;
  c->ph = (a->height + d - 1) / d;
  c->channels = C;
  c->n_frames = n;
  c->data = g_new0 (float *, n);
  c->mask = g_new0 (guint8 *, n);
  g_mutex_init (&c->lock);

  BuildJob job = { c, a->params.norm };
  TsrMapOptions opt;
  tsr_map_options_init (&opt, N_("Preview cache"));
  opt.n_threads = a->run.n_threads;
  opt.memory_budget = tsr_run_memory_budget (&a->run);
  opt.bytes_per_frame_factor = 1.5;
  g_autofree guint *indices = g_new (guint, MAX (n, 1u));
  guint n_reg = 0;
  for (guint f = 0; f < n; f++)
    if (a->reg->frames[f].registered)
      indices[n_reg++] = f;
  opt.indices = indices;
  opt.n_indices = n_reg;
  if (!tsr_frames_map (a->reg->session, &opt, build_frame, &job, progress, progress_data, cancellable, error))
    {
      tsr_preview_cache_unref (c);
      return NULL;
    }
  return c;
}

TsrPreviewCache *
tsr_preview_cache_ref (TsrPreviewCache *c)
{
  g_atomic_ref_count_inc (&c->ref);
  return c;
}

void
tsr_preview_cache_unref (TsrPreviewCache *c)
{
  if (!c || !g_atomic_ref_count_dec (&c->ref))
    return;
  for (guint f = 0; f < c->n_frames; f++)
    {
      g_free (c->data[f]);
      g_free (c->mask[f]);
    }
  g_free (c->data);
  g_free (c->mask);
  g_mutex_clear (&c->lock);
  tsr_analysis_unref (c->a);
  g_free (c);
}

int
tsr_preview_cache_factor (const TsrPreviewCache *c)
{
  return c->factor;
}

void
tsr_preview_cache_size (const TsrPreviewCache *c, int *width, int *height, int *channels)
{
  if (width)
    *width = c->pw;
  if (height)
    *height = c->ph;
  if (channels)
    *channels = c->channels;
}

gsize
tsr_preview_cache_bytes (const TsrPreviewCache *c)
{
  gsize total = 0;
  for (guint f = 0; f < c->n_frames; f++)
    if (c->data[f])
      total += (gsize) c->pw * c->ph * (c->channels * sizeof (float) + 1);
  return total;
}

TsrAnalysis *
tsr_preview_cache_get_analysis (const TsrPreviewCache *c)
{
  return c->a;
}

/* Hann weights of the tiles along one axis, for preview coordinate p (reference position
 * p·d + (d − 1)/2), as the accumulation's overlap-add. */
typedef struct
{
  int n;
  int idx[MAX_HANN];
  float h[MAX_HANN];
} HannAxis;

static HannAxis *
hann_axis (const TsrAnalysis *a, int len, int d, gboolean x_axis)
{
  HannAxis *ax = g_new0 (HannAxis, len);
  int ntiles = x_axis ? a->tiles_x : a->tiles_y;
  double T = a->tile_size;
  for (int p = 0; p < len; p++)
    {
      double r = p * d + (d - 1) / 2.0;
      for (int i = 0; i < ntiles && ax[p].n < MAX_HANN; i++)
        {
          const TsrTile *t = &a->tiles[x_axis ? i : i * a->tiles_x];
          double dist = r - (x_axis ? t->cx : t->cy);
          if (fabs (dist) >= T / 2)
            continue;
          double h = cos (G_PI * dist / T);
          ax[p].idx[ax[p].n] = i;
          ax[p].h[ax[p].n] = (float) (h * h);
          ax[p].n++;
        }
    }
  return ax;
}

TsrImage *
tsr_preview_render (const TsrPreviewCache *c, const TsrWeights *w, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (c != NULL && w != NULL, NULL);
  const TsrAnalysis *a = c->a;
  if (w->n_frames != c->n_frames || w->n_tiles != a->n_tiles)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH,
                   _("the weights (%u frames, %u tiles) do not belong to the previewed analysis (%u frames, %u tiles)"),
                   w->n_frames, w->n_tiles, c->n_frames, a->n_tiles);
      return NULL;
    }
  const int pw = c->pw, ph = c->ph, C = c->channels;
  const gsize np = (gsize) pw * ph;
  HannAxis *ax = hann_axis (a, pw, c->factor, TRUE);
  HannAxis *ay = hann_axis (a, ph, c->factor, FALSE);
  /* per-channel weights (global.per_channel): Σw per channel, as the accumulation keeps it */
  const int WC = w->chan && C == 3 ? 3 : 1;
  double *sw = g_new0 (double, np * WC);
  double *swx = g_new0 (double, np * C);
  float *we = g_new (float, np);
  guint n_used = 0;

  for (guint f = 0; f < c->n_frames; f++)
    {
      if (!w->used[f] || !c->data[f])
        continue;
      if (g_cancellable_is_cancelled (cancellable))
        break;
      const float *wf = w->w + (gsize) f * a->n_tiles;
      /* separable: rows of tile weights first */
      for (int py = 0; py < ph; py++)
        {
          const HannAxis *yy = &ay[py];
          for (int px = 0; px < pw; px++)
            {
              const HannAxis *xx = &ax[px];
              float s = 0;
              for (int b = 0; b < yy->n; b++)
                {
                  const float *row = wf + (gsize) yy->idx[b] * a->tiles_x;
                  float r = 0;
                  for (int q = 0; q < xx->n; q++)
                    r += xx->h[q] * row[xx->idx[q]];
                  s += yy->h[b] * r;
                }
              we[(gsize) py * pw + px] = s;
            }
        }
      const float *data = c->data[f];
      const guint8 *mask = c->mask[f];
      float fc[3] = { 1.0f, 1.0f, 1.0f };
      if (WC > 1)
        for (int ch = 0; ch < 3; ch++)
          fc[ch] = w->chan[(gsize) f * 3 + ch];
      for (gsize k = 0; k < np; k++)
        {
          if (!mask[k] || !(we[k] > 0))
            continue;
          double e = we[k];
          if (WC > 1)
            for (int ch = 0; ch < C; ch++)
              {
                double ec = e * fc[ch];
                sw[ch * np + k] += ec;
                swx[ch * np + k] += ec * data[ch * np + k];
              }
          else
            {
              sw[k] += e;
              for (int ch = 0; ch < C; ch++)
                swx[ch * np + k] += e * data[ch * np + k];
            }
        }
      n_used++;
    }
  g_free (ax);
  g_free (ay);
  g_free (we);

  TsrImage *img = NULL;
  if (g_cancellable_is_cancelled (cancellable))
    ;
  else if (n_used == 0)
    g_set_error (error, TSR_ERROR, TSR_ERROR_NO_VALID, _("no frame is used with these weights: nothing to preview"));
  else
    {
      img = tsr_image_new (pw, ph, C);
      for (gsize k = 0; k < np; k++)
        {
          img->mask[k] = sw[k] > 0;
          for (int ch = 0; ch < C; ch++)
            {
              double sc = sw[(WC > 1 ? (gsize) ch * np : 0) + k];
              tsr_image_plane (img, ch)[k] = sc > 0 ? (float) (swx[ch * np + k] / sc) : 0.0f;
            }
        }
    }
  g_free (sw);
  g_free (swx);
  return img;
}
