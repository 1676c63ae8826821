/* tsr-tbqr-accumulate.c — the accumulate pass of TBQR: warp, normalise, smooth per-pixel
 * weight field, weighted rejection, weighted mean, and the plain mean stack of the same
 * frames. Validation is in tsr-tbqr-validate.c, the frame cache in tsr-frame-cache.c. See
 * docs/tbqr.md. */
#include "tsr-tbqr.h"
#include "tsr-frame-file.h"
#include "tsr-error.h"
#include "tsr-fits.h"
#include "tsr-frames.h"
#include "tsr-json.h"
#include "tsr-stats.h"
#include "tsr-tbqr-private.h"
#include "tsr-frame-cache.h"
#include "tsr-tbqr-memory.h"
#include "tsr-tbqr-drizzle.h"

#include <glib/gi18n.h>
#include <math.h>
#include <string.h>

/* Separable Hann windows: for each column (row) up to MAXW tiles with their weights. */
#define MAXW 6
typedef struct
{
  int n;
  int idx[MAXW];
  float h[MAXW];
} Axis;

static Axis *
make_axis (const TsrAnalysis *a, gboolean x_axis)
{
  int len = x_axis ? a->width : a->height;
  int ntiles = x_axis ? a->tiles_x : a->tiles_y;
  Axis *ax = g_new0 (Axis, len);
  double T = a->tile_size;
  for (int p = 0; p < len; p++)
    for (int i = 0; i < ntiles && ax[p].n < MAXW; i++)
      {
        const TsrTile *t = &a->tiles[x_axis ? i : i * a->tiles_x];
        double c = x_axis ? t->cx : t->cy;
        double d = p - c;
        if (fabs (d) >= T / 2)
          continue;
        double h = cos (G_PI * d / T);
        ax[p].idx[ax[p].n] = i;
        ax[p].h[ax[p].n] = h * h;
        ax[p].n++;
      }
  return ax;
}

/* A run of columns [x0, x1) under the same tiles (the same n and idx in their Axis). */
typedef struct
{
  int x0, x1, n;
  int idx[MAXW];
} XSeg;

typedef struct
{
  TsrAnalysis *a;
  TsrWeights *w;
  const TsrTbqrParams *p;
  Axis *ax, *ay;
  XSeg *xseg;                 /* the columns as runs under the same tiles … */
  int n_xseg;
  float *hx;                  /* … and their Hann weights by slot: hx[q·width + x] = ax[x].h[q] */
  float *cluster_norm;    /* per cluster, coarse grid of D_k (NULL when clusters off) */
  int cg_w, cg_h, cg_step;
  gboolean stats_pass;
  double feather_len;         /* local.feather × tile side in source pixels (0 = off) */
  double *feather_f;          /* per frame: its ramp length (feather_len × its weight share) */
  gboolean demosaic_frames;   /* Bayer: demosaic each normalised frame before the warp */
  int channels;               /* channels accumulated (3 when demosaicing frames) */
  /* global.per_channel: frame f's weight in channel c is its one weight × chan[f·3 + c]
   * (w->chan; NULL: the same in every channel). wch: planes of Σw and of the rejected Σw,
   * 3 when the weights differ between the channels of a pixel (RGB values), else 1 (a mosaic
   * pixel holds one colour: its factor goes into its weight, weight_row) */
  const float *chan;
  int wch;
  /* rejection units: pixels (per channel), or 2×2 cells of a CFA mosaic (their sum) */
  gboolean cells;
  int cell_w, cell_h;
  guint8 *cell_sites;         /* sites of each cell inside the image (4 but at odd edges) */
  gsize n_units;
  int unit_channels;
  int unit_w;                 /* units in a row of units */
  /* Bayer sessions (drizzled, or demosaiced frame by frame) with statistics from the raw
   * samples: the units are the reference grid's 2 × 2 cells, valued by tsr_drizzle_cell_luma
   * (no demosaic, no warp of the frame, no frame cache); a rejected unit rejects the drops
   * landing in its four pixels, or those four pixels of the demosaiced, warped frame */
  gboolean raw_cells;
  /* statistics pass: unweighted sums plus each pixel's extreme samples, so the
   * rejection statistics exclude the one sample most likely to be a trail */
  guint32 *s0;
  double *s1, *s2;
  float *smax, *smin;
  /* final pass */
  float *mu, *sigma;
  /* the sums in float (issue #19: half the memory of double; a 2,000-frame sum of ~1000 ADU
   * samples rounds to ~0.002 ADU of the mean, far below the stack's noise) */
  float *rej_w, *rej_wx, *all_w, *all_wx, *mean_x;
  guint32 *n_rej, *n_all;
  GMutex pool_lock;
  GSList *pool;               /* Scratch */
  /* the image-sized sums are updated in bands of rows, each under its own lock, so
   * frames in flight add into different bands at the same time */
#define N_BANDS 16
  GMutex band_lock[N_BANDS];
  /* frames are added in pairs, so each pass over the image-sized sums (which is memory
   * bound) serves two frames: the first of a pair waits here for the second */
  GMutex park_lock;
  struct _Scratch *park_sc;   /* its scratch (holds the image read from the frame cache) */
  TsrImage *park_own;         /* the warped frame when the hook warped it itself */
  const TsrImage *park_warped;
  guint park_index;
  TsrDrizzle *dz;             /* the drizzle pass's sums (drizzle chosen), else NULL */
} AccJob;

/* Feathered footprint (local.feather): the factor of a frame's weight at reference pixel
 * (x, y), a Hann ramp 0.5 − 0.5·cos(π·d/L) of the distance d (source pixels) of T(x, y) to
 * the nearest edge of the frame, 1 beyond L. A frame that ends inside the field (another
 * pointing, another night) then fades out instead of stopping: the weight sum, and with it
 * the noise, changes smoothly across its footprint edge instead of in a step. L is the
 * frame's own (feather_f): the step a frame's edge makes in the noise grows with its share
 * of the weight, so the ramp does too, which bounds the noise gradient instead of spending
 * noise on the edges of frames too light to make a visible step. The floor keeps a
 * weighted mean defined where every frame is near its edge (the field's border). */
static inline float
feather_at (const AccJob *j, double L, const TsrTransform *T, double x, double y)
{
  const double *m = T->m;
  double wz = m[6] * x + m[7] * y + m[8];
  double sx = (m[0] * x + m[1] * y + m[2]) / wz, sy = (m[3] * x + m[4] * y + m[5]) / wz;
  double d = MIN (MIN (sx, sy), MIN (j->a->width - 1 - sx, j->a->height - 1 - sy));
  if (d >= L)
    return 1.0f;
  if (d <= 0)
    return 1e-3f;
  return (float) MAX (1e-3, 0.5 - 0.5 * cos (G_PI * d / L));
}

/* Per-pixel weight of frame f at (x, y): Σ_t h_t W_{f,t}, times the cluster factor. */
static inline float
weight_at (const AccJob *j, const float *wf, int x, int y)
{
  const Axis *cx = &j->ax[x], *cy = &j->ay[y];
  float s = 0;
  for (int b = 0; b < cy->n; b++)
    {
      const float *row = wf + (gsize) cy->idx[b] * j->a->tiles_x;
      float r = 0;
      for (int q = 0; q < cx->n; q++)
        r += cx->h[q] * row[cx->idx[q]];
      s += cy->h[b] * r;
    }
  return s;
}

static float
cluster_factor (const AccJob *j, int cluster, int x, int y)
{
  if (!j->cluster_norm || cluster < 0)
    return 1.0f;
  const float *g = j->cluster_norm + (gsize) cluster * j->cg_w * j->cg_h;
  double gx = (double) x / j->cg_step, gy = (double) y / j->cg_step;
  int x0 = MIN ((int) gx, j->cg_w - 1), y0 = MIN ((int) gy, j->cg_h - 1);
  int x1 = MIN (x0 + 1, j->cg_w - 1), y1 = MIN (y0 + 1, j->cg_h - 1);
  double fx = gx - x0, fy = gy - y0;
  double v = (1 - fy) * ((1 - fx) * g[y0 * j->cg_w + x0] + fx * g[y0 * j->cg_w + x1])
             + fy * ((1 - fx) * g[y1 * j->cg_w + x0] + fx * g[y1 * j->cg_w + x1]);
  return v > 0 ? (float) (j->w->cluster_w[cluster] / v) : 0.0f;
}

/* Zeroed memory for sums that every frame writes: zeroed here, so each page is faulted in
 * writable at once. calloc's fresh pages map the shared zero page, and a worker's first +=
 * then costs a copy-on-write fault plus a TLB shootdown across the threads (3 % of a run). */
typedef struct
{
  guint8 *p;
  gsize size;
} ZeroTask;

static void
zero_range (gsize begin, gsize end, gpointer data)
{
  ZeroTask *z = data;
  memset (z->p + begin * z->size, 0, (end - begin) * z->size);
}

static gpointer
dense_zeroed (gsize n, gsize size, guint threads)
{
  gpointer m = g_try_malloc_n (n, size);
  if (m)
    {
      /* on every core: the faults and the zeroing of ~200 MB of sums were a serial stretch
       * between the passes */
      ZeroTask z = { m, size };
      tsr_parallel_range (n, threads, (gsize) 1 << 16, zero_range, &z);
    }
  return m;
}

