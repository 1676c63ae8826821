/* tsr-params.h — every parameter of a TBQR run in one versioned struct, with a table of
 * keys ("section.name") shared by the CLI (--set), the .tessera project file and the window.
 */
#pragma once
#include <gio/gio.h>
#include "tsr-register.h"

G_BEGIN_DECLS

#define TSR_PARAMS_VERSION 1

typedef enum { TSR_NORM_ADDITIVE_SCALE = 0, TSR_NORM_DIVIDE_BACKGROUND, TSR_NORM_NONE } TsrNormMode;
typedef enum { TSR_COLOR_CFA_ACCUMULATE = 0, TSR_COLOR_DEMOSAIC_FRAMES } TsrColorMethod;
typedef enum { TSR_ENERGY_NOISE_NORMALISED = 0, TSR_ENERGY_PAPER } TsrEnergyMode;
typedef enum { TSR_REJECT_NONE = 0, TSR_REJECT_SIGMA, TSR_REJECT_WINSOR } TsrRejectMode;
typedef enum { TSR_LOCAL_QUALITY = 0, TSR_LOCAL_PSF } TsrLocalMode;
typedef enum { TSR_CLUSTER_AUTO = 0, TSR_CLUSTER_OFF, TSR_CLUSTER_ON } TsrClusterMode;
typedef enum { TSR_RHO_HUBER = 0, TSR_RHO_L2 } TsrDeconvRho;
typedef enum { TSR_DECONV_SEED_MEDIAN = 0, TSR_DECONV_SEED_TBQR } TsrDeconvSeed;
typedef enum { TSR_DECONV_PSF_STARS = 0, TSR_DECONV_PSF_MOFFAT } TsrDeconvPsfMode;
typedef enum { TSR_DECONV_COLOR_RGB = 0, TSR_DECONV_COLOR_CFA } TsrDeconvColor;

typedef struct
{
  int version;                 /* TSR_PARAMS_VERSION */
  TsrRegisterParams reg;       /* registration + gate ("register.*", "gate.*") */
  gboolean keep_gated;         /* gate.keep_gated: gated frames still weighted (default FALSE) */

  TsrNormMode norm;            /* norm.mode: additive (default), divide, none */
  gboolean norm_color;         /* norm.color: photometric scale per CFA colour (TRUE) */
  TsrColorMethod color_method; /* norm.color_method: Bayer sessions accumulated per CFA colour and
                                  demosaiced once, or each frame demosaiced before accumulation */

  /* global quality (§3.1) */
  double alpha, beta, gamma;   /* global.alpha/beta/gamma, sum 1 (0.4/0.3/0.3) */
  double global_k;             /* global.k: G = V·exp(k·clip(Q, −c, c)) (0) */
  double global_clamp;         /* global.clamp (1.5) */
  TsrEnergyMode energy;        /* global.energy: noise (default) | paper */
  gboolean global_ivw;         /* global.ivw: G includes the inverse-variance factor (σ_med/σ_f)² (TRUE) */

  /* tiles (§3.2) */
  double tile_s;               /* tiles.s (32) */
  int tile_min;                /* tiles.min (64) */
  int tile_max;                /* tiles.max: 0 = min(W,H)/6 */
  double tile_overlap;         /* tiles.overlap (0.5) */
  double star_tile_threshold;  /* tiles.star_threshold: median stars per tile for STAR (10) */

  /* local quality */
  double w_fwhm, w_round, w_contrast;   /* local.fwhm/roundness/contrast (0.6/0.2/0.2) */
  double w_energy, w_background;        /* local.energy/background (0.7/−0.3) */
  gboolean local_psf_model;    /* local.psf_model: STAR tiles from the frame's PSF field model (TRUE) */
  double local_k;              /* local.k: L = exp(k·clip(Q_local, −c, c)) (0.5) */
  double local_clamp;          /* local.clamp (1.5) */
  double weight_cap;           /* local.cap: max/min weight ratio per tile, 0 = off */
  TsrLocalMode local_mode;     /* local.mode: quality (L = exp(k·clip(Q_local))) | psf (star
                                  tiles L = (F_{f,t}/median_f F_{f,t})^−local.p) */
  double local_p;              /* local.p: exponent of the psf form */

  /* rejection */
  TsrRejectMode reject;        /* reject.mode: sigma (default) | winsor | none */
  double reject_kappa;         /* reject.kappa (3) */
  double reject_min_fraction;  /* reject.min_fraction kept (0.5) */

  /* clusters (§3.5) */
  TsrClusterMode clusters;     /* cluster.mode: auto (N ≥ cluster.auto_min) | off | on */
  int cluster_auto_min;        /* cluster.auto_min (200) */
  int cluster_k_min, cluster_k_max; /* cluster.k_min/k_max (5/30) */
  double kappa_cluster;        /* cluster.kappa (1.0) */
  double r_cap;                /* cluster.r_cap (20) */
  gboolean cap_enabled;        /* cluster.cap (FALSE) */

  /* validation thresholds */
  double val_fwhm_gain;        /* validate.fwhm_gain: min FWHM reduction vs mean (0.0 = report) */
  double val_noise_max;        /* validate.noise_max: max normalised noise ratio (1.05) */
  double val_flux_tol;         /* validate.flux_tol (0.01) */
  double val_seam_max;         /* validate.seam_max (1.2) */

  /* deconvolution (issue 6) — kept here so projects round-trip */
  int deconv_iterations;       /* deconv.iterations (20) */
  double deconv_kappa;         /* deconv.kappa (2.0) */
  double deconv_delta;         /* deconv.delta (−2.5 = auto) */
  double deconv_relax;         /* deconv.relax (1.0) */
  double deconv_accel;         /* deconv.accel: exponent on the update ratio (see docs/deconv.md) */
  int deconv_sr;               /* deconv.sr (1) */
  TsrDeconvRho deconv_rho;     /* deconv.rho: huber (default) | l2 */
  int deconv_min_iterations;   /* deconv.min_iterations (3) */
  gboolean deconv_early_stop;  /* deconv.early_stop (TRUE) */
  double deconv_stop_tol;      /* deconv.stop_tol (0.002) */
  TsrDeconvSeed deconv_seed;   /* deconv.seed: median (default) | tbqr */
  TsrDeconvPsfMode deconv_psf; /* deconv.psf: stars (default) | moffat */
  TsrDeconvColor deconv_color; /* deconv.color: rgb (default, demosaic each frame) | cfa (own sites) */
  double deconv_gain;          /* deconv.gain: e-/ADU for the Poisson term; 0 = background RMS only */
  double deconv_memory_mb;     /* deconv.memory_mb (1024) */

  /* resources */
  guint n_threads;             /* run.threads (0 = all) */
  double memory_budget_mb;     /* run.memory_mb (2048) */
  gboolean frame_cache;        /* run.cache: keep warped frames during processing (on) */
  double cache_memory_mb;      /* run.cache_memory_mb: of them, in memory (512; rest in a file) */
} TsrParams;

