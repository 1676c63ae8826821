/* tsr-deconv.c — multi-frame robust deconvolution: staging, seed, tiled MM iterations.
 *
 * 1. Registration pass (tsr_register_session_with_hooks): each registered frame is warped
 *    into the reference geometry (CFA-preserving for Bayer mosaics), its background plane,
 *    noise, photometric scale and PSF (per colour) are measured, and the warped frame is
 *    written raw to a staging folder. Nothing but these small results stays in memory.
 * 2. Seed pass: per-pixel median (the seed) and mean (validation) of the normalised frames
 *    in row bands within the memory budget.
 * 3. Iterations: the latent (padded by the PSF radius) is cut into tiles; every (tile,
 *    channel) reads the tile's observed region plus a halo from every staged frame and
 *    computes the exact multiplicative update of its core (the halo is wide enough that the
 *    core's num/den equal the untiled ones). Workers run in parallel within the budget.
 */
#include "tsr-deconv.h"
#include "tsr-frame-file.h"
#include "tsr-error.h"
#include "tsr-fits.h"
#include "tsr-register.h"
#include "tsr-stats.h"
#include "tsr-tbqr.h"

#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <fftw3.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define TSR_DECONV_AVX2 1
#endif
#include "tsr-fft.h"
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef G_OS_UNIX
#include <sys/mman.h>
#endif
#include "tsr-deconv-private.h"

/* ---------------------------------------------------------------------------------------
 * Small helpers
 */

int
tsr_deconv_data_plane (const Job *j, int c)
{
  return j->cfa != TSR_CFA_NONE ? 0 : c;
}

int
tsr_deconv_data_colour (const Job *j, int c)
{
  return j->cfa != TSR_CFA_NONE ? c : -1;
}

/* Robust plane fit of one colour (or channel) of a plane: box medians, then least squares
 * with iterative rejection of boxes that hold stars or nebulosity. */
void
tsr_deconv_fit_background (const float *v, const guint8 *mask, int w, int h, TsrCfa cfa, int colour,
                double out[3], double *rms)
{
  int bs = MAX (32, MIN (w, h) / 8);
  int nbx = MAX (1, w / bs), nby = MAX (1, h / bs);
  double *bx = g_new (double, nbx * nby), *by = g_new (double, nbx * nby), *bv = g_new (double, nbx * nby);
  float *tmp = g_new (float, (gsize) (w / nbx + 2) * (h / nby + 2));
  int nb = 0;
  for (int j = 0; j < nby; j++)
    for (int i = 0; i < nbx; i++)
      {
        int x0 = i * w / nbx, x1 = (i + 1) * w / nbx, y0 = j * h / nby, y1 = (j + 1) * h / nby;
        guint n = 0;
        for (int y = y0; y < y1; y++)
          for (int x = x0; x < x1; x++)
            {
              gsize k = (gsize) y * w + x;
              if (!mask[k] || (colour >= 0 && cfa != TSR_CFA_NONE && tsr_cfa_color (cfa, x, y) != colour))
                continue;
              tmp[n++] = v[k];
            }
        if (n < 16)
          continue;
        bx[nb] = 0.5 * (x0 + x1 - 1);
        by[nb] = 0.5 * (y0 + y1 - 1);
        bv[nb] = tsr_median_inplace (tmp, n);
        nb++;
      }
  g_free (tmp);
  double a = 0, b = 0, c = 0;
  gboolean *keep = g_new (gboolean, MAX (nb, 1));
  for (int i = 0; i < nb; i++)
    keep[i] = TRUE;
  for (int round = 0; round < 4 && nb > 0; round++)
    {
      /* normal equations for a + b (x − xc) + c (y − yc) */
      double xc = 0.5 * (w - 1), yc = 0.5 * (h - 1);
      double S[3][3] = { { 0 } }, R[3] = { 0 };
      int m = 0;
      for (int i = 0; i < nb; i++)
        {
          if (!keep[i])
            continue;
          double f[3] = { 1, bx[i] - xc, by[i] - yc };
          for (int p = 0; p < 3; p++)
            {
              R[p] += f[p] * bv[i];
              for (int q = 0; q < 3; q++)
                S[p][q] += f[p] * f[q];
            }
          m++;
        }
      double sol[3] = { 0, 0, 0 };
      if (m >= 6)
        {
          if (!tsr_solve3 (S, R, 1e-12, sol))
            sol[0] = R[0] / S[0][0];
        }
      else if (m > 0)
        sol[0] = R[0] / m;
      a = sol[0] - sol[1] * xc - sol[2] * yc;
      b = sol[1];
      c = sol[2];
      /* reject boxes far from the plane */
      float *res = g_new (float, nb);
      int nr = 0;
      for (int i = 0; i < nb; i++)
        if (keep[i])
          res[nr++] = (float) (bv[i] - (a + b * bx[i] + c * by[i]));
      float med = tsr_median_inplace (res, nr);
      float mad = tsr_mad_inplace (res, nr, med);
      g_free (res);
      double lim = 3.0 * TSR_MAD_TO_SIGMA * mad + 1e-9;
      for (int i = 0; i < nb; i++)
        keep[i] = fabs (bv[i] - (a + b * bx[i] + c * by[i]) - med) <= lim;
    }
  g_free (keep);
  g_free (bx);
  g_free (by);
  g_free (bv);
  out[0] = a;
  out[1] = b;
  out[2] = c;
  /* noise: 1.4826·MAD of the residual about the plane, on a subsample. One colour of a
   * mosaic: an odd stride, or an even stride on an even width never visits the odd columns
   * (no red sample at all on a GRBG frame: rms 0, and that frame's weights 1/rms² ran away) */
  gsize n = (gsize) w * h, step = MAX ((gsize) 1, n / 200000);
  if (colour >= 0 && cfa != TSR_CFA_NONE)
    step |= 1;
  float *res = g_new (float, n / step + 1);
  gsize m = 0;
  for (gsize k = 0; k < n; k += step)
    {
      int x = (int) (k % w), y = (int) (k / w);
      if (!mask[k] || (colour >= 0 && cfa != TSR_CFA_NONE && tsr_cfa_color (cfa, x, y) != colour))
        continue;
      res[m++] = (float) (v[k] - (a + b * x + c * y));
    }
  float med = tsr_median_inplace (res, m);
  float mad = tsr_mad_inplace (res, m, med);
  g_free (res);
  *rms = m > 0 ? TSR_MAD_TO_SIGMA * mad : 0;
}

gint
tsr_deconv_cmp_refstar (gconstpointer a, gconstpointer b)
{
  double d = ((const RefStar *) a)->x - ((const RefStar *) b)->x;
  return d < 0 ? -1 : d > 0;
}

gboolean
tsr_deconv_read_at (int fd, void *buf, gsize len, off_t off)
{
  char *p = buf;
  while (len > 0)
    {
      gssize k = pread (fd, p, len, off);
      if (k < 0 && errno == EINTR)
        continue;
      if (k <= 0)
        return FALSE;
      p += k;
      len -= (gsize) k;
      off += k;
    }
  return TRUE;
}

/* Staging file layout (W·H = n):
 *   warped: Cd float planes, then a byte mask (seed, mean, background);
 *   native: Cd float planes of the frame's own pixels taken at the nearest frame pixel of each
 *           reference pixel (no interpolation), a byte code (0 = invalid, 1 + CFA colour of
 *           that frame pixel, 1 for mono/RGB) and a uint32 plane: the exact position of that
 *           frame pixel in reference coordinates minus the reference pixel, e, packed as the
 *           cubic's tap offset and weight index per axis (tsr_deconv_tap_axis; two float planes
 *           before, read and converted for every pixel in every iteration). */
static off_t
stage_off (const Job *j, int what, int c)
{
  gsize n = (gsize) j->W * j->H, fl = sizeof (float);
  gsize warped = (gsize) j->Cd * n * fl + n;   /* native: Cn planes */
  switch (what)
    {
    case 0: return (off_t) ((gsize) c * n * fl);                        /* warped plane c */
    case 1: return (off_t) ((gsize) j->Cd * n * fl);                    /* warped mask */
    case 2: return (off_t) (warped + (gsize) c * n * fl);               /* native plane c */
    case 3: return (off_t) (warped + (gsize) j->Cn * n * fl);           /* code */
    default: return (off_t) (warped + (gsize) j->Cn * n * fl + n);       /* packed position */
    }
}

/* ---------------------------------------------------------------------------------------
 * Tiles and memory
 */

typedef struct
{
  int cx0, cx1, cy0, cy1;   /* core, padded fine coordinates */
  int qx0, qx1, qy0, qy1;   /* observed image pixels */
  int lx0, ly0, lw, lh;     /* latent extent, padded fine coordinates */
} Tile;

static void
tile_geometry (const Job *j, int tx, int ty, int T, Tile *t)
{
  int r = j->r, rf = j->pad;   /* the PSF radius plus the sampling margin */
  t->cx0 = tx * T;
  t->cx1 = MIN (j->LW, t->cx0 + T);
  t->cy0 = ty * T;
  t->cy1 = MIN (j->LH, t->cy0 + T);
  /* observed pixel q touches padded latent samples [r·q, r·q + r − 1 + 2·pad]: it samples the
   * convolution within M fine samples of its own r×r block, which reads the latent within rf */
  int ax = t->cx0 - 2 * rf - r + 1, ay = t->cy0 - 2 * rf - r + 1;
  t->qx0 = MAX (0, ax > 0 ? (ax + r - 1) / r : 0);
  t->qy0 = MAX (0, ay > 0 ? (ay + r - 1) / r : 0);
  t->qx1 = MIN (j->W, (t->cx1 - 1) / r + 1);
  t->qy1 = MIN (j->H, (t->cy1 - 1) / r + 1);
  t->lx0 = r * t->qx0;
  t->ly0 = r * t->qy0;
  t->lw = r * (t->qx1 - t->qx0) + 2 * rf;
  t->lh = r * (t->qy1 - t->qy0) + 2 * rf;
}

/* A tile's staged rows are read as whole image rows (one pread per plane for the tile) when
 * they are at most this many pixels wider than the tile: a pread per row and plane cost more
 * than copying the extra columns (one pread ≈ 0.5 µs; 256 px tiles: 0.43 of the three FFTs'
 * time per frame went to the reads) */
#define BLOCK_SLACK 512

/* the most residuals the automatic Huber δ's MAD is taken from, per frame and tile */
#define MAD_SAMPLES 16384

static gboolean
tile_block_read (const Job *j, const Tile *t)
{
  return !j->row_reads && j->W - (t->qx1 - t->qx0) <= BLOCK_SLACK;
}

typedef struct
{
  gsize fixed, kcache, per_worker;
  int max_lw, max_lh;
  gsize max_obs;
} MemPlan;

#define HUGE_SLACK ((gsize) 2 * MIB)

static void
mem_plan (const Job *j, int T, MemPlan *m)
{
  int ntx = (j->LW + T - 1) / T, nty = (j->LH + T - 1) / T;
  m->max_lw = m->max_lh = 0;
  m->max_obs = 0;
  for (int ty = 0; ty < nty; ty++)
    for (int tx = 0; tx < ntx; tx++)
      {
        Tile t;
        tile_geometry (j, tx, ty, T, &t);
        m->max_lw = MAX (m->max_lw, t.lw);
        m->max_lh = MAX (m->max_lh, t.lh);
        /* the staged-pixel buffers: whole rows when the tile reads them (tile_block_read) */
        gsize nb = (gsize) (tile_block_read (j, &t) ? j->W : t.qx1 - t.qx0) * (t.qy1 - t.qy0);
        m->max_obs = MAX (m->max_obs, nb);
      }
  /* FFT sizes round up a little; estimate with 10 % margin */
  double nreal = 1.1 * m->max_lw * 1.1 * m->max_lh;
  double ncomplex = nreal / 2 + 1.1 * m->max_lh;
  gsize spec = (gsize) (ncomplex * 8);
  m->fixed = (gsize) (j->momentum ? 5 : 3) * j->C * j->LW * j->LH * sizeof (float) /* x_old, x_new, (x_cur, g), callback image */
             + (gsize) (2 * MAX (j->Cd, j->C) + j->C) * j->W * j->H * sizeof (float) /* seed, mean (colour and L), coverage */
             + (j->luminance ? (gsize) (7 + 3 * j->r * j->r) * j->W * j->H * sizeof (float) : 0)   /* colour maps, colour iterate */
             + (gsize) j->nu * 4096 + 8 * MIB                                 /* frames, PSFs, plans */
             + (gsize) (2 * j->n_chunks + 1) * spec                           /* X, the chunks' NUM, DEN */
             + (gsize) (2 * nreal * sizeof (float));                          /* num, den (FFT grids) */
  /* the huge-page blocks (tsr_huge_block_init) are whole 2 MiB pages: up to 2 MiB more each
   * (the shared arrays', the kernel cache's, each worker's; the resident frames' below) */
  m->fixed += HUGE_SLACK;
  m->kcache = (gsize) j->nu * j->C * spec + HUGE_SLACK;
  m->per_worker = (gsize) (nreal * 4) + spec                                   /* FFT work */
                  + spec                                                       /* K */
                  + (gsize) m->max_lw * m->max_lh * sizeof (float)             /* h∗x */
                  + (gsize) (2 * nreal * sizeof (float))                       /* 2 scatters (one complex FFT grid) */
                  + m->max_obs * (2 * sizeof (float) + 1)                      /* y, taps, mask */
                  + (MAD_SAMPLES + 1) * sizeof (float)                         /* the MAD's samples */
                  + (gsize) j->W * 6 * sizeof (float)                          /* one row's h∗u and model */
                  + HUGE_SLACK;
}

/* ---------------------------------------------------------------------------------------
 * Iterations
 */

/* the first iteration after which the frames' scales are refitted (deconv.fit_scale) */
#define SCALE_FIT_FROM 3

/* the momentum's largest extrapolation factor. 0.95 overshot: the early stop then caught the
 * solve at a different depth than plain MM reaches (harness, geometric extrapolation: faint-star
 * flux 0.972 at 0.95, 0.980 at 0.9, 0.989 at 0.85 — 80 plain iterations give 0.992) */
#define ALPHA_MAX 0.85

/* den below this fraction of the tile's largest: no information, neutral ratio (process_item) */
#define DEN_REL_MIN 1e-5

/* Per worker thread: the per-frame buffers. */
typedef struct
{
  TsrHugeBlock block;       /* work's arrays, K, sz, acc */
  TsrConvWork *work;
  float *K;                 /* the frame's kernel spectrum when the cache is off */
  float *cv;                /* h∗x on the tile's valid region */
  float *sz;                /* the two scatters interleaved: a complex FFT grid (s1 + i s2) */
  float *s1;                /* sz as a plain buffer (process_item) */
  gboolean sdirty;          /* sz not all zero (new, or used as a plain buffer) */
  float *y;                 /* staged pixels */
  guint32 *tap;             /* their packed positions (tsr_deconv_tap_axis) */
  float *z;                 /* every stride-th residual z, for the MAD (selected in place) */
  guint8 *m;
  float *acc;               /* h∗u sampled at one row's staged pixels */
  float *rd1, *rmo, *riv;   /* one row: data and model above the background, 1/variance */
  guint *rowv;              /* valid pixels per row of the tile */
  gint32 *rbi;              /* one row: the cubic's first tap in the scatter grids */
  guint32 *rkt;             /* one row: its weights, keys_table entries x | y << 16 */
  GArray *samples;          /* |ratio − 1| samples (their median does not depend on the order) */
  double cpu;               /* thread CPU seconds spent on frames */
} Worker;

/* Sums of one (tile, channel) item. They are kept per item and added in item order after the
 * iteration, so the result does not depend on which worker took which item (floating-point
 * sums in thread order made runs differ in the last bits, then in the iteration count). */
typedef struct
{
  double sum_dx2, sum_x2, sum_delta;
  double sum_gp, sum_gg, max_step;
  guint n_delta;
  double *scale_sums;   /* per used frame: Σ w·(y − b)·m and Σ w·m² (m = h∗x at the pixel),
                           over the pixels of this item's core */
} ItemStats;

/* One item at a time is processed by all workers: its frames are cut into j->n_chunks fixed
 * contiguous chunks (max(2, threads): the same for 1 and 2 threads), each chunk sums its frames'
 * back-projections into its own spectra, and the chunks are added in chunk order, so the result
 * does not depend on which worker took which chunk. */
typedef struct
{
  TsrHugeBlock block;       /* numr … den */
  float *numr, *denr, *X;
  float **num, **den;       /* per chunk */
  double *delta_sum;        /* per chunk: Σ δ and their count */
  guint *delta_n;
  gboolean *any;            /* per chunk: some frame observed the tile */
  const Tile *t;
  int c;
  ItemStats *is;
  gint next_chunk;
  float *scratch;           /* ring_prior_rect's rows (grown as needed, kept) */
  gsize scratch_n;
} Shared;

/* the memory of a huge block or the allocator's failure (as g_new) */
static void
huge_block_init (TsrHugeBlock *b, gsize n)
{
  if (!tsr_huge_block_init (b, n))
    g_error ("tessera: failed to allocate %" G_GSIZE_FORMAT " bytes", tsr_huge_block_bytes (n));
}

static Worker *
worker_new (const Job *j)
{
  Worker *w = g_new0 (Worker, 1);
  gsize nl = (gsize) j->max_lw * j->max_lh;
  gsize no = MAX (j->max_obs, (gsize) 1);
  gsize sb = sizeof (float) * 2 * tsr_conv_plan_spectrum_len (j->plan), rb = sizeof (float) * j->grid_n;
  /* the arrays every frame visit sweeps in one huge-page block (tsr_huge_block_init); the
   * staged-pixel buffers (unused while the frames are resident) and h∗x of the prior (once per
   * item, first worker only) stay ordinary memory, untouched when unused */
  huge_block_init (&w->block, tsr_huge_part_bytes (rb) + tsr_huge_part_bytes (sb) * (j->kcache ? 1 : 2)
                                  + tsr_huge_part_bytes (2 * rb));
  float *real = tsr_huge_block_take (&w->block, rb);
  float *spec = tsr_huge_block_take (&w->block, sb);
  w->work = tsr_conv_work_new_with (j->plan, real, spec);
  w->K = j->kcache ? NULL : tsr_huge_block_take (&w->block, sb);
  /* the two scatters are one complex FFT grid, s1 in the real and s2 in the imaginary parts: the
   * back-projection scatters straight into it at offset (rf, rf), and one complex FFT in place
   * gives both spectra (it also serves as a plain nl buffer, 2 nreal ≥ nl) */
  w->sz = tsr_huge_block_take (&w->block, 2 * rb);
  w->s1 = w->sz;
  w->sdirty = TRUE;
  w->cv = g_new (float, nl);
  w->y = g_new (float, no);
  w->tap = g_new (guint32, no);
  w->m = g_new (guint8, no);
  w->z = g_new (float, MAD_SAMPLES + 1);
  w->rd1 = g_new (float, 4 * (gsize) j->W);
  w->rmo = w->rd1 + j->W;
  w->riv = w->rmo + j->W;
  w->acc = w->riv + j->W;
  w->rbi = g_new (gint32, j->W);
  w->rowv = g_new (guint, j->H);
  w->rkt = g_new (guint32, j->W);
  w->samples = g_array_new (FALSE, FALSE, sizeof (float));
  return w;
}

static void
worker_free (Worker *w)
{
  tsr_conv_work_free (w->work);
  tsr_huge_block_clear (&w->block);
  g_free (w->cv);
  g_free (w->y);
  g_free (w->tap);
  g_free (w->m);
  g_free (w->z);
  g_free (w->rd1);
  g_free (w->rbi);
  g_free (w->rowv);
  g_free (w->rkt);
  g_array_free (w->samples, TRUE);
  g_free (w);
}

static Shared *
shared_new (const Job *j)
{
  Shared *sh = g_new0 (Shared, 1);
  /* numr, denr: the whole FFT grid (the inverse FFTs write there directly) */
  int nw, nh;
  tsr_conv_plan_size (j->plan, &nw, &nh);
  gsize nl = (gsize) nw * nh;
  gsize sb = sizeof (float) * 2 * tsr_conv_plan_spectrum_len (j->plan);
  huge_block_init (&sh->block, 2 * tsr_huge_part_bytes (nl * sizeof (float))
                                   + (gsize) (2 * j->n_chunks + 1) * tsr_huge_part_bytes (sb));
  sh->numr = tsr_huge_block_take (&sh->block, nl * sizeof (float));
  sh->denr = tsr_huge_block_take (&sh->block, nl * sizeof (float));
  memset (sh->numr, 0, nl * sizeof (float));
  memset (sh->denr, 0, nl * sizeof (float));
  sh->X = tsr_huge_block_take (&sh->block, sb);
  memset (sh->X, 0, sb);
  sh->num = g_new0 (float *, j->n_chunks);
  sh->den = g_new0 (float *, j->n_chunks);
  for (int g = 0; g < j->n_chunks; g++)
    {
      /* a chunk's two spectra side by side (chunk_thread clears them) */
      sh->num[g] = tsr_huge_block_take (&sh->block, sb);
      sh->den[g] = tsr_huge_block_take (&sh->block, sb);
    }
  sh->delta_sum = g_new0 (double, j->n_chunks);
  sh->delta_n = g_new0 (guint, j->n_chunks);
  sh->any = g_new0 (gboolean, j->n_chunks);
  return sh;
}

static void
shared_free (const Job *j, Shared *sh)
{
  (void) j;
  tsr_huge_block_clear (&sh->block);
  g_free (sh->num);
  g_free (sh->den);
  g_free (sh->delta_sum);
  g_free (sh->delta_n);
  g_free (sh->any);
  g_free (sh->scratch);
  g_free (sh);
}

static void
job_fail (Job *j, GError *e)
{
  g_mutex_lock (&j->lock);
  if (!j->error)
    j->error = e;
  else
    g_error_free (e);
  j->abort = TRUE;
  g_mutex_unlock (&j->lock);
}

/* Eight floats and eight ints (GCC/Clang vector extension; no FMA, so the AVX2 clone and the
 * default one give the same bits) for the momentum's extrapolation. */
typedef float V8 __attribute__ ((vector_size (32)));
typedef gint32 V8i __attribute__ ((vector_size (32)));

/* lane-wise c ? a : b (c: −1 or 0 per lane); a macro: functions taking or returning 32-byte
 * vectors change the ABI without AVX */
#define V8_SEL(c, a, b) ((V8) (((V8i) (a) & (c)) | ((V8i) (b) & ~(c))))

/* four floats (GCC/Clang vector extension): the cubic's 4 taps of one row in one operation;
 * loads and stores unaligned */
typedef float V4 __attribute__ ((vector_size (16)));
typedef gint32 V4i __attribute__ ((vector_size (16)));
typedef double V4d __attribute__ ((vector_size (32)));
typedef gint64 V4l __attribute__ ((vector_size (32)));
/* Two vectors' lanes picked by index (0–3 the first, 4–7 the second), in GCC's and clang's
 * spellings (the fuzz targets are built with clang). */
#if defined(__clang__)
#define SHUF4(a, b, ...) __builtin_shufflevector (a, b, __VA_ARGS__)
#else
#define SHUF4(a, b, ...) __builtin_shuffle (a, b, (V4i) { __VA_ARGS__ })
#endif

static inline V4
v4_load (const float *p)
{
  V4 v;
  memcpy (&v, p, sizeof v);
  return v;
}

static inline void
v4_store (float *p, V4 v)
{
  memcpy (p, &v, sizeof v);
}

/* lane-wise square root (correctly rounded, as sqrtf) */
static inline V4
v4_sqrt (V4 v)
{
#ifdef TSR_DECONV_AVX2
  return (V4) _mm_sqrt_ps ((__m128) v);
#else
  return (V4) { sqrtf (v[0]), sqrtf (v[1]), sqrtf (v[2]), sqrtf (v[3]) };
#endif
}

/* Keys cubic (a = −½) weights of the taps floor(f) − 1 … floor(f) + 2 for fraction t ∈ [0, 1):
 * interpolating, and far less smoothing than bilinear sampling (which widens the model by up
 * to ¼ px² of variance at half-pixel offsets, so bright stars were over-sharpened and rang).
 * The four weights as one vector (lanes 1, 2: |d| < 1; lanes 0, 3: 1 ≤ |d| < 2). */
static inline V4
keys4 (float t)
{
  const float a = -0.5f;
  const V4 d = { 1 + t, t, 1 - t, 2 - t };
  const V4 mi = { 0, 1, 1, 0 }, mo = { 1, 0, 0, 1 };
  V4 inner = ((a + 2) * d - (a + 3)) * d * d + 1;
  V4 outer = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
  return inner * mi + outer * mo;
}

