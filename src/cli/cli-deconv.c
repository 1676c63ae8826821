/* tessera-cli deconv SESSION -o OUT.fits … — multi-frame robust deconvolution. */
#include "cli-common.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static char *
deconv_params_help (void)
{
  GString *s = g_string_new (_("Deconvolution parameters for --set KEY=VALUE (all keys: docs/parameters.md):\n"));
  guint n = tsr_project_n_keys ();
  TsrProject d;
  tsr_project_init (&d);
  for (guint i = 0; i < n; i++)
    {
      if (!g_str_has_prefix (tsr_project_key (i)->key, "deconv.") && !g_str_has_prefix (tsr_project_key (i)->key, "run."))
        continue;
      g_autofree char *def = tsr_project_get_string (&d, tsr_project_key (i)->key);
      g_string_append_printf (s, "  %-24s %s (default %s)\n", tsr_project_key (i)->key, _(tsr_project_key (i)->help), def);
    }
  return g_string_free (s, FALSE);
}

typedef struct
{
  gboolean verbose;
} IterCtx;

static gboolean
on_iteration (const TsrImage *latent, const TsrDeconvIterStats *st, gpointer data)
{
  IterCtx *ctx = data;
  if (ctx->verbose)
    fprintf (stderr, "iteration %u: median |ratio-1| %.5f, relative change %.5f, delta %.3f, %.2f s\n",
             st->iteration, st->median_update, st->rel_change, st->delta, st->seconds);
  return TRUE;
}

