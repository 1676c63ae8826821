/* test-data.c — the real frames in ../shared/data, checked as a user would. Skips with a
 * message when the folder is absent. */
#include "tsr-test-util.h"
#include "tsr-register.h"
#include "tsr-stats.h"

#include <math.h>
#include <string.h>

static TsrSession *
scan_or_skip (const char *sub, gboolean recursive)
{
  g_autofree char *dir = tsr_test_shared_data (sub);
  if (!dir)
    {
      g_autofree char *msg = g_strdup_printf ("../shared/data/%s is absent: skipped", sub);
      g_test_skip (msg);
      return NULL;
    }
  const char *paths[] = { dir, NULL };
  TsrScanOptions o = { .recursive = recursive };
  GError *e = NULL;
  TsrSession *s = tsr_session_scan (paths, &o, NULL, &e);
  g_assert_no_error (e);
  return s;
}

static void
assert_chronological (TsrSession *s)
{
  for (guint i = 1; i < tsr_session_n_frames (s); i++)
    g_assert_cmpfloat (tsr_session_frame (s, i - 1)->info.jd, <=, tsr_session_frame (s, i)->info.jd);
}

static void
test_m94 (void)
{
  g_autoptr (TsrSession) s = scan_or_skip ("seestar-m94-s3", FALSE);
  if (!s)
    return;
  g_assert_cmpuint (tsr_session_n_frames (s), ==, 11);
  g_assert_cmpint (s->width, ==, 1080);
  g_assert_cmpint (s->height, ==, 1920);
  g_assert_cmpint (s->cfa, ==, TSR_CFA_GRBG);
  assert_chronological (s);
  for (guint i = 0; i < 11; i++)
    {
      TsrFrameInfo *f = tsr_session_frame (s, i);
      g_assert_cmpfloat (f->info.exposure, ==, 10.0);
      g_assert_cmpint (f->info.bitpix, ==, 16);
      g_assert_true (f->info.jd > 2460000);
    }
  /* file names carry the capture time: the order by DATE-OBS matches them here */
  for (guint i = 1; i < 11; i++)
    g_assert_cmpint (strcmp (tsr_session_frame (s, i - 1)->name, tsr_session_frame (s, i)->name), <, 0);

  /* Bayer phase against the image: the two green sites of GRBG, (0,0) and (1,1), agree with
   * each other far better than with the red (1,0) or blue (0,1) sites. */
  GError *e = NULL;
  g_autoptr (TsrImage) img = tsr_fits_read (tsr_session_frame (s, 5)->path, &e);
  g_assert_no_error (e);
  double site[4] = { 0 };
  gsize cnt[4] = { 0 };
  for (int y = 0; y < img->height; y++)
    for (int x = 0; x < img->width; x++)
      {
        int k = (y & 1) * 2 + (x & 1);
        site[k] += img->data[(gsize) y * img->width + x];
        cnt[k]++;
      }
  for (int k = 0; k < 4; k++)
    site[k] /= cnt[k];
  g_test_message ("site means: (0,0)=%.1f (1,0)=%.1f (0,1)=%.1f (1,1)=%.1f", site[0], site[1], site[2], site[3]);
  double gg = fabs (site[0] - site[3]);
  g_assert_cmpfloat (gg, <, fabs (site[0] - site[1]));
  g_assert_cmpfloat (gg, <, fabs (site[0] - site[2]));
}

static void
test_ngc7023 (void)
{
  g_autoptr (TsrSession) s = scan_or_skip ("seestar-ngc7023", TRUE);
  if (!s)
    return;
  g_assert_cmpuint (tsr_session_n_frames (s), ==, 6);
  g_assert_cmpint (s->width, ==, 1080);
  g_assert_cmpint (s->height, ==, 1920);
  g_assert_cmpint (s->cfa, ==, TSR_CFA_GRBG);
  assert_chronological (s);
  int n10 = 0, n20 = 0;
  for (guint i = 0; i < 6; i++)
    {
      double e = tsr_session_frame (s, i)->info.exposure;
      n10 += e == 10.0;
      n20 += e == 20.0;
    }
  g_assert_cmpint (n10, ==, 4);
  g_assert_cmpint (n20, ==, 2);
  /* the two nights are in order: the 10 s night (2024) first */
  g_assert_cmpfloat (tsr_session_frame (s, 0)->info.exposure, ==, 10.0);
  g_assert_cmpfloat (tsr_session_frame (s, 5)->info.exposure, ==, 20.0);
}


