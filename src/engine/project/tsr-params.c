/* tsr-params.c — the parameters of a TBQR run: defaults, the key table shared by the CLI
 * (--set key=value), the .tessera project file and the window, parsing, cross-field checks
 * and the project file itself. See docs/parameters.md.
 */
#include "tsr-params.h"
#include "tsr-error.h"
#include "tsr-json.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

/* Every enum, int and boolean field is read and written through an int *; make sure they
 * really are int-sized. */
G_STATIC_ASSERT (sizeof (TsrModel) == sizeof (int));
G_STATIC_ASSERT (sizeof (TsrInterp) == sizeof (int));
G_STATIC_ASSERT (sizeof (TsrLumaMode) == sizeof (int));
G_STATIC_ASSERT (sizeof (TsrNormMode) == sizeof (int));
G_STATIC_ASSERT (sizeof (TsrEnergyMode) == sizeof (int));
G_STATIC_ASSERT (sizeof (TsrRejectMode) == sizeof (int));
G_STATIC_ASSERT (sizeof (TsrClusterMode) == sizeof (int));
G_STATIC_ASSERT (sizeof (TsrLocalMode) == sizeof (int));
G_STATIC_ASSERT (sizeof (TsrDeconvRho) == sizeof (int));
G_STATIC_ASSERT (sizeof (TsrDeconvSeed) == sizeof (int));
G_STATIC_ASSERT (sizeof (TsrDeconvPsfMode) == sizeof (int));
G_STATIC_ASSERT (sizeof (gboolean) == sizeof (int));
G_STATIC_ASSERT (sizeof (guint) == sizeof (int));

#define PROJECT_MAX_BYTES (1024 * 1024)
#define MIB ((gsize) 1024 * 1024)

/* The offset of a field, with a compile-time check that the field has the size the table's
 * type expects (a negative array size fails to compile). */
#define FIELD(field, ctype) \
  (G_STRUCT_OFFSET (TsrParams, field) \
   + 0 * sizeof (char[sizeof (((TsrParams *) 0)->field) == sizeof (ctype) ? 1 : -1]))

#define P_DOUBLE(k, f, lo, hi, h) { k, TSR_PARAM_DOUBLE, FIELD (f, double), lo, hi, NULL, h }
#define P_INT(k, f, lo, hi, h)    { k, TSR_PARAM_INT, FIELD (f, int), lo, hi, NULL, h }
#define P_BOOL(k, f, h)           { k, TSR_PARAM_BOOL, FIELD (f, int), 0, 1, NULL, h }
#define P_ENUM(k, f, c, h)        { k, TSR_PARAM_ENUM, FIELD (f, int), 0, G_N_ELEMENTS (c) - 2, c, h }

/* Names in enum value order. */
static const char *const model_choices[] = { "similarity", "affine", "homography", NULL };
static const char *const interp_choices[] = { "lanczos3", "bicubic", "bilinear", NULL };
static const char *const luma_choices[] = { "superpixel", "green", "cfa", NULL };
static const char *const norm_choices[] = { "additive", "divide", "none", NULL };
static const char *const color_choices[] = { "cfa-accumulate", "demosaic-frames", NULL };
static const char *const energy_choices[] = { "noise", "paper", NULL };
static const char *const reject_choices[] = { "none", "sigma", "winsor", NULL };
static const char *const local_mode_choices[] = { "quality", "psf", NULL };
static const char *const cluster_choices[] = { "auto", "off", "on", NULL };
static const char *const rho_choices[] = { "huber", "l2", NULL };
static const char *const dseed_choices[] = { "median", "tbqr", NULL };
static const char *const dpsf_choices[] = { "stars", "moffat", NULL };
static const char *const dcolor_choices[] = { "rgb", "cfa", NULL };

G_STATIC_ASSERT (TSR_MODEL_HOMOGRAPHY == 2);
G_STATIC_ASSERT (TSR_INTERP_BILINEAR == 2);
G_STATIC_ASSERT (TSR_LUMA_GREEN == 1);
G_STATIC_ASSERT (TSR_NORM_NONE == 2);
G_STATIC_ASSERT (TSR_ENERGY_PAPER == 1);
G_STATIC_ASSERT (TSR_COLOR_DEMOSAIC_FRAMES == 1);
G_STATIC_ASSERT (TSR_REJECT_WINSOR == 2);
G_STATIC_ASSERT (TSR_CLUSTER_ON == 2);
G_STATIC_ASSERT (TSR_LOCAL_PSF == 1);
G_STATIC_ASSERT (TSR_RHO_L2 == 1);
G_STATIC_ASSERT (TSR_DECONV_SEED_TBQR == 1);
G_STATIC_ASSERT (TSR_DECONV_PSF_MOFFAT == 1);

/* Order here is the order of the project file, the history line and docs/parameters.md.
 * Keys of one section are contiguous. */