/* Keys weights tabulated at fractions i / KEYS_N (the sample position rounded to 1/4096 px,
 * far below the registration's error): one load per axis instead of two cubic polynomials,
 * in both the sampling and its transpose (which use the same entries, so the pair stays exact
 * adjoints) */
#define KEYS_N TSR_DECONV_KEYS_N
static V4 keys_table[KEYS_N + 1];

static void row_kernels_pick (void);
static GOnce keys_once = G_ONCE_INIT;

static gpointer
keys_table_init (gpointer data)
{
  (void) data;
  for (int i = 0; i <= KEYS_N; i++)
    keys_table[i] = keys4 ((float) i / KEYS_N);
  row_kernels_pick ();
  return NULL;
}


static double
process_cpu_seconds (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double
thread_cpu_seconds (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* h∗u at one frame pixel: Keys cubic from the valid region cv (row stride vw) at tap origin c0
 * with weights wx, wy */
static inline float
pixel_sample (const float *c0, int vw, V4 wxv, V4 wy)
{
  V4 rows = v4_load (c0) * wy[0] + v4_load (c0 + vw) * wy[1] + v4_load (c0 + 2 * vw) * wy[2]
            + v4_load (c0 + 3 * vw) * wy[3];
  rows *= wxv;
  return (rows[0] + rows[1]) + (rows[2] + rows[3]);
}

/* the model at one frame pixel from its sample acc = h∗u: mo = s·h∗u, d1 = the data above the
 * background, iv = 1/variance; the same float operations as the main pass's vectorised step 2,
 * lane by lane (the MAD's samples must see the residuals the weights use) */
static inline void
pixel_model (float acc, float sf, float yv, float bk, float spedf, float rms2, float ig, float *mo_, float *d1_,
             float *iv_)
{
  /* the solver's latent carries the pedestal: h∗(x + P) = h∗x + P. mo = s·h∗u at the
   * pixel; d1 = the data above the background the latent + pedestal sits on */
  float mo = sf * acc;
  /* max (mo − sP, 0) without a branch: on the sky the sign is a coin toss and the branch
   * was mispredicted for half the pixels (ig = 0: no Poisson term, 0 · ig adds nothing) */
  union
  {
    float f;
    gint32 i;
  } lin = { mo - spedf };
  lin.i &= ~(lin.i >> 31);
  float v = rms2 + lin.f * ig;
  *mo_ = mo;
  *d1_ = yv - bk;
  *iv_ = 1.0f / v;
}

/* The two per-pixel kernels of a frame row, h∗u sampled at its valid pixels (the Keys cubic
 * gather) and the transposed scatter of two weighted values into the grids, in a portable form
 * (GCC vector extension, 4 floats) and, on x86-64, an AVX2 form picked at run time. Both forms
 * do the same float operations in the same order on each value (no FMA), so they give the same
 * bits (`/deconv/kernels-avx2` compares them). */
typedef struct
{
  const float *cv;     /* h∗x on the tile's valid region, row stride vw */
  int vw;
  int r;               /* fine pixels per frame pixel */
  int rq0;             /* fine column of the row's pixel 0 minus the cubic's first tap, + 3 */
  int iyr;             /* fine row of the row's taps − 3 */
  float *sz;           /* the scatter grids interleaved (s1, s2 of a cell side by side), row stride gw cells */
  int gw, rf;
} RowGeom;

static inline const float *
row_tap (const RowGeom *g, int x, guint32 tp)
{
  int ix = g->r * x + g->rq0 + (int) ((tp >> 13) & 7) - 3;
  int iy = g->iyr + (int) (tp >> 29);
  return g->cv + (gsize) iy * g->vw + ix;
}

/* h∗u at the row's pixel x; invalid pixels read 0 (no tap is decoded for them) */
static inline float
sample_at (const RowGeom *g, const guint8 *restrict mrow, const guint32 *restrict trow, int x)
{
  if (!mrow[x])
    return 0;
  guint32 tp = trow[x];
  return pixel_sample (row_tap (g, x, tp), g->vw, keys_table[tp & 0x1fff], keys_table[(tp >> 16) & 0x1fff]);
}

static inline void
gather_one (const RowGeom *g, const guint8 *restrict mrow, const guint32 *restrict trow, float *restrict arow, int x)
{
  arow[x] = sample_at (g, mrow, trow, x);
}

static void
gather_row_v4 (const RowGeom *g, const guint8 *restrict mrow, const guint32 *restrict trow, float *restrict arow, int ow)
{
  for (int x = 0; x < ow; x++)
    gather_one (g, mrow, trow, arow, x);
}

/* every fourth pixel per sweep, four sweeps: neighbouring pixels' 4-float windows overlap by 3
 * floats, and a load that partly overlaps a store still in flight cannot be forwarded from it
 * and waits (the pixels in order cost ~1.8 ms per 0.2 Mpx frame). The sweeps run over chunks of
 * SCATTER_CHUNK pixels, so that the four grid rows a chunk touches stay in L1 from one sweep to
 * the next (a whole 1024-px row's four grid rows are 35 KB). */
#define SCATTER_CHUNK 128
static void
scatter_row_v4 (const RowGeom *g, const guint8 *restrict mrow, const gint32 *restrict bir, const guint32 *restrict ktr,
                const float *restrict a1, const float *restrict a2, int ow)
{
  const int gw = g->gw;
  for (int c0 = 0; c0 < ow; c0 += SCATTER_CHUNK)
    for (int x0 = c0, c1 = MIN (ow, c0 + SCATTER_CHUNK); x0 < c0 + 4; x0++)
      for (int x = x0; x < c1; x += 4)
      {
        if (!mrow[x])
          continue;
        V4 wxv = keys_table[ktr[x] & 0xffff], wy = keys_table[ktr[x] >> 16];
        float *restrict q = g->sz + 2 * (gsize) bir[x];
        V4 w1 = wxv * a1[x], w2 = wxv * a2[x];
        /* the window's row interleaved: (w1₀ w2₀ w1₁ w2₁) (w1₂ w2₂ w1₃ w2₃) */
        V4 lo = SHUF4 (w1, w2, 0, 4, 1, 5), hi = SHUF4 (w1, w2, 2, 6, 3, 7);
        for (int b = 0; b < 4; b++, q += 2 * gw)
          {
            v4_store (q, v4_load (q) + lo * wy[b]);
            v4_store (q + 4, v4_load (q + 4) + hi * wy[b]);
          }
      }
}

#ifdef TSR_DECONV_AVX2
#define TSR_AVX2 __attribute__ ((target ("avx2")))

/* two 4-float windows as the halves of one 8-float vector */
static inline TSR_AVX2 __m256
v8_pair (const float *lo, const float *hi)
{
  return _mm256_insertf128_ps (_mm256_castps128_ps256 (_mm_loadu_ps (lo)), _mm_loadu_ps (hi), 1);
}

/* pixels a (low half) and b (high half): the four rows' weighted sum times wx, the same
 * operations as pixel_sample before its horizontal sum */
static inline TSR_AVX2 __m256
gather_pair (const RowGeom *g, const float *ca, guint32 ta, const float *cb, guint32 tb)
{
  const int vw = g->vw;
  __m256 wy = v8_pair ((const float *) &keys_table[(ta >> 16) & 0x1fff], (const float *) &keys_table[(tb >> 16) & 0x1fff]);
  __m256 wx = v8_pair ((const float *) &keys_table[ta & 0x1fff], (const float *) &keys_table[tb & 0x1fff]);
  __m256 rows = _mm256_mul_ps (v8_pair (ca, cb), _mm256_permute_ps (wy, 0x00));
  rows = _mm256_add_ps (rows, _mm256_mul_ps (v8_pair (ca + vw, cb + vw), _mm256_permute_ps (wy, 0x55)));
  rows = _mm256_add_ps (rows, _mm256_mul_ps (v8_pair (ca + 2 * vw, cb + 2 * vw), _mm256_permute_ps (wy, 0xaa)));
  rows = _mm256_add_ps (rows, _mm256_mul_ps (v8_pair (ca + 3 * vw, cb + 3 * vw), _mm256_permute_ps (wy, 0xff)));
  return _mm256_mul_ps (rows, wx);
}

static TSR_AVX2 void
gather_row_avx2 (const RowGeom *g, const guint8 *restrict mrow, const guint32 *restrict trow, float *restrict arow,
                 int ow)
{
  const __m128i rv = _mm_set1_epi32 (g->r), q0 = _mm_set1_epi32 (g->rq0 - 3), seven = _mm_set1_epi32 (7),
                vwv = _mm_set1_epi32 (g->vw);
  const int vw = g->vw;
  int x = 0;
  for (; x + 4 <= ow; x += 4)
    {
      /* eight valid pixels whose windows share their row and their column offset (the usual
       * run of a registered frame at r = 1): the eight windows are one 8 × 4 block of cv,
       * column c0 + i for pixel i, and the pixels are the lanes (no shuffles of the windows) */
      if (g->r == 1 && x + 8 <= ow)
        {
          guint64 mb;
          memcpy (&mb, mrow + x, 8);
          __m256i tp = _mm256_loadu_si256 ((const __m256i *) (trow + x));
          __m256i key = _mm256_and_si256 (tp, _mm256_set1_epi32 ((int) 0xe000e000u));
          if (!((mb - 0x0101010101010101ull) & ~mb & 0x8080808080808080ull)
              && _mm256_movemask_epi8 (_mm256_cmpeq_epi32 (key, _mm256_set1_epi32 ((int) (trow[x] & 0xe000e000u))))
                   == -1)
            {
              guint32 t0 = trow[x];
              const float *c0 = g->cv + (gsize) (g->iyr + (int) (t0 >> 29)) * vw + x + g->rq0 + (int) ((t0 >> 13) & 7) - 3;
              /* the eight pixels' weights, pixel i in lane i of wx[k], wy[b] (a 4 × 4 transpose
               * in each half: pixels 0–3 low, 4–7 high) */
              __m256 wx[4], wy[4];
              for (int axis = 0; axis < 2; axis++)
                {
                  __m256 q[4];
                  for (int i = 0; i < 4; i++)
                    {
                      guint32 ta = trow[x + i], tb = trow[x + i + 4];
                      guint32 ia = axis ? (ta >> 16) & 0x1fff : ta & 0x1fff, ib = axis ? (tb >> 16) & 0x1fff : tb & 0x1fff;
                      q[i] = v8_pair ((const float *) &keys_table[ia], (const float *) &keys_table[ib]);
                    }
                  __m256 u0 = _mm256_unpacklo_ps (q[0], q[1]), u1 = _mm256_unpackhi_ps (q[0], q[1]);
                  __m256 u2 = _mm256_unpacklo_ps (q[2], q[3]), u3 = _mm256_unpackhi_ps (q[2], q[3]);
                  __m256 *w = axis ? wy : wx;
                  w[0] = _mm256_shuffle_ps (u0, u2, 0x44);
                  w[1] = _mm256_shuffle_ps (u0, u2, 0xee);
                  w[2] = _mm256_shuffle_ps (u1, u3, 0x44);
                  w[3] = _mm256_shuffle_ps (u1, u3, 0xee);
                }
              /* pixel_sample's operations in its order, lane by lane: the four rows weighted
               * by wy and summed in order, times wx, then (k0 + k1) + (k2 + k3) */
              __m256 t[4];
              for (int k = 0; k < 4; k++)
                {
                  __m256 v = _mm256_mul_ps (_mm256_loadu_ps (c0 + k), wy[0]);
                  v = _mm256_add_ps (v, _mm256_mul_ps (_mm256_loadu_ps (c0 + vw + k), wy[1]));
                  v = _mm256_add_ps (v, _mm256_mul_ps (_mm256_loadu_ps (c0 + 2 * vw + k), wy[2]));
                  v = _mm256_add_ps (v, _mm256_mul_ps (_mm256_loadu_ps (c0 + 3 * vw + k), wy[3]));
                  t[k] = _mm256_mul_ps (v, wx[k]);
                }
              _mm256_storeu_ps (arow + x, _mm256_add_ps (_mm256_add_ps (t[0], t[1]), _mm256_add_ps (t[2], t[3])));
              x += 4;   /* and 4 more by the loop */
              continue;
            }
        }
      if (!(mrow[x] && mrow[x + 1] && mrow[x + 2] && mrow[x + 3]))
        {
          for (int i = 0; i < 4; i++)
            gather_one (g, mrow, trow, arow, x + i);
          continue;
        }
      /* the four windows' offsets (row_tap) four at a time */
      __m128i tp = _mm_loadu_si128 ((const __m128i *) (trow + x));
      __m128i ix = _mm_add_epi32 (_mm_mullo_epi32 (_mm_add_epi32 (_mm_set1_epi32 (x), _mm_setr_epi32 (0, 1, 2, 3)), rv),
                                  _mm_add_epi32 (q0, _mm_and_si128 (_mm_srli_epi32 (tp, 13), seven)));
      __m128i iy = _mm_add_epi32 (_mm_set1_epi32 (g->iyr), _mm_srli_epi32 (tp, 29));
      __m128i of = _mm_add_epi32 (_mm_mullo_epi32 (iy, vwv), ix);
      __m256 p = gather_pair (g, g->cv + (guint32) _mm_extract_epi32 (of, 0), trow[x], g->cv + (guint32) _mm_extract_epi32 (of, 1),
                              trow[x + 1]);
      __m256 q = gather_pair (g, g->cv + (guint32) _mm_extract_epi32 (of, 2), trow[x + 2],
                              g->cv + (guint32) _mm_extract_epi32 (of, 3), trow[x + 3]);
      /* (r0 + r1) + (r2 + r3) in each half: lanes x, x + 2 (low), x + 1, x + 3 (high) */
      __m256 h = _mm256_hadd_ps (p, q);
      h = _mm256_hadd_ps (h, h);
      _mm_storeu_ps (arow + x, _mm_unpacklo_ps (_mm256_castps256_ps128 (h), _mm256_extractf128_ps (h, 1)));
    }
  for (; x < ow; x++)
    gather_one (g, mrow, trow, arow, x);
}

static TSR_AVX2 void
scatter_row_avx2 (const RowGeom *g, const guint8 *restrict mrow, const gint32 *restrict bir,
                  const guint32 *restrict ktr, const float *restrict a1, const float *restrict a2, int ow)
{
  /* the grid and its row stride in locals: the stores through q could alias *g in the compiler's
   * view, which then reloaded g->sz for every pixel */
  float *const sz = g->sz;
  const gsize gs = 2 * (gsize) g->gw;
  const __m256i dup = _mm256_setr_epi32 (0, 0, 1, 1, 2, 2, 3, 3);
  for (int c0 = 0; c0 < ow; c0 += SCATTER_CHUNK)
    for (int x0 = c0, c1 = MIN (ow, c0 + SCATTER_CHUNK); x0 < c0 + 4; x0++)
      for (int x = x0; x < c1; x += 4)
      {
        if (!mrow[x])
          continue;
        const guint32 k = ktr[x];
        /* the window's row interleaved, (wx₀·a1 wx₀·a2 wx₁·a1 … wx₃·a2): the weights each
         * doubled (one lane permutation) times the pair (a1, a2) in every 64-bit lane — the
         * products of the portable form, with three shuffles and a multiplication fewer */
        __m256 wxd = _mm256_permutevar8x32_ps (_mm256_castps128_ps256 (_mm_loadu_ps ((const float *) &keys_table[k & 0xffff])), dup);
        __m128 pr = _mm_unpacklo_ps (_mm_load_ss (a1 + x), _mm_load_ss (a2 + x));
        __m256 wv = _mm256_mul_ps (wxd, _mm256_castpd_ps (_mm256_broadcastsd_pd (_mm_castps_pd (pr))));
        const float *wy = (const float *) &keys_table[k >> 16];
        float *q = sz + 2 * (gsize) bir[x];
        _mm256_storeu_ps (q, _mm256_add_ps (_mm256_loadu_ps (q), _mm256_mul_ps (wv, _mm256_broadcast_ss (wy))));
        _mm256_storeu_ps (q + gs, _mm256_add_ps (_mm256_loadu_ps (q + gs), _mm256_mul_ps (wv, _mm256_broadcast_ss (wy + 1))));
        _mm256_storeu_ps (q + 2 * gs, _mm256_add_ps (_mm256_loadu_ps (q + 2 * gs), _mm256_mul_ps (wv, _mm256_broadcast_ss (wy + 2))));
        _mm256_storeu_ps (q + 3 * gs, _mm256_add_ps (_mm256_loadu_ps (q + 3 * gs), _mm256_mul_ps (wv, _mm256_broadcast_ss (wy + 3))));
      }
}
#endif

typedef void (*GatherRowFn) (const RowGeom *, const guint8 *, const guint32 *, float *, int);
typedef void (*ScatterRowFn) (const RowGeom *, const guint8 *, const gint32 *, const guint32 *, const float *,
                              const float *, int);
static GatherRowFn gather_row = gather_row_v4;
static ScatterRowFn scatter_row = scatter_row_v4;
static gboolean rows_avx2;   /* the AVX2 forms of the rows' other kernels (huber_row) */

static void
row_kernels_pick (void)
{
#ifdef TSR_DECONV_AVX2
  /* TSR_DECONV_NO_AVX2=1: the portable kernels (for comparing the two) */
  __builtin_cpu_init ();
  if (__builtin_cpu_supports ("avx2") && !g_getenv ("TSR_DECONV_NO_AVX2"))
    {
      gather_row = gather_row_avx2;
      scatter_row = scatter_row_avx2;
      rows_avx2 = TRUE;
    }
#endif
}

/* Function multiversioning for the rows' vectorised loops (x86-64 with glibc: an AVX2 clone
 * picked at load time; no FMA, so both clones round alike) */
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__has_attribute)
#if __has_attribute (target_clones)
#define TSR_ROW_CLONES __attribute__ ((target_clones ("avx2", "default")))
#endif
#endif
#ifndef TSR_ROW_CLONES
#define TSR_ROW_CLONES
#endif

/* Σ w·(y − b)·m and Σ w·m² over the valid pixels of a row whose fine column r·(qx0 + x) + pad
 * is in [cx0, cx1) (m = h∗x = mo/s − P, y − b = d1 − sP), then d1 and mo replaced by the
 * weighted values w·d1, w·mo (every pixel of the row: the scatter's input). The row's sums in
 * floats, eight partial sums (pixels x mod 8; at most a few hundred terms each, so ~10⁻⁶ of the
 * sum), added in double to the running sums: the double lanes with three conversions a pixel
 * were 0.18 ms of a 0.2 Mpx frame's 3.3 ms visit (issue 12). */
static TSR_ROW_CLONES void
scale_sums_row (const guint8 *restrict mrow, const float *restrict wt, float *restrict d1, float *restrict mo, int ow,
                int r, int qx0, int pad, int cx0, int cx1, double inv_s, float pedf, double sped, double *s0_,
                double *s1_)
{
  const float isf = (float) inv_s, spf = (float) sped;
  V8 v0 = { 0 }, v1 = { 0 };
  const V8i lane = { 0, 1, 2, 3, 4, 5, 6, 7 };
  int x = 0;
  for (; x + 8 <= ow; x += 8)
    {
      V8i px = r * (qx0 + x + lane) + pad;
      V8i mv = { mrow[x], mrow[x + 1], mrow[x + 2], mrow[x + 3], mrow[x + 4], mrow[x + 5], mrow[x + 6], mrow[x + 7] };
      V8i in = (mv != 0) & (px >= cx0) & (px < cx1);
      V8 w, m, d;
      memcpy (&w, wt + x, sizeof w);
      memcpy (&m, mo + x, sizeof m);
      memcpy (&d, d1 + x, sizeof d);
      V8 mdl = m * isf - pedf, dat = d - spf;
      /* a select: invalid pixels' values may be NaN */
      v0 += (V8) ((V8i) (w * dat * mdl) & in);
      v1 += (V8) ((V8i) (w * mdl * mdl) & in);
      /* then the weighted data and model in place (the scatter's values) */
      d *= w;
      m *= w;
      memcpy (d1 + x, &d, sizeof d);
      memcpy (mo + x, &m, sizeof m);
    }
  float a0[8], a1[8];
  memcpy (a0, &v0, sizeof a0);
  memcpy (a1, &v1, sizeof a1);
  for (; x < ow; x++)
    {
      int px = r * (qx0 + x) + pad;
      if (mrow[x] && px >= cx0 && px < cx1)
        {
          float w = wt[x], mdl = mo[x] * isf - pedf, dat = d1[x] - spf;
          a0[0] += w * dat * mdl;
          a1[0] += w * mdl * mdl;
        }
      d1[x] *= wt[x];
      mo[x] *= wt[x];
    }
  double s0 = 0, s1 = 0;
  for (int k = 0; k < 8; k++)
    {
      s0 += a0[k];
      s1 += a1[k];
    }
  *s0_ += s0;
  *s1_ += s1;
}

typedef struct
{
  int ow, r, qx0, oxi, iyr, rf, gw;
  double brow, p1;               /* the background plane along the row: brow + p1 · column */
  float sf, spedf, rms2, ig;     /* scale, scale × pedestal, read noise², 1/gain */
  gboolean huber;
  gboolean weighted;             /* write d1·iv and mo·iv (the scatter's values) instead of d1, mo */
  float dl, dl2;                 /* Huber δ, δ² */
} RowModel;

/* A pixel's output of row_model: the scatter's weighted values, or the model and weight. */
static inline void
row_out (gboolean weighted, int x, float mo, float wt, float *restrict d1r, float *restrict mor, float *restrict ivr)
{
  if (weighted)
    {
      d1r[x] *= wt;
      mor[x] = mo * wt;
    }
  else
    {
      mor[x] = mo;
      ivr[x] = wt;
    }
}

/* huber_row's pixels from x on, one at a time (the vector forms' operations) */
static void
huber_row_tail (const RowModel *m, int x, const float *restrict accr, float *restrict d1r, float *restrict mor,
                float *restrict ivr)
{
  const float sf = m->sf, spedf = m->spedf, rms2 = m->rms2, ig = m->ig, dl = m->dl, dl2 = m->dl2;
  for (; x < m->ow; x++)
    {
      float mo = sf * accr[x];
      float lin = mo - spedf;
      lin = lin > 0.0f ? lin : 0.0f;
      float iv = 1.0f / (rms2 + lin * ig), rr = d1r[x] - mo, zs = rr * rr * iv;
      float wt = zs > dl2 ? iv * (dl / sqrtf (zs)) : iv;
      row_out (m->weighted, x, mo, wt, d1r, mor, ivr);
    }
}

/* The Huber-clipped weights of a row (row_model's step 2 when m->huber): four pixels per vector
 * (sqrtf in a loop is not vectorised: errno), the clipped weight computed everywhere and
 * selected; then the tail pixel by pixel, with the same operations. */
static void
huber_row_v4 (const RowModel *m, const float *restrict accr, float *restrict d1r, float *restrict mor,
              float *restrict ivr)
{
  const int ow = m->ow;
  const float sf = m->sf, spedf = m->spedf, rms2 = m->rms2, ig = m->ig, dl = m->dl, dl2 = m->dl2;
  const gboolean weighted = m->weighted;
  int x = 0;
  for (; x + 4 <= ow; x += 4)
    {
      V4 mo = sf * v4_load (accr + x);
      V4 lin = mo - spedf;
      lin = (V4) ((V4i) lin & (lin > (V4) { 0 }));
      V4 iv = 1.0f / (rms2 + lin * ig), rr = v4_load (d1r + x) - mo, zs = rr * rr * iv;
      V4 cl = iv * (dl / v4_sqrt (zs));
      V4i c = zs > dl2;
      V4 wt = (V4) (((V4i) cl & c) | ((V4i) iv & ~c));
      if (weighted)
        {
          v4_store (d1r + x, v4_load (d1r + x) * wt);
          v4_store (mor + x, mo * wt);
        }
      else
        {
          v4_store (mor + x, mo);
          v4_store (ivr + x, wt);
        }
    }
  huber_row_tail (m, x, accr, d1r, mor, ivr);
}

#ifdef TSR_DECONV_AVX2
/* huber_row_v4 eight pixels per vector: the same operations lane by lane (a division and a
 * square root are correctly rounded at any width), so the same bits. The 4-wide divisions and
 * square root were ~1.7 cycles a pixel, the 8-wide ones ~0.9 (a 1 Mpx frame's visit ~37 M). */
static TSR_AVX2 void
huber_row_avx2 (const RowModel *m, const float *restrict accr, float *restrict d1r, float *restrict mor,
                float *restrict ivr)
{
  const int ow = m->ow;
  const __m256 sf = _mm256_set1_ps (m->sf), spedf = _mm256_set1_ps (m->spedf), rms2 = _mm256_set1_ps (m->rms2),
               ig = _mm256_set1_ps (m->ig), dl = _mm256_set1_ps (m->dl), dl2 = _mm256_set1_ps (m->dl2),
               one = _mm256_set1_ps (1.0f), zero = _mm256_setzero_ps ();
  const gboolean weighted = m->weighted;
  int x = 0;
  for (; x + 8 <= ow; x += 8)
    {
      __m256 mo = _mm256_mul_ps (sf, _mm256_loadu_ps (accr + x));
      __m256 lin = _mm256_sub_ps (mo, spedf);
      lin = _mm256_and_ps (lin, _mm256_cmp_ps (lin, zero, _CMP_GT_OQ));
      __m256 iv = _mm256_div_ps (one, _mm256_add_ps (rms2, _mm256_mul_ps (lin, ig)));
      __m256 d1 = _mm256_loadu_ps (d1r + x);
      __m256 rr = _mm256_sub_ps (d1, mo), zs = _mm256_mul_ps (_mm256_mul_ps (rr, rr), iv);
      __m256 cl = _mm256_mul_ps (iv, _mm256_div_ps (dl, _mm256_sqrt_ps (zs)));
      __m256 wt = _mm256_blendv_ps (iv, cl, _mm256_cmp_ps (zs, dl2, _CMP_GT_OQ));
      if (weighted)
        {
          _mm256_storeu_ps (d1r + x, _mm256_mul_ps (d1, wt));
          _mm256_storeu_ps (mor + x, _mm256_mul_ps (mo, wt));
        }
      else
        {
          _mm256_storeu_ps (mor + x, mo);
          _mm256_storeu_ps (ivr + x, wt);
        }
    }
  huber_row_tail (m, x, accr, d1r, mor, ivr);
}
#endif

/* huber_row_v4 or, where picked (row_kernels_pick), huber_row_avx2 */
static inline void
huber_row (const RowModel *m, const float *restrict accr, float *restrict d1r, float *restrict mor,
           float *restrict ivr)
{
#ifdef TSR_DECONV_AVX2
  if (rows_avx2)
    {
      huber_row_avx2 (m, accr, d1r, mor, ivr);
      return;
    }
#endif
  huber_row_v4 (m, accr, d1r, mor, ivr);
}

/* One row's per-pixel model, no gather and no branch (vectorised): the scatter's tap origin
 * and weight indices (bir, ktr), the data and model above the background (d1, mo) and the
 * weight 1/variance, Huber-clipped (z² against δ²: a square root only where clipped). The same
 * float operations as pixel_model, lane by lane. Invalid pixels' values are computed and not
 * used. */
static TSR_ROW_CLONES void
row_model (const RowModel *m, const float *restrict yrow, const guint32 *restrict trow, const float *restrict accr,
           gint32 *restrict bir, guint32 *restrict ktr, float *restrict d1r, float *restrict mor, float *restrict ivr)
{
  const int ow = m->ow, r = m->r, qx0 = m->qx0, oxi = m->oxi, iyr = m->iyr, rf = m->rf, gw = m->gw;
  const double brow = m->brow, p1 = m->p1;
  const float sf = m->sf, spedf = m->spedf, rms2 = m->rms2, ig = m->ig;
  const gboolean weighted = m->weighted;
  for (int x = 0; x < ow; x++)
    {
      guint32 tp = trow[x];
      int ix = r * (qx0 + x) + oxi + (int) ((tp >> 13) & 7) - 3;
      int iy = iyr + (int) (tp >> 29);
      bir[x] = (iy + rf) * gw + ix + rf;   /* the cubic's first tap in the scatter grid */
      ktr[x] = (tp & 0x1fff) | (tp & (0x1fffu << 16));
    }
  for (int x = 0; x < ow; x++)
    d1r[x] = yrow[x] - (float) (brow + p1 * (qx0 + x));
  if (m->huber)
    huber_row (m, accr, d1r, mor, ivr);
  else
    for (int x = 0; x < ow; x++)
      {
        float mo = sf * accr[x];
        float lin = mo - spedf;
        lin = lin > 0.0f ? lin : 0.0f;
        float wt = 1.0f / (rms2 + lin * ig);
        row_out (weighted, x, mo, wt, d1r, mor, ivr);
      }
}

gboolean
tsr_deconv_row_kernels_run (gboolean avx2, const float *cv, int vw, int vh, const guint8 *mask, const guint32 *taps,
                            int ow, int nrows, const float *a1, const float *a2, float *acc, float *grid)
{
  g_once (&keys_once, keys_table_init, NULL);
  GatherRowFn gf = gather_row_v4;
  ScatterRowFn sf = scatter_row_v4;
  if (avx2)
    {
#ifdef TSR_DECONV_AVX2
      if (!__builtin_cpu_supports ("avx2"))
        return FALSE;
      gf = gather_row_avx2;
      sf = scatter_row_avx2;
#else
      return FALSE;
#endif
    }
  float *sz = g_new0 (float, 2 * (gsize) vw * vh);
  RowGeom g = { .cv = cv, .vw = vw, .r = 1, .rq0 = 2, .sz = sz, .gw = vw, .rf = 0 };
  gint32 *bir = g_new (gint32, ow);
  guint32 *ktr = g_new (guint32, ow);
  for (int y = 0; y < nrows; y++)
    {
      const guint32 *trow = taps + (gsize) y * ow;
      g.iyr = y - 1;
      gf (&g, mask + (gsize) y * ow, trow, acc + (gsize) y * ow, ow);
      for (int x = 0; x < ow; x++)
        {
          guint32 tp = trow[x];
          bir[x] = (g.iyr + (int) (tp >> 29) + g.rf) * g.gw + g.r * x + g.rq0 + (int) ((tp >> 13) & 7) - 3 + g.rf;
          ktr[x] = (tp & 0x1fff) | (tp & (0x1fffu << 16));
        }
      sf (&g, mask + (gsize) y * ow, bir, ktr, a1 + (gsize) y * ow, a2 + (gsize) y * ow, ow);
    }
  /* the interleaved grid as s1 then s2 */
  for (gsize i = 0; i < (gsize) vw * vh; i++)
    {
      grid[i] = sz[2 * i];
      grid[(gsize) vw * vh + i] = sz[2 * i + 1];
    }
  g_free (sz);
  g_free (bir);
  g_free (ktr);
  return TRUE;
}

gboolean
tsr_deconv_huber_row_run (gboolean avx2, int ow, gboolean weighted, float sf, float sped, float rms2, float ig,
                          float delta, const float *acc, float *d1, float *mo, float *iv)
{
  RowModel m = { .ow = ow, .sf = sf, .spedf = sped, .rms2 = rms2, .ig = ig, .huber = TRUE, .weighted = weighted,
                 .dl = delta, .dl2 = delta * delta };
  if (!avx2)
    {
      huber_row_v4 (&m, acc, d1, mo, iv);
      return TRUE;
    }
#ifdef TSR_DECONV_AVX2
  if (!__builtin_cpu_supports ("avx2"))
    return FALSE;
  huber_row_avx2 (&m, acc, d1, mo, iv);
  return TRUE;
#else
  return FALSE;
#endif
}

/* Job.resident without the mapping (resident_map): the frame's staged native samples read into
 * Job.rblock once, with the set-up (or at its first visit, if not then; a frame is visited by one
 * worker at a time, and the items are joined in between). When the memory or a read fails the
 * frame is read from disk per visit as without. Nothing to do for a mapped frame (no block). */
static void
resident_load (const Job *j, DFrame *f)
{
  gsize n = (gsize) j->W * j->H;
  float *ry = f->rblk_y;
  guint8 *rm = f->rblk_m;
  guint32 *rt = f->rblk_t;
  if (ry && rm && rt && tsr_deconv_read_at (f->fd, ry, sizeof (float) * j->Cn * n, stage_off (j, 2, 0))
      && tsr_deconv_read_at (f->fd, rm, n, stage_off (j, 3, 0))
      && tsr_deconv_read_at (f->fd, rt, sizeof (guint32) * n, stage_off (j, 4, 0)))
    {
      f->ry = ry;
      f->rm = rm;
      f->rtap = rt;
    }
}

/* Software prefetch of the bytes [p, p + bytes), a cache line at a time (for reading, or for
 * writing); a prefetch never faults, so a span past an array's end is harmless. */
static inline void
prefetch_span (const void *p, gsize bytes, gboolean write)
{
  const char *c = p;
  for (gsize o = 0; o < bytes; o += 64)
    {
      if (write)
        __builtin_prefetch (c + o, 1, 3);
      else
        __builtin_prefetch (c + o, 0, 3);
    }
}

/* the rows ahead whose h∗u row and scatter-grid row are prefetched (see process_frame) */
#define PREFETCH_ROWS 2

/* One frame u of the current item: its back-projections added to NUM and DEN (written to them,
 * whatever they held, when fresh: the chunk's first frame). Returns 1 when
 * it observed the tile, 0 when not, −1 on error (job failed). */
static int
process_frame (Job *j, Worker *w, const Shared *sh, guint u, float *NUM, float *DEN, gboolean fresh, double *dsum,
               guint *dn)
{
  const Tile *t = sh->t;
  int c = sh->c;
  int ow = t->qx1 - t->qx0, oh = t->qy1 - t->qy0;
  int W = j->W, pc = tsr_deconv_data_plane (j, c), col = tsr_deconv_data_colour (j, c);
  DFrame *f = &j->frames[j->used[u]];
  gboolean ok = TRUE;
  /* the staged pixels: whole rows (ls = W, the tile from column qx0) or the tile's rows only */
  gboolean blk = tile_block_read (j, t);
  const int ls = blk ? W : ow, xo = blk ? t->qx0 : 0;
  /* where this visit's staged pixels are: the worker's buffers, or the frame's resident copy */
  float *ybuf = w->y;
  guint8 *mbuf = w->m;
  guint32 *tbuf = w->tap;
  if (blk && j->resident && !f->ry)
    resident_load (j, f);
  if (blk && f->ry)
    {
      /* the rows in place (whole rows, the same layout as the block read); the codes are
       * rewritten below for mosaics, so those take a copy */
      gsize row = (gsize) t->qy0 * W;
      ybuf = f->ry + (gsize) pc * W * j->H + row;
      tbuf = f->rtap + row;
      if (col < 0)
        mbuf = f->rm + row;
      else
        memcpy (w->m, f->rm + row, (gsize) oh * W);
    }
  else if (blk)
    {
      gsize row = (gsize) t->qy0 * W, n = (gsize) oh * W;
      ok = tsr_deconv_read_at (f->fd, w->y, sizeof (float) * n, stage_off (j, 2, pc) + (off_t) (row * sizeof (float)))
           && tsr_deconv_read_at (f->fd, w->m, n, stage_off (j, 3, 0) + (off_t) row)
           && tsr_deconv_read_at (f->fd, w->tap, sizeof (guint32) * n, stage_off (j, 4, 0) + (off_t) (row * sizeof (guint32)));
    }
  else
    for (int y = 0; y < oh && ok; y++)
      {
        gsize row = (gsize) (t->qy0 + y) * W + t->qx0, o = (gsize) y * ow;
        ok = tsr_deconv_read_at (f->fd, w->y + o, sizeof (float) * ow, stage_off (j, 2, pc) + (off_t) (row * sizeof (float)))
             && tsr_deconv_read_at (f->fd, w->m + o, ow, stage_off (j, 3, 0) + (off_t) row)
             && tsr_deconv_read_at (f->fd, w->tap + o, sizeof (guint32) * ow, stage_off (j, 4, 0) + (off_t) (row * sizeof (guint32)));
      }
  if (!ok)
    {
      job_fail (j, g_error_new (TSR_ERROR, TSR_ERROR_IO, _("Cannot read the staged frame “%s”"), f->path));
      return -1;
    }
  /* samples of this channel: valid, and for mosaics a site of this colour in the frame's own
   * pattern */
  guint nvalid = 0;
  for (int y = 0; y < oh; y++)
    {
      guint8 *restrict mr = mbuf + (gsize) y * ls + xo;
      guint nv = 0;
      if (col < 0)
        for (int x = 0; x < ow; x++)
          nv += mr[x] != 0;
      else
        for (int x = 0; x < ow; x++)
          {
            mr[x] = mr[x] && mr[x] - 1 == col;
            nv += mr[x] != 0;
          }
      w->rowv[y] = nv;
      nvalid += nv;
    }
  if (nvalid == 0)
    return 0;
  const float *K = j->kcache ? j->kcache[(gsize) u * j->C + c] : w->K;
  if (!j->kcache)
    tsr_conv_kernel_spectrum (w->work, f->psf[c], w->K);
  /* h∗x on the fine valid region (vw × vh); its sample i sits at unpadded fine index
   * lx0 − M + i. A frame pixel at reference position p + e samples it (Keys cubic) at fine
   * position r·(p + e + ½) − ½. */
  int cvs;
  double fsc;
  const float *cv = tsr_conv_forward_spec_grid (w->work, sh->X, K, &cvs, &fsc);
  const double s = f->scale;
  /* the samples of h∗u below are the inverse FFT's unscaled output (gathered from it in place,
   * no copy of the valid region): the model mo = s·h∗u takes the FFT's 1/n with the scale */
  const float sf = (float) (s * fsc), rms2 = (float) MAX (f->rms[c] * f->rms[c], 1e-12);
  const float ig = j->gain_used > 0 ? (float) (1.0 / j->gain_used) : 0.0f;
  const double *pl = f->plane[c];
  const int r = j->r;
  const double sped = s * j->ped[c];
  const float spedf = (float) sped;
  /* the per-pixel buffers as restrict locals (stores through them cannot change the Worker's
   * pointers; the compiler reloaded them for every pixel) */
  const guint8 *restrict mk = mbuf;
  const float *restrict wy_ = ybuf;
  const guint32 *restrict tap = tbuf;
  /* the fine index of reference pixel 0 of this tile's valid region, minus the cubic's first tap */
  const int oxi = j->M - t->lx0 - 1, oyi = j->M - t->ly0 - 1;
  const int gw = j->grid_w, rf = j->rf;
  /* h∗u is sampled at the staged pixels by the Keys cubic (a gather), row by row just before
   * the row's model and back-projection (one row's samples, in L1); the MAD's samples below
   * sample their pixels on their own (the same bits: sample_at is gather_row's per pixel). A
   * gather of the whole frame first, read back by the rows, cost a frame-sized array written
   * and read again and the taps and mask read twice: at 1 Mpx ~13 MB of memory traffic a visit. */
  RowGeom g = { .cv = cv, .vw = cvs, .r = r, .rq0 = r * t->qx0 + oxi, .sz = w->sz, .gw = j->grid_w,
                .rf = j->rf };
  /* the automatic δ from the MAD of the valid residuals of a sample of rows (at most
   * MAD_SAMPLES), so that the rows below can weight, clip and back-project each pixel as soon
   * as its model is known (one pass over the rows) */
  double delta = j->delta_param;
  if (j->huber && delta < 0)
    {
      /* the samples are whole rows: every rs-th of the rows with valid pixels, from the middle
       * of the first rs (each row read in order, its cache lines used whole; every stride-th
       * pixel of the frame was a cache miss a sample, with no prefetch: ~4 % of a 1 Mpx visit) */
      guint nz = 0, rs = MAX ((nvalid + MAD_SAMPLES - 1) / MAD_SAMPLES, 1u), nrv = 0, kr = 0;
      for (int y = 0; y < oh; y++)
        nrv += w->rowv[y] != 0;
      const guint phase = MIN (rs / 2, nrv - 1);
      float *restrict za = w->z, *restrict accr = w->acc;
      for (int y = 0; y < oh && nz < MAD_SAMPLES; y++)
        {
          if (!w->rowv[y] || kr++ % rs != phase)
            continue;
          const double brow = pl[0] + pl[2] * (double) (t->qy0 + y) - sped;
          gsize k0 = (gsize) y * ls + xo;
          const guint8 *restrict mrow = mk + k0;
          const guint32 *restrict trow = tap + k0;
          const float *restrict yrow = wy_ + k0;
          g.iyr = r * (t->qy0 + y) + oyi - 3;
          gather_row (&g, mrow, trow, accr, ow);
          for (int x = 0; x < ow && nz < MAD_SAMPLES; x++)
            {
              if (!mrow[x])
                continue;
              float mo, d1, iv;
              pixel_model (accr[x], sf, yrow[x], (float) (brow + pl[1] * (t->qx0 + x)), spedf, rms2, ig, &mo, &d1, &iv);
              za[nz++] = (d1 - mo) * sqrtf (iv);
            }
        }
      float med = tsr_median_inplace (w->z, nz);
      float mad = tsr_mad_inplace (w->z, nz, med);
      delta = fabs (j->delta_param) * TSR_MAD_TO_SIGMA * MAX (mad, 1e-6f);
      *dsum += delta;
      (*dn)++;
    }
  const float dl = (float) delta, dl2 = dl * dl;
  const gboolean huber = j->huber;
  /* the scatter grid is zero after each frame's adjoint (tsr_conv_adjoint_accumulate2_cgrid);
   * cleared here only when new or after it served as a plain buffer */
  if (w->sdirty)
    {
      memset (w->sz, 0, 2 * sizeof (float) * j->grid_n);
      w->sdirty = FALSE;
    }
  /* the scale fit's sums only in the iterations that refit the scales */
  double *ssum = sh->is->scale_sums && j->scale_fit_now ? sh->is->scale_sums + 2 * u : NULL;
  double ss0 = 0, ss1 = 0;
  const float pedf = (float) j->ped[c];
  const double inv_s = 1.0 / s;
  float *restrict d1r = w->rd1, *restrict mor = w->rmo, *restrict ivr = w->riv;
  gint32 *restrict bir = w->rbi;
  guint32 *restrict ktr = w->rkt;
  /* the rows of h∗u's valid region and of the scatter grid (the prefetch's bounds) */
  const int cvh = t->lh - 2 * rf, grows = (int) (j->grid_n / (gsize) gw);
  for (int y = 0; y < oh; y++)
    {
      if (!w->rowv[y])
        continue;
      int py = r * (t->qy0 + y) + j->pad;
      gboolean row_core = ssum && py >= t->cy0 && py < t->cy1;
      /* the background plane along the row, p0 + p1 x + p2 y */
      const double brow = pl[0] + pl[2] * (double) (t->qy0 + y) - sped, p1 = pl[1];
      const guint8 *restrict mrow = mk + (gsize) y * ls + xo;
      const float *restrict yrow = wy_ + (gsize) y * ls + xo;
      const guint32 *restrict trow = tap + (gsize) y * ls + xo;
      const int qx0 = t->qx0, iyr = r * (t->qy0 + y) + oyi - 3;
      /* the fine row of h∗u and the grid row that frame row y + PREFETCH_ROWS touches first
       * (its windows' last row, PREFETCH_ROWS·r below this row's, at the middle pixel's
       * offset), requested now: the gather's and the scatter's first touches of a row were
       * cache misses the hardware prefetcher did not cover (a new 4 KB page each row). Measured
       * in one process, frames alternating with and without (1024², 8 frames): the scatter
       * −17 … −22 %, the gather −7 … −10 %, the visit −3 … −3.5 %; the staged rows prefetched
       * too made it slower. The columns the row's windows can reach: ix from rq0 − 3 to
       * r·(ow − 1) + rq0 + 4, and three taps beyond. */
      {
        const int xm = ow / 2, cr = iyr + (mrow[xm] ? (int) (trow[xm] >> 29) : 3) + 3 + PREFETCH_ROWS * r;
        const int c0 = MAX (g.rq0 - 3, 0), nc = r * (ow - 1) + 11;
        if (cr < cvh)
          prefetch_span (cv + (gsize) cr * cvs + c0, sizeof (float) * MIN (nc, cvs - c0), FALSE);
        if (cr + rf < grows)
          prefetch_span (w->sz + 2 * ((gsize) (cr + rf) * gw + c0 + rf), 2 * sizeof (float) * MIN (nc, gw - c0 - rf), TRUE);
      }
      /* 1. the cubic sampling of h∗u at the row's valid pixels (invalid ones read 0) */
      float *restrict accr = w->acc;
      g.iyr = iyr;
      gather_row (&g, mrow, trow, accr, ow);
      /* rows outside the scale fit: the weighted data and model straight from the row's model
       * (the same products as the multiplication after the fit's sums) */
      RowModel rm = { .ow = ow, .r = r, .qx0 = qx0, .oxi = oxi, .iyr = iyr, .rf = rf, .gw = gw, .brow = brow,
                      .p1 = p1, .sf = sf, .spedf = spedf, .rms2 = rms2, .ig = ig, .huber = huber,
                      .weighted = !row_core, .dl = dl, .dl2 = dl2 };
      row_model (&rm, yrow, trow, accr, bir, ktr, d1r, mor, ivr);
      /* the frame's scale fitted to the model: its pixels (background off) against m = h∗x,
       * each pixel counted by the one item whose core holds it; then the weighted data and
       * model replace d1, mo */
      if (row_core)
        scale_sums_row (mrow, ivr, d1r, mor, ow, r, qx0, j->pad, t->cx0, t->cx1, inv_s, pedf, sped, &ss0, &ss1);
      /* 4. the transpose of the cubic sampling: each pixel adds 4 × 4 weights to both grids */
      scatter_row (&g, mrow, bir, ktr, d1r, mor, ow);
    }
  if (ssum)
    {
      ssum[0] += ss0;
      ssum[1] += ss1;
    }
  tsr_conv_adjoint_accumulate2_cgrid (w->work, K, w->sz, s, NUM, DEN, fresh);
  return 1;
}

typedef struct
{
  Job *j;
  Worker *w;
  Shared *sh;
} Thread;

/* Take chunks of the current item until none is left. */
static gpointer
chunk_thread (gpointer data)
{
  Thread *th = data;
  Job *j = th->j;
  Shared *sh = th->sh;
  double c0 = thread_cpu_seconds ();
  for (;;)
    {
      int g = g_atomic_int_add (&sh->next_chunk, 1);
      if (g >= j->n_chunks || j->abort)
        break;
      guint u0 = (guint) ((gsize) g * j->nu / j->n_chunks), u1 = (guint) ((gsize) (g + 1) * j->nu / j->n_chunks);
      /* the chunk's sums start empty: its first frame's adjoint writes them (no clearing pass) */
      sh->delta_sum[g] = 0;
      sh->delta_n[g] = 0;
      sh->any[g] = FALSE;
      for (guint u = u0; u < u1 && !j->abort; u++)
        {
          if (g_cancellable_is_cancelled (j->cancellable))
            {
              GError *e = NULL;
              g_cancellable_set_error_if_cancelled (j->cancellable, &e);
              job_fail (j, e);
              break;
            }
          int rc = process_frame (j, th->w, sh, u, sh->num[g], sh->den[g], !sh->any[g], &sh->delta_sum[g],
                                  &sh->delta_n[g]);
          if (rc < 0)
            break;
          if (rc > 0)
            sh->any[g] = TRUE;
        }
      /* no frame of the chunk added anything: its sums are zero */
      if (!sh->any[g])
        {
          tsr_conv_spectrum_zero (j->plan, sh->num[g]);
          tsr_conv_spectrum_zero (j->plan, sh->den[g]);
        }
    }
  th->w->cpu += thread_cpu_seconds () - c0;
  return NULL;
}

/* The multiplicative update of one row of a tile's core (n pixels), in floats and vectorised
 * (one simple loop per step). num, den: the back-projections with the prior added; xo: the
 * latent of this iteration; xc: the current iterate (momentum: κ bounds the change from it,
 * extrapolation included) or NULL; lb: the floors or NULL; gg: the momentum's last step (read,
 * then replaced) or NULL. Writes xn and the ratio (rat). The statistics over the row's observed
 * pixels [xa, xb) go to sums (Σ step·g, Σ g², Σ (xnew − ref)², Σ ref², in doubles, four partial
 * sums each) and mstep (the largest step factor). */
typedef struct
{
  float dmin, kappa, ik, a, a1, accel;
} UpdateParams;

static TSR_ROW_CLONES void
update_row (const UpdateParams *P, int n, const float *restrict num, const float *restrict den,
            const float *restrict xo, const float *restrict xc, const float *restrict lb, float *restrict gg,
            float *restrict xn, float *restrict rat, int xa, int xb, double sums[4], float *mstep)
{
  const float dmin = P->dmin, kappa = P->kappa, ik = P->ik, a = P->a, a1 = P->a1;
  /* ratio: no information (den at round-off level) → neutral; else clipped to [1/κ, κ] */
  if (P->accel != 1.0f)
    for (int i = 0; i < n; i++)
      {
        float q = powf (MAX (num[i] / den[i], 0.0f), P->accel);
        q = CLAMP (q, ik, kappa);
        rat[i] = den[i] > dmin ? q : 1.0f;
      }
  else
    for (int i = 0; i < n; i++)
      {
        float q = num[i] / den[i];
        q = q > kappa ? kappa : (q < ik ? ik : q);
        rat[i] = den[i] > dmin ? q : 1.0f;
      }
  for (int i = 0; i < n; i++)
    xn[i] = a1 * xo[i] + a * xo[i] * rat[i];
  if (xc)
    {
      /* in vectors of four (the nested selects stayed scalar) */
      int i = 0;
      for (; i + 4 <= n; i += 4)
        {
          V4 c = v4_load (xc + i), v = v4_load (xn + i);
          V4 lo = c * ik, hi = c * kappa;
          V4i above = v > hi, below = v < lo;
          V4 r = (V4) (((V4i) hi & above) | (((V4i) lo & below) & ~above) | ((V4i) v & ~(above | below)));
          v4_store (xn + i, r);
        }
      for (; i < n; i++)
        {
          float lo = xc[i] * ik, hi = xc[i] * kappa, v = xn[i];
          xn[i] = v > hi ? hi : (v < lo ? lo : v);
        }
    }
  if (lb)
    for (int i = 0; i < n; i++)
      xn[i] = xn[i] < lb[i] ? lb[i] : xn[i];
  const float *restrict ref = xc ? xc : xo;
  double s0[4] = { 0 }, s1[4] = { 0 }, s2[4] = { 0 }, s3[4] = { 0 };
  float ms[4] = { 0 };
  if (gg)
    {
      /* the step's projection on the last one, over the whole row (padding included); lane k:
       * the pixels i ≡ k (mod 4), the same operations as the scalar loop below (the loop over k
       * with its four double sums was not vectorised: ~3 cycles a pixel) */
      int i = 0;
      V4d v0 = { 0 }, v1 = { 0 };
      for (; i + 4 <= n; i += 4)
        {
          V4 st = v4_load (xn + i) - v4_load (xo + i), gv = v4_load (gg + i);
          V4d sd = __builtin_convertvector (st, V4d), gd = __builtin_convertvector (gv, V4d);
          v0 += sd * gd;
          v1 += gd * gd;
          v4_store (gg + i, st);
        }
      for (int k = 0; k < 4; k++)
        {
          s0[k] = v0[k];
          s1[k] = v1[k];
        }
      for (; i < n; i++)
        {
          float step = xn[i] - xo[i];
          s0[0] += (double) step * gg[i];
          s1[0] += (double) gg[i] * gg[i];
          gg[i] = step;
        }
    }
  /* the largest step factor max (v/ref, ref/v) as max (largest q, 1 / smallest q), q = v/ref:
   * one division a pixel instead of two */
  float qlo[4] = { INFINITY, INFINITY, INFINITY, INFINITY };
  int i = xa;
  {
    /* lane k: the pixels i ≡ xa + k (mod 4), the same operations as the scalar loop below */
    V4d v2 = { 0 }, v3 = { 0 };
    V4 vmax = { 0 }, vmin = { INFINITY, INFINITY, INFINITY, INFINITY };
    for (; i + 4 <= xb; i += 4)
      {
        V4 v = v4_load (xn + i), rf = v4_load (ref + i);
        V4d vd = __builtin_convertvector (v, V4d), rd = __builtin_convertvector (rf, V4d);
        V4d d = vd - rd;
        v2 += d * d;
        v3 += rd * rd;
        V4 q = v / rf;
        V4i ok = (rf > 0.0f) & (v > 0.0f);
        V4i up = ok & (q > vmax), dn = ok & (q < vmin);
        vmax = (V4) (((V4i) q & up) | ((V4i) vmax & ~up));
        vmin = (V4) (((V4i) q & dn) | ((V4i) vmin & ~dn));
      }
    for (int k = 0; k < 4; k++)
      {
        s2[k] = v2[k];
        s3[k] = v3[k];
        ms[k] = vmax[k];
        qlo[k] = vmin[k];
      }
  }
  for (; i < xb; i++)
    {
      float v = xn[i], rf = ref[i];
      double d = (double) v - rf;
      s2[0] += d * d;
      s3[0] += (double) rf * rf;
      float q = v / rf;
      gboolean ok = rf > 0 && v > 0;
      ms[0] = ok && q > ms[0] ? q : ms[0];
      qlo[0] = ok && q < qlo[0] ? q : qlo[0];
    }
  sums[0] += (s0[0] + s0[1]) + (s0[2] + s0[3]);
  sums[1] += (s1[0] + s1[1]) + (s1[2] + s1[3]);
  sums[2] += (s2[0] + s2[1]) + (s2[2] + s2[3]);
  sums[3] += (s3[0] + s3[1]) + (s3[2] + s3[3]);
  float qmin = MIN (MIN (qlo[0], qlo[1]), MIN (qlo[2], qlo[3]));
  float qmax = MAX (MAX (ms[0], ms[1]), MAX (ms[2], ms[3]));
  if (qmin < INFINITY)
    qmax = MAX (qmax, 1.0f / qmin);
  *mstep = MAX (*mstep, qmax);
}

/* The momentum's extrapolated point over n latent samples: yp = u1·(u1/u0)^α where both are
 * positive, else u1; kept within [u1/κ, u1·κ] and above the floor lb (or NULL). The power as
 * 2^clamp(α log₂ (u1/u0), ±log₂ κ) in vectors of eight: powf one sample at a time was 1.4 ms of
 * the 7 ms update per iteration of a 556² tile (issue 12); this agrees with it to a few units in
 * the last place. */
static TSR_ROW_CLONES void
extrapolate_run (const float *restrict u1, const float *restrict u0, const float *restrict lb, float *restrict yp,
                 gsize n, float al, float ka, float ika)
{
  const float lk = log2f (ka);
  for (gsize k0 = 0; k0 < n; k0 += 8)
    {
      /* whole vectors by fixed-size copies (inlined as loads); the tail padded with ones */
      gsize m = MIN ((gsize) 8, n - k0);
      V8 a = { 1, 1, 1, 1, 1, 1, 1, 1 }, b = a, f = a;
      if (m == 8)
        {
          memcpy (&a, u1 + k0, sizeof a);
          memcpy (&b, u0 + k0, sizeof b);
          if (lb)
            memcpy (&f, lb + k0, sizeof f);
        }
      else
        {
          memcpy (&a, u1 + k0, m * sizeof (float));
          memcpy (&b, u0 + k0, m * sizeof (float));
          if (lb)
            memcpy (&f, lb + k0, m * sizeof (float));
        }
      V8i pos = (a > 0.0f) & (b > 0.0f);
      V8 q = a / b;
      /* into [10⁻³⁰, 10³⁰]; NaN (lanes not both positive: not used) to 10⁻³⁰ */
      q = V8_SEL (q >= 1e-30f, q, (V8) { 0 } + 1e-30f);
      q = V8_SEL (q <= 1e30f, q, (V8) { 0 } + 1e30f);
      /* log₂ q (q normal, > 0): q = m·2^e with m ∈ [√½, √2), ln m = 2 atanh (z),
       * z = (m − 1)/(m + 1), |z| ≤ 0.172, by its series to z⁹ (relative error < 10⁻⁹ before
       * rounding) */
      V8i qb = (V8i) q;
      V8i e = ((qb >> 23) & 0xff) - 127;
      V8 mm = (V8) ((qb & 0x7fffff) | 0x3f800000);
      V8i big = mm > 1.41421356237f;   /* −1 where true */
      mm = V8_SEL (big, mm * 0.5f, mm);
      e -= big;
      V8 z = (mm - 1.0f) / (mm + 1.0f), z2 = z * z;
      V8 ln = 2.0f * z * (1.0f + z2 * (1.0f / 3 + z2 * (1.0f / 5 + z2 * (1.0f / 7 + z2 * (1.0f / 9)))));
      V8 t = al * (__builtin_convertvector (e, V8) + ln * 1.44269504088896341f);
      t = V8_SEL (t > lk, (V8) { 0 } + lk, t);
      t = V8_SEL (t < -lk, (V8) { 0 } - lk, t);
      /* 2^t, |t| ≤ log₂ κ: t = k + g, g ∈ [−½, ½], e^(g ln 2) by its Taylor series to the 7th
       * power (relative error < 10⁻⁸ before rounding), 2^k into the exponent */
      V8i k = __builtin_convertvector (t + 128.5f, V8i) - 128;   /* floor (t + ½): t + 128.5 > 0 */
      V8 x = (t - __builtin_convertvector (k, V8)) * 0.693147180559945309f;
      V8 p = 1.0f / 720 + x * (1.0f / 5040);
      p = 1.0f + x * (1.0f + x * (0.5f + x * (1.0f / 6 + x * (1.0f / 24 + x * (1.0f / 120 + x * p)))));
      V8 v = V8_SEL (pos, a * (V8) ((V8i) p + (k << 23)), a);
      /* CLAMP (v, lo, hi) as the scalar macro reads: above hi → hi, else below lo → lo */
      V8 lo = a * ika, hi = a * ka;
      v = V8_SEL (v > hi, hi, V8_SEL (v < lo, lo, v));
      if (lb)
        v = V8_SEL (v < f, f, v);
      if (m == 8)
        memcpy (yp + k0, &v, sizeof v);
      else
        memcpy (yp + k0, &v, m * sizeof (float));
    }
}

/* The smoothness prior's parts in the back-projections' spectra (n bins): N += a·X·Ĝ,
 * D += b·X·Ĝ²; with gN, gD (the last chunk's sums, or NULL) N = (N + gN) + a·X·Ĝ and the same for
 * D: the chunks' last sum in the same pass, the same operations as adding it first */
static TSR_ROW_CLONES void
spec_prior_add (const float *restrict X, const float *restrict G, const float *restrict G2, float *restrict N,
                float *restrict D, const float *restrict gN, const float *restrict gD, gsize n, float a, float b)
{
  if (gN)
    {
      for (gsize i = 0; i < n; i++)
        {
          float xr = X[2 * i], xi = X[2 * i + 1];
          float gr = G[2 * i], gi = G[2 * i + 1], hr = G2[2 * i], hi = G2[2 * i + 1];
          N[2 * i] = (N[2 * i] + gN[2 * i]) + a * (xr * gr - xi * gi);
          N[2 * i + 1] = (N[2 * i + 1] + gN[2 * i + 1]) + a * (xr * gi + xi * gr);
          D[2 * i] = (D[2 * i] + gD[2 * i]) + b * (xr * hr - xi * hi);
          D[2 * i + 1] = (D[2 * i + 1] + gD[2 * i + 1]) + b * (xr * hi + xi * hr);
        }
      return;
    }
  for (gsize i = 0; i < n; i++)
    {
      float xr = X[2 * i], xi = X[2 * i + 1];
      float gr = G[2 * i], gi = G[2 * i + 1], hr = G2[2 * i], hi = G2[2 * i + 1];
      N[2 * i] += a * (xr * gr - xi * gi);
      N[2 * i + 1] += a * (xr * gi + xi * gr);
      D[2 * i] += b * (xr * hr - xi * hi);
      D[2 * i + 1] += b * (xr * hi + xi * hr);
    }
}

/* The prior's parts that the spectra put outside the tile's valid region, taken out again on
 * the rectangle [xa, xb) × [ya, yb) of the extent (lw × lh, in the FFT grid nw × nh, which holds
 * the tile's latent u and zeros and is read cyclically, as the spectra see it): num −= 2λ G u,
 * den −= λ G∗G u, by the separable factors (rows first, then columns). */
static TSR_ROW_CLONES void
ring_prior_rect (const Job *j, Shared *sh, const float *u, gsize us, int lw, int lh, int nw, int nh, int xa, int xb,
                 int ya, int yb, float a, float b, float *num, float *den, gsize ns)
{
  if (xa >= xb || ya >= yb)
    return;
  const int gr = j->gr, g2r = 2 * gr, w = xb - xa, hr = yb - ya + 2 * g2r, pw = w + 2 * g2r;
  gsize need = 2 * (gsize) w * hr + pw + 2 * (gsize) w;
  if (sh->scratch_n < need)
    {
      g_free (sh->scratch);
      sh->scratch = g_new (float, need);
      sh->scratch_n = need;
    }
  float *h1 = sh->scratch, *h2 = h1 + (gsize) w * hr;
  memset (h1, 0, 2 * sizeof (float) * w * hr);
  float *pr = h2 + (gsize) w * hr, *s1 = pr + pw, *s2 = s1 + w;
  const float *restrict g1 = j->g1, *restrict g21 = j->g21;
  for (int r = 0; r < hr; r++)
    {
      int y = ya - g2r + r, ym = y < 0 ? y + nh : (y >= nh ? y - nh : y);   /* |y| < nh + 2gr */
      if (ym >= lh)
        continue;   /* zero rows of the grid (h1, h2 start zero) */
      /* the row's samples x − 2gr … x + 2gr, read cyclically */
      const float *row = u + (gsize) ym * us;
      for (int i = 0; i < pw; i++)
        {
          int x = xa - g2r + i, xm = x < 0 ? x + nw : (x >= nw ? x - nw : x);
          pr[i] = xm < lw ? row[xm] : 0.0f;
        }
      float *restrict o1 = h1 + (gsize) r * w, *restrict o2 = h2 + (gsize) r * w;
      for (int d = 0; d <= 2 * g2r; d++)
        {
          const float c = g21[d], *restrict pd = pr + d;
          for (int x = 0; x < w; x++)
            o2[x] += c * pd[x];
        }
      for (int d = 0; d <= 2 * gr; d++)
        {
          const float c = g1[d], *restrict pd = pr + gr + d;
          for (int x = 0; x < w; x++)
            o1[x] += c * pd[x];
        }
    }
  for (int y = ya; y < yb; y++)
    {
      const int r0 = y - ya;   /* row r0 + 2gr of h is row y */
      memset (s1, 0, 2 * sizeof (float) * w);
      for (int d = 0; d <= 2 * g2r; d++)
        {
          const float c = g21[d], *restrict hd = h2 + (gsize) (r0 + d) * w;
          for (int x = 0; x < w; x++)
            s2[x] += c * hd[x];
        }
      for (int d = 0; d <= 2 * gr; d++)
        {
          const float c = g1[d], *restrict hd = h1 + (gsize) (r0 + gr + d) * w;
          for (int x = 0; x < w; x++)
            s1[x] += c * hd[x];
        }
      float *restrict nr = num + (gsize) y * ns + xa, *restrict dr = den + (gsize) y * ns + xa;
      for (int x = 0; x < w; x++)
        {
          nr[x] -= a * s1[x];
          dr[x] -= b * s2[x];
        }
    }
}

/* ring_prior_rect over the tile's core pixels outside its valid region [rf, lw − rf) ×
 * [rf, lh − rf) (only tiles at the latent's border have any): the prior stays on the valid
 * region, as when G u was computed there alone */
static void
ring_prior_remove (const Job *j, Shared *sh, const Tile *t, const float *u, gsize us, float a, float b, float *num,
                   float *den, gsize ns)
{
  int nw, nh;
  tsr_conv_plan_size (j->plan, &nw, &nh);
  const int lw = t->lw, lh = t->lh, rf = j->rf;
  /* the core in extent coordinates */
  const int x0 = t->cx0 - t->lx0, x1 = t->cx1 - t->lx0, y0 = t->cy0 - t->ly0, y1 = t->cy1 - t->ly0;
  /* top and bottom bands, the core's full width */
  ring_prior_rect (j, sh, u, us, lw, lh, nw, nh, x0, x1, y0, MIN (y1, rf), a, b, num, den, ns);
  ring_prior_rect (j, sh, u, us, lw, lh, nw, nh, x0, x1, MAX (y0, lh - rf), y1, a, b, num, den, ns);
  /* left and right strips between them */
  int ya = MAX (y0, rf), yb = MIN (y1, lh - rf);
  ring_prior_rect (j, sh, u, us, lw, lh, nw, nh, x0, MIN (x1, rf), ya, yb, a, b, num, den, ns);
  ring_prior_rect (j, sh, u, us, lw, lh, nw, nh, MAX (x0, lw - rf), x1, ya, yb, a, b, num, den, ns);
}

/* One (tile, channel): the exact multiplicative update of the tile's core, its frames spread
 * over the workers. */
static void
process_item (Job *j, Worker **workers, guint n_threads, Shared *sh, ItemStats *is, const Tile *t, int c)
{
  int lw = t->lw, lh = t->lh;
  Worker *w = workers[0];
  const float *xo = j->x_old + (gsize) c * j->LW * j->LH;
  /* the tile's extent of the latent, rows LW apart */
  const float *xe = xo + (gsize) t->ly0 * j->LW + t->lx0;
  tsr_conv_spectrum_strided (w->work, xe, (gsize) j->LW, lw, lh, sh->X);
  sh->t = t;
  sh->c = c;
  sh->is = is;
  sh->next_chunk = 0;
  guint nt = MIN (n_threads, (guint) j->n_chunks);
  Thread *ths = g_newa (Thread, nt);
  GThread **threads = g_newa (GThread *, nt);
  for (guint i = 0; i < nt; i++)
    {
      ths[i].j = j;
      ths[i].w = workers[i];
      ths[i].sh = sh;
      if (i > 0)
        threads[i] = g_thread_new ("tsr-deconv", chunk_thread, &ths[i]);
    }
  chunk_thread (&ths[0]);
  for (guint i = 1; i < nt; i++)
    g_thread_join (threads[i]);
  if (j->abort)
    return;
  gboolean any_frame = FALSE;
  for (int g = 0; g < j->n_chunks; g++)
    {
      is->sum_delta += sh->delta_sum[g];
      is->n_delta += sh->delta_n[g];
      any_frame |= sh->any[g];
    }
  float *xn = j->x_new + (gsize) c * j->LW * j->LH;
  if (!any_frame)
    {
      for (int y = t->cy0; y < t->cy1; y++)
        memcpy (xn + (gsize) y * j->LW + t->cx0, xo + (gsize) y * j->LW + t->cx0, sizeof (float) * (t->cx1 - t->cx0));
      return;
    }
  /* the chunks' sums, in chunk order (the last one with the prior below, when there is one) */
  gsize nsf = 2 * tsr_conv_plan_spectrum_len (j->plan);
  double lam = j->lambda[c];
  const int gl = lam > 0 && j->n_chunks > 1 ? j->n_chunks - 1 : j->n_chunks;
  for (int g = 1; g < gl; g++)
    {
      float *restrict a = sh->num[0], *restrict b = sh->den[0];
      const float *restrict ga = sh->num[g], *restrict gb = sh->den[g];
      for (gsize i = 0; i < nsf; i++)
        {
          a[i] += ga[i];
          b[i] += gb[i];
        }
    }
  /* smoothness prior λ‖(I − G) u‖², G symmetric: its gradient λ (I − 2G + G∗G) u splits into a
   * negative part 2λ G u (added to num) and a positive part λ (u + G∗G u) (added to den), so the
   * multiplicative step stays an MM step and the fixed point is the penalised solution. (I − G)
   * leaves constants alone: the total flux is not penalised. 2λ G u and λ G∗G u are added to the
   * back-projections' spectra (the latent's spectrum is at hand), so the one inverse FFT of each
   * gives both (two inverse FFTs of the tile fewer per iteration, 1.4 of the update's 6 ms on a
   * 556² tile); λ u in the rows below. The spectra put the prior on the whole extent, where G
   * reads the FFT grid cyclically: ring_prior_remove takes it out again outside the tile's valid
   * region (left there, it moved the harness: FWHM 0.562 → 0.566). */
  if (lam > 0)
    spec_prior_add (sh->X, j->gspec, j->g2spec, sh->num[0], sh->den[0], gl < j->n_chunks ? sh->num[gl] : NULL,
                    gl < j->n_chunks ? sh->den[gl] : NULL, nsf / 2, (float) (2 * lam), (float) lam);
  /* the back-projections as the inverse FFTs leave them: rows nw apart, times nw·nh (the
   * update's ratio num/den does not see the factor; λ u and the ring's terms take it; no copy
   * and scaling pass). The inverse FFTs consume the chunk-0 sums; the next iteration's first
   * frame of the chunk writes them afresh. */
  int nw, nh;
  tsr_conv_plan_size (j->plan, &nw, &nh);
  const double fs = (double) nw * nh;
  tsr_conv_inverse_raw (w->work, sh->num[0], sh->numr);
  tsr_conv_inverse_raw (w->work, sh->den[0], sh->denr);
  if (lam > 0)
    ring_prior_remove (j, sh, t, xe, (gsize) j->LW, (float) (2 * lam * fs), (float) (lam * fs), sh->numr, sh->denr,
                       (gsize) nw);
  /* pixels the data barely reach (the padding's far edge sees only the PSFs' outer tails): there
   * num and den are both at the float FFTs' round-off level, so their ratio is noise that the
   * clip turns into ×κ or ×1/κ steps, the momentum extrapolates, and a change of 10⁻⁶ anywhere in
   * the input changed these steps completely (issue 12: δ = −2.5 vs −2.50001 gave momentum 0.53
   * vs 0.47 after two iterations, the faint-star flux 1.00 vs 0.96 at the stop). Such pixels keep
   * their value. The bound is relative to the largest den of the tile's extent (2·rf beyond the
   * core, so it holds observed pixels), far above the round-off (~10⁻⁷ of it). */
  float dmax = 0;
  for (int y = 0; y < lh; y++)
    {
      const float *restrict dr = sh->denr + (gsize) y * nw;
      for (int x = 0; x < lw; x++)
        dmax = MAX (dmax, dr[x]);
    }
  const float *xc = j->momentum ? j->x_cur + (gsize) c * j->LW * j->LH : NULL;
  float *gg = j->momentum ? j->g + (gsize) c * j->LW * j->LH : NULL;
  const float *lbc = j->lb ? j->lb + (gsize) c * j->LW * j->LH : NULL;
  const UpdateParams up = { .dmin = (float) MAX (DEN_REL_MIN * dmax, 1e-30), .kappa = (float) j->kappa,
                            .ik = (float) (1.0 / j->kappa), .a = (float) j->relax, .a1 = (float) (1.0 - j->relax),
                            .accel = (float) j->accel };
  const float lamf = (float) (lam * fs);
  /* statistics over the observed image only, not the padding */
  int o0 = j->pad, ox1 = j->pad + j->r * j->W, oy1 = j->pad + j->r * j->H;
  const int n = t->cx1 - t->cx0;
  float *rrow = g_new (float, n);
  double sums[4] = { 0 };
  float mstep = 0;
  guint sample = 0;
  for (int y = t->cy0; y < t->cy1; y++)
    {
      gsize g = (gsize) y * j->LW + t->cx0, l = (gsize) (y - t->ly0) * nw + (t->cx0 - t->lx0);
      /* the back-projections' rows in place (den takes λ u: it is scratch, rewritten each
       * iteration) */
      const float *nrow = sh->numr + l;
      float *drow = sh->denr + l;
      int ey = y - t->ly0 - j->rf;
      if (lam > 0 && ey >= 0 && ey < t->lh - 2 * j->rf)
        {
          /* λ u on the pixels of the valid region (ex in [0, vw)): i in [ia, ib) */
          int ex0 = t->cx0 - t->lx0 - j->rf, ia = MAX (0, -ex0), ib = MIN (n, t->lw - 2 * j->rf - ex0);
          const float *restrict xr = xo + g;
          for (int i = ia; i < ib; i++)
            drow[i] += lamf * xr[i];
        }
      gboolean obs = y >= o0 && y < oy1;
      int xa = obs ? MAX (t->cx0, o0) - t->cx0 : 0, xb = obs ? MIN (t->cx1, ox1) - t->cx0 : 0;
      update_row (&up, n, nrow, drow, xo + g, xc ? xc + g : NULL, lbc ? lbc + g : NULL, gg ? gg + g : NULL, xn + g,
                  rrow, MAX (xa, 0), MAX (xb, xa), sums, &mstep);
      if (xb > xa)
        {
          /* every 7th observed pixel in raster order */
          int i0 = xa + (int) ((7 - sample % 7) % 7);
          if (i0 < xb)
            {
              guint len = w->samples->len, add = (guint) ((xb - 1 - i0) / 7 + 1);
              g_array_set_size (w->samples, len + add);
              float *restrict sp = (float *) w->samples->data + len;
              for (int i = i0; i < xb; i += 7)
                *sp++ = fabsf (rrow[i] - 1.0f);
            }
          sample += (guint) (xb - xa);
        }
    }
  g_free (rrow);
  is->sum_gp += sums[0];
  is->sum_gg += sums[1];
  is->sum_dx2 += sums[2];
  is->sum_x2 += sums[3];
  is->max_step = MAX (is->max_step, (double) mstep);
}

/* The latent without its padding, as an image (mask from the stack coverage). */
static void
latent_image (const Job *j, const float *x, const TsrImage *coverage, TsrImage *out)
{
  int r = j->r;
  for (int c = 0; c < j->C; c++)
    {
      const float *src = x + (gsize) c * j->LW * j->LH;
      float *dst = tsr_image_plane (out, c);
      for (int y = 0; y < out->height; y++)
        for (int xx = 0; xx < out->width; xx++)
          {
            gsize k = (gsize) y * out->width + xx;
            gboolean valid = coverage->mask[(gsize) (y / r) * j->W + xx / r];
            out->mask[k] = valid;
            dst[k] = valid ? src[(gsize) (y + j->pad) * j->LW + xx + j->pad] - (float) j->ped[c] : 0.0f;
          }
    }
}

/* ---------------------------------------------------------------------------------------
 * Luminance-guided colour (deconv.color = luminance)
 *
 * One latent, fitted to the luminance L = (R + G + B) / 3 of every demosaiced frame (all
 * samples, one PSF per frame); each colour is then
 *   c = b_c + (L_deconv − b_L) · K_c,  K_c = (S_c S_L + ε² K0_c) / (S_L² + ε²),
 * b the mean stack's local background (medians of 32 px blocks), S_c = G ∗ h_L ∗ (m_c − b_c) and
 * S_L = G ∗ h_c ∗ (m_L − b_L): the mean stack's colour c and its L above the background,
 * cross-convolved with the other's PSF (h: the average of the frames' PSFs), so that both have
 * the PSF h_c ∗ h_L and their ratio is a point source's flux ratio at every radius (a plain
 * smoothed ratio favours the narrower channel at a star's core: the generated red, 1.3× as
 * broad, came out 6 % too faint), then smoothed by one Gaussian G of σ = 2 FWHM. ε = 3 × the
 * noise of S_L; K0_c the colour of everything above 10 ε. No structure finer than the PSF can
 * carry a colour of its own, so no ring round a star is coloured; colour detail finer than ~2
 * FWHM is lost. The maps do not depend on the latent: computed once before the iterations,
 * they also colour the shown iterates. */

static TsrImage *
luminance_image (const TsrImage *src)
{
  TsrImage *o = tsr_image_new (src->width, src->height, 1);
  gsize np = (gsize) src->width * src->height;
  const float *a = tsr_image_plane (src, 0), *b = tsr_image_plane (src, 1), *c = tsr_image_plane (src, 2);
  for (gsize k = 0; k < np; k++)
    o->data[k] = (a[k] + b[k] + c[k]) * (1.0f / 3.0f);
  memcpy (o->mask, src->mask, np);
  return o;
}

static int
smooth_size (int n)
{
  for (;; n++)
    {
      int m = n;
      for (int p = 2; p <= 7; p++)
        while (m % p == 0)
          m /= p;
      if (m == 1)
        return n;
    }
}

/* out = v ∗ h (h: (2 hr + 1)², centred; v zero outside W × H), by FFT */
static void
fft_convolve (const float *v, int W, int H, const float *h, int hr, float *out)
{
  int nw = smooth_size (W + 2 * hr), nh = smooth_size (H + 2 * hr), nc = nw / 2 + 1;
  float *a = fftwf_alloc_real ((gsize) nw * nh), *b = fftwf_alloc_real ((gsize) nw * nh);
  fftwf_complex *A = fftwf_alloc_complex ((gsize) nc * nh), *B = fftwf_alloc_complex ((gsize) nc * nh);
  tsr_fftw_lock ();
  fftwf_plan pa = fftwf_plan_dft_r2c_2d (nh, nw, a, A, FFTW_ESTIMATE);
  fftwf_plan pb = fftwf_plan_dft_r2c_2d (nh, nw, b, B, FFTW_ESTIMATE);
  fftwf_plan pi = fftwf_plan_dft_c2r_2d (nh, nw, A, a, FFTW_ESTIMATE);
  tsr_fftw_unlock ();
  memset (a, 0, sizeof (float) * nw * nh);
  memset (b, 0, sizeof (float) * nw * nh);
  for (int y = 0; y < H; y++)
    memcpy (a + (gsize) y * nw, v + (gsize) y * W, sizeof (float) * W);
  int S = 2 * hr + 1;
  for (int y = 0; y < S; y++)
    for (int x = 0; x < S; x++)
      b[(gsize) ((y - hr + nh) % nh) * nw + (x - hr + nw) % nw] = h[y * S + x];
  fftwf_execute (pa);
  fftwf_execute (pb);
  float sc = 1.0f / ((float) nw * nh);
  for (gsize k = 0; k < (gsize) nc * nh; k++)
    {
      float re = A[k][0] * B[k][0] - A[k][1] * B[k][1], im = A[k][0] * B[k][1] + A[k][1] * B[k][0];
      A[k][0] = re * sc;
      A[k][1] = im * sc;
    }
  fftwf_execute (pi);
  for (int y = 0; y < H; y++)
    memcpy (out + (gsize) y * W, a + (gsize) y * nw, sizeof (float) * W);
  tsr_fftw_lock ();
  fftwf_destroy_plan (pa);
  fftwf_destroy_plan (pb);
  fftwf_destroy_plan (pi);
  tsr_fftw_unlock ();
  fftwf_free (a);
  fftwf_free (b);
  fftwf_free (A);
  fftwf_free (B);
}

/* The mean stack's PSF of one channel: the average of the used frames' PSFs (image grid);
 * colour c = 0…2 of the colour PSFs, or −1: the luminance (data) PSF — the data's own, not the
 * residual kernel deconv.target_fwhm leaves in psf[0]. NULL when a frame has none. */
static float *
mean_stack_psf (const Job *j, int c, int *rad)
{
  int R = 0;
  for (guint u = 0; u < j->nu; u++)
    {
      const DFrame *f = &j->frames[j->used[u]];
      const TsrPsf *p = c < 0 ? (f->lpsf ? f->lpsf : f->psf[0]) : f->cpsf[c];
      if (!p)
        return NULL;
      R = MAX (R, p->radius / MAX (p->oversample, 1));
    }
  int S = 2 * R + 1;
  float *h = g_new0 (float, (gsize) S * S);
  for (guint u = 0; u < j->nu; u++)
    {
      const DFrame *f = &j->frames[j->used[u]];
      const TsrPsf *p0 = c < 0 ? (f->lpsf ? f->lpsf : f->psf[0]) : f->cpsf[c];
      TsrPsf *p = p0->oversample != 1 ? tsr_psf_resample (p0, 1) : tsr_psf_copy (p0);
      double sum = 0;
      for (int k = 0; k < p->size * p->size; k++)
        sum += p->data[k];
      int o = R - p->radius;
      for (int y = 0; y < p->size; y++)
        for (int x = 0; x < p->size; x++)
          if (y + o >= 0 && x + o >= 0 && y + o < S && x + o < S)
            h[(gsize) (y + o) * S + x + o] += (float) (p->data[y * p->size + x] / (sum * j->nu));
      tsr_psf_free (p);
    }
  *rad = R;
  return h;
}

/* The local background of a plane: medians of B × B blocks (valid pixels), bilinear between the
 * block centres. */
static void
block_background (const float *v, const guint8 *m, int W, int H, int B, float *out)
{
  int nbx = MAX (1, (W + B - 1) / B), nby = MAX (1, (H + B - 1) / B);
  float *med = g_new (float, (gsize) nbx * nby), *tmp = g_new (float, (gsize) B * B);
  for (int by = 0; by < nby; by++)
    for (int bx = 0; bx < nbx; bx++)
      {
        guint n = 0;
        for (int y = by * B; y < MIN (H, (by + 1) * B); y++)
          for (int x = bx * B; x < MIN (W, (bx + 1) * B); x++)
            if (m[(gsize) y * W + x])
              tmp[n++] = v[(gsize) y * W + x];
        med[by * nbx + bx] = n >= 8 ? tsr_median_inplace (tmp, n) : NAN;
      }
  /* empty blocks: the median of the others */
  {
    float *all = g_new (float, (gsize) nbx * nby);
    guint na = 0;
    for (int i = 0; i < nbx * nby; i++)
      if (isfinite (med[i]))
        all[na++] = med[i];
    float fill = na ? tsr_median_inplace (all, na) : 0.0f;
    for (int i = 0; i < nbx * nby; i++)
      if (!isfinite (med[i]))
        med[i] = fill;
    g_free (all);
  }
  for (int y = 0; y < H; y++)
    {
      double gy = CLAMP ((y + 0.5) / B - 0.5, 0.0, nby - 1.0);
      int y0 = MIN ((int) gy, nby - 1), y1 = MIN (y0 + 1, nby - 1);
      double ty = gy - y0;
      for (int x = 0; x < W; x++)
        {
          double gx = CLAMP ((x + 0.5) / B - 0.5, 0.0, nbx - 1.0);
          int x0 = MIN ((int) gx, nbx - 1), x1 = MIN (x0 + 1, nbx - 1);
          double tx = gx - x0;
          out[(gsize) y * W + x] = (float) ((1 - ty) * ((1 - tx) * med[y0 * nbx + x0] + tx * med[y0 * nbx + x1])
                                            + ty * ((1 - tx) * med[y1 * nbx + x0] + tx * med[y1 * nbx + x1]));
        }
    }
  g_free (med);
  g_free (tmp);
}

/* The colour maps on the reference grid: b_L, b_c and K_c (they do not depend on the latent:
 * computed once, applied to every shown iterate and to the result). */
typedef struct
{
  int W, H;
  float *bl;      /* W × H */
  float *bc;      /* 3 × W × H */
  float *K;       /* 3 × W × H */
} ColourMaps;

static void
colour_maps_free (ColourMaps *m)
{
  if (!m)
    return;
  g_free (m->bl);
  g_free (m->bc);
  g_free (m->K);
  g_free (m);
}

/* c = b_c + (L − b_L) · K_c into a three-channel image of L's size (super-resolution: the maps'
 * pixel under each fine sample) */
static void
colour_apply (const ColourMaps *m, const TsrImage *L, TsrImage *out)
{
  int W = m->W, H = m->H, r = MAX (1, L->width / W);
  gsize n = (gsize) W * H, nl = (gsize) L->width * L->height;
  memcpy (out->mask, L->mask, nl);
  const float *lv = tsr_image_plane (L, 0);
  for (int c = 0; c < 3; c++)
    {
      const float *bcc = m->bc + (gsize) c * n, *K = m->K + (gsize) c * n;
      float *o = tsr_image_plane (out, c);
      for (int y = 0; y < L->height; y++)
        for (int x = 0; x < L->width; x++)
          {
            gsize k = (gsize) y * L->width + x, q = (gsize) MIN (y / r, H - 1) * W + MIN (x / r, W - 1);
            o[k] = L->mask[k] ? bcc[q] + (lv[k] - m->bl[q]) * K[q] : 0.0f;
          }
    }
}

static ColourMaps *
colour_maps_new (const Job *j, const TsrImage *meanL, const TsrImage *mean3, double fwhm)
{
  int W = meanL->width, H = meanL->height;
  gsize n = (gsize) W * H;
  /* the sky noise of the mean L: neighbour differences, 1.4826 MAD / √2, on a subsample */
  const float *ml = tsr_image_plane (meanL, 0);
  gsize step = MAX ((gsize) 1, n / 200000) | 1;
  float *d = g_new (float, n / step + 1);
  guint nd = 0;
  for (gsize k = 0; k + 1 < n; k += step)
    if (meanL->mask[k] && meanL->mask[k + 1] && (k + 1) % W)
      d[nd++] = ml[k + 1] - ml[k];
  double noise = 0;
  if (nd > 16)
    {
      float med = tsr_median_inplace (d, nd);
      noise = TSR_MAD_TO_SIGMA * tsr_mad_inplace (d, nd, med) / G_SQRT2;
    }
  g_free (d);
  /* the sources above the local background (32 px block medians) */
  int B = 32;
  float *bl = g_new (float, n), *bc = g_new (float, (gsize) 3 * n), *dl = g_new (float, n), *dv = g_new (float, n);
  float *num = g_new (float, n), *den = g_new (float, n);
  block_background (ml, meanL->mask, W, H, B, bl);
  for (gsize k = 0; k < n; k++)
    dl[k] = meanL->mask[k] ? ml[k] - bl[k] : 0.0f;
  int rl = 0;
  float *hl = mean_stack_psf (j, -1, &rl);
  float *Kall = g_new (float, (gsize) 3 * n);
  for (int c = 0; c < 3; c++)
    {
      const float *mc = tsr_image_plane (mean3, c);
      float *bcc = bc + (gsize) c * n;
      block_background (mc, meanL->mask, W, H, B, bcc);
      for (gsize k = 0; k < n; k++)
        dv[k] = meanL->mask[k] ? mc[k] - bcc[k] : 0.0f;
      /* cross-convolution: c ∗ h_L and L ∗ h_c have one PSF (h_c ∗ h_L), so their ratio is a
       * point source's flux ratio at every radius */
      int rc = 0;
      float *hc = hl ? mean_stack_psf (j, c, &rc) : NULL;
      double hn2 = 0;
      if (hc)
        {
          /* then both smoothed by one Gaussian (σ = 2 FWHM), which keeps their PSFs equal */
          double fw = isfinite (fwhm) && fwhm > 0.5 ? fwhm : 3.0;
          double sg = 2.0 * fw;
          int rg = (int) ceil (3 * sg), rr = rg + MAX (rc, rl), sz = 2 * rr + 1;
          float *k2 = g_new0 (float, (gsize) sz * sz);
          for (int pass = 0; pass < 2; pass++)
            {
              const float *h1 = pass ? hc : hl;
              int r1 = pass ? rc : rl;
              /* k2 = h1 ∗ Gaussian (direct: both small) */
              memset (k2, 0, sizeof (float) * sz * sz);
              double gs = 0;
              for (int y = -rg; y <= rg; y++)
                for (int x = -rg; x <= rg; x++)
                  gs += exp (-0.5 * (x * x + y * y) / (sg * sg));
              for (int y = -r1; y <= r1; y++)
                for (int x = -r1; x <= r1; x++)
                  {
                    float hv = h1[(y + r1) * (2 * r1 + 1) + x + r1];
                    if (hv == 0)
                      continue;
                    for (int v = -rg; v <= rg; v++)
                      for (int u = -rg; u <= rg; u++)
                        {
                          int yy = y + v, xx = x + u;
                          if (abs (yy) > rr || abs (xx) > rr)
                            continue;
                          k2[(yy + rr) * sz + xx + rr] += (float) (hv * exp (-0.5 * (u * u + v * v) / (sg * sg)) / gs);
                        }
                  }
              if (pass)
                {
                  fft_convolve (dl, W, H, k2, rr, den);
                  for (int k = 0; k < sz * sz; k++)
                    hn2 += (double) k2[k] * k2[k];
                }
              else
                fft_convolve (dv, W, H, k2, rr, num);
            }
          g_free (k2);
        }
      else   /* no PSFs: a 5 × 5 box for both */
        {
          memcpy (num, dv, sizeof (float) * n);
          memcpy (den, dl, sizeof (float) * n);
          hn2 = 1.0 / 25;
          for (int pass = 0; pass < 2; pass++)
            {
              float *src = pass ? den : num;
              float *tmp2 = g_new (float, n);
              for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                  {
                    double a = 0;
                    for (int yy = MAX (0, y - 2); yy <= MIN (H - 1, y + 2); yy++)
                      for (int xx = MAX (0, x - 2); xx <= MIN (W - 1, x + 2); xx++)
                        a += src[(gsize) yy * W + xx];
                    tmp2[(gsize) y * W + x] = (float) (a / 25);
                  }
              memcpy (src, tmp2, sizeof (float) * n);
              g_free (tmp2);
            }
        }
      g_free (hc);
      /* ε: 3 × the noise of den; K0: the colour of everything well above it */
      double eps = 3.0 * noise * sqrt (hn2), e2 = eps * eps;
      double ta = 0, tb = 0;
      for (gsize k = 0; k < n; k++)
        if (den[k] > 10 * eps)
          ta += den[k], tb += num[k];
      double K0 = ta > 0 && tb > 0 ? tb / ta : 1.0;
      float *Kc = Kall + (gsize) c * n;
      for (gsize k = 0; k < n; k++)
        Kc[k] = (float) (((double) num[k] * den[k] + e2 * K0) / ((double) den[k] * den[k] + e2));
    }
  g_free (hl);
  g_free (dl);
  g_free (dv);
  g_free (num);
  g_free (den);
  ColourMaps *m = g_new0 (ColourMaps, 1);
  m->W = W;
  m->H = H;
  m->bl = bl;   /* the background in the mean stack's colour, the sources in theirs */
  m->bc = bc;
  m->K = Kall;
  return m;
}

/* ---------------------------------------------------------------------------------------
 * Photometric anchor (deconv.flux_anchor)
 *
 * The latent's flux unit is fixed by the reference frame through the fitted scales (the
 * reference's scale is 1), the mean stack's by the frames' star-flux ratios. On the Seestar
 * M94 frames the fitted scales fall below the star-flux ratios with the seeing (fitted/ratio
 * 1.006 at FWHM 2.19, 0.87–0.90 at 2.56–2.78: docs/deconv.md), which leaves the latent ~7 %
 * brighter than the mean stack (cause not found). The anchor puts the result on the mean
 * stack's scale: per channel the median, over isolated unsaturated stars of the mean stack, of
 * the mean stack's aperture flux over that of the latent convolved with the frames' mean PSF
 * (the model of the mean stack: both images at one resolution, so the deconvolved core's
 * compactness and any structure round it inside the aperture weigh alike in both), aperture
 * 3 FWHM, background the mean of the annulus 2–6 px beyond. */

#define ANCHOR_MIN_STARS 5
#define ANCHOR_MAX_SPREAD 0.10
#define ANCHOR_MAX_STARS 200

typedef struct
{
  gsize k;
  float v;
} AnchorCand;

static gint
anchor_cand_cmp (gconstpointer a, gconstpointer b)
{
  const AnchorCand *p = a, *q = b;
  return p->v > q->v ? -1 : p->v < q->v ? 1 : (p->k > q->k) - (p->k < q->k);
}

static void
anchor_mean_psf (const Job *j, int c, float **out, int *rad)
{
  int R = 0;
  for (guint u = 0; u < j->nu; u++)
    R = MAX (R, j->frames[j->used[u]].psf[MIN (c, 2)] ? j->frames[j->used[u]].psf[MIN (c, 2)]->radius : 0);
  int S = 2 * R + 1;
  float *h = g_new0 (float, (gsize) S * S);
  guint n = 0;
  for (guint u = 0; u < j->nu; u++)
    {
      const TsrPsf *p = j->frames[j->used[u]].psf[MIN (c, 2)];
      if (!p)
        continue;
      double sum = 0;
      for (int k = 0; k < p->size * p->size; k++)
        sum += p->data[k];
      if (!(sum > 0))
        continue;
      int o = R - p->radius;
      for (int y = 0; y < p->size; y++)
        for (int x = 0; x < p->size; x++)
          h[(gsize) (y + o) * S + x + o] += (float) (p->data[y * p->size + x] / sum);
      n++;
    }
  for (int k = 0; k < S * S; k++)
    h[k] /= MAX (n, 1u);
  *out = h;
  *rad = R;
}

/* Aperture flux at (cx, cy): sum within ra less its area times the mean of the annulus
 * ra + 2 … ra + 6; the image convolved with h (radius hr) where h is given. */
static double
anchor_aperture (const float *img, int W, int cx, int cy, double ra, const float *h, int hr)
{
  int R = (int) ceil (ra + 6);
  double sa = 0, sb = 0;
  int na = 0, nb = 0;
  for (int y = cy - R; y <= cy + R; y++)
    for (int x = cx - R; x <= cx + R; x++)
      {
        double d = hypot (x - cx, y - cy);
        gboolean in = d <= ra, ring = d >= ra + 2 && d <= ra + 6;
        if (!in && !ring)
          continue;
        double v = 0;
        if (h)
          {
            int S = 2 * hr + 1;
            for (int dy = -hr; dy <= hr; dy++)
              {
                const float *row = img + (gsize) (y - dy) * W + x;
                const float *hrow = h + (gsize) (dy + hr) * S + hr;
                for (int dx = -hr; dx <= hr; dx++)
                  v += hrow[dx] * row[-dx];
              }
          }
        else
          v = img[(gsize) y * W + x];
        if (in)
          sa += v, na++;
        else
          sb += v, nb++;
      }
  return sa - na * (nb ? sb / nb : 0);
}

static guint
flux_anchor (const Job *j, const TsrImage *mean, const GArray *cores, double fwhm, TsrImage *view, double k_out[3],
             double *k_meas, double *k_se)
{
  *k_meas = 1.0;
  *k_se = INFINITY;
  int W = view->width, H = view->height, C = view->channels;
  for (int c = 0; c < 3; c++)
    k_out[c] = 1.0;
  if (j->r != 1 || mean->width != W || mean->height != H || mean->channels != C || !isfinite (fwhm) || fwhm <= 0)
    return 0;
  gsize n = (gsize) W * H;
  float *lum = g_new0 (float, n);
  for (int c = 0; c < C; c++)
    {
      const float *m = tsr_image_plane (mean, c);
      for (gsize k = 0; k < n; k++)
        lum[k] += m[k] / C;
    }
  /* per-pixel noise of the mean's luminance: MAD of horizontal neighbour differences / √2 */
  gsize step = MAX ((gsize) 1, n / 200000), nd = 0;
  float *dif = g_new (float, n / step + 1);
  for (gsize k = 0; k + 1 < n; k += step)
    if ((int) (k % W) < W - 1 && mean->mask[k] && mean->mask[k + 1])
      dif[nd++] = (lum[k + 1] - lum[k]) / (float) G_SQRT2;
  double sig = 0;
  if (nd > 100)
    {
      float med = tsr_median_inplace (dif, nd);
      sig = TSR_MAD_TO_SIGMA * tsr_mad_inplace (dif, nd, med);
    }
  g_free (dif);
  int hr[3] = { 0 };
  float *h[3] = { NULL };
  for (int c = 0; c < C; c++)
    anchor_mean_psf (j, c, &h[c], &hr[c]);
  int hmax = MAX (hr[0], MAX (hr[1], hr[2]));
  double ra = 3 * fwhm, iso = ra + 6 + 2 * fwhm;
  int margin = (int) ceil (ra + 6) + hmax + 1;
  /* peaks: local maxima of the luminance ≥ 10 σ (neighbours), of which the stars ≥ 30 σ */
  GArray *pk = g_array_new (FALSE, FALSE, sizeof (gsize));
  if (sig > 0)
    for (int y = 2; y < H - 2; y++)
      for (int x = 2; x < W - 2; x++)
        {
          gsize k = (gsize) y * W + x;
          if (!mean->mask[k] || lum[k] < 10 * sig)
            continue;
          gboolean top = TRUE;
          for (int dy = -2; dy <= 2 && top; dy++)
            for (int dx = -2; dx <= 2 && top; dx++)
              {
                float v = lum[k + (gsize) ((gssize) dy * W + dx)];
                if ((dx || dy) && (v > lum[k] || (v == lum[k] && (dy < 0 || (dy == 0 && dx < 0)))))
                  top = FALSE;
              }
          if (top)
            g_array_append_val (pk, k);
        }
  GArray *rat[4];   /* per channel, and of the channels' sums */
  for (int c = 0; c < 4; c++)
    rat[c] = g_array_new (FALSE, FALSE, sizeof (float));
  /* the candidates brightest first, at most ANCHOR_MAX_STARS of them measured (a dense field
   * has thousands; the median needs no more) */
  GArray *cand = g_array_new (FALSE, FALSE, sizeof (AnchorCand));
  for (guint i = 0; i < pk->len; i++)
    {
      gsize k = g_array_index (pk, gsize, i);
      if (lum[k] >= 30 * sig)
        {
          AnchorCand ac = { k, lum[k] };
          g_array_append_val (cand, ac);
        }
    }
  g_array_sort (cand, anchor_cand_cmp);
  guint used = 0;
  for (guint i = 0; i < cand->len && used < ANCHOR_MAX_STARS; i++)
    {
      gsize k = g_array_index (cand, AnchorCand, i).k;
      int x = (int) (k % W), y = (int) (k / W);
      if (x < margin || y < margin || x >= W - margin || y >= H - margin)
        continue;
      gboolean ok = TRUE;
      for (guint q = 0; q < pk->len && ok; q++)
        {
          gsize kq = g_array_index (pk, gsize, q);
          double dx = (double) (kq % W) - x, dy = (double) (kq / W) - y;
          if (kq != k && fabs (dx) <= iso && fabs (dy) <= iso && hypot (dx, dy) <= iso)
            ok = FALSE;
        }
      for (guint q = 0; cores && q < cores->len && ok; q++)
        {
          const TsrDeconvSatCore *sc = &g_array_index (cores, TsrDeconvSatCore, q);
          if (hypot (sc->x - x, sc->y - y) <= sc->radius + iso)
            ok = FALSE;
        }
      /* every pixel the model reads observed, none of them ever saturated */
      for (int yy = y - margin + 1; yy < y + margin && ok; yy++)
        for (int xx = x - margin + 1; xx < x + margin && ok; xx++)
          {
            gsize kk = (gsize) yy * W + xx;
            if (!mean->mask[kk] || !view->mask[kk] || (j->satcount && j->satcount[kk]))
              ok = FALSE;
          }
      if (!ok)
        continue;
      used++;
      double sm = 0, sx = 0;
      for (int c = 0; c < C; c++)
        {
          double fm = anchor_aperture (tsr_image_plane (mean, c), W, x, y, ra, NULL, 0);
          double fx = anchor_aperture (tsr_image_plane (view, c), W, x, y, ra, h[c], hr[c]);
          if (fm > 0 && fx > 0)
            {
              float q = (float) (fm / fx);
              g_array_append_val (rat[c], q);
            }
          sm += fm, sx += fx;
        }
      if (sm > 0 && sx > 0)
        {
          float q = (float) (sm / sx);
          g_array_append_val (rat[3], q);
        }
    }
  guint nmin = rat[3]->len;
  for (int c = 0; c < C; c++)
    nmin = MIN (nmin, rat[c]->len);
  /* applied only where the stars show a difference: the median of the channels' sums off 1 by
   * more than twice its standard error (1.2533 σ/√n, σ from the MAD). On the generated session
   * (5 stars, each within ±2.3 %) the un-anchored result is within 1.2 % of the truth and the
   * anchor's own error is ±1 %: applied there it put two flux bins 2.1 % high */
  double kl = 1.0, se = INFINITY;
  if (nmin >= ANCHOR_MIN_STARS)
    {
      kl = tsr_median_inplace ((float *) rat[3]->data, rat[3]->len);
      se = 1.2533 * TSR_MAD_TO_SIGMA * tsr_mad_inplace ((float *) rat[3]->data, rat[3]->len, (float) kl) / sqrt (rat[3]->len);
    }
  /* and only where it is a flux scale: the stars agree within 10 % (σ of their ratios). With
   * deconv.rho=l2 on the generated session the stars' ratios scatter by ±43 % (faint stars at 0.2
   * of the truth, bright at 0.6): no factor mends that */
  double spread = se * sqrt (MAX (rat[3]->len, 1u)) / 1.2533;
  gboolean apply = nmin >= ANCHOR_MIN_STARS && fabs (kl - 1) > 2 * se && spread < ANCHOR_MAX_SPREAD;
  if (apply)
    for (int c = 0; c < C; c++)
      {
        k_out[c] = tsr_median_inplace ((float *) rat[c]->data, rat[c]->len);
        float *d = tsr_image_plane (view, c);
        for (gsize k = 0; k < n; k++)
          d[k] *= (float) k_out[c];
      }
  *k_meas = kl;
  *k_se = se;
  g_debug ("deconv: flux anchor over %u stars (aperture %.1f px): mean stack / model %.4f ± %.4f (stars' spread %.3f), %s; "
           "factors %.4f %.4f %.4f", nmin, ra, kl, se, spread, apply ? "applied" : "not applied", k_out[0], k_out[1], k_out[2]);
  for (int c = 0; c < 4; c++)
    g_array_free (rat[c], TRUE);
  for (int c = 0; c < 3; c++)
    g_free (h[c]);
  g_array_free (pk, TRUE);
  g_array_free (cand, TRUE);
  g_free (lum);
  return nmin < ANCHOR_MIN_STARS ? 0 : nmin;
}

/* ---------------------------------------------------------------------------------------
 * Public
 */

void
tsr_deconv_options_init (TsrDeconvOptions *o)
{
  memset (o, 0, sizeof *o);
}

void
tsr_deconv_result_free (TsrDeconvResult *r)
{
  if (!r)
    return;
  g_clear_pointer (&r->image, tsr_image_unref);
  g_clear_pointer (&r->mean, tsr_image_unref);
  g_clear_pointer (&r->seed, tsr_image_unref);
  for (int c = 0; c < 3; c++)
    tsr_psf_free (r->median_psf[c]);
  if (r->stats)
    g_array_free (r->stats, TRUE);
  g_free (r);
}

/* Job.resident by mapping the staged files: each frame's native planes, codes and packed
 * positions read in place from the page cache that the staging's writes filled (MAP_POPULATE:
 * mapped now, with the set-up), instead of copied into fresh anonymous pages (whose zeroing
 * and copy were ~4 % of an M94 run's CPU, and which held a second copy of the data). FALSE
 * (nothing mapped) where mapping is not available or fails: the frames are then read into
 * Job.rblock. */
static void
resident_unmap (Job *j)
{
#ifdef G_OS_UNIX
  for (guint i = 0; j->frames && i < j->n_frames; i++)
    {
      DFrame *f = &j->frames[i];
      if (f->rmap)
        {
          munmap (f->rmap, f->rmap_len);
          f->rmap = NULL;
          f->ry = NULL;
          f->rm = NULL;
          f->rtap = NULL;
        }
    }
#else
  (void) j;
#endif
}

static gboolean
resident_map (Job *j)
{
#ifdef G_OS_UNIX
  if (g_getenv ("TSR_DECONV_NO_MAP"))
    return FALSE;
  long pg = sysconf (_SC_PAGESIZE);
  if (pg <= 0)
    return FALSE;
  gsize n = (gsize) j->W * j->H;
  off_t o2 = stage_off (j, 2, 0), o3 = stage_off (j, 3, 0), o4 = stage_off (j, 4, 0);
  off_t a = o2 - o2 % pg, end = o4 + (off_t) (sizeof (guint32) * n);
  for (guint u = 0; u < j->nu; u++)
    {
      DFrame *f = &j->frames[j->used[u]];
      void *p = mmap (NULL, (gsize) (end - a), PROT_READ, MAP_SHARED | MAP_POPULATE, f->fd, a);
      if (p == MAP_FAILED)
        {
          resident_unmap (j);
          return FALSE;
        }
      f->rmap = p;
      f->rmap_len = (gsize) (end - a);
      f->ry = (float *) ((char *) p + (o2 - a));
      f->rm = (guint8 *) p + (o3 - a);
      f->rtap = (guint32 *) ((char *) p + (o4 - a));
    }
  return TRUE;
#else
  (void) j;
  return FALSE;
#endif
}

static void
job_clear (Job *j)
{
  resident_unmap (j);
  for (guint i = 0; i < j->n_frames && j->frames; i++)
    {
      DFrame *f = &j->frames[i];
      if (f->fd > 0)
        close (f->fd);
      if (f->path)
        g_unlink (f->path);
      g_free (f->path);
      for (int c = 0; c < 3; c++)
        {
          tsr_psf_free (f->psf[c]);
          tsr_psf_free (f->cpsf[c]);
        }
      tsr_psf_free (f->lpsf);
    }
  g_free (j->frames);
  if (j->stage_dir)
    g_rmdir (j->stage_dir);
  g_free (j->stage_dir);
  g_free (j->used);
  g_free (j->kcache);
  tsr_huge_block_clear (&j->kblock);
  tsr_huge_block_clear (&j->rblock);
  tsr_conv_spectrum_free (j->gspec);
  tsr_conv_spectrum_free (j->g2spec);
  g_free (j->g1);
  g_free (j->g21);
  if (j->plan)
    tsr_conv_plan_free (j->plan);
  g_free (j->x_old);
  g_free (j->x_new);
  g_free (j->x_cur);
  g_free (j->g);
  g_free (j->lb);
  g_free (j->satcount);
  if (j->ref_stars)
    g_array_free (j->ref_stars, TRUE);
  if (j->gain_pts)
    g_array_free (j->gain_pts, TRUE);
  g_clear_error (&j->error);
  g_mutex_clear (&j->lock);
}

/* The WCS of an r× super-resolved image: pixel p' = r·(p − ½) + ½ (1-based FITS pixels), so
 * CRPIX' = r·(CRPIX − ½) + ½ and the pixel scale (CD, CDELT) divides by r. */
void
tsr_deconv_scale_wcs (TsrHeader *h, int r)
{
  double v;
  static const char *const crpix[] = { "CRPIX1", "CRPIX2" };
  static const char *const scale[] = { "CD1_1", "CD1_2", "CD2_1", "CD2_2", "CDELT1", "CDELT2" };
  for (guint i = 0; i < G_N_ELEMENTS (crpix); i++)
    if (tsr_header_get_double (h, crpix[i], &v))
      tsr_header_set_double (h, crpix[i], r * (v - 0.5) + 0.5, "reference pixel (super-resolved grid)");
  for (guint i = 0; i < G_N_ELEMENTS (scale); i++)
    if (tsr_header_get_double (h, scale[i], &v))
      tsr_header_set_double (h, scale[i], v / r, "scaled for super-resolution");
}

/* The TBQR result as a seed: same reference geometry; its background plane removed. */
static TsrImage *
tbqr_seed (Job *j, TsrProgressFunc progress, gpointer pdata, GCancellable *cancellable, GError **error)
{
  g_autoptr (TsrAnalysis) a = tsr_tbqr_analyse (j->s, j->tp, j->run, progress, pdata, cancellable, error);
  if (!a)
    return NULL;
  g_autoptr (TsrWeights) w = tsr_tbqr_weigh (a, j->tp, error);
  if (!w)
    return NULL;
  TsrReconstruction *rec = tsr_tbqr_accumulate (a, w, j->tp, j->run, progress, pdata, cancellable, error);
  if (!rec)
    return NULL;
  TsrImage *img = tsr_image_ref (rec->result);
  tsr_reconstruction_free (rec);
  for (int c = 0; c < img->channels; c++)
    {
      double pl[3], rms;
      float *v = tsr_image_plane (img, c);
      tsr_deconv_fit_background (v, img->mask, img->width, img->height, TSR_CFA_NONE, -1, pl, &rms);
      for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++)
          v[(gsize) y * img->width + x] -= (float) tsr_deconv_plane_at (pl, x, y);
    }
  return img;
}