/* mk ? a : b for a mask mk of all ones or all zeros: a select GCC vectorises (it does not
 * if-convert a float select on a byte condition). */
static inline float
sel_f (guint32 mk, float a, float b)
{
  guint32 ia, ib;
  memcpy (&ia, &a, sizeof ia);
  memcpy (&ib, &b, sizeof ib);
  ia = (ia & mk) | (ib & ~mk);
  memcpy (&a, &ia, sizeof a);
  return a;
}

/* Rejection units. Mono: a pixel. RGB (demosaiced frames): a pixel, tested once on the sum
 * of its three channels and rejected in all. CFA mosaics: a 2×2 cell, tested once on the
 * sum of its four sites (one sample of each CFA colour, a local luminance), and rejected
 * as a whole. Testing each site of an undersampled mosaic on its
 * own rejected star cores: a red or blue site is interpolated from a lattice of 2 px pitch,
 * so near a star its warped value swings with the sub-pixel phase (a skewed distribution
 * with a long high tail); clipping that tail, in four sites OR-ed over the cell, removed
 * 2.3 % of the star flux on the generated Bayer session (docs/tbqr.md). The cell sum
 * integrates the star over the cell and follows trails and cosmic rays as before.
 *
 * One row of units at a time (unit row ur: pixel row ur, or pixel rows 2·ur and 2·ur + 1
 * for cells), computed where it is used so the frame's pixels are read once while in cache.
 * *uv and *um point into the image itself where a unit is a mono pixel, else into
 * uvbuf/umbuf (unit_row_len values). Masked units have the value 0. */
static void
unit_row (const AccJob *j, const TsrImage *img, int ur, float *restrict uvbuf, guint8 *restrict umbuf,
          const float **uv, const guint8 **um)
{
  int W = img->width, H = img->height;
  gsize npix = (gsize) W * H;
  if (!j->cells)
    {
      gsize k0 = (gsize) ur * W;
      *um = img->mask + k0;
      if (img->channels == 1)
        {
          *uv = img->data + k0;
          return;
        }
      const float *restrict d0 = img->data + k0, *restrict d1 = d0 + npix, *restrict d2 = d1 + npix;
      for (int x = 0; x < W; x++)
        uvbuf[x] = d0[x] + d1[x] + d2[x];
      *uv = uvbuf;
      return;
    }
  int y0 = 2 * ur;
  gsize k0 = (gsize) y0 * W;
  const float *restrict r0 = img->data + k0;
  const guint8 *restrict m0 = img->mask + k0;
  int full = W / 2; /* cells with two columns */
  if (y0 + 1 < H)
    {
      const float *restrict r1 = r0 + W;
      const guint8 *restrict m1 = m0 + W;
      for (int cx = 0; cx < full; cx++)
        {
          int x = 2 * cx;
          guint8 ok = 1 & m0[x] & m0[x + 1] & m1[x] & m1[x + 1];
          float s = 0;
          s += r0[x];
          s += r0[x + 1];
          s += r1[x];
          s += r1[x + 1];
          uvbuf[cx] = ok ? s : 0.0f;
          umbuf[cx] = ok;
        }
      if (W & 1)
        {
          int x = W - 1;
          guint8 ok = 1 & m0[x] & m1[x];
          float s = 0;
          s += r0[x];
          s += r1[x];
          uvbuf[full] = ok ? s : 0.0f;
          umbuf[full] = ok;
        }
    }
  else
    for (int cx = 0; cx < j->cell_w; cx++)
      {
        guint8 ok = 1;
        float s = 0;
        for (int x = 2 * cx; x < MIN (2 * cx + 2, W); x++)
          {
            ok &= m0[x];
            s += r0[x];
          }
        uvbuf[cx] = ok ? s : 0.0f;
        umbuf[cx] = ok;
      }
  *uv = uvbuf;
  *um = umbuf;
}

/* Per-frame working memory, reused from frame to frame (row-sized: the passes work row by
 * row inside their band). */
typedef struct _Scratch
{
  TsrImage *img;          /* cached warped frame */
  TsrImage *cells;        /* raw_cells: the frame's cell luminance (its rejection units) */
  TsrImage *band;         /* raw_cells: one band of the frame demosaiced and warped */
  float *uv;              /* one row of unit values */
  guint8 *um;
  float *we;              /* one row of per-pixel weights (0 where masked) */
  guint32 *mk;            /* one row of the frame's mask as all ones / all zeros */
  guint32 *flag;          /* one unit row of outlier tests */
  float *rw;              /* tile row blend of the current image row */
  guint32 *rej;           /* rejected units of the current unit row … */
  float *rej_corr;        /* … and their winsorized excess */
  int n_rej, rej_row;     /* how many; which unit row they belong to (-1: none yet) */
} Scratch;

static Scratch *
scratch_get (AccJob *j)
{
  g_mutex_lock (&j->pool_lock);
  Scratch *sc = j->pool ? j->pool->data : NULL;
  if (sc)
    j->pool = g_slist_delete_link (j->pool, j->pool);
  g_mutex_unlock (&j->pool_lock);
  if (sc)
    return sc;
  const TsrAnalysis *a = j->a;
  gsize urow = j->cells ? (gsize) j->cell_w : (gsize) a->width;
  sc = g_new0 (Scratch, 1);
  sc->uv = g_new (float, urow);
  sc->um = g_new (guint8, urow);
  sc->we = g_new (float, a->width);
  sc->mk = g_new (guint32, a->width);
  sc->flag = g_new (guint32, urow);
  sc->rw = g_new (float, a->tiles_x);
  sc->rej = g_new (guint32, urow);
  sc->rej_corr = g_new (float, urow);
  return sc;
}

static void
scratch_put (AccJob *j, Scratch *sc)
{
  g_mutex_lock (&j->pool_lock);
  j->pool = g_slist_prepend (j->pool, sc);
  g_mutex_unlock (&j->pool_lock);
}

static void
scratch_free (gpointer data)
{
  Scratch *sc = data;
  g_clear_pointer (&sc->img, tsr_image_unref);
  g_clear_pointer (&sc->cells, tsr_image_unref);
  g_clear_pointer (&sc->band, tsr_image_unref);
  g_free (sc->uv);
  g_free (sc->um);
  g_free (sc->we);
  g_free (sc->mk);
  g_free (sc->flag);
  g_free (sc->rw);
  g_free (sc->rej);
  g_free (sc->rej_corr);
  g_free (sc);
}

static void accumulate_warped (AccJob *j, Scratch **sc, const TsrImage **warped, const guint *index, int nf);

/* Adds a frame with another one that waits (or makes it wait). Takes sc and own. */
static void
accumulate_or_park (AccJob *j, Scratch *sc, TsrImage *own, const TsrImage *warped, guint index)
{
  g_mutex_lock (&j->park_lock);
  Scratch *psc = j->park_sc;
  TsrImage *pown = j->park_own;
  const TsrImage *pw = j->park_warped;
  guint pidx = j->park_index;
  if (!pw)
    {
      j->park_sc = sc, j->park_own = own, j->park_warped = warped, j->park_index = index;
      g_mutex_unlock (&j->park_lock);
      return;
    }
  j->park_sc = NULL, j->park_own = NULL, j->park_warped = NULL;
  g_mutex_unlock (&j->park_lock);
  Scratch *scs[2] = { psc, sc };
  const TsrImage *ws[2] = { pw, warped };
  guint idx[2] = { pidx, index };
  if (pw->channels == warped->channels)
    accumulate_warped (j, scs, ws, idx, 2);
  else
    for (int f = 0; f < 2; f++)
      accumulate_warped (j, &scs[f], &ws[f], &idx[f], 1);
  scratch_put (j, psc);
  scratch_put (j, sc);
  g_clear_pointer (&pown, tsr_image_unref);
  g_clear_pointer (&own, tsr_image_unref);
}

/* The frame still waiting at the end of a pass: added alone (when ok), and released. */
static void
flush_parked (AccJob *j, gboolean ok)
{
  if (j->park_warped && ok)
    accumulate_warped (j, &j->park_sc, &j->park_warped, &j->park_index, 1);
  if (j->park_sc)
    scratch_put (j, j->park_sc);
  g_clear_pointer (&j->park_own, tsr_image_unref);
  j->park_sc = NULL;
  j->park_warped = NULL;
}

static gboolean
accumulate_frame (guint index, const TsrFrameInfo *frame, TsrImage *img, gpointer user_data,
                  GCancellable *cancellable, GError **error)
{
  AccJob *j = user_data;
  const TsrAnalysis *a = j->a;
  Scratch *sc = scratch_get (j);
  const TsrImage *warped = NULL;
  g_autoptr (TsrImage) own_warped = NULL;
  /* (raw cells take the band path, accumulate_frame_bands) */
  g_assert (!j->raw_cells);
  if ((warped = tsr_frame_cache_peek (a->cache, j->p, j->demosaic_frames, index)))
    ;
  else if (tsr_frame_cache_read (a->cache, j->p, j->demosaic_frames, index, &sc->img))
    warped = sc->img;
  else
    {
      /* not in the cache: read the frame (the driver reads nothing when a cache exists) */
      g_autoptr (TsrImage) own = NULL;
      if (!img)
        {
          img = own = tsr_session_read_frame (a->reg->session, index, error);
          if (!img)
            {
              scratch_put (j, sc);
              return FALSE;
            }
        }
      warped = own_warped = tsr_tbqr_prepare_frame (a, j->p, j->demosaic_frames, j->stats_pass, img, index,
                                        &a->reg->frames[index].transform);
    }
  if (!warped)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FAILED, _("%s: cannot warp the frame"), frame->path);
      scratch_put (j, sc);
      return FALSE;
    }
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    {
      scratch_put (j, sc);
      return FALSE;
    }
  accumulate_or_park (j, sc, g_steal_pointer (&own_warped), warped, index);
  return TRUE;
}

