/* tsr-planetary.c — the planetary job: global starless alignment, alignment points with a
 * smooth warp field, local-quality stacking (docs/planetary.md). */
#include "tsr-planetary.h"
#include "tsr-error.h"
#include "tsr-parallel.h"
#include "tsr-json.h"
#include "tsr-stats.h"
#include "tsr-demosaic.h"
#include "tsr-warp.h"

#include <glib/gi18n.h>
#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------ small image helpers */

/* Luminance plane (mean of the channels); a mosaic is smoothed by a 2×2 box so every pixel
 * sees each colour. */
static float *
luminance (const TsrImage *img)
{
  int w = img->width, h = img->height;
  gsize np = tsr_image_npix (img);
  float *L = g_new (float, np);
  if (img->channels == 1 && img->cfa != TSR_CFA_NONE)
    {
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
          {
            int x1 = MIN (x + 1, w - 1), y1 = MIN (y + 1, h - 1);
            const float *d = img->data;
            L[(gsize) y * w + x] = 0.25f * (d[(gsize) y * w + x] + d[(gsize) y * w + x1] + d[(gsize) y1 * w + x]
                                            + d[(gsize) y1 * w + x1]);
          }
      return L;
    }
  memcpy (L, img->data, np * sizeof (float));
  for (int c = 1; c < img->channels; c++)
    {
      const float *p = tsr_image_plane (img, c);
      for (gsize i = 0; i < np; i++)
        L[i] += p[i];
    }
  if (img->channels > 1)
    for (gsize i = 0; i < np; i++)
      L[i] /= img->channels;
  return L;
}

static void
gauss_kernel (double sigma, float *k, int *radius)
{
  int r = (int) ceil (3 * sigma);
  r = CLAMP (r, 1, 15);
  double s = 0;
  for (int i = -r; i <= r; i++)
    s += (k[i + r] = (float) exp (-0.5 * i * i / (sigma * sigma)));
  for (int i = 0; i <= 2 * r; i++)
    k[i] /= (float) s;
  *radius = r;
}

/* Separable Gaussian blur with clamped edges. */
static void
gauss_blur (const float *in, float *out, int w, int h, double sigma)
{
  float k[31];
  int r;
  gauss_kernel (sigma, k, &r);
  float *tmp = g_new (float, (gsize) w * h);
  for (int y = 0; y < h; y++)
    {
      const float *row = in + (gsize) y * w;
      float *o = tmp + (gsize) y * w;
      for (int x = 0; x < w; x++)
        {
          float s = 0;
          if (x >= r && x < w - r)
            for (int i = -r; i <= r; i++)
              s += k[i + r] * row[x + i];
          else
            for (int i = -r; i <= r; i++)
              s += k[i + r] * row[CLAMP (x + i, 0, w - 1)];
          o[x] = s;
        }
    }
  for (int y = 0; y < h; y++)
    {
      float *o = out + (gsize) y * w;
      for (int x = 0; x < w; x++)
        o[x] = 0;
      for (int i = -r; i <= r; i++)
        {
          const float *row = tmp + (gsize) CLAMP (y + i, 0, h - 1) * w;
          float kk = k[i + r];
          for (int x = 0; x < w; x++)
            o[x] += kk * row[x];
        }
    }
  g_free (tmp);
}

/* |∇ (G_s * I)|² by central differences (0 on the outermost pixels). */
static void
gradient_energy_map (const float *plane, float *g2, int w, int h, double sigma)
{
  float *b = g_new (float, (gsize) w * h);
  gauss_blur (plane, b, w, h, sigma);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        gsize i = (gsize) y * w + x;
        if (x == 0 || y == 0 || x == w - 1 || y == h - 1)
          {
            g2[i] = 0;
            continue;
          }
        float gx = 0.5f * (b[i + 1] - b[i - 1]), gy = 0.5f * (b[i + w] - b[i - w]);
        g2[i] = gx * gx + gy * gy;
      }
  g_free (b);
}

/* Noise gain of the blur + central-difference filter: E|∇ (G_s * n)|² for unit white noise n. */
static double
gradient_noise_gain (double sigma)
{
  float k[31];
  int r;
  gauss_kernel (sigma, k, &r);
  /* gx filter = (k[x+1] − k[x−1]) / 2 along x convolved with k along y */
  double sx = 0, sy = 0;
  for (int i = -r - 1; i <= r + 1; i++)
    {
      double a = (i + 1 >= -r && i + 1 <= r ? k[i + 1 + r] : 0) - (i - 1 >= -r && i - 1 <= r ? k[i - 1 + r] : 0);
      sx += 0.25 * a * a;
    }
  for (int i = -r; i <= r; i++)
    sy += (double) k[i + r] * k[i + r];
  return 2 * sx * sy;
}

double
tsr_gradient_energy (const float *plane, int w, int h, int x0, int y0, int x1, int y1, double blur_sigma,
                     double noise_sigma)
{
  if (x1 <= x0)
    {
      x0 = 0;
      y0 = 0;
      x1 = w;
      y1 = h;
    }
  float *g2 = g_new (float, (gsize) w * h);
  gradient_energy_map (plane, g2, w, h, blur_sigma);
  double s = 0;
  gsize n = 0;
  for (int y = MAX (y0, 1); y < MIN (y1, h - 1); y++)
    for (int x = MAX (x0, 1); x < MIN (x1, w - 1); x++)
      {
        s += g2[(gsize) y * w + x];
        n++;
      }
  g_free (g2);
  return n ? s / n - gradient_noise_gain (blur_sigma) * noise_sigma * noise_sigma : NAN;
}

double
tsr_planetary_sharpness (const TsrImage *img, int x0, int y0, int x1, int y1, double *noise_out)
{
  int w = img->width, h = img->height;
  float *L = luminance (img);
  double sigma = tsr_plane_noise (L, img->mask, w, h, 1);
  if (x1 <= x0)
    {
      x0 = 0;
      y0 = 0;
      x1 = w;
      y1 = h;
    }
  /* only pixels whose whole filter footprint (blur 1 px: radius 3, +1 for the difference) is
   * valid: a masked border (zeros) must not count as an edge */
  const int R = 5;
  gsize np = (gsize) w * h;
  guint8 *ok = g_new0 (guint8, np);
  int *run = g_new (int, MAX (w, h) + 1);
  guint8 *tmp = g_new0 (guint8, np);
  for (int y = 0; y < h; y++)
    {
      int last_bad = -1000000;
      for (int x = 0; x < w; x++)
        {
          if (!img->mask[(gsize) y * w + x])
            last_bad = x;
          run[x] = last_bad;
        }
      int next_bad = 1000000;
      for (int x = w - 1; x >= 0; x--)
        {
          if (!img->mask[(gsize) y * w + x])
            next_bad = x;
          tmp[(gsize) y * w + x] = x - run[x] > R && next_bad - x > R;
        }
    }
  for (int x = 0; x < w; x++)
    {
      int last_bad = -1000000;
      for (int y = 0; y < h; y++)
        {
          if (!tmp[(gsize) y * w + x])
            last_bad = y;
          run[y] = last_bad;
        }
      int next_bad = 1000000;
      for (int y = h - 1; y >= 0; y--)
        {
          if (!tmp[(gsize) y * w + x])
            next_bad = y;
          ok[(gsize) y * w + x] = y - run[y] > R && next_bad - y > R;
        }
    }
  g_free (tmp);
  g_free (run);
  float *g2 = g_new (float, np);
  gradient_energy_map (L, g2, w, h, 1.0);
  double e = 0, m = 0;
  gsize n = 0;
  for (int y = MAX (y0, 1); y < MIN (y1, h - 1); y++)
    for (int x = MAX (x0, 1); x < MIN (x1, w - 1); x++)
      {
        gsize i = (gsize) y * w + x;
        if (!ok[i])
          continue;
        e += g2[i];
        m += L[i];
        n++;
      }
  g_free (g2);
  g_free (ok);
  g_free (L);
  if (noise_out)
    *noise_out = sigma;
  if (n == 0)
    return NAN;
  e = e / n - gradient_noise_gain (1.0) * sigma * sigma;
  m /= n;
  /* the noise is taken out of E (debiased); dividing by the mean level squared makes the
   * number independent of the units (×1e4: readable magnitudes) */
  return m > 0 ? 1e4 * e / (m * m) : NAN;
}

/* Catmull-Rom (Keys a = −0.5) cubic sample of plane at (x, y), clamped edges. */
static inline float
cubic_w (float t, float *w)
{
  float t2 = t * t, t3 = t2 * t;
  w[0] = -0.5f * t3 + t2 - 0.5f * t;
  w[1] = 1.5f * t3 - 2.5f * t2 + 1.f;
  w[2] = -1.5f * t3 + 2.f * t2 + 0.5f * t;
  w[3] = 0.5f * t3 - 0.5f * t2;
  return 0;
}

static inline float
sample_cubic (const float *p, int w, int h, float x, float y)
{
  int ix = (int) floorf (x), iy = (int) floorf (y);
  float wx[4], wy[4];
  cubic_w (x - ix, wx);
  cubic_w (y - iy, wy);
  float s = 0;
  if (ix >= 1 && iy >= 1 && ix + 2 < w && iy + 2 < h)
    {
      for (int j = 0; j < 4; j++)
        {
          const float *r = p + (gsize) (iy - 1 + j) * w + ix - 1;
          s += wy[j] * (wx[0] * r[0] + wx[1] * r[1] + wx[2] * r[2] + wx[3] * r[3]);
        }
      return s;
    }
  for (int j = 0; j < 4; j++)
    {
      int yy = CLAMP (iy - 1 + j, 0, h - 1);
      float rs = 0;
      for (int i = 0; i < 4; i++)
        rs += wx[i] * p[(gsize) yy * w + CLAMP (ix - 1 + i, 0, w - 1)];
      s += wy[j] * rs;
    }
  return s;
}

/* Lanczos-3 sample of plane at (x, y), clamped edges; weights normalised to sum 1 (a flat
 * area stays flat). Not clamped: linear data keeps its ringing honestly. */
static void
lanczos3_w_exact (double t, float *w)
{
  float s = 0;
  for (int i = 0; i < 6; i++)
    {
      double u = t - (i - 2);
      double v;
      if (fabs (u) < 1e-6)
        v = 1;
      else if (fabs (u) >= 3)
        v = 0;
      else
        v = 3 * sin (G_PI * u) * sin (G_PI * u / 3) / (G_PI * G_PI * u * u);
      w[i] = (float) v;
      s += w[i];
    }
  for (int i = 0; i < 6; i++)
    w[i] /= s;
}

