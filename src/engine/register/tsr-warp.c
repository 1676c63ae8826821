/* tsr-warp.c — resampling a frame into the reference geometry, and phase correlation.
 *
 * See docs/warp.md for the kernels, the CFA-preserving warp, the border/mask rule, the
 * phase-correlation sign convention and the registration correlation CC.
 */
#include "tsr-warp.h"

#include <fftw3.h>
#include <math.h>
#include <string.h>

/* ==================================================================================== */
/* FFTW planner lock                                                                    */

/* The FFTW planner (fftwf_plan_*, fftwf_destroy_plan) is not thread-safe; executing a
 * plan is. Every engine file that plans takes this one lock. */
static GMutex fftw_lock;

void
tsr_fftw_lock (void)
{
  g_mutex_lock (&fftw_lock);
}

void
tsr_fftw_unlock (void)
{
  g_mutex_unlock (&fftw_lock);
}

/* ==================================================================================== */
/* Interpolation names                                                                  */

const char *
tsr_interp_name (TsrInterp i)
{
  switch (i)
    {
    case TSR_INTERP_BICUBIC: return "bicubic";
    case TSR_INTERP_BILINEAR: return "bilinear";
    case TSR_INTERP_LANCZOS3:
    default: return "lanczos3";
    }
}

gboolean
tsr_interp_from_name (const char *name, TsrInterp *out)
{
  if (!name)
    return FALSE;
  for (int i = TSR_INTERP_LANCZOS3; i <= TSR_INTERP_BILINEAR; i++)
    if (g_ascii_strcasecmp (name, tsr_interp_name (i)) == 0)
      {
        if (out)
          *out = i;
        return TRUE;
      }
  return FALSE;
}

/* ==================================================================================== */
/* Kernels                                                                              */

#define LANCZOS_PHASES 4096
#define MAX_TAPS 6

/* lanczos_lut[p][k]: weight of tap k (at floor(u) − 2 + k) for the fractional position
 * f = p / LANCZOS_PHASES; rows normalised to sum 1; rows 0 and LANCZOS_PHASES are exact
 * deltas. Written once (g_once), read-only afterwards. */
static float lanczos_lut[LANCZOS_PHASES + 1][6];
/* The same rows padded to 8 (aligned; weights 6 and 7 zero), and whether row p has a zero
 * weight: for the block kernel (grid6_block), which transposes 8 rows into per-tap vectors
 * with one phase per lane. */
static float lanczos_lut8[LANCZOS_PHASES + 1][8] __attribute__ ((aligned (32)));
static guint8 lanczos_lut_zero[LANCZOS_PHASES + 1];

static double
lanczos3 (double d)
{
  d = fabs (d);
  if (d < 1e-12)
    return 1.0;
  if (d >= 3.0)
    return 0.0;
  double a = G_PI * d;
  return 3.0 * sin (a) * sin (a / 3.0) / (a * a);
}

static void
lanczos_lut_init (void)
{
  static gsize done = 0;
  if (g_once_init_enter (&done))
    {
      for (int p = 0; p <= LANCZOS_PHASES; p++)
        {
          /* Taps at distances d_k = (k − 2) − f. The windowed sinc reproduces neither
           * constants nor ramps exactly; add the smallest correction c0 + c1·d_k that makes
           * Σw = 1 and Σw·d = 0 (no DC error, no position bias on gradients). This cuts the
           * low-frequency error ~30× and is no worse above 0.1 cycles/px (docs/warp.md). */
          double f = (double) p / LANCZOS_PHASES, w[6], d[6];
          double s0 = 0, s1 = 0, sd = 0, sdd = 0;
          for (int k = 0; k < 6; k++)
            {
              d[k] = (k - 2) - f;
              w[k] = lanczos3 (d[k]);
              s0 += w[k];
              s1 += w[k] * d[k];
              sd += d[k];
              sdd += d[k] * d[k];
            }
          double b0 = 1.0 - s0, b1 = -s1, det = 6.0 * sdd - sd * sd;
          double c0 = (b0 * sdd - b1 * sd) / det, c1 = (6.0 * b1 - sd * b0) / det;
          for (int k = 0; k < 6; k++)
            lanczos_lut[p][k] = (float) (w[k] + c0 + c1 * d[k]);
        }
      memset (lanczos_lut[0], 0, sizeof lanczos_lut[0]);
      lanczos_lut[0][2] = 1.0f;
      memset (lanczos_lut[LANCZOS_PHASES], 0, sizeof lanczos_lut[0]);
      lanczos_lut[LANCZOS_PHASES][3] = 1.0f;
      for (int p = 0; p <= LANCZOS_PHASES; p++)
        for (int k = 0; k < 6; k++)
          {
            lanczos_lut8[p][k] = lanczos_lut[p][k];
            lanczos_lut_zero[p] |= lanczos_lut[p][k] == 0.0f;
          }
      g_once_init_leave (&done, 1);
    }
}

/* Number of taps and index of the tap at floor(u) for each kernel. */
static int
kernel_taps (TsrInterp k)
{
  return k == TSR_INTERP_BILINEAR ? 2 : k == TSR_INTERP_BICUBIC ? 4 : 6;
}

/* Keys cubic convolution, a = −0.5 (Catmull-Rom). */
static inline double
keys (double d)
{
  d = fabs (d);
  if (d <= 1.0)
    return (1.5 * d - 2.5) * d * d + 1.0;
  if (d < 2.0)
    return ((-0.5 * d + 2.5) * d - 4.0) * d + 2.0;
  return 0.0;
}

static inline void
kernel_weights (TsrInterp k, double f, float *w)
{
  switch (k)
    {
    case TSR_INTERP_BILINEAR:
      w[0] = (float) (1.0 - f);
      w[1] = (float) f;
      break;
    case TSR_INTERP_BICUBIC:
      if (f == 0.0)
        {
          w[0] = w[2] = w[3] = 0.0f;
          w[1] = 1.0f;
        }
      else
        {
          w[0] = (float) keys (f + 1);
          w[1] = (float) keys (f);
          w[2] = (float) keys (1 - f);
          w[3] = (float) keys (2 - f);
        }
      break;
    case TSR_INTERP_LANCZOS3:
    default:
      {
        int p = (int) (f * LANCZOS_PHASES + 0.5);
        p = CLAMP (p, 0, LANCZOS_PHASES);
        memcpy (w, lanczos_lut[p], 6 * sizeof (float));
      }
      break;
    }
}

/* ==================================================================================== */
/* Warp                                                                                 */

/* A sampling lattice of one colour in the source: full-resolution position of lattice
 * point (i, j) is (ox + i·ax + j·bx, oy + i·ay + j·by). */
typedef struct
{
  int ox, oy;
  int ax, ay, bx, by;
  double inv[4];       /* (qx − ox, qy − oy) → (u, v) */
  gssize sa, sb;       /* memory strides of i and j */
} Lattice;

static void
lattice_set (Lattice *l, int ox, int oy, int ax, int ay, int bx, int by, int width)
{
  l->ox = ox;
  l->oy = oy;
  l->ax = ax;
  l->ay = ay;
  l->bx = bx;
  l->by = by;
  double det = (double) ax * by - (double) bx * ay;
  l->inv[0] = by / det;
  l->inv[1] = -bx / det;
  l->inv[2] = -ay / det;
  l->inv[3] = ax / det;
  l->sa = ax + (gssize) ay * width;
  l->sb = bx + (gssize) by * width;
}

typedef struct
{
  const TsrImage *src;
  const TsrTransform *t;
  TsrImage *out;
  TsrCfa out_cfa;
  TsrInterp interp;
  int n, c0;                  /* taps, index of the floor tap */
  Lattice lat[3];             /* per colour (CFA) or lat[0] (mono/RGB) */
  gboolean cfa;
  gint32 *bad;                /* (W+1)×(H+1) integral image of invalid samples, or NULL */
  gint next_row;
} WarpJob;

#define ROW_CHUNK 8