/* Noise of a band of the result on either side of a footprint edge: 1.4826·MAD of a
 * high-pass (pixel minus the mean of its neighbours 2 px away, on R + G + B) over the
 * pixels whose signed distance d to the edge lies in (lo, hi). */
static double
band_noise (const TsrImage *r, const float *d, double lo, double hi)
{
  int W = r->width, H = r->height;
  gsize n = (gsize) W * H;
  GArray *v = g_array_new (FALSE, FALSE, sizeof (float));
  for (int y = 32; y < H - 32; y++)
    for (int x = 32; x < W - 32; x++)
      {
        gsize k = (gsize) y * W + x;
        if (!(d[k] > lo && d[k] < hi) || !r->mask[k] || !r->mask[k - 2] || !r->mask[k + 2] || !r->mask[k - 2 * W]
            || !r->mask[k + 2 * W])
          continue;
        float h = 0;
        for (int c = 0; c < r->channels; c++)
          {
            const float *p = r->data + c * n;
            h += p[k] - 0.25f * (p[k - 2] + p[k + 2] + p[k - 2 * W] + p[k + 2 * W]);
          }
        g_array_append_val (v, h);
      }
  g_assert_cmpuint (v->len, >, 1000);
  float med = tsr_median_inplace ((float *) v->data, v->len);
  for (guint i = 0; i < v->len; i++)
    g_array_index (v, float, i) = fabsf (g_array_index (v, float, i) - med);
  double mad = tsr_median_inplace ((float *) v->data, v->len);
  g_array_unref (v);
  return 1.4826 * mad;
}

/* Issue #17: on NGC 7023 the two 20 s frames (another night, another pointing, the best
 * frames of the set) end on a diagonal inside the field. With hard footprints the noise was
 * twice as high on one side of that edge; with the per-frame weights feathered to zero over
 * local.feather tile sides the noise ratio across the edge (±20 px bands) is ≤ 1.1. */
