/* tsr-tbqr.c — Tile-Based Quality Reconstruction: analyse and weigh. The accumulate pass
 * and validation live in tsr-tbqr-accumulate.c. See docs/tbqr.md. */
#include "tsr-tbqr.h"
#include "tsr-error.h"
#include "tsr-stats.h"
#include "tsr-tbqr-private.h"
#include "tsr-tbqr-drizzle.h"
#include "tsr-frame-cache.h"
#include "tsr-tbqr-memory.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------
 * The per-tile metrics in a temporary file (params.spill_tile_metrics): frame f's n_tiles
 * records at offset f · n_tiles · sizeof (TsrTileMetrics), written once by the frame's
 * analysis; a frame never written (not registered) reads as "missing". */
struct _TsrTileSpill
{
  int fd;
  guint8 *written;      /* per frame */
};

static const TsrTileMetrics tile_missing = { 0, NAN, NAN, NAN, NAN, NAN, NAN, NAN };

static void
tile_spill_free (struct _TsrTileSpill *sp)
{
  if (!sp)
    return;
  if (sp->fd >= 0)
    close (sp->fd);
  g_free (sp->written);
  g_free (sp);
}

/* The file for n_frames × n_tiles records (tsr_temp_file_new: a disk-backed temporary
 * folder with room for it); NULL (the metrics stay in memory) when there is none */
static struct _TsrTileSpill *
tile_spill_new (guint n_frames, guint n_tiles)
{
  int fd = tsr_temp_file_new ("tessera-tiles", (guint64) n_frames * n_tiles * sizeof (TsrTileMetrics));
  if (fd < 0)
    return NULL;
  struct _TsrTileSpill *sp = g_new0 (struct _TsrTileSpill, 1);
  sp->fd = fd;
  sp->written = g_new0 (guint8, MAX (n_frames, 1u));
  return sp;
}

/* Tiles [t0, t1) of the n frames into buf (frame f's at buf + f · (t1 − t0)) */
static gboolean
tile_spill_read (const TsrAnalysis *a, guint n, guint t0, guint t1, TsrTileMetrics *buf)
{
  guint nt = a->n_tiles, m = t1 - t0;
  for (guint f = 0; f < n; f++)
    {
      TsrTileMetrics *dst = buf + (gsize) f * m;
      if (!a->tile_spill->written[f])
        {
          for (guint t = 0; t < m; t++)
            dst[t] = tile_missing;
          continue;
        }
      guint64 off = ((guint64) f * nt + t0) * sizeof (TsrTileMetrics);
      if (!tsr_temp_file_io (a->tile_spill->fd, FALSE, dst, (gsize) m * sizeof (TsrTileMetrics), off))
        return FALSE;
    }
  return TRUE;
}

/* Frame index's metrics (tm, n_tiles records) stored: in the file, or — when the file cannot
 * take them (full, a file-size limit) — the whole table moves to memory and stays there.
 * Called under the analysis' lock. FALSE (error set) only when the file cannot be read back. */
static gboolean
tile_store_frame (TsrAnalysis *a, guint n_frames, guint index, const TsrTileMetrics *tm, GError **error)
{
  gsize nt = a->n_tiles, bytes = nt * sizeof (TsrTileMetrics);
  if (a->tile_spill)
    {
      if (tsr_temp_file_io (a->tile_spill->fd, TRUE, (void *) tm, bytes, (guint64) index * bytes))
        {
          a->tile_spill->written[index] = 1;
          return TRUE;
        }
      TsrTileMetrics *all = g_new (TsrTileMetrics, (gsize) n_frames * nt);
      if (!tile_spill_read (a, n_frames, 0, a->n_tiles, all))
        {
          int err = errno;
          g_free (all);
          g_set_error (error, TSR_ERROR, TSR_ERROR_IO,
                       _("cannot read the per-tile metrics back from the temporary folder: %s"), g_strerror (err));
          return FALSE;
        }
      a->tile_metrics = all;
      struct _TsrTileSpill *sp = a->tile_spill;
      g_atomic_pointer_set (&a->tile_spill, NULL);
      tile_spill_free (sp);
    }
  memcpy (&a->tile_metrics[(gsize) index * nt], tm, bytes);
  return TRUE;
}

/* The weighing's view of the metrics: tile t of frame f, a block of tiles read from the file
 * at a time when they are spilled (tiles are visited in order) */
gsize tsr_tbqr_tile_view_bytes = 4u << 20;

typedef struct
{
  const TsrAnalysis *a;
  TsrTileMetrics *buf;
  guint t0, t1, cap;
  gboolean failed;
} TileView;

static void
tile_view_init (TileView *v, const TsrAnalysis *a)
{
  memset (v, 0, sizeof *v);
  v->a = a;
  if (a->tile_spill)
    {
      /* ~4 MiB of records per block whatever the frame count */
      v->cap = (guint) CLAMP (tsr_tbqr_tile_view_bytes / (sizeof (TsrTileMetrics) * MAX (a->reg->n_frames, 1u)), 1u,
                              a->n_tiles);
      v->buf = g_new (TsrTileMetrics, (gsize) v->cap * a->reg->n_frames);
    }
}

static const TsrTileMetrics *
tile_view_at (TileView *v, guint f, guint t)
{
  const TsrAnalysis *a = v->a;
  if (!a->tile_spill)
    return &a->tile_metrics[(gsize) f * a->n_tiles + t];
  if (t < v->t0 || t >= v->t1)
    {
      v->t0 = t;
      v->t1 = MIN (a->n_tiles, t + v->cap);
      if (!tile_spill_read (a, a->reg->n_frames, v->t0, v->t1, v->buf))
        {
          /* an unreadable temporary file: the tile reads as missing, and the weighing fails */
          v->failed = TRUE;
          for (gsize k = 0; k < (gsize) v->cap * a->reg->n_frames; k++)
            v->buf[k] = tile_missing;
        }
    }
  return &v->buf[(gsize) f * (v->t1 - v->t0) + (t - v->t0)];
}

int
tsr_tbqr_tile_size (const TsrTbqrParams *p, double fwhm, int width, int height)
{
  int tmax = p->tile_max > 0 ? p->tile_max : MIN (width, height) / 6;
  int tmin = p->tile_min;
  if (tmax < tmin)
    tmax = tmin;
  if (!isfinite (fwhm) || fwhm <= 0)
    fwhm = 3.0;
  double t = p->tile_s * fwhm;
  int T = (int) lround (CLAMP (t, tmin, tmax));
  T = MIN (T, MAX (width, height));
  return MAX (T, 8);
}

static void
build_tiles (TsrAnalysis *a)
{
  int T = a->tile_size;
  int step = MAX (1, (int) lround (T * (1.0 - a->params.tile_overlap)));
  a->tile_step = step;
  /* Centres from 0 to past the last pixel so every pixel lies within T/2 of a centre and
   * the windows cover every edge. */
  a->tiles_x = (a->width - 1 + step - 1) / step + 1;
  a->tiles_y = (a->height - 1 + step - 1) / step + 1;
  a->n_tiles = a->tiles_x * a->tiles_y;
  a->tiles = g_new0 (TsrTile, a->n_tiles);
  for (int j = 0; j < a->tiles_y; j++)
    for (int i = 0; i < a->tiles_x; i++)
      {
        TsrTile *t = &a->tiles[j * a->tiles_x + i];
        t->cx = MIN (i * step, a->width - 1);
        t->cy = MIN (j * step, a->height - 1);
        t->x0 = MAX (0, t->cx - T / 2);
        t->x1 = MIN (a->width, t->cx + T / 2 + 1);
        t->y0 = MAX (0, t->cy - T / 2);
        t->y1 = MIN (a->height, t->cy + T / 2 + 1);
      }
}