static const TsrParamSpec specs[] = {
  /* registration */
  P_ENUM ("register.model", reg.model, model_choices,
          N_("Geometric model of the registration transform")),
  P_INT ("register.reference", reg.reference, -1, 100000,
         N_("Reference frame (0-based in time order); -1 chooses automatically")),
  P_ENUM ("register.interp", reg.interp, interp_choices,
          N_("Interpolation used to warp frames into the reference geometry")),
  P_INT ("register.match_stars", reg.match_stars, 8, 200,
         N_("Brightest stars used for triangle matching")),
  P_DOUBLE ("register.tolerance", reg.match_tolerance_px, 0.2, 20,
            N_("Star-match inlier radius in full-resolution pixels")),
  P_INT ("register.min_matched", reg.min_matched, 3, 100,
         N_("Fewer matched stars than this means star matching failed")),
  P_BOOL ("register.starless", reg.starless_fallback,
          N_("Fall back to phase correlation when star matching fails")),
  P_DOUBLE ("register.min_phase_peak", reg.min_phase_peak, 0, 1,
            N_("Phase-correlation peak below which the starless fallback failed")),
  P_INT ("register.cc_size", reg.cc_size, 64, 4096,
         N_("Longest side in pixels of the images compared for the registration correlation")),

  /* stars */
  P_DOUBLE ("stars.sigma", reg.stars.detect_sigma, 1.5, 100,
            N_("Star detection threshold in units of the background RMS")),
  P_INT ("stars.min_area", reg.stars.min_area, 1, 100,
         N_("Minimum connected pixels of a detected star")),
  P_INT ("stars.max_stars", reg.stars.max_stars, 10, 20000,
         N_("Keep the brightest N stars per frame")),
  P_DOUBLE ("stars.saturation", reg.stars.saturation, 0, 1e9,
            N_("Saturation level in ADU; 0 determines it from the data")),
  P_ENUM ("stars.luma", reg.stars.luma, luma_choices,
          N_("Luminance proxy of Bayer frames: 2x2 superpixels or interpolated green")),
  P_BOOL ("stars.fit", reg.stars.fit,
          N_("Fit a PSF to every star (otherwise use image moments only)")),
  P_INT ("stars.bg_box", reg.stars.bg_box, 8, 4096,
         N_("Background mesh size in pixels of the luminance proxy")),

  /* validity gate */
  P_DOUBLE ("gate.cc_min", reg.reject_cc_min_abs, -1, 1,
            N_("Absolute minimum registration correlation of a valid frame")),
  P_DOUBLE ("gate.cc_mad", reg.reject_cc_mad_multiplier, 0, 100,
            N_("Gate frames whose correlation is below the median minus this many robust σ (1.4826·MAD)")),
  P_DOUBLE ("gate.cc_margin", reg.reject_cc_margin_min, 0, 2,
            N_("The gate's distance below the median correlation is never smaller than this")),
  P_DOUBLE ("gate.scale_min", reg.reject_scale_min, 0.1, 1,
            N_("Smallest accepted scale of the registration transform")),
  P_DOUBLE ("gate.scale_max", reg.reject_scale_max, 1, 10,
            N_("Largest accepted scale of the registration transform")),
  P_DOUBLE ("gate.shift_min", reg.reject_shift_px_min, 0, 100000,
            N_("Shifts from the session median shorter than this (px) are never gated")),
  P_DOUBLE ("gate.shift_mult", reg.reject_shift_median_multiplier, 0, 1000,
            N_("Gate shifts longer than this multiple of the median shift")),
  P_BOOL ("gate.keep_gated", keep_gated,
          N_("Keep gated frames in the weighting (diagnostics only)")),
  P_BOOL ("gate.trust_stars", reg.reject_cc_trust_stars,
          N_("Do not gate a low registration correlation when many star inliers confirm the registration")),

  /* normalisation */
  P_ENUM ("norm.mode", norm, norm_choices,
          N_("Normalisation: additive background plus star-flux scale, divide by background, or none")),
  P_BOOL ("norm.color", norm_color,
          N_("Photometric scale per CFA colour from the colour ratios of matched stars (where significant)")),
  P_ENUM ("norm.color_method", color_method, color_choices,
          N_("Colour of Bayer sessions: accumulate per CFA colour and demosaic once, or demosaic each frame before accumulation")),

  /* global quality */
  P_DOUBLE ("global.alpha", alpha, 0, 1,
            N_("Weight of the background term in the global quality (alpha + beta + gamma = 1)")),
  P_DOUBLE ("global.beta", beta, 0, 1,
            N_("Weight of the noise term in the global quality")),
  P_DOUBLE ("global.gamma", gamma, 0, 1,
            N_("Weight of the gradient-energy term in the global quality")),
  P_DOUBLE ("global.k", global_k, 0, 10,
            N_("Steepness k of the global weight G = exp(k * clip(Q, -c, c))")),
  P_DOUBLE ("global.clamp", global_clamp, 0.1, 20,
            N_("Clamp c of the global quality Q")),
  P_ENUM ("global.energy", energy, energy_choices,
          N_("Gradient energy: normalised by noise, or as in the paper")),
  P_BOOL ("global.ivw", global_ivw,
          N_("Multiply G by the inverse-variance factor (median noise / frame noise)^2")),

  /* tiles */
  P_DOUBLE ("tiles.s", tile_s, 1, 1000,
            N_("Tile size factor: tile side = s x median FWHM, clamped to [tiles.min, tiles.max]")),
  P_INT ("tiles.min", tile_min, 16, 4096,
         N_("Smallest tile side in pixels")),
  P_INT ("tiles.max", tile_max, 0, 65536,
         N_("Largest tile side in pixels; 0 = min(width, height) / 6")),
  P_DOUBLE ("tiles.overlap", tile_overlap, 0, 0.9,
            N_("Overlap of neighbouring tiles as a fraction of the tile side")),
  P_DOUBLE ("tiles.star_threshold", star_tile_threshold, 0, 10000,
            N_("Median stars per tile at or above which a tile is a star tile")),

  /* local quality */
  P_DOUBLE ("local.fwhm", w_fwhm, -10, 10,
            N_("Weight of FWHM in the local quality of star tiles")),
  P_DOUBLE ("local.roundness", w_round, -10, 10,
            N_("Weight of roundness in the local quality of star tiles")),
  P_DOUBLE ("local.contrast", w_contrast, -10, 10,
            N_("Weight of contrast in the local quality of star tiles")),
  P_DOUBLE ("local.energy", w_energy, -10, 10,
            N_("Weight of gradient energy in the local quality of structure tiles")),
  P_DOUBLE ("local.background", w_background, -10, 10,
            N_("Weight of the background in the local quality of structure tiles")),
  P_BOOL ("local.psf_model", local_psf_model,
          N_("Tiles with few stars take their FWHM from the frame's PSF field model (a smooth fit to all its stars)")),
  P_DOUBLE ("local.k", local_k, 0, 10,
            N_("Steepness k of the local weight L = exp(k * clip(Q_local, -c, c)) of structure tiles, and of star tiles with local.mode=quality")),
  P_DOUBLE ("local.clamp", local_clamp, 0.1, 20,
            N_("Clamp c of the local quality")),
  P_DOUBLE ("local.cap", weight_cap, 0, 1e6,
            N_("Largest max/min weight ratio within a tile; 0 = no cap")),
  P_ENUM ("local.mode", local_mode, local_mode_choices,
          N_("Local weight of star tiles: exp(k * clip(quality)) of z-scores, or the PSF form (F / median F)^-p of the tile's FWHM")),
  P_DOUBLE ("local.p", local_p, 0, 20,
            N_("Exponent p of the PSF form of the local weight (local.mode=psf); 2 is the point-source matched filter")),

  /* rejection */
  P_ENUM ("reject.mode", reject, reject_choices,
          N_("Per-pixel outlier rejection: none, sigma clipping or winsorized sigma clipping")),
  P_DOUBLE ("reject.kappa", reject_kappa, 0.5, 20,
            N_("Rejection threshold in robust standard deviations")),
  P_DOUBLE ("reject.min_fraction", reject_min_fraction, 0.05, 1,
            N_("Fraction of the samples of a pixel that rejection always keeps")),

  /* clusters */
  P_ENUM ("cluster.mode", clusters, cluster_choices,
          N_("Cluster aggregation: auto (when there are at least cluster.auto_min frames), off or on")),
  P_INT ("cluster.auto_min", cluster_auto_min, 1, 10000000,
         N_("Frame count from which cluster.mode=auto clusters frames")),
  P_INT ("cluster.k_min", cluster_k_min, 1, 100,
         N_("Fewest clusters")),
  P_INT ("cluster.k_max", cluster_k_max, 1, 1000,
         N_("Most clusters")),
  P_DOUBLE ("cluster.kappa", kappa_cluster, 0, 100,
            N_("Steepness kappa of the cluster weights w_k = exp(kappa * Q_k)")),
  P_DOUBLE ("cluster.r_cap", r_cap, 1, 1e6,
            N_("Largest ratio between cluster weights when cluster.cap is on")),
  P_BOOL ("cluster.cap", cap_enabled,
          N_("Cap the ratio between cluster weights at cluster.r_cap")),

  /* validation */
  P_DOUBLE ("validate.fwhm_gain", val_fwhm_gain, -1, 1,
            N_("Minimum relative FWHM reduction versus the mean stack; 0 only reports")),
  P_DOUBLE ("validate.noise_max", val_noise_max, 0.1, 100,
            N_("Largest accepted normalised noise ratio versus the mean stack")),
  P_DOUBLE ("validate.flux_tol", val_flux_tol, 0, 1,
            N_("Largest accepted relative star-flux difference versus the mean stack")),
  P_DOUBLE ("validate.seam_max", val_seam_max, 1, 100,
            N_("Largest accepted seam metric (gradient at tile borders over elsewhere)")),

  /* deconvolution */
  P_INT ("deconv.iterations", deconv_iterations, 1, 1000,
         N_("Deconvolution iterations")),
  P_DOUBLE ("deconv.kappa", deconv_kappa, 1.01, 100,
            N_("Largest per-iteration multiplicative update (kappa clip)")),
  P_DOUBLE ("deconv.delta", deconv_delta, -100, 100,
            N_("Huber threshold delta; negative = automatic, |delta| x noise")),
  P_DOUBLE ("deconv.relax", deconv_relax, 0.05, 1,
            N_("Relaxation of each deconvolution update")),
  P_DOUBLE ("deconv.accel", deconv_accel, 1, 8,
            N_("Exponent on the deconvolution update ratio (1 = plain MM step; larger converges faster)")),
  P_INT ("deconv.sr", deconv_sr, 1, 3,
         N_("Super-resolution factor of the deconvolved image")),
  P_ENUM ("deconv.rho", deconv_rho, rho_choices,
          N_("Deconvolution loss: huber (robust to outliers) or l2")),
  P_INT ("deconv.min_iterations", deconv_min_iterations, 1, 1000,
         N_("Deconvolution iterations always run before the early stop may end the run")),
  P_BOOL ("deconv.early_stop", deconv_early_stop,
          N_("Stop the deconvolution early when the updates become small")),
  P_DOUBLE ("deconv.stop_tol", deconv_stop_tol, 1e-6, 0.5,
            N_("Early-stop threshold on the smoothed median update and relative change")),
  P_ENUM ("deconv.seed", deconv_seed, dseed_choices,
          N_("Starting image of the deconvolution: per-pixel median of the frames, or the TBQR result")),
  P_ENUM ("deconv.psf", deconv_psf, dpsf_choices,
          N_("Per-frame PSFs from stacked star stamps (Moffat fallback), or Moffat from FWHM only")),
  P_ENUM ("deconv.color", deconv_color, dcolor_choices,
          N_("Bayer frames: rgb = demosaic each frame, one latent per channel; cfa = each frame's own CFA sites only")),
  P_DOUBLE ("deconv.gain", deconv_gain, 0, 1e6,
            N_("Gain in electrons per ADU for the Poisson variance term; 0 = background RMS only")),
  P_DOUBLE ("deconv.memory_mb", deconv_memory_mb, 32, 1048576,
            N_("Memory budget of the deconvolution in MiB (decides tile size and threads)")),

  /* resources */
  P_INT ("run.threads", n_threads, 0, 256,
         N_("Worker threads; 0 = one per CPU")),
  P_DOUBLE ("run.memory_mb", memory_budget_mb, 64, 1048576,
            N_("Memory budget in MiB")),
  P_BOOL ("run.cache", frame_cache,
          N_("Keep each frame warped and normalised during processing (in memory up to run.cache_memory_mb, the rest in a temporary file) instead of reading and warping it again")),
  P_DOUBLE ("run.cache_memory_mb", cache_memory_mb, 0, 1048576,
            N_("Memory in MiB for frames of the frame cache; frames beyond it go to the temporary file (0 = file only)")),
};

