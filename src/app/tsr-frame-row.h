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
int          tsr_frame_row_get_choice (TsrFrameRow *row);     /* TsrFrameChoice */
gboolean     tsr_frame_row_get_used (TsrFrameRow *row);
/* The gate column's text: reasons in words, the user's choice ("low CC — included by hand"). */
const char  *tsr_frame_row_get_gate (TsrFrameRow *row);
/* Every measurement beside the threshold that decides it, the reasons in words (the row's
 * tooltip and the detail line under the table). */
const char  *tsr_frame_row_get_explanation (TsrFrameRow *row);
char        *tsr_frame_row_explain (const TsrAnalysis *a, const TsrWeights *w, guint frame);
char        *tsr_frame_row_gate_words (guint gate);

G_END_DECLS
