/* deconv-kernels-bench.c — times the deconvolution's per-pixel row kernels alone (issue 12).
 *
 * A measurement tool, not part of the build: it includes src/engine/deconv/tsr-deconv.c to reach
 * its static kernels, so it is built by tools/deconv-kernels-bench.sh against a configured build
 * directory. It lays out one frame of W × H valid pixels whose staged taps follow a small rotation
 * (the sub-pixel offsets drift by `rot` px per px along both axes, as an alt-az session's frames
 * do), then runs, row by row over the whole frame as a visit does:
 *
 *   gather   h∗u sampled at every pixel (Keys cubic, 16 taps) — gather_row_avx2 / gather_row_v4
 *   scatter  the transposed sampling of two values into the interleaved grids — scatter_row_*
 *   weights  the scatter's per-pixel work without its grid traffic (the weights and products
 *            folded into one register; the grid read and written once): what the scatter costs
 *            apart from its four 32-byte read-modify-writes a pixel
 *
 * and prints the best of REPS repetitions of each, in ms per frame, thread CPU time. The grids
 * are the size a visit's are (W + 10 columns), so the caches see what they see in a run.
 *
 * Usage: tools/deconv-kernels-bench.sh [BUILD_DIR] [W H REPS DRIFT [HOLES]]  (defaults build 1024 1024 7 0.0015 0;
 *        HOLES = 1 marks one pixel in 61 invalid, so that blocks break and single pixels are scattered)
 */
#include "../src/engine/deconv/tsr-deconv.c"
#include <stdio.h>

#ifdef TSR_DECONV_AVX2
/* the scatter's per-pixel arithmetic with the grid stores taken out */
static TSR_AVX2 void
weights_only_avx2 (const RowGeom *g, const guint8 *restrict mrow, const gint32 *restrict bir,
                   const guint32 *restrict ktr, const float *restrict a1, const float *restrict a2, int ow)
{
  __m256 accv = _mm256_setzero_ps ();
  for (int x = 0; x < ow; x++)
    {
      if (!mrow[x])
        continue;
      __m128 wx = _mm_loadu_ps ((const float *) &keys_table[ktr[x] & 0xffff]);
      __m128 wy = _mm_loadu_ps ((const float *) &keys_table[ktr[x] >> 16]);
      __m128 w1h = _mm_mul_ps (wx, _mm_set1_ps (a1[x])), w2h = _mm_mul_ps (wx, _mm_set1_ps (a2[x]));
      __m256 wv = _mm256_insertf128_ps (_mm256_castps128_ps256 (_mm_unpacklo_ps (w1h, w2h)), _mm_unpackhi_ps (w1h, w2h), 1);
      accv = _mm256_add_ps (accv, _mm256_mul_ps (wv, _mm256_set1_ps (wy[0] + wy[1] + wy[2] + wy[3] + (float) bir[x])));
    }
  _mm256_storeu_ps (g->sz, _mm256_add_ps (accv, _mm256_loadu_ps (g->sz)));
}
#endif


/* Prototype (not in the engine): eight pixels whose windows share their row and column offset
 * (the gather's fast-path runs) summed in registers before they touch the grid. Pixel i's
 * window row (four cells, both grids interleaved: 8 floats) sits i cells to the right of pixel
 * 0's; it is rotated by i mod 4 cells (64-bit lanes) and split between accumulator i / 4 and the
 * next one, so the block's row of 11 cells is three 8-float accumulators: 12 read-modify-writes
 * of 32 bytes per block and tap row set instead of 32. Other pixels go one at a time. The order
 * of the additions differs from scatter_row_avx2's (the grids agree to rounding). EVEX encoding
 * (AVX-512VL) for the 32 vector registers the twelve accumulators need. */
/* pixels x … x + 7 form a block: all valid, their windows one cell apart in one grid row */
static inline gboolean
block_at (const guint8 *restrict mrow, const gint32 *restrict bir, int x, int ow)
{
  if (x + 8 > ow)
    return FALSE;
  for (int i = 0; i < 8; i++)
    if (!mrow[x + i] || bir[x + i] != bir[x] + i)
      return FALSE;
  return TRUE;
}