/* The six normalised weights tabulated at 1/L3_STEPS px and interpolated linearly between
 * entries (within ~10⁻⁷ of the formula; 98 KiB): the formula's 12 sin () a weight set, computed for every
 * sample of every channel, were 71 % of a planetary run's CPU (100 Jupiter frames, 512², 49 s). */
#define L3_STEPS 4096
static float l3_table[(L3_STEPS + 2) * 6];

static gpointer
l3_table_init (gpointer data)
{
  (void) data;
  for (int k = 0; k <= L3_STEPS + 1; k++)
    lanczos3_w_exact ((double) k / L3_STEPS, l3_table + 6 * k);
  return NULL;
}

static GOnce l3_once = G_ONCE_INIT;

static inline void
lanczos3_w (float t, float *w)
{
  float q = t * L3_STEPS;
  int k = (int) q;
  k = CLAMP (k, 0, L3_STEPS);
  float f = q - (float) k;
  const float *a = l3_table + 6 * k, *b = a + 6;
  for (int i = 0; i < 6; i++)
    w[i] = a[i] + f * (b[i] - a[i]);
}

static inline float
lanczos3_apply (const float *p, int w, int h, int ix, int iy, const float *wx, const float *wy)
{
  float s = 0;
  if (ix >= 2 && iy >= 2 && ix + 3 < w && iy + 3 < h)
    {
      for (int j = 0; j < 6; j++)
        {
          const float *r = p + (gsize) (iy - 2 + j) * w + ix - 2;
          s += wy[j] * (wx[0] * r[0] + wx[1] * r[1] + wx[2] * r[2] + wx[3] * r[3] + wx[4] * r[4] + wx[5] * r[5]);
        }
      return s;
    }
  for (int j = 0; j < 6; j++)
    {
      int yy = CLAMP (iy - 2 + j, 0, h - 1);
      float rs = 0;
      for (int i = 0; i < 6; i++)
        rs += wx[i] * p[(gsize) yy * w + CLAMP (ix - 2 + i, 0, w - 1)];
      s += wy[j] * rs;
    }
  return s;
}

static inline float
sample_lanczos3 (const float *p, int w, int h, float x, float y)
{
  int ix = (int) floorf (x), iy = (int) floorf (y);
  float wx[6], wy[6];
  g_once (&l3_once, l3_table_init, NULL);
  lanczos3_w (x - ix, wx);
  lanczos3_w (y - iy, wy);
  return lanczos3_apply (p, w, h, ix, iy, wx, wy);
}

static inline float
sample_kernel (TsrPlanetaryInterp k, const float *p, int w, int h, float x, float y)
{
  return k == TSR_PINTERP_CUBIC ? sample_cubic (p, w, h, x, y) : sample_lanczos3 (p, w, h, x, y);
}

/* sample_kernel of channels 0 … n − 1 of img at one position, the Lanczos weights found once
 * (the same values as n calls) */
static inline void
sample_kernel_channels (TsrPlanetaryInterp k, const TsrImage *img, int n, int w, int h, float x, float y, float *out)
{
  if (k == TSR_PINTERP_CUBIC)
    {
      for (int c = 0; c < n; c++)
        out[c] = sample_cubic (tsr_image_plane (img, c), w, h, x, y);
      return;
    }
  int ix = (int) floorf (x), iy = (int) floorf (y);
  float wx[6], wy[6];
  g_once (&l3_once, l3_table_init, NULL);
  lanczos3_w (x - ix, wx);
  lanczos3_w (y - iy, wy);
  for (int c = 0; c < n; c++)
    out[c] = lanczos3_apply (tsr_image_plane (img, c), w, h, ix, iy, wx, wy);
}

static inline float
sample_bilinear (const float *p, int w, int h, float x, float y)
{
  x = CLAMP (x, 0.f, w - 1.001f);
  y = CLAMP (y, 0.f, h - 1.001f);
  int ix = (int) x, iy = (int) y;
  float fx = x - ix, fy = y - iy;
  const float *r = p + (gsize) iy * w + ix;
  return (1 - fy) * ((1 - fx) * r[0] + fx * r[1]) + fy * ((1 - fx) * r[w] + fx * r[w + 1]);
}

/* out(x, y) = in(x + sx, y + sy); mask (may be NULL) 0 where the sample falls outside. */
static void
shift_plane (const float *in, float *out, guint8 *mask, int w, int h, double sx, double sy)
{
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        float X = x + sx, Y = y + sy;
        gsize i = (gsize) y * w + x;
        out[i] = sample_cubic (in, w, h, X, Y);
        if (mask)
          mask[i] = X >= 0 && Y >= 0 && X <= w - 1 && Y <= h - 1;
      }
}

/* The global alignment of frame f: the frame position (X, Y) of output pixel (x, y) — a shift,
 * or, with the 4-DOF alignment, a rotation and scale about the frame centre plus the shift. */
static inline void
global_pos (const TsrPlanetaryResult *r, guint f, double x, double y, float *X, float *Y)
{
  if (!r->rotated)
    {
      *X = (float) (x + r->shift_x[f]);
      *Y = (float) (y + r->shift_y[f]);
      return;
    }
  double cx = 0.5 * (r->width - 1), cy = 0.5 * (r->height - 1), u = x - cx, v = y - cy;
  double a = r->rot_a[f], b = r->rot_b[f];
  *X = (float) (cx + a * u - b * v + r->shift_x[f]);
  *Y = (float) (cy + b * u + a * v + r->shift_y[f]);
}

double
tsr_planetary_frame_rotation (const TsrPlanetaryResult *r, guint f, double *scale)
{
  if (!r || f >= r->n_frames || !r->rotated)
    {
      if (scale)
        *scale = 1;
      return 0;
    }
  if (scale)
    *scale = hypot (r->rot_a[f], r->rot_b[f]);
  return atan2 (r->rot_b[f], r->rot_a[f]);
}

/* out(x, y) = in at the global position of frame f (Catmull-Rom); mask (may be NULL) 0 outside */
static void
warp_plane (const TsrPlanetaryResult *r, guint f, const float *in, float *out, guint8 *mask)
{
  int w = r->width, h = r->height;
  if (!r->rotated)
    {
      shift_plane (in, out, mask, w, h, r->shift_x[f], r->shift_y[f]);
      return;
    }
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        float X, Y;
        global_pos (r, f, x, y, &X, &Y);
        gsize i = (gsize) y * w + x;
        out[i] = sample_cubic (in, w, h, X, Y);
        if (mask)
          mask[i] = X >= 0 && Y >= 0 && X <= w - 1 && Y <= h - 1;
      }
}

/* ------------------------------------------------------------------ translation by Lucas–Kanade */

/* Refine (sx, sy) so that F(x + sx, y + sy) ≈ R(x, y) over the box, on planes already blurred.
 * Returns FALSE when the box holds no structure (singular normal matrix). */
static gboolean
lk_translate (const float *R, const float *F, int w, int h, int x0, int y0, int x1, int y1, int stride,
              double *sx, double *sy, int iterations)
{
  x0 = MAX (x0, 1);
  y0 = MAX (y0, 1);
  x1 = MIN (x1, w - 1);
  y1 = MIN (y1, h - 1);
  for (int it = 0; it < iterations; it++)
    {
      double a = 0, b = 0, c = 0, ex = 0, ey = 0, s0 = 0, s1 = 0, sgx = 0, sgy = 0;
      gsize n = 0;
      /* one pass: the brightness offset between the two (their mean difference, gain ≈ 1) enters
       * the error sums as off · Σ g, so Σ g (F − R) and Σ g are summed beside the offset's sums
       * (two passes sampled every pixel twice: a quarter of a lunar run's CPU) */
      for (int y = y0; y < y1; y += stride)
        for (int x = x0; x < x1; x += stride)
          {
            float X = x + (float) *sx, Y = y + (float) *sy;
            if (X < 0 || Y < 0 || X > w - 1 || Y > h - 1)
              continue;
            gsize i = (gsize) y * w + x;
            double fv = sample_bilinear (F, w, h, X, Y), rv = R[i];
            double gx = 0.5 * (R[i + 1] - R[i - 1]), gy = 0.5 * (R[i + w] - R[i - w]);
            s0 += fv;
            s1 += rv;
            n++;
            a += gx * gx;
            b += gx * gy;
            c += gy * gy;
            ex += gx * (fv - rv);
            ey += gy * (fv - rv);
            sgx += gx;
            sgy += gy;
          }
      if (n < 16)
        return FALSE;
      double off = (s0 - s1) / n;
      ex -= off * sgx;
      ey -= off * sgy;
      double det = a * c - b * b;
      if (!(det > 1e-12 * (a + c) * (a + c)) || a + c <= 0)
        return FALSE;
      double dx = -(c * ex - b * ey) / det, dy = -(a * ey - b * ex) / det;
      dx = CLAMP (dx, -2, 2);
      dy = CLAMP (dy, -2, 2);
      *sx += dx;
      *sy += dy;
      if (fabs (dx) < 1e-3 && fabs (dy) < 1e-3)
        break;
    }
  return TRUE;
}

/* ------------------------------------------------------------------ 4-DOF (similarity) alignment */

/* Solve the n×n system M x = v (Gaussian elimination, partial pivoting); FALSE when singular. */
static gboolean
solve_n (double *M, double *v, int n)
{
  for (int c = 0; c < n; c++)
    {
      int piv = c;
      for (int r = c + 1; r < n; r++)
        if (fabs (M[r * n + c]) > fabs (M[piv * n + c]))
          piv = r;
      if (!(fabs (M[piv * n + c]) > 1e-300))
        return FALSE;
      if (piv != c)
        {
          for (int k = 0; k < n; k++)
            {
              double t = M[c * n + k];
              M[c * n + k] = M[piv * n + k];
              M[piv * n + k] = t;
            }
          double t = v[c];
          v[c] = v[piv];
          v[piv] = t;
        }
      for (int r = c + 1; r < n; r++)
        {
          double f = M[r * n + c] / M[c * n + c];
          for (int k = c; k < n; k++)
            M[r * n + k] -= f * M[c * n + k];
          v[r] -= f * v[c];
        }
    }
  for (int c = n - 1; c >= 0; c--)
    {
      double s = v[c];
      for (int k = c + 1; k < n; k++)
        s -= M[c * n + k] * v[k];
      v[c] = s / M[c * n + c];
    }
  return TRUE;
}

/* Gauss–Newton fit of F(cx + a u − b v + tx, cy + b u + a v + ty) − off ≈ R(x, y) (u = x − cx,
 * v = y − cy; prm = a, b, tx, ty) over the frame less a margin, on planes already blurred; the
 * Jacobian uses R's gradient (exact at the solution, where the residual vanishes). */
