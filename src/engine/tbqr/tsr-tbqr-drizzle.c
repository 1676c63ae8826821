/* tsr-tbqr-drizzle.c — Bayer drizzle (CFA drizzle) of the TBQR accumulate pass. See
 * tsr-tbqr-drizzle.h and docs/tbqr.md ("Bayer drizzle").
 *
 * A raw sample at frame pixel (x, y) of colour c is a square drop of side pixfrac (input
 * pixels) centred on the pixel; its centre is mapped into the reference geometry by the
 * inverse of the frame's transform and the drop is scaled by the transform's linear scale,
 * then by the output scale. It is kept axis-aligned (the "turbo" kernel of STScI's drizzle):
 * the frames of one session differ by small rotations, and the exact polygon overlap of a
 * rotated square would change a drop's share of an output pixel by at most a few percent at
 * 1° without moving its centre. Output pixel (i, j) of colour c receives
 *
 *   Σ a·w·v / Σ a·w
 *
 * over the drops of colour c, a the fraction of the drop's area inside the output pixel, w
 * the frame's TBQR weight at the drop's centre (0 where an outlier was rejected), v the
 * normalised sample. Values stay per input pixel (surface brightness): at scale 2 an
 * aperture sum over the result is 4× that over the reference grid. The same sums without w
 * and without rejection give the plain drizzle of the same frames, the validation baseline.
 */
#include "tsr-tbqr-drizzle.h"
#include "tsr-error.h"
#include "tsr-parallel.h"

#include <glib/gi18n.h>
#include <math.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define TSR_DZ_AVX2 1
#endif

/* The sums of one colour at one output pixel, side by side: a drop updates all of them,
 * and one cache line instead of four separate planes serves it (the scatter into the sums
 * is memory-bound). */
typedef struct
{
  float wx;            /* Σ a·w·v (float like the pixel path's sums: 16 bytes a colour) */
  float mx;            /* Σ a·v (unweighted) */
  float ww;            /* Σ a·w */
  float mn;            /* Σ a */
} DzSum;

/* Per output pixel, all colours. */
typedef struct
{
  float rj;            /* Σ a of rejected drops */
  guint32 cover;       /* frames that dropped into the pixel */
  guint32 stamp;       /* last frame (1-based call number) that counted in cover */
} DzPixel;

struct _TsrDrizzle
{
  int width, height;   /* reference grid */
  int ow, oh, scale;   /* output grid */
  double pixfrac;
  int channels;        /* 3 for a CFA session, else the frames' */
  TsrCfa cfa;
  gsize on;            /* output pixels */
  DzSum *sum;          /* channels × on */
  DzPixel *px;         /* on */
  guint32 calls;
  gboolean chan_weights;  /* a frame came with per-channel weight factors: the weight map per colour */
  guint n_threads;     /* run.threads: bands of output rows per frame */
  GMutex lock;
};

TsrDrizzle *
tsr_drizzle_new (const TsrAnalysis *a, int scale, double pixfrac, GError **error)
{
  TsrDrizzle *d = g_new0 (TsrDrizzle, 1);
  d->width = a->width;
  d->height = a->height;
  d->scale = CLAMP (scale, 1, 2);
  d->ow = a->width * d->scale;
  d->oh = a->height * d->scale;
  d->pixfrac = CLAMP (pixfrac, 0.1, 1.0);
  d->n_threads = a->run.n_threads > 0 ? (guint) a->run.n_threads : 0;
  d->cfa = a->channels == 1 ? a->cfa : TSR_CFA_NONE;
  d->channels = d->cfa != TSR_CFA_NONE ? 3 : a->channels;
  d->on = (gsize) d->ow * d->oh;
  gsize nv = d->on * d->channels;
  d->sum = g_try_new0 (DzSum, nv);
  d->px = g_try_new0 (DzPixel, d->on);
  g_mutex_init (&d->lock);
  if (!d->sum || !d->px)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE,
                   _("not enough memory for the drizzle sums (%d × %d output pixels); try drizzle.scale=1"),
                   d->ow, d->oh);
      tsr_drizzle_free (d);
      return NULL;
    }
  return d;
}

void
tsr_drizzle_free (TsrDrizzle *d)
{
  if (!d)
    return;
  g_free (d->sum);
  g_free (d->px);
  g_mutex_clear (&d->lock);
  g_free (d);
}

/* Position in the reference grid of frame pixel (x, y) under inv (frame → reference). */
static inline void
to_ref (const TsrTransform *inv, double x, double y, double *rx, double *ry)
{
  const double *m = inv->m;
  double wz = m[6] * x + m[7] * y + m[8];
  *rx = (m[0] * x + m[1] * y + m[2]) / wz;
  *ry = (m[3] * x + m[4] * y + m[5]) / wz;
}

/* Function multiversioning (x86-64 with glibc): row_to_ref is also compiled for AVX2 (four
 * positions per vector) and picked at load time; no FMA, so both clones round alike. */
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__has_attribute)
#if __has_attribute (target_clones)
#define TSR_DZ_CLONES __attribute__ ((target_clones ("avx2", "default")))
#endif
#endif
#ifndef TSR_DZ_CLONES
#define TSR_DZ_CLONES
#endif

/* to_ref of the pixels (0 … n − 1, y) of one frame row, side by side (vectorises: the two
 * divisions per pixel were a large part of a drop's arithmetic). Exactly to_ref's
 * operations, so exactly its values. */
static TSR_DZ_CLONES void
row_to_ref (const double *restrict m, int y, int n, double *restrict rx, double *restrict ry)
{
  const double yd = y;
  for (int x = 0; x < n; x++)
    {
      double xd = x;
      double wz = m[6] * xd + m[7] * yd + m[8];
      rx[x] = (m[0] * xd + m[1] * yd + m[2]) / wz;
      ry[x] = (m[3] * xd + m[4] * yd + m[5]) / wz;
    }
}

/* floor (x) and lround (x) as ints without a call into libm (x86-64 without SSE4.1 has no
 * rounding instruction: each was a function call, six per drop). Exactly their values: the
 * truncation t of x is exact, and so is x − t (the fraction of x); outside ±2^30 (never for a
 * position in a frame) libm's own. */
static inline int
floor_int (double x)
{
  if (!(fabs (x) < 1073741824.0))
    return (int) floor (x);
  int t = (int) x;
  return t - (x < (double) t);
}