/* The inner loops, with restrict parameters (GCC honours restrict on parameters, not on
 * block-scope pointers) so they vectorise without run-time alias checks. */

/* mk[x]: all ones where m[x] is set, else 0 */
static void
mask_row (gsize n, const guint8 *restrict m, guint32 *restrict mk)
{
  for (gsize x = 0; x < n; x++)
    mk[x] = -(guint32) (m[x] != 0);
}

/* One unit row of the statistics sums. smax/smin start at ∓∞, so the first sample sets
 * them; masked units add exact zeros to the sums. */
static void
stats_row (gsize n, const guint32 *restrict mk, const float *restrict uv, guint32 *restrict n0,
           double *restrict s1, double *restrict s2, float *restrict smax, float *restrict smin)
{
  for (gsize u = 0; u < n; u++)
    {
      guint32 m = mk[u];
      float xu = uv[u], mx = smax[u], mn = smin[u];
      float x = sel_f (m, xu, 0.0f);
      float hi = mx > xu ? mx : xu, lo = mn < xu ? mn : xu;
      n0[u] += m & 1;
      s1[u] += x;
      s2[u] += (double) x * x;
      smax[u] = sel_f (m, hi, mx);
      smin[u] = sel_f (m, lo, mn);
    }
}

/* One image row of Σw and the sample count (e is 0 where masked) … */
static void
acc_row_w (int n, const float *restrict e, const guint32 *restrict mk, float *restrict aw, guint32 *restrict na)
{
  for (int x = 0; x < n; x++)
    {
      aw[x] += e[x];
      na[x] += mk[x] & 1;
    }
}

/* … and of Σw·x and Σx of one channel */
static void
acc_row_c (int n, const float *restrict e, const guint32 *restrict mk, const float *restrict d,
           float *restrict awx, float *restrict mx)
{
  for (int x = 0; x < n; x++)
    {
      float v = sel_f (mk[x], d[x], 0.0f);
      awx[x] += e[x] * v;
      mx[x] += v;
    }
}

/* Per-channel weights (global.per_channel): the sample count of one image row … */
static void
count_row (int n, const guint32 *restrict mk, guint32 *restrict na)
{
  for (int x = 0; x < n; x++)
    na[x] += mk[x] & 1;
}

/* … and Σw, Σw·x and Σx of one channel whose weight is e·fc */
static void
acc_row_cw (int n, const float *restrict e, float fc, const guint32 *restrict mk, const float *restrict d,
            float *restrict aw, float *restrict awx, float *restrict mx)
{
  for (int x = 0; x < n; x++)
    {
      float v = sel_f (mk[x], d[x], 0.0f);
      float ew = e[x] * fc;
      aw[x] += ew;
      awx[x] += ew * v;
      mx[x] += v;
    }
}

/* flag[u]: unit value u is more than κσ from its mean (masked units are not excluded here) */
static void
outlier_flags (gsize n, const float *restrict uv, const float *restrict mu, const float *restrict sigma, double kappa,
               guint32 *restrict flag)
{
  for (gsize u = 0; u < n; u++)
    {
      float s = sigma[u];
      float d = uv[u] - mu[u];
      flag[u] = (s > 0) & (fabsf (d) > kappa * s);
    }
}

/* The same for two frames at once (frame 0's sample added first, as one after the other) */
static void
stats2_row (gsize n, const guint32 *restrict mk0, const float *restrict uv0, const guint32 *restrict mk1,
            const float *restrict uv1, guint32 *restrict n0, double *restrict s1, double *restrict s2,
            float *restrict smax, float *restrict smin)
{
  for (gsize u = 0; u < n; u++)
    {
      guint32 m0 = mk0[u], m1 = mk1[u];
      float x0u = uv0[u], x1u = uv1[u], mx = smax[u], mn = smin[u];
      float x0 = sel_f (m0, x0u, 0.0f), x1 = sel_f (m1, x1u, 0.0f);
      float hi = mx > x0u ? mx : x0u, lo = mn < x0u ? mn : x0u;
      mx = sel_f (m0, hi, mx), mn = sel_f (m0, lo, mn);
      hi = mx > x1u ? mx : x1u, lo = mn < x1u ? mn : x1u;
      n0[u] += (m0 & 1) + (m1 & 1);
      double t1 = s1[u], t2 = s2[u];
      t1 += x0;
      t2 += (double) x0 * x0;
      t1 += x1;
      t2 += (double) x1 * x1;
      s1[u] = t1;
      s2[u] = t2;
      smax[u] = sel_f (m1, hi, mx);
      smin[u] = sel_f (m1, lo, mn);
    }
}

static void
acc2_row_w (int n, const float *restrict e0, const guint32 *restrict mk0, const float *restrict e1,
            const guint32 *restrict mk1, float *restrict aw, guint32 *restrict na)
{
  for (int x = 0; x < n; x++)
    {
      float t = aw[x];
      t += e0[x];
      t += e1[x];
      aw[x] = t;
      na[x] += (mk0[x] & 1) + (mk1[x] & 1);
    }
}

static void
acc2_row_c (int n, const float *restrict e0, const guint32 *restrict mk0, const float *restrict d0,
            const float *restrict e1, const guint32 *restrict mk1, const float *restrict d1, float *restrict awx,
            float *restrict mx)
{
  for (int x = 0; x < n; x++)
    {
      float v0 = sel_f (mk0[x], d0[x], 0.0f), v1 = sel_f (mk1[x], d1[x], 0.0f);
      float t = awx[x], s = mx[x];
      t += e0[x] * v0;
      s += v0;
      t += e1[x] * v1;
      s += v1;
      awx[x] = t;
      mx[x] = s;
    }
}

/* Statistics pass: unweighted sums per rejection unit, band by band (bands of unit rows). */
static void
add_statistics (AccJob *j, Scratch **sc, const TsrImage **img, guint index, int nf)
{
  gsize urow = (gsize) j->unit_w, nrows = j->n_units / urow;
  for (int bi = 0; bi < N_BANDS; bi++)
    {
      int b = (bi + (int) index * 5) % N_BANDS;
      gsize r0 = nrows * b / N_BANDS, r1 = nrows * (b + 1) / N_BANDS;
      g_mutex_lock (&j->band_lock[b]);
      for (gsize ur = r0; ur < r1; ur++)
        {
          const float *uv[2];
          const guint8 *um;
          for (int f = 0; f < nf; f++)
            {
              unit_row (j, img[f], (int) ur, sc[f]->uv, sc[f]->um, &uv[f], &um);
              mask_row (urow, um, sc[f]->mk);
            }
          gsize q0 = ur * urow;
          if (nf == 2)
            stats2_row (urow, sc[0]->mk, uv[0], sc[1]->mk, uv[1], j->s0 + q0, j->s1 + q0, j->s2 + q0,
                        j->smax + q0, j->smin + q0);
          else
            stats_row (urow, sc[0]->mk, uv[0], j->s0 + q0, j->s1 + q0, j->s2 + q0, j->smax + q0, j->smin + q0);
        }
      g_mutex_unlock (&j->band_lock[b]);
    }
}

/* Per-pixel weights of frame f in image row y: Σ_t h_t W_{f,t} (separable Hann overlap-add),
 * times the cluster factor; 0 where the frame has no data. */
static void
weight_row (const AccJob *j, Scratch *sc, const float *wf, int cluster, guint index, const guint8 *restrict m,
            int y)
{
  const TsrTransform *T = &j->a->reg->frames[index].transform;
  double L = j->feather_f[index];
  const TsrAnalysis *a = j->a;
  int W = a->width;
  const Axis *cy = &j->ay[y];
  float *restrict rw = sc->rw, *restrict we = sc->we;
  /* blend the tile rows of this image row once */
  for (int i = 0; i < a->tiles_x; i++)
    {
      float r = 0;
      for (int b = 0; b < cy->n; b++)
        r += cy->h[b] * wf[(gsize) cy->idx[b] * a->tiles_x + i];
      rw[i] = r;
    }
  /* runs of columns under the same tiles: the same sums as per pixel, in the same order */
  for (int s = 0; s < j->n_xseg; s++)
    {
      const XSeg *g = &j->xseg[s];
      for (int x = g->x0; x < g->x1; x++)
        we[x] = 0;
      for (int q = 0; q < g->n; q++)
        {
          const float *restrict h = j->hx + (gsize) q * W;
          float r = rw[g->idx[q]];
          for (int x = g->x0; x < g->x1; x++)
            we[x] += h[x] * r;
        }
    }
  if (j->cluster_norm)
    for (int x = 0; x < W; x++)
      we[x] = we[x] * cluster_factor (j, cluster, x, y);
  if (L > 0)
    for (int x = 0; x < W; x++)
      we[x] *= feather_at (j, L, T, x, y);
  if (j->chan && j->cells)
    {
      /* a mosaic accumulated as it is: each pixel's weight in its own colour */
      const float *fc = j->chan + (gsize) index * 3;
      float f2[2] = { fc[tsr_cfa_color (a->cfa, 0, y)], fc[tsr_cfa_color (a->cfa, 1, y)] };
      for (int x = 0; x < W; x++)
        we[x] *= f2[x & 1];
    }
  mask_row (W, m, sc->mk);
  const guint32 *restrict mk = sc->mk;
  for (int x = 0; x < W; x++)
    we[x] = sel_f (mk[x], we[x], 0.0f);
}

