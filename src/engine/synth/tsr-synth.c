/* tsr-synth.c — synthetic deep-sky sessions with known truth.
 *
 * Geometry. Stars and extended sources live in sky coordinates, which coincide with frame
 * coordinates under the identity (0-based pixel centres, x = column, y = row). The sky
 * region covers the frame plus a margin wide enough that any shifted and rotated frame is
 * fully covered. Each frame maps sky to frame coordinates with a rotation about the frame
 * centre plus a shift (a reflection first for MIRRORED frames).
 *
 * Per-frame conditions (seeing, transparency, sky, gradient, transform) are smooth
 * functions of the time of the night plus a little jitter, drawn from a per-purpose random
 * stream seeded from the session seed, so the stars do not change when n_frames does and
 * the noise of one frame never depends on the others or on the thread count.
 *
 * The PSF is a Moffat profile whose FWHM grows towards the corners of the frame (optical
 * field variation, in frame coordinates) and becomes elongated radially there. Extended
 * sources are rendered once on a sky grid, pre-blurred with the median seeing, and sampled
 * bilinearly per frame.
 */
#include "tsr-synth.h"
#include "tsr-error.h"
#include "tsr-fits.h"
#include "tsr-json.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <fitsio.h>
#include <math.h>
#include <string.h>

#define SKY_COLOR_R 1.08
#define SKY_COLOR_G 1.00
#define SKY_COLOR_B 0.92
#define PROFILE_FLOOR 0.01        /* e: a star's window extends until its profile drops below */
#define MAX_STAR_RADIUS 300
#define TRUTH_SHARP_FWHM 1.2

enum
{
  STREAM_STARS = 1,
  STREAM_COND = 2,
  STREAM_EXT = 3,
  STREAM_NOISE = 4,
  STREAM_KINDS = 5
};

typedef enum
{
  EXT_SERSIC,     /* soft-edged elliptical Sérsic-like disc */
  EXT_BLOB        /* axis-aligned Gaussian blob (nebulosity) */
} ExtType;

typedef struct
{
  ExtType type;
  double x, y;          /* sky coordinates */
  double amp;           /* electrons per pixel at the centre (transparency 1) */
  double h;             /* Sérsic scale length (px) */
  double n;             /* Sérsic index */
  double q;             /* axis ratio */
  double angle;         /* major axis angle */
  double sx, sy;        /* blob sigmas */
  double color[3];
} ExtSource;

typedef struct
{
  int x0, y0;           /* sky coordinates of grid sample (0, 0) */
  int w, h;
  int planes;           /* 1 (mono) or 3 (R, G, B) */
  float *data;
} ExtGrid;

struct _TsrSynthPrivate
{
  GMutex lock;
  GArray *ext;          /* ExtSource */
  ExtGrid *grid;        /* built lazily, blurred with grid_fwhm */
  double grid_fwhm;
  gboolean grid_built;
};

/* ---------------------------------------------------------------------------------- */
/* Random numbers                                                                      */

static GRand *
stream_new (guint64 seed, guint32 stream, guint32 index)
{
  guint32 s[5] = { (guint32) (seed & 0xffffffffu), (guint32) (seed >> 32), stream, index,
                   0x7e55e7a5u };
  return g_rand_new_with_seed_array (s, G_N_ELEMENTS (s));
}

static inline double
uniform01 (GRand *r)
{
  /* strictly inside (0, 1) */
  return ((double) g_rand_int (r) + 0.5) * (1.0 / 4294967296.0);
}

static inline double
uniform (GRand *r, double a, double b)
{
  return a + (b - a) * uniform01 (r);
}

typedef struct
{
  GRand *r;
  gboolean have;
  double spare;
} Gauss;

static inline double
gauss_next (Gauss *g)
{
  if (g->have)
    {
      g->have = FALSE;
      return g->spare;
    }
  double u1 = uniform01 (g->r), u2 = uniform01 (g->r);
  double rad = sqrt (-2.0 * log (u1));
  double th = 2.0 * G_PI * u2;
  g->spare = rad * sin (th);
  g->have = TRUE;
  return rad * cos (th);
}

static inline double
poisson_small (GRand *r, double lambda)
{
  /* Knuth: count uniforms until their product falls below e^-λ. */
  double limit = exp (-lambda), prod = uniform01 (r);
  int k = 0;
  while (prod > limit && k < 1000)
    {
      k++;
      prod *= uniform01 (r);
    }
  return k;
}

/* ---------------------------------------------------------------------------------- */
/* Parameters                                                                          */

void
tsr_synth_params_init (TsrSynthParams *p)
{
  g_return_if_fail (p != NULL);
  memset (p, 0, sizeof *p);
  p->n_frames = 30;
  p->width = 640;
  p->height = 480;
  p->cfa = TSR_CFA_NONE;
  p->seed = 1;
  p->n_stars = 0;
  p->star_flux_min = 300;
  p->star_flux_max = 4e5;
  p->star_power = 1.0;
  p->extended = TRUE;
  p->fwhm_min = 2.0;
  p->fwhm_max = 4.5;
  p->moffat_beta = 3.0;
  p->field_psf = 0.2;
  p->n_bursts = 2;
  p->shift_max = 20;
  p->rotation_max_deg = 1.0;
  p->sky = 400;
  p->sky_drift = 0.3;
  p->gradient = 0.15;
  p->transparency_drop = 0.3;
  p->read_noise = 3;
  p->gain = 1.0;
  p->bias = 500;
  p->oversample = 1;
  p->n_trails = 1;
  p->n_mirrored = 1;
  p->n_noise = 1;
  p->exposure = 10;
}

static gboolean
check_params (const TsrSynthParams *p, GError **error)
{
  const char *bad = NULL;

  if (p->n_frames < 1)
    bad = "n_frames must be at least 1";
  else if (p->width < 8 || p->height < 8 || p->width > 65536 || p->height > 65536)
    bad = "width and height must be between 8 and 65536";
  else if (!(p->star_flux_min > 0) || !(p->star_flux_max >= p->star_flux_min))
    bad = "star fluxes must satisfy 0 < star_flux_min <= star_flux_max";
  else if (!(p->star_power > 0))
    bad = "star_power must be positive";
  else if (!(p->fwhm_min > 0.3) || !(p->fwhm_max >= p->fwhm_min) || p->fwhm_max > 100)
    bad = "seeing must satisfy 0.3 < fwhm_min <= fwhm_max <= 100";
  else if (!(p->moffat_beta > 1.05) || p->moffat_beta > 50)
    bad = "moffat_beta must be between 1.05 and 50";
  else if (!(p->field_psf >= 0) || p->field_psf > 2)
    bad = "field_psf must be between 0 and 2";
  else if (!(p->focus_blur >= 0) || p->focus_blur > 50)
    bad = "focus_blur must be between 0 and 50";
  else if (!(p->shift_max >= 0) || !(p->rotation_max_deg >= 0) || p->rotation_max_deg > 45)
    bad = "shift_max must be >= 0 and rotation_max_deg between 0 and 45";
  else if (!(p->sky >= 0) || !(p->sky_drift >= 0) || p->sky_drift > 1
           || !(p->gradient >= 0) || p->gradient > 2)
    bad = "sky must be >= 0, sky_drift in [0, 1], gradient in [0, 2]";
  else if (!(p->transparency_drop >= 0) || p->transparency_drop >= 1)
    bad = "transparency_drop must be in [0, 1)";
  else if (!(p->read_noise >= 0) || !(p->gain > 0) || !(p->bias >= 0) || p->bias > 65535)
    bad = "read_noise must be >= 0, gain > 0, bias in [0, 65535]";
  else if (p->oversample > 16)
    bad = "oversample must be at most 16";
  else if (!(p->exposure > 0))
    bad = "exposure must be positive";
  else if ((int) p->cfa < TSR_CFA_NONE || (int) p->cfa > TSR_CFA_BGGR)
    bad = "unknown CFA pattern";

  if (bad != NULL)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("Invalid synthetic session parameters: %s"), bad);
      return FALSE;
    }
  return TRUE;
}

/* ---------------------------------------------------------------------------------- */
/* Geometry helpers                                                                    */

static inline double
centre_x (const TsrSynthParams *p)
{
  return (p->width - 1) * 0.5;
}

static inline double
centre_y (const TsrSynthParams *p)
{
  return (p->height - 1) * 0.5;
}

/* Margin (px) beyond the frame that any frame of the session can see. */
static int
sky_margin (const TsrSynthParams *p)
{
  double hd = hypot (centre_x (p) + 0.5, centre_y (p) + 0.5);
  double rot = p->rotation_max_deg * G_PI / 180.0;
  return (int) ceil (1.5 * p->shift_max + hd * 2.0 * sin (rot * 0.5) * 1.05 + 4.0);
}

