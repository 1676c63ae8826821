/* tsr-denoise.h — the learned denoiser (issue #14): a ResUNet trained by train/denoise/,
 * run on overlapping tiles with Gaussian feathering; linear in, linear out. Also the
 * classical baseline it is measured against (à-trous wavelet soft thresholding).
 *
 * Normalisation (reversible, per channel, identical in train/denoise/train.py):
 * z = asinh((x - median) / sigma), sigma = 1.4826·MAD of horizontal differences / √2;
 * the network sees asinh(z) and returns a correction r in noise units: clean z = z + r
 * (r = 0 keeps every flux as it was); x = median + sigma·(z + r). So
 * denoise(a·x + b) = a·denoise(x) + b for a > 0. */
#pragma once
#include <gio/gio.h>
#include "nn/tsr-nn.h"
#include "tsr-image.h"
#include "tsr-keys.h"
#include "tsr-progress.h"

G_BEGIN_DECLS

typedef struct
{
  double strength;       /* 0…1: blend of the denoised image with the input (default 1) */
  int tile;              /* tile size in px, multiple of 4 in 64…1024 (default 256) */
  double overlap;        /* fraction of the tile shared with its neighbour (default 0.25;
                            0 = the naïve non-overlapping tiling, for comparison) */
  double feather_sigma;  /* Gaussian σ of the tile weight as a fraction of the tile (default
                            0.25); the mask is shifted to reach 0 at the tile border */
  int threads;           /* 0 = one per core */
  int refine;            /* 1 (default): refine the network's estimate by a star-aware
                            empirical Wiener filter in the à-trous domain (tsr_wavelet_wiener;
                            stars kept from the network, the input's large-scale level
                            restored; docs/denoise.md); 0: the network alone */
  double refine_k;       /* noise multiplier of that filter, 0.5…4 (default 2) */
  char *weights;         /* .tnnw file; NULL = the weights built into the library (not a key:
                            a path, given by the CLI's --weights) */
} TsrDenoiseParams;

void tsr_denoise_params_init (TsrDenoiseParams *p);
void tsr_denoise_params_clear (TsrDenoiseParams *p);   /* frees weights */

/* The key table (core/tsr-keys.h): "denoise.strength", "denoise.tile", "denoise.overlap",
 * "denoise.feather_sigma", "denoise.threads". */
const TsrParamSpec *tsr_denoise_params_specs (guint *n);
gboolean tsr_denoise_params_set (TsrDenoiseParams *p, const char *key, const char *value, GError **error);
char    *tsr_denoise_params_get_string (const TsrDenoiseParams *p, const char *key); /* NULL if unknown */
/* Every value in range? Errors name the key. */
gboolean tsr_denoise_params_validate (const TsrDenoiseParams *p, GError **error);

/* ---- the network ---- */
typedef struct _TsrDenoiseNet TsrDenoiseNet;
/* path NULL: the built-in weights. Errors name the file and the tensor. */
TsrDenoiseNet *tsr_denoise_net_load (const char *path, GError **error);
/* Takes w on success; leaves it to the caller on failure. */
TsrDenoiseNet *tsr_denoise_net_new_from_weights (TsrNnWeights *w, GError **error);
void           tsr_denoise_net_free (TsrDenoiseNet *net);
int            tsr_denoise_net_base (const TsrDenoiseNet *net);     /* channels at full resolution */
double         tsr_denoise_net_flops (const TsrDenoiseNet *net, int h, int w);  /* per forward */
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsrDenoiseNet, tsr_denoise_net_free)

/* Buffers of one forward pass (one per thread). */
typedef struct _TsrDenoiseNetState TsrDenoiseNetState;
TsrDenoiseNetState *tsr_denoise_net_state_new (void);
void                tsr_denoise_net_state_free (TsrDenoiseNetState *st);
/* x: 1×3×h×w (h, w multiples of 4), asinh of the normalised image; y: same shape, the
 * correction in noise units. */
void tsr_denoise_net_forward (const TsrDenoiseNet *net, TsrDenoiseNetState *st, const TsrNnTensor *x,
                              TsrNnTensor *y);
/* Same network through the plain C reference layers (tests). */
void tsr_denoise_net_forward_ref (const TsrDenoiseNet *net, const TsrNnTensor *x, TsrNnTensor *y);

/* Per-channel background (median) and noise as the network's normalisation uses them,
 * over valid samples. */
void tsr_denoise_stats (const TsrImage *img, int c, double *bg, double *sigma);

/* ---- the job ---- */
typedef struct
{
  guint n_tiles;
  double seconds;
  double refine_seconds; /* of which the refinement (denoise.refine) */
  guint n_repaired;      /* isolated hot / cold pixels replaced by their neighbours' median */
  double gflop;          /* network arithmetic done */
  double bg[3], sigma[3];
} TsrDenoiseStats;

/* Denoise a mono or RGB (debayered) image. Invalid samples pass through unchanged. */
TsrImage *tsr_denoise_run (const TsrImage *in, const TsrDenoiseParams *p, TsrDenoiseStats *stats_out,
                           TsrProgressFunc progress, gpointer progress_data, GCancellable *cancellable,
                           GError **error);

/* ---- the classical baseline ----
 * À-trous B3-spline wavelet transform with `scales` detail scales; each detail coefficient
 * soft-thresholded at k·σ_j (σ_j: the noise at scale j, from the channel's sigma as above);
 * the residual (coarsest) scale kept. */
TsrImage *tsr_wavelet_denoise (const TsrImage *in, int scales, double k);

/* One à-trous B3 smoothing of a w×h plane with holes of `step` (mirror edges); tmp: w×h. */
void tsr_wavelet_smooth (const float *in, float *out, float *tmp, int w, int h, int step);

/* Empirical Wiener filter in the same à-trous domain, guided by a pilot estimate of the
 * clean plane: every detail coefficient d of the noisy plane becomes d·p²/(p² + (σ·σ_j)²),
 * p the pilot's coefficient, σ_j the scale's noise factor for unit white noise. The
 * coarsest scale is the noisy plane's. w×h planes, no mask (fill invalid samples before);
 * out may be noisy itself. */
void tsr_wavelet_wiener (const float *noisy, const float *pilot, float *out, int w, int h, int scales, double sigma);

G_END_DECLS