static void
test_ngc7023_footprint_edge (void)
{
  g_autoptr (TsrSession) s = scan_or_skip ("seestar-ngc7023", TRUE);
  if (!s)
    return;
  TsrProject prm;
  tsr_project_init (&prm);
  GError *e = NULL;
  g_autoptr (TsrAnalysis) a = tsr_tbqr_analyse (s, &prm.tbqr, &prm.run, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_autoptr (TsrWeights) w = tsr_tbqr_weigh (a, &prm.tbqr, &e);
  g_assert_no_error (e);
  int W = a->width, H = a->height;
  /* signed distance (px, positive inside) to the edge of the 20 s frames' joint footprint */
  float *d = g_new (float, (gsize) W * H);
  guint n20 = 0;
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      {
        double best = -G_MAXDOUBLE;
        for (guint f = 0; f < a->reg->n_frames; f++)
          {
            if (tsr_session_frame (s, f)->info.exposure != 20.0 || !w->used[f])
              continue;
            double sx, sy;
            tsr_transform_apply (&a->reg->frames[f].transform, x, y, &sx, &sy);
            best = MAX (best, MIN (MIN (sx, sy), MIN (W - 1 - sx, H - 1 - sy)));
          }
        d[(gsize) y * W + x] = best;
      }
  for (guint f = 0; f < a->reg->n_frames; f++)
    n20 += tsr_session_frame (s, f)->info.exposure == 20.0 && w->used[f];
  g_assert_cmpuint (n20, ==, 2);
  /* hard footprints, then the ramp at 1, 2 (default) and 3 tile sides */
  const double feathers[] = { 0.0, 1.0, prm.tbqr.local_feather, 3.0 };
  double ratio[G_N_ELEMENTS (feathers)];
  for (guint i = 0; i < G_N_ELEMENTS (feathers); i++)
    {
      TsrProject pm = prm;
      pm.tbqr.local_feather = feathers[i];
      TsrReconstruction *r = tsr_tbqr_accumulate (a, w, &pm.tbqr, &pm.run, NULL, NULL, NULL, &e);
      g_assert_no_error (e);
      double in = band_noise (r->result, d, 0, 20), out = band_noise (r->result, d, -20, 0);
      ratio[i] = MAX (in, out) / MIN (in, out);
      g_test_message ("local.feather=%g: noise inside the 20 s footprint %.4g, outside %.4g: ratio %.3f; FWHM %.3f → "
                      "%.3f, noise ratio vs mean %.3f",
                      pm.tbqr.local_feather, in, out, ratio[i], r->validation.fwhm_mean, r->validation.fwhm_result,
                      r->validation.noise_ratio);
      if (i == 2)
        {
          /* the defaults pass validation: the FWHM grows (the 20 s frames' wider stars carry
           * the most weight, 1.773 → 1.851 px), which the point-source SNR pays for (40.8 →
           * 49.0); the former rule failed this result. Star flux per channel within 1 % of
           * the mean stack (validate.flux_tol). */
          const TsrValidation *v = &r->validation;
          g_test_message ("defaults: point-source SNR %.1f (mean stack %.1f), flux per channel R %.4f G %.4f B %.4f: %s",
                          v->snr_result, v->snr_mean, v->flux_ratio_channel[0], v->flux_ratio_channel[1],
                          v->flux_ratio_channel[2], v->pass ? "PASS" : "FAIL");
          g_assert_cmpfloat (v->snr_ratio, >, 1.0);
          for (int c = 0; c < 3; c++)
            g_assert_cmpfloat (fabs (v->flux_ratio_channel[c] - 1.0), <=, pm.tbqr.val_flux_tol);
          g_assert_true (v->pass);
        }
      tsr_reconstruction_free (r);
    }
  g_free (d);
  g_assert_cmpfloat (ratio[2], <=, 1.1);
  g_assert_cmpfloat (ratio[2], <, ratio[0]);
}

static void
test_lunar (void)
{
  g_autoptr (TsrSession) s = scan_or_skip ("lunar-frames", FALSE);
  if (!s)
    return;
  g_assert_cmpuint (tsr_session_n_frames (s), ==, 24);
  g_assert_cmpint (s->width, ==, 1280);
  g_assert_cmpint (s->height, ==, 960);
  g_assert_cmpint (s->cfa, ==, TSR_CFA_NONE);
  g_assert_cmpint (tsr_session_frame (s, 0)->info.bitpix, ==, 8);
  g_assert_cmpstr (tsr_session_frame (s, 0)->name, ==, "moon_001.fits");
  g_assert_cmpstr (tsr_session_frame (s, 23)->name, ==, "moon_024.fits");
}

static void
test_cli_on_real_frames (void)
{
  g_autofree char *dir = tsr_test_shared_data ("seestar-m94-s3");
  if (!dir)
    {
      g_test_skip ("../shared/data/seestar-m94-s3 is absent: skipped");
      return;
    }
  g_setenv ("TSR_NO_PROGRESS", "1", TRUE);
  const char *a[] = { "info", dir, NULL };
  g_autofree char *out = NULL;
  g_assert_cmpint (tsr_test_run_cli (a, &out, NULL), ==, 0);
  g_assert_nonnull (strstr (out, "11 frames, 1080×1920, GRBG"));
  g_assert_nonnull (strstr (out, "Light_M 94_10.0s_IRCUT_20250409-225435.fit"));
  g_assert_true (strstr (out, "225435") < strstr (out, "225729"));

  /* a truncated copy of one frame: one line, non-zero exit, named */
  g_autofree char *tmp = tsr_test_tmpdir ("data");
  g_autofree char *src = g_build_filename (dir, "Light_M 94_10.0s_IRCUT_20250409-225516.fit", NULL);
  gsize len = 0;
  g_autofree char *bytes = tsr_test_read_file (src, &len);
  g_autofree char *cut = g_build_filename (tmp, "Light_M 94 cut.fit", NULL);
  tsr_test_write_file (cut, bytes, len / 2);
  const char *b[] = { "info", cut, NULL };
  g_autofree char *err = NULL;
  int rc = tsr_test_run_cli (b, NULL, &err);
  g_assert_cmpint (rc, !=, 0);
  g_assert_cmpint (rc, <, 128);
  g_assert_nonnull (strstr (err, "Light_M 94 cut.fit"));
  g_assert_nonnull (strstr (err, "truncated"));
  g_assert_nonnull (strchr (err, '\n'));
  g_assert_null (strchr (err, '\n') + 1 < err + strlen (err) ? strchr (strchr (err, '\n') + 1, '\n') : NULL);
  tsr_test_rmtree (tmp);
}


static void
test_register_m94 (void)
{
  g_autoptr (TsrSession) s = scan_or_skip ("seestar-m94-s3", FALSE);
  if (!s)
    return;
  GError *e = NULL;
  g_autoptr (TsrRegistration) r = tsr_register_session (s, NULL, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  for (guint i = 0; i < r->n_frames; i++)
    {
      const TsrFrameReg *fr = &r->frames[i];
      g_test_message ("m94 frame %u: %s stars %u matched %u rms %.3f px cc %.3f fwhm %.2f rot %.3f°",
                      i, fr->method, fr->n_stars, fr->n_matched, fr->rms_px, fr->cc, fr->fwhm,
                      tsr_transform_rotation (&fr->transform) * 180 / G_PI);
      g_assert_cmpuint (fr->gate, ==, 0);
      g_assert_cmpfloat (fr->rms_px, <=, 0.3);
      if (i != r->reference)
        g_assert_cmpstr (fr->method, ==, "stars");
    }
}

static void
test_register_lunar (void)
{
  g_autofree char *dir = tsr_test_shared_data ("lunar-frames");
  if (!dir)
    {
      g_test_skip ("../shared/data/lunar-frames is absent: skipped");
      return;
    }
  /* three frames A, B, C: A→C must equal B→C ∘ A→B */
  g_autofree char *a = g_build_filename (dir, "moon_001.fits", NULL);
  g_autofree char *b = g_build_filename (dir, "moon_008.fits", NULL);
  g_autofree char *c = g_build_filename (dir, "moon_016.fits", NULL);
  GError *e = NULL;
  const char *abc[] = { a, b, c, NULL };
  g_autoptr (TsrSession) s = tsr_session_scan (abc, NULL, NULL, &e);
  g_assert_no_error (e);
  TsrRegisterParams p;
  tsr_register_params_init (&p);
  p.reference = 0;
  g_autoptr (TsrRegistration) ra = tsr_register_session (s, &p, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  p.reference = 1;
  g_autoptr (TsrRegistration) rb = tsr_register_session (s, &p, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  for (guint i = 0; i < 3; i++)
    {
      g_test_message ("lunar ref A frame %u: %s cc %.3f peak %.3f shift (%.2f, %.2f)", i, ra->frames[i].method,
                      ra->frames[i].cc, ra->frames[i].phase_peak, ra->frames[i].transform.m[2],
                      ra->frames[i].transform.m[5]);
      g_assert_cmpuint (ra->frames[i].gate, ==, 0);
      g_assert_cmpuint (rb->frames[i].gate, ==, 0);
    }
  g_assert_cmpstr (ra->frames[1].method, ==, "phase");
  g_assert_cmpstr (ra->frames[2].method, ==, "phase");
  TsrTransform composed;
  tsr_transform_compose (&rb->frames[2].transform, &ra->frames[1].transform, &composed);
  double err = tsr_transform_corner_rms (&composed, &ra->frames[2].transform, s->width, s->height);
  g_test_message ("lunar A→B→C vs A→C: %.3f px RMS at the corners", err);
  g_assert_cmpfloat (err, <=, 0.2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/data/seestar-m94", test_m94);
  g_test_add_func ("/data/seestar-ngc7023", test_ngc7023);
  g_test_add_func ("/data/ngc7023-footprint-edge", test_ngc7023_footprint_edge);
  g_test_add_func ("/data/lunar", test_lunar);
  g_test_add_func ("/data/cli-real-frames", test_cli_on_real_frames);
  g_test_add_func ("/data/register-m94", test_register_m94);
  g_test_add_func ("/data/register-lunar", test_register_lunar);
  return g_test_run ();
}
