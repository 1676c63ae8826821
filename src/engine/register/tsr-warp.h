/* tsr-warp.h — resampling a frame into the reference geometry, and phase correlation. */
#pragma once
#include <gio/gio.h>
#include "tsr-image.h"
#include "tsr-transform.h"
#include "tsr-demosaic.h"

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

/* Rows [y0, y1) of tsr_warp's output, written into out, which holds the output grid's rows
 * [out_y0, out_y0 + out->height) (its other rows untouched), from a strip of the source: src
 * holds the source's rows [src_y0, src_y0 + src->height); t maps the output grid to the whole
 * source's coordinates, as for tsr_warp. Mono or RGB sources (no CFA), one thread (the
 * caller's). The same values as tsr_warp's rows wherever every kernel tap of a row lies
 * inside the strip (to the rounding of the shifted transform). */
void        tsr_warp_rows (const TsrImage *src, int src_y0, const TsrTransform *t, TsrImage *out, int out_y0,
                           int y0, int y1, TsrInterp interp);

/* tsr_warp_rows for the columns [x0, x1) of those rows only, from a rectangle of the source:
 * src holds the source's columns [src_x0, src_x0 + src->width) of rows [src_y0, …). */
void        tsr_warp_rect (const TsrImage *src, int src_x0, int src_y0, const TsrTransform *t, TsrImage *out,
                           int out_y0, int x0, int x1, int y0, int y1, TsrInterp interp);

/* The source pixels [*c0, *c1) × [*r0, *r1) the kernels of output pixels [x0, x1) × [y0, y1)
 * reach, clamped to the src_w × src_h source; empty (c0 ≥ c1 or r0 ≥ r1) when the rectangle
 * maps outside it. */
void        tsr_warp_source_box (const TsrTransform *t, int x0, int x1, int y0, int y1, int src_w, int src_h,
                                 int *c0, int *c1, int *r0, int *r1);

/* The source rows [*r0, *r1) the kernels of output rows [y0, y1) (width out_w) reach, clamped
 * to [0, src_h); r0 ≥ r1 when the band maps outside the source. */
void        tsr_warp_band_source (const TsrTransform *t, int out_w, int y0, int y1, int src_h, int *r0, int *r1);

/* A Bayer mosaic demosaiced (tsr_demosaic_with) and warped (tsr_warp) into an out_w × out_h
 * RGB grid band by band: each band of output rows from a strip of the demosaic
 * (tsr_demosaic_rows) holding the source rows its kernels reach, so no frame-sized RGB image
 * or demosaic scratch is held — a fraction of the memory, the same values (to the rounding
 * of the shifted transform; /warp/demosaic-bands). NULL when out of memory. */
/* Rows [y0, y1) of tsr_warp_demosaic's output into out, which holds the output grid's rows
 * [out_y0, out_y0 + out->height) (RGB, the output's width): the band in pieces of columns, each
 * demosaiced from the rectangle of the source its kernels reach (tsr_demosaic_rect), so a
 * rotated frame reads pieces near the band's height. level: tsr_demosaic_rcd_level (mosaic)
 * for RCD. FALSE when out of memory. */
gboolean    tsr_warp_demosaic_band (const TsrImage *mosaic, TsrDemosaicMethod method, double level,
                                    const TsrTransform *t, TsrImage *out, int out_y0, int y0, int y1,
                                    TsrInterp interp);
TsrImage   *tsr_warp_demosaic (const TsrImage *mosaic, TsrDemosaicMethod method, const TsrTransform *t, int out_w,
                               int out_h, TsrInterp interp);

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

/* The Lanczos-3 kernel 3 sin(πx) sin(πx/3) / (πx)², 0 beyond |x| ≥ 3: the warp's interpolator,
 * also the PSFs' resampling (stamp recentring, the restorer's field stretch). */
double tsr_lanczos3 (double x);

G_END_DECLS