static const char *const sections[] = {
  "register", "stars", "gate", "norm", "global", "tiles", "local", "reject", "cluster",
  "validate", "deconv", "run", NULL
};

/* Derived fields that mirror a key: the registration's own resources follow run.*. */
static void
sync_derived (TsrParams *p)
{
  p->reg.n_threads = p->n_threads;
  p->reg.memory_budget = (gsize) (p->memory_budget_mb * (double) MIB);
}

void
tsr_params_init (TsrParams *p)
{
  g_return_if_fail (p != NULL);

  memset (p, 0, sizeof *p);
  p->version = TSR_PARAMS_VERSION;
  tsr_register_params_init (&p->reg);
  p->keep_gated = FALSE;
  p->global_ivw = TRUE;

  p->norm = TSR_NORM_ADDITIVE_SCALE;
  p->norm_color = TRUE;
  p->color_method = TSR_COLOR_DEMOSAIC_FRAMES;

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

  p->deconv_iterations = 20;
  p->deconv_kappa = 2.0;
  p->deconv_delta = -2.5;
  p->deconv_relax = 1.0;
  p->deconv_accel = 4.0;
  p->deconv_color = TSR_DECONV_COLOR_RGB;
  p->deconv_sr = 1;
  p->deconv_rho = TSR_RHO_HUBER;
  p->deconv_min_iterations = 3;
  p->deconv_early_stop = TRUE;
  p->deconv_stop_tol = 0.002;
  p->deconv_seed = TSR_DECONV_SEED_MEDIAN;
  p->deconv_psf = TSR_DECONV_PSF_STARS;
  p->deconv_gain = 0.0;
  p->deconv_memory_mb = 1024.0;

  p->n_threads = 0;
  p->memory_budget_mb = 2048.0;
  p->frame_cache = TRUE;
  p->cache_memory_mb = 512.0;
  sync_derived (p);
}