static inline int
lround_int (double x)
{
  if (!(fabs (x) < 1073741824.0))
    return (int) lround (x);
  int t = (int) x;
  double f = x - (double) t;
  return t + (f >= 0.5) - (f <= -0.5);
}

/* The output pixels [*i0, *i1] a drop [c − h, c + h] overlaps on an axis of n pixels, and
 * the overlap of each with it (ov, at most 4 entries: h ≤ 1 at scale 2). */
static inline int
overlaps (double c, double h, int n, int *i0, double *ov)
{
  int a = floor_int (c - h + 0.5), b = floor_int (c + h + 0.5);
  a = MAX (a, 0);
  b = MIN (b, n - 1);
  int k = 0;
  for (int i = a; i <= b && k < 4; i++)
    {
      double o = MIN (i + 0.5, c + h) - MAX (i - 0.5, c - h);
      ov[k++] = o > 0 ? o : 0;
    }
  *i0 = a;
  return k;
}

typedef struct
{
  TsrDrizzle *d;
  const TsrImage *frame;
  const double *inv;       /* frame → reference, 3 × 3 */
  const float *weight;
  const float *chan;       /* the frame's weight factor per colour (NULL: 1) */
  const guint8 *reject;
  double h, inv_area;
  guint32 stamp;
  gboolean vec;            /* the drops' geometry four at a time (AVX2, h < 0.5) */
} DzJob;

/* Adds share f of a drop of value v, weight w (rejected: rej) to output pixel o of colour
 * plane sum. */
static inline void
drop_into (const DzJob *j, DzSum *sum, gsize o, double f, double v, float w, gboolean rej)
{
  DzSum *sm = &sum[o];
  DzPixel *px = &j->d->px[o];
  sm->mx += f * v;
  sm->mn += (float) f;
  if (px->stamp != j->stamp)
    {
      px->stamp = j->stamp;
      px->cover++;
    }
  if (rej)
    px->rj += (float) f;
  else if (w > 0)
    {
      sm->wx += f * w * v;
      sm->ww += (float) (f * w);
    }
}

/* The drop of sample k of plane src (colour c, at reference position rx, ry) into output
 * rows [jb, je): any drop size, any position. */
static inline void
drop_one (const DzJob *j, const float *src, int jb, int je, gsize k, int c, double rx, double ry)
{
  TsrDrizzle *d = j->d;
  const double h = j->h, s = d->scale;
  int ix = lround_int (rx), iy = lround_int (ry);
  if (ix < 0 || iy < 0 || ix >= d->width || iy >= d->height)
    return;
  double oy = (ry + 0.5) * s - 0.5;
  int j0;
  double ovy[4];
  int ny = overlaps (oy, h, d->oh, &j0, ovy);
  if (j0 >= je || j0 + ny <= jb)
    return;
  gsize rk = (gsize) iy * d->width + ix;
  float w = j->chan ? j->weight[rk] * j->chan[c] : j->weight[rk];
  gboolean rej = j->reject && j->reject[rk];
  double ox = (rx + 0.5) * s - 0.5;
  int i0;
  double ovx[4];
  int nx = overlaps (ox, h, d->ow, &i0, ovx);
  double v = src[k];
  DzSum *sum = d->sum + (gsize) c * d->on;
  for (int b = 0; b < ny; b++)
    {
      if (ovy[b] <= 0 || j0 + b < jb || j0 + b >= je)
        continue;
      gsize o0 = (gsize) (j0 + b) * d->ow;
      for (int q = 0; q < nx; q++)
        {
          double f = ovx[q] * ovy[b] * j->inv_area;
          if (f <= 0)
            continue;
          drop_into (j, sum, o0 + i0 + q, f, v, w, rej);
        }
    }
}

#ifdef TSR_DZ_AVX2
/* The geometry of a row's drops four at a time, for drops narrower than an output pixel
 * (h < 0.5: at most two output pixels on each axis). Exactly drop_one's operations on each
 * lane: its reference pixel (ix, iy), first output pixel (i0, j0) and the shares f00, f01,
 * f10, f11 of (i0, j0), (i0 + 1, j0), (i0, j0 + 1), (i0 + 1, j0 + 1), each 0 where drop_one adds
 * nothing (outside the band, no overlap). ix = -1: the drop adds nothing at all; ix = -2:
 * drop_one must take it (a position beyond ±2^30 or NaN, more than two pixels on an axis, the
 * row's last n % 4 samples). */
#define DZ_CHUNK 256
typedef struct
{
  gint32 ix[DZ_CHUNK], iy[DZ_CHUNK], i0[DZ_CHUNK], j0[DZ_CHUNK];
  double f[4][DZ_CHUNK];
} DzDrops;

