/* tsr-planet-synth.c — generated planetary sessions with known truth: a textured disc
 * (belts, spots, limb darkening), per-frame jitter, a smooth local displacement field per
 * frame (seeing distortion), a spatially varying seeing blur per frame, Gaussian noise. */
#include "tsr-planetary.h"

#include <math.h>
#include <string.h>

void
tsr_planet_synth_params_init (TsrPlanetSynthParams *p)
{
  memset (p, 0, sizeof *p);
  p->n_frames = 40;
  p->width = p->height = 256;
  p->disc_radius = 80;
  p->jitter = 4;
  p->seeing_min = 0.6;
  p->seeing_max = 2.2;
  p->distortion = 1.2;
  p->distortion_scale = 40;
  p->local_seeing = 0.5;
  p->noise = 0.02;
  p->peak = 200;
  p->seed = 1;
}

TsrImage *
tsr_planet_synth_truth (const TsrPlanetSynthParams *p)
{
  int w = p->width, h = p->height;
  TsrImage *img = tsr_image_new (w, h, 1);
  GRand *rng = g_rand_new_with_seed ((guint32) (p->seed * 7919 + 17));
  enum { NSPOT = 60 };
  double sx[NSPOT], sy[NSPOT], sr[NSPOT], sa[NSPOT];
  double R = p->disc_radius, cx = (w - 1) / 2.0, cy = (h - 1) / 2.0;
  for (int k = 0; k < NSPOT; k++)
    {
      double a = g_rand_double (rng) * 2 * G_PI, rr = R * sqrt (g_rand_double (rng)) * 0.9;
      sx[k] = cx + rr * cos (a);
      sy[k] = cy + rr * sin (a);
      sr[k] = 1.0 + 3.5 * g_rand_double (rng);
      sa[k] = (g_rand_double (rng) - 0.5) * 0.5;
    }
  g_rand_free (rng);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        double dx = x - cx, dy = y - cy, r2 = (dx * dx + dy * dy) / (R * R);
        double v = 0;
        if (r2 < 1)
          {
            double mu = sqrt (1 - r2);
            double limb = 0.4 + 0.6 * mu;
            double lat = dy / R;
            double belts = 1 + 0.25 * sin (lat * 9.0) + 0.12 * sin (lat * 23.0 + 1.0) + 0.06 * sin (lat * 47.0);
            double spots = 0;
            for (int k = 0; k < NSPOT; k++)
              {
                double ex = x - sx[k], ey = y - sy[k];
                spots += sa[k] * exp (-0.5 * (ex * ex + ey * ey) / (sr[k] * sr[k]));
              }
            v = limb * belts * (1 + spots);
            /* soft 1-px edge against aliasing */
            double edge = (1 - sqrt (r2)) * R;
            if (edge < 1)
              v *= edge;
          }
        img->data[(gsize) y * w + x] = (float) (p->peak * MAX (v, 0));
      }
  return img;
}

/* smooth random field in about [−1, 1]: sum of 4 plane waves of wavelength ≈ 2·scale */
typedef struct
{
  double kx[4], ky[4], ph[4];
} Field;

static void
field_init (Field *f, GRand *rng, double scale)
{
  for (int i = 0; i < 4; i++)
    {
      double a = g_rand_double (rng) * 2 * G_PI;
      double k = G_PI / scale * (0.7 + 0.6 * g_rand_double (rng));
      f->kx[i] = k * cos (a);
      f->ky[i] = k * sin (a);
      f->ph[i] = g_rand_double (rng) * 2 * G_PI;
    }
}

static inline double
field_at (const Field *f, double x, double y)
{
  double s = 0;
  for (int i = 0; i < 4; i++)
    s += sin (f->kx[i] * x + f->ky[i] * y + f->ph[i]);
  return s * 0.5; /* RMS ≈ 1 */
}