const TsrParamSpec *
tsr_params_specs (guint *n)
{
  if (n)
    *n = G_N_ELEMENTS (specs);
  return specs;
}

const TsrParamSpec *
tsr_params_find (const char *key)
{
  if (!key)
    return NULL;
  for (guint i = 0; i < G_N_ELEMENTS (specs); i++)
    if (strcmp (specs[i].key, key) == 0)
      return &specs[i];
  return NULL;
}

/* ---------------------------------------------------------------------------------------
 * Values
 */

/* %.6g when that reads back as the same double, else the shortest precision that does, so
 * a project file restores exactly what was set (three thirds must still sum to 1). */
static char *
format_number (double v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  if (v == 0)
    v = 0; /* no "-0" */
  for (int prec = 6; prec <= 17; prec++)
    {
      char fmt[8];
      g_snprintf (fmt, sizeof fmt, "%%.%dg", prec);
      g_ascii_formatd (buf, sizeof buf, fmt, v);
      if (!isfinite (v) || g_ascii_strtod (buf, NULL) == v)
        break;
    }
  return g_strdup (buf);
}

/* Range ends read plainly ("1000000", not "1e+06"). */
static char *
format_bound (double v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  if (v == 0)
    v = 0;
  g_ascii_formatd (buf, sizeof buf, "%.15g", v);
  return g_strdup (buf);
}

static char *
range_string (const TsrParamSpec *s)
{
  if (s->type == TSR_PARAM_BOOL)
    return g_strdup ("true, false");
  if (s->type == TSR_PARAM_ENUM)
    return g_strjoinv (", ", (char **) s->choices);
  g_autofree char *lo = format_bound (s->min);
  g_autofree char *hi = format_bound (s->max);
  return g_strdup_printf ("%s … %s", lo, hi);
}

static double *
double_field (const TsrParams *p, const TsrParamSpec *s)
{
  return (double *) ((char *) p + s->offset);
}

static int *
int_field (const TsrParams *p, const TsrParamSpec *s)
{
  return (int *) ((char *) p + s->offset);
}

static gboolean
parse_bool (const char *v, gboolean *out)
{
  static const char *const yes[] = { "true", "yes", "1", "on", NULL };
  static const char *const no[] = { "false", "no", "0", "off", NULL };
  for (guint i = 0; yes[i]; i++)
    if (g_ascii_strcasecmp (v, yes[i]) == 0)
      {
        *out = TRUE;
        return TRUE;
      }
  for (guint i = 0; no[i]; i++)
    if (g_ascii_strcasecmp (v, no[i]) == 0)
      {
        *out = FALSE;
        return TRUE;
      }
  return FALSE;
}