static inline __attribute__ ((always_inline, target ("avx2"))) __m256d
round_half_away (__m256d x)
{
  /* lround_int: t + (f ≥ 0.5) − (f ≤ −0.5), t = trunc (x), f = x − t */
  const __m256d one = _mm256_set1_pd (1.0);
  __m256d t = _mm256_round_pd (x, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  __m256d f = _mm256_sub_pd (x, t);
  t = _mm256_add_pd (t, _mm256_and_pd (_mm256_cmp_pd (f, _mm256_set1_pd (0.5), _CMP_GE_OQ), one));
  return _mm256_sub_pd (t, _mm256_and_pd (_mm256_cmp_pd (f, _mm256_set1_pd (-0.5), _CMP_LE_OQ), one));
}

/* overlaps () for an axis of n pixels on four lanes: the first pixel a (clipped) and the
 * overlaps ov0 of a and ov1 of a + 1 (0 where a + 1 is past the clipped end); wide: lanes
 * whose clipped span holds more than two pixels. */
static inline __attribute__ ((always_inline, target ("avx2"))) void
overlaps4 (__m256d c, __m256d h, double n, __m256d *a, __m256d *ov0, __m256d *ov1, __m256d *wide)
{
  const __m256d half = _mm256_set1_pd (0.5), one = _mm256_set1_pd (1.0), zero = _mm256_setzero_pd ();
  __m256d lo = _mm256_sub_pd (c, h), hi = _mm256_add_pd (c, h);
  __m256d ac = _mm256_max_pd (_mm256_floor_pd (_mm256_add_pd (lo, half)), zero);
  __m256d bc = _mm256_min_pd (_mm256_floor_pd (_mm256_add_pd (hi, half)), _mm256_set1_pd (n - 1));
  __m256d o0 = _mm256_sub_pd (_mm256_min_pd (_mm256_add_pd (ac, half), hi), _mm256_max_pd (_mm256_sub_pd (ac, half), lo));
  __m256d a1 = _mm256_add_pd (ac, one);
  __m256d o1 = _mm256_sub_pd (_mm256_min_pd (_mm256_add_pd (a1, half), hi), _mm256_max_pd (_mm256_sub_pd (a1, half), lo));
  o0 = _mm256_and_pd (o0, _mm256_and_pd (_mm256_cmp_pd (o0, zero, _CMP_GT_OQ), _mm256_cmp_pd (ac, bc, _CMP_LE_OQ)));
  o1 = _mm256_and_pd (o1, _mm256_and_pd (_mm256_cmp_pd (o1, zero, _CMP_GT_OQ), _mm256_cmp_pd (a1, bc, _CMP_LE_OQ)));
  *a = ac;
  *ov0 = o0;
  *ov1 = o1;
  *wide = _mm256_cmp_pd (_mm256_sub_pd (bc, ac), one, _CMP_GT_OQ);
}

static __attribute__ ((target ("avx2"))) void
drop_geometry_avx2 (const DzJob *j, int jb, int je, const double *rx, const double *ry, const guint8 *mask, int n,
                    DzDrops *out)
{
  const TsrDrizzle *d = j->d;
  const __m256d h = _mm256_set1_pd (j->h), s = _mm256_set1_pd (d->scale), half = _mm256_set1_pd (0.5);
  const __m256d ia = _mm256_set1_pd (j->inv_area), zero = _mm256_setzero_pd ();
  const __m256d lim = _mm256_set1_pd (1073741824.0), absm = _mm256_castsi256_pd (_mm256_set1_epi64x (G_MAXINT64));
  const __m256d Wd = _mm256_set1_pd (d->width), Hd = _mm256_set1_pd (d->height);
  const __m256d jbd = _mm256_set1_pd (jb), jed = _mm256_set1_pd (je), one = _mm256_set1_pd (1.0);
  int x = 0;
  for (; x + 4 <= n; x += 4)
    {
      __m256d X = _mm256_loadu_pd (rx + x), Y = _mm256_loadu_pd (ry + x);
      /* positions drop_one's integer conversions take through libm (or NaN) */
      __m256d ok = _mm256_and_pd (_mm256_cmp_pd (_mm256_and_pd (X, absm), lim, _CMP_LT_OQ),
                                  _mm256_cmp_pd (_mm256_and_pd (Y, absm), lim, _CMP_LT_OQ));
      guint32 mb;
      memcpy (&mb, mask + x, 4);
      __m256d live = _mm256_castsi256_pd (_mm256_cmpeq_epi64 (
          _mm256_cvtepu8_epi64 (_mm_cvtsi32_si128 ((int) mb)), _mm256_setzero_si256 ()));
      live = _mm256_andnot_pd (live, _mm256_castsi256_pd (_mm256_set1_epi64x (-1)));
      __m256d ix = round_half_away (X), iy = round_half_away (Y);
      __m256d in = _mm256_and_pd (_mm256_and_pd (_mm256_cmp_pd (ix, zero, _CMP_GE_OQ), _mm256_cmp_pd (ix, Wd, _CMP_LT_OQ)),
                                  _mm256_and_pd (_mm256_cmp_pd (iy, zero, _CMP_GE_OQ), _mm256_cmp_pd (iy, Hd, _CMP_LT_OQ)));
      __m256d oy = _mm256_sub_pd (_mm256_mul_pd (_mm256_add_pd (Y, half), s), half);
      __m256d ox = _mm256_sub_pd (_mm256_mul_pd (_mm256_add_pd (X, half), s), half);
      __m256d j0, oy0, oy1, wy, i0, ox0, ox1, wx;
      overlaps4 (oy, h, d->oh, &j0, &oy0, &oy1, &wy);
      overlaps4 (ox, h, d->ow, &i0, &ox0, &ox1, &wx);
      /* rows outside the band add nothing */
      __m256d j1 = _mm256_add_pd (j0, one);
      oy0 = _mm256_and_pd (oy0, _mm256_and_pd (_mm256_cmp_pd (j0, jbd, _CMP_GE_OQ), _mm256_cmp_pd (j0, jed, _CMP_LT_OQ)));
      oy1 = _mm256_and_pd (oy1, _mm256_and_pd (_mm256_cmp_pd (j1, jbd, _CMP_GE_OQ), _mm256_cmp_pd (j1, jed, _CMP_LT_OQ)));
      __m256d f00 = _mm256_mul_pd (_mm256_mul_pd (ox0, oy0), ia), f01 = _mm256_mul_pd (_mm256_mul_pd (ox1, oy0), ia);
      __m256d f10 = _mm256_mul_pd (_mm256_mul_pd (ox0, oy1), ia), f11 = _mm256_mul_pd (_mm256_mul_pd (ox1, oy1), ia);
      __m256d any = _mm256_or_pd (_mm256_or_pd (_mm256_cmp_pd (f00, zero, _CMP_GT_OQ), _mm256_cmp_pd (f01, zero, _CMP_GT_OQ)),
                                  _mm256_or_pd (_mm256_cmp_pd (f10, zero, _CMP_GT_OQ), _mm256_cmp_pd (f11, zero, _CMP_GT_OQ)));
      __m256d use = _mm256_and_pd (_mm256_and_pd (live, in), ok);
      __m256d gen = _mm256_or_pd (_mm256_andnot_pd (ok, live), _mm256_and_pd (use, _mm256_or_pd (wx, wy)));
      use = _mm256_and_pd (_mm256_andnot_pd (gen, use), any);
      /* ix: its value where used, −2 where drop_one takes the drop, else −1 */
      __m256d ixo = _mm256_blendv_pd (_mm256_blendv_pd (_mm256_set1_pd (-1.0), _mm256_set1_pd (-2.0), gen), ix, use);
      _mm_storeu_si128 ((__m128i *) (out->ix + x), _mm256_cvttpd_epi32 (ixo));
      _mm_storeu_si128 ((__m128i *) (out->iy + x), _mm256_cvttpd_epi32 (_mm256_and_pd (iy, use)));
      _mm_storeu_si128 ((__m128i *) (out->i0 + x), _mm256_cvttpd_epi32 (_mm256_and_pd (i0, use)));
      _mm_storeu_si128 ((__m128i *) (out->j0 + x), _mm256_cvttpd_epi32 (_mm256_and_pd (j0, use)));
      _mm256_storeu_pd (out->f[0] + x, f00);
      _mm256_storeu_pd (out->f[1] + x, f01);
      _mm256_storeu_pd (out->f[2] + x, f10);
      _mm256_storeu_pd (out->f[3] + x, f11);
    }
  for (; x < n; x++)
    out->ix[x] = mask[x] ? -2 : -1;
}
#endif

/* The drops of one frame into output rows [begin, end). Every output pixel belongs to one
 * band, and within it receives its drops in the order of the frame's samples (plane, row,
 * column), as in one sweep over the whole frame: the sums are the same to the bit however
 * the rows are cut. A frame row whose drops all lie outside the band is skipped after its
 * end points (the row's reference positions are monotonic in x while the projective
 * denominator keeps its sign). */
static void
drizzle_band (gsize begin, gsize end, gpointer data)
{
  const DzJob *j = data;
  TsrDrizzle *d = j->d;
  const TsrImage *frame = j->frame;
  int fw = frame->width, fh = frame->height;
  gsize fn = (gsize) fw * fh;
  const double h = j->h, s = d->scale;
  const int jb = (int) begin, je = (int) end;
  const double *m = j->inv;
  double *rxr = g_new (double, 2 * (gsize) fw), *ryr = rxr + fw;
#ifdef TSR_DZ_AVX2
  DzDrops *dr = j->vec ? g_new (DzDrops, 1) : NULL;
#endif
  for (int pl = 0; pl < frame->channels; pl++)
    {
      const float *src = frame->data + (gsize) pl * fn;
      for (int y = 0; y < fh; y++)
        {
          double wz0 = m[6] * 0.0 + m[7] * y + m[8], wz1 = m[6] * (fw - 1.0) + m[7] * y + m[8];
          if ((wz0 > 0 && wz1 > 0) || (wz0 < 0 && wz1 < 0))
            {
              double ry0 = (m[3] * 0.0 + m[4] * y + m[5]) / wz0, ry1 = (m[3] * (fw - 1.0) + m[4] * y + m[5]) / wz1;
              double lo = (MIN (ry0, ry1) + 0.5) * s - 0.5 - h, hi = (MAX (ry0, ry1) + 0.5) * s - 0.5 + h;
              if (hi < jb - 2.0 || lo > je + 1.0)
                continue;
            }
          int rowcol[2];
          for (int x = 0; x < 2; x++)
            rowcol[x] = d->cfa != TSR_CFA_NONE ? tsr_cfa_color (d->cfa, x, y) : pl;
          row_to_ref (m, y, fw, rxr, ryr);
          const gsize k0 = (gsize) y * fw;
#ifdef TSR_DZ_AVX2
          if (dr)
            {
              for (int x0 = 0; x0 < fw; x0 += DZ_CHUNK)
                {
                  int n = MIN (DZ_CHUNK, fw - x0);
                  drop_geometry_avx2 (j, jb, je, rxr + x0, ryr + x0, frame->mask + k0 + x0, n, dr);
                  for (int u = 0; u < n; u++)
                    {
                      int ix = dr->ix[u], x = x0 + u;
                      if (ix == -1)
                        continue;
                      int c = rowcol[x & 1];
                      if (ix == -2)
                        {
                          drop_one (j, src, jb, je, k0 + x, c, rxr[x], ryr[x]);
                          continue;
                        }
                      gsize rk = (gsize) dr->iy[u] * d->width + ix;
                      float w = j->chan ? j->weight[rk] * j->chan[c] : j->weight[rk];
                      gboolean rej = j->reject && j->reject[rk];
                      double v = src[k0 + x];
                      DzSum *sum = d->sum + (gsize) c * d->on;
                      gsize o = (gsize) dr->j0[u] * d->ow + dr->i0[u];
                      for (int q = 0; q < 4; q++)
                        {
                          double f = dr->f[q][u];
                          if (f > 0)
                            drop_into (j, sum, o + (q >> 1) * (gsize) d->ow + (q & 1), f, v, w, rej);
                        }
                    }
                }
              continue;
            }
#endif
          for (int x = 0; x < fw; x++)
            if (frame->mask[k0 + x])
              drop_one (j, src, jb, je, k0 + x, rowcol[x & 1], rxr[x], ryr[x]);
        }
    }
#ifdef TSR_DZ_AVX2
  g_free (dr);
#endif
  g_free (rxr);
}

static int drop_avx2 = -1;   /* -1: not yet decided */

void
tsr_drizzle_drop_vector (gboolean on)
{
#ifdef TSR_DZ_AVX2
  __builtin_cpu_init ();
  g_atomic_int_set (&drop_avx2, on && __builtin_cpu_supports ("avx2"));
#else
  (void) on;
#endif
}

void
tsr_drizzle_add (TsrDrizzle *d, const TsrImage *frame, const TsrTransform *T, const float *weight,
                 const float *chan, const guint8 *reject)
{
  TsrTransform inv;
  if (!tsr_transform_invert (T, &inv))
    return;
  /* the drop's side in output pixels: pixfrac input pixels, times the frame → reference
   * scale (1/scale of T), times the output scale */
  double ts = tsr_transform_scale (T);
  double h = 0.5 * d->pixfrac * d->scale / (ts > 0 ? ts : 1.0);
  DzJob job = { d, frame, inv.m, weight, chan, reject, h, 1.0 / (4.0 * h * h), 0, FALSE };
#ifdef TSR_DZ_AVX2
  if (g_atomic_int_get (&drop_avx2) < 0)
    {
      __builtin_cpu_init ();
      g_atomic_int_set (&drop_avx2, __builtin_cpu_supports ("avx2") && !g_getenv ("TSR_DRIZZLE_NO_AVX2"));
    }
  job.vec = g_atomic_int_get (&drop_avx2) && h < 0.5;
#endif
  g_mutex_lock (&d->lock);
  d->chan_weights = d->chan_weights || (chan && d->channels == 3);
  job.stamp = ++d->calls;
  /* bands of output rows on run.threads threads (the frame's drops were one serial sweep
   * under the lock, a seventh of a drizzled run's CPU time) */
  tsr_parallel_range ((gsize) d->oh, d->n_threads, 64, drizzle_band, &job);
  g_mutex_unlock (&d->lock);
}

/* A colour with no drop at pixel k (inside the footprint): the mean of the nearest reached
 * pixels of that colour, in growing squares up to radius 4 (else left at 0 and masked). */
static gboolean
fill_hole (const float *val, const guint8 *ok, int w, int h, int x, int y, float *out)
{
  for (int r = 1; r <= 4; r++)
    {
      double s = 0;
      int n = 0;
      for (int yy = MAX (0, y - r); yy <= MIN (h - 1, y + r); yy++)
        for (int xx = MAX (0, x - r); xx <= MIN (w - 1, x + r); xx++)
          {
            gsize q = (gsize) yy * w + xx;
            if (ok[q])
              s += val[q], n++;
          }
      if (n > 0)
        {
          *out = (float) (s / n);
          return TRUE;
        }
    }
  return FALSE;
}

void
tsr_drizzle_finish (TsrDrizzle *d, TsrImage **result, TsrImage **mean, TsrImage **weight, TsrImage **coverage,
                    TsrImage **rejected, gsize *n_holes)
{
  int C = d->channels;
  TsrImage *res = tsr_image_new (d->ow, d->oh, C);
  TsrImage *mst = tsr_image_new (d->ow, d->oh, C);
  int WC = d->chan_weights ? C : 1; /* weight map planes: Σa·w per colour, or their mean */
  TsrImage *wt = tsr_image_new (d->ow, d->oh, WC);
  TsrImage *cv = tsr_image_new (d->ow, d->oh, 1);
  TsrImage *rjm = tsr_image_new (d->ow, d->oh, 1);
  gsize on = d->on, holes = 0;
  guint8 *okw = g_new (guint8, on * C), *okm = g_new (guint8, on * C);
  for (gsize k = 0; k < on; k++)
    {
      guint8 in = d->px[k].cover > 0;
      res->mask[k] = mst->mask[k] = wt->mask[k] = cv->mask[k] = in;
      rjm->mask[k] = 1;
      cv->data[k] = d->px[k].cover;
      double wsum = 0, all = 0;
      for (int c = 0; c < C; c++)
        {
          gsize q = (gsize) c * on + k;
          const DzSum *sm = &d->sum[q];
          double W0 = sm->ww, M0 = sm->mn;
          okm[q] = M0 > 0;
          /* every sample rejected here: the plain drizzle, as the pixel path falls back to
           * the mean when rejection would leave too few samples */
          okw[q] = okm[q];
          res->data[q] = W0 > 0 ? sm->wx / W0 : (M0 > 0 ? sm->mx / M0 : 0);
          mst->data[q] = M0 > 0 ? sm->mx / M0 : 0;
          wsum += W0;
          all += M0;
          if (WC > 1)
            wt->data[q] = W0;
        }
      if (WC == 1)
        wt->data[k] = wsum / C;
      rjm->data[k] = all > 0 ? MIN (1.0, d->px[k].rj / all) : 0;
    }
  for (int c = 0; c < C; c++)
    {
      float *rv = res->data + (gsize) c * on, *mv = mst->data + (gsize) c * on;
      const guint8 *ok = okm + (gsize) c * on;
      for (int y = 0; y < d->oh; y++)
        for (int x = 0; x < d->ow; x++)
          {
            gsize k = (gsize) y * d->ow + x;
            if (!res->mask[k] || ok[k])
              continue;
            holes++;
            float a, b;
            if (fill_hole (rv, okw + (gsize) c * on, d->ow, d->oh, x, y, &a)
                && fill_hole (mv, ok, d->ow, d->oh, x, y, &b))
              rv[k] = a, mv[k] = b;
            else
              res->mask[k] = mst->mask[k] = 0;
          }
    }
  g_free (okw);
  g_free (okm);
  *result = res;
  *mean = mst;
  *weight = wt;
  *coverage = cv;
  *rejected = rjm;
  if (n_holes)
    *n_holes = holes;
}

double
tsr_tbqr_drizzle_coverage (const TsrAnalysis *a, const TsrWeights *w, const TsrTbqrParams *p)
{
  int s = CLAMP (p->drizzle_scale, 1, 2);
  int P = MIN (24, MIN (a->width, a->height) / 2);
  if (P < 4)
    return 0;
  int px0 = a->width / 2 - P / 2, py0 = a->height / 2 - P / 2, Po = P * s;
  TsrCfa cfa = a->channels == 1 ? a->cfa : TSR_CFA_NONE;
  int C = cfa != TSR_CFA_NONE ? 3 : 1;
  guint8 *hit = g_new0 (guint8, (gsize) C * Po * Po);
  for (guint f = 0; f < w->n_frames; f++)
    {
      if (!w->used[f])
        continue;
      const TsrTransform *T = &a->reg->frames[f].transform;
      TsrTransform inv;
      if (!tsr_transform_invert (T, &inv))
        continue;
      double ts = tsr_transform_scale (T);
      double h = 0.5 * p->drizzle_pixfrac * s / (ts > 0 ? ts : 1.0);
      /* the frame's pixels over the patch (its corners mapped, plus a margin) */
      double xs[4], ys[4];
      tsr_transform_apply (T, px0, py0, &xs[0], &ys[0]);
      tsr_transform_apply (T, px0 + P, py0, &xs[1], &ys[1]);
      tsr_transform_apply (T, px0, py0 + P, &xs[2], &ys[2]);
      tsr_transform_apply (T, px0 + P, py0 + P, &xs[3], &ys[3]);
      double x0 = xs[0], x1 = xs[0], y0 = ys[0], y1 = ys[0];
      for (int i = 1; i < 4; i++)
        x0 = MIN (x0, xs[i]), x1 = MAX (x1, xs[i]), y0 = MIN (y0, ys[i]), y1 = MAX (y1, ys[i]);
      for (int y = MAX (0, (int) floor (y0) - 2); y <= MIN (a->height - 1, (int) ceil (y1) + 2); y++)
        for (int x = MAX (0, (int) floor (x0) - 2); x <= MIN (a->width - 1, (int) ceil (x1) + 2); x++)
          {
            double rx, ry;
            to_ref (&inv, x, y, &rx, &ry);
            double ox = (rx - px0 + 0.5) * s - 0.5, oy = (ry - py0 + 0.5) * s - 0.5;
            int i0, j0;
            double ovx[4], ovy[4];
            int nx = overlaps (ox, h, Po, &i0, ovx), ny = overlaps (oy, h, Po, &j0, ovy);
            int c = cfa != TSR_CFA_NONE ? tsr_cfa_color (cfa, x, y) : 0;
            for (int b = 0; b < ny; b++)
              for (int q = 0; q < nx; q++)
                if (ovx[q] > 1e-3 && ovy[b] > 1e-3)
                  hit[(gsize) c * Po * Po + (gsize) (j0 + b) * Po + i0 + q] = 1;
          }
    }
  double worst = 1.0;
  for (int c = 0; c < C; c++)
    {
      gsize n = 0;
      for (gsize k = 0; k < (gsize) Po * Po; k++)
        n += hit[(gsize) c * Po * Po + k];
      worst = MIN (worst, (double) n / ((double) Po * Po));
    }
  g_free (hit);
  return worst;
}

gboolean
tsr_tbqr_drizzle_expected (TsrCfa cfa, int channels, guint n_frames, const TsrTbqrParams *p)
{
  gboolean bayer = cfa != TSR_CFA_NONE && channels == 1;
  return p->drizzle == TSR_DRIZZLE_ON
         || (p->drizzle == TSR_DRIZZLE_AUTO && bayer && (int) n_frames >= p->drizzle_min_frames);
}

gboolean
tsr_tbqr_raw_cells (TsrCfa cfa, int channels, guint n_frames, const TsrTbqrParams *p)
{
  gboolean bayer = cfa != TSR_CFA_NONE && channels == 1;
  return bayer
         && (tsr_tbqr_drizzle_expected (cfa, channels, n_frames, p) || p->color_method == TSR_COLOR_DEMOSAIC_FRAMES);
}

#ifdef TSR_DZ_AVX2
/* One row of tsr_drizzle_cell_luma's 2 × 2 cell sums, eight cells a step: each cell's
 * ((r0[x] + r0[x + 1]) + r1[x]) + r1[x + 1] as the scalar loop adds them, NaN where a sample
 * is masked */
static __attribute__ ((target ("avx2"))) void
cell_sums_row_avx2 (const float *r0, const float *r1, const guint8 *m0, const guint8 *m1, int sw, float *o, guint8 *om)
{
  int u = 0;
  for (; u + 8 <= sw; u += 8)
    {
      const int x = 2 * u;
      /* evens and odds of 16 samples: shuffle within the 128-bit halves, then order the 64-bit
       * quarters */
      __m256 a = _mm256_loadu_ps (r0 + x), b = _mm256_loadu_ps (r0 + x + 8);
      __m256 c = _mm256_loadu_ps (r1 + x), d = _mm256_loadu_ps (r1 + x + 8);
      __m256 e0 = _mm256_castpd_ps (_mm256_permute4x64_pd (_mm256_castps_pd (_mm256_shuffle_ps (a, b, 0x88)), 0xd8));
      __m256 o0 = _mm256_castpd_ps (_mm256_permute4x64_pd (_mm256_castps_pd (_mm256_shuffle_ps (a, b, 0xdd)), 0xd8));
      __m256 e1 = _mm256_castpd_ps (_mm256_permute4x64_pd (_mm256_castps_pd (_mm256_shuffle_ps (c, d, 0x88)), 0xd8));
      __m256 o1 = _mm256_castpd_ps (_mm256_permute4x64_pd (_mm256_castps_pd (_mm256_shuffle_ps (c, d, 0xdd)), 0xd8));
      __m256 sum = _mm256_add_ps (_mm256_add_ps (_mm256_add_ps (e0, o0), e1), o1);
      /* the masks as the scalar loop reads them: bit 0 of the four bytes' AND */
      __m128i ma = _mm_loadu_si128 ((const __m128i *) (m0 + x)), mb = _mm_loadu_si128 ((const __m128i *) (m1 + x));
      __m128i z = _mm_setzero_si128 (), t = _mm_and_si128 (ma, mb);
      __m128i bit = _mm_and_si128 (_mm_and_si128 (t, _mm_srli_epi16 (t, 8)), _mm_set1_epi16 (1));
      __m256i ok = _mm256_cvtepi16_epi32 (_mm_cmpeq_epi16 (bit, _mm_set1_epi16 (1)));
      _mm256_storeu_ps (o + u, _mm256_blendv_ps (_mm256_set1_ps (NAN), sum, _mm256_castsi256_ps (ok)));
      __m128i okb = _mm_packs_epi16 (_mm_packs_epi32 (_mm256_castsi256_si128 (ok), _mm256_extracti128_si256 (ok, 1)), z);
      okb = _mm_and_si128 (okb, _mm_set1_epi8 (1));
      _mm_storel_epi64 ((__m128i *) (om + u), okb);
    }
  for (; u < sw; u++)
    {
      int x = 2 * u;
      guint8 ok = 1 & m0[x] & m0[x + 1] & m1[x] & m1[x + 1];
      o[u] = ok ? r0[x] + r0[x + 1] + r1[x] + r1[x + 1] : NAN;
      om[u] = ok;
    }
}

/* one cell of the row below, as the scalar loop of tsr_drizzle_cell_luma computes it */
static inline __attribute__ ((always_inline)) void
cell_bilinear_one (double fx, double fy, const float *cd, int sw, int sh, float *o, guint8 *om)
{
  if (!(fx >= 0 && fy >= 0 && fx < sw - 1 && fy < sh - 1))
    {
      *o = 0.0f;
      *om = 0;
      return;
    }
  int x0 = (int) fx, y0 = (int) fy;
  float ax = (float) (fx - x0), ay = (float) (fy - y0);
  gsize k = (gsize) y0 * sw + x0;
  float top = cd[k] + ax * (cd[k + 1] - cd[k]), bot = cd[k + sw] + ax * (cd[k + sw + 1] - cd[k + sw]);
  float v = top + ay * (bot - top);
  *om = !isnan (v);
  *o = isnan (v) ? 0.0f : v;
}

/* One row of tsr_drizzle_cell_luma's bilinear resampling, eight cells a step (AVX2; plain
 * loads where the eight cells' corners are neighbours in one row, as for a frame near the
 * reference's orientation, gathers elsewhere: gathers alone were 2.0 % of M94's CPU, the
 * loads bring it to 0.5 %): the same operations on each cell as the scalar loop there, so
 * the same values. An invalid
 * cell holds NaN (the cell image is built so), which reaches every result that reads it: a
 * result is valid exactly when it is not NaN. A block with a position outside the cells
 * takes the scalar form. */
static __attribute__ ((target ("avx2"))) void
cell_bilinear_row_avx2 (const double *fxr, const double *fyr, int ow, const float *cd, int sw, int sh, float *o,
                        guint8 *om)
{
  const __m256d zero = _mm256_setzero_pd (), xmax = _mm256_set1_pd (sw - 1), ymax = _mm256_set1_pd (sh - 1);
  const __m256i swv = _mm256_set1_epi32 (sw), one = _mm256_set1_epi32 (1), step = _mm256_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7);
  int u = 0;
  for (; u + 8 <= ow; u += 8)
    {
      __m256d fx0 = _mm256_loadu_pd (fxr + u), fx1 = _mm256_loadu_pd (fxr + u + 4);
      __m256d fy0 = _mm256_loadu_pd (fyr + u), fy1 = _mm256_loadu_pd (fyr + u + 4);
      __m256d in0 = _mm256_and_pd (_mm256_and_pd (_mm256_cmp_pd (fx0, zero, _CMP_GE_OQ), _mm256_cmp_pd (fy0, zero, _CMP_GE_OQ)),
                                   _mm256_and_pd (_mm256_cmp_pd (fx0, xmax, _CMP_LT_OQ), _mm256_cmp_pd (fy0, ymax, _CMP_LT_OQ)));
      __m256d in1 = _mm256_and_pd (_mm256_and_pd (_mm256_cmp_pd (fx1, zero, _CMP_GE_OQ), _mm256_cmp_pd (fy1, zero, _CMP_GE_OQ)),
                                   _mm256_and_pd (_mm256_cmp_pd (fx1, xmax, _CMP_LT_OQ), _mm256_cmp_pd (fy1, ymax, _CMP_LT_OQ)));
      if ((_mm256_movemask_pd (in0) & _mm256_movemask_pd (in1)) != 0xf)
        {
          for (int i = 0; i < 8; i++)
            cell_bilinear_one (fxr[u + i], fyr[u + i], cd, sw, sh, o + u + i, om + u + i);
          continue;
        }
      /* x0 = (int) fx (truncation: fx ≥ 0), ax = (float) (fx − x0) */
      __m128i x0a = _mm256_cvttpd_epi32 (fx0), x0b = _mm256_cvttpd_epi32 (fx1);
      __m128i y0a = _mm256_cvttpd_epi32 (fy0), y0b = _mm256_cvttpd_epi32 (fy1);
      __m256 ax = _mm256_set_m128 (_mm256_cvtpd_ps (_mm256_sub_pd (fx1, _mm256_cvtepi32_pd (x0b))),
                                   _mm256_cvtpd_ps (_mm256_sub_pd (fx0, _mm256_cvtepi32_pd (x0a))));
      __m256 ay = _mm256_set_m128 (_mm256_cvtpd_ps (_mm256_sub_pd (fy1, _mm256_cvtepi32_pd (y0b))),
                                   _mm256_cvtpd_ps (_mm256_sub_pd (fy0, _mm256_cvtepi32_pd (y0a))));
      __m256i x0 = _mm256_set_m128i (x0b, x0a), y0 = _mm256_set_m128i (y0b, y0a);
      __m256i k = _mm256_add_epi32 (_mm256_mullo_epi32 (y0, swv), x0), k2 = _mm256_add_epi32 (k, swv);
      __m256 c00, c01, c10, c11;
      const int k0 = _mm256_cvtsi256_si32 (k);
      if (_mm256_movemask_epi8 (_mm256_cmpeq_epi32 (k, _mm256_add_epi32 (_mm256_set1_epi32 (k0), step))) == -1)
        {
          /* eight neighbouring cells of one row (a frame near the reference's orientation):
           * plain loads */
          const float *p = cd + k0;
          c00 = _mm256_loadu_ps (p);
          c01 = _mm256_loadu_ps (p + 1);
          c10 = _mm256_loadu_ps (p + sw);
          c11 = _mm256_loadu_ps (p + sw + 1);
        }
      else
        {
          c00 = _mm256_i32gather_ps (cd, k, 4);
          c01 = _mm256_i32gather_ps (cd, _mm256_add_epi32 (k, one), 4);
          c10 = _mm256_i32gather_ps (cd, k2, 4);
          c11 = _mm256_i32gather_ps (cd, _mm256_add_epi32 (k2, one), 4);
        }
      __m256 top = _mm256_add_ps (c00, _mm256_mul_ps (ax, _mm256_sub_ps (c01, c00)));
      __m256 bot = _mm256_add_ps (c10, _mm256_mul_ps (ax, _mm256_sub_ps (c11, c10)));
      __m256 v = _mm256_add_ps (top, _mm256_mul_ps (ay, _mm256_sub_ps (bot, top)));
      __m256 ok = _mm256_cmp_ps (v, v, _CMP_ORD_Q);
      _mm256_storeu_ps (o + u, _mm256_and_ps (v, ok));
      unsigned okm = (unsigned) _mm256_movemask_ps (ok);
      for (int i = 0; i < 8; i++)
        om[u + i] = (okm >> i) & 1;
    }
  for (; u < ow; u++)
    cell_bilinear_one (fxr[u], fyr[u], cd, sw, sh, o + u, om + u);
}
#endif

