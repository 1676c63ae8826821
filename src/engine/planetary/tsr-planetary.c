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
      double a = 0, b = 0, c = 0, ex = 0, ey = 0, s0 = 0, s1 = 0;
      gsize n = 0;
      /* brightness offset between the two: estimate mean difference jointly (gain ≈ 1) */
      for (int y = y0; y < y1; y += stride)
        for (int x = x0; x < x1; x += stride)
          {
            float X = x + (float) *sx, Y = y + (float) *sy;
            if (X < 0 || Y < 0 || X > w - 1 || Y > h - 1)
              continue;
            s0 += sample_bilinear (F, w, h, X, Y);
            s1 += R[(gsize) y * w + x];
            n++;
          }
      if (n < 16)
        return FALSE;
      double off = (s0 - s1) / n;
      for (int y = y0; y < y1; y += stride)
        for (int x = x0; x < x1; x += stride)
          {
            float X = x + (float) *sx, Y = y + (float) *sy;
            if (X < 0 || Y < 0 || X > w - 1 || Y > h - 1)
              continue;
            gsize i = (gsize) y * w + x;
            double gx = 0.5 * (R[i + 1] - R[i - 1]), gy = 0.5 * (R[i + w] - R[i - w]);
            double e = sample_bilinear (F, w, h, X, Y) - off - R[i];
            a += gx * gx;
            b += gx * gy;
            c += gy * gy;
            ex += gx * e;
            ey += gy * e;
          }
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