static gboolean
lk_similarity (const float *R, const float *F, int w, int h, int stride, double prm[4], int iterations,
               double *rms_out)
{
  double cx = 0.5 * (w - 1), cy = 0.5 * (h - 1);
  int m = MAX (2, MIN (w, h) / 32);
  for (int it = 0; it < iterations; it++)
    {
      double M[25] = { 0 }, v[5] = { 0 }, se = 0, s1 = 0;
      gsize cnt = 0;
      for (int y = m; y < h - m; y += stride)
        for (int x = m; x < w - m; x += stride)
          {
            double u = x - cx, vv = y - cy;
            double X = cx + prm[0] * u - prm[1] * vv + prm[2], Y = cy + prm[1] * u + prm[0] * vv + prm[3];
            if (X < 0 || Y < 0 || X > w - 1 || Y > h - 1)
              continue;
            gsize i = (gsize) y * w + x;
            double gx = 0.5 * (R[i + 1] - R[i - 1]), gy = 0.5 * (R[i + w] - R[i - w]);
            double J[5] = { gx * u + gy * vv, -gx * vv + gy * u, gx, gy, -1 };
            double e = sample_bilinear (F, w, h, (float) X, (float) Y) - R[i];
            se += e * e;
            s1 += e;
            for (int a = 0; a < 5; a++)
              {
                v[a] -= J[a] * e;
                for (int b = a; b < 5; b++)
                  M[a * 5 + b] += J[a] * J[b];
              }
            cnt++;
          }
      if (cnt < 64)
        return FALSE;
      if (rms_out) /* the residual (offset removed) at the parameters before this step */
        *rms_out = sqrt (MAX (se / cnt - (s1 / cnt) * (s1 / cnt), 0));
      for (int a = 0; a < 5; a++)
        for (int b = 0; b < a; b++)
          M[a * 5 + b] = M[b * 5 + a];
      if (!solve_n (M, v, 5))
        return FALSE;
      /* the offset (v[4]) is a nuisance parameter, refitted every step */
      double r0 = hypot (cx, cy);
      double step = MAX (fabs (v[0]), fabs (v[1])) * r0;
      double lim = MAX (w, h) / 8.0;
      if (step > lim || fabs (v[2]) > lim || fabs (v[3]) > lim)
        {
          double k = lim / MAX (step, MAX (fabs (v[2]), fabs (v[3])));
          for (int a = 0; a < 4; a++)
            v[a] *= k;
        }
      for (int a = 0; a < 4; a++)
        prm[a] += v[a];
      if (step < 1e-3 && fabs (v[2]) < 1e-3 && fabs (v[3]) < 1e-3)
        break;
    }
  return isfinite (prm[0]) && isfinite (prm[1]) && prm[0] > 0.5 && prm[0] < 2;
}

/* 2×2 box reduction then a 1 px blur: one level of the pyramid. */
static float *
pyr_down (const float *in, int w, int h, int *w2, int *h2)
{
  int W = w / 2, H = h / 2;
  float *o = g_new (float, (gsize) W * H), *b = g_new (float, (gsize) W * H);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      {
        const float *p = in + (gsize) (2 * y) * w + 2 * x;
        o[(gsize) y * W + x] = 0.25f * (p[0] + p[1] + p[w] + p[w + 1]);
      }
  gauss_blur (o, b, W, H, 1.0);
  g_free (o);
  *w2 = W;
  *h2 = H;
  return b;
}

#define PYR_MAX 6
typedef struct
{
  int n;
  int w[PYR_MAX], h[PYR_MAX];
  float *p[PYR_MAX]; /* p[0] borrowed */
} Pyramid;

static void
pyr_build (Pyramid *py, const float *base, int w, int h)
{
  py->n = 1;
  py->p[0] = (float *) base;
  py->w[0] = w;
  py->h[0] = h;
  while (py->n < PYR_MAX && MIN (py->w[py->n - 1], py->h[py->n - 1]) >= 128)
    {
      int k = py->n;
      py->p[k] = pyr_down (py->p[k - 1], py->w[k - 1], py->h[k - 1], &py->w[k], &py->h[k]);
      py->n++;
    }
}

static void
pyr_clear (Pyramid *py)
{
  for (int k = 1; k < py->n; k++)
    g_free (py->p[k]);
  py->n = 0;
}

/* Coarse to fine similarity fit of F to R (both blurred full-resolution planes; R's pyramid
 * given). prm: start and result in full-resolution pixels. The centre of level k is the
 * full-resolution centre mapped to it, so a and b carry over and the shift scales by 2^-k. */
static gboolean
fit_similarity (const Pyramid *pr, const float *F, double prm[4])
{
  Pyramid pf;
  pyr_build (&pf, F, pr->w[0], pr->h[0]);
  double q[4] = { prm[0], prm[1], prm[2], prm[3] };
  gboolean ok = TRUE;
  for (int k = pr->n - 1; k >= 0 && ok; k--)
    {
      double s = ldexp (1.0, -k);
      double c0x = 0.5 * (pr->w[0] - 1), c0y = 0.5 * (pr->h[0] - 1);
      double ckx = 0.5 * (pr->w[k] - 1), cky = 0.5 * (pr->h[k] - 1);
      /* level k: x_k = (x0 + 0.5) s − 0.5 (s = 2^-k); the full-resolution centre c0 lands at
       * ck + d (ck: the level's centre), so X0 = c0 + A (x0 − c0) + t0 becomes
       * X_k = ck + A (x_k − ck) + (I − A) d + s t0 */
      double dx = (c0x + 0.5) * s - 0.5 - ckx, dy = (c0y + 0.5) * s - 0.5 - cky;
      double lv[4] = { q[0], q[1], 0, 0 };
      lv[2] = dx - (q[0] * dx - q[1] * dy) + q[2] * s;
      lv[3] = dy - (q[1] * dx + q[0] * dy) + q[3] * s;
      if (k == pr->n - 1 && pr->n > 1)
        {
          /* the coarsest level: the fit from the given start and from starts turned by ±6° … ±42°
           * (field rotation beyond the basin of one start); the lowest residual wins */
          double best_rms = INFINITY, best_lv[4] = { lv[0], lv[1], lv[2], lv[3] };
          gboolean any = FALSE;
          for (int t = 0; t <= 14; t++)
            {
              double ang = (t == 0 ? 0 : (t % 2 ? 1 : -1) * 6.0 * ((t + 1) / 2)) * G_PI / 180;
              double c = cos (ang), sn = sin (ang);
              double tl[4] = { lv[0] * c - lv[1] * sn, lv[0] * sn + lv[1] * c, lv[2], lv[3] };
              double rms = INFINITY;
              if (lk_similarity (pr->p[k], pf.p[k], pr->w[k], pr->h[k], 1, tl, 30, NULL)
                  && lk_similarity (pr->p[k], pf.p[k], pr->w[k], pr->h[k], 1, tl, 1, &rms) && rms < best_rms)
                {
                  best_rms = rms;
                  memcpy (best_lv, tl, sizeof tl);
                  any = TRUE;
                }
            }
          ok = any;
          memcpy (lv, best_lv, sizeof best_lv);
        }
      else
        ok = lk_similarity (pr->p[k], pf.p[k], pr->w[k], pr->h[k], k == 0 ? 2 : 1, lv, k == 0 ? 10 : 20, NULL);
      if (ok)
        {
          q[0] = lv[0];
          q[1] = lv[1];
          q[2] = (lv[2] - dx + (q[0] * dx - q[1] * dy)) / s;
          q[3] = (lv[3] - dy + (q[1] * dx + q[0] * dy)) / s;
        }
    }
  pyr_clear (&pf);
  if (ok)
    memcpy (prm, q, sizeof q);
  return ok;
}

/* Integer SSD search of F around (cx, cy) within ±radius for the box of R, on a stride-2
 * subsample with the mean difference removed, then a parabolic sub-pixel step. */
static gboolean
ssd_search (const float *R, const float *F, int w, int h, int x0, int y0, int x1, int y1, int radius, double *sx,
            double *sy)
{
  int best_dx = 0, best_dy = 0;
  double best = INFINITY;
  int nd = 2 * radius + 1;
  double *cost = g_new (double, nd * nd);
  for (int dy = -radius; dy <= radius; dy++)
    for (int dx = -radius; dx <= radius; dx++)
      {
        double s = 0, s2 = 0;
        gsize n = 0;
        for (int y = y0; y < y1; y += 2)
          {
            int Y = y + dy;
            if (Y < 0 || Y >= h)
              continue;
            for (int x = x0; x < x1; x += 2)
              {
                int X = x + dx;
                if (X < 0 || X >= w)
                  continue;
                double d = F[(gsize) Y * w + X] - R[(gsize) y * w + x];
                s += d;
                s2 += d * d;
                n++;
              }
          }
        double v = n > 16 ? (s2 - s * s / n) / n : INFINITY;
        cost[(dy + radius) * nd + dx + radius] = v;
        if (v < best)
          {
            best = v;
            best_dx = dx;
            best_dy = dy;
          }
      }
  gboolean ok = isfinite (best);
  double fx = 0, fy = 0;
  if (ok && abs (best_dx) < radius && abs (best_dy) < radius)
    {
      const double *cc = cost + (best_dy + radius) * nd + best_dx + radius;
      double l = cc[-1], r = cc[1], u = cc[-nd], d = cc[nd], m = cc[0];
      if (l + r - 2 * m > 0)
        fx = CLAMP (0.5 * (l - r) / (l + r - 2 * m), -0.5, 0.5);
      if (u + d - 2 * m > 0)
        fy = CLAMP (0.5 * (u - d) / (u + d - 2 * m), -0.5, 0.5);
    }
  else
    ok = FALSE; /* on the edge of the search window: not trusted */
  g_free (cost);
  *sx = best_dx + fx;
  *sy = best_dy + fy;
  return ok;
}

/* Centroid of the bright disc: pixels above median + 0.3 (p99.5 − median), weighted. */
static gboolean
disc_centroid (const float *L, int w, int h, double *cx, double *cy)
{
  gsize np = (gsize) w * h;
  gsize step = MAX (1, np / 200000);
  gsize ns = np / step;
  float *tmp = g_new (float, ns);
  for (gsize i = 0; i < ns; i++)
    tmp[i] = L[i * step];
  float med = tsr_median_inplace (tmp, ns);
  /* p99.5 by selection on a copy */
  for (gsize i = 0; i < ns; i++)
    tmp[i] = L[i * step];
  gsize k = (gsize) (0.995 * (ns - 1));
  /* the k-th value by selection (the value a sort puts there; sorting the 200,000 values of
   * every frame was 17 % of a planetary run) */
  float hi = tsr_select_inplace (tmp, ns, k);
  g_free (tmp);
  float thr = med + 0.3f * (hi - med);
  double sx = 0, sy = 0, sw = 0;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        float v = L[(gsize) y * w + x] - thr;
        if (v > 0)
          {
            sx += v * x;
            sy += v * y;
            sw += v;
          }
      }
  if (sw <= 0)
    return FALSE;
  *cx = sx / sw;
  *cy = sy / sw;
  return TRUE;
}