/* Rejection of unit row ur: the list of rejected units (index in the row) and, winsorized,
 * the excess of each over its bound. */
static void
reject_row (const AccJob *j, Scratch *sc, const TsrImage *img, int ur, gboolean winsor)
{
  gsize urow = (gsize) j->unit_w;
  const float *uv;
  const guint8 *um;
  unit_row (j, j->raw_cells ? sc->cells : img, ur, sc->uv, sc->um, &uv, &um);
  const float *mu = j->mu + (gsize) ur * urow, *sigma = j->sigma + (gsize) ur * urow;
  double kappa = j->p->reject_kappa;
  outlier_flags (urow, uv, mu, sigma, kappa, sc->flag);
  /* the list of flagged, unmasked units: runs of 8 units without a flag are skipped
   * whole, the others listed without a branch per unit (too frequent to predict) */
  int n = 0;
  const guint32 *flag = sc->flag;
  guint32 *rej = sc->rej;
  gsize u = 0;
  for (; u + 8 <= urow; u += 8)
    {
      if (!(flag[u] | flag[u + 1] | flag[u + 2] | flag[u + 3] | flag[u + 4] | flag[u + 5] | flag[u + 6] | flag[u + 7]))
        continue;
      for (gsize v = u; v < u + 8; v++)
        {
          rej[n] = (guint32) v;
          n += flag[v] & (um[v] != 0);
        }
    }
  for (; u < urow; u++)
    {
      rej[n] = (guint32) u;
      n += flag[u] & (um[u] != 0);
    }
  if (winsor)
    for (int i = 0; i < n; i++)
      {
        guint32 u = rej[i];
        float s = sigma[u];
        float d = uv[u] - mu[u];
        sc->rej_corr[i] = d - CLAMP (d, -kappa * s, kappa * s);
      }
  sc->n_rej = n;
  sc->rej_row = ur;
}

/* The rejected samples of a frame in image row y (sc: the frame's scratch, its weights of the
 * row in sc->we; the rejection list of the unit row is computed on first use, from img's units
 * or the raw cells); m and d[0…C−1]: the frame's mask and channels in row y. */
static void
apply_rejections (AccJob *j, Scratch *sc, const TsrImage *img, const guint8 *m, const float *const *d, int C, int y,
                  gboolean winsor, guint index)
{
  /* the channels' weight factors where Σw is kept per channel (else 1: in the weight) */
  float fc[3] = { 1.0f, 1.0f, 1.0f };
  if (j->wch > 1)
    for (int c = 0; c < C; c++)
      fc[c] = j->chan[(gsize) index * 3 + c];
  int W = j->a->width;
  gsize npix = (gsize) W * j->a->height, k0 = (gsize) y * W;
  const float *e = sc->we;
  gboolean cells = j->cells || j->raw_cells;
  int ur = cells ? y / 2 : y;
  if (sc->rej_row != ur)
    reject_row (j, sc, img, ur, winsor);
  for (int i = 0; i < sc->n_rej; i++)
    {
      int cu = sc->rej[i];
      int xa = cells ? 2 * cu : cu, xb = cells ? MIN (2 * cu + 2, W) : cu + 1;
      gsize u = (gsize) ur * j->unit_w + cu;
      for (int x = xa; x < xb; x++)
        {
          if (!m[x])
            continue;
          gsize k = k0 + x;
          double ew = e[x];
          if (winsor)
            {
              /* winsorized: the sample moves to the bound instead of being dropped; in a
               * cell the excess of the sum is shared by its sites; a raw cell (R + 2G + B)
               * moves by 4 for a change common to the channels of its pixels */
              double corr = j->raw_cells ? sc->rej_corr[i] / 4.0
                            : j->cells   ? sc->rej_corr[i] / j->cell_sites[u]
                                         : sc->rej_corr[i] / C;
              for (int c = 0; c < C; c++)
                j->rej_wx[c * npix + k] += ew * fc[c] * corr;
            }
          else if (j->wch > 1)
            {
              j->n_rej[k]++;
              for (int c = 0; c < C; c++)
                {
                  double ewc = (float) (e[x] * fc[c]);
                  j->rej_w[c * npix + k] += ewc;
                  j->rej_wx[c * npix + k] += ewc * d[c][x];
                }
            }
          else
            {
              j->rej_w[k] += ew;
              j->n_rej[k]++;
              for (int c = 0; c < C; c++)
                j->rej_wx[c * npix + k] += ew * d[c][x];
            }
        }
    }
}

/* Adds nf (1 or 2) warped frames of the same channel count; sc[f] is frame f's scratch. */
static void
accumulate_warped (AccJob *j, Scratch **sc, const TsrImage **warped, const guint *index, int nf)
{
  const TsrAnalysis *a = j->a;
  int W = a->width, H = a->height, C = warped[0]->channels;
  gsize npix = (gsize) W * H;

  if (j->stats_pass)
    {
      add_statistics (j, sc, warped, index[0], nf);
      return;
    }

  /* rejection per unit (one unit row at a time, as the rows are reached); winsorized
   * keeps a per-unit correction */
  gboolean reject = j->p->reject != TSR_REJECT_NONE && j->mu;
  gboolean winsor = reject && j->p->reject == TSR_REJECT_WINSOR;
  for (int f = 0; f < nf; f++)
    {
      sc[f]->rej_row = -1;
      sc[f]->n_rej = 0;
    }

  /* The weight of a sample is the same in every channel: Σw is kept per pixel. Sums over
   * all samples, and separately what rejection takes away (rare: written only where a
   * sample is rejected); the kept sums are their difference. Masked pixels add exact
   * zeros to the dense sums, which leaves them unchanged. */
  for (int bi = 0; bi < N_BANDS; bi++)
    {
      int b = (bi + (int) index[0] * 5) % N_BANDS;
      g_mutex_lock (&j->band_lock[b]);
      for (int y = H * b / N_BANDS; y < H * (b + 1) / N_BANDS; y++)
        {
          gsize k0 = (gsize) y * W;
          for (int f = 0; f < nf; f++)
            weight_row (j, sc[f], j->w->w + (gsize) index[f] * a->n_tiles, j->w->cluster[index[f]], index[f],
                        warped[f]->mask + k0, y);
          if (j->wch > 1)
            for (int f = 0; f < nf; f++)
              {
                const float *fc = j->chan + (gsize) index[f] * 3;
                count_row (W, sc[f]->mk, j->n_all + k0);
                for (int c = 0; c < C; c++)
                  acc_row_cw (W, sc[f]->we, fc[c], sc[f]->mk, warped[f]->data + c * npix + k0,
                              j->all_w + c * npix + k0, j->all_wx + c * npix + k0, j->mean_x + c * npix + k0);
              }
          else if (nf == 2)
            {
              acc2_row_w (W, sc[0]->we, sc[0]->mk, sc[1]->we, sc[1]->mk, j->all_w + k0, j->n_all + k0);
              for (int c = 0; c < C; c++)
                acc2_row_c (W, sc[0]->we, sc[0]->mk, warped[0]->data + c * npix + k0, sc[1]->we, sc[1]->mk,
                            warped[1]->data + c * npix + k0, j->all_wx + c * npix + k0, j->mean_x + c * npix + k0);
            }
          else
            {
              acc_row_w (W, sc[0]->we, sc[0]->mk, j->all_w + k0, j->n_all + k0);
              for (int c = 0; c < C; c++)
                acc_row_c (W, sc[0]->we, sc[0]->mk, warped[0]->data + c * npix + k0, j->all_wx + c * npix + k0,
                           j->mean_x + c * npix + k0);
            }
          if (reject)
            for (int f = 0; f < nf; f++)
              {
                const float *d[3];
                for (int c = 0; c < C; c++)
                  d[c] = warped[f]->data + c * npix + k0;
                apply_rejections (j, sc[f], warped[f], warped[f]->mask + k0, d, C, y, winsor, index[f]);
              }
        }
      g_mutex_unlock (&j->band_lock[b]);
    }
}

/* A Bayer session's passes: frame index as the driver read it (img), else read here (then
 * *own holds it), normalised in its own geometry. NULL with error when it cannot be read. */
static TsrImage *
raw_frame_normalised (AccJob *j, guint index, TsrImage *img, TsrImage **own, GError **error)
{
  const TsrAnalysis *a = j->a;
  if (!img && !(img = *own = tsr_session_read_frame (a->reg->session, index, error)))
    return NULL;
  tsr_tbqr_normalise_frame (img, &a->frames[index], a, j->p->norm);
  return img;
}

