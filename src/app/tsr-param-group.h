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
/* Append a row: label (left, expands), control, unit (may be NULL). */
void       tsr_param_group_add_row (TsrParamGroup *self, GtkWidget *label, GtkWidget *control, GtkWidget *unit);
GtkWidget *tsr_param_group_get_expander (TsrParamGroup *self);
guint      tsr_param_group_get_n_rows (TsrParamGroup *self);

G_END_DECLS
