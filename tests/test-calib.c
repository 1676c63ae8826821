/* test-calib.c — calibration frames (issue #18) on a generated scenario with known truth.
 *
 * The scene (a Bayer RGGB mosaic, gain 1): a bias B(x,y) = 500 ADU plus a column pattern;
 * dark current 5 ADU/s everywhere with 30 hot pixels of 100–1000 ADU/s (unstable: ±20 % from
 * frame to frame, like real hot pixels — which is why they are replaced, not only subtracted)
 * and 5 dead pixels (0 in every frame); a vignetting V = 1 − 0.4 r²/r_max² (corner/centre
 * 0.6) times two dust donuts (rings taking 8 % of the light); per-site responses Q (1, 0.8, 0.85,
 * 0.6); lights of 30 s showing T = 1000·Q plus a few
 * stars, times V, plus bias and dark current; flats of 1 s at 20000·V·Q·lamp. Read noise 3 ADU,
 * Poisson noise as Gaussian. Calibrated lights must equal T·m (m = the median of V, what the
 * flat's normalisation leaves) within the noise σ·m/V. */
#include <math.h>
#include <string.h>
#include <glib/gstdio.h>
#include "tsr-test-util.h"
#include "tsr-tbqr-memory.h"

#define W 128
#define H 96
#define T_LIGHT 30.0
#define RATE 5.0
#define N_HOT 30
#define N_DEAD 5
#define READ 3.0

typedef struct
{
  float bias[W * H], rate[W * H], vig[W * H], truth[W * H];
  guint8 hot[W * H], dead[W * H];
  double m_site[4];       /* median of V per Bayer site */
  gboolean stable;        /* hot pixels without frame-to-frame jitter */
  GRand *rng;
} Scene;

static const double Q[4] = { 1.0, 0.8, 0.85, 0.6 };   /* RGGB sites (0,0) (1,0) (0,1) (1,1) */
static const double LAMP[4] = { 0.7, 1.0, 1.0, 1.3 };

static inline int
site (int x, int y)
{
  return ((y & 1) << 1) | (x & 1);
}

static double
gauss (GRand *r)
{
  double u = g_rand_double_range (r, 1e-12, 1.0), v = g_rand_double (r);
  return sqrt (-2 * log (u)) * cos (2 * G_PI * v);
}

static int
cmp_f (const void *a, const void *b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return (x > y) - (x < y);
}

/* Dust donuts in the flat (out-of-focus shadows of dust on the window): rings of radius
 * DONUT_R ± 2.5 px that take 8 % of the light, at two places away from the stars. */
#define DONUT_R 7.0
static const double DONUTS[][2] = { { 40, 70 }, { 100, 30 } };

static double
donut_shadow (int x, int y)
{
  double v = 1;
  for (guint k = 0; k < G_N_ELEMENTS (DONUTS); k++)
    {
      double d = hypot (x - DONUTS[k][0], y - DONUTS[k][1]) - DONUT_R;
      v *= 1 - 0.08 * exp (-d * d / (2 * 1.2 * 1.2));
    }
  return v;
}

static Scene *
scene_new (guint32 seed)
{
  Scene *s = g_new0 (Scene, 1);
  s->rng = g_rand_new_with_seed (seed);
  const double cx = (W - 1) / 2.0, cy = (H - 1) / 2.0, rmax2 = cx * cx + cy * cy;
  static const double stars[][2] = { { 30, 30 }, { 90, 60 }, { 64, 20 }, { 100, 80 } };
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      {
        int i = y * W + x;
        s->bias[i] = 500 + 3 * sin (x * 0.7);
        s->rate[i] = RATE;
        double r2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
        s->vig[i] = (1 - 0.4 * r2 / rmax2) * donut_shadow (x, y);
        double t = 1000;
        for (guint k = 0; k < G_N_ELEMENTS (stars); k++)
          {
            double dx = x - stars[k][0], dy = y - stars[k][1];
            t += 5000 * exp (-(dx * dx + dy * dy) / (2 * 1.5 * 1.5));
          }
        s->truth[i] = t * Q[site (x, y)];
      }
  for (int n = 0; n < N_HOT + N_DEAD;)
    {
      int x = g_rand_int_range (s->rng, 3, W - 3), y = g_rand_int_range (s->rng, 3, H - 3);
      gboolean near = FALSE;
      for (guint k = 0; k < G_N_ELEMENTS (stars); k++)
        near |= fabs (x - stars[k][0]) < 8 && fabs (y - stars[k][1]) < 8;
      int i = y * W + x;
      if (near || s->hot[i] || s->dead[i])
        continue;
      /* not next to another one: each has its 8 same-colour neighbours */
      gboolean crowded = FALSE;
      for (int dy = -2; dy <= 2; dy++)
        for (int dx = -2; dx <= 2; dx++)
          crowded |= s->hot[i + dy * W + dx] || s->dead[i + dy * W + dx];
      if (crowded)
        continue;
      if (n < N_HOT)
        {
          s->hot[i] = 1;
          s->rate[i] = g_rand_double_range (s->rng, 100, 1000);
        }
      else
        s->dead[i] = 1;
      n++;
    }
  for (int q = 0; q < 4; q++)
    {
      float *v = g_new (float, W * H / 4);
      int n = 0;
      for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
          if (site (x, y) == q)
            v[n++] = s->vig[y * W + x];
      qsort (v, n, sizeof (float), cmp_f);
      s->m_site[q] = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
      g_free (v);
    }
  return s;
}

static void
scene_free (Scene *s)
{
  g_rand_free (s->rng);
  g_free (s);
}

typedef enum { F_BIAS, F_DARK, F_FLAT, F_LIGHT } FrameKind;

