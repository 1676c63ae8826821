/* tsr-tbqr-accumulate.c — the accumulate pass of TBQR: warp, normalise, smooth per-pixel
 * weight field, weighted rejection, weighted mean, the plain mean stack of the same frames,
 * validation against it, and the diagnostics JSON. See docs/tbqr.md. */
#include "tsr-tbqr.h"
#include "tsr-error.h"
#include "tsr-fits.h"
#include "tsr-frames.h"
#include "tsr-json.h"
#include "tsr-stats.h"
#include "tsr-tbqr-private.h"

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
  const TsrParams *p;
  Axis *ax, *ay;
  XSeg *xseg;                 /* the columns as runs under the same tiles … */
  int n_xseg;
  float *hx;                  /* … and their Hann weights by slot: hx[q·width + x] = ax[x].h[q] */
  float *cluster_norm;    /* per cluster, coarse grid of D_k (NULL when clusters off) */
  int cg_w, cg_h, cg_step;
  gboolean stats_pass;
  gboolean demosaic_frames;   /* Bayer: demosaic each normalised frame before the warp */
  int channels;               /* channels accumulated (3 when demosaicing frames) */
  /* rejection units: pixels (per channel), or 2×2 cells of a CFA mosaic (their sum) */
  gboolean cells;
  int cell_w, cell_h;
  guint8 *cell_sites;         /* sites of each cell inside the image (4 but at odd edges) */
  gsize n_units;
  int unit_channels;
  /* statistics pass: unweighted sums plus each pixel's extreme samples, so the
   * rejection statistics exclude the one sample most likely to be a trail */
  guint32 *s0;
  double *s1, *s2;
  float *smax, *smin;
  /* final pass */
  float *mu, *sigma;
  double *rej_w, *rej_wx, *all_w, *all_wx, *mean_x;
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
} AccJob;

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

/* Normalise in frame geometry: subtract the frame's background plane per colour, divide
 * by the photometric scale, add the reference's background level back. */
static void
normalise_frame (TsrImage *img, const TsrFrameMetrics *fm, const TsrAnalysis *a, TsrNormMode mode)
{
  if (mode == TSR_NORM_NONE)
    return;
  int w = img->width, h = img->height;
  for (int c = 0; c < img->channels; c++)
    {
      float *pl = tsr_image_plane (img, c);
      for (int y = 0; y < h; y++)
        {
          /* the colour of a site repeats every two columns: looked up once per row */
          int rowcol[2];
          for (int x = 0; x < 2; x++)
            rowcol[x] = img->channels == 3 ? c : (img->cfa != TSR_CFA_NONE ? tsr_cfa_color (img->cfa, x, y) : 0);
          for (int x = 0; x < w; x++)
            {
              int col = rowcol[x & 1];
              const double *pp = fm->plane[col];
              double bg = pp[0] + pp[1] * x + pp[2] * y;
              gsize k = (gsize) y * w + x;
              if (mode == TSR_NORM_DIVIDE_BACKGROUND)
                pl[k] = bg > 1e-6 ? pl[k] / bg * a->ref_plane[col] : pl[k];
              else
                pl[k] = (pl[k] - bg) / fm->color_scale[col] + a->ref_plane[col];
            }
        }
    }
}

/* Normalise in frame geometry, demosaic (norm.color_method=demosaic-frames) and warp into
 * the reference geometry. With sum_only, demosaiced frames come back as one plane R + G + B
 * (all the rejection statistics need: the warp is linear). img is normalised in place. */
static TsrImage *
warp_frame (const TsrAnalysis *a, const TsrParams *p, gboolean demosaic_frames, gboolean sum_only,
            TsrImage *img, guint index, const TsrTransform *T)
{
  normalise_frame (img, &a->frames[index], a, p->norm);
  if (demosaic_frames && img->channels == 1 && img->cfa != TSR_CFA_NONE)
    {
      g_autoptr (TsrImage) rgb = tsr_demosaic (img);
      if (!rgb)
        return NULL;
      if (sum_only)
        {
          gsize n = tsr_image_npix (rgb);
          g_autoptr (TsrImage) sum = tsr_image_new (rgb->width, rgb->height, 1);
          memcpy (sum->mask, rgb->mask, n);
          for (gsize k = 0; k < n; k++)
            sum->data[k] = rgb->data[k] + rgb->data[n + k] + rgb->data[2 * n + k];
          return tsr_warp (sum, T, a->width, a->height, TSR_CFA_NONE, p->reg.interp);
        }
      return tsr_warp (rgb, T, a->width, a->height, TSR_CFA_NONE, p->reg.interp);
    }
  return tsr_warp (img, T, a->width, a->height, a->cfa, p->reg.interp);
}

/* ---------------------------------------------------------------------------------------
 * Frame cache (tsr-tbqr-private.h).
 */

struct _TsrFrameCache
{
  int fd;                 /* unlinked temporary file: frame i at offset i·frame_bytes */
  int width, height, channels;
  gboolean demosaic_frames;
  TsrNormMode norm;
  TsrInterp interp;
  gsize frame_bytes;
  guint n_frames;
  gint *stored;           /* per frame, atomic: 1 = written completely to the file,
                             2 = held in memory (ram[i]) */
  /* memory tier: the first frames to arrive, up to ram_budget bytes, are kept as the warped
   * images themselves (no copy into the page cache and back) */
  TsrImage **ram;
  gsize ram_budget, ram_used;
  GMutex lock;
};