/* The floor on annulus means round the fainter sources (the second floor tier, lb < 0). The
 * deconvolution of a point source rings — a dip at 1–1.5 FWHM and a ring beyond, the band-limited
 * point of a solve that has not reached the highest frequencies — as deep as the latent's lower
 * bound allows, with the exact PSF, the exact scales and nearly noise-free frames too (docs/deconv.md,
 * eighth session). A floor on every pixel stops the dip but clips the deconvolved sky's noise from
 * below, which brightens the stars it surrounds (M94: flux vs the mean 1.08 → 1.15); a floor on a
 * Gaussian local mean does not see the dip beside the bright core. So round each source of the
 * tier the mean of the latent over each 1-px annulus (native pixels, from 1 px out) is held at the
 * mean of the bound there: where it falls below, the deficit is added to the annulus's pixels,
 * which leaves their noise as it is. */
typedef struct
{
  int c;
  double cx, cy;   /* latent (fine) coordinates */
  double radius;   /* native pixels */
  guint px0, npx;  /* its annuli's pixels in annulus_floor's index */
} FloorSource;

/* a latent sample of a source's annuli under a negative bound: its index, its annulus */
typedef struct
{
  guint32 k;
  gint32 a;
} FloorPx;

#define FLOOR_SOURCE_MAX_RADIUS 30.0
#define FLOOR_ANNULI 64