/* Robust plane a + b·x + c·y per CFA colour (or channel) through box medians. */
void
tsr_tbqr_fit_planes (const TsrImage *img, double plane[3][3])
{
  const int nb = 16;
  int ncol = img->channels == 3 ? 3 : (img->cfa != TSR_CFA_NONE ? 3 : 1);
  gboolean cfa = img->channels == 1 && img->cfa != TSR_CFA_NONE;
  int bw = MAX (2, img->width / nb), bh = MAX (2, img->height / nb);
  int nbx = img->width / bw, nby = img->height / bh;
  float *vals = g_new (float, (gsize) bw * bh);
  double *bx = g_new (double, nbx * nby), *by = g_new (double, nbx * nby), *bv = g_new (double, nbx * nby);
  /* box medians of a CFA mosaic: each box swept once, its sites sorted by colour into
   * per-colour runs (same values in the same order as a sweep per colour) */
  int nbox[3] = { 0, 0, 0 };
  double *cbx[3] = { NULL }, *cby[3] = { NULL }, *cbv[3] = { NULL };
  float *cvals[3] = { NULL };
  if (cfa)
    for (int c = 0; c < 3; c++)
      {
        cbx[c] = g_new (double, nbx * nby), cby[c] = g_new (double, nbx * nby), cbv[c] = g_new (double, nbx * nby);
        cvals[c] = g_new (float, (gsize) bw * bh);
      }
  if (cfa)
    for (int j = 0; j < nby; j++)
      for (int i = 0; i < nbx; i++)
        {
          gsize m[3] = { 0, 0, 0 };
          for (int y = j * bh; y < (j + 1) * bh; y++)
            {
              /* rows in pairs, every other pair, and likewise columns: every CFA colour,
               * a quarter of the samples (≥ 500 per colour and box on a 1080×1920
               * frame: ample for a median; 256 boxes enter the plane fit) */
              if ((y - j * bh) & 2)
                continue;
              int col0 = tsr_cfa_color (img->cfa, i * bw, y), col1 = tsr_cfa_color (img->cfa, i * bw + 1, y);
              const float *row = img->data + (gsize) y * img->width;
              const guint8 *mrow = img->mask + (gsize) y * img->width;
              const int xskip = bw >= 16 ? 3 : 1;
              for (int x = i * bw; x < (i + 1) * bw; x += ((x - i * bw) & 1) ? xskip : 1)
                {
                  if (!mrow[x])
                    continue;
                  int c = ((x - i * bw) & 1) ? col1 : col0;
                  cvals[c][m[c]++] = row[x];
                }
            }
          for (int c = 0; c < 3; c++)
            {
              if (m[c] < 8)
                continue;
              cbv[c][nbox[c]] = tsr_median_inplace (cvals[c], m[c]);
              cbx[c][nbox[c]] = (i + 0.5) * bw;
              cby[c][nbox[c]] = (j + 0.5) * bh;
              nbox[c]++;
            }
        }
  for (int c = 0; c < 3; c++)
    plane[c][0] = plane[c][1] = plane[c][2] = 0;
  for (int c = 0; c < ncol; c++)
    {
      const float *pl = img->channels == 3 ? tsr_image_plane (img, c) : img->data;
      int n = 0;
      if (cfa)
        {
          n = nbox[c];
          memcpy (bx, cbx[c], sizeof (double) * n);
          memcpy (by, cby[c], sizeof (double) * n);
          memcpy (bv, cbv[c], sizeof (double) * n);
        }
      else
        for (int j = 0; j < nby; j++)
          for (int i = 0; i < nbx; i++)
            {
              gsize m = 0;
              for (int y = j * bh; y < (j + 1) * bh; y += 1 + (bh >= 16))
                for (int x = i * bw; x < (i + 1) * bw; x += 1 + (bw >= 16))
                  {
                    gsize k = (gsize) y * img->width + x;
                    if (!img->mask[k])
                      continue;
                    vals[m++] = pl[k];
                  }
              if (m < 8)
                continue;
              bv[n] = tsr_median_inplace (vals, m);
              bx[n] = (i + 0.5) * bw;
              by[n] = (j + 0.5) * bh;
              n++;
            }
      if (n == 0)
        continue;
      /* iterate: fit, reject boxes beyond 3·MAD (galaxies, nebulae, bright stars) */
      gboolean *keep = g_new (gboolean, n);
      for (int i = 0; i < n; i++)
        keep[i] = TRUE;
      double coef[3] = { 0, 0, 0 };
      for (int it = 0; it < 4; it++)
        {
          double A[9] = { 0 }, b[3] = { 0 };
          int used = 0;
          for (int i = 0; i < n; i++)
            if (keep[i])
              {
                double r[3] = { 1, bx[i], by[i] };
                for (int p = 0; p < 3; p++)
                  {
                    b[p] += r[p] * bv[i];
                    for (int q = 0; q < 3; q++)
                      A[p * 3 + q] += r[p] * r[q];
                  }
                used++;
              }
          if (used < 3)
            {
              /* too few boxes: a constant */
              double s = 0;
              for (int i = 0; i < n; i++)
                s += bv[i];
              coef[0] = s / n, coef[1] = coef[2] = 0;
              break;
            }
          /* solve 3×3 by Cramer */
          double det = A[0] * (A[4] * A[8] - A[5] * A[7]) - A[1] * (A[3] * A[8] - A[5] * A[6])
                       + A[2] * (A[3] * A[7] - A[4] * A[6]);
          if (fabs (det) < 1e-12)
            break;
          for (int p = 0; p < 3; p++)
            {
              double M[9];
              memcpy (M, A, sizeof M);
              for (int q = 0; q < 3; q++)
                M[q * 3 + p] = b[q];
              coef[p] = (M[0] * (M[4] * M[8] - M[5] * M[7]) - M[1] * (M[3] * M[8] - M[5] * M[6])
                         + M[2] * (M[3] * M[7] - M[4] * M[6])) / det;
            }
          float *res = g_new (float, n);
          int nr = 0;
          for (int i = 0; i < n; i++)
            if (keep[i])
              res[nr++] = fabs (bv[i] - (coef[0] + coef[1] * bx[i] + coef[2] * by[i]));
          float mad = tsr_median_inplace (res, nr);
          g_free (res);
          double lim = 3.0 * TSR_MAD_TO_SIGMA * MAX (mad, 1e-6);
          gboolean changed = FALSE;
          for (int i = 0; i < n; i++)
            {
              gboolean k = fabs (bv[i] - (coef[0] + coef[1] * bx[i] + coef[2] * by[i])) <= lim;
              if (k != keep[i])
                changed = TRUE;
              keep[i] = k;
            }
          if (!changed)
            break;
        }
      g_free (keep);
      plane[c][0] = coef[0];
      plane[c][1] = coef[1];
      plane[c][2] = coef[2];
    }
  /* mono: every "colour" the same plane */
  if (ncol == 1)
    for (int c = 1; c < 3; c++)
      memcpy (plane[c], plane[0], sizeof plane[0]);
  g_free (vals);
  g_free (bx);
  g_free (by);
  g_free (bv);
  for (int c = 0; c < 3; c++)
    {
      g_free (cbx[c]);
      g_free (cby[c]);
      g_free (cbv[c]);
      g_free (cvals[c]);
    }
}

/* ---------------------------------------------------------------------------------------
 * Analyse.
 */

typedef struct
{
  TsrAnalysis *a;
  GArray *ref_stars;    /* TsrStar copies */
  double *ref_cflux;    /* per reference star: aperture flux per colour (3), NAN = none */
  guint n_frames;
  GMutex lock;
} AnaJob;

/* Aperture flux of a star per CFA colour (or channel): the sum over the sites of colour c
 * within r minus their count times the median of the same colour's sites
 * in the annulus [r + 2, r + 6]. Mono images give the same value in all three. */
static const double ap_radii[] = { 4, 6, 8, 11, 15, 20 };
#define N_AP G_N_ELEMENTS (ap_radii)

/* The smallest aperture radius that holds ~99 % of a Moffat β≈3 star of either FWHM. */
static guint
ap_index (double fwhm_a, double fwhm_b)
{
  double need = 3.0 * MAX (isfinite (fwhm_a) ? fwhm_a : 2.5, isfinite (fwhm_b) ? fwhm_b : 2.5);
  for (guint i = 0; i < N_AP; i++)
    if (ap_radii[i] >= need)
      return i;
  return N_AP - 1;
}

/* One sweep of the box round (x, y) over plane pl: the samples within r summed, those in the
 * annulus [ri, ro] collected, per colour (col: the colour of a site by row and column parity,
 * NULL: all colour 0). A masked sample within ro marks its colour bad. Squared distances
 * against squared radii (a hypot () per sample was 3 % of a run). */
static void
aperture_sweep (const float *pl, const guint8 *mask, int width, int x0, int x1, int y0, int y1, double x, double y,
                double r, double ri, double ro, const int col[2][2], float *ann[3], int na[3], double sum[3],
                int nin[3], gboolean bad[3])
{
  double r2 = r * r, ri2 = ri * ri, ro2 = ro * ro;
  for (int yy = y0; yy <= y1; yy++)
    {
      double dy2 = (yy - y) * (yy - y);
      for (int xx = x0; xx <= x1; xx++)
        {
          int c = col ? col[yy & 1][xx & 1] : 0;
          if (bad[c])
            continue;
          double d2 = (xx - x) * (xx - x) + dy2;
          if (d2 > ro2)
            continue;
          gsize k = (gsize) yy * width + xx;
          if (!mask[k])
            {
              bad[c] = TRUE;
              continue;
            }
          if (d2 <= r2)
            sum[c] += pl[k], nin[c]++;
          else if (d2 >= ri2)
            ann[c][na[c]++] = pl[k];
        }
    }
}

static void
colour_aperture (const TsrImage *img, double x, double y, double r, double out[3])
{
  double ri = r + 2, ro = r + 6;
  int x0 = (int) floor (x - ro), x1 = (int) ceil (x + ro), y0 = (int) floor (y - ro), y1 = (int) ceil (y + ro);
  out[0] = out[1] = out[2] = NAN;
  if (x0 < 0 || y0 < 0 || x1 >= img->width || y1 >= img->height)
    return;
  gboolean cfa = img->channels == 1 && img->cfa != TSR_CFA_NONE;
  int ncol = img->channels == 3 ? 3 : (cfa ? 3 : 1);
  int cap = (x1 - x0 + 1) * (y1 - y0 + 1);
  float *buf = g_new (float, (gsize) 3 * cap);
  float *ann[3] = { buf, buf + cap, buf + 2 * cap };
  int na[3] = { 0, 0, 0 }, nin[3] = { 0, 0, 0 };
  double sum[3] = { 0, 0, 0 };
  gboolean bad[3] = { FALSE, FALSE, FALSE };
  if (img->channels == 3)
    for (int c = 0; c < 3; c++)
      {
        /* each plane on its own: its samples counted as colour 0 of the sweep */
        float *a1[3] = { ann[c], NULL, NULL };
        int na1[3] = { 0, 0, 0 }, nin1[3] = { 0, 0, 0 };
        double sum1[3] = { 0, 0, 0 };
        gboolean bad1[3] = { FALSE, FALSE, FALSE };
        aperture_sweep (tsr_image_plane (img, c), img->mask, img->width, x0, x1, y0, y1, x, y, r, ri, ro, NULL, a1,
                        na1, sum1, nin1, bad1);
        na[c] = na1[0], nin[c] = nin1[0], sum[c] = sum1[0], bad[c] = bad1[0];
      }
  else
    {
      int col[2][2];
      for (int py = 0; py < 2; py++)
        for (int px = 0; px < 2; px++)
          col[py][px] = cfa ? tsr_cfa_color (img->cfa, px, py) : 0;
      aperture_sweep (img->data, img->mask, img->width, x0, x1, y0, y1, x, y, r, ri, ro, cfa ? col : NULL, ann, na,
                      sum, nin, bad);
    }
  for (int c = 0; c < ncol; c++)
    {
      if (bad[c] || na[c] < 8 || nin[c] == 0)
        continue;
      double bg = tsr_median_inplace (ann[c], na[c]);
      out[c] = sum[c] - nin[c] * bg;
    }
  if (ncol == 1)
    out[1] = out[2] = out[0];
  g_free (buf);
}

