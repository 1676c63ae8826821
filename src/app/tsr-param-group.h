/* tsr-param-group.h — one group of the parameter panel (template ui/tsr-param-group.ui): an
 * expander with the group's title over a grid of rows (label, control, unit). */
#pragma once
#include <gtk/gtk.h>

G_BEGIN_DECLS

#define TSR_PARAM_GROUP_UI "/io/github/tessera/Tessera/ui/tsr-param-group.ui"
#define TSR_TYPE_PARAM_GROUP (tsr_param_group_get_type ())
G_DECLARE_FINAL_TYPE (TsrParamGroup, tsr_param_group, TSR, PARAM_GROUP, GtkBox)

/* title: the group's name (translated); expanded: open at first */
GtkWidget *tsr_param_group_new (const char *title, gboolean expanded);
/* Append a row: the key's label in words (left, expands), its control, its unit (dim; ""
 * for none), tooltip on label and control. The control keeps its label and unit as object
 * data "label" and "unit" (the panel greys them with it). */
void       tsr_param_group_add_row (TsrParamGroup *self, const char *label, GtkWidget *control, const char *unit,
                                    const char *tooltip);
GtkWidget *tsr_param_group_get_expander (TsrParamGroup *self);
guint      tsr_param_group_get_n_rows (TsrParamGroup *self);

G_END_DECLS