#ifdef G_OS_UNIX
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <unistd.h>

/* Free bytes for the cache in dir; 0 when dir is memory-backed (tmpfs would hold the
 * cache in RAM and defeat the memory bound). */
static guint64
cache_space (const char *dir)
{
  struct statfs fs;
  if (statfs (dir, &fs) == 0 && (fs.f_type == 0x01021994 /* TMPFS_MAGIC */ || fs.f_type == 0x858458f6 /* RAMFS */))
    return 0;
  struct statvfs v;
  if (statvfs (dir, &v) != 0)
    return 0;
  return (guint64) v.f_bavail * v.f_frsize;
}

TsrFrameCache *
tsr_frame_cache_new (const TsrAnalysis *a, const TsrParams *p, guint n_frames)
{
  if (!p->frame_cache || n_frames == 0)
    return NULL;
  gboolean demosaic = a->cfa != TSR_CFA_NONE && a->channels == 1 && p->color_method == TSR_COLOR_DEMOSAIC_FRAMES;
  int C = demosaic ? 3 : a->channels;
  gsize npix = (gsize) a->width * a->height;
  gsize frame_bytes = npix * C * sizeof (float) + npix;
  guint64 need = (guint64) frame_bytes * n_frames;
  /* the temporary folder, else /var/tmp when that is memory-backed; keep a reserve of
   * 1 GiB and half the free space for everything else */
  /* run.cache_memory_mb of frames in memory: a bound independent of the frame count, so
   * peak memory still does not grow with the session */
  gsize ram_budget = (gsize) (p->cache_memory_mb * 1024 * 1024);
  if (ram_budget < frame_bytes)
    ram_budget = 0;
  int fd = -1;
  const char *dirs[] = { g_get_tmp_dir (), "/var/tmp" };
  for (guint d = 0; d < G_N_ELEMENTS (dirs) && fd < 0 && need > ram_budget; d++)
    {
      guint64 avail = cache_space (dirs[d]);
      if (avail < ((guint64) 1 << 30) || need > (avail - ((guint64) 1 << 30)) / 2)
        continue;
      g_autofree char *tmpl = g_build_filename (dirs[d], "tessera-cache-XXXXXX", NULL);
      fd = g_mkstemp_full (tmpl, O_RDWR, 0600);
      if (fd >= 0)
        g_unlink (tmpl); /* only the descriptor keeps it: freed on close, even on a crash */
    }
  if (fd < 0 && ram_budget == 0)
    return NULL;
  TsrFrameCache *c = g_new0 (TsrFrameCache, 1);
  c->fd = fd;
  c->width = a->width;
  c->height = a->height;
  c->channels = C;
  c->demosaic_frames = demosaic;
  c->norm = p->norm;
  c->interp = p->reg.interp;
  c->frame_bytes = frame_bytes;
  c->n_frames = n_frames;
  c->stored = g_new0 (gint, n_frames);
  c->ram = g_new0 (TsrImage *, n_frames);
  c->ram_budget = ram_budget;
  g_mutex_init (&c->lock);
  return c;
}

void
tsr_frame_cache_free (TsrFrameCache *c)
{
  if (!c)
    return;
  if (c->fd >= 0)
    close (c->fd);
  for (guint i = 0; i < c->n_frames; i++)
    if (c->ram[i])
      tsr_image_unref (c->ram[i]);
  g_free (c->ram);
  g_mutex_clear (&c->lock);
  g_free (c->stored);
  g_free (c);
}

static gboolean
full_io (int fd, gboolean write_, void *buf, gsize len, guint64 off)
{
  char *b = buf;
  while (len > 0)
    {
      gssize r = write_ ? pwrite (fd, b, MIN (len, (gsize) 1 << 30), (off_t) off)
                        : pread (fd, b, MIN (len, (gsize) 1 << 30), (off_t) off);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        return FALSE;
      b += r, len -= r, off += r;
    }
  return TRUE;
}

gboolean
tsr_frame_cache_put_frame (TsrFrameCache *c, const TsrAnalysis *a, const TsrParams *p, const TsrImage *img,
                           guint index, const TsrTransform *T, GError **error)
{
  if (!c || index >= c->n_frames)
    return TRUE;
  g_autoptr (TsrImage) copy = tsr_image_copy (img);
  g_autoptr (TsrImage) warped = warp_frame (a, p, c->demosaic_frames, FALSE, copy, index, T);
  if (!warped || warped->channels != c->channels)
    return TRUE; /* not cached: accumulate reads and warps this frame itself */
  g_mutex_lock (&c->lock);
  gboolean to_ram = c->ram_used + c->frame_bytes <= c->ram_budget;
  if (to_ram)
    c->ram_used += c->frame_bytes;
  g_mutex_unlock (&c->lock);
  if (to_ram)
    {
      c->ram[index] = g_steal_pointer (&warped);
      g_atomic_int_set (&c->stored[index], 2);
      return TRUE;
    }
  if (c->fd < 0)
    return TRUE; /* memory tier full and no file: accumulate warps this frame itself */
  gsize npix = (gsize) c->width * c->height;
  guint64 off = (guint64) index * c->frame_bytes;
  /* a failed write (disk full) only leaves the frame uncached */
  if (full_io (c->fd, TRUE, warped->data, npix * c->channels * sizeof (float), off)
      && full_io (c->fd, TRUE, warped->mask, npix, off + npix * c->channels * sizeof (float)))
    g_atomic_int_set (&c->stored[index], 1);
  return TRUE;
}

