/* tsr-demosaic-rcd.c — an edge-directed colour-difference demosaic of the RCD class
 * (after the idea of Luis Sanz Rodríguez's Ratio Corrected Demosaicing: a local
 * vertical/horizontal discrimination refined from its neighbourhood steers the green
 * interpolation, and the chroma follow as colour differences), written for linear
 * astronomical data and made to conserve each channel's flux:
 *
 * 1. direction: per pixel, the squared vertical and horizontal gradients summed along each
 *    direction give VH = V / (V + H) (1 = edge across the rows: interpolate along them);
 *    where the centre is less decided than the mean of its diagonal neighbours, that mean.
 * 2. green at red/blue sites: four one-sided colour-difference estimates (N, S, W, E:
 *    the neighbouring green plus half the same-colour step), each pair weighted by the
 *    inverse of its gradients, mixed by VH. Additive differences, never ratios: a sky-
 *    subtracted frame has samples at and below zero.
 * 3. red at blue sites and blue at red sites: colour differences (X − G) of the four
 *    diagonal neighbours weighted by the inverse of their diagonal gradients.
 * 4. red and blue at green sites: colour differences of the four direct neighbours, per
 *    direction weighted by their gradients, mixed by VH.
 * 5. flux: an edge-directed estimate moves flux between pixels (a star's peak is
 *    interpolated from the sharper green, so a red or blue star gains or loses flux — the
 *    +8 % R, +17 % B measured for RCD as Siril ships it). The difference to bilinear
 *    interpolation, which conserves each channel's flux exactly (every sample spread with
 *    unit total weight), is high-passed: its local mean (a σ = 1.5 px Gaussian, radius 4) is taken
 *    out at the interpolated sites, scaled by their share, so every channel's flux in any
 *    aperture of a few pixels equals the bilinear one while the edge-directed detail stays.
 *
 * Every step is a weighted sum of samples with weights from the data's own gradients:
 * scaling the input scales the output (the demosaic is linear in brightness scale). */
#include "tsr-demosaic.h"

#include <math.h>
#include <string.h>

#define PAD 8

/* Sample (x, y) of the mosaic padded by PAD reflected samples (an even shift keeps the CFA
 * phase); a masked sample is the mean of valid same-colour neighbours. */
static inline float
padded_sample (const TsrImage *m, int x, int y)
{
  int w = m->width, h = m->height;
  int sy = tsr_reflect_index (y - PAD, h), sx = tsr_reflect_index (x - PAD, w);
  gsize k = (gsize) sy * w + sx;
  return m->mask[k] ? m->data[k] : tsr_demosaic_fill (m, sx, sy);
}

static gint scratch_poison;
static float scratch_poison_value;

void
tsr_demosaic_rcd_poison_scratch (gboolean on, float value)
{
  scratch_poison_value = value;
  g_atomic_int_set (&scratch_poison, on);
}

/* The PAD-wide ring of a W × H scratch plane zeroed; its interior left as it is, or filled
 * with NaN when poison is set (a check that nothing reads it before it is written). */
static void
scratch_ring (float *p, int W, int H, gboolean poison, float value)
{
  for (int y = 0; y < H; y++)
    {
      float *row = p + (gsize) y * W;
      if (y < PAD || y >= H - PAD)
        memset (row, 0, sizeof (float) * W);
      else
        {
          memset (row, 0, sizeof (float) * PAD);
          memset (row + W - PAD, 0, sizeof (float) * PAD);
          if (poison)
            for (int x = PAD; x < W - PAD; x++)
              row[x] = value;
        }
    }
}

