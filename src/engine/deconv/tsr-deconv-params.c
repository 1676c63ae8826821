/* tsr-deconv-params.c — defaults and key table of the deconvolution's parameters. */
#include "tsr-deconv-params.h"

#include <glib/gi18n.h>
#include <string.h>

G_STATIC_ASSERT (sizeof (TsrDeconvRho) == sizeof (int));
G_STATIC_ASSERT (sizeof (TsrDeconvSeed) == sizeof (int));
G_STATIC_ASSERT (sizeof (TsrDeconvPsfMode) == sizeof (int));
G_STATIC_ASSERT (TSR_RHO_L2 == 1);
G_STATIC_ASSERT (TSR_DECONV_SEED_TBQR == 1);
G_STATIC_ASSERT (TSR_DECONV_PSF_MOFFAT == 1);
G_STATIC_ASSERT (sizeof (TsrDeconvSolver) == sizeof (int));

/* Names in enum value order. */
static const char *const rho_choices[] = { "huber", "l2", NULL };
static const char *const dseed_choices[] = { "median", "tbqr", NULL };
static const char *const dpsf_choices[] = { "stars", "moffat", NULL };
static const char *const dcolor_choices[] = { "rgb", "cfa", "luminance", NULL };
static const char *const dsolver_choices[] = { "momentum", "plain", NULL };

static const TsrParamSpec specs[] = {
  /* deconvolution */
  TSR_KEY_INT (TsrDeconvParams, "deconv.iterations", iterations, 1, 1000,
               N_("Deconvolution iterations")),
  TSR_KEY_DOUBLE (TsrDeconvParams, "deconv.kappa", kappa, 1.01, 100,
                  N_("Largest per-iteration multiplicative update (kappa clip)")),
  TSR_KEY_DOUBLE (TsrDeconvParams, "deconv.delta", delta, -100, 100,
                  N_("Huber threshold delta; negative = automatic, |delta| x noise")),
  TSR_KEY_DOUBLE (TsrDeconvParams, "deconv.relax", relax, 0.05, 1,
                  N_("Relaxation of each deconvolution update")),
  TSR_KEY_DOUBLE (TsrDeconvParams, "deconv.accel", accel, 1, 8,
                  N_("Exponent on the deconvolution update ratio (1 = plain MM step; larger converges faster)")),
  TSR_KEY_INT (TsrDeconvParams, "deconv.sr", sr, 1, 3,
               N_("Super-resolution factor of the deconvolved image")),
  TSR_KEY_ENUM (TsrDeconvParams, "deconv.rho", rho, rho_choices,
                N_("Deconvolution loss: huber (robust to outliers) or l2")),
  TSR_KEY_INT (TsrDeconvParams, "deconv.min_iterations", min_iterations, 1, 1000,
               N_("Deconvolution iterations always run before the early stop may end the run")),
  TSR_KEY_BOOL (TsrDeconvParams, "deconv.early_stop", early_stop,
                N_("Stop the deconvolution early when the updates become small")),
  TSR_KEY_DOUBLE (TsrDeconvParams, "deconv.stop_tol", stop_tol, 1e-6, 0.5,
                  N_("Early-stop threshold on the smoothed median update and relative change")),
  TSR_KEY_ENUM (TsrDeconvParams, "deconv.seed", seed, dseed_choices,
                N_("Starting image of the deconvolution: per-pixel median of the frames, or the TBQR result")),
  TSR_KEY_ENUM (TsrDeconvParams, "deconv.psf", psf, dpsf_choices,
                N_("Per-frame PSFs from stacked star stamps (Moffat fallback), or Moffat from FWHM only")),
  TSR_KEY_ENUM (TsrDeconvParams, "deconv.color", color, dcolor_choices,
                N_("Bayer frames: rgb = demosaic each frame, one latent per channel; cfa = each frame's own CFA sites only; "
                    "luminance = one luminance latent, colours from the mean stack's smoothed colour ratios")),
  TSR_KEY_DOUBLE (TsrDeconvParams, "deconv.gain", gain, 0, 1e6,
                  N_("Gain in electrons per ADU for the Poisson variance term; 0 = background RMS only")),
  TSR_KEY_DOUBLE (TsrDeconvParams, "deconv.memory_mb", memory_mb, 32, 1048576,
                  N_("Memory budget of the deconvolution in MiB (decides tile size and threads)")),
  TSR_KEY_ENUM (TsrDeconvParams, "deconv.solver", solver, dsolver_choices,
                N_("Deconvolution solver: momentum (safeguarded extrapolation with restart, convergent) or plain MM steps")),
  TSR_KEY_DOUBLE (TsrDeconvParams, "deconv.stop_rel", stop_rel, 0.01, 1,
                  N_("Early stop when the smoothed update and change fall below this fraction of their first values, twice in a row")),
  TSR_KEY_DOUBLE (TsrDeconvParams, "deconv.pedestal", pedestal, 0.5, 100,
                  N_("How far below zero the deconvolved sky may go, in frame noise sigma (keeps the sky noise unclipped)")),
  TSR_KEY_BOOL (TsrDeconvParams, "deconv.mask_saturated", mask_saturated,
                N_("Leave saturated pixels (and their neighbours) out of the deconvolution's data term")),
  TSR_KEY_BOOL (TsrDeconvParams, "deconv.gain_auto", gain_auto,
                N_("Estimate the gain (e-/ADU) for the Poisson variance from the frames when deconv.gain is 0")),
  TSR_KEY_DOUBLE (TsrDeconvParams, "deconv.smooth", smooth, 0, 100,
                  N_("Weight of the smoothness prior on the deconvolved image (damps the noise; not used with super-resolution); 0 = none")),
  TSR_KEY_DOUBLE (TsrDeconvParams, "deconv.smooth_sigma", smooth_sigma, 0.3, 4,
                  N_("Width in pixels of the smoothing kernel of the smoothness prior")),
  TSR_KEY_DOUBLE (TsrDeconvParams, "deconv.bright_floor", bright_floor, 0, 1000,
                  N_("Where the sources stand this many noise sigma above the local sky, the deconvolved image round them stays above that sky (the mean of each annulus round a star; every pixel of an extended source): no dark rings; 0 = off")),
  TSR_KEY_DOUBLE (TsrDeconvParams, "deconv.target_fwhm", target_fwhm, 0, 10,
                  N_("Resolution of the deconvolved image: FWHM in pixels of the Gaussian it is resolved to (no ringing round stars that a point cannot be sampled as); 0 = a point")),
  TSR_KEY_BOOL (TsrDeconvParams, "deconv.fit_scale", fit_scale,
                N_("Refit each frame's photometric scale to the deconvolution's model while it runs (the star-flux ratios scatter by a few per cent)")),
  TSR_KEY_BOOL (TsrDeconvParams, "deconv.flux_anchor", flux_anchor,
                N_("Scale the deconvolved image to the mean stack's star fluxes (measured on the deconvolved image convolved back to the frames' mean PSF)")),
  TSR_KEY_DOUBLE (TsrDeconvParams, "deconv.faint_floor", faint_floor, 0, 1000,
                  N_("Round fainter sources (this many noise sigma above the local sky, below deconv.bright_floor) the mean of each annulus of the deconvolved image stays at most half the stack's noise below that sky; 0 = off")),
};

