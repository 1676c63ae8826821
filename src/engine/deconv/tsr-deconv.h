/* tsr-deconv.h — multi-frame robust deconvolution (issue 6; method: SASpro MFDeconv after
 * Sukurdeep et al. ImageMM). See docs/deconv.md.
 *
 * One latent sky x ≥ 0 is solved from every registered frame t, each with its own PSF h_t,
 * photometric scale s_t and background model b_t:
 *     y_t = s_t · D(h_t ∗ x) + b_t + noise,
 * D = r×r mean pooling when super-resolving. Multiplicative MM update with Huber weights,
 * κ clip and relaxation; exact FFT operators on tiles with a halo; frames streamed from a
 * staging folder, never all in memory.
 */
#pragma once
#include <gio/gio.h>
#include "tsr-tbqr-params.h"
#include "tsr-deconv-params.h"
#include "tsr-run-params.h"
#include "tsr-psf.h"
#include "tsr-progress.h"
#include "tsr-session.h"

G_BEGIN_DECLS

/* ---------------------------------------------------------------------------------------
 * Operators (tsr-deconv-ops.c)
 *
 * A latent tile of lw × lh fine samples (fine = r× the image grid) is observed on the
 * "valid" region: ow × oh image pixels, ow = (lw − 2·rf) / r, where rf is the PSF radius in
 * fine samples. Forward: y = D(h ∗ x) restricted to the valid region (no boundary rule).
 * Adjoint: x = hᵀ ∗ Dᵀ y, Dᵀ = replicate / r². Convolution is by FFT (r2c/c2r) on an
 * nw × nh grid ≥ every tile, with the kernel embedded centred (its centre at sample 0), so a
 * centred delta PSF shifts nothing. Spectra are interleaved complex floats of
 * tsr_conv_plan_spectrum_len() complex values.
 */
typedef struct _TsrConvPlan TsrConvPlan;
typedef struct _TsrConvWork TsrConvWork;

TsrConvPlan *tsr_conv_plan_new (int max_lw, int max_lh, int rf, int r);
void         tsr_conv_plan_free (TsrConvPlan *plan);
gsize        tsr_conv_plan_spectrum_len (const TsrConvPlan *plan);   /* complex values */
void         tsr_conv_plan_size (const TsrConvPlan *plan, int *nw, int *nh);
/* Bytes one TsrConvWork uses. */
gsize        tsr_conv_work_bytes (const TsrConvPlan *plan);

TsrConvWork *tsr_conv_work_new (const TsrConvPlan *plan);
/* A work whose FFT arrays are given (nreal floats, ncomplex complex values; 64-byte aligned, e.g.
 * parts of a TsrHugeBlock) and stay the caller's */
TsrConvWork *tsr_conv_work_new_with (const TsrConvPlan *plan, float *real, float *spec);
void         tsr_conv_work_free (TsrConvWork *work);
float       *tsr_conv_spectrum_new (const TsrConvPlan *plan);          /* zeroed; free with tsr_conv_spectrum_free */
void         tsr_conv_spectrum_free (float *spec);
void         tsr_conv_spectrum_zero (const TsrConvPlan *plan, float *spec);
/* A real array of the plan's FFT grid (nw × nh, FFTW-aligned), e.g. for scattering an adjoint's
 * input straight into it: the valid region of a tile sits at offset (rf, rf), row stride nw
 * (tsr_conv_plan_size), the rest must be zero. Plans with r = 1 only. */
float       *tsr_conv_grid_new (const TsrConvPlan *plan);
void         tsr_conv_grid_free (float *grid);
/* tsr_conv_adjoint_accumulate2 on inputs already embedded in two such grids (no copy into the
 * FFT buffer); the same result bit for bit */
void         tsr_conv_adjoint_accumulate2_grid (TsrConvWork *w, const float *kspec, float *g1, float *g2,
                                                double weight, float *acc1, float *acc2);
/* The pair adjoint from one complex grid: g1 in the real parts, g2 in the imaginary parts
 * (interleaved, nh rows of tsr_conv_cgrid_stride ≥ nw complex values, of which the first nw are
 * the grid's, FFTW-aligned: tsr_conv_cgrid_new; valid region at (rf, rf); the rest zero, and
 * columns outside [rf, max_lw − rf) must be, as they are not transformed), by one complex FFT
 * instead of two real ones (g1, g2 are real, so their spectra follow from Z[k] and Z[−k]).
 * Leaves the grid's nw columns all zero. fresh: acc1 and acc2 are written, not added to (their
 * old contents, zero or not, are ignored: the same bits as adding to zeros). The same sums as
 * tsr_conv_adjoint_accumulate2_grid up to float rounding. Plans with r = 1 only. */
float       *tsr_conv_cgrid_new (const TsrConvPlan *plan);
int          tsr_conv_cgrid_stride (const TsrConvPlan *plan);   /* complex values per row */
gsize        tsr_conv_cgrid_len (const TsrConvPlan *plan);      /* complex values in all */
void         tsr_conv_adjoint_accumulate2_cgrid (TsrConvWork *w, const float *kspec, float *z, double weight,
                                                 float *acc1, float *acc2, gboolean fresh);