/* ------------------------------------------------------------------ the job */

void
tsr_planetary_result_free (TsrPlanetaryResult *r)
{
  if (!r)
    return;
  g_free (r->shift_x);
  g_free (r->shift_y);
  g_free (r->rot_a);
  g_free (r->rot_b);
  g_clear_pointer (&r->sharpened, tsr_image_unref);
  g_free (r->quality);
  g_free (r->ap_x);
  g_free (r->ap_y);
  g_free (r->ap_active);
  g_free (r->ap_dx);
  g_free (r->ap_dy);
  g_free (r->ap_quality);
  g_clear_pointer (&r->result, tsr_image_unref);
  g_clear_pointer (&r->mean, tsr_image_unref);
  g_clear_pointer (&r->best_frame, tsr_image_unref);
  g_free (r);
}

typedef struct
{
  const TsrPlanetaryParams *p;
  TsrPlanetaryResult *r;
  int w, h, size;
  const float *Rb;     /* blurred reference */
  const float *Bf;     /* blurred aligned frame */
  const float *g2;     /* gradient energy map of the aligned frame */
  const guint8 *Mf;    /* validity of the aligned frame */
  double gain, sigma;  /* noise gain of the gradient filter, frame noise */
  double inv_level2;   /* 1e4 / (mean level of the frame)² */
  guint f;
} ApJob;

static void
ap_box (const ApJob *j, guint k, int *x0, int *y0, int *x1, int *y1)
{
  int half = j->size / 2;
  *x0 = MAX (0, (int) j->r->ap_x[k] - half);
  *y0 = MAX (0, (int) j->r->ap_y[k] - half);
  *x1 = MIN (j->w, (int) j->r->ap_x[k] + half);
  *y1 = MIN (j->h, (int) j->r->ap_y[k] + half);
}

static void
ap_measure_range (gsize begin, gsize end, gpointer data)
{
  ApJob *j = data;
  TsrPlanetaryResult *r = j->r;
  guint n = r->n_frames;
  for (gsize k = begin; k < end; k++)
    {
      int x0, y0, x1, y1;
      ap_box (j, k, &x0, &y0, &x1, &y1);
      double s = 0;
      gsize cnt = 0, valid = 0;
      for (int y = MAX (y0, 1); y < MIN (y1, j->h - 1); y++)
        for (int x = MAX (x0, 1); x < MIN (x1, j->w - 1); x++)
          {
            gsize i = (gsize) y * j->w + x;
            s += j->g2[i];
            cnt++;
            valid += j->Mf[i];
          }
      gsize at = k * n + j->f;
      double sig2 = j->sigma * j->sigma;
      gboolean inside = cnt > 0 && valid >= 0.9 * cnt;
      /* noise-debiased gradient energy relative to the frame's level: the noise is taken out of
       * the energy (so a noisy frame never looks sharp), and dividing by the level² keeps
       * transparency or gain changes out; dividing by σ² instead would rank the sharp frames
       * low, since their pixel-difference noise estimate carries fine structure too */
      r->ap_quality[at] = inside ? (float) ((s / cnt - j->gain * sig2) * j->inv_level2) : NAN;
      r->ap_dx[at] = r->ap_dy[at] = NAN;
      if (!r->ap_active[k] || !inside || !j->p->local)
        continue;
      double dx = 0, dy = 0;
      if (!ssd_search (j->Rb, j->Bf, j->w, j->h, x0, y0, x1, y1, j->p->search, &dx, &dy))
        continue;
      if (!lk_translate (j->Rb, j->Bf, j->w, j->h, x0, y0, x1, y1, 1, &dx, &dy, 4))
        continue;
      if (fabs (dx) > j->p->search || fabs (dy) > j->p->search)
        continue;
      r->ap_dx[at] = (float) dx;
      r->ap_dy[at] = (float) dy;
    }
}

static double
median_d (double *v, guint n)
{
  if (n == 0)
    return NAN;
  float *t = g_new (float, n);
  for (guint i = 0; i < n; i++)
    t[i] = (float) v[i];
  double m = tsr_median_inplace (t, n);
  g_free (t);
  return m;
}

static int
cmp_desc_q (gconstpointer a, gconstpointer b, gpointer user)
{
  const float *q = user;
  float x = q[*(const guint *) a], y = q[*(const guint *) b];
  return x > y ? -1 : x < y;
}

static inline float
hann1 (double u, double size)
{
  if (fabs (u) >= size / 2)
    return 0;
  double c = cos (G_PI * u / size);
  return (float) (c * c);
}

/* Accumulate Σ_k b_k(p) v_k into out (w×h) for the given per-AP values (NaN = skip). The window
 * tabulated once per call (hann1 at offsets −half … half: the same values; its cos () per pixel
 * and point was 9 % of a planetary run). */
static void
splat_aps (const TsrPlanetaryResult *r, int w, int h, int size, const float *vals, float *out)
{
  memset (out, 0, (gsize) w * h * sizeof (float));
  int half = size / 2;
  float *hw = g_new (float, 2 * half + 1);
  for (int u = -half; u <= half; u++)
    hw[u + half] = hann1 (u, size);
  for (guint k = 0; k < r->n_aps; k++)
    {
      float v = vals[k];
      if (v == 0)
        continue;
      int cx = (int) r->ap_x[k], cy = (int) r->ap_y[k];
      for (int y = MAX (0, cy - half); y < MIN (h, cy + half + 1); y++)
        {
          float by = hw[y - cy + half];
          if (by == 0)
            continue;
          for (int x = MAX (0, cx - half); x < MIN (w, cx + half + 1); x++)
            out[(gsize) y * w + x] += v * by * hw[x - cx + half];
        }
    }
  g_free (hw);
}

/* A plane scaled to its own range (median → 0, 99.5th percentile → 1), so two colour channels
 * of different brightness can be registered against each other. */
static float *
normalised_plane (const float *p, int w, int h)
{
  gsize np = (gsize) w * h;
  gsize step = MAX (1, np / 200000);
  gsize ns = np / step;
  float *t = g_new (float, ns);
  for (gsize i = 0; i < ns; i++)
    t[i] = p[i * step];
  float med = tsr_select_inplace (t, ns, ns / 2), hi = tsr_select_inplace (t, ns, (gsize) (0.995 * (ns - 1)));
  g_free (t);
  float sc = hi > med ? 1.f / (hi - med) : 1.f;
  float *o = g_new (float, np);
  for (gsize i = 0; i < np; i++)
    o[i] = (p[i] - med) * sc;
  return o;
}

gboolean
tsr_planetary_channel_offsets (const TsrImage *img, double *dx, double *dy)
{
  g_return_val_if_fail (img && img->channels == 3, FALSE);
  int w = img->width, h = img->height;
  gsize np = (gsize) w * h;
  float *G = normalised_plane (tsr_image_plane (img, 1), w, h), *Gb = g_new (float, np), *Cb = g_new (float, np);
  gauss_blur (G, Gb, w, h, 1.0);
  gboolean ok = TRUE;
  for (int c = 0; c < 3; c += 2)
    {
      float *C = normalised_plane (tsr_image_plane (img, c), w, h);
      gauss_blur (C, Cb, w, h, 1.0);
      double sx = 0, sy = 0, sx0 = 0, sy0 = 0, peak;
      /* the start by phase correlation (dispersion reaches several px at low altitude) */
      if (tsr_phase_correlate (G, C, w, h, &sx0, &sy0, &peak))
        {
          sx = sx0;
          sy = sy0;
        }
      if (!lk_translate (Gb, Cb, w, h, 8, 8, w - 8, h - 8, 1, &sx, &sy, 30) || hypot (sx - sx0, sy - sy0) > 3)
        ok = FALSE;
      dx[c] = sx;
      dy[c] = sy;
      g_free (C);
    }
  dx[1] = dy[1] = 0;
  g_free (G);
  g_free (Gb);
  g_free (Cb);
  return ok;
}

/* Resample channel c of img at x + (dx[c], dy[c]) in place; samples from outside clear the mask. */
static void
shift_channels (TsrImage *img, const double *dx, const double *dy, TsrPlanetaryInterp k)
{
  int w = img->width, h = img->height;
  gsize np = (gsize) w * h;
  float *t = g_new (float, np);
  for (int c = 0; c < img->channels; c++)
    {
      if (dx[c] == 0 && dy[c] == 0)
        continue;
      float *p = tsr_image_plane (img, c);
      memcpy (t, p, np * sizeof (float));
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
          {
            float X = x + (float) dx[c], Y = y + (float) dy[c];
            gsize i = (gsize) y * w + x;
            p[i] = sample_kernel (k, t, w, h, X, Y);
            if (X < 0 || Y < 0 || X > w - 1 || Y > h - 1)
              img->mask[i] = 0;
          }
    }
  g_free (t);
}

/* The local displacement field of frame f (fx, fy: w×h): each point's shift spread by its Hann
 * window and divided by the windows of the points that measured a shift in this frame, so a
 * point next to flat sky or a rejected neighbour moves its pixels by its full shift instead of
 * a shift diluted by the neighbours' zeros; where fewer than a quarter of the window weight
 * was measured (the edge of the measured region) the field fades to zero, continuously. */
static void
local_field (const TsrPlanetaryResult *r, guint f, float *fx, float *fy, float *cov, float *vals)
{
  int w = r->width, h = r->height;
  guint n = r->n_frames;
  gsize np = (gsize) w * h;
  for (int axis = 0; axis < 3; axis++)
    {
      for (guint k = 0; k < r->n_aps; k++)
        {
          gsize at = (gsize) k * n + f;
          float v = axis == 0 ? r->ap_dx[at] : r->ap_dy[at];
          vals[k] = isfinite (v) && isfinite (r->ap_dy[at]) ? (axis == 2 ? 1.f : v) : 0;
        }
      splat_aps (r, w, h, r->ap_size, vals, axis == 0 ? fx : axis == 1 ? fy : cov);
    }
  for (gsize i = 0; i < np; i++)
    {
      float d = MAX (cov[i], 0.25f);
      fx[i] /= d;
      fy[i] /= d;
    }
}