static void
annulus_floor (const Job *j, float *u, GArray *sources, GArray **index)
{
  int LW = j->LW, LH = j->LH, r = j->r;
  if (!*index)
    {
      /* once (the bound is fixed): the pixels of each source's annuli, in raster order (the
       * bounding box's scan with a distance per pixel was ~0.35 ms an iteration) */
      *index = g_array_new (FALSE, FALSE, sizeof (FloorPx));
      for (guint i = 0; i < sources->len; i++)
        {
          FloorSource *fs = &g_array_index (sources, FloorSource, i);
          const float *lb = j->lb + (gsize) fs->c * LW * LH;
          double R = fs->radius * r;
          int x0 = MAX (0, (int) floor (fs->cx - R)), x1 = MIN (LW - 1, (int) ceil (fs->cx + R));
          int y0 = MAX (0, (int) floor (fs->cy - R)), y1 = MIN (LH - 1, (int) ceil (fs->cy + R));
          fs->px0 = (*index)->len;
          for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++)
              {
                gsize k = (gsize) y * LW + x;
                if (!(lb[k] < 0))
                  continue;
                double d = hypot (x - fs->cx, y - fs->cy) / r;
                int a = (int) d;
                if (d < 1 || d > fs->radius || a >= FLOOR_ANNULI)
                  continue;
                FloorPx p = { (guint32) k, a };
                g_array_append_val (*index, p);
              }
          fs->npx = (*index)->len - fs->px0;
        }
    }
  const FloorPx *px = (const FloorPx *) (*index)->data;
  for (guint i = 0; i < sources->len; i++)
    {
      const FloorSource *fs = &g_array_index (sources, FloorSource, i);
      float *uc = u + (gsize) fs->c * LW * LH;
      const float *lb = j->lb + (gsize) fs->c * LW * LH;
      double su[FLOOR_ANNULI] = { 0 }, sl[FLOOR_ANNULI] = { 0 };
      int cnt[FLOOR_ANNULI] = { 0 };
      const FloorPx *p = px + fs->px0;
      for (guint q = 0; q < fs->npx; q++)
        {
          su[p[q].a] += uc[p[q].k];
          sl[p[q].a] -= lb[p[q].k];
          cnt[p[q].a]++;
        }
      for (guint q = 0; q < fs->npx; q++)
        {
          int a = p[q].a;
          if (cnt[a] > 0 && su[a] < sl[a])
            uc[p[q].k] += (float) ((sl[a] - su[a]) / cnt[a]);
        }
    }
}