#define BLK_TARGET __attribute__ ((target (BLK_ISA)))
#ifndef BLK_ISA
#define BLK_ISA "avx2,avx512f,avx512vl"
#endif
static inline BLK_TARGET __m256
blk_rot (__m256 v, int s)
{
  __m256d d = _mm256_castps_pd (v);
  switch (s)
    {
    case 1: d = _mm256_permute4x64_pd (d, 0x93); break;   /* lanes (3 0 1 2) */
    case 2: d = _mm256_permute4x64_pd (d, 0x4e); break;   /* (2 3 0 1) */
    case 3: d = _mm256_permute4x64_pd (d, 0x39); break;   /* (1 2 3 0) */
    default: break;
    }
  return _mm256_castpd_ps (d);
}

static BLK_TARGET __attribute__ ((unused)) void
scatter_block_proto (const RowGeom *g, const guint8 *restrict mrow, const gint32 *restrict bir,
                     const guint32 *restrict ktr, const float *restrict a1, const float *restrict a2, int ow)
{
  float *const sz = g->sz;
  const gsize gs = 2 * (gsize) g->gw;
  /* lanes ≥ s (64-bit) of a rotated row stay in accumulator i / 4, lanes < s go to the next */
  const __m256i keep[4] = { _mm256_set1_epi32 (-1), _mm256_setr_epi32 (0, 0, -1, -1, -1, -1, -1, -1),
                            _mm256_setr_epi32 (0, 0, 0, 0, -1, -1, -1, -1), _mm256_setr_epi32 (0, 0, 0, 0, 0, 0, -1, -1) };
  int x = 0;
  while (x < ow)
    {
      gboolean blk = block_at (mrow, bir, x, ow);
      if (!blk)
        {
          if (mrow[x])
            {
              __m128 wx = _mm_loadu_ps ((const float *) &keys_table[ktr[x] & 0xffff]);
              __m128 wy = _mm_loadu_ps ((const float *) &keys_table[ktr[x] >> 16]);
              __m128 w1h = _mm_mul_ps (wx, _mm_set1_ps (a1[x])), w2h = _mm_mul_ps (wx, _mm_set1_ps (a2[x]));
              __m256 wv = _mm256_insertf128_ps (_mm256_castps128_ps256 (_mm_unpacklo_ps (w1h, w2h)), _mm_unpackhi_ps (w1h, w2h), 1);
              float *q = sz + 2 * (gsize) bir[x];
              for (int b = 0; b < 4; b++)
                _mm256_storeu_ps (q + b * gs, _mm256_add_ps (_mm256_loadu_ps (q + b * gs), _mm256_mul_ps (wv, _mm256_set1_ps (wy[b]))));
            }
          x++;
          continue;
        }
      __m256 acc[4][3];
      for (int b = 0; b < 4; b++)
        for (int k = 0; k < 3; k++)
          acc[b][k] = _mm256_setzero_ps ();
#pragma GCC unroll 8
      for (int i = 0; i < 8; i++)
        {
          guint32 kt = ktr[x + i];
          __m128 wx = _mm_loadu_ps ((const float *) &keys_table[kt & 0xffff]);
          const float *wy = (const float *) &keys_table[kt >> 16];
          __m128 w1h = _mm_mul_ps (wx, _mm_set1_ps (a1[x + i])), w2h = _mm_mul_ps (wx, _mm_set1_ps (a2[x + i]));
          __m256 wv = _mm256_insertf128_ps (_mm256_castps128_ps256 (_mm_unpacklo_ps (w1h, w2h)), _mm_unpackhi_ps (w1h, w2h), 1);
          __m256 r = blk_rot (wv, i & 3);
          __m256 lo = _mm256_and_ps (r, _mm256_castsi256_ps (keep[i & 3]));
          __m256 hi = _mm256_andnot_ps (_mm256_castsi256_ps (keep[i & 3]), r);
          for (int b = 0; b < 4; b++)
            {
              __m256 wb = _mm256_broadcast_ss (wy + b);
              acc[b][i >> 2] = _mm256_add_ps (acc[b][i >> 2], _mm256_mul_ps (lo, wb));
              if (i & 3)
                acc[b][(i >> 2) + 1] = _mm256_add_ps (acc[b][(i >> 2) + 1], _mm256_mul_ps (hi, wb));
            }
        }
      float *q = sz + 2 * (gsize) bir[x];
      for (int b = 0; b < 4; b++)
        for (int k = 0; k < 3; k++)
          {
            float *p = q + b * gs + 8 * k;
            _mm256_storeu_ps (p, _mm256_add_ps (_mm256_loadu_ps (p), acc[b][k]));
          }
      x += 8;
    }
}

