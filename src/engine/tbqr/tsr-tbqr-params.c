/* tsr-tbqr-params.c — defaults, key table and cross-field checks of a TBQR run's parameters.
 * Order of the table is the order of the project file, the history line and
 * docs/parameters.md; keys of one section are contiguous. */
#include "tsr-tbqr-params.h"
#include "tsr-error.h"

#include <glib/gi18n.h>
#include <math.h>
#include <string.h>

G_STATIC_ASSERT (sizeof (TsrModel) == sizeof (int));
G_STATIC_ASSERT (sizeof (TsrInterp) == sizeof (int));
G_STATIC_ASSERT (sizeof (TsrLumaMode) == sizeof (int));
G_STATIC_ASSERT (sizeof (TsrNormMode) == sizeof (int));
G_STATIC_ASSERT (sizeof (TsrEnergyMode) == sizeof (int));
G_STATIC_ASSERT (sizeof (TsrRejectMode) == sizeof (int));
G_STATIC_ASSERT (sizeof (TsrClusterMode) == sizeof (int));
G_STATIC_ASSERT (sizeof (TsrLocalMode) == sizeof (int));
G_STATIC_ASSERT (sizeof (TsrDemosaicMethod) == sizeof (int));
G_STATIC_ASSERT (TSR_MODEL_HOMOGRAPHY == 2);
G_STATIC_ASSERT (TSR_INTERP_BILINEAR == 2);
G_STATIC_ASSERT (TSR_LUMA_GREEN == 1);
G_STATIC_ASSERT (TSR_NORM_NONE == 2);
G_STATIC_ASSERT (TSR_ENERGY_PAPER == 1);
G_STATIC_ASSERT (TSR_COLOR_DEMOSAIC_FRAMES == 1);
G_STATIC_ASSERT (TSR_REJECT_WINSOR == 2);
G_STATIC_ASSERT (TSR_CLUSTER_ON == 2);
G_STATIC_ASSERT (TSR_LOCAL_PSF == 1);
G_STATIC_ASSERT (sizeof (TsrPsfSize) == sizeof (int));
G_STATIC_ASSERT (sizeof (TsrDrizzleMode) == sizeof (int));
G_STATIC_ASSERT (TSR_PSF_SIZE_MEAN == 1);
G_STATIC_ASSERT (TSR_DRIZZLE_ON == 2);

/* Names in enum value order. */
static const char *const model_choices[] = { "similarity", "affine", "homography", NULL };
static const char *const interp_choices[] = { "lanczos3", "bicubic", "bilinear", NULL };
static const char *const luma_choices[] = { "superpixel", "green", "cfa", NULL };
static const char *const norm_choices[] = { "additive", "divide", "none", NULL };
/* in TsrDemosaicMethod order */
static const char *const demosaic_choices[] = { "mhc", "rcd", NULL };
static const char *const color_choices[] = { "cfa-accumulate", "demosaic-frames", NULL };
static const char *const energy_choices[] = { "noise", "paper", NULL };
static const char *const reject_choices[] = { "none", "sigma", "winsor", NULL };
static const char *const local_mode_choices[] = { "quality", "psf", NULL };
static const char *const cluster_choices[] = { "auto", "off", "on", NULL };
static const char *const psf_size_choices[] = { "major", "mean", NULL };
static const char *const drizzle_choices[] = { "auto", "off", "on", NULL };