static int cell_avx2 = -1;   /* -1: not yet decided */

void
tsr_drizzle_cell_luma_vector (gboolean on)
{
#ifdef TSR_DZ_AVX2
  __builtin_cpu_init ();
  g_atomic_int_set (&cell_avx2, on && __builtin_cpu_supports ("avx2"));
#else
  (void) on;
#endif
}

TsrImage *
tsr_drizzle_cell_luma (const TsrImage *frame, const TsrTransform *T, int width, int height, GError **error)
{
  int fw = frame->width, fh = frame->height, sw = fw / 2, sh = fh / 2;
  if (sw < 2 || sh < 2)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FAILED, _("the frame is too small for Bayer drizzle (%d × %d)"), fw, fh);
      return NULL;
    }
  g_autoptr (TsrImage) cells = tsr_image_new_checked (sw, sh, 1, _("the rejection cells"), error);
  if (!cells)
    return NULL;
#ifdef TSR_DZ_AVX2
  if (g_atomic_int_get (&cell_avx2) < 0)
    {
      __builtin_cpu_init ();
      g_atomic_int_set (&cell_avx2, __builtin_cpu_supports ("avx2") && !g_getenv ("TSR_DRIZZLE_NO_AVX2"));
    }
  const gboolean vec = g_atomic_int_get (&cell_avx2) && (gsize) sw * sh < G_MAXINT32 / 2;