/* Output rows per band of the accumulation of a Bayer session demosaiced frame by frame, at
 * most: each band comes from a strip of the demosaic, its rows plus a halo of 12–24 rows either
 * side (and the field rotation's skew), so taller bands spend less on halos, shorter ones less
 * memory. The frame's rows are split into equal bands of at most this many (1080 rows: three
 * of 360), each even (a band holds whole rows of rejection cells). */
#define ACC_BAND_ROWS 192

static int
acc_band_rows (int height)
{
  int nb = (height + ACC_BAND_ROWS - 1) / ACC_BAND_ROWS;
  int rows = (height + nb - 1) / nb;
  return rows + (rows & 1);
}

/* The accumulation pass of a Bayer session demosaiced frame by frame (raw cells): the frame
 * normalised, its rejection cells made from the raw samples, then demosaiced and warped band
 * by band (tsr_warp_demosaic_band) and each band added to the sums at once. No
 * frame-sized RGB image is held (a frame in flight takes the raw frame, its cells, a band and
 * the band's demosaic strip: about a third of a demosaiced and warped frame's working memory),
 * and a band is added while it is still in the cache. The values are those of demosaicing and
 * warping the whole frame (tests: /warp/demosaic-bands, /post/demosaic-rows). */
static gboolean
accumulate_frame_bands (guint index, const TsrFrameInfo *frame, TsrImage *img, gpointer user_data,
                        GCancellable *cancellable, GError **error)
{
  AccJob *j = user_data;
  const TsrAnalysis *a = j->a;
  const int W = a->width, H = a->height;
  const gsize npix = (gsize) W * H;
  const TsrTransform *T = &a->reg->frames[index].transform;
  g_autoptr (TsrImage) own = NULL;
  if (!(img = raw_frame_normalised (j, index, img, &own, error)))
    return FALSE;
  gboolean reject = j->p->reject != TSR_REJECT_NONE && j->mu;
  gboolean winsor = reject && j->p->reject == TSR_REJECT_WINSOR;
  Scratch *sc = scratch_get (j);
  g_clear_pointer (&sc->cells, tsr_image_unref);
  if (reject && !(sc->cells = tsr_drizzle_cell_luma (img, T, W, H, error)))
    {
      scratch_put (j, sc);
      return FALSE;
    }
  const int rows = acc_band_rows (H);
  if (!sc->band && !(sc->band = tsr_image_new_checked (W, MIN (H, rows), 3, _("the accumulation band"), error)))
    {
      scratch_put (j, sc);
      return FALSE;
    }
  sc->rej_row = -1;
  sc->n_rej = 0;
  TsrImage *band = sc->band;
  const gsize bn = tsr_image_npix (band);
  const float *wf = j->w->w + (gsize) index * a->n_tiles;
  int cluster = j->w->cluster[index];
  double level = j->p->demosaic == TSR_DEMOSAIC_RCD ? tsr_demosaic_rcd_level (img) : 0.0;
  int nb = (H + rows - 1) / rows;
  gboolean ok = TRUE;
  /* frames start at different bands, so workers seldom wait for the same rows */
  for (int bi = 0; bi < nb && ok; bi++)
    {
      int b = (bi + (int) (index % (guint) nb)) % nb;
      int y0 = b * rows, y1 = MIN (H, y0 + rows), r0, r1;
      tsr_warp_band_source (T, W, y0, y1, img->height, &r0, &r1);
      if (r1 - r0 < 2)
        continue; /* the frame reaches none of these rows: it adds nothing there */
      if (!tsr_warp_demosaic_band (img, j->p->demosaic, level, T, band, y0, y0, y1, j->p->reg.interp))
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE, _("%s: not enough memory to demosaic the frame"),
                       frame->path);
          ok = FALSE;
          break;
        }
      /* the band's rows into the sums, under the locks of the bands of rows they fall in */
      int lb = -1;
      for (int y = y0; y < y1; y++)
        {
          int want = lb < 0 ? 0 : lb;
          while (H * (want + 1) / N_BANDS <= y)
            want++;
          if (want != lb)
            {
              if (lb >= 0)
                g_mutex_unlock (&j->band_lock[lb]);
              lb = want;
              g_mutex_lock (&j->band_lock[lb]);
            }
          gsize k0 = (gsize) y * W, br = (gsize) (y - y0) * W;
          const guint8 *m = band->mask + br;
          const float *d[3] = { band->data + br, band->data + bn + br, band->data + 2 * bn + br };
          weight_row (j, sc, wf, cluster, index, m, y);
          if (j->wch > 1)
            {
              const float *fc = j->chan + (gsize) index * 3;
              count_row (W, sc->mk, j->n_all + k0);
              for (int c = 0; c < 3; c++)
                acc_row_cw (W, sc->we, fc[c], sc->mk, d[c], j->all_w + c * npix + k0, j->all_wx + c * npix + k0,
                            j->mean_x + c * npix + k0);
            }
          else
            {
              acc_row_w (W, sc->we, sc->mk, j->all_w + k0, j->n_all + k0);
              for (int c = 0; c < 3; c++)
                acc_row_c (W, sc->we, sc->mk, d[c], j->all_wx + c * npix + k0, j->mean_x + c * npix + k0);
            }
          if (reject)
            apply_rejections (j, sc, NULL, m, d, 3, y, winsor, index);
        }
      if (lb >= 0)
        g_mutex_unlock (&j->band_lock[lb]);
      ok = !g_cancellable_set_error_if_cancelled (cancellable, error);
    }
  g_clear_pointer (&sc->cells, tsr_image_unref);
  scratch_put (j, sc);
  return ok;
}

/* The statistics pass of a Bayer session (drizzled or demosaiced frame by frame): the frame
 * normalised, its cells' luminance in the reference grid added to the moments. */
static gboolean
raw_cells_stats_frame (guint index, const TsrFrameInfo *frame, TsrImage *img, gpointer user_data,
                     GCancellable *cancellable, GError **error)
{
  AccJob *j = user_data;
  const TsrAnalysis *a = j->a;
  g_autoptr (TsrImage) own = NULL;
  if (!(img = raw_frame_normalised (j, index, img, &own, error)))
    return FALSE;
  g_autoptr (TsrImage) cells = tsr_drizzle_cell_luma (img, &a->reg->frames[index].transform, a->width, a->height,
                                                      error);
  if (!cells)
    return FALSE;
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;
  Scratch *sc = scratch_get (j);
  const TsrImage *ci = cells;
  add_statistics (j, &sc, &ci, index, 1);
  scratch_put (j, sc);
  return TRUE;
}

/* The drizzle pass (drizzle chosen): the frame's per-pixel weights (feathered, cluster
 * factor) and its rejected samples in reference geometry — rejection tests the frame's
 * rejection units against the statistics pass: for a Bayer frame its raw cells
 * (tsr_drizzle_cell_luma), else its warped sample from the frame cache, as the pixel path
 * does — then its raw normalised samples dropped into the output grid. */
static gboolean
drizzle_frame (guint index, const TsrFrameInfo *frame, TsrImage *img, gpointer user_data, GCancellable *cancellable,
               GError **error)
{
  AccJob *j = user_data;
  const TsrAnalysis *a = j->a;
  int W = a->width, H = a->height;
  gsize npix = (gsize) W * H;
  const TsrTransform *T = &a->reg->frames[index].transform;
  g_autoptr (TsrImage) own = NULL;
  if (!img)
    {
      img = own = tsr_session_read_frame (a->reg->session, index, error);
      if (!img)
        return FALSE;
    }
  Scratch *sc = scratch_get (j);
  const TsrImage *warped = NULL;
  g_autoptr (TsrImage) own_warped = NULL;
  if (j->raw_cells)
    {
      /* the raw samples' own rejection units: the frame is normalised here, once */
      tsr_tbqr_normalise_frame (img, &a->frames[index], a, j->p->norm);
      if (j->mu && !(warped = own_warped = tsr_drizzle_cell_luma (img, T, W, H, error)))
        {
          scratch_put (j, sc);
          return FALSE;
        }
    }
  else if (j->mu)
    {
      if ((warped = tsr_frame_cache_peek (a->cache, j->p, j->demosaic_frames, index)))
        ;
      else if (tsr_frame_cache_read (a->cache, j->p, j->demosaic_frames, index, &sc->img))
        warped = sc->img;
      else
        {
          g_autoptr (TsrImage) cp = tsr_image_copy (img);
          warped = own_warped = tsr_tbqr_prepare_frame (a, j->p, j->demosaic_frames, TRUE, cp, index, T);
        }
      if (!warped)
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_FAILED, _("%s: cannot warp the frame"), frame->path);
          scratch_put (j, sc);
          return FALSE;
        }
    }
  float *we = g_try_new (float, npix);
  guint8 *rej = warped ? g_try_new0 (guint8, npix) : NULL;
  /* the weights' footprint: the warped frame's mask, or none (drops come only from the
   * frame's valid samples, so a weight outside its footprint is never read) */
  gboolean own_mask = warped && !j->raw_cells;
  guint8 *ones = own_mask ? NULL : g_malloc (W);
  if (!we || (warped && !rej))
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE, _("not enough memory for the accumulation images"));
      g_free (we), g_free (rej), g_free (ones);
      scratch_put (j, sc);
      return FALSE;
    }
  if (ones)
    memset (ones, 1, W);
  const float *wf = j->w->w + (gsize) index * a->n_tiles;
  for (int y = 0; y < H; y++)
    {
      weight_row (j, sc, wf, j->w->cluster[index], index, own_mask ? warped->mask + (gsize) y * W : ones, y);
      memcpy (we + (gsize) y * W, sc->we, sizeof (float) * W);
    }
  if (warped)
    {
      gsize urow = (gsize) j->unit_w, nrows = j->n_units / urow;
      gboolean cells = j->cells || j->raw_cells;
      for (gsize ur = 0; ur < nrows; ur++)
        {
          const float *uv;
          const guint8 *um;
          unit_row (j, warped, (int) ur, sc->uv, sc->um, &uv, &um);
          outlier_flags (urow, uv, j->mu + ur * urow, j->sigma + ur * urow, j->p->reject_kappa, sc->flag);
          for (gsize u = 0; u < urow; u++)
            {
              if (!sc->flag[u] || !um[u])
                continue;
              if (!cells)
                rej[ur * W + u] = 1;
              else
                for (int y = 2 * (int) ur; y < MIN (2 * (int) ur + 2, H); y++)
                  for (int x = 2 * (int) u; x < MIN (2 * (int) u + 2, W); x++)
                    rej[(gsize) y * W + x] = 1;
            }
        }
    }
  scratch_put (j, sc);
  gboolean ok = !g_cancellable_set_error_if_cancelled (cancellable, error);
  if (ok)
    {
      if (!j->raw_cells)
        tsr_tbqr_normalise_frame (img, &a->frames[index], a, j->p->norm);
      tsr_drizzle_add (j->dz, img, T, we, j->chan ? j->chan + (gsize) index * 3 : NULL, rej);
    }
  g_free (we);
  g_free (rej);
  g_free (ones);
  return ok;
}