static void
make_matrix (const TsrSynthParams *p, double theta, double dx, double dy, gboolean mirror,
             double m[6])
{
  double c = cos (theta), s = sin (theta);
  double cx = centre_x (p), cy = centre_y (p);
  double f = mirror ? -1.0 : 1.0;

  /* frame = C + R · F · (sky − C) + d with F = diag(f, 1) */
  m[0] = c * f;
  m[1] = -s;
  m[3] = s * f;
  m[4] = c;
  m[2] = cx + dx - (m[0] * cx + m[1] * cy);
  m[5] = cy + dy - (m[3] * cx + m[4] * cy);
}

static inline void
apply_matrix (const double m[6], double x, double y, double *fx, double *fy)
{
  *fx = m[0] * x + m[1] * y + m[2];
  *fy = m[3] * x + m[4] * y + m[5];
}

static void
invert_matrix (const double m[6], double inv[6])
{
  double det = m[0] * m[4] - m[1] * m[3];
  double id = 1.0 / det;

  inv[0] = m[4] * id;
  inv[1] = -m[1] * id;
  inv[3] = -m[3] * id;
  inv[4] = m[0] * id;
  inv[2] = -(inv[0] * m[2] + inv[1] * m[5]);
  inv[5] = -(inv[3] * m[2] + inv[4] * m[5]);
}

/* ---------------------------------------------------------------------------------- */
/* PSF                                                                                 */

typedef struct
{
  double fwhm;          /* geometric mean of major and minor FWHM */
  double q;             /* minor / major */
  double angle;         /* major axis */
  double a, b;          /* Moffat alpha along the major and minor axes */
  double A, B, C;       /* Q = A dx² + 2B dx dy + C dy² = (u/a)² + (v/b)² */
} Psf;

static inline double
moffat_alpha (double fwhm, double beta)
{
  return fwhm / (2.0 * sqrt (pow (2.0, 1.0 / beta) - 1.0));
}

/* Unit vector of the sensor tilt (fixed per session, its own random stream). */
static void
tilt_direction (const TsrSynthParams *p, double *ux, double *uy)
{
  g_autoptr (GRand) r = stream_new (p->seed, STREAM_COND, 0x74696c74u);
  double a = uniform (r, 0, 2 * G_PI);
  *ux = cos (a);
  *uy = sin (a);
}

static void
psf_compute (const TsrSynthParams *p, double fwhm_centre, double field_psf, double focus,
             double fx, double fy, Psf *psf)
{
  double cx = centre_x (p), cy = centre_y (p);
  double rmax2 = cx * cx + cy * cy;
  double dx = fx - cx, dy = fy - cy;
  double r2 = rmax2 > 0 ? (dx * dx + dy * dy) / rmax2 : 0;
  double fr = fwhm_centre, q = 1.0, ang = 0.0;

  if (field_psf > 0)
    {
      fr *= 1.0 + field_psf * r2;
      q = 1.0 - 0.75 * field_psf * r2;   /* 0.85 in the corners for field_psf = 0.2 */
      q = CLAMP (q, 0.5, 1.0);
      ang = (dx != 0 || dy != 0) ? atan2 (dy, dx) : 0.0;
      if (ang > G_PI / 2)
        ang -= G_PI;
      else if (ang <= -G_PI / 2)
        ang += G_PI;
    }
  if (p->focus_blur > 0 && isfinite (focus))
    {
      /* defocus on a tilted sensor: the distance from focus is linear across the field
       * along the tilt and shifts with the focus state; the blur adds in quadrature */
      double ux, uy;
      tilt_direction (p, &ux, &uy);
      double rm = sqrt (MAX (rmax2, 1e-9));
      double xn = CLAMP ((dx * ux + dy * uy) / rm, -1.0, 1.0);
      double d = p->focus_blur * 0.5 * (focus + xn);
      fr = sqrt (fr * fr + d * d);
    }

  double alpha = moffat_alpha (fr, p->moffat_beta);
  double sq = sqrt (q);
  double c = cos (ang), s = sin (ang);

  psf->fwhm = fr;
  psf->q = q;
  psf->angle = ang;
  psf->a = alpha / sq;
  psf->b = alpha * sq;
  double ia2 = 1.0 / (psf->a * psf->a), ib2 = 1.0 / (psf->b * psf->b);
  psf->A = c * c * ia2 + s * s * ib2;
  psf->C = s * s * ia2 + c * c * ib2;
  psf->B = c * s * (ia2 - ib2);
}

/* ---------------------------------------------------------------------------------- */
/* Truth                                                                               */

static void
frame_clear (gpointer data)
{
  TsrSynthFrame *f = data;
  g_clear_pointer (&f->file, g_free);
  g_clear_pointer (&f->date_obs, g_free);
}

static void
ext_grid_free (ExtGrid *g)
{
  if (g == NULL)
    return;
  g_free (g->data);
  g_free (g);
}

void
tsr_synth_truth_free (TsrSynthTruth *t)
{
  if (t == NULL)
    return;
  g_clear_pointer (&t->frames, g_array_unref);
  g_clear_pointer (&t->stars, g_array_unref);
  if (t->priv != NULL)
    {
      g_clear_pointer (&t->priv->ext, g_array_unref);
      ext_grid_free (t->priv->grid);
      g_mutex_clear (&t->priv->lock);
      g_free (t->priv);
    }
  g_free (t);
}