static void
blur (const float *in, float *out, int w, int h, double sigma)
{
  if (sigma < 0.05)
    {
      memcpy (out, in, (gsize) w * h * sizeof (float));
      return;
    }
  int r = (int) ceil (3.5 * sigma);
  double *k = g_new (double, 2 * r + 1), s = 0;
  for (int i = -r; i <= r; i++)
    s += (k[i + r] = exp (-0.5 * i * i / (sigma * sigma)));
  for (int i = 0; i <= 2 * r; i++)
    k[i] /= s;
  float *t = g_new (float, (gsize) w * h);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        double a = 0;
        for (int i = -r; i <= r; i++)
          a += k[i + r] * in[(gsize) y * w + CLAMP (x + i, 0, w - 1)];
        t[(gsize) y * w + x] = (float) a;
      }
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        double a = 0;
        for (int i = -r; i <= r; i++)
          a += k[i + r] * t[(gsize) CLAMP (y + i, 0, h - 1) * w + x];
        out[(gsize) y * w + x] = (float) a;
      }
  g_free (t);
  g_free (k);
}

static inline float
bilin (const float *p, int w, int h, double x, double y)
{
  x = CLAMP (x, 0, w - 1.0001);
  y = CLAMP (y, 0, h - 1.0001);
  int ix = (int) x, iy = (int) y;
  double fx = x - ix, fy = y - iy;
  const float *r = p + (gsize) iy * w + ix;
  return (float) ((1 - fy) * ((1 - fx) * r[0] + fx * r[1]) + fy * ((1 - fx) * r[w] + fx * r[w + 1]));
}

TsrImage *
tsr_planet_synth_frame (const TsrPlanetSynthParams *p, const TsrImage *truth, guint i, double *shift_x,
                        double *shift_y)
{
  int w = p->width, h = p->height;
  GRand *rng = g_rand_new_with_seed ((guint32) (p->seed * 1000003 + i * 7907 + 1));
  double jx = g_rand_double_range (rng, -1, 1) * p->jitter * 1.7320508;
  double jy = g_rand_double_range (rng, -1, 1) * p->jitter * 1.7320508;
  double seeing = p->seeing_min + (p->seeing_max - p->seeing_min) * g_rand_double (rng);
  Field fx, fy, fs;
  field_init (&fx, rng, p->distortion_scale);
  field_init (&fy, rng, p->distortion_scale);
  field_init (&fs, rng, p->distortion_scale * 1.5);
  /* the truth is oversampled-free: blur it first a little so the displacement by bilinear
   * sampling below is not dominated by interpolation error */
  gsize np = (gsize) w * h;
  float *warped = g_new (float, np);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        /* frame(x) = truth(x − jitter − d(x)): the scene moved by jitter + d */
        double dx = jx + p->distortion * field_at (&fx, x, y);
        double dy = jy + p->distortion * field_at (&fy, x, y);
        warped[(gsize) y * w + x] = bilin (truth->data, w, h, x - dx, y - dy);
      }
  double s_lo = seeing * (1 - p->local_seeing), s_hi = seeing * (1 + p->local_seeing);
  float *b_lo = g_new (float, np), *b_hi = g_new (float, np);
  blur (warped, b_lo, w, h, s_lo);
  blur (warped, b_hi, w, h, s_hi);
  TsrImage *img = tsr_image_new (w, h, 1);
  double nsig = p->noise * p->peak;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        double t = 0.5 + 0.5 * CLAMP (field_at (&fs, x, y), -1, 1);
        gsize k = (gsize) y * w + x;
        double v = (1 - t) * b_lo[k] + t * b_hi[k];
        /* Box–Muller */
        double u1 = g_rand_double (rng), u2 = g_rand_double (rng);
        double g = sqrt (-2 * log (MAX (u1, 1e-12))) * cos (2 * G_PI * u2);
        img->data[k] = (float) (v + nsig * g);
      }
  g_free (warped);
  g_free (b_lo);
  g_free (b_hi);
  g_rand_free (rng);
  if (shift_x)
    *shift_x = jx;
  if (shift_y)
    *shift_y = jy;
  return img;
}
