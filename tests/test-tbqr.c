/* test-tbqr.c — Tile-Based Quality Reconstruction on a generated session with truth. */
#include "tsr-test-util.h"

#include <math.h>
#include <string.h>

static char *dir;
static TsrSynthTruth *truth;
static TsrSession *session;
static TsrAnalysis *analysis;
static TsrWeights *weights;
static TsrReconstruction *recon;
static TsrParams params;

static void
setup_once (void)
{
  if (recon)
    return;
  TsrSynthParams p;
  tsr_synth_params_init (&p);
  p.n_frames = 40;
  p.width = 640;
  p.height = 480;
  p.seed = 77;
  p.n_stars = 1500;
  p.fwhm_min = 2.0;
  p.fwhm_max = 4.5;
  p.n_bursts = 3;
  p.shift_max = 20;
  p.rotation_max_deg = 1.0;
  p.n_mirrored = 1;
  p.n_noise = 1;
  p.n_trails = 3;
  dir = tsr_test_tmpdir ("tbqr");
  GError *e = NULL;
  truth = tsr_synth_write_session (&p, dir, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  const char *paths[] = { dir, NULL };
  session = tsr_session_scan (paths, NULL, NULL, &e);
  g_assert_no_error (e);
  tsr_params_init (&params);
  analysis = tsr_tbqr_analyse (session, &params, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  weights = tsr_tbqr_weigh (analysis, &params, &e);
  g_assert_no_error (e);
  recon = tsr_tbqr_accumulate (analysis, weights, &params, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  const TsrValidation *v = &recon->validation;
  g_test_message ("TBQR vs mean stack: %u stars, FWHM %.3f → %.3f (ratio %.3f), noise ratio %.3f, flux ratio %.4f, seam %.3f",
                  v->n_matched, v->fwhm_mean, v->fwhm_result, v->fwhm_ratio, v->noise_ratio, v->flux_ratio, v->seam);
}

static void
test_validation (void)
{
  setup_once ();
  const TsrValidation *v = &recon->validation;
  g_assert_cmpuint (v->n_matched, >=, 20);
  /* photometry preserved against the plain mean stack of the same frames */
  g_assert_cmpfloat (fabs (v->flux_ratio - 1.0), <=, 0.01);
  /* sharper than the mean stack, at a bounded noise cost */
  g_assert_cmpfloat (v->fwhm_ratio, <, 0.97);
  g_assert_cmpfloat (v->noise_ratio, <, 1.35);
  /* smooth weights: no seams at the tile edges */
  g_assert_cmpfloat (v->seam, <, 1.1);
  g_assert_cmpint (recon->result->width, ==, 640);
  g_assert_cmpint (recon->result->channels, ==, 1);
}

static void
test_invalid_frames_unused (void)
{
  setup_once ();
  for (guint f = 0; f < truth->frames->len; f++)
    {
      const TsrSynthFrame *sf = &g_array_index (truth->frames, TsrSynthFrame, f);
      if (sf->kind != TSR_SYNTH_VALID)
        g_assert_false (weights->used[f]);
      else
        g_assert_true (weights->used[f]); /* no quality-based frame removal */
    }
}

/* Trails: the result along each trail equals the result beside it (within the noise). */
static void
test_no_trail_residue (void)
{
  setup_once ();
  const TsrImage *img = recon->result;
  float noise = tsr_plane_noise (img->data, img->mask, img->width, img->height, 1);
  TsrTransform Mref, Mref_inv;
  tsr_transform_identity (&Mref);
  memcpy (Mref.m, g_array_index (truth->frames, TsrSynthFrame, analysis->reg->reference).matrix, 6 * sizeof (double));
  tsr_transform_invert (&Mref, &Mref_inv);
  guint checked = 0;
  for (guint f = 0; f < truth->frames->len; f++)
    {
      const TsrSynthFrame *sf = &g_array_index (truth->frames, TsrSynthFrame, f);
      if (!sf->has_trail || !weights->used[f])
        continue;
      TsrTransform Mf, Mf_inv, to_ref;
      tsr_transform_identity (&Mf);
      memcpy (Mf.m, sf->matrix, 6 * sizeof (double));
      tsr_transform_invert (&Mf, &Mf_inv);
      tsr_transform_compose (&Mref, &Mf_inv, &to_ref);
      double x0, y0, x1, y1;
      tsr_transform_apply (&to_ref, sf->trail[0], sf->trail[1], &x0, &y0);
      tsr_transform_apply (&to_ref, sf->trail[2], sf->trail[3], &x1, &y1);
      double len = hypot (x1 - x0, y1 - y0), nx = -(y1 - y0) / len, ny = (x1 - x0) / len;
      GArray *on = g_array_new (FALSE, FALSE, sizeof (float)), *off = g_array_new (FALSE, FALSE, sizeof (float));
      for (double t = 0; t <= len; t += 1.0)
        for (int side = -1; side <= 1; side++)
          {
            double x = x0 + (x1 - x0) * t / len + side * 8 * nx, y = y0 + (y1 - y0) * t / len + side * 8 * ny;
            int ix = (int) lround (x), iy = (int) lround (y);
            if (ix < 0 || iy < 0 || ix >= img->width || iy >= img->height || !img->mask[iy * img->width + ix])
              continue;
            float v = img->data[iy * img->width + ix];
            g_array_append_val (side == 0 ? on : off, v);
          }
      if (on->len > 50)
        {
          float mon = tsr_median_inplace ((float *) on->data, on->len);
          float moff = tsr_median_inplace ((float *) off->data, off->len);
          g_test_message ("trail of frame %u: median on %.2f, beside %.2f, pixel noise %.2f", f, mon, moff, noise);
          g_assert_cmpfloat (mon - moff, <, 3.0 * noise / sqrt (on->len) * 3 + 0.5 * noise);
          checked++;
        }
      g_array_unref (on);
      g_array_unref (off);
    }
  g_assert_cmpuint (checked, >=, 1);
}

static void
test_weights (void)
{
  setup_once ();
  /* W = G·L, N_eff in (1, n_used], missing star measurements neutral (not zero) */
  for (guint t = 0; t < weights->n_tiles; t++)
    {
      g_assert_cmpfloat (weights->n_eff[t], >, 1.0);
      g_assert_cmpfloat (weights->n_eff[t], <=, weights->n_used + 1e-3);
    }
  for (guint f = 0; f < weights->n_frames; f++)
    if (weights->used[f])
      for (guint t = 0; t < weights->n_tiles; t += 7)
        {
          gsize k = (gsize) f * weights->n_tiles + t;
          g_assert_cmpfloat (fabs (weights->w[k] - weights->g[f] * weights->l[k]), <=, 1e-4 * weights->w[k] + 1e-9);
          g_assert_cmpfloat (weights->l[k], >, 0);
        }
  /* re-weighing is pure: same parameters, same weights; other parameters, other weights */
  GError *e = NULL;
  g_autoptr (TsrWeights) again = tsr_tbqr_weigh (analysis, &params, &e);
  g_assert_no_error (e);
  g_assert_cmpmem (again->w, sizeof (float) * weights->n_frames * weights->n_tiles, weights->w,
                   sizeof (float) * weights->n_frames * weights->n_tiles);
  TsrParams p2 = params;
  p2.alpha = 0.8, p2.beta = 0.1, p2.gamma = 0.1;
  g_autoptr (TsrWeights) other = tsr_tbqr_weigh (analysis, &p2, &e);
  g_assert_no_error (e);
  g_assert_true (memcmp (other->g, weights->g, sizeof (double) * weights->n_frames) != 0);
  /* clusters on request */
  p2 = params;
  p2.clusters = TSR_CLUSTER_ON;
  g_autoptr (TsrWeights) cl = tsr_tbqr_weigh (analysis, &p2, &e);
  g_assert_no_error (e);
  g_assert_cmpint (cl->n_clusters, ==, 5); /* clip(38/10, 5, 30) */
  for (guint f = 0; f < cl->n_frames; f++)
    g_assert_true ((cl->cluster[f] >= 0) == cl->used[f]);
  /* a gate nothing passes leaves only the reference (it defines the geometry) */
  p2 = params;
  p2.reg.reject_cc_min_abs = 1.0;
  p2.reg.reject_cc_margin_min = 0;
  g_autoptr (TsrWeights) ref_only = tsr_tbqr_weigh (analysis, &p2, &e);
  g_assert_no_error (e);
  g_assert_cmpuint (ref_only->n_used, ==, 1);
  g_assert_true (ref_only->used[analysis->reg->reference]);
  /* restore the gate for the other tests */
  g_autoptr (TsrWeights) restore = tsr_tbqr_weigh (analysis, &params, &e);
  g_assert_no_error (e);
}

static void
test_robust_z_missing (void)
{
  double v[5] = { 1, 2, NAN, 4, 5 }, z[5];
  tsr_robust_z_public (v, 5, z);
  g_assert_true (isnan (z[2]));
  g_assert_cmpfloat (fabs (z[0] + z[4]), <, 1e-9);
  double c[3] = { 7, 7, 7 }, zc[3];
  tsr_robust_z_public (c, 3, zc);
  g_assert_cmpfloat (zc[0], ==, 0);
}

static void
test_cancel (void)
{
  setup_once ();
  g_autoptr (GCancellable) c = g_cancellable_new ();
  g_cancellable_cancel (c);
  GError *e = NULL;
  TsrReconstruction *r = tsr_tbqr_accumulate (analysis, weights, &params, NULL, NULL, c, &e);
  g_assert_null (r);
  g_assert_error (e, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&e);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tbqr/robust-z", test_robust_z_missing);
  g_test_add_func ("/tbqr/validation", test_validation);
  g_test_add_func ("/tbqr/invalid-frames", test_invalid_frames_unused);
  g_test_add_func ("/tbqr/trails", test_no_trail_residue);
  g_test_add_func ("/tbqr/weights", test_weights);
  g_test_add_func ("/tbqr/cancel", test_cancel);
  int r = g_test_run ();
  tsr_reconstruction_free (recon);
  if (weights)
    tsr_weights_unref (weights);
  if (analysis)
    tsr_analysis_unref (analysis);
  if (session)
    tsr_session_unref (session);
  if (truth)
    tsr_synth_truth_free (truth);
  tsr_test_rmtree (dir);
  g_free (dir);
  return r;
}