static int
cmp_double (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static double
median_of (double *v, guint n)
{
  if (n == 0)
    return NAN;
  qsort (v, n, sizeof (double), cmp_double);
  return (n & 1) ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void
shuffle (GRand *r, guint *v, guint n)
{
  for (guint i = n; i > 1; i--)
    {
      guint j = g_rand_int_range (r, 0, (gint32) i);
      guint tmp = v[i - 1];
      v[i - 1] = v[j];
      v[j] = tmp;
    }
}

static char *
format_date_obs (guint index, double exposure)
{
  g_autoptr (GDateTime) start = g_date_time_new_utc (2025, 4, 9, 22, 0, 0);
  double secs = index * (exposure + 2.0);
  gint64 whole = (gint64) floor (secs);
  int ms = (int) llround ((secs - whole) * 1000.0);
  if (ms >= 1000)
    {
      whole++;
      ms -= 1000;
    }
  g_autoptr (GDateTime) dt = g_date_time_add_seconds (start, (double) whole);
  g_autofree char *base = g_date_time_format (dt, "%Y-%m-%dT%H:%M:%S");
  return g_strdup_printf ("%s.%03d", base, ms);
}

static void
plan_stars (TsrSynthTruth *t)
{
  const TsrSynthParams *p = &t->params;
  g_autoptr (GRand) r = stream_new (p->seed, STREAM_STARS, 0);
  int margin = sky_margin (p);
  double pad = ceil (3.0 * p->fwhm_max * (1.0 + p->field_psf));
  double x0 = -margin - pad, y0 = -margin - pad;
  double x1 = p->width - 1 + margin + pad, y1 = p->height - 1 + margin + pad;
  guint n = p->n_stars;

  if (n == 0)
    {
      double area = (x1 - x0) * (y1 - y0);
      n = (guint) MAX (10.0, round (2000.0 * area / 1e6));
    }

  double ratio = pow (p->star_flux_min / p->star_flux_max, p->star_power);
  for (guint i = 0; i < n; i++)
    {
      TsrSynthStar s;
      s.x = uniform (r, x0, x1);
      s.y = uniform (r, y0, y1);
      /* truncated Pareto: N(>F) ∝ F^-power on [Fmin, Fmax] */
      double u = uniform01 (r);
      s.flux = p->star_flux_min * pow (1.0 - u * (1.0 - ratio), -1.0 / p->star_power);
      s.flux = MIN (s.flux, p->star_flux_max);
      /* colour: blue → red temperature axis plus a little scatter, mean 1 */
      double tcol = uniform (r, -1.0, 1.0);
      double c[3] = { 1.0 + 0.35 * tcol + uniform (r, -0.05, 0.05),
                      1.0 + uniform (r, -0.05, 0.05),
                      1.0 - 0.35 * tcol + uniform (r, -0.05, 0.05) };
      double mean = (c[0] + c[1] + c[2]) / 3.0;
      for (int k = 0; k < 3; k++)
        s.color[k] = c[k] / mean;
      g_array_append_val (t->stars, s);
    }
}

static void
plan_extended (TsrSynthTruth *t)
{
  const TsrSynthParams *p = &t->params;
  g_autoptr (GRand) r = stream_new (p->seed, STREAM_EXT, 0);
  double base = p->sky > 0 ? p->sky : 400.0;
  double size = MIN (p->width, p->height);
  int margin = sky_margin (p);
  guint n_gal = 3 + g_rand_int_range (r, 0, 3);

  for (guint i = 0; i < n_gal; i++)
    {
      ExtSource e = { 0 };
      e.type = EXT_SERSIC;
      if (i == 0)
        {
          /* the bright one, well inside the frame */
          e.x = uniform (r, 0.3, 0.7) * (p->width - 1);
          e.y = uniform (r, 0.3, 0.7) * (p->height - 1);
          e.h = MAX (4.0, 0.035 * size);
          e.amp = 0.8 * base;
          e.n = 1.0;
          e.q = uniform (r, 0.45, 0.75);
        }
      else
        {
          e.x = uniform (r, -0.5 * margin, p->width - 1 + 0.5 * margin);
          e.y = uniform (r, -0.5 * margin, p->height - 1 + 0.5 * margin);
          e.h = MAX (2.0, uniform (r, 0.008, 0.02) * size);
          e.amp = uniform (r, 0.15, 0.5) * base;
          e.n = uniform (r, 0.8, 1.5);
          e.q = uniform (r, 0.35, 0.9);
        }
      e.angle = uniform (r, 0, G_PI);
      double c[3] = { 1.15 + uniform (r, -0.05, 0.05), 1.0, 0.85 + uniform (r, -0.05, 0.05) };
      double mean = (c[0] + c[1] + c[2]) / 3.0;
      for (int k = 0; k < 3; k++)
        e.color[k] = c[k] / mean;
      g_array_append_val (t->priv->ext, e);

      if (i == 0)
        {
          /* a bulge: a compact, peaked component at the same centre */
          ExtSource b = e;
          b.h = 0.12 * e.h;
          b.n = 2.0;
          b.amp = 4.0 * e.amp;
          b.q = MIN (1.0, e.q + 0.25);
          b.color[0] = e.color[0] * 1.05;
          b.color[2] = e.color[2] * 0.95;
          mean = (b.color[0] + b.color[1] + b.color[2]) / 3.0;
          for (int k = 0; k < 3; k++)
            b.color[k] /= mean;
          g_array_append_val (t->priv->ext, b);
        }
    }

  guint n_blob = 8 + g_rand_int_range (r, 0, 7);
  for (guint i = 0; i < n_blob; i++)
    {
      ExtSource e = { 0 };
      e.type = EXT_BLOB;
      e.x = uniform (r, -margin, p->width - 1 + margin);
      e.y = uniform (r, -margin, p->height - 1 + margin);
      e.sx = uniform (r, 0.05, 0.18) * size;
      e.sy = uniform (r, 0.05, 0.18) * size;
      e.amp = uniform (r, 0.02, 0.07) * base;
      gboolean red = uniform01 (r) < 0.6;
      double c[3] = { red ? 1.7 : 0.6, red ? 0.75 : 0.95, red ? 0.55 : 1.45 };
      double mean = (c[0] + c[1] + c[2]) / 3.0;
      for (int k = 0; k < 3; k++)
        e.color[k] = c[k] / mean;
      g_array_append_val (t->priv->ext, e);
    }
}

/* Smooth curve in about [-1, 1]: a trend plus one slow oscillation. */
typedef struct
{
  double trend, amp, freq, phase;
} Wave;

static void
wave_init (Wave *w, GRand *r, double trend_max, double amp_lo, double amp_hi)
{
  w->trend = uniform (r, -trend_max, trend_max);
  w->amp = uniform (r, amp_lo, amp_hi);
  w->freq = uniform (r, 0.3, 1.2);
  w->phase = uniform (r, 0, 1);
}

static inline double
wave_at (const Wave *w, double t)
{
  return w->trend * (2 * t - 1) + w->amp * sin (2 * G_PI * (w->freq * t + w->phase));
}

static void
plan_frames (TsrSynthTruth *t)
{
  const TsrSynthParams *p = &t->params;
  g_autoptr (GRand) r = stream_new (p->seed, STREAM_COND, 0);
  guint n = p->n_frames;
  double rot_max = p->rotation_max_deg * G_PI / 180.0;

  /* seeing: two slow oscillations plus short bursts, s ∈ [0, 1] */
  double sp1 = uniform (r, 0, 1), sp2 = uniform (r, 0, 1);
  double sf1 = uniform (r, 0.4, 0.8), sf2 = uniform (r, 1.2, 2.2);
  guint nb = p->n_bursts;
  double *bc = g_new0 (double, MAX (nb, 1));
  double *ba = g_new0 (double, MAX (nb, 1));
  double bw = MAX (0.7, 0.025 * n);
  for (guint k = 0; k < nb; k++)
    {
      bc[k] = uniform (r, 0.1, 0.95) * (n - 1);
      ba[k] = uniform (r, 0.45, 0.6);
    }

  /* transparency: slow trend plus a passing cloud, normalised over the frames */
  double ttrend = uniform (r, -0.5, 0.5);
  double tc = uniform (r, 0.2, 0.9), tw = uniform (r, 0.05, 0.12);
  Wave skyw, shx, shy;
  wave_init (&skyw, r, 0.7, 0.1, 0.3);
  wave_init (&shx, r, 0.5, 0.1, 0.3);
  wave_init (&shy, r, 0.5, 0.1, 0.3);
  double rot_sign = uniform01 (r) < 0.5 ? -1.0 : 1.0;
  Gauss gs = { r, FALSE, 0 };

  /* focus drift: its own stream, so the other conditions do not change with it */
  g_autoptr (GRand) rf = stream_new (p->seed, STREAM_COND, 0x666f6375u);
  double focus_sign = uniform01 (rf) < 0.5 ? -1.0 : 1.0, focus_phase = uniform (rf, 0, 1);

  double *tshape = g_new (double, n);
  double tmin = G_MAXDOUBLE, tmax = -G_MAXDOUBLE;
  for (guint i = 0; i < n; i++)
    {
      double tt = n > 1 ? (double) i / (n - 1) : 0.0;
      tshape[i] = ttrend * tt + exp (-0.5 * pow ((tt - tc) / tw, 2));
      tmin = MIN (tmin, tshape[i]);
      tmax = MAX (tmax, tshape[i]);
    }

  for (guint i = 0; i < n; i++)
    {
      TsrSynthFrame f = { 0 };
      double tt = n > 1 ? (double) i / (n - 1) : 0.0;

      f.index = i;
      f.kind = TSR_SYNTH_VALID;

      double s = 0.33 + 0.18 * sin (2 * G_PI * (sf1 * tt + sp1))
                 + 0.08 * sin (2 * G_PI * (sf2 * tt + sp2));
      for (guint k = 0; k < nb; k++)
        s += ba[k] * exp (-0.5 * pow ((i - bc[k]) / bw, 2));
      s = CLAMP (s, 0.0, 1.0);
      f.fwhm = p->fwhm_min + (p->fwhm_max - p->fwhm_min) * s;

      double shape = tmax > tmin ? (tshape[i] - tmin) / (tmax - tmin) : 0.0;
      f.transparency = 1.0 - p->transparency_drop * shape;

      double u = CLAMP (wave_at (&skyw, tt), -1.0, 1.0);
      f.sky = p->sky * (1.0 + p->sky_drift * u);

      /* alt-az field rotation: roughly linear over the night plus jitter */
      double theta = rot_sign * rot_max * 0.9 * (2 * tt - 1)
                     + rot_max * 0.03 * CLAMP (gauss_next (&gs), -3, 3);
      theta = CLAMP (theta, -rot_max, rot_max);
      double jx = CLAMP (gauss_next (&gs), -3, 3);
      double jy = CLAMP (gauss_next (&gs), -3, 3);
      double dx = p->shift_max * (wave_at (&shx, tt) + 0.04 * jx);
      double dy = p->shift_max * (wave_at (&shy, tt) + 0.04 * jy);
      dx = CLAMP (dx, -p->shift_max, p->shift_max);
      dy = CLAMP (dy, -p->shift_max, p->shift_max);
      make_matrix (p, theta, dx, dy, FALSE, f.matrix);

      /* focus drifts through best focus over the night (temperature), with a wobble */
      f.focus = CLAMP (focus_sign * (2 * tt - 1) + 0.15 * sin (2 * G_PI * (1.5 * tt + focus_phase)), -1.0, 1.0);

      f.file = g_strdup_printf ("synth_%04u.fits", i + 1);
      f.date_obs = format_date_obs (i, p->exposure);
      f.fwhm_median = NAN;
      g_array_append_val (t->frames, f);
    }

  g_free (tshape);
  g_free (bc);
  g_free (ba);
}

/* The gradient direction of frame i (radians) — a slow turn over the night. */
static double
gradient_angle (const TsrSynthParams *p, guint i)
{
  g_autoptr (GRand) r = stream_new (p->seed, STREAM_COND, 0x67726164u);
  double a0 = uniform (r, 0, 2 * G_PI);
  double tt = p->n_frames > 1 ? (double) i / (p->n_frames - 1) : 0.0;
  return a0 + 0.6 * tt;
}

static void
plan_kinds (TsrSynthTruth *t)
{
  const TsrSynthParams *p = &t->params;
  g_autoptr (GRand) r = stream_new (p->seed, STREAM_KINDS, 0);
  guint n = p->n_frames, mid = n / 2;
  guint *pref = g_new (guint, n), *rest = g_new (guint, n);
  guint np = 0, nr = 0;

  for (guint i = 0; i < n; i++)
    {
      if (i == 0 || i == mid)
        continue;
      guint dm = i > mid ? i - mid : mid - i;
      if (i >= 2 && dm >= 2)
        pref[np++] = i;
      else
        rest[nr++] = i;
    }
  shuffle (r, pref, np);
  shuffle (r, rest, nr);
  guint *order = g_new (guint, n);
  memcpy (order, pref, np * sizeof (guint));
  memcpy (order + np, rest, nr * sizeof (guint));
  guint avail = np + nr, k = 0;

  for (guint j = 0; j < p->n_mirrored && k < avail; j++, k++)
    {
      TsrSynthFrame *f = &g_array_index (t->frames, TsrSynthFrame, order[k]);
      f->kind = TSR_SYNTH_MIRRORED;
      double theta = atan2 (f->matrix[3], f->matrix[0]);
      double cx = centre_x (p), cy = centre_y (p);
      double dx = f->matrix[0] * cx + f->matrix[1] * cy + f->matrix[2] - cx;
      double dy = f->matrix[3] * cx + f->matrix[4] * cy + f->matrix[5] - cy;
      make_matrix (p, theta, dx, dy, TRUE, f->matrix);
    }
  for (guint j = 0; j < p->n_noise && k < avail; j++, k++)
    g_array_index (t->frames, TsrSynthFrame, order[k]).kind = TSR_SYNTH_NOISE;

  /* trails: valid frames other than the first and the middle one when possible */
  guint *cand = g_new (guint, n);
  guint nc = 0;
  for (guint i = 0; i < n; i++)
    {
      const TsrSynthFrame *f = &g_array_index (t->frames, TsrSynthFrame, i);
      if (f->kind == TSR_SYNTH_VALID && i != 0 && i != mid)
        cand[nc++] = i;
    }
  if (nc == 0)
    for (guint i = 0; i < n; i++)
      if (g_array_index (t->frames, TsrSynthFrame, i).kind == TSR_SYNTH_VALID)
        cand[nc++] = i;
  shuffle (r, cand, nc);
  for (guint j = 0; j < p->n_trails && j < nc; j++)
    {
      TsrSynthFrame *f = &g_array_index (t->frames, TsrSynthFrame, cand[j]);
      /* a straight line through a point near the centre, clipped to the frame */
      double px = uniform (r, 0.25, 0.75) * (p->width - 1);
      double py = uniform (r, 0.25, 0.75) * (p->height - 1);
      double ang = uniform (r, 0, G_PI);
      double ux = cos (ang), uy = sin (ang);
      double lo = -G_MAXDOUBLE, hi = G_MAXDOUBLE;
      double bx0 = -0.5, bx1 = p->width - 0.5, by0 = -0.5, by1 = p->height - 0.5;
      if (fabs (ux) > 1e-12)
        {
          double a = (bx0 - px) / ux, b = (bx1 - px) / ux;
          lo = MAX (lo, MIN (a, b));
          hi = MIN (hi, MAX (a, b));
        }
      if (fabs (uy) > 1e-12)
        {
          double a = (by0 - py) / uy, b = (by1 - py) / uy;
          lo = MAX (lo, MIN (a, b));
          hi = MIN (hi, MAX (a, b));
        }
      f->has_trail = TRUE;
      f->trail[0] = px + lo * ux;
      f->trail[1] = py + lo * uy;
      f->trail[2] = px + hi * ux;
      f->trail[3] = py + hi * uy;
    }

  g_free (cand);
  g_free (order);
  g_free (pref);
  g_free (rest);
}

static void
plan_fwhm_median (TsrSynthTruth *t)
{
  const TsrSynthParams *p = &t->params;
  guint ns = t->stars->len;
  double *v = g_new (double, MAX (ns, 1));

  for (guint i = 0; i < t->frames->len; i++)
    {
      TsrSynthFrame *f = &g_array_index (t->frames, TsrSynthFrame, i);
      guint k = 0;
      if (f->kind == TSR_SYNTH_NOISE)
        {
          f->fwhm_median = NAN;
          continue;
        }
      for (guint j = 0; j < ns; j++)
        {
          const TsrSynthStar *s = &g_array_index (t->stars, TsrSynthStar, j);
          double fx, fy;
          apply_matrix (f->matrix, s->x, s->y, &fx, &fy);
          if (fx < -0.5 || fy < -0.5 || fx > p->width - 0.5 || fy > p->height - 0.5)
            continue;
          Psf psf;
          psf_compute (p, f->fwhm, p->field_psf, f->focus, fx, fy, &psf);
          v[k++] = psf.fwhm;
        }
      f->fwhm_median = k > 0 ? median_of (v, k) : f->fwhm;
    }
  g_free (v);
}

TsrSynthTruth *
tsr_synth_plan (const TsrSynthParams *p)
{
  g_return_val_if_fail (p != NULL, NULL);
  g_return_val_if_fail (check_params (p, NULL), NULL);

  TsrSynthTruth *t = g_new0 (TsrSynthTruth, 1);
  t->params = *p;
  if (t->params.oversample == 0)
    t->params.oversample = 1;
  t->frames = g_array_sized_new (FALSE, TRUE, sizeof (TsrSynthFrame), p->n_frames);
  g_array_set_clear_func (t->frames, frame_clear);
  t->stars = g_array_new (FALSE, TRUE, sizeof (TsrSynthStar));
  t->priv = g_new0 (TsrSynthPrivate, 1);
  g_mutex_init (&t->priv->lock);
  t->priv->ext = g_array_new (FALSE, TRUE, sizeof (ExtSource));

  plan_stars (t);
  plan_frames (t);
  plan_kinds (t);
  plan_fwhm_median (t);
  plan_extended (t);
  return t;
}

double
tsr_synth_median_fwhm (const TsrSynthTruth *t)
{
  g_return_val_if_fail (t != NULL, NAN);
  double *v = g_new (double, MAX (t->frames->len, 1));
  guint k = 0;
  for (guint i = 0; i < t->frames->len; i++)
    {
      const TsrSynthFrame *f = &g_array_index (t->frames, TsrSynthFrame, i);
      if (f->kind != TSR_SYNTH_NOISE)
        v[k++] = f->fwhm;
    }
  if (k == 0)
    for (guint i = 0; i < t->frames->len; i++)
      v[k++] = g_array_index (t->frames, TsrSynthFrame, i).fwhm;
  double m = median_of (v, k);
  g_free (v);
  return isfinite (m) ? m : 0.5 * (t->params.fwhm_min + t->params.fwhm_max);
}

void
tsr_synth_psf_at (const TsrSynthTruth *t, guint index, double fx, double fy,
                  double *fwhm, double *axis_ratio, double *angle)
{
  g_return_if_fail (t != NULL && index < t->frames->len);
  const TsrSynthFrame *f = &g_array_index (t->frames, TsrSynthFrame, index);
  Psf psf;
  psf_compute (&t->params, f->fwhm, t->params.field_psf, f->focus, fx, fy, &psf);
  if (fwhm)
    *fwhm = psf.fwhm;
  if (axis_ratio)
    *axis_ratio = psf.q;
  if (angle)
    *angle = psf.angle;
}

/* ---------------------------------------------------------------------------------- */
/* Extended sources on the sky grid                                                    */

static void
blur_plane (float *data, int w, int h, double fwhm)
{
  double sigma = fwhm / 2.354820045;
  if (!(sigma > 0.05))
    return;
  int rad = (int) ceil (4.0 * sigma);
  int klen = 2 * rad + 1;
  float *k = g_new (float, klen);
  double sum = 0;
  for (int i = -rad; i <= rad; i++)
    sum += k[i + rad] = (float) exp (-0.5 * i * i / (sigma * sigma));
  for (int i = 0; i < klen; i++)
    k[i] = (float) (k[i] / sum);

  int n = MAX (w, h);
  float *line = g_new (float, n + 2 * rad);
  float *outl = g_new (float, n);

  for (int y = 0; y < h; y++)
    {
      float *row = data + (gsize) y * w;
      for (int i = 0; i < w + 2 * rad; i++)
        line[i] = row[CLAMP (i - rad, 0, w - 1)];
      for (int x = 0; x < w; x++)
        {
          float acc = 0;
          for (int j = 0; j < klen; j++)
            acc += k[j] * line[x + j];
          outl[x] = acc;
        }
      memcpy (row, outl, w * sizeof (float));
    }
  /* columns: process in blocks of rows for cache friendliness */
  float *tmp = g_new (float, (gsize) w * h);
  for (int y = 0; y < h; y++)
    {
      float *o = tmp + (gsize) y * w;
      memset (o, 0, w * sizeof (float));
      for (int j = 0; j < klen; j++)
        {
          int yy = CLAMP (y + j - rad, 0, h - 1);
          const float *src = data + (gsize) yy * w;
          float kj = k[j];
          for (int x = 0; x < w; x++)
            o[x] += kj * src[x];
        }
    }
  memcpy (data, tmp, (gsize) w * h * sizeof (float));
  g_free (tmp);
  g_free (line);
  g_free (outl);
  g_free (k);
}

static ExtGrid *
ext_grid_build (const TsrSynthParams *p, GArray *ext, double blur_fwhm)
{
  if (!p->extended || ext == NULL || ext->len == 0)
    return NULL;

  int m = sky_margin (p) + 2;
  ExtGrid *g = g_new0 (ExtGrid, 1);
  g->x0 = -m;
  g->y0 = -m;
  g->w = p->width + 2 * m;
  g->h = p->height + 2 * m;
  g->planes = p->cfa != TSR_CFA_NONE ? 3 : 1;
  gsize np = (gsize) g->w * g->h;
  g->data = g_new0 (float, np * g->planes);
  float *lum = g_new (float, np);

  for (guint i = 0; i < ext->len; i++)
    {
      const ExtSource *e = &g_array_index (ext, ExtSource, i);
      int bx0, bx1, by0, by1;

      memset (lum, 0, np * sizeof (float));
      if (e->type == EXT_SERSIC)
        {
          double rad = e->h * MIN (15.0, pow (9.2, e->n) + 2.0);
          rad = MAX (rad, 8.0 * e->h);
          bx0 = (int) floor (e->x - rad) - g->x0;
          bx1 = (int) ceil (e->x + rad) - g->x0;
          by0 = (int) floor (e->y - rad) - g->y0;
          by1 = (int) ceil (e->y + rad) - g->y0;
          bx0 = MAX (bx0, 0);
          by0 = MAX (by0, 0);
          bx1 = MIN (bx1, g->w - 1);
          by1 = MIN (by1, g->h - 1);
          double c = cos (e->angle), s = sin (e->angle), iq = 1.0 / e->q, in = 1.0 / e->n;
          double ih = 1.0 / e->h, edge = 6.0;
          for (int y = by0; y <= by1; y++)
            {
              double dy = y + g->y0 - e->y;
              float *o = lum + (gsize) y * g->w;
              for (int x = bx0; x <= bx1; x++)
                {
                  double dx = x + g->x0 - e->x;
                  double u = dx * c + dy * s, v = (-dx * s + dy * c) * iq;
                  double rr = sqrt (u * u + v * v) * ih;
                  double val = exp (-(rr > 0 ? exp (log (rr) * in) : 0.0));
                  val /= 1.0 + exp ((rr - edge) * 1.5);     /* soft edge */
                  o[x] = (float) (e->amp * val);
                }
            }
        }
      else
        {
          double rx = 4.0 * e->sx, ry = 4.0 * e->sy;
          bx0 = MAX (0, (int) floor (e->x - rx) - g->x0);
          bx1 = MIN (g->w - 1, (int) ceil (e->x + rx) - g->x0);
          by0 = MAX (0, (int) floor (e->y - ry) - g->y0);
          by1 = MIN (g->h - 1, (int) ceil (e->y + ry) - g->y0);
          if (bx0 > bx1 || by0 > by1)
            continue;
          float *ex = g_new (float, bx1 - bx0 + 1);
          for (int x = bx0; x <= bx1; x++)
            {
              double dx = (x + g->x0 - e->x) / e->sx;
              ex[x - bx0] = (float) exp (-0.5 * dx * dx);
            }
          for (int y = by0; y <= by1; y++)
            {
              double dy = (y + g->y0 - e->y) / e->sy;
              float ey = (float) (e->amp * exp (-0.5 * dy * dy));
              float *o = lum + (gsize) y * g->w;
              for (int x = bx0; x <= bx1; x++)
                o[x] = ey * ex[x - bx0];
            }
          g_free (ex);
        }
      if (bx0 > bx1 || by0 > by1)
        continue;
      for (int c = 0; c < g->planes; c++)
        {
          float f = g->planes == 3 ? (float) e->color[c] : 1.0f;
          float *pl = g->data + (gsize) c * np;
          for (int y = by0; y <= by1; y++)
            {
              gsize off = (gsize) y * g->w;
              for (int x = bx0; x <= bx1; x++)
                pl[off + x] += f * lum[off + x];
            }
        }
    }
  g_free (lum);

  for (int c = 0; c < g->planes; c++)
    blur_plane (g->data + (gsize) c * np, g->w, g->h, blur_fwhm);
  return g;
}

/* The grid blurred with the session's median seeing, built once and cached. */
static const ExtGrid *
truth_grid (const TsrSynthTruth *t)
{
  TsrSynthPrivate *priv = t->priv;
  if (priv == NULL)
    return NULL;
  g_mutex_lock (&priv->lock);
  if (!priv->grid_built)
    {
      priv->grid_fwhm = tsr_synth_median_fwhm (t);
      priv->grid = ext_grid_build (&t->params, priv->ext, priv->grid_fwhm);
      priv->grid_built = TRUE;
    }
  g_mutex_unlock (&priv->lock);
  return priv->grid;
}

static inline float
grid_sample (const ExtGrid *g, int plane, double sx, double sy)
{
  double gx = sx - g->x0, gy = sy - g->y0;
  if (!(gx >= 0 && gy >= 0 && gx < g->w - 1 && gy < g->h - 1))
    return 0.0f;
  int ix = (int) gx, iy = (int) gy;
  float fx = (float) (gx - ix), fy = (float) (gy - iy);
  const float *q = g->data + (gsize) plane * g->w * g->h + (gsize) iy * g->w + ix;
  return (1 - fy) * ((1 - fx) * q[0] + fx * q[1]) + fy * ((1 - fx) * q[g->w] + fx * q[g->w + 1]);
}

/* ---------------------------------------------------------------------------------- */
/* Rendering                                                                           */

typedef struct
{
  const TsrSynthParams *p;
  int width, height;
  gboolean rgb;          /* three full planes (truth) instead of one mono/mosaic plane */
  TsrCfa cfa;            /* mosaic pattern when !rgb */
  double m[6];
  double fwhm;
  double field_psf;
  double focus;         /* focus state of the frame (NAN = no defocus) */
  double transparency;
  double sky, gradient, grad_angle;
  gboolean stars;
  const ExtGrid *ext;
  gboolean has_trail;
  double trail[4];
  double trail_peak;
  guint oversample;
} Spec;

typedef struct
{
  double *buf;
  gsize n;
} Scratch;

static inline double
moffat_eval (double q, double beta, int ibeta)
{
  if (ibeta > 0)
    {
      double v = 1.0 / (1.0 + q), r = v;
      for (int k = 1; k < ibeta; k++)
        r *= v;
      return r;
    }
  return exp (-beta * log1p (q));
}

static void
render_star (const Spec *sp, const TsrSynthStar *st, float *out, Scratch *sc)
{
  const TsrSynthParams *p = sp->p;
  double fx, fy;
  apply_matrix (sp->m, st->x, st->y, &fx, &fy);

  Psf psf;
  psf_compute (p, sp->fwhm, sp->field_psf, sp->focus, fx, fy, &psf);

  double cmax = 1.0;
  if (sp->rgb || sp->cfa != TSR_CFA_NONE)
    cmax = MAX (st->color[0], MAX (st->color[1], st->color[2]));
  double total = st->flux * sp->transparency;
  double beta = p->moffat_beta;
  double peak = total * cmax * (beta - 1.0) / (G_PI * psf.a * psf.b);
  double rad = 4.0 * psf.fwhm / sqrt (psf.q);
  if (peak > PROFILE_FLOOR)
    {
      double rc = psf.a * sqrt (MAX (0.0, pow (peak / PROFILE_FLOOR, 1.0 / beta) - 1.0));
      rad = MAX (rad, rc);
    }
  rad = MIN (rad, (double) MAX_STAR_RADIUS);

  int x0 = (int) floor (fx - rad), x1 = (int) ceil (fx + rad);
  int y0 = (int) floor (fy - rad), y1 = (int) ceil (fy + rad);
  if (x1 < 0 || y1 < 0 || x0 >= sp->width || y0 >= sp->height)
    return;
  int ww = x1 - x0 + 1, wh = y1 - y0 + 1;
  gsize nn = (gsize) ww * wh;
  if (nn > sc->n)
    {
      sc->buf = g_renew (double, sc->buf, nn);
      sc->n = nn;
    }

  int ibeta = (fabs (beta - round (beta)) < 1e-12 && beta <= 12) ? (int) round (beta) : 0;
  guint os = MAX (sp->oversample, 1u);
  double inv_os2 = 1.0 / (os * os);
  double sum = 0.0;
  double *b = sc->buf;
  double rad2 = rad * rad;

  for (int j = 0; j < wh; j++)
    {
      double dy0 = y0 + j - fy;
      for (int i = 0; i < ww; i++)
        {
          double dx0 = x0 + i - fx;
          double v = 0.0;
          if (dx0 * dx0 + dy0 * dy0 > rad2 + 2.0 * rad + 2.0)
            {
              b[(gsize) j * ww + i] = 0.0;
              continue;
            }
          if (os == 1)
            {
              double q = psf.A * dx0 * dx0 + 2 * psf.B * dx0 * dy0 + psf.C * dy0 * dy0;
              v = moffat_eval (q, beta, ibeta);
            }
          else
            {
              for (guint sy = 0; sy < os; sy++)
                {
                  double dy = dy0 + (sy + 0.5) / os - 0.5;
                  for (guint sx = 0; sx < os; sx++)
                    {
                      double dx = dx0 + (sx + 0.5) / os - 0.5;
                      double q = psf.A * dx * dx + 2 * psf.B * dx * dy + psf.C * dy * dy;
                      v += moffat_eval (q, beta, ibeta);
                    }
                }
              v *= inv_os2;
            }
          b[(gsize) j * ww + i] = v;
          sum += v;
        }
    }
  if (!(sum > 0))
    return;
  double scale = total / sum;
  gsize npix = (gsize) sp->width * sp->height;

  int ja = MAX (0, -y0), jb = MIN (wh - 1, sp->height - 1 - y0);
  int ia = MAX (0, -x0), ib = MIN (ww - 1, sp->width - 1 - x0);
  for (int j = ja; j <= jb; j++)
    {
      int y = y0 + j;
      const double *src = b + (gsize) j * ww;
      if (sp->rgb)
        {
          for (int c = 0; c < 3; c++)
            {
              float *row = out + c * npix + (gsize) y * sp->width + x0;
              double f = scale * st->color[c];
              for (int i = ia; i <= ib; i++)
                row[i] += (float) (f * src[i]);
            }
        }
      else if (sp->cfa != TSR_CFA_NONE)
        {
          float *row = out + (gsize) y * sp->width + x0;
          double fe = scale * st->color[tsr_cfa_color (sp->cfa, 0, y)];
          double fo = scale * st->color[tsr_cfa_color (sp->cfa, 1, y)];
          for (int i = ia; i <= ib; i++)
            row[i] += (float) ((((x0 + i) & 1) ? fo : fe) * src[i]);
        }
      else
        {
          float *row = out + (gsize) y * sp->width + x0;
          for (int i = ia; i <= ib; i++)
            row[i] += (float) (scale * src[i]);
        }
    }
}

static void
render_background (const Spec *sp, float *out)
{
  const TsrSynthParams *p = sp->p;
  int w = sp->width, h = sp->height;
  gsize npix = (gsize) w * h;
  double inv[6];
  invert_matrix (sp->m, inv);
  double cx = centre_x (p), cy = centre_y (p);
  double ca = cos (sp->grad_angle), sa = sin (sp->grad_angle);
  double ext_len = fabs (w * ca) + fabs (h * sa);
  double gk = ext_len > 0 ? sp->gradient / ext_len : 0.0;
  const double skycol[3] = { SKY_COLOR_R, SKY_COLOR_G, SKY_COLOR_B };
  const ExtGrid *g = sp->ext;
  float tr = (float) sp->transparency;
  int nplanes = sp->rgb ? 3 : 1;

  for (int c = 0; c < nplanes; c++)
    for (int y = 0; y < h; y++)
      {
        float *row = out + c * npix + (gsize) y * w;
        /* sky: linear along the row */
        double s0 = sp->sky * (1.0 + gk * ((0 - cx) * ca + (y - cy) * sa));
        double ds = sp->sky * gk * ca;
        int ce, co;
        if (sp->rgb)
          ce = co = c;
        else if (sp->cfa != TSR_CFA_NONE)
          {
            ce = tsr_cfa_color (sp->cfa, 0, y);
            co = tsr_cfa_color (sp->cfa, 1, y);
          }
        else
          ce = co = -1;
        double ke = ce >= 0 ? skycol[ce] : 1.0, ko = co >= 0 ? skycol[co] : 1.0;
        int pe = g != NULL && g->planes == 3 ? MAX (ce, 0) : 0;
        int po = g != NULL && g->planes == 3 ? MAX (co, 0) : 0;

        double sx = inv[1] * y + inv[2], sy = inv[4] * y + inv[5];
        for (int x = 0; x < w; x++)
          {
            gboolean odd = x & 1;
            double v = (s0 + ds * x) * (odd ? ko : ke);
            if (g != NULL)
              v += tr * grid_sample (g, odd ? po : pe, sx + inv[0] * x, sy + inv[3] * x);
            row[x] = (float) v;
          }
      }
}

static void
render_trail (const Spec *sp, float *out)
{
  int w = sp->width, h = sp->height;
  double x0 = sp->trail[0], y0 = sp->trail[1], x1 = sp->trail[2], y1 = sp->trail[3];
  double len = hypot (x1 - x0, y1 - y0);
  if (!(len > 0))
    return;
  double nx = -(y1 - y0) / len, ny = (x1 - x0) / len;   /* unit normal */
  double sigma = 2.0 / 2.354820045;                     /* FWHM 2 px */
  double cut = 5.0 * sigma;
  double k = -0.5 / (sigma * sigma);

  for (int y = 0; y < h; y++)
    {
      float *row = out + (gsize) y * w;
      double d0 = (0 - x0) * nx + (y - y0) * ny;
      for (int x = 0; x < w; x++)
        {
          double d = d0 + nx * x;
          if (fabs (d) < cut)
            row[x] += (float) (sp->trail_peak * exp (k * d * d));
        }
    }
}

static void
add_noise (const TsrSynthParams *p, guint index, float *data, gsize n)
{
  g_autoptr (GRand) r = stream_new (p->seed, STREAM_NOISE, index);
  Gauss g = { r, FALSE, 0 };
  double rn = p->read_noise, rn2 = rn * rn;

  for (gsize i = 0; i < n; i++)
    {
      double lam = data[i] > 0 ? data[i] : 0.0;
      double v;
      if (lam < 30.0)
        {
          v = poisson_small (r, lam);
          if (rn > 0)
            v += rn * gauss_next (&g);
        }
      else
        v = lam + sqrt (lam + rn2) * gauss_next (&g);
      data[i] = (float) v;
    }
}

static void
render_spec (const Spec *sp, const GArray *stars, float *out)
{
  render_background (sp, out);
  if (sp->stars && stars != NULL)
    {
      Scratch sc = { NULL, 0 };
      for (guint i = 0; i < stars->len; i++)
        render_star (sp, &g_array_index (stars, TsrSynthStar, i), out, &sc);
      g_free (sc.buf);
    }
  if (sp->has_trail)
    render_trail (sp, out);
}

static double
trail_peak (const TsrSynthTruth *t, guint index)
{
  g_autoptr (GRand) r = stream_new (t->params.seed, STREAM_KINDS, 0x74726c00u + index);
  return MAX (8.0 * t->params.sky, 2000.0) * uniform (r, 1.0, 2.5);
}

static void
frame_spec (const TsrSynthTruth *t, guint index, Spec *sp)
{
  const TsrSynthParams *p = &t->params;
  const TsrSynthFrame *f = &g_array_index (t->frames, TsrSynthFrame, index);

  memset (sp, 0, sizeof *sp);
  sp->p = p;
  sp->width = p->width;
  sp->height = p->height;
  sp->rgb = FALSE;
  sp->cfa = p->cfa;
  memcpy (sp->m, f->matrix, sizeof sp->m);
  sp->fwhm = f->fwhm;
  sp->field_psf = p->field_psf;
  sp->focus = f->focus;
  sp->transparency = f->transparency;
  sp->sky = f->sky;
  sp->gradient = p->gradient;
  sp->grad_angle = gradient_angle (p, index);
  sp->stars = f->kind != TSR_SYNTH_NOISE;
  sp->ext = f->kind != TSR_SYNTH_NOISE ? truth_grid (t) : NULL;
  sp->has_trail = f->has_trail;
  memcpy (sp->trail, f->trail, sizeof sp->trail);
  sp->trail_peak = trail_peak (t, index);
  sp->oversample = MAX (p->oversample, 1u);
}

TsrImage *
tsr_synth_render_frame (const TsrSynthTruth *t, guint index, gboolean with_noise)
{
  g_return_val_if_fail (t != NULL, NULL);
  g_return_val_if_fail (index < t->frames->len, NULL);

  Spec sp;
  frame_spec (t, index, &sp);
  TsrImage *img = tsr_image_new (t->params.width, t->params.height, 1);
  if (img == NULL)
    return NULL;
  img->cfa = t->params.cfa;
  render_spec (&sp, t->stars, img->data);
  if (with_noise)
    add_noise (&t->params, index, img->data, tsr_image_npix (img));
  return img;
}

TsrImage *
tsr_synth_render_truth (const TsrSynthTruth *t, double fwhm)
{
  g_return_val_if_fail (t != NULL, NULL);
  g_return_val_if_fail (fwhm > 0, NULL);

  const TsrSynthParams *p = &t->params;
  Spec sp = { 0 };
  ExtGrid *own = NULL;
  double med = tsr_synth_median_fwhm (t);

  sp.p = p;
  sp.width = p->width;
  sp.height = p->height;
  sp.rgb = p->cfa != TSR_CFA_NONE;
  sp.cfa = TSR_CFA_NONE;
  make_matrix (p, 0, 0, 0, FALSE, sp.m);
  sp.fwhm = fwhm;
  sp.field_psf = 0;
  sp.focus = NAN;      /* no defocus in the truth */
  sp.transparency = 1.0;
  sp.sky = 0;
  sp.stars = TRUE;
  sp.oversample = MAX (p->oversample, 1u);
  if (fabs (fwhm - med) < 1e-12)
    sp.ext = truth_grid (t);
  else if (t->priv != NULL)
    sp.ext = own = ext_grid_build (p, t->priv->ext, fwhm);

  TsrImage *img = tsr_image_new (p->width, p->height, sp.rgb ? 3 : 1);
  if (img != NULL)
    render_spec (&sp, t->stars, img->data);
  ext_grid_free (own);
  return img;
}

/* ---------------------------------------------------------------------------------- */
/* Writing a session                                                                   */

static GMutex fits_lock;   /* serialises cfitsio when it is not reentrant */

static gboolean
write_frame_fits (const TsrSynthTruth *t, guint index, const float *e, const char *tmp,
                  const char *final, GError **error)
{
  const TsrSynthParams *p = &t->params;
  const TsrSynthFrame *f = &g_array_index (t->frames, TsrSynthFrame, index);
  gsize npix = (gsize) p->width * p->height;
  guint16 *u = g_new (guint16, npix);
  double ig = 1.0 / p->gain;

  for (gsize i = 0; i < npix; i++)
    {
      double adu = floor (e[i] * ig + p->bias + 0.5);
      u[i] = (guint16) CLAMP (adu, 0.0, 65535.0);
    }

  gboolean locked = !fits_is_reentrant ();
  if (locked)
    g_mutex_lock (&fits_lock);

  fitsfile *fp = NULL;
  int status = 0;
  long naxes[2] = { p->width, p->height };
  double tt = p->n_frames > 1 ? (double) index / (p->n_frames - 1) : 0.0;
  double temp = round ((15.0 - 3.0 * tt) * 10.0) / 10.0;
  double exposure = p->exposure, gain = p->gain;
  int zero = 0;

  g_unlink (tmp);
  fits_create_diskfile (&fp, tmp, &status);
  fits_create_img (fp, USHORT_IMG, 2, naxes, &status);
  fits_update_key (fp, TSTRING, "DATE-OBS", (void *) f->date_obs, "UTC start of exposure", &status);
  fits_update_key (fp, TDOUBLE, "EXPTIME", &exposure, "[s] exposure time", &status);
  fits_update_key (fp, TDOUBLE, "GAIN", &gain, "[e-/ADU] gain", &status);
  fits_update_key (fp, TDOUBLE, "CCD-TEMP", &temp, "[C] sensor temperature", &status);
  fits_update_key (fp, TSTRING, "INSTRUME", (void *) "Tessera synth", "synthetic session", &status);
  if (p->cfa != TSR_CFA_NONE)
    {
      fits_update_key (fp, TSTRING, "BAYERPAT", (void *) tsr_cfa_name (p->cfa),
                       "Bayer pattern at the first stored pixel", &status);
      fits_update_key (fp, TINT, "XBAYROFF", &zero, "Bayer X offset", &status);
      fits_update_key (fp, TINT, "YBAYROFF", &zero, "Bayer Y offset", &status);
    }
  fits_write_img (fp, TUSHORT, 1, (LONGLONG) npix, u, &status);
  if (fp != NULL)
    {
      int st2 = 0;
      fits_close_file (fp, status ? &st2 : &status);
    }
  if (locked)
    g_mutex_unlock (&fits_lock);
  g_free (u);

  if (status != 0)
    {
      char msg[FLEN_STATUS] = "";
      fits_get_errstatus (status, msg);
      g_unlink (tmp);
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO,
                   _("Cannot write “%s”: %s (cfitsio status %d). Check that the folder is "
                     "writable and the disk is not full."), tmp, msg, status);
      return FALSE;
    }
  if (g_rename (tmp, final) != 0)
    {
      int errsv = errno;
      g_unlink (tmp);
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("Cannot rename “%s” to “%s”: %s"),
                   tmp, final, g_strerror (errsv));
      return FALSE;
    }
  return TRUE;
}