static inline gboolean
bbox_clean (const WarpJob *job, int x0, int y0, int x1, int y1)
{
  const int W = job->src->width, H = job->src->height;
  if (x0 < 0 || y0 < 0 || x1 >= W || y1 >= H)
    return FALSE;
  if (!job->bad)
    return TRUE;
  const gint32 *I = job->bad;
  gssize s = W + 1;
  return I[(y1 + 1) * s + x1 + 1] - I[y0 * s + x1 + 1] - I[(y1 + 1) * s + x0] + I[y0 * s + x0] == 0;
}

/* Fast separable accumulation, all taps valid. n is a compile-time constant in the
 * specialised calls below. */
static inline float
accum_fast (const float *base, gssize sa, gssize sb, const float *wu, const float *wv, int n)
{
  float acc = 0.0f;
  for (int l = 0; l < n; l++)
    {
      if (wv[l] == 0.0f)
        continue;
      const float *row = base + l * sb;
      float s = 0.0f;
      for (int k = 0; k < n; k++)
        s += wu[k] * row[k * sa];
      acc += wv[l] * s;
    }
  return acc;
}

/* The same sums for three planes at once (RGB): the three channels' dependency chains run
 * side by side and the taps' weights are loaded once. Per channel the arithmetic, and
 * its order, is that of accum_fast: the results are bit-identical. */
static inline void
accum_fast3 (const float *b0, const float *b1, const float *b2, gssize sa, gssize sb, const float *wu,
             const float *wv, int n, float out[3])
{
  float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f;
  for (int l = 0; l < n; l++)
    {
      if (wv[l] == 0.0f)
        continue;
      const float *r0 = b0 + l * sb, *r1 = b1 + l * sb, *r2 = b2 + l * sb;
      float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f;
      for (int k = 0; k < n; k++)
        {
          float w = wu[k];
          s0 += w * r0[k * sa];
          s1 += w * r1[k * sa];
          s2 += w * r2[k * sa];
        }
      a0 += wv[l] * s0;
      a1 += wv[l] * s1;
      a2 += wv[l] * s2;
    }
  out[0] = a0, out[1] = a1, out[2] = a2;
}

/* Lanczos-3 on three unit-stride planes (the RGB case): taps 0–3 of each row in one
 * 4-lane vector, taps 4–5 as scalars, rows summed in the vector and reduced once per
 * channel. GCC's generic vector extension: SSE on x86-64, NEON on ARM, plain code
 * elsewhere. The sum order differs from accum_fast3 (last-bit differences only). */
typedef float TsrV4 __attribute__ ((vector_size (16)));

static inline TsrV4
load4 (const float *p)
{
  TsrV4 v;
  memcpy (&v, p, sizeof v);
  return v;
}

static inline void
accum6_rgb (const float *b0, const float *b1, const float *b2, gssize sb, const float *wu,
            const float *wv, float out[3])
{
  const TsrV4 w4 = load4 (wu);
  const float w4s = wu[4], w5s = wu[5];
  TsrV4 v0 = { 0, 0, 0, 0 }, v1 = v0, v2 = v0;
  float t0 = 0.0f, t1 = 0.0f, t2 = 0.0f;
  for (int l = 0; l < 6; l++)
    {
      const float wl = wv[l];
      if (wl == 0.0f)
        continue;
      const float *r0 = b0 + l * sb, *r1 = b1 + l * sb, *r2 = b2 + l * sb;
      const TsrV4 ww = w4 * wl;
      v0 += ww * load4 (r0);
      v1 += ww * load4 (r1);
      v2 += ww * load4 (r2);
      t0 += wl * (w4s * r0[4] + w5s * r0[5]);
      t1 += wl * (w4s * r1[4] + w5s * r1[5]);
      t2 += wl * (w4s * r2[4] + w5s * r2[5]);
    }
  out[0] = (v0[0] + v0[1]) + (v0[2] + v0[3]) + t0;
  out[1] = (v1[0] + v1[1]) + (v1[2] + v1[3]) + t1;
  out[2] = (v2[0] + v2[1]) + (v2[2] + v2[3]) + t2;
}

static inline void warp_pixel (WarpJob *job, int x, int y, float *wu, float *wv);

/* Function multiversioning: on x86-64 with glibc (ifunc) the block kernel below is also
 * compiled for AVX2 and picked at load time; elsewhere only the baseline build exists. No
 * FMA: the AVX2 clone must round exactly as the baseline code (and -std=c11 does not
 * contract a * b + c anyway). */
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__has_attribute)
#if __has_attribute (target_clones)
#define TSR_CLONES_AVX2 __attribute__ ((target_clones ("avx2", "default")))
#endif
#endif
#ifndef TSR_CLONES_AVX2
#define TSR_CLONES_AVX2
#endif

/* Blocks of GRID_BLOCK adjacent output pixels of one row, one pixel per vector lane. */
#define GRID_BLOCK 8
typedef float TsrV8 __attribute__ ((vector_size (GRID_BLOCK * sizeof (float))));
typedef double TsrV4d __attribute__ ((vector_size (4 * sizeof (double))));
typedef long long TsrV4l __attribute__ ((vector_size (4 * sizeof (long long))));
typedef int TsrV4i __attribute__ ((vector_size (4 * sizeof (int))));

static inline void
load8 (TsrV8 *v, const float *p)
{
  memcpy (v, p, sizeof *v);
}

/* Two-operand shuffle of TsrV8 vectors; indices 0–7 pick from a, 8–15 from b. */
#if defined(__clang__)
#define SHUF8(a, b, ...) __builtin_shufflevector (a, b, __VA_ARGS__)
#else
typedef int TsrI8 __attribute__ ((vector_size (GRID_BLOCK * sizeof (int))));
#define SHUF8(a, b, ...) __builtin_shuffle (a, b, (TsrI8) { __VA_ARGS__ })
#endif

/* w[k], lane i = lanczos_lut8[p[i]][k] for k < 6: an 8 × 8 transpose (unpacks within
 * 128-bit halves, then 64-bit pairs, then halves), the last two outputs unused. */
