/* tsr-tbqr-drizzle.h — Bayer drizzle (CFA drizzle) for the TBQR accumulate pass: every raw
 * sample of a frame lands, as a square drop of side pixfrac (input pixels), in its own colour
 * plane of the output grid (scale 1 or 2), weighted by the TBQR per-pixel weight; no
 * demosaic interpolation enters the stack. docs/tbqr.md, "Bayer drizzle". */
#pragma once
#include "tsr-tbqr.h"

G_BEGIN_DECLS

typedef struct _TsrDrizzle TsrDrizzle;

/* Whether this accumulation drizzles (drizzle.mode, and for auto: a Bayer session with at
 * least drizzle.min_frames used frames whose dither lets drops of every colour reach at
 * least drizzle.min_coverage of the output pixels). *note (may be NULL) receives one
 * sentence saying what was chosen and why, for the user. */
gboolean    tsr_tbqr_drizzle_choose (const TsrAnalysis *a, const TsrWeights *w, const TsrTbqrParams *p,
                                     char **note);

/* Whether a run of n_frames frames of this geometry is expected to drizzle before the
 * registration has told (drizzle.mode on, or auto with at least drizzle.min_frames Bayer
 * frames): the memory plan, the frame cache and the time-left plan count on it. */
gboolean    tsr_tbqr_drizzle_expected (TsrCfa cfa, int channels, guint n_frames, const TsrTbqrParams *p);

/* Whether a run of n_frames frames of this geometry is expected to take its rejection
 * statistics from the raw CFA samples' 2 × 2 cells (tsr_drizzle_cell_luma) instead of
 * demosaiced, warped frames: a Bayer session drizzled (tsr_tbqr_drizzle_expected) or
 * demosaiced frame by frame (norm.color_method = demosaic-frames). Such a run reads the raw
 * frames in every pass and keeps no frame cache: its analysis neither demosaics nor warps. */
gboolean    tsr_tbqr_raw_cells (TsrCfa cfa, int channels, guint n_frames, const TsrTbqrParams *p);

/* The rejection units of a raw-sample drizzle: the 2 × 2 cells of the reference grid
 * ((width + 1) / 2 × (height + 1) / 2), each the sum of the four samples of the frame's CFA
 * cell (R + 2 G + B: a local luminance, as the pixel path's cell statistics) interpolated
 * bilinearly at the cell's position in the frame. frame: normalised CFA mosaic; T maps
 * reference pixels to frame pixels. Masked where the frame has no complete cell. NULL with
 * error when out of memory. */
TsrImage   *tsr_drizzle_cell_luma (const TsrImage *frame, const TsrTransform *T, int width, int height, GError **error);
/* Test hook: FALSE makes tsr_drizzle_cell_luma resample in its scalar form; TRUE (the default)
 * eight cells a step where the processor has AVX2. Not while other threads call it. */
void        tsr_drizzle_cell_luma_vector (gboolean on);

/* Coverage by drops of every colour of the output pixels of a patch at the field centre, the
 * smallest over the colours (0–1): what drizzle.mode=auto compares with min_coverage. */
double      tsr_tbqr_drizzle_coverage (const TsrAnalysis *a, const TsrWeights *w, const TsrTbqrParams *p);

/* Sums of a drizzle of a->width·scale × a->height·scale; NULL (with error) when they do not
 * fit in memory. */
TsrDrizzle *tsr_drizzle_new (const TsrAnalysis *a, int scale, double pixfrac, GError **error);
void        tsr_drizzle_free (TsrDrizzle *d);

/* Adds frame (normalised, in its own geometry, a CFA mosaic or mono) whose transform T maps
 * reference pixels to frame pixels. weight: the frame's per-pixel TBQR weight in reference
 * geometry (width × height, 0 = no data); reject (may be NULL): reference pixels where the
 * frame's sample was rejected as an outlier; chan (may be NULL): the frame's weight factor per
 * colour (global.per_channel: V_{f,c} / V_f), which also makes the weight map one plane per
 * colour. Thread-safe (the sums are locked). */
void        tsr_drizzle_add (TsrDrizzle *d, const TsrImage *frame, const TsrTransform *T, const float *weight,
                             const float *chan, const guint8 *reject);

/* Test hook: FALSE makes tsr_drizzle_add place every drop in its scalar form; TRUE (the
 * default) works out the geometry of drops narrower than an output pixel four at a time where
 * the processor has AVX2. Not while other threads call it. */
void        tsr_drizzle_drop_vector (gboolean on);

/* The weighted result, the unweighted drizzle of the same frames (the validation
 * baseline), Σ weight, frames per pixel and the rejected fraction, all at the output size.
 * A colour that no drop reached at a pixel inside the footprint (a hole of the dither) is
 * filled from the nearest pixels of that colour that were reached; *n_holes counts them. */
void        tsr_drizzle_finish (TsrDrizzle *d, TsrImage **result, TsrImage **mean, TsrImage **weight,
                                TsrImage **coverage, TsrImage **rejected, gsize *n_holes);

G_END_DECLS