/* One frame: bias + dark current·t (+ signal), with noise. */
static void
render (Scene *s, FrameKind kind, double t, float *out)
{
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      {
        int i = y * W + x;
        if (s->dead[i])
          {
            out[i] = 0;
            continue;
          }
        double dc = kind == F_BIAS ? 0 : s->rate[i] * t;
        if (s->hot[i] && !s->stable)
          dc *= 1 + 0.2 * (2 * g_rand_double (s->rng) - 1);
        double sig = 0;
        if (kind == F_FLAT)
          sig = 20000 * s->vig[i] * Q[site (x, y)] * LAMP[site (x, y)];
        else if (kind == F_LIGHT)
          sig = s->truth[i] * s->vig[i];
        double var = READ * READ + dc + sig;
        out[i] = (float) (s->bias[i] + dc + sig + sqrt (var) * gauss (s->rng));
      }
}

/* Write n frames of a kind into dir/prefixNN.fits with IMAGETYP, EXPTIME, BAYERPAT (and the
 * extra cards). */
static double exptime_written; /* > 0: the EXPTIME written instead of the true one */

static void
write_frames (Scene *s, const char *dir, const char *prefix, FrameKind kind, guint n, double t, const char *imagetyp,
              const char *bayer, int binning)
{
  g_mkdir_with_parents (dir, 0755);
  float *buf = g_new (float, W * H);
  for (guint k = 0; k < n; k++)
    {
      render (s, kind, t, buf);
      g_autofree char *c1 = g_strdup_printf ("IMAGETYP= '%s'", imagetyp);
      g_autofree char *c2 = g_strdup_printf ("EXPTIME = %.3f", exptime_written > 0 ? exptime_written : t);
      g_autofree char *c3 = g_strdup_printf ("BAYERPAT= '%s'", bayer);
      g_autofree char *c4 = g_strdup_printf ("XBINNING= %d", binning);
      g_autofree char *c5 = g_strdup_printf ("YBINNING= %d", binning);
      g_autofree char *c6 = g_strdup_printf ("DATE-OBS= '2026-12-01T20:%02u:%02u'", (guint) (kind * 10 + k / 60), k % 60);
      const char *cards[] = { c1, c2, c3, c4, c5, c6, NULL };
      g_autofree char *path = g_strdup_printf ("%s/%s%02u.fits", dir, prefix, k);
      tsr_test_write_fits (path, -32, W, H, 1, buf, cards);
    }
  g_free (buf);
}

typedef struct
{
  char *root, *bias, *darks, *darks60, *flats, *dflats, *lights;
  Scene *scene;
} Fixture;

static Fixture *
fixture_new (void)
{
  Fixture *f = g_new0 (Fixture, 1);
  f->root = tsr_test_tmpdir ("calib");
  f->scene = scene_new (7);
  f->bias = g_build_filename (f->root, "bias", NULL);
  f->darks = g_build_filename (f->root, "darks", NULL);
  f->darks60 = g_build_filename (f->root, "darks60", NULL);
  f->flats = g_build_filename (f->root, "flats", NULL);
  f->dflats = g_build_filename (f->root, "dark-flats", NULL);
  f->lights = g_build_filename (f->root, "lights", NULL);
  write_frames (f->scene, f->bias, "b", F_BIAS, 16, 0.0, "Bias Frame", "RGGB", 1);
  write_frames (f->scene, f->darks, "d", F_DARK, 12, T_LIGHT, "Dark Frame", "RGGB", 1);
  write_frames (f->scene, f->darks60, "d", F_DARK, 12, 2 * T_LIGHT, "Dark Frame", "RGGB", 1);
  write_frames (f->scene, f->flats, "f", F_FLAT, 12, 1.0, "Flat Field", "RGGB", 1);
  write_frames (f->scene, f->dflats, "df", F_DARK, 12, 1.0, "Dark Flat", "RGGB", 1);
  write_frames (f->scene, f->lights, "l", F_LIGHT, 3, T_LIGHT, "Light Frame", "RGGB", 1);
  return f;
}

static void
fixture_free (Fixture *f)
{
  tsr_test_rmtree (f->root);
  g_free (f->root);
  g_free (f->bias);
  g_free (f->darks);
  g_free (f->darks60);
  g_free (f->flats);
  g_free (f->dflats);
  g_free (f->lights);
  scene_free (f->scene);
  g_free (f);
}

static Fixture *the_fixture;

static Fixture *
fixture (void)
{
  if (!the_fixture)
    the_fixture = fixture_new ();
  return the_fixture;
}

static TsrSession *
scan (const char *dir)
{
  const char *paths[] = { dir, NULL };
  GError *e = NULL;
  TsrSession *s = tsr_session_scan (paths, NULL, NULL, &e);
  g_assert_no_error (e);
  return s;
}

/* Plan, build and attach; returns the calibration (owned by the session) or NULL with the
 * error. */
static TsrCalib *
calibrate (TsrSession *lights, const char *bias, const char *darks, const char *flats, const char *dflats,
           const TsrCalibParams *p, GError **error)
{
  const char *paths[TSR_CALIB_N_KINDS] = { bias, darks, flats, dflats };
  TsrCalib *c = tsr_calib_plan (paths, lights, p, NULL, error);
  if (!c)
    return NULL;
  if (!tsr_calib_build (c, NULL, NULL, NULL, NULL, error))
    {
      tsr_calib_free (c);
      return NULL;
    }
  tsr_calib_attach (c, lights);
  return c;
}

typedef struct
{
  double mean_z, rms_z, max_bad_z, corner_centre, dark_residual;
  double donut;   /* worst |1 − (in the donut rings / around them)| of calibrated / T */
  guint n;
} Check;

