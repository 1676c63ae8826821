/* tsr-histogram.h — the histogram of the displayed image with the display stretch's black,
 * midtone and white points (per channel when the stretch is unlinked). Display only. */
#pragma once
#include <gtk/gtk.h>

G_BEGIN_DECLS

#define TSR_TYPE_HISTOGRAM (tsr_histogram_get_type ())
G_DECLARE_FINAL_TYPE (TsrHistogram, tsr_histogram, TSR, HISTOGRAM, GtkDrawingArea)

GtkWidget *tsr_histogram_new (void);
/* counts: nch × nbins (nch 1 or 3) over the data range [lo, hi]; copied. NULL clears. */
void       tsr_histogram_set_data (TsrHistogram *self, const guint32 *counts, int nbins, int nch, double lo,
                                   double hi);
/* The stretch drawn over it, per channel (data units; midtone balance in (0, 1)). */
void       tsr_histogram_set_points (TsrHistogram *self, const float black[3], const float white[3],
                                     const float mid[3]);

G_END_DECLS
