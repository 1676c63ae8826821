/* tsr-demosaic.h — turning a CFA mosaic into RGB. */
#pragma once
#include "tsr-image.h"

G_BEGIN_DECLS

/* Demosaic a CFA mosaic once (Malvar–He–Cutler linear 5×5, masked pixels filled from
 * valid neighbours), returning a 3-channel image. */
TsrImage     *tsr_demosaic (const TsrImage *mosaic);

/* The value a demosaic gives the masked mosaic sample (x, y): the mean of the valid samples of
 * its colour at the nearest distance (2, 4, 6 or 8 px) that has any, else 0. */
float         tsr_demosaic_fill (const TsrImage *mosaic, int x, int y);

/* The demosaics to choose from (norm.demosaic): Malvar–He–Cutler, or the edge-directed
 * colour-difference demosaic of the RCD class that conserves each channel's flux. */
typedef enum { TSR_DEMOSAIC_MHC = 0, TSR_DEMOSAIC_RCD, TSR_DEMOSAIC_N } TsrDemosaicMethod;

/* Edge-directed colour-difference demosaic (tsr-demosaic-rcd.c), flux-conserving per
 * channel; masked samples filled as for tsr_demosaic and kept invalid. */
TsrImage     *tsr_demosaic_rcd (const TsrImage *mosaic);
TsrImage     *tsr_demosaic_with (const TsrImage *mosaic, TsrDemosaicMethod method);
/* RCD's gradient floor scales with the mosaic's level (a mean |sample|): the whole
 * mosaic's, for tsr_demosaic_rows. */
double        tsr_demosaic_rcd_level (const TsrImage *mosaic);
/* Rows [y0, y1) of tsr_demosaic_with (mosaic, method), demosaiced from the strip of rows they
 * depend on (a few dozen more): the same values, for a fraction of the frame's working
 * memory. level: tsr_demosaic_rcd_level (mosaic) for RCD (ignored by MHC). NULL when out of
 * memory. */
TsrImage     *tsr_demosaic_rows (const TsrImage *mosaic, TsrDemosaicMethod method, double level, int y0, int y1);
/* The same for the pixels [x0, x1) × [y0, y1) (the halo on all four sides). */
TsrImage     *tsr_demosaic_rect (const TsrImage *mosaic, TsrDemosaicMethod method, double level, int x0, int x1,
                                 int y0, int y1);
/* The same demosaic of the rectangle with its halo, not cut down to [x0, x1) × [y0, y1): the
 * pixels of the rectangle have the same values; the halo's are less accurate towards its
 * outer edge. (*ox, *oy): the frame pixel at the result's (0, 0). */
TsrImage     *tsr_demosaic_rect_halo (const TsrImage *mosaic, TsrDemosaicMethod method, double level, int x0,
                                      int x1, int y0, int y1, int *ox, int *oy);
/* Tests: RCD's scratch planes are not cleared inside (each sweep writes its plane before
 * any reads it); on = TRUE fills them with value first, so a test can show the output
 * does not depend on it. */
void          tsr_demosaic_rcd_poison_scratch (gboolean on, float value);
const char   *tsr_demosaic_method_name (TsrDemosaicMethod method);

G_END_DECLS