/* the second tier's parts (floor_sources): 8-connected pixels of the same tier, not taken yet
 * (0x80 marks taken), and the seed's peak among them */
typedef struct
{
  guint8 *reg;
  const float *d;
  int W;
  gsize peak;
  GArray *pix;
  guint8 tier;
} FloorFill;

static gboolean
floor_join (gsize q, gpointer data)
{
  FloorFill *ff = data;
  if (ff->reg[q] != ff->tier)
    return FALSE;
  ff->reg[q] |= 0x80;
  return TRUE;
}

static void
floor_visit (gsize k, gpointer data)
{
  FloorFill *ff = data;
  guint32 kk = (guint32) k;
  g_array_append_val (ff->pix, kk);
  if (ff->peak == (gsize) -1 || ff->d[k] > ff->d[ff->peak])
    ff->peak = k;
}

/* the floor regions' growth: a pixel joins when it is not in a region yet and the seed stands
 * above 0.15 σ of the local sky there */
typedef struct
{
  guint8 *reg;
  const float *d;
  guint8 tier;
} RegionGrow;

static gboolean
region_join (gsize q, gpointer data)
{
  RegionGrow *rg = data;
  if (rg->reg[q] || !(rg->d[q] > 0.15))
    return FALSE;
  rg->reg[q] = rg->tier;
  return TRUE;
}