/* The mosaic padded by PAD reflected samples, masked samples filled (padded_sample). */
static void
padded_mosaic (const TsrImage *m, int W, int H, float *f)
{
  const int w = m->width, h = m->height;
  if (w <= PAD || h <= PAD)
    {
      /* tiny: reflections of reflections; sample by sample */
      for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
          f[(gsize) y * W + x] = padded_sample (m, x, y);
      return;
    }
  /* the same values as padded_sample at every site, without a division and a mask test per
   * sample: a source row without a masked sample is copied, its PAD reflected samples either
   * side set from it (a row with a masked sample, nearly never, goes sample by sample) */
  for (int y = 0; y < H; y++)
    {
      int sy = tsr_reflect_index (y - PAD, h);
      const float *src = m->data + (gsize) sy * w;
      const guint8 *msk = m->mask + (gsize) sy * w;
      float *dst = f + (gsize) y * W;
      if (memchr (msk, 0, w) != NULL)
        {
          for (int x = 0; x < W; x++)
            dst[x] = padded_sample (m, x, y);
          continue;
        }
      memcpy (dst + PAD, src, sizeof (float) * w);
      for (int x = 0; x < PAD; x++)
        dst[x] = src[tsr_reflect_index (x - PAD, w)];
      for (int x = PAD + w; x < W; x++)
        dst[x] = src[tsr_reflect_index (x - PAD, w)];
    }
}

/* The mean |sample| of every 7th sample of the padded mosaic: the scale of the gradient
 * floor (below). */
static double
padded_level (const float *f, gsize N)
{
  double mean_abs = 0;
  for (gsize k = 0; k < N; k += 7)
    mean_abs += fabs (f[k]);
  return mean_abs / ((N + 6) / 7);
}

double
tsr_demosaic_rcd_level (const TsrImage *m)
{
  g_return_val_if_fail (m->channels == 1 && m->cfa != TSR_CFA_NONE, 0.0);
  int W = m->width + 2 * PAD, H = m->height + 2 * PAD;
  gsize N = (gsize) W * H;
  /* the same samples in the same order as padded_level over padded_mosaic's plane */
  /* the reflections tabulated (a division each in padded_sample); same values, same order */
  int *rx = g_new (int, W), *ry = g_new (int, H);
  for (int x = 0; x < W; x++)
    rx[x] = tsr_reflect_index (x - PAD, m->width);
  for (int y = 0; y < H; y++)
    ry[y] = tsr_reflect_index (y - PAD, m->height);
  double mean_abs = 0;
  int x = 0, y = 0;
  for (gsize k = 0; k < N; k += 7)
    {
      gsize i = (gsize) ry[y] * m->width + rx[x];
      mean_abs += fabs (m->mask[i] ? m->data[i] : tsr_demosaic_fill (m, rx[x], ry[y]));
      for (x += 7; x >= W; x -= W)
        y++;
    }
  g_free (rx);
  g_free (ry);
  return mean_abs / ((N + 6) / 7);
}

/* Function multiversioning (x86-64 with glibc): the sweeps below are also compiled for
 * AVX2 (eight sites per vector) and picked at load time. No FMA, so both clones round
 * alike; no-trapping-math lets the vectoriser evaluate both sides of a select (it changes
 * no result: floating-point exceptions are not looked at). Each sweep is a function of restrict pointers to distinct planes (with many row
 * pointers into unmarked planes the vectoriser gives up on the alias checks); the row
 * pointers derive from them. Every sweep is branch-free per row: a Bayer row alternates
 * green with one other colour, so a site's kind follows from x's parity; every site
 * computes exactly the expressions of its kind, in the same order, and a select keeps the
 * one it needs (bit-identical to site-by-site code). */
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__has_attribute)
#if __has_attribute (target_clones)
#define TSR_RCD_CLONES __attribute__ ((target_clones ("avx2", "default"), optimize ("no-trapping-math")))
#endif
#endif
#ifndef TSR_RCD_CLONES
#define TSR_RCD_CLONES
#endif

/* Separable Gaussian blur (σ = 1.5, radius 4, normalised) of a W × H plane over the rows and
 * columns [r0, H − r0) × [r0, W − r0): reads up to 4 px outside, which the padding provides. */