TsrImage *
tsr_planetary_align_frame (const TsrPlanetaryResult *r, const TsrImage *frame, guint f, gboolean local)
{
  g_return_val_if_fail (r && frame && f < r->n_frames, NULL);
  g_return_val_if_fail (frame->width == r->width && frame->height == r->height, NULL);
  int w = r->width, h = r->height;
  gsize np = (gsize) w * h;
  g_autoptr (TsrImage) rgb = frame->cfa != TSR_CFA_NONE ? tsr_demosaic (frame) : tsr_image_ref ((TsrImage *) frame);
  TsrImage *out = tsr_image_new (w, h, rgb->channels);
  float *fx = g_new0 (float, np), *fy = g_new0 (float, np), *cov = g_new (float, np);
  float *vals = g_new (float, MAX (r->n_aps, 1u));
  if (local && r->n_aps > 0 && r->ap_dx)
    local_field (r, f, fx, fy, cov, vals);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        gsize i = (gsize) y * w + x;
        float X, Y;
        global_pos (r, f, x, y, &X, &Y);
        X += fx[i];
        Y += fy[i];
        gboolean in = X >= 0 && Y >= 0 && X <= w - 1 && Y <= h - 1;
        out->mask[i] = in;
        for (int c = 0; c < rgb->channels; c++)
          {
            /* the dispersion correction the stack received, when it did */
            float cx = X, cy = Y;
            if (r->channels_aligned && c < 3)
              {
                cx += (float) r->channel_dx[c];
                cy += (float) r->channel_dy[c];
              }
            tsr_image_plane (out, c)[i] = in ? sample_kernel (r->interp, tsr_image_plane (rgb, c), w, h, cx, cy) : 0.f;
          }
      }
  g_free (fx);
  g_free (fy);
  g_free (cov);
  g_free (vals);
  return out;
}

/* The frames' luminance planes: all kept (the default), or, streaming, read again from the
 * source whenever a pass needs one, with at most two planes alive (the best frame's, pinned,
 * and the current one): memory independent of the frame count. */
typedef struct
{
  TsrFrameSource *src;
  gboolean stream;
  float **L;       /* n planes (kept) */
  float *slot;     /* streaming: the current plane … */
  guint slot_f;
  float *best;     /* … and the pinned best frame's */
  guint best_f;
  guint live, peak;
} LumStore;

static float *
lum_new (LumStore *ls, const TsrImage *img)
{
  ls->live++;
  ls->peak = MAX (ls->peak, ls->live);
  return luminance (img);
}

static void
lum_free (LumStore *ls, float **p)
{
  if (*p)
    {
      g_free (*p);
      *p = NULL;
      ls->live--;
    }
}

static const float *
lum_get (LumStore *ls, guint f, GError **error)
{
  if (!ls->stream)
    return ls->L[f];
  if (ls->best && f == ls->best_f)
    return ls->best;
  if (ls->slot && f == ls->slot_f)
    return ls->slot;
  lum_free (ls, &ls->slot);
  TsrImage *img = tsr_frame_source_read (ls->src, f, error);
  if (!img)
    return NULL;
  ls->slot = lum_new (ls, img);
  ls->slot_f = f;
  tsr_image_unref (img);
  return ls->slot;
}

static void
lum_clear (LumStore *ls, guint n)
{
  for (guint f = 0; ls->L && f < n; f++)
    lum_free (ls, &ls->L[f]);
  g_clear_pointer (&ls->L, g_free);
  lum_free (ls, &ls->slot);
  lum_free (ls, &ls->best);
}

/* The per-frame alignment passes over the luminance planes, frames split over the threads
 * (tsr_parallel_range): each frame's result depends on that frame and the reference alone.
 * Kept in memory the planes are read-only; streamed (lum_get reads the source into one slot)
 * the passes run in one thread. The thread that has frame 0 reports the progress. */
typedef struct
{
  TsrPlanetaryResult *r;
  LumStore *ls;
  const float *Rb;        /* the blurred reference */
  const float *Lbest;     /* the best frame's plane (global pass) */
  double cbx, cby;        /* its disc centroid */
  guint best, n;
  int w, h;
  guint threads;
  const char *label;
  TsrProgressFunc progress;
  gpointer progress_data;
  GCancellable *cancellable;
  double *rx, *ry;        /* residual pass: each frame's shift against the reference stack;
                           * rotation pass: each frame's fitted shift */
  const Pyramid *pr;      /* rotation pass: the reference's pyramid */
  GMutex lock;
  GError *error;          /* the first failure (a read when streamed, or the cancel) */
} FramePass;

/* frame f's plane, or NULL with the pass's error set (streamed reads; cancelled) */
static const float *
frame_pass_plane (FramePass *fp, guint f, gsize begin)
{
  if (g_cancellable_is_cancelled (fp->cancellable))
    {
      g_mutex_lock (&fp->lock);
      if (!fp->error)
        g_cancellable_set_error_if_cancelled (fp->cancellable, &fp->error);
      g_mutex_unlock (&fp->lock);
      return NULL;
    }
  if (begin == 0 && fp->progress && fp->label)
    fp->progress (fp->label, MIN (f * fp->threads, fp->n - 1), fp->n, fp->progress_data);
  GError *e = NULL;
  const float *L = lum_get (fp->ls, f, &e);   /* streamed only with one thread */
  if (!L)
    {
      g_mutex_lock (&fp->lock);
      if (!fp->error)
        fp->error = e;
      else
        g_error_free (e);
      g_mutex_unlock (&fp->lock);
    }
  return L;
}

/* global alignment: disc centroid or phase correlation, then Lucas–Kanade on the blurred planes */
static void
global_pass_range (gsize begin, gsize end, gpointer data)
{
  FramePass *fp = data;
  TsrPlanetaryResult *r = fp->r;
  float *Bf = g_new (float, (gsize) fp->w * fp->h);
  for (gsize f = begin; f < end && !fp->error; f++)
    {
      double sx = 0, sy = 0, peak = 0;
      if (f != fp->best)
        {
          double cx, cy;
          const float *Lf = frame_pass_plane (fp, (guint) f, begin);
          if (!Lf)
            break;
          if (r->disc && disc_centroid (Lf, fp->w, fp->h, &cx, &cy))
            {
              sx = cx - fp->cbx;
              sy = cy - fp->cby;
            }
          else if (!tsr_phase_correlate (fp->Lbest, Lf, fp->w, fp->h, &sx, &sy, &peak))
            sx = sy = 0;
          gauss_blur (Lf, Bf, fp->w, fp->h, 1.5);
          double sx0 = sx, sy0 = sy;
          if (!lk_translate (fp->Rb, Bf, fp->w, fp->h, 0, 0, fp->w, fp->h, 2, &sx, &sy, 20))
            {
              sx = sx0;
              sy = sy0;
            }
        }
      r->shift_x[f] = sx;
      r->shift_y[f] = sy;
    }
  g_free (Bf);
}

/* 4-DOF: rotation and scale fitted coarse to fine from the translation found */
static void
rotation_pass_range (gsize begin, gsize end, gpointer data)
{
  FramePass *fp = data;
  TsrPlanetaryResult *r = fp->r;
  float *Bf = g_new (float, (gsize) fp->w * fp->h);
  for (gsize f = begin; f < end && !fp->error; f++)
    {
      double prm[4] = { 1, 0, r->shift_x[f], r->shift_y[f] };
      if (f != fp->best)
        {
          const float *Lf = frame_pass_plane (fp, (guint) f, begin);
          if (!Lf)
            break;
          gauss_blur (Lf, Bf, fp->w, fp->h, 1.5);
          if (!fit_similarity (fp->pr, Bf, prm))
            {
              prm[0] = 1;
              prm[1] = 0;
              prm[2] = r->shift_x[f];
              prm[3] = r->shift_y[f];
            }
        }
      r->rot_a[f] = prm[0];
      r->rot_b[f] = prm[1];
      fp->rx[f] = prm[2];
      fp->ry[f] = prm[3];
    }
  g_free (Bf);
}

/* every frame aligned again, to the mean of the best frames */
static void
realign_pass_range (gsize begin, gsize end, gpointer data)
{
  FramePass *fp = data;
  TsrPlanetaryResult *r = fp->r;
  float *Bf = g_new (float, (gsize) fp->w * fp->h);
  for (gsize f = begin; f < end && !fp->error; f++)
    {
      const float *Lf = frame_pass_plane (fp, (guint) f, begin);
      if (!Lf)
        break;
      gauss_blur (Lf, Bf, fp->w, fp->h, 1.5);
      double sx = r->shift_x[f], sy = r->shift_y[f];
      if (r->rotated)
        {
          double prm[4] = { r->rot_a[f], r->rot_b[f], sx, sy };
          if (lk_similarity (fp->Rb, Bf, fp->w, fp->h, 2, prm, 10, NULL))
            {
              r->rot_a[f] = prm[0];
              r->rot_b[f] = prm[1];
              r->shift_x[f] = prm[2];
              r->shift_y[f] = prm[3];
            }
        }
      else if (lk_translate (fp->Rb, Bf, fp->w, fp->h, 0, 0, fp->w, fp->h, 2, &sx, &sy, 20))
        {
          r->shift_x[f] = sx;
          r->shift_y[f] = sy;
        }
    }
  g_free (Bf);
}

/* the residual jitter: each aligned frame against the stack of all */
static void
residual_pass_range (gsize begin, gsize end, gpointer data)
{
  FramePass *fp = data;
  gsize np = (gsize) fp->w * fp->h;
  float *tmp = g_new (float, np), *Bf = g_new (float, np);
  for (gsize f = begin; f < end && !fp->error; f++)
    {
      const float *Lf = frame_pass_plane (fp, (guint) f, begin);
      if (!Lf)
        break;
      warp_plane (fp->r, (guint) f, Lf, tmp, NULL);
      gauss_blur (tmp, Bf, fp->w, fp->h, 1.5);
      fp->rx[f] = fp->ry[f] = 0;
      lk_translate (fp->Rb, Bf, fp->w, fp->h, 8, 8, fp->w - 8, fp->h - 8, 1, &fp->rx[f], &fp->ry[f], 20);
    }
  g_free (tmp);
  g_free (Bf);
}

/* Runs one pass over the frames; FALSE with *error set when it failed or was cancelled. */
static gboolean
frame_pass_run (FramePass *fp, TsrRangeFunc fn, const char *label, GError **error)
{
  fp->label = label;   /* NULL: no progress reports */
  fp->error = NULL;
  tsr_parallel_range (fp->n, fp->threads, 1, fn, fp);
  if (fp->error)
    {
      g_propagate_error (error, fp->error);
      fp->error = NULL;
      return FALSE;
    }
  return TRUE;
}

