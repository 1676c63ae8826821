/* tessera-cli process SESSION -o OUT.fits … — Tile-Based Quality Reconstruction. */
#include "cli-common.h"
#include "cli-planetary.h"
#include "tsr-tbqr-memory.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <stdio.h>
#include <string.h>

static char *
params_help (void)
{
  GString *s = g_string_new (_("Parameters for --set KEY=VALUE (see docs/parameters.md):\n"));
  guint n = tsr_project_n_keys ();
  TsrProject d;
  tsr_project_init (&d);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *def = tsr_project_get_string (&d, tsr_project_key (i)->key);
      g_string_append_printf (s, "  %-28s %s (default %s)\n", tsr_project_key (i)->key, _(tsr_project_key (i)->help), def);
    }
  return g_string_free (s, FALSE);
}

int
cli_process (int argc, char **argv)
{
  char *out = NULL, *config = NULL, *mean_out = NULL, *report = NULL, *json = NULL, *bg_samples = NULL;
  char **sets = NULL;
  gboolean recursive = FALSE, planetary = FALSE, deep_sky = FALSE;
  GOptionEntry entries[] = {
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, N_("Result (linear float32 FITS; RGB for Bayer sessions)"), N_("OUT.fits") },
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config, N_("Read parameters (and the session, if none is given) from a .tessera project"), N_("FILE") },
    { "set", 's', 0, G_OPTION_ARG_STRING_ARRAY, &sets, N_("Set a parameter, e.g. --set global.alpha=0.5 (repeatable)"), N_("KEY=VALUE") },
    { "mean-stack", 0, 0, G_OPTION_ARG_FILENAME, &mean_out, N_("Also write the plain mean stack of the same frames"), N_("MEAN.fits") },
    { "report", 0, 0, G_OPTION_ARG_FILENAME, &report, N_("Write the report folder (HTML, figures, maps, diagnostics)"), N_("DIR") },
    { "json", 0, 0, G_OPTION_ARG_FILENAME, &json, N_("Write the diagnostics JSON"), N_("DIAG.json") },
    { "bg-samples", 0, 0, G_OPTION_ARG_FILENAME, &bg_samples,
      N_("Edit post.background's sky samples: 'x,y[,size]' adds a box, '-x,y' excludes one (one a line)"), N_("FILE") },
    { "recursive", 'r', 0, G_OPTION_ARG_NONE, &recursive, N_("Include subfolders"), NULL },
    { "planetary", 0, 0, G_OPTION_ARG_NONE, &planetary, N_("Use the lunar/planetary path (see 'tessera-cli planetary')"), NULL },
    { "deep-sky", 0, 0, G_OPTION_ARG_NONE, &deep_sky, N_("Use the deep-sky path even for a session that looks starless"), NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (_("SESSION… — tile-based quality reconstruction"));
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  cli_calib_add_options (ctx);
  g_autofree char *ph = params_help ();
  g_option_context_set_description (ctx, ph);
  int status = 0;
  if (!cli_parse (ctx, &argc, &argv, &status))
    return status;
  g_autofree char *out_o = out, *config_o = config, *mean_o = mean_out, *report_o = report, *json_o = json;
  g_autofree char *bg_samples_o = bg_samples;
  g_auto (GStrv) sets_o = sets;
  if (!out)
    return cli_fail_msg (_("process: the output file is missing (-o OUT.fits)"));
  if (planetary && deep_sky)
    return cli_fail_msg (_("process: --planetary and --deep-sky exclude each other"));
  /* starless sessions (Moon, planets) and non-FITS inputs go to the planetary job (issue #16) */
  if (!deep_sky && argc >= 2)
    {
      g_autofree char *why = NULL;
      if (planetary || cli_planetary_detect (argc, argv, &why))
        {
          if (why)
            printf (_("process: %s (--deep-sky overrides)\n"), why);
          if (report)
            fprintf (stderr, _("process: --report is not written for planetary sessions (use --json)\n"));
          /* the options the planetary job has no use for are said to be ignored, not dropped silently */
          const struct { gboolean given; const char *name; } unused[] = {
            { bg_samples != NULL, "--bg-samples" }, { config != NULL, "--config" }, { recursive, "--recursive" },
          };
          for (guint i = 0; i < G_N_ELEMENTS (unused); i++)
            if (unused[i].given)
              fprintf (stderr, _("process: %s is ignored for planetary sessions (see 'tessera-cli planetary --help')\n"),
                       unused[i].name);
          return cli_planetary_run ("process", argc, argv, out, mean_out, json, sets);
        }
    }

  GError *error = NULL;
  if (!cli_check_image_name ("process", "-o", out, &error)
      || !cli_check_image_name ("process", "--mean-stack", mean_out, &error))
    return cli_fail (error);
  g_autoptr (GArray) bg_add = NULL, bg_excl = NULL;
  if (bg_samples && !cli_bg_samples_load (bg_samples, &bg_add, &bg_excl, &error))
    return cli_fail (error);
  TsrProject p;
  g_autoptr (TsrSession) s = NULL;
  g_auto (TsrFrameChoices) frames = { NULL, NULL };
  int rc = cli_params_and_session ("process", config, sets, argc, argv, recursive, &p, &s, &frames);
  if (rc != 0)
    return rc;
  if (bg_samples && !p.post.background)
    return cli_fail_msg (_("process: --bg-samples edits the background extraction; turn it on with --set "
                           "post.background=true"));
  /* the project's sky-sample edits (the window's), unless --bg-samples gives others */
  g_auto (TsrSampleEdits) proj_samples = { 0, NULL, NULL };
  if (config && !bg_samples && p.post.background)
    {
      TsrProject unused;
      if (!tsr_project_load_ext (config, &unused, NULL, NULL, NULL, &proj_samples, NULL, &error))
        return cli_fail (error);
      if (proj_samples.width > 0)
        {
          bg_add = g_array_ref (proj_samples.add);
          bg_excl = g_array_ref (proj_samples.exclude);
        }
    }
  if (tsr_session_n_frames (s) < 2)
    return cli_fail_msg (_("process: %s: a session needs at least two frames (it has one)"),
                         tsr_session_frame (s, 0)->path);
  if (!cli_check_output (out, s, &error) || (mean_out && !cli_check_output (mean_out, s, &error))
      || (json && !cli_check_output (json, s, &error)))
    return cli_fail (error);
  {
    const char *opts[] = { "-o", "--mean-stack", "--json", "--report" };
    const char *paths[] = { out, mean_out, json, report };
    if (!cli_check_distinct ("process", G_N_ELEMENTS (paths), opts, paths, &error))
      return cli_fail (error);
  }
  {
    const char *outs[] = { out, mean_out, json };
    for (guint i = 0; config && i < G_N_ELEMENTS (outs); i++)
      if (outs[i] && cli_same_file (outs[i], config))
        return cli_fail_msg (_("process: %s: the output would overwrite the project file; choose another name"),
                             outs[i]);
    if (report && (!cli_check_output_dir (report, s, &error)
                   || !tsr_output_dir_check (report, TSR_REPORT_MARKER, &error)))
      return cli_fail (error);
  }

  /* the memory plan before a pixel is read: the calibration and the hot-pixel search read
   * frames first (a 12000 × 9000 session took 5 s and 618 MiB to be refused); the analysis
   * plans again with the calibration masters held */
  {
    TsrTbqrMemory mem;
    if (!tsr_tbqr_memory_plan (s->width, s->height, s->channels, s->cfa, tsr_session_n_frames (s), &p.tbqr, &p.run,
                               &mem, &error))
      return cli_fail (error);
  }
  if ((rc = cli_calib_apply (s, &p.run)) != 0 || (rc = cli_cosmetic_apply ("process", s, &p.post, p.run.n_threads)) != 0)
    return rc;
  CliProgress prog;
  cli_progress_init (&prog);
  {
    static TsrEtaPhase plan[4]; /* the estimator keeps the pointer */
    guint n_plan = tsr_tbqr_eta_plan (s, &p.tbqr, &p.run, plan);
    cli_progress_plan (&prog, plan, n_plan, tsr_session_n_frames (s));
    tsr_eta_set_finish (&prog.eta, TSR_ETA_TBQR_FINISH);
  }
  gint64 t0 = g_get_monotonic_time ();
  /* each frame's star list serves its own analysis (tile metrics, photometric scale) and
   * nothing of a process run reads it again: freed as the run goes, so they do not pile up
   * over a long session */
  p.tbqr.reg.drop_star_lists = TRUE;
  /* … and the per-tile metrics (32 bytes per tile and frame) wait for the weighing in a
   * temporary file, not in memory */
  p.tbqr.spill_tile_metrics = TRUE;
  g_autoptr (TsrAnalysis) a = tsr_tbqr_analyse (s, &p.tbqr, &p.run, cli_progress_cb, &prog, cli_cancellable (), &error);
  if (!a)
    {
      cli_progress_end (&prog);
      return cli_fail (error);
    }
  /* the project's per-frame choices (the window's Use column) over the gate */
  guint n_unmatched = 0;
  g_autofree guint8 *choices = tsr_frame_choices_for_session (&frames, s, &n_unmatched);
  if (n_unmatched > 0)
    fprintf (stderr, g_dngettext (GETTEXT_PACKAGE, "process: %u frame named in the project's [frames] is not part of this session (ignored)\n",
                                  "process: %u frames named in the project's [frames] are not part of this session (ignored)\n", n_unmatched),
             n_unmatched);
  /* the frames' star lists served the analysis; nothing of a process run reads them again,
   * and for a long session they are the largest memory that grows with the frame count */
  tsr_registration_drop_star_lists (a->reg);
  g_autoptr (TsrWeights) w = tsr_tbqr_weigh_with_choices (a, &p.tbqr, choices, &error);
  if (!w)
    {
      cli_progress_end (&prog);
      return cli_fail (error);
    }
  if (w->n_used < 2)
    {
      /* Only the reference is left: a "result" would be one frame, or nothing at all when
       * the reference itself holds no data. */
      cli_progress_end (&prog);
      return cli_fail_msg (_("process: %s: every frame but the reference %s was gated (%u of %u); nothing to "
                             "combine (see 'tessera-cli register' for the reasons)"),
                           s->root ? s->root : tsr_session_frame (s, 0)->path,
                           tsr_session_frame (s, a->reg->reference)->name,
                           a->reg->n_frames - tsr_registration_n_valid (a->reg) + (w->n_used == 0),
                           a->reg->n_frames);
    }
  /* weighed once and for all: the per-tile metrics and the tables accumulation does not
   * read grow with the frame count (n_frames × n_tiles × 40 bytes) and would otherwise be
   * held through the accumulation, where the run's memory peaks */
  tsr_analysis_drop_tile_metrics (a);
  tsr_weights_drop_tile_tables (w, report != NULL);
#ifdef __GLIBC__
  /* and give the pages freed inside the heap back before the accumulation's peak */
  malloc_trim (0);
#endif
  TsrReconstruction *r = tsr_tbqr_accumulate (a, w, &p.tbqr, &p.run, cli_progress_cb, &prog, cli_cancellable (), &error);
  cli_progress_end (&prog);
  if (!r)
    return cli_fail (error);
  /* the optional steps on the finished image (post.*); validation saw the reconstruction */
  if (p.post.background)
    {
      TsrBackgroundInfo bi;
      TsrBackgroundEdits ed = { bg_add ? (const TsrBgPoint *) bg_add->data : NULL, bg_add ? bg_add->len : 0,
                                bg_excl ? (const TsrBgPoint *) bg_excl->data : NULL, bg_excl ? bg_excl->len : 0 };
      if (proj_samples.width > 0)
        tsr_sample_edits_rescale (&proj_samples, r->result->width);   /* another drizzle.scale */
      TsrImage *bg = tsr_background_extract_edited (r->result, &p.post, bg_add ? &ed : NULL, &bi, NULL, NULL,
                                                    cli_cancellable (), &error);
      if (!bg)
        {
          tsr_reconstruction_free (r);
          return cli_fail_msg ("process: %s: %s", out, error->message);
        }
      tsr_image_unref (r->result);
      r->result = bg;
      printf (_("background: degree-%d model on %u of %u sky samples removed (model range %.4g)\n"), bi.degree,
              bi.n_used, bi.n_samples, bi.range[MIN (1, r->result->channels - 1)]);
      if (bg_samples)
        printf (_("background: user samples: %u added, %u excluded\n"), bi.n_added, bi.n_excluded);
      else if (bg_add)
        printf (_("background: the project's sky samples: %u added, %u excluded\n"), bi.n_added, bi.n_excluded);
    }
  if (p.post.colour)
    {
      if (r->result->channels != 3)
        printf (_("colour: the result is monochrome; post.colour skipped\n"));
      else
        {
          TsrColourInfo ci;
          TsrImage *col = tsr_colour_calibrate (r->result, &p.post, &ci, cli_cancellable (), &error);
          if (!col)
            {
              tsr_reconstruction_free (r);
              return cli_fail_msg ("process: %s: %s", out, error->message);
            }
          tsr_image_unref (r->result);
          r->result = col;
          printf (_("colour: average of %u stars R/G %.4f B/G %.4f made neutral, background neutralised\n"),
                  ci.n_stars, ci.ratio[0], ci.ratio[2]);
        }
    }
  double secs = (g_get_monotonic_time () - t0) / 1e6;

  /* every output staged, then all renamed onto their names together (or none is) */
  g_autoptr (TsrCommit) commit = tsr_commit_new ();
  const char *st_out = tsr_commit_stage_file (commit, out, &error);
  gboolean ok = st_out && cli_write_image (st_out, out, r->result, &error);
  if (ok && mean_out)
    {
      const char *st = tsr_commit_stage_file (commit, mean_out, &error);
      ok = st && cli_write_image (st, mean_out, r->mean, &error);
    }
  if (ok && json)
    {
      g_autofree char *text = tsr_tbqr_diagnostics_json (a, w, r);
      const char *st = tsr_commit_stage_file (commit, json, &error);
      ok = st && tsr_write_file_atomic (st, text, -1, &error);
    }
  if (ok && report)
    {
      const char *rd = tsr_commit_stage_dir (commit, report, TSR_REPORT_MARKER, &error);
      ok = rd && tsr_report_write (rd, a, w, r, &error);
      const struct { const char *name; TsrImage *img; } maps[] = {
        { "coverage.fits", r->coverage }, { "weight.fits", r->weight }, { "rejected.fits", r->rejected },
      };
      for (guint i = 0; ok && i < G_N_ELEMENTS (maps); i++)
        {
          g_autofree char *path = g_build_filename (rd, maps[i].name, NULL);
          ok = tsr_fits_write (path, maps[i].img, NULL, &error);
        }
    }
  if (!cli_commit_finish (commit, ok, &error))
    {
      tsr_reconstruction_free (r);
      return cli_fail (error);
    }
  const TsrValidation *v = &r->validation;
  guint n_gated = 0, n_included = 0, n_excluded = 0;
  for (guint f = 0; f < w->n_frames; f++)
    {
      n_gated += w->gate[f] != 0;
      n_included += w->choice[f] == TSR_FRAME_INCLUDE && w->used[f];
      n_excluded += w->choice[f] == TSR_FRAME_EXCLUDE;
    }
  printf (_("processed %u frames (%u weighted, %u gated) in %.1f s → %s\n"), a->reg->n_frames, w->n_used,
          n_gated, secs, out);
  if (n_included + n_excluded > 0)
    printf (_("by hand (project [frames]): %u gated frame(s) included, %u frame(s) excluded\n"), n_included,
            n_excluded);
  printf (_("tile %d px; reference %u; clusters %d\n"), a->tile_size, a->reg->reference, w->n_clusters);
  if (r->drizzle_note)
    printf ("%s\n", r->drizzle_note);
  double spread = tsr_weights_channel_spread (w);
  if (isfinite (spread))
    printf (w->chan ? _("per-channel frame weights: on (a frame's colour balance of noise differs by up to %.0f %%)\n")
                    : _("per-channel frame weights: not needed (every frame's colour balance of noise within %.0f %%)\n"),
            100.0 * spread);
  if (r->scale > 1)
    printf (_("the result is %d × %d (drizzle scale %d): the FWHM below is in its pixels\n"), r->result->width,
            r->result->height, r->scale);
  printf (_("validation vs mean stack (%u matched stars): FWHM %.3f → %.3f px (%.1f %%), per-pixel noise ratio %.3f, "
            "flux ratio %.4f, seam %.3f: %s\n"),
          v->n_matched, v->fwhm_mean, v->fwhm_result, 100.0 * (v->fwhm_ratio - 1.0), v->noise_ratio,
          v->flux_ratio, v->seam, v->pass ? _("PASS") : _("FAIL"));
  /* which check failed, against what limit, and the parameter that sets it */
  g_autofree char *failed = tsr_validation_failures (v, "\n  failed: ");
  if (failed)
    printf ("  %s %s\n", _("failed:"), failed);
  printf (_("matched resolution: noise at 8×8 bins per unit star flux vs mean stack"));
  for (int c = 0; c < v->n_channels; c++)
    printf (" %s %.3f", v->n_channels == 3 ? (c == 0 ? "R" : c == 1 ? "G" : "B") : "L", v->bin_noise_ratio[c]);
  printf (_("; point-source SNR %.1f (mean stack %.1f)\n"), v->snr_result, v->snr_mean);
  if (v->n_channels == 3)
    printf (_("star flux per channel vs mean stack: R %.4f G %.4f B %.4f\n"), v->flux_ratio_channel[0],
            v->flux_ratio_channel[1], v->flux_ratio_channel[2]);
  tsr_reconstruction_free (r);
  return 0;
}
