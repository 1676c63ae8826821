/* tessera-cli planetary INPUT… -o OUT — lunar and planetary stacking (issue #16). */
#include "cli-planetary.h"
#include "tsr-frame-file.h"

#include <stdio.h>
#include <string.h>

static char *
planetary_help (void)
{
  GString *s = g_string_new (_("Parameters for --set KEY=VALUE (see docs/planetary.md):\n"));
  guint n = 0;
  TsrPlanetaryParams d;
  tsr_planetary_params_init (&d);
  const TsrParamSpec *specs = tsr_planetary_params_specs (&n);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *def = tsr_planetary_params_get_string (&d, specs[i].key);
      g_string_append_printf (s, "  %-30s %s (default %s)\n", specs[i].key, _(specs[i].help), def);
    }
  TsrWaveletParams wd;
  tsr_wavelet_params_init (&wd);
  specs = tsr_wavelet_params_specs (&n);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *def = tsr_wavelet_params_get_string (&wd, specs[i].key);
      g_string_append_printf (s, "  %-30s %s (default %s)\n", specs[i].key, _(specs[i].help), def);
    }
  const char *lk, *lh;
  for (guint i = 0; (lk = tsr_wavelet_list_key (i, &lh)); i++)
    {
      g_autofree char *def = tsr_wavelet_params_get_string (&wd, lk);
      g_string_append_printf (s, "  %-30s %s (default %s)\n", lk, _(lh), def);
    }
  g_string_append (s, _("\nInputs: a folder or files of PNG, JPEG, TIFF or FITS frames, one SER file or one video.\n"
                        "Outputs are written by extension: .fits (float32), .tif (float32), .png (linear preview).\n"));
  return g_string_free (s, FALSE);
}

gboolean
cli_planetary_detect (int argc, char **argv, char **why_out)
{
  *why_out = NULL;
  if (argc < 2)
    return FALSE;
  gboolean any_fits = FALSE;
  char *first_fits = NULL;
  for (int i = 1; i < argc; i++)
    {
      const char *p = argv[i];
      /* TIFF, XISF and camera raw are deep-sky frame formats too: like FITS, they go to the
         planetary path only when the frames are starless (below) */
      if (tsr_is_ser_name (p) || tsr_is_video_name (p) || (tsr_is_image_name (p) && !tsr_is_frame_name (p)))
        {
          *why_out = g_strdup_printf (_("%s is not FITS: planetary path"), p);
          return TRUE;
        }
      if (g_file_test (p, G_FILE_TEST_IS_DIR))
        {
          GDir *d = g_dir_open (p, 0, NULL);
          const char *name;
          gboolean fits = FALSE, other = FALSE;
          while (d && (name = g_dir_read_name (d)))
            {
              if (tsr_is_frame_name (name) && !first_fits)
                first_fits = g_build_filename (p, name, NULL);
              fits |= tsr_is_frame_name (name);
              other |= (tsr_is_image_name (name) && !tsr_is_frame_name (name)) || tsr_is_ser_name (name)
                       || tsr_is_video_name (name);
            }
          if (d)
            g_dir_close (d);
          if (other && !fits)
            {
              g_free (first_fits);
              *why_out = g_strdup_printf (_("%s holds images or videos but no FITS: planetary path"), p);
              return TRUE;
            }
          any_fits |= fits;
        }
      else if (tsr_is_frame_name (p))
        {
          any_fits = TRUE;
          if (!first_fits)
            first_fits = g_strdup (p);
        }
    }
  if (!any_fits || !first_fits)
    {
      g_free (first_fits);
      return FALSE;
    }
  /* Lunar and planetary cameras write at most ~25 Mpx; larger frames are deep sky, and reading
   * three of them whole only to look would cost the memory the deep-sky path budgets for */
  TsrFitsInfo fi = { 0 };
  gboolean small = tsr_frame_read_info (first_fits, &fi, NULL, NULL)
                   && (gint64) fi.width * fi.height <= (gint64) 25 * 1000 * 1000;
  tsr_fits_info_clear (&fi);
  g_free (first_fits);
  if (!small)
    return FALSE;
  TsrStarlessInfo info;
  if (!tsr_starless_detect_paths ((const char *const *) argv + 1, &info, NULL))
    return FALSE;
  if (info.starless)
    *why_out = g_strdup_printf (_("starless session (%s, bright region %.0f %% of the frame, %u point sources): "
                                  "planetary path"),
                                info.surface ? _("surface") : _("disc"), 100 * info.extended_fraction,
                                info.n_compact);
  return info.starless;
}