TsrDeconvResult *
tsr_deconv_run (TsrSession *s, const TsrDeconvParams *dp, const TsrTbqrParams *tp,
                const TsrRunParams *run, const TsrDeconvOptions *opt,
                TsrDeconvIterFunc iter_func, gpointer iter_data,
                TsrProgressFunc progress, gpointer progress_data,
                GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (s != NULL && dp != NULL && tp != NULL && run != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  TsrDeconvOptions dopt;
  if (!opt)
    {
      tsr_deconv_options_init (&dopt);
      opt = &dopt;
    }
  if (!tsr_deconv_params_validate (dp, error) || !tsr_tbqr_params_validate (tp, error)
      || !tsr_run_params_validate (run, error))
    return NULL;
  if (tsr_session_n_frames (s) < 1)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_EMPTY, _("The session has no frames to deconvolve"));
      return NULL;
    }
  if (s->channels != 1 && s->channels != 3)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT, _("Deconvolution needs 1- or 3-channel frames (these have %d)"),
                   s->channels);
      return NULL;
    }
  gint64 t0 = g_get_monotonic_time ();
  Job job = { 0 };
  Job *j = &job;
  g_mutex_init (&j->lock);
  j->dp = dp;
  j->tp = tp;
  j->run = run;
  j->s = s;
  j->W = s->width;
  j->H = s->height;
  if (dp->mask_saturated && !(j->satcount = g_try_new0 (guint16, (gsize) j->W * j->H)))
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE, _("Not enough memory for the %d×%d saturation counts"),
                   j->W, j->H);
      job_clear (j);
      return NULL;
    }
  j->cfa = s->channels == 1 ? s->cfa : TSR_CFA_NONE;
  j->Cd = s->channels;
  j->C = j->cfa != TSR_CFA_NONE ? 3 : s->channels;
  if (j->cfa != TSR_CFA_NONE && dp->color == TSR_DECONV_COLOR_RGB)
    {
      j->demosaic = TRUE;
      j->cfa = TSR_CFA_NONE;
      j->Cd = 3;
    }
  else if (j->cfa != TSR_CFA_NONE && dp->color == TSR_DECONV_COLOR_LUMINANCE)
    {
      /* staged: R, G, B of the demosaiced frame warped (the colour mean stack), L = (R + G + B)
       * / 3 as native samples; one latent, fitted to L */
      j->demosaic = TRUE;
      j->luminance = TRUE;
      j->cfa = TSR_CFA_NONE;
      j->Cd = 3;
      j->C = 1;
    }
  j->Cn = j->luminance ? 1 : j->Cd;
  j->r = dp->sr;
  j->n_frames = tsr_session_n_frames (s);
  j->frames = g_new0 (DFrame, j->n_frames);
  j->cancellable = cancellable;
  j->huber = dp->rho == TSR_RHO_HUBER;
  j->delta_param = dp->delta;
  j->kappa = dp->kappa;
  j->relax = dp->relax;
  j->accel = dp->accel;
  j->gain = dp->gain;
  j->gain_used = dp->gain;
  j->momentum = dp->solver == TSR_DECONV_SOLVER_MOMENTUM;
  j->fit_scale = dp->fit_scale;
  if (j->huber && dp->delta == 0)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("deconv.delta = 0 would give every pixel zero weight; use a negative value for automatic"));
      job_clear (j);
      return NULL;
    }
  /* run.memory_mb bounds every job; deconv.memory_mb may only lower it for the solve */
  gsize budget = MIN ((gsize) (dp->memory_mb * (double) MIB), tsr_run_memory_budget (run));
  /* the calibration masters the session holds for the whole run (calib/), and the saturation
   * counts, come out of it first */
  gsize held = tsr_session_filter_bytes (s) + (j->satcount ? (gsize) j->W * j->H * sizeof (guint16) : 0);
  budget = budget > held ? budget - held : 0;
  {
    /* The least the solve can run in — the smallest tile (32) and a small PSF (radius 4):
     * checked before the registration and staging pass, so a budget that cannot work is
     * refused at once instead of after minutes of staging (issue #20, class 8). The real
     * plan (step 3) uses the measured PSFs. */
    MemPlan lo;
    j->rf = 4;
    j->M = j->r + 2;
    j->pad = j->rf + j->M;
    j->LW = j->r * j->W + 2 * j->pad;
    j->LH = j->r * j->H + 2 * j->pad;
    mem_plan (j, 32, &lo);
    j->rf = 0;
    gsize least = lo.fixed + lo.per_worker;
    if (least > budget)
      {
        g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE,
                     _("deconv: a memory budget of %.0f MiB (the smaller of run.memory_mb and deconv.memory_mb) is "
                       "too small for frames of %d × %d: the deconvolution needs at least %.0f MiB"),
                     budget / (double) MIB, j->W, j->H, least / (double) MIB + 1);
        job_clear (j);
        return NULL;
      }
  }
  const char *tmp = opt->stage_dir ? opt->stage_dir : g_get_tmp_dir ();
  g_autofree char *templ = g_build_filename (tmp, "tessera-deconv-XXXXXX", NULL);
  j->stage_dir = g_mkdtemp (templ) ? g_strdup (templ) : NULL;
  if (!j->stage_dir)
    {
      int errsv = errno;
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("Cannot create a staging folder in “%s”: %s"), tmp,
                   g_strerror (errsv));
      job_clear (j);
      return NULL;
    }

  /* 1. registration + staging */
  TsrRegisterParams rp = tp->reg;
  rp.n_threads = run->n_threads;
  /* the full background mesh for the detections: the frames' flux scales and PSF stamps come
   * from these stars (a quarter of the mesh's samples, stars.bg_decimate, saves ~15 ms a frame
   * and moved /deconv/quality's flux from 0.980 to 0.979 and the generated Bayer session's red
   * PSF from 3.43 to 2.93 px, narrower than the green) */
  rp.stars.bg_decimate = FALSE;
  rp.memory_budget = MIN (tsr_run_memory_budget (run), budget);
  g_autoptr (TsrRegistration) reg = tsr_register_session_with_hooks (s, &rp, tsr_deconv_reference_hook, tsr_deconv_stage_hook, j,
                                                                     progress, progress_data, cancellable, error);
  if (!reg)
    {
      job_clear (j);
      return NULL;
    }
  j->used = g_new (guint, j->n_frames);
  for (guint i = 0; i < j->n_frames; i++)
    {
      DFrame *f = &j->frames[i];
      if (f->staged && reg->frames[i].gate == 0)
        {
          f->fd = g_open (f->path, O_RDONLY, 0);
          if (f->fd < 0)
            {
              int errsv = errno;
              g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("Cannot open the staged frame “%s”: %s"), f->path,
                           g_strerror (errsv));
              job_clear (j);
              return NULL;
            }
          j->used[j->nu++] = i;
        }
      else if (f->path)
        g_unlink (f->path);
    }
  if (j->nu > 0 && j->gain_used <= 0 && dp->gain_auto)
    {
      j->gain_used = tsr_deconv_gain_estimate (j->gain_pts);
    }
  if (j->nu == 0)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_NO_VALID,
                   _("No frame of the session could be registered and passed the validity gate; nothing to deconvolve"));
      job_clear (j);
      return NULL;
    }

  /* 2. seed and mean */
  TsrImage *seed = NULL, *mean = NULL;
  if (!tsr_deconv_seed_and_mean (j, budget, run->n_threads, &seed, &mean, progress, progress_data, cancellable, error))
    {
      job_clear (j);
      return NULL;
    }
  /* luminance mode: the solve sees L (plane 0) only; the colour mean stack and seed are kept
   * for the colours and the saturated cores */
  g_autoptr (TsrImage) mean_rgb = NULL;
  g_autoptr (TsrImage) seed_rgb = NULL;
  if (j->luminance)
    {
      mean_rgb = mean;
      seed_rgb = seed;
      mean = luminance_image (mean_rgb);
      seed = luminance_image (seed_rgb);
    }
  TsrDeconvResult *res = g_new0 (TsrDeconvResult, 1);
  for (int c = 0; c < 3; c++)
    res->flux_anchor[c] = 1.0;
  res->mean = mean;
  res->seed_kind = "median";
  if (opt->seed)
    {
      if (opt->seed->width != j->W || opt->seed->height != j->H || opt->seed->channels != j->C)
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH,
                       _("The seed image is %d×%d×%d but the deconvolution needs %d×%d×%d (reference geometry)"),
                       opt->seed->width, opt->seed->height, opt->seed->channels, j->W, j->H, j->C);
          tsr_image_unref (seed);
          tsr_deconv_result_free (res);
          job_clear (j);
          return NULL;
        }
      tsr_image_unref (seed);
      seed = tsr_image_copy (opt->seed);
      res->seed_kind = "image";
    }
  else if (dp->seed == TSR_DECONV_SEED_TBQR)
    {
      TsrImage *ts = tbqr_seed (j, progress, progress_data, cancellable, error);
      if (ts && j->luminance && ts->channels == 3)
        {
          /* the latent is L: the TBQR result's luminance */
          TsrImage *tl = luminance_image (ts);
          tsr_image_unref (ts);
          ts = tl;
        }
      if (!ts || ts->width != j->W || ts->height != j->H || ts->channels != j->C)
        {
          if (ts)
            {
              g_set_error (error, TSR_ERROR, TSR_ERROR_MISMATCH,
                           _("The TBQR result does not match the deconvolution geometry; use deconv.seed=median"));
              tsr_image_unref (ts);
            }
          tsr_image_unref (seed);
          tsr_deconv_result_free (res);
          job_clear (j);
          return NULL;
        }
      tsr_image_unref (seed);
      seed = ts;
      res->seed_kind = "tbqr";
    }
  res->seed = seed;
  res->gain = j->gain_used;
  res->gain_estimated = dp->gain <= 0 && j->gain_used > 0;
  for (guint u = 0; u < j->nu; u++)
    res->n_saturated += j->frames[j->used[u]].n_saturated;
  res->channels = j->C;
  res->n_frames = j->nu;
  res->reference = reg->reference;
  res->sr = j->r;

  /* PSF summary: median FWHM frame, PSF radius */
  {
    float *fw = g_new (float, j->nu);
    guint nf = 0;
    for (guint u = 0; u < j->nu; u++)
      {
        DFrame *f = &j->frames[j->used[u]];
        if (isfinite (f->fwhm))
          fw[nf++] = (float) f->fwhm;
        res->n_psf_stars += f->psf[0]->from_stars;
        for (int c = 0; c < j->C; c++)
          j->rf = MAX (j->rf, f->psf[c]->radius);
      }
    float med = nf ? tsr_median_inplace (fw, nf) : NAN;
    g_free (fw);
    res->median_fwhm = med;
    guint best = j->used[0];
    double bd = INFINITY;
    for (guint u = 0; u < j->nu; u++)
      {
        DFrame *f = &j->frames[j->used[u]];
        double d = isfinite (f->fwhm) && isfinite (med) ? fabs (f->fwhm - med) : 0;
        if (d < bd)
          {
            bd = d;
            best = j->used[u];
          }
      }
    for (int c = 0; c < j->C; c++)
      res->median_psf[c] = tsr_psf_resample (j->frames[best].psf[c], 1);
    /* deconvolution to a finite resolution: every PSF is replaced by the kernel k with
     * k ∗ g = h (g the target Gaussian), so the latent is the sky seen through g — a star is
     * a sampled Gaussian, not a point between pixels, and a PSF slightly wider than a star's
     * true one narrows the star instead of ringing round it */
    if (dp->target_fwhm > 0)
      for (guint u = 0; u < j->nu; u++)
        for (int c = 0; c < j->C; c++)
          {
            DFrame *f = &j->frames[j->used[u]];
            TsrPsf *k = tsr_psf_divide_gaussian (f->psf[c], dp->target_fwhm / 2.354820045);
            if (c == 0)
              {
                tsr_psf_free (f->lpsf);
                f->lpsf = f->psf[c];   /* kept for the colour maps (mean_stack_psf) */
              }
            else
              tsr_psf_free (f->psf[c]);
            f->psf[c] = k;
          }
    DFrame *rf = &j->frames[reg->reference];
    if (rf->staged)
      {
        double sky = 0;
        for (int c = 0; c < j->C; c++)
          sky += tsr_deconv_plane_at (rf->plane[c], 0.5 * j->W, 0.5 * j->H);
        res->sky_level = sky / j->C;
      }
  }

  /* 3. geometry, memory plan, latent */
  j->row_reads = opt->row_reads;
  int r = j->r;
  j->M = r + 2;   /* |e| ≤ 1 px and the cubic's two taps either side */
  j->pad = j->rf + j->M;
  j->LW = r * j->W + 2 * j->pad;
  j->LH = r * j->H + 2 * j->pad;
  guint n_threads = run->n_threads ? run->n_threads : g_get_num_processors ();
  n_threads = MAX (n_threads, 1u);
  /* the frames of a tile are split into this many chunks for the workers; not tied to the number
   * of workers chosen below (with 1 or 2 threads the sums do not depend on it) */
  j->n_chunks = (int) MIN (j->nu, MAX (2u, n_threads));
  {
    int whole = MAX (j->LW, j->LH);
    int cands[] = { whole, 2048, 1536, 1024, 768, 512, 384, 256, 192, 128, 96, 64, 48, 32 };
    int chosen = 0, chosen_workers = 1;
    gboolean chosen_cache = FALSE;
    MemPlan mp = { 0 }, best = { 0 };
    for (int pass = 0; pass < 2 && !chosen; pass++)
      for (guint i = 0; i < G_N_ELEMENTS (cands) && !chosen; i++)
        {
          int T = cands[i];
          if (opt->tile > 0)
            T = opt->tile;
          else if (T > whole || (i > 0 && T == whole))
            continue;
          if (T < 4 * j->rf && opt->tile <= 0 && pass == 0)
            continue;
          mem_plan (j, T, &mp);
          gboolean want_cache = pass == 0;
          for (int nw = (int) MIN ((guint) j->n_chunks, n_threads); nw >= 1; nw--)
            {
              gsize need = mp.fixed + (want_cache ? mp.kcache : 0) + (gsize) nw * mp.per_worker;
              if (need <= budget || opt->tile > 0)
                {
                  chosen = T;
                  chosen_workers = nw;
                  chosen_cache = want_cache && need <= budget;
                  best = mp;
                  res->memory_estimate = need;
                  break;
                }
            }
          if (opt->tile > 0)
            break;
        }
    if (!chosen)
      {
        mem_plan (j, 32, &mp);
        g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE,
                     _("deconv.memory_mb = %.0f MiB is too small for this session: at least %.0f MiB are needed"),
                     dp->memory_mb, (double) (mp.fixed + mp.per_worker) / MIB + 1);
        tsr_deconv_result_free (res);
        job_clear (j);
        return NULL;
      }
    /* the staged frames' native samples held in memory when the budget has room for them
     * besides the plan: each visit then reads them in place instead of from disk (the reads cost
     * ~5 % of a frame's CPU in system time: 1.8 MB copied per 0.2 Mpx frame per iteration) */
    gsize resident = (gsize) j->nu * j->W * j->H * (j->Cn * sizeof (float) + 1 + sizeof (guint32)) + HUGE_SLACK;
    gboolean fits = !j->row_reads && !(opt && opt->no_resident) && res->memory_estimate + resident <= budget;
    if (fits && resident_map (j))
      {
        j->resident = TRUE;
        res->resident = TRUE;
        res->memory_estimate += resident;
      }
    else if (fits && tsr_huge_block_init (&j->rblock, resident + 3 * j->nu * (gsize) 64))
      {
        /* one huge-page block for every frame's planes, filled with the set-up (resident_load) */
        for (guint u = 0; u < j->nu; u++)
          {
            DFrame *f = &j->frames[j->used[u]];
            gsize n = (gsize) j->W * j->H;
            f->rblk_y = tsr_huge_block_take (&j->rblock, sizeof (float) * j->Cn * n);
            f->rblk_m = tsr_huge_block_take (&j->rblock, n);
            f->rblk_t = tsr_huge_block_take (&j->rblock, sizeof (guint32) * n);
          }
        j->resident = TRUE;
        res->resident = TRUE;
        res->memory_estimate += resident;
      }
    j->tile = chosen;
    j->ntx = (j->LW + chosen - 1) / chosen;
    j->nty = (j->LH + chosen - 1) / chosen;
    j->max_lw = best.max_lw;
    j->max_lh = best.max_lh;
    j->max_obs = best.max_obs;
    res->tile = chosen;
    res->n_tiles = (guint) (j->ntx * j->nty);
    res->n_workers = (guint) chosen_workers;
    res->kernel_cache = chosen_cache;
    res->memory_budget = budget;
    res->psf_radius = j->rf;
    n_threads = (guint) chosen_workers;
  }
  /* the convolution runs on the fine grid (r = 1 operators); the frames' pixels sample it */
  j->plan = tsr_conv_plan_new (j->max_lw, j->max_lh, j->rf, 1);
  {
    /* the scatter's complex grid: rows tsr_conv_cgrid_stride apart (a little wider than the FFT
     * grid at widths that are multiples of 64) */
    j->grid_w = tsr_conv_cgrid_stride (j->plan);
    j->grid_n = tsr_conv_cgrid_len (j->plan);
  }
