/* tsr-tbqr-private.h — pieces shared by the TBQR source files. */
#pragma once
#include "tsr-tbqr.h"

void tsr_tbqr_fit_planes (const TsrImage *img, double plane[3][3]);

/* Bytes of per-tile metrics the weighing reads back at a time from a spilled analysis
 * (params.spill_tile_metrics; 4 MiB; tests lower it to cross many blocks). */
extern gsize tsr_tbqr_tile_view_bytes;
void tsr_robust_z (const double *v, guint n, double *z);

/* Normalise frame index (img, as read, normalised in place), demosaic it when
 * demosaic_frames and warp it into the reference geometry by T. With sum_only, demosaiced
 * frames come back as one plane R + G + B (all the rejection statistics need). */
TsrImage *tsr_tbqr_prepare_frame (const TsrAnalysis *a, const TsrTbqrParams *p, gboolean demosaic_frames,
                                  gboolean sum_only, TsrImage *img, guint index, const TsrTransform *T);

/* Normalise a frame in its own geometry (as read; in place): background plane per colour
 * subtracted, divided by the photometric scale, the reference level added back. */
void tsr_tbqr_normalise_frame (TsrImage *img, const TsrFrameMetrics *fm, const TsrAnalysis *a, TsrNormMode mode);
