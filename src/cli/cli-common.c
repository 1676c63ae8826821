/* cli-common.c — shared pieces of tessera-cli's subcommands. */
#include "cli-common.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void
cli_progress_init (CliProgress *p)
{
  memset (p, 0, sizeof *p);
  p->tty = isatty (STDERR_FILENO) && !g_getenv ("TSR_NO_PROGRESS");
  p->started = g_get_monotonic_time ();
}

void
cli_progress_plan (CliProgress *p, const TsrEtaPhase *plan, guint n_plan, guint n_items)
{
  tsr_eta_init (&p->eta, plan, n_plan, n_items);
  p->planned = TRUE;
}

void
cli_progress_cb (const char *phase, guint done, guint total, gpointer user_data)
{
  CliProgress *p = user_data;
  if (!p || !p->tty)
    return;
  if (strcmp (phase, p->last_phase) != 0)
    {
      g_strlcpy (p->last_phase, phase, sizeof p->last_phase);
      p->started = g_get_monotonic_time ();
    }
  gint64 now = g_get_monotonic_time ();
  double el = (now - p->started) / 1e6;
  double eta = done > 0 && total > done ? el / done * (total - done) : 0;
  if (p->planned)
    {
      tsr_eta_update (&p->eta, phase, done, total, now);
      eta = tsr_eta_seconds_left (&p->eta);
    }
  fprintf (stderr, "\r\033[K%-14s %5u/%-5u  %5.1f s", phase, done, total, el);
  if (eta > 0 && p->planned)
    fprintf (stderr, _("  (%.0f s left in all, %.0f %% done)"), eta, 100 * tsr_eta_fraction (&p->eta));
  else if (eta > 0)
    fprintf (stderr, _("  (%.0f s left)"), eta);
  fflush (stderr);
}

void
cli_progress_end (CliProgress *p)
{
  if (p->tty && p->last_phase[0])
    {
      fprintf (stderr, "\r\033[K");
      fflush (stderr);
    }
}

static GCancellable *the_cancellable;
static volatile sig_atomic_t got_signal;

int
cli_fail (GError *error)
{
  /* a run stopped by a signal says which, and that it left nothing half-written (every
   * output goes to a temporary name and is renamed only when complete), instead of GIO's
   * bare "Operation was cancelled" */
  if (got_signal && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      const char *why = got_signal == SIGINT    ? _("interrupted (Ctrl+C)")
                        : got_signal == SIGHUP  ? _("the terminal was closed (SIGHUP)")
                                                : _("asked to stop (SIGTERM)");
      fprintf (stderr, _("tessera-cli: cancelled: %s; no output was left half-written\n"), why);
      g_error_free (error);
      return 1;
    }
  g_autofree char *msg = g_strdup (error ? error->message : _("unknown error"));
  /* one line */
  for (char *c = msg; *c; c++)
    if (*c == '\n')
      *c = ' ';
  fprintf (stderr, "tessera-cli: %s\n", msg);
  if (error)
    g_error_free (error);
  return 1;
}

int
cli_fail_msg (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *m = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  fprintf (stderr, "tessera-cli: %s\n", m);
  return 2;
}

gboolean
cli_parse (GOptionContext *ctx, int *argc, char ***argv, int *status)
{
  GError *e = NULL;
  if (!g_option_context_parse (ctx, argc, argv, &e))
    {
      *status = cli_fail_msg ("%s (see --help)", e->message);
      g_error_free (e);
      return FALSE;
    }
  return TRUE;
}

/* Scan the session; folders that hold no frames themselves but whose subfolders do (a
 * session of several nights, one folder each) are opened with their subfolders, as the
 * window does, and the note says so. */
