/* tsr-tbqr.h — Tile-Based Quality Reconstruction (TBQR v3.2.2, improved; docs/tbqr.md).
 *
 * Three steps, as in DESIGN.md:
 *   analyse    — one read of every frame: registration, stars, global metrics, per-tile
 *                local metrics in reference geometry, photometric normalisation;
 *   weigh      — no pixels: gate, z-scores, Q, G, L, W = G·L, clusters, N_eff (milliseconds);
 *   accumulate — frames read again: warp, normalise, smooth per-pixel weight field,
 *                weighted rejection, weighted mean; plus the plain mean stack, coverage and
 *                weight maps, and validation against the mean stack.
 */
#pragma once
#include <gio/gio.h>
#include "tsr-tbqr-params.h"
#include "tsr-run-params.h"
#include "tsr-demosaic.h"
#include "tsr-register.h"
#include "tsr-eta.h"

G_BEGIN_DECLS

typedef enum { TSR_TILE_STRUCTURE = 0, TSR_TILE_STAR = 1 } TsrTileType;

/* global.per_channel applies the channels' own weights only when some frame's factor
 * V_{f,c} / V_f differs from 1 by more than this (tsr_tbqr_weigh) */
#define TSR_CHANNEL_WEIGHT_MIN_DEV 0.10

typedef struct
{
  int cx, cy;         /* centre in reference pixels */
  int x0, y0, x1, y1; /* support ∩ image, [x0, x1) × [y0, y1) */
} TsrTile;

/* Per frame and tile measurements (NAN = missing). */
typedef struct
{
  float n_stars;
  float fwhm, roundness, contrast;
  float energy, background, noise;
  float fwhm_major;   /* median major-axis FWHM of the tile's stars */
} TsrTileMetrics;

typedef struct
{
  /* global metrics, in reference photometric units */
  double background;      /* B_f */
  double noise;           /* σ_f */
  double noise_channel[3];/* σ_{f,c}: the sky noise per colour channel (same-colour differences of
                             the raw frame over that colour's scale), reference units; NAN = none */
  double energy;          /* E_f (noise-normalised or paper variant per params) */
  double energy_paper;    /* mean gradient energy, not normalised */
  double scale;           /* photometric scale s_f: frame flux / reference flux */
  double plane[3][3];     /* per CFA colour (or channel): background plane a + b·x + c·y */
  guint n_flux_pairs;     /* matched stars behind the scale */
  double color_scale[3];  /* photometric scale per CFA colour (or channel); mono: all = scale */
  /* PSF field model in reference geometry: FWHM(x, y) = Σ c_i·b_i(u, v) with u, v the
   * reference coordinates scaled to [−1, 1] and b = 1, u, v, u², uv, v² (NAN = none) */
  double psf_model[6];
  guint psf_model_n;      /* stars behind the model (0 = none) */
  double psf_model_major[6]; /* the same model of the major-axis FWHM (local.psf_size=major) */
  guint psf_model_major_n;
} TsrFrameMetrics;

typedef struct
{
  gint ref_count;
  TsrTbqrParams params;   /* as analysed (tile size fixed here) */
  TsrRunParams run;       /* resources of the analysis (threads, memory, frame cache) */
  TsrRegistration *reg;
  int width, height;
  TsrCfa cfa;
  int channels;
  double session_fwhm;    /* F (reference frame's median FWHM) */
  int tile_size;          /* T */
  int tile_step;
  int tiles_x, tiles_y;
  guint n_tiles;
  TsrTile *tiles;
  TsrFrameMetrics *frames;   /* n_frames */
  TsrTileMetrics *tile_metrics; /* n_frames × n_tiles; NULL while tile_spill holds them */
  struct _TsrTileSpill *tile_spill; /* private: the per-tile metrics in a temporary file
                                       (params.spill_tile_metrics); NULL = in tile_metrics */
  double ref_plane[3];    /* reference background level per colour (added back) */
  struct _TsrFrameCache *cache; /* private: the frames warped and normalised during the
                                   analysis (run.cache), read back by accumulate; NULL = none */
} TsrAnalysis;

