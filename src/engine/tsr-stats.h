/* tsr-stats.h — robust statistics on float samples. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

#define TSR_MAD_TO_SIGMA 1.4826

/* Median of n values; v is reordered (quickselect). Returns NAN for n = 0. */
float  tsr_median_inplace (float *v, gsize n);
/* Median absolute deviation about med; v is overwritten. */
float  tsr_mad_inplace (float *v, gsize n, float med);
/* Median and MAD of the valid samples of a plane (mask may be NULL), on a regular
 * subsample of at most max_samples values (0 = all). */
void   tsr_plane_median_mad (const float *plane, const guint8 *mask, gsize n,
                             gsize max_samples, float *median, float *mad);
/* Noise sigma estimated from pixel differences (robust to gradients and stars):
 * 1.4826·MAD of (p[i] − p[i+step]) / √2 along rows; step = 2 for CFA mosaics so only
 * same-colour samples are compared. */
float  tsr_plane_noise (const float *plane, const guint8 *mask, int width, int height, int step);
double tsr_mean_d (const double *v, gsize n);

G_END_DECLS
