/* tsr-restore.h — multi-frame restoration with a deep image prior (issue #15; method:
 * AstroClearNet, Sukurdeep, Navarro & Budavári). See docs/restore.md.
 *
 * A small network is trained on the session itself: encoder F_θ (parallel depthwise
 * convolutions of every registered exposure, ReLU, batch norm, concatenation, pointwise
 * convolution, ReLU) gives one latent x ≥ 0 padded by the PSF radius; the decoder is fixed:
 * ŷ_t = a_t · (f_t ∗ x) + b_t with each frame's measured PSF f_t (FFT), photometric scale
 * a_t and a learnable background plane b_t; loss Σ m · Huber_δ((y − ŷ)/σ). Adam with a
 * staircase decay; training stops at the minimum of the loss on held-out pixels (hidden
 * from both the loss and the encoder's input). */
#pragma once
#include <gio/gio.h>
#include "tsr-restore-params.h"
#include "tsr-tbqr-params.h"
#include "tsr-run-params.h"
#include "tsr-image.h"
#include "tsr-progress.h"
#include "tsr-session.h"
#include "tsr-psf.h"

G_BEGIN_DECLS

typedef struct
{
  guint step;            /* 1-based */
  double train_loss;     /* mean Huber loss of the training pixels (+ the L1 prior term) */
  double heldout_loss;   /* mean Huber loss of the held-out pixels (smoothed over crops) */
  double lr;
} TsrRestoreStepStats;

typedef struct
{
  TsrImage *image;       /* the latent x (background-subtracted, reference frame's units): mono,
                            or for a colour (Bayer or RGB) session RGB — the luminance latent
                            times the mean stack's local colour ratios (restore.chroma) */
  TsrImage *luminance;   /* colour sessions: the luminance latent itself (NULL for mono) */
  TsrImage *smooth;      /* the smooth signed map inside image (restore.diffuse; NULL when 0):
                            image − smooth is the non-negative latent */
  TsrImage *mean;        /* mean of the same registered frames, background-subtracted, scaled
                            (RGB for a colour session) */
  guint n_frames;        /* frames used */
  guint reference;
  guint steps;           /* steps taken */
  guint best_step;       /* the step whose weights made the image */
  const char *stop;      /* "heldout-minimum", "heldout-plateau", "max-steps" or "fixed" */
  double median_fwhm;
  int psf_radius;
  guint n_psf_stars;     /* frames whose PSF came from star stamps */
  guint n_region_psfs;   /* restore.psf_regions > 1: cells (all frames) with their own stamps */
  double psf_field[3];   /* … the field model of the PSF's scale: log FWHM = a_t + [0] u + [1] v
                            + [2] r² (u, v ÷ the half-diagonal from the centre) */
  guint n_field_stars;   /* … the stars it was fitted to (0: no fit, no stretch) */
  int crop_w, crop_h;    /* training crop (the whole image when it is smaller) */
  guint n_params;        /* learnable scalars */
  gsize memory_estimate, memory_budget;
  double seconds_stage, seconds_train, seconds_infer;
  guint n_snapshots;     /* snapshots handed to the snapshot callback (tsr_restore_run_full) */
  double seconds_snapshot;   /* time spent making them (inside seconds_train) */
  double psf_fwhm_given, psf_fwhm_learnt;   /* restore.blind: median FWHM of the frames' PSFs as
                                               measured and as learnt (the kept step's), px */
  guint64 n_saturated;   /* restore.mask_saturated: frame samples left out of the loss as
                            saturated or next to a saturated raw pixel (all frames) */
  GArray *stats;         /* TsrRestoreStepStats, one per step */
  guint *frame_index;    /* n_frames: the session index of each frame used */
  double *frame_scale;   /* n_frames: its photometric scale against the reference (aperture
                            ratio; the decoder's a_t) */
} TsrRestoreResult;

TsrRestoreResult *tsr_restore_run (TsrSession *s, const TsrRestoreParams *rp, const TsrTbqrParams *tp,
                                   const TsrRunParams *run, TsrProgressFunc progress, gpointer progress_data,
                                   GCancellable *cancellable, GError **error);
void              tsr_restore_result_free (TsrRestoreResult *r);

/* What the snapshot callback is handed during training: the latent of the current weights
 * over the whole image, so a window can show it as it improves. Luminance (mono) also for a
 * colour session (the colour step runs once, at the end); in the reference frame's units,
 * background-subtracted, with the smooth map (restore.diffuse) — the result's mono form.
 * Trained on the whole image it is the step's own forward pass (training-mode batch norm,
 * thinned input); trained on crops the encoder runs over the whole image in tiles with the
 * running statistics, as the final inference does. Both images belong to the job: copy
 * what is kept. Not a result: the kept weights (the held-out minimum) may be an earlier
 * step's. */
typedef struct
{
  const TsrImage *latent;
  const TsrImage *mean;  /* the mono mean stack of the same frames (the same every call) */
  guint step;            /* the training step whose weights made it (1-based) */
  guint max_steps;
  double heldout_loss;
} TsrRestoreSnapshot;