static TSR_RCD_CLONES void
blur (const float *restrict in, float *restrict tmp, float *restrict out, int W, int H, int r0)
{
  enum { R = 4 };
  float k[2 * R + 1];
  double s = 0;
  for (int i = -R; i <= R; i++)
    s += exp (-0.5 * i * i / (1.5 * 1.5));
  for (int i = -R; i <= R; i++)
    k[i + R] = (float) (exp (-0.5 * i * i / (1.5 * 1.5)) / s);
  for (int y = r0 - R; y < H - r0 + R; y++)
    {
      const float *row = in + (gsize) y * W;
      float *t = tmp + (gsize) y * W;
      for (int x = r0; x < W - r0; x++)
        {
          float a = 0;
          for (int i = -R; i <= R; i++)
            a += k[i + R] * row[x + i];
          t[x] = a;
        }
    }
  for (int y = r0; y < H - r0; y++)
    {
      float *o = out + (gsize) y * W;
      for (int x = r0; x < W - r0; x++)
        o[x] = 0;
      for (int i = -R; i <= R; i++)
        {
          const float *t = tmp + (gsize) (y + i) * W;
          float ki = k[i + R];
          for (int x = r0; x < W - r0; x++)
            o[x] += ki * t[x];
        }
    }
}

#define ROW(p, d) ((p) + (gssize) (y + (d)) * W)

/* 1. direction */
static TSR_RCD_CLONES void
rcd_direction (const float *restrict cfa, float *restrict vst, float *restrict hst, float *restrict vh, int W, int H,
               float eps)
{
  for (int y = 2; y < H - 2; y++)
    {
      const float *c0 = ROW (cfa, 0), *cm1 = ROW (cfa, -1), *cp1 = ROW (cfa, 1), *cm2 = ROW (cfa, -2), *cp2 = ROW (cfa, 2);
      float *vs = ROW (vst, 0), *hs = ROW (hst, 0);
      for (int x = 2; x < W - 2; x++)
        {
          float dv = fabsf (cm1[x] - cp1[x]) + 0.5f * fabsf (2 * c0[x] - cm2[x] - cp2[x]);
          float dh = fabsf (c0[x - 1] - c0[x + 1]) + 0.5f * fabsf (2 * c0[x] - c0[x - 2] - c0[x + 2]);
          vs[x] = dv * dv;
          hs[x] = dh * dh;
        }
    }
  for (int y = 3; y < H - 3; y++)
    {
      const float *v0 = ROW (vst, 0), *vm = ROW (vst, -1), *vp = ROW (vst, 1), *h0 = ROW (hst, 0);
      float *d = ROW (vh, 0);
      for (int x = 3; x < W - 3; x++)
        {
          float V = vm[x] + v0[x] + vp[x] + eps * eps, Hs = h0[x - 1] + h0[x] + h0[x + 1] + eps * eps;
          d[x] = V / (V + Hs);
        }
    }
}

/* the 3×3 low pass of the mosaic: every site sees R + 2G + B (weights 1, ½, ¼) */
static TSR_RCD_CLONES void
rcd_lowpass (const float *restrict cfa, float *restrict lpf, int W, int H)
{
  for (int y = 1; y < H - 1; y++)
    {
      const float *c0 = ROW (cfa, 0), *cm1 = ROW (cfa, -1), *cp1 = ROW (cfa, 1);
      float *l = ROW (lpf, 0);
      for (int x = 1; x < W - 1; x++)
        l[x] = c0[x] + 0.5f * (cm1[x] + cp1[x] + c0[x - 1] + c0[x + 1])
               + 0.25f * (cm1[x - 1] + cm1[x + 1] + cp1[x - 1] + cp1[x + 1]);
    }
}

