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
#include "tsr-synth-private.h"

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

gboolean
tsr_synth_check_params (const TsrSynthParams *p, GError **error)
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
  else if (!(p->colour_fwhm[0] >= 0 && p->colour_fwhm[0] <= 5) || !(p->colour_fwhm[1] >= 0 && p->colour_fwhm[1] <= 5)
           || !(p->colour_fwhm[2] >= 0 && p->colour_fwhm[2] <= 5))
    bad = "colour_fwhm must be between 0 and 5";
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

double
tsr_synth_centre_x (const TsrSynthParams *p)
{
  return (p->width - 1) * 0.5;
}

double
tsr_synth_centre_y (const TsrSynthParams *p)
{
  return (p->height - 1) * 0.5;
}

/* Margin (px) beyond the frame that any frame of the session can see. */
int
tsr_synth_sky_margin (const TsrSynthParams *p)
{
  double hd = hypot (tsr_synth_centre_x (p) + 0.5, tsr_synth_centre_y (p) + 0.5);
  double rot = p->rotation_max_deg * G_PI / 180.0;
  return (int) ceil (1.5 * p->shift_max + hd * 2.0 * sin (rot * 0.5) * 1.05 + 4.0);
}

void
tsr_synth_make_matrix (const TsrSynthParams *p, double theta, double dx, double dy, gboolean mirror,
             double m[6])
{
  double c = cos (theta), s = sin (theta);
  double cx = tsr_synth_centre_x (p), cy = tsr_synth_centre_y (p);
  double f = mirror ? -1.0 : 1.0;

  /* frame = C + R · F · (sky − C) + d with F = diag(f, 1) */
  m[0] = c * f;
  m[1] = -s;
  m[3] = s * f;
  m[4] = c;
  m[2] = cx + dx - (m[0] * cx + m[1] * cy);
  m[5] = cy + dy - (m[3] * cx + m[4] * cy);
}

void
tsr_synth_apply_matrix (const double m[6], double x, double y, double *fx, double *fy)
{
  *fx = m[0] * x + m[1] * y + m[2];
  *fy = m[3] * x + m[4] * y + m[5];
}

void
tsr_synth_invert_matrix (const double m[6], double inv[6])
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

void
tsr_synth_psf_compute (const TsrSynthParams *p, double fwhm_centre, double field_psf, double focus,
             double fx, double fy, Psf *psf)
{
  double cx = tsr_synth_centre_x (p), cy = tsr_synth_centre_y (p);
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

void
tsr_synth_ext_grid_free (ExtGrid *g)
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
      tsr_synth_ext_grid_free (t->priv->grid);
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
  int margin = tsr_synth_sky_margin (p);
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
  int margin = tsr_synth_sky_margin (p);
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
      tsr_synth_make_matrix (p, theta, dx, dy, FALSE, f.matrix);

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
double
tsr_synth_gradient_angle (const TsrSynthParams *p, guint i)
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
      double cx = tsr_synth_centre_x (p), cy = tsr_synth_centre_y (p);
      double dx = f->matrix[0] * cx + f->matrix[1] * cy + f->matrix[2] - cx;
      double dy = f->matrix[3] * cx + f->matrix[4] * cy + f->matrix[5] - cy;
      tsr_synth_make_matrix (p, theta, dx, dy, TRUE, f->matrix);
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
          tsr_synth_apply_matrix (f->matrix, s->x, s->y, &fx, &fy);
          if (fx < -0.5 || fy < -0.5 || fx > p->width - 0.5 || fy > p->height - 0.5)
            continue;
          Psf psf;
          tsr_synth_psf_compute (p, f->fwhm, p->field_psf, f->focus, fx, fy, &psf);
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
  g_return_val_if_fail (tsr_synth_check_params (p, NULL), NULL);

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
  tsr_synth_psf_compute (&t->params, f->fwhm, t->params.field_psf, f->focus, fx, fy, &psf);
  if (fwhm)
    *fwhm = psf.fwhm;
  if (axis_ratio)
    *axis_ratio = psf.q;
  if (angle)
    *angle = psf.angle;
}
