/* main.c — the desktop window's entry point. */
#include "tsr-config.h"
#include <locale.h>
#include <glib/gi18n.h>
#include "tsr-application.h"

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, TSR_LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  g_autoptr (TsrApplication) app = tsr_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}