typedef struct
{
  const TsrSynthTruth *t;
  const char *outdir;
  GCancellable *cancellable;
  TsrProgressFunc progress;
  gpointer progress_data;
  GMutex lock;
  guint done, total;
  gboolean failed;
  GError *error;
  gboolean *written;
} WriteJob;

static void
write_job_progress (WriteJob *job)
{
  /* called with job->lock held */
  job->done++;
  if (job->progress)
    job->progress (_("Generating"), job->done, job->total, job->progress_data);
}

static void
write_frame_task (gpointer data, gpointer user_data)
{
  WriteJob *job = user_data;
  guint index = GPOINTER_TO_UINT (data) - 1;
  const TsrSynthFrame *f = &g_array_index (job->t->frames, TsrSynthFrame, index);
  GError *err = NULL;

  g_mutex_lock (&job->lock);
  gboolean skip = job->failed;
  g_mutex_unlock (&job->lock);
  if (skip || g_cancellable_is_cancelled (job->cancellable))
    return;

  TsrImage *img = tsr_synth_render_frame (job->t, index, TRUE);
  if (img == NULL)
    {
      g_mutex_lock (&job->lock);
      if (!job->failed)
        {
          job->failed = TRUE;
          g_set_error (&job->error, TSR_ERROR, TSR_ERROR_TOO_LARGE,
                       _("Not enough memory to render a %d × %d frame"),
                       job->t->params.width, job->t->params.height);
        }
      g_mutex_unlock (&job->lock);
      return;
    }
  g_autofree char *final = g_build_filename (job->outdir, f->file, NULL);
  g_autofree char *tmpname = g_strdup_printf (".%s.part", f->file);
  g_autofree char *tmp = g_build_filename (job->outdir, tmpname, NULL);
  gboolean ok = FALSE;

  if (!g_cancellable_set_error_if_cancelled (job->cancellable, &err))
    ok = write_frame_fits (job->t, index, img->data, tmp, final, &err);
  tsr_image_unref (img);

  g_mutex_lock (&job->lock);
  if (ok)
    {
      job->written[index] = TRUE;
      write_job_progress (job);
    }
  else
    {
      if (!job->failed && err != NULL && !g_error_matches (err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          job->failed = TRUE;
          g_propagate_error (&job->error, err);
          err = NULL;
        }
    }
  g_mutex_unlock (&job->lock);
  g_clear_error (&err);
}

static void
json_matrix (TsrJsonWriter *w, const double *m, int n)
{
  tsr_json_begin_array (w);
  for (int i = 0; i < n; i++)
    tsr_json_double (w, m[i]);
  tsr_json_end_array (w);
}

static const char *
kind_name (TsrSynthKind k)
{
  switch (k)
    {
    case TSR_SYNTH_MIRRORED:
      return "mirrored";
    case TSR_SYNTH_NOISE:
      return "noise";
    case TSR_SYNTH_VALID:
    default:
      return "valid";
    }
}

static char *
truth_json (const TsrSynthTruth *t)
{
  const TsrSynthParams *p = &t->params;
  TsrJsonWriter *w = tsr_json_writer_new ();

  tsr_json_begin_object (w);
  tsr_json_key (w, "generator");
  tsr_json_string (w, "Tessera synth");
  tsr_json_key (w, "params");
  tsr_json_begin_object (w);
#define KI(name) tsr_json_key (w, #name); tsr_json_int (w, (gint64) p->name)
#define KD(name) tsr_json_key (w, #name); tsr_json_double (w, p->name)
  KI (n_frames);
  KI (width);
  KI (height);
  tsr_json_key (w, "cfa");
  tsr_json_string (w, tsr_cfa_name (p->cfa));
  tsr_json_key (w, "seed");
  tsr_json_int (w, (gint64) p->seed);
  KI (n_stars);
  KD (star_flux_min);
  KD (star_flux_max);
  KD (star_power);
  tsr_json_key (w, "extended");
  tsr_json_bool (w, p->extended);
  KD (fwhm_min);
  KD (fwhm_max);
  KD (moffat_beta);
  KD (field_psf);
  KI (n_bursts);
  KD (shift_max);
  KD (rotation_max_deg);
  KD (sky);
  KD (sky_drift);
  KD (gradient);
  KD (transparency_drop);
  KD (read_noise);
  KD (gain);
  KD (bias);
  KI (oversample);
  KI (n_trails);
  KI (n_mirrored);
  KI (n_noise);
  KD (exposure);
#undef KI
#undef KD
  tsr_json_end_object (w);

  tsr_json_key (w, "median_fwhm");
  tsr_json_double (w, tsr_synth_median_fwhm (t));
  tsr_json_key (w, "truth_sharp_fwhm");
  tsr_json_double (w, TRUTH_SHARP_FWHM);

  tsr_json_key (w, "frames");
  tsr_json_begin_array (w);
  for (guint i = 0; i < t->frames->len; i++)
    {
      const TsrSynthFrame *f = &g_array_index (t->frames, TsrSynthFrame, i);
      tsr_json_begin_object (w);
      tsr_json_key (w, "index");
      tsr_json_int (w, f->index);
      tsr_json_key (w, "file");
      tsr_json_string (w, f->file);
      tsr_json_key (w, "kind");
      tsr_json_string (w, kind_name (f->kind));
      tsr_json_key (w, "matrix");
      json_matrix (w, f->matrix, 6);
      tsr_json_key (w, "fwhm");
      tsr_json_double (w, f->fwhm);
      tsr_json_key (w, "focus");
      tsr_json_double (w, f->focus);
      tsr_json_key (w, "fwhm_median");
      tsr_json_double (w, f->fwhm_median);
      tsr_json_key (w, "transparency");
      tsr_json_double (w, f->transparency);
      tsr_json_key (w, "sky");
      tsr_json_double (w, f->sky);
      tsr_json_key (w, "trail");
      if (f->has_trail)
        json_matrix (w, f->trail, 4);
      else
        tsr_json_null (w);
      tsr_json_key (w, "date_obs");
      tsr_json_string (w, f->date_obs);
      tsr_json_end_object (w);
    }
  tsr_json_end_array (w);

  tsr_json_key (w, "stars");
  tsr_json_begin_array (w);
  for (guint i = 0; i < t->stars->len; i++)
    {
      const TsrSynthStar *s = &g_array_index (t->stars, TsrSynthStar, i);
      tsr_json_begin_object (w);
      tsr_json_key (w, "x");
      tsr_json_double (w, s->x);
      tsr_json_key (w, "y");
      tsr_json_double (w, s->y);
      tsr_json_key (w, "flux");
      tsr_json_double (w, s->flux);
      if (p->cfa != TSR_CFA_NONE)
        {
          tsr_json_key (w, "color");
          json_matrix (w, s->color, 3);
        }
      tsr_json_end_object (w);
    }
  tsr_json_end_array (w);
  tsr_json_end_object (w);
  return tsr_json_writer_finish (w);
}

static gboolean
write_truth_image (const TsrSynthTruth *t, double fwhm, const char *path, GError **error)
{
  g_autoptr (TsrImage) img = tsr_synth_render_truth (t, fwhm);
  if (img == NULL)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE,
                   _("Not enough memory to render the truth image “%s”"), path);
      return FALSE;
    }
  tsr_header_set_string (img->header, "INSTRUME", "Tessera synth", "synthetic session truth");
  tsr_header_set_double (img->header, "FWHM", fwhm, "[px] Moffat FWHM of the truth");
  tsr_header_set_double (img->header, "MOFFBETA", t->params.moffat_beta, "Moffat beta");
  tsr_header_set_string (img->header, "BUNIT", "electron", "transparency 1, no sky");
  if (img->channels == 3)
    tsr_header_set_string (img->header, "CTYPE3", "RGB", "planes: R, G, B");
  return tsr_fits_write (path, img, NULL, error);
}

