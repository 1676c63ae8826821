/* test-tbqr.c — Tile-Based Quality Reconstruction on a generated session with truth. */
#include "tsr-test-util.h"
#include "tsr-test-truth.h"
#include "tsr-tbqr-memory.h"
#include "tsr-tbqr-private.h"
#include "tsr-frame-cache.h"

#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static char *dir;
static TsrSynthTruth *truth;
static TsrSession *session;
static TsrAnalysis *analysis;
static TsrWeights *weights;
static TsrReconstruction *recon;
static TsrProject params;

static void
setup_once (void)
{
  if (recon)
    return;
  TsrSynthParams p;
  tsr_synth_params_init (&p);
  /* the session: ≥ 60 frames, seeing drifting 2–4.5 px with bursts, a field-varying
   * PSF (radial growth plus focus drift on a tilted sensor), a passing cloud and sky drift,
   * 2 invalid frames, 3 satellite trails; star density of a Seestar field (default) */
  p.n_frames = 60;
  p.width = 512;
  p.height = 384;
  p.seed = 77;
  p.focus_blur = 1.5;
  p.fwhm_min = 2.0;
  p.fwhm_max = 4.5;
  p.n_bursts = 3;
  p.shift_max = 20;
  p.rotation_max_deg = 1.0;
  p.n_mirrored = 1;
  p.n_noise = 1;
  p.n_trails = 3;
  session = tsr_test_synth_session (&p, NULL, "tbqr", &dir, &truth);
  GError *e = NULL;
  tsr_project_init (&params);
  analysis = tsr_tbqr_analyse (session, &params.tbqr, &params.run, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  weights = tsr_tbqr_weigh (analysis, &params.tbqr, &e);
  g_assert_no_error (e);
  recon = tsr_tbqr_accumulate (analysis, weights, &params.tbqr, &params.run, NULL, NULL, NULL, &e);
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
  g_assert_cmpuint (v->n_matched, >=, 50);
  /* photometry preserved against the plain mean stack of the same frames */
  g_assert_cmpfloat (fabs (v->flux_ratio - 1.0), <=, 0.01);
  /* sharper than the mean stack within the noise bound (≤ 5 % more sky noise per
   * unit of star flux); measured 0.957 at noise 1.010 with the defaults (local.mode=psf,
   * local.p=2, global.k=0). The issue's ≥ 10 % FWHM goal is NOT reached, and cannot be on
   * this session: weights from the generator's truth reach at best 0.943 at noise ≤ 1.05
   * and need noise 1.24 for 0.90 (bench/bench-frontier.c; docs/tbqr.md, "What the weighting
   * can buy"). */
  g_assert_cmpfloat (v->fwhm_ratio, <, 0.965);
  g_assert_cmpfloat (v->noise_ratio, <=, 1.03);
  /* smooth weights: no seams at the tile edges */
  g_assert_cmpfloat (v->seam, <, params.tbqr.val_seam_max);
  g_assert_cmpint (recon->result->width, ==, 512);
  g_assert_cmpint (recon->result->channels, ==, 1);
  /* every tile is a STAR tile through the frames' PSF field models */
  guint nstar = 0;
  for (guint t = 0; t < weights->n_tiles; t++)
    nstar += weights->tile_type[t] == TSR_TILE_STAR;
  g_assert_cmpuint (nstar, ==, weights->n_tiles);
}

/* Local weighting follows the field: with focus drifting on a tilted sensor, the frames a
 * tile weights most are the frames that are sharp in that tile (truth), not globally. */
static void
test_local_follows_field (void)
{
  setup_once ();
  TsrTransform Mref;
  tsr_transform_identity (&Mref);
  memcpy (Mref.m, g_array_index (truth->frames, TsrSynthFrame, analysis->reg->reference).matrix, 6 * sizeof (double));
  guint agree = 0, total = 0;
  for (guint t = 0; t < weights->n_tiles; t += 5)
    {
      const TsrTile *tile = &analysis->tiles[t];
      /* rank correlation between L and the true local FWHM over the used frames */
      double sxy = 0, sxx = 0, syy = 0, mx = 0, my = 0;
      guint m = 0;
      double *xs = g_new (double, weights->n_frames), *ys = g_new (double, weights->n_frames);
      for (guint f = 0; f < weights->n_frames; f++)
        {
          const TsrSynthFrame *sf = &g_array_index (truth->frames, TsrSynthFrame, f);
          if (!weights->used[f] || sf->kind != TSR_SYNTH_VALID)
            continue;
          /* reference pixel → sky → frame */
          TsrTransform Mi, Mf, to_f;
          tsr_transform_invert (&Mref, &Mi);
          tsr_transform_identity (&Mf);
          memcpy (Mf.m, sf->matrix, 6 * sizeof (double));
          tsr_transform_compose (&Mf, &Mi, &to_f);
          double fx, fy, fw;
          tsr_transform_apply (&to_f, tile->cx, tile->cy, &fx, &fy);
          tsr_synth_psf_at (truth, f, fx, fy, &fw, NULL, NULL);
          xs[m] = log (weights->l[(gsize) f * weights->n_tiles + t]);
          ys[m] = fw;
          mx += xs[m], my += ys[m];
          m++;
        }
      mx /= m, my /= m;
      for (guint i = 0; i < m; i++)
        sxy += (xs[i] - mx) * (ys[i] - my), sxx += (xs[i] - mx) * (xs[i] - mx), syy += (ys[i] - my) * (ys[i] - my);
      double r = sxy / sqrt (sxx * syy);
      agree += r < -0.6;
      total++;
      g_free (xs);
      g_free (ys);
    }
  g_test_message ("tiles where L anti-correlates (r < −0.6) with the true local FWHM: %u of %u", agree, total);
  g_assert_cmpuint (agree, >=, total * 8 / 10);
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
  float noise;
  g_autoptr (GArray) tr = trail_medians (truth, analysis->reg->reference, weights->used, recon->result, 0, &noise);
  for (guint i = 0; i < tr->len; i++)
    {
      const TrailMedian *tm = &g_array_index (tr, TrailMedian, i);
      g_test_message ("trail of frame %u: median on %.2f, beside %.2f, pixel noise %.2f", tm->frame, tm->on, tm->off,
                      noise);
      g_assert_cmpfloat (tm->on - tm->off, <, 3.0 * noise / sqrt (tm->n_on) * 3 + 0.5 * noise);
    }
  g_assert_cmpuint (tr->len, >=, 1);
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
  g_autoptr (TsrWeights) again = tsr_tbqr_weigh (analysis, &params.tbqr, &e);
  g_assert_no_error (e);
  g_assert_cmpmem (again->w, sizeof (float) * weights->n_frames * weights->n_tiles, weights->w,
                   sizeof (float) * weights->n_frames * weights->n_tiles);
  TsrProject p2 = params;
  p2.tbqr.alpha = 0.8, p2.tbqr.beta = 0.1, p2.tbqr.gamma = 0.1;
  p2.tbqr.global_k = 0.5; /* the default global.k = 0 leaves G = V */
  g_autoptr (TsrWeights) other = tsr_tbqr_weigh (analysis, &p2.tbqr, &e);
  g_assert_no_error (e);
  g_assert_true (memcmp (other->g, weights->g, sizeof (double) * weights->n_frames) != 0);
  /* local.mode=psf (default): on a STAR tile L = (F_{f,t} / median_f F_{f,t})^−local.p with
   * F the frame's PSF field model of the major-axis FWHM (local.psf_size=major; the default
   * is the mean FWHM, docs/tbqr.md) at the tile centre; local.mode=quality weighs otherwise */
  g_assert_cmpint (params.tbqr.local_mode, ==, TSR_LOCAL_PSF);
  g_assert_cmpint (params.tbqr.local_psf_size, ==, TSR_PSF_SIZE_MEAN);
  p2 = params;
  p2.tbqr.local_psf_size = TSR_PSF_SIZE_MAJOR;
  g_autoptr (TsrWeights) major = tsr_tbqr_weigh (analysis, &p2.tbqr, &e);
  g_assert_no_error (e);
  for (guint t = 0; t < major->n_tiles; t += 11)
    {
      const TsrTile *tile = &analysis->tiles[t];
      float *fv = g_new (float, weights->n_frames);
      guint m = 0;
      for (guint f = 0; f < weights->n_frames; f++)
        if (weights->used[f])
          fv[m++] = tsr_tbqr_model_fwhm_major (analysis, f, tile->cx, tile->cy);
      double fref = tsr_median_inplace (fv, m);
      g_free (fv);
      for (guint f = 0; f < weights->n_frames; f++)
        if (major->used[f])
          {
            double F = tsr_tbqr_model_fwhm_major (analysis, f, tile->cx, tile->cy);
            double L = pow (CLAMP (F / fref, 0.5, 2.0), -params.tbqr.local_p);
            g_assert_cmpfloat (fabs (major->l[(gsize) f * major->n_tiles + t] - L), <=, 1e-5 * L);
          }
    }
  p2 = params;
  p2.tbqr.local_mode = TSR_LOCAL_QUALITY;
  g_autoptr (TsrWeights) quality = tsr_tbqr_weigh (analysis, &p2.tbqr, &e);
  g_assert_no_error (e);
  g_assert_true (memcmp (quality->l, weights->l, sizeof (float) * weights->n_frames * weights->n_tiles) != 0);
  /* clusters on request */
  p2 = params;
  p2.tbqr.clusters = TSR_CLUSTER_ON;
  g_autoptr (TsrWeights) cl = tsr_tbqr_weigh (analysis, &p2.tbqr, &e);
  g_assert_no_error (e);
  g_assert_cmpint (cl->n_clusters, ==, 5); /* clip(58/10, 5, 30) */
  for (guint f = 0; f < cl->n_frames; f++)
    g_assert_true ((cl->cluster[f] >= 0) == cl->used[f]);
  /* weighing never writes the analysis: the registration's gate bits are as analysed */
  guint *gates0 = g_new (guint, analysis->reg->n_frames);
  for (guint f = 0; f < analysis->reg->n_frames; f++)
    gates0[f] = analysis->reg->frames[f].gate;
  /* a gate nothing passes leaves only the reference (it defines the geometry) */
  p2 = params;
  p2.tbqr.reg.reject_cc_min_abs = 1.0;
  p2.tbqr.reg.reject_cc_margin_min = 0;
  p2.tbqr.reg.reject_cc_trust_stars = FALSE;
  g_autoptr (TsrWeights) ref_only = tsr_tbqr_weigh (analysis, &p2.tbqr, &e);
  g_assert_no_error (e);
  g_assert_cmpuint (ref_only->n_used, ==, 1);
  g_assert_true (ref_only->used[analysis->reg->reference]);
  for (guint f = 0; f < analysis->reg->n_frames; f++)
    g_assert_cmpuint (analysis->reg->frames[f].gate, ==, gates0[f]);
  g_free (gates0);
  /* the inverse-variance factor: on for defaults, V = 1 when off; it follows the noise */
  p2 = params;
  p2.tbqr.global_ivw = FALSE;
  g_autoptr (TsrWeights) noivw = tsr_tbqr_weigh (analysis, &p2.tbqr, &e);
  g_assert_no_error (e);
  for (guint f = 0; f < weights->n_frames; f++)
    if (weights->used[f])
      {
        g_assert_cmpfloat (noivw->ivw[f], ==, 1.0);
        g_assert_cmpfloat (fabs (weights->g[f] - noivw->g[f] * weights->ivw[f]), <=, 1e-9 * weights->g[f]);
        for (guint h = 0; h < weights->n_frames; h++)
          if (weights->used[h] && analysis->frames[h].noise > analysis->frames[f].noise)
            g_assert_cmpfloat (weights->ivw[h], <=, weights->ivw[f]);
      }
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


/* A quiet generated GRBG session (no bursts, trails, mirrored or noise frames) written to a
 * new temporary folder, returned (g_free) */
static char *
write_quiet_bayer (const char *name, guint n_frames, int width, int height, guint64 seed, double fwhm_min,
                   double fwhm_max, TsrSynthParams *p)
{
  tsr_synth_params_init (p);
  p->n_frames = n_frames;
  p->width = width;
  p->height = height;
  p->seed = seed;
  p->cfa = TSR_CFA_GRBG;
  if (fwhm_max > 0)
    {
      p->fwhm_min = fwhm_min;
      p->fwhm_max = fwhm_max;
    }
  p->n_bursts = 0;
  p->n_trails = 0;
  p->n_mirrored = 0;
  p->n_noise = 0;
  char *dir = tsr_test_tmpdir (name);
  GError *e = NULL;
  TsrSynthTruth *t = tsr_synth_write_session (p, dir, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  tsr_synth_truth_free (t);
  return dir;
}

/* global.per_channel (issue #17, the paper's G_{f,c}): a generated Bayer session where one
 * frame is 4× noisier in blue only (extra Gaussian noise on its blue sites). With per-channel
 * weights that frame's blue weight falls and its green weight does not, and the result's blue
 * noise at 8 × 8 bins per unit star flux is measurably lower than with one weight per frame —
 * in every accumulation path (each frame demosaiced, the mosaic accumulated, Bayer drizzle).
 * Swapping or ignoring the channels' factors fails it. Photometry per channel stays within
 * 1 % of the mean stack. */
static void
test_per_channel_weights (void)
{
  TsrSynthParams p;
  g_autofree char *bdir = write_quiet_bayer ("tbqr-chan", 12, 384, 288, 1717, 2.0, 3.0, &p);
  GError *e = NULL;
  /* frame "synth_0006": its blue sites get noise of √15 × their own sky noise (4× in all) */
  const char *noisy_name = "synth_0006";
  g_autofree char *noisy_path = NULL;
  {
    const char *paths[] = { bdir, NULL };
    g_autoptr (TsrSession) s0 = tsr_session_scan (paths, NULL, NULL, &e);
    g_assert_no_error (e);
    for (guint f = 0; f < tsr_session_n_frames (s0); f++)
      if (strstr (tsr_session_frame (s0, f)->path, noisy_name))
        noisy_path = g_strdup (tsr_session_frame (s0, f)->path);
  }
  g_assert_nonnull (noisy_path);
  {
    g_autoptr (TsrImage) img = tsr_fits_read (noisy_path, &e);
    g_assert_no_error (e);
    g_assert_cmpint (img->cfa, ==, TSR_CFA_GRBG);
    double sig = sqrt (p.sky + p.read_noise * p.read_noise) / p.gain; /* the sky's noise, ADU */
    GRand *rng = g_rand_new_with_seed (17);
    for (int y = 0; y < img->height; y++)
      for (int x = 0; x < img->width; x++)
        if (tsr_cfa_color (img->cfa, x, y) == 2)
          {
            double u1 = g_rand_double_range (rng, 1e-12, 1.0), u2 = g_rand_double (rng);
            double gz = sqrt (-2 * log (u1)) * cos (2 * G_PI * u2);
            gsize k = (gsize) y * img->width + x;
            img->data[k] = rint (img->data[k] + sqrt (15.0) * sig * gz);
          }
    g_rand_free (rng);
    g_assert_true (tsr_fits_write (noisy_path, img, NULL, &e));
    g_assert_no_error (e);
  }
  const char *paths[] = { bdir, NULL };
  g_autoptr (TsrSession) s = tsr_session_scan (paths, NULL, NULL, &e);
  g_assert_no_error (e);
  guint noisy = G_MAXUINT;
  for (guint f = 0; f < tsr_session_n_frames (s); f++)
    if (strstr (tsr_session_frame (s, f)->path, noisy_name))
      noisy = f;
  g_assert_cmpuint (noisy, <, tsr_session_n_frames (s));
  TsrProject on;
  tsr_project_init (&on);
  g_assert_true (on.tbqr.global_per_channel); /* the default (docs/tbqr.md: measured) */
  TsrProject off = on;
  off.tbqr.global_per_channel = FALSE;
  g_autoptr (TsrAnalysis) a = tsr_tbqr_analyse (s, &on.tbqr, &on.run, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_cmpuint (a->reg->reference, !=, noisy);
  /* σ_{f,c}: the noisy frame's blue is ~4× the others', its red and green as theirs */
  for (int c = 0; c < 3; c++)
    {
      float *v = g_new (float, a->reg->n_frames);
      for (guint f = 0; f < a->reg->n_frames; f++)
        v[f] = a->frames[f].noise_channel[c];
      double med = tsr_median_inplace (v, a->reg->n_frames);
      g_free (v);
      double ratio = a->frames[noisy].noise_channel[c] / med;
      g_test_message ("channel %d: noisy frame's σ %.2f, median %.2f (×%.2f)", c,
                      a->frames[noisy].noise_channel[c], med, ratio);
      if (c == 2)
        g_assert_cmpfloat (ratio, >, 3.0);
      else
        g_assert_cmpfloat (fabs (ratio - 1.0), <, 0.15); /* (measured 1.09: its sky is brighter) */
    }
  g_autoptr (TsrWeights) w1 = tsr_tbqr_weigh (a, &off.tbqr, &e);
  g_assert_no_error (e);
  g_autoptr (TsrWeights) wc = tsr_tbqr_weigh (a, &on.tbqr, &e);
  g_assert_no_error (e);
  g_assert_null (w1->chan);
  g_assert_nonnull (wc->chan);
  g_assert_cmpfloat (tsr_weights_channel_spread (wc), >, 0.8); /* the noisy frame's blue: 1 − 0.104 */
  g_assert_true (wc->used[noisy]);
  /* one weight for all channels took the noisy frame down (the mosaic's noise rose) … */
  g_assert_cmpfloat (w1->ivw[noisy], <, 0.95);
  /* … per channel only its blue falls: V_{f,B} ≈ 1/16, V_{f,G} ≈ 1 */
  const double *vc = wc->ivw_channel + (gsize) noisy * 3;
  const float *fc = wc->chan + (gsize) noisy * 3;
  g_test_message ("noisy frame: V_f %.3f, V_{f,c} %.3f / %.3f / %.3f, factors %.3f / %.3f / %.3f", w1->ivw[noisy], vc[0],
                  vc[1], vc[2], fc[0], fc[1], fc[2]);
  g_assert_cmpfloat (vc[2], <, 0.15);
  g_assert_cmpfloat (vc[1], >, 0.7);
  g_assert_cmpfloat (vc[0], >, 0.7);
  g_assert_cmpfloat (fc[2], <, 0.2);
  g_assert_cmpfloat (fc[1], >=, 1.0);
  /* the channel weight of the other frames stays near their one weight */
  for (guint f = 0; f < wc->n_frames; f++)
    if (f != noisy && wc->used[f])
      for (int c = 0; c < 3; c++)
        g_assert_cmpfloat (fabs (wc->chan[(gsize) f * 3 + c] - 1.0), <, 0.25);
  /* the three accumulation paths, with one weight and with per-channel weights */
  struct
  {
    const char *name;
    TsrColorMethod method;
    TsrDrizzleMode drizzle;
  } paths_acc[] = {
    { "demosaic-frames", TSR_COLOR_DEMOSAIC_FRAMES, TSR_DRIZZLE_OFF },
    { "cfa-accumulate", TSR_COLOR_CFA_ACCUMULATE, TSR_DRIZZLE_OFF },
    { "drizzle", TSR_COLOR_DEMOSAIC_FRAMES, TSR_DRIZZLE_ON },
  };
  /* blue's 8 × 8 noise with per-channel weights over that with one, at most. Measured 0.978
   * (RCD: the demosaic fills each plane's missing sites from the other colours, so a
   * frame's noisy blue reaches its green and red planes and its blue plane takes their
   * noise — MHC, norm.demosaic=mhc, measured 0.936), 0.910 (mosaic accumulated, demosaiced
   * once) and 0.878 (drizzle: no demosaic at all) */
  const double blue_max[] = { 0.99, 0.95, 0.95 };
  for (guint i = 0; i < G_N_ELEMENTS (paths_acc); i++)
    {
      TsrReconstruction *r[2];
      for (int k = 0; k < 2; k++)
        {
          TsrProject pm = k ? on : off;
          pm.tbqr.color_method = paths_acc[i].method;
          pm.tbqr.drizzle = paths_acc[i].drizzle;
          pm.run.n_threads = 1; /* frames added in one order: the mean stacks compare bit for bit */
          r[k] = tsr_tbqr_accumulate (a, k ? wc : w1, &pm.tbqr, &pm.run, NULL, NULL, NULL, &e);
          g_assert_no_error (e);
          g_assert_cmpint (r[k]->result->channels, ==, 3);
          g_autofree char *kw = tsr_header_get_string (r[k]->result->header, "TSRCHANW");
          g_assert_nonnull (kw);
          g_assert_true ((kw[0] == 'T') == (k == 1));
        }
      const TsrValidation *v0 = &r[0]->validation, *v1 = &r[1]->validation;
      g_test_message ("%s: 8×8 noise per flux R/G/B one weight %.4g / %.4g / %.4g, per channel %.4g / %.4g / %.4g; "
                      "flux vs mean R/G/B %.4f / %.4f / %.4f",
                      paths_acc[i].name, v0->bin_noise_result[0], v0->bin_noise_result[1], v0->bin_noise_result[2],
                      v1->bin_noise_result[0], v1->bin_noise_result[1], v1->bin_noise_result[2],
                      v1->flux_ratio_channel[0], v1->flux_ratio_channel[1], v1->flux_ratio_channel[2]);
      g_assert_cmpint (v1->n_channels, ==, 3);
      /* blue measurably lower; red and green not worse beyond 2.5 % (measured −3.5 … +1.7 %:
       * the noisy frame's red and green weigh more than with one weight, with its L) */
      g_assert_cmpfloat (v1->bin_noise_result[2], <, blue_max[i] * v0->bin_noise_result[2]);
      g_assert_cmpfloat (v1->bin_noise_result[1], <, 1.025 * v0->bin_noise_result[1]);
      g_assert_cmpfloat (v1->bin_noise_result[0], <, 1.025 * v0->bin_noise_result[0]);
      for (int c = 0; c < 3; c++)
        g_assert_cmpfloat (fabs (v1->flux_ratio_channel[c] - 1.0), <=, 0.01);
      /* the mean stack does not depend on the weights */
      g_assert_cmpmem (r[0]->mean->data, sizeof (float) * tsr_image_npix (r[0]->mean) * 3, r[1]->mean->data,
                       sizeof (float) * tsr_image_npix (r[1]->mean) * 3);
      /* the weight map per channel where the channels' weights differ at a pixel (RGB
       * values: demosaiced or drizzled), the blue sum below the green one */
      if (paths_acc[i].method == TSR_COLOR_DEMOSAIC_FRAMES)
        {
          g_assert_cmpint (r[0]->weight->channels, ==, 1);
          g_assert_cmpint (r[1]->weight->channels, ==, 3);
          gsize n = tsr_image_npix (r[1]->weight);
          double sg = 0, sb = 0;
          for (gsize q = 0; q < n; q++)
            if (r[1]->weight->mask[q])
              sg += r[1]->weight->data[n + q], sb += r[1]->weight->data[2 * n + q];
          g_assert_cmpfloat (sb, <, sg);
        }
      tsr_reconstruction_free (r[0]);
      tsr_reconstruction_free (r[1]);
    }

  /* the same frames as RGB files (each demosaiced, written with three planes): the pixel
   * path of colour frames (frame cache, two frames added at a time) keeps Σw per channel too */
  g_autofree char *rgbdir = tsr_test_tmpdir ("tbqr-chan-rgb");
  for (guint f = 0; f < tsr_session_n_frames (s); f++)
    {
      const char *src = tsr_session_frame (s, f)->path;
      g_autoptr (TsrImage) raw = tsr_fits_read (src, &e);
      g_assert_no_error (e);
      g_autoptr (TsrImage) rgb = tsr_demosaic (raw);
      g_assert_cmpint (rgb->channels, ==, 3);
      g_autofree char *base = g_path_get_basename (src);
      g_autofree char *dst = g_build_filename (rgbdir, base, NULL);
      g_assert_true (tsr_fits_write (dst, rgb, NULL, &e));
      g_assert_no_error (e);
    }
  {
    const char *rpaths[] = { rgbdir, NULL };
    g_autoptr (TsrSession) rs = tsr_session_scan (rpaths, NULL, NULL, &e);
    g_assert_no_error (e);
    g_autoptr (TsrAnalysis) ra = tsr_tbqr_analyse (rs, &on.tbqr, &on.run, NULL, NULL, NULL, &e);
    g_assert_no_error (e);
    g_assert_cmpint (ra->channels, ==, 3);
    g_autoptr (TsrWeights) rw1 = tsr_tbqr_weigh (ra, &off.tbqr, &e);
    g_assert_no_error (e);
    g_autoptr (TsrWeights) rwc = tsr_tbqr_weigh (ra, &on.tbqr, &e);
    g_assert_no_error (e);
    g_assert_nonnull (rwc->chan);
    g_assert_cmpfloat (rwc->chan[(gsize) noisy * 3 + 2], <, 0.5);
    g_assert_cmpfloat (rwc->chan[(gsize) noisy * 3 + 1], >=, 1.0);
    TsrReconstruction *r[2];
    for (int k = 0; k < 2; k++)
      {
        TsrProject pm = k ? on : off;
        pm.run.n_threads = 1;
        r[k] = tsr_tbqr_accumulate (ra, k ? rwc : rw1, &pm.tbqr, &pm.run, NULL, NULL, NULL, &e);
        g_assert_no_error (e);
      }
    const TsrValidation *v0 = &r[0]->validation, *v1 = &r[1]->validation;
    g_test_message ("RGB frames: noisy frame's factors %.3f / %.3f / %.3f; 8×8 noise per flux R/G/B one weight %.4g / "
                    "%.4g / %.4g, per channel %.4g / %.4g / %.4g; flux vs mean %.4f / %.4f / %.4f",
                    rwc->chan[noisy * 3], rwc->chan[noisy * 3 + 1], rwc->chan[noisy * 3 + 2], v0->bin_noise_result[0],
                    v0->bin_noise_result[1], v0->bin_noise_result[2], v1->bin_noise_result[0], v1->bin_noise_result[1],
                    v1->bin_noise_result[2], v1->flux_ratio_channel[0], v1->flux_ratio_channel[1],
                    v1->flux_ratio_channel[2]);
    g_assert_cmpfloat (v1->bin_noise_result[2], <, 0.99 * v0->bin_noise_result[2]);
    g_assert_cmpfloat (v1->bin_noise_result[1], <, 1.025 * v0->bin_noise_result[1]);
    g_assert_cmpfloat (v1->bin_noise_result[0], <, 1.025 * v0->bin_noise_result[0]);
    for (int c = 0; c < 3; c++)
      g_assert_cmpfloat (fabs (v1->flux_ratio_channel[c] - 1.0), <=, 0.01);
    g_assert_cmpint (r[1]->weight->channels, ==, 3);
    g_assert_cmpmem (r[0]->mean->data, sizeof (float) * tsr_image_npix (r[0]->mean) * 3, r[1]->mean->data,
                     sizeof (float) * tsr_image_npix (r[1]->mean) * 3);
    tsr_reconstruction_free (r[0]);
    tsr_reconstruction_free (r[1]);
  }
  tsr_test_rmtree (rgbdir);
  tsr_test_rmtree (bdir);
}

/* global.per_channel where the frames' colour balance of noise is the same (one exposure,
 * one sky: a generated Bayer session as written): no factor differs from 1 by more than
 * TSR_CHANNEL_WEIGHT_MIN_DEV, so the one weight stays — no per-channel sums, the same
 * result bit for bit as with the option off — while V_{f,c} is still reported. */
static void
test_per_channel_uniform (void)
{
  TsrSynthParams p;
  g_autofree char *dir = write_quiet_bayer ("tbqr-chan-uniform", 8, 640, 480, 1718, 0, 0, &p);
  GError *e = NULL;
  const char *paths[] = { dir, NULL };
  g_autoptr (TsrSession) s = tsr_session_scan (paths, NULL, NULL, &e);
  g_assert_no_error (e);
  TsrProject on;
  tsr_project_init (&on);
  g_assert_true (on.tbqr.global_per_channel);
  on.run.n_threads = 1;
  TsrProject off = on;
  off.tbqr.global_per_channel = FALSE;
  g_autoptr (TsrAnalysis) a = tsr_tbqr_analyse (s, &on.tbqr, &on.run, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_autoptr (TsrWeights) wc = tsr_tbqr_weigh (a, &on.tbqr, &e);
  g_assert_no_error (e);
  g_autoptr (TsrWeights) w1 = tsr_tbqr_weigh (a, &off.tbqr, &e);
  g_assert_no_error (e);
  g_assert_nonnull (wc->ivw_channel);
  double dev = 0;
  for (guint f = 0; f < wc->n_frames; f++)
    for (int c = 0; c < 3 && wc->used[f] && wc->ivw[f] > 0; c++)
      dev = MAX (dev, fabs (wc->ivw_channel[(gsize) f * 3 + c] / wc->ivw[f] - 1));
  g_test_message ("largest |V_{f,c} / V_f - 1|: %.3f (limit %.2f)", dev, TSR_CHANNEL_WEIGHT_MIN_DEV);
  g_assert_cmpfloat (dev, >, 0.0);
  g_assert_cmpfloat (dev, <=, TSR_CHANNEL_WEIGHT_MIN_DEV);
  g_assert_cmpfloat (tsr_weights_channel_spread (wc), ==, dev);
  g_assert_true (isnan (tsr_weights_channel_spread (w1)));
  g_assert_null (wc->chan);
  TsrReconstruction *r = tsr_tbqr_accumulate (a, wc, &on.tbqr, &on.run, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  TsrReconstruction *r0 = tsr_tbqr_accumulate (a, w1, &off.tbqr, &off.run, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  gsize n = tsr_image_npix (r->result) * r->result->channels;
  g_assert_cmpint (r->result->channels, ==, 3);
  g_assert_cmpmem (r->result->data, sizeof (float) * n, r0->result->data, sizeof (float) * n);
  g_assert_cmpint (r->weight->channels, ==, 1);
  tsr_reconstruction_free (r0);
  tsr_reconstruction_free (r);
}

/* global.per_channel changes nothing on a mono session, bit for bit. */
static void
test_per_channel_mono (void)
{
  setup_once ();
  GError *e = NULL;
  TsrProject on = params;
  on.tbqr.global_per_channel = TRUE;
  g_autoptr (TsrWeights) w = tsr_tbqr_weigh (analysis, &on.tbqr, &e);
  g_assert_no_error (e);
  g_assert_null (w->chan);
  g_assert_null (w->ivw_channel);
  g_assert_cmpmem (w->w, sizeof (float) * w->n_frames * w->n_tiles, weights->w,
                   sizeof (float) * weights->n_frames * weights->n_tiles);
  /* one thread: the frames are added in one order, so the sums compare bit for bit */
  TsrProject off = params;
  off.tbqr.global_per_channel = FALSE;
  g_autoptr (TsrWeights) w0 = tsr_tbqr_weigh (analysis, &off.tbqr, &e);
  g_assert_no_error (e);
  g_assert_null (w0->chan);
  off.run.n_threads = on.run.n_threads = 1;
  TsrReconstruction *r = tsr_tbqr_accumulate (analysis, w, &on.tbqr, &on.run, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  TsrReconstruction *r0 = tsr_tbqr_accumulate (analysis, w0, &off.tbqr, &off.run, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  gsize n = tsr_image_npix (r->result) * r->result->channels;
  g_assert_cmpint (r->result->channels, ==, r0->result->channels);
  g_assert_cmpmem (r->result->data, sizeof (float) * n, r0->result->data, sizeof (float) * n);
  g_assert_cmpmem (r->result->mask, tsr_image_npix (r->result), r0->result->mask, tsr_image_npix (r0->result));
  g_assert_cmpmem (r->weight->data, sizeof (float) * tsr_image_npix (r->weight), r0->weight->data,
                   sizeof (float) * tsr_image_npix (r0->weight));
  g_assert_cmpint (r->weight->channels, ==, 1);
  /* and the same as the run of the session with its threads, within float rounding */
  for (gsize k = 0; k < n; k += 97)
    g_assert_cmpfloat (fabs (r->result->data[k] - recon->result->data[k]), <=, 1e-4 * (fabs (recon->result->data[k]) + 1));
  tsr_reconstruction_free (r0);
  tsr_reconstruction_free (r);
}

/* A disk-backed temporary folder with room (where the metrics can be spilled at all) */
static gboolean
have_temp_disk (void)
{
  int fd = tsr_temp_file_new ("tessera-probe", 1 << 20);
  if (fd < 0)
    return FALSE;
  close (fd);
  return TRUE;
}

/* `process` keeps the per-tile metrics in a temporary file (issue #19). When the file cannot
 * take them (full disk; here a 16 KiB file-size limit, in a subprocess) the metrics move to
 * memory, frames already written included, and the analysis is the in-memory one. */
static void
test_tile_spill_full (void)
{
  if (!g_test_subprocess ())
    {
      if (!have_temp_disk ())
        {
          g_test_skip ("no disk-backed temporary folder with 1 GiB free: the metrics stay in memory");
          return;
        }
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
      g_test_trap_assert_passed ();
      return;
    }
  TsrSynthParams p;
  tsr_synth_params_init (&p);
  p.n_frames = 8;
  p.width = 512;
  p.height = 384;
  p.seed = 17;
  g_autofree char *dir = NULL;
  g_autoptr (TsrSession) s = tsr_test_synth_session (&p, NULL, "tbqr-spill", &dir, NULL);
  GError *e = NULL;
  TsrProject prm;
  tsr_project_init (&prm);
  prm.run.frame_cache = FALSE;
  prm.run.n_threads = 2;
  g_autoptr (TsrAnalysis) mem = tsr_tbqr_analyse (s, &prm.tbqr, &prm.run, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_null (mem->tile_spill);
  gsize bytes = sizeof (TsrTileMetrics) * mem->reg->n_frames * mem->n_tiles;
  g_assert_cmpuint (bytes, >, 3 * 16384);   /* the limit strikes after the first frames */
  TsrProject pd = prm;
  pd.tbqr.spill_tile_metrics = TRUE;
  g_autoptr (TsrWeights) w1 = tsr_tbqr_weigh (mem, &prm.tbqr, &e);
  g_assert_no_error (e);
  /* with no limit the metrics are in the file; read back 7 tiles at a time (many blocks, a
   * partial last one) they weigh as in memory */
  {
    g_autoptr (TsrAnalysis) sp = tsr_tbqr_analyse (s, &pd.tbqr, &pd.run, NULL, NULL, NULL, &e);
    g_assert_no_error (e);
    g_assert_nonnull (sp->tile_spill);
    g_assert_null (sp->tile_metrics);
    g_assert_cmpuint (sp->n_tiles % 7, !=, 0);
    tsr_tbqr_tile_view_bytes = 7 * sizeof (TsrTileMetrics) * sp->reg->n_frames;
    g_autoptr (TsrWeights) ws = tsr_tbqr_weigh (sp, &pd.tbqr, &e);
    tsr_tbqr_tile_view_bytes = 4u << 20;
    g_assert_no_error (e);
    g_assert_cmpmem (ws->w, sizeof (float) * ws->n_frames * ws->n_tiles, w1->w, sizeof (float) * w1->n_frames * w1->n_tiles);
    g_assert_cmpmem (ws->q_local, sizeof (float) * ws->n_frames * ws->n_tiles, w1->q_local,
                     sizeof (float) * w1->n_frames * w1->n_tiles);
  }
  signal (SIGXFSZ, SIG_IGN);
  struct rlimit rl = { 16384, 16384 };
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &rl), ==, 0);
  g_autoptr (TsrAnalysis) full = tsr_tbqr_analyse (s, &pd.tbqr, &pd.run, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_assert_null (full->tile_spill);
  g_assert_nonnull (full->tile_metrics);
  g_assert_cmpmem (full->tile_metrics, bytes, mem->tile_metrics, bytes);
  g_autoptr (TsrWeights) w2 = tsr_tbqr_weigh (full, &pd.tbqr, &e);
  g_assert_no_error (e);
  g_assert_cmpmem (w2->w, sizeof (float) * w2->n_frames * w2->n_tiles, w1->w, sizeof (float) * w1->n_frames * w1->n_tiles);
  tsr_test_rmtree (dir);
}

/* A Bayer session: the result is RGB and the photometry of matched stars agrees with the
 * plain mean stack within 1 % (the requirement), for both colour methods. The
 * flux ratio was 0.977 here before rejection tested 2×2 cells and validation measured
 * well-exposed stars in 3×FWHM apertures (docs/tbqr.md). */
static void
test_bayer_photometry (void)
{
  TsrSynthParams p;
  tsr_synth_params_init (&p);
  p.n_frames = 24;
  p.width = 512;
  p.height = 384;
  p.seed = 91;
  p.cfa = TSR_CFA_GRBG;
  p.fwhm_min = 2.0;
  p.fwhm_max = 4.0;
  p.n_bursts = 2;
  p.n_trails = 2;
  g_autofree char *bdir = NULL;
  TsrSynthTruth *bt = NULL;
  g_autoptr (TsrSession) s = tsr_test_synth_session (&p, NULL, "tbqr-bayer", &bdir, &bt);
  GError *e = NULL;
  TsrProject prm;
  tsr_project_init (&prm);
  g_autoptr (TsrAnalysis) a = tsr_tbqr_analyse (s, &prm.tbqr, &prm.run, NULL, NULL, NULL, &e);
  g_assert_no_error (e);
  g_autoptr (TsrWeights) w = tsr_tbqr_weigh (a, &prm.tbqr, &e);
  g_assert_no_error (e);
  const TsrColorMethod methods[] = { TSR_COLOR_CFA_ACCUMULATE, TSR_COLOR_DEMOSAIC_FRAMES };
  for (guint i = 0; i < G_N_ELEMENTS (methods); i++)
    {
      TsrProject pm = prm;
      pm.tbqr.color_method = methods[i];
      TsrReconstruction *r = tsr_tbqr_accumulate (a, w, &pm.tbqr, &pm.run, NULL, NULL, NULL, &e);
      g_assert_no_error (e);
      const TsrValidation *v = &r->validation;
      g_test_message ("Bayer, %s: %u stars, FWHM %.3f → %.3f, noise ratio %.3f, flux ratio %.4f",
                      methods[i] == TSR_COLOR_CFA_ACCUMULATE ? "cfa-accumulate" : "demosaic-frames", v->n_matched,
                      v->fwhm_mean, v->fwhm_result, v->noise_ratio, v->flux_ratio);
      g_assert_cmpint (r->result->channels, ==, 3);
      g_assert_cmpint (r->mean->channels, ==, 3);
      g_assert_cmpint (r->result->cfa, ==, TSR_CFA_NONE);
      g_assert_cmpuint (v->n_matched, >=, 40);
      g_assert_cmpfloat (fabs (v->flux_ratio - 1.0), <=, 0.01);
      g_assert_cmpfloat (v->noise_ratio, <=, 1.1);
      if (methods[i] == TSR_COLOR_DEMOSAIC_FRAMES)
        {
          /* what `process` does for a long session (issue #19): each frame's star list freed
           * once analysed, the per-tile metrics and the L / Q tables once weighed — same
           * weights, same result, and the analysis can no longer be weighed */
          TsrProject pd = pm;
          pd.tbqr.reg.drop_star_lists = TRUE;
          pd.tbqr.spill_tile_metrics = TRUE;
          g_autoptr (TsrAnalysis) a2 = tsr_tbqr_analyse (s, &pd.tbqr, &pd.run, NULL, NULL, NULL, &e);
          g_assert_no_error (e);
          /* the per-tile metrics wait in a temporary file, not in memory (where a disk-backed
           * temporary folder has room; else they stay in memory, and weigh the same) */
          if (have_temp_disk ())
            {
              g_assert_null (a2->tile_metrics);
              g_assert_nonnull (a2->tile_spill);
            }
          else
            g_assert_null (a2->tile_spill);
          {
            /* a copy (the window's) holds them in memory again, and weighs alike */
            g_autoptr (TsrAnalysis) c2 = tsr_analysis_copy (a2);
            g_assert_nonnull (c2->tile_metrics);
            g_assert_null (c2->tile_spill);
            g_assert_cmpmem (c2->tile_metrics, sizeof (TsrTileMetrics) * a->reg->n_frames * a->n_tiles, a->tile_metrics,
                             sizeof (TsrTileMetrics) * a->reg->n_frames * a->n_tiles);
          }
          guint kept = 0;
          for (guint f = 0; f < a2->reg->n_frames; f++)
            {
              kept += a->reg->frames[f].stars != NULL;
              g_assert_true ((a2->reg->frames[f].stars != NULL) == (f == a2->reg->reference));
            }
          g_assert_cmpuint (kept, ==, a->reg->n_frames);
          g_assert_cmpmem (a2->frames, sizeof (TsrFrameMetrics) * a2->reg->n_frames, a->frames,
                           sizeof (TsrFrameMetrics) * a->reg->n_frames);
          g_autoptr (TsrWeights) w2 = tsr_tbqr_weigh (a2, &pd.tbqr, &e);
          g_assert_no_error (e);
          g_assert_cmpmem (w2->w, sizeof (float) * w2->n_frames * w2->n_tiles, w->w,
                           sizeof (float) * w->n_frames * w->n_tiles);
          tsr_analysis_drop_tile_metrics (a2);
          tsr_weights_drop_tile_tables (w2, FALSE);
          g_assert_null (a2->tile_metrics);
          g_assert_null (a2->tile_spill);
          g_assert_null (w2->l);
          g_assert_null (w2->q_local);
          g_assert_null (tsr_tbqr_weigh (a2, &pd.tbqr, &e));
          g_assert_error (e, TSR_ERROR, TSR_ERROR_FAILED);
          g_clear_error (&e);
          TsrReconstruction *r2 = tsr_tbqr_accumulate (a2, w2, &pd.tbqr, &pd.run, NULL, NULL, NULL, &e);
          g_assert_no_error (e);
          gsize nv = (gsize) r->result->width * r->result->height * r->result->channels;
          /* the sums are float and frames are added in the order the workers finish them:
           * equal to float rounding of the sums (a different weight would move a value by
           * ~1e-2 of it) */
          double worst = 0;
          for (gsize k = 0; k < nv; k++)
            worst = MAX (worst, fabs (r2->result->data[k] - r->result->data[k]) / MAX (fabs (r->result->data[k]), 1.0));
          g_assert_cmpfloat (worst, <, 1e-5);
          tsr_reconstruction_free (r2);
        }
      tsr_reconstruction_free (r);
    }
  tsr_synth_truth_free (bt);
  tsr_test_rmtree (bdir);
}

static void
test_cancel (void)
{
  setup_once ();
  g_autoptr (GCancellable) c = g_cancellable_new ();
  g_cancellable_cancel (c);
  GError *e = NULL;
  TsrReconstruction *r = tsr_tbqr_accumulate (analysis, weights, &params.tbqr, &params.run, NULL, NULL, c, &e);
  g_assert_null (r);
  g_assert_error (e, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&e);
}

/* Issue #20, class 8: run.memory_mb is a plan made before a pixel is read. A budget below
 * the fixed part and one frame in flight is refused with the MiB needed; above it, what the
 * cache and the frames in flight get never adds up to more than the budget, and the cache
 * takes the rest (up to run.cache_memory_mb), not more. */
static void
test_memory_plan (void)
{
  TsrTbqrParams p;
  tsr_tbqr_params_init (&p);
  TsrRunParams run;
  tsr_run_params_init (&run);
  run.n_threads = 2;
  const double mib = 1024.0 * 1024.0;
  TsrTbqrMemory m;
  GError *e = NULL;
  /* a Bayer drizzle (drizzle.mode=auto from drizzle.min_frames frames on) reads the raw frames
   * in every pass: no frame cache is planned, whatever the budget */
  {
    TsrTbqrMemory dz;
    run.memory_budget_mb = 8192;
    g_assert_true (tsr_tbqr_memory_plan (1920, 1080, 1, TSR_CFA_GRBG, 200, &p, &run, &dz, &e));
    g_assert_cmpuint (dz.cache_ram, ==, 0);
    /* … and so does a Bayer session demosaiced frame by frame (drizzle off): its rejection
     * statistics come from the raw 2 × 2 cells too */
    p.drizzle = TSR_DRIZZLE_OFF;
    g_assert_true (tsr_tbqr_memory_plan (1920, 1080, 1, TSR_CFA_GRBG, 200, &p, &run, &dz, &e));
    g_assert_cmpuint (dz.cache_ram, ==, 0);
    /* a Bayer session accumulated per CFA colour (demosaiced once) still caches its warped
     * mosaics */
    p.color_method = TSR_COLOR_CFA_ACCUMULATE;
    g_assert_true (tsr_tbqr_memory_plan (1920, 1080, 1, TSR_CFA_GRBG, 200, &p, &run, &dz, &e));
    g_assert_cmpuint (dz.cache_ram, >, 0);
    p.color_method = TSR_COLOR_DEMOSAIC_FRAMES;
    /* a mono session drizzled by force still caches its warped frames */
    p.drizzle = TSR_DRIZZLE_ON;
    g_assert_true (tsr_tbqr_memory_plan (1920, 1080, 1, TSR_CFA_NONE, 200, &p, &run, &dz, &e));
    g_assert_cmpuint (dz.cache_ram, >, 0);
  }
  /* the frame cache's tiers, for RGB sessions (a frame cached as a demosaiced one was) */
  p.drizzle = TSR_DRIZZLE_OFF;
  /* run.cache_memory_mb = −1 (the default, automatic): the tier is what the frames read
   * again would take in flight beyond cached frames, for every worker; a session beyond the
   * cache file gives all of it up (they do take it), so both peak alike */
  {
    g_assert_cmpfloat (run.cache_memory_mb, ==, -1.0);
    TsrTbqrMemory a20, a2000;
    run.memory_budget_mb = 2048;
    g_assert_true (tsr_tbqr_memory_plan (1920, 1080, 3, TSR_CFA_NONE, 20, &p, &run, &a20, &e));
    gsize cached = (gsize) 1920 * 1080 * (3 * 4 + 1);
    g_assert_cmpuint (a20.cache_ram, ==, 2 * (a20.per_frame - cached));
    g_assert_cmpuint (a20.cache_ram, <, 512 * mib);
    run.cache_disk_mb = 1024;
    g_assert_true (tsr_tbqr_memory_plan (1920, 1080, 3, TSR_CFA_NONE, 2000, &p, &run, &a2000, &e));
    g_assert_cmpuint (a2000.cache_ram, ==, 0);
    tsr_run_params_init (&run);
    run.n_threads = 2;
  }
  /* an explicit upper limit from here */
  run.cache_memory_mb = 512;
  /* 200 frames of 1920 × 1080 RGB */
  p.color_method = TSR_COLOR_DEMOSAIC_FRAMES;
  run.memory_budget_mb = 256;
  g_assert_false (tsr_tbqr_memory_plan (1920, 1080, 3, TSR_CFA_NONE, 200, &p, &run, &m, &e));
  g_assert_error (e, TSR_ERROR, TSR_ERROR_TOO_LARGE);
  g_assert_nonnull (strstr (e->message, "run.memory_mb = 256"));
  g_assert_nonnull (strstr (e->message, "needs at least"));
  g_clear_error (&e);
  gsize need = m.need;
  g_assert_cmpuint (need, >, 256 * mib);
  /* exactly the need runs, with one frame in flight and no cache */
  run.memory_budget_mb = ceil (need / mib);
  g_assert_true (tsr_tbqr_memory_plan (1920, 1080, 3, TSR_CFA_NONE, 200, &p, &run, &m, &e));
  g_assert_no_error (e);
  g_assert_cmpuint (m.cache_ram, ==, 0);
  g_assert_cmpuint (m.accumulate_budget, >=, m.per_frame);
  g_assert_cmpuint (m.accumulate_budget, <, 2 * m.per_frame);
  /* every budget: overhead + sums + frames in flight + cache within it; the cache grows with
   * the budget up to run.cache_memory_mb */
  gsize last_cache = 0;
  for (double b = run.memory_budget_mb; b <= 8192; b *= 1.5)
    {
      run.memory_budget_mb = b;
      g_assert_true (tsr_tbqr_memory_plan (1920, 1080, 3, TSR_CFA_NONE, 200, &p, &run, &m, &e));
      g_assert_cmpuint (m.need, ==, need);
      g_assert_cmpuint (TSR_TBQR_MEMORY_OVERHEAD + m.sums + m.cache_ram + m.per_frame, <=, m.budget);
      g_assert_cmpuint (TSR_TBQR_MEMORY_OVERHEAD + m.sums + m.cache_ram + m.accumulate_budget, <=, m.budget + 1);
      g_assert_cmpuint (m.cache_ram, <=, (gsize) (run.cache_memory_mb * mib));
      g_assert_cmpuint (m.cache_ram, >=, last_cache);
      last_cache = m.cache_ram;
    }
  g_assert_cmpuint (last_cache, ==, (gsize) (run.cache_memory_mb * mib));
  /* the plan does not grow with the frame count (only the cache's wish does) */
  TsrTbqrMemory m2000;
  run.memory_budget_mb = 1024;
  g_assert_true (tsr_tbqr_memory_plan (1920, 1080, 3, TSR_CFA_NONE, 2000, &p, &run, &m2000, &e));
  g_assert_cmpuint (m2000.need, ==, need);
  /* 2,000 frames beyond a 1 GiB cache file are read again in the later passes, each in flight
   * with per_frame bytes instead of a cached frame's: the memory tier gives that up for both
   * workers, so the peak (tier + frames in flight) is what an all-cached session reaches
   * (20 frames: the tier holds 19, the file one — about 1 GiB of free space, not 12) */
  run.memory_budget_mb = 2048;
  TsrTbqrMemory m200;
  g_assert_true (tsr_tbqr_memory_plan (1920, 1080, 3, TSR_CFA_NONE, 20, &p, &run, &m200, &e));
  run.cache_disk_mb = 1024;
  g_assert_true (tsr_tbqr_memory_plan (1920, 1080, 3, TSR_CFA_NONE, 2000, &p, &run, &m2000, &e));
  gsize cached_frame = (gsize) 1920 * 1080 * (3 * 4 + 1);
  g_assert_cmpuint (m200.cache_ram, ==, (gsize) (run.cache_memory_mb * mib));
  g_assert_cmpuint (m2000.cache_ram + 2 * (m2000.per_frame - cached_frame), ==, m200.cache_ram);
  tsr_run_params_init (&run);
  run.n_threads = 2;
  run.cache_memory_mb = 512;
  /* drizzle at scale 2 keeps four times the output pixels: its sums and results are planned */
  {
    TsrTbqrParams pz = p;
    pz.drizzle = TSR_DRIZZLE_AUTO;
    TsrTbqrMemory m1, m2x;
    run.memory_budget_mb = 1 << 20;
    g_assert_true (tsr_tbqr_memory_plan (1920, 1080, 1, TSR_CFA_GRBG, 200, &pz, &run, &m1, &e));
    pz.drizzle_scale = 2;
    g_assert_true (tsr_tbqr_memory_plan (1920, 1080, 1, TSR_CFA_GRBG, 200, &pz, &run, &m2x, &e));
    g_assert_cmpuint (m2x.sums, >=, (gsize) 1920 * 1080 * 4 * (16 * 3 + 12)); /* float sums: 16 B a colour */
    g_assert_cmpuint (m2x.need, >, m1.need);
    pz.drizzle = TSR_DRIZZLE_OFF; /* demosaiced: the output is at the reference scale (no more
                                     than drizzle's scale-1 sums, which hold the μ, σ too) */
    g_assert_true (tsr_tbqr_memory_plan (1920, 1080, 1, TSR_CFA_GRBG, 200, &pz, &run, &m2x, &e));
    g_assert_cmpuint (m2x.need, <=, m1.need);
    /* (less by up to 16 B a pixel: the demosaiced finish writes its results over its sums,
     * drizzle's are images beside its sums) */
    g_assert_cmpuint (m2x.need, >=, m1.need - (gsize) 1920 * 1080 * 16);
    run.memory_budget_mb = 2048;
  }
  /* three 12000 × 9000 mono frames do not fit 4 GiB: refused, with a need above it */
  run.memory_budget_mb = 4096;
  g_assert_false (tsr_tbqr_memory_plan (12000, 9000, 1, TSR_CFA_NONE, 3, &p, &run, &m, &e));
  g_assert_error (e, TSR_ERROR, TSR_ERROR_TOO_LARGE);
  g_clear_error (&e);
  g_assert_cmpuint (m.need, >, 4096 * mib);
  /* without rejection (two frames) the sums are smaller */
  TsrTbqrMemory m2;
  run.memory_budget_mb = 1 << 20;
  g_assert_true (tsr_tbqr_memory_plan (12000, 9000, 1, TSR_CFA_NONE, 2, &p, &run, &m2, &e));
  g_assert_true (tsr_tbqr_memory_plan (12000, 9000, 1, TSR_CFA_NONE, 3, &p, &run, &m, &e));
  g_assert_cmpuint (m2.sums, <, m.sums);
}

/* The sharpness check of validation (validate.fwhm_gain): with the default 0 a FWHM loss
 * fails only when the point-source SNR is lower too. The first case is seestar-ngc7023 at
 * the defaults before the rule changed (FWHM 1.773 → 1.851 px, point-source SNR 40.8 →
 * 49.0), which the former rule (FWHM reduction ≥ fwhm_gain, SNR not looked at) failed. */
static void
test_sharpness_rule (void)
{
  g_assert_true (tsr_tbqr_sharpness_check (1.851 / 1.773, 49.0 / 40.8, 0.0));
  /* worse than the mean stack in FWHM and in point-source SNR */
  g_assert_false (tsr_tbqr_sharpness_check (1.851 / 1.773, 40.0 / 40.8, 0.0));
  g_assert_false (tsr_tbqr_sharpness_check (1.001, 0.999, 0.0));
  /* sharper at a lower SNR: a trade the other way, passes */
  g_assert_true (tsr_tbqr_sharpness_check (0.96, 0.97, 0.0));
  g_assert_true (tsr_tbqr_sharpness_check (1.0, 0.5, 0.0));
  /* a demanded FWHM reduction is not bought by SNR */
  g_assert_false (tsr_tbqr_sharpness_check (0.97, 1.30, 0.05));
  g_assert_true (tsr_tbqr_sharpness_check (0.94, 0.90, 0.05));
  /* a negative fwhm_gain tolerates that much loss even at a lower SNR */
  g_assert_true (tsr_tbqr_sharpness_check (1.04, 0.90, -0.05));
  g_assert_false (tsr_tbqr_sharpness_check (1.06, 0.90, -0.05));
  g_assert_true (tsr_tbqr_sharpness_check (1.06, 1.01, -0.05));
  /* no point-source SNR (no matched stars): only the FWHM counts; no FWHM: fails */
  g_assert_false (tsr_tbqr_sharpness_check (1.01, NAN, 0.0));
  g_assert_true (tsr_tbqr_sharpness_check (0.99, NAN, 0.0));
  g_assert_false (tsr_tbqr_sharpness_check (NAN, 1.2, 0.0));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tbqr/memory-plan", test_memory_plan);
  g_test_add_func ("/tbqr/robust-z", test_robust_z_missing);
  g_test_add_func ("/tbqr/validation", test_validation);
  g_test_add_func ("/tbqr/sharpness-rule", test_sharpness_rule);
  g_test_add_func ("/tbqr/local-follows-field", test_local_follows_field);
  g_test_add_func ("/tbqr/invalid-frames", test_invalid_frames_unused);
  g_test_add_func ("/tbqr/trails", test_no_trail_residue);
  g_test_add_func ("/tbqr/weights", test_weights);
  g_test_add_func ("/tbqr/cancel", test_cancel);
  g_test_add_func ("/tbqr/bayer-photometry", test_bayer_photometry);
  g_test_add_func ("/tbqr/tile-spill-full", test_tile_spill_full);
  g_test_add_func ("/tbqr/per-channel-weights", test_per_channel_weights);
  g_test_add_func ("/tbqr/per-channel-mono", test_per_channel_mono);
  g_test_add_func ("/tbqr/per-channel-uniform", test_per_channel_uniform);
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
