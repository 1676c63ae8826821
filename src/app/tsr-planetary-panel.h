/* tsr-planetary-panel.h — the parameter panel of a lunar/planetary session (template
 * ui/tsr-planetary-panel.ui). Its rows (one per planetary key, one per wavelet layer) are
 * added by src/app/tsr-window-planetary.c, which holds the behaviour. */
#pragma once
#include <gtk/gtk.h>

G_BEGIN_DECLS

#define TSR_PLANETARY_PANEL_UI "/io/github/tessera/Tessera/ui/tsr-planetary-panel.ui"
#define TSR_TYPE_PLANETARY_PANEL (tsr_planetary_panel_get_type ())
G_DECLARE_FINAL_TYPE (TsrPlanetaryPanel, tsr_planetary_panel, TSR, PLANETARY_PANEL, GtkBox)

GtkWidget *tsr_planetary_panel_new (void);
/* Append a key's row above the note: its label, control and unit (NULL: none). */
void       tsr_planetary_panel_add_key (TsrPlanetaryPanel *self, const char *label, GtkWidget *control,
                                        const char *unit);
/* Append a wavelet layer's row above the buttons: its label, gain and threshold controls. */
void       tsr_planetary_panel_add_layer (TsrPlanetaryPanel *self, const char *label, GtkWidget *gain,
                                          GtkWidget *threshold);
GtkWidget *tsr_planetary_panel_get_why (TsrPlanetaryPanel *self);
GtkWidget *tsr_planetary_panel_get_note (TsrPlanetaryPanel *self);

G_END_DECLS