/* The calibrated light against its truth T·m_site, in units of its noise. */
static void
check_light (const Scene *s, const TsrImage *img, Check *out)
{
  double sz = 0, szz = 0, sres = 0;
  guint n = 0;
  out->max_bad_z = 0;
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      {
        int i = y * W + x;
        double m = s->m_site[site (x, y)];
        double e = s->truth[i] * m;
        double sigma = sqrt (READ * READ + RATE * T_LIGHT + s->truth[i] * s->vig[i]) * m / s->vig[i];
        double z = (img->data[i] - e) / sigma;
        if (s->hot[i] || s->dead[i])
          {
            out->max_bad_z = MAX (out->max_bad_z, fabs (z));
            continue;
          }
        sz += z, szz += z * z, n++;
        sres += (img->data[i] - e) * s->vig[i] / m; /* in ADU of the raw light */
      }
  out->n = n;
  out->mean_z = sz / n;
  out->rms_z = sqrt (szz / n);
  out->dark_residual = sres / n / (RATE * T_LIGHT);
  /* corner and centre blocks (24 × 24, background only) of calibrated / T */
  double corner = 0, centre = 0;
  guint nc = 0, nm = 0;
  for (int y = 0; y < 24; y++)
    for (int x = 0; x < 24; x++)
      {
        int ic = (H - 24 + y) * W + x, im = (H / 2 - 12 + y) * W + (W / 2 - 12 + x);
        if (!s->hot[ic] && !s->dead[ic])
          corner += img->data[ic] / s->truth[ic], nc++;
        if (!s->hot[im] && !s->dead[im])
          centre += img->data[im] / s->truth[im], nm++;
      }
  out->corner_centre = (corner / nc) / (centre / nm);
  /* each dust donut: calibrated / T on its ring (|r − R| < 1.5) against the surrounding
   * annulus 12–16 px (hot and dead pixels left out) */
  out->donut = 0;
  for (guint k = 0; k < G_N_ELEMENTS (DONUTS); k++)
    {
      double ring = 0, around = 0;
      guint nr = 0, na = 0;
      for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
          {
            int i = y * W + x;
            double r = hypot (x - DONUTS[k][0], y - DONUTS[k][1]);
            if (s->hot[i] || s->dead[i])
              continue;
            if (fabs (r - DONUT_R) < 1.5)
              ring += img->data[i] / s->truth[i], nr++;
            else if (r >= 12 && r < 16)
              around += img->data[i] / s->truth[i], na++;
          }
      out->donut = MAX (out->donut, fabs (1 - (ring / nr) / (around / na)));
    }
}

/* Raw lights are vignetted (corner/centre ~0.6) and offset; calibrated ones match the truth
 * within noise, the vignetting is gone (corner/centre within 1 %), hot and dead pixels are
 * replaced (|z| < 5) — and without the pixel map they are not (|z| > 20). */
static void
test_full_calibration (void)
{
  Fixture *f = fixture ();
  g_autoptr (TsrSession) lights = scan (f->lights);
  GError *e = NULL;
  /* raw: what the test would see without calibration */
  {
    g_autoptr (TsrImage) raw = tsr_session_read_frame (lights, 0, &e);
    g_assert_no_error (e);
    Check r;
    check_light (f->scene, raw, &r);
    g_assert_cmpfloat (r.corner_centre, <, 0.9);
    g_assert_cmpfloat (fabs (r.mean_z), >, 5);
    g_assert_cmpfloat (r.donut, >, 0.04); /* the donuts show in the raw light */
  }
  TsrCalib *c = calibrate (lights, f->bias, f->darks, f->flats, f->dflats, NULL, &e);
  g_assert_no_error (e);
  g_assert_cmpuint (tsr_calib_n_bad_pixels (c), >=, N_HOT + N_DEAD);
  g_assert_cmpuint (tsr_calib_n_bad_pixels (c), <=, N_HOT + N_DEAD + 3);
  for (guint i = 0; i < tsr_session_n_frames (lights); i++)
    {
      g_autoptr (TsrImage) img = tsr_session_read_frame (lights, i, &e);
      g_assert_no_error (e);
      Check r;
      check_light (f->scene, img, &r);
      g_test_message ("light %u: mean z %.3f, rms z %.3f, max |z| at hot/dead %.2f, corner/centre %.4f, dark "
                      "residual %.4f, dust donuts %.4f",
                      i, r.mean_z, r.rms_z, r.max_bad_z, r.corner_centre, r.dark_residual, r.donut);
      g_assert_cmpfloat (r.donut, <, 0.005); /* background flat to 0.5 % across the donuts */
      g_assert_cmpfloat (fabs (r.mean_z), <, 0.1);
      g_assert_cmpfloat (r.rms_z, >, 0.85);
      g_assert_cmpfloat (r.rms_z, <, 1.25);
      g_assert_cmpfloat (fabs (r.corner_centre - 1), <, 0.01);
      g_assert_cmpfloat (r.max_bad_z, <, 5);
      g_assert_cmpfloat (fabs (r.dark_residual), <, 0.01);
    }
  /* a band read (the stacker's) is calibrated like the whole frame, hot pixels at its edges
   * included */
  {
    g_autoptr (TsrImage) whole = tsr_session_read_frame (lights, 1, &e);
    g_autoptr (TsrImage) band = tsr_session_read_rows (lights, 1, 17, 58, &e);
    g_assert_no_error (e);
    g_assert_cmpint (band->height, ==, 41);
    g_assert_cmpint (band->cfa, ==, tsr_cfa_shift (TSR_CFA_RGGB, 0, 1));
    g_assert_true (memcmp (band->data, whole->data + 17 * W, sizeof (float) * W * 41) == 0);
  }
  /* the masters held during a run (bias, dark current, flat: float + mask each; the pixel map)
   * count in process's memory plan */
  g_assert_cmpuint (tsr_session_filter_bytes (lights), ==, (gsize) W * H * (3 * 5 + 1));
  {
    TsrTbqrParams tp;
    TsrRunParams run;
    tsr_tbqr_params_init (&tp);
    tsr_run_params_init (&run);
    TsrTbqrMemory m;
    g_assert_true (tsr_tbqr_memory_plan (W, H, 1, TSR_CFA_RGGB, 3, &tp, &run, &m, &e));
    gsize need = m.need, budget = m.budget;
    g_assert_true (tsr_tbqr_memory_hold (&m, tsr_session_filter_bytes (lights), &run, &e));
    g_assert_cmpuint (m.need, ==, need + tsr_session_filter_bytes (lights));
    g_assert_cmpuint (m.budget, ==, budget - tsr_session_filter_bytes (lights));
    g_assert_false (tsr_tbqr_memory_hold (&m, budget, &run, &e));
    g_assert_error (e, TSR_ERROR, TSR_ERROR_TOO_LARGE);
    g_assert_nonnull (strstr (e->message, "calibration masters"));
    g_clear_error (&e);
  }
  /* without the hot/cold map the same pixels are far off */
  g_autoptr (TsrSession) lights2 = scan (f->lights);
  TsrCalibParams p;
  tsr_calib_params_init (&p);
  p.hot_sigma = p.cold_sigma = 0;
  c = calibrate (lights2, f->bias, f->darks, f->flats, f->dflats, &p, &e);
  g_assert_no_error (e);
  g_assert_cmpuint (tsr_calib_n_bad_pixels (c), ==, 0);
  g_autoptr (TsrImage) img = tsr_session_read_frame (lights2, 0, &e);
  Check r;
  check_light (f->scene, img, &r);
  g_assert_cmpfloat (r.max_bad_z, >, 20);
}