void
tsr_frame_cache_counts (TsrFrameCache *c, guint *in_memory, guint *in_file)
{
  *in_memory = *in_file = 0;
  for (guint i = 0; c && i < c->n_frames; i++)
    {
      gint st = g_atomic_int_get (&c->stored[i]);
      *in_memory += st == 2;
      *in_file += st == 1;
    }
}

static gboolean
cache_serves (const TsrFrameCache *c, const TsrParams *p, gboolean demosaic_frames, guint index)
{
  return c && index < c->n_frames && g_atomic_int_get (&c->stored[index]) && c->norm == p->norm
         && c->interp == p->reg.interp && c->demosaic_frames == demosaic_frames;
}

const TsrImage *
tsr_frame_cache_peek (TsrFrameCache *c, const TsrParams *p, gboolean demosaic_frames, guint index)
{
  if (!cache_serves (c, p, demosaic_frames, index) || g_atomic_int_get (&c->stored[index]) != 2)
    return NULL;
  return c->ram[index];
}

gboolean
tsr_frame_cache_read (TsrFrameCache *c, const TsrParams *p, gboolean demosaic_frames, guint index, TsrImage **img)
{
  if (!cache_serves (c, p, demosaic_frames, index))
    return FALSE;
  gsize npix = (gsize) c->width * c->height;
  if (!*img)
    *img = tsr_image_new_uninit (c->width, c->height, c->channels); /* filled below, or unused */
  if (g_atomic_int_get (&c->stored[index]) == 2)
    {
      const TsrImage *m = c->ram[index];
      memcpy ((*img)->data, m->data, npix * c->channels * sizeof (float));
      memcpy ((*img)->mask, m->mask, npix);
      return TRUE;
    }
  guint64 off = (guint64) index * c->frame_bytes;
  /* a failed read: the caller reads the frame instead */
  return full_io (c->fd, FALSE, (*img)->data, npix * c->channels * sizeof (float), off)
         && full_io (c->fd, FALSE, (*img)->mask, npix, off + npix * c->channels * sizeof (float));
}
#else
void
tsr_frame_cache_counts (TsrFrameCache *c, guint *in_memory, guint *in_file)
{
  *in_memory = *in_file = 0;
}

TsrFrameCache *
tsr_frame_cache_new (const TsrAnalysis *a, const TsrParams *p, guint n_frames)
{
  return NULL;
}

void
tsr_frame_cache_free (TsrFrameCache *c)
{
}

gboolean
tsr_frame_cache_put_frame (TsrFrameCache *c, const TsrAnalysis *a, const TsrParams *p, const TsrImage *img,
                           guint index, const TsrTransform *T, GError **error)
{
  return TRUE;
}

gboolean
tsr_frame_cache_read (TsrFrameCache *c, const TsrParams *p, gboolean demosaic_frames, guint index, TsrImage **img)
{
  return FALSE;
}