static gboolean
on_reference (const TsrImage *ref, const TsrStarList *stars, gpointer data, GError **error)
{
  AnaJob *job = data;
  TsrAnalysis *a = job->a;
  a->session_fwhm = isfinite (stars->fwhm_median) ? stars->fwhm_median : NAN;
  a->tile_size = tsr_tbqr_tile_size (&a->params, a->session_fwhm, a->width, a->height);
  build_tiles (a);
  if (a->params.spill_tile_metrics && a->run.cache_disk_mb > 0)
    a->tile_spill = tile_spill_new (job->n_frames, a->n_tiles);
  if (!a->tile_spill)
    {
      a->tile_metrics = g_new (TsrTileMetrics, (gsize) job->n_frames * a->n_tiles);
      for (gsize i = 0; i < (gsize) job->n_frames * a->n_tiles; i++)
        a->tile_metrics[i] = tile_missing;
    }
  job->ref_stars = g_array_new (FALSE, FALSE, sizeof (TsrStar));
  g_array_append_vals (job->ref_stars, stars->stars->data, stars->stars->len);
  guint nr = MIN (job->ref_stars->len, 400u);
  job->ref_cflux = g_new (double, 3 * N_AP * MAX (nr, 1u));
  for (guint i = 0; i < nr; i++)
    {
      const TsrStar *r = &g_array_index (job->ref_stars, TsrStar, i);
      for (guint k = 0; k < N_AP; k++)
        colour_aperture (ref, r->x, r->y, ap_radii[k], job->ref_cflux + 3 * (N_AP * i + k));
    }
  double plane[3][3];
  tsr_tbqr_fit_planes (ref, plane);
  double cx = (a->width - 1) / 2.0, cy = (a->height - 1) / 2.0;
  for (int c = 0; c < 3; c++)
    a->ref_plane[c] = plane[c][0] + plane[c][1] * cx + plane[c][2] * cy;
  return TRUE;
}

static int
cmp_float (const void *x, const void *y)
{
  float a = *(const float *) x, b = *(const float *) y;
  return a < b ? -1 : a > b;
}

static float
median_f (float *v, guint n)
{
  if (n == 0)
    return NAN;
  qsort (v, n, sizeof (float), cmp_float);
  return n % 2 ? v[n / 2] : 0.5f * (v[n / 2 - 1] + v[n / 2]);
}

/* Photometric scale from matched stars (frame / reference): the median ratio of aperture
 * fluxes (fitted fluxes when too few apertures), and per CFA colour the colour balance. */
static double
photometric_scale (const AnaJob *job, const TsrImage *img, const TsrStarList *frm, const TsrTransform *T,
                   guint *npairs, double cscale[3])
{
  const GArray *ref = job->ref_stars;
  GArray *ratios = g_array_new (FALSE, FALSE, sizeof (float)), *aratios = g_array_new (FALSE, FALSE, sizeof (float));
  GArray *cr[3], *cw[3];
  for (int c = 0; c < 3; c++)
    {
      cr[c] = g_array_new (FALSE, FALSE, sizeof (float));
      cw[c] = g_array_new (FALSE, FALSE, sizeof (float));
    }
  guint nr = MIN (ref->len, 400u), nf = MIN (frm->stars->len, 600u);
  for (guint i = 0; i < nr; i++)
    {
      const TsrStar *r = &g_array_index (ref, TsrStar, i);
      if (r->saturated || r->snr < 20 || !(r->flux > 0))
        continue;
      double px, py;
      tsr_transform_apply (T, r->x, r->y, &px, &py);
      const TsrStar *best = NULL;
      double bd = 1.5 * 1.5;
      for (guint j = 0; j < nf; j++)
        {
          const TsrStar *s = &g_array_index (frm->stars, TsrStar, j);
          double d = (s->x - px) * (s->x - px) + (s->y - py) * (s->y - py);
          if (d < bd)
            bd = d, best = s;
        }
      if (best && !best->saturated && best->flux > 0)
        {
          float q = best->flux / r->flux;
          g_array_append_val (ratios, q);
          /* the same aperture in the frame and the reference, large enough for the worse
           * of the two seeings: the ratio does not depend on the PSF model */
          guint k = ap_index (best->fwhm, r->fwhm);
          double fc[3], *rc = job->ref_cflux + 3 * (N_AP * i + k);
          colour_aperture (img, best->x, best->y, ap_radii[k], fc);
          double tf = fc[0] + fc[1] + fc[2], tr = rc[0] + rc[1] + rc[2];
          if (isfinite (tf) && isfinite (tr) && tr > 0.3 * 3 * r->flux / 3 && tf > 0)
            {
              float qa = tf / tr;
              g_array_append_val (aratios, qa);
            }
          /* colour ratios relative to the star's total ratio give the colour balance of
           * the frame against the reference; the level comes from the total */
          double qc[3];
          gboolean ok = isfinite (tf) && isfinite (tr) && tf > 0 && tr > 0;
          for (int c = 0; c < 3; c++)
            {
              ok &= rc[c] > 0.05 * r->flux && isfinite (fc[c]) && fc[c] > 0;
              qc[c] = ok ? (fc[c] / rc[c]) / (tf / tr) : NAN;
            }
          if (ok)
            for (int c = 0; c < 3; c++)
              {
                float x = qc[c], wf = rc[c] / tr;
                g_array_append_val (cr[c], x);
                g_array_append_val (cw[c], wf);
              }
        }
    }
  /* level: aperture ratios (PSF-independent) when there are enough, else fitted fluxes */
  GArray *use = aratios->len >= 5 ? aratios : ratios;
  *npairs = use->len;
  double s = use->len >= 5 ? median_f ((float *) use->data, use->len) : 1.0;
  if (!(isfinite (s) && s > 0.05 && s < 20))
    s = 1.0;
  g_array_unref (aratios);
  /* Colour balance: k_c = median colour ratio, applied to all three colours together or to
   * none (a partial correction changes the frame's colour-summed level), only where the
   * frame's balance differs from the reference's significantly (beyond 3 standard errors
   * in some colour, each standard error below 10 %; beyond ×/÷ 1.6 it is a measurement
   * failure). The corrections are renormalised so that the flux-weighted mean of k is 1:
   * the level of the colour-summed flux stays s. Measured on seestar-ngc7023: the 20 s
   * frames of the second night have k ≈ (0.95, 0.78, 1.24) against the 10 s reference, in
   * both frames alike; correcting green alone (the former per-colour rule) left the flux
   * ratio of result and mean stack at 1.011 (docs/tbqr.md). */
  double k[3], wcol[3];
  gboolean apply = job->a->params.norm_color, significant = FALSE;
  for (int c = 0; c < 3; c++)
    {
      guint m = cr[c]->len;
      k[c] = m >= 8 ? median_f ((float *) cr[c]->data, m) : NAN;
      wcol[c] = m >= 8 ? median_f ((float *) cw[c]->data, m) : NAN;
      double se = NAN;
      if (isfinite (k[c]))
        {
          float *d = g_new (float, m);
          for (guint i = 0; i < m; i++)
            d[i] = fabsf (g_array_index (cr[c], float, i) - (float) k[c]);
          /* standard error of a median: 1.25·σ/√n, σ from the MAD */
          se = 1.25 * TSR_MAD_TO_SIGMA * median_f (d, m) / sqrt (m);
          g_free (d);
        }
      apply &= isfinite (k[c]) && k[c] > 0.625 && k[c] < 1.6 && isfinite (se) && se < 0.1 && isfinite (wcol[c]);
      significant |= isfinite (se) && fabs (k[c] - 1.0) > 3.0 * se;
    }
  apply &= significant;
  double K = 0, wsum = 0;
  for (int c = 0; apply && c < 3; c++)
    K += wcol[c] * k[c], wsum += wcol[c];
  for (int c = 0; c < 3; c++)
    {
      cscale[c] = apply && K > 0 ? s * k[c] * wsum / K : s;
      g_array_unref (cr[c]);
      g_array_unref (cw[c]);
    }
  g_array_unref (ratios);
  return s;
}

typedef struct
{
  guint tile;
  float fwhm, roundness, contrast, fwhm_major;
} StarEntry;