static int
planetary_run (const char *command, int argc, char **argv, const char *out, const char *mean_out,
               const char *best_out, const char *json, char **sets);

int
cli_planetary_run (const char *command, int argc, char **argv, const char *out, const char *mean_out,
                   const char *json, char **sets)
{
  return planetary_run (command, argc, argv, out, mean_out, NULL, json, sets);
}

static int
planetary_run (const char *command, int argc, char **argv, const char *out, const char *mean_out,
               const char *best_out, const char *json, char **sets)
{
  if (argc < 2)
    return cli_fail_msg (_("%s: name the frames: a folder, image files, a SER file or a video (see --help)"), command);
  TsrPlanetaryParams p;
  tsr_planetary_params_init (&p);
  TsrWaveletParams wp;
  tsr_wavelet_params_init (&wp);
  gboolean any_wavelet = FALSE;
  for (guint i = 0; sets && sets[i]; i++)
    {
      const char *eq = strchr (sets[i], '=');
      if (!eq)
        return cli_fail_msg (_("%s: --set %s: expected KEY=VALUE"), command, sets[i]);
      g_autofree char *key = g_strndup (sets[i], eq - sets[i]);
      GError *e = NULL;
      gboolean ok;
      if (g_str_has_prefix (key, "wavelets."))
        {
          ok = tsr_wavelet_params_set (&wp, key, eq + 1, &e);
          any_wavelet = TRUE;
        }
      else if (g_str_has_prefix (key, "planetary."))
        ok = tsr_planetary_params_set (&p, key, eq + 1, &e);
      else
        return cli_fail_msg (_("%s: --set %s: a planetary session takes planetary.* and wavelets.* keys "
                               "(see 'tessera-cli planetary --help'; --deep-sky forces the deep-sky path)"),
                             command, key);
      if (!ok)
        {
          int rc = cli_fail_msg ("%s: --set: %s", command, e->message);
          g_error_free (e);
          return rc;
        }
    }
  GError *error = NULL;
  g_autoptr (TsrFrameSource) src = tsr_frame_source_open ((const char *const *) argv + 1, cli_cancellable (), &error);
  if (!src)
    return cli_fail (error);
  const char *outs[] = { out, mean_out, best_out, json };
  for (guint i = 0; i < G_N_ELEMENTS (outs); i++)
    {
      if (!outs[i])
        continue;
      for (guint f = 0; f < tsr_frame_source_n_frames (src); f++)
        {
          const char *fp = tsr_frame_source_frame_path (src, f);
          if ((fp && cli_same_file (fp, outs[i])) || cli_same_file (tsr_frame_source_path (src), outs[i]))
            return cli_fail_msg (_("%s: %s: the output would overwrite an input frame; choose another name"),
                                 command, outs[i]);
        }
      g_autofree char *dir = g_path_get_dirname (outs[i]);
      if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
        return cli_fail_msg (_("%s: %s: the folder %s does not exist"), command, outs[i], dir);
      /* image types known before the run, not after it (and after -o was already written) */
      if ((outs[i] != json && !tsr_planetary_image_name_check (outs[i], &error))
          || !cli_check_output (outs[i], NULL, &error))
        return cli_fail (error);
    }
  /* calibration frames (--bias, --darks, --flats, --dark-flats: FITS folders or masters) planned
   * against the frames, built, and applied to every frame as it is read */
  if (cli_calib_requested ())
    {
      const char *paths[TSR_CALIB_N_KINDS];
      for (guint k = 0; k < TSR_CALIB_N_KINDS; k++)
        paths[k] = cli_calib_option (k);
      g_autoptr (TsrCalib) c = tsr_calib_plan (paths, NULL, NULL, cli_cancellable (), &error);
      if (!c || !tsr_calib_check_source (c, src, &error))
        return cli_fail (error);
      g_autoptr (GPtrArray) files = tsr_calib_input_files (c);
      for (guint i = 0; i < G_N_ELEMENTS (outs); i++)
        for (guint k = 0; outs[i] && k < files->len; k++)
          if (cli_same_file (files->pdata[k], outs[i]))
            return cli_fail_msg (_("%s: %s: the output would overwrite a calibration frame; choose another name"),
                                 command, outs[i]);
      TsrRunParams run;
      tsr_run_params_init (&run);
      CliProgress cp;
      cli_progress_init (&cp);
      gboolean built = tsr_calib_build (c, &run, cli_progress_cb, &cp, cli_cancellable (), &error);
      cli_progress_end (&cp);
      if (!built)
        return cli_fail (error);
      const GPtrArray *notes = tsr_calib_notes (c);
      for (guint i = 0; i < notes->len; i++)
        fprintf (stderr, _("tessera-cli: note: %s\n"), (const char *) notes->pdata[i]);
      if (paths[TSR_CALIB_DARK])
        fprintf (stderr, _("tessera-cli: note: the dark is subtracted unscaled from the lunar/planetary frames "
                           "(take darks at their exposure)\n"));
      tsr_calib_attach_source (g_steal_pointer (&c), src);
      printf (_("calibrated: every frame of %s as it is read\n"), tsr_frame_source_path (src));
    }
  CliProgress prog;
  cli_progress_init (&prog);
  gint64 t0 = g_get_monotonic_time ();
  g_autoptr (TsrPlanetaryResult) r = tsr_planetary_run (src, &p, cli_progress_cb, &prog, cli_cancellable (), &error);
  cli_progress_end (&prog);
  if (!r)
    return cli_fail (error);
  /* default output: the automatically sharpened stack; explicit wavelet gains replace it */
  TsrImage *final = r->sharpened && !any_wavelet ? r->sharpened : r->result;
  g_autoptr (TsrImage) sharp = NULL;
  if (any_wavelet)
    {
      sharp = tsr_wavelets_apply (r->result, &wp, cli_cancellable (), &error);
      if (!sharp)
        return cli_fail (error);
      final = sharp;
    }
  /* every output staged, then all renamed onto their names together (or none is), as
   * `process` does: a failed second output leaves the first one's old file as it was */
  g_autoptr (TsrCommit) commit = tsr_commit_new ();
  const struct { const char *name; const TsrImage *img; } imgs[] = {
    { out, final }, { mean_out, r->mean }, { best_out, r->best_frame },
  };
  gboolean ok = TRUE;
  for (guint i = 0; ok && i < G_N_ELEMENTS (imgs); i++)
    if (imgs[i].name)
      {
        const char *st = tsr_commit_stage_file (commit, imgs[i].name, &error);
        ok = st && tsr_planetary_write_image_as (imgs[i].img, st, imgs[i].name, &error);
      }
  if (ok && json)
    {
      g_autofree char *text = tsr_planetary_result_json (r, src);
      const char *st = tsr_commit_stage_file (commit, json, &error);
      ok = st && tsr_write_file_atomic (st, text, -1, &error);
    }
  if (!cli_commit_finish (commit, ok, &error))
    return cli_fail (error);
  double nr, nm, nb;
  double sr = tsr_planetary_sharpness (r->result, 0, 0, 0, 0, &nr);
  double sm = tsr_planetary_sharpness (r->mean, 0, 0, 0, 0, &nm);
  double sb = tsr_planetary_sharpness (r->best_frame, 0, 0, 0, 0, &nb);
  guint act = 0;
  for (guint k = 0; k < r->n_aps; k++)
    act += r->ap_active[k];
  printf (_("planetary: %u frames (%s alignment, reference frame %u) in %.1f s → %s\n"), r->n_frames,
          r->disc ? _("disc") : _("surface"), r->reference_frame + 1, (g_get_monotonic_time () - t0) / 1e6, out);
  printf (_("alignment points: %u of %u active (box %d px), local shifts %.2f px RMS; residual jitter of the "
            "global alignment %.3f px RMS\n"),
          act, r->n_aps, r->ap_size, r->local_shift_rms, r->residual_rms);
  if (r->rotated)
    printf (_("field rotation: frames rotated by up to %.3f° (4-DOF global alignment)\n"), r->rotation_max_deg);
  if (r->channels_aligned)
    printf (_("atmospheric dispersion: red moved by (%.2f, %.2f) px, blue by (%.2f, %.2f) px onto green\n"),
            -r->channel_dx[0], -r->channel_dy[0], -r->channel_dx[2], -r->channel_dy[2]);
  printf (_("sharpness (noise-debiased gradient energy): stack %.4g, mean %.4g, best frame %.4g; noise σ: stack %.4g, "
            "mean %.4g, best frame %.4g\n"),
          sr, sm, sb, nr, nm, nb);
  if (r->sharpened)
    {
      double ns, ss = tsr_planetary_sharpness (r->sharpened, 0, 0, 0, 0, &ns);
      GString *gs = g_string_new (NULL);
      for (int j = 0; j < r->sharpen.n_gains; j++)
        g_string_append_printf (gs, "%s%.3g", j ? "," : "", r->sharpen.gains[j]);
      g_autofree char *g = g_string_free (gs, FALSE);
      printf (_("automatic sharpening: amount %.2f (wavelet gains %s, thresholds 2,0.5 σ): sharpness %.4g, noise σ "
                "%.4g (limit: the mean's %.4g)%s\n"),
              r->sharpen_amount, g, ss, ns, r->sharpen_noise_limit,
              any_wavelet ? _("; not written: --wavelets given") : "");
    }
  if (sharp)
    {
      double ns, ss = tsr_planetary_sharpness (sharp, 0, 0, 0, 0, &ns);
      printf (_("after wavelets: sharpness %.4g, noise σ %.4g\n"), ss, ns);
    }
  return 0;
}