/* 2. green at red and blue sites */
static TSR_RCD_CLONES void
rcd_green (const float *restrict cfa, const float *restrict lpf, const float *restrict vh, float *restrict G, int W,
           int H, float eps, const int col[2][2])
{
  for (int y = 4; y < H - 4; y++)
    {
      const int gpar = col[y & 1][0] == TSR_GREEN ? 0 : 1; /* green where (x & 1) == gpar */
      const float *c0 = ROW (cfa, 0), *cm1 = ROW (cfa, -1), *cp1 = ROW (cfa, 1), *cm2 = ROW (cfa, -2), *cp2 = ROW (cfa, 2);
      const float *cm3 = ROW (cfa, -3), *cp3 = ROW (cfa, 3), *cm4 = ROW (cfa, -4), *cp4 = ROW (cfa, 4);
      const float *l0 = ROW (lpf, 0), *lm2 = ROW (lpf, -2), *lp2 = ROW (lpf, 2);
      const float *d0 = ROW (vh, 0), *dm1 = ROW (vh, -1), *dp1 = ROW (vh, 1);
      float *g = ROW (G, 0);
      for (int x = 4; x < W - 4; x++)
        {
          float c = d0[x];
          float nb = 0.25f * (dm1[x - 1] + dm1[x + 1] + dp1[x - 1] + dp1[x + 1]);
          float d = fabsf (0.5f - c) < fabsf (0.5f - nb) ? nb : c;
          float gN = eps + fabsf (cm1[x] - cp1[x]) + fabsf (c0[x] - cm2[x]) + fabsf (cm1[x] - cm3[x]) + fabsf (cm2[x] - cm4[x]);
          float gS = eps + fabsf (cm1[x] - cp1[x]) + fabsf (c0[x] - cp2[x]) + fabsf (cp1[x] - cp3[x]) + fabsf (cp2[x] - cp4[x]);
          float gW = eps + fabsf (c0[x - 1] - c0[x + 1]) + fabsf (c0[x] - c0[x - 2]) + fabsf (c0[x - 1] - c0[x - 3])
                     + fabsf (c0[x - 2] - c0[x - 4]);
          float gE = eps + fabsf (c0[x - 1] - c0[x + 1]) + fabsf (c0[x] - c0[x + 2]) + fabsf (c0[x + 1] - c0[x + 3])
                     + fabsf (c0[x + 2] - c0[x + 4]);
          /* the step of the low-passed mosaic (L ≈ R + 2G + B) over half the distance, in
           * green units: the site's own sample enters with 1/8 instead of 1/2, which keeps
           * the red and blue noise apart */
          float eN = cm1[x] + 0.125f * (l0[x] - lm2[x]), eS = cp1[x] + 0.125f * (l0[x] - lp2[x]);
          float eW = c0[x - 1] + 0.125f * (l0[x] - l0[x - 2]), eE = c0[x + 1] + 0.125f * (l0[x] - l0[x + 2]);
          float ev = (gS * eN + gN * eS) / (gN + gS), eh = (gE * eW + gW * eE) / (gW + gE);
          float gi = d * eh + (1 - d) * ev;
          g[x] = (x & 1) == gpar ? c0[x] : gi;
        }
    }
}

/* 3. red at blue sites, blue at red sites; native samples in place. Rows 4 and H − 5 and
 * columns 4 and W − 5 take the plain mean of the diagonal differences. */