/* The prototype's portable twin: the same additions in the same order, so that the two give the
 * same bits (what the engine's `/deconv/row-kernels` test would assert). Per block and tap row b
 * a stripe of 24 floats (cells x₀ … x₀ + 11, both grids) starts at +0 and takes pixel i's products
 * (wx·a)·wy at floats 2i … 2i + 7, i in order; then the grid adds all 24. The prototype's masked
 * lanes add ±0 to a stripe that is never −0, which changes nothing, so they need no twin; its
 * 24th float (+0) does, for a grid cell at −0. Pixels outside blocks as scatter_row_v4 does each
 * one (wx·a, then ·wy[b], added per tap row). */
static __attribute__ ((unused)) void
scatter_block_portable (const RowGeom *g, const guint8 *restrict mrow, const gint32 *restrict bir,
                        const guint32 *restrict ktr, const float *restrict a1, const float *restrict a2, int ow)
{
  float *const sz = g->sz;
  const gsize gs = 2 * (gsize) g->gw;
  int x = 0;
  while (x < ow)
    {
      gboolean blk = block_at (mrow, bir, x, ow);
      if (!blk)
        {
          if (mrow[x])
            {
              const float *wx = (const float *) &keys_table[ktr[x] & 0xffff], *wy = (const float *) &keys_table[ktr[x] >> 16];
              float wv[8];
              for (int k = 0; k < 4; k++)
                {
                  wv[2 * k] = wx[k] * a1[x];
                  wv[2 * k + 1] = wx[k] * a2[x];
                }
              float *q = sz + 2 * (gsize) bir[x];
              for (int b = 0; b < 4; b++)
                for (int f = 0; f < 8; f++)
                  q[b * gs + f] = q[b * gs + f] + wv[f] * wy[b];
            }
          x++;
          continue;
        }
      float st[4][24];
      for (int b = 0; b < 4; b++)
        for (int f = 0; f < 24; f++)
          st[b][f] = 0.0f;
      for (int i = 0; i < 8; i++)
        {
          const float *wx = (const float *) &keys_table[ktr[x + i] & 0xffff], *wy = (const float *) &keys_table[ktr[x + i] >> 16];
          float wv[8];
          for (int k = 0; k < 4; k++)
            {
              wv[2 * k] = wx[k] * a1[x + i];
              wv[2 * k + 1] = wx[k] * a2[x + i];
            }
          for (int b = 0; b < 4; b++)
            for (int f = 0; f < 8; f++)
              st[b][2 * i + f] = st[b][2 * i + f] + wv[f] * wy[b];
        }
      float *q = sz + 2 * (gsize) bir[x];
      for (int b = 0; b < 4; b++)
        for (int f = 0; f < 24; f++)
          q[b * gs + f] = q[b * gs + f] + st[b][f];
      x += 8;
    }
}

typedef struct
{
  int ow, oh, vw, vh;
  guint8 *m;
  guint32 *t;
  gint32 *bir;
  guint32 *ktr;
  float *a1, *a2, *acc, *cv, *sz;
} Frame;