TsrSession *
cli_scan_paths (const char *const *paths, gboolean recursive, GError **error)
{
  TsrScanOptions opt = { .recursive = recursive };
  GError *e = NULL;
  TsrSession *s = tsr_session_scan (paths, &opt, cli_cancellable (), &e);
  if (!s && !recursive && g_error_matches (e, TSR_ERROR, TSR_ERROR_EMPTY))
    {
      gboolean folders = paths[0] != NULL;
      for (int i = 0; paths[i]; i++)
        folders &= g_file_test (paths[i], G_FILE_TEST_IS_DIR);
      TsrScanOptions rec = { .recursive = TRUE };
      GError *e2 = NULL;
      TsrSession *s2 = folders ? tsr_session_scan (paths, &rec, cli_cancellable (), &e2) : NULL;
      if (s2)
        {
          fprintf (stderr,
                   ngettext ("tessera-cli: note: %s holds no frames itself; using the %u frame of its "
                             "subfolders (as --recursive does)\n",
                             "tessera-cli: note: %s holds no frames itself; using the %u frames of its "
                             "subfolders (as --recursive does)\n",
                             tsr_session_n_frames (s2)),
                   paths[0], tsr_session_n_frames (s2));
          g_clear_error (&e);
          s = s2;
        }
      else if (e2 && !g_error_matches (e2, TSR_ERROR, TSR_ERROR_EMPTY))
        {
          /* the subfolders' frames are the session the user meant: their error is the one
           * to report (mixed sizes, a broken file) */
          g_clear_error (&e);
          e = e2;
          e2 = NULL;
        }
      g_clear_error (&e2);
    }
  if (e)
    g_propagate_error (error, e);
  if (s && s->duplicates->len)
    fprintf (stderr,
             ngettext ("tessera-cli: note: left out %u file that repeats a frame of the session (%s)\n",
                       "tessera-cli: note: left out %u files that repeat frames of the session (first: %s)\n",
                       s->duplicates->len),
             s->duplicates->len, (const char *) s->duplicates->pdata[0]);
  return s;
}

TsrSession *
cli_scan (int argc, char **argv, gboolean recursive, GError **error)
{
  g_autoptr (GPtrArray) paths = g_ptr_array_new ();
  for (int i = 1; i < argc; i++)
    g_ptr_array_add (paths, argv[i]);
  g_ptr_array_add (paths, NULL);
  return cli_scan_paths ((const char *const *) paths->pdata, recursive, error);
}

gboolean
cli_same_file (const char *a, const char *b)
{
  GStatBuf sa, sb;
  if (g_stat (a, &sa) != 0 || g_stat (b, &sb) != 0)
    return FALSE;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

gboolean
cli_check_distinct (const char *command, guint n, const char *const *options, const char *const *paths,
                    GError **error)
{
  for (guint i = 0; i < n; i++)
    for (guint j = i + 1; paths[i] && j < n; j++)
      if (paths[j] && tsr_output_same (paths[i], paths[j]))
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                       _("%s: %s %s and %s %s name the same file; give each output its own name"), command,
                       options[i], paths[i], options[j], paths[j]);
          return FALSE;
        }
  return TRUE;
}

static TsrCalib *calib_pending;

/* Is path one of the calibration frames or masters planned for this run? */
static const char *
calib_input_same (const char *path, gboolean folder)
{
  if (!calib_pending)
    return NULL;
  g_autoptr (GPtrArray) files = tsr_calib_input_files (calib_pending);
  for (guint i = 0; i < files->len; i++)
    {
      g_autofree char *dir = folder ? g_path_get_dirname (files->pdata[i]) : NULL;
      if (folder ? cli_same_file (path, dir) : tsr_output_same (path, files->pdata[i]))
        {
          static char name[4096];
          g_strlcpy (name, files->pdata[i], sizeof name);
          return name;
        }
    }
  return NULL;
}

gboolean
cli_check_output (const char *out, TsrSession *s, GError **error)
{
  /* refused at once (a folder, device, FIFO, link loop, empty name), not after the run */
  g_autofree char *target = tsr_output_target (out, error);
  if (!target)
    return FALSE;
  if (s)
    for (guint i = 0; i < tsr_session_n_frames (s); i++)
      if (tsr_output_same (out, tsr_session_frame (s, i)->path))
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                       _("%s: the output would overwrite one of the input frames; choose another name"), out);
          return FALSE;
        }
  if (calib_input_same (out, FALSE))
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("%s: the output would overwrite one of the input frames; choose another name"), out);
      return FALSE;
    }
  if (g_file_test (out, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, _("%s: is a folder, expected a file name"), out);
      return FALSE;
    }
  g_autofree char *dir = g_path_get_dirname (target);
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("%s: the output folder %s does not exist"), out, dir);
      return FALSE;
    }
  if (g_access (dir, W_OK) != 0)
    {
      int e = errno;
      g_set_error (error, TSR_ERROR, TSR_ERROR_IO, _("%s: cannot write into %s: %s"), out, dir, g_strerror (e));
      return FALSE;
    }
  g_autofree char *base = g_path_get_basename (target);
  if (s && s->root && tsr_is_frame_name (base))
    {
      /* an image written among the session's frames is one of them at the next scan of the
       * folder (stacked again, or "mixed image sizes") */
      g_autofree char *cdir = g_canonicalize_filename (dir, NULL);
      g_autofree char *croot = g_canonicalize_filename (s->root, NULL);
      if (g_strcmp0 (cdir, croot) == 0)
        fprintf (stderr, _("tessera-cli: note: %s is written into the session folder %s: the next run on that "
                           "folder takes it as a frame (write results elsewhere)\n"), out, s->root);
    }
  return TRUE;
}

