/* tsr-psf.h — point-spread functions for deconvolution: elliptical Moffat models and PSFs
 * stacked from the star stamps of a registered frame. See docs/deconv.md. */
#pragma once
#include <glib.h>
#include "tsr-image.h"

G_BEGIN_DECLS

/* A sampled PSF on a grid with `oversample` samples per image pixel (1 = the image grid, r
 * = a super-resolution grid). size is odd, the centre is sample (radius, radius), the
 * samples are ≥ 0 and sum to 1. */
typedef struct
{
  int size;
  int radius;           /* (size − 1) / 2, in grid samples */
  int oversample;
  float *data;          /* size × size, row-major */
  double fwhm;          /* measured on the samples (half-maximum area), image pixels */
  gboolean from_stars;  /* FALSE: Moffat model */
  guint n_stars;        /* stamps behind a stacked PSF */
} TsrPsf;

/* Odd side in image pixels: 2·⌈4σ⌉ + 1 with σ = FWHM / 2.3548, clamped to [11, 51]. */
int      tsr_psf_size_for_fwhm (double fwhm);

/* Elliptical Moffat of geometric-mean FWHM fwhm (image px), axis ratio roundness ∈ (0, 1],
 * major axis at theta (radians from +x toward +y), exponent beta, integrated over each grid
 * sample. size_px = side in image pixels (0 = tsr_psf_size_for_fwhm); the grid side is
 * 2·radius·oversample + 1. */
TsrPsf  *tsr_psf_new_moffat (double fwhm, double roundness, double theta, double beta,
                             int oversample, int size_px);
/* A centred delta (one sample of 1) of the given side in grid samples (odd). */
TsrPsf  *tsr_psf_new_delta (int size, int oversample);
TsrPsf  *tsr_psf_copy (const TsrPsf *psf);
void     tsr_psf_free (TsrPsf *psf);

/* Stack the stamps of stars at (x[i], y[i]) (image coordinates, sub-pixel centres) of one
 * plane: each stamp has its local background (median of a ring outside the PSF radius)
 * subtracted and is divided by its flux; every sample goes into the grid bin of its offset
 * from the star centre (sub-pixel recentring), and each bin takes the median over stars.
 * cfa/colour restrict the samples to sites of one colour of a mosaic (cfa = TSR_CFA_NONE or
 * colour < 0: every valid sample). Stars too close to the edge or with a masked core are
 * skipped. Returns NULL when fewer than min_stars stamps were usable. */
TsrPsf  *tsr_psf_from_stamps (const float *plane, const guint8 *mask, int width, int height,
                              TsrCfa cfa, int colour, const double *x, const double *y, guint n,
                              double fwhm, int oversample, guint min_stars);

/* Stamp radius (image px) that holds a star's wings: ⌈5·FWHM⌉ clamped to [8, 40]. */
int      tsr_psf_wing_radius (double fwhm);

/* PSF with its full wings, for deconvolution: stamps of radius tsr_psf_wing_radius(fwhm),
 * each with the sky measured outside the wings (median of the annulus Rs+1 … Rs+5) taken
 * off, resampled at the star's exact centre (Lanczos-3 at (x + i/r, y + j/r): no
 * nearest-bin widening), divided by its flux; the median over stars per sample; cut to the
 * disc holding `enclosed` (e.g. 0.995) of the stamp's flux plus one pixel, no taper,
 * normalised. Stars with a masked pixel within the stamp are skipped. NULL when fewer than
 * min_stars stamps were usable. Full planes only (no mosaic sites). */
TsrPsf  *tsr_psf_from_stamps_full (const float *plane, const guint8 *mask, int width, int height,
                                   const double *x, const double *y, guint n, double fwhm,
                                   int oversample, guint min_stars, double enclosed);

/* tsr_psf_from_stamps_full for one colour of a mosaic, from that colour's own sites only (no
 * demosaicing): the samples of every star pooled by their offset from its centre, each PSF
 * sample a robust local quadratic fit to them (1 px); the same sky, flux, wing model and cut.
 * cfa = TSR_CFA_NONE or colour < 0: tsr_psf_from_stamps_full. */
TsrPsf  *tsr_psf_from_sites (const float *plane, const guint8 *mask, int width, int height, TsrCfa cfa,
                             int colour, const double *x, const double *y, guint n, double fwhm,
                             int oversample, guint min_stars, double enclosed);

/* Resample a PSF to another oversampling (bicubic), renormalised. */
TsrPsf  *tsr_psf_resample (const TsrPsf *psf, int oversample);

/* The residual kernel k with k ∗ g ≈ psf, g a Gaussian of σ = sigma_px image pixels
 * (Wiener-regularised division on the stamp, cropped to the stamp, negative samples cut, normalised): a model
 * with k in place of psf has its latent at the resolution of g. sigma_px ≤ 0: a copy. */
TsrPsf  *tsr_psf_divide_gaussian (const TsrPsf *psf, double sigma_px);

/* FWHM in image pixels from the area above half maximum (bilinear, 4× sub-sampled). */
double   tsr_psf_measure_fwhm (const TsrPsf *psf);

/* Intensity-weighted centroid offset from the centre sample, in image pixels. */
void     tsr_psf_centroid (const TsrPsf *psf, double *dx, double *dy);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsrPsf, tsr_psf_free)

G_END_DECLS