int
cli_deconv (int argc, char **argv)
{
  char *out = NULL, *config = NULL, *mean_out = NULL, *seed_path = NULL, *preview = NULL;
  char **sets = NULL;
  gboolean recursive = FALSE, verbose = FALSE;
  GOptionEntry entries[] = {
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, N_("Deconvolved image (float32 FITS; RGB for Bayer sessions)"), N_("OUT.fits") },
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config, N_("Read parameters (and the session, if none is given) from a .tessera project"), N_("FILE") },
    { "set", 's', 0, G_OPTION_ARG_STRING_ARRAY, &sets, N_("Set a parameter, e.g. --set deconv.kappa=2 (repeatable)"), N_("KEY=VALUE") },
    { "seed-image", 0, 0, G_OPTION_ARG_FILENAME, &seed_path, N_("Start from this image (reference geometry, e.g. a TBQR result)"), N_("FILE") },
    { "mean-stack", 0, 0, G_OPTION_ARG_FILENAME, &mean_out, N_("Also write the mean stack of the same registered frames"), N_("MEAN.fits") },
    { "preview", 0, 0, G_OPTION_ARG_FILENAME, &preview, N_("Also write a stretched PNG preview of the result"), N_("PNG") },
    { "recursive", 'r', 0, G_OPTION_ARG_NONE, &recursive, N_("Include subfolders"), NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, N_("Print every iteration's update statistics"), NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (_("SESSION… — multi-frame robust deconvolution"));
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  cli_calib_add_options (ctx);
  g_autofree char *ph = deconv_params_help ();
  g_option_context_set_description (ctx, ph);
  int status = 0;
  if (!cli_parse (ctx, &argc, &argv, &status))
    return status;
  g_autofree char *out_o = out, *config_o = config, *mean_o = mean_out, *seed_o = seed_path, *prev_o = preview;
  g_auto (GStrv) sets_o = sets;
  if (!out)
    return cli_fail_msg (_("deconv: the output file is missing (-o OUT.fits)"));

  GError *error = NULL;
  if (!cli_check_image_name ("deconv", "-o", out, &error)
      || !cli_check_image_name ("deconv", "--mean-stack", mean_out, &error))
    return cli_fail (error);
  TsrProject p;
  g_autoptr (TsrSession) s = NULL;
  int rc = cli_params_and_session ("deconv", config, sets, argc, argv, recursive, &p, &s, NULL);
  if (rc != 0)
    return rc;
  if (!cli_check_output (out, s, &error) || (mean_out && !cli_check_output (mean_out, s, &error)))
    return cli_fail (error);
  {
    const char *opts[] = { "-o", "--mean-stack", "--preview" };
    const char *paths[] = { out, mean_out, preview };
    if (!cli_check_distinct ("deconv", G_N_ELEMENTS (paths), opts, paths, &error))
      return cli_fail (error);
  }
  {
    const char *outs[] = { out, mean_out, preview };
    for (guint i = 0; i < G_N_ELEMENTS (outs); i++)
      if (outs[i] && ((config && cli_same_file (outs[i], config)) || (seed_path && cli_same_file (outs[i], seed_path))))
        return cli_fail_msg (_("deconv: %s: the output would overwrite an input (project or seed image); choose another name"),
                             outs[i]);
    if (!cli_check_preview_name ("deconv", preview, &error) || (preview && !cli_check_output (preview, s, &error)))
      return cli_fail (error);
  }

  g_autoptr (TsrImage) seed = NULL;
  if (seed_path)
    {
      seed = tsr_fits_read (seed_path, &error);
      if (!seed)
        return cli_fail (error);
      /* the engine checks this too, but only after staging every frame */
      int want_c = s->channels == 1 && s->cfa != TSR_CFA_NONE ? 3 : s->channels;
      if (seed->width != s->width || seed->height != s->height || seed->channels != want_c)
        return cli_fail_msg (_("deconv: --seed-image %s is %d×%d×%d; this session needs %d×%d×%d (the frames' size, "
                               "%s; e.g. a TBQR result of the same frames)"),
                             seed_path, seed->width, seed->height, seed->channels, s->width, s->height, want_c,
                             want_c == 3 ? _("colour") : _("mono"));
    }
  TsrDeconvOptions opt;
  tsr_deconv_options_init (&opt);
  opt.seed = seed;

  if ((rc = cli_calib_apply (s, &p.run)) != 0)
    return rc;
  CliProgress prog;
  cli_progress_init (&prog);
  IterCtx ic = { verbose };
  TsrDeconvResult *r = tsr_deconv_run (s, &p.deconv, &p.tbqr, &p.run, &opt, on_iteration, &ic, cli_progress_cb, &prog,
                                       cli_cancellable (), &error);
  cli_progress_end (&prog);
  if (!r)
    return cli_fail (error);
  if ((tsr_session_n_frames (s) >= 2 && r->n_frames < 2) || tsr_image_count_valid (r->image) == 0)
    {
      /* only the reference survived the gate, or nothing holds data: no honest result */
      g_autofree char *where = g_strdup (s->root ? s->root : tsr_session_frame (s, 0)->path);
      guint used = r->n_frames;
      tsr_deconv_result_free (r);
      if (used >= 2 || tsr_session_n_frames (s) < 2)
        return cli_fail_msg (_("deconv: %s: no frame holds a valid sample (every pixel is NaN, Inf or BLANK)"), where);
      return cli_fail_msg (_("deconv: %s: every frame but the reference was gated (%u of %u used); nothing to "
                             "combine (see 'tessera-cli register' for the reasons)"),
                           where, used, tsr_session_n_frames (s));
    }
  /* all outputs staged, then renamed together (or none is) */
  g_autoptr (TsrCommit) commit = tsr_commit_new ();
  const char *st = tsr_commit_stage_file (commit, out, &error);
  gboolean ok = st && cli_write_image (st, out, r->image, &error);
  if (ok && mean_out)
    ok = (st = tsr_commit_stage_file (commit, mean_out, &error)) && cli_write_image (st, mean_out, r->mean, &error);
  if (ok && preview)
    ok = (st = tsr_commit_stage_file (commit, preview, &error)) && tsr_write_png_preview (r->image, st, 1600, &error);
  if (!cli_commit_finish (commit, ok, &error))
    {
      tsr_deconv_result_free (r);
      return cli_fail (error);
    }
  printf (_("deconvolved %u frames (%u PSFs from stars) in %.1f s (staging %.1f s, %u iterations %.1f s%s) → %s\n"),
          r->n_frames, r->n_psf_stars, r->seconds_stage + r->seconds_iterate, r->seconds_stage, r->iterations,
          r->seconds_iterate, r->early_stopped ? _(", early stop") : "", out);
  printf (_("median FWHM %.2f px; PSF radius %d; tile %d (%u tiles, %u workers, kernel cache %s); "
            "memory estimate %.0f MiB of %.0f MiB\n"),
          r->median_fwhm, r->psf_radius, r->tile, r->n_tiles, r->n_workers, r->kernel_cache ? "on" : "off",
          (double) r->memory_estimate / (1024.0 * 1024.0), (double) r->memory_budget / (1024.0 * 1024.0));
  tsr_deconv_result_free (r);
  return 0;
}
