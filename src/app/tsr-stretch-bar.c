/* tsr-stretch-bar.c — the histogram/stretch bar (see tsr-stretch-bar.h). */
#include "tsr-config.h"
#include "tsr-stretch-bar.h"
#include "tsr-histogram.h"

struct _TsrStretchBar
{
  GtkBox parent_instance;
  GtkWidget *histogram;
  GtkWidget *auto_button, *linked_button;
  GtkWidget *black_spin, *mid_spin, *white_spin;
};

G_DEFINE_FINAL_TYPE (TsrStretchBar, tsr_stretch_bar, GTK_TYPE_BOX)

static void
tsr_stretch_bar_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), TSR_TYPE_STRETCH_BAR);
  G_OBJECT_CLASS (tsr_stretch_bar_parent_class)->dispose (object);
}

static void
tsr_stretch_bar_class_init (TsrStretchBarClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  G_OBJECT_CLASS (klass)->dispose = tsr_stretch_bar_dispose;
  g_type_ensure (TSR_TYPE_HISTOGRAM);
  gtk_widget_class_set_template_from_resource (widget_class, TSR_STRETCH_BAR_UI);
  gtk_widget_class_bind_template_child (widget_class, TsrStretchBar, histogram);
  gtk_widget_class_bind_template_child (widget_class, TsrStretchBar, auto_button);
  gtk_widget_class_bind_template_child (widget_class, TsrStretchBar, linked_button);
  gtk_widget_class_bind_template_child (widget_class, TsrStretchBar, black_spin);
  gtk_widget_class_bind_template_child (widget_class, TsrStretchBar, mid_spin);
  gtk_widget_class_bind_template_child (widget_class, TsrStretchBar, white_spin);
}

static void
tsr_stretch_bar_init (TsrStretchBar *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
tsr_stretch_bar_new (void)
{
  return g_object_new (TSR_TYPE_STRETCH_BAR, NULL);
}

GtkWidget *
tsr_stretch_bar_get_histogram (TsrStretchBar *self)
{
  return self->histogram;
}

GtkWidget *
tsr_stretch_bar_get_auto (TsrStretchBar *self)
{
  return self->auto_button;
}

GtkWidget *
tsr_stretch_bar_get_linked (TsrStretchBar *self)
{
  return self->linked_button;
}

GtkWidget *
tsr_stretch_bar_get_point (TsrStretchBar *self, int which)
{
  return which == 0 ? self->black_spin : which == 1 ? self->mid_spin : self->white_spin;
}