/* Parse value for spec s into p. */
static gboolean
set_spec (TsrParams *p, const TsrParamSpec *s, const char *value, GError **error)
{
  g_autofree char *v = g_strstrip (g_strdup (value ? value : ""));
  /* Keep messages readable whatever the input was. */
  g_autofree char *shown = g_utf8_make_valid (v, -1);
  if (g_utf8_strlen (shown, -1) > 40)
    {
      char *cut = g_utf8_substring (shown, 0, 40);
      g_free (shown);
      shown = g_strconcat (cut, "…", NULL);
      g_free (cut);
    }
  g_autofree char *range = range_string (s);

  switch (s->type)
    {
    case TSR_PARAM_DOUBLE:
      {
        char *end = NULL;
        errno = 0;
        double d = *v ? g_ascii_strtod (v, &end) : NAN;
        if (!*v || end == v || *end != '\0' || !isfinite (d))
          {
            g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                         _("%s = '%s' is not a finite number (allowed %s)"), s->key, shown, range);
            return FALSE;
          }
        if (d < s->min || d > s->max)
          {
            g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                         _("%s = %s is out of range (allowed %s)"), s->key, shown, range);
            return FALSE;
          }
        *double_field (p, s) = d;
        break;
      }
    case TSR_PARAM_INT:
      {
        char *end = NULL;
        errno = 0;
        gint64 i = *v ? g_ascii_strtoll (v, &end, 10) : 0;
        if (!*v || end == v || *end != '\0')
          {
            g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                         _("%s = '%s' is not an integer (allowed %s)"), s->key, shown, range);
            return FALSE;
          }
        if (errno == ERANGE || (double) i < s->min || (double) i > s->max)
          {
            g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                         _("%s = %s is out of range (allowed %s)"), s->key, shown, range);
            return FALSE;
          }
        *int_field (p, s) = (int) i;
        break;
      }
    case TSR_PARAM_BOOL:
      {
        gboolean b;
        if (!parse_bool (v, &b))
          {
            g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                         _("%s = '%s' is not a boolean (allowed true/false, yes/no, on/off, 1/0)"),
                         s->key, shown);
            return FALSE;
          }
        *int_field (p, s) = b ? TRUE : FALSE;
        break;
      }
    case TSR_PARAM_ENUM:
      {
        for (int i = 0; s->choices[i]; i++)
          if (g_ascii_strcasecmp (v, s->choices[i]) == 0)
            {
              *int_field (p, s) = i;
              return TRUE;
            }
        g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                     _("%s = '%s' is not one of the allowed values (allowed %s)"), s->key, shown,
                     range);
        return FALSE;
      }
    default:
      g_assert_not_reached ();
    }
  return TRUE;
}

static void
set_unknown_key_error (GError **error, const char *key)
{
  g_autofree char *shown = g_utf8_make_valid (key ? key : "", -1);
  g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
               _("unknown parameter '%s' (see tessera-cli process --help or docs/parameters.md)"),
               shown);
}

gboolean
tsr_params_set (TsrParams *p, const char *key, const char *value, GError **error)
{
  g_return_val_if_fail (p != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  g_autofree char *k = g_strstrip (g_strdup (key ? key : ""));
  const TsrParamSpec *s = tsr_params_find (k);
  if (!s)
    {
      set_unknown_key_error (error, k);
      return FALSE;
    }
  if (!set_spec (p, s, value, error))
    return FALSE;
  sync_derived (p);
  return TRUE;
}

gboolean
tsr_params_set_assignment (TsrParams *p, const char *assignment, GError **error)
{
  g_return_val_if_fail (p != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  const char *eq = assignment ? strchr (assignment, '=') : NULL;
  if (!eq)
    {
      g_autofree char *shown = g_utf8_make_valid (assignment ? assignment : "", -1);
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("'%s' is not a parameter assignment: write key=value, e.g. global.alpha=0.4"),
                   shown);
      return FALSE;
    }
  g_autofree char *key = g_strndup (assignment, (gsize) (eq - assignment));
  return tsr_params_set (p, key, eq + 1, error);
}

static char *
spec_value_string (const TsrParams *p, const TsrParamSpec *s)
{
  switch (s->type)
    {
    case TSR_PARAM_DOUBLE:
      return format_number (*double_field (p, s));
    case TSR_PARAM_INT:
      if (s->min >= 0)
        return g_strdup_printf ("%u", (guint) *int_field (p, s));
      return g_strdup_printf ("%d", *int_field (p, s));
    case TSR_PARAM_BOOL:
      return g_strdup (*int_field (p, s) ? "true" : "false");
    case TSR_PARAM_ENUM:
      {
        int v = *int_field (p, s);
        guint n = g_strv_length ((char **) s->choices);
        if (v >= 0 && (guint) v < n)
          return g_strdup (s->choices[v]);
        return g_strdup_printf ("%d", v);
      }
    default:
      g_assert_not_reached ();
    }
  return NULL;
}

char *
tsr_params_get_string (const TsrParams *p, const char *key)
{
  g_return_val_if_fail (p != NULL, NULL);
  const TsrParamSpec *s = tsr_params_find (key);
  if (!s)
    return NULL;
  return spec_value_string (p, s);
}

/* ---------------------------------------------------------------------------------------
 * Cross-field checks
 */

/* Every field in its range (a struct filled in by code rather than through set). */
static gboolean
check_ranges (const TsrParams *p, GError **error)
{
  for (guint i = 0; i < G_N_ELEMENTS (specs); i++)
    {
      const TsrParamSpec *s = &specs[i];
      gboolean ok = TRUE;
      switch (s->type)
        {
        case TSR_PARAM_DOUBLE:
          {
            double d = *double_field (p, s);
            ok = isfinite (d) && d >= s->min && d <= s->max;
            break;
          }
        case TSR_PARAM_INT:
          {
            double d = s->min >= 0 ? (double) (guint) *int_field (p, s) : (double) *int_field (p, s);
            ok = d >= s->min && d <= s->max;
            break;
          }
        case TSR_PARAM_BOOL:
          ok = TRUE; /* any non-zero is true */
          break;
        case TSR_PARAM_ENUM:
          {
            int v = *int_field (p, s);
            ok = v >= 0 && v <= (int) s->max;
            break;
          }
        default:
          g_assert_not_reached ();
        }
      if (!ok)
        {
          g_autofree char *value = spec_value_string (p, s);
          g_autofree char *range = range_string (s);
          g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                       _("%s = %s is out of range (allowed %s)"), s->key, value, range);
          return FALSE;
        }
    }
  return TRUE;
}