/* Pass 2 of one frame over rows [begin, end): the global-only sample into the mean stack (and
 * the best frame), the locally warped sample weighted into the result's sums. */
typedef struct
{
  const TsrPlanetaryResult *r;
  const TsrPlanetaryParams *p;
  const TsrImage *img;
  TsrImage *bestimg;
  guint f;
  int out_ch;
  const float *den_b, *fx, *fy, *fw;
  double *num, *den, *mnum;
  guint32 *mcnt;
} StackRows;

static void
stack_rows_range (gsize begin, gsize end, gpointer data)
{
  const StackRows *sr = data;
  const TsrPlanetaryResult *r = sr->r;
  const TsrImage *img = sr->img;
  TsrImage *bestimg = sr->bestimg;
  const int w = r->width, h = r->height, out_ch = sr->out_ch;
  const gsize np = (gsize) w * h;
  const guint f = sr->f;
  for (int y = (int) begin; y < (int) end; y++)
    for (int x = 0; x < w; x++)
      {
        gsize i = (gsize) y * w + x;
        float db = sr->den_b[i] > 1e-6f ? sr->den_b[i] : 1.f;
        float X0, Y0;
        global_pos (r, f, x, y, &X0, &Y0);
        gboolean in0 = X0 >= 0 && Y0 >= 0 && X0 <= w - 1 && Y0 <= h - 1;
        float v[4];
        if (in0)
          {
            sr->mcnt[i]++;
            sample_kernel_channels (sr->p->interp, img, out_ch, w, h, X0, Y0, v);
            for (int c = 0; c < out_ch; c++)
              {
                sr->mnum[c * np + i] += v[c];
                if (bestimg)
                  tsr_image_plane (bestimg, c)[i] = v[c];
              }
          }
        else if (bestimg)
          bestimg->mask[i] = 0;
        float X = X0 + sr->fx[i], Y = Y0 + sr->fy[i];
        float wt = sr->fw[i] / db;
        if (wt <= 0 || X < 0 || Y < 0 || X > w - 1 || Y > h - 1)
          continue;
        sr->den[i] += wt;
        sample_kernel_channels (sr->p->interp, img, out_ch, w, h, X, Y, v);
        for (int c = 0; c < out_ch; c++)
          sr->num[c * np + i] += wt * v[c];
      }
}