/* D_k(p) = Σ_{f∈k} w_f(p)·coverage_f(p) on a coarse grid, from geometry only. */
static void
cluster_normalisation (AccJob *j)
{
  const TsrAnalysis *a = j->a;
  const TsrWeights *w = j->w;
  j->cg_step = 16;
  j->cg_w = (a->width - 1) / j->cg_step + 2;
  j->cg_h = (a->height - 1) / j->cg_step + 2;
  gsize g = (gsize) j->cg_w * j->cg_h;
  j->cluster_norm = g_new0 (float, g * w->n_clusters);
  for (guint f = 0; f < w->n_frames; f++)
    {
      int k = w->cluster[f];
      if (k < 0 || !w->used[f])
        continue;
      const float *wf = w->w + (gsize) f * a->n_tiles;
      float *d = j->cluster_norm + (gsize) k * g;
      for (int gy = 0; gy < j->cg_h; gy++)
        for (int gx = 0; gx < j->cg_w; gx++)
          {
            int x = MIN (gx * j->cg_step, a->width - 1), y = MIN (gy * j->cg_step, a->height - 1);
            double fx, fy;
            tsr_transform_apply (&a->reg->frames[f].transform, x, y, &fx, &fy);
            if (fx < 0 || fy < 0 || fx > a->width - 1 || fy > a->height - 1)
              continue;
            d[gy * j->cg_w + gx] += weight_at (j, wf, x, y)
                                    * (j->feather_f[f] > 0 ? feather_at (j, j->feather_f[f], &a->reg->frames[f].transform, x, y)
                                                           : 1.0f);
          }
    }
}

void
tsr_reconstruction_free (TsrReconstruction *r)
{
  if (!r)
    return;
  g_clear_pointer (&r->result, tsr_image_unref);
  g_clear_pointer (&r->mean, tsr_image_unref);
  g_clear_pointer (&r->coverage, tsr_image_unref);
  g_clear_pointer (&r->weight, tsr_image_unref);
  g_clear_pointer (&r->rejected, tsr_image_unref);
  g_free (r->drizzle_note);
  g_free (r);
}

static TsrImage *
finish_colour (TsrImage *mosaic)
{
  if (mosaic->cfa == TSR_CFA_NONE || mosaic->channels != 1)
    return mosaic;
  TsrImage *rgb = tsr_demosaic (mosaic);
  tsr_image_unref (mosaic);
  return rgb;
}

/* Range functions of the image-sized loops between and after the passes (run on every core
 * by tsr_parallel_range; each element is independent of the others). */
static void
extrema_init_range (gsize begin, gsize end, gpointer data)
{
  AccJob *j = data;
  for (gsize q = begin; q < end; q++)
    j->smax[q] = -INFINITY, j->smin[q] = INFINITY;
}

typedef struct
{
  AccJob *j;
  const double *trim_t, *tk_t;
  guint nmax;
} MomentsTask;

/* μ and σ of every rejection unit from the statistics pass's sums */
static void
moments_range (gsize begin, gsize end, gpointer data)
{
  const MomentsTask *t = data;
  AccJob *j = t->j;
  for (gsize q = begin; q < end; q++)
    {
      guint c = MIN (j->s0[q], t->nmax);
      double n0 = c, S1 = j->s1[q], S2 = j->s2[q];
      if (n0 >= 5)
        {
          /* trimmed: without the highest and the lowest sample */
          S1 -= (double) j->smax[q] + j->smin[q];
          S2 -= (double) j->smax[q] * j->smax[q] + (double) j->smin[q] * j->smin[q];
          n0 -= 2;
        }
      double m = n0 > 0 ? S1 / n0 : 0;
      double v = n0 > 1 ? (S2 - n0 * m * m) / (n0 - 1) : 0;
      j->mu[q] = m;
      j->sigma[q] = v > 0 ? sqrt (v) / t->trim_t[c] * t->tk_t[c] : 0;
    }
}

typedef struct
{
  const AccJob *j;
  TsrImage *res, *mean;
  TsrReconstruction *r;
  int C;
  gsize npix;
  double min_frac;
} FinishTask;

/* The result, the mean stack, coverage, weight and rejected fraction of pixels [begin, end) */
static void
finish_range (gsize begin, gsize end, gpointer data)
{
  const FinishTask *t = data;
  const AccJob *j = t->j;
  TsrImage *res = t->res, *mean = t->mean;
  TsrReconstruction *r = t->r;
  const int C = t->C;
  const gsize npix = t->npix;
  /* in place (tsr_tbqr_accumulate): res over all_wx, mean over mean_x, weight over all_w,
   * coverage over n_all, rejected over n_rej — each pixel's sums read before its values are
   * written */
  for (gsize k = begin; k < end; k++)
    {
      guint32 nt = j->n_all[k], na = nt - (j->n_rej ? j->n_rej[k] : 0);
      gboolean use_acc = na >= MAX (1.0, ceil (t->min_frac * nt));
      gboolean valid = nt > 0;
      res->mask[k] = mean->mask[k] = r->coverage->mask[k] = r->weight->mask[k] = valid;
      r->rejected->mask[k] = 1;
      r->coverage->data[k] = use_acc ? na : nt;
      r->rejected->data[k] = nt ? 1.0f - (float) (use_acc ? na : nt) / nt : 0;
      double wsum = 0;
      for (int c = 0; c < C; c++)
        {
          gsize q = c * npix + k;
          gsize qw = j->wch > 1 ? q : k; /* Σw per channel, or one per pixel */
          double W0 = use_acc && j->rej_w ? j->all_w[qw] - j->rej_w[qw] : j->all_w[qw];
          double W1 = use_acc && j->rej_wx ? j->all_wx[q] - j->rej_wx[q] : j->all_wx[q];
          res->data[q] = valid && W0 > 0 ? W1 / W0 : (valid ? j->mean_x[q] / nt : 0);
          mean->data[q] = valid ? j->mean_x[q] / nt : 0;
          wsum += W0;
          if (j->wch > 1)
            r->weight->data[q] = W0;
        }
      if (j->wch == 1)
        r->weight->data[k] = wsum / C;
    }
}