typedef struct
{
  gint ref_count;
  guint n_frames, n_tiles;
  gboolean *used;         /* frame enters the reconstruction (valid or keep_gated) */
  guint *gate;            /* TsrGateReason bits as applied by this weighing (0 = valid);
                             the analysis' registration is never modified */
  double *ivw;            /* V_f = (median σ / σ_f)², the inverse-variance factor of G */
  /* global.per_channel (colour sessions): V_{f,c} = (median_f σ_{·,c} / σ_{f,c})² per frame and
   * channel (n_frames × 3), and the factor chan[f·3 + c] = V_{f,c} / V_f the accumulation
   * multiplies frame f's weight by in channel c (CFA colour c when drizzling or accumulating the
   * mosaic). NULL when the weights are the same in every channel (mono, global.per_channel or
   * global.ivw off): then the result is the one-weight result bit for bit. */
  double *ivw_channel;
  float *chan;            /* NULL also when no factor differs from 1 by more than
                             TSR_CHANNEL_WEIGHT_MIN_DEV (the one weight is as good there) */
  double *q_global;       /* Q_f */
  double *g;              /* G_f = exp(k·clip(Q_f)) · V_f (V_f = 1 with global.ivw off) */
  float *q_local;         /* n_frames × n_tiles */
  float *l;               /* L_{f,t} */
  float *w;               /* W_{f,t} = G·L (0 for unused frames) */
  TsrTileType *tile_type;
  float *n_eff;           /* per tile */
  double *mean_l;         /* per frame: mean L over tiles */
  int n_clusters;         /* 0 = clusters off */
  int *cluster;           /* per frame, −1 unused */
  double *cluster_q;      /* Q_k */
  double *cluster_w;      /* w_k */
  guint n_used;
  /* the gate as this weighing applied it (tsr_registration_gate on the current gate.*
   * keys): the CC threshold and what it came from, the shift threshold */
  double cc_threshold, cc_median, cc_mad, shift_threshold;
  TsrRegisterParams gate_params;   /* the thresholds and switches it used */
  guint8 *choice;         /* per frame: the user's TsrFrameChoice as applied */
} TsrWeights;

/* A user's decision about one frame, over the gate: AUTO follows it; INCLUDE stacks a gated
 * frame anyway (one with a transform: a frame whose registration failed cannot be
 * included); EXCLUDE leaves a frame out whatever its quality. */
typedef enum
{
  TSR_FRAME_AUTO = 0,
  TSR_FRAME_INCLUDE = 1,
  TSR_FRAME_EXCLUDE = 2
} TsrFrameChoice;

/* The frame's PSF field model at reference position (x, y); NAN without a model. */
double        tsr_tbqr_model_fwhm (const TsrAnalysis *a, guint frame, double x, double y);
/* The same for the major-axis FWHM of the stars. */
double        tsr_tbqr_model_fwhm_major (const TsrAnalysis *a, guint frame, double x, double y);

/* Tile size T = clip(s·F, T_min, T_max) for a session. */
int           tsr_tbqr_tile_size (const TsrTbqrParams *p, double fwhm, int width, int height);

/* The time-left plan (tsr-eta.h) of a TBQR run of session s: the cost of the two accumulate
 * passes follows the fraction of frames the frame cache will hold (run.cache_memory_mb within
 * the memory plan, run.cache_disk_mb and the free space in the temporary folder); the others are
 * read and warped again in each pass. Fills plan[4], returns 4. */
guint tsr_tbqr_eta_plan (TsrSession *s, const TsrTbqrParams *p, const TsrRunParams *run, TsrEtaPhase plan[4]);

TsrAnalysis  *tsr_tbqr_analyse (TsrSession *s, const TsrTbqrParams *p, const TsrRunParams *run,
                                TsrProgressFunc progress, gpointer progress_data,
                                GCancellable *cancellable, GError **error);
TsrAnalysis  *tsr_analysis_ref (TsrAnalysis *a);
void          tsr_analysis_unref (TsrAnalysis *a);
/* A new analysis (ref count 1) that owns copies of a's tables (tiles, frame and tile metrics)
 * and a reference to its registration. The frame cache is not shared: the copy reads and
 * warps frames itself. Never copy a TsrAnalysis by value (its pointers would be freed
 * twice); use this. */
TsrAnalysis  *tsr_analysis_copy (const TsrAnalysis *a);
/* Frees the per-frame, per-tile metrics (n_frames × n_tiles × 32 bytes: at 2,000 frames of
 * 1080 × 1920 about 140 MB, the largest thing that grows with the frame count) once the
 * session has been weighed for the last time. Accumulation, validation, diagnostics and
 * the report do not read them; tsr_tbqr_weigh on such an analysis fails with a clear error. */
void          tsr_analysis_drop_tile_metrics (TsrAnalysis *a);

/* Pure function of the analysis and the weighting/gate/cluster parameters. */
TsrWeights   *tsr_tbqr_weigh (TsrAnalysis *a, const TsrTbqrParams *p, GError **error);
/* As tsr_tbqr_weigh, with the user's TsrFrameChoice per frame (choices: a->reg->n_frames
 * entries, or NULL for all AUTO). */
