/* tessera-cli register SESSION --json OUT.json … — registration with the validity gate. */
#include "cli-common.h"

#include <math.h>
#include <stdio.h>

int
cli_register (int argc, char **argv)
{
  char *json = NULL, *model = NULL, *write_dir = NULL, *interp = NULL;
  int reference = -1;
  gboolean recursive = FALSE, quiet = FALSE;
  TsrRegisterParams p;
  tsr_register_params_init (&p);
  double cc_min = p.reject_cc_min_abs, cc_mad = p.reject_cc_mad_multiplier;
  double smin = p.reject_scale_min, smax = p.reject_scale_max;
  double shift_min = p.reject_shift_px_min, shift_mult = p.reject_shift_median_multiplier;
  GOptionEntry entries[] = {
    { "json", 'j', 0, G_OPTION_ARG_FILENAME, &json, N_("Write the registration table as JSON"), N_("OUT.json") },
    { "reference", 0, 0, G_OPTION_ARG_INT, &reference, N_("Reference frame index (0-based, time order); default: best frame near the middle"), "N" },
    { "model", 0, 0, G_OPTION_ARG_STRING, &model, N_("similarity (default), affine or homography"), N_("MODEL") },
    { "write-registered", 0, 0, G_OPTION_ARG_FILENAME, &write_dir, N_("Write every valid frame warped to the reference into DIR"), N_("DIR") },
    { "interp", 0, 0, G_OPTION_ARG_STRING, &interp, N_("Warp kernel: lanczos3 (default), bicubic, bilinear"), N_("KERNEL") },
    { "cc-min", 0, 0, G_OPTION_ARG_DOUBLE, &cc_min, N_("Gate: absolute minimum registration correlation (0.35)"), "CC" },
    { "cc-mad", 0, 0, G_OPTION_ARG_DOUBLE, &cc_mad, N_("Gate: CC below median − K·MAD is gated (4)"), "K" },
    { "scale-min", 0, 0, G_OPTION_ARG_DOUBLE, &smin, N_("Gate: smallest accepted scale (0.92)"), "S" },
    { "scale-max", 0, 0, G_OPTION_ARG_DOUBLE, &smax, N_("Gate: largest accepted scale (1.08)"), "S" },
    { "shift-min", 0, 0, G_OPTION_ARG_DOUBLE, &shift_min, N_("Gate: shift outliers beyond max(PX, M·median) (25)"), "PX" },
    { "shift-mult", 0, 0, G_OPTION_ARG_DOUBLE, &shift_mult, N_("Gate: the M of --shift-min (3)"), "M" },
    { "recursive", 'r', 0, G_OPTION_ARG_NONE, &recursive, N_("Include subfolders"), NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, N_("Do not print the table"), NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (_("SESSION… — register frames to a reference and gate invalid ones"));
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  cli_calib_add_options (ctx);
  g_option_context_set_description (ctx,
      _("The JSON's \"matrix\" maps a pixel of the reference frame to the same sky position in "
        "the frame (0-based pixel centres, x = column, y = row)."));
  int status = 0;
  if (!cli_parse (ctx, &argc, &argv, &status))
    return status;
  g_autofree char *json_o = json, *model_o = model, *dir_o = write_dir, *interp_o = interp;
  if (argc < 2)
    return cli_fail_msg (_("register: name a session folder or FITS files (see --help)"));
  if (model && !tsr_model_from_name (model, &p.model))
    return cli_fail_msg (_("register: unknown model '%s' (similarity, affine, homography)"), model);
  if (interp && !tsr_interp_from_name (interp, &p.interp))
    return cli_fail_msg (_("register: unknown kernel '%s' (lanczos3, bicubic, bilinear)"), interp);
  /* each option in the range of the project key it stands for (finite: no inf, no nan) */
  const struct { const char *option, *key; double value; } ranged[] = {
    { "--reference", "register.reference", reference }, { "--cc-min", "gate.cc_min", cc_min },
    { "--cc-mad", "gate.cc_mad", cc_mad }, { "--scale-min", "gate.scale_min", smin },
    { "--scale-max", "gate.scale_max", smax }, { "--shift-min", "gate.shift_min", shift_min },
    { "--shift-mult", "gate.shift_mult", shift_mult },
  };
  for (guint i = 0; i < G_N_ELEMENTS (ranged); i++)
    {
      const TsrParamSpec *spec = tsr_project_find (ranged[i].key);
      if (!(isfinite (ranged[i].value) && ranged[i].value >= spec->min && ranged[i].value <= spec->max))
        {
          g_autofree char *range = tsr_key_range_string (spec);
          return cli_fail_msg (_("register: %s %g is out of range (allowed %s, as %s)"), ranged[i].option,
                               ranged[i].value, range, ranged[i].key);
        }
    }
  p.reference = reference;
  p.reject_cc_min_abs = cc_min;
  p.reject_cc_mad_multiplier = cc_mad;
  p.reject_scale_min = smin;
  p.reject_scale_max = smax;
  p.reject_shift_px_min = shift_min;
  p.reject_shift_median_multiplier = shift_mult;

  GError *error = NULL;
  g_autoptr (TsrSession) s = cli_scan (argc, argv, recursive, &error);
  if (!s)
    return cli_fail (error);
  int rc;
  if ((rc = cli_calib_plan (s, NULL, NULL)) != 0)
    return rc;
  if (reference >= (int) tsr_session_n_frames (s))
    return cli_fail_msg (_("register: --reference %d does not exist (the session has frames 0…%u)"),
                         reference, tsr_session_n_frames (s) - 1);
  if (json && !cli_check_output (json, s, &error))
    return cli_fail (error);
  if (write_dir && (!cli_check_output_dir (write_dir, s, &error)
                    || !tsr_output_dir_check (write_dir, TSR_REGISTERED_MARKER, &error)))
    return cli_fail (error);
  {
    const char *opts[] = { "--json", "--write-registered" };
    const char *paths[] = { json, write_dir };
    if (!cli_check_distinct ("register", G_N_ELEMENTS (paths), opts, paths, &error))
      return cli_fail (error);
  }

  TsrRunParams run;
  tsr_run_params_init (&run);
  if ((rc = cli_calib_apply (s, &run)) != 0)
    return rc;
  CliProgress prog;
  cli_progress_init (&prog);
  g_autoptr (TsrRegistration) r = tsr_register_session (s, &p, cli_progress_cb, &prog, cli_cancellable (), &error);
  cli_progress_end (&prog);
  if (!r)
    return cli_fail (error);

  if (!quiet)
    {
      printf ("%-4s %-40s %-9s %6s %6s %7s %7s %6s %6s %s\n", "#", _("file"), _("method"), _("stars"),
              _("match"), _("rms px"), _("cc"), _("fwhm"), _("round"), _("gate"));
      for (guint i = 0; i < r->n_frames; i++)
        {
          const TsrFrameReg *fr = &r->frames[i];
          g_autofree char *why = tsr_gate_reasons_string (fr->gate);
          printf ("%-4u %-40.40s %-9s %6u %6u %7.3f %7.3f %6.2f %6.2f %s%s\n", i,
                  tsr_session_frame (s, i)->name, fr->method, fr->n_stars, fr->n_matched, fr->rms_px,
                  fr->cc, fr->fwhm, fr->roundness, fr->gate ? _("GATED: ") : (i == r->reference ? _("reference") : _("ok")),
                  why);
        }
      printf (_("%u of %u frames valid; reference %u; CC threshold %.3f; shift threshold %.1f px\n"),
              tsr_registration_n_valid (r), r->n_frames, r->reference, r->cc_threshold, r->shift_threshold);
    }
  if (tsr_registration_n_valid (r) < 2)
    {
      /* Nothing but the reference: no registration to write (the table above says why). */
      if (r->n_frames < 2)
        return cli_fail_msg (_("register: %s: a session needs at least two frames (it has one)"),
                             tsr_session_frame (s, 0)->path);
      return cli_fail_msg (_("register: %s: every frame but the reference %s was gated (%u of %u)"),
                           s->root ? s->root : tsr_session_frame (s, 0)->path,
                           tsr_session_frame (s, r->reference)->name, r->n_frames - 1, r->n_frames);
    }
  /* the JSON and the folder of registered frames are committed together (or neither is) */
  g_autoptr (TsrCommit) commit = tsr_commit_new ();
  g_autofree char *text = tsr_registration_to_json (r);
  gboolean ok = TRUE;
  if (json)
    {
      const char *st = tsr_commit_stage_file (commit, json, &error);
      ok = st && tsr_write_file_atomic (st, text, -1, &error);
    }
  if (ok && write_dir)
    {
      const char *wd = tsr_commit_stage_dir (commit, write_dir, TSR_REGISTERED_MARKER, &error);
      cli_progress_init (&prog);
      ok = wd && tsr_registration_write_frames (r, wd, cli_progress_cb, &prog, cli_cancellable (), &error);
      cli_progress_end (&prog);
      if (ok)
        {
          g_autofree char *marker = g_build_filename (wd, TSR_REGISTERED_MARKER, NULL);
          ok = tsr_write_file_atomic (marker, text, -1, &error);
        }
    }
  if (!cli_commit_finish (commit, ok, &error))
    return cli_fail (error);
  return 0;
}