const TsrImage *
tsr_frame_cache_peek (TsrFrameCache *c, const TsrParams *p, gboolean demosaic_frames, guint index)
{
  return NULL;
}
#endif

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
          img = own = tsr_fits_read (frame->path, error);
          if (!img)
            {
              scratch_put (j, sc);
              return FALSE;
            }
          if (img->width != a->reg->session->width || img->height != a->reg->session->height
              || img->channels != a->reg->session->channels)
            {
              g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH, _("%s: changed size since the session was scanned"),
                           frame->path);
              scratch_put (j, sc);
              return FALSE;
            }
        }
      warped = own_warped = warp_frame (a, j->p, j->demosaic_frames, j->stats_pass, img, index,
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
acc_row_w (int n, const float *restrict e, const guint32 *restrict mk, double *restrict aw, guint32 *restrict na)
{
  for (int x = 0; x < n; x++)
    {
      aw[x] += (double) e[x];
      na[x] += mk[x] & 1;
    }
}

/* … and of Σw·x and Σx of one channel */
static void
acc_row_c (int n, const float *restrict e, const guint32 *restrict mk, const float *restrict d,
           double *restrict awx, double *restrict mx)
{
  for (int x = 0; x < n; x++)
    {
      float v = sel_f (mk[x], d[x], 0.0f);
      awx[x] += (double) e[x] * v;
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
            const guint32 *restrict mk1, double *restrict aw, guint32 *restrict na)
{
  for (int x = 0; x < n; x++)
    {
      double t = aw[x];
      t += (double) e0[x];
      t += (double) e1[x];
      aw[x] = t;
      na[x] += (mk0[x] & 1) + (mk1[x] & 1);
    }
}

static void
acc2_row_c (int n, const float *restrict e0, const guint32 *restrict mk0, const float *restrict d0,
            const float *restrict e1, const guint32 *restrict mk1, const float *restrict d1, double *restrict awx,
            double *restrict mx)
{
  for (int x = 0; x < n; x++)
    {
      float v0 = sel_f (mk0[x], d0[x], 0.0f), v1 = sel_f (mk1[x], d1[x], 0.0f);
      double t = awx[x], s = mx[x];
      t += (double) e0[x] * v0;
      s += v0;
      t += (double) e1[x] * v1;
      s += v1;
      awx[x] = t;
      mx[x] = s;
    }
}

/* Statistics pass: unweighted sums per rejection unit, band by band (bands of unit rows). */
static void
add_statistics (AccJob *j, Scratch **sc, const TsrImage **img, guint index, int nf)
{
  gsize urow = j->cells ? (gsize) j->cell_w : (gsize) j->a->width, nrows = j->n_units / urow;
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
weight_row (const AccJob *j, Scratch *sc, const float *wf, int cluster, const guint8 *restrict m, int y)
{
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
  gsize urow = j->cells ? (gsize) j->cell_w : (gsize) j->a->width;
  const float *uv;
  const guint8 *um;
  unit_row (j, img, ur, sc->uv, sc->um, &uv, &um);
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

/* The rejected samples of frame img in image row y (sc: the frame's scratch, its weights
 * of the row in sc->we; the rejection list of the unit row is computed on first use). */
static void
apply_rejections (AccJob *j, Scratch *sc, const TsrImage *img, int y, gboolean winsor)
{
  int W = j->a->width, C = img->channels;
  gsize npix = (gsize) W * j->a->height, k0 = (gsize) y * W;
  const guint8 *m = img->mask + k0;
  const float *e = sc->we;
  int ur = j->cells ? y / 2 : y;
  if (sc->rej_row != ur)
    reject_row (j, sc, img, ur, winsor);
  for (int i = 0; i < sc->n_rej; i++)
    {
      int cu = sc->rej[i];
      int xa = j->cells ? 2 * cu : cu, xb = j->cells ? MIN (2 * cu + 2, W) : cu + 1;
      gsize u = (gsize) ur * (j->cells ? j->cell_w : W) + cu;
      for (int x = xa; x < xb; x++)
        {
          if (!m[x])
            continue;
          gsize k = k0 + x;
          double ew = e[x];
          if (winsor)
            {
              /* winsorized: the sample moves to the bound instead of being dropped; in a
               * cell the excess of the sum is shared by its sites */
              double corr = j->cells ? sc->rej_corr[i] / j->cell_sites[u] : sc->rej_corr[i] / C;
              for (int c = 0; c < C; c++)
                j->rej_wx[c * npix + k] += ew * corr;
            }
          else
            {
              j->rej_w[k] += ew;
              j->n_rej[k]++;
              for (int c = 0; c < C; c++)
                j->rej_wx[c * npix + k] += ew * img->data[c * npix + k];
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
            weight_row (j, sc[f], j->w->w + (gsize) index[f] * a->n_tiles, j->w->cluster[index[f]],
                        warped[f]->mask + k0, y);
          if (nf == 2)
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
              apply_rejections (j, sc[f], warped[f], y, winsor);
        }
      g_mutex_unlock (&j->band_lock[b]);
    }
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
            d[gy * j->cg_w + gx] += weight_at (j, wf, x, y);
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
          double W0 = use_acc && j->rej_w ? j->all_w[k] - j->rej_w[k] : j->all_w[k];
          double W1 = use_acc && j->rej_wx ? j->all_wx[q] - j->rej_wx[q] : j->all_wx[q];
          res->data[q] = valid && W0 > 0 ? W1 / W0 : (valid ? j->mean_x[q] / nt : 0);
          mean->data[q] = valid ? j->mean_x[q] / nt : 0;
          wsum += W0;
        }
      r->weight->data[k] = wsum / C;
    }
}

TsrReconstruction *
tsr_tbqr_accumulate (TsrAnalysis *a, TsrWeights *w, const TsrParams *p, TsrProgressFunc progress,
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
  gsize npix = (gsize) a->width * a->height;
  AccJob j = { 0 };
  j.a = a;
  j.w = w;
  j.p = p;
  j.demosaic_frames = a->cfa != TSR_CFA_NONE && a->channels == 1 && p->color_method == TSR_COLOR_DEMOSAIC_FRAMES;
  j.channels = j.demosaic_frames ? 3 : a->channels;
  int C = j.channels;
  gsize nval = npix * C;
  j.cells = a->cfa != TSR_CFA_NONE && C == 1;
  if (j.cells)
    {
      j.cell_w = (a->width + 1) / 2;
      j.cell_h = (a->height + 1) / 2;
      j.n_units = (gsize) j.cell_w * j.cell_h;
      j.unit_channels = 1;
      j.cell_sites = g_new (guint8, j.n_units);
      for (int cy = 0; cy < j.cell_h; cy++)
        for (int cx = 0; cx < j.cell_w; cx++)
          j.cell_sites[(gsize) cy * j.cell_w + cx] = (MIN (2 * cx + 2, a->width) - 2 * cx) * (MIN (2 * cy + 2, a->height) - 2 * cy);
    }
  else
    {
      j.n_units = npix;
      j.unit_channels = 1;
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
  opt.n_threads = p->n_threads;
  opt.memory_budget = (gsize) (p->memory_budget_mb * 1024 * 1024 / 2);
  opt.bytes_per_frame_factor = j.demosaic_frames ? 10.0 : 4.0;
  if (a->cache)
    opt.read_pixels = FALSE; /* the hook reads cached frames, or the frame when not cached */
  gboolean ok = TRUE;
  if (p->reject != TSR_REJECT_NONE && idx->len >= 3)
    {
      j.stats_pass = TRUE;
      j.s0 = dense_zeroed (nstat, sizeof (guint32), p->n_threads);
      j.s1 = dense_zeroed (nstat, sizeof (double), p->n_threads);
      j.s2 = dense_zeroed (nstat, sizeof (double), p->n_threads);
      j.smax = g_try_new (float, nstat);
      j.smin = g_try_new (float, nstat);
      if (j.smax && j.smin)
        tsr_parallel_range (nstat, p->n_threads, (gsize) 1 << 16, extrema_init_range, &j);
      opt.phase = _("Rejection statistics");
      ok = j.s0 && j.s1 && j.s2 && j.smax && j.smin
           && tsr_frames_map (s, &opt, accumulate_frame, &j, progress, progress_data, cancellable, error);
      flush_parked (&j, ok);
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
          tsr_parallel_range (nstat, p->n_threads, (gsize) 1 << 16, moments_range, &mt);
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
      if (j.mu)
        {
          j.rej_wx = dense_zeroed (nval, sizeof (double), p->n_threads);
          rej_ok = j.rej_wx != NULL;
          if (p->reject != TSR_REJECT_WINSOR)
            {
              j.rej_w = dense_zeroed (npix, sizeof (double), p->n_threads);
              j.n_rej = dense_zeroed (npix, sizeof (guint32), p->n_threads);
              rej_ok = rej_ok && j.rej_w && j.n_rej;
            }
        }
      j.all_w = dense_zeroed (npix, sizeof (double), p->n_threads);
      j.all_wx = dense_zeroed (nval, sizeof (double), p->n_threads);
      j.mean_x = dense_zeroed (nval, sizeof (double), p->n_threads);
      j.n_all = dense_zeroed (npix, sizeof (guint32), p->n_threads);
      if (!rej_ok || !j.all_w || !j.all_wx || !j.mean_x || !j.n_all)
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE, _("not enough memory for the accumulation images"));
          ok = FALSE;
        }
      opt.phase = _("Accumulating");
      if (ok)
        {
          TsrParams pp = *p;
          if (!j.mu)
            pp.reject = TSR_REJECT_NONE;
          j.p = &pp;
          ok = tsr_frames_map (s, &opt, accumulate_frame, &j, progress, progress_data, cancellable, error);
          flush_parked (&j, ok);
          j.p = p;
        }
    }
  TsrReconstruction *r = NULL;
  if (ok)
    {
      r = g_new0 (TsrReconstruction, 1);
      /* every sample and mask of these is written by finish_range */
      TsrImage *res = tsr_image_new_uninit (a->width, a->height, C);
      TsrImage *mean = tsr_image_new_uninit (a->width, a->height, C);
      r->coverage = tsr_image_new_uninit (a->width, a->height, 1);
      r->weight = tsr_image_new_uninit (a->width, a->height, 1);
      r->rejected = tsr_image_new_uninit (a->width, a->height, 1);
      res->cfa = mean->cfa = j.demosaic_frames ? TSR_CFA_NONE : a->cfa;
      FinishTask ft = { &j, res, mean, r, C, npix, p->reject_min_fraction };
      tsr_parallel_range (npix, p->n_threads, (gsize) 1 << 16, finish_range, &ft);
      /* header: the reference frame's, plus NCOMBINE and the processing history */
      TsrFitsInfo info;
      TsrHeader *h = NULL;
      if (tsr_fits_read_info (tsr_session_frame (s, a->reg->reference)->path, &info, &h, NULL))
        {
          tsr_fits_info_clear (&info);
          tsr_header_free (res->header);
          res->header = h;
          tsr_header_free (mean->header);
          mean->header = tsr_header_copy (h);
        }
      tsr_header_set_int (res->header, "NCOMBINE", idx->len, "frames combined");
      tsr_header_set_int (mean->header, "NCOMBINE", idx->len, "frames combined");
      g_autofree char *ph = tsr_params_history (p);
      g_autofree char *h1 = g_strdup_printf (
          "Tessera TBQR: reference=%u frames=%u used=%u tile=%d step=%d fwhm=%.3f clusters=%d",
          a->reg->reference, n, idx->len, a->tile_size, a->tile_step, a->session_fwhm, w->n_clusters);
      tsr_header_add_history (res->header, h1);
      tsr_header_add_history (res->header, ph);
      tsr_header_add_history (mean->header, "Tessera mean stack of the same registered, normalised frames (validation baseline)");
      tsr_header_add_history (mean->header, ph);
      r->result = finish_colour (res);
      r->mean = finish_colour (mean);
      if (a->cfa != TSR_CFA_NONE)
        {
          const char *how = j.demosaic_frames ? "Tessera demosaic: Malvar-He-Cutler, each frame before accumulation"
                                              : "Tessera demosaic: Malvar-He-Cutler, once after accumulation";
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
  for (int b = 0; b < N_BANDS; b++)
    g_mutex_clear (&j.band_lock[b]);
  g_array_unref (idx);
  return r;
}

/* ---------------------------------------------------------------------------------------
 * Validation against the mean stack.
 */

static TsrImage *
luminance (const TsrImage *img)
{
  TsrImage *l = tsr_image_new_uninit (img->width, img->height, 1);
  gsize n = tsr_image_npix (img);
  memcpy (l->mask, img->mask, n);
  for (gsize k = 0; k < n; k++)
    {
      double s = 0;
      for (int c = 0; c < img->channels; c++)
        s += tsr_image_plane (img, c)[k];
      l->data[k] = s / img->channels;
    }
  return l;
}

static int
cmp_d (const void *x, const void *y)
{
  double a = *(const double *) x, b = *(const double *) y;
  return a < b ? -1 : a > b;
}

static double
median_d (GArray *v)
{
  if (v->len == 0)
    return NAN;
  qsort (v->data, v->len, sizeof (double), cmp_d);
  double *d = (double *) v->data;
  return v->len % 2 ? d[v->len / 2] : 0.5 * (d[v->len / 2 - 1] + d[v->len / 2]);
}

/* Gradient jumps along tile support edges against all columns/rows (median |Δ|). */
static double
seam_metric (const TsrImage *l, const TsrAnalysis *a)
{
  int w = l->width, h = l->height;
  GArray *edge = g_array_new (FALSE, FALSE, sizeof (float)), *all = g_array_new (FALSE, FALSE, sizeof (float));
  gboolean *is_edge_x = g_new0 (gboolean, w), *is_edge_y = g_new0 (gboolean, h);
  for (int i = 0; i < a->tiles_x; i++)
    {
      int e0 = a->tiles[i].cx - a->tile_size / 2, e1 = a->tiles[i].cx + a->tile_size / 2;
      if (e0 > 0 && e0 < w - 1)
        is_edge_x[e0] = TRUE;
      if (e1 > 0 && e1 < w - 1)
        is_edge_x[e1] = TRUE;
    }
  for (int j = 0; j < a->tiles_y; j++)
    {
      int e0 = a->tiles[j * a->tiles_x].cy - a->tile_size / 2, e1 = a->tiles[j * a->tiles_x].cy + a->tile_size / 2;
      if (e0 > 0 && e0 < h - 1)
        is_edge_y[e0] = TRUE;
      if (e1 > 0 && e1 < h - 1)
        is_edge_y[e1] = TRUE;
    }
  for (int y = 0; y + 1 < h; y += 1)
    for (int x = 0; x + 1 < w; x += 1)
      {
        gsize k = (gsize) y * w + x;
        if (!l->mask[k] || !l->mask[k + 1] || !l->mask[k + w])
          continue;
        float dx = fabsf (l->data[k + 1] - l->data[k]), dy = fabsf (l->data[k + w] - l->data[k]);
        if (is_edge_x[x])
          g_array_append_val (edge, dx);
        if (is_edge_y[y])
          g_array_append_val (edge, dy);
        if ((x % 3) == 0)
          g_array_append_val (all, dx);
        if ((y % 3) == 0)
          g_array_append_val (all, dy);
      }
  /* medians by selection (a sort of ~2 M values was 2.7 % of a process run) */
  double me = tsr_median_inplace ((float *) edge->data, edge->len);
  double ma = tsr_median_inplace ((float *) all->data, all->len);
  g_array_unref (edge);
  g_array_unref (all);
  g_free (is_edge_x);
  g_free (is_edge_y);
  return ma > 0 ? me / ma : NAN;
}

/* Aperture flux at (x, y): sum within r minus the annulus [r + 2, r + 6] median per pixel,
 * and its background-limited noise (annulus σ from the MAD, times √pixels).
 * Independent of the PSF model, so a sharper or softer profile does not bias the ratio. */
static double
aperture_flux (const TsrImage *l, double x, double y, double r, double *noise)
{
  double ro = r + 6, ri = r + 2;
  int x0 = (int) floor (x - ro), x1 = (int) ceil (x + ro), y0 = (int) floor (y - ro), y1 = (int) ceil (y + ro);
  *noise = NAN;
  if (x0 < 0 || y0 < 0 || x1 >= l->width || y1 >= l->height)
    return NAN;
  GArray *ann = g_array_new (FALSE, FALSE, sizeof (float));
  double sum = 0;
  guint nin = 0;
  for (int yy = y0; yy <= y1; yy++)
    for (int xx = x0; xx <= x1; xx++)
      {
        gsize k = (gsize) yy * l->width + xx;
        if (!l->mask[k])
          {
            g_array_unref (ann);
            return NAN;
          }
        double d = hypot (xx - x, yy - y);
        if (d <= r)
          sum += l->data[k], nin++;
        else if (d >= ri && d <= ro)
          g_array_append_val (ann, l->data[k]);
      }
  double bg = NAN;
  if (ann->len >= 10)
    {
      float *v = (float *) ann->data;
      bg = tsr_median_inplace (v, ann->len);
      for (guint i = 0; i < ann->len; i++)
        v[i] = fabsf (v[i] - (float) bg);
      *noise = TSR_MAD_TO_SIGMA * tsr_median_inplace (v, ann->len) * sqrt (nin);
    }
  g_array_unref (ann);
  return sum - nin * bg;
}

typedef struct
{
  const TsrImage *img;
  const TsrStarParams *sp;
  TsrStarList *stars;
} DetectJob;

static gpointer
detect_thread (gpointer data)
{
  DetectJob *dj = data;
  dj->stars = tsr_stars_detect (dj->img, dj->sp, NULL, NULL);
  return NULL;
}

void
tsr_tbqr_validate (const TsrImage *result, const TsrImage *mean, const TsrAnalysis *a, const TsrParams *p,
                   TsrValidation *v)
{
  memset (v, 0, sizeof *v);
  g_autoptr (TsrImage) lr = luminance (result);
  g_autoptr (TsrImage) lm = luminance (mean);
  TsrStarParams sp;
  tsr_star_params_init (&sp);
  /* the two detections are independent: the mean stack's in a second thread */
  DetectJob dj = { lm, &sp, NULL };
  GThread *th = g_get_num_processors () > 1 ? g_thread_try_new ("tsr-validate", detect_thread, &dj, NULL) : NULL;
  TsrStarList *sr = tsr_stars_detect (lr, &sp, NULL, NULL);
  if (th)
    g_thread_join (th);
  else
    detect_thread (&dj);
  TsrStarList *sm = dj.stars;
  GArray *fr = g_array_new (FALSE, FALSE, sizeof (double)), *fm = g_array_new (FALSE, FALSE, sizeof (double));
  GArray *ratio = g_array_new (FALSE, FALSE, sizeof (double)), *flux = g_array_new (FALSE, FALSE, sizeof (double));
  GArray *ratio_faint = g_array_new (FALSE, FALSE, sizeof (double));
  if (sr && sm)
    for (guint i = 0; i < sm->stars->len; i++)
      {
        const TsrStar *m = &g_array_index (sm->stars, TsrStar, i);
        if (m->saturated || m->snr < 30 || !isfinite (m->fwhm))
          continue;
        const TsrStar *best = NULL;
        double bd = 1.5 * 1.5;
        for (guint k = 0; k < sr->stars->len; k++)
          {
            const TsrStar *r = &g_array_index (sr->stars, TsrStar, k);
            double d = (r->x - m->x) * (r->x - m->x) + (r->y - m->y) * (r->y - m->y);
            if (d < bd)
              bd = d, best = r;
          }
        if (!best || best->saturated || !isfinite (best->fwhm))
          continue;
        /* Radius 3× the wider of the two FWHMs: holds 99 % of a Moffat β = 3 star, and a
         * few per cent difference in FWHM changes the enclosed fraction by ~0.1 %. The
         * former 5×FWHM apertures held ~3× more sky: on the generated Bayer session the
         * ratio of a median star scattered by ±10 % (IQR), so the median of 118 stars was
         * uncertain by ±2 % and the check could not resolve 1 %. */
        double R = MAX (4.0, 3.0 * MAX (m->fwhm, best->fwhm)), nm, nr;
        double am = aperture_flux (lm, m->x, m->y, R, &nm), ar = aperture_flux (lr, m->x, m->y, R, &nr);
        if (!(am > 0) || !isfinite (ar))
          continue;
        g_array_append_val (fm, m->fwhm);
        g_array_append_val (fr, best->fwhm);
        double q = ar / am;
        /* photometry from well-measured stars only: aperture SNR ≥ 30 in the mean stack */
        if (isfinite (nm) && am >= 30.0 * nm)
          g_array_append_val (ratio, q);
        else
          g_array_append_val (ratio_faint, q);
        g_array_append_val (flux, am);
      }
  /* too few bright stars (a sparse field): the median over all matched stars */
  if (ratio->len < 10)
    g_array_append_vals (ratio, ratio_faint->data, ratio_faint->len);
  v->n_matched = fr->len;
  v->fwhm_result = median_d (fr);
  v->fwhm_mean = median_d (fm);
  v->fwhm_ratio = v->fwhm_result / v->fwhm_mean;
  v->flux_ratio = median_d (ratio);
  double mflux = median_d (flux);
  int step = result->cfa != TSR_CFA_NONE ? 2 : 1;
  v->noise_result = tsr_plane_noise (lr->data, lr->mask, lr->width, lr->height, step) / mflux;
  v->noise_mean = tsr_plane_noise (lm->data, lm->mask, lm->width, lm->height, step) / mflux;
  v->noise_ratio = v->noise_result / v->noise_mean;
  v->seam = seam_metric (lr, a);
  TsrCheck checks[] = {
    { N_("FWHM reduction vs mean stack"), 1.0 - v->fwhm_ratio, p->val_fwhm_gain, FALSE, "" },
    { N_("sky noise / star flux vs mean stack"), v->noise_ratio, p->val_noise_max, FALSE, "×" },
    { N_("matched-star flux ratio − 1"), fabs (v->flux_ratio - 1.0), p->val_flux_tol, FALSE, "" },
    { N_("seam metric (edge/interior gradient)"), v->seam, p->val_seam_max, FALSE, "×" },
  };
  checks[0].pass = isfinite (checks[0].value) && checks[0].value >= checks[0].limit;
  checks[1].pass = isfinite (checks[1].value) && checks[1].value <= checks[1].limit;
  checks[2].pass = isfinite (checks[2].value) && checks[2].value <= checks[2].limit;
  checks[3].pass = isfinite (checks[3].value) && checks[3].value <= checks[3].limit;
  v->n_checks = G_N_ELEMENTS (checks);
  v->pass = TRUE;
  for (guint i = 0; i < v->n_checks; i++)
    {
      v->checks[i] = checks[i];
      v->pass &= checks[i].pass;
    }
  g_array_unref (fr);
  g_array_unref (fm);
  g_array_unref (ratio);
  g_array_unref (ratio_faint);
  g_array_unref (flux);
  if (sr)
    tsr_star_list_free (sr);
  if (sm)
    tsr_star_list_free (sm);
}

/* ---------------------------------------------------------------------------------------
 * Diagnostics JSON.
 */

char *
tsr_tbqr_diagnostics_json (const TsrAnalysis *a, const TsrWeights *w, const TsrReconstruction *r)
{
  TsrJsonWriter *j = tsr_json_writer_new ();
  tsr_json_begin_object (j);
  tsr_json_key (j, "tessera");
  tsr_json_string (j, "TBQR diagnostics v1");
  tsr_json_key (j, "reference");
  tsr_json_int (j, a->reg->reference);
  tsr_json_key (j, "width");
  tsr_json_int (j, a->width);
  tsr_json_key (j, "height");
  tsr_json_int (j, a->height);
  tsr_json_key (j, "session_fwhm");
  tsr_json_double (j, a->session_fwhm);
  tsr_json_key (j, "tile_size");
  tsr_json_int (j, a->tile_size);
  tsr_json_key (j, "tile_step");
  tsr_json_int (j, a->tile_step);
  tsr_json_key (j, "tiles_x");
  tsr_json_int (j, a->tiles_x);
  tsr_json_key (j, "tiles_y");
  tsr_json_int (j, a->tiles_y);
  tsr_json_key (j, "frames_used");
  tsr_json_int (j, w->n_used);
  tsr_json_key (j, "clusters");
  tsr_json_int (j, w->n_clusters);
  if (w->n_clusters)
    {
      tsr_json_key (j, "cluster_weights");
      tsr_json_begin_array (j);
      for (int k = 0; k < w->n_clusters; k++)
        tsr_json_double (j, w->cluster_w[k]);
      tsr_json_end_array (j);
    }
  tsr_json_key (j, "frames");
  tsr_json_begin_array (j);
  for (guint f = 0; f < w->n_frames; f++)
    {
      const TsrFrameReg *fr = &a->reg->frames[f];
      const TsrFrameMetrics *fm = &a->frames[f];
      tsr_json_begin_object (j);
      tsr_json_key (j, "index");
      tsr_json_int (j, f);
      tsr_json_key (j, "file");
      tsr_json_string (j, tsr_session_frame (a->reg->session, f)->name);
      tsr_json_key (j, "used");
      tsr_json_bool (j, w->used[f]);
      tsr_json_key (j, "gate_reasons");
      g_autofree char *why = tsr_gate_reasons_string (w->gate[f]);
      tsr_json_string (j, why);
      tsr_json_key (j, "method");
      tsr_json_string (j, fr->method);
      tsr_json_key (j, "cc");
      tsr_json_double (j, fr->cc);
      tsr_json_key (j, "fwhm");
      tsr_json_double (j, fr->fwhm);
      tsr_json_key (j, "roundness");
      tsr_json_double (j, fr->roundness);
      tsr_json_key (j, "stars");
      tsr_json_int (j, fr->n_stars);
      tsr_json_key (j, "background");
      tsr_json_double (j, fm->background);
      tsr_json_key (j, "noise");
      tsr_json_double (j, fm->noise);
      tsr_json_key (j, "energy");
      tsr_json_double (j, fm->energy);
      tsr_json_key (j, "scale");
      tsr_json_double (j, fm->scale);
      tsr_json_key (j, "color_scale");
      tsr_json_begin_array (j);
      for (int c = 0; c < 3; c++)
        tsr_json_double (j, fm->color_scale[c]);
      tsr_json_end_array (j);
      tsr_json_key (j, "psf_model_stars");
      tsr_json_int (j, fm->psf_model_n);
      tsr_json_key (j, "ivw");
      tsr_json_double (j, w->ivw[f]);
      tsr_json_key (j, "Q");
      tsr_json_double (j, w->q_global[f]);
      tsr_json_key (j, "G");
      tsr_json_double (j, w->g[f]);
      tsr_json_key (j, "mean_L");
      tsr_json_double (j, w->mean_l[f]);
      tsr_json_key (j, "cluster");
      tsr_json_int (j, w->cluster[f]);
      tsr_json_key (j, "W");
      tsr_json_begin_array (j);
      for (guint t = 0; t < w->n_tiles; t++)
        tsr_json_double (j, w->w[(gsize) f * w->n_tiles + t]);
      tsr_json_end_array (j);
      tsr_json_end_object (j);
    }
  tsr_json_end_array (j);
  tsr_json_key (j, "tiles");
  tsr_json_begin_array (j);
  for (guint t = 0; t < a->n_tiles; t++)
    {
      tsr_json_begin_object (j);
      tsr_json_key (j, "cx");
      tsr_json_int (j, a->tiles[t].cx);
      tsr_json_key (j, "cy");
      tsr_json_int (j, a->tiles[t].cy);
      tsr_json_key (j, "type");
      tsr_json_string (j, w->tile_type[t] == TSR_TILE_STAR ? "star" : "structure");
      tsr_json_key (j, "n_eff");
      tsr_json_double (j, w->n_eff[t]);
      tsr_json_end_object (j);
    }
  tsr_json_end_array (j);
  if (r)
    {
      const TsrValidation *v = &r->validation;
      tsr_json_key (j, "validation");
      tsr_json_begin_object (j);
      tsr_json_key (j, "matched_stars");
      tsr_json_int (j, v->n_matched);
      tsr_json_key (j, "fwhm_result");
      tsr_json_double (j, v->fwhm_result);
      tsr_json_key (j, "fwhm_mean");
      tsr_json_double (j, v->fwhm_mean);
      tsr_json_key (j, "fwhm_ratio");
      tsr_json_double (j, v->fwhm_ratio);
      tsr_json_key (j, "noise_result");
      tsr_json_double (j, v->noise_result);
      tsr_json_key (j, "noise_mean");
      tsr_json_double (j, v->noise_mean);
      tsr_json_key (j, "noise_ratio");
      tsr_json_double (j, v->noise_ratio);
      tsr_json_key (j, "flux_ratio");
      tsr_json_double (j, v->flux_ratio);
      tsr_json_key (j, "seam");
      tsr_json_double (j, v->seam);
      tsr_json_key (j, "pass");
      tsr_json_bool (j, v->pass);
      tsr_json_end_object (j);
    }
  tsr_json_end_object (j);
  return tsr_json_writer_finish (j);
}