static void
model_basis (const TsrAnalysis *a, double x, double y, double b[6])
{
  double u = 2.0 * x / MAX (a->width - 1, 1) - 1.0, v = 2.0 * y / MAX (a->height - 1, 1) - 1.0;
  b[0] = 1, b[1] = u, b[2] = v, b[3] = u * u, b[4] = u * v, b[5] = v * v;
}

static double
eval_model (const TsrAnalysis *a, const double *model, guint model_n, double x, double y)
{
  if (model_n == 0)
    return NAN;
  double b[6], s = 0;
  model_basis (a, x, y, b);
  for (int i = 0; i < 6; i++)
    s += model[i] * b[i];
  return s;
}

double
tsr_tbqr_model_fwhm (const TsrAnalysis *a, guint frame, double x, double y)
{
  const TsrFrameMetrics *fm = &a->frames[frame];
  return eval_model (a, fm->psf_model, fm->psf_model_n, x, y);
}

double
tsr_tbqr_model_fwhm_major (const TsrAnalysis *a, guint frame, double x, double y)
{
  const TsrFrameMetrics *fm = &a->frames[frame];
  return eval_model (a, fm->psf_model_major, fm->psf_model_major_n, x, y);
}

/* Solve the n×n system A·x = y in place (Gauss–Jordan, partial pivoting). */
static gboolean
solve_small (double *A, double *y, int n)
{
  for (int c = 0; c < n; c++)
    {
      int piv = c;
      for (int r = c + 1; r < n; r++)
        if (fabs (A[r * n + c]) > fabs (A[piv * n + c]))
          piv = r;
      if (fabs (A[piv * n + c]) < 1e-12)
        return FALSE;
      for (int k = 0; k < n; k++)
        {
          double t = A[c * n + k];
          A[c * n + k] = A[piv * n + k];
          A[piv * n + k] = t;
        }
      double t = y[c];
      y[c] = y[piv];
      y[piv] = t;
      for (int r = 0; r < n; r++)
        if (r != c)
          {
            double f = A[r * n + c] / A[c * n + c];
            for (int k = c; k < n; k++)
              A[r * n + k] -= f * A[c * n + k];
            y[r] -= f * y[c];
          }
    }
  for (int c = 0; c < n; c++)
    y[c] /= A[c * n + c];
  return TRUE;
}

/* Robust least-squares quadratic FWHM(x, y) over a frame's stars (reference geometry):
 * three passes, each dropping stars beyond 3·MAD of the residuals. A quadratic follows
 * field curvature, tilt and coma-like growth towards the corners, and is smooth on the
 * scale of a tile; with fewer than 15 stars there is no model. */
static void
fit_psf_model (TsrAnalysis *a, double *model, guint *model_n, const double *x, const double *y, const float *f,
               guint n)
{
  for (int i = 0; i < 6; i++)
    model[i] = NAN;
  *model_n = 0;
  if (n < 15)
    return;
  gboolean *keep = g_new (gboolean, n);
  float *res = g_new (float, n);
  for (guint i = 0; i < n; i++)
    keep[i] = TRUE;
  double c[6] = { 0 };
  guint used = 0;
  for (int it = 0; it < 3; it++)
    {
      double A[36] = { 0 }, yv[6] = { 0 };
      used = 0;
      for (guint i = 0; i < n; i++)
        if (keep[i])
          {
            double b[6];
            model_basis (a, x[i], y[i], b);
            for (int p = 0; p < 6; p++)
              {
                yv[p] += b[p] * f[i];
                for (int q = 0; q < 6; q++)
                  A[p * 6 + q] += b[p] * b[q];
              }
            used++;
          }
      /* a little ridge on the curvature terms keeps a one-sided star field stable */
      for (int p = 3; p < 6; p++)
        A[p * 6 + p] += 0.5;
      if (used < 15 || !solve_small (A, yv, 6))
        {
          used = 0;
          break;
        }
      memcpy (c, yv, sizeof c);
      guint m = 0;
      for (guint i = 0; i < n; i++)
        {
          double b[6], mv = 0;
          model_basis (a, x[i], y[i], b);
          for (int p = 0; p < 6; p++)
            mv += c[p] * b[p];
          res[i] = fabs (f[i] - mv);
        }
      float *tmp = g_memdup2 (res, sizeof (float) * n);
      float mad = tsr_median_inplace (tmp, n);
      g_free (tmp);
      double lim = 3.0 * TSR_MAD_TO_SIGMA * MAX (mad, 1e-3);
      for (guint i = 0; i < n; i++)
        keep[i] = res[i] <= lim;
      (void) m;
    }
  if (used >= 15)
    {
      memcpy (model, c, sizeof c);
      *model_n = used;
    }
  g_free (keep);
  g_free (res);
}

static int
cmp_entry (const void *x, const void *y)
{
  const StarEntry *a = x, *b = y;
  return a->tile < b->tile ? -1 : a->tile > b->tile;
}

/* The raw noise of each colour channel of a frame (issue #17: per-channel weights), in the
 * frame's own units: 1.4826·MAD of the differences of same-colour horizontal neighbours / √2
 * (a CFA mosaic: sites 2 px apart of that colour; RGB: each plane, neighbours 1 px apart; mono:
 * the one plane in all three). On a regular subsample of rows (at most ~128 k differences per
 * colour); integer data (raw ADU, a few repaired pixels allowed: tsr_differences_integral)
 * take the grouped-data median like tsr_plane_noise, so σ is not quantised in steps of
 * 1.05 ADU. NAN where a colour has fewer than 2 differences. */
static void
channel_noise (const TsrImage *img, double sigma[3])
{
  int W = img->width, H = img->height;
  gsize npix = (gsize) W * H;
  for (int c = 0; c < 3; c++)
    sigma[c] = NAN;
  if (img->channels == 3 || (img->channels == 1 && img->cfa == TSR_CFA_NONE))
    {
      for (int c = 0; c < img->channels; c++)
        sigma[c] = tsr_plane_noise (img->data + (gsize) c * npix, img->mask, W, H, 1);
      if (img->channels == 1)
        sigma[1] = sigma[2] = sigma[0];
      return;
    }
  if (img->channels != 1 || W < 4 || H < 2)
    return;
  /* a CFA row holds two colours; the rows of a parity, one in every row_step pairs */
  const gsize max_samples = (gsize) 128 * 1024;
  gsize per_row = (gsize) (W - 2);
  gsize total = per_row * (gsize) H;
  int row_step = 1;
  if (total > 2 * max_samples)
    row_step = (int) ((total + 2 * max_samples - 1) / (2 * max_samples));
  gsize cap = per_row * (gsize) ((H + row_step - 1) / row_step) + 2;
  float *d[3];
  gsize m[3] = { 0, 0, 0 }, fractional[3] = { 0, 0, 0 };
  for (int c = 0; c < 3; c++)
    d[c] = g_new (float, cap);
  /* rows in pairs (y, y + 1) so both parities, every colour, are visited */
  for (int y0 = 0; y0 < H; y0 += 2 * row_step)
    for (int y = y0; y < MIN (y0 + 2, H); y++)
      {
        const float *row = img->data + (gsize) y * W;
        const guint8 *mrow = img->mask + (gsize) y * W;
        for (int x = 0; x + 2 < W; x++)
          {
            if (!mrow[x] || !mrow[x + 2])
              continue;
            int c = tsr_cfa_color (img->cfa, x, y);
            float v = row[x] - row[x + 2];
            if (m[c] < cap)
              {
                fractional[c] += v != rintf (v);
                d[c][m[c]++] = v;
              }
          }
      }
  for (int c = 0; c < 3; c++)
    {
      if (m[c] >= 2)
        {
          gboolean integral = tsr_differences_integral (d[c], m[c], fractional[c]);
          float med = tsr_median_inplace (d[c], m[c]);
          double mad = tsr_mad_inplace (d[c], m[c], med);
          if (integral)
            mad = tsr_grouped_median (d[c], m[c], mad);
          sigma[c] = TSR_MAD_TO_SIGMA * mad / G_SQRT2;
        }
      g_free (d[c]);
    }
}