void
tsr_deconv_params_init (TsrDeconvParams *p)
{
  g_return_if_fail (p != NULL);

  memset (p, 0, sizeof *p);
  p->iterations = 40;
  p->kappa = 2.0;
  p->delta = -2.5;
  p->relax = 1.0;
  p->accel = 1.0;
  p->color = TSR_DECONV_COLOR_LUMINANCE;
  p->sr = 1;
  p->rho = TSR_RHO_HUBER;
  p->min_iterations = 3;
  p->early_stop = TRUE;
  p->stop_tol = 0.002;
  p->seed = TSR_DECONV_SEED_MEDIAN;
  p->psf = TSR_DECONV_PSF_STARS;
  p->gain = 0.0;
  p->memory_mb = 1024.0;
  p->solver = TSR_DECONV_SOLVER_MOMENTUM;
  p->stop_rel = 0.4;
  p->pedestal = 1.5;
  p->mask_saturated = TRUE;
  p->gain_auto = TRUE;
  p->smooth = 5e-4;
  p->smooth_sigma = 1.0;
  p->bright_floor = 10.0;
  p->faint_floor = 2.0;
  p->target_fwhm = 0.0;
  p->fit_scale = TRUE;
  p->flux_anchor = TRUE;
}

const TsrParamSpec *
tsr_deconv_params_specs (guint *n)
{
  return tsr_keys_table (specs, G_N_ELEMENTS (specs), n);
}

gboolean
tsr_deconv_params_validate (const TsrDeconvParams *p, GError **error)
{
  return tsr_keys_check_ranges (specs, G_N_ELEMENTS (specs), p, error);
}

char *
tsr_deconv_params_history (const TsrDeconvParams *p, const TsrTbqrParams *tp, const TsrRunParams *run)
{
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, "Tessera params v%d:", TSR_PARAMS_VERSION);
  guint n;
  const TsrParamSpec *t = tsr_tbqr_params_specs (&n);
  tsr_keys_history_append (s, t, n, tp);
  tsr_keys_history_append (s, specs, G_N_ELEMENTS (specs), p);
  t = tsr_run_params_specs (&n);
  tsr_keys_history_append (s, t, n, run);
  return g_string_free (s, FALSE);
}