TsrWeights   *tsr_tbqr_weigh_with_choices (TsrAnalysis *a, const TsrTbqrParams *p, const guint8 *choices,
                                           GError **error);
/* The largest |V_{f,c} / V_f − 1| over the used frames and channels (global.per_channel); NAN
 * where no per-channel factor was measured (mono, the key or global.ivw off) */
double tsr_weights_channel_spread (const TsrWeights *w);
TsrWeights   *tsr_weights_ref (TsrWeights *w);
void          tsr_weights_unref (TsrWeights *w);
/* Frees the per-tile tables accumulation does not read: L (w->l) and, unless keep_quality
 * (the report's and the window's quality maps read it), Q_local (w->q_local). Both become
 * NULL; w->w, the weights accumulation uses, stays. */
void          tsr_weights_drop_tile_tables (TsrWeights *w, gboolean keep_quality);

typedef struct
{
  const char *name;
  double value;
  double limit;
  gboolean pass;
  const char *unit;
  const char *key;    /* the parameter that sets the limit */
} TsrCheck;

typedef struct
{
  double fwhm_result, fwhm_mean;        /* median FWHM of matched stars */
  double fwhm_ratio;                    /* result / mean */
  double noise_result, noise_mean;      /* sky noise / median matched-star aperture flux */
  double noise_ratio;
  double flux_ratio;                    /* median aperture flux(result)/flux(mean), matched stars */
  /* noise at matched resolution (issue #17): per channel, the σ of the sums of 8×8-pixel
   * bins (from differences of neighbouring bins, so sky gradients and the few stars do not
   * count) over the median matched-star aperture flux in that channel; interpolation and
   * warp blur cannot lower it the way they lower the per-pixel noise_result above */
  int n_channels;
  double bin_noise_result[3], bin_noise_mean[3], bin_noise_ratio[3];
  double flux_ratio_channel[3];         /* per channel: median star aperture flux result / mean */
  /* point-source SNR: median over matched stars of the aperture flux (radius = the result's
   * median FWHM) over the σ of the same aperture placed on the sky (annulus-subtracted, so
   * correlated noise counts) */
  double snr_result, snr_mean, snr_ratio;
  guint n_matched;
  double seam;                          /* boundary/interior gradient ratio */
  guint n_checks;
  TsrCheck checks[8];
  gboolean pass;
} TsrValidation;

gboolean tsr_tbqr_sharpness_check (double fwhm_ratio, double snr_ratio, double fwhm_gain);
/* The validation's failed checks, each "name: value, needs ≥|≤ limit (parameter)", joined by
 * sep (translated); NULL when every check passed. */
char    *tsr_validation_failures (const TsrValidation *v, const char *sep);

typedef struct
{
  TsrImage *result;       /* RGB for Bayer sessions, else as the frames */
  TsrImage *mean;         /* plain mean stack of the same frames, same form */
  TsrImage *coverage;     /* frames contributing per pixel (after rejection) */
  TsrImage *weight;       /* Σ weight per pixel */
  TsrImage *rejected;     /* fraction of samples rejected per pixel */
  TsrValidation validation;
  gboolean drizzled;      /* Bayer drizzle instead of demosaic + warp (drizzle.mode) */
  int scale;              /* output pixels per reference pixel along an axis (1, or 2 drizzled) */
  gsize drizzle_holes;    /* output values no drop reached, filled from neighbours */
  char *drizzle_note;     /* one sentence: drizzled or not, and why (NULL: not a question) */
} TsrReconstruction;

void          tsr_reconstruction_free (TsrReconstruction *r);

TsrReconstruction *tsr_tbqr_accumulate (TsrAnalysis *a, TsrWeights *w, const TsrTbqrParams *p,
                                       const TsrRunParams *run,
                                        TsrProgressFunc progress, gpointer progress_data,
                                        GCancellable *cancellable, GError **error);

/* Validation of a result against the mean stack (used by accumulate). */
void          tsr_tbqr_validate (const TsrImage *result, const TsrImage *mean, const TsrAnalysis *a,
                                 const TsrTbqrParams *p, TsrValidation *v);

/* Diagnostics JSON with every per-frame and per-tile number. */
char         *tsr_tbqr_diagnostics_json (const TsrAnalysis *a, const TsrWeights *w,
                                         const TsrReconstruction *r);

/* Robust z-scores (1.4826·MAD); NAN inputs stay NAN (missing); MAD = 0 gives z = 0. */
void          tsr_robust_z_public (const double *v, guint n, double *z);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsrAnalysis, tsr_analysis_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsrWeights, tsr_weights_unref)

G_END_DECLS