static void
frame_make (Frame *f, int ow, int oh, double rot, gboolean holes)
{
  f->ow = ow;
  f->oh = oh;
  f->vw = ow + 10;
  f->vh = oh + 10;
  gsize n = (gsize) ow * oh, nv = (gsize) f->vw * f->vh;
  f->m = g_new (guint8, n);
  f->t = g_new (guint32, n);
  f->bir = g_new (gint32, n);
  f->ktr = g_new (guint32, n);
  f->a1 = g_new (float, n);
  f->a2 = g_new (float, n);
  f->acc = g_new (float, n);
  f->cv = g_new (float, nv);
  f->sz = g_new0 (float, 2 * nv);
  for (gsize i = 0; i < nv; i++)
    f->cv[i] = (float) ((i * 2654435761u) % 1000) / 1000.0f;
  for (int y = 0; y < oh; y++)
    for (int x = 0; x < ow; x++)
      {
        gsize k = (gsize) y * ow + x;
        /* the pixel's position in the grid: a drift of rot px per px (a rotation by ~rot rad) */
        double fx = x + 0.3 + rot * y, fy = y + 0.4 - rot * x;
        double ix = floor (fx), iy = floor (fy);
        int dx = (int) ix - x + 3, dy = (int) iy - y + 3;
        gboolean ok = dx >= 0 && dx <= 7 && dy >= 1 && dy <= 7 && !(holes && (x * 7 + y * 13) % 61 == 17);
        f->m[k] = ok;
        if (!ok)
          dx = dy = 3;
        guint32 kx = (guint32) ((fx - ix) * KEYS_N), ky = (guint32) ((fy - iy) * KEYS_N);
        f->t[k] = kx | ((guint32) dx << 13) | (ky << 16) | ((guint32) dy << 29);
        /* the visit's rq0 = 2, iyr = y − 1, rf = 0 (tsr_deconv_row_kernels_run's geometry) */
        f->bir[k] = (y - 1 + (int) (f->t[k] >> 29)) * f->vw + x + 2 + (int) ((f->t[k] >> 13) & 7) - 3;
        f->ktr[k] = (f->t[k] & 0x1fff) | (f->t[k] & (0x1fffu << 16));
        f->a1[k] = 1.0f + (float) (k % 7);
        f->a2[k] = 2.0f + (float) (k % 5);
      }
}

static double
time_gather (Frame *f, GatherRowFn fn)
{
  RowGeom g = { .cv = f->cv, .vw = f->vw, .r = 1, .rq0 = 2, .sz = f->sz, .gw = f->vw, .rf = 0 };
  double c0 = thread_cpu_seconds ();
  for (int y = 0; y < f->oh; y++)
    {
      g.iyr = y - 1;
      gsize o = (gsize) y * f->ow;
      fn (&g, f->m + o, f->t + o, f->acc + o, f->ow);
    }
  return thread_cpu_seconds () - c0;
}

static double
time_scatter (Frame *f, ScatterRowFn fn)
{
  RowGeom g = { .cv = f->cv, .vw = f->vw, .r = 1, .rq0 = 2, .sz = f->sz, .gw = f->vw, .rf = 0 };
  double c0 = thread_cpu_seconds ();
  for (int y = 0; y < f->oh; y++)
    {
      g.iyr = y - 1;
      gsize o = (gsize) y * f->ow;
      fn (&g, f->m + o, f->bir + o, f->ktr + o, f->a1 + o, f->a2 + o, f->ow);
    }
  return thread_cpu_seconds () - c0;
}