static TSR_RCD_CLONES void
rcd_chroma_diagonal (const float *restrict cfa, const float *restrict G, float *restrict R, float *restrict B, int W,
                     int H, float eps, const int col[2][2])
{
  float *pl[3] = { R, NULL, B };
  for (int y = 4; y < H - 4; y++)
    {
      const int gpar = col[y & 1][0] == TSR_GREEN ? 0 : 1;
      const int c = col[y & 1][gpar ^ 1], o = c == TSR_RED ? TSR_BLUE : TSR_RED;
      float *Pc = ROW (pl[c], 0), *Po = ROW (pl[o], 0);
      const float *c0 = ROW (cfa, 0), *cm1 = ROW (cfa, -1), *cp1 = ROW (cfa, 1);
      const float *g0 = ROW (G, 0), *gm1 = ROW (G, -1), *gp1 = ROW (G, 1);
      gboolean edge_row = y < 5 || y >= H - 5;
      for (int x = 4; x < W - 4; x++)
        {
          if ((x & 1) == gpar || !(edge_row || x < 5 || x >= W - 5))
            continue;
          Pc[x] = c0[x];
          Po[x] = g0[x] + 0.25f * ((cm1[x - 1] - gm1[x - 1]) + (cm1[x + 1] - gm1[x + 1])
                                   + (cp1[x - 1] - gp1[x - 1]) + (cp1[x + 1] - gp1[x + 1]));
        }
      if (edge_row)
        continue;
      const float *cm2 = ROW (cfa, -2), *cp2 = ROW (cfa, 2), *cm3 = ROW (cfa, -3), *cp3 = ROW (cfa, 3);
      const float *gm2 = ROW (G, -2), *gp2 = ROW (G, 2);
      for (int x = 5; x < W - 5; x++)
        {
          float sw = 0, s = 0;
          /* one diagonal direction (dy, dx): rows a = y + dy, b = y − dy, aa = y + 2·dy,
           * aaa = y + 3·dy */
#define RCD_DIAG(a, b, aa, aaa, ga, gaa, dx)                                                                           \
  do                                                                                                                   \
    {                                                                                                                  \
      float gr = eps + fabsf (a[x + (dx)] - b[x - (dx)]) + fabsf (g0[x] - gaa[x + 2 * (dx)])                           \
                 + fabsf (a[x + (dx)] - aaa[x + 3 * (dx)]) + fabsf (c0[x] - aa[x + 2 * (dx)]);                         \
      float wq = 1.0f / gr;                                                                                            \
      sw += wq;                                                                                                        \
      s += wq * (a[x + (dx)] - ga[x + (dx)]);                                                                          \
    }                                                                                                                  \
  while (0)
          RCD_DIAG (cm1, cp1, cm2, cm3, gm1, gm2, -1);
          RCD_DIAG (cm1, cp1, cm2, cm3, gm1, gm2, 1);
          RCD_DIAG (cp1, cm1, cp2, cp3, gp1, gp2, -1);
          RCD_DIAG (cp1, cm1, cp2, cp3, gp1, gp2, 1);
#undef RCD_DIAG
          gboolean gs = (x & 1) == gpar;
          Pc[x] = gs ? Pc[x] : c0[x];
          Po[x] = gs ? Po[x] : g0[x] + s / sw;
        }
    }
}

/* 4. red or blue (X) at green sites (into a row, then stored: the sweep reads the row's
 * other sites, which it leaves as they are) */
static TSR_RCD_CLONES void
rcd_chroma_green (const float *restrict G, const float *restrict vh, float *restrict X, float *restrict row, int W,
                  int H, float eps, const int col[2][2])
{
  for (int y = 5; y < H - 5; y++)
    {
      const int gpar = col[y & 1][0] == TSR_GREEN ? 0 : 1;
      const float *d0 = ROW (vh, 0), *g0 = ROW (G, 0), *gm1 = ROW (G, -1), *gp1 = ROW (G, 1), *gm2 = ROW (G, -2),
                  *gp2 = ROW (G, 2);
      float *X0 = ROW (X, 0);
      const float *Xm1 = ROW (X, -1), *Xp1 = ROW (X, 1);
      for (int x = 5; x < W - 5; x++)
        {
          float d = d0[x];
          float gN = eps + fabsf (Xm1[x] - Xp1[x]) + fabsf (g0[x] - gm2[x]);
          float gS = eps + fabsf (Xm1[x] - Xp1[x]) + fabsf (g0[x] - gp2[x]);
          float gW = eps + fabsf (X0[x - 1] - X0[x + 1]) + fabsf (g0[x] - g0[x - 2]);
          float gE = eps + fabsf (X0[x - 1] - X0[x + 1]) + fabsf (g0[x] - g0[x + 2]);
          float dN = Xm1[x] - gm1[x], dS = Xp1[x] - gp1[x];
          float dW = X0[x - 1] - g0[x - 1], dE = X0[x + 1] - g0[x + 1];
          float ev = (gS * dN + gN * dS) / (gN + gS), eh = (gE * dW + gW * dE) / (gW + gE);
          row[x] = g0[x] + d * eh + (1 - d) * ev;
        }
      for (int x = 5; x < W - 5; x++)
        X0[x] = (x & 1) == gpar ? row[x] : X0[x];
    }
}

