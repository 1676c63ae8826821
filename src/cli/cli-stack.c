/* tessera-cli stack SESSION -o OUT.fits --method … — plain stack of aligned frames. */
#include "cli-common.h"

#include <stdio.h>

int
cli_stack (int argc, char **argv)
{
  char *out = NULL, *method = NULL, *preview = NULL;
  gboolean recursive = FALSE;
  double kappa = 3.0;
  GOptionEntry entries[] = {
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, N_("Output FITS file (float32)"), N_("OUT.fits") },
    { "preview", 0, 0, G_OPTION_ARG_FILENAME, &preview, N_("Also write a stretched PNG preview of the result"), N_("PNG") },
    { "method", 'm', 0, G_OPTION_ARG_STRING, &method, N_("mean, median, sigma or winsor (default mean)"), N_("METHOD") },
    { "kappa", 'k', 0, G_OPTION_ARG_DOUBLE, &kappa, N_("Clipping threshold in sigma (default 3)"), N_("K") },
    { "recursive", 'r', 0, G_OPTION_ARG_NONE, &recursive, N_("Include subfolders"), NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (_("SESSION… — stack already aligned frames"));
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  g_option_context_set_description (ctx, _("No registration is done: use it for frames that are already aligned."));
  int status = 0;
  if (!cli_parse (ctx, &argc, &argv, &status))
    return status;
  g_autofree char *out_owned = out, *method_owned = method, *preview_owned = preview;
  if (argc < 2)
    return cli_fail_msg (_("stack: name a session folder or FITS files (see --help)"));
  if (!out)
    return cli_fail_msg (_("stack: the output file is missing (-o OUT.fits)"));

  TsrStackParams p;
  tsr_stack_params_init (&p);
  if (method && !tsr_stack_method_from_name (method, &p.method))
    return cli_fail_msg (_("stack: unknown method '%s' (mean, median, sigma, winsor)"), method);
  if (!(kappa > 0 && kappa <= 100))
    return cli_fail_msg (_("stack: --kappa must be in (0, 100], got %g"), kappa);
  p.kappa_low = p.kappa_high = kappa;

  GError *error = NULL;
  if (!cli_check_image_name ("stack", "-o", out, &error))
    return cli_fail (error);
  g_autoptr (TsrSession) s = cli_scan (argc, argv, recursive, &error);
  if (!s)
    return cli_fail (error);
  if (!cli_check_output (out, s, &error) || !cli_preview_check ("stack", preview, NULL, out, s, &error))
    return cli_fail (error);

  CliProgress prog;
  cli_progress_init (&prog);
  g_autoptr (TsrImage) img = tsr_stack_session (s, &p, cli_progress_cb, &prog, cli_cancellable (), &error);
  cli_progress_end (&prog);
  if (!img)
    return cli_fail (error);
  if (tsr_image_count_valid (img) == 0)
    return cli_fail_msg (_("stack: %s: no frame holds a valid sample (every pixel is NaN, Inf or BLANK)"),
                         s->root ? s->root : tsr_session_frame (s, 0)->path);
  if (!cli_write_result (img, out, FALSE, preview, &error))
    return cli_fail (error);
  guint n = tsr_session_n_frames (s);
  printf (ngettext ("stacked %u frame (%s) into %s\n", "stacked %u frames (%s) into %s\n", n), n,
          tsr_stack_method_name (p.method), out);
  return 0;
}
