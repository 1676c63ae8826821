/* main.c — the desktop window's entry point. */
#include "tsr-config.h"
#include <locale.h>
#include <glib/gi18n.h>
#include "tsr-application.h"
#include "tsr-settings.h"

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  /* run from the build tree: the catalogues the build compiled (BUILD/po/LL/LC_MESSAGES) */
  g_autofree char *build_locale = g_build_filename (TSR_BUILD_ROOT, "po", NULL);
  if (tsr_settings_running_uninstalled () && g_file_test (build_locale, G_FILE_TEST_IS_DIR))
    bindtextdomain (GETTEXT_PACKAGE, build_locale);
  else
    bindtextdomain (GETTEXT_PACKAGE, TSR_LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  g_autoptr (TsrApplication) app = tsr_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}
