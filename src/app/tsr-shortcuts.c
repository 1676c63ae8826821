/* tsr-shortcuts.c — the accelerators the application sets, and the shortcuts window
 * (ui/tsr-shortcuts.ui, which names the same actions and accelerators; /app/shortcuts checks
 * that they agree). */
#include "tsr-config.h"
#include <glib/gi18n.h>
#include "tsr-shortcuts.h"

static const TsrShortcut shortcuts[] = {
  { "win.open", { "<Control>o", NULL } },
  { "win.open-project", { "<Control><Shift>o", NULL } },
  { "win.save-project", { "<Control>s", NULL } },
  { "win.run", { "<Control>r", NULL } },
  { "win.deconvolve", { "<Control>d", NULL } },
  { "win.denoise", { "<Control><Shift>d", NULL } },
  { "win.cancel", { "Escape", NULL } },
  { "win.export", { "<Control>e", NULL } },
  { "win.zoom-in", { "<Control>plus", "<Control>equal", NULL } },
  { "win.zoom-out", { "<Control>minus", NULL } },
  { "win.zoom-fit", { "<Control>0", NULL } },
  { "win.zoom-one", { "<Control>1", NULL } },
  { "win.pan-left", { "<Alt>Left", NULL } },
  { "win.pan-right", { "<Alt>Right", NULL } },
  { "win.pan-up", { "<Alt>Up", NULL } },
  { "win.pan-down", { "<Alt>Down", NULL } },
  { "win.undo-sample", { "<Control>z", NULL } },
  { "win.blink", { "<Control>b", NULL } },
  { "win.show-help-overlay", { "<Control>question", "F1", NULL } },
  { "app.quit", { "<Control>q", NULL } },
};

const TsrShortcut *
tsr_shortcuts (guint *n)
{
  if (n)
    *n = G_N_ELEMENTS (shortcuts);
  return shortcuts;
}

GtkWindow *
tsr_shortcuts_window_new (void)
{
  /* ui/tsr-shortcuts.ui in the resource bundle; its titles are translated by GtkBuilder in
   * the domain its <interface domain="tessera"> names. (Not also set on the builder: GTK 4.8
   * restores a builder's own domain after parsing from a pointer the .ui's domain has freed —
   * a use-after-free AddressSanitizer reports.) */
  GtkBuilder *b = gtk_builder_new ();
  GError *error = NULL;
  if (!gtk_builder_add_from_resource (b, TSR_SHORTCUTS_UI, &error))
    g_error ("%s: %s", TSR_SHORTCUTS_UI, error->message);   /* compiled in: cannot fail */
  /* the toplevel list keeps the window alive; its owner destroys it */
  GtkWindow *w = GTK_WINDOW (gtk_builder_get_object (b, "shortcuts"));
  g_object_unref (b);
  return w;
}
