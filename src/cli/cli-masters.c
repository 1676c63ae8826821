/* tessera-cli masters --bias DIR --darks DIR --flats DIR --dark-flats DIR -o OUTDIR — build the
 * calibration masters alone and write them as FITS (issue #18, docs/calibration.md). */
#include "cli-common.h"

#include <stdio.h>

int
cli_masters (int argc, char **argv)
{
  char *out = NULL;
  char **sets = NULL;
  GOptionEntry entries[] = {
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, N_("Existing folder the masters are written into (master-bias.fits, master-dark.fits, master-flat.fits, master-dark-flat.fits)"), N_("DIR") },
    { "set", 's', 0, G_OPTION_ARG_STRING_ARRAY, &sets, N_("Set a calibration parameter, e.g. --set calib.kappa=3 (repeatable)"), N_("KEY=VALUE") },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (_("— build calibration masters from folders of bias, dark, flat and dark-flat frames"));
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  cli_calib_add_options (ctx);
  int status = 0;
  if (!cli_parse (ctx, &argc, &argv, &status))
    return status;
  g_autofree char *out_o = out;
  g_auto (GStrv) sets_o = sets;
  if (argc > 1)
    return cli_fail_msg (_("masters: unexpected argument '%s': give the frames with --bias, --darks, --flats, --dark-flats"),
                         argv[1]);
  if (!out)
    return cli_fail_msg (_("masters: the output folder is missing (-o DIR)"));
  if (!cli_calib_requested ())
    return cli_fail_msg (_("masters: nothing to build: give --bias, --darks, --flats or --dark-flats"));
  if (!g_file_test (out, G_FILE_TEST_IS_DIR))
    return cli_fail_msg (_("masters: %s: not an existing folder"), out);

  GError *error = NULL;
  TsrProject p;
  tsr_project_init (&p);
  for (int i = 0; sets && sets[i]; i++)
    if (!tsr_project_set_assignment (&p, sets[i], &error))
      return cli_fail (error);
  const char *paths[TSR_CALIB_N_KINDS];
  g_autoptr (GPtrArray) target_list = g_ptr_array_new_full (TSR_CALIB_N_KINDS, g_free);
  g_ptr_array_set_size (target_list, TSR_CALIB_N_KINDS);
  char **targets = (char **) target_list->pdata;
  for (guint k = 0; k < TSR_CALIB_N_KINDS; k++)
    {
      paths[k] = cli_calib_option (k);
      if (!paths[k])
        continue;
      /* the masters may not land in a folder of frames (they would join them at the next run),
       * nor replace a master given as input */
      if (g_file_test (paths[k], G_FILE_TEST_IS_DIR) && cli_same_file (out, paths[k]))
        return cli_fail_msg (_("masters: %s: holds the frames of %s; write the masters into another folder"), out,
                             paths[k]);
      targets[k] = g_build_filename (out, tsr_calib_master_file_name (k), NULL);
      for (guint j = 0; j < TSR_CALIB_N_KINDS; j++)
        if (cli_calib_option (j) && tsr_output_same (targets[k], cli_calib_option (j)))
          return cli_fail_msg (_("masters: %s: would replace the input %s; write the masters into another folder"),
                               targets[k], cli_calib_option (j));
      if (!cli_check_output (targets[k], NULL, &error))
        return cli_fail (error);
    }

  g_autoptr (TsrCalib) c = tsr_calib_plan (paths, NULL, &p.calib, cli_cancellable (), &error);
  if (!c)
    return cli_fail (error);
  CliProgress prog;
  cli_progress_init (&prog);
  gboolean ok = tsr_calib_build (c, &p.run, cli_progress_cb, &prog, cli_cancellable (), &error);
  cli_progress_end (&prog);
  if (!ok)
    return cli_fail (error);
  const GPtrArray *notes = tsr_calib_notes (c);
  for (guint i = 0; i < notes->len; i++)
    fprintf (stderr, _("tessera-cli: note: %s\n"), (const char *) notes->pdata[i]);

  /* every master staged, then all renamed onto their names together (or none is) */
  g_autoptr (TsrCommit) commit = tsr_commit_new ();
  for (guint k = 0; ok && k < TSR_CALIB_N_KINDS; k++)
    {
      if (!paths[k] || !g_file_test (paths[k], G_FILE_TEST_IS_DIR))
        continue; /* a master given as a file is used as it is, not rewritten */
      const char *st = tsr_commit_stage_file (commit, targets[k], &error);
      ok = st && tsr_fits_write (st, tsr_calib_master (c, k), NULL, &error);
    }
  if (!cli_commit_finish (commit, ok, &error))
    return cli_fail (error);
  for (guint k = 0; k < TSR_CALIB_N_KINDS; k++)
    {
      if (!paths[k] || !g_file_test (paths[k], G_FILE_TEST_IS_DIR))
        continue;
      TsrImage *m = tsr_calib_master (c, k);
      gint64 nc = 0;
      tsr_header_get_int (m->header, "NCOMBINE", &nc);
      g_autofree char *meth = tsr_header_get_string (m->header, "CALMETH");
      printf (_("master %s: %u frames, %s → %s\n"), tsr_calib_kind_name (k), (guint) nc, meth ? meth : "-",
              targets[k]);
    }
  guint built = 0;
  for (guint k = 0; k < TSR_CALIB_N_KINDS; k++)
    built += paths[k] && g_file_test (paths[k], G_FILE_TEST_IS_DIR);
  if (built == 0)
    printf (_("nothing written: every input is a master already\n"));
  if (tsr_calib_n_bad_pixels (c) > 0)
    {
      unsigned long nb = (unsigned long) tsr_calib_n_bad_pixels (c);
      printf (ngettext ("hot/cold pixel map of the master dark: %lu pixel\n",
                        "hot/cold pixel map of the master dark: %lu pixels\n", nb), nb);
    }
  return 0;
}