static const TsrParamSpec specs[] = {
  /* registration */
  TSR_KEY_ENUM (TsrTbqrParams, "register.model", reg.model, model_choices,
                N_("Geometric model of the registration transform")),
  TSR_KEY_INT (TsrTbqrParams, "register.reference", reg.reference, -1, 100000,
               N_("Reference frame (0-based in time order); -1 chooses automatically")),
  TSR_KEY_ENUM (TsrTbqrParams, "register.interp", reg.interp, interp_choices,
                N_("Interpolation used to warp frames into the reference geometry")),
  TSR_KEY_INT (TsrTbqrParams, "register.match_stars", reg.match_stars, 8, 200,
               N_("Brightest stars used for triangle matching")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "register.tolerance", reg.match_tolerance_px, 0.2, 20,
                  N_("Star-match inlier radius in full-resolution pixels")),
  TSR_KEY_INT (TsrTbqrParams, "register.min_matched", reg.min_matched, 3, 100,
               N_("Fewer matched stars than this means star matching failed")),
  TSR_KEY_BOOL (TsrTbqrParams, "register.starless", reg.starless_fallback,
                N_("Fall back to phase correlation when star matching fails")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "register.min_phase_peak", reg.min_phase_peak, 0, 1,
                  N_("Phase-correlation peak below which the starless fallback failed")),
  TSR_KEY_INT (TsrTbqrParams, "register.cc_size", reg.cc_size, 64, 4096,
               N_("Longest side in pixels of the images compared for the registration correlation")),

  /* stars */
  TSR_KEY_DOUBLE (TsrTbqrParams, "stars.sigma", reg.stars.detect_sigma, 1.5, 100,
                  N_("Star detection threshold in units of the background RMS")),
  TSR_KEY_INT (TsrTbqrParams, "stars.min_area", reg.stars.min_area, 1, 100,
               N_("Minimum connected pixels of a detected star")),
  TSR_KEY_INT (TsrTbqrParams, "stars.max_stars", reg.stars.max_stars, 10, 20000,
               N_("Keep the brightest N stars per frame")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "stars.saturation", reg.stars.saturation, 0, 1e9,
                  N_("Saturation level in ADU; 0 determines it from the data")),
  TSR_KEY_ENUM (TsrTbqrParams, "stars.luma", reg.stars.luma, luma_choices,
                N_("Luminance proxy of Bayer frames: 2x2 superpixels, interpolated green, or green with every CFA site fitted (cfa)")),
  TSR_KEY_BOOL (TsrTbqrParams, "stars.fit", reg.stars.fit,
                N_("Fit a PSF to every star (otherwise use image moments only)")),
  TSR_KEY_INT (TsrTbqrParams, "stars.bg_box", reg.stars.bg_box, 8, 4096,
               N_("Background mesh size in pixels of the luminance proxy")),
  TSR_KEY_BOOL (TsrTbqrParams, "stars.bg_decimate", reg.stars.bg_decimate,
                N_("Measure the background mesh of a large frame on a quarter of its samples (faster)")),

  /* validity gate */
  TSR_KEY_DOUBLE (TsrTbqrParams, "gate.cc_min", reg.reject_cc_min_abs, -1, 1,
                  N_("Absolute minimum registration correlation of a valid frame")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "gate.cc_mad", reg.reject_cc_mad_multiplier, 0, 100,
                  N_("Gate frames whose correlation is below the median minus this many robust σ (1.4826·MAD)")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "gate.cc_margin", reg.reject_cc_margin_min, 0, 2,
                  N_("The gate's distance below the median correlation is never smaller than this")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "gate.scale_min", reg.reject_scale_min, 0.1, 1,
                  N_("Smallest accepted scale of the registration transform")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "gate.scale_max", reg.reject_scale_max, 1, 10,
                  N_("Largest accepted scale of the registration transform")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "gate.shift_min", reg.reject_shift_px_min, 0, 100000,
                  N_("Shifts from the session median shorter than this (px) are never gated")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "gate.shift_mult", reg.reject_shift_median_multiplier, 0, 1000,
                  N_("Gate shifts longer than this multiple of the median shift")),
  TSR_KEY_BOOL (TsrTbqrParams, "gate.keep_gated", keep_gated,
                N_("Keep gated frames in the weighting (diagnostics only)")),
  TSR_KEY_BOOL (TsrTbqrParams, "gate.trust_stars", reg.reject_cc_trust_stars,
                N_("Do not gate a low registration correlation when many star inliers confirm the registration")),

  /* normalisation */
  TSR_KEY_ENUM (TsrTbqrParams, "norm.mode", norm, norm_choices,
                N_("Normalisation: additive background plus star-flux scale, divide by background, or none")),
  TSR_KEY_BOOL (TsrTbqrParams, "norm.color", norm_color,
                N_("Photometric scale per CFA colour from the colour ratios of matched stars (where significant)")),
  TSR_KEY_ENUM (TsrTbqrParams, "norm.color_method", color_method, color_choices,
                N_("Colour of Bayer sessions: accumulate per CFA colour and demosaic once, or demosaic each frame before accumulation")),
  TSR_KEY_ENUM (TsrTbqrParams, "norm.demosaic", demosaic, demosaic_choices,
                N_("Demosaic of each frame: rcd (edge-directed colour differences, flux-conserving) or mhc (Malvar-He-Cutler)")),

  /* global quality */
  TSR_KEY_DOUBLE (TsrTbqrParams, "global.alpha", alpha, 0, 1,
                  N_("Weight of the background term in the global quality (alpha + beta + gamma = 1)")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "global.beta", beta, 0, 1,
                  N_("Weight of the noise term in the global quality")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "global.gamma", gamma, 0, 1,
                  N_("Weight of the gradient-energy term in the global quality")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "global.k", global_k, 0, 10,
                  N_("Steepness k of the global weight G = exp(k * clip(Q, -c, c))")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "global.clamp", global_clamp, 0.1, 20,
                  N_("Clamp c of the global quality Q")),
  TSR_KEY_ENUM (TsrTbqrParams, "global.energy", energy, energy_choices,
                N_("Gradient energy: normalised by noise, or as in the paper")),
  TSR_KEY_BOOL (TsrTbqrParams, "global.ivw", global_ivw,
                N_("Multiply G by the inverse-variance factor (median noise / frame noise)^2")),
  TSR_KEY_BOOL (TsrTbqrParams, "global.per_channel", global_per_channel,
                N_("Colour sessions: the inverse-variance factor per colour channel, from each channel's own noise, where a frame's differs by more than 10 %")),

  /* tiles */
  TSR_KEY_DOUBLE (TsrTbqrParams, "tiles.s", tile_s, 1, 1000,
                  N_("Tile size factor: tile side = s x median FWHM, clamped to [tiles.min, tiles.max]")),
  TSR_KEY_INT (TsrTbqrParams, "tiles.min", tile_min, 16, 4096,
               N_("Smallest tile side in pixels")),
  TSR_KEY_INT (TsrTbqrParams, "tiles.max", tile_max, 0, 65536,
               N_("Largest tile side in pixels; 0 = min(width, height) / 6")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "tiles.overlap", tile_overlap, 0, 0.9,
                  N_("Overlap of neighbouring tiles as a fraction of the tile side")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "tiles.star_threshold", star_tile_threshold, 0, 10000,
                  N_("Median stars per tile at or above which a tile is a star tile")),

  /* local quality */
  TSR_KEY_DOUBLE (TsrTbqrParams, "local.fwhm", w_fwhm, -10, 10,
                  N_("Weight of FWHM in the local quality of star tiles")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "local.roundness", w_round, -10, 10,
                  N_("Weight of roundness in the local quality of star tiles")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "local.contrast", w_contrast, -10, 10,
                  N_("Weight of contrast in the local quality of star tiles")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "local.energy", w_energy, -10, 10,
                  N_("Weight of gradient energy in the local quality of structure tiles")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "local.background", w_background, -10, 10,
                  N_("Weight of the background in the local quality of structure tiles")),
  TSR_KEY_BOOL (TsrTbqrParams, "local.psf_model", local_psf_model,
                N_("Tiles with few stars take their FWHM from the frame's PSF field model (a smooth fit to all its stars)")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "local.k", local_k, 0, 10,
                  N_("Steepness k of the local weight L = exp(k * clip(Q_local, -c, c)) of structure tiles, and of star tiles with local.mode=quality")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "local.clamp", local_clamp, 0.1, 20,
                  N_("Clamp c of the local quality")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "local.cap", weight_cap, 0, 1e6,
                  N_("Largest max/min weight ratio within a tile; 0 = no cap")),
  TSR_KEY_ENUM (TsrTbqrParams, "local.mode", local_mode, local_mode_choices,
                N_("Local weight of star tiles: exp(k * clip(quality)) of z-scores, or the PSF form (F / median F)^-p of the tile's FWHM")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "local.p", local_p, 0, 20,
                  N_("Exponent p of the PSF form of the local weight (local.mode=psf); 2 is the point-source matched filter")),
  TSR_KEY_ENUM (TsrTbqrParams, "local.psf_size", local_psf_size, psf_size_choices,
                N_("Star size behind the local weight of star tiles: major-axis FWHM (sees elongation) or mean FWHM")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "local.feather", local_feather, 0, 20,
                  N_("Per-frame weights fall to zero over this many tile sides at each frame's footprint edge; 0 = off")),

  /* rejection */
  TSR_KEY_ENUM (TsrTbqrParams, "reject.mode", reject, reject_choices,
                N_("Per-pixel outlier rejection: none, sigma clipping or winsorized sigma clipping")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "reject.kappa", reject_kappa, 0.5, 20,
                  N_("Rejection threshold in robust standard deviations")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "reject.min_fraction", reject_min_fraction, 0.05, 1,
                  N_("Fraction of the samples of a pixel that rejection always keeps")),

  /* Bayer drizzle */
  TSR_KEY_ENUM (TsrTbqrParams, "drizzle.mode", drizzle, drizzle_choices,
                N_("Bayer drizzle of raw CFA samples instead of demosaic and warp: auto (enough frames and dither), off or on")),
  TSR_KEY_INT (TsrTbqrParams, "drizzle.scale", drizzle_scale, 1, 2,
               N_("Drizzle output pixels per input pixel along each axis (1 or 2)")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "drizzle.pixfrac", drizzle_pixfrac, 0.1, 1,
                  N_("Side of a drizzle drop as a fraction of the input pixel side")),
  TSR_KEY_INT (TsrTbqrParams, "drizzle.min_frames", drizzle_min_frames, 2, 100000,
               N_("Fewest frames for which drizzle.mode=auto drizzles")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "drizzle.min_coverage", drizzle_min_coverage, 0, 1,
                  N_("Fraction of output pixels that drops of every colour must reach for drizzle.mode=auto to drizzle")),

  /* clusters */
  TSR_KEY_ENUM (TsrTbqrParams, "cluster.mode", clusters, cluster_choices,
                N_("Cluster aggregation: auto (when there are at least cluster.auto_min frames), off or on")),
  TSR_KEY_INT (TsrTbqrParams, "cluster.auto_min", cluster_auto_min, 1, 10000000,
               N_("Frame count from which cluster.mode=auto clusters frames")),
  TSR_KEY_INT (TsrTbqrParams, "cluster.k_min", cluster_k_min, 1, 100,
               N_("Fewest clusters")),
  TSR_KEY_INT (TsrTbqrParams, "cluster.k_max", cluster_k_max, 1, 1000,
               N_("Most clusters")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "cluster.kappa", kappa_cluster, 0, 100,
                  N_("Steepness kappa of the cluster weights w_k = exp(kappa * Q_k)")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "cluster.r_cap", r_cap, 1, 1e6,
                  N_("Largest ratio between cluster weights when cluster.cap is on")),
  TSR_KEY_BOOL (TsrTbqrParams, "cluster.cap", cap_enabled,
                N_("Cap the ratio between cluster weights at cluster.r_cap")),

  /* validation */
  TSR_KEY_DOUBLE (TsrTbqrParams, "validate.fwhm_gain", val_fwhm_gain, -1, 1,
                  N_("Minimum relative FWHM reduction versus the mean stack; at 0 or below, a larger FWHM loss passes when the point-source SNR is higher than the mean stack's")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "validate.noise_max", val_noise_max, 0.1, 100,
                  N_("Largest accepted normalised noise ratio versus the mean stack")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "validate.flux_tol", val_flux_tol, 0, 1,
                  N_("Largest accepted relative star-flux difference versus the mean stack")),
  TSR_KEY_DOUBLE (TsrTbqrParams, "validate.seam_max", val_seam_max, 1, 100,
                  N_("Largest accepted seam metric (gradient at tile borders over elsewhere)")),
};

