/* tsr-deconv-params.h — the parameters of a multi-frame deconvolution ("deconv.*") and their
 * key table. */
#pragma once
#include "tsr-keys.h"
#include "tsr-tbqr-params.h"
#include "tsr-run-params.h"

G_BEGIN_DECLS

typedef enum { TSR_RHO_HUBER = 0, TSR_RHO_L2 } TsrDeconvRho;
typedef enum { TSR_DECONV_SEED_MEDIAN = 0, TSR_DECONV_SEED_TBQR } TsrDeconvSeed;
typedef enum { TSR_DECONV_PSF_STARS = 0, TSR_DECONV_PSF_MOFFAT } TsrDeconvPsfMode;
typedef enum { TSR_DECONV_COLOR_RGB = 0, TSR_DECONV_COLOR_CFA, TSR_DECONV_COLOR_LUMINANCE } TsrDeconvColor;
typedef enum { TSR_DECONV_SOLVER_MOMENTUM = 0, TSR_DECONV_SOLVER_PLAIN } TsrDeconvSolver;

typedef struct
{
  int iterations;       /* deconv.iterations (20) */
  double kappa;         /* deconv.kappa (2.0) */
  double delta;         /* deconv.delta (−2.5 = auto) */
  double relax;         /* deconv.relax (1.0) */
  double accel;         /* deconv.accel: exponent on the update ratio (see docs/deconv.md) */
  int sr;               /* deconv.sr (1) */
  TsrDeconvRho rho;     /* deconv.rho: huber (default) | l2 */
  int min_iterations;   /* deconv.min_iterations (3) */
  gboolean early_stop;  /* deconv.early_stop (TRUE) */
  double stop_tol;      /* deconv.stop_tol (0.002) */
  TsrDeconvSeed seed;   /* deconv.seed: median (default) | tbqr */
  TsrDeconvPsfMode psf; /* deconv.psf: stars (default) | moffat */
  TsrDeconvColor color; /* deconv.color: rgb (default, demosaic each frame) | cfa (own sites) | luminance */
  double gain;          /* deconv.gain: e-/ADU for the Poisson term; 0 = background RMS only */
  double memory_mb;     /* deconv.memory_mb (1024) */
  TsrDeconvSolver solver; /* deconv.solver: momentum (default, safeguarded extrapolation with
                             restart) | plain (MM step, ratio^accel) */
  double stop_rel;      /* deconv.stop_rel (0.4): early stop below this fraction of the first
                           smoothed update and change, twice in a row */
  double pedestal;      /* deconv.pedestal (3): the latent may go this many frame-noise σ below
                           zero (the sky stays in the model, nothing real is clipped) */
  gboolean mask_saturated; /* deconv.mask_saturated (TRUE) */
  gboolean gain_auto;   /* deconv.gain_auto (TRUE): gain estimated from the frames when deconv.gain = 0 */
  double smooth;        /* deconv.smooth: weight of the quadratic smoothness prior ‖(I − G) x‖²
                           (G a Gaussian of σ = deconv.smooth_sigma fine samples) relative to the
                           sky-limited data precision; 0 = none */
  double smooth_sigma;  /* deconv.smooth_sigma (1.0) */
  double bright_floor;  /* deconv.bright_floor: where the seed stands this many frame-noise σ
                           above its local sky, the latent is kept ≥ that sky (no moats round
                           bright stars); 0 = the pedestal everywhere */
  double faint_floor;   /* deconv.faint_floor (0): round sources whose seed core stands this many
                           σ above the local sky (below bright_floor) the latent stays ≥ that sky
                           − ½ σ/√frames; 0 = off */
  double target_fwhm;   /* deconv.target_fwhm (0): FWHM (image px) of the Gaussian the latent is
                           resolved to (the frames' PSFs are divided by it); 0 = a point */
  gboolean flux_anchor;  /* deconv.flux_anchor (TRUE): the result scaled per channel to the mean
                           * stack's star fluxes (latent convolved with the frames' mean PSF) */
  gboolean fit_scale;   /* deconv.fit_scale (TRUE): each frame's photometric scale refitted to
                           the model during the solve (the reference frame's stays 1) */
} TsrDeconvParams;

void                tsr_deconv_params_init (TsrDeconvParams *p);
const TsrParamSpec *tsr_deconv_params_specs (guint *n);
gboolean            tsr_deconv_params_validate (const TsrDeconvParams *p, GError **error);

/* "Tessera params v1: key=value …" for every key the deconvolution reads: register.* … validate.*
 * (registration, TBQR seed), deconv.* and run.* (FITS HISTORY). */
char               *tsr_deconv_params_history (const TsrDeconvParams *p, const TsrTbqrParams *tp,
                                               const TsrRunParams *run);

G_END_DECLS