static gint
float_cmp (gconstpointer a, gconstpointer b, gpointer user)
{
  float x = *(const float *) a, y = *(const float *) b;
  return x < y ? -1 : x > y;
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
  /* quickselect through sorting a subsample is enough here */
  g_qsort_with_data (tmp, ns, sizeof (float), float_cmp, NULL);
  float hi = tmp[k];
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

/* Accumulate Σ_k b_k(p) v_k into out (w×h) for the given per-AP values (NaN = skip). */
static void
splat_aps (const TsrPlanetaryResult *r, int w, int h, int size, const float *vals, float *out)
{
  memset (out, 0, (gsize) w * h * sizeof (float));
  int half = size / 2;
  for (guint k = 0; k < r->n_aps; k++)
    {
      float v = vals[k];
      if (v == 0)
        continue;
      int cx = (int) r->ap_x[k], cy = (int) r->ap_y[k];
      for (int y = MAX (0, cy - half); y < MIN (h, cy + half + 1); y++)
        {
          float by = hann1 (y - cy, size);
          if (by == 0)
            continue;
          for (int x = MAX (0, cx - half); x < MIN (w, cx + half + 1); x++)
            out[(gsize) y * w + x] += v * by * hann1 (x - cx, size);
        }
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
  TsrPlanetaryResult *r = g_new0 (TsrPlanetaryResult, 1);
  r->n_frames = n;
  r->width = w;
  r->height = h;
  r->channels = out_ch;
  r->shift_x = g_new0 (double, n);
  r->shift_y = g_new0 (double, n);
  r->quality = g_new0 (double, n);
  double *sigma = g_new0 (double, n), *level = g_new0 (double, n);
  float **L = g_new0 (float *, n);
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
      L[f] = luminance (img);
      if (f == 0)
        tsr_starless_detect (img, &sl);
      tsr_image_unref (img);
      sigma[f] = tsr_plane_noise (L[f], NULL, w, h, 1);
      double e = tsr_gradient_energy (L[f], w, h, 0, 0, 0, 0, qs, sigma[f]);
      double m = 0;
      for (gsize q = 0; q < np; q++)
        m += L[f][q];
      m /= np;
      level[f] = m;
      r->quality[f] = m > 0 ? 1e4 * e / (m * m) : e;
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

  /* global alignment to the best frame */
  tmp = g_new (float, np);
  Rb = g_new (float, np);
  Bf = g_new (float, np);
  gauss_blur (L[best], Rb, w, h, 1.5);
  double cbx = 0, cby = 0;
  if (r->disc && !disc_centroid (L[best], w, h, &cbx, &cby))
    r->disc = FALSE;
  for (guint f = 0; f < n; f++)
    {
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        goto fail;
      if (progress)
        progress (_("Aligning"), f, n, progress_data);
      double sx = 0, sy = 0, peak = 0;
      if (f != best)
        {
          double cx, cy;
          if (r->disc && disc_centroid (L[f], w, h, &cx, &cy))
            {
              sx = cx - cbx;
              sy = cy - cby;
            }
          else if (!tsr_phase_correlate (L[best], L[f], w, h, &sx, &sy, &peak))
            sx = sy = 0;
          gauss_blur (L[f], Bf, w, h, 1.5);
          double sx0 = sx, sy0 = sy;
          if (!lk_translate (Rb, Bf, w, h, 0, 0, w, h, 2, &sx, &sy, 20))
            {
              sx = sx0;
              sy = sy0;
            }
        }
      r->shift_x[f] = sx;
      r->shift_y[f] = sy;
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
      shift_plane (L[f], tmp, NULL, w, h, r->shift_x[f], r->shift_y[f]);
      for (gsize q = 0; q < np; q++)
        ref[q] += tmp[q] / n_ref;
    }
  gauss_blur (ref, Rb, w, h, 1.5);
  for (guint f = 0; f < n; f++)
    {
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        goto fail;
      gauss_blur (L[f], Bf, w, h, 1.5);
      double sx = r->shift_x[f], sy = r->shift_y[f];
      if (lk_translate (Rb, Bf, w, h, 0, 0, w, h, 2, &sx, &sy, 20))
        {
          r->shift_x[f] = sx;
          r->shift_y[f] = sy;
        }
    }
  /* centre the shifts on their mean: the output geometry is the average pointing */
  {
    double mx = 0, my = 0;
    for (guint f = 0; f < n; f++)
      {
        mx += r->shift_x[f] / n;
        my += r->shift_y[f] / n;
      }
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
        shift_plane (L[f], tmp, NULL, w, h, r->shift_x[f], r->shift_y[f]);
        for (gsize q = 0; q < np; q++)
          ref[q] += tmp[q] / n_ref;
      }
  }

  /* residual jitter: the globally aligned frames re-registered to their mean */
  acc = g_new0 (float, np);
  for (guint f = 0; f < n; f++)
    {
      shift_plane (L[f], tmp, NULL, w, h, r->shift_x[f], r->shift_y[f]);
      for (gsize q = 0; q < np; q++)
        acc[q] += tmp[q] / n;
    }
  {
    gauss_blur (acc, Rb, w, h, 1.5);
    double *rx = g_new (double, n), *ry = g_new (double, n), mx = 0, my = 0;
    for (guint f = 0; f < n; f++)
      {
        shift_plane (L[f], tmp, NULL, w, h, r->shift_x[f], r->shift_y[f]);
        gauss_blur (tmp, Bf, w, h, 1.5);
        rx[f] = ry[f] = 0;
        lk_translate (Rb, Bf, w, h, 8, 8, w - 8, h - 8, 1, &rx[f], &ry[f], 20);
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
      shift_plane (L[f], tmp, Mf, w, h, r->shift_x[f], r->shift_y[f]);
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
  for (guint f = 0; f < n; f++)
    g_clear_pointer (&L[f], g_free);

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
        for (int axis = 0; axis < 3; axis++)
          {
            for (guint k = 0; k < r->n_aps; k++)
              {
                gsize at = (gsize) k * n + f;
                float v = axis == 0 ? r->ap_dx[at] : axis == 1 ? r->ap_dy[at] : wk[at];
                vals[k] = isfinite (v) ? v : 0;
              }
            splat_aps (r, w, h, size, vals, axis == 0 ? fx : axis == 1 ? fy : fw);
          }
        double gx = r->shift_x[f], gy = r->shift_y[f];
        TsrImage *bestimg = f == best ? tsr_image_new (w, h, out_ch) : NULL;
        for (int y = 0; y < h; y++)
          for (int x = 0; x < w; x++)
            {
              gsize i = (gsize) y * w + x;
              float db = den_b[i] > 1e-6f ? den_b[i] : 1.f;
              float X0 = x + (float) gx, Y0 = y + (float) gy;
              gboolean in0 = X0 >= 0 && Y0 >= 0 && X0 <= w - 1 && Y0 <= h - 1;
              if (in0)
                {
                  mcnt[i]++;
                  for (int c = 0; c < out_ch; c++)
                    {
                      float v = sample_cubic (tsr_image_plane (img, c), w, h, X0, Y0);
                      mnum[c * np + i] += v;
                      if (bestimg)
                        tsr_image_plane (bestimg, c)[i] = v;
                    }
                }
              else if (bestimg)
                bestimg->mask[i] = 0;
              float X = X0 + fx[i] / db, Y = Y0 + fy[i] / db;
              float wt = fw[i] / db;
              if (wt <= 0 || X < 0 || Y < 0 || X > w - 1 || Y > h - 1)
                continue;
              den[i] += wt;
              for (int c = 0; c < out_ch; c++)
                num[c * np + i] += wt * sample_cubic (tsr_image_plane (img, c), w, h, X, Y);
            }
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
  g_free (order);
  g_free (ref);
  g_free (acc);
  g_free (tmp);
  g_free (Mf);
  g_free (sigma);
  g_free (level);
  g_free (L);
  return r;

fail:
  for (guint f = 0; f < n; f++)
    g_free (L[f]);
  g_free (L);
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
      g_autofree char *esc = g_strescape (name, NULL);
      g_string_append_printf (s, "    {\"frame\": \"%s\", \"shift_x\": ", esc);
      jnum (s, r->shift_x[f]);
      g_string_append (s, ", \"shift_y\": ");
      jnum (s, r->shift_y[f]);
      g_string_append (s, ", \"quality\": ");
      jnum (s, r->quality[f]);
      g_string_append_printf (s, "}%s\n", f + 1 < r->n_frames ? "," : "");
    }
  g_string_append (s, "  ]\n}\n");
  return g_string_free (s, FALSE);
}