int
cli_planetary (int argc, char **argv)
{
  char *out = NULL, *mean_out = NULL, *json = NULL, *gains = NULL, *best_out = NULL;
  char **sets = NULL;
  GOptionEntry entries[] = {
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, N_("Result: the local-quality stack, sharpened automatically unless planetary.sharpen=off (.fits, .tif or .png)"), N_("OUT") },
    { "mean-stack", 0, 0, G_OPTION_ARG_FILENAME, &mean_out, N_("Also write the plain mean of the globally aligned frames"), N_("MEAN") },
    { "best-frame", 0, 0, G_OPTION_ARG_FILENAME, &best_out, N_("Also write the best single frame, globally aligned"), N_("BEST") },
    { "json", 0, 0, G_OPTION_ARG_FILENAME, &json, N_("Write shifts, qualities and alignment points as JSON"), N_("FILE.json") },
    { "set", 's', 0, G_OPTION_ARG_STRING_ARRAY, &sets, N_("Set a parameter, e.g. --set planetary.best_fraction=0.3 (repeatable)"), N_("KEY=VALUE") },
    { "wavelets", 'w', 0, G_OPTION_ARG_STRING, &gains, N_("Sharpen the result with these wavelet gains, e.g. 2,1.5,1,1,1"), N_("GAINS") },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (_("INPUT… — lunar and planetary stacking"));
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  cli_calib_add_options (ctx);
  g_autofree char *help = planetary_help ();
  g_option_context_set_description (ctx, help);
  int status = 0;
  if (!cli_parse (ctx, &argc, &argv, &status))
    return status;
  g_autofree char *out_o = out, *mean_o = mean_out, *json_o = json, *gains_o = gains, *best_o = best_out;
  g_auto (GStrv) sets_o = sets;
  if (!out)
    return cli_fail_msg (_("planetary: the output file is missing (-o OUT.fits)"));
  g_autoptr (GPtrArray) all = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; sets && sets[i]; i++)
    g_ptr_array_add (all, g_strdup (sets[i]));
  if (gains)
    {
      /* checked here so that the message names --wavelets, not a --set the user did not give */
      TsrWaveletParams check;
      tsr_wavelet_params_init (&check);
      GError *e = NULL;
      if (!tsr_wavelet_params_set (&check, "wavelets.gains", gains, &e))
        {
          int rc = cli_fail_msg (_("planetary: --wavelets %s: %s"), gains, e->message);
          g_error_free (e);
          return rc;
        }
      g_ptr_array_add (all, g_strdup_printf ("wavelets.gains=%s", gains));
    }
  g_ptr_array_add (all, NULL);
  return planetary_run ("planetary", argc, argv, out, mean_out, best_out, json, (char **) all->pdata);
}