#ifdef __GLIBC__
  /* the solver's large arrays are mapped afresh (huge-page blocks), not taken from the heap:
   * what the staging freed there goes back to the system first, or it would stay resident
   * beside them and raise the run's peak */
  malloc_trim (0);
#endif
  if (res->kernel_cache)
    {
      TsrConvWork *w = tsr_conv_work_new (j->plan);
      j->kcache = g_new0 (float *, (gsize) j->nu * j->C);
      gsize sb = sizeof (float) * 2 * tsr_conv_plan_spectrum_len (j->plan);
      huge_block_init (&j->kblock, (gsize) j->nu * j->C * tsr_huge_part_bytes (sb));
      for (guint u = 0; u < j->nu; u++)
        for (int c = 0; c < j->C; c++)
          {
            float *k = tsr_huge_block_take (&j->kblock, sb);
            tsr_conv_kernel_spectrum (w, j->frames[j->used[u]].psf[c], k);
            j->kcache[(gsize) u * j->C + c] = k;
          }
      tsr_conv_work_free (w);
    }
  /* the smoothness prior works on the native grid only: with deconv.sr > 1 it suppressed the
   * sub-pixel detail super-resolution is for (the test pair stayed unresolved, 1.00 vs 0.58) */
  if (dp->smooth > 0 && r == 1)
    {
      /* G: a normalised Gaussian of σ = deconv.smooth_sigma image pixels on the fine grid, and
       * G∗G (exact discrete self-convolution), both within the plan's kernel radius */
      double sg = dp->smooth_sigma * r;
      int gr = MIN ((int) ceil (3 * sg), j->rf / 2);
      gr = MAX (gr, 1);
      TsrPsf *g = tsr_psf_new_delta (2 * gr + 1, 1), *g2 = tsr_psf_new_delta (4 * gr + 1, 1);
      double sum = 0;
      for (int y = -gr; y <= gr; y++)
        for (int x = -gr; x <= gr; x++)
          sum += g->data[(gsize) (y + gr) * g->size + x + gr] = (float) exp (-(x * x + y * y) / (2 * sg * sg));
      for (int k = 0; k < g->size * g->size; k++)
        g->data[k] = (float) (g->data[k] / sum);
      memset (g2->data, 0, sizeof (float) * g2->size * g2->size);
      for (int a = 0; a < g->size * g->size; a++)
        for (int b = 0; b < g->size * g->size; b++)
          {
            int x = a % g->size + b % g->size, y = a / g->size + b / g->size;
            g2->data[(gsize) y * g2->size + x] += g->data[a] * g->data[b];
          }
      /* the same kernels as separable 1-D factors (ring_prior_remove) */
      j->gr = gr;
      j->g1 = g_new (float, 2 * gr + 1);
      j->g21 = g_new0 (float, 4 * gr + 1);
      double s1 = 0;
      for (int x = -gr; x <= gr; x++)
        s1 += exp (-(x * x) / (2 * sg * sg));
      for (int x = -gr; x <= gr; x++)
        j->g1[x + gr] = (float) (exp (-(x * x) / (2 * sg * sg)) / s1);
      for (int a = 0; a <= 2 * gr; a++)
        for (int b = 0; b <= 2 * gr; b++)
          j->g21[a + b] += j->g1[a] * j->g1[b];
      TsrConvWork *w = tsr_conv_work_new (j->plan);
      j->gspec = tsr_conv_spectrum_new (j->plan);
      j->g2spec = tsr_conv_spectrum_new (j->plan);
      tsr_conv_kernel_spectrum (w, g, j->gspec);
      tsr_conv_kernel_spectrum (w, g2, j->g2spec);
      tsr_conv_work_free (w);
      tsr_psf_free (g);
      tsr_psf_free (g2);
      /* λ relative to the data term's curvature on a smooth sky: Σ_t s_t² / σ_t² per native
       * pixel, spread over r² fine samples */
      for (int c = 0; c < j->C; c++)
        {
          double prec = 0;
          for (guint u = 0; u < j->nu; u++)
            {
              const DFrame *f = &j->frames[j->used[u]];
              prec += f->scale * f->scale / MAX (f->rms[c] * f->rms[c], 1e-12);
            }
          j->lambda[c] = dp->smooth * prec / (r * r);
        }
    }
  gsize nlat = (gsize) j->C * j->LW * j->LH;
  j->x_old = g_try_new (float, nlat);
  j->x_new = g_try_new (float, nlat);
  if (j->momentum)
    {
      j->x_cur = g_try_new (float, nlat);
      j->g = g_try_new0 (float, nlat);
    }
  if (!j->x_old || !j->x_new || (j->momentum && (!j->x_cur || !j->g)))
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE, _("Not enough memory for the %d×%d latent image"),
                   j->LW, j->LH);
      tsr_deconv_result_free (res);
      job_clear (j);
      return NULL;
    }
  for (int c = 0; c < j->C; c++)
    {
      /* the pedestal: the latent x may go down to −P (the solver works on x + P ≥ 0), so the
       * sky noise and anything a background estimate took too much of are not clipped;
       * P = deconv.pedestal × the frames' median noise in reference units */
      float *rv = g_new (float, j->nu);
      for (guint u = 0; u < j->nu; u++)
        rv[u] = (float) (j->frames[j->used[u]].rms[c] / j->frames[j->used[u]].scale);
      double rmsm = tsr_median_inplace (rv, j->nu);
      g_free (rv);
      j->ped[c] = MAX (dp->pedestal * rmsm, 1e-6);
      res->pedestal[c] = j->ped[c];
      float floor_v = (float) (1e-3 * j->ped[c]);
      const float *sv = tsr_image_plane (seed, c);
      float *xo = j->x_old + (gsize) c * j->LW * j->LH;
      for (int y = 0; y < j->LH; y++)
        for (int x = 0; x < j->LW; x++)
          {
            int nx = CLAMP ((x - j->pad) >= 0 ? (x - j->pad) / r : -1, 0, j->W - 1);
            int ny = CLAMP ((y - j->pad) >= 0 ? (y - j->pad) / r : -1, 0, j->H - 1);
            gsize k = (gsize) ny * j->W + nx;
            float v = (seed->mask[k] ? sv[k] : 0.0f) + (float) j->ped[c];
            xo[(gsize) y * j->LW + x] = isfinite (v) && v > floor_v ? v : floor_v;
          }
    }
  GArray *floor_sources = NULL, *floor_index = NULL;
  if (dp->bright_floor > 0)
    {
      floor_sources = g_array_new (FALSE, FALSE, sizeof (FloorSource));
      /* the floor round bright sources: the seed's local sky m (medians of 16-px blocks,
       * bilinear between their centres) and, where the seed (3×3 mean) stands k σ or more above
       * it, the latent x ≥ m; in the sky x ≥ −P as before; in between a linear blend. In the
       * solver's units u = x + P: lb = (1 − g)·(m + P), g = 1 in the sky, 0 on bright sources. */
      j->lb = g_try_new (float, nlat);
      if (!j->lb)
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE, _("Not enough memory for the %d×%d latent image"), j->LW,
                       j->LH);
          tsr_deconv_result_free (res);
          job_clear (j);
          return NULL;
        }
      const int B = 16;
      int nbx = (j->W + B - 1) / B, nby = (j->H + B - 1) / B;
      float *blk = g_new (float, (gsize) nbx * nby), *tmp = g_new (float, B * B);
      for (int c = 0; c < j->C; c++)
        {
          const float *sv = tsr_image_plane (seed, c);
          for (int by = 0; by < nby; by++)
            for (int bx = 0; bx < nbx; bx++)
              {
                guint n = 0;
                for (int y = by * B; y < MIN (j->H, (by + 1) * B); y++)
                  for (int x = bx * B; x < MIN (j->W, (bx + 1) * B); x++)
                    if (seed->mask[(gsize) y * j->W + x])
                      tmp[n++] = sv[(gsize) y * j->W + x];
                blk[by * nbx + bx] = n > 8 ? tsr_median_inplace (tmp, n) : NAN;
              }
          double sig = j->ped[c] / MAX (dp->pedestal, 1e-9), P = j->ped[c];
          double off = 0.5 * sig / sqrt ((double) j->nu);   /* half the stack's noise */
          int W = j->W, H = j->H;
          gsize n = (gsize) W * H;
          /* d = the seed (Gaussian σ = 2 px) above its local sky m */
          float *d = g_new (float, n), *t2 = g_new (float, n);
          float gk[13];
          double gs = 0;
          for (int q = -6; q <= 6; q++)
            gs += gk[q + 6] = (float) exp (-q * q / 8.0);
          for (int q = 0; q < 13; q++)
            gk[q] = (float) (gk[q] / gs);
          for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
              {
                double a = 0;
                for (int q = -6; q <= 6; q++)
                  {
                    int xx = CLAMP (x + q, 0, W - 1);
                    gsize k = (gsize) y * W + xx;
                    a += gk[q + 6] * (seed->mask[k] ? sv[k] : 0);
                  }
                t2[(gsize) y * W + x] = (float) a;
              }
          /* the vertical pass into d, then d and the local sky (into t2) from it: t2 is read
           * whole before it is overwritten (written in place, the rows above had turned into the
           * sky already and d peaked 1–2 px above each star, the floor regions with it) */
          for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
              {
                double a = 0;
                for (int q = -6; q <= 6; q++)
                  a += gk[q + 6] * t2[(gsize) CLAMP (y + q, 0, H - 1) * W + x];
                d[(gsize) y * W + x] = (float) a;
              }
          for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
              {
                double a = d[(gsize) y * W + x];
                double gx = CLAMP ((x + 0.5) / B - 0.5, 0, nbx - 1), gy = CLAMP ((y + 0.5) / B - 0.5, 0, nby - 1);
                int ix = MIN ((int) gx, MAX (nbx - 2, 0)), iy = MIN ((int) gy, MAX (nby - 2, 0));
                int ix1 = MIN (ix + 1, nbx - 1), iy1 = MIN (iy + 1, nby - 1);
                double ax = gx - ix, ay = gy - iy;
                double m = (1 - ay) * ((1 - ax) * blk[iy * nbx + ix] + ax * blk[iy * nbx + ix1])
                           + ay * ((1 - ax) * blk[iy1 * nbx + ix] + ax * blk[iy1 * nbx + ix1]);
                t2[(gsize) y * W + x] = (float) m;   /* the local sky, reused below */
                d[(gsize) y * W + x] = isfinite (m) ? (float) ((a - m) / sig) : 0;
              }
          /* the region: grown from cores above deconv.bright_floor σ into everything above 0.15 σ
           * connected to them (8-neighbours) */
          guint8 *reg = g_new0 (guint8, n);
          guint32 *stack = g_new (guint32, n);
          /* two tiers: 2 = grown from cores above deconv.bright_floor σ (floor at the local sky),
           * 1 = grown from the fainter cores above deconv.faint_floor σ (floor half a stacked σ
           * below it: their latent rings as deep as the pedestal allows, and a floor at the sky
           * itself clips the deconvolved sky's noise from below, +4 % on the 4–10 k e stars of
           * the harness) */
          for (int tier = 2; tier >= 1; tier--)
            {
              double core_k = tier == 2 ? dp->bright_floor : dp->faint_floor;
              if (tier == 1 && !(dp->faint_floor > 0 && dp->faint_floor < dp->bright_floor))
                break;
              gsize top = 0;
              for (gsize k = 0; k < n; k++)
                if (!reg[k] && d[k] > core_k && seed->mask[k])
                  {
                    reg[k] = (guint8) tier;
                    stack[top++] = (guint32) k;
                  }
              RegionGrow rg = { reg, d, (guint8) tier };
              tsr_deconv_flood8 (W, H, stack, top, region_join, NULL, &rg);
            }
          g_free (stack);
          /* and 3 px beyond (the ringing of the unconstrained solution reaches past the
           * seed's visible wings) */
          {
            int D = 3;
            guint8 *rx = g_new0 (guint8, n);
            for (int y = 0; y < H; y++)
              for (int x = 0; x < W; x++)
                {
                  guint8 v = 0;
                  for (int dx = -D; dx <= D; dx++)
                    v = MAX (v, reg[(gsize) y * W + CLAMP (x + dx, 0, W - 1)]);
                  rx[(gsize) y * W + x] = v;
                }
            for (int y = 0; y < H; y++)
              for (int x = 0; x < W; x++)
                {
                  guint8 v = 0;
                  for (int dy = -D; dy <= D; dy++)
                    v = MAX (v, rx[(gsize) CLAMP (y + dy, 0, H - 1) * W + x]);
                  reg[(gsize) y * W + x] = v;
                }
            g_free (rx);
          }
          /* the local sky again without the sources: block medians holding a bright star's
           * wings stood above the sky and the floor with them (a positive bias on bright stars) */
          for (int by = 0; by < nby; by++)
            for (int bx = 0; bx < nbx; bx++)
              {
                guint nn = 0;
                for (int y = by * B; y < MIN (H, (by + 1) * B); y++)
                  for (int x = bx * B; x < MIN (W, (bx + 1) * B); x++)
                    if (seed->mask[(gsize) y * W + x] && !reg[(gsize) y * W + x])
                      tmp[nn++] = sv[(gsize) y * W + x];
                /* a block that the regions cover (nearly) whole: from its neighbours below (its
                 * first median holds the source's light: a floor above the sky, +9 % on a star of
                 * the generated session) */
                blk[by * nbx + bx] = nn > 8 ? tsr_median_inplace (tmp, nn) : NAN;
              }
          {
            float *fill = g_new (float, (gsize) nbx * nby);
            for (int pass = 0; pass < nbx + nby; pass++)
              {
                gboolean missing = FALSE;
                for (int b = 0; b < nbx * nby; b++)
                  {
                    fill[b] = blk[b];
                    if (isfinite (blk[b]))
                      continue;
                    int bx = b % nbx, by = b / nbx, cnt = 0;
                    double sum = 0;
                    for (int qy = MAX (0, by - 1); qy <= MIN (nby - 1, by + 1); qy++)
                      for (int qx = MAX (0, bx - 1); qx <= MIN (nbx - 1, bx + 1); qx++)
                        if (isfinite (blk[qy * nbx + qx]))
                          sum += blk[qy * nbx + qx], cnt++;
                    if (cnt > 0)
                      fill[b] = (float) (sum / cnt);
                    else
                      missing = TRUE;
                  }
                memcpy (blk, fill, sizeof (float) * nbx * nby);
                if (!missing)
                  break;
              }
            g_free (fill);
          }
          for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
              {
                double gx = CLAMP ((x + 0.5) / B - 0.5, 0, nbx - 1), gy = CLAMP ((y + 0.5) / B - 0.5, 0, nby - 1);
                int ix = MIN ((int) gx, MAX (nbx - 2, 0)), iy = MIN ((int) gy, MAX (nby - 2, 0));
                int ix1 = MIN (ix + 1, nbx - 1), iy1 = MIN (iy + 1, nby - 1);
                double ax = gx - ix, ay = gy - iy;
                t2[(gsize) y * W + x] = (float) ((1 - ay) * ((1 - ax) * blk[iy * nbx + ix] + ax * blk[iy * nbx + ix1])
                                                 + ay * ((1 - ax) * blk[iy1 * nbx + ix] + ax * blk[iy1 * nbx + ix1]));
              }
          /* the sources: each 8-connected part of a tier, centred on the seed's centroid near its
           * peak; round them the floor holds the annulus means (annulus_floor). A part wider than
           * FLOOR_SOURCE_MAX_RADIUS (a galaxy, nebulosity, a blended group: no point source to
           * ring) keeps the floor on every pixel (0x40) */
          {
            guint32 *stk = g_new (guint32, n);
            for (gsize k0 = 0; k0 < n; k0++)
              {
                if (reg[k0] != 1 && reg[k0] != 2)
                  continue;
                FloorFill ff = { reg, d, W, (gsize) -1, g_array_new (FALSE, FALSE, sizeof (guint32)), reg[k0] };
                reg[k0] |= 0x80;
                stk[0] = (guint32) k0;
                tsr_deconv_flood8 (W, H, stk, 1, floor_join, floor_visit, &ff);
                double px = 0, py = 0, sw = 0, rad = 0;
                {
                  int qx = (int) (ff.peak % W), qy = (int) (ff.peak / W);
                  for (int yy = MAX (0, qy - 2); yy <= MIN (H - 1, qy + 2); yy++)
                    for (int xx = MAX (0, qx - 2); xx <= MIN (W - 1, qx + 2); xx++)
                      {
                        double wv = MAX (d[(gsize) yy * W + xx], 0.0f);
                        px += wv * xx;
                        py += wv * yy;
                        sw += wv;
                      }
                  px = sw > 0 ? px / sw : qx;
                  py = sw > 0 ? py / sw : qy;
                }
                for (guint q = 0; q < ff.pix->len; q++)
                  {
                    guint32 kk = g_array_index (ff.pix, guint32, q);
                    rad = MAX (rad, hypot ((double) (kk % W) - px, (double) (kk / W) - py));
                  }
                if (rad > FLOOR_SOURCE_MAX_RADIUS || rad < 1)
                  for (guint q = 0; q < ff.pix->len; q++)
                    reg[g_array_index (ff.pix, guint32, q)] |= 0x40;
                else
                  {
                    FloorSource fs = { c, j->pad + r * px + 0.5 * (r - 1), j->pad + r * py + 0.5 * (r - 1), rad };
                    g_array_append_val (floor_sources, fs);
                  }
                g_array_free (ff.pix, TRUE);
              }
            for (gsize k = 0; k < n; k++)
              reg[k] &= 0x7f;
            g_free (stk);
          }
          float *lb = j->lb + (gsize) c * j->LW * j->LH;
          for (int y = 0; y < j->LH; y++)
            for (int x = 0; x < j->LW; x++)
              {
                int nx = CLAMP ((x - j->pad) >= 0 ? (x - j->pad) / r : -1, 0, W - 1);
                int ny = CLAMP ((y - j->pad) >= 0 ? (y - j->pad) / r : -1, 0, H - 1);
                gsize k = (gsize) ny * W + nx;
                double m = t2[k];
                int tier = reg[k] & 0x3f;
                float v = tier && isfinite (m) ? (float) MAX (m + P - (tier == 1 ? off : 0.0), 0.0) : 0.0f;
                /* round point sources the bound is on the annulus means (stored negative); none in
                 * the padding (no data there) */
                gboolean inside = x >= j->pad && y >= j->pad && x < j->pad + r * W && y < j->pad + r * H;
                lb[(gsize) y * j->LW + x] = !inside ? 0.0f : tier && !(reg[k] & 0x40) ? -v : v;
              }
          g_free (reg);
          g_free (d);
          g_free (t2);
          float *xo = j->x_old + (gsize) c * j->LW * j->LH;
          for (gsize k = 0; k < (gsize) j->LW * j->LH; k++)
            xo[k] = MAX (xo[k], lb[k] * 1.001f + 1e-6f);
        }
      g_free (blk);
      g_free (tmp);
    }
  if (j->momentum)
    memcpy (j->x_cur, j->x_old, nlat * sizeof (float));
  /* the resident frames read in now, once, with the rest of the set-up (at their first visits
   * they put ~5 ms a frame into the first iteration: the copy and the first touch of the block's
   * huge pages) */
  if (j->resident)
    for (guint u = 0; u < j->nu && !g_cancellable_is_cancelled (cancellable); u++)
      resident_load (j, &j->frames[j->used[u]]);
  res->seconds_stage = (g_get_monotonic_time () - t0) / 1e6;

  /* 4. iterate */
  gint64 t1 = g_get_monotonic_time ();
  res->stats = g_array_new (FALSE, FALSE, sizeof (TsrDeconvIterStats));
  TsrImage *view = tsr_image_new (r * j->W, r * j->H, j->C);
  /* luminance mode: the colour maps once, and a colour image for the shown iterates */
  ColourMaps *cmaps = j->luminance ? colour_maps_new (j, mean, mean_rgb, res->median_fwhm) : NULL;
  TsrImage *view3 = cmaps && iter_func ? tsr_image_new (r * j->W, r * j->H, 3) : NULL;
  Worker **workers = g_new0 (Worker *, n_threads);
  for (guint i = 0; i < n_threads; i++)
    workers[i] = worker_new (j);
  Shared *sh = shared_new (j);
  g_once (&keys_once, keys_table_init, NULL);
  double cpu_it0 = process_cpu_seconds ();
  int n_items = j->ntx * j->nty * j->C;
  ItemStats *items = g_new0 (ItemStats, n_items);
  for (guint u = 0; u < j->nu; u++)
    j->frames[j->used[u]].scale0 = j->frames[j->used[u]].scale;
  double *scale_sums = NULL;
  if (j->fit_scale)
    {
      scale_sums = g_new0 (double, (gsize) n_items * 2 * j->nu);
      for (int i = 0; i < n_items; i++)
        items[i].scale_sums = scale_sums + (gsize) i * 2 * j->nu;
    }
  int itmax = dp->iterations, itmin = MIN (dp->min_iterations, itmax);
  double ema_u = 0, ema_c = 0, first_u = 0, first_c = 0;
  int calm = 0;
  gboolean failed = FALSE;
  /* the update's samples of every worker, one array for all iterations (allocated afresh each
   * time, its growth went through the allocator's large-chunk paths) */
  GArray *all = g_array_new (FALSE, FALSE, sizeof (float));
  for (int it = 1; it <= itmax; it++)
    {
      gint64 ti = g_get_monotonic_time ();
      for (guint i = 0; i < n_threads; i++)
        g_array_set_size (workers[i]->samples, 0);
      j->scale_fit_now = scale_sums && it >= SCALE_FIT_FROM && it < itmax;
      for (int i = 0; i < n_items && !j->abort; i++)
        {
          int c = i % j->C, ti = i / j->C;
          Tile t;
          tile_geometry (j, ti % j->ntx, ti / j->ntx, j->tile, &t);
          ItemStats *is = &items[i];
          double *ss = is->scale_sums;
          memset (is, 0, sizeof *is);
          is->scale_sums = ss;
          if (ss)
            memset (ss, 0, sizeof (double) * 2 * j->nu);
          is->max_step = 1;
          process_item (j, workers, n_threads, sh, is, &t, c);
        }
      if (j->abort)
        {
          failed = TRUE;
          break;
        }
      if (floor_sources && floor_sources->len > 0)
        annulus_floor (j, j->x_new, floor_sources, &floor_index);
      double dx2 = 0, x2 = 0, sd = 0, gp = 0, gn = 0, mstep = 1;
      guint nd = 0;
      g_array_set_size (all, 0);
      for (int i = 0; i < n_items; i++)
        {
          const ItemStats *is = &items[i];
          dx2 += is->sum_dx2;
          x2 += is->sum_x2;
          sd += is->sum_delta;
          nd += is->n_delta;
          gp += is->sum_gp;
          gn += is->sum_gg;
          mstep = MAX (mstep, is->max_step);
        }
      for (guint i = 0; i < n_threads; i++)
        g_array_append_vals (all, workers[i]->samples->data, workers[i]->samples->len);
      if (j->scale_fit_now)
        {
          /* photometric scales fitted jointly with the latent (least squares of each frame's
           * pixels on its own model h_t∗x, the solve's weights): the star-flux ratios of the
           * registration scatter by several per cent between frames, and a scale that is off
           * differently in sharp and blurred frames is fitted as a core plus a moat round every
           * bright star. Not before the
           * latent has sharpened: against the blurred seed the sharp frames' scales come out low. */
          double ref_s = 1.0;
          for (guint u = 0; u < j->nu; u++)
            {
              double sy = 0, sa = 0;
              for (int i = 0; i < n_items; i++)
                {
                  sy += items[i].scale_sums[2 * u];
                  sa += items[i].scale_sums[2 * u + 1];
                }
              DFrame *f = &j->frames[j->used[u]];
              double sn = sa > 0 ? sy / sa : f->scale;
              if (isfinite (sn) && sn > 0.2 * f->scale0 && sn < 5 * f->scale0)
                f->scale = sn;
              if (j->used[u] == res->reference)
                ref_s = f->scale;
            }
          /* the latent stays in the reference frame's units (its scale 1). Not the median
           * level of the star-flux ratios: those are biased with the seeing (the fitted flux
           * of a star depends on how its profile is sampled), measured 2.7 % off on the
           * generated session against the truth */
          for (guint u = 0; u < j->nu; u++)
            j->frames[j->used[u]].scale /= ref_s;
        }
      TsrDeconvIterStats st = { 0 };
      st.iteration = (guint) it;
      st.median_update = all->len ? tsr_median_inplace ((float *) all->data, all->len) : 0;
      st.rel_change = x2 > 0 ? sqrt (dx2 / x2) : 0;
      ema_u = it == 1 ? st.median_update : 0.5 * ema_u + 0.5 * st.median_update;
      ema_c = it == 1 ? st.rel_change : 0.5 * ema_c + 0.5 * st.rel_change;
      st.ema_update = ema_u;
      st.ema_change = ema_c;
      st.delta = nd ? sd / nd : (j->huber ? j->delta_param : INFINITY);
      st.max_step = mstep;
      if (j->momentum)
        {
          /* safeguarded extrapolation (after Biggs & Andrews 1997): the next MM step is taken at
           * u_{k+1}·(u_{k+1}/u_k)^α, α = ⟨g_k, g_{k−1}⟩ / ⟨g_{k−1}, g_{k−1}⟩ from the last two
           * steps; α < 0 (the steps turned) restarts, α ≤ ALPHA_MAX; the point is kept within a
           * factor κ of u_{k+1}. Geometric, not u_{k+1} + α (u_{k+1} − u_k): the additive form
           * pushed noisy sky pixels towards the pedestal floor, from where the multiplicative
           * step recovers slowly, so the local sky round faint stars sank with the iterations
           * (generated session: faint-star flux 0.938 of the truth at the stop, 0.941 after 40
           * iterations, 6 % of the sky at the floor; 80 plain MM iterations: 0.992). */
          double alpha = gn > 0 ? CLAMP (gp / gn, 0.0, ALPHA_MAX) : 0.0;
          st.momentum = alpha;
          float ka = (float) j->kappa, ika = (float) (1.0 / j->kappa), al = (float) alpha;
          const float *u1 = j->x_new, *u0 = j->x_cur;
          float *yp = j->x_old;
          extrapolate_run (u1, u0, j->lb, yp, nlat, al, ka, ika);
          float *swap = j->x_cur;
          j->x_cur = j->x_new;
          j->x_new = swap;
        }
      else
        {
          float *swap = j->x_old;
          j->x_old = j->x_new;
          j->x_new = swap;
        }
      st.seconds = (g_get_monotonic_time () - ti) / 1e6;
      g_array_append_val (res->stats, st);
      const float *cur = j->momentum ? j->x_cur : j->x_old;
      res->iterations = (guint) it;
      if (progress)
        progress (_("Deconvolving"), (guint) it, (guint) itmax, progress_data);
      if (iter_func)
        {
          latent_image (j, cur, mean, view);
          if (view3)
            colour_apply (cmaps, view, view3);
          if (!iter_func (view3 ? view3 : view, &st, iter_data))
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, _("Deconvolution stopped"));
              failed = TRUE;
              break;
            }
        }
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        {
          failed = TRUE;
          break;
        }
      if (it == 1)
        {
          first_u = ema_u;
          first_c = ema_c;
        }
      if (dp->early_stop && it >= itmin)
        {
          /* relative to the first iterations (the updates' noise floor depends on the data, an
           * absolute tolerance may never be reached), or below the absolute deconv.stop_tol */
          gboolean rel = ema_u < dp->stop_rel * first_u && ema_c < dp->stop_rel * first_c;
          gboolean abs_ = ema_u < dp->stop_tol && ema_c < dp->stop_tol;
          calm = rel || abs_ ? calm + 1 : 0;
          if (calm >= 2 && it < itmax)
            {
              res->early_stopped = TRUE;
              break;
            }
        }
    }
  for (guint i = 0; i < n_threads; i++)
    {
      res->n_fft += tsr_conv_work_fft_count (workers[i]->work);
      res->worker_cpu_min = i == 0 ? workers[i]->cpu : MIN (res->worker_cpu_min, workers[i]->cpu);
      res->worker_cpu_max = MAX (res->worker_cpu_max, workers[i]->cpu);
      res->worker_cpu_sum += workers[i]->cpu;
      worker_free (workers[i]);
    }
  res->cpu_iterate = process_cpu_seconds () - cpu_it0;
  for (guint u = 0; u < j->nu; u++)
    g_debug ("deconv: frame %u%s: scale %.4f (star-flux ratio %.4f, fitted/ratio %.4f), FWHM %.2f", j->used[u],
             j->used[u] == res->reference ? " (reference)" : "", j->frames[j->used[u]].scale,
             j->frames[j->used[u]].scale0, j->frames[j->used[u]].scale / j->frames[j->used[u]].scale0,
             j->frames[j->used[u]].fwhm);
  shared_free (j, sh);
  g_free (workers);
  g_free (items);
  g_array_free (all, TRUE);
  g_free (scale_sums);
  if (floor_sources)
    g_array_free (floor_sources, TRUE);
  if (floor_index)
    g_array_free (floor_index, TRUE);
  if (failed)
    {
      if (j->error)
        {
          g_propagate_error (error, j->error);
          j->error = NULL;
        }
      tsr_image_unref (view);
      g_clear_pointer (&view3, tsr_image_unref);
      colour_maps_free (cmaps);
      tsr_deconv_result_free (res);
      job_clear (j);
      return NULL;
    }
  g_clear_pointer (&view3, tsr_image_unref);
  latent_image (j, j->momentum ? j->x_cur : j->x_old, mean, view);
  {
    /* saturated stars left as the frames recorded them (tsr-deconv-stage.c) */
    g_autoptr (GArray) cores = g_array_new (FALSE, FALSE, sizeof (TsrDeconvSatCore));
    tsr_deconv_saturated_cores (j, cores);
    if (dp->flux_anchor)
      res->n_anchor_stars = flux_anchor (j, mean, cores, res->median_fwhm, view, res->flux_anchor, &res->anchor_ratio,
                                         &res->anchor_se);
    if (j->luminance)
      {
        /* the colours from the (anchored) L: the result, mean stack and seed become RGB */
        TsrImage *v3 = tsr_image_new (view->width, view->height, 3);
        colour_apply (cmaps, view, v3);
        colour_maps_free (cmaps);
        cmaps = NULL;
        tsr_image_unref (view);
        view = v3;
        tsr_image_unref (res->mean);
        res->mean = mean = g_steal_pointer (&mean_rgb);
        tsr_image_unref (res->seed);
        res->seed = g_steal_pointer (&seed_rgb);
        res->channels = 3;
        for (int c = 1; c < 3; c++)
          if (!res->median_psf[c] && res->median_psf[0])
            res->median_psf[c] = tsr_psf_copy (res->median_psf[0]);
        for (int c = 1; c < 3; c++)
          res->flux_anchor[c] = res->flux_anchor[0];
      }
    tsr_deconv_blend_saturated (cores, isfinite (res->median_fwhm) ? res->median_fwhm : 3.0, res->seed, view);
    res->n_saturated_cores = cores->len;
  }
  res->seconds_iterate = (g_get_monotonic_time () - t1) / 1e6;

  /* header: the reference frame's, plus the method's keywords */
  {
    const TsrFrameInfo *fi = tsr_session_frame (s, reg->reference);
    TsrFitsInfo info = { 0 };
    TsrHeader *h = NULL;
    if (tsr_frame_read_info (fi->path, &info, &h, NULL) && h)
      {
        tsr_header_free (view->header);
        view->header = h;
      }
    tsr_fits_info_clear (&info);
    TsrHeader *hd = view->header;
    static const char *const drop[] = { "BAYERPAT", "XBAYROFF", "YBAYROFF", "ROWORDER", NULL };
    for (guint i = 0; drop[i]; i++)
      tsr_header_remove (hd, drop[i]);
    if (r > 1)
      tsr_deconv_scale_wcs (hd, r);
    tsr_header_set_bool (hd, "MFDECONV", TRUE, "multi-frame robust deconvolution");
    tsr_header_set_string (hd, "MF_COLOR",
                           j->cfa != TSR_CFA_NONE ? "cfa-sites"
                           : j->luminance         ? "luminance"
                                                  : (j->demosaic ? "demosaiced" : (j->C == 3 ? "rgb" : "mono")),
                           "colour handling");
    tsr_header_set_string (hd, "MF_RHO", j->huber ? "huber" : "l2", "loss");
    tsr_header_set_double (hd, "MF_HDEL", dp->delta, "Huber delta (<0: auto, |d|*1.4826*MAD)");
    tsr_header_set_double (hd, "MF_KAPPA", dp->kappa, "per-iteration update clip");
    tsr_header_set_double (hd, "MF_RELAX", dp->relax, "relaxation");
    tsr_header_set_int (hd, "MF_SR", r, "super-resolution factor");
    tsr_header_set_string (hd, "MF_SOLVR", j->momentum ? "momentum" : "plain", "solver (extrapolation with restart or plain MM)");
    tsr_header_set_double (hd, "MF_ACCEL", dp->accel, "exponent on the update ratio");
    tsr_header_set_double (hd, "MF_PED", res->pedestal[0], "latent may go this far below 0 (channel 0)");
    tsr_header_set_double (hd, "MF_SMOO", r == 1 ? dp->smooth : 0.0, "smoothness prior weight (0: none)");
    tsr_header_set_double (hd, "MF_FLOOR", dp->bright_floor, "floor round sources above this many sigma (0: none)");
    tsr_header_set_double (hd, "MF_FFLOR", dp->faint_floor, "floor 0.5 stack sigma below the sky, fainter sources");
    tsr_header_set_bool (hd, "MF_FSCAL", dp->fit_scale, "frame scales fitted with the latent");
    tsr_header_set_int (hd, "MF_SATC", res->n_saturated_cores, "saturated stars kept from the seed, not deconvolved");
    tsr_header_set_int (hd, "MF_ANCHN", res->n_anchor_stars, "stars of the flux anchor (deconv.flux_anchor)");
    if (res->n_anchor_stars > 0)
      {
        tsr_header_set_double (hd, "MF_ANCHK", res->anchor_ratio, "flux anchor: mean stack / model, median over the stars");
        tsr_header_set_double (hd, "MF_ANCHE", res->anchor_se, "flux anchor: standard error of MF_ANCHK");
      }
    for (int c = 0; c < j->C; c++)
      {
        char key[16];
        g_snprintf (key, sizeof key, "MF_ANCH%d", c + 1);
        tsr_header_set_double (hd, key, res->flux_anchor[c], "factor applied to this channel (1: not anchored)");
      }
    tsr_header_set_double (hd, "MF_TFWHM", dp->target_fwhm, "target resolution FWHM, px (0: a point)");
    tsr_header_set_double (hd, "MF_GAIN", j->gain_used, j->gain_used > 0 && res->gain_estimated
                                                          ? "e-/ADU, estimated from the frames" : "e-/ADU for Poisson variance (0: none)");
    tsr_header_set_bool (hd, "MF_VAR", TRUE, "per-pixel variance: sky + Poisson (MF_GAIN)");
    tsr_header_set_bool (hd, "MF_MASK", TRUE, "masks: invalid, gated, saturated pixels");
    tsr_header_set_int (hd, "MF_ITMAX", itmax, "requested iterations");
    tsr_header_set_int (hd, "MF_ITERS", res->iterations, "iterations run");
    tsr_header_set_bool (hd, "MF_ESTOP", res->early_stopped, "early stop triggered");
    tsr_header_set_string (hd, "MF_SEED", res->seed_kind, "starting image");
    tsr_header_set_int (hd, "MF_NFRM", j->nu, "frames used");
    tsr_header_set_string (hd, "MF_PSF", dp->psf == TSR_DECONV_PSF_STARS ? "stars" : "moffat", "PSF source");
    tsr_header_set_int (hd, "NCOMBINE", j->nu, "frames combined");
    g_autofree char *hist = g_strdup_printf (
      "Tessera multi-frame deconvolution: %u frames, rho=%s delta=%g kappa=%g relax=%g sr=%d iterations=%u/%d%s "
      "seed=%s psf=%s (%u/%u frames from stars) median FWHM %.2f px, PSF radius %d, tile %d",
      j->nu, j->huber ? "huber" : "l2", dp->delta, dp->kappa, dp->relax, r, res->iterations,
      itmax, res->early_stopped ? " (early stop)" : "", res->seed_kind,
      dp->psf == TSR_DECONV_PSF_STARS ? "stars" : "moffat", res->n_psf_stars, j->nu, res->median_fwhm,
      j->rf, j->tile);
    tsr_session_add_history (j->s, hd);
    tsr_header_add_history (hd, hist);
    g_autofree char *ph = tsr_deconv_params_history (dp, tp, run);
    tsr_header_add_history (hd, ph);
  }
  res->image = view;
  job_clear (j);
  return res;
}

