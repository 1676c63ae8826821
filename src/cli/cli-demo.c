/* tessera-cli demo DIR — generate a demo session, process it, write a preview. */
#include "cli-common.h"

#include <string.h>
#include <stdio.h>

int
cli_demo (int argc, char **argv)
{
  int frames = 24;
  GOptionEntry entries[] = {
    { "frames", 'n', 0, G_OPTION_ARG_INT, &frames, N_("Number of frames to generate (default 24)"), "N" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (_("[DIR] — run Tessera on a generated demo session"));
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  int status = 0;
  if (!cli_parse (ctx, &argc, &argv, &status))
    return status;
  const char *dir = argc > 1 ? argv[1] : "demo";
  if (frames < 2 || frames > 2000)
    return cli_fail_msg (_("demo: --frames must be in 2…2000"));
  /* DIR receives result.fits, mean-stack.fits, result.png and report/: a folder that holds
   * frames of its own (a session, not an earlier demo) would get them mixed into it */
  GDir *d = g_dir_open (dir, 0, NULL);
  if (d)
    {
      const char *name, *frame = NULL;
      while (!frame && (name = g_dir_read_name (d)))
        if (tsr_is_frame_name (name) && strcmp (name, "result.fits") != 0 && strcmp (name, "mean-stack.fits") != 0)
          frame = name;
      g_autofree char *first = g_strdup (frame);
      g_dir_close (d);
      if (first)
        return cli_fail_msg (_("demo: %s holds frames (%s); the demo writes its results there: give a new or "
                               "empty folder"), dir, first);
    }
  g_autofree char *session_dir = g_build_filename (dir, "session", NULL);
  g_autofree char *truth = g_build_filename (session_dir, "truth.json", NULL);
  GError *error = NULL;
  if (g_mkdir_with_parents (session_dir, 0755) != 0)
    return cli_fail_msg (_("demo: cannot create the folder %s"), session_dir);

  CliProgress prog;
  cli_progress_init (&prog);
  if (!g_file_test (truth, G_FILE_TEST_EXISTS))
    {
      TsrSynthParams p;
      tsr_synth_params_init (&p);
      p.n_frames = frames;
      p.width = 960;
      p.height = 640;
      p.cfa = TSR_CFA_GRBG;     /* like a smart telescope: raw Bayer frames */
      p.n_stars = 1500;
      p.shift_max = 20;
      p.rotation_max_deg = 1.0;
      p.n_mirrored = 1;
      p.n_noise = 1;
      p.n_trails = 2;
      printf (_("generating a demo session of %u frames in %s\n"), p.n_frames, session_dir);
      TsrSynthTruth *t = tsr_synth_write_session (&p, session_dir, cli_progress_cb, &prog, cli_cancellable (), &error);
      cli_progress_end (&prog);
      if (!t)
        return cli_fail (error);
      tsr_synth_truth_free (t);
    }
  const char *paths[] = { session_dir, NULL };
  g_autoptr (TsrSession) s = tsr_session_scan (paths, NULL, cli_cancellable (), &error);
  if (!s)
    return cli_fail (error);
  TsrProject params;
  tsr_project_init (&params);
  g_autoptr (TsrAnalysis) a = tsr_tbqr_analyse (s, &params.tbqr, &params.run, cli_progress_cb, &prog, cli_cancellable (), &error);
  g_autoptr (TsrWeights) w = a ? tsr_tbqr_weigh (a, &params.tbqr, &error) : NULL;
  TsrReconstruction *r = w ? tsr_tbqr_accumulate (a, w, &params.tbqr, &params.run, cli_progress_cb, &prog, cli_cancellable (), &error) : NULL;
  cli_progress_end (&prog);
  if (!r)
    return cli_fail (error);
  g_autofree char *out = g_build_filename (dir, "result.fits", NULL);
  g_autofree char *mean = g_build_filename (dir, "mean-stack.fits", NULL);
  g_autofree char *png = g_build_filename (dir, "result.png", NULL);
  g_autofree char *report = g_build_filename (dir, "report", NULL);
  gboolean ok = tsr_fits_write (out, r->result, NULL, &error) && tsr_fits_write (mean, r->mean, NULL, &error)
                && tsr_write_png_preview (r->result, png, 1600, &error)
                && tsr_report_write (report, a, w, r, &error);
  if (!ok)
    {
      tsr_reconstruction_free (r);
      return cli_fail (error);
    }
  const TsrValidation *v = &r->validation;
  printf (_("reconstructed %u frames (%u weighted, %u gated as invalid)\n"), tsr_session_n_frames (s), w->n_used,
          tsr_session_n_frames (s) - tsr_registration_n_valid (a->reg));
  printf (_("validation vs mean stack: FWHM %.2f → %.2f px, noise ratio %.3f, flux ratio %.4f\n"),
          v->fwhm_mean, v->fwhm_result, v->noise_ratio, v->flux_ratio);
  printf (_("wrote %s (linear float32 RGB), %s, %s (stretched preview) and %s/index.html\n"), out, mean, png, report);
  tsr_reconstruction_free (r);
  return 0;
}