/* Called on the job's thread. */
typedef void (*TsrRestoreSnapshotFunc) (const TsrRestoreSnapshot *snap, gpointer data);

/* tsr_restore_run with snapshots: at step 10 and then whenever snapshot_seconds have passed
 * since the last one and at least 9× the last snapshot's own cost (so making them takes at
 * most ~10 % of the training time: on crops a snapshot is a whole-image inference). */
TsrRestoreResult *tsr_restore_run_full (TsrSession *s, const TsrRestoreParams *rp, const TsrTbqrParams *tp,
                                        const TsrRunParams *run, TsrRestoreSnapshotFunc snapshot,
                                        gpointer snapshot_data, double snapshot_seconds, TsrProgressFunc progress,
                                        gpointer progress_data, GCancellable *cancellable, GError **error);

/* Fourier sharpness S_F (the paper's metric, after Krotkov): mean over the spectrum of
 * log |FFT| of the image divided by its robust sky σ (sigma > 0 overrides the σ), over the
 * valid bounding box minus border. */
double            tsr_restore_fourier_sharpness (const TsrImage *img, int border, double sigma);
/* Robust sky σ: 1.4826·MAD of pixels below the 80th percentile's median-clipped set,
 * iterated 3σ clipping (stars excluded), valid pixels minus border. */
double            tsr_restore_sky_sigma (const TsrImage *img, int border);

/* A colour result from a luminance image lum (the mean of the channels) and the RGB mean
 * stack of the same frames in the same geometry: channel c = lum · r_c, r_c the mean stack's
 * local colour ratio at the resolution of a Gaussian of sigma px (regularised to neutral
 * where the smoothed luminance is at the sky noise; Σ_c r_c = 3, so the channels' mean is
 * lum). The restore job's colour step (restore.chroma × the median FWHM). */
TsrImage         *tsr_restore_colour (const TsrImage *lum, const TsrImage *mean, double sigma);

/* The field-varying decoder (restore.psf_regions = g), as the job computes it, for the layer
 * tests: psfs[g·g] the cells' PSFs (row-major), the latent (lw × lh) whose sample (0, 0) is
 * pixel (x0, y0) of a W × H frame cut into g × g cells; the output is the valid region
 * ((lw − 2R) × (lh − 2R), R the largest PSF radius). apply: out = Σ_k f_k ∗ (w_k · in) or, with
 * adjoint, out (lw × lh) = Σ_k w_k · (f_kᵀ ∗ in) (in of the valid region's size). loss:
 * Σ m · Huber_δ((ŷ − y)/σ) over the valid region and, when dx is not NULL, ∂loss/∂x into it. */
void   tsr_restore_field_psf_apply (const TsrPsf *const *psfs, int g, int W, int H, int x0, int y0, int lw, int lh,
                                    gboolean adjoint, const float *in, float *out);
double tsr_restore_field_psf_loss (const TsrPsf *const *psfs, int g, int W, int H, int x0, int y0, const float *x,
                                   int lw, int lh, const float *y, const float *sigma, const guint8 *m, double delta,
                                   float *dx);

/* The same with the sub-pixel latent (restore.subpixel = sub): x (in of apply, adjoint's out,
 * dx) holds sub² planes of lw × lh, phase φ = iy · sub + ix drawn with each cell's PSF centred
 * at ((ix + ½)/sub − ½, (iy + ½)/sub − ½) px (Lanczos-3 shift, the same sum):
 * ŷ = Σ_c Σ_φ f_{c,φ} ∗ (w_c · x_φ). sub = 1 is the field decoder above. */
void   tsr_restore_phase_psf_apply (const TsrPsf *const *psfs, int g, int sub, int W, int H, int x0, int y0, int lw,
                                    int lh, gboolean adjoint, const float *in, float *out);
double tsr_restore_phase_psf_loss (const TsrPsf *const *psfs, int g, int sub, int W, int H, int x0, int y0,
                                   const float *x, int lw, int lh, const float *y, const float *sigma,
                                   const guint8 *m, double delta, float *dx);

/* The blind variant's decoder on one frame (restore.blind), as the job computes it, for the
 * finite-difference test of its PSF gradient: PSF f = softmax(logits) (psf_size², odd side),
 * ŷ = scale · (f ∗ x) on the valid region of the lw × lh latent x ((lw − psf_size + 1) ×
 * (lh − psf_size + 1) px), loss Σ m · Huber_δ((ŷ + off − y)/σ) over that region (off, y, σ,
 * m of its size). Returns the loss and, when dlogits is not NULL, ∂loss/∂logits into it. */
double tsr_restore_blind_psf_loss (const float *x, int lw, int lh, const float *logits, int psf_size, double scale,
                                   const float *off, const float *y, const float *sigma, const guint8 *m,
                                   double delta, float *dlogits);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsrRestoreResult, tsr_restore_result_free)

G_END_DECLS
