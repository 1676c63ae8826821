/* tsr-warp.h — resampling a frame into the reference geometry, and phase correlation. */
#pragma once
#include <gio/gio.h>
#include "tsr-image.h"
#include "tsr-transform.h"

G_BEGIN_DECLS

typedef enum
{
  TSR_INTERP_LANCZOS3 = 0,
  TSR_INTERP_BICUBIC,
  TSR_INTERP_BILINEAR
} TsrInterp;

const char *tsr_interp_name (TsrInterp i);
gboolean    tsr_interp_from_name (const char *name, TsrInterp *out);

/* out(p) = src(T(p)) for every pixel p of an out_w × out_h grid, where T maps the output
 * (reference) grid to src coordinates. For a CFA src the output is a mosaic with pattern
 * out_cfa and every output sample of colour c is interpolated only from src samples of
 * colour c (each colour's sub-lattice is interpolated on its own; green averages its two
 * sub-lattices), so the warped mosaic is a valid mosaic of out_cfa. The output mask is 0
 * where T(p) falls outside src or the kernel touches a masked sample. Lanczos-3 output is
 * not clamped (linear data keeps its ringing honestly). */
TsrImage   *tsr_warp (const TsrImage *src, const TsrTransform *t, int out_w, int out_h,
                      TsrCfa out_cfa, TsrInterp interp);

/* Translation between two same-size planes by FFT phase correlation with sub-pixel peak
 * refinement: returns (dx, dy) such that img(x + dx, y + dy) ≈ ref(x, y), and the peak
 * height in (0, 1]. Windowed (Hann) to avoid edge effects; masks may be NULL. */
gboolean    tsr_phase_correlate (const float *ref, const float *img, int w, int h,
                                 double *dx, double *dy, double *peak);

/* Full starless registration: rotation and scale by phase correlation of log-polar
 * resampled Fourier magnitudes, then translation, then a sub-pixel refinement of all
 * parameters. Returns T (reference → img) and a peak quality in (0,1]. */
gboolean    tsr_phase_register (const float *ref, const float *img, int w, int h,
                                gboolean rotation_scale, TsrTransform *out, double *peak);

/* Registration correlation CC: Pearson correlation of ref and warped over the pixels
 * valid in both masks (masks may be NULL = all valid). NAN when fewer than 16 pixels. */
double      tsr_correlation (const float *ref, const guint8 *ref_mask, const float *warped,
                             const guint8 *warped_mask, gsize n);

#include "tsr-fft.h" /* tsr_fftw_lock, formerly declared here */

G_END_DECLS