#endif
  for (int v = 0; v < sh; v++)
    {
      const float *r0 = frame->data + (gsize) 2 * v * fw, *r1 = r0 + fw;
      const guint8 *m0 = frame->mask + (gsize) 2 * v * fw, *m1 = m0 + fw;
      float *o = cells->data + (gsize) v * sw;
      guint8 *om = cells->mask + (gsize) v * sw;
#ifdef TSR_DZ_AVX2
      if (vec)
        {
          cell_sums_row_avx2 (r0, r1, m0, m1, sw, o, om);
          continue;
        }
#endif
      for (int u = 0; u < sw; u++)
        {
          int x = 2 * u;
          guint8 ok = 1 & m0[x] & m0[x + 1] & m1[x] & m1[x + 1];
          o[u] = ok ? r0[x] + r0[x + 1] + r1[x] + r1[x + 1] : NAN;
          om[u] = ok;
        }
    }
  /* reference cell u is centred on reference pixel 2u + 0.5, frame cell v on frame pixel
   * 2v + 0.5: the cells' transform is S⁻¹ ∘ T ∘ S with S(u) = 2u + 0.5 */
  TsrTransform S = { { 2, 0, 0.5, 0, 2, 0.5, 0, 0, 1 } }, Si = { { 0.5, 0, -0.25, 0, 0.5, -0.25, 0, 0, 1 } }, Tc;
  tsr_transform_compose (T, &S, &Tc);
  tsr_transform_compose (&Si, &Tc, &Tc);
  int ow = (width + 1) / 2, oh = (height + 1) / 2;
  TsrImage *out = tsr_image_new_checked (ow, oh, 1, _("the rejection cells"), error);
  if (!out)
    return NULL;
  /* bilinear, written out (tsr_warp's general kernels cost 4× this on a frame's worth of
   * cells, and it starts threads of its own inside the workers) */
  const double *m = Tc.m;
  const float *cd = cells->data;
  const guint8 *cm = cells->mask;
  /* each row's frame positions side by side first (row_to_ref's arithmetic: the same values) */
  double *fxr = g_new (double, 2 * (gsize) ow), *fyr = fxr + ow;
  for (int v = 0; v < oh; v++)
    {
      float *o = out->data + (gsize) v * ow;
      guint8 *om = out->mask + (gsize) v * ow;
      row_to_ref (m, v, ow, fxr, fyr);
#ifdef TSR_DZ_AVX2
      if (vec)
        {
          cell_bilinear_row_avx2 (fxr, fyr, ow, cd, sw, sh, o, om);
          continue;
        }
#endif
      for (int u = 0; u < ow; u++)
        {
          double fx = fxr[u], fy = fyr[u];
          if (!(fx >= 0 && fy >= 0 && fx < sw - 1 && fy < sh - 1)) /* NaN too */
            {
              o[u] = 0.0f;
              om[u] = 0;
              continue;
            }
          int x0 = (int) fx, y0 = (int) fy;
          float ax = (float) (fx - x0), ay = (float) (fy - y0);
          gsize k = (gsize) y0 * sw + x0;
          guint8 ok = cm[k] & cm[k + 1] & cm[k + sw] & cm[k + sw + 1];
          float top = cd[k] + ax * (cd[k + 1] - cd[k]), bot = cd[k + sw] + ax * (cd[k + sw + 1] - cd[k + sw]);
          o[u] = ok ? top + ay * (bot - top) : 0.0f;
          om[u] = ok;
        }
    }
  g_free (fxr);
  return out;
}