void     tsr_params_init (TsrParams *p);

typedef enum { TSR_PARAM_DOUBLE, TSR_PARAM_INT, TSR_PARAM_BOOL, TSR_PARAM_ENUM } TsrParamType;

typedef struct
{
  const char *key;             /* "global.alpha" */
  TsrParamType type;
  gsize offset;                /* into TsrParams */
  double min, max;             /* allowed range (numbers) */
  const char *const *choices;  /* enum names, NULL-terminated */
  const char *help;            /* one line, translatable (N_) */
} TsrParamSpec;

const TsrParamSpec *tsr_params_specs (guint *n);
const TsrParamSpec *tsr_params_find (const char *key);

/* Set "key=value" or key, value. Errors name the key and the allowed range. Unknown keys
 * are TSR_ERROR_INVALID_ARG too (callers that only warn use tsr_params_find first). */
gboolean tsr_params_set (TsrParams *p, const char *key, const char *value, GError **error);
gboolean tsr_params_set_assignment (TsrParams *p, const char *assignment, GError **error);
char    *tsr_params_get_string (const TsrParams *p, const char *key);
/* Cross-field checks (α+β+γ = 1, tile_min ≤ tile_max, k_min ≤ k_max …). */
gboolean tsr_params_validate (const TsrParams *p, GError **error);
/* A one-line summary of every parameter for FITS HISTORY. */
char    *tsr_params_history (const TsrParams *p);

/* Project files (.tessera, GKeyFile): [session] paths=…; recursive=…; one group per
 * section with the parameter keys. Unknown keys are reported through warnings (a list of
 * strings the caller shows); out-of-range values are errors naming the key and range. */
gboolean tsr_project_save (const char *path, const TsrParams *p, const char *const *session_paths,
                           GError **error);
gboolean tsr_project_load (const char *path, TsrParams *p, char ***session_paths,
                           GPtrArray *warnings, GError **error);

/* Presets: parameter sets for typical equipment, applied over the defaults (the resources,
 * run.threads, run.memory_mb and run.cache, are kept). Names, in menu order: "default", "seestar"
 * (smart telescopes such as Seestar and Dwarf: hundreds of short undersampled Bayer frames),
 * "dslr" (tens of longer Bayer exposures through a lens or telescope on a mount), "mono"
 * (monochrome cameras). An unknown name is TSR_ERROR_INVALID_ARG and leaves p unchanged. */
const char *const *tsr_params_preset_names (void);
/* A short translated label ("Seestar / Dwarf"), or NULL for an unknown name. */
const char *tsr_params_preset_label (const char *name);
gboolean tsr_params_apply_preset (TsrParams *p, const char *name, GError **error);

G_END_DECLS