gboolean
cli_check_output_dir (const char *dir, TsrSession *s, GError **error)
{
  if (g_file_test (dir, G_FILE_TEST_EXISTS) && !g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, _("%s: is a file, expected a folder"), dir);
      return FALSE;
    }
  const char *cf = calib_input_same (dir, TRUE);
  if (cf)
    {
      g_autofree char *base = g_path_get_basename (cf);
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG, _("%s: holds input frames (%s); write into another folder"),
                   dir, base);
      return FALSE;
    }
  for (guint i = 0; s && i < tsr_session_n_frames (s); i++)
    {
      g_autofree char *fdir = g_path_get_dirname (tsr_session_frame (s, i)->path);
      if (cli_same_file (dir, fdir))
        {
          g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                       _("%s: holds input frames (%s); write into another folder"), dir,
                       tsr_session_frame (s, i)->name);
          return FALSE;
        }
    }
  return TRUE;
}

static void
signal_handler (int sig)
{
  got_signal = sig;
  signal (sig, SIG_DFL); /* a second Ctrl+C kills at once */
}

/* Signal handlers may not take locks: a watcher thread turns the flag into a cancel. */
static gpointer
signal_watcher (gpointer data)
{
  for (;;)
    {
      if (got_signal)
        {
          g_cancellable_cancel (the_cancellable);
          return NULL;
        }
      g_usleep (50000);
    }
}

GCancellable *
cli_cancellable (void)
{
  if (!the_cancellable)
    {
      the_cancellable = g_cancellable_new ();
      signal (SIGINT, signal_handler);
      signal (SIGTERM, signal_handler);
      signal (SIGHUP, signal_handler);   /* the terminal closed: cancel and clean up like Ctrl+C */
      g_thread_unref (g_thread_new ("tsr-signals", signal_watcher, NULL));
    }
  return the_cancellable;
}

gboolean
cli_commit_finish (TsrCommit *commit, gboolean ok, GError **error)
{
  if (ok && g_cancellable_set_error_if_cancelled (cli_cancellable (), error))
    ok = FALSE;
  if (ok)
    ok = tsr_commit_apply (commit, error);
  if (!ok && error && *error)
    tsr_commit_explain (commit, *error);
  return ok;
}

int
cli_params_and_session (const char *command, const char *config, char **sets,
                        int argc, char **argv, gboolean recursive,
                        TsrProject *p, TsrSession **session_out, TsrFrameChoices *frames)
{
  GError *error = NULL;
  g_auto (GStrv) project_paths = NULL;
  char *calib_paths[TSR_CALIB_N_KINDS + 1] = { NULL };

  *session_out = NULL;
  tsr_project_init (p);
  if (config)
    {
      g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
      g_auto (TsrFrameChoices) choices = { NULL, NULL };
      if (!tsr_project_load_full (config, p, &project_paths, &choices, calib_paths, warnings, &error))
        return cli_fail (error);
      if (!frames && (choices.include || choices.exclude))
        /* TRANSLATORS: %s is the subcommand (deconv, restore) */
        fprintf (stderr, _("%s: the project's frame choices ([frames] include/exclude) are not applied by this "
                           "command; it uses the gate alone\n"), command);
      else if (frames)
        {
          tsr_frame_choices_clear (frames);
          *frames = choices;
          choices.include = choices.exclude = NULL;
        }
      if (warnings->len > 0)
        {
          g_autofree char *w0 = g_strdup (warnings->pdata[0]);
          if (g_str_has_suffix (w0, " (ignored)"))
            w0[strlen (w0) - strlen (" (ignored)")] = '\0';
          /* TRANSLATORS: the first %s is the subcommand (process, deconv) */
          return cli_fail_msg (_("%s: %s; fix or remove it"), command, w0);
        }
    }
  for (int i = 0; sets && sets[i]; i++)
    if (!tsr_project_set_assignment (p, sets[i], &error))
      return cli_fail (error);
  if (!tsr_project_validate (p, &error))
    return cli_fail (error);

  TsrSession *s = NULL;
  if (argc >= 2)
    s = cli_scan (argc, argv, recursive, &error);
  else if (project_paths && project_paths[0])
    {
      s = cli_scan_paths ((const char *const *) project_paths, recursive, &error);
    }
  else
    /* TRANSLATORS: %s is the subcommand (process, deconv) */
    return cli_fail_msg (_("%s: name a session folder or FITS files, or a project with --config (see --help)"),
                         command);
  if (!s)
    {
      for (guint k = 0; k < TSR_CALIB_N_KINDS; k++)
        g_free (calib_paths[k]);
      return cli_fail (error);
    }
  int rc = cli_calib_plan (s, &p->calib, calib_paths);
  for (guint k = 0; k < TSR_CALIB_N_KINDS; k++)
    g_free (calib_paths[k]);
  if (rc != 0)
    {
      tsr_session_unref (s);
      return rc;
    }
  *session_out = s;
  return 0;
}