/* Darks of 60 s for lights of 30 s: scaled with the bias (residual dark current < 1 % of the
 * light's), the user told once; without a bias they are refused, naming the dark. */
static void
test_dark_scaling (void)
{
  Fixture *f = fixture ();
  g_autoptr (TsrSession) lights = scan (f->lights);
  GError *e = NULL;
  const char *paths[TSR_CALIB_N_KINDS] = { f->bias, f->darks60, f->flats, f->dflats };
  TsrCalib *c = tsr_calib_plan (paths, lights, NULL, NULL, &e);
  g_assert_no_error (e);
  const GPtrArray *notes = tsr_calib_notes (c);
  guint scaled = 0;
  for (guint i = 0; i < notes->len; i++)
    scaled += strstr (notes->pdata[i], "darks of 60 s scaled to the lights' 30 s (dark current × 0.5)") != NULL;
  g_assert_cmpuint (scaled, ==, 1);
  g_assert_true (tsr_calib_build (c, NULL, NULL, NULL, NULL, &e));
  tsr_calib_attach (c, lights);
  g_autoptr (TsrImage) img = tsr_session_read_frame (lights, 0, &e);
  g_assert_no_error (e);
  Check r;
  check_light (f->scene, img, &r);
  g_test_message ("60 s darks scaled: dark residual %.4f of the light's dark current, mean z %.3f", r.dark_residual,
                  r.mean_z);
  g_assert_cmpfloat (fabs (r.dark_residual), <, 0.01);
  g_assert_cmpfloat (fabs (r.mean_z), <, 0.1);

  /* unscaled, the same darks leave the whole dark current of the light (−100 %) */
  {
    g_autoptr (TsrSession) l2 = scan (f->lights);
    const char *p2[TSR_CALIB_N_KINDS] = { f->bias, f->darks60, f->flats, f->dflats };
    TsrCalib *c2 = tsr_calib_plan (p2, l2, NULL, NULL, &e);
    g_assert_true (tsr_calib_build (c2, NULL, NULL, NULL, NULL, &e));
    g_autoptr (TsrImage) raw = tsr_fits_read (tsr_session_frame (l2, 0)->path, &e);
    g_assert_true (tsr_calib_apply (c2, raw, 0, 2 * T_LIGHT, &e)); /* as if the light were 60 s */
    Check r2;
    check_light (f->scene, raw, &r2);
    g_assert_cmpfloat (r2.dark_residual, <, -0.9);
    tsr_calib_free (c2);
  }

  /* darks without a bias: the same exposure works (the dark holds the bias) … */
  {
    g_autoptr (TsrSession) l3 = scan (f->lights);
    TsrCalib *c3 = calibrate (l3, NULL, f->darks, f->flats, f->dflats, NULL, &e);
    g_assert_no_error (e);
    g_assert_nonnull (c3);
    g_autoptr (TsrImage) i3 = tsr_session_read_frame (l3, 0, &e);
    Check r3;
    check_light (f->scene, i3, &r3);
    g_assert_cmpfloat (fabs (r3.mean_z), <, 0.1);
    g_assert_cmpfloat (fabs (r3.dark_residual), <, 0.01);
  }
  /* … another exposure cannot be scaled */
  {
    g_autoptr (TsrSession) l4 = scan (f->lights);
    const char *p4[TSR_CALIB_N_KINDS] = { NULL, f->darks60, NULL, NULL };
    TsrCalib *c4 = tsr_calib_plan (p4, l4, NULL, NULL, &e);
    g_assert_null (c4);
    g_assert_error (e, TSR_ERROR, TSR_ERROR_MISMATCH);
    g_assert_nonnull (strstr (e->message, "darks60/d00.fits"));
    g_assert_nonnull (strstr (e->message, "--bias"));
    g_clear_error (&e);
  }
}

/* calib.dark_optimize: darks of 60 s whose headers say 45 s (the exposure ratio would be
 * 0.667) on lights of 30 s: the scale that minimises the calibrated noise is found per light
 * within 2 % of the true 0.5, and the residual dark current is < 1 %; by exposure it is off by
 * a third. Hot pixels are stable here (the fit leans on them). */
