/* tsr-calib-panel.h — the calibration section's widgets as a class on its GtkBuilder template
 * (ui/tsr-calib-panel.ui). What they do is tsr-window-calib.c's. */
#pragma once
#include <gtk/gtk.h>

G_BEGIN_DECLS

#define TSR_TYPE_CALIB_PANEL (tsr_calib_panel_get_type ())
G_DECLARE_FINAL_TYPE (TsrCalibPanel, tsr_calib_panel, TSR, CALIB_PANEL, GtkBox)

#define TSR_CALIB_PANEL_UI "/io/github/tessera/Tessera/ui/tsr-calib-panel.ui"

typedef enum
{
  TSR_CALIB_PANEL_PATH = 0,   /* GtkLabel: the input's name */
  TSR_CALIB_PANEL_FOLDER,     /* GtkButton: choose a folder of frames */
  TSR_CALIB_PANEL_MASTER,     /* GtkButton: choose a master file */
  TSR_CALIB_PANEL_CLEAR,      /* GtkButton: none */
  TSR_CALIB_PANEL_STATS,      /* GtkLabel: the master's statistics */
  TSR_CALIB_PANEL_PREVIEW,    /* GtkDrawingArea: the master */
  TSR_CALIB_PANEL_N_PARTS
} TsrCalibPanelPart;

GtkWidget *tsr_calib_panel_new (void);
/* The widget of part for calibration kind k (a TsrCalibKind). */
GtkWidget *tsr_calib_panel_get (TsrCalibPanel *self, int kind, TsrCalibPanelPart part);
GtkWidget *tsr_calib_panel_get_notes (TsrCalibPanel *self);

G_END_DECLS