static gboolean
on_frame (guint index, const TsrImage *img, TsrFrameReg *fr, gpointer data,
          GCancellable *cancellable, GError **error)
{
  AnaJob *job = data;
  TsrAnalysis *a = job->a;
  TsrFrameMetrics *fm = &a->frames[index];
  tsr_tbqr_fit_planes (img, fm->plane);
  fm->scale = 1.0;
  fm->color_scale[0] = fm->color_scale[1] = fm->color_scale[2] = 1.0;
  if (fr->registered && strcmp (fr->method, "reference") != 0 && fr->stars)
    fm->scale = photometric_scale (job, img, fr->stars, &fr->transform, &fm->n_flux_pairs, fm->color_scale);
  double s = fm->scale;

  /* luminance proxy for energy and local structure */
  int ps = 1;
  g_autoptr (TsrImage) proxy = tsr_luminance_proxy (img, TSR_LUMA_SUPERPIXEL, &ps);
  int pw = proxy->width, ph = proxy->height;
  float pnoise = tsr_plane_noise (proxy->data, proxy->mask, pw, ph, 1);
  /* Gradient energy as the median over 32×32 blocks of the mean |∇|²: a satellite trail
   * or a plane crossing a few blocks cannot make a frame look sharp. */
  const int blk = 32;
  int nbx = MAX (1, (pw - 1) / blk), nby = MAX (1, (ph - 1) / blk);
  float *be = g_new (float, nbx * nby);
  int nbe = 0;
  for (int by = 0; by < nby; by++)
    for (int bx = 0; bx < nbx; bx++)
      {
        double acc = 0;
        gsize cnt = 0;
        for (int y = by * blk; y < MIN ((by + 1) * blk, ph - 1); y++)
          for (int x = bx * blk; x < MIN ((bx + 1) * blk, pw - 1); x++)
            {
              gsize k = (gsize) y * pw + x;
              if (!proxy->mask[k] || !proxy->mask[k + 1] || !proxy->mask[k + pw])
                continue;
              double gx = proxy->data[k + 1] - proxy->data[k], gy = proxy->data[k + pw] - proxy->data[k];
              acc += gx * gx + gy * gy;
              cnt++;
            }
        if (cnt > (gsize) blk * blk / 2)
          be[nbe++] = acc / cnt;
      }
  double e = nbe ? tsr_median_inplace (be, nbe) : 0;
  g_free (be);
  double cxm = (img->width - 1) / 2.0, cym = (img->height - 1) / 2.0;
  double bsum = 0;
  for (int c = 0; c < 3; c++)
    bsum += fm->plane[c][0] + fm->plane[c][1] * cxm + fm->plane[c][2] * cym;
  fm->background = bsum / 3.0 / s;
  fm->noise = fr->noise / s;
  /* σ_{f,c}: each channel's raw noise over its own photometric (colour) scale, the noise it
   * adds per unit of reference signal in that channel */
  {
    double sc[3];
    channel_noise (img, sc);
    for (int c = 0; c < 3; c++)
      fm->noise_channel[c] = isfinite (sc[c]) && fm->color_scale[c] > 0 ? sc[c] / fm->color_scale[c] : NAN;
  }
  fm->energy_paper = e / (s * s);
  fm->energy = pnoise > 0 ? e / ((double) pnoise * pnoise) : 0;

  if (!fr->registered)
    return TRUE;

  /* normalisation and transform of this frame are known now: warp it for accumulation
   * once, here, instead of in each accumulate pass (run.cache) */
  if (a->cache && !tsr_frame_cache_put_frame (a->cache, a, &a->params, img, index, &fr->transform, error))
    return FALSE;

  /* --- per tile: stars mapped into reference geometry --- */
  TsrTransform inv;
  if (!tsr_transform_invert (&fr->transform, &inv))
    return TRUE;
  TsrTileMetrics *tm;
  gboolean spilled = g_atomic_pointer_get (&a->tile_spill) != NULL;
  if (spilled)
    {
      tm = g_new (TsrTileMetrics, a->n_tiles);
      for (guint t = 0; t < a->n_tiles; t++)
        tm[t] = tile_missing;
    }
  else
    tm = &a->tile_metrics[(gsize) index * a->n_tiles];
  GArray *entries = g_array_new (FALSE, FALSE, sizeof (StarEntry));
  int T = a->tile_size, step = a->tile_step;
  guint ns = fr->stars->stars->len, nm = 0;
  double *mx = g_new (double, MAX (ns, 1u)), *my = g_new (double, MAX (ns, 1u));
  float *mf = g_new (float, MAX (ns, 1u)), *mj = g_new (float, MAX (ns, 1u));
  for (guint i = 0; i < ns; i++)
    {
      const TsrStar *st = &g_array_index (fr->stars->stars, TsrStar, i);
      double rx, ry;
      tsr_transform_apply (&inv, st->x, st->y, &rx, &ry);
      if (rx < 0 || ry < 0 || rx > a->width - 1 || ry > a->height - 1)
        continue;
      if (!st->saturated && isfinite (st->fwhm) && st->fwhm > 0.5)
        {
          mx[nm] = rx, my[nm] = ry, mf[nm] = st->fwhm;
          mj[nm] = isfinite (st->fwhm_major) && st->fwhm_major > 0 ? st->fwhm_major : st->fwhm;
          nm++;
        }
      int i0 = MAX (0, (int) ceil ((rx - T / 2.0) / step)), i1 = MIN (a->tiles_x - 1, (int) floor ((rx + T / 2.0) / step));
      int j0 = MAX (0, (int) ceil ((ry - T / 2.0) / step)), j1 = MIN (a->tiles_y - 1, (int) floor ((ry + T / 2.0) / step));
      for (int tj = j0; tj <= j1; tj++)
        for (int ti = i0; ti <= i1; ti++)
          {
            guint t = tj * a->tiles_x + ti;
            const TsrTile *tile = &a->tiles[t];
            if (rx < tile->x0 || rx >= tile->x1 || ry < tile->y0 || ry >= tile->y1)
              continue;
            tm[t].n_stars = (isnan (tm[t].n_stars) ? 0 : tm[t].n_stars) + 1;
            if (st->saturated || !isfinite (st->fwhm))
              continue;
            StarEntry en = { t, st->fwhm, st->roundness,
                             fr->noise > 0 ? st->peak / fr->noise : NAN,
                             isfinite (st->fwhm_major) && st->fwhm_major > 0 ? st->fwhm_major : st->fwhm };
            g_array_append_val (entries, en);
          }
    }
  fit_psf_model (a, fm->psf_model, &fm->psf_model_n, mx, my, mf, nm);
  fit_psf_model (a, fm->psf_model_major, &fm->psf_model_major_n, mx, my, mj, nm);
  g_free (mx), g_free (my), g_free (mf), g_free (mj);
  if (entries->len > 1) /* an empty GArray has no data pointer: qsort (NULL, 0) is undefined */
    qsort (entries->data, entries->len, sizeof (StarEntry), cmp_entry);
  float *buf = g_new (float, MAX (entries->len, 1u));
  for (guint k = 0; k < entries->len;)
    {
      guint t = g_array_index (entries, StarEntry, k).tile, e0 = k;
      while (k < entries->len && g_array_index (entries, StarEntry, k).tile == t)
        k++;
      guint n = k - e0;
      for (guint q = 0; q < n; q++)
        buf[q] = g_array_index (entries, StarEntry, e0 + q).fwhm;
      tm[t].fwhm = median_f (buf, n);
      for (guint q = 0; q < n; q++)
        buf[q] = g_array_index (entries, StarEntry, e0 + q).fwhm_major;
      tm[t].fwhm_major = median_f (buf, n);
      for (guint q = 0; q < n; q++)
        buf[q] = g_array_index (entries, StarEntry, e0 + q).roundness;
      tm[t].roundness = median_f (buf, n);
      for (guint q = 0; q < n; q++)
        buf[q] = g_array_index (entries, StarEntry, e0 + q).contrast;
      /* contrast in reference photometric units is peak/σ: scale-free */
      tm[t].contrast = median_f (buf, n);
    }
  g_free (buf);
  g_array_unref (entries);
  for (guint t = 0; t < a->n_tiles; t++)
    if (isnan (tm[t].n_stars))
      tm[t].n_stars = 0;

  /* --- per tile: structure metrics on the proxy around the mapped tile --- */
  float *vals = g_new (float, (gsize) (T / ps + 2) * (T / ps + 2));
  for (guint t = 0; t < a->n_tiles; t++)
    {
      const TsrTile *tile = &a->tiles[t];
      double fx, fy;
      tsr_transform_apply (&fr->transform, (tile->x0 + tile->x1 - 1) / 2.0, (tile->y0 + tile->y1 - 1) / 2.0, &fx, &fy);
      int hw = (tile->x1 - tile->x0) / 2 / ps, hh = (tile->y1 - tile->y0) / 2 / ps;
      int px = (int) lround ((fx - (ps == 2 ? 0.5 : 0)) / ps), py = (int) lround ((fy - (ps == 2 ? 0.5 : 0)) / ps);
      int x0 = MAX (0, px - hw), x1 = MIN (pw, px + hw + 1), y0 = MAX (0, py - hh), y1 = MIN (ph, py + hh + 1);
      if (x1 - x0 < 4 || y1 - y0 < 4)
        continue;
      gsize m = 0;
      double ee = 0;
      gsize ne = 0;
      for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
          {
            gsize k = (gsize) y * pw + x;
            if (!proxy->mask[k])
              continue;
            /* the tile's level from every other row and column: the median of ~700 sky
             * samples (64 px tiles: ~250) is as good, at a quarter of the selection work
             * (tiles overlap 4-fold) */
            if (!((y - y0) & 1) && !((x - x0) & 1))
              vals[m++] = proxy->data[k];
            if (x + 1 < x1 && y + 1 < y1 && proxy->mask[k + 1] && proxy->mask[k + pw])
              {
                double gx = proxy->data[k + 1] - proxy->data[k], gy = proxy->data[k + pw] - proxy->data[k];
                ee += gx * gx + gy * gy;
                ne++;
              }
          }
      if (m < 8 || ne < 9)
        continue;
      float bg = tsr_median_inplace (vals, m);
      /* tile noise from the same difference statistic as the frame's, on the sub-block */
      gsize mm = 0;
      for (int y = y0; y < y1; y += 2)
        for (int x = x0; x + 1 < x1; x++)
          {
            gsize k = (gsize) y * pw + x;
            if (proxy->mask[k] && proxy->mask[k + 1])
              vals[mm++] = fabsf (proxy->data[k + 1] - proxy->data[k]);
          }
      float mad = mm ? tsr_median_inplace (vals, mm) : NAN;
      double sigma = mad * TSR_MAD_TO_SIGMA / M_SQRT2;
      tm[t].background = bg / s;
      tm[t].noise = sigma / s;
      double E = ee / ne;
      tm[t].energy = a->params.energy == TSR_ENERGY_PAPER ? E / (s * s)
                     : (sigma > 0 ? E / (sigma * sigma) : NAN);
    }
  g_free (vals);
  if (spilled)
    {
      g_mutex_lock (&job->lock);
      gboolean ok = tile_store_frame (a, job->n_frames, index, tm, error);
      g_mutex_unlock (&job->lock);
      g_free (tm);
      return ok;
    }
  return TRUE;
}