void
tsr_tbqr_params_init (TsrTbqrParams *p)
{
  g_return_if_fail (p != NULL);

  memset (p, 0, sizeof *p);
  tsr_register_params_init (&p->reg);
  p->keep_gated = FALSE;
  p->global_ivw = TRUE;
  p->global_per_channel = TRUE;

  p->norm = TSR_NORM_ADDITIVE_SCALE;
  p->norm_color = TRUE;
  p->color_method = TSR_COLOR_DEMOSAIC_FRAMES;
  p->demosaic = TSR_DEMOSAIC_RCD;

  p->alpha = 0.4;
  p->beta = 0.3;
  p->gamma = 0.3;
  p->global_k = 0.0;
  p->global_clamp = 1.5;
  p->energy = TSR_ENERGY_NOISE_NORMALISED;

  p->tile_s = 32.0;
  p->tile_min = 64;
  p->tile_max = 0;
  p->tile_overlap = 0.5;
  p->star_tile_threshold = 10.0;

  p->w_fwhm = 0.6;
  p->w_round = 0.2;
  p->w_contrast = 0.2;
  p->w_energy = 0.7;
  p->w_background = -0.3;
  p->local_psf_model = TRUE;
  p->local_k = 0.5;
  p->local_clamp = 1.5;
  p->weight_cap = 0.0;
  p->local_mode = TSR_LOCAL_PSF;
  p->local_p = 2.0;
  p->local_psf_size = TSR_PSF_SIZE_MEAN;
  p->local_feather = 2.0;

  p->drizzle = TSR_DRIZZLE_AUTO;
  p->drizzle_scale = 1;
  p->drizzle_pixfrac = 0.8;
  p->drizzle_min_frames = 30;
  p->drizzle_min_coverage = 0.97;

  p->reject = TSR_REJECT_SIGMA;
  p->reject_kappa = 3.0;
  p->reject_min_fraction = 0.5;

  p->clusters = TSR_CLUSTER_AUTO;
  p->cluster_auto_min = 200;
  p->cluster_k_min = 5;
  p->cluster_k_max = 30;
  p->kappa_cluster = 1.0;
  p->r_cap = 20.0;
  p->cap_enabled = FALSE;

  p->val_fwhm_gain = 0.0;
  p->val_noise_max = 1.05;
  p->val_flux_tol = 0.01;
  p->val_seam_max = 1.2;
}