gboolean
tsr_tbqr_drizzle_choose (const TsrAnalysis *a, const TsrWeights *w, const TsrTbqrParams *p, char **note)
{
  gboolean bayer = a->cfa != TSR_CFA_NONE && a->channels == 1;
  char *msg = NULL;
  gboolean on = FALSE;
  if (p->drizzle == TSR_DRIZZLE_OFF)
    msg = g_strdup (_("drizzle off (drizzle.mode=off)"));
  else if (p->drizzle == TSR_DRIZZLE_ON)
    {
      double cov = tsr_tbqr_drizzle_coverage (a, w, p);
      on = TRUE;
      msg = g_strdup_printf (_("drizzle on (drizzle.mode=on), scale %d, pixfrac %.2f: drops of every colour "
                               "reach %.1f %% of the output pixels, the rest is filled from neighbours"),
                             p->drizzle_scale, p->drizzle_pixfrac, 100.0 * cov);
    }
  else if (!bayer)
    msg = g_strdup (_("drizzle off: drizzle.mode=auto drizzles Bayer sessions only (set drizzle.mode=on to force it)"));
  else if ((int) w->n_used < p->drizzle_min_frames)
    msg = g_strdup_printf (_("drizzle off: %u frames, drizzle.mode=auto needs at least %d (drizzle.min_frames); "
                             "demosaiced instead"),
                           w->n_used, p->drizzle_min_frames);
  else
    {
      double cov = tsr_tbqr_drizzle_coverage (a, w, p);
      if (cov >= p->drizzle_min_coverage)
        {
          on = TRUE;
          msg = g_strdup_printf (_("drizzle on: %u frames dithered enough that drops of every colour reach %.1f %% "
                                   "of the output pixels (scale %d, pixfrac %.2f; drizzle.mode=off to demosaic instead)"),
                                 w->n_used, 100.0 * cov, p->drizzle_scale, p->drizzle_pixfrac);
        }
      else
        msg = g_strdup_printf (_("drizzle off: the dither lets drops of every colour reach only %.1f %% of the output "
                                 "pixels (drizzle.min_coverage %.1f %%); demosaiced instead"),
                               100.0 * cov, 100.0 * p->drizzle_min_coverage);
    }
  if (note)
    *note = msg;
  else
    g_free (msg);
  return on;
}