TsrPlanetaryResult *
tsr_planetary_run (TsrFrameSource *src, const TsrPlanetaryParams *p, TsrProgressFunc progress,
                   gpointer progress_data, GCancellable *cancellable, GError **error)
{
  guint n = tsr_frame_source_n_frames (src);
  int w, h, ch;
  tsr_frame_source_size (src, &w, &h, &ch);
  TsrCfa cfa = tsr_frame_source_cfa (src);
  if (n < 2)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_EMPTY, "%s: a planetary stack needs at least two frames (it has %u)",
                   tsr_frame_source_path (src), n);
      return NULL;
    }
  if (w < 32 || h < 32)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, "%s: frames of %d × %d px are too small to align",
                   tsr_frame_source_path (src), w, h);
      return NULL;
    }
  gsize np = (gsize) w * h;
  int out_ch = cfa != TSR_CFA_NONE ? 3 : ch;
  /* Memory, planned before a pixel is read (issue #20): the stacking pass's sums (double),
   * warp fields and weights, the reference, result and mean stack, a frame as read and as
   * warped, and the luminance planes — all of them, or two when streaming. Streaming is
   * chosen when keeping them would not fit (or above 2 GiB); what still does not fit is
   * refused with the number. */
  gboolean stream = p->stream || (double) n * np * sizeof (float) > 2.0 * (1 << 30);
  {
    double fixed_px = 48.0 + 20.0 * out_ch + 12.0 * ch + 2.0 * (4.0 * out_ch + 1);
    guint64 avail = tsr_memory_available ();
    if (!stream && (fixed_px + 4.0 * n) * np > (double) avail)
      stream = TRUE;
    double need = (fixed_px + (stream ? 8.0 : 4.0 * n)) * np;
    if (need > (double) avail)
      {
        g_autofree char *what = g_strdup_printf (_("a planetary stack of %u frames of %d × %d"), n, w, h);
        tsr_set_memory_error (error, (guint64) need, what);
        return NULL;
      }
  }
  TsrPlanetaryResult *r = g_new0 (TsrPlanetaryResult, 1);
  r->n_frames = n;
  r->width = w;
  r->height = h;
  r->channels = out_ch;
  r->shift_x = g_new0 (double, n);
  r->shift_y = g_new0 (double, n);
  r->quality = g_new0 (double, n);
  double *sigma = g_new0 (double, n), *level = g_new0 (double, n);
  /* streaming also when keeping the planes would take more than 2 GiB (e.g. 2000 frames of
   * 640 × 480) */
  LumStore ls = { .src = src, .stream = stream, .L = g_new0 (float *, n) };
  double qs = p->quality_sigma;
  double gain = gradient_noise_gain (qs);
  TsrStarlessInfo sl = { 0 };
  gboolean ok = TRUE;

  /* pass 1: luminance, noise, global quality */
  for (guint f = 0; f < n && ok; f++)
    {
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        {
          ok = FALSE;
          break;
        }
      if (progress)
        progress (_("Reading"), f, n, progress_data);
      TsrImage *img = tsr_frame_source_read (src, f, error);
      if (!img)
        {
          ok = FALSE;
          break;
        }
      ls.L[f] = lum_new (&ls, img);
      if (f == 0)
        tsr_starless_detect (img, &sl);
      tsr_image_unref (img);
      sigma[f] = tsr_plane_noise (ls.L[f], NULL, w, h, 1);
      double e = tsr_gradient_energy (ls.L[f], w, h, 0, 0, 0, 0, qs, sigma[f]);
      double m = 0;
      for (gsize q = 0; q < np; q++)
        m += ls.L[f][q];
      m /= np;
      level[f] = m;
      r->quality[f] = m > 0 ? 1e4 * e / (m * m) : e;
      if (ls.stream)
        lum_free (&ls, &ls.L[f]);
    }
  float *ref = NULL, *Rb = NULL, *acc = NULL, *tmp = NULL, *Bf = NULL, *g2 = NULL;
  guint8 *Mf = NULL;
  guint *order = NULL;
  if (!ok)
    goto fail;
  r->disc = p->align == TSR_PALIGN_DISC || (p->align == TSR_PALIGN_AUTO && sl.starless && !sl.surface);
  guint best = 0;
  for (guint f = 1; f < n; f++)
    if (r->quality[f] > r->quality[best])
      best = f;
  r->reference_frame = best;
  if (ls.stream)
    {
      /* pinned: the global alignment compares every frame with it */
      if (!lum_get (&ls, best, error))
        goto fail;
      ls.best = ls.slot;
      ls.best_f = best;
      ls.slot = NULL;
    }
  const float *Lbest = lum_get (&ls, best, error);

  /* global alignment to the best frame */
  tmp = g_new (float, np);
  Rb = g_new (float, np);
  Bf = g_new (float, np);
  gauss_blur (Lbest, Rb, w, h, 1.5);
  double cbx = 0, cby = 0;
  if (r->disc && !disc_centroid (Lbest, w, h, &cbx, &cby))
    r->disc = FALSE;
  FramePass fpass = { .r = r, .ls = &ls, .Rb = Rb, .Lbest = Lbest, .cbx = cbx, .cby = cby, .best = best, .n = n,
                      .w = w, .h = h, .threads = ls.stream ? 1 : (p->n_threads ? p->n_threads : g_get_num_processors ()),
                      .progress = progress, .progress_data = progress_data, .cancellable = cancellable };
  g_mutex_init (&fpass.lock);
  if (!frame_pass_run (&fpass, global_pass_range, _("Aligning"), error))
    {
      g_mutex_clear (&fpass.lock);
      goto fail;
    }
  /* 4-DOF: rotation and scale (field rotation of an alt-az mount), fitted coarse to fine
   * against the best frame from the translation found above; in auto mode on surfaces only
   * and kept only when it moves a frame corner by more than rotation_min px */
  if (p->rotation == TSR_PROT_ON || (p->rotation == TSR_PROT_AUTO && !r->disc))
    {
      r->rot_a = g_new (double, n);
      r->rot_b = g_new (double, n);
      double *tx = g_new (double, n), *ty = g_new (double, n);
      Pyramid pr;
      pyr_build (&pr, Rb, w, h);
      double corner = 0, rmax = 0, r0 = hypot (0.5 * (w - 1), 0.5 * (h - 1));
      fpass.pr = &pr;
      fpass.rx = tx;
      fpass.ry = ty;
      ok = frame_pass_run (&fpass, rotation_pass_range, _("Rotation"), error);
      for (guint f = 0; f < n && ok; f++)
        {
          corner = MAX (corner, hypot (r->rot_a[f] - 1, r->rot_b[f]) * r0);
          rmax = MAX (rmax, fabs (atan2 (r->rot_b[f], r->rot_a[f])) * 180 / G_PI);
        }
      pyr_clear (&pr);
      if (ok && (p->rotation == TSR_PROT_ON || corner > p->rotation_min))
        {
          r->rotated = TRUE;
          r->rotation_max_deg = rmax;
          memcpy (r->shift_x, tx, n * sizeof (double));
          memcpy (r->shift_y, ty, n * sizeof (double));
        }
      else
        {
          g_clear_pointer (&r->rot_a, g_free);
          g_clear_pointer (&r->rot_b, g_free);
        }
      g_free (tx);
      g_free (ty);
      if (!ok)
        {
          g_mutex_clear (&fpass.lock);
          goto fail;
        }
    }
  /* reference: mean of the best frames; then every frame aligned again to it */
  order = g_new (guint, n);
  for (guint f = 0; f < n; f++)
    order[f] = f;
  {
    float *qf = g_new (float, n);
    for (guint f = 0; f < n; f++)
      qf[f] = (float) r->quality[f];
    g_qsort_with_data (order, n, sizeof (guint), cmp_desc_q, qf);
    g_free (qf);
  }
  guint n_ref = MAX (1, (guint) lround (p->reference_fraction * n));
  ref = g_new0 (float, np);
  for (guint i = 0; i < n_ref; i++)
    {
      guint f = order[i];
      const float *Lf = lum_get (&ls, f, error);
      if (!Lf)
        goto fail;
      warp_plane (r, f, Lf, tmp, NULL);
      for (gsize q = 0; q < np; q++)
        ref[q] += tmp[q] / n_ref;
    }
  gauss_blur (ref, Rb, w, h, 1.5);
  if (!frame_pass_run (&fpass, realign_pass_range, NULL, error))
    {
      g_mutex_clear (&fpass.lock);
      goto fail;
    }
  /* centre the shifts on their mean: the output geometry is the average pointing */
  {
    double mx = 0, my = 0;
    for (guint f = 0; f < n; f++)
      {
        mx += r->shift_x[f] / n;
        my += r->shift_y[f] / n;
      }
    if (r->rotated)
      {
        /* the output geometry: the mean rotation and scale (composed into every frame's), then
         * the mean shift taken out through each frame's own rotation, so all frames move by the
         * same output displacement */
        double ma = 0, mb = 0;
        for (guint f = 0; f < n; f++)
          {
            ma += r->rot_a[f] / n;
            mb += r->rot_b[f] / n;
          }
        double d = ma * ma + mb * mb, ia = ma / d, ib = -mb / d; /* (ma + i mb)^-1 */
        for (guint f = 0; f < n; f++)
          {
            double a = r->rot_a[f], b = r->rot_b[f];
            r->rot_a[f] = a * ia - b * ib;
            r->rot_b[f] = a * ib + b * ia;
          }
        double rmax = 0;
        for (guint f = 0; f < n; f++)
          {
            double a = r->rot_a[f], b = r->rot_b[f];
            r->shift_x[f] -= a * mx - b * my;
            r->shift_y[f] -= b * mx + a * my;
            rmax = MAX (rmax, fabs (atan2 (b, a)) * 180 / G_PI);
          }
        r->rotation_max_deg = rmax;
      }
    else
      for (guint f = 0; f < n; f++)
        {
          r->shift_x[f] -= mx;
          r->shift_y[f] -= my;
        }
    /* the reference follows: rebuild it in the centred geometry */
    memset (ref, 0, np * sizeof (float));
    for (guint i = 0; i < n_ref; i++)
      {
        guint f = order[i];
        const float *Lf = lum_get (&ls, f, error);
        if (!Lf)
          goto fail;
        warp_plane (r, f, Lf, tmp, NULL);
        for (gsize q = 0; q < np; q++)
          ref[q] += tmp[q] / n_ref;
      }
  }

  /* residual jitter: the globally aligned frames re-registered to their mean */
  acc = g_new0 (float, np);
  for (guint f = 0; f < n; f++)
    {
      const float *Lf = lum_get (&ls, f, error);
      if (!Lf)
        goto fail;
      warp_plane (r, f, Lf, tmp, NULL);
      for (gsize q = 0; q < np; q++)
        acc[q] += tmp[q] / n;
    }
  {
    gauss_blur (acc, Rb, w, h, 1.5);
    double *rx = g_new (double, n), *ry = g_new (double, n), mx = 0, my = 0;
    fpass.rx = rx;
    fpass.ry = ry;
    gboolean done = frame_pass_run (&fpass, residual_pass_range, NULL, error);
    g_mutex_clear (&fpass.lock);
    if (!done)
      {
        g_free (rx);
        g_free (ry);
        goto fail;
      }
    for (guint f = 0; f < n; f++)
      {
        mx += rx[f] / n;
        my += ry[f] / n;
      }
    double s = 0;
    for (guint f = 0; f < n; f++)
      s += (rx[f] - mx) * (rx[f] - mx) + (ry[f] - my) * (ry[f] - my);
    r->residual_rms = sqrt (s / n);
    g_free (rx);
    g_free (ry);
  }

  /* alignment points */
  int size = p->ap_size;
  if (size <= 0)
    size = CLAMP (MIN (w, h) / 12, 24, 96);
  size = MIN (size, MIN (w, h));
  size &= ~1;
  r->ap_size = size;
  r->interp = p->interp;
  int step = MAX (4, (int) lround (size * (1.0 - p->ap_overlap)));
  int nx = (w - 1) / step + 1 + ((w - 1) % step != 0), ny = (h - 1) / step + 1 + ((h - 1) % step != 0);
  r->n_aps = nx * ny;
  r->ap_x = g_new (double, r->n_aps);
  r->ap_y = g_new (double, r->n_aps);
  r->ap_active = g_new0 (gboolean, r->n_aps);
  r->ap_dx = g_new (float, (gsize) r->n_aps * n);
  r->ap_dy = g_new (float, (gsize) r->n_aps * n);
  r->ap_quality = g_new (float, (gsize) r->n_aps * n);
  gauss_blur (ref, Rb, w, h, qs);
  g2 = g_new (float, np);
  {
    gradient_energy_map (ref, g2, w, h, qs);
    double sref = tsr_plane_noise (ref, NULL, w, h, 1);
    double floor_e = p->ap_min_structure * gain * MAX (sref * sref, 1e-12);
    /* also relative to the frame's strongest structure, so faint sky noise never qualifies */
    double emax = 0;
    ApJob jb = { .r = r, .w = w, .h = h, .size = size };
    for (int iy = 0; iy < ny; iy++)
      for (int ix = 0; ix < nx; ix++)
        {
          guint k = iy * nx + ix;
          r->ap_x[k] = MIN (ix * step, w - 1);
          r->ap_y[k] = MIN (iy * step, h - 1);
        }
    double *e = g_new0 (double, r->n_aps);
    for (guint k = 0; k < r->n_aps; k++)
      {
        int x0, y0, x1, y1;
        ap_box (&jb, k, &x0, &y0, &x1, &y1);
        double s = 0;
        gsize c = 0;
        for (int y = MAX (y0, 1); y < MIN (y1, h - 1); y++)
          for (int x = MAX (x0, 1); x < MIN (x1, w - 1); x++)
            {
              s += g2[(gsize) y * w + x];
              c++;
            }
        e[k] = c ? s / c : 0;
        emax = MAX (emax, e[k]);
      }
    for (guint k = 0; k < r->n_aps; k++)
      {
        int x0, y0, x1, y1;
        ap_box (&jb, k, &x0, &y0, &x1, &y1);
        /* boxes cut to less than half by the frame edge are not measured */
        r->ap_active[k] = e[k] >= floor_e && e[k] >= 0.01 * emax && (x1 - x0) * (y1 - y0) * 2 >= size * size;
      }
    g_free (e);
  }
  Mf = g_new (guint8, np);
  for (guint f = 0; f < n; f++)
    {
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        goto fail;
      if (progress)
        progress (_("Alignment points"), f, n, progress_data);
      const float *Lf = lum_get (&ls, f, error);
      if (!Lf)
        goto fail;
      warp_plane (r, f, Lf, tmp, Mf);
      gauss_blur (tmp, Bf, w, h, qs);
      gradient_energy_map (tmp, g2, w, h, qs);
      ApJob j = { .p = p, .r = r, .w = w, .h = h, .size = size, .Rb = Rb, .Bf = Bf, .g2 = g2, .Mf = Mf,
                  .gain = gain, .sigma = sigma[f], .f = f,
                  .inv_level2 = level[f] > 0 ? 1e4 / (level[f] * level[f]) : 1.0 };
      tsr_parallel_range (r->n_aps, p->n_threads, 4, ap_measure_range, &j);
    }
  /* per AP: shifts relative to their median over the frames (the mean geometry); outliers
   * against the neighbours replaced by the neighbours' median */
  {
    double *v = g_new (double, MAX (n, 9u));
    double sum2 = 0;
    gsize cnt2 = 0;
    for (guint k = 0; k < r->n_aps; k++)
      for (int axis = 0; axis < 2; axis++)
        {
          float *d = (axis ? r->ap_dy : r->ap_dx) + (gsize) k * n;
          guint m = 0;
          for (guint f = 0; f < n; f++)
            if (isfinite (d[f]))
              v[m++] = d[f];
          double med = median_d (v, m);
          for (guint f = 0; f < n; f++)
            if (isfinite (d[f]))
              d[f] -= (float) med;
        }
    float *fixed = g_new (float, r->n_aps);
    for (int axis = 0; axis < 2; axis++)
      for (guint f = 0; f < n; f++)
        {
          float *D = axis ? r->ap_dy : r->ap_dx;
          for (guint k = 0; k < r->n_aps; k++)
            {
              fixed[k] = D[(gsize) k * n + f];
              if (!isfinite (fixed[k]))
                continue;
              int ix = k % nx, iy = k / nx;
              guint m = 0;
              for (int yy = MAX (0, iy - 1); yy <= MIN (ny - 1, iy + 1); yy++)
                for (int xx = MAX (0, ix - 1); xx <= MIN (nx - 1, ix + 1); xx++)
                  {
                    float q = D[(gsize) (yy * nx + xx) * n + f];
                    if ((yy != iy || xx != ix) && isfinite (q))
                      v[m++] = q;
                  }
              if (m >= 3)
                {
                  double med = median_d (v, m);
                  if (fabs (fixed[k] - med) > 1.5)
                    fixed[k] = (float) med;
                }
            }
          for (guint k = 0; k < r->n_aps; k++)
            D[(gsize) k * n + f] = fixed[k];
        }
    g_free (fixed);
    for (gsize q = 0; q < (gsize) r->n_aps * n; q++)
      if (isfinite (r->ap_dx[q]))
        {
          sum2 += r->ap_dx[q] * r->ap_dx[q] + r->ap_dy[q] * r->ap_dy[q];
          cnt2++;
        }
    r->local_shift_rms = cnt2 ? sqrt (sum2 / cnt2) : 0;
    g_free (v);
  }
  g_clear_pointer (&Bf, g_free);
  g_clear_pointer (&g2, g_free);
  g_clear_pointer (&Rb, g_free);
  lum_clear (&ls, n);

  /* per AP and frame: stacking weight */
  float *wk = g_new (float, (gsize) r->n_aps * n);
  {
    guint *idx = g_new (guint, n);
    float *q = g_new (float, n);
    for (guint k = 0; k < r->n_aps; k++)
      {
        float *W = wk + (gsize) k * n;
        const float *Q = r->ap_quality + (gsize) k * n;
        const float *D = r->ap_dx + (gsize) k * n;
        guint m = 0;
        for (guint f = 0; f < n; f++)
          {
            gboolean usable = isfinite (Q[f]) && (!r->ap_active[k] || !p->local || isfinite (D[f]));
            W[f] = 0;
            q[f] = usable ? Q[f] : -INFINITY;
            if (usable)
              idx[m++] = f;
          }
        if (m == 0)
          continue;
        if (!r->ap_active[k] || p->stack == TSR_PSTACK_MEAN)
          for (guint i = 0; i < m; i++)
            W[idx[i]] = 1;
        else if (p->stack == TSR_PSTACK_QUALITY_WEIGHT)
          {
            double mq = 0;
            for (guint i = 0; i < m; i++)
              mq += MAX (q[idx[i]], 0) / m;
            for (guint i = 0; i < m; i++)
              W[idx[i]] = mq > 0 ? (float) (MAX (q[idx[i]], 0) / mq) : 1.f;
          }
        else
          {
            g_qsort_with_data (idx, m, sizeof (guint), cmp_desc_q, q);
            guint keep = MAX (1, (guint) lround (p->best_fraction * m));
            for (guint i = 0; i < keep; i++)
              W[idx[i]] = 1;
          }
      }
    g_free (idx);
    g_free (q);
  }

  /* pass 2: warp and accumulate */
  {
    float *den_b = g_new (float, np), *fx = g_new (float, np), *fy = g_new (float, np), *fw = g_new (float, np);
    float *cov = g_new (float, np);
    float *vals = g_new (float, r->n_aps);
    for (guint k = 0; k < r->n_aps; k++)
      vals[k] = 1;
    splat_aps (r, w, h, size, vals, den_b);
    double *num = g_new0 (double, np * out_ch), *den = g_new0 (double, np);
    double *mnum = g_new0 (double, np * out_ch);
    guint32 *mcnt = g_new0 (guint32, np);
    for (guint f = 0; f < n; f++)
      {
        if (g_cancellable_set_error_if_cancelled (cancellable, error))
          {
            ok = FALSE;
            break;
          }
        if (progress)
          progress (_("Stacking"), f, n, progress_data);
        TsrImage *img = tsr_frame_source_read (src, f, error);
        if (!img)
          {
            ok = FALSE;
            break;
          }
        if (img->cfa != TSR_CFA_NONE)
          {
            TsrImage *rgb = tsr_demosaic (img);
            tsr_image_unref (img);
            img = rgb;
          }
        local_field (r, f, fx, fy, cov, vals);
        for (guint k = 0; k < r->n_aps; k++)
          {
            float v = wk[(gsize) k * n + f];
            vals[k] = isfinite (v) ? v : 0;
          }
        splat_aps (r, w, h, size, vals, fw);
        TsrImage *bestimg = f == best ? tsr_image_new (w, h, out_ch) : NULL;
        /* the rows over the threads: each pixel's sums are its own (the same bits) */
        StackRows sr = { .r = r, .p = p, .img = img, .bestimg = bestimg, .f = f, .out_ch = out_ch, .den_b = den_b,
                         .fx = fx, .fy = fy, .fw = fw, .num = num, .den = den, .mnum = mnum, .mcnt = mcnt };
        tsr_parallel_range ((gsize) h, p->n_threads, 16, stack_rows_range, &sr);
        if (bestimg)
          r->best_frame = bestimg;
        tsr_image_unref (img);
      }
    if (ok)
      {
        r->result = tsr_image_new (w, h, out_ch);
        r->mean = tsr_image_new (w, h, out_ch);
        for (gsize i = 0; i < np; i++)
          {
            r->mean->mask[i] = mcnt[i] > 0;
            r->result->mask[i] = den[i] > 0 || mcnt[i] > 0;
            for (int c = 0; c < out_ch; c++)
              {
                float mv = mcnt[i] ? (float) (mnum[c * np + i] / mcnt[i]) : 0.f;
                tsr_image_plane (r->mean, c)[i] = mv;
                tsr_image_plane (r->result, c)[i] = den[i] > 0 ? (float) (num[c * np + i] / den[i]) : mv;
              }
          }
        /* atmospheric dispersion: red and blue registered to green on the stack (the offset is
         * the same in every frame of one capture), the baselines moved alike */
        if (out_ch == 3 && p->channel_align && tsr_planetary_channel_offsets (r->result, r->channel_dx, r->channel_dy))
          {
            shift_channels (r->result, r->channel_dx, r->channel_dy, p->interp);
            shift_channels (r->mean, r->channel_dx, r->channel_dy, p->interp);
            if (r->best_frame)
              shift_channels (r->best_frame, r->channel_dx, r->channel_dy, p->interp);
            r->channels_aligned = TRUE;
            tsr_header_set_double (r->result->header, "RSHIFTX", r->channel_dx[0], "red registered to green, px");
            tsr_header_set_double (r->result->header, "RSHIFTY", r->channel_dy[0], "red registered to green, px");
            tsr_header_set_double (r->result->header, "BSHIFTX", r->channel_dx[2], "blue registered to green, px");
            tsr_header_set_double (r->result->header, "BSHIFTY", r->channel_dy[2], "blue registered to green, px");
          }
        tsr_header_set_int (r->result->header, "NCOMBINE", n, "frames in the planetary stack");
        tsr_header_add_history (r->result->header, "Tessera planetary: global alignment, alignment points, "
                                                   "per-point best-fraction stack");
        tsr_header_set_int (r->result->header, "APSIZE", size, "alignment-point box, px");
        tsr_header_set_double (r->result->header, "BESTFRAC", p->best_fraction, "fraction stacked per point");
        tsr_header_set_int (r->mean->header, "NCOMBINE", n, "frames in the mean stack");
        tsr_header_add_history (r->mean->header, "Tessera planetary: mean of the globally aligned frames");
      }
    g_free (den_b);
    g_free (fx);
    g_free (fy);
    g_free (fw);
    g_free (cov);
    g_free (vals);
    g_free (num);
    g_free (den);
    g_free (mnum);
    g_free (mcnt);
  }
  g_free (wk);
  if (!ok)
    goto fail;
  if (progress)
    progress (_("Stacking"), n, n, progress_data);
  /* the default output: the stack sharpened by wavelets as far as its noise stays at or below
   * the plain mean's (align → stack → wavelets, the method's pipeline) */
  if (p->sharpen == TSR_PSHARPEN_AUTO)
    {
      if (progress)
        progress (_("Sharpening"), 0, 1, progress_data);
      tsr_planetary_sharpness (r->mean, 0, 0, 0, 0, &r->sharpen_noise_limit);
      r->sharpened = tsr_wavelets_auto (r->result, r->sharpen_noise_limit, p->sharpen_max, &r->sharpen,
                                        &r->sharpen_amount, cancellable, error);
      if (!r->sharpened)
        goto fail;
      if (progress)
        progress (_("Sharpening"), 1, 1, progress_data);
    }
  if (r->rotated)
    tsr_header_set_double (r->result->header, "ROTMAX", r->rotation_max_deg,
                           "largest frame rotation in the global alignment, deg");
  g_free (order);
  g_free (ref);
  g_free (acc);
  g_free (tmp);
  g_free (Mf);
  g_free (sigma);
  g_free (level);
  r->lum_planes_peak = ls.peak;
  lum_clear (&ls, n);
  return r;

