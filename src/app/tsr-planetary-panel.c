/* tsr-planetary-panel.c — the planetary parameter panel's widget class (see
 * tsr-planetary-panel.h). */
#include "tsr-config.h"
#include "tsr-planetary-panel.h"

struct _TsrPlanetaryPanel
{
  GtkBox parent_instance;
  GtkWidget *grid, *why_label, *note;
  int n_keys, n_layers;   /* rows added */
};

G_DEFINE_FINAL_TYPE (TsrPlanetaryPanel, tsr_planetary_panel, GTK_TYPE_BOX)

static void
tsr_planetary_panel_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), TSR_TYPE_PLANETARY_PANEL);
  G_OBJECT_CLASS (tsr_planetary_panel_parent_class)->dispose (object);
}

static void
tsr_planetary_panel_class_init (TsrPlanetaryPanelClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  G_OBJECT_CLASS (klass)->dispose = tsr_planetary_panel_dispose;
  gtk_widget_class_set_template_from_resource (widget_class, TSR_PLANETARY_PANEL_UI);
  gtk_widget_class_bind_template_child (widget_class, TsrPlanetaryPanel, grid);
  gtk_widget_class_bind_template_child (widget_class, TsrPlanetaryPanel, why_label);
  gtk_widget_class_bind_template_child (widget_class, TsrPlanetaryPanel, note);
}

static void
tsr_planetary_panel_init (TsrPlanetaryPanel *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
tsr_planetary_panel_new (void)
{
  return g_object_new (TSR_TYPE_PLANETARY_PANEL, NULL);
}

static GtkWidget *
row_label (const char *text)
{
  GtkWidget *l = gtk_label_new (text);
  gtk_label_set_xalign (GTK_LABEL (l), 0);
  return l;
}

/* the template's rows: 0 why, 1 heading, [keys], note, heading, column heads, [layers], buttons */
static void
insert_row (TsrPlanetaryPanel *self, int row, const char *label, GtkWidget *control, GtkWidget *third)
{
  gtk_grid_insert_row (GTK_GRID (self->grid), row);
  gtk_grid_attach (GTK_GRID (self->grid), row_label (label), 0, row, 1, 1);
  gtk_grid_attach (GTK_GRID (self->grid), control, 1, row, 1, 1);
  if (third)
    gtk_grid_attach (GTK_GRID (self->grid), third, 2, row, 1, 1);
}

void
tsr_planetary_panel_add_key (TsrPlanetaryPanel *self, const char *label, GtkWidget *control, const char *unit)
{
  g_return_if_fail (TSR_IS_PLANETARY_PANEL (self) && label && control);
  insert_row (self, 2 + self->n_keys++, label, control, unit ? row_label (unit) : NULL);
}

void
tsr_planetary_panel_add_layer (TsrPlanetaryPanel *self, const char *label, GtkWidget *gain, GtkWidget *threshold)
{
  g_return_if_fail (TSR_IS_PLANETARY_PANEL (self) && label && gain && threshold);
  insert_row (self, 5 + self->n_keys + self->n_layers++, label, gain, threshold);
}

GtkWidget *
tsr_planetary_panel_get_why (TsrPlanetaryPanel *self)
{
  return self->why_label;
}

GtkWidget *
tsr_planetary_panel_get_note (TsrPlanetaryPanel *self)
{
  return self->note;
}
