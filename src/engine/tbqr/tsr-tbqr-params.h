/* tsr-tbqr-params.h — the parameters of a TBQR run (registration, gate, normalisation, global
 * and local quality, tiles, rejection, clusters, validation) and their key table. */
#pragma once
#include "tsr-keys.h"
#include "tsr-register.h"
#include "tsr-demosaic.h"
#include "tsr-run-params.h"

G_BEGIN_DECLS

typedef enum { TSR_NORM_ADDITIVE_SCALE = 0, TSR_NORM_DIVIDE_BACKGROUND, TSR_NORM_NONE } TsrNormMode;
typedef enum { TSR_COLOR_CFA_ACCUMULATE = 0, TSR_COLOR_DEMOSAIC_FRAMES } TsrColorMethod;
typedef enum { TSR_ENERGY_NOISE_NORMALISED = 0, TSR_ENERGY_PAPER } TsrEnergyMode;
typedef enum { TSR_REJECT_NONE = 0, TSR_REJECT_SIGMA, TSR_REJECT_WINSOR } TsrRejectMode;
typedef enum { TSR_LOCAL_QUALITY = 0, TSR_LOCAL_PSF } TsrLocalMode;
typedef enum { TSR_CLUSTER_AUTO = 0, TSR_CLUSTER_OFF, TSR_CLUSTER_ON } TsrClusterMode;
typedef enum { TSR_PSF_SIZE_MAJOR = 0, TSR_PSF_SIZE_MEAN } TsrPsfSize;
typedef enum { TSR_DRIZZLE_AUTO = 0, TSR_DRIZZLE_OFF, TSR_DRIZZLE_ON } TsrDrizzleMode;

typedef struct
{
  TsrRegisterParams reg;       /* registration + gate ("register.*", "gate.*") */
  gboolean keep_gated;         /* gate.keep_gated: gated frames still weighted (default FALSE) */

  TsrNormMode norm;            /* norm.mode: additive (default), divide, none */
  gboolean norm_color;         /* norm.color: photometric scale per CFA colour (TRUE) */
  TsrColorMethod color_method; /* norm.color_method: Bayer sessions accumulated per CFA colour and
                                  demosaiced once, or each frame demosaiced before accumulation */
  TsrDemosaicMethod demosaic;  /* norm.demosaic: demosaic of the frames (demosaic-frames): rcd | mhc */

  /* global quality (§3.1) */
  double alpha, beta, gamma;   /* global.alpha/beta/gamma, sum 1 (0.4/0.3/0.3) */
  double global_k;             /* global.k: G = V·exp(k·clip(Q, −c, c)) (0) */
  double global_clamp;         /* global.clamp (1.5) */
  TsrEnergyMode energy;        /* global.energy: noise (default) | paper */
  gboolean global_ivw;         /* global.ivw: G includes the inverse-variance factor (σ_med/σ_f)² (TRUE) */
  gboolean global_per_channel; /* global.per_channel: colour sessions weigh each channel c by its own
                                  V_{f,c} = (median_f σ_{·,c} / σ_{f,c})² instead of one V_f (TRUE; docs/tbqr.md) */

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
  TsrPsfSize local_psf_size;   /* local.psf_size: the star size of star tiles: major-axis FWHM
                                  (default; sees elongation) or geometric-mean FWHM */
  double local_feather;        /* local.feather: per-frame weights ramp to 0 over this many tile
                                  sides inside each frame's footprint edge (2; 0 = off) */

  /* rejection */
  TsrRejectMode reject;        /* reject.mode: sigma (default) | winsor | none */
  double reject_kappa;         /* reject.kappa (3) */
  double reject_min_fraction;  /* reject.min_fraction kept (0.5) */

  /* Bayer drizzle (docs/tbqr.md, "Bayer drizzle") */
  TsrDrizzleMode drizzle;      /* drizzle.mode: auto (enough frames and dither) | off | on */
  int drizzle_scale;           /* drizzle.scale: output pixels per input pixel, 1 or 2 (1) */
  double drizzle_pixfrac;      /* drizzle.pixfrac: drop side / input pixel side (0.8) */
  int drizzle_min_frames;      /* drizzle.min_frames: auto needs at least this many frames (30) */
  double drizzle_min_coverage; /* drizzle.min_coverage: auto needs this fraction of the output
                                  pixels reached by a drop of every colour (0.97) */

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

  /* not a key: the per-tile metrics of the analysis in an unlinked temporary file instead of
   * memory (n_frames × n_tiles × 32 bytes: 137 MB at 2,000 frames of 1080 × 1920), read back
   * a block of tiles at a time by the weighing; `process` sets it so its peak does not grow
   * with the session (issue #19); ignored with run.cache_disk_mb = 0 */
  gboolean spill_tile_metrics;
} TsrTbqrParams;

void                tsr_tbqr_params_init (TsrTbqrParams *p);
const TsrParamSpec *tsr_tbqr_params_specs (guint *n);
/* Every key in range and the cross-field rules (α+β+γ = 1, tiles.min ≤ tiles.max, …). */
gboolean            tsr_tbqr_params_validate (const TsrTbqrParams *p, GError **error);

/* "Tessera params v1: key=value …" for the TBQR keys and run.* (FITS HISTORY). */
char               *tsr_tbqr_params_history (const TsrTbqrParams *p, const TsrRunParams *run);

G_END_DECLS