TsrAnalysis *
tsr_tbqr_analyse (TsrSession *s, const TsrTbqrParams *p, const TsrRunParams *run, TsrProgressFunc progress, gpointer progress_data,
                  GCancellable *cancellable, GError **error)
{
  if (!tsr_tbqr_params_validate (p, error) || !tsr_run_params_validate (run, error))
    return NULL;
  /* the memory plan, before a pixel is read: refused now, not after the registration */
  TsrTbqrMemory mem;
  if (!tsr_tbqr_memory_plan (s->width, s->height, s->channels, s->cfa, tsr_session_n_frames (s), p, run, &mem, error)
      || !tsr_tbqr_memory_hold (&mem, tsr_session_filter_bytes (s), run, error))
    return NULL;
  TsrAnalysis *a = g_new0 (TsrAnalysis, 1);
  a->ref_count = 1;
  a->params = *p;
  a->run = *run;
  a->width = s->width;
  a->height = s->height;
  a->cfa = s->cfa;
  a->channels = s->channels;
  a->frames = g_new0 (TsrFrameMetrics, tsr_session_n_frames (s));
  AnaJob job = { a, NULL, NULL, tsr_session_n_frames (s) };
  TsrRunParams cache_run = *run;
  cache_run.cache_memory_mb = mem.cache_ram / (1024.0 * 1024.0);
  /* a Bayer session, drizzled or demosaiced frame by frame, reads the raw frames in every
   * pass and takes its rejection statistics from their 2 × 2 cells (no demosaiced, warped
   * copies): the analysis caches nothing for it */
  if (!tsr_tbqr_raw_cells (s->cfa, s->channels, tsr_session_n_frames (s), p))
    a->cache = tsr_frame_cache_new (a, p, &cache_run, tsr_session_n_frames (s));
  g_mutex_init (&job.lock);
  TsrRegisterParams rp = p->reg;
  rp.n_threads = run->n_threads;
  rp.memory_budget = mem.register_budget;
  a->reg = tsr_register_session_with_hooks (s, &rp, on_reference, on_frame, &job, progress,
                                            progress_data, cancellable, error);
  g_mutex_clear (&job.lock);
  if (job.ref_stars)
    g_array_unref (job.ref_stars);
  g_free (job.ref_cflux);
  if (!a->reg)
    {
      tsr_analysis_unref (a);
      return NULL;
    }
  return a;
}

TsrAnalysis *
tsr_analysis_ref (TsrAnalysis *a)
{
  g_atomic_int_inc (&a->ref_count);
  return a;
}

TsrAnalysis *
tsr_analysis_copy (const TsrAnalysis *a)
{
  g_return_val_if_fail (a != NULL && a->reg != NULL, NULL);
  guint n = a->reg->n_frames;
  TsrAnalysis *c = g_new (TsrAnalysis, 1);
  *c = *a;
  c->ref_count = 1;
  c->reg = tsr_registration_ref (a->reg);
  c->cache = NULL;
  c->tiles = g_memdup2 (a->tiles, sizeof (TsrTile) * a->n_tiles);
  c->frames = g_memdup2 (a->frames, sizeof (TsrFrameMetrics) * n);
  c->tile_metrics = a->tile_metrics ? g_memdup2 (a->tile_metrics, sizeof (TsrTileMetrics) * n * a->n_tiles) : NULL;
  c->tile_spill = NULL;
  if (a->tile_spill)
    {
      /* the copy holds its metrics in memory */
      c->tile_metrics = g_new (TsrTileMetrics, (gsize) n * a->n_tiles);
      if (!tile_spill_read (a, n, 0, a->n_tiles, c->tile_metrics))
        g_clear_pointer (&c->tile_metrics, g_free); /* it cannot be weighed (says why) */
    }
  return c;
}

void
tsr_analysis_drop_tile_metrics (TsrAnalysis *a)
{
  g_return_if_fail (a != NULL);
  g_clear_pointer (&a->tile_metrics, g_free);
  g_clear_pointer (&a->tile_spill, tile_spill_free);
}

void
tsr_analysis_unref (TsrAnalysis *a)
{
  if (!a || !g_atomic_int_dec_and_test (&a->ref_count))
    return;
  if (a->reg)
    tsr_registration_unref (a->reg);
  g_clear_pointer (&a->cache, tsr_frame_cache_free);
  g_free (a->tiles);
  g_free (a->frames);
  g_free (a->tile_metrics);
  tile_spill_free (a->tile_spill);
  g_free (a);
}

/* ---------------------------------------------------------------------------------------
 * Weigh: no pixels touched.
 */

/* Robust z-scores of the finite values; MAD = 0 (all equal) gives z = 0 for everyone;
 * non-finite values stay NAN (missing). */
void
tsr_robust_z (const double *v, guint n, double *z)
{
  double *tmp = g_new (double, MAX (n, 1u));
  guint m = 0;
  for (guint i = 0; i < n; i++)
    if (isfinite (v[i]))
      tmp[m++] = v[i];
  if (m == 0)
    {
      for (guint i = 0; i < n; i++)
        z[i] = NAN;
      g_free (tmp);
      return;
    }
  float *f = g_new (float, m);
  for (guint i = 0; i < m; i++)
    f[i] = tmp[i];
  float med = tsr_median_inplace (f, m);
  for (guint i = 0; i < m; i++)
    f[i] = fabs (tmp[i] - med);
  float mad = tsr_median_inplace (f, m);
  double sd = TSR_MAD_TO_SIGMA * mad;
  for (guint i = 0; i < n; i++)
    z[i] = !isfinite (v[i]) ? NAN : (sd > 0 ? (v[i] - med) / sd : 0.0);
  g_free (f);
  g_free (tmp);
}

void
tsr_robust_z_public (const double *v, guint n, double *z)
{
  tsr_robust_z (v, n, z);
}

static double
zterm (double z)
{
  return isfinite (z) ? z : 0.0; /* a missing measurement is neutral */
}

static void
kmeans (const double *x, guint n, guint d, int k, int *label, guint64 seed)
{
  GRand *rng = g_rand_new_with_seed ((guint32) seed);
  double *c = g_new (double, (gsize) k * d);
  double *dist = g_new (double, n);
  /* k-means++ seeding */
  guint first = g_rand_int_range (rng, 0, n);
  memcpy (c, x + (gsize) first * d, d * sizeof (double));
  for (int j = 1; j < k; j++)
    {
      double total = 0;
      for (guint i = 0; i < n; i++)
        {
          double best = G_MAXDOUBLE;
          for (int q = 0; q < j; q++)
            {
              double s = 0;
              for (guint e = 0; e < d; e++)
                s += (x[i * d + e] - c[q * d + e]) * (x[i * d + e] - c[q * d + e]);
              best = MIN (best, s);
            }
          dist[i] = best;
          total += best;
        }
      double r = g_rand_double (rng) * total;
      guint pick = n - 1;
      for (guint i = 0; i < n; i++)
        {
          r -= dist[i];
          if (r <= 0)
            {
              pick = i;
              break;
            }
        }
      memcpy (c + (gsize) j * d, x + (gsize) pick * d, d * sizeof (double));
    }
  for (int it = 0; it < 100; it++)
    {
      gboolean changed = FALSE;
      for (guint i = 0; i < n; i++)
        {
          int best = 0;
          double bd = G_MAXDOUBLE;
          for (int q = 0; q < k; q++)
            {
              double s = 0;
              for (guint e = 0; e < d; e++)
                s += (x[i * d + e] - c[q * d + e]) * (x[i * d + e] - c[q * d + e]);
              if (s < bd)
                bd = s, best = q;
            }
          if (label[i] != best)
            changed = TRUE;
          label[i] = best;
        }
      if (!changed && it > 0)
        break;
      for (int q = 0; q < k; q++)
        {
          guint cnt = 0;
          double *cc = c + (gsize) q * d;
          memset (cc, 0, d * sizeof (double));
          for (guint i = 0; i < n; i++)
            if (label[i] == q)
              {
                for (guint e = 0; e < d; e++)
                  cc[e] += x[i * d + e];
                cnt++;
              }
          if (cnt)
            for (guint e = 0; e < d; e++)
              cc[e] /= cnt;
          else
            memcpy (cc, x + (gsize) g_rand_int_range (rng, 0, n) * d, d * sizeof (double));
        }
    }
  g_free (c);
  g_free (dist);
  g_rand_free (rng);
}

TsrWeights *
tsr_tbqr_weigh (TsrAnalysis *a, const TsrTbqrParams *p, GError **error)
{
  return tsr_tbqr_weigh_with_choices (a, p, NULL, error);
}