static inline void
lut_transpose8 (const int *p, TsrV8 *w)
{
  TsrV8 r[8], t[8], s[8];
  for (int i = 0; i < 8; i++)
    load8 (&r[i], lanczos_lut8[p[i]]);
  for (int i = 0; i < 8; i += 2)
    {
      t[i] = SHUF8 (r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);      /* taps 0 1 | 4 5 */
      t[i + 1] = SHUF8 (r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15); /* taps 2 3 | 6 7 */
    }
  for (int i = 0; i < 8; i += 4)
    {
      s[i] = SHUF8 (t[i], t[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);         /* tap 0 | 4 */
      s[i + 1] = SHUF8 (t[i], t[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);   /* tap 1 | 5 */
      s[i + 2] = SHUF8 (t[i + 1], t[i + 3], 0, 1, 8, 9, 4, 5, 12, 13); /* tap 2 | 6 */
      s[i + 3] = SHUF8 (t[i + 1], t[i + 3], 2, 3, 10, 11, 6, 7, 14, 15); /* tap 3 | 7 */
    }
  w[0] = SHUF8 (s[0], s[4], 0, 1, 2, 3, 8, 9, 10, 11);
  w[1] = SHUF8 (s[1], s[5], 0, 1, 2, 3, 8, 9, 10, 11);
  w[2] = SHUF8 (s[2], s[6], 0, 1, 2, 3, 8, 9, 10, 11);
  w[3] = SHUF8 (s[3], s[7], 0, 1, 2, 3, 8, 9, 10, 11);
  w[4] = SHUF8 (s[0], s[4], 4, 5, 6, 7, 12, 13, 14, 15);
  w[5] = SHUF8 (s[1], s[5], 4, 5, 6, 7, 12, 13, 14, 15);
}

/* The grid6 case for GRID_BLOCK output pixels (x0 …) of row y at once, when all of them
 * take accum6_rgb's path and their footprints are one 6×6 block sliding by one column per
 * pixel (a transform near unit scale, away from edges and masked samples). Each lane does
 * accum6_rgb's arithmetic for its pixel, operation for operation and in the same order —
 * tap k's partial sum is lane k of accum6_rgb's vector, taps 4–5 its scalar — so the
 * results are bit-identical; the lanes only remove the per-pixel horizontal reductions and
 * scalar tails. Returns FALSE (nothing written) when the block does not qualify. */
static TSR_CLONES_AVX2 gboolean
grid6_block (const WarpJob *job, int x0, int y)
{
  const TsrImage *src = job->src;
  TsrImage *out = job->out;
  const int W = src->width, H = src->height, OW = out->width;
  const double *m = job->t->m;
  const gsize onpix = tsr_image_npix (out), snpix = tsr_image_npix (src);
  /* The per-pixel prelude of the grid6 loop (position, floor, phases of kernel_weights),
   * 4 pixels per double vector: the same operations lane by lane. */
  int iu[GRID_BLOCK], iv[GRID_BLOCK], pu[GRID_BLOCK], pv[GRID_BLOCK];
  const double m1y = m[1] * y, m4y = m[4] * y;
  for (int h = 0; h < GRID_BLOCK; h += 4)
    {
      const TsrV4d xd = { x0 + h, x0 + h + 1, x0 + h + 2, x0 + h + 3 };
      const TsrV4d qx = m[0] * xd + m1y + m[2];
      const TsrV4d qy = m[3] * xd + m4y + m[5];
      const TsrV4l in = (qx >= -0.5) & (qx <= W - 0.5) & (qy >= -0.5) & (qy <= H - 0.5);
      if (!(in[0] & in[1] & in[2] & in[3]))
        return FALSE;
      /* floor() as in warp_rows: truncate, then one down where that rounded up */
      TsrV4i u = __builtin_convertvector (qx, TsrV4i), v = __builtin_convertvector (qy, TsrV4i);
      u += __builtin_convertvector (qx < __builtin_convertvector (u, TsrV4d), TsrV4i);
      v += __builtin_convertvector (qy < __builtin_convertvector (v, TsrV4d), TsrV4i);
      TsrV4i fu = __builtin_convertvector ((qx - __builtin_convertvector (u, TsrV4d)) * LANCZOS_PHASES + 0.5,
                                           TsrV4i);
      TsrV4i fv = __builtin_convertvector ((qy - __builtin_convertvector (v, TsrV4d)) * LANCZOS_PHASES + 0.5,
                                           TsrV4i);
      /* CLAMP (f, 0, LANCZOS_PHASES) */
      fu &= fu > 0;
      fv &= fv > 0;
      fu = (fu & (fu <= LANCZOS_PHASES)) | (LANCZOS_PHASES & (fu > LANCZOS_PHASES));
      fv = (fv & (fv <= LANCZOS_PHASES)) | (LANCZOS_PHASES & (fv > LANCZOS_PHASES));
      memcpy (iu + h, &u, sizeof u);
      memcpy (iv + h, &v, sizeof v);
      memcpy (pu + h, &fu, sizeof fu);
      memcpy (pv + h, &fv, sizeof fv);
    }
  const int bx0 = iu[0] - 2, by0 = iv[0] - 2;
  gboolean ok = TRUE;
  for (int i = 0; i < GRID_BLOCK; i++)
    /* one 6×6 block sliding by a column; accum6_rgb skips rows of weight zero (and so the
     * taps there, whatever they hold): leave those to it */
    ok &= (iu[i] == iu[0] + i) & (iv[i] == iv[0]) & !lanczos_lut_zero[pv[i]];
  if (!ok)
    return FALSE;
  if (!bbox_clean (job, bx0, by0, bx0 + GRID_BLOCK - 1 + 5, by0 + 5))
    return FALSE;

  /* ww[l][k] = wu[k] · wv[l] for taps 0–3 (accum6_rgb's w4 * wl) */
  TsrV8 wu[6], wl[6], ww[6][4];
  lut_transpose8 (pu, wu);
  lut_transpose8 (pv, wl);
  const TsrV8 w4 = wu[4], w5 = wu[5];
  for (int l = 0; l < 6; l++)
    for (int k = 0; k < 4; k++)
      ww[l][k] = wu[k] * wl[l];
  const gsize oi = (gsize) y * OW + x0;
  for (int c = 0; c < 3; c++)
    {
      const float *b = src->data + c * snpix + (gssize) by0 * W + bx0;
      TsrV8 v0 = { 0 }, v1 = v0, v2 = v0, v3 = v0, t = v0;
      for (int l = 0; l < 6; l++)
        {
          const float *r = b + (gssize) l * W;
          TsrV8 r0, r1, r2, r3, r4, r5;
          load8 (&r0, r);
          load8 (&r1, r + 1);
          load8 (&r2, r + 2);
          load8 (&r3, r + 3);
          load8 (&r4, r + 4);
          load8 (&r5, r + 5);
          v0 += ww[l][0] * r0;
          v1 += ww[l][1] * r1;
          v2 += ww[l][2] * r2;
          v3 += ww[l][3] * r3;
          t += wl[l] * (w4 * r4 + w5 * r5);
        }
      TsrV8 res = (v0 + v1) + (v2 + v3) + t;
      memcpy (out->data + c * onpix + oi, &res, sizeof res);
    }
  memset (out->mask + oi, 1, GRID_BLOCK);
  return TRUE;
}

static void
warp_rows (WarpJob *job, int y_begin, int y_end)
{
  const TsrImage *src = job->src;
  TsrImage *out = job->out;
  const int W = src->width, H = src->height, OW = out->width, nch = out->channels;
  const int n = job->n, c0 = job->c0;
  const double *m = job->t->m;
  const gsize onpix = tsr_image_npix (out), snpix = tsr_image_npix (src);
  float wu[MAX_TAPS], wv[MAX_TAPS];
  const gboolean affine = m[6] == 0 && m[7] == 0 && m[8] == 1;
  const Lattice *L0 = &job->lat[0];
  /* RGB (and mono) Lanczos-3 under an affine map: the lattice is the pixel grid, so the
   * footprint is the 6×6 block at (floor − 2): no lattice algebra per pixel */
  const gboolean grid6 = !job->cfa && affine && nch == 3 && n == 6 && L0->ox == 0 && L0->oy == 0
                         && L0->ax == 1 && L0->ay == 0 && L0->bx == 0 && L0->by == 1 && L0->sa == 1;

  for (int y = y_begin; y < y_end; y++)
    {
    if (grid6)
      {
        for (int x = 0; x < OW; x++)
          {
            /* a block of pixels at once where it qualifies; otherwise the block's pixels
             * one by one */
            if (x % GRID_BLOCK == 0 && x + GRID_BLOCK <= OW && grid6_block (job, x, y))
              {
                x += GRID_BLOCK - 1;
                continue;
              }
            gsize oi = (gsize) y * OW + x;
            double qx = m[0] * x + m[1] * y + m[2];
            double qy = m[3] * x + m[4] * y + m[5];
            int iu = (int) qx, iv = (int) qy;
            iu -= qx < iu;
            iv -= qy < iv;
            int bx0 = iu - c0, by0 = iv - c0;
            /* inside the frame with every tap valid: the fast sum; otherwise the general
             * per-pixel path below handles it (edges, masked samples) */
            if (qx >= -0.5 && qx <= W - 0.5 && qy >= -0.5 && qy <= H - 0.5
                && bbox_clean (job, bx0, by0, bx0 + 5, by0 + 5))
              {
                kernel_weights (job->interp, qx - iu, wu);
                kernel_weights (job->interp, qy - iv, wv);
                const float *b0 = src->data + (gssize) by0 * W + bx0;
                float r[3];
                accum6_rgb (b0, b0 + snpix, b0 + 2 * snpix, L0->sb, wu, wv, r);
                out->data[oi] = r[0];
                out->data[onpix + oi] = r[1];
                out->data[2 * onpix + oi] = r[2];
                out->mask[oi] = 1;
              }
            else
              warp_pixel (job, x, y, wu, wv);
          }
        continue;
      }
    for (int x = 0; x < OW; x++)
      warp_pixel (job, x, y, wu, wv);
    }
}

/* One output pixel, any lattice, kernel or transform. */
static inline void
warp_pixel (WarpJob *job, int x, int y, float *wu, float *wv)
{
  const TsrImage *src = job->src;
  TsrImage *out = job->out;
  const int W = src->width, H = src->height, OW = out->width, nch = out->channels;
  const int n = job->n, c0 = job->c0;
  const double *m = job->t->m;
  const gsize onpix = tsr_image_npix (out), snpix = tsr_image_npix (src);
  const gboolean affine = m[6] == 0 && m[7] == 0 && m[8] == 1;
      {
        gsize oi = (gsize) y * OW + x;
        double qx = m[0] * x + m[1] * y + m[2];
        double qy = m[3] * x + m[4] * y + m[5];
        if (!affine)
          {
            double w = m[6] * x + m[7] * y + m[8];
            if (w == 0)
              w = 1e-300;
            qx /= w;
            qy /= w;
          }
        /* invalid until a value is written: zero samples (the output is not zeroed) */
        out->mask[oi] = 0;
        if (!(qx >= -0.5 && qx <= W - 0.5 && qy >= -0.5 && qy <= H - 0.5))
          {
            for (int c = 0; c < nch; c++)
              out->data[c * onpix + oi] = 0.0f;
            return;
          }
        const Lattice *L = job->cfa ? &job->lat[tsr_cfa_color (job->out_cfa, x, y)] : &job->lat[0];
        double du = qx - L->ox, dv = qy - L->oy;
        double u = L->inv[0] * du + L->inv[1] * dv;
        double v = L->inv[2] * du + L->inv[3] * dv;
        /* floor() without a libm call (no SSE4.1 rounding in the baseline ISA); |u|, |v|
         * are bounded by the frame size here. */
        int iu = (int) u, iv = (int) v;
        iu -= u < iu;
        iv -= v < iv;
        kernel_weights (job->interp, u - iu, wu);
        kernel_weights (job->interp, v - iv, wv);
        int i0 = iu - c0, j0 = iv - c0;
        /* Full-resolution bounding box of the footprint (corners of the (i, j) range). */
        int xs[4], ys[4];
        for (int c = 0; c < 4; c++)
          {
            int i = i0 + (c & 1 ? n - 1 : 0), j = j0 + (c & 2 ? n - 1 : 0);
            xs[c] = L->ox + i * L->ax + j * L->bx;
            ys[c] = L->oy + i * L->ay + j * L->by;
          }
        int bx0 = MIN (MIN (xs[0], xs[1]), MIN (xs[2], xs[3]));
        int bx1 = MAX (MAX (xs[0], xs[1]), MAX (xs[2], xs[3]));
        int by0 = MIN (MIN (ys[0], ys[1]), MIN (ys[2], ys[3]));
        int by1 = MAX (MAX (ys[0], ys[1]), MAX (ys[2], ys[3]));
        gssize boff = (gssize) (L->oy + i0 * L->ay + j0 * L->by) * W + (L->ox + i0 * L->ax + j0 * L->bx);

        if (bbox_clean (job, bx0, by0, bx1, by1))
          {
            if (nch == 3)
              {
                const float *b0 = src->data + boff;
                float r[3];
                switch (n)
                  {
                  case 6:
                    if (L->sa == 1)
                      accum6_rgb (b0, b0 + snpix, b0 + 2 * snpix, L->sb, wu, wv, r);
                    else
                      accum_fast3 (b0, b0 + snpix, b0 + 2 * snpix, L->sa, L->sb, wu, wv, 6, r);
                    break;
                  case 4: accum_fast3 (b0, b0 + snpix, b0 + 2 * snpix, L->sa, L->sb, wu, wv, 4, r); break;
                  default: accum_fast3 (b0, b0 + snpix, b0 + 2 * snpix, L->sa, L->sb, wu, wv, 2, r); break;
                  }
                out->data[oi] = r[0];
                out->data[onpix + oi] = r[1];
                out->data[2 * onpix + oi] = r[2];
                out->mask[oi] = 1;
                return;
              }
            for (int c = 0; c < nch; c++)
              {
                const float *base = src->data + c * snpix + boff;
                float r;
                switch (n)
                  {
                  case 6: r = accum_fast (base, L->sa, L->sb, wu, wv, 6); break;
                  case 4: r = accum_fast (base, L->sa, L->sb, wu, wv, 4); break;
                  default: r = accum_fast (base, L->sa, L->sb, wu, wv, 2); break;
                  }
                out->data[c * onpix + oi] = r;
              }
            out->mask[oi] = 1;
            return;
          }

        /* Slow path: check every tap. The taps of the central 2×2 (the bilinear support)
         * must be valid wherever their weight is not zero; other invalid taps are left
         * out and the remaining weights renormalised. */
        float acc[3] = { 0, 0, 0 }, wsum = 0.0f;
        gboolean ok = TRUE;
        for (int l = 0; l < n && ok; l++)
          for (int k = 0; k < n; k++)
            {
              float wt = wu[k] * wv[l];
              if (wt == 0.0f)
                continue;
              int i = i0 + k, j = j0 + l;
              int sx = L->ox + i * L->ax + j * L->bx, sy = L->oy + i * L->ay + j * L->by;
              gboolean valid = sx >= 0 && sy >= 0 && sx < W && sy < H
                               && src->mask[(gsize) sy * W + sx];
              if (!valid)
                {
                  if ((k == c0 || k == c0 + 1) && (l == c0 || l == c0 + 1) && fabsf (wt) > 1e-6f)
                    {
                      ok = FALSE;
                      break;
                    }
                  continue;
                }
              gsize si = (gsize) sy * W + sx;
              for (int c = 0; c < nch; c++)
                acc[c] += wt * src->data[c * snpix + si];
              wsum += wt;
            }
        if (!ok || wsum < 0.5f)
          {
            for (int c = 0; c < nch; c++)
              out->data[c * onpix + oi] = 0.0f;
            return;
          }
        for (int c = 0; c < nch; c++)
          out->data[c * onpix + oi] = acc[c] / wsum;
        out->mask[oi] = 1;
      }
}

static gpointer
warp_worker (gpointer data)
{
  WarpJob *job = data;
  for (;;)
    {
      int y0 = g_atomic_int_add (&job->next_row, ROW_CHUNK);
      if (y0 >= job->out->height)
        break;
      warp_rows (job, y0, MIN (y0 + ROW_CHUNK, job->out->height));
    }
  return NULL;
}

TsrImage *
tsr_warp (const TsrImage *src, const TsrTransform *t, int out_w, int out_h, TsrCfa out_cfa,
          TsrInterp interp)
{
  g_return_val_if_fail (src != NULL && t != NULL, NULL);
  g_return_val_if_fail (out_w > 0 && out_h > 0, NULL);
  if (interp < TSR_INTERP_LANCZOS3 || interp > TSR_INTERP_BILINEAR)
    interp = TSR_INTERP_LANCZOS3;
  lanczos_lut_init ();

  const int W = src->width, H = src->height;
  gboolean cfa = src->cfa != TSR_CFA_NONE && src->channels == 1;
  /* every output pixel is written by warp_rows (value and mask, zeros where invalid) */
  TsrImage *out = tsr_image_new_uninit (out_w, out_h, src->channels);
  if (!out)
    return NULL;
  tsr_header_free (out->header);
  out->header = tsr_header_copy (src->header);
  if (cfa && out_cfa == TSR_CFA_NONE)
    out_cfa = src->cfa;
  out->cfa = cfa ? out_cfa : TSR_CFA_NONE;

  WarpJob job = { 0 };
  job.src = src;
  job.t = t;
  job.out = out;
  job.out_cfa = out_cfa;
  job.interp = interp;
  job.n = kernel_taps (interp);
  job.c0 = job.n / 2 - 1;
  job.cfa = cfa;
  if (!cfa)
    lattice_set (&job.lat[0], 0, 0, 1, 0, 0, 1, W);
  else
    {
      for (int oy = 0; oy < 2; oy++)
        for (int ox = 0; ox < 2; ox++)
          {
            int c = tsr_cfa_color (src->cfa, ox, oy);
            if (c != TSR_GREEN)
              lattice_set (&job.lat[c], ox, oy, 2, 0, 0, 2, W);
          }
      /* Green: quincunx lattice, basis (1,1) and (1,−1) from the green site of row 0. */
      int gx = tsr_cfa_color (src->cfa, 0, 0) == TSR_GREEN ? 0 : 1;
      lattice_set (&job.lat[TSR_GREEN], gx, 0, 1, 1, 1, -1, W);
    }

  gsize npix = tsr_image_npix (src);
  if (tsr_image_count_valid (src) != npix)
    {
      gssize s = W + 1;
      job.bad = g_new0 (gint32, (gsize) s * (H + 1));
      for (int y = 0; y < H; y++)
        {
          gint32 rowsum = 0;
          for (int x = 0; x < W; x++)
            {
              rowsum += src->mask[(gsize) y * W + x] ? 0 : 1;
              job.bad[(y + 1) * s + x + 1] = job.bad[y * s + x + 1] + rowsum;
            }
        }
    }

  int nthreads = (gsize) out_w * out_h < 65536 ? 1 : MIN ((int) g_get_num_processors (), 8);
  if (nthreads <= 1)
    warp_worker (&job);
  else
    {
      GThread *th[8];
      for (int i = 0; i < nthreads - 1; i++)
        th[i] = g_thread_new ("tsr-warp", warp_worker, &job);
      warp_worker (&job);
      for (int i = 0; i < nthreads - 1; i++)
        g_thread_join (th[i]);
    }
  g_free (job.bad);
  return out;
}

/* ==================================================================================== */
/* Phase correlation                                                                    */

/* Spectral weighting of the cross-power spectrum: C = P / |P|^PC_BETA · exp(−f²/2σ²) with
 * σ = PC_LP_SIGMA cycles/px. Pure phase correlation (β = 1, no weight) gives every
 * frequency the same vote, so noise, compression blocks and interpolation errors at high
 * frequencies bias it; on the lunar frames this weighting cut the triangle inconsistency
 * of registrations from 0.21 to 0.03 px and it improves the synthetic cases too
 * (docs/warp.md). */
#define PC_LP_SIGMA 0.1
#define PC_BETA 0.75   /* m^−3/4 = 1/(√m·√√m): no pow() in the inner loop */

typedef struct
{
  int w, h, hw;
  float *buf;              /* w × h real */
  fftwf_complex *fa, *fb;  /* h × hw */
  float *winx, *winy;       /* scratch: the windows of the block being transformed */
  gboolean win_x, win_y;    /* window (and treat as non-periodic) along x / y */
  double norm;              /* 1 / Σ|C| of the last cross-power spectrum */
  double lp_sigma;          /* Gaussian spectral weight, cycles/px (0: none) */
  double beta;              /* whitening exponent: C = P / |P|^beta */
  fftwf_plan r2c, c2r;
} Pc;

static void
pc_free (Pc *pc)
{
  if (!pc)
    return;
  tsr_fftw_lock ();
  if (pc->r2c)
    fftwf_destroy_plan (pc->r2c);
  if (pc->c2r)
    fftwf_destroy_plan (pc->c2r);
  tsr_fftw_unlock ();
  fftwf_free (pc->buf);
  fftwf_free (pc->fa);
  fftwf_free (pc->fb);
  g_free (pc->winx);
  g_free (pc->winy);
  g_free (pc);
}

/* Hann window of length len starting at a (real): pixel centre i is at i + 0.5 − a
 * along the window; zero outside. on = FALSE: all ones. */
static void
hann (float *win, int n, gboolean on, double a, double len)
{
  for (int i = 0; i < n; i++)
    {
      double t = (i + 0.5 - a) / len;
      win[i] = !on ? 1.0f : (t <= 0 || t >= 1) ? 0.0f : (float) (0.5 - 0.5 * cos (2.0 * G_PI * t));
    }
}

static Pc *
pc_new (int w, int h, gboolean win_x, gboolean win_y)
{
  Pc *pc = g_new0 (Pc, 1);
  pc->w = w;
  pc->h = h;
  pc->hw = w / 2 + 1;
  pc->buf = fftwf_malloc (sizeof (float) * w * h);
  pc->fa = fftwf_malloc (sizeof (fftwf_complex) * h * pc->hw);
  pc->fb = fftwf_malloc (sizeof (fftwf_complex) * h * pc->hw);
  pc->winx = g_new (float, w);
  pc->winy = g_new (float, h);
  if (!pc->buf || !pc->fa || !pc->fb)
    {
      pc_free (pc);
      return NULL;
    }
  pc->win_x = win_x;
  pc->win_y = win_y;
  pc->lp_sigma = PC_LP_SIGMA;
  pc->beta = PC_BETA;
  tsr_fftw_lock ();
  pc->r2c = fftwf_plan_dft_r2c_2d (h, w, pc->buf, pc->fa, FFTW_ESTIMATE);
  pc->c2r = fftwf_plan_dft_c2r_2d (h, w, pc->fb, pc->buf, FFTW_ESTIMATE);
  tsr_fftw_unlock ();
  if (!pc->r2c || !pc->c2r)
    {
      pc_free (pc);
      return NULL;
    }
  return pc;
}

/* Window-weighted mean removal, Hann window over [ax, ax + lx) × [ay, ay + ly), forward
 * FFT of the w × h block at src (row stride `stride`) into spec. */
static void
pc_forward (Pc *pc, const float *src, gssize stride, double ax, double ay, double lx, double ly,
            fftwf_complex *spec)
{
  const int w = pc->w, h = pc->h;
  hann (pc->winx, w, pc->win_x, ax, lx);
  hann (pc->winy, h, pc->win_y, ay, ly);
  double sw = 0, swx = 0;
  for (int y = 0; y < h; y++)
    {
      const float *row = src + y * stride;
      double rs = 0, ws = 0;
      for (int x = 0; x < w; x++)
        {
          rs += (double) pc->winx[x] * row[x];
          ws += pc->winx[x];
        }
      swx += pc->winy[y] * rs;
      sw += pc->winy[y] * ws;
    }
  float mean = sw > 0 ? (float) (swx / sw) : 0.0f;
  for (int y = 0; y < h; y++)
    {
      const float *row = src + y * stride;
      float *d = pc->buf + (gsize) y * w, wy = pc->winy[y];
      for (int x = 0; x < w; x++)
        d[x] = (row[x] - mean) * pc->winx[x] * wy;
    }
  fftwf_execute_dft_r2c (pc->r2c, pc->buf, spec);
}

/* Evaluate the band-limited correlation surface of the normalised cross-power spectrum C
 * (h × hw half spectrum) on the grid xs[nx] × ys[ny]; out[iy * nx + ix]. */
static void
pc_dft_grid (const Pc *pc, const fftwf_complex *C, const double *xs, int nx, const double *ys,
             int ny, double *out)
{
  const int w = pc->w, h = pc->h, hw = pc->hw;
  double *exr = g_new (double, (gsize) hw * nx), *exi = g_new (double, (gsize) hw * nx);
  double *sr = g_new0 (double, (gsize) h * nx), *si = g_new0 (double, (gsize) h * nx);
  for (int kx = 0; kx < hw; kx++)
    {
      double c = (kx == 0 || (w % 2 == 0 && kx == w / 2)) ? 1.0 : 2.0;
      for (int ix = 0; ix < nx; ix++)
        {
          double a = 2.0 * G_PI * kx * xs[ix] / w;
          exr[kx * nx + ix] = c * cos (a);
          exi[kx * nx + ix] = c * sin (a);
        }
    }
  for (int ky = 0; ky < h; ky++)
    {
      double *r = sr + (gsize) ky * nx, *i = si + (gsize) ky * nx;
      const fftwf_complex *row = C + (gsize) ky * hw;
      for (int kx = 0; kx < hw; kx++)
        {
          double cr = row[kx][0], ci = row[kx][1];
          if (cr == 0 && ci == 0)
            continue;
          const double *er = exr + kx * nx, *ei = exi + kx * nx;
          for (int ix = 0; ix < nx; ix++)
            {
              r[ix] += cr * er[ix] - ci * ei[ix];
              i[ix] += cr * ei[ix] + ci * er[ix];
            }
        }
    }
  for (int iy = 0; iy < ny; iy++)
    for (int ix = 0; ix < nx; ix++)
      out[iy * nx + ix] = 0;
  for (int ky = 0; ky < h; ky++)
    {
      int ks = ky <= h / 2 ? ky : ky - h;
      for (int iy = 0; iy < ny; iy++)
        {
          double a = 2.0 * G_PI * ks * ys[iy] / h, c = cos (a), s = sin (a);
          const double *r = sr + (gsize) ky * nx, *i = si + (gsize) ky * nx;
          double *o = out + iy * nx;
          for (int ix = 0; ix < nx; ix++)
            o[ix] += c * r[ix] - s * i[ix];
        }
    }
  for (int k = 0; k < nx * ny; k++)
    out[k] *= pc->norm;
  g_free (exr);
  g_free (exi);
  g_free (sr);
  g_free (si);
}

static double
parabola_offset (double a, double b, double c)
{
  double den = a - 2 * b + c;
  if (den >= 0)
    return 0;
  double d = 0.5 * (a - c) / den;
  return CLAMP (d, -0.5, 0.5);
}

/* Zoomed search for the maximum of the band-limited correlation surface around (*px, *py)
 * on a grid of 9 × 9 points at spacing step; updates (*px, *py) and *val. */
static void
pc_zoom (const Pc *pc, const fftwf_complex *C, double step, double *px, double *py, double *val,
         gboolean final_fit)
{
  enum { N = 9 };
  double xs[N], ys[N], s[N * N];
  for (int i = 0; i < N; i++)
    {
      xs[i] = *px + (i - N / 2) * step;
      ys[i] = *py + (i - N / 2) * step;
    }
  pc_dft_grid (pc, C, xs, N, ys, N, s);
  int best = 0;
  for (int k = 1; k < N * N; k++)
    if (s[k] > s[best])
      best = k;
  int bx = best % N, by = best / N;
  double ox = 0, oy = 0;
  if (final_fit && bx > 0 && bx < N - 1 && by > 0 && by < N - 1)
    {
      ox = parabola_offset (s[best - 1], s[best], s[best + 1]);
      oy = parabola_offset (s[best - N], s[best], s[best + N]);
    }
  *px = xs[bx] + ox * step;
  *py = ys[by] + oy * step;
  *val = s[best];
}

/* Window placement along one axis for a current shift estimate d: both windows cover the
 * overlap of the two frames, the img window displaced by d, so that the windowed img is
 * the windowed ref shifted by d and the correlation measures only the residual (a fixed
 * window biases the estimate towards zero shift). */
static void
overlap_window (gboolean on, int n, double d, double *a_ref, double *a_img, double *len)
{
  if (!on || fabs (d) > 0.75 * n)
    d = 0;
  *len = n - fabs (d);
  *a_ref = MAX (0.0, -d);
  *a_img = *a_ref + d;
}

/* One phase correlation of two w × h blocks with windows placed for the shift estimate
 * (ex, ey). Returns the shift (dx, dy): img(x + dx, y + dy) ≈ ref(x, y). */
static void
pc_once (Pc *pc, const float *ref, gssize sref, const float *img, gssize simg, double ex, double ey,
         gboolean refine, double *dx, double *dy, double *peak)
{
  const int w = pc->w, h = pc->h, hw = pc->hw;
  const gsize ns = (gsize) h * hw;
  double arx, aix, lx, ary, aiy, ly;
  overlap_window (pc->win_x, w, ex, &arx, &aix, &lx);
  overlap_window (pc->win_y, h, ey, &ary, &aiy, &ly);
  pc_forward (pc, ref, sref, arx, ary, lx, ly, pc->fa);
  pc_forward (pc, img, simg, aix, aiy, lx, ly, pc->fb);
  /* Normalised cross-power C = B·conj(A) / |B·conj(A)|, kept in fa. */
  double msum = 0;
  for (gsize k = 0; k < ns; k++)
    {
      float ar = pc->fa[k][0], ai = pc->fa[k][1], br = pc->fb[k][0], bi = pc->fb[k][1];
      float pr = br * ar + bi * ai, pi = bi * ar - br * ai;
      pc->fa[k][0] = pr;
      pc->fa[k][1] = pi;
      msum += sqrt ((double) pr * pr + (double) pi * pi);
    }
  float eps = (float) (1e-6 * msum / ns) + 1e-30f;
  /* Σ|C| over the full spectrum (the half spectrum counts twice except the columns kx = 0
   * and, for even w, kx = w/2): the correlation at the true shift of identical content. */
  double csum = 0;
  float *gy = g_new (float, h), *gx = g_new (float, hw);
  for (int ky = 0; ky < h; ky++)
    {
      double f = (double) (ky <= h / 2 ? ky : ky - h) / h;
      gy[ky] = pc->lp_sigma > 0 ? (float) exp (-0.5 * f * f / (pc->lp_sigma * pc->lp_sigma)) : 1.0f;
    }
  for (int kx = 0; kx < hw; kx++)
    {
      double f = (double) kx / w;
      gx[kx] = pc->lp_sigma > 0 ? (float) exp (-0.5 * f * f / (pc->lp_sigma * pc->lp_sigma)) : 1.0f;
    }
  for (gsize k = 0; k < ns; k++)
    {
      float pr = pc->fa[k][0], pi = pc->fa[k][1];
      float mag = sqrtf (pr * pr + pi * pi);
      int kx = k % hw, ky = k / hw;
      float me = mag + eps, sq = sqrtf (me);
      float inv = (pc->beta == 1.0 ? 1.0f / me : pc->beta == 0.75 ? 1.0f / (sq * sqrtf (sq)) : powf (me, (float) -pc->beta))
                  * gx[kx] * gy[ky];
      pc->fa[k][0] = pr * inv;
      pc->fa[k][1] = pi * inv;
      csum += (kx == 0 || (w % 2 == 0 && kx == w / 2) ? 1.0 : 2.0) * mag * inv;
    }
  g_free (gx);
  g_free (gy);
  pc->norm = csum > 0 ? 1.0 / csum : 0.0;
  memcpy (pc->fb, pc->fa, sizeof (fftwf_complex) * ns);
  fftwf_execute_dft_c2r (pc->c2r, pc->fb, pc->buf);

  gsize best = 0;
  for (gsize k = 1; k < (gsize) w * h; k++)
    if (pc->buf[k] > pc->buf[best])
      best = k;
  int ix = best % w, iy = best / w;
  double val = pc->buf[best] * pc->norm;
  /* 3-point parabolas (with wrap-around). */
  const float *b = pc->buf;
  double ox = parabola_offset (b[iy * w + (ix + w - 1) % w], b[best], b[iy * w + (ix + 1) % w]);
  double oy = parabola_offset (b[((iy + h - 1) % h) * w + ix], b[best], b[((iy + 1) % h) * w + ix]);
  double px = (ix > w / 2 ? ix - w : ix) + ox;
  double py = (iy > h / 2 ? iy - h : iy) + oy;
  if (refine)
    {
      double v;
      pc_zoom (pc, pc->fa, 0.15, &px, &py, &v, FALSE);
      pc_zoom (pc, pc->fa, 0.02, &px, &py, &v, TRUE);
      val = MAX (val, v);
    }
  *dx = px;
  *dy = py;
  *peak = CLAMP (val, 1e-12, 1.0);
}

/* Phase correlation of two w × h blocks (row strides sref, simg): (dx, dy) with
 * img(x + dx, y + dy) ≈ ref(x, y) and the peak height. A coarse pass (3-point parabola)
 * is followed, with refine, by passes with windows placed on the overlap for the current
 * estimate, each refined to ~0.01 px by zooming into the band-limited correlation
 * surface (upsampled DFT). */
static void
pc_run (Pc *pc, const float *ref, gssize sref, const float *img, gssize simg, gboolean refine,
        double *dx, double *dy, double *peak)
{
  double ex, ey, pk;
  pc_once (pc, ref, sref, img, simg, 0, 0, FALSE, &ex, &ey, &pk);
  if (refine)
    for (int it = 0; it < 3; it++)
      {
        double nx, ny;
        pc_once (pc, ref, sref, img, simg, ex, ey, TRUE, &nx, &ny, &pk);
        double moved = hypot (nx - ex, ny - ey);
        ex = nx;
        ey = ny;
        if (moved < 0.003)
          break;
      }
  *dx = ex;
  *dy = ey;
  *peak = pk;
}

gboolean
tsr_phase_correlate (const float *ref, const float *img, int w, int h, double *dx, double *dy,
                     double *peak)
{
  g_return_val_if_fail (ref != NULL && img != NULL, FALSE);
  double a = 0, b = 0, p = 0;
  if (dx)
    *dx = 0;
  if (dy)
    *dy = 0;
  if (peak)
    *peak = 0;
  if (w < 4 || h < 4)
    return FALSE;
  Pc *pc = pc_new (w, h, TRUE, TRUE);
  if (!pc)
    return FALSE;
  pc_run (pc, ref, w, img, w, TRUE, &a, &b, &p);
  pc_free (pc);
  if (dx)
    *dx = a;
  if (dy)
    *dy = b;
  if (peak)
    *peak = p;
  return TRUE;
}

/* ==================================================================================== */
/* Phase registration (rotation, scale, translation)                                    */

#define LP_NTHETA 512
#define LP_NRHO 256

/* Log-polar resampling of the high-pass filtered Fourier magnitude of img (mean removed,
 * Hann windowed). lp[j * LP_NRHO + i] at angle θ_j = jπ/LP_NTHETA and radius
 * r_i = rmin·exp(i·drho) in cycles per pixel. */
static void
log_polar (Pc *pc, const float *img, double rmin, double drho, float *lp)
{
  const int w = pc->w, h = pc->h, hw = pc->hw;
  pc_forward (pc, img, w, 0, 0, w, h, pc->fa);
  float *mag = pc->buf;   /* reuse: h × hw ≤ w × h */
  for (int ky = 0; ky < h; ky++)
    {
      int ks = ky <= h / 2 ? ky : ky - h;
      double cy = cos (G_PI * (double) ks / h);
      for (int kx = 0; kx < hw; kx++)
        {
          double X = cos (G_PI * (double) kx / w) * cy;
          double hp = (1.0 - X) * (2.0 - X);
          const float *c = pc->fa[(gsize) ky * hw + kx];
          mag[(gsize) ky * hw + kx] = (float) (hp * sqrt ((double) c[0] * c[0] + (double) c[1] * c[1]));
        }
    }
  for (int j = 0; j < LP_NTHETA; j++)
    {
      double th = G_PI * j / LP_NTHETA, ct = cos (th), st = sin (th);
      for (int i = 0; i < LP_NRHO; i++)
        {
          double r = rmin * exp (i * drho);
          double fx = r * ct * w, fy = r * st * h;
          if (fx < 0)   /* |F(−k)| = |F(k)|: use the half spectrum */
            {
              fx = -fx;
              fy = -fy;
            }
          double x0 = floor (fx), y0 = floor (fy), tx = fx - x0, ty = fy - y0;
          double v = 0;
          for (int dyy = 0; dyy < 2; dyy++)
            for (int dxx = 0; dxx < 2; dxx++)
              {
                int kx = (int) x0 + dxx, ky = (int) y0 + dyy;
                double wt = (dxx ? tx : 1 - tx) * (dyy ? ty : 1 - ty);
                if (kx >= hw)
                  {
                    kx = w - kx;   /* mirror through Nyquist */
                    ky = -ky;
                  }
                if (kx < 0)
                  {
                    kx = -kx;
                    ky = -ky;
                  }
                ky = ((ky % h) + h) % h;
                v += wt * mag[(gsize) ky * hw + kx];
              }
          lp[j * LP_NRHO + i] = (float) v;
        }
    }
}

static TsrImage *
wrap_plane (const float *p, int w, int h)
{
  TsrImage *im = tsr_image_new (w, h, 1);
  if (im)
    memcpy (im->data, p, sizeof (float) * w * h);
  return im;
}

/* Warp img by t onto a grid of the same size; invalid pixels are filled with the mean of
 * the valid ones so that they add no edges to a correlation (the mask is kept). */
static TsrImage *
warp_filled (const TsrImage *img, const TsrTransform *t, TsrInterp interp)
{
  TsrImage *wp = tsr_warp (img, t, img->width, img->height, TSR_CFA_NONE, interp);
  if (!wp)
    return NULL;
  gsize n = tsr_image_npix (wp), nv = 0;
  double s = 0;
  for (gsize k = 0; k < n; k++)
    if (wp->mask[k])
      {
        s += wp->data[k];
        nv++;
      }
  float mean = nv ? (float) (s / nv) : 0.0f;
  for (gsize k = 0; k < n; k++)
    if (!wp->mask[k])
      wp->data[k] = mean;
  return wp;
}

static void
translation (TsrTransform *t, double dx, double dy)
{
  tsr_transform_identity (t);
  t->m[2] = dx;
  t->m[5] = dy;
}

/* Similarity of angle th and scale s about the frame centre. */
static void
centred_similarity (TsrTransform *t, double th, double s, int w, int h)
{
  double cx = 0.5 * (w - 1), cy = 0.5 * (h - 1), c = s * cos (th), sn = s * sin (th);
  tsr_transform_similarity (t, th, s, cx - (c * cx - sn * cy), cy - (sn * cx + c * cy));
}

/* One refinement step by phase correlation on a grid of tiles of ref against img warped
 * by *t: fits a similarity to the tile shifts and composes it into *t. Returns the corner
 * RMS of the correction, or −1 when too few tiles carried a usable peak. */
static double
refine_tiles (const float *ref, const TsrImage *img, int w, int h, TsrTransform *t)
{
  /* Tiles of ≤ 128 px on an overlapping grid of ≤ 8 × 8: many small tiles average out
   * local (seeing) distortions better than a few large ones (lunar triangle consistency
   * 0.042 px vs 0.088 px with 20 tiles of 256 px) and cost less. */
  int m = MIN (w, h), ts = 32;
  while (ts * 2 <= m / 3 && ts < 128)
    ts *= 2;
  int nx = MAX (3, (w + ts - 1) / ts + 1), ny = MAX (3, (h + ts - 1) / ts + 1);
  nx = MIN (nx, 8);
  ny = MIN (ny, 8);
  g_autoptr (TsrImage) wp = warp_filled (img, t, TSR_INTERP_LANCZOS3);
  if (!wp)
    return -1;
  Pc *pc = pc_new (ts, ts, TRUE, TRUE);
  if (!pc)
    return -1;
  double *src = g_new (double, 2 * nx * ny), *dst = g_new (double, 2 * nx * ny);
  double *wt = g_new (double, nx * ny);
  guint n = 0;
  for (int j = 0; j < ny; j++)
    for (int i = 0; i < nx; i++)
      {
        int x0 = (int) lround ((double) i * (w - ts) / (nx - 1));
        int y0 = (int) lround ((double) j * (h - ts) / (ny - 1));
        gsize nvalid = 0;
        for (int y = y0; y < y0 + ts; y++)
          for (int x = x0; x < x0 + ts; x++)
            nvalid += wp->mask[(gsize) y * w + x];
        if (nvalid < 0.9 * ts * ts)
          continue;
        double dx, dy, pk;
        pc_run (pc, ref + (gsize) y0 * w + x0, w, wp->data + (gsize) y0 * w + x0, w, TRUE, &dx, &dy,
                &pk);
        if (pk < 0.04 || fabs (dx) > ts / 4.0 || fabs (dy) > ts / 4.0)
          continue;
        double cx = x0 + 0.5 * (ts - 1), cy = y0 + 0.5 * (ts - 1);
        src[2 * n] = cx;
        src[2 * n + 1] = cy;
        dst[2 * n] = cx + dx;
        dst[2 * n + 1] = cy + dy;
        wt[n] = pk * pk;
        n++;
      }
  pc_free (pc);
  double result = -1;
  TsrTransform s;
  /* Fit, reject tiles far from the fit, refit. */
  for (int pass = 0; pass < 3 && n >= 4; pass++)
    {
      if (!tsr_transform_fit (TSR_MODEL_SIMILARITY, src, dst, wt, n, &s))
        break;
      double res[64], sorted[64];
      for (guint k = 0; k < n; k++)
        {
          double px, py;
          tsr_transform_apply (&s, src[2 * k], src[2 * k + 1], &px, &py);
          res[k] = sorted[k] = hypot (px - dst[2 * k], py - dst[2 * k + 1]);
        }
      for (guint a = 1; a < n; a++)   /* insertion sort, n ≤ 64 */
        for (guint b = a; b > 0 && sorted[b - 1] > sorted[b]; b--)
          {
            double tmp = sorted[b];
            sorted[b] = sorted[b - 1];
            sorted[b - 1] = tmp;
          }
      double lim = MAX (0.1, 4.0 * sorted[n / 2]);
      guint keep = 0;
      for (guint k = 0; k < n; k++)
        if (res[k] <= lim)
          {
            src[2 * keep] = src[2 * k];
            src[2 * keep + 1] = src[2 * k + 1];
            dst[2 * keep] = dst[2 * k];
            dst[2 * keep + 1] = dst[2 * k + 1];
            wt[keep] = wt[k];
            keep++;
          }
      if (keep == n)
        {
          TsrTransform id;
          tsr_transform_identity (&id);
          result = tsr_transform_corner_rms (&s, &id, w, h);
          tsr_transform_compose (t, &s, t);
          break;
        }
      n = keep;
    }
  g_free (src);
  g_free (dst);
  g_free (wt);
  return result;
}

/* Translation refinement on the whole frame: *t = *t ∘ shift. Returns the peak. */
static double
refine_translation (Pc *pc, const float *ref, const TsrImage *img, TsrTransform *t, gboolean refine,
                    double *shift)
{
  g_autoptr (TsrImage) wp = warp_filled (img, t, refine ? TSR_INTERP_LANCZOS3 : TSR_INTERP_BILINEAR);
  if (!wp)
    return 0;
  double dx, dy, pk;
  pc_run (pc, ref, pc->w, wp->data, pc->w, refine, &dx, &dy, &pk);
  TsrTransform s;
  translation (&s, dx, dy);
  tsr_transform_compose (t, &s, t);
  if (shift)
    *shift = hypot (dx, dy);
  return pk;
}

gboolean
tsr_phase_register (const float *ref, const float *img, int w, int h, gboolean rotation_scale,
                    TsrTransform *out, double *peak)
{
  g_return_val_if_fail (ref != NULL && img != NULL && out != NULL, FALSE);
  tsr_transform_identity (out);
  if (peak)
    *peak = 0;
  if (w < 16 || h < 16)
    return FALSE;
  g_autoptr (TsrImage) im = wrap_plane (img, w, h);
  if (!im)
    return FALSE;
  Pc *pc = pc_new (w, h, TRUE, TRUE);
  if (!pc)
    return FALSE;

  TsrTransform t;
  double pk = 0;
  if (!rotation_scale)
    {
      /* pc_run already iterates with windows placed on the overlap. */
      double dx, dy;
      pc_run (pc, ref, w, img, w, TRUE, &dx, &dy, &pk);
      translation (&t, dx, dy);
    }
  else
    {
      /* 1. Rotation and scale from the log-polar Fourier magnitudes. */
      double rmin = MAX (0.02, 4.0 / MIN (w, h)), rmax = 0.45;
      double drho = log (rmax / rmin) / (LP_NRHO - 1);
      float *lpr = g_new (float, LP_NTHETA * LP_NRHO), *lpi = g_new (float, LP_NTHETA * LP_NRHO);
      log_polar (pc, ref, rmin, drho, lpr);
      log_polar (pc, img, rmin, drho, lpi);
      Pc *lpc = pc_new (LP_NRHO, LP_NTHETA, TRUE, FALSE);
      double lx = 0, ly = 0, lpk = 0;
      if (lpc)
        pc_run (lpc, lpr, LP_NRHO, lpi, LP_NRHO, TRUE, &lx, &ly, &lpk);
      pc_free (lpc);
      g_free (lpr);
      g_free (lpi);
      double scale = exp (-lx * drho), theta = ly * G_PI / LP_NTHETA;
      if (!(scale > 0.5 && scale < 2.0))
        {
          scale = 1.0;
          theta = 0.0;
        }

      /* 2. Translation for each candidate (θ, θ + π, and no rotation); keep the best. */
      const double cand[3][2] = { { theta, scale }, { theta + G_PI, scale }, { 0.0, 1.0 } };
      double best_pk = -1;
      for (int c = 0; c < 3; c++)
        {
          TsrTransform tc;
          centred_similarity (&tc, cand[c][0], cand[c][1], w, h);
          double p = refine_translation (pc, ref, im, &tc, FALSE, NULL);
          if (p > best_pk)
            {
              best_pk = p;
              t = tc;
            }
        }

      /* 3. Sub-pixel refinement of all parameters from tile shifts. */
      gboolean tiles_ok = FALSE;
      for (int it = 0; it < 5; it++)
        {
          double corr = refine_tiles (ref, im, w, h, &t);
          if (corr < 0)
            break;
          tiles_ok = TRUE;
          if (corr < 0.005)
            break;
        }
      if (!tiles_ok)
        for (int it = 0; it < 3; it++)
          {
            double moved = 0;
            refine_translation (pc, ref, im, &t, TRUE, &moved);
            if (moved < 0.005)
              break;
          }
      /* Quality: the phase-correlation peak of ref against the final warped frame. */
      g_autoptr (TsrImage) wp = warp_filled (im, &t, TSR_INTERP_LANCZOS3);
      double dx, dy;
      if (wp)
        pc_run (pc, ref, w, wp->data, w, FALSE, &dx, &dy, &pk);
    }
  pc_free (pc);
  *out = t;
  if (peak)
    *peak = CLAMP (pk, 1e-12, 1.0);
  return TRUE;
}

/* ==================================================================================== */
/* Correlation                                                                          */

double
tsr_correlation (const float *ref, const guint8 *ref_mask, const float *warped,
                 const guint8 *warped_mask, gsize n)
{
  g_return_val_if_fail (ref != NULL && warped != NULL, NAN);
  double sa = 0, sb = 0;
  gsize cnt = 0;
  for (gsize k = 0; k < n; k++)
    {
      if ((ref_mask && !ref_mask[k]) || (warped_mask && !warped_mask[k]))
        continue;
      if (!isfinite (ref[k]) || !isfinite (warped[k]))
        continue;
      sa += ref[k];
      sb += warped[k];
      cnt++;
    }
  if (cnt < 16)
    return NAN;
  double ma = sa / cnt, mb = sb / cnt, saa = 0, sbb = 0, sab = 0;
  for (gsize k = 0; k < n; k++)
    {
      if ((ref_mask && !ref_mask[k]) || (warped_mask && !warped_mask[k]))
        continue;
      if (!isfinite (ref[k]) || !isfinite (warped[k]))
        continue;
      double a = ref[k] - ma, b = warped[k] - mb;
      saa += a * a;
      sbb += b * b;
      sab += a * b;
    }
  if (saa <= 0 || sbb <= 0)
    return NAN;
  return CLAMP (sab / sqrt (saa * sbb), -1.0, 1.0);
}
