/* test-stars.c — luminance proxies, star detection and PSF fits.
 *
 * `test-stars -m perf -p /stars/luma-compare` runs the measurement behind the default
 * luminance mode for CFA frames (docs/stars.md); it is skipped in normal runs. */
#include "tsr-test-util.h"
#include "tsr-stars-private.h"

#include <math.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------------------------- */
/* Helpers                                                                             */

/* Process CPU time in ms (timings stay meaningful on a busy machine). */
static double
cpu_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* An elliptical Moffat (beta > 0) or Gaussian (beta <= 0) with FWHM along the major and
 * minor axes, major axis at theta, point-sampled at pixel centres, added to plane. */
static void
add_star (float *plane, int w, int h, double x0, double y0, double amp, double fmaj,
          double fmin, double theta, double beta)
{
  double c = cos (theta), s = sin (theta);
  double half = beta > 0 ? pow (2.0, 1.0 / beta) - 1.0 : log (2.0);
  /* Q = (u/a)² + (v/b)² reaches `half` at u = FWHM/2 */
  double a2 = fmaj * fmaj / (4.0 * half), b2 = fmin * fmin / (4.0 * half);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        double dx = x - x0, dy = y - y0;
        double u = c * dx + s * dy, v = -s * dx + c * dy;
        double q = u * u / a2 + v * v / b2;
        plane[(gsize) y * w + x] += (float) (amp * (beta > 0 ? pow (1.0 + q, -beta) : exp (-q)));
      }
}

static double
angle_diff (double a, double b)
{
  double d = fmod (a - b, G_PI);
  if (d > G_PI / 2)
    d -= G_PI;
  if (d < -G_PI / 2)
    d += G_PI;
  return fabs (d);
}

/* A quiet synthetic session with only valid frames. */
static void
session_params (TsrSynthParams *p, int w, int h, TsrCfa cfa, guint64 seed)
{
  tsr_synth_params_init (p);
  p->width = w;
  p->height = h;
  p->cfa = cfa;
  p->seed = seed;
  p->n_frames = 4;
  p->n_trails = 0;
  p->n_mirrored = 0;
  p->n_noise = 0;
  /* enough measurable stars for statistics on a small frame */
  p->n_stars = (guint) (w * h / 1000);
  p->star_flux_min = 2000;
}

/* Truth positions of the stars in frame index (frame coordinates), inside the frame. */
static GArray *
truth_positions (const TsrSynthTruth *t, guint index)
{
  const TsrSynthFrame *f = &g_array_index (t->frames, TsrSynthFrame, index);
  const double *m = f->matrix;
  GArray *a = g_array_new (FALSE, FALSE, sizeof (double) * 2);
  for (guint i = 0; i < t->stars->len; i++)
    {
      const TsrSynthStar *s = &g_array_index (t->stars, TsrSynthStar, i);
      double xy[2] = { m[0] * s->x + m[1] * s->y + m[2], m[3] * s->x + m[4] * s->y + m[5] };
      if (xy[0] < -2 || xy[1] < -2 || xy[0] > t->params.width + 1 || xy[1] > t->params.height + 1)
        continue;
      g_array_append_val (a, xy);
    }
  return a;
}

/* Index of the nearest truth position within rmax of (x, y), or -1; unique = no second
 * truth star within 3 px. */
static int
nearest_truth (const GArray *truth, double x, double y, double rmax, gboolean *unique)
{
  int best = -1;
  double bd = rmax * rmax;
  int close = 0;
  for (guint i = 0; i < truth->len; i++)
    {
      const double *p = (const double *) truth->data + 2 * i;
      double d = (p[0] - x) * (p[0] - x) + (p[1] - y) * (p[1] - y);
      if (d < 9.0)
        close++;
      if (d < bd)
        {
          bd = d;
          best = (int) i;
        }
    }
  if (unique)
    *unique = close <= 1;
  return best;
}

typedef struct
{
  guint n_matched, n_isolated;
  double rms;           /* 2-D RMS position error of matched SNR > snr_min stars */
  double rms_isolated;  /* … of those without a truth neighbour above 10 % of their flux
                           within 8 px (blends a single-star fit cannot separate) */
  double mean_dx, mean_dy;
} MatchStats;

static MatchStats
match_stats (const TsrStarList *l, const TsrSynthTruth *t, guint index, double snr_min)
{
  MatchStats m = { 0 };
  GArray *truth = g_array_new (FALSE, FALSE, sizeof (double) * 2);
  const double *mx = g_array_index (t->frames, TsrSynthFrame, index).matrix;
  for (guint i = 0; i < t->stars->len; i++)
    {
      const TsrSynthStar *s = &g_array_index (t->stars, TsrSynthStar, i);
      double xy[2] = { mx[0] * s->x + mx[1] * s->y + mx[2], mx[3] * s->x + mx[4] * s->y + mx[5] };
      g_array_append_val (truth, xy);
    }
  double s2 = 0, s2i = 0;
  for (guint i = 0; i < l->stars->len; i++)
    {
      const TsrStar *s = &g_array_index (l->stars, TsrStar, i);
      if (s->saturated || s->snr <= snr_min)
        continue;
      gboolean unique;
      int k = nearest_truth (truth, s->x, s->y, 1.0, &unique);
      if (k < 0 || !unique)
        continue;
      const double *p = (const double *) truth->data + 2 * k;
      double dx = s->x - p[0], dy = s->y - p[1], e2 = dx * dx + dy * dy;
      s2 += e2;
      m.mean_dx += dx;
      m.mean_dy += dy;
      m.n_matched++;
      double fk = g_array_index (t->stars, TsrSynthStar, k).flux;
      gboolean isolated = TRUE;
      for (guint j = 0; j < truth->len && isolated; j++)
        {
          const double *q = (const double *) truth->data + 2 * j;
          double d2 = (q[0] - p[0]) * (q[0] - p[0]) + (q[1] - p[1]) * (q[1] - p[1]);
          isolated = j == (guint) k || d2 > 64.0
                     || g_array_index (t->stars, TsrSynthStar, j).flux < 0.1 * fk;
        }
      if (isolated)
        {
          s2i += e2;
          m.n_isolated++;
        }
    }
  if (m.n_matched > 0)
    {
      m.rms = sqrt (s2 / m.n_matched);
      m.mean_dx /= m.n_matched;
      m.mean_dy /= m.n_matched;
    }
  if (m.n_isolated > 0)
    m.rms_isolated = sqrt (s2i / m.n_isolated);
  g_array_unref (truth);
  return m;
}