/* 5. flux, first half: diff = X − its bilinear estimate (0 within 5 px of the padded
 * border). The bilinear estimate's kind per site: 0 native, 1 green (four direct
 * neighbours), 2 the row neighbours, 3 the column neighbours, 4 the diagonal neighbours. */
/* The bilinear estimate of kind k (see rcd_flux_diff) at x in [x0, x1) of one row. */
static inline void
bilinear_row (int k, const float *restrict c0, const float *restrict cm1, const float *restrict cp1, float *restrict b,
              int x0, int x1)
{
  switch (k)
    {
    case 0:
      for (int x = x0; x < x1; x++)
        b[x] = c0[x];
      break;
    case 1:
      for (int x = x0; x < x1; x++)
        b[x] = 0.25f * (c0[x - 1] + c0[x + 1] + cm1[x] + cp1[x]);
      break;
    case 2:
      for (int x = x0; x < x1; x++)
        b[x] = 0.5f * (c0[x - 1] + c0[x + 1]);
      break;
    case 3:
      for (int x = x0; x < x1; x++)
        b[x] = 0.5f * (cm1[x] + cp1[x]);
      break;
    default:
      for (int x = x0; x < x1; x++)
        b[x] = 0.25f * (cm1[x - 1] + cm1[x + 1] + cp1[x - 1] + cp1[x + 1]);
    }
}

static TSR_RCD_CLONES void
rcd_flux_diff (const float *restrict cfa, const float *restrict X, float *restrict diff, float *restrict rows, int W,
               int H, const int kind[2][2])
{
  for (int y = 2; y < H - 2; y++)
    {
      float *dr = ROW (diff, 0);
      if (y < 5 || y >= H - 5)
        {
          for (int x = 2; x < W - 2; x++)
            dr[x] = 0.0f;
          continue;
        }
      dr[2] = dr[3] = dr[4] = dr[W - 5] = dr[W - 4] = dr[W - 3] = 0.0f;
      const float *c0 = ROW (cfa, 0), *cm1 = ROW (cfa, -1), *cp1 = ROW (cfa, 1), *X0 = ROW (X, 0);
      bilinear_row (kind[y & 1][0], c0, cm1, cp1, rows, 5, W - 5);
      bilinear_row (kind[y & 1][1], c0, cm1, cp1, rows + W, 5, W - 5);
      for (int x = 5; x < W - 5; x++)
        dr[x] = X0[x] - (x & 1 ? rows[W + x] : rows[x]);
    }
}

#undef ROW

/* 5. flux, second half: output plane c, the local mean of diff taken out at the
 * interpolated sites */
static TSR_RCD_CLONES void
rcd_flux_out (const float *restrict X, const float *restrict mean, float *restrict dst, int w, int h, int W, int c,
              float share, const int col[2][2])
{
  for (int y = 0; y < h; y++)
    {
      const int own0 = col[y & 1][0] == c, own1 = col[y & 1][1] == c;
      const float *Xr = X + (gsize) (y + PAD) * W + PAD, *mr = mean + (gsize) (y + PAD) * W + PAD;
      float *dr = dst + (gsize) y * w;
      for (int x = 0; x < w; x++)
        {
          float v = Xr[x], vi = v - mr[x] / share;
          int own = x & 1 ? own1 : own0;
          dr[x] = own ? v : vi;
        }
    }
}