gboolean
tsr_params_validate (const TsrParams *p, GError **error)
{
  g_return_val_if_fail (p != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (p->version != TSR_PARAMS_VERSION)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("parameter set version %d is not supported (this Tessera uses version %d)"),
                   p->version, TSR_PARAMS_VERSION);
      return FALSE;
    }
  if (!check_ranges (p, error))
    return FALSE;

  double sum = p->alpha + p->beta + p->gamma;
  if (fabs (sum - 1.0) > 1e-6)
    {
      g_autofree char *ssum = format_number (sum);
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
      g_autofree char *lo = format_number (p->reg.reject_scale_min);
      g_autofree char *hi = format_number (p->reg.reject_scale_max);
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
      g_autofree char *v = format_number (p->weight_cap);
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
tsr_params_history (const TsrParams *p)
{
  g_return_val_if_fail (p != NULL, NULL);
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, "Tessera params v%d:", TSR_PARAMS_VERSION);
  for (guint i = 0; i < G_N_ELEMENTS (specs); i++)
    {
      g_autofree char *v = spec_value_string (p, &specs[i]);
      g_string_append_printf (s, " %s=%s", specs[i].key, v);
    }
  return g_string_free (s, FALSE);
}

/* ---------------------------------------------------------------------------------------
 * Project files
 */

static gboolean
is_section (const char *group)
{
  for (guint i = 0; sections[i]; i++)
    if (strcmp (sections[i], group) == 0)
      return TRUE;
  return FALSE;
}

gboolean
tsr_project_save (const char *path, const TsrParams *p, const char *const *session_paths,
                  GError **error)
{
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (p != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_key_file_set_integer (kf, "tessera", "version", TSR_PARAMS_VERSION);
  static const char *const none[] = { NULL };
  const char *const *paths = session_paths ? session_paths : none;
  g_key_file_set_string_list (kf, "session", "paths", paths, g_strv_length ((char **) paths));

  for (guint i = 0; i < G_N_ELEMENTS (specs); i++)
    {
      const char *dot = strchr (specs[i].key, '.');
      g_autofree char *group = g_strndup (specs[i].key, (gsize) (dot - specs[i].key));
      g_autofree char *v = spec_value_string (p, &specs[i]);
      g_key_file_set_value (kf, group, dot + 1, v);
    }

  gsize len = 0;
  g_autofree char *data = g_key_file_to_data (kf, &len, NULL);
  g_autofree char *text = g_strconcat ("# Tessera project (see docs/parameters.md)\n", data, NULL);
  return tsr_write_file_atomic (path, text, -1, error);
}

/* The 1-based number of the first line GKeyFile cannot parse (0 if none found). */
static guint
first_bad_line (const char *data)
{
  g_auto (GStrv) lines = g_strsplit (data, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    {
      char *l = g_strstrip (lines[i]);
      if (*l == '\0' || *l == '#')
        continue;
      if (*l == '[')
        {
          gsize n = strlen (l);
          if (n >= 2 && l[n - 1] == ']')
            continue;
          return i + 1;
        }
      if (!strchr (l, '=') || *l == '=')
        return i + 1;
    }
  return 0;
}

static char *
line_excerpt (const char *data, guint line)
{
  g_auto (GStrv) lines = g_strsplit (data, "\n", -1);
  if (line == 0 || line > g_strv_length (lines))
    return NULL;
  char *l = g_strstrip (lines[line - 1]);
  if (g_utf8_strlen (l, -1) > 60)
    {
      g_autofree char *cut = g_utf8_substring (l, 0, 60);
      return g_strconcat (cut, "…", NULL);
    }
  return g_strdup (l);
}

static gboolean
read_project_text (const char *path, char **data_out, gsize *len_out, GError **error)
{
  GStatBuf st;
  if (g_stat (path, &st) != 0)
    {
      int e = errno;
      if (e == ENOENT || e == ENOTDIR)
        g_set_error (error, TSR_ERROR, TSR_ERROR_NOT_FOUND,
                     _("%s: no such project file"), path);
      else
        g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("%s: cannot read the project file: %s"),
                     path, g_strerror (e));
      return FALSE;
    }
  if (S_ISDIR (st.st_mode))
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                   _("%s: is a folder, not a Tessera project file"), path);
      return FALSE;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                   _("%s: is not a regular file, not a Tessera project file"), path);
      return FALSE;
    }
  if (st.st_size > PROJECT_MAX_BYTES)
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE,
                   _("%s: %.1f MiB is too large for a Tessera project file (at most 1 MiB)"),
                   path, (double) st.st_size / (double) MIB);
      return FALSE;
    }

  GError *e = NULL;
  char *data = NULL;
  gsize len = 0;
  if (!g_file_get_contents (path, &data, &len, &e))
    {
      gboolean missing = g_error_matches (e, G_FILE_ERROR, G_FILE_ERROR_NOENT);
      g_set_error (error, TSR_ERROR, missing ? TSR_ERROR_NOT_FOUND : TSR_ERROR_IO,
                   _("%s: cannot read the project file: %s"), path, e->message);
      g_error_free (e);
      return FALSE;
    }
  if (len > PROJECT_MAX_BYTES)
    {
      g_free (data);
      g_set_error (error, TSR_ERROR, TSR_ERROR_TOO_LARGE,
                   _("%s: too large for a Tessera project file (at most 1 MiB)"), path);
      return FALSE;
    }
  if (memchr (data, '\0', len) != NULL || !g_utf8_validate (data, (gssize) len, NULL))
    {
      g_free (data);
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                   _("%s: not a Tessera project file (binary data or not UTF-8 text)"), path);
      return FALSE;
    }
  *data_out = data;
  *len_out = len;
  return TRUE;
}