const TsrParamSpec *
tsr_tbqr_params_specs (guint *n)
{
  return tsr_keys_table (specs, G_N_ELEMENTS (specs), n);
}

gboolean
tsr_tbqr_params_validate (const TsrTbqrParams *p, GError **error)
{
  g_return_val_if_fail (p != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!tsr_keys_check_ranges (specs, G_N_ELEMENTS (specs), p, error))
    return FALSE;

  double sum = p->alpha + p->beta + p->gamma;
  if (fabs (sum - 1.0) > 1e-6)
    {
      g_autofree char *ssum = tsr_key_format_number (sum);
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("global.alpha + global.beta + global.gamma must be 1 (they sum to %s)"), ssum);
      return FALSE;
    }
  if (p->tile_max > 0 && p->tile_min > p->tile_max)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("tiles.min (%d) is larger than tiles.max (%d); set tiles.max = 0 for automatic"),
                   p->tile_min, p->tile_max);
      return FALSE;
    }
  if (p->cluster_k_min > p->cluster_k_max)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("cluster.k_min (%d) is larger than cluster.k_max (%d)"),
                   p->cluster_k_min, p->cluster_k_max);
      return FALSE;
    }
  if (!(p->reg.reject_scale_min <= 1.0 && 1.0 <= p->reg.reject_scale_max))
    {
      g_autofree char *lo = tsr_key_format_number (p->reg.reject_scale_min);
      g_autofree char *hi = tsr_key_format_number (p->reg.reject_scale_max);
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("gate.scale_min (%s) ≤ 1 ≤ gate.scale_max (%s) must hold"), lo, hi);
      return FALSE;
    }
  if (p->w_fwhm == 0 && p->w_round == 0 && p->w_contrast == 0)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("local.fwhm, local.roundness and local.contrast are all 0: star tiles "
                     "would have no quality measure"));
      return FALSE;
    }
  if (p->w_energy == 0 && p->w_background == 0)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("local.energy and local.background are both 0: structure tiles would "
                     "have no quality measure"));
      return FALSE;
    }
  if (p->weight_cap != 0 && p->weight_cap < 1.0)
    {
      g_autofree char *v = tsr_key_format_number (p->weight_cap);
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("local.cap = %s is a max/min ratio: use 0 (off) or a value ≥ 1"), v);
      return FALSE;
    }
  if (p->reg.min_matched > p->reg.match_stars)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("register.min_matched (%u) is larger than register.match_stars (%u)"),
                   p->reg.min_matched, p->reg.match_stars);
      return FALSE;
    }
  return TRUE;
}

char *
tsr_tbqr_params_history (const TsrTbqrParams *p, const TsrRunParams *run)
{
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, "Tessera params v%d:", TSR_PARAMS_VERSION);
  tsr_keys_history_append (s, specs, G_N_ELEMENTS (specs), p);
  guint n;
  const TsrParamSpec *rs = tsr_run_params_specs (&n);
  tsr_keys_history_append (s, rs, n, run);
  return g_string_free (s, FALSE);
}