static TsrImage *
rcd_run (const TsrImage *m, double level)
{
  int w = m->width, h = m->height, W = w + 2 * PAD, H = h + 2 * PAD;
  gsize N = (gsize) W * H;
  TsrImage *out = tsr_image_new_uninit (w, h, 3);
  if (!out)
    return NULL;
  tsr_header_free (out->header);
  out->header = tsr_header_copy (m->header);
  memcpy (out->mask, m->mask, (gsize) w * h);

  /* scratch: eight padded planes; an allocation failure (a huge frame in a small address
   * space) returns NULL, which the callers report, instead of aborting */
  float *buf[8];
  gboolean ok = TRUE;
  for (int b = 0; b < 8; b++)
    ok &= (buf[b] = g_try_malloc_n (N, sizeof (float))) != NULL;
  if (!ok)
    {
      for (int b = 0; b < 8; b++)
        g_free (buf[b]);
      tsr_image_unref (out);
      return NULL;
    }
  /* zero only the PAD-wide ring of each plane: every sweep writes its plane's whole
   * interior (from at most 5 samples in) before any sweep reads it there, so the interior
   * needs no clearing (/post/demosaic-rcd-scratch fills it with NaN, a huge and a
   * negative value and compares) */
  gboolean poison = g_atomic_int_get (&scratch_poison);
  for (int b = 0; b < 8; b++)
    scratch_ring (buf[b], W, H, poison, scratch_poison_value);
  float *cfa = buf[0], *lpf = buf[1], *vh = buf[2], *vst = buf[3], *hst = buf[4];
  float *pl[3] = { buf[5], buf[6], buf[7] };
  padded_mosaic (m, W, H, cfa);
  float *G = pl[1];
  int col[2][2];
  for (int py = 0; py < 2; py++)
    for (int px = 0; px < 2; px++)
      col[py][px] = tsr_cfa_color (m->cfa, px, py);   /* PAD is even: same phase */
  /* a gradient scale below which differences are noise-free flat (keeps weights finite):
   * from the mosaic's level (the whole frame's, given, when m is a strip of it) */
  double mean_abs = level >= 0 ? level : padded_level (cfa, N);
  const float eps = (float) (1e-6 * mean_abs + 1e-20);
  rcd_direction (cfa, vst, hst, vh, W, H, eps);
  rcd_lowpass (cfa, lpf, W, H);
  rcd_green (cfa, lpf, vh, G, W, H, eps, (const int (*)[2]) col);
  /* the low-pass plane is done with: one plane less at the peak below (two frames in flight
   * during a run's analysis: 2 × 8 MB at 1080 × 1920) */
  g_clear_pointer (&buf[1], g_free);
  lpf = NULL;
  rcd_chroma_diagonal (cfa, G, pl[0], pl[2], W, H, eps, (const int (*)[2]) col);
  float *rows = g_new (float, 2 * (gsize) W);
  for (int c = 0; c < 3; c += 2)
    rcd_chroma_green (G, vh, pl[c], rows, W, H, eps, (const int (*)[2]) col);
  /* 5. flux: the local mean of (this − bilinear) taken out at the interpolated sites */
  float *diff = vst, *tmp = hst, *mean = vh;
  for (int c = 0; c < 3; c++)
    {
      float *X = pl[c];
      float share = c == TSR_GREEN ? 0.5f : 0.75f;   /* interpolated sites per pixel */
      int kind[2][2];
      for (int py = 0; py < 2; py++)
        for (int px = 0; px < 2; px++)
          kind[py][px] = col[py][px] == c ? 0
                         : c == TSR_GREEN ? 1
                         : col[py][(px + 1) & 1] == c ? 2
                         : col[(py + 1) & 1][px] == c ? 3 : 4;
      rcd_flux_diff (cfa, X, diff, rows, W, H, (const int (*)[2]) kind);
      blur (diff, tmp, mean, W, H, PAD);
      rcd_flux_out (X, mean, tsr_image_plane (out, c), w, h, W, c, share, (const int (*)[2]) col);
    }
  g_free (rows);
  for (int b = 0; b < 8; b++)
    g_free (buf[b]);
  out->cfa = TSR_CFA_NONE;
  return out;
}

TsrImage *
tsr_demosaic_rcd (const TsrImage *m)
{
  g_return_val_if_fail (m->channels == 1 && m->cfa != TSR_CFA_NONE, NULL);
  return rcd_run (m, -1.0);
}

