/* main.c — the desktop window's entry point. */
#include "tsr-config.h"
#include <locale.h>
#include <glib/gi18n.h>
#include "tsr-application.h"
#include "tsr-settings.h"
#include "tsr-session.h"

int
main (int argc, char **argv)
{
  tsr_prefer_huge_pages (argv);
  /* glibc's allocator as tessera-cli sets it: one arena for the engine's workers (freed frame
   * buffers are reused by the next frame of any worker, so run.memory_mb stays a bound), and
   * large buffers from the heap, not fresh pages (FFTW's buffered passes allocate on every
   * execution: a deconvolution's visits page-faulted in the window and not in the CLI). Each
   * finished job hands the freed heap back (tsr_malloc_release in tsr_window_end_job_full). */
  tsr_malloc_setup ();
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