int
main (int argc, char **argv)
{
  int w = argc > 2 ? atoi (argv[1]) : 1024, h = argc > 2 ? atoi (argv[2]) : 1024;
  int reps = argc > 3 ? atoi (argv[3]) : 7;
  double rot = argc > 4 ? atof (argv[4]) : 0.0015;
  gboolean holes = argc > 5 && atoi (argv[5]);
  if (w < 16 || h < 16 || reps < 1 || fabs (rot) * MAX (w, h) > 2)
    {
      /* |rot| · size ≤ 2 px: every pixel's taps stay within the codes' reach (all valid) */
      fprintf (stderr, "usage: %s W H REPS ROT (W, H ≥ 16, |ROT| · max (W, H) ≤ 2)\n", argv[0]);
      return 2;
    }
  g_once (&keys_once, keys_table_init, NULL);
  Frame f;
  frame_make (&f, w, h, rot, holes);
  struct
  {
    const char *name;
    GatherRowFn g;
    ScatterRowFn s;
  } k[] = {
    { "gather (portable)", gather_row_v4, NULL },
    { "scatter (portable)", NULL, scatter_row_v4 },
#ifdef TSR_DECONV_AVX2
    { "gather (AVX2)", gather_row_avx2, NULL },
    { "scatter (AVX2)", NULL, scatter_row_avx2 },
    { "scatter's weights only (AVX2)", NULL, weights_only_avx2 },
    { "scatter, 8-pixel blocks (prototype)", NULL, scatter_block_proto },
    { "scatter, 8-pixel blocks (portable twin)", NULL, scatter_block_portable },
#endif
  };
  guint nvalid = 0;
  for (gsize i = 0; i < (gsize) w * h; i++)
    nvalid += f.m[i];
  gboolean avx2 = FALSE;
#ifdef TSR_DECONV_AVX2
  __builtin_cpu_init ();
  avx2 = __builtin_cpu_supports ("avx2");
#endif
  printf ("frame %d × %d (%u valid), drift %.4f px/px, best of %d (thread CPU, ms per frame)\n", w, h, nvalid, rot,
          reps);
  for (gsize i = 0; i < G_N_ELEMENTS (k); i++)
    {
      if (!avx2 && strstr (k[i].name, "AVX2"))
        continue;
      double best = INFINITY;
      for (int r = 0; r < reps; r++)
        {
          double s = k[i].g ? time_gather (&f, k[i].g) : time_scatter (&f, k[i].s);
          best = MIN (best, s);
        }
      printf ("  %-32s %8.3f ms  (%.2f ns a pixel)\n", k[i].name, best * 1e3, best * 1e9 / ((double) w * h));
    }
  /* the prototype's grids against scatter_row_avx2's on one pass from zero (the order of the
   * additions differs: they agree to rounding), and the share of pixels in its blocks */
  if (avx2 && __builtin_cpu_supports ("avx512f") && __builtin_cpu_supports ("avx512vl"))
    {
      gsize nv = 2 * (gsize) f.vw * f.vh, inblk = 0;
      float *ref = g_new0 (float, nv);
      memset (f.sz, 0, nv * sizeof (float));
      time_scatter (&f, scatter_block_proto);
      float *blk = f.sz;
      f.sz = ref;
      time_scatter (&f, scatter_row_avx2);
      double dmax = 0, vmax = 0;
      for (gsize i = 0; i < nv; i++)
        {
          dmax = MAX (dmax, fabs ((double) blk[i] - ref[i]));
          vmax = MAX (vmax, fabs ((double) ref[i]));
        }
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w;)
          {
            gsize o = (gsize) y * w;
            gboolean b = block_at (f.m + o, f.bir + o, x, w);
            inblk += b ? 8 : 0;
            x += b ? 8 : 1;
          }
      /* the twin from zero: the same bits as the prototype? */
      float *tw = g_new0 (float, nv);
      f.sz = tw;
      time_scatter (&f, scatter_block_portable);
      gsize ndiff = 0;
      for (gsize i = 0; i < nv; i++)
        ndiff += memcmp (&tw[i], &blk[i], sizeof (float)) != 0;
      printf ("  portable twin against the prototype: %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " grid values differ in their bits\n", ndiff, nv);
      g_free (tw);
      printf ("  prototype against scatter (AVX2): largest difference %.3g of the largest cell; %.1f %% of the pixels in blocks\n",
              dmax / vmax, 100.0 * inblk / ((double) w * h));
      f.sz = blk;
      g_free (ref);
    }
  return 0;
}
