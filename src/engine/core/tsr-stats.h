/* tsr-stats.h — robust statistics on float samples. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

#define TSR_MAD_TO_SIGMA 1.4826

/* Median of n values; v is reordered (quickselect). Returns NAN for n = 0. */
float  tsr_median_inplace (float *v, gsize n);
/* The k-th smallest of v[0 … n) (k < n, 0-based); v is reordered. The value a full sort would
 * put at index k. */
float  tsr_select_inplace (float *v, gsize n, gsize k);
/* Test hook: FALSE makes the selections above take their portable form; TRUE (the default)
 * their AVX2 form where the processor has it (x86-64). Not for use while other threads select. */
void   tsr_stats_vector_select (gboolean on);
/* Median absolute deviation about med; v is overwritten. */
float  tsr_mad_inplace (float *v, gsize n, float med);
/* Median and MAD of the valid samples of a plane (mask may be NULL), on a regular
 * subsample of at most max_samples values (0 = all). */
void   tsr_plane_median_mad (const float *plane, const guint8 *mask, gsize n,
                             gsize max_samples, float *median, float *mad);
/* The median med of n values that lie on a grid of unit spacing (integers, or integers
 * plus ½), refined inside its bin [med − ½, med + ½] from how many values are below and at
 * it (the grouped-data median); med when none equals it. */
double tsr_grouped_median (const float *v, gsize n, float med);
/* Whether n differences of raw samples are integer data (raw ADU) for the grouped-data MAD,
 * given how many of them were not whole numbers: all of them, or all but at most 1 in 1000
 * (a few repaired pixels — the session's cosmetic correction puts a neighbourhood mean
 * there — must not make the noise of a whole frame come in steps of 1.05 ADU). In the
 * second case the odd values are rounded to whole numbers in v. */
gboolean tsr_differences_integral (float *v, gsize n, gsize n_fractional);
/* Noise sigma estimated from pixel differences (robust to gradients and stars):
 * 1.4826·MAD of (p[i] − p[i+step]) / √2 along rows; step = 2 for CFA mosaics so only
 * same-colour samples are compared. Integer data (raw ADU) get the grouped-data MAD, so
 * σ is not quantised in steps of 1.05 ADU. */
float  tsr_plane_noise (const float *plane, const guint8 *mask, int width, int height, int step);
double tsr_mean_d (const double *v, gsize n);
/* Solve the 3 × 3 system S·x = r by Cramer's rule (the normal equations of a plane fit);
 * FALSE, x untouched, when |det S| ≤ det_min. */
gboolean tsr_solve3 (const double S[3][3], const double r[3], double det_min, double x[3]);
/* Expected standard deviation of n Gaussian samples of unit σ after their highest and their
 * lowest sample are removed (√E[s²] of the n − 2 left, n − 3 denominator). Divide a
 * max/min-trimmed sample standard deviation by it to estimate σ. 1 for n < 5. */
double tsr_trimmed_sd_factor (guint n);
/* The Student-t threshold with dof degrees of freedom that has the same two-sided tail
 * probability as kappa has for a Gaussian (Cornish–Fisher expansion; within 1 % for
 * dof ≥ 4 and kappa ≤ 5). A σ estimated from few samples scatters: |x − μ| > κ ŝ is far
 * likelier than |x − μ| > κ σ. Returns kappa for dof < 1 or ≥ 1e6. */
double tsr_student_kappa (double kappa, double dof);

G_END_DECLS