static void
add_warning (GPtrArray *warnings, char *msg)
{
  if (warnings)
    g_ptr_array_add (warnings, msg);
  else
    g_free (msg);
}

static gboolean
load_session_group (GKeyFile *kf, const char *path, char ***session_paths,
                    GPtrArray *warnings, GError **error)
{
  g_auto (GStrv) keys = g_key_file_get_keys (kf, "session", NULL, NULL);
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *base = g_path_get_dirname (path);
  g_autofree char *absbase = g_canonicalize_filename (base, NULL);

  for (guint i = 0; keys && keys[i]; i++)
    {
      if (strcmp (keys[i], "paths") == 0)
        {
          GError *e = NULL;
          gsize n = 0;
          g_auto (GStrv) list = g_key_file_get_string_list (kf, "session", "paths", &n, &e);
          if (!list)
            {
              g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                           _("%s: [session] paths cannot be read: %s"), path, e->message);
              g_error_free (e);
              g_ptr_array_free (out, TRUE);
              return FALSE;
            }
          for (gsize j = 0; j < n; j++)
            {
              const char *sp = list[j];
              if (!sp || *sp == '\0')
                continue;
              g_ptr_array_add (out, g_canonicalize_filename (sp, absbase));
            }
        }
      else if (strcmp (keys[i], "recursive") == 0)
        {
          /* Known (scan sub-folders); read by the front ends, not part of TsrParams. */
        }
      else
        add_warning (warnings, g_strdup_printf (_("%s: unknown key [session] %s (ignored)"),
                                                path, keys[i]));
    }
  g_ptr_array_add (out, NULL);
  char **strv = (char **) g_ptr_array_free (out, FALSE);
  if (session_paths)
    *session_paths = strv;
  else
    g_strfreev (strv);
  return TRUE;
}

gboolean
tsr_project_load (const char *path, TsrParams *p, char ***session_paths,
                  GPtrArray *warnings, GError **error)
{
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (p != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (session_paths)
    *session_paths = NULL;

  g_autofree char *data = NULL;
  gsize len = 0;
  if (!read_project_text (path, &data, &len, error))
    return FALSE;

  g_autoptr (GKeyFile) kf = g_key_file_new ();
  GError *e = NULL;
  if (!g_key_file_load_from_data (kf, data, len, G_KEY_FILE_NONE, &e))
    {
      guint line = first_bad_line (data);
      g_autofree char *excerpt = line_excerpt (data, line);
      if (line > 0 && excerpt)
        g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                     _("%s: not a Tessera project file: line %u “%s” is not a [group], a "
                       "key=value pair or a # comment"), path, line, excerpt);
      else
        g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                     _("%s: not a Tessera project file: %s"), path, e->message);
      g_error_free (e);
      return FALSE;
    }

  if (!g_key_file_has_key (kf, "tessera", "version", NULL))
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                   _("%s: not a Tessera project file (no [tessera] version=…)"), path);
      return FALSE;
    }
  {
    g_autofree char *vs = g_key_file_get_value (kf, "tessera", "version", NULL);
    g_autofree char *v = g_strstrip (g_strdup (vs ? vs : ""));
    char *end = NULL;
    gint64 version = *v ? g_ascii_strtoll (v, &end, 10) : -1;
    if (!*v || *end != '\0' || version < 1)
      {
        g_autofree char *shown = g_utf8_make_valid (v, -1);
        g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                     _("%s: [tessera] version = '%s' is not a project file version"), path, shown);
        return FALSE;
      }
    if (version > TSR_PARAMS_VERSION)
      {
        g_set_error (error, TSR_ERROR, TSR_ERROR_FORMAT,
                     _("%s: written by a newer Tessera (project version %" G_GINT64_FORMAT
                       "); this version reads version %d: update Tessera"),
                     path, version, TSR_PARAMS_VERSION);
        return FALSE;
      }
  }

  TsrParams tmp;
  tsr_params_init (&tmp);
  g_auto (GStrv) paths = NULL;

  gsize n_groups = 0;
  g_auto (GStrv) groups = g_key_file_get_groups (kf, &n_groups);
  for (gsize gi = 0; gi < n_groups; gi++)
    {
      const char *group = groups[gi];
      g_auto (GStrv) keys = g_key_file_get_keys (kf, group, NULL, NULL);

      if (strcmp (group, "tessera") == 0)
        {
          for (guint i = 0; keys && keys[i]; i++)
            if (strcmp (keys[i], "version") != 0)
              add_warning (warnings, g_strdup_printf (_("%s: unknown key [%s] %s (ignored)"),
                                                      path, group, keys[i]));
          continue;
        }
      if (strcmp (group, "session") == 0)
        {
          g_strfreev (paths);
          paths = NULL;
          if (!load_session_group (kf, path, &paths, warnings, error))
            return FALSE;
          continue;
        }
      if (!is_section (group))
        {
          add_warning (warnings, g_strdup_printf (_("%s: unknown group [%s] (ignored)"),
                                                  path, group));
          continue;
        }
      for (guint i = 0; keys && keys[i]; i++)
        {
          g_autofree char *key = g_strconcat (group, ".", keys[i], NULL);
          const TsrParamSpec *s = tsr_params_find (key);
          if (!s)
            {
              add_warning (warnings, g_strdup_printf (_("%s: unknown key [%s] %s (ignored)"),
                                                      path, group, keys[i]));
              continue;
            }
          g_autofree char *value = g_key_file_get_string (kf, group, keys[i], &e);
          if (!value || e)
            {
              if (!e)
                g_set_error_literal (&e, TSR_ERROR, TSR_ERROR_FORMAT, _("unreadable value"));
              g_autofree char *range = range_string (s);
              g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                           _("%s: %s cannot be read (%s; allowed %s)"), path, s->key,
                           e->message, range);
              g_clear_error (&e);
              return FALSE;
            }
          if (!set_spec (&tmp, s, value, &e))
            {
              g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, "%s: %s", path, e->message);
              g_clear_error (&e);
              return FALSE;
            }
        }
    }
  sync_derived (&tmp);

  if (!tsr_params_validate (&tmp, &e))
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, "%s: %s", path, e->message);
      g_clear_error (&e);
      return FALSE;
    }

  *p = tmp;
  if (session_paths)
    {
      if (!paths)
        paths = g_new0 (char *, 1);
      *session_paths = g_steal_pointer (&paths);
    }
  return TRUE;
}