/* ---------------------------------------------------------------------------------------
 * Calibration options
 */

static char *calib_options[TSR_CALIB_N_KINDS];

static const GOptionEntry calib_entries[] = {
  { "bias", 0, 0, G_OPTION_ARG_FILENAME, &calib_options[TSR_CALIB_BIAS],
    N_("Calibration: a folder of bias frames, or a master bias"), N_("DIR|FILE") },
  { "darks", 0, 0, G_OPTION_ARG_FILENAME, &calib_options[TSR_CALIB_DARK],
    N_("Calibration: a folder of dark frames, or a master dark (scaled by exposure when a bias is given)"),
    N_("DIR|FILE") },
  { "flats", 0, 0, G_OPTION_ARG_FILENAME, &calib_options[TSR_CALIB_FLAT],
    N_("Calibration: a folder of flat frames, or a master flat"), N_("DIR|FILE") },
  { "dark-flats", 0, 0, G_OPTION_ARG_FILENAME, &calib_options[TSR_CALIB_DARK_FLAT],
    N_("Calibration: a folder of dark-flat frames, or a master dark-flat (subtracted from the flats)"),
    N_("DIR|FILE") },
  { NULL }
};

void
cli_calib_add_options (GOptionContext *ctx)
{
  g_option_context_add_main_entries (ctx, calib_entries, GETTEXT_PACKAGE);
}

gboolean
cli_calib_requested (void)
{
  for (guint k = 0; k < TSR_CALIB_N_KINDS; k++)
    if (calib_options[k])
      return TRUE;
  return FALSE;
}

const char *
cli_calib_option (TsrCalibKind k)
{
  return (guint) k < TSR_CALIB_N_KINDS ? calib_options[k] : NULL;
}

int
cli_calib_plan (TsrSession *s, const TsrCalibParams *p, char *const *project_paths)
{
  const char *paths[TSR_CALIB_N_KINDS];
  for (guint k = 0; k < TSR_CALIB_N_KINDS; k++)
    paths[k] = calib_options[k] ? calib_options[k] : project_paths ? project_paths[k] : NULL;
  GError *error = NULL;
  TsrCalib *c = tsr_calib_plan (paths, s, p, cli_cancellable (), &error);
  if (!c)
    return cli_fail (error);
  g_clear_pointer (&calib_pending, tsr_calib_free);
  if (tsr_calib_is_empty (c))
    tsr_calib_free (c);
  else
    calib_pending = c;
  return 0;
}

int
cli_calib_apply (TsrSession *s, const TsrRunParams *run)
{
  if (!calib_pending)
    return 0;
  TsrCalib *c = g_steal_pointer (&calib_pending);
  CliProgress prog;
  cli_progress_init (&prog);
  GError *error = NULL;
  gboolean ok = tsr_calib_build (c, run, cli_progress_cb, &prog, cli_cancellable (), &error);
  cli_progress_end (&prog);
  if (!ok)
    {
      tsr_calib_free (c);
      return cli_fail (error);
    }
  const GPtrArray *notes = tsr_calib_notes (c);
  for (guint i = 0; i < notes->len; i++)
    fprintf (stderr, _("tessera-cli: note: %s\n"), (const char *) notes->pdata[i]);
  tsr_calib_attach (c, s);
  return 0;
}

gboolean
cli_preview_check (const char *command, const char *preview, const char *in, const char *out, TsrSession *s,
                   GError **error)
{
  if (!preview)
    return TRUE;
  if (in && (cli_same_file (in, preview) || g_strcmp0 (in, preview) == 0))
    {
      /* TRANSLATORS: %s: the subcommand, then the input file */
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("%s: the preview would overwrite the input %s; choose another name"), command, in);
      return FALSE;
    }
  const char *opts[] = { "-o", "--preview" };
  const char *paths[] = { out, preview };
  return cli_check_distinct (command, 2, opts, paths, error) && cli_check_preview_name (command, preview, error)
         && cli_check_output (preview, s, error);
}

