/* tsr-restore-params.h — the parameters of the deep-image-prior restoration ("restore.*")
 * and their key table. */
#pragma once
#include "tsr-keys.h"
#include "tsr-tbqr-params.h"
#include "tsr-run-params.h"

G_BEGIN_DECLS

typedef enum { TSR_RESTORE_STOP_HELDOUT = 0, TSR_RESTORE_STOP_FIXED } TsrRestoreStop;

typedef struct
{
  int branches;          /* restore.branches (3): parallel depthwise kernels 3, 5, 9, 15 (the first n) */
  double lr;             /* restore.lr (0.002) */
  double decay;          /* restore.decay (0.95) … */
  int decay_steps;       /* … every restore.decay_steps (1000) */
  double delta;          /* restore.delta: Huber δ in units of σ (2.0) */
  int max_steps;         /* restore.max_steps (2000) */
  int min_steps;         /* restore.min_steps (100) */
  int patience;          /* restore.patience: steps without a new held-out minimum (200) */
  double min_delta;      /* restore.min_delta: relative fall of the held-out minimum over the
                            last restore.patience steps below which training stops (0.001) */
  double holdout;        /* restore.holdout: fraction of pixels held out of the loss (0.05) */
  TsrRestoreStop stop;   /* restore.stop: heldout (default) | fixed (max_steps, the paper) */
  int crop;              /* restore.crop: side of the random crops per step, px (192) */
  gboolean background;   /* restore.background: per-frame learnable background plane (TRUE) */
  double sparsity;       /* restore.sparsity: weight of the L1 prior on the latent, per pixel
                            in units of the median frame noise (0.3; 0 = none) */
  double sparsity_snr;   /* restore.sparsity_snr: the L1 prior acts only where the mean stack,
                            smoothed by the seeing, is below this SNR (sources dilated by one
                            FWHM keep their flux); 0 = everywhere (2.0) */
  double psf_span;       /* restore.psf_span: PSF stamps span this many times the usual radius
                            (4 σ of the FWHM), so Moffat wings are in the PSF (2.0) */
  double diffuse;        /* restore.diffuse: node spacing, in median FWHMs, of a smooth signed
                            map added to the latent (bilinear grid, learnt; diffuse light and the
                            background's local error); 0 = none (20) */
  double chroma;         /* restore.chroma: colour sessions: σ, in median FWHMs, of the window in
                            which the mean stack's colour ratios are measured and carried onto
                            the luminance latent (1.0); 0 = a luminance result */
  int psf_regions;       /* restore.psf_regions: g; each frame's PSF measured in g × g cells of
                            the frame and interpolated bilinearly between the cells' centres in
                            the decoder, ŷ = Σ_k f_k ∗ (w_k · x) (1 = one PSF per frame) (1) */
  int subpixel;          /* restore.subpixel: s; the latent on a grid s times finer than the
                            pixels: s² phases φ per pixel, x_φ each an encoder output, decoded by
                            Σ_φ f_φ ∗ x_φ with f_φ the PSF centred at the phase's offset
                            ((i + ½)/s − ½ px per axis); the image is Σ_φ x_φ (1) */
  gboolean blind;        /* restore.blind: learn each frame's PSF too (the paper's appendix A):
                            initialised from the measured one, kept non-negative with unit sum
                            (a softmax of learnable logits) (FALSE) */
  double blind_lr;       /* restore.blind_lr: the PSFs' learning rate ÷ restore.lr, after
                            restore.min_steps steps with the measured PSFs (0.03) */
  gboolean mask_saturated; /* restore.mask_saturated: samples at or next to a saturated raw pixel
                            (stars.saturation, else an ADC full scale, as the deconvolution
                            decides it) count in the loss only as lower bounds: no loss where
                            the model lies above them (TRUE) */
  double gain;           /* restore.gain: e-/ADU for the Poisson part of σ; 0 = background RMS only */
  int seed;              /* restore.seed: initialisation, crops and held-out pixels (1) */
  double memory_mb;      /* restore.memory_mb (2048) */
} TsrRestoreParams;

void                tsr_restore_params_init (TsrRestoreParams *p);
const TsrParamSpec *tsr_restore_params_specs (guint *n);
gboolean            tsr_restore_params_validate (const TsrRestoreParams *p, GError **error);
/* "Tessera params v1: key=value …": register.* … (registration), restore.* and run.*. */
char               *tsr_restore_params_history (const TsrRestoreParams *p, const TsrTbqrParams *tp,
                                                const TsrRunParams *run);

G_END_DECLS
