/* tessera-cli restore SESSION -o OUT.fits … — multi-frame restoration with a deep image
 * prior trained on the session itself (docs/restore.md). */
#include "cli-common.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static char *
restore_params_help (void)
{
  GString *s = g_string_new (_("Restoration parameters for --set KEY=VALUE (all keys: docs/parameters.md):\n"));
  guint n = tsr_project_n_keys ();
  TsrProject d;
  tsr_project_init (&d);
  for (guint i = 0; i < n; i++)
    {
      const char *k = tsr_project_key (i)->key;
      if (!g_str_has_prefix (k, "restore.") && !g_str_has_prefix (k, "run."))
        continue;
      g_autofree char *def = tsr_project_get_string (&d, k);
      g_string_append_printf (s, "  %-24s %s (default %s)\n", k, _(tsr_project_key (i)->help), def);
    }
  return g_string_free (s, FALSE);
}

int
cli_restore (int argc, char **argv)
{
  char *out = NULL, *config = NULL, *mean_out = NULL, *preview = NULL;
  char **sets = NULL;
  gboolean recursive = FALSE, verbose = FALSE;
  GOptionEntry entries[] = {
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, N_("Restored image (float32 FITS; RGB for a Bayer or colour session)"), N_("OUT.fits") },
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config, N_("Read parameters (and the session, if none is given) from a .tessera project"), N_("FILE") },
    { "set", 's', 0, G_OPTION_ARG_STRING_ARRAY, &sets, N_("Set a parameter, e.g. --set restore.holdout=0.05 (repeatable)"), N_("KEY=VALUE") },
    { "mean-stack", 0, 0, G_OPTION_ARG_FILENAME, &mean_out, N_("Also write the mean stack of the same registered frames"), N_("MEAN.fits") },
    { "preview", 0, 0, G_OPTION_ARG_FILENAME, &preview, N_("Also write a stretched PNG preview of the result"), N_("PNG") },
    { "recursive", 'r', 0, G_OPTION_ARG_NONE, &recursive, N_("Include subfolders"), NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, N_("Print the training and held-out loss every 50 steps"), NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (_("SESSION… — multi-frame restoration with a deep image prior"));
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  cli_calib_add_options (ctx);
  g_autofree char *ph = restore_params_help ();
  g_option_context_set_description (ctx, ph);
  int status = 0;
  if (!cli_parse (ctx, &argc, &argv, &status))
    return status;
  g_autofree char *out_o = out, *config_o = config, *mean_o = mean_out, *prev_o = preview;
  g_auto (GStrv) sets_o = sets;
  if (!out)
    return cli_fail_msg (_("restore: the output file is missing (-o OUT.fits)"));

  GError *error = NULL;
  if (!cli_check_image_name ("restore", "-o", out, &error)
      || !cli_check_image_name ("restore", "--mean-stack", mean_out, &error))
    return cli_fail (error);
  TsrProject p;
  g_autoptr (TsrSession) s = NULL;
  int rc = cli_params_and_session ("restore", config, sets, argc, argv, recursive, &p, &s, NULL);
  if (rc != 0)
    return rc;
  if (!cli_check_output (out, s, &error) || (mean_out && !cli_check_output (mean_out, s, &error))
      || !cli_check_preview_name ("restore", preview, &error) || (preview && !cli_check_output (preview, s, &error)))
    return cli_fail (error);
  if (mean_out && g_strcmp0 (mean_out, out) == 0)
    return cli_fail_msg (_("restore: --mean-stack and -o name the same file"));
  {
    const char *outs[] = { out, mean_out, preview };
    for (guint i = 0; i < G_N_ELEMENTS (outs); i++)
      if (outs[i] && config && cli_same_file (outs[i], config))
        return cli_fail_msg (_("restore: %s: the output would overwrite the project file; choose another name"), outs[i]);
  }

  if ((rc = cli_calib_apply (s, &p.run)) != 0)
    return rc;
  CliProgress prog;
  cli_progress_init (&prog);
  TsrRestoreResult *r = tsr_restore_run (s, &p.restore, &p.tbqr, &p.run, cli_progress_cb, &prog, cli_cancellable (),
                                         &error);
  cli_progress_end (&prog);
  if (!r)
    return cli_fail (error);
  if (verbose)
    for (guint i = 0; i < r->stats->len; i++)
      {
        const TsrRestoreStepStats *st = &g_array_index (r->stats, TsrRestoreStepStats, i);
        if (st->step % 50 == 0 || i + 1 == r->stats->len)
          fprintf (stderr, "step %u: training loss %.5f, held-out loss %.5f, lr %.5f\n", st->step, st->train_loss,
                   st->heldout_loss, st->lr);
      }
  /* the writers write a temporary file and rename it on success */
  gboolean ok = cli_write_image (out, out, r->image, &error);
  if (ok && mean_out)
    ok = cli_write_image (mean_out, mean_out, r->mean, &error);
  if (ok && preview)
    {
      /* the mean stack's automatic stretch: the restored sky is (near) exact zeros, so its
       * own median and MAD give no midtone and the image shows almost black */
      TsrStretch st;
      tsr_stretch_auto (r->mean, &st);
      ok = tsr_write_png_preview_with (r->image, &st, preview, 1600, &error);
    }
  if (!ok)
    {
      tsr_restore_result_free (r);
      return cli_fail (error);
    }
  printf (_("restored %u frames (%u PSFs from stars) in %.1f s (staging %.1f s, training %u steps %.1f s, "
            "inference %.1f s) → %s\n"),
          r->n_frames, r->n_psf_stars, r->seconds_stage + r->seconds_train + r->seconds_infer, r->seconds_stage,
          r->steps, r->seconds_train, r->seconds_infer, out);
  printf (_("stop: %s (weights of step %u); %u parameters; crop %d×%d; median FWHM %.2f px; PSF radius %d; "
            "memory estimate %.0f MiB of %.0f MiB\n"),
          r->stop, r->best_step, r->n_params, r->crop_w, r->crop_h, r->median_fwhm, r->psf_radius,
          (double) r->memory_estimate / (1024.0 * 1024.0), (double) r->memory_budget / (1024.0 * 1024.0));
  tsr_restore_result_free (r);
  return 0;
}
