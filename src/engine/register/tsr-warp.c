/* tsr-warp.c — resampling a frame into the reference geometry (phase correlation is in
 * tsr-phase.c).
 *
 * See docs/warp.md for the kernels, the CFA-preserving warp, the border/mask rule, the
 * phase-correlation sign convention and the registration correlation CC.
 */
#include "tsr-warp.h"

#include <fftw3.h>
#include <math.h>
#include <string.h>

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

double
tsr_lanczos3 (double d)
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
              w[k] = tsr_lanczos3 (d[k]);
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
  int out_row0;               /* output row y is out's row y − out_row0 */
  int x_begin, x_end;         /* the columns of out written */
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
  const gsize oi = (gsize) (y - job->out_row0) * OW + x0;
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
        for (int x = job->x_begin; x < job->x_end; x++)
          {
            /* a block of pixels at once where it qualifies; otherwise the block's pixels
             * one by one */
            if (x % GRID_BLOCK == 0 && x + GRID_BLOCK <= job->x_end && grid6_block (job, x, y))
              {
                x += GRID_BLOCK - 1;
                continue;
              }
            gsize oi = (gsize) (y - job->out_row0) * OW + x;
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
    for (int x = job->x_begin; x < job->x_end; x++)
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
        gsize oi = (gsize) (y - job->out_row0) * OW + x;
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

/* The job's kernel, lattices and integral image of invalid samples for src. */
static void
warp_job_init (WarpJob *job, const TsrImage *src, const TsrTransform *t, TsrImage *out, TsrCfa out_cfa,
               TsrInterp interp)
{
  const int W = src->width, H = src->height;
  gboolean cfa = src->cfa != TSR_CFA_NONE && src->channels == 1;
  memset (job, 0, sizeof *job);
  job->src = src;
  job->t = t;
  job->out = out;
  job->out_cfa = out_cfa;
  job->interp = interp;
  job->n = kernel_taps (interp);
  job->c0 = job->n / 2 - 1;
  job->cfa = cfa;
  job->x_begin = 0;
  job->x_end = out->width;
  if (!cfa)
    lattice_set (&job->lat[0], 0, 0, 1, 0, 0, 1, W);
  else
    {
      for (int oy = 0; oy < 2; oy++)
        for (int ox = 0; ox < 2; ox++)
          {
            int c = tsr_cfa_color (src->cfa, ox, oy);
            if (c != TSR_GREEN)
              lattice_set (&job->lat[c], ox, oy, 2, 0, 0, 2, W);
          }
      /* Green: quincunx lattice, basis (1,1) and (1,−1) from the green site of row 0. */
      int gx = tsr_cfa_color (src->cfa, 0, 0) == TSR_GREEN ? 0 : 1;
      lattice_set (&job->lat[TSR_GREEN], gx, 0, 1, 1, 1, -1, W);
    }

  gsize npix = tsr_image_npix (src);
  if (tsr_image_count_valid (src) != npix)
    {
      gssize s = W + 1;
      job->bad = g_new0 (gint32, (gsize) s * (H + 1));
      for (int y = 0; y < H; y++)
        {
          gint32 rowsum = 0;
          for (int x = 0; x < W; x++)
            {
              rowsum += src->mask[(gsize) y * W + x] ? 0 : 1;
              job->bad[(y + 1) * s + x + 1] = job->bad[y * s + x + 1] + rowsum;
            }
        }
    }
}

void
tsr_warp_rect (const TsrImage *src, int src_x0, int src_y0, const TsrTransform *t, TsrImage *out, int out_y0, int x0,
               int x1, int y0, int y1, TsrInterp interp)
{
  g_return_if_fail (src != NULL && t != NULL && out != NULL);
  g_return_if_fail (src->channels == out->channels && (src->cfa == TSR_CFA_NONE || src->channels != 1));
  g_return_if_fail (y0 >= out_y0 && y1 <= out_y0 + out->height && y0 <= y1);
  g_return_if_fail (x0 >= 0 && x1 <= out->width && x0 <= x1);
  if (interp < TSR_INTERP_LANCZOS3 || interp > TSR_INTERP_BILINEAR)
    interp = TSR_INTERP_LANCZOS3;
  lanczos_lut_init ();
  /* frame pixel (p, q) lies at (p − src_x0, q − src_y0) of the rectangle: t followed by that
   * shift (projective too) */
  TsrTransform ts = *t;
  for (int i = 0; i < 3; i++)
    {
      ts.m[i] = t->m[i] - src_x0 * t->m[6 + i];
      ts.m[3 + i] = t->m[3 + i] - src_y0 * t->m[6 + i];
    }
  WarpJob job;
  warp_job_init (&job, src, &ts, out, TSR_CFA_NONE, interp);
  job.out_row0 = out_y0;
  job.x_begin = x0;
  job.x_end = x1;
  warp_rows (&job, y0, y1);
  g_free (job.bad);
}

void
tsr_warp_rows (const TsrImage *src, int src_y0, const TsrTransform *t, TsrImage *out, int out_y0, int y0, int y1,
               TsrInterp interp)
{
  g_return_if_fail (out != NULL);
  tsr_warp_rect (src, 0, src_y0, t, out, out_y0, 0, out->width, y0, y1, interp);
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

  WarpJob job;
  warp_job_init (&job, src, t, out, out_cfa, interp);

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

/* Output rows per band of tsr_warp_demosaic: the strip a band needs is its rows plus the
 * demosaic's halo (12–24 rows either side) and the field rotation's skew, so larger bands
 * spend less on halos, smaller ones less memory. */
#define BAND_ROWS 384

void
tsr_warp_source_box (const TsrTransform *T, int x0, int x1, int y0, int y1, int src_w, int src_h, int *c0, int *c1,
                     int *r0, int *r1)
{
  /* a linear-fractional map takes its extremes over a rectangle at the corners */
  const double *m = T->m;
  double lo[2] = { G_MAXDOUBLE, G_MAXDOUBLE }, hi[2] = { -G_MAXDOUBLE, -G_MAXDOUBLE };
  const double xs[2] = { x0 - 0.5, x1 - 0.5 }, ys[2] = { y0 - 0.5, y1 - 0.5 };
  for (int i = 0; i < 2; i++)
    for (int k = 0; k < 2; k++)
      {
        double w = m[6] * xs[i] + m[7] * ys[k] + m[8];
        w = w != 0 ? w : 1e-300;
        double q[2] = { (m[0] * xs[i] + m[1] * ys[k] + m[2]) / w, (m[3] * xs[i] + m[4] * ys[k] + m[5]) / w };
        for (int d = 0; d < 2; d++)
          {
            lo[d] = MIN (lo[d], q[d]);
            hi[d] = MAX (hi[d], q[d]);
          }
      }
  /* kernels reach floor(q) − 3 … floor(q) + 4 (Lanczos-4's 8 taps at most), plus one */
  *c0 = (int) CLAMP (floor (lo[0]) - 4, 0, src_w);
  *c1 = (int) CLAMP (floor (hi[0]) + 6, 0, src_w);
  *r0 = (int) CLAMP (floor (lo[1]) - 4, 0, src_h);
  *r1 = (int) CLAMP (floor (hi[1]) + 6, 0, src_h);
}

void
tsr_warp_band_source (const TsrTransform *T, int width, int y0, int y1, int frame_h, int *r0, int *r1)
{
  int c0, c1;
  tsr_warp_source_box (T, 0, width, y0, y1, G_MAXINT / 2, frame_h, &c0, &c1, r0, r1);
}

gboolean
tsr_warp_demosaic_band (const TsrImage *img, TsrDemosaicMethod method, double level, const TsrTransform *T,
                        TsrImage *out, int out_y0, int y0, int y1, TsrInterp interp)
{
  g_return_val_if_fail (img != NULL && img->channels == 1 && img->cfa != TSR_CFA_NONE && T != NULL, FALSE);
  g_return_val_if_fail (out != NULL && out->channels == 3 && y0 >= out_y0 && y1 <= out_y0 + out->height, FALSE);
  const int W = out->width, B = y1 - y0;
  const gsize on = tsr_image_npix (out);
  /* a rotated frame's band reaches W·|sin θ| more source rows: split into columns so that
   * each piece's rectangle stays near the band's own height (a frame turned by 90° reads
   * squares of the band's side instead of the whole frame) */
  int c0, c1, r0, r1;
  tsr_warp_source_box (T, 0, W, y0, y1, img->width, img->height, &c0, &c1, &r0, &r1);
  int pieces = r1 - r0 > 2 * B ? MIN ((r1 - r0 - B + B - 1) / MAX (B, 1), MAX (1, W / 64)) : 1;
  for (int p = 0; p < pieces; p++)
    {
      int x0 = W * p / pieces, x1 = W * (p + 1) / pieces;
      tsr_warp_source_box (T, x0, x1, y0, y1, img->width, img->height, &c0, &c1, &r0, &r1);
      if (r1 - r0 < 2 || c1 - c0 < 2)
        {
          /* nothing of the frame reaches these pixels */
          for (int y = y0; y < y1; y++)
            {
              gsize k = (gsize) (y - out_y0) * W + x0;
              for (int c = 0; c < 3; c++)
                memset (out->data + c * on + k, 0, sizeof (float) * (x1 - x0));
              memset (out->mask + k, 0, x1 - x0);
            }
          continue;
        }
      int ox, oy;
      g_autoptr (TsrImage) rect = tsr_demosaic_rect_halo (img, method, level, c0, c1, r0, r1, &ox, &oy);
      if (!rect)
        return FALSE;
      tsr_warp_rect (rect, ox, oy, T, out, out_y0, x0, x1, y0, y1, interp);
    }
  return TRUE;
}

TsrImage *
tsr_warp_demosaic (const TsrImage *img, TsrDemosaicMethod method, const TsrTransform *T, int width, int height,
                   TsrInterp interp)
{
  g_return_val_if_fail (img != NULL && img->channels == 1 && img->cfa != TSR_CFA_NONE && T != NULL, NULL);
  g_return_val_if_fail (width > 0 && height > 0, NULL);
  TsrImage *out = tsr_image_new_uninit (width, height, 3);
  if (!out)
    return NULL;
  tsr_header_free (out->header);
  out->header = tsr_header_copy (img->header);
  out->cfa = TSR_CFA_NONE;
  double level = method == TSR_DEMOSAIC_RCD ? tsr_demosaic_rcd_level (img) : 0.0;
  for (int y0 = 0; y0 < height; y0 += BAND_ROWS)
    if (!tsr_warp_demosaic_band (img, method, level, T, out, 0, y0, MIN (height, y0 + BAND_ROWS), interp))
      {
        tsr_image_unref (out);
        return NULL;
      }
  return out;
}
