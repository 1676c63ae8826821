/* tsr-shortcuts.c — the shortcuts table and the GtkShortcutsWindow built from it.
 *
 * GTK 4.8 has no API to add sections and groups to a GtkShortcutsWindow from code, so the
 * window is described as GtkBuilder XML generated from the table (titles translated and
 * escaped here). */
#include "tsr-config.h"
#include <glib/gi18n.h>
#include "tsr-shortcuts.h"

static const TsrShortcut shortcuts[] = {
  { "win.open", { "<Control>o", NULL }, N_("Open a session folder") },
  { "win.open-project", { "<Control><Shift>o", NULL }, N_("Open a project") },
  { "win.save-project", { "<Control>s", NULL }, N_("Save the project") },
  { "win.run", { "<Control>r", NULL }, N_("Run the reconstruction") },
  { "win.deconvolve", { "<Control>d", NULL }, N_("Deconvolve the session") },
  { "win.denoise", { "<Control><Shift>d", NULL }, N_("Denoise the shown result") },
  { "win.cancel", { "Escape", NULL }, N_("Cancel the running job") },
  { "win.export", { "<Control>e", NULL }, N_("Export the result") },
  { "win.zoom-in", { "<Control>plus", "<Control>equal", NULL }, N_("Zoom in") },
  { "win.zoom-out", { "<Control>minus", NULL }, N_("Zoom out") },
  { "win.zoom-fit", { "<Control>0", NULL }, N_("Fit the image to the window") },
  { "win.zoom-one", { "<Control>1", NULL }, N_("Actual size: one image pixel per screen pixel") },
  { "win.pan-left", { "<Alt>Left", NULL }, N_("Pan left") },
  { "win.pan-right", { "<Alt>Right", NULL }, N_("Pan right") },
  { "win.pan-up", { "<Alt>Up", NULL }, N_("Pan up") },
  { "win.pan-down", { "<Alt>Down", NULL }, N_("Pan down") },
  { "win.blink", { "<Control>b", NULL }, N_("Blink the registered frames") },
  { "win.show-help-overlay", { "<Control>question", "F1", NULL }, N_("Keyboard shortcuts") },
  { "app.quit", { "<Control>q", NULL }, N_("Quit") },
};

const TsrShortcut *
tsr_shortcuts (guint *n)
{
  if (n)
    *n = G_N_ELEMENTS (shortcuts);
  return shortcuts;
}

static void
append_group (GString *xml, const char *title, guint from, guint to)
{
  g_autofree char *t = g_markup_printf_escaped ("<property name=\"title\">%s</property>", title);
  g_string_append_printf (xml, "<child><object class=\"GtkShortcutsGroup\">%s", t);
  for (guint i = from; i < to; i++)
    {
      g_autofree char *accel = g_strjoinv (" ", (char **) shortcuts[i].accels);
      g_autofree char *item = g_markup_printf_escaped (
        "<child><object class=\"GtkShortcutsShortcut\">"
        "<property name=\"title\">%s</property>"
        "<property name=\"accelerator\">%s</property>"
        "</object></child>",
        _(shortcuts[i].title), accel);
      g_string_append (xml, item);
    }
  g_string_append (xml, "</object></child>");
}

GtkWindow *
tsr_shortcuts_window_new (void)
{
  GString *xml = g_string_new ("<interface><object class=\"GtkShortcutsWindow\" id=\"shortcuts\">"
                               "<property name=\"modal\">1</property>"
                               "<child><object class=\"GtkShortcutsSection\">"
                               "<property name=\"section-name\">main</property>");
  append_group (xml, _("Sessions and projects"), 0, 3);
  append_group (xml, _("Jobs"), 3, 7);
  append_group (xml, _("Image view (also + − 0 1 and the arrows when the image has the focus)"), 7, 16);
  append_group (xml, _("General"), 16, G_N_ELEMENTS (shortcuts));
  g_string_append (xml, "</object></child></object></interface>");
  GtkBuilder *b = gtk_builder_new_from_string (xml->str, (gssize) xml->len);
  g_string_free (xml, TRUE);
  /* the toplevel list keeps the window alive; its owner destroys it */
  GtkWindow *w = GTK_WINDOW (gtk_builder_get_object (b, "shortcuts"));
  g_object_unref (b);
  return w;
}