/* ---------------------------------------------------------------------------------------
 * Single-image Richardson–Lucy (baseline)
 */

TsrImage *
tsr_deconv_rl_image (const TsrImage *img, TsrPsf *const *psf, guint n_psf, int iterations, double pedestal,
                     GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (img != NULL && psf != NULL && n_psf >= 1, NULL);
  int W = img->width, H = img->height, rf = 0;
  for (guint i = 0; i < n_psf; i++)
    {
      if (psf[i]->oversample != 1)
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, _("Richardson–Lucy needs PSFs on the image grid"));
          return NULL;
        }
      rf = MAX (rf, psf[i]->radius);
    }
  if (pedestal <= 0)
    pedestal = 1.0;
  int lw = W + 2 * rf, lh = H + 2 * rf;
  TsrConvPlan *plan = tsr_conv_plan_new (lw, lh, rf, 1);
  TsrConvWork *w = tsr_conv_work_new (plan);
  float *K = tsr_conv_spectrum_new (plan), *X = tsr_conv_spectrum_new (plan), *A = tsr_conv_spectrum_new (plan);
  float *x = g_new (float, (gsize) lw * lh), *num = g_new (float, (gsize) lw * lh), *den = g_new (float, (gsize) lw * lh);
  float *yh = g_new (float, (gsize) W * H), *u = g_new (float, (gsize) W * H);
  TsrImage *out = tsr_image_copy (img);
  gboolean ok = TRUE;
  for (int c = 0; c < img->channels && ok; c++)
    {
      const float *y = tsr_image_plane (img, c);
      tsr_conv_kernel_spectrum (w, psf[MIN ((guint) c, n_psf - 1)], K);
      for (int yy = 0; yy < lh; yy++)
        for (int xx = 0; xx < lw; xx++)
          {
            int nx = CLAMP (xx - rf, 0, W - 1), ny = CLAMP (yy - rf, 0, H - 1);
            gsize k = (gsize) ny * W + nx;
            float v = img->mask[k] ? y[k] : 0.0f;
            x[(gsize) yy * lw + xx] = MAX (v, 1e-6f * (float) pedestal);
          }
      /* den = Hᵀ m (constant over iterations) */
      for (gsize k = 0; k < (gsize) W * H; k++)
        u[k] = img->mask[k] ? 1.0f : 0.0f;
      tsr_conv_spectrum_zero (plan, A);
      tsr_conv_adjoint_accumulate (w, K, u, lw, lh, 1.0, A);
      tsr_conv_from_spectrum (w, A, lw, lh, den);
      for (int it = 0; it < iterations && ok; it++)
        {
          if (g_cancellable_set_error_if_cancelled (cancellable, error))
            {
              ok = FALSE;
              break;
            }
          tsr_conv_spectrum (w, x, lw, lh, X);
          tsr_conv_forward_spec (w, X, K, lw, lh, yh);
          for (gsize k = 0; k < (gsize) W * H; k++)
            {
              double m = yh[k] + pedestal;
              u[k] = img->mask[k] && m > 0 ? (float) ((y[k] + pedestal) / m) : 0.0f;
            }
          tsr_conv_spectrum_zero (plan, A);
          tsr_conv_adjoint_accumulate (w, K, u, lw, lh, 1.0, A);
          tsr_conv_from_spectrum (w, A, lw, lh, num);
          for (gsize k = 0; k < (gsize) lw * lh; k++)
            if (den[k] > 1e-12f)
              x[k] *= MAX (num[k] / den[k], 0.0f);
        }
      float *o = tsr_image_plane (out, c);
      for (int yy = 0; yy < H; yy++)
        for (int xx = 0; xx < W; xx++)
          o[(gsize) yy * W + xx] = x[(gsize) (yy + rf) * lw + xx + rf];
    }
  g_free (x);
  g_free (num);
  g_free (den);
  g_free (yh);
  g_free (u);
  tsr_conv_spectrum_free (K);
  tsr_conv_spectrum_free (X);
  tsr_conv_spectrum_free (A);
  tsr_conv_work_free (w);
  tsr_conv_plan_free (plan);
  if (!ok)
    {
      tsr_image_unref (out);
      return NULL;
    }
  return out;
}
