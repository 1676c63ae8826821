/* tsr-application.h — the GtkApplication: actions, accelerators, opening folders. */
#pragma once
#include <gtk/gtk.h>

G_BEGIN_DECLS

#define TSR_TYPE_APPLICATION (tsr_application_get_type ())
G_DECLARE_FINAL_TYPE (TsrApplication, tsr_application, TSR, APPLICATION, GtkApplication)

TsrApplication *tsr_application_new (void);

/* Show the About dialog over parent (may be NULL). */
void tsr_show_about (GtkWindow *parent);

G_END_DECLS