TsrWeights *
tsr_tbqr_weigh_with_choices (TsrAnalysis *a, const TsrTbqrParams *p, const guint8 *choices, GError **error)
{
  if (!tsr_tbqr_params_validate (p, error))
    return NULL;
  if (!a->tile_metrics && !a->tile_spill)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FAILED,
                   _("this analysis can no longer be weighed: its per-tile metrics were freed after the last weighing"));
      return NULL;
    }
  /* The gate may have changed: re-apply it on a private copy of the registration table
   * (cheap), so weighing stays a pure function of the analysis and the parameters. */
  TsrRegisterParams rp = a->reg->params;
  rp.reject_cc_min_abs = p->reg.reject_cc_min_abs;
  rp.reject_cc_mad_multiplier = p->reg.reject_cc_mad_multiplier;
  rp.reject_cc_margin_min = p->reg.reject_cc_margin_min;
  rp.reject_cc_trust_stars = p->reg.reject_cc_trust_stars;
  rp.reject_scale_min = p->reg.reject_scale_min;
  rp.reject_scale_max = p->reg.reject_scale_max;
  rp.reject_shift_px_min = p->reg.reject_shift_px_min;
  rp.reject_shift_median_multiplier = p->reg.reject_shift_median_multiplier;
  guint n = a->reg->n_frames, nt = a->n_tiles;
  TsrRegistration gr = *a->reg;
  gr.frames = g_memdup2 (a->reg->frames, sizeof (TsrFrameReg) * n);
  tsr_registration_gate (&gr, &rp);

  TsrWeights *w = g_new0 (TsrWeights, 1);
  w->ref_count = 1;
  w->n_frames = n;
  w->n_tiles = nt;
  w->used = g_new0 (gboolean, n);
  w->gate = g_new0 (guint, n);
  w->ivw = g_new0 (double, n);
  w->q_global = g_new0 (double, n);
  w->g = g_new0 (double, n);
  w->q_local = g_new0 (float, (gsize) n * nt);
  w->l = g_new0 (float, (gsize) n * nt);
  w->w = g_new0 (float, (gsize) n * nt);
  w->tile_type = g_new0 (TsrTileType, nt);
  w->n_eff = g_new0 (float, nt);
  w->mean_l = g_new0 (double, n);
  w->cluster = g_new (int, n);
  w->choice = g_new0 (guint8, n);
  w->cc_threshold = gr.cc_threshold;
  w->cc_median = gr.cc_median;
  w->cc_mad = gr.cc_mad;
  w->shift_threshold = gr.shift_threshold;
  w->gate_params = rp;
  guint n_excluded = 0;
  for (guint f = 0; f < n; f++)
    {
      const TsrFrameReg *fr = &gr.frames[f];
      guint gate = fr->gate;
      guint8 choice = choices && choices[f] <= TSR_FRAME_EXCLUDE ? choices[f] : TSR_FRAME_AUTO;
      gboolean possible = fr->registered && !(gate & TSR_GATE_FAILED);
      w->gate[f] = gate;
      w->choice[f] = choice;
      if (choice == TSR_FRAME_EXCLUDE)
        w->used[f] = FALSE;
      else if (choice == TSR_FRAME_INCLUDE)
        w->used[f] = possible;
      else
        w->used[f] = possible && (gate == 0 || p->keep_gated);
      w->n_used += w->used[f];
      n_excluded += choice == TSR_FRAME_EXCLUDE;
      w->cluster[f] = -1;
    }
  g_free (gr.frames);
  if (w->n_used == 0 && n_excluded > 0)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_NO_VALID,
                   _("no frame is left to reconstruct: %u of %u frames are excluded by hand and the others are "
                     "gated; include some again"), n_excluded, n);
      tsr_weights_unref (w);
      return NULL;
    }
  if (w->n_used == 0)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_NO_VALID,
                   _("every frame was gated as geometrically invalid (%u frames); nothing to reconstruct — "
                     "check the registration table, or relax gate.* / set gate.keep_gated=true"), n);
      tsr_weights_unref (w);
      return NULL;
    }

  /* global quality over the used frames */
  double *vb = g_new (double, n), *vs = g_new (double, n), *ve = g_new (double, n);
  double *zb = g_new (double, n), *zs = g_new (double, n), *ze = g_new (double, n);
  for (guint f = 0; f < n; f++)
    {
      const TsrFrameMetrics *fm = &a->frames[f];
      vb[f] = w->used[f] ? fm->background : NAN;
      vs[f] = w->used[f] ? fm->noise : NAN;
      ve[f] = w->used[f] ? (p->energy == TSR_ENERGY_PAPER ? fm->energy_paper : fm->energy) : NAN;
    }
  tsr_robust_z (vb, n, zb);
  tsr_robust_z (vs, n, zs);
  tsr_robust_z (ve, n, ze);
  /* inverse-variance factor: σ_f is the sky noise in reference photometric units (after
   * the photometric scale), so σ_f² is the variance a frame adds per unit of signal — a
   * transparency loss or a bright sky raises it. */
  double smed = 0;
  {
    float *tmp = g_new (float, n);
    guint m = 0;
    for (guint f = 0; f < n; f++)
      if (w->used[f] && isfinite (vs[f]) && vs[f] > 0)
        tmp[m++] = vs[f];
    smed = m ? tsr_median_inplace (tmp, m) : 0;
    g_free (tmp);
  }
  for (guint f = 0; f < n; f++)
    {
      double q = p->alpha * -zterm (zb[f]) + p->beta * -zterm (zs[f]) + p->gamma * zterm (ze[f]);
      double v = 1.0;
      if (p->global_ivw && smed > 0 && isfinite (vs[f]) && vs[f] > 0)
        v = CLAMP ((smed / vs[f]) * (smed / vs[f]), 0.02, 50.0);
      w->q_global[f] = q;
      w->ivw[f] = w->used[f] ? v : 0;
      w->g[f] = w->used[f] ? v * exp (p->global_k * CLAMP (q, -p->global_clamp, p->global_clamp)) : 0;
    }

  /* per-channel inverse-variance factor (global.per_channel, the paper's G_{f,c}): each
   * channel of a colour session weighed by its own V_{f,c} = (median_f σ_{·,c} / σ_{f,c})²,
   * carried to the accumulation as the factor V_{f,c} / V_f on the frame's one weight, so the
   * local weights, the feathering and the cluster factor stay as they are. A frame (or a
   * channel) without a measured σ_{f,c} keeps factor 1. */
  gboolean colour = (a->channels == 1 && a->cfa != TSR_CFA_NONE) || a->channels == 3;
  if (p->global_per_channel && p->global_ivw && colour)
    {
      w->ivw_channel = g_new0 (double, (gsize) n * 3);
      w->chan = g_new (float, (gsize) n * 3);
      for (gsize i = 0; i < (gsize) n * 3; i++)
        w->chan[i] = 1.0f;
      float *tmp = g_new (float, n);
      for (int c = 0; c < 3; c++)
        {
          guint m = 0;
          for (guint f = 0; f < n; f++)
            {
              double sc = a->frames[f].noise_channel[c];
              if (w->used[f] && isfinite (sc) && sc > 0)
                tmp[m++] = sc;
            }
          double cmed = m ? tsr_median_inplace (tmp, m) : 0;
          for (guint f = 0; f < n; f++)
            {
              double sc = a->frames[f].noise_channel[c];
              double vc = w->ivw[f];
              if (cmed > 0 && isfinite (sc) && sc > 0)
                vc = CLAMP ((cmed / sc) * (cmed / sc), 0.02, 50.0);
              w->ivw_channel[(gsize) f * 3 + c] = w->used[f] ? vc : 0;
              if (w->used[f] && w->ivw[f] > 0)
                w->chan[(gsize) f * 3 + c] = (float) (vc / w->ivw[f]);
            }
        }
      g_free (tmp);
      /* Only where the frames' colour balance of noise differs: a weight off by a factor
       * 1 + δ costs noise in second order (the weighted variance of δ: ≤ 0.3 % of the variance,
       * ≤ 0.2 % of the noise, for every |δ| ≤ 0.1), less than three planes of sums and a
       * three-plane weight map are worth. Sessions of one exposure and sky (M94: |δ| ≤ 0.04)
       * keep the one weight bit for bit; mixed exposures (NGC 7023's 20 s frames: 0.80 / 1.00 /
       * 1.33) get the channels' own. V_{f,c} stays in ivw_channel for the report. */
      if (tsr_weights_channel_spread (w) <= TSR_CHANNEL_WEIGHT_MIN_DEV)
        g_clear_pointer (&w->chan, g_free);
    }

  /* local quality per tile */
  double *v1 = g_new (double, n), *v2 = g_new (double, n), *v3 = g_new (double, n);
  double *z1 = g_new (double, n), *z2 = g_new (double, n), *z3 = g_new (double, n);
  float *counts = g_new (float, n);
  double med_model = 0;
  {
    guint m = 0;
    for (guint f = 0; f < n; f++)
      if (w->used[f])
        counts[m++] = a->frames[f].psf_model_n;
    med_model = m ? tsr_median_inplace (counts, m) : 0;
  }
  TileView view;
  tile_view_init (&view, a);
  for (guint t = 0; t < nt; t++)
    {
      guint m = 0;
      for (guint f = 0; f < n; f++)
        if (w->used[f])
          counts[m++] = tile_view_at (&view, f, t)->n_stars;
      float med = m ? tsr_median_inplace (counts, m) : 0;
      /* STAR when the median frame has enough stars in the tile, or (local.psf_model) when
       * the median frame has a PSF field model on at least as many stars: the model is
       * smooth on the scale of a tile and measures the tile's FWHM from the whole frame. */
      gboolean model = p->local_psf_model && med_model >= MAX (p->star_tile_threshold, 15);
      gboolean star = m && (med >= p->star_tile_threshold || model);
      w->tile_type[t] = star ? TSR_TILE_STAR : TSR_TILE_STRUCTURE;
      const TsrTile *tile = &a->tiles[t];
      for (guint f = 0; f < n; f++)
        {
          const TsrTileMetrics *tm = tile_view_at (&view, f, t);
          gboolean u = w->used[f];
          if (star)
            {
              /* local.psf_size: the major-axis FWHM sees elongation (trailing, wind, tilt),
               * which the geometric-mean FWHM does not: a star elongated 1.3:1 at the same
               * mean FWHM has a 14 % wider major axis */
              gboolean major = p->local_psf_size == TSR_PSF_SIZE_MAJOR;
              double mf = !model ? NAN
                          : major ? tsr_tbqr_model_fwhm_major (a, f, tile->cx, tile->cy)
                                  : tsr_tbqr_model_fwhm (a, f, tile->cx, tile->cy);
              double tf = major ? tm->fwhm_major : tm->fwhm;
              v1[f] = u ? (isfinite (mf) ? mf : tf) : NAN;
              v2[f] = u ? tm->roundness : NAN;
              v3[f] = u ? tm->contrast : NAN;
            }
          else
            {
              v1[f] = u ? tm->energy : NAN;
              v2[f] = u ? tm->background : NAN;
              v3[f] = NAN;
            }
        }
      tsr_robust_z (v1, n, z1);
      tsr_robust_z (v2, n, z2);
      tsr_robust_z (v3, n, z3);
      /* local.mode=psf: the reference FWHM of the tile is the median over the used frames */
      gboolean psf = star && p->local_mode == TSR_LOCAL_PSF;
      double fref = NAN;
      if (psf)
        {
          guint mm = 0;
          for (guint f = 0; f < n; f++)
            if (isfinite (v1[f]) && v1[f] > 0)
              counts[mm++] = v1[f];
          fref = mm ? tsr_median_inplace (counts, mm) : NAN;
        }
      double s1 = 0, s2 = 0;
      for (guint f = 0; f < n; f++)
        {
          gsize k = (gsize) f * nt + t;
          double q = star ? p->w_fwhm * -zterm (z1[f]) + p->w_round * zterm (z2[f]) + p->w_contrast * zterm (z3[f])
                          : p->w_energy * zterm (z1[f]) + p->w_background * zterm (z2[f]);
          w->q_local[k] = q;
          double L;
          if (psf)
            /* matched-filter form: a point source's peak, hence its weight in a sharp stack,
             * goes as FWHM^−2; p > 2 trades noise for sharpness. The ratio is clipped to
             * [1/2, 2] against a failed model; a frame without a FWHM is neutral. */
            L = isfinite (fref) && isfinite (v1[f]) && v1[f] > 0
                  ? pow (CLAMP (v1[f] / fref, 0.5, 2.0), -p->local_p) : 1.0;
          else
            L = exp (p->local_k * CLAMP (q, -p->local_clamp, p->local_clamp));
          w->l[k] = w->used[f] ? L : 0;
          w->w[k] = w->used[f] ? w->g[f] * L : 0;
        }
      if (p->weight_cap > 0)
        {
          guint mm = 0;
          for (guint f = 0; f < n; f++)
            if (w->used[f])
              counts[mm++] = w->w[(gsize) f * nt + t];
          float medw = tsr_median_inplace (counts, mm);
          for (guint f = 0; f < n; f++)
            {
              gsize k = (gsize) f * nt + t;
              if (w->used[f])
                w->w[k] = MIN (w->w[k], p->weight_cap * medw);
            }
        }
      for (guint f = 0; f < n; f++)
        {
          double x = w->w[(gsize) f * nt + t];
          s1 += x;
          s2 += x * x;
        }
      w->n_eff[t] = s2 > 0 ? s1 * s1 / s2 : 0;
    }
  for (guint f = 0; f < n; f++)
    {
      double s = 0;
      for (guint t = 0; t < nt; t++)
        s += w->l[(gsize) f * nt + t];
      w->mean_l[f] = nt ? s / nt : 0;
    }

  /* clusters (§3.5) */
  gboolean clusters = p->clusters == TSR_CLUSTER_ON
                      || (p->clusters == TSR_CLUSTER_AUTO && (int) w->n_used >= p->cluster_auto_min);
  if (clusters && w->n_used >= 2)
    {
      int k = CLAMP ((int) w->n_used / 10, p->cluster_k_min, p->cluster_k_max);
      k = MIN (k, (int) w->n_used);
      guint d = 5, m = 0;
      double *x = g_new (double, (gsize) w->n_used * d);
      guint *map = g_new (guint, w->n_used);
      double *col = g_new (double, w->n_used), *zc = g_new (double, w->n_used);
      for (guint f = 0; f < n; f++)
        if (w->used[f])
          map[m++] = f;
      for (guint e = 0; e < d; e++)
        {
          for (guint i = 0; i < m; i++)
            {
              guint f = map[i];
              double mq = 0, vq = 0;
              for (guint t = 0; t < nt; t++)
                mq += w->q_local[(gsize) f * nt + t];
              mq /= MAX (nt, 1u);
              for (guint t = 0; t < nt; t++)
                vq += pow (w->q_local[(gsize) f * nt + t] - mq, 2);
              vq /= MAX (nt, 1u);
              double vals[5] = { w->g[f], mq, vq, a->frames[f].background, a->frames[f].noise };
              col[i] = vals[e];
            }
          tsr_robust_z (col, m, zc);
          for (guint i = 0; i < m; i++)
            x[i * d + e] = zterm (zc[i]);
        }
      int *label = g_new0 (int, m);
      for (guint i = 0; i < m; i++)
        label[i] = -1;
      kmeans (x, m, d, k, label, 20260215);
      w->n_clusters = k;
      w->cluster_q = g_new0 (double, k);
      w->cluster_w = g_new0 (double, k);
      guint *cnt = g_new0 (guint, k);
      for (guint i = 0; i < m; i++)
        {
          w->cluster[map[i]] = label[i];
          w->cluster_q[label[i]] += w->q_global[map[i]];
          cnt[label[i]]++;
        }
      double *ws = g_new (double, k);
      int nk = 0;
      for (int q = 0; q < k; q++)
        {
          w->cluster_q[q] = cnt[q] ? w->cluster_q[q] / cnt[q] : 0;
          w->cluster_w[q] = cnt[q] ? exp (p->kappa_cluster * w->cluster_q[q]) : 0;
          if (cnt[q])
            ws[nk++] = w->cluster_w[q];
        }
      if (p->cap_enabled && nk > 0)
        {
          float *wf = g_new (float, nk);
          for (int q = 0; q < nk; q++)
            wf[q] = ws[q];
          float medw = tsr_median_inplace (wf, nk);
          for (int q = 0; q < k; q++)
            w->cluster_w[q] = MIN (w->cluster_w[q], p->r_cap * medw);
          g_free (wf);
        }
      g_free (ws);
      g_free (cnt);
      g_free (label);
      g_free (x);
      g_free (map);
      g_free (col);
      g_free (zc);
    }
  g_free (vb), g_free (vs), g_free (ve), g_free (zb), g_free (zs), g_free (ze);
  g_free (v1), g_free (v2), g_free (v3), g_free (z1), g_free (z2), g_free (z3);
  g_free (counts);
  g_free (view.buf);
  if (view.failed)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO,
                   _("cannot read the per-tile metrics back from the temporary folder: %s"), g_strerror (EIO));
      tsr_weights_unref (w);
      return NULL;
    }
  return w;
}