TsrReconstruction *
tsr_tbqr_accumulate (TsrAnalysis *a, TsrWeights *w, const TsrTbqrParams *p, const TsrRunParams *run, TsrProgressFunc progress,
                     gpointer progress_data, GCancellable *cancellable, GError **error)
{
  TsrSession *s = a->reg->session;
  guint n = a->reg->n_frames;
  GArray *idx = g_array_new (FALSE, FALSE, sizeof (guint));
  for (guint f = 0; f < n; f++)
    if (w->used[f])
      g_array_append_val (idx, f);
  if (idx->len == 0)
    {
      g_array_unref (idx);
      g_set_error (error, TSR_ERROR, TSR_ERROR_NO_VALID, _("every frame was gated: nothing to reconstruct"));
      return NULL;
    }
  /* Bayer drizzle or demosaic (drizzle.mode; auto looks at the frame count and the dither) */
  g_autofree char *dz_note = NULL;
  gboolean dz = tsr_tbqr_drizzle_choose (a, w, p, &dz_note);
  /* the memory plan (the analysis was planned with the same budget; the caller may have
   * changed the parameters since): refused before anything is allocated */
  TsrTbqrMemory mem;
  if (!tsr_tbqr_memory_plan (a->width, a->height, a->channels, a->cfa, idx->len, p, run, &mem, error)
      || !tsr_tbqr_memory_hold (&mem, tsr_session_filter_bytes (a->reg->session), run, error))
    {
      g_array_unref (idx);
      return NULL;
    }
  /* the frames in flight share what the sums and the cache the analysis made leave */
  gsize cache_ram = tsr_frame_cache_ram_budget (a->cache);
  gsize acc_budget = mem.budget > TSR_TBQR_MEMORY_OVERHEAD + mem.sums + cache_ram
                       ? mem.budget - TSR_TBQR_MEMORY_OVERHEAD - mem.sums - cache_ram
                       : 0;
  acc_budget = MAX (acc_budget, mem.per_frame);
  gsize npix = (gsize) a->width * a->height;
  AccJob j = { 0 };
  j.a = a;
  j.w = w;
  j.p = p;
  j.demosaic_frames = a->cfa != TSR_CFA_NONE && a->channels == 1 && p->color_method == TSR_COLOR_DEMOSAIC_FRAMES;
  j.channels = j.demosaic_frames ? 3 : a->channels;
  j.feather_len = p->local_feather * a->tile_size;
  /* each frame's ramp grows with the excess of its share s of the summed weights over an
   * equal share s0 = 1 / (frames used): 0 at s ≤ s0, the whole ramp from s = s0 + 0.15 on.
   * The noise step at the edge of a frame that carries no more than an equal share is the
   * plain mean stack's own coverage step (√(n/(n−1)) for one of n), so fading it out would
   * only spend noise (seestar-m94-s3, 11 frames of equal weight: noise ratio vs the mean
   * 1.046 → 1.065 with a ramp ∝ share); a frame that carries more makes a seam of its own
   * (NGC 7023's two 20 s frames, a third each against s0 = 1/6: the whole ramp). */
  j.feather_f = g_new0 (double, n);
  {
    double tot = 0;
    guint n_used = 0;
    for (guint f = 0; f < n; f++)
      if (w->used[f])
        {
          n_used++;
          for (guint t = 0; t < a->n_tiles; t++)
            tot += w->w[(gsize) f * a->n_tiles + t];
        }
    const double s0 = n_used > 0 ? 1.0 / n_used : 1.0;
    for (guint f = 0; f < n && tot > 0; f++)
      {
        double mf = 0;
        if (w->used[f])
          for (guint t = 0; t < a->n_tiles; t++)
            mf += w->w[(gsize) f * a->n_tiles + t];
        j.feather_f[f] = j.feather_len * CLAMP ((mf / tot - s0) / 0.15, 0.0, 1.0);
      }
  }
  int C = j.channels;
  gsize nval = npix * C;
  j.chan = w->chan;
  j.wch = j.chan && C == 3 && !dz ? 3 : 1;
  j.cells = a->cfa != TSR_CFA_NONE && C == 1;
  /* a Bayer session drizzled or demosaiced frame by frame: rejection units from the raw cells
   * (the analysis made no frame cache for it: tsr_tbqr_raw_cells) */
  j.raw_cells = a->cfa != TSR_CFA_NONE && a->channels == 1 && (dz || j.demosaic_frames);
  if (j.raw_cells)
    {
      j.cells = FALSE;
      j.cell_w = (a->width + 1) / 2;
      j.cell_h = (a->height + 1) / 2;
      j.n_units = (gsize) j.cell_w * j.cell_h;
      j.unit_channels = 1;
      j.unit_w = j.cell_w;
    }
  else if (j.cells)
    {
      j.cell_w = (a->width + 1) / 2;
      j.cell_h = (a->height + 1) / 2;
      j.n_units = (gsize) j.cell_w * j.cell_h;
      j.unit_channels = 1;
      j.cell_sites = g_new (guint8, j.n_units);
      for (int cy = 0; cy < j.cell_h; cy++)
        for (int cx = 0; cx < j.cell_w; cx++)
          j.cell_sites[(gsize) cy * j.cell_w + cx] = (MIN (2 * cx + 2, a->width) - 2 * cx) * (MIN (2 * cy + 2, a->height) - 2 * cy);
      j.unit_w = j.cell_w;
    }
  else
    {
      j.n_units = npix;
      j.unit_channels = 1;
      j.unit_w = a->width;
    }
  gsize nstat = j.n_units * j.unit_channels;
  j.ax = make_axis (a, TRUE);
  j.ay = make_axis (a, FALSE);
  j.xseg = g_new (XSeg, a->width);
  j.hx = g_new0 (float, (gsize) MAXW * a->width);
  for (int x = 0; x < a->width; x++)
    {
      const Axis *cx = &j.ax[x];
      for (int q = 0; q < cx->n; q++)
        j.hx[(gsize) q * a->width + x] = cx->h[q];
      XSeg *g = j.n_xseg ? &j.xseg[j.n_xseg - 1] : NULL;
      if (g && g->n == cx->n && memcmp (g->idx, cx->idx, sizeof (int) * cx->n) == 0)
        g->x1 = x + 1;
      else
        {
          g = &j.xseg[j.n_xseg++];
          g->x0 = x, g->x1 = x + 1, g->n = cx->n;
          memcpy (g->idx, cx->idx, sizeof g->idx);
        }
    }
  for (int b = 0; b < N_BANDS; b++)
    g_mutex_init (&j.band_lock[b]);
  g_mutex_init (&j.pool_lock);
  g_mutex_init (&j.park_lock);
  if (w->n_clusters > 0)
    cluster_normalisation (&j);

  TsrMapOptions opt;
  tsr_map_options_init (&opt, NULL);
  opt.indices = (const guint *) idx->data;
  opt.n_indices = idx->len;
  opt.n_threads = run->n_threads;
  opt.memory_budget = acc_budget;
  /* the statistics of raw cells read frames as they are; the accumulation demosaics them */
  opt.bytes_per_frame_factor = tsr_tbqr_accumulate_frame_factor (j.demosaic_frames && !j.raw_cells, FALSE);
  if (a->cache && !j.raw_cells)
    opt.read_pixels = FALSE; /* the hook reads cached frames, or the frame when not cached */
  gboolean ok = TRUE;
  if (p->reject != TSR_REJECT_NONE && idx->len >= 3)
    {
      j.stats_pass = TRUE;
      j.s0 = dense_zeroed (nstat, sizeof (guint32), run->n_threads);
      j.s1 = dense_zeroed (nstat, sizeof (double), run->n_threads);
      j.s2 = dense_zeroed (nstat, sizeof (double), run->n_threads);
      j.smax = g_try_new (float, nstat);
      j.smin = g_try_new (float, nstat);
      if (j.smax && j.smin)
        tsr_parallel_range (nstat, run->n_threads, (gsize) 1 << 16, extrema_init_range, &j);
      opt.phase = _("Rejection statistics");
      ok = j.s0 && j.s1 && j.s2 && j.smax && j.smin
           && tsr_frames_map (s, &opt, j.raw_cells ? raw_cells_stats_frame : accumulate_frame, &j, progress,
                              progress_data, cancellable, error);
      flush_parked (&j, ok);
      /* this pass parks a frame (threads + 1 scratch images); drizzle's pass needs one per
       * worker, and the sums are about to be allocated: the pool starts again */
      g_slist_free_full (g_steal_pointer (&j.pool), scratch_free);
      if (ok)
        {
          j.mu = g_new (float, nstat);
          j.sigma = g_new (float, nstat);
          /* the σ corrections depend on the sample count only (at most one sample per
           * frame): tabulated once per count */
          guint nmax = idx->len;
          double *trim_t = g_new (double, nmax + 1), *tk_t = g_new (double, nmax + 1);
          for (guint c = 0; c <= nmax; c++)
            {
              double n0 = c;
              /* the trimmed σ of a few samples is well below σ (0.75 σ for 11 frames):
               * without the correction κ = 3 acts as κ ≈ 2.2 and clips ~3 % of good
               * samples, which costs noise and star cores */
              trim_t[c] = n0 >= 5 ? tsr_trimmed_sd_factor (c) : 1.0;
              if (n0 >= 5)
                n0 -= 2;
              /* … and a σ from n0 samples scatters: the threshold is the Student-t one of
               * the same tail probability (κ = 3: ×1.43 for 11 frames, ×1.04 for 200),
               * folded into σ so the tests stay κ·σ */
              tk_t[c] = tsr_student_kappa (p->reject_kappa, n0 - 1) / p->reject_kappa;
            }
          MomentsTask mt = { &j, trim_t, tk_t, nmax };
          tsr_parallel_range (nstat, run->n_threads, (gsize) 1 << 16, moments_range, &mt);
          g_free (trim_t);
          g_free (tk_t);
        }
      g_free (j.s0), g_free (j.s1), g_free (j.s2), g_free (j.smax), g_free (j.smin);
      j.s0 = NULL;
      j.s1 = j.s2 = NULL;
      j.smax = j.smin = NULL;
      j.stats_pass = FALSE;
    }
  if (ok)
    {
      /* what rejection takes away: scattered single samples reach nearly every page of
       * these, so they are zeroed up front like the other sums (a first += on calloc's
       * shared zero page costs a read fault, then a copy-on-write fault and a TLB
       * shootdown). Winsorized rejection keeps every sample (only Σw·x changes), and
       * without rejection none is needed: absent sums count as zero. */
      gboolean rej_ok = TRUE;
      /* (drizzle keeps its own rejected sum per output pixel: these are the pixel path's) */
      if (j.mu && !dz)
        {
          j.rej_wx = dense_zeroed (nval, sizeof (float), run->n_threads);
          rej_ok = j.rej_wx != NULL;
          if (p->reject != TSR_REJECT_WINSOR)
            {
              j.rej_w = dense_zeroed (npix * j.wch, sizeof (float), run->n_threads);
              j.n_rej = dense_zeroed (npix, sizeof (guint32), run->n_threads);
              rej_ok = rej_ok && j.rej_w && j.n_rej;
            }
        }
      if (dz)
        {
          /* drizzle: its own sums at the output scale, one pass dropping raw samples */
          TsrTbqrParams pp = *p;
          j.p = &pp;
          j.dz = tsr_drizzle_new (a, p->drizzle_scale, p->drizzle_pixfrac, error);
          opt.phase = _("Drizzling");
          ok = j.dz && tsr_frames_map (s, &opt, drizzle_frame, &j, progress, progress_data, cancellable, error);
          j.p = p;
        }
      else
        {
      j.all_w = dense_zeroed (npix * j.wch, sizeof (float), run->n_threads);
      j.all_wx = dense_zeroed (nval, sizeof (float), run->n_threads);
      j.mean_x = dense_zeroed (nval, sizeof (float), run->n_threads);
      j.n_all = dense_zeroed (npix, sizeof (guint32), run->n_threads);
      if (!rej_ok || !j.all_w || !j.all_wx || !j.mean_x || !j.n_all)
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE, _("not enough memory for the accumulation images"));
          ok = FALSE;
        }
      opt.phase = _("Accumulating");
      if (ok)
        {
          TsrTbqrParams pp = *p;
          if (!j.mu)
            pp.reject = TSR_REJECT_NONE;
          j.p = &pp;
          opt.bytes_per_frame_factor = tsr_tbqr_accumulate_frame_factor (j.demosaic_frames, j.raw_cells);
          ok = tsr_frames_map (s, &opt, j.raw_cells ? accumulate_frame_bands : accumulate_frame, &j, progress,
                               progress_data, cancellable, error);
          flush_parked (&j, ok);
          j.p = p;
        }
        }
    }
  /* the passes are over: the workers' scratch images (a warped frame each, up to threads + 1
   * with a parked frame: ~33 MB apiece at 1080 × 1920 RGB) are freed before the finish
   * allocates its images beside the sums (the finish was the run's peak) */
  g_slist_free_full (g_steal_pointer (&j.pool), scratch_free);
  TsrReconstruction *r = NULL;
  if (ok)
    {
      r = g_new0 (TsrReconstruction, 1);
      r->scale = 1;
      r->drizzled = dz;
      r->drizzle_note = g_steal_pointer (&dz_note);
      TsrImage *res, *mean;
      if (dz)
        {
          tsr_drizzle_finish (j.dz, &res, &mean, &r->weight, &r->coverage, &r->rejected, &r->drizzle_holes);
          r->scale = CLAMP (p->drizzle_scale, 1, 2);
          res->cfa = mean->cfa = TSR_CFA_NONE;
          g_clear_pointer (&j.dz, tsr_drizzle_free);
        }
      else
        {
      /* every sample and mask of these is written by finish_range. Each is written where
       * the sum it comes from was (the result over Σw·x, the mean stack over Σx, the weight
       * over Σw, coverage and rejected fraction over the counts, floats as wide as their
       * u32): finish_range reads a pixel's sums before it writes that pixel's values, and
       * the finish's peak is the sums alone instead of the sums and five images more (M94:
       * 218 → ~190 MiB at the end of a run). The sums not taken are freed below. */
      G_STATIC_ASSERT (sizeof (guint32) == sizeof (float));
      res = tsr_image_new_take (a->width, a->height, C, j.all_wx);
      mean = tsr_image_new_take (a->width, a->height, C, j.mean_x);
      r->coverage = tsr_image_new_take (a->width, a->height, 1, (float *) j.n_all);
      r->weight = tsr_image_new_take (a->width, a->height, j.wch, j.all_w);
      r->rejected = j.n_rej ? tsr_image_new_take (a->width, a->height, 1, (float *) j.n_rej)
                            : tsr_image_new_uninit (a->width, a->height, 1);
      g_assert (res && mean && r->coverage && r->weight && r->rejected); /* masks of a few MB */
      FinishTask ft = { &j, res, mean, r, C, npix, p->reject_min_fraction };
      tsr_parallel_range (npix, run->n_threads, (gsize) 1 << 16, finish_range, &ft);
      /* now owned by the images */
      j.all_wx = j.mean_x = j.all_w = NULL;
      j.n_all = j.n_rej = NULL;
      res->cfa = mean->cfa = j.demosaic_frames ? TSR_CFA_NONE : a->cfa;
        }
      /* the sums are done with: freed before the colour and the validation allocate (the
       * memory plan counts them apart) */
      g_clear_pointer (&j.mu, g_free);
      g_clear_pointer (&j.sigma, g_free);
      g_clear_pointer (&j.rej_w, g_free);
      g_clear_pointer (&j.rej_wx, g_free);
      g_clear_pointer (&j.all_w, g_free);
      g_clear_pointer (&j.all_wx, g_free);
      g_clear_pointer (&j.mean_x, g_free);
      g_clear_pointer (&j.n_rej, g_free);
      g_clear_pointer (&j.n_all, g_free);
      /* header: the reference frame's, plus NCOMBINE and the processing history */
      TsrFitsInfo info;
      TsrHeader *h = NULL;
      if (tsr_frame_read_info (tsr_session_frame (s, a->reg->reference)->path, &info, &h, NULL))
        {
          tsr_fits_info_clear (&info);
          tsr_header_free (res->header);
          res->header = h;
          tsr_header_free (mean->header);
          mean->header = tsr_header_copy (h);
        }
      tsr_header_set_int (res->header, "NCOMBINE", idx->len, "frames combined");
      tsr_header_set_int (mean->header, "NCOMBINE", idx->len, "frames combined");
      /* global.per_channel as applied: T only where the channels had weights of their own
       * (a colour session with global.ivw on) */
      tsr_header_set_bool (res->header, "TSRCHANW", w->chan != NULL, "per-channel frame weights (global.per_channel)");
      g_autofree char *ph = tsr_tbqr_params_history (p, run);
      g_autofree char *h1 = g_strdup_printf (
          "Tessera TBQR: reference=%u frames=%u used=%u tile=%d step=%d fwhm=%.3f clusters=%d",
          a->reg->reference, n, idx->len, a->tile_size, a->tile_step, a->session_fwhm, w->n_clusters);
      tsr_session_add_history (s, res->header);
      tsr_session_add_history (s, mean->header);
      tsr_header_add_history (res->header, h1);
      tsr_header_add_history (res->header, ph);
      tsr_header_add_history (mean->header, "Tessera mean stack of the same registered, normalised frames (validation baseline)");
      tsr_header_add_history (mean->header, ph);
      r->result = finish_colour (res);
      r->mean = finish_colour (mean);
      if (dz)
        {
          g_autofree char *how = g_strdup_printf (
              "Tessera Bayer drizzle: scale=%d pixfrac=%.3f, raw CFA samples dropped into their own colour plane, "
              "no demosaic; %" G_GSIZE_FORMAT " output values filled from neighbours", r->scale, p->drizzle_pixfrac,
              r->drizzle_holes);
          tsr_header_add_history (r->result->header, how);
          tsr_header_add_history (r->mean->header, how);
        }
      else if (a->cfa != TSR_CFA_NONE)
        {
          /* each frame's demosaic is norm.demosaic's (tsr_tbqr_prepare_frame) */
          const char *how = !j.demosaic_frames ? "Tessera demosaic: Malvar-He-Cutler, once after accumulation"
                            : p->demosaic == TSR_DEMOSAIC_RCD
                                ? "Tessera demosaic: RCD-class (edge-directed, flux-conserving), each frame before accumulation"
                                : "Tessera demosaic: Malvar-He-Cutler, each frame before accumulation";
          tsr_header_add_history (r->result->header, how);
          tsr_header_add_history (r->mean->header, how);
        }
      tsr_tbqr_validate (r->result, r->mean, a, p, &r->validation);
    }
  g_free (j.ax);
  g_free (j.ay);
  g_free (j.xseg);
  g_free (j.hx);
  g_free (j.cluster_norm);
  g_free (j.cell_sites);
  g_free (j.feather_f);
  g_free (j.mu);
  g_free (j.sigma);
  g_free (j.rej_w);
  g_free (j.rej_wx);
  g_free (j.all_w);
  g_free (j.all_wx);
  g_free (j.mean_x);
  g_free (j.n_rej);
  g_slist_free_full (j.pool, scratch_free);
  g_mutex_clear (&j.pool_lock);
  g_mutex_clear (&j.park_lock);
  g_free (j.n_all);
  tsr_drizzle_free (j.dz);
  for (int b = 0; b < N_BANDS; b++)
    g_mutex_clear (&j.band_lock[b]);
  g_array_unref (idx);
  return r;
}
