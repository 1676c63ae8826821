/* tsr-param-group.c — one group of the parameter panel (see tsr-param-group.h). */
#include "tsr-config.h"
#include "tsr-param-group.h"

struct _TsrParamGroup
{
  GtkBox parent_instance;
  GtkWidget *expander, *grid;
  guint n_rows;
};

G_DEFINE_FINAL_TYPE (TsrParamGroup, tsr_param_group, GTK_TYPE_BOX)

static void
tsr_param_group_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), TSR_TYPE_PARAM_GROUP);
  G_OBJECT_CLASS (tsr_param_group_parent_class)->dispose (object);
}

static void
tsr_param_group_class_init (TsrParamGroupClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  G_OBJECT_CLASS (klass)->dispose = tsr_param_group_dispose;
  gtk_widget_class_set_template_from_resource (widget_class, TSR_PARAM_GROUP_UI);
  gtk_widget_class_bind_template_child (widget_class, TsrParamGroup, expander);
  gtk_widget_class_bind_template_child (widget_class, TsrParamGroup, grid);
}

static void
tsr_param_group_init (TsrParamGroup *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
tsr_param_group_new (const char *title, gboolean expanded)
{
  TsrParamGroup *self = g_object_new (TSR_TYPE_PARAM_GROUP, NULL);
  gtk_expander_set_label (GTK_EXPANDER (self->expander), title);
  gtk_expander_set_expanded (GTK_EXPANDER (self->expander), expanded);
  return GTK_WIDGET (self);
}

void
tsr_param_group_add_row (TsrParamGroup *self, const char *label, GtkWidget *control, const char *unit,
                         const char *tooltip)
{
  g_return_if_fail (TSR_IS_PARAM_GROUP (self) && label && control);
  GtkWidget *l = gtk_label_new (label);
  gtk_label_set_xalign (GTK_LABEL (l), 0);
  gtk_widget_set_hexpand (l, TRUE);
  GtkWidget *u = gtk_label_new (unit ? unit : "");
  gtk_label_set_xalign (GTK_LABEL (u), 0);
  gtk_widget_add_css_class (u, "dim-label");
  gtk_widget_set_tooltip_text (l, tooltip);
  gtk_widget_set_tooltip_text (control, tooltip);
  g_object_set_data (G_OBJECT (control), "label", l);
  g_object_set_data (G_OBJECT (control), "unit", u);
  gtk_grid_attach (GTK_GRID (self->grid), l, 0, (int) self->n_rows, 1, 1);
  gtk_grid_attach (GTK_GRID (self->grid), control, 1, (int) self->n_rows, 1, 1);
  gtk_grid_attach (GTK_GRID (self->grid), u, 2, (int) self->n_rows, 1, 1);
  self->n_rows++;
}

GtkWidget *
tsr_param_group_get_expander (TsrParamGroup *self)
{
  return self->expander;
}

guint
tsr_param_group_get_n_rows (TsrParamGroup *self)
{
  return self->n_rows;
}