static void
test_dark_optimize (void)
{
  g_autofree char *root = tsr_test_tmpdir ("calib-opt");
  Scene *s = scene_new (11);
  s->stable = TRUE;
  g_autofree char *bias = g_build_filename (root, "bias", NULL);
  g_autofree char *darks = g_build_filename (root, "darks", NULL);
  g_autofree char *ldir = g_build_filename (root, "lights", NULL);
  write_frames (s, bias, "b", F_BIAS, 16, 0.0, "Bias Frame", "RGGB", 1);
  exptime_written = 45;
  write_frames (s, darks, "d", F_DARK, 12, 2 * T_LIGHT, "Dark Frame", "RGGB", 1);
  exptime_written = 0;
  write_frames (s, ldir, "l", F_LIGHT, 3, T_LIGHT, "Light Frame", "RGGB", 1);
  GError *e = NULL;
  for (int optimize = 0; optimize < 2; optimize++)
    {
      g_autoptr (TsrSession) lights = scan (ldir);
      TsrCalibParams p;
      tsr_calib_params_init (&p);
      p.dark_optimize = optimize;
      TsrCalib *c = calibrate (lights, bias, darks, NULL, NULL, &p, &e);
      g_assert_no_error (e);
      for (guint i = 0; i < tsr_session_n_frames (lights); i++)
        {
          /* a band read first: the scale still comes from the whole frame */
          g_autoptr (TsrImage) band = tsr_session_read_rows (lights, i, 10, 30, &e);
          g_autoptr (TsrImage) img = tsr_session_read_frame (lights, i, &e);
          g_assert_no_error (e);
          g_assert_true (memcmp (band->data, img->data + 10 * W, sizeof (float) * W * 20) == 0);
          double resid = 0;
          guint n = 0;
          for (int k = 0; k < W * H; k++)
            if (!s->hot[k] && !s->dead[k])
              {
                resid += img->data[k] - s->truth[k] * s->vig[k];
                n++;
              }
          resid /= n * RATE * T_LIGHT;
          double k = tsr_calib_dark_scale (c, i);
          g_test_message ("optimize %d, light %u: scale %.4f, residual dark current %.4f", optimize, i, k, resid);
          if (optimize)
            {
              g_assert_cmpfloat (fabs (k / 0.5 - 1), <, 0.02);
              g_assert_cmpfloat (fabs (resid), <, 0.01);
            }
          else
            {
              g_assert_true (isnan (k));
              g_assert_cmpfloat (resid, <, -0.2);
            }
        }
    }
  /* without a bias the dark cannot be scaled at all */
  g_autoptr (TsrSession) lights = scan (ldir);
  TsrCalibParams p;
  tsr_calib_params_init (&p);
  p.dark_optimize = TRUE;
  const char *paths[TSR_CALIB_N_KINDS] = { NULL, darks, NULL, NULL };
  g_assert_null (tsr_calib_plan (paths, lights, &p, NULL, &e));
  g_assert_nonnull (strstr (e->message, "calib.dark_optimize needs --bias"));
  g_clear_error (&e);
  scene_free (s);
  tsr_test_rmtree (root);
}