/* One allocation for several large arrays (spectra, FFT grids, staged frames), 2 MiB-aligned,
 * its size rounded up to 2 MiB and advised for transparent huge pages (madvise MADV_HUGEPAGE):
 * each frame visit sweeps ~10 MB of such arrays, and with 4 KiB pages the sweeps' TLB misses and
 * the first touch's page faults cost ~15 % of the solver's CPU. Parts are taken in order,
 * 64-byte aligned (FFTW's alignment and more). */
typedef struct
{
  guint8 *base;
  gsize size, used;
} TsrHugeBlock;

/* bytes a part of n bytes takes in a block; bytes a block of n bytes of parts allocates */
gsize  tsr_huge_part_bytes (gsize n);
gsize  tsr_huge_block_bytes (gsize n);
/* FALSE when the memory is not there (b is then empty) */
gboolean tsr_huge_block_init (TsrHugeBlock *b, gsize n);
void  *tsr_huge_block_take (TsrHugeBlock *b, gsize n);
void   tsr_huge_block_clear (TsrHugeBlock *b);

/* Spectrum of a PSF on the fine grid (psf->radius ≤ rf). */
void  tsr_conv_kernel_spectrum (TsrConvWork *w, const TsrPsf *psf, float *spec);
/* Spectrum of a latent tile (lw × lh, zero-padded). */
void  tsr_conv_spectrum (TsrConvWork *w, const float *x, int lw, int lh, float *spec);
/* the same from rows stride floats apart */
void  tsr_conv_spectrum_strided (TsrConvWork *w, const float *x, gsize stride, int lw, int lh, float *spec);
/* y (ow × oh) = D(h ∗ x) from the latent's spectrum. */
void  tsr_conv_forward_spec (TsrConvWork *w, const float *xspec, const float *kspec, int lw, int lh,
                             float *y);
/* D(h ∗ x) unscaled and in place (plans with r = 1 only): the inverse FFT's own output, the
 * valid region's first sample returned, rows *stride floats apart, each value *scale times
 * what tsr_conv_forward_spec writes (no copy of the valid region). Only the rows of the largest
 * tile's valid region are computed, [rf, max_lh − rf) of the grid: the sample rows the frame
 * pixels read. Valid until the work's next call. */
const float *tsr_conv_forward_spec_grid (TsrConvWork *w, const float *xspec, const float *kspec, int *stride,
                                         double *scale);
/* y (ow × oh) = Σ_k D(h_k ∗ x_k) from nk latent spectra and nk kernel spectra (one inverse FFT). */
void  tsr_conv_forward_spec_sum (TsrConvWork *w, const float *const *xspecs, const float *const *kspecs, int nk,
                                 int lw, int lh, float *y);
/* accs[k] += weight · conj(K_k) · FFT(Dᵀ y) for k < nk (one FFT of y). */
void  tsr_conv_adjoint_accumulate_multi (TsrConvWork *w, const float *const *kspecs, int nk, const float *y,
                                         int lw, int lh, double weight, float *const *accs);
/* acc += weight · conj(K) · FFT(Dᵀ y), y ow × oh. */
void  tsr_conv_adjoint_accumulate (TsrConvWork *w, const float *kspec, const float *y, int lw, int lh,
                                   double weight, float *acc);
/* The same for two images with one kernel (both spectra, K read once). */
void  tsr_conv_adjoint_accumulate2 (TsrConvWork *w, const float *kspec, const float *y1, const float *y2, int lw,
                                    int lh, double weight, float *acc1, float *acc2);
/* x (lw × lh) = inverse FFT of an accumulated spectrum. */
void  tsr_conv_from_spectrum (TsrConvWork *w, const float *spec, int lw, int lh, float *x);
/* the inverse FFT of spec (its values are lost) into out: the whole nw × nh grid (rows nw apart),
 * not divided by nw·nh */
void  tsr_conv_inverse_raw (TsrConvWork *w, float *spec, float *out);
/* Conveniences: one forward / one adjoint. */
void  tsr_conv_forward (TsrConvWork *w, const float *kspec, const float *x, int lw, int lh, float *y);
void  tsr_conv_adjoint (TsrConvWork *w, const float *kspec, const float *y, int lw, int lh, float *x);
/* Number of FFTs executed by this work object (for the benchmark). */
guint64 tsr_conv_work_fft_count (const TsrConvWork *w);

/* ---------------------------------------------------------------------------------------
 * The multi-frame job (tsr-deconv.c)
 */
typedef struct
{
  guint iteration;        /* 1-based */
  double median_update;   /* median |ratio − 1| over the latent */
  double rel_change;      /* ‖x − x_old‖ / ‖x_old‖ */
  double ema_update, ema_change;
  double delta;           /* median automatic Huber δ (in units of √v) used */
  double seconds;
  double max_step;        /* largest per-pixel factor between successive iterates of the latent
                             plus its pedestal (≤ deconv.kappa) */
  double momentum;        /* extrapolation factor used for the next step (0 = restart) */
} TsrDeconvIterStats;

