/* tsr-frame-row.h — one row of the frame table: per-frame numbers as GObject properties
 * (so GtkColumnView columns can sort and bind on them). */
#pragma once
#include <glib-object.h>
#include "tessera.h"

G_BEGIN_DECLS

#define TSR_TYPE_FRAME_ROW (tsr_frame_row_get_type ())
G_DECLARE_FINAL_TYPE (TsrFrameRow, tsr_frame_row, TSR, FRAME_ROW, GObject)

TsrFrameRow *tsr_frame_row_new (guint index, const char *name, const char *path);
guint        tsr_frame_row_get_index (TsrFrameRow *row);
const char  *tsr_frame_row_get_path (TsrFrameRow *row);
/* Refresh every number from the analysis (registration, metrics) and the weights (may be
 * NULL); only changed properties are notified. */
void         tsr_frame_row_update (TsrFrameRow *row, const TsrAnalysis *a, const TsrWeights *w);

G_END_DECLS
