/* tsr-calib-panel.c — the calibration section's widget class (see tsr-calib-panel.h). */
#include "tsr-config.h"
#include "tsr-calib-panel.h"

#define N_KINDS 4

struct _TsrCalibPanel
{
  GtkBox parent_instance;
  /* per kind (bias, dark, flat, dark flat) and part, in TsrCalibPanelPart order */
  GtkWidget *part[N_KINDS][TSR_CALIB_PANEL_N_PARTS];
  GtkWidget *notes;
};

G_DEFINE_FINAL_TYPE (TsrCalibPanel, tsr_calib_panel, GTK_TYPE_BOX)

static void
tsr_calib_panel_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), TSR_TYPE_CALIB_PANEL);
  G_OBJECT_CLASS (tsr_calib_panel_parent_class)->dispose (object);
}

static void
tsr_calib_panel_class_init (TsrCalibPanelClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  G_OBJECT_CLASS (klass)->dispose = tsr_calib_panel_dispose;
  gtk_widget_class_set_template_from_resource (widget_class, TSR_CALIB_PANEL_UI);
  static const char *const kinds[N_KINDS] = { "bias", "dark", "flat", "dark_flat" };
  static const char *const parts[TSR_CALIB_PANEL_N_PARTS] = { "path", "folder", "master", "clear", "stats", "preview" };
  for (int k = 0; k < N_KINDS; k++)
    for (int p = 0; p < TSR_CALIB_PANEL_N_PARTS; p++)
      {
        char *id = g_strdup_printf ("%s_%s", kinds[k], parts[p]);
        /* the class keeps the name (template children are looked up by it) */
        gtk_widget_class_bind_template_child_full (widget_class, g_intern_string (id), FALSE,
                                                   G_STRUCT_OFFSET (TsrCalibPanel, part[k][p]));
        g_free (id);
      }
  gtk_widget_class_bind_template_child (widget_class, TsrCalibPanel, notes);
}

static void
tsr_calib_panel_init (TsrCalibPanel *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
tsr_calib_panel_new (void)
{
  return g_object_new (TSR_TYPE_CALIB_PANEL, NULL);
}

GtkWidget *
tsr_calib_panel_get (TsrCalibPanel *self, int kind, TsrCalibPanelPart part)
{
  g_return_val_if_fail (kind >= 0 && kind < N_KINDS && part < TSR_CALIB_PANEL_N_PARTS, NULL);
  return self->part[kind][part];
}

GtkWidget *
tsr_calib_panel_get_notes (TsrCalibPanel *self)
{
  return self->notes;
}