TsrWeights *
tsr_weights_ref (TsrWeights *w)
{
  g_atomic_int_inc (&w->ref_count);
  return w;
}

void
tsr_weights_drop_tile_tables (TsrWeights *w, gboolean keep_quality)
{
  g_return_if_fail (w != NULL);
  g_clear_pointer (&w->l, g_free);
  if (!keep_quality)
    g_clear_pointer (&w->q_local, g_free);
}

double
tsr_weights_channel_spread (const TsrWeights *w)
{
  g_return_val_if_fail (w != NULL, NAN);
  if (!w->ivw_channel)
    return NAN;
  double dev = 0;
  for (guint f = 0; f < w->n_frames; f++)
    for (int c = 0; c < 3 && w->used[f] && w->ivw[f] > 0; c++)
      dev = MAX (dev, fabs (w->ivw_channel[(gsize) f * 3 + c] / w->ivw[f] - 1.0));
  return dev;
}

void
tsr_weights_unref (TsrWeights *w)
{
  if (!w || !g_atomic_int_dec_and_test (&w->ref_count))
    return;
  g_free (w->used);
  g_free (w->gate);
  g_free (w->ivw);
  g_free (w->ivw_channel);
  g_free (w->chan);
  g_free (w->q_global);
  g_free (w->g);
  g_free (w->q_local);
  g_free (w->l);
  g_free (w->w);
  g_free (w->tile_type);
  g_free (w->n_eff);
  g_free (w->mean_l);
  g_free (w->cluster);
  g_free (w->cluster_q);
  g_free (w->cluster_w);
  g_free (w->choice);
  g_free (w);
}