fail:
  lum_clear (&ls, n);
  g_free (sigma);
  g_free (level);
  g_free (order);
  g_free (ref);
  g_free (Rb);
  g_free (acc);
  g_free (tmp);
  g_free (Bf);
  g_free (g2);
  g_free (Mf);
  tsr_planetary_result_free (r);
  return NULL;
}

static void
jnum (GString *s, double v)
{
  if (!isfinite (v))
    {
      g_string_append (s, "null");
      return;
    }
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  g_string_append (s, g_ascii_formatd (buf, sizeof buf, "%.6g", v));
}

char *
tsr_planetary_result_json (const TsrPlanetaryResult *r, const TsrFrameSource *src)
{
  GString *s = g_string_new ("{\n");
  g_string_append_printf (s, "  \"frames\": %u,\n  \"width\": %d,\n  \"height\": %d,\n", r->n_frames, r->width,
                          r->height);
  g_string_append_printf (s, "  \"alignment\": \"%s\",\n  \"reference_frame\": %u,\n",
                          r->disc ? "disc" : "surface", r->reference_frame);
  g_string_append (s, "  \"residual_rms_px\": ");
  jnum (s, r->residual_rms);
  if (r->channels_aligned)
    {
      g_string_append (s, ",\n  \"channel_shift_px\": {\"red\": [");
      jnum (s, r->channel_dx[0]);
      g_string_append (s, ", ");
      jnum (s, r->channel_dy[0]);
      g_string_append (s, "], \"blue\": [");
      jnum (s, r->channel_dx[2]);
      g_string_append (s, ", ");
      jnum (s, r->channel_dy[2]);
      g_string_append (s, "]}");
    }
  if (r->rotated)
    {
      g_string_append (s, ",\n  \"rotation_max_deg\": ");
      jnum (s, r->rotation_max_deg);
    }
  if (r->sharpened)
    {
      g_string_append (s, ",\n  \"sharpen\": {\"amount\": ");
      jnum (s, r->sharpen_amount);
      g_string_append (s, ", \"noise_limit\": ");
      jnum (s, r->sharpen_noise_limit);
      g_string_append (s, ", \"gains\": [");
      for (int j = 0; j < r->sharpen.n_gains; j++)
        {
          if (j)
            g_string_append (s, ", ");
          jnum (s, r->sharpen.gains[j]);
        }
      g_string_append (s, "]}");
    }
  g_string_append (s, ",\n  \"local_shift_rms_px\": ");
  jnum (s, r->local_shift_rms);
  guint act = 0;
  for (guint k = 0; k < r->n_aps; k++)
    act += r->ap_active[k];
  g_string_append_printf (s, ",\n  \"ap_size\": %d,\n  \"aps\": %u,\n  \"aps_active\": %u,\n", r->ap_size,
                          r->n_aps, act);
  g_string_append (s, "  \"frame_table\": [\n");
  for (guint f = 0; f < r->n_frames; f++)
    {
      g_autofree char *name = src ? tsr_frame_source_frame_name (src, f) : g_strdup_printf ("%u", f + 1);
      /* JSON escaping (g_strescape wrote "j\303\274p.ser" for "jüp.ser": not JSON) */
      g_string_append (s, "    {\"frame\": ");
      tsr_json_append_quoted (s, name);
      g_string_append (s, ", \"shift_x\": ");
      jnum (s, r->shift_x[f]);
      g_string_append (s, ", \"shift_y\": ");
      jnum (s, r->shift_y[f]);
      g_string_append (s, ", \"quality\": ");
      jnum (s, r->quality[f]);
      if (r->rotated)
        {
          double sc, th = tsr_planetary_frame_rotation (r, f, &sc);
          g_string_append (s, ", \"rotation_deg\": ");
          jnum (s, th * 180 / G_PI);
          g_string_append (s, ", \"scale\": ");
          jnum (s, sc);
        }
      g_string_append_printf (s, "}%s\n", f + 1 < r->n_frames ? "," : "");
    }
  g_string_append (s, "  ]\n}\n");
  return g_string_free (s, FALSE);
}
