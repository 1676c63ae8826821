/* tsr-frame-table.h — the frame table (template ui/tsr-frame-table.ui): a column view over
 * TsrFrameRow, sortable by every column, and the selected frame's gate explanation beside
 * it. The window gives it its model (tsr-window-panels.c); a click on a row's Use check
 * emits "use-toggled" (frame index, wanted state). */
#pragma once
#include <gtk/gtk.h>

G_BEGIN_DECLS

#define TSR_FRAME_TABLE_UI "/io/github/tessera/Tessera/ui/tsr-frame-table.ui"
#define TSR_TYPE_FRAME_TABLE (tsr_frame_table_get_type ())
G_DECLARE_FINAL_TYPE (TsrFrameTable, tsr_frame_table, TSR, FRAME_TABLE, GtkBox)

GtkWidget *tsr_frame_table_new (void);
GtkColumnView *tsr_frame_table_get_column_view (TsrFrameTable *self);
GtkWidget *tsr_frame_table_get_detail (TsrFrameTable *self);
/* The column whose sorter sorts by the TsrFrameRow property prop, or NULL. */
GtkColumnViewColumn *tsr_frame_table_find_column (TsrFrameTable *self, const char *prop);
/* The tooltip a realized cell of the table shows (its row's gate explanation), or NULL
 * when cell is none of its cells. */
const char *tsr_frame_table_cell_tooltip (GtkWidget *cell);

G_END_DECLS