gboolean
cli_check_preview_name (const char *command, const char *preview, GError **error)
{
  /* the preview is always a PNG: under a .tif/.jpg/.fits name it would be a PNG that the name
   * misrepresents */
  if (!preview)
    return TRUE;
  g_autofree char *low = g_ascii_strdown (preview, -1);
  if (g_str_has_suffix (low, ".png"))
    return TRUE;
  /* TRANSLATORS: %s: the subcommand, then the file name */
  g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
               _("%s: --preview %s: the preview is a PNG image; name it .png"), command, preview);
  return FALSE;
}

gboolean
cli_write_result (const TsrImage *img, const char *out, gboolean planetary_types, const char *preview,
                  GError **error)
{
  g_autoptr (TsrCommit) commit = tsr_commit_new ();
  const char *st = tsr_commit_stage_file (commit, out, error);
  gboolean ok = st && (planetary_types ? tsr_planetary_write_image_as (img, st, out, error)
                                       : cli_write_image (st, out, img, error));
  if (ok && preview)
    ok = (st = tsr_commit_stage_file (commit, preview, error)) && tsr_write_png_preview (img, st, 1600, error);
  return cli_commit_finish (commit, ok, error);
}

static gboolean
name_has_suffix (const char *name, const char *const *suffixes)
{
  g_autofree char *low = g_ascii_strdown (name, -1);
  for (int i = 0; suffixes[i]; i++)
    if (g_str_has_suffix (low, suffixes[i]))
      return TRUE;
  return FALSE;
}

static const char *const tiff_suffixes[] = { ".tif", ".tiff", NULL };

gboolean
cli_check_image_name (const char *command, const char *option, const char *name, GError **error)
{
  static const char *const other[] = { ".png", ".jpg", ".jpeg", ".ser", ".bmp", ".webp",
                                       ".gif", ".avi", ".mp4", ".mkv", NULL };
  static const char *const compressed[] = { ".gz", ".bz2", ".xz", ".zip", ".zst", NULL };
  if (name && name_has_suffix (name, compressed))
    {
      /* it would be an uncompressed FITS under a compressed name, which no session scan reads */
      /* TRANSLATORS: %s: the subcommand, the option (-o, --mean-stack), the file name */
      g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
                   _("%s: %s %s: compressed images are not written; name it .fits (fpack can "
                     "tile-compress it to .fz, which Tessera reads)"),
                   command, option, name);
      return FALSE;
    }
  if (!name || !name_has_suffix (name, other))
    return TRUE;
  /* TRANSLATORS: %s: the subcommand, the option (-o, --mean-stack), the file name */
  g_set_error (error, TSR_ERROR, TSR_ERROR_INVALID_ARG,
               _("%s: %s %s: the image is written as FITS (.fits), XISF (.xisf) or a 32-bit float TIFF "
                 "(.tif); for a stretched PNG use --preview"),
               command, option, name);
  return FALSE;
}

gboolean
cli_write_image (const char *path, const char *name, const TsrImage *img, GError **error)
{
  static const char *const xisf_suffixes[] = { ".xisf", NULL };
  if (name_has_suffix (name, tiff_suffixes))
    return tsr_tiff_write (path, img, TSR_TIFF_FLOAT32, error);
  if (name_has_suffix (name, xisf_suffixes))
    return tsr_xisf_write (path, img, error);
  return tsr_fits_write (path, img, NULL, error);
}

TsrImage *
cli_read_linear (const char *path, GError **error)
{
  guint8 magic[8] = { 0 };
  FILE *fp = g_fopen (path, "rb");
  size_t n = fp ? fread (magic, 1, sizeof magic, fp) : 0;
  if (fp)
    fclose (fp);
  gboolean tiff = n >= 4 && ((magic[0] == 'I' && magic[1] == 'I' && magic[2] == 42 && magic[3] == 0)
                             || (magic[0] == 'M' && magic[1] == 'M' && magic[2] == 0 && magic[3] == 42));
  if (n == 8 && memcmp (magic, "XISF0100", 8) == 0)
    return tsr_xisf_read (path, error);
  return tiff ? tsr_image_tiff_read (path, error) : tsr_fits_read (path, error);
}