/* Called on the calling thread after every iteration with the current latent (valid only
 * during the call; copy or ref it to keep it). Return FALSE to stop (treated as cancel). */
typedef gboolean (*TsrDeconvIterFunc) (const TsrImage *latent, const TsrDeconvIterStats *stats,
                                       gpointer user_data);

typedef struct
{
  int tile;               /* core side in fine samples; 0 = from the memory budget */
  const TsrImage *seed;   /* starting image (native grid, background subtracted, reference
                             geometry and units); NULL = deconv.seed */
  const char *stage_dir;  /* folder for the staged frames; NULL = the system temporary folder */
  gboolean row_reads;     /* read a tile's staged pixels row by row, never as whole image rows
                             (tests: both ways give the same image bit for bit) */
  gboolean no_resident;   /* never hold the staged frames in memory (tests: the same image bit for
                             bit as with them held) */
} TsrDeconvOptions;

typedef struct
{
  TsrImage *image;        /* the deconvolved latent: r·W × r·H; RGB for Bayer sessions */
  TsrImage *mean;         /* mean of the same registered, normalised frames (native) */
  TsrImage *seed;         /* the starting image (native) */
  TsrPsf *median_psf[3];  /* per channel: PSF of the frame with the median FWHM (native grid) */
  int channels;
  guint n_frames;         /* frames used (registered and not gated) */
  guint reference;        /* session index of the reference frame (the output geometry) */
  guint n_psf_stars;      /* frames whose PSF came from stars (per channel 0) */
  int sr;
  guint iterations;
  gboolean early_stopped;
  const char *seed_kind;  /* "median", "tbqr" or "image" */
  double sky_level;       /* median background of the reference frame (reference units) */
  double median_fwhm;     /* median frame FWHM (registration measurement), px */
  int tile, psf_radius;   /* core side and PSF radius, fine samples */
  guint n_tiles, n_workers;
  gboolean kernel_cache;
  gsize memory_estimate;  /* bytes the planner expects at peak (budget check) */
  gboolean resident;      /* the staged frames' native samples held in memory during the iterations
                             (the budget left room for them), not read back from disk per visit */
  gsize memory_budget;
  GArray *stats;          /* TsrDeconvIterStats */
  double seconds_stage, seconds_iterate;
  guint64 n_fft;          /* FFTs executed during the iterations */
  double cpu_iterate;     /* process CPU seconds of the iterations */
  double worker_cpu_min, worker_cpu_max; /* CPU seconds on frames of the least and most busy worker */
  double worker_cpu_sum;                 /* … and of all workers together */
  double pedestal[3];     /* how far below zero the latent could go, per channel */
  double gain;            /* e-/ADU used for the Poisson variance (0 = none) */
  gboolean gain_estimated;
  guint64 n_saturated;    /* saturated pixels masked, over all used frames */
  guint n_saturated_cores; /* saturated stars blended into the seed instead of deconvolved */
  guint n_anchor_stars;    /* stars of the photometric anchor (deconv.flux_anchor; 0: not applied) */
  double flux_anchor[3];   /* per channel: factor the result was multiplied by (1: none) */
  double anchor_ratio, anchor_se; /* the anchor's measured mean stack / model flux and its standard error; it
                                   * is applied when they differ from 1 by more than 2 standard errors */
} TsrDeconvResult;

void             tsr_deconv_options_init (TsrDeconvOptions *o);
/* Scale a header's WCS (CRPIX, CD, CDELT) to an r× super-resolved grid. */
void             tsr_deconv_scale_wcs (TsrHeader *h, int r);

TsrDeconvResult *tsr_deconv_run (TsrSession *s, const TsrDeconvParams *dp, const TsrTbqrParams *tp,
                                 const TsrRunParams *run, const TsrDeconvOptions *opt,
                                 TsrDeconvIterFunc iter_func, gpointer iter_data,
                                 TsrProgressFunc progress, gpointer progress_data,
                                 GCancellable *cancellable, GError **error);
void             tsr_deconv_result_free (TsrDeconvResult *r);

/* Single-image Richardson–Lucy (the baseline): img ≥ 0 plus pedestal is modelled as
 * h_c ∗ x + pedestal with Poisson statistics; psf[c] per channel (or psf[0] for all). */
TsrImage        *tsr_deconv_rl_image (const TsrImage *img, TsrPsf *const *psf, guint n_psf,
                                      int iterations, double pedestal,
                                      GCancellable *cancellable, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsrDeconvResult, tsr_deconv_result_free)

/* Usable pixels of a raw frame (1) as the deconvolution decides them: valid and, with
 * mask_sat, not within `dilate` px of a saturated pixel; the level is `level` (stars.saturation)
 * or, where that is ≤ 0, 0.98 × the frame's maximum when the maximum sits within 3 % of an ADC
 * full scale (255 … 65535), else nothing counts as saturated. *nsat: the saturated pixels
 * found. Also used by the restoration (restore/) for its loss masks. g_free the result. */
guint8 *tsr_deconv_usable_mask (const TsrImage *raw, double level, gboolean mask_sat, int dilate, guint64 *nsat);

G_END_DECLS
