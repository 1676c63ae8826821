/* test-planetary-data.c — issue #16 on the real captures in ../shared/data (suite "data";
 * each test skips with a message when its folder is absent). */
#include <math.h>
#include <string.h>
#include "tsr-test-util.h"

static char *
data_or_skip (const char *sub)
{
  char *d = tsr_test_shared_data (sub);
  if (!d)
    {
      g_autofree char *msg = g_strdup_printf ("../shared/data/%s is absent: skipped", sub);
      g_test_skip (msg);
    }
  return d;
}

/* Jupiter (PNG, drifting ~35 px): re-registering the globally aligned frames to their mean
 * (the job's estimator, Lucas–Kanade on the blurred luminance) leaves < 0.1 px RMS; two
 * independent measures on frames warped here by tsr_warp (disc centroid, whitened phase
 * correlation) are reported and must stay well below a pixel; the local stack is sharper than
 * the mean. */
static void
test_jupiter (void)
{
  g_autofree char *dir = data_or_skip ("jupiter-frames");
  if (!dir)
    return;
  const char *paths[] = { dir, NULL };
  g_autoptr (GError) e = NULL;
  g_autoptr (TsrFrameSource) src = tsr_frame_source_open (paths, NULL, &e);
  g_assert_no_error (e);
  TsrStarlessInfo info;
  g_assert_true (tsr_starless_detect_paths (paths, &info, &e));
  g_assert_true (info.starless);
  g_assert_false (info.surface);
  TsrPlanetaryParams p;
  tsr_planetary_params_init (&p);
  g_autoptr (TsrPlanetaryResult) r = tsr_planetary_run (src, &p, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_true (r->disc);
  /* the drift is found */
  double lo = 1e9, hi = -1e9;
  for (guint f = 0; f < r->n_frames; f++)
    {
      lo = MIN (lo, r->shift_x[f]);
      hi = MAX (hi, r->shift_x[f]);
    }
  g_assert_cmpfloat (hi - lo, >, 20);
  int w = r->width, h = r->height;
  gsize np = (gsize) w * h;
  float *ref = g_new (float, np);
  for (gsize i = 0; i < np; i++)
    ref[i] = (tsr_image_plane (r->mean, 0)[i] + tsr_image_plane (r->mean, 1)[i] + tsr_image_plane (r->mean, 2)[i]) / 3;
  double *rx = g_new (double, r->n_frames), *ry = g_new (double, r->n_frames), mx = 0, my = 0;
  double *px = g_new (double, r->n_frames), *py = g_new (double, r->n_frames), pmx = 0, pmy = 0;
  float thr;
  {
    float *t = g_memdup2 (ref, np * sizeof (float));
    float med = tsr_median_inplace (t, np);
    memcpy (t, ref, np * sizeof (float));
    float top = 0;
    for (gsize i = 0; i < np; i++)
      top = MAX (top, t[i]);
    thr = med + 0.3f * (top - med);
    g_free (t);
  }
  float *lum = g_new (float, np);
  for (guint f = 0; f < r->n_frames; f++)
    {
      g_autoptr (TsrImage) img = tsr_frame_source_read (src, f, &e);
      g_assert_no_error (e);
      TsrTransform t;
      tsr_transform_identity (&t);
      t.m[2] = r->shift_x[f];
      t.m[5] = r->shift_y[f];
      g_autoptr (TsrImage) al = tsr_warp (img, &t, w, h, TSR_CFA_NONE, TSR_INTERP_BICUBIC);
      for (gsize i = 0; i < np; i++)
        lum[i] = al->mask[i] ? (tsr_image_plane (al, 0)[i] + tsr_image_plane (al, 1)[i] + tsr_image_plane (al, 2)[i]) / 3
                             : ref[i];
      double peak;
      g_assert_true (tsr_phase_correlate (ref, lum, w, h, &px[f], &py[f], &peak));
      /* the disc's intensity centroid (above 30 % of the disc level) */
      double sx = 0, sy = 0, sw = 0;
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
          {
            double v = lum[(gsize) y * w + x] - thr;
            if (v > 0)
              {
                sx += v * x;
                sy += v * y;
                sw += v;
              }
          }
      rx[f] = sx / sw;
      ry[f] = sy / sw;
      pmx += px[f] / r->n_frames;
      pmy += py[f] / r->n_frames;
      mx += rx[f] / r->n_frames;
      my += ry[f] / r->n_frames;
    }
  double s = 0;
  for (guint f = 0; f < r->n_frames; f++)
    s += (rx[f] - mx) * (rx[f] - mx) + (ry[f] - my) * (ry[f] - my);
  double jitter = sqrt (s / r->n_frames);
  double sp = 0;
  for (guint f = 0; f < r->n_frames; f++)
    sp += (px[f] - pmx) * (px[f] - pmx) + (py[f] - pmy) * (py[f] - pmy);
  g_free (px);
  g_free (py);
  double s_stack = tsr_planetary_sharpness (r->result, 0, 0, 0, 0, NULL);
  double s_mean = tsr_planetary_sharpness (r->mean, 0, 0, 0, 0, NULL);
  /* phase correlation whitens the spectrum: it follows the belts and the noise as much as the
   * limb, and seeing moves those against each other (local shifts ~1.4 px RMS); reported, not
   * asserted (docs/planetary.md) */
  g_test_message ("jupiter: drift %.1f px, residual jitter: disc centroid %.4f px RMS, job (Lucas–Kanade) %.4f px, "
                  "whitened phase correlation %.3f px; sharpness stack %.1f, mean %.1f",
                  hi - lo, jitter, r->residual_rms, sqrt (sp / r->n_frames), s_stack, s_mean);
  g_assert_cmpfloat (r->residual_rms, <, 0.1);
  /* the independent measures disagree with each other at the level seeing sets; they must
   * still show the 35 px drift removed to well below a pixel */
  g_assert_cmpfloat (jitter, <, 0.5);
  g_assert_cmpfloat (sqrt (sp / r->n_frames), <, 1.0);
  g_assert_cmpfloat (s_stack, >, s_mean);
  g_free (rx);
  g_free (ry);
  g_free (ref);
  g_free (lum);
}

/* Moon (FITS, starless surface): recognised as starless; the local stack is sharper than the
 * mean of the globally aligned frames; after the documented light wavelet pass (gains
 * 1,1.5,1.2, thresholds 2,0.5 σ) it is sharper than the best single frame at no more noise
 * than the mean. */
static void
test_lunar (void)
{
  g_autofree char *dir = data_or_skip ("lunar-frames");
  if (!dir)
    return;
  const char *paths[] = { dir, NULL };
  g_autoptr (GError) e = NULL;
  TsrStarlessInfo info;
  g_assert_true (tsr_starless_detect_paths (paths, &info, &e));
  g_assert_true (info.starless);
  g_assert_true (info.surface);
  g_autoptr (TsrFrameSource) src = tsr_frame_source_open (paths, NULL, &e);
  g_assert_no_error (e);
  TsrPlanetaryParams p;
  tsr_planetary_params_init (&p);
  g_autoptr (TsrPlanetaryResult) r = tsr_planetary_run (src, &p, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_false (r->disc);
  TsrWaveletParams wp;
  tsr_wavelet_params_init (&wp);
  g_assert_true (tsr_wavelet_params_set (&wp, "wavelets.gains", "1,1.5,1.2", &e));
  g_assert_true (tsr_wavelet_params_set (&wp, "wavelets.thresholds", "2,0.5", &e));
  g_autoptr (TsrImage) sharp = tsr_wavelets_apply (r->result, &wp, NULL, &e);
  g_assert_no_error (e);
  double n_stack, n_mean, n_best, n_sharp;
  double s_stack = tsr_planetary_sharpness (r->result, 0, 0, 0, 0, &n_stack);
  double s_mean = tsr_planetary_sharpness (r->mean, 0, 0, 0, 0, &n_mean);
  double s_best = tsr_planetary_sharpness (r->best_frame, 0, 0, 0, 0, &n_best);
  double s_sharp = tsr_planetary_sharpness (sharp, 0, 0, 0, 0, &n_sharp);
  g_test_message ("lunar: sharpness stack %.3f (σ %.3f), + wavelets %.3f (σ %.3f), mean %.3f (σ %.3f), best frame "
                  "%.3f (σ %.3f); local shifts %.2f px RMS",
                  s_stack, n_stack, s_sharp, n_sharp, s_mean, n_mean, s_best, n_best, r->local_shift_rms);
  g_assert_cmpfloat (s_stack, >, s_mean);
  g_assert_cmpfloat (s_sharp, >, s_best);
  g_assert_cmpfloat (s_sharp, >, s_mean);
  g_assert_cmpfloat (n_sharp, <=, n_mean);
}

/* The deep-sky sets stay on the deep-sky path. */
static void
test_deep_sky_not_starless (void)
{
  g_autofree char *dir = data_or_skip ("seestar-m94-s3");
  if (!dir)
    return;
  const char *paths[] = { dir, NULL };
  g_autoptr (GError) e = NULL;
  TsrStarlessInfo info;
  g_assert_true (tsr_starless_detect_paths (paths, &info, &e));
  g_test_message ("m94: extended %.4f, compact %u", info.extended_fraction, info.n_compact);
  g_assert_false (info.starless);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/planetary-data/jupiter", test_jupiter);
  g_test_add_func ("/planetary-data/lunar", test_lunar);
  g_test_add_func ("/planetary-data/deep-sky-not-starless", test_deep_sky_not_starless);
  return g_test_run ();
}
