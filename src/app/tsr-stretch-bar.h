/* tsr-stretch-bar.h — the histogram/stretch bar under the image: a widget class built from its
 * GtkBuilder template (ui/tsr-stretch-bar.ui). It holds the widgets; what they do (the
 * stretch, the histogram's data) is tsr-window-stretch.c's. */
#pragma once
#include <gtk/gtk.h>

G_BEGIN_DECLS

#define TSR_TYPE_STRETCH_BAR (tsr_stretch_bar_get_type ())
G_DECLARE_FINAL_TYPE (TsrStretchBar, tsr_stretch_bar, TSR, STRETCH_BAR, GtkBox)

#define TSR_STRETCH_BAR_UI "/io/github/tessera/Tessera/ui/tsr-stretch-bar.ui"

GtkWidget *tsr_stretch_bar_new (void);
GtkWidget *tsr_stretch_bar_get_histogram (TsrStretchBar *self);   /* a TsrHistogram */
GtkWidget *tsr_stretch_bar_get_auto (TsrStretchBar *self);        /* GtkToggleButton */
GtkWidget *tsr_stretch_bar_get_linked (TsrStretchBar *self);      /* GtkToggleButton */
/* GtkSpinButton: 0 black, 1 midtone balance, 2 white */
GtkWidget *tsr_stretch_bar_get_point (TsrStretchBar *self, int which);

G_END_DECLS