static void
remove_written (const TsrSynthTruth *t, const char *outdir, const gboolean *written,
                const gboolean *truth_written)
{
  const char *truth_names[2] = { "truth/truth.fits", "truth/truth-sharp.fits" };
  for (guint i = 0; i < 2; i++)
    if (truth_written[i])
      {
        g_autofree char *path = g_build_filename (outdir, truth_names[i], NULL);
        g_unlink (path);
      }
  g_autofree char *tdir = g_build_filename (outdir, "truth", NULL);
  g_rmdir (tdir); /* only when empty */
  for (guint i = 0; i < t->frames->len; i++)
    {
      const TsrSynthFrame *f = &g_array_index (t->frames, TsrSynthFrame, i);
      g_autofree char *tmpname = g_strdup_printf (".%s.part", f->file);
      g_autofree char *tmp = g_build_filename (outdir, tmpname, NULL);
      g_unlink (tmp);
      if (written[i])
        {
          g_autofree char *path = g_build_filename (outdir, f->file, NULL);
          g_unlink (path);
        }
    }
}

TsrSynthTruth *
tsr_synth_write_session (const TsrSynthParams *p, const char *outdir,
                         TsrProgressFunc progress, gpointer progress_data,
                         GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (p != NULL, NULL);
  g_return_val_if_fail (outdir != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;
  if (!check_params (p, error))
    return NULL;
  if (g_mkdir_with_parents (outdir, 0755) != 0)
    {
      int errsv = errno;
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO,
                   _("Cannot create the folder “%s”: %s"), outdir, g_strerror (errsv));
      return NULL;
    }

  g_autoptr (TsrSynthTruth) t = tsr_synth_plan (p);
  guint n = t->frames->len;
  WriteJob job = { 0 };
  job.t = t;
  job.outdir = outdir;
  job.cancellable = cancellable;
  job.progress = progress;
  job.progress_data = progress_data;
  job.total = n + 2;
  job.written = g_new0 (gboolean, n);
  g_mutex_init (&job.lock);

  if (progress)
    progress (_("Generating"), 0, job.total, progress_data);

  /* the shared extended-source grid, before the workers need it */
  truth_grid (t);

  guint nthreads = CLAMP (g_get_num_processors (), 1u, 8u);
  nthreads = MIN (nthreads, n);
  GThreadPool *pool = NULL;
  if (nthreads > 1)
    pool = g_thread_pool_new (write_frame_task, &job, (gint) nthreads, TRUE, NULL);
  for (guint i = 0; i < n; i++)
    {
      if (pool != NULL)
        g_thread_pool_push (pool, GUINT_TO_POINTER (i + 1), NULL);
      else
        write_frame_task (GUINT_TO_POINTER (i + 1), &job);
    }
  if (pool != NULL)
    g_thread_pool_free (pool, FALSE, TRUE);

  GError *err = NULL;
  gboolean truth_written[2] = { FALSE, FALSE };
  if (job.failed)
    err = g_steal_pointer (&job.error);
  else
    g_cancellable_set_error_if_cancelled (cancellable, &err);

  if (err == NULL)
    {
      g_autofree char *tdir = g_build_filename (outdir, "truth", NULL);
      g_mkdir_with_parents (tdir, 0755);
      g_autofree char *path = g_build_filename (tdir, "truth.fits", NULL);
      if (write_truth_image (t, tsr_synth_median_fwhm (t), path, &err))
        {
          truth_written[0] = TRUE;
          g_mutex_lock (&job.lock);
          write_job_progress (&job);
          g_mutex_unlock (&job.lock);
        }
    }
  if (err == NULL && !g_cancellable_set_error_if_cancelled (cancellable, &err))
    {
      g_autofree char *path = g_build_filename (outdir, "truth", "truth-sharp.fits", NULL);
      if (write_truth_image (t, TRUTH_SHARP_FWHM, path, &err))
        {
          truth_written[1] = TRUE;
          g_mutex_lock (&job.lock);
          write_job_progress (&job);
          g_mutex_unlock (&job.lock);
        }
    }
  if (err == NULL && !g_cancellable_set_error_if_cancelled (cancellable, &err))
    {
      g_autofree char *text = truth_json (t);
      g_autofree char *path = g_build_filename (outdir, "truth.json", NULL);
      tsr_write_file_atomic (path, text, -1, &err);
    }

  if (err != NULL)
    {
      /* leave no half-written session behind */
      remove_written (t, outdir, job.written, truth_written);
      g_propagate_error (error, err);
      g_free (job.written);
      g_clear_error (&job.error);
      g_mutex_clear (&job.lock);
      return NULL;
    }

  g_free (job.written);
  g_clear_error (&job.error);
  g_mutex_clear (&job.lock);
  return g_steal_pointer (&t);
}
