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
  int crop_w, crop_h;    /* training crop (the whole image when it is smaller) */
  guint n_params;        /* learnable scalars */
  gsize memory_estimate, memory_budget;
  double seconds_stage, seconds_train, seconds_infer;
  GArray *stats;         /* TsrRestoreStepStats, one per step */
} TsrRestoreResult;

TsrRestoreResult *tsr_restore_run (TsrSession *s, const TsrRestoreParams *rp, const TsrTbqrParams *tp,
                                   const TsrRunParams *run, TsrProgressFunc progress, gpointer progress_data,
                                   GCancellable *cancellable, GError **error);
void              tsr_restore_result_free (TsrRestoreResult *r);

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

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsrRestoreResult, tsr_restore_result_free)

G_END_DECLS
