/* main.c — the desktop window's entry point. */
#include "tsr-config.h"
#include <locale.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <glib/gi18n.h>
#include "tsr-application.h"
#include "tsr-settings.h"
#include "tsr-session.h"

int
main (int argc, char **argv)
{
  tsr_prefer_huge_pages (argv);
#ifdef __GLIBC__
  /* one malloc arena for the engine's workers, as in tessera-cli: freed frame buffers are
   * reused by the next frame of any worker, so run.memory_mb stays a bound */
  mallopt (M_ARENA_MAX, 1);
#endif
  tsr_raise_open_file_limit ();
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