/* ---------------------------------------------------------------------------------------
 * Presets
 */

typedef struct
{
  const char *name;
  const char *label;
  const char *const *set;   /* key=value over the defaults */
} Preset;

/* Smart telescopes: many short, undersampled Bayer frames on an alt-az mount (field
 * rotation, so similarity); interpolated green keeps more star positions than 2×2
 * superpixels at 2–3 px FWHM; with hundreds of frames the weighting can be more selective
 * and rejection tighter (satellites, planes), and clustering pays. */
static const char *const preset_seestar[] = {
  "register.model=similarity", "stars.luma=green", "global.k=0.8", "local.k=0.8",
  "reject.mode=sigma", "reject.kappa=2.5", "cluster.mode=auto", NULL
};
/* DSLR / mirrorless: tens of long Bayer exposures; lens distortion and an equatorial mount
 * (affine), too few frames for clusters or tight sigma clipping (winsorized instead), gentler
 * weights so no frame's signal is thrown away. */
static const char *const preset_dslr[] = {
  "register.model=affine", "stars.luma=superpixel", "global.k=0.5", "local.k=0.6",
  "reject.mode=winsor", "reject.kappa=3", "cluster.mode=off", NULL
};
/* Monochrome cameras: full-resolution stars, so the local quality leans on FWHM; fine
 * tiles are affordable. */
static const char *const preset_mono[] = {
  "register.model=similarity", "local.fwhm=0.7", "local.roundness=0.15", "local.contrast=0.15",
  "tiles.s=24", "reject.mode=sigma", "reject.kappa=3", NULL
};
static const char *const preset_default[] = { NULL };

static const Preset presets[] = {
  { "default", N_("Defaults"), preset_default },
  { "seestar", N_("Seestar / Dwarf"), preset_seestar },
  { "dslr", N_("DSLR"), preset_dslr },
  { "mono", N_("Monochrome camera"), preset_mono },
};

const char *const *
tsr_params_preset_names (void)
{
  static const char *const names[] = { "default", "seestar", "dslr", "mono", NULL };
  G_STATIC_ASSERT (G_N_ELEMENTS (names) == G_N_ELEMENTS (presets) + 1);
  return names;
}

static const Preset *
find_preset (const char *name)
{
  for (guint i = 0; name && i < G_N_ELEMENTS (presets); i++)
    if (g_ascii_strcasecmp (presets[i].name, name) == 0)
      return &presets[i];
  return NULL;
}

const char *
tsr_params_preset_label (const char *name)
{
  const Preset *pr = find_preset (name);
  return pr ? _(pr->label) : NULL;
}

gboolean
tsr_params_apply_preset (TsrParams *p, const char *name, GError **error)
{
  g_return_val_if_fail (p != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  const Preset *pr = find_preset (name);
  if (!pr)
    {
      g_autofree char *shown = g_utf8_make_valid (name ? name : "", -1);
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("unknown preset '%s' (allowed default, seestar, dslr, mono)"), shown);
      return FALSE;
    }
  TsrParams tmp;
  tsr_params_init (&tmp);
  tmp.n_threads = p->n_threads;
  tmp.memory_budget_mb = p->memory_budget_mb;
  tmp.frame_cache = p->frame_cache;
  tmp.cache_memory_mb = p->cache_memory_mb;
  sync_derived (&tmp);
  for (guint i = 0; pr->set[i]; i++)
    if (!tsr_params_set_assignment (&tmp, pr->set[i], error))
      return FALSE;
  *p = tmp;
  return TRUE;
}