static TsrStarList *
detect_ok (const TsrImage *img, const TsrStarParams *p)
{
  GError *e = NULL;
  TsrStarList *l = tsr_stars_detect (img, p, NULL, &e);
  g_assert_no_error (e);
  g_assert_nonnull (l);
  return l;
}

/* ---------------------------------------------------------------------------------- */
/* Proxies                                                                             */

static void
test_proxy (void)
{
  /* 4×4 GRBG mosaic with distinct values. */
  g_autoptr (TsrImage) img = tsr_image_new (4, 4, 1);
  img->cfa = TSR_CFA_GRBG;
  for (int i = 0; i < 16; i++)
    img->data[i] = (float) (i + 1);
  int scale = 0;

  g_autoptr (TsrImage) sp = tsr_luminance_proxy (img, TSR_LUMA_SUPERPIXEL, &scale);
  g_assert_cmpint (scale, ==, 2);
  g_assert_cmpint (sp->width, ==, 2);
  g_assert_cmpint (sp->height, ==, 2);
  g_assert_cmpint (sp->cfa, ==, TSR_CFA_NONE);
  /* cell (0,0): samples 1, 2, 5, 6 */
  g_assert_cmpfloat_with_epsilon (sp->data[0], 3.5, 1e-6);
  g_assert_cmpfloat_with_epsilon (sp->data[3], (11 + 12 + 15 + 16) / 4.0, 1e-6);

  g_autoptr (TsrImage) gr = tsr_luminance_proxy (img, TSR_LUMA_GREEN, &scale);
  g_assert_cmpint (scale, ==, 1);
  g_assert_cmpint (gr->width, ==, 4);
  /* (0,0) is green: kept */
  g_assert_cmpfloat_with_epsilon (gr->data[0], 1.0, 1e-6);
  /* (1,1) is green: kept; (1,0) is red: mean of greens (0,0), (2,0), (1,1) */
  g_assert_cmpfloat_with_epsilon (gr->data[5], 6.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (gr->data[1], (1 + 3 + 6) / 3.0, 1e-6);
  /* (2,1) is blue: greens (1,1), (3,1), (2,0), (2,2) = 6, 8, 3, 11 */
  g_assert_cmpfloat_with_epsilon (gr->data[6], (6 + 8 + 3 + 11) / 4.0, 1e-6);

  /* Mask propagation: invalid sample (3,3) kills superpixel (1,1). */
  img->mask[15] = 0;
  g_autoptr (TsrImage) sp2 = tsr_luminance_proxy (img, TSR_LUMA_SUPERPIXEL, &scale);
  g_assert_cmpint (sp2->mask[3], ==, 0);
  g_assert_cmpint (sp2->mask[0], ==, 1);
  /* …and is left out of the green interpolation of its neighbours */
  g_autoptr (TsrImage) gr2 = tsr_luminance_proxy (img, TSR_LUMA_GREEN, &scale);
  g_assert_cmpint (gr2->mask[15], ==, 0);
  /* (2,3) is blue: greens (1,3) = 14 and (2,2) = 11 remain */
  g_assert_cmpfloat_with_epsilon (gr2->data[14], (14 + 11) / 2.0, 1e-6);

  /* Mono: copy; RGB: channel mean. */
  g_autoptr (TsrImage) mono = tsr_image_new (3, 2, 1);
  mono->data[4] = 7;
  g_autoptr (TsrImage) mp = tsr_luminance_proxy (mono, TSR_LUMA_SUPERPIXEL, &scale);
  g_assert_cmpint (scale, ==, 1);
  g_assert_cmpfloat (mp->data[4], ==, 7);
  g_autoptr (TsrImage) rgb = tsr_image_new (2, 2, 3);
  tsr_image_plane (rgb, 0)[1] = 3;
  tsr_image_plane (rgb, 1)[1] = 6;
  tsr_image_plane (rgb, 2)[1] = 9;
  g_autoptr (TsrImage) rp = tsr_luminance_proxy (rgb, TSR_LUMA_GREEN, &scale);
  g_assert_cmpint (rp->channels, ==, 1);
  g_assert_cmpfloat_with_epsilon (rp->data[1], 6.0, 1e-6);
}

/* ---------------------------------------------------------------------------------- */
/* Fits                                                                                */

static void
check_fit (double beta)
{
  const int w = 64, h = 64;
  float *plane = g_new (float, w * h);
  for (int i = 0; i < w * h; i++)
    plane[i] = 100.0f;
  const double x0 = 30.37, y0 = 25.81, fmaj = 4.0, fmin = 3.0, theta = 0.6;
  add_star (plane, w, h, x0, y0, 1000.0, fmaj, fmin, theta, beta);

  TsrStar s;
  g_assert_true (tsr_star_fit (plane, NULL, w, h, 30.0, 26.0, 12.0, 100.0, &s));
  g_test_message ("beta %g: x %.5f y %.5f fwhm %.4f (%.4f × %.4f) theta %.4f flux %.1f",
                  beta, s.x, s.y, s.fwhm, s.fwhm_major, s.fwhm_minor, s.theta, s.flux);
  g_assert_cmpfloat (fabs (s.x - x0), <, 0.01);
  g_assert_cmpfloat (fabs (s.y - y0), <, 0.01);
  double fwhm = sqrt (fmaj * fmin);
  g_assert_cmpfloat (fabs (s.fwhm / fwhm - 1.0), <, 0.01);
  g_assert_cmpfloat (fabs (s.fwhm_major / fmaj - 1.0), <, 0.01);
  g_assert_cmpfloat (fabs (s.roundness - fmin / fmaj), <, 0.01);
  g_assert_cmpfloat (angle_diff (s.theta, theta), <, 0.01);
  g_assert_cmpfloat (fabs (s.peak / 1000.0 - 1.0), <, 0.01);
  g_assert_cmpfloat (fabs (s.background - 100.0), <, 0.5);

  /* Flux: the model integral equals the sum of the rendered excess. */
  double sum = 0;
  for (int i = 0; i < w * h; i++)
    sum += plane[i] - 100.0;
  if (beta <= 0 || beta > 3)
    g_assert_cmpfloat (fabs (s.flux / sum - 1.0), <, 0.01);
  g_free (plane);
}

static void
test_fit_moffat (void)
{
  check_fit (3.5);
  check_fit (2.5);
}

static void
test_fit_gaussian (void)
{
  check_fit (-1);
}

static void
test_fit_round (void)
{
  const int w = 40, h = 40;
  float *plane = g_new0 (float, w * h);
  add_star (plane, w, h, 19.5, 20.25, 500.0, 3.0, 3.0, 0.0, 4.0);
  guint8 *mask = g_new (guint8, w * h);
  memset (mask, 1, w * h);
  /* a masked pixel in the wing must not matter */
  plane[20 * w + 22] = 1e6f;
  mask[20 * w + 22] = 0;
  TsrStar s;
  g_assert_true (tsr_star_fit (plane, mask, w, h, 19.0, 20.0, 9.0, 0.0, &s));
  g_assert_cmpfloat (fabs (s.x - 19.5), <, 0.01);
  g_assert_cmpfloat (fabs (s.y - 20.25), <, 0.01);
  g_assert_cmpfloat (fabs (s.fwhm / 3.0 - 1.0), <, 0.01);
  g_assert_cmpfloat (s.roundness, >, 0.99);
  /* nothing there: fails */
  float *flat = g_new0 (float, w * h);
  g_assert_false (tsr_star_fit (flat, NULL, w, h, 20, 20, 8, 0, &s));
  g_free (flat);
  g_free (mask);
  g_free (plane);
}

/* ---------------------------------------------------------------------------------- */
/* Detection on generated frames                                                       */

/* Position precision scales as ≈ FWHM / SNR (docs/stars.md), so the 0.05 px criterion at
 * SNR > 50 is checked on Seestar-like seeing (FWHM 2–3 px). */
static void
check_session_frame (TsrCfa cfa, TsrLumaMode luma, guint64 seed)
{
  TsrSynthParams sp;
  session_params (&sp, 640, 480, cfa, seed);
  sp.fwhm_min = 2.0;
  sp.fwhm_max = 3.0;
  g_autoptr (TsrSynthTruth) t = tsr_synth_plan (&sp);
  g_assert_nonnull (t);
  /* position errors pooled over two frames: a steadier estimate than one frame's */
  double s2 = 0, s2i = 0;
  guint n = 0, ni = 0;
  for (guint index = 0; index < 2; index++)
    {
      const TsrSynthFrame *f = &g_array_index (t->frames, TsrSynthFrame, index);
      g_autoptr (TsrImage) img = tsr_synth_render_frame (t, index, TRUE);

      TsrStarParams p;
      tsr_star_params_init (&p);
      p.luma = luma;
      double t0 = cpu_ms ();
      g_autoptr (TsrStarList) l = detect_ok (img, &p);
      double t1 = cpu_ms ();
      MatchStats m = match_stats (l, t, index, 50.0);
      g_test_message ("%s/%s frame %u: %u stars (%u detected), fwhm median %.3f (truth %.3f), "
                      "roundness %.3f, bg %.1f rms %.2f; SNR>50: %u matched, RMS %.4f px, "
                      "%u isolated, RMS %.4f px (mean offset %.4f, %.4f); %.1f ms CPU",
                      tsr_cfa_name (cfa), luma == TSR_LUMA_GREEN ? "green" : "superpixel",
                      index, l->stars->len, l->n_detected, l->fwhm_median, f->fwhm_median,
                      l->roundness_median, l->background, l->background_rms, m.n_matched,
                      m.rms, m.n_isolated, m.rms_isolated, m.mean_dx, m.mean_dy, t1 - t0);

      g_assert_cmpuint (l->stars->len, >, 50);
      g_assert_cmpfloat (fabs (l->fwhm_median / f->fwhm_median - 1.0), <, 0.05);
      s2 += m.rms * m.rms * m.n_matched;
      n += m.n_matched;
      s2i += m.rms_isolated * m.rms_isolated * m.n_isolated;
      ni += m.n_isolated;
      g_assert_cmpfloat (fabs (m.mean_dx), <, 0.02);
      g_assert_cmpfloat (fabs (m.mean_dy), <, 0.02);
      g_assert_cmpfloat (l->roundness_median, >, 0.8);
      g_assert_cmpfloat (l->roundness_median, <=, 1.0);

      /* brightest first, full-resolution coordinates inside the frame */
      for (guint i = 0; i < l->stars->len; i++)
        {
          const TsrStar *s = &g_array_index (l->stars, TsrStar, i);
          if (i > 0)
            g_assert_cmpfloat (s->flux, <=, g_array_index (l->stars, TsrStar, i - 1).flux);
          g_assert_cmpfloat (s->x, >=, -0.5);
          g_assert_cmpfloat (s->x, <=, sp.width - 0.5);
          g_assert_cmpfloat (s->y, >=, -0.5);
          g_assert_cmpfloat (s->y, <=, sp.height - 0.5);
          g_assert_cmpfloat (s->roundness, >, 0.0);
          g_assert_cmpfloat (s->roundness, <=, 1.0);
        }
    }
  g_test_message ("pooled SNR>50: %u matched RMS %.4f px, %u isolated RMS %.4f px", n,
                  sqrt (s2 / MAX (n, 1)), ni, sqrt (s2i / MAX (ni, 1)));
  g_assert_cmpuint (ni, >=, 40);
  g_assert_cmpfloat (sqrt (s2i / ni), <=, 0.05);
  g_assert_cmpfloat (sqrt (s2 / n), <=, 0.1);
}

static void
test_detect_mono (void)
{
  check_session_frame (TSR_CFA_NONE, TSR_LUMA_GREEN, 11);
}

static void
test_detect_bayer (void)
{
  TsrStarParams p;
  tsr_star_params_init (&p);
  check_session_frame (TSR_CFA_GRBG, p.luma, 12);
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

/* The background mesh measured on a quarter of the samples (stars.bg_decimate, the default)
 * against the full mesh, on a CFA frame with a sky gradient: the global level and RMS, the
 * catalogue and every bright star's position must agree. The proxy's interpolated green
 * sites are half as noisy as its real ones, so a decimation that took only one kind of
 * site would read an RMS ~25 % off (and move the threshold); one that misplaced the map
 * would move the stars' fitted backgrounds and positions. */
static void
test_bg_decimate (void)
{
  for (int c = 0; c < 2; c++)
    {
      TsrSynthParams sp;
      session_params (&sp, 1024, 768, c ? TSR_CFA_GRBG : TSR_CFA_NONE, 31 + c);
      sp.gradient = 0.4;
      sp.fwhm_min = 2.0;
      sp.fwhm_max = 3.0;
      g_autoptr (TsrSynthTruth) t = tsr_synth_plan (&sp);
      g_autoptr (TsrImage) img = tsr_synth_render_frame (t, 0, TRUE);
      TsrStarParams p;
      tsr_star_params_init (&p);
      g_assert_true (p.bg_decimate);
      g_autoptr (TsrStarList) dec = detect_ok (img, &p);
      p.bg_decimate = FALSE;
      g_autoptr (TsrStarList) full = detect_ok (img, &p);
      g_test_message ("%s: background %.3f / %.3f, rms %.4f / %.4f, stars %u / %u (decimated / full)",
                      c ? "GRBG" : "mono", dec->background, full->background, dec->background_rms,
                      full->background_rms, dec->stars->len, full->stars->len);
      g_assert_cmpfloat (fabs (dec->background_rms / full->background_rms - 1), <, 0.02);
      /* sep's level (a histogram mode, pulled by faint sources) moves with the samples per box:
       * 0.06 σ here, as much as between the full mesh at box 64 and at box 32 (0.03 σ) */
      g_assert_cmpfloat (fabs (dec->background - full->background), <, 0.1 * full->background_rms);
      g_assert_cmpfloat (fabs ((double) dec->stars->len / full->stars->len - 1), <, 0.02);
      guint n = 0;
      double worst = 0;
      double *dpos = g_new (double, full->stars->len + 1), *dbg = g_new (double, full->stars->len + 1);
      for (guint i = 0; i < full->stars->len; i++)
        {
          const TsrStar *a = &g_array_index (full->stars, TsrStar, i);
          if (!(a->snr > 50) || a->saturated)
            continue;
          for (guint k = 0; k < dec->stars->len; k++)
            {
              const TsrStar *b = &g_array_index (dec->stars, TsrStar, k);
              double d = hypot (a->x - b->x, a->y - b->y);
              if (d < 0.5)
                {
                  worst = MAX (worst, d);
                  dpos[n] = d;
                  dbg[n] = fabs (a->background - b->background);
                  n++;
                  break;
                }
            }
        }
      g_assert_cmpuint (n, >, 100);
      qsort (dpos, n, sizeof (double), cmp_double);
      qsort (dbg, n, sizeof (double), cmp_double);
      g_test_message ("  %u bright stars in both: position difference median %.4f, worst %.4f px; "
                      "their sky median difference %.3f, 90th percentile %.3f (rms %.3f)",
                      n, dpos[n / 2], worst, dbg[n / 2], dbg[n * 9 / 10], full->background_rms);
      /* the sky under a bright star is where the two meshes differ most (the box's mode is
       * pulled by the star's wings): a few tenths of σ there, at most 0.05 px in position */
      g_assert_cmpfloat (dpos[n / 2], <, 0.005);
      g_assert_cmpfloat (worst, <, 0.05);
      g_assert_cmpfloat (dbg[n / 2], <, 0.01 * full->background_rms);
      g_free (dpos);
      g_free (dbg);
    }
}

static void
test_max_stars (void)
{
  TsrSynthParams sp;
  session_params (&sp, 320, 240, TSR_CFA_NONE, 5);
  g_autoptr (TsrSynthTruth) t = tsr_synth_plan (&sp);
  g_autoptr (TsrImage) img = tsr_synth_render_frame (t, 0, TRUE);
  TsrStarParams p;
  tsr_star_params_init (&p);
  g_autoptr (TsrStarList) all = detect_ok (img, &p);
  p.max_stars = 5;
  g_autoptr (TsrStarList) few = detect_ok (img, &p);
  g_assert_cmpuint (few->stars->len, ==, 5);
  g_assert_cmpuint (all->stars->len, >, 5);
  for (guint i = 0; i < 5; i++)
    {
      const TsrStar *a = &g_array_index (all->stars, TsrStar, i);
      const TsrStar *b = &g_array_index (few->stars, TsrStar, i);
      g_assert_cmpfloat (fabs (a->x - b->x), <, 1e-9);
      g_assert_cmpfloat (fabs (a->flux - b->flux), <, 1e-6 * a->flux);
    }
  /* moments only */
  p.max_stars = 0;
  p.fit = FALSE;
  g_autoptr (TsrStarList) mom = detect_ok (img, &p);
  g_assert_cmpuint (mom->stars->len, >, 5);
}

/* Hot pixels (single samples at 20000 ADU) and 2-pixel cosmic streaks are not stars. */
static void
check_hot_pixels (TsrCfa cfa)
{
  TsrSynthParams sp;
  session_params (&sp, 480, 360, cfa, 21);
  g_autoptr (TsrSynthTruth) t = tsr_synth_plan (&sp);
  g_autoptr (TsrImage) img = tsr_synth_render_frame (t, 0, TRUE);
  GArray *truth = truth_positions (t, 0);
  g_autoptr (GRand) r = g_rand_new_with_seed (99);
  double hits[120][2];
  int nh = 0;

  TsrStarParams p;
  tsr_star_params_init (&p);
  g_autoptr (TsrStarList) before = detect_ok (img, &p);

  while (nh < 120)
    {
      int x = g_rand_int_range (r, 3, sp.width - 4), y = g_rand_int_range (r, 3, sp.height - 4);
      /* away from real stars, so that the check is about the artefact alone */
      if (nearest_truth (truth, x, y, 10.0, NULL) >= 0)
        continue;
      img->data[(gsize) y * sp.width + x] = 20000.0f;
      if (nh % 2 == 1)
        {
          /* cosmic streak: a second pixel in one of four directions */
          static const int dirs[4][2] = { { 1, 0 }, { 0, 1 }, { 1, 1 }, { 1, -1 } };
          const int *d = dirs[(nh / 2) % 4];
          img->data[(gsize) (y + d[1]) * sp.width + x + d[0]] = 20000.0f * 0.7f;
        }
      hits[nh][0] = x;
      hits[nh][1] = y;
      nh++;
    }

  g_autoptr (TsrStarList) l = detect_ok (img, &p);
  guint bad = 0;
  for (guint i = 0; i < l->stars->len; i++)
    {
      const TsrStar *s = &g_array_index (l->stars, TsrStar, i);
      for (int k = 0; k < nh; k++)
        if (fabs (s->x - hits[k][0]) < 3 && fabs (s->y - hits[k][1]) < 3)
          {
            g_test_message ("artefact at %.0f,%.0f returned as a star: fwhm %.2f snr %.1f",
                            hits[k][0], hits[k][1], s->fwhm, s->snr);
            bad++;
          }
    }
  g_test_message ("%s: %u stars before, %u after injecting %d artefacts (%u detections); "
                  "fwhm median %.3f → %.3f", tsr_cfa_name (cfa), before->stars->len,
                  l->stars->len, nh, l->n_detected, before->fwhm_median, l->fwhm_median);
  g_assert_cmpuint (bad, ==, 0);
  g_assert_cmpfloat (fabs (l->fwhm_median - before->fwhm_median), <, 0.02 * before->fwhm_median);
  g_array_unref (truth);
}

static void
test_hot_pixels_mono (void)
{
  check_hot_pixels (TSR_CFA_NONE);
}

static void
test_hot_pixels_bayer (void)
{
  check_hot_pixels (TSR_CFA_GRBG);
}

static void
test_pure_noise (void)
{
  const int w = 400, h = 300;
  g_autoptr (GRand) r = g_rand_new_with_seed (3);
  TsrStarParams p;
  tsr_star_params_init (&p);
  for (int cfa = 0; cfa < 2; cfa++)
    {
      g_autoptr (TsrImage) img = tsr_image_new (w, h, 1);
      img->cfa = cfa ? TSR_CFA_RGGB : TSR_CFA_NONE;
      for (int i = 0; i < w * h; i++)
        {
          /* Box–Muller */
          double u1 = g_rand_double_range (r, 1e-12, 1.0), u2 = g_rand_double (r);
          img->data[i] = (float) (400.0 + 20.0 * sqrt (-2.0 * log (u1)) * cos (2 * G_PI * u2));
        }
      g_autoptr (TsrStarList) l = detect_ok (img, &p);
      g_test_message ("pure noise (%s): %u stars, %u detections, bg %.2f rms %.2f",
                      tsr_cfa_name (img->cfa), l->stars->len, l->n_detected, l->background,
                      l->background_rms);
      g_assert_cmpuint (l->stars->len, <=, 2);
      g_assert_cmpfloat (fabs (l->background - 400.0), <, 2.0);
    }

  /* all zero, and all masked */
  g_autoptr (TsrImage) zero = tsr_image_new (w, h, 1);
  g_autoptr (TsrStarList) lz = detect_ok (zero, &p);
  g_assert_cmpuint (lz->stars->len, ==, 0);
  g_assert_true (isnan (lz->fwhm_median));
  zero->cfa = TSR_CFA_GRBG;
  g_autoptr (TsrStarList) lz2 = detect_ok (zero, &p);
  g_assert_cmpuint (lz2->stars->len, ==, 0);
  memset (zero->mask, 0, tsr_image_npix (zero));
  g_autoptr (TsrStarList) lz3 = detect_ok (zero, &p);
  g_assert_cmpuint (lz3->stars->len, ==, 0);
  /* tiny image */
  g_autoptr (TsrImage) tiny = tsr_image_new (2, 2, 1);
  g_autoptr (TsrStarList) lt = detect_ok (tiny, &p);
  g_assert_cmpuint (lt->stars->len, ==, 0);
}

static void
test_masked_region (void)
{
  for (int cfa = 0; cfa < 2; cfa++)
    {
      TsrSynthParams sp;
      session_params (&sp, 480, 360, cfa ? TSR_CFA_GRBG : TSR_CFA_NONE, 31);
      g_autoptr (TsrSynthTruth) t = tsr_synth_plan (&sp);
      g_autoptr (TsrImage) img = tsr_synth_render_frame (t, 0, TRUE);
      TsrStarParams p;
      tsr_star_params_init (&p);
      g_autoptr (TsrStarList) before = detect_ok (img, &p);
      const int x0 = 100, x1 = 300, y0 = 80, y1 = 240;
      guint inside_before = 0;
      for (guint i = 0; i < before->stars->len; i++)
        {
          const TsrStar *s = &g_array_index (before->stars, TsrStar, i);
          inside_before += s->x > x0 && s->x < x1 && s->y > y0 && s->y < y1;
        }
      /* the masked samples hold garbage that must never be looked at */
      for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
          {
            img->mask[(gsize) y * sp.width + x] = 0;
            img->data[(gsize) y * sp.width + x] = ((x * 7 + y * 13) % 5 == 0) ? 60000.0f : 0.0f;
          }
      g_autoptr (TsrStarList) l = detect_ok (img, &p);
      guint inside = 0;
      for (guint i = 0; i < l->stars->len; i++)
        {
          const TsrStar *s = &g_array_index (l->stars, TsrStar, i);
          inside += s->x > x0 + 1 && s->x < x1 - 2 && s->y > y0 + 1 && s->y < y1 - 2;
        }
      g_test_message ("%s: %u stars inside the region before masking, %u after; %u in all",
                      tsr_cfa_name (img->cfa), inside_before, inside, l->stars->len);
      g_assert_cmpuint (inside_before, >, 5);
      g_assert_cmpuint (inside, ==, 0);
      g_assert_cmpuint (l->stars->len, >, 10);
    }
}

static void
test_saturation (void)
{
  const int w = 200, h = 200;
  g_autoptr (TsrImage) img = tsr_image_new (w, h, 1);
  g_autoptr (GRand) r = g_rand_new_with_seed (8);
  for (int i = 0; i < w * h; i++)
    img->data[i] = (float) (1000.0 + g_rand_double_range (r, -20, 20));
  add_star (img->data, w, h, 60.3, 70.6, 5000, 3.5, 3.2, 0.3, 3.0);
  add_star (img->data, w, h, 140.7, 120.2, 300000, 3.5, 3.2, 0.3, 3.0);
  add_star (img->data, w, h, 50.2, 150.4, 8000, 3.5, 3.2, 0.3, 3.0);
  for (int i = 0; i < w * h; i++)
    img->data[i] = MIN (img->data[i], 65535.0f);   /* a 16-bit ADC */

  TsrStarParams p;
  tsr_star_params_init (&p);
  g_autoptr (TsrStarList) l = detect_ok (img, &p);
  for (guint i = 0; i < l->stars->len; i++)
    {
      const TsrStar *s = &g_array_index (l->stars, TsrStar, i);
      g_test_message ("%.2f %.2f flux %.0f fwhm %.2f sat %d", s->x, s->y, s->flux, s->fwhm,
                      s->saturated);
    }
  g_assert_cmpuint (l->stars->len, ==, 3);
  const TsrStar *b = &g_array_index (l->stars, TsrStar, 0);
  g_assert_true (b->saturated);
  g_assert_cmpfloat (fabs (b->x - 140.7), <, 0.2);
  g_assert_cmpfloat (fabs (b->y - 120.2), <, 0.2);
  for (guint i = 1; i < 3; i++)
    g_assert_false (g_array_index (l->stars, TsrStar, i).saturated);
  /* the median ignores the saturated star */
  g_assert_cmpfloat (fabs (l->fwhm_median - sqrt (3.5 * 3.2)), <, 0.05);

  /* an explicit level */
  p.saturation = 7000;
  g_autoptr (TsrStarList) l2 = detect_ok (img, &p);
  guint nsat = 0;
  for (guint i = 0; i < l2->stars->len; i++)
    nsat += g_array_index (l2->stars, TsrStar, i).saturated;
  g_assert_cmpuint (nsat, ==, 2);
}

static void
test_cancel (void)
{
  TsrSynthParams sp;
  session_params (&sp, 320, 240, TSR_CFA_NONE, 2);
  g_autoptr (TsrSynthTruth) t = tsr_synth_plan (&sp);
  g_autoptr (TsrImage) img = tsr_synth_render_frame (t, 0, TRUE);
  g_autoptr (GCancellable) c = g_cancellable_new ();
  g_cancellable_cancel (c);
  GError *e = NULL;
  TsrStarList *l = tsr_stars_detect (img, NULL, c, &e);
  g_assert_null (l);
  g_assert_error (e, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&e);
}

/* ---------------------------------------------------------------------------------- */
/* Real data                                                                           */

static char *
first_fits (const char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  if (!d)
    return NULL;
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const char *n;
  while ((n = g_dir_read_name (d)))
    if (g_str_has_suffix (n, ".fit") || g_str_has_suffix (n, ".fits"))
      g_ptr_array_add (names, g_strdup (n));
  g_dir_close (d);
  char *res = NULL;
  if (names->len > 0)
    {
      const char *best = NULL;
      for (guint i = 0; i < names->len; i++)
        if (!best || strcmp (g_ptr_array_index (names, i), best) < 0)
          best = g_ptr_array_index (names, i);
      res = g_build_filename (dir, best, NULL);
    }
  g_ptr_array_unref (names);
  return res;
}

static void
test_real_seestar (void)
{
  g_autofree char *dir = tsr_test_shared_data ("seestar-m94-s3");
  if (!dir)
    {
      g_test_skip ("../shared/data/seestar-m94-s3 is absent");
      return;
    }
  g_autofree char *path = first_fits (dir);
  if (!path)
    {
      g_test_skip ("no FITS frame in seestar-m94-s3");
      return;
    }
  GError *e = NULL;
  g_autoptr (TsrImage) img = tsr_fits_read (path, &e);
  g_assert_no_error (e);
  g_assert_cmpint (img->cfa, !=, TSR_CFA_NONE);
  g_autofree char *base = g_path_get_basename (path);

  for (int mode = 0; mode < 2; mode++)
    {
      TsrStarParams p;
      tsr_star_params_init (&p);
      p.luma = mode ? TSR_LUMA_GREEN : TSR_LUMA_SUPERPIXEL;
      double best = G_MAXDOUBLE;
      TsrStarList *l = NULL;
      for (int rep = 0; rep < 3; rep++)
        {
          g_clear_pointer (&l, tsr_star_list_free);
          double t0 = cpu_ms ();
          l = detect_ok (img, &p);
          best = MIN (best, cpu_ms () - t0);
        }
      guint nsat = 0, nsnr = 0;
      for (guint i = 0; i < l->stars->len; i++)
        {
          const TsrStar *s = &g_array_index (l->stars, TsrStar, i);
          nsat += s->saturated;
          nsnr += !s->saturated && s->snr > 20;
        }
      g_test_message ("%s (%s, %d×%d): %u stars of %u detections, %u saturated, %u in the "
                      "medians; fwhm median %.3f px, roundness %.3f, bg %.1f rms %.2f; %.1f ms",
                      base, mode ? "green" : "superpixel", img->width,
                      img->height, l->stars->len, l->n_detected, nsat, nsnr, l->fwhm_median,
                      l->roundness_median, l->background, l->background_rms, best);
      g_assert_cmpuint (l->stars->len, >, 30);
      g_assert_cmpfloat (l->fwhm_median, >, 1.5);
      g_assert_cmpfloat (l->fwhm_median, <, 8.0);
      tsr_star_list_free (l);
    }
}

/* ---------------------------------------------------------------------------------- */
/* Measurement: which luminance proxy registers better (perf mode only)                */

typedef struct
{
  double abs2, rel2, corner2, fwhm_err, ms;
  guint n_abs, n_rel, n_corner, n_fwhm, n_stars;
} ModeAcc;

/* Truth positions of every star in frame index (not clipped to the frame). */
static void
frame_truth_xy (const TsrSynthTruth *t, guint index, guint k, double *x, double *y)
{
  const double *m = g_array_index (t->frames, TsrSynthFrame, index).matrix;
  const TsrSynthStar *s = &g_array_index (t->stars, TsrSynthStar, k);
  *x = m[0] * s->x + m[1] * s->y + m[2];
  *y = m[3] * s->x + m[4] * s->y + m[5];
}

/* For each truth star, the index of the detected star matched to it (unique truth star
 * within 1 px, unsaturated, SNR > snr_min), or -1. */
static int *
truth_to_star (const TsrStarList *l, const TsrSynthTruth *t, guint index, double snr_min)
{
  guint ns = t->stars->len;
  GArray *pos = g_array_sized_new (FALSE, FALSE, sizeof (double) * 2, ns);
  for (guint i = 0; i < ns; i++)
    {
      double xy[2];
      frame_truth_xy (t, index, i, &xy[0], &xy[1]);
      g_array_append_val (pos, xy);
    }
  int *a = g_new (int, MAX (ns, 1));
  for (guint i = 0; i < ns; i++)
    a[i] = -1;
  for (guint i = 0; i < l->stars->len; i++)
    {
      const TsrStar *s = &g_array_index (l->stars, TsrStar, i);
      if (s->saturated || s->snr <= snr_min)
        continue;
      gboolean unique;
      int k = nearest_truth (pos, s->x, s->y, 1.0, &unique);
      if (k >= 0 && unique)
        a[k] = (int) i;
    }
  g_array_unref (pos);
  return a;
}

enum { N_MODES = 3 };
static const TsrLumaMode mode_luma[N_MODES] = { TSR_LUMA_SUPERPIXEL, TSR_LUMA_GREEN, TSR_LUMA_CFA };
static const char *const mode_name[N_MODES] = { "superpixel", "green", "cfa" };

static gboolean
all_matched (int *const *map, guint k)
{
  for (int mode = 0; mode < N_MODES; mode++)
    if (map[mode][k] < 0)
      return FALSE;
  return TRUE;
}

/* One Bayer session, every mode. Position errors are taken over the truth stars that both
 * modes matched (same stars, so the modes are compared on equal terms); the similarity
 * fitted between frame 0 and each other frame uses each mode's own matches. */
static void
measure_session (TsrCfa cfa, double fwhm_min, double fwhm_max, guint64 seed, int w, int h,
                 guint n_frames, ModeAcc acc[N_MODES])
{
  TsrSynthParams sp;
  session_params (&sp, w, h, cfa, seed);
  sp.n_frames = n_frames;
  sp.fwhm_min = fwhm_min;
  sp.fwhm_max = fwhm_max;
  g_autoptr (TsrSynthTruth) t = tsr_synth_plan (&sp);
  const double snr_min = 20.0;
  guint ns = t->stars->len;
  TsrStarList *ref[N_MODES] = { NULL };
  int *ref_map[N_MODES] = { NULL };

  for (guint fi = 0; fi < n_frames; fi++)
    {
      g_autoptr (TsrImage) img = tsr_synth_render_frame (t, fi, TRUE);
      TsrStarList *l[N_MODES];
      int *map[N_MODES];
      const TsrSynthFrame *f = &g_array_index (t->frames, TsrSynthFrame, fi);
      for (int mode = 0; mode < N_MODES; mode++)
        {
          TsrStarParams p;
          tsr_star_params_init (&p);
          p.luma = mode_luma[mode];
          double t0 = cpu_ms ();
          l[mode] = detect_ok (img, &p);
          acc[mode].ms += cpu_ms () - t0;
          acc[mode].n_stars += l[mode]->stars->len;
          acc[mode].fwhm_err += fabs (l[mode]->fwhm_median / f->fwhm_median - 1.0);
          acc[mode].n_fwhm++;
          map[mode] = truth_to_star (l[mode], t, fi, snr_min);
        }
      for (guint k = 0; k < ns; k++)
        {
          if (!all_matched (map, k))
            continue;
          double tx, ty;
          frame_truth_xy (t, fi, k, &tx, &ty);
          for (int mode = 0; mode < N_MODES; mode++)
            {
              const TsrStar *s = &g_array_index (l[mode]->stars, TsrStar, map[mode][k]);
              acc[mode].abs2 += (s->x - tx) * (s->x - tx) + (s->y - ty) * (s->y - ty);
              acc[mode].n_abs++;
            }
          if (fi == 0 || !all_matched (ref_map, k))
            continue;
          double rx, ry;
          frame_truth_xy (t, 0, k, &rx, &ry);
          for (int mode = 0; mode < N_MODES; mode++)
            {
              const TsrStar *a = &g_array_index (ref[mode]->stars, TsrStar, ref_map[mode][k]);
              const TsrStar *b = &g_array_index (l[mode]->stars, TsrStar, map[mode][k]);
              double ex = (b->x - a->x) - (tx - rx), ey = (b->y - a->y) - (ty - ry);
              acc[mode].rel2 += ex * ex + ey * ey;
              acc[mode].n_rel++;
            }
        }
      if (fi > 0)
        for (int mode = 0; mode < N_MODES; mode++)
          {
            GArray *src = g_array_new (FALSE, FALSE, sizeof (double));
            GArray *dst = g_array_new (FALSE, FALSE, sizeof (double));
            for (guint k = 0; k < ns; k++)
              {
                if (ref_map[mode][k] < 0 || map[mode][k] < 0)
                  continue;
                const TsrStar *a = &g_array_index (ref[mode]->stars, TsrStar, ref_map[mode][k]);
                const TsrStar *b = &g_array_index (l[mode]->stars, TsrStar, map[mode][k]);
                g_array_append_val (src, a->x);
                g_array_append_val (src, a->y);
                g_array_append_val (dst, b->x);
                g_array_append_val (dst, b->y);
              }
            TsrTransform fit;
            if (src->len >= 8
                && tsr_transform_fit (TSR_MODEL_SIMILARITY, (const double *) src->data,
                                      (const double *) dst->data, NULL, src->len / 2, &fit))
              {
                /* truth: reference frame → sky → this frame */
                const double *m0 = g_array_index (t->frames, TsrSynthFrame, 0).matrix;
                const double *m1 = f->matrix;
                TsrTransform a0 = { { m0[0], m0[1], m0[2], m0[3], m0[4], m0[5], 0, 0, 1 } };
                TsrTransform a1 = { { m1[0], m1[1], m1[2], m1[3], m1[4], m1[5], 0, 0, 1 } };
                TsrTransform inv0, truth;
                tsr_transform_invert (&a0, &inv0);
                tsr_transform_compose (&a1, &inv0, &truth);
                double c = tsr_transform_corner_rms (&fit, &truth, w, h);
                acc[mode].corner2 += c * c;
                acc[mode].n_corner++;
              }
            g_array_unref (src);
            g_array_unref (dst);
          }
      for (int mode = 0; mode < N_MODES; mode++)
        {
          if (fi == 0)
            {
              ref[mode] = l[mode];
              ref_map[mode] = map[mode];
            }
          else
            {
              tsr_star_list_free (l[mode]);
              g_free (map[mode]);
            }
        }
    }
  for (int mode = 0; mode < N_MODES; mode++)
    {
      tsr_star_list_free (ref[mode]);
      g_free (ref_map[mode]);
    }
}

static void
test_luma_compare (void)
{
  if (!g_test_perf ())
    {
      g_test_skip ("measurement: run with -m perf");
      return;
    }
  static const struct
  {
    const char *name;
    double fmin, fmax;
  } seeing[] = {
    { "1.4-2.2", 1.4, 2.2 },
    { "2.0-4.5", 2.0, 4.5 },
    { "4.0-6.0", 4.0, 6.0 },
  };
  const int w = 1080, h = 1920;
  const guint n_frames = 5;
  g_printerr ("| seeing FWHM px | mode | stars/frame | abs RMS px (n) | pair RMS px (n) | "
              "similarity corner RMS px | FWHM median error | CPU ms/frame |\n");
  for (guint k = 0; k < G_N_ELEMENTS (seeing); k++)
    {
      ModeAcc acc[N_MODES];
      memset (acc, 0, sizeof acc);
      for (guint64 seed = 1; seed <= 5; seed++)
        measure_session (TSR_CFA_GRBG, seeing[k].fmin, seeing[k].fmax, 100 + seed, w, h,
                         n_frames, acc);
      for (int mode = 0; mode < N_MODES; mode++)
        {
          const ModeAcc *a = &acc[mode];
          g_printerr ("| %s | %s | %.0f | %.4f (%u) | %.4f (%u) | %.4f | %.2f %% | %.0f |\n",
                      seeing[k].name, mode_name[mode],
                      (double) a->n_stars / a->n_fwhm, sqrt (a->abs2 / MAX (a->n_abs, 1)),
                      a->n_abs, sqrt (a->rel2 / MAX (a->n_rel, 1)), a->n_rel,
                      sqrt (a->corner2 / MAX (a->n_corner, 1)), 100 * a->fwhm_err / a->n_fwhm,
                      a->ms / a->n_fwhm);
        }
    }
}

/* The green proxy (stars.luma green/cfa: detection's image) at a red or blue site is the mean
 * of its valid horizontal and vertical neighbours, in double, as a float: every site of
 * random mosaics with random masks (odd and even widths, all four CFA phases) equal to the
 * bit to that rule computed here, one site at a time — the vectorised rows included. */
static void
test_green_proxy (void)
{
  g_autoptr (GRand) r = g_rand_new_with_seed (31);
  const TsrCfa cfas[] = { TSR_CFA_RGGB, TSR_CFA_GRBG, TSR_CFA_GBRG, TSR_CFA_BGGR };
  const int sizes[][2] = { { 37, 11 }, { 64, 9 }, { 101, 23 }, { 8, 5 } };
  for (guint t = 0; t < G_N_ELEMENTS (sizes); t++)
    for (guint c = 0; c < G_N_ELEMENTS (cfas); c++)
      {
        int w = sizes[t][0], h = sizes[t][1];
        g_autoptr (TsrImage) m = tsr_image_new (w, h, 1);
        m->cfa = cfas[c];
        for (gsize k = 0; k < tsr_image_npix (m); k++)
          {
            m->data[k] = (float) g_rand_double_range (r, -50, 3000);
            m->mask[k] = g_rand_int_range (r, 0, 6) != 0;
          }
        int sc = 0;
        g_autoptr (TsrImage) p = tsr_luminance_proxy (m, TSR_LUMA_GREEN, &sc);
        g_assert_cmpint (sc, ==, 1);
        gsize checked = 0;
        for (int y = 1; y + 1 < h; y++)
          for (int x = 1; x + 1 < w; x++)
            {
              if (tsr_cfa_color (m->cfa, x, y) == TSR_GREEN)
                continue;
              gsize k = (gsize) y * w + x;
              const gsize nb[4] = { k - 1, k + 1, k - w, k + w };
              double s = 0;
              int n = 0;
              for (int i = 0; i < 4; i++)
                {
                  s += m->mask[nb[i]] ? (double) m->data[nb[i]] : 0.0;
                  n += m->mask[nb[i]] != 0;
                }
              float want = n == 0 ? 0.0f : (float) (n == 3 ? s / 3 : s / n);
              g_assert_cmpfloat (p->data[k], ==, want);
              g_assert_cmpint (p->mask[k], ==, n > 0 && m->mask[k]);
              checked++;
            }
        g_assert_cmpuint (checked, >, 0);
      }
}

/* The fits' model pass eight samples wide (AVX2) against four wide: the same star lists to
 * the bit — every field of every star — on mono and Bayer frames of a crowded generated
 * field (Moffat and Gaussian fits, patches of every sample count, the early stop of rejected
 * steps, the CFA sub-samples), and the same timing-free counts. */
static void
test_fit_avx2 (void)
{
  guint compared = 0;
  for (int c = 0; c < 2; c++)
    {
      TsrSynthParams sp;
      session_params (&sp, 640, 480, c ? TSR_CFA_GRBG : TSR_CFA_NONE, 71 + c);
      sp.fwhm_min = 1.8;
      sp.fwhm_max = 4.5;
      g_autoptr (TsrSynthTruth) t = tsr_synth_plan (&sp);
      g_autoptr (TsrImage) img = tsr_synth_render_frame (t, 0, TRUE);
      TsrStarParams p;
      tsr_star_params_init (&p);
      tsr_star_fit_vector8 (FALSE);
      g_autoptr (TsrStarList) four = detect_ok (img, &p);
      tsr_star_fit_vector8 (TRUE);
      g_autoptr (TsrStarList) eight = detect_ok (img, &p);
      g_assert_cmpuint (four->stars->len, ==, eight->stars->len);
      g_assert_cmpuint (four->stars->len, >, 20);
      for (guint i = 0; i < four->stars->len; i++)
        {
          const TsrStar *a = &g_array_index (four->stars, TsrStar, i), *b = &g_array_index (eight->stars, TsrStar, i);
          if (memcmp (a, b, sizeof *a) != 0)
            g_error ("%s star %u: (%.9g, %.9g) fwhm %.9g flux %.9g against (%.9g, %.9g) fwhm %.9g flux %.9g",
                     c ? "GRBG" : "mono", i, a->x, a->y, a->fwhm, a->flux, b->x, b->y, b->fwhm, b->flux);
          compared++;
        }
      g_assert_cmpfloat (four->fwhm_median, ==, eight->fwhm_median);
    }
  g_test_message ("%u stars compared", compared);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/stars/proxy", test_proxy);
  g_test_add_func ("/stars/fit/moffat", test_fit_moffat);
  g_test_add_func ("/stars/fit/gaussian", test_fit_gaussian);
  g_test_add_func ("/stars/fit/round-masked", test_fit_round);
  g_test_add_func ("/stars/fit-avx2", test_fit_avx2);
  g_test_add_func ("/stars/detect/mono", test_detect_mono);
  g_test_add_func ("/stars/detect/bayer", test_detect_bayer);
  g_test_add_func ("/stars/detect/max-stars", test_max_stars);
  g_test_add_func ("/stars/detect/bg-decimate", test_bg_decimate);
  g_test_add_func ("/stars/detect/hot-pixels-mono", test_hot_pixels_mono);
  g_test_add_func ("/stars/detect/hot-pixels-bayer", test_hot_pixels_bayer);
  g_test_add_func ("/stars/detect/pure-noise", test_pure_noise);
  g_test_add_func ("/stars/detect/masked-region", test_masked_region);
  g_test_add_func ("/stars/detect/saturation", test_saturation);
  g_test_add_func ("/stars/detect/cancel", test_cancel);
  g_test_add_func ("/stars/real/seestar-m94", test_real_seestar);
  g_test_add_func ("/stars/luma-compare", test_luma_compare);
  g_test_add_func ("/stars/green-proxy", test_green_proxy);
  return g_test_run ();
}
