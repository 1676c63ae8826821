/* tsr-test-truth.h — see tsr-test-truth.c. */
#pragma once
#include "tessera.h"

/* A truth star in reference coordinates (isolated_stars). */
typedef struct
{
  double x, y, flux;
} Pt;

TsrTransform frame_matrix (const TsrSynthFrame *f);
TsrImage * truth_in_reference (const TsrSynthTruth *t, guint ref, const TsrImage *truth, int w, int h);
void sky_to_ref (const TsrSynthTruth *t, guint ref, double sx, double sy, double *rx, double *ry);
double psnr (const TsrImage *img, const TsrImage *truth, const guint8 *common, int border);
GArray * isolated_stars (const TsrSynthTruth *t, guint ref, int W, int H, double iso, double margin);
double aperture (const TsrImage *img, double cx, double cy, double r, double *bg_out);

/* A satellite trail of one frame as it lies in a result (trail_medians). */
typedef struct
{
  guint frame;
  float on, off;   /* median of the result along the trail, and 8 px to either side */
  guint n_on;      /* pixels along it */
} TrailMedian;

/* The trails of the frames used[f] (NULL: all) in plane c of img (reference geometry of frame
 * ref), those with more than 50 pixels inside the image; *noise the plane's pixel noise. */
GArray * trail_medians (const TsrSynthTruth *t, guint ref, const gboolean *used, const TsrImage *img, int c,
                        float *noise);