/* Rows a demosaic's value at a site depends on, either side, with margin: MHC's 5 × 5
 * filters (2 rows); RCD's chain of sweeps (direction, its diagonal refinement, green, chroma,
 * the flux step's Gaussian), bit-identical from 14 rows on in /post/demosaic-rows (12 fail);
 * and for both the masked-sample fill, which looks up to 8 rows away. */
#define HALO_MHC 12
#define HALO_RCD 24

TsrImage *
tsr_demosaic_rect_halo (const TsrImage *m, TsrDemosaicMethod method, double level, int x0, int x1, int y0, int y1,
                        int *ox, int *oy)
{
  g_return_val_if_fail (m->channels == 1 && m->cfa != TSR_CFA_NONE, NULL);
  g_return_val_if_fail (y0 >= 0 && y1 <= m->height && y0 < y1 && x0 >= 0 && x1 <= m->width && x0 < x1, NULL);
  int w = m->width, h = m->height;
  int halo = method == TSR_DEMOSAIC_RCD ? HALO_RCD : HALO_MHC;
  int a = MAX (0, y0 - halo) & ~1, b = MIN (h, y1 + halo);
  int l = MAX (0, x0 - halo) & ~1, r = MIN (w, x1 + halo);
  int sw = r - l;
  g_autoptr (TsrImage) sub = tsr_image_new_uninit (sw, b - a, 1);
  if (!sub)
    return NULL;
  sub->cfa = m->cfa;
  for (int y = a; y < b; y++)
    {
      memcpy (sub->data + (gsize) (y - a) * sw, m->data + (gsize) y * w + l, sizeof (float) * sw);
      memcpy (sub->mask + (gsize) (y - a) * sw, m->mask + (gsize) y * w + l, sw);
    }
  *ox = l;
  *oy = a;
  return method == TSR_DEMOSAIC_RCD ? rcd_run (sub, level) : tsr_demosaic (sub);
}

TsrImage *
tsr_demosaic_rect (const TsrImage *m, TsrDemosaicMethod method, double level, int x0, int x1, int y0, int y1)
{
  g_return_val_if_fail (m->channels == 1 && m->cfa != TSR_CFA_NONE, NULL);
  g_return_val_if_fail (y0 >= 0 && y1 <= m->height && y0 < y1 && x0 >= 0 && x1 <= m->width && x0 < x1, NULL);
  int l, a;
  g_autoptr (TsrImage) rgb = tsr_demosaic_rect_halo (m, method, level, x0, x1, y0, y1, &l, &a);
  if (!rgb)
    return NULL;
  int sw = rgb->width, ow = x1 - x0, oh = y1 - y0;
  TsrImage *out = tsr_image_new_uninit (ow, oh, 3);
  if (!out)
    return NULL;
  gsize on = (gsize) ow * oh, sn = tsr_image_npix (rgb);
  for (int y = 0; y < oh; y++)
    {
      gsize so = (gsize) (y + y0 - a) * sw + (x0 - l), oo = (gsize) y * ow;
      for (int c = 0; c < 3; c++)
        memcpy (out->data + c * on + oo, rgb->data + c * sn + so, sizeof (float) * ow);
      memcpy (out->mask + oo, rgb->mask + so, ow);
    }
  out->cfa = TSR_CFA_NONE;
  return out;
}

TsrImage *
tsr_demosaic_rows (const TsrImage *m, TsrDemosaicMethod method, double level, int y0, int y1)
{
  g_return_val_if_fail (m != NULL, NULL);
  return tsr_demosaic_rect (m, method, level, 0, m->width, y0, y1);
}

static const char *const method_names[] = { "mhc", "rcd", NULL };

const char *
tsr_demosaic_method_name (TsrDemosaicMethod m)
{
  return m >= 0 && m < TSR_DEMOSAIC_N ? method_names[m] : "?";
}

TsrImage *
tsr_demosaic_with (const TsrImage *mosaic, TsrDemosaicMethod method)
{
  return method == TSR_DEMOSAIC_RCD ? tsr_demosaic_rcd (mosaic) : tsr_demosaic (mosaic);
}