/* Flats without dark-flats use the bias (said once); without either, said too. */
static void
test_flat_offsets (void)
{
  Fixture *f = fixture ();
  GError *e = NULL;
  g_autoptr (TsrSession) lights = scan (f->lights);
  const char *p1[TSR_CALIB_N_KINDS] = { f->bias, f->darks, f->flats, NULL };
  g_autoptr (TsrCalib) c = tsr_calib_plan (p1, lights, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_cmpuint (tsr_calib_notes (c)->len, ==, 1);
  g_assert_nonnull (strstr (tsr_calib_notes (c)->pdata[0], "master bias is subtracted from the flats"));
  g_assert_true (tsr_calib_build (c, NULL, NULL, NULL, NULL, &e));
  TsrImage *flat = tsr_calib_master (c, TSR_CALIB_FLAT);
  g_autofree char *offs = tsr_header_get_string (flat->header, "CALOFFS");
  g_assert_cmpstr (offs, ==, "bias");
  /* normalised per Bayer site: each site's median is 1, so the lamp's colour is gone */
  g_autoptr (TsrImage) fimg = tsr_image_copy (flat);
  for (int q = 0; q < 4; q++)
    {
      float v[W * H / 4];
      int n = 0;
      for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
          if (site (x, y) == q)
            v[n++] = fimg->data[y * W + x];
      qsort (v, n, sizeof (float), cmp_f);
      g_assert_cmpfloat (fabs (v[n / 2] - 1), <, 1e-3);
    }
  const char *p2[TSR_CALIB_N_KINDS] = { NULL, f->darks, f->flats, NULL };
  g_autoptr (TsrCalib) c2 = tsr_calib_plan (p2, lights, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_cmpuint (tsr_calib_notes (c2)->len, ==, 1);
  g_assert_nonnull (strstr (tsr_calib_notes (c2)->pdata[0], "without subtracting their offset"));
}

/* Masters written by 'tessera-cli masters' carry their provenance and are read back as they
 * are: calibrating with the master files gives the same lights as with the folders. */
static void
test_masters_cli (void)
{
  Fixture *f = fixture ();
  g_autofree char *out = g_build_filename (f->root, "masters", NULL);
  g_mkdir (out, 0755);
  const char *args[] = { "masters", "--bias", f->bias, "--darks", f->darks, "--flats", f->flats, "--dark-flats",
                         f->dflats, "-o", out, NULL };
  g_autofree char *so = NULL, *se = NULL;
  int rc = tsr_test_run_cli (args, &so, &se);
  g_test_message ("%s%s", so, se);
  g_assert_cmpint (rc, ==, 0);
  GError *e = NULL;
  g_autofree char *md = g_build_filename (out, "master-dark.fits", NULL);
  g_autofree char *mb = g_build_filename (out, "master-bias.fits", NULL);
  g_autofree char *mf = g_build_filename (out, "master-flat.fits", NULL);
  g_autofree char *mdf = g_build_filename (out, "master-dark-flat.fits", NULL);
  g_assert_true (g_file_test (mdf, G_FILE_TEST_EXISTS));
  TsrFitsInfo info = { 0 };
  g_autoptr (TsrHeader) h = NULL;
  g_assert_true (tsr_fits_read_info (md, &info, &h, &e));
  g_assert_cmpint (info.cfa, ==, TSR_CFA_RGGB);
  g_assert_cmpfloat (info.exposure, ==, T_LIGHT);
  tsr_fits_info_clear (&info);
  g_autofree char *type = tsr_header_get_string (h, "IMAGETYP");
  g_autofree char *meth = tsr_header_get_string (h, "CALMETH");
  gint64 nc = 0;
  g_assert_true (tsr_header_get_int (h, "NCOMBINE", &nc));
  g_assert_cmpstr (type, ==, "Master Dark");
  g_assert_cmpstr (meth, ==, "winsor kappa=3");
  g_assert_cmpint (nc, ==, 12);

  g_autoptr (TsrSession) a = scan (f->lights);
  g_autoptr (TsrSession) b = scan (f->lights);
  g_assert_nonnull (calibrate (a, f->bias, f->darks, f->flats, f->dflats, NULL, &e));
  g_assert_nonnull (calibrate (b, mb, md, mf, NULL, NULL, &e));
  g_assert_no_error (e);
  g_autoptr (TsrImage) ia = tsr_session_read_frame (a, 2, &e);
  g_autoptr (TsrImage) ib = tsr_session_read_frame (b, 2, &e);
  double maxd = 0;
  for (gsize i = 0; i < (gsize) W * H; i++)
    maxd = MAX (maxd, fabs (ia->data[i] - ib->data[i]));
  g_assert_cmpfloat (maxd, <, 1e-2);
}

/* Every mismatch is refused before any work with one line naming the file; nothing written. */
static void
test_mismatches (void)
{
  Fixture *f = fixture ();
  Scene *s = f->scene;
  g_autofree char *bad = g_build_filename (f->root, "bad", NULL);
  /* folders and files that do not fit the lights */
  g_autofree char *dsize = g_build_filename (bad, "darks-size", NULL);
  g_mkdir_with_parents (dsize, 0755);
  {
    float *buf = g_new0 (float, W * H);
    const char *cards[] = { "IMAGETYP= 'Dark Frame'", "EXPTIME = 30.0", "BAYERPAT= 'RGGB'", NULL };
    g_autofree char *p = g_build_filename (dsize, "small.fits", NULL);
    tsr_test_write_fits (p, -32, W / 2, H, 1, buf, cards);
    g_free (buf);
  }
  g_autofree char *fpat = g_build_filename (bad, "flats-grbg", NULL);
  write_frames (s, fpat, "f", F_FLAT, 3, 1.0, "Flat Field", "GRBG", 1);
  g_autofree char *dbin = g_build_filename (bad, "darks-bin", NULL);
  write_frames (s, dbin, "d", F_DARK, 3, T_LIGHT, "Dark Frame", "RGGB", 1);
  write_frames (s, dbin, "e", F_DARK, 1, T_LIGHT, "Dark Frame", "RGGB", 2);
  g_autofree char *dlight = g_build_filename (bad, "darks-light", NULL);
  write_frames (s, dlight, "d", F_DARK, 3, T_LIGHT, "Dark Frame", "RGGB", 1);
  write_frames (s, dlight, "x", F_LIGHT, 1, T_LIGHT, "Light Frame", "RGGB", 1);
  g_autofree char *dexp = g_build_filename (bad, "darks-exp", NULL);
  write_frames (s, dexp, "d", F_DARK, 3, T_LIGHT, "Dark Frame", "RGGB", 1);
  write_frames (s, dexp, "e", F_DARK, 1, 2 * T_LIGHT, "Dark Frame", "RGGB", 1);
  g_autofree char *single = g_build_filename (f->darks, "d03.fits", NULL);
  g_autofree char *mflat = g_build_filename (f->root, "masters", "master-flat.fits", NULL);
  g_autofree char *fbig = g_build_filename (bad, "flats-big", NULL);
  g_mkdir_with_parents (fbig, 0755);
  {
    float *buf = g_new0 (float, W * (H + 2));
    const char *cards[] = { "IMAGETYP= 'Flat Field'", "EXPTIME = 1.0", "BAYERPAT= 'RGGB'", NULL };
    g_autofree char *p = g_build_filename (fbig, "f.fits", NULL);
    tsr_test_write_fits (p, -32, W, H + 2, 1, buf, cards);
    g_free (buf);
  }

  struct
  {
    const char *option, *path, *named, *says;
  } cases[] = {
    { "--darks", dsize, "small.fits", "does not match" },
    { "--flats", fpat, "f00.fits", "GRBG" },
    { "--darks", dbin, "e00.fits", "binning 2×2" },
    { "--darks", dlight, "x00.fits", "not a dark frame" },
    { "--darks", dexp, "e00.fits", "exposure 60 s" },
    { "--darks", single, "d03.fits", "not a master" },
    { "--darks", mflat, "master-flat.fits", "not a master dark" },
    { "--flats", fbig, "f.fits", "does not match" },
    { "--bias", "/nonexistent/bias", "/nonexistent/bias", "no such file" },
    { "--darks", f->lights, "l00.fits", "'Light Frame' is not a dark frame" },
  };
  g_autofree char *outdir = g_build_filename (bad, "out", NULL);
  g_mkdir_with_parents (outdir, 0755);
  g_autofree char *result = g_build_filename (outdir, "result.fits", NULL);
  const char keep[] = "an earlier result";
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_assert_true (g_file_set_contents (result, keep, -1, NULL));
      for (int cmd = 0; cmd < 2; cmd++)
        {
          const char *args_p[] = { "process", "--deep-sky", f->lights, "-o", result, cases[i].option, cases[i].path,
                                   NULL };
          const char *args_m[] = { "masters", cases[i].option, cases[i].path, "--bias", f->bias, "-o", outdir, NULL };
          if (cmd == 1 && !strcmp (cases[i].option, "--bias"))
            args_m[3] = "--darks", args_m[4] = f->darks;
          g_autofree char *so = NULL, *se = NULL;
          int rc = tsr_test_run_cli (cmd == 0 ? args_p : args_m, &so, &se);
          g_test_message ("%s %s %s: rc %d: %s", cmd ? "masters" : "process", cases[i].option, cases[i].path, rc, se);
          g_assert_cmpint (rc, !=, 0);
          g_assert_nonnull (strstr (se, cases[i].named));
          g_assert_nonnull (strstr (se, cases[i].says));
          g_auto (GStrv) lines = g_strsplit (g_strstrip (se), "\n", -1);
          g_assert_cmpuint (g_strv_length (lines), ==, 1);
          /* nothing written: the earlier result as it was, no master, no staged file */
          g_autofree char *now = NULL;
          g_assert_true (g_file_get_contents (result, &now, NULL, NULL));
          g_assert_cmpstr (now, ==, keep);
          g_autoptr (GDir) d = g_dir_open (outdir, 0, NULL);
          const char *name;
          guint n = 0;
          while ((name = g_dir_read_name (d)))
            n++;
          g_assert_cmpuint (n, ==, 1);
        }
    }
  /* frames without IMAGETYP given as lights and as darks */
  {
    g_autofree char *plain = g_build_filename (bad, "plain", NULL);
    g_mkdir_with_parents (plain, 0755);
    float *buf = g_new (float, W * H);
    for (int k = 0; k < 3; k++)
      {
        render (s, F_LIGHT, T_LIGHT, buf);
        const char *cards[] = { "EXPTIME = 30.0", "BAYERPAT= 'RGGB'", NULL };
        g_autofree char *p = g_strdup_printf ("%s/p%d.fits", plain, k);
        tsr_test_write_fits (p, -32, W, H, 1, buf, cards);
      }
    g_free (buf);
    const char *args[] = { "process", "--deep-sky", plain, "-o", result, "--darks", plain, NULL };
    g_autofree char *so = NULL, *se = NULL;
    g_assert_cmpint (tsr_test_run_cli (args, &so, &se), !=, 0);
    g_assert_nonnull (strstr (se, "p0.fits: is one of the lights"));
  }
  /* an output may not overwrite a calibration frame, nor a report land among them */
  {
    g_autofree char *dark = g_build_filename (f->darks, "d05.fits", NULL);
    g_autofree char *before = NULL, *after = NULL;
    gsize n1 = 0, n2 = 0;
    g_assert_true (g_file_get_contents (dark, &before, &n1, NULL));
    const char *args[] = { "process", "--deep-sky", f->lights, "-o", dark, "--darks", f->darks, NULL };
    g_autofree char *so = NULL, *se = NULL;
    g_assert_cmpint (tsr_test_run_cli (args, &so, &se), !=, 0);
    g_assert_nonnull (strstr (se, "would overwrite one of the input frames"));
    g_assert_true (g_file_get_contents (dark, &after, &n2, NULL));
    g_assert_true (n1 == n2 && memcmp (before, after, n1) == 0);
    const char *args2[] = { "process", "--deep-sky", f->lights, "-o", result, "--report", f->flats, "--flats", f->flats,
                            NULL };
    g_autofree char *so2 = NULL, *se2 = NULL;
    g_assert_cmpint (tsr_test_run_cli (args2, &so2, &se2), !=, 0);
    g_assert_nonnull (strstr (se2, "holds input frames"));
  }
  tsr_test_rmtree (bad);
}

/* Median over a box of plane c of a / b (samples valid in both). */
static double
box_ratio (const TsrImage *a, const TsrImage *b, int c, int x0, int y0, int size)
{
  float *v = g_new (float, size * size);
  int n = 0;
  for (int y = y0; y < y0 + size; y++)
    for (int x = x0; x < x0 + size; x++)
      {
        gsize i = (gsize) y * a->width + x;
        if (a->mask[i] && b->mask[i] && tsr_image_plane (b, c)[i] > 0)
          v[n++] = tsr_image_plane (a, c)[i] / tsr_image_plane (b, c)[i];
      }
  qsort (v, n, sizeof (float), cmp_f);
  double m = n ? v[n / 2] : NAN;
  g_free (v);
  return m;
}

/* The whole workflow through the CLI: a generated star field (tsr_synth, flat sky) vignetted
 * and given the scene's bias, dark current and hot pixels, processed with --bias --darks
 * --flats --dark-flats; the truth is the same field processed without vignetting or offsets
 * (same reference frame). Calibrated/truth is flat (corner/centre within 1 % per colour, stars
 * and sky alike), while the lights processed without calibration keep the vignetting. */
static void
test_process_cli (void)
{
  Fixture *f = fixture ();
  Scene *sc = f->scene;
  TsrSynthParams sp;
  tsr_synth_params_init (&sp);
  sp.n_frames = 5;
  sp.width = W;
  sp.height = H;
  sp.cfa = TSR_CFA_RGGB;
  sp.n_mirrored = sp.n_noise = sp.n_trails = 0;
  sp.gradient = 0;
  sp.sky_drift = 0;
  sp.transparency_drop = 0;
  sp.extended = FALSE;
  sp.shift_max = 4;
  sp.rotation_max_deg = 0.2;
  sp.exposure = T_LIGHT;
  sp.sky = 1000;
  sp.bias = 0; /* the truth without a pedestal: calibrated lights have none */
  sp.n_stars = 60;
  sp.star_flux_min = 20000;
  sp.star_flux_max = 400000;
  g_autofree char *sdir = NULL;
  g_autoptr (TsrSession) synth = tsr_test_synth_session (&sp, NULL, "calib-synth", &sdir, NULL);
  g_autofree char *ldir = g_build_filename (f->root, "star-lights", NULL);
  g_mkdir_with_parents (ldir, 0755);
  GError *e = NULL;
  for (guint i = 0; i < tsr_session_n_frames (synth); i++)
    {
      const TsrFrameInfo *fi = tsr_session_frame (synth, i);
      g_autoptr (TsrImage) img = tsr_fits_read (fi->path, &e);
      g_assert_no_error (e);
      for (int k = 0; k < W * H; k++)
        {
          if (sc->dead[k])
            {
              img->data[k] = 0;
              continue;
            }
          double dc = sc->rate[k] * T_LIGHT * (sc->hot[k] ? 1 + 0.2 * (2 * g_rand_double (sc->rng) - 1) : 1);
          img->data[k] = (float) ((img->data[k] - sp.bias) * sc->vig[k] + sc->bias[k] + dc
                                  + sqrt (sc->rate[k] * T_LIGHT) * gauss (sc->rng));
        }
      g_autofree char *c1 = g_strdup_printf ("DATE-OBS= '%s'", fi->info.date_obs);
      const char *cards[] = { "IMAGETYP= 'Light Frame'", "EXPTIME = 30.0", "BAYERPAT= 'RGGB'", c1, NULL };
      g_autofree char *out = g_build_filename (ldir, fi->name, NULL);
      tsr_test_write_fits (out, -32, W, H, 1, img->data, cards);
    }

  double ratio[2][3];
  TsrImage *truth = NULL;
  for (int calibrated = -1; calibrated < 2; calibrated++)
    {
      static const char *const names[] = { "truth.fits", "raw.fits", "calibrated.fits" };
      g_autofree char *result = g_build_filename (f->root, names[calibrated + 1], NULL);
      const char *args[] = { "process", "--deep-sky", calibrated < 0 ? sdir : ldir, "-o", result, "--set",
                             "register.reference=0", "--bias", f->bias, "--darks", f->darks, "--flats", f->flats,
                             "--dark-flats", f->dflats, NULL };
      if (calibrated <= 0)
        args[7] = NULL;
      g_autofree char *so = NULL, *se = NULL;
      int rc = tsr_test_run_cli (args, &so, &se);
      g_test_message ("%s%s", so, se);
      g_assert_cmpint (rc, ==, 0);
      if (calibrated > 0)
        g_assert_nonnull (strstr (se, "same-colour neighbours: 30 hot, 5 cold"));
      g_autoptr (TsrImage) r = tsr_fits_read (result, &e);
      g_assert_no_error (e);
      g_assert_cmpint (r->channels, ==, 3);
      /* the result says it was calibrated, and with what */
      gboolean said = FALSE;
      for (guint k = 0; k < tsr_header_n_cards (r->header); k++)
        said |= g_str_has_prefix (tsr_header_card (r->header, k), "HISTORY Tessera calibration: bias=");
      g_assert_true (said == (calibrated > 0));
      if (calibrated < 0)
        {
          truth = g_steal_pointer (&r);
          continue;
        }
      for (int c = 0; c < 3; c++)
        {
          double corner = box_ratio (r, truth, c, 6, r->height - 30, 24);
          double centre = box_ratio (r, truth, c, r->width / 2 - 12, r->height / 2 - 12, 24);
          ratio[calibrated][c] = corner / centre;
          g_test_message ("%s: channel %d sky corner/centre %.4f", calibrated ? "calibrated" : "raw", c,
                          ratio[calibrated][c]);
        }
    }
  tsr_image_unref (truth);
  tsr_test_rmtree (sdir);
  for (int c = 0; c < 3; c++)
    {
      g_assert_cmpfloat (ratio[0][c], <, 0.9);
      g_assert_cmpfloat (fabs (ratio[1][c] - 1), <, 0.01);
    }
}

/* The masters a calibrated session holds come out of deconv's and restore's memory budgets
 * too (as out of process's): a session whose filter holds more than the budget is refused up
 * front with TSR_ERROR_TOO_LARGE; the same session without it is not refused for memory. */
static gboolean
held_filter (guint index, const TsrFrameInfo *frame, TsrImage *img, int y0, gpointer data, GError **error)
{
  return TRUE;
}

static void
test_held_memory (void)
{
  Fixture *f = fixture ();
  g_autoptr (TsrSession) s = scan (f->lights);
  TsrDeconvParams dp;
  TsrRestoreParams rp;
  TsrTbqrParams tp;
  TsrRunParams run;
  tsr_deconv_params_init (&dp);
  tsr_restore_params_init (&rp);
  tsr_tbqr_params_init (&tp);
  tsr_run_params_init (&run);
  g_autoptr (GCancellable) cancel = g_cancellable_new ();
  g_cancellable_cancel (cancel); /* the jobs stop at their first cancellation check */
  for (int held = 0; held < 2; held++)
    {
      /* a filter holding more than any budget (1 TiB), or none */
      if (held)
        tsr_session_set_filter (s, held_filter, NULL, NULL, 0, (gsize) 1 << 40, NULL);
      GError *e = NULL;
      TsrDeconvResult *d = tsr_deconv_run (s, &dp, &tp, &run, NULL, NULL, NULL, NULL, NULL, cancel, &e);
      g_test_message ("deconv, %s: %s", held ? "1 TiB held" : "nothing held", e ? e->message : "ran");
      if (held)
        g_assert_error (e, TSR_ERROR, TSR_ERROR_TOO_LARGE);
      else
        g_assert_false (e && e->domain == TSR_ERROR && e->code == TSR_ERROR_TOO_LARGE);
      g_clear_pointer (&d, tsr_deconv_result_free);
      g_clear_error (&e);
      TsrRestoreResult *r = tsr_restore_run (s, &rp, &tp, &run, NULL, NULL, cancel, &e);
      g_test_message ("restore, %s: %s", held ? "1 TiB held" : "nothing held", e ? e->message : "ran");
      if (held)
        g_assert_error (e, TSR_ERROR, TSR_ERROR_TOO_LARGE);
      else
        g_assert_false (e && e->domain == TSR_ERROR && e->code == TSR_ERROR_TOO_LARGE);
      g_clear_pointer (&r, tsr_restore_result_free);
      g_clear_error (&e);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/calib/full", test_full_calibration);
  g_test_add_func ("/calib/dark-scaling", test_dark_scaling);
  g_test_add_func ("/calib/dark-optimize", test_dark_optimize);
  g_test_add_func ("/calib/flat-offsets", test_flat_offsets);
  g_test_add_func ("/calib/masters-cli", test_masters_cli);
  g_test_add_func ("/calib/mismatches", test_mismatches);
  g_test_add_func ("/calib/process-cli", test_process_cli);
  g_test_add_func ("/calib/held-memory", test_held_memory);
  int rc = g_test_run ();
  if (the_fixture && !g_getenv ("CALIB_KEEP"))
    fixture_free (the_fixture);
  return rc;
}
