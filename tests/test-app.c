/* test-app.c — the desktop window, driven through its main loop (suite 'app').
 *
 * Skipped when no display can be opened (run under xvfb-run, GSK_RENDERER=cairo).
 * With TSR_APP_SHOT_DIR set, also writes window snapshots (analysed.png, result.png).
 * Settings go to GSettings' memory backend (nothing of the user's is touched). Prints the
 * live re-weigh and preview times and the worst main-loop stall seen during the jobs (no
 * timing assertions). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include "tsr-test-util.h"
#include "tsr-window.h"
#include "tsr-image-view.h"
#include "tsr-application.h"
#include "tsr-shortcuts.h"
#include "tsr-frame-table.h"
#include "tsr-stretch-bar.h"
#include "tsr-calib-panel.h"
#include "tsr-window-planetary.h"

static gboolean have_display;
static TsrImage *view_image (TsrWindow *win);

static gboolean
wake (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

typedef gboolean (*Pred) (TsrWindow *win);

/* Iterate the main context until pred holds or timeout_s passes. */
static gboolean
iterate_until (TsrWindow *win, Pred pred, double timeout_s)
{
  guint tick = g_timeout_add (20, wake, NULL);
  gint64 end = g_get_monotonic_time () + (gint64) (timeout_s * 1e6);
  gboolean ok;
  while (!(ok = pred (win)) && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
  return ok;
}

static gboolean
not_busy (TsrWindow *win)
{
  return !tsr_window_is_busy (win);
}

static gboolean
run_progressed (TsrWindow *win)
{
  guint done, total;
  tsr_window_get_progress (win, &done, &total);
  return tsr_window_get_job (win) != TSR_JOB_RUN || (total > 0 && done >= 1);
}

static gboolean
analysing (TsrWindow *win)
{
  return tsr_window_get_job (win) == TSR_JOB_ANALYSE;
}

static gboolean
deconv_progressed (TsrWindow *win)
{
  return tsr_window_get_job (win) != TSR_JOB_DECONV || tsr_window_get_deconv_iteration (win) >= 1;
}

/* Restore: stop at the first snapshot of the latent shown while the job runs (recorded),
 * or when the job is over */
static gboolean live_seen_in_job, live_finite, live_positive;
static guint live_step;
static int live_w, live_h;

static gboolean
restore_live_or_done (TsrWindow *win)
{
  live_seen_in_job = FALSE;
  if (tsr_window_get_job (win) != TSR_JOB_RESTORE)
    return TRUE;
  const TsrImage *live = tsr_window_get_restore_live (win, &live_step);
  if (!live || tsr_window_get_show (win) != TSR_SHOW_RESTORED
      || tsr_image_view_get_image (tsr_window_get_image_view (win)) != live)
    return FALSE;
  live_seen_in_job = TRUE;
  live_w = live->width;
  live_h = live->height;
  live_finite = TRUE;
  live_positive = FALSE;
  for (gsize k = 0; k < tsr_image_npix (live); k++)
    {
      live_finite = live_finite && isfinite (live->data[k]);
      live_positive = live_positive || live->data[k] > 0;
    }
  return TRUE;
}

static void
iterate_for (double seconds)
{
  guint tick = g_timeout_add (20, wake, NULL);
  gint64 end = g_get_monotonic_time () + (gint64) (seconds * 1e6);
  while (g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
}

static void
snapshot_window (TsrWindow *win, const char *name)
{
  const char *dir = g_getenv ("TSR_APP_SHOT_DIR");
  if (!dir)
    return;
  iterate_for (0.5);
  int w = gtk_widget_get_width (GTK_WIDGET (win)), h = gtk_widget_get_height (GTK_WIDGET (win));
  GdkPaintable *paintable = gtk_widget_paintable_new (GTK_WIDGET (win));
  GtkSnapshot *snap = gtk_snapshot_new ();
  gdk_paintable_snapshot (paintable, snap, w, h);
  GskRenderNode *node = gtk_snapshot_free_to_node (snap);
  if (node)
    {
      GskRenderer *renderer = gtk_native_get_renderer (GTK_NATIVE (win));
      GdkTexture *tex = gsk_renderer_render_texture (renderer, node, &GRAPHENE_RECT_INIT (0, 0, w, h));
      g_autofree char *path = g_build_filename (dir, name, NULL);
      gdk_texture_save_to_png (tex, path);
      g_object_unref (tex);
      gsk_render_node_unref (node);
    }
  g_object_unref (paintable);
  if (g_getenv ("TSR_APP_IMPORT"))
    {
      /* also the X screen as it is (ImageMagick's import): what a user sees */
      g_autofree char *root = g_strdup_printf ("%s/root-%s", dir, name);
      g_autofree char *cmd = g_strdup_printf ("import -window root '%s'", root);
      g_spawn_command_line_sync (cmd, NULL, NULL, NULL, NULL);
    }
}

/* FALSE, the test skipped, when no display can be opened. */
static gboolean
need_display (void)
{
  if (!have_display)
    g_test_skip ("no display (run under xvfb-run)");
  return have_display;
}

/* ../shared/data/NAME, or NULL with the test skipped when it is absent. */
static char *
need_data (const char *name)
{
  char *path = tsr_test_shared_data (name);
  if (!path)
    {
      g_autofree char *msg = g_strdup_printf ("../shared/data/%s is absent", name);
      g_test_skip (msg);
    }
  return path;
}

/* A w × h window on the screen with its own first frames (style, fonts, layout) drawn, so
 * they do not count as a stall of the job that follows. */
static TsrWindow *
new_window (int w, int h)
{
  TsrWindow *win = tsr_window_new (NULL);
  gtk_window_set_default_size (GTK_WINDOW (win), w, h);
  gtk_window_present (GTK_WINDOW (win));
  iterate_for (0.3);
  return win;
}

/* new_window with the session at path opened and analysed (within timeout_s, no error). */
static TsrWindow *
open_window (const char *path, int w, int h, double timeout_s)
{
  TsrWindow *win = new_window (w, h);
  tsr_window_open_session (win, path);
  g_assert_true (iterate_until (win, not_busy, timeout_s));
  g_assert_null (tsr_window_get_last_error (win));
  return win;
}

static GtkWidget *
find_notebook (GtkWidget *w)
{
  if (GTK_IS_NOTEBOOK (w))
    return w;
  for (GtkWidget *c = gtk_widget_get_first_child (w); c; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *n = find_notebook (c);
      if (n)
        return n;
    }
  return NULL;
}

/* The frame table's cells (labels and checks) whose tooltip is tip. */
static void
collect_cells (GtkWidget *w, const char *tip, GPtrArray *out)
{
  if ((GTK_IS_LABEL (w) || GTK_IS_CHECK_BUTTON (w)) && gtk_widget_get_has_tooltip (w)
      && g_strcmp0 (tsr_frame_table_cell_tooltip (w), tip) == 0)
    g_ptr_array_add (out, w);
  for (GtkWidget *c = gtk_widget_get_first_child (w); c; c = gtk_widget_get_next_sibling (c))
    collect_cells (c, tip, out);
}

/* With TSR_APP_SHOT_DIR: one snapshot per diagnostics page. */
static void
snapshot_figures (TsrWindow *win)
{
  GtkWidget *nb = g_getenv ("TSR_APP_SHOT_DIR") ? find_notebook (GTK_WIDGET (win)) : NULL;
  if (!nb)
    return;
  for (int i = 0; i < gtk_notebook_get_n_pages (GTK_NOTEBOOK (nb)); i++)
    {
      gtk_notebook_set_current_page (GTK_NOTEBOOK (nb), i);
      g_autofree char *name = g_strdup_printf ("figure-%d.png", i);
      snapshot_window (win, name);
    }
}

/* Main-loop gaps while jobs of one kind ran (printed, never asserted). */
static void
print_stalls (TsrWindow *win, const char *what, TsrJobKind kind)
{
  double worst, p99;
  guint64 n = tsr_window_get_stall_stats (win, kind, &worst, &p99);
  if (n)
    g_print ("# main-loop gaps during %s: worst %.1f ms, p99 %.0f ms (%" G_GUINT64_FORMAT " ticks of 10 ms)\n",
             what, worst, p99, n);
}

static void
test_window_session (void)
{
  if (!need_display ())
    return;
  g_autofree char *dir = tsr_test_tmpdir ("app");
  TsrSynthParams sp;
  tsr_synth_params_init (&sp);
  /* TSR_APP_SESSION=NxWxH (frames × width × height) measures the stalls on a larger
   * session; the default is small so the suite stays quick */
  guint nf = 8, sw = 320, sh = 240;
  const char *size = g_getenv ("TSR_APP_SESSION");
  if (size && sscanf (size, "%ux%ux%u", &nf, &sw, &sh) != 3)
    nf = 8, sw = 320, sh = 240;
  sp.n_frames = nf;
  sp.width = sw;
  sp.height = sh;
  sp.shift_max = 5;
  sp.rotation_max_deg = 0.5;
  GError *error = NULL;
  TsrSynthTruth *truth = tsr_synth_write_session (&sp, dir, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  tsr_synth_truth_free (truth);

  TsrWindow *win = new_window (1280, 800);

  /* open by dropping the folder on the window: scan + analyse + weigh in a worker, the
   * table fills, the live preview appears */
  GtkDropTarget *drop = tsr_window_get_drop_target (win);
  g_assert_nonnull (drop);
  g_assert_true (gtk_drop_target_get_actions (drop) & GDK_ACTION_COPY);
  {
    g_autoptr (GFile) folder = g_file_new_for_path (dir);
    GSList *list = g_slist_prepend (NULL, folder);
    GdkFileList *files = gdk_file_list_new_from_list (list);
    g_slist_free (list);
    GValue value = G_VALUE_INIT;
    g_value_init (&value, GDK_TYPE_FILE_LIST);
    g_value_take_boxed (&value, files);
    gboolean accepted = FALSE;
    g_signal_emit_by_name (drop, "drop", &value, 10.0, 10.0, &accepted);
    g_value_unset (&value);
    g_assert_true (accepted);
  }
  g_assert_cmpint (tsr_window_get_job (win), ==, TSR_JOB_ANALYSE);
  g_assert_true (iterate_until (win, not_busy, 240));
  g_test_message ("worst main-loop stall during the analysis: %.1f ms", tsr_window_get_worst_stall_ms (win));
  g_assert_null (tsr_window_get_last_error (win));
  g_assert_cmpint (tsr_window_get_job (win), ==, TSR_JOB_NONE);
  g_assert_cmpuint (tsr_window_get_n_rows (win), ==, nf);
  g_assert_nonnull (tsr_window_get_analysis (win));
  TsrWeights *w0 = tsr_window_get_weights (win);
  g_assert_nonnull (w0);
  tsr_weights_ref (w0);
  g_assert_null (tsr_window_get_reconstruction (win));
  tsr_window_set_overlays (win, TSR_OVERLAY_WEIGHTS | TSR_OVERLAY_STARS);
  /* the live preview, at the session's geometry (reduced) */
  const TsrImage *pv = tsr_window_get_preview (win);
  g_assert_nonnull (pv);
  g_assert_cmpint (pv->width, <=, (int) sw);
  g_assert_cmpint (pv->width, >, 0);
  g_assert_cmpint (tsr_window_get_show (win), ==, TSR_SHOW_PREVIEW);
  {
    /* issue #13, problem 1: an open that fails or is cancelled changes nothing — not the
     * title, not the session the window acts on */
    g_autofree char *title0 = g_strdup (gtk_window_get_title (GTK_WINDOW (win)));
    g_autofree char *base = g_path_get_basename (dir);
    g_assert_nonnull (strstr (title0, base));
    const TsrAnalysis *a0 = tsr_window_get_analysis (win);
    g_autofree char *missing = g_build_filename (dir, "no-such-night", NULL);
    tsr_window_open_session (win, missing);
    g_assert_true (iterate_until (win, not_busy, 60));
    g_assert_nonnull (tsr_window_get_last_error (win));
    g_assert_cmpstr (gtk_window_get_title (GTK_WINDOW (win)), ==, title0);
    g_assert_true (tsr_window_get_analysis (win) == a0);
    g_autofree char *other = g_build_filename (g_get_tmp_dir (), "tessera-app-other-night", NULL);
    tsr_window_open_session (win, other);   /* cancelled before it finishes */
    tsr_window_cancel (win);
    g_assert_true (iterate_until (win, not_busy, 60));
    g_assert_cmpstr (gtk_window_get_title (GTK_WINDOW (win)), ==, title0);
    g_assert_true (tsr_window_get_analysis (win) == a0);
    g_assert_cmpuint (tsr_window_get_n_rows (win), ==, nf);
  }
  /* the session is in the recent list */
  {
    g_autofree char *abs = g_canonicalize_filename (dir, NULL);
    g_assert_cmpstr (tsr_window_get_recent (win)[0], ==, abs);
  }
  snapshot_window (win, "analysed.png");

  /* with global.k = 0 (default) the global quality mix has no effect: shown insensitive;
   * local.p acts in the default PSF form */
  g_assert_false (tsr_window_param_sensitive (win, "global.alpha"));
  g_assert_true (tsr_window_param_sensitive (win, "local.p"));
  /* a weighting parameter re-runs only the weighing: a new weights object, other G */
  g_assert_true (tsr_window_set_param (win, "global.k", 2.0));
  g_assert_true (tsr_window_param_sensitive (win, "global.alpha"));
  g_assert_true (iterate_until (win, not_busy, 60));
  TsrWeights *w1 = tsr_window_get_weights (win);
  g_assert_nonnull (w1);
  g_assert_true (w1 != w0);
  g_assert_cmpuint (w1->n_frames, ==, nf);
  gboolean differs = FALSE;
  for (guint f = 0; f < w1->n_frames; f++)
    if (w1->used[f] && fabs (w1->g[f] - w0->g[f]) > 1e-9)
      differs = TRUE;
  g_assert_true (differs);
  tsr_weights_unref (w0);
  g_assert_true (tsr_window_get_preview (win) != pv);   /* the preview followed */
  g_print ("# live re-weigh %.1f ms, preview shown %.1f ms after the parameter change\n",
           tsr_window_get_weigh_ms (win), tsr_window_get_preview_ms (win));

  /* presets change the parameters; Reset (the default preset) restores them */
  g_assert_true (tsr_window_apply_preset (win, "dslr"));
  g_assert_cmpint (tsr_window_get_params (win)->tbqr.reject, ==, TSR_REJECT_WINSOR);
  g_assert_cmpint (tsr_window_get_params (win)->tbqr.clusters, ==, TSR_CLUSTER_OFF);
  g_assert_cmpstr (tsr_window_get_preset (win), ==, "dslr");
  g_assert_true (tsr_window_apply_preset (win, "seestar"));
  g_assert_cmpint (tsr_window_get_params (win)->tbqr.reg.stars.luma, ==, TSR_LUMA_GREEN);
  g_assert_false (tsr_window_apply_preset (win, "no-such-preset"));
  g_assert_true (tsr_window_apply_preset (win, "default"));
  TsrProject defaults;
  tsr_project_init (&defaults);
  g_assert_cmpint (tsr_window_get_params (win)->tbqr.reject, ==, defaults.tbqr.reject);
  g_assert_cmpfloat (tsr_window_get_params (win)->tbqr.global_k, ==, defaults.tbqr.global_k);
  g_assert_true (iterate_until (win, not_busy, 60));

  /* project: save, change, reopen: the parameters and the session come back */
  g_autofree char *project = g_build_filename (dir, "night.tessera", NULL);
  g_assert_true (tsr_window_set_param (win, "global.k", 1.7));
  g_assert_true (iterate_until (win, not_busy, 60));
  g_assert_true (tsr_window_save_project (win, project, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (tsr_window_get_recent (win)[0], ==, project);
  g_assert_true (tsr_window_apply_preset (win, "default"));
  g_assert_cmpfloat (tsr_window_get_params (win)->tbqr.global_k, ==, defaults.tbqr.global_k);
  g_assert_true (iterate_until (win, not_busy, 60));
  TsrAnalysis *a_before = tsr_window_get_analysis (win);
  g_assert_true (tsr_window_open_project (win, project, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (fabs (tsr_window_get_params (win)->tbqr.global_k - 1.7), <, 1e-9);
  g_assert_cmpint (tsr_window_get_job (win), ==, TSR_JOB_ANALYSE);
  g_assert_true (iterate_until (win, not_busy, 240));
  g_assert_null (tsr_window_get_last_error (win));
  g_assert_false (tsr_window_is_dirty (win));   /* as opened: Quit does not ask */
  g_assert_true (tsr_window_get_analysis (win) != a_before);
  g_assert_cmpuint (tsr_window_get_n_rows (win), ==, nf);
  g_assert_cmpstr (tsr_window_get_recent (win)[0], ==, project);
  {
    /* a broken project is an error on the status line, not a crash */
    g_autofree char *bad = g_build_filename (dir, "bad.tessera", NULL);
    tsr_test_write_file (bad, "not a project\n", 14);
    g_assert_false (tsr_window_open_project (win, bad, &error));
    g_assert_nonnull (error);
    g_clear_error (&error);
  }
  {
    /* a project with calibration inputs ([calib], written by the CLI): the window applies
     * them; a folder that is not there is an error naming it, the session shown stays, and
     * saving keeps them */
    gsize len;
    g_autofree char *text = tsr_test_read_file (project, &len);
    g_autofree char *with = g_strconcat (text, "\n[calib]\ndarks=/nights/darks-300s\n", NULL);
    g_autofree char *cp = g_build_filename (dir, "calibrated.tessera", NULL);
    tsr_test_write_file (cp, with, strlen (with));
    const TsrAnalysis *a_shown = tsr_window_get_analysis (win);
    g_assert_true (tsr_window_open_project (win, cp, &error));
    g_assert_no_error (error);
    g_assert_true (iterate_until (win, not_busy, 240));
    g_assert_nonnull (tsr_window_get_last_error (win));
    g_assert_nonnull (strstr (tsr_window_get_last_error (win), "/nights/darks-300s"));
    g_assert_true (tsr_window_get_analysis (win) == a_shown);
    g_autofree char *cp2 = g_build_filename (dir, "calibrated-again.tessera", NULL);
    g_assert_true (tsr_window_save_project (win, cp2, &error));
    g_assert_no_error (error);
    g_autofree char *saved = tsr_test_read_file (cp2, &len);
    g_assert_nonnull (strstr (saved, "[calib]"));
    g_assert_nonnull (strstr (saved, "darks=/nights/darks-300s"));
    /* no calibration again: the session is analysed uncalibrated */
    g_assert_true (tsr_window_set_calib (win, TSR_CALIB_DARK, NULL));
    g_assert_true (iterate_until (win, not_busy, 240));
    g_assert_null (tsr_window_get_last_error (win));
  }

  /* a tile-size change measures the local metrics again (a new analysis, with progress) */
  a_before = tsr_window_get_analysis (win);
  g_assert_true (tsr_window_set_param (win, "tiles.s", 20));
  g_assert_true (iterate_until (win, analysing, 30));
  g_assert_true (iterate_until (win, not_busy, 240));
  g_assert_true (tsr_window_get_analysis (win) != a_before);
  g_assert_null (tsr_window_get_last_error (win));

  /* run, cancel mid-way: idle again at once, and no result ever arrives */
  g_assert_true (tsr_window_run (win));
  g_assert_cmpint (tsr_window_get_job (win), ==, TSR_JOB_RUN);
  iterate_until (win, run_progressed, 60);
  if (tsr_window_get_job (win) != TSR_JOB_RUN)
    {
      /* it finished before a progress update was seen (a fast machine): its result is
       * shown; start again and cancel at once — the cancelled run must not replace it */
      g_test_message ("run finished before its first progress report; cancelling at start");
      g_assert_nonnull (tsr_window_get_reconstruction (win));
      g_assert_true (tsr_window_run (win));
      g_assert_cmpint (tsr_window_get_job (win), ==, TSR_JOB_RUN);
    }
  const TsrReconstruction *shown = tsr_window_get_reconstruction (win);
  const TsrImage *shown_image = shown ? shown->result : NULL;
  tsr_window_cancel (win);
  g_assert_cmpint (tsr_window_get_job (win), ==, TSR_JOB_NONE);
  g_assert_true (iterate_until (win, not_busy, 120));
  iterate_for (0.2);
  /* no result of the cancelled run arrives: the window still shows what it showed before */
  g_assert_true (tsr_window_get_reconstruction (win) == shown);
  if (shown)
    g_assert_true (tsr_window_get_reconstruction (win)->result == shown_image);
  g_assert_cmpint (tsr_window_get_job (win), ==, TSR_JOB_NONE);

  /* run to completion */
  g_assert_true (tsr_window_run (win));
  g_assert_true (iterate_until (win, not_busy, 240));
  g_assert_null (tsr_window_get_last_error (win));
  const TsrReconstruction *r = tsr_window_get_reconstruction (win);
  g_assert_nonnull (r);
  g_assert_nonnull (r->result);
  g_assert_cmpint (r->result->width, ==, (int) sw);
  g_assert_cmpint (r->result->height, ==, (int) sh);
  snapshot_window (win, "result.png");
  snapshot_figures (win);
  {
    /* split view: result | mean stack, only while one of them is shown */
    TsrImageView *view = tsr_window_get_image_view (win);
    tsr_window_set_show (win, TSR_SHOW_RESULT);
    g_assert_false (tsr_image_view_has_compare (view));
    tsr_window_set_split (win, TRUE);
    g_assert_true (tsr_image_view_has_compare (view));
    tsr_image_view_set_split (view, 0.3);
    snapshot_window (win, "split.png");
    tsr_window_set_show (win, TSR_SHOW_FRAME);
    g_assert_false (tsr_image_view_has_compare (view));
    tsr_window_set_show (win, TSR_SHOW_MEAN);
    g_assert_true (tsr_image_view_has_compare (view));
    tsr_window_set_split (win, FALSE);
    g_assert_false (tsr_image_view_has_compare (view));
    tsr_window_set_show (win, TSR_SHOW_RESULT);
  }
  {
    /* issue #13, problem 5: the display stretch — a histogram of the displayed image, auto
     * (linked, unlinked) and manual black/mid/white points, for every view; display only */
    TsrImageView *view = tsr_window_get_image_view (win);
    tsr_window_set_show (win, TSR_SHOW_RESULT);
    g_assert_true (iterate_until (win, not_busy, 60));
    const TsrImage *res = r->result;
    int nbins = 0, nch = 0;
    double lo = 0, hi = 0;
    const guint32 *hist = tsr_window_get_histogram (win, &nbins, &nch, &lo, &hi);
    g_assert_nonnull (hist);
    g_assert_cmpint (nch, ==, res->channels >= 3 ? 3 : 1);
    guint64 valid = 0, counted = 0;
    for (gsize k = 0; k < tsr_image_npix (res); k++)
      valid += res->mask[k] != 0;
    for (int b = 0; b < nbins; b++)
      counted += hist[b];
    g_assert_cmpuint (counted, ==, valid);
    g_assert_cmpfloat (hi, >, lo);
    cairo_surface_t *auto_surface = tsr_image_view_get_surface (view);
    gsize nv = tsr_image_npix (res) * res->channels;
    g_autofree float *copy = g_memdup2 (res->data, nv * sizeof (float));

    /* manual: every shown pixel is the midtone transfer of its value between black and white
     * (each channel shifted by its background offset from the automatic stretch) */
    TsrStretch st;
    tsr_window_get_stretch (win, &st, NULL);
    double bmin = MIN (st.black[0], MIN (st.black[1], st.black[2]));
    double black = bmin, white = bmin + 0.3 * (st.white[0] - st.black[0]);
    tsr_window_set_stretch (win, TRUE, TRUE, black, 0.2, white);
    g_assert_true (iterate_until (win, not_busy, 60));
    cairo_surface_t *manual = tsr_image_view_get_surface (view);
    g_assert_true (manual != auto_surface);
    g_assert_cmpint (cairo_image_surface_get_width (manual), ==, res->width);
    const guint8 *px = cairo_image_surface_get_data (manual);
    int stride = cairo_image_surface_get_stride (manual);
    guint checked = 0;
    for (gsize k = 0; k < tsr_image_npix (res); k += 97)
      {
        if (!res->mask[k])
          continue;
        int x = (int) (k % res->width), y = (int) (k / res->width);
        /* the manual points are the lowest channel's; a channel keeps its background offset */
        double d0 = st.black[0] - MIN (st.black[0], MIN (st.black[1], st.black[2]));
        double v = (tsr_image_plane (res, 0)[k] - black - d0) / (white - black);
        int want = (int) lrint (tsr_mtf (0.2f, (float) v) * 255.0);
        int got = px[(gsize) y * stride + 4 * x + 2];   /* ARGB32 little-endian: B G R A */
        if (abs (got - CLAMP (want, 0, 255)) > 1)
          g_error ("manual stretch at (%d, %d): shown %d, want %d (value %g)", x, y, got, want,
                   tsr_image_plane (res, 0)[k]);
        checked++;
      }
    g_assert_cmpuint (checked, >, 100);
    snapshot_window (win, "stretch.png");
    /* unlinked auto: each channel its own midtone balance */
    tsr_window_set_stretch (win, FALSE, FALSE, 0, 0, 0);
    g_assert_true (iterate_until (win, not_busy, 60));
    float mids[3], want_mids[3];
    TsrStretch want_st;
    tsr_window_get_stretch (win, NULL, mids);
    tsr_stretch_auto_unlinked (res, &want_st, want_mids);
    for (int c = 0; c < 3; c++)
      g_assert_cmpfloat (mids[c], ==, want_mids[c]);
    g_assert_true (tsr_image_view_get_surface (view) != auto_surface);
    /* frames too (a Bayer frame: its luminance) */
    tsr_window_set_stretch (win, TRUE, TRUE, black, 0.2, white);
    tsr_window_set_show (win, TSR_SHOW_FRAME);
    g_assert_true (iterate_until (win, not_busy, 60));
    const TsrImage *frame = view_image (win);
    g_assert_nonnull (frame);
    int fnch = 0;
    g_assert_nonnull (tsr_window_get_histogram (win, NULL, &fnch, NULL, NULL));
    g_assert_cmpint (fnch, ==, frame->channels >= 3 ? 3 : 1);
    g_assert_cmpint (cairo_image_surface_get_width (tsr_image_view_get_surface (view)), ==, frame->width);
    /* back to the automatic linked stretch: the window's own rendering again */
    tsr_window_set_stretch (win, FALSE, TRUE, 0, 0, 0);
    tsr_window_set_show (win, TSR_SHOW_RESULT);
    g_assert_true (iterate_until (win, not_busy, 60));
    g_assert_true (tsr_image_view_get_surface (view) == auto_surface);
    /* the data stayed linear */
    g_assert_true (memcmp (copy, res->data, nv * sizeof (float)) == 0);
  }
  {
    /* Denoise (issue #14): the result denoised in a worker, shown against the image before
     * it; the strength slider blends the two (0 = the result itself); a cancelled denoise
     * changes nothing */
    TsrImageView *view = tsr_window_get_image_view (win);
    tsr_window_set_show (win, TSR_SHOW_RESULT);
    g_assert_true (tsr_window_denoise (win));
    g_assert_cmpint (tsr_window_get_job (win), ==, TSR_JOB_DENOISE);
    g_assert_true (iterate_until (win, not_busy, 240));
    g_assert_null (tsr_window_get_last_error (win));
    g_assert_cmpint (tsr_window_get_show (win), ==, TSR_SHOW_DENOISED);
    g_assert_true (tsr_image_view_has_compare (view));
    const TsrImage *before = NULL;
    const TsrImage *den = tsr_window_get_denoised (win, &before);
    g_assert_nonnull (den);
    g_assert_true (before == r->result);
    gsize nv = tsr_image_npix (den) * den->channels;
    double diff = 0;
    for (gsize k = 0; k < nv; k++)
      diff += fabs (den->data[k] - before->data[k]);
    g_assert_cmpfloat (diff / nv, >, 0);        /* the network changed the image */
    snapshot_window (win, "denoised.png");
    tsr_window_set_denoise_strength (win, 0.0);
    den = tsr_window_get_denoised (win, NULL);
    for (gsize k = 0; k < nv; k++)
      if (den->data[k] != before->data[k])
        g_error ("strength 0: sample %" G_GSIZE_FORMAT " is %g, the result's %g", k, den->data[k], before->data[k]);
    tsr_window_set_denoise_strength (win, 1.0);
    const TsrImage *shown = tsr_window_get_denoised (win, NULL);
    tsr_window_set_show (win, TSR_SHOW_RESULT);
    g_assert_true (tsr_window_denoise (win));
    tsr_window_cancel (win);
    g_assert_true (iterate_until (win, not_busy, 120));
    iterate_for (0.2);
    g_assert_true (tsr_window_get_denoised (win, NULL) == shown);
    g_assert_cmpint (tsr_window_get_show (win), ==, TSR_SHOW_RESULT);
  }
  {
    /* Restore (issue #15): a short training on the session; while it trains the latent is
     * shown as it improves (engine snapshots), then the restored latent against the mean of
     * the same frames; a cancelled restore changes nothing and a snapshot is never exported */
    TsrImageView *view = tsr_window_get_image_view (win);
    guint shown0 = tsr_window_get_restore_snapshots_shown (win);
    g_assert_true (tsr_window_set_param (win, "restore.max_steps", 60));
    g_assert_true (tsr_window_set_param (win, "restore.min_steps", 10));
    g_assert_true (tsr_window_set_param (win, "restore.crop", 64));
    g_assert_true (tsr_window_restore (win));
    g_assert_cmpint (tsr_window_get_job (win), ==, TSR_JOB_RESTORE);
    g_assert_true (iterate_until (win, restore_live_or_done, 600));
    /* a snapshot was on screen while the job ran: the latent of the whole image at a step
     * of this training, shown in the view */
    g_assert_true (live_seen_in_job);
    g_assert_cmpuint (live_step, >=, 1);
    g_assert_cmpuint (live_step, <=, 60);
    g_assert_true (live_finite && live_positive);
    g_assert_true (iterate_until (win, not_busy, 600));
    if (tsr_window_get_last_error (win))
      g_error ("restore: %s", tsr_window_get_last_error (win));
    g_assert_cmpuint (tsr_window_get_restore_snapshots_shown (win), >, shown0);
    const TsrImage *rest = tsr_window_get_restored (win);
    g_assert_nonnull (rest);
    g_assert_cmpint (live_w, ==, rest->width);
    g_assert_cmpint (live_h, ==, rest->height);
    g_assert_null (tsr_window_get_restore_live (win, NULL));
    g_assert_cmpint (tsr_window_get_show (win), ==, TSR_SHOW_RESTORED);
    g_assert_true (tsr_image_view_get_image (view) == rest);
    g_assert_true (tsr_image_view_has_compare (view));
    guint finite = 0;
    for (gsize k = 0; k < tsr_image_npix (rest); k++)
      finite += isfinite (rest->data[k]) != 0;
    g_assert_cmpuint (finite, ==, tsr_image_npix (rest));
    snapshot_window (win, "restored.png");
    /* cancel while the latent is shown: the view and the result are as before */
    tsr_window_set_show (win, TSR_SHOW_RESULT);
    const TsrImage *shown_before = tsr_image_view_get_image (view);
    g_assert_true (tsr_window_set_param (win, "restore.max_steps", 100000));
    g_assert_true (tsr_window_set_param (win, "restore.min_steps", 100000));
    g_assert_true (tsr_window_restore (win));
    g_assert_true (iterate_until (win, restore_live_or_done, 600));
    g_assert_true (live_seen_in_job);
    g_assert_cmpint (tsr_window_get_job (win), ==, TSR_JOB_RESTORE);
    g_assert_cmpint (tsr_window_get_show (win), ==, TSR_SHOW_RESTORED);
    g_assert_true (tsr_image_view_get_image (view) == tsr_window_get_restore_live (win, NULL));
    snapshot_window (win, "restore-training.png");
    g_assert_cmpint (tsr_window_get_job (win), ==, TSR_JOB_RESTORE);
    g_autofree char *partial = g_build_filename (dir, "partial.fits", NULL);
    g_assert_false (tsr_window_export (win, partial, TSR_EXPORT_FITS));
    tsr_window_cancel (win);
    g_assert_true (iterate_until (win, not_busy, 120));
    iterate_for (0.2);
    g_assert_false (g_file_test (partial, G_FILE_TEST_EXISTS));
    g_assert_true (tsr_window_get_restored (win) == rest);
    g_assert_null (tsr_window_get_restore_live (win, NULL));
    g_assert_cmpint (tsr_window_get_show (win), ==, TSR_SHOW_RESULT);
    g_assert_true (tsr_image_view_get_image (view) == shown_before);
    g_assert_true (tsr_window_set_param (win, "restore.max_steps", 2000));
    g_assert_true (tsr_window_set_param (win, "restore.min_steps", 100));
  }
  {
    /* a new run cancelled at once leaves the result on screen as it was */
    const TsrImage *image = r->result;
    g_assert_true (tsr_window_run (win));
    tsr_window_cancel (win);
    g_assert_true (iterate_until (win, not_busy, 120));
    iterate_for (0.2);
    g_assert_true (tsr_window_get_reconstruction (win) == r);
    g_assert_true (r->result == image);
  }
  g_print ("# worst main-loop stall while jobs ran: %.1f ms (longest gap between 10 ms ticks)\n",
           tsr_window_get_worst_stall_ms (win));
  print_stalls (win, "analysis", TSR_JOB_ANALYSE);
  print_stalls (win, "run", TSR_JOB_RUN);

  /* export: TIFF 16 and 32-bit, FITS, the report folder */
  g_autofree char *tif16 = g_build_filename (dir, "result16.tif", NULL);
  g_autofree char *tif32 = g_build_filename (dir, "result32.tiff", NULL);
  g_autofree char *fits = g_build_filename (dir, "result.fits", NULL);
  g_autofree char *xisf = g_build_filename (dir, "result.xisf", NULL);
  g_autofree char *report = g_build_filename (dir, "report", NULL);
  g_assert_true (tsr_window_export (win, tif16, TSR_EXPORT_TIFF16));
  g_assert_true (tsr_window_export (win, tif32, TSR_EXPORT_TIFF32));
  g_assert_true (tsr_window_export (win, fits, TSR_EXPORT_FITS));
  g_assert_true (tsr_window_export (win, xisf, TSR_EXPORT_XISF));
  g_assert_true (tsr_window_export_report (win, report));
  g_assert_true (iterate_until (win, not_busy, 120));
  g_assert_null (tsr_window_get_last_error (win));
  int channels = r->result->channels;
  struct { const char *path; gsize bytes; } tiffs[] = {
    { tif16, (gsize) sw * sh * channels * 2 }, { tif32, (gsize) sw * sh * channels * 4 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (tiffs); i++)
    {
      gsize len = 0;
      g_autofree char *data = tsr_test_read_file (tiffs[i].path, &len);
      g_assert_nonnull (data);
      g_assert_cmpint (memcmp (data, "II*\0", 4), ==, 0);
      g_assert_cmpuint (len, >, tiffs[i].bytes);
    }
  g_autoptr (TsrImage) back = tsr_fits_read (fits, &error);
  g_assert_no_error (error);
  g_assert_cmpint (back->width, ==, (int) sw);
  /* the XISF holds the FITS's samples */
  g_autoptr (TsrImage) xback = tsr_xisf_read (xisf, &error);
  g_assert_no_error (error);
  g_assert_cmpint (xback->width, ==, back->width);
  g_assert_cmpint (xback->channels, ==, back->channels);
  for (gsize i = 0; i < tsr_image_npix (back); i++)
    if (back->mask[i] && xback->mask[i])
      g_assert_cmpmem (back->data + i, sizeof (float), xback->data + i, sizeof (float));
  g_autofree char *index = g_build_filename (report, "index.html", NULL);
  g_assert_true (g_file_test (index, G_FILE_TEST_IS_REGULAR));

  /* deconvolution, when the engine has it: the latent shows after an iteration; cancel */
  TsrShow shown_before = tsr_window_get_show (win);
  if (tsr_window_deconvolve (win))
    {
      g_assert_cmpint (tsr_window_get_job (win), ==, TSR_JOB_DECONV);
      iterate_until (win, deconv_progressed, 120);
      if (tsr_window_get_deconv_iteration (win) >= 1)
        g_assert_cmpint (tsr_window_get_show (win), ==, TSR_SHOW_DECONV);
      g_test_message ("deconvolution: %u iteration(s) shown before the cancel", tsr_window_get_deconv_iteration (win));
      tsr_window_cancel (win);
      g_assert_cmpint (tsr_window_get_job (win), ==, TSR_JOB_NONE);
      g_assert_true (iterate_until (win, not_busy, 120));
      if (tsr_window_get_last_error (win))
        g_test_message ("deconvolution reported: %s", tsr_window_get_last_error (win));
      /* the partial latent is gone: the view is what it was before */
      g_assert_cmpint (tsr_window_get_show (win), ==, shown_before);
    }
  else
    g_test_message ("deconvolution not in this build: skipped");
  print_stalls (win, "deconvolution", TSR_JOB_DECONV);

  gtk_window_destroy (GTK_WINDOW (win));
  iterate_for (0.1);
  tsr_test_rmtree (dir);
}

/* The application's accelerators and the shortcuts window. */
static void
test_shortcuts (void)
{
  if (!need_display ())
    return;
  TsrApplication *app = tsr_application_new ();
  GError *error = NULL;
  g_assert_true (g_application_register (G_APPLICATION (app), NULL, &error));
  g_assert_no_error (error);
  static const struct { const char *action, *accel; } want[] = {
    { "win.open", "<Control>o" }, { "win.run", "<Control>r" }, { "win.export", "<Control>e" },
    { "win.cancel", "Escape" }, { "app.quit", "<Control>q" }, { "win.show-help-overlay", "<Control>question" },
    { "win.show-help-overlay", "F1" }, { "win.save-project", "<Control>s" },
    { "win.open-project", "<Shift><Control>o" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (want); i++)
    {
      g_auto (GStrv) accels = gtk_application_get_accels_for_action (GTK_APPLICATION (app), want[i].action);
      guint key, wkey;
      GdkModifierType mods, wmods;
      g_assert_true (gtk_accelerator_parse (want[i].accel, &wkey, &wmods));
      gboolean found = FALSE;
      for (guint k = 0; accels && accels[k]; k++)
        if (gtk_accelerator_parse (accels[k], &key, &mods) && key == wkey && mods == wmods)
          found = TRUE;
      if (!found)
        g_error ("%s has no accelerator %s", want[i].action, want[i].accel);
    }
  /* the shortcuts window (ui/tsr-shortcuts.ui) lists exactly the table's actions with the
   * accelerators the application sets */
  {
    guint n_sc;
    const TsrShortcut *sc = tsr_shortcuts (&n_sc);
    GtkBuilder *b = gtk_builder_new_from_resource (TSR_SHORTCUTS_UI);
    GSList *objs = gtk_builder_get_objects (b);
    guint n_ui = 0;
    for (GSList *l = objs; l; l = l->next)
      {
        if (!GTK_IS_SHORTCUTS_SHORTCUT (l->data))
          continue;
        g_autofree char *action = NULL, *accel = NULL, *title = NULL;
        g_object_get (l->data, "action-name", &action, "accelerator", &accel, "title", &title, NULL);
        g_assert_nonnull (title);
        g_assert_cmpstr (title, !=, "");
        const TsrShortcut *row = NULL;
        for (guint i = 0; i < n_sc; i++)
          if (g_strcmp0 (sc[i].action, action) == 0)
            row = &sc[i];
        if (!row)
          g_error ("the shortcuts window names %s, which the application has no accelerator for", action);
        g_autofree char *want = g_strjoinv (" ", (char **) row->accels);
        g_assert_cmpstr (accel, ==, want);
        n_ui++;
      }
    g_assert_cmpuint (n_ui, ==, n_sc);
    g_slist_free (objs);
    g_object_unref (b);
  }
  /* the stretch bar is its template's widgets */
  {
    GtkWidget *bar = g_object_ref_sink (tsr_stretch_bar_new ());
    g_assert_true (GTK_IS_TOGGLE_BUTTON (tsr_stretch_bar_get_auto (TSR_STRETCH_BAR (bar))));
    g_assert_true (GTK_IS_TOGGLE_BUTTON (tsr_stretch_bar_get_linked (TSR_STRETCH_BAR (bar))));
    g_assert_true (gtk_widget_get_parent (tsr_stretch_bar_get_histogram (TSR_STRETCH_BAR (bar))) == bar);
    GtkWidget *mid = tsr_stretch_bar_get_point (TSR_STRETCH_BAR (bar), 1);
    g_assert_true (GTK_IS_SPIN_BUTTON (mid));
    g_assert_cmpuint (gtk_spin_button_get_digits (GTK_SPIN_BUTTON (mid)), ==, 4);
    g_assert_cmpfloat (gtk_spin_button_get_value (GTK_SPIN_BUTTON (mid)), ==, 0.5);
    g_object_unref (bar);
  }
  /* the calibration section is its template's widgets: four rows of name, buttons,
   * statistics, preview */
  {
    GtkWidget *panel = g_object_ref_sink (tsr_calib_panel_new ());
    for (int k = 0; k < TSR_CALIB_N_KINDS; k++)
      {
        g_assert_true (GTK_IS_LABEL (tsr_calib_panel_get (TSR_CALIB_PANEL (panel), k, TSR_CALIB_PANEL_PATH)));
        g_assert_true (GTK_IS_BUTTON (tsr_calib_panel_get (TSR_CALIB_PANEL (panel), k, TSR_CALIB_PANEL_FOLDER)));
        g_assert_true (GTK_IS_BUTTON (tsr_calib_panel_get (TSR_CALIB_PANEL (panel), k, TSR_CALIB_PANEL_MASTER)));
        g_assert_true (GTK_IS_BUTTON (tsr_calib_panel_get (TSR_CALIB_PANEL (panel), k, TSR_CALIB_PANEL_CLEAR)));
        g_assert_true (GTK_IS_LABEL (tsr_calib_panel_get (TSR_CALIB_PANEL (panel), k, TSR_CALIB_PANEL_STATS)));
        g_assert_true (GTK_IS_DRAWING_AREA (tsr_calib_panel_get (TSR_CALIB_PANEL (panel), k, TSR_CALIB_PANEL_PREVIEW)));
      }
    g_assert_true (GTK_IS_LABEL (tsr_calib_panel_get_notes (TSR_CALIB_PANEL (panel))));
    g_object_unref (panel);
  }
  TsrWindow *win = tsr_window_new (GTK_APPLICATION (app));
  GtkShortcutsWindow *help = gtk_application_window_get_help_overlay (GTK_APPLICATION_WINDOW (win));
  g_assert_nonnull (help);
  g_assert_true (g_action_group_has_action (G_ACTION_GROUP (win), "show-help-overlay"));
  g_assert_true (g_action_group_has_action (G_ACTION_GROUP (win), "open-recent"));
  g_assert_true (g_action_group_has_action (G_ACTION_GROUP (win), "save-project"));
  g_assert_true (g_action_group_has_action (G_ACTION_GROUP (win), "deconvolve"));
  g_assert_true (g_action_group_has_action (G_ACTION_GROUP (app), "about"));
  gtk_window_destroy (GTK_WINDOW (win));
  iterate_for (0.1);
  g_object_unref (app);
}

/* ---------------------------------------------------------------- planetary sessions (#16) */

static gboolean
planetary_running (TsrWindow *win)
{
  return tsr_window_get_job (win) == TSR_JOB_PLANETARY;
}

static double
max_abs_diff (const TsrImage *a, const TsrImage *b)
{
  g_assert_cmpint (a->width, ==, b->width);
  g_assert_cmpint (a->height, ==, b->height);
  g_assert_cmpint (a->channels, ==, b->channels);
  double m = 0;
  gsize n = tsr_image_npix (a) * a->channels;
  for (gsize i = 0; i < n; i++)
    m = MAX (m, fabs ((double) a->data[i] - b->data[i]));
  return m;
}

static TsrImage *
view_image (TsrWindow *win)
{
  return tsr_image_view_get_image (tsr_window_get_image_view (win));
}

/* Generated planetary frames (disc with texture, seeing, distortion, jitter). */
static TsrImage **
planet_frames (guint n, int size, TsrPlanetSynthParams *sp)
{
  tsr_planet_synth_params_init (sp);
  sp->n_frames = n;
  sp->width = sp->height = size;
  sp->disc_radius = size * 0.32;
  sp->jitter = 3;
  g_autoptr (TsrImage) truth = tsr_planet_synth_truth (sp);
  TsrImage **frames = g_new0 (TsrImage *, n);
  for (guint i = 0; i < n; i++)
    frames[i] = tsr_planet_synth_frame (sp, truth, i, NULL, NULL);
  return frames;
}

static void
free_frames (TsrImage **frames, guint n)
{
  for (guint i = 0; i < n; i++)
    tsr_image_unref (frames[i]);
  g_free (frames);
}

static void
test_window_planetary (void)
{
  if (!need_display ())
    return;
  g_autofree char *dir = tsr_test_tmpdir ("app-planetary");
  g_autofree char *ser_dir = g_build_filename (dir, "ser", NULL);
  g_autofree char *fits_dir = g_build_filename (dir, "fits", NULL);
  g_mkdir_with_parents (ser_dir, 0755);
  g_mkdir_with_parents (fits_dir, 0755);
  const guint nf = 14;
  TsrPlanetSynthParams sp;
  TsrImage **frames = planet_frames (nf, 192, &sp);
  GError *error = NULL;
  g_autofree char *ser = g_build_filename (ser_dir, "planet.ser", NULL);
  g_assert_true (tsr_ser_write (ser, frames, nf, 16, TSR_SER_MONO, NULL, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < nf; i++)
    {
      g_autofree char *name = g_strdup_printf ("planet_%03u.fits", i);
      g_autofree char *path = g_build_filename (fits_dir, name, NULL);
      g_assert_true (tsr_fits_write (path, frames[i], NULL, &error));
      g_assert_no_error (error);
    }
  free_frames (frames, nf);

  TsrWindow *win = new_window (1280, 800);

  /* a SER file is not FITS: routed to the planetary job at once, the reason in the status */
  tsr_window_open_session (win, ser_dir);
  g_assert_cmpint (tsr_window_get_job (win), ==, TSR_JOB_PLANETARY);
  g_assert_true (iterate_until (win, not_busy, 240));
  g_assert_null (tsr_window_get_last_error (win));
  g_assert_true (tsr_window_is_planetary (win));
  g_assert_nonnull (strstr (tsr_window_get_planetary_reason (win), "planetary"));
  const TsrPlanetaryResult *r = tsr_window_get_planetary_result (win);
  g_assert_nonnull (r);
  g_assert_cmpuint (r->n_frames, ==, nf);
  g_test_message ("planetary window: %u frames, %u alignment points", r->n_frames, r->n_aps);
  /* the stack is shown, unchanged at unit gains */
  g_assert_cmpint (tsr_window_get_planetary_show (win), ==, TSR_PLANETARY_SHOW_STACK);
  g_assert_true (view_image (win) == r->result);
  g_assert_true (tsr_window_get_planetary_sharpened (win) == r->result);
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (win), "export"));
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (win), "process-deep-sky"));
  g_assert_false (g_action_group_get_action_enabled (G_ACTION_GROUP (win), "process-planetary"));

  /* the alignment-point overlay is on, and switchable */
  TsrImageView *view = tsr_window_get_image_view (win);
  g_assert_true (tsr_window_get_ap_overlay (win));
  g_assert_cmpuint (r->n_aps, >, 0);
  g_assert_cmpuint (tsr_image_view_get_n_points_drawn (view), ==, r->n_aps);
  tsr_window_set_ap_overlay (win, FALSE);
  g_assert_cmpuint (tsr_image_view_get_n_points_drawn (view), ==, 0);
  tsr_window_set_ap_overlay (win, TRUE);
  g_assert_cmpuint (tsr_image_view_get_n_points_drawn (view), ==, r->n_aps);

  /* the show list: mean of the aligned frames, best frame; the split view stack | mean */
  tsr_window_set_planetary_show (win, TSR_PLANETARY_SHOW_MEAN);
  g_assert_true (view_image (win) == r->mean);
  tsr_window_set_planetary_show (win, TSR_PLANETARY_SHOW_BEST);
  g_assert_true (view_image (win) == r->best_frame);
  tsr_window_set_planetary_show (win, TSR_PLANETARY_SHOW_STACK);
  g_assert_true (view_image (win) == r->result);
  tsr_window_set_split (win, TRUE);
  g_assert_true (tsr_image_view_has_compare (view));
  snapshot_window (win, "planetary.png");
  tsr_window_set_split (win, FALSE);
  g_assert_false (tsr_image_view_has_compare (view));

  /* a wavelet gain changes the shown image (exactly the engine's sharpening); unit gains
   * give the stack back */
  g_assert_true (tsr_window_set_wavelet_gain (win, 0, 2.5));
  g_assert_true (tsr_window_set_wavelet_gain (win, 1, 1.8));
  g_assert_true (iterate_until (win, not_busy, 60));
  const TsrImage *sharp = tsr_window_get_planetary_sharpened (win);
  g_assert_true (sharp != r->result);
  g_assert_true (view_image (win) == sharp);
  g_assert_cmpfloat (max_abs_diff (sharp, r->result), >, 1.0);
  TsrWaveletParams wp;
  tsr_wavelet_params_init (&wp);
  wp.gains[0] = 2.5;
  wp.gains[1] = 1.8;
  {
    g_autoptr (TsrImage) want = tsr_wavelets_apply (r->result, &wp, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpfloat (max_abs_diff (sharp, want), ==, 0.0);

    /* Export writes the sharpened linear image */
    g_autofree char *out = g_build_filename (dir, "sharp.fits", NULL);
    g_assert_true (tsr_window_export (win, out, TSR_EXPORT_FITS));
    g_assert_true (iterate_until (win, not_busy, 60));
    g_assert_null (tsr_window_get_last_error (win));
    g_autoptr (TsrImage) back = tsr_fits_read (out, &error);
    g_assert_no_error (error);
    g_assert_cmpfloat (max_abs_diff (back, want), <=, 1e-3);
  }
  /* the panel's Unit Gains button (ui/tsr-planetary-panel.ui: action win.wavelets-unit) */
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (win), "wavelets-unit"));
  g_action_group_activate_action (G_ACTION_GROUP (win), "wavelets-unit", NULL);
  iterate_for (0.05);
  g_assert_true (view_image (win) == r->result);
  g_assert_true (tsr_window_get_planetary_sharpened (win) == r->result);
  g_assert_true (iterate_until (win, not_busy, 60));
  g_assert_true (view_image (win) == r->result);

  /* the best fraction re-runs the stack; a cancelled re-run leaves the previous state */
  g_autofree char *title = g_strdup (gtk_window_get_title (GTK_WINDOW (win)));
  g_assert_true (tsr_window_set_planetary_param (win, "planetary.best_fraction", 0.3));
  g_assert_true (iterate_until (win, planetary_running, 10));
  tsr_window_cancel (win);
  g_assert_true (iterate_until (win, not_busy, 120));
  g_assert_true (tsr_window_get_planetary_result (win) == r);
  g_assert_true (view_image (win) == r->result);
  g_assert_true (tsr_window_is_planetary (win));
  g_assert_cmpstr (gtk_window_get_title (GTK_WINDOW (win)), ==, title);
  g_assert_null (tsr_window_get_last_error (win));
  g_assert_true (tsr_window_set_planetary_param (win, "planetary.best_fraction", 0.25));
  g_assert_true (iterate_until (win, planetary_running, 10));
  g_assert_true (iterate_until (win, not_busy, 240));
  g_assert_null (tsr_window_get_last_error (win));
  const TsrPlanetaryResult *r2 = tsr_window_get_planetary_result (win);
  g_assert_true (r2 != r);
  double bestfrac = NAN;
  g_assert_true (tsr_header_get_double (r2->result->header, "BESTFRAC", &bestfrac));
  g_assert_cmpfloat (bestfrac, ==, 0.25);
  g_assert_true (view_image (win) == r2->result);

  /* deep sky cannot read a SER file: said, nothing changes */
  g_assert_false (tsr_window_process_as (win, TSR_PROCESS_DEEP_SKY));
  g_assert_nonnull (tsr_window_get_last_error (win));
  g_assert_true (tsr_window_get_planetary_result (win) == r2);

  /* FITS frames without stars: the analysis worker finds the session starless and hands it
   * to the planetary job */
  tsr_window_open_session (win, fits_dir);
  g_assert_cmpint (tsr_window_get_job (win), ==, TSR_JOB_ANALYSE);
  g_assert_true (iterate_until (win, not_busy, 240));
  g_assert_null (tsr_window_get_last_error (win));
  g_assert_true (tsr_window_is_planetary (win));
  g_assert_nonnull (strstr (tsr_window_get_planetary_reason (win), "starless"));
  g_assert_cmpuint (tsr_window_get_planetary_result (win)->n_frames, ==, nf);
  /* the user overrides: deep sky (an analysis job; a disc without stars may fail it, then
   * the planetary session stays), and back */
  g_assert_true (tsr_window_process_as (win, TSR_PROCESS_DEEP_SKY));
  g_assert_cmpint (tsr_window_get_job (win), ==, TSR_JOB_ANALYSE);
  g_assert_true (iterate_until (win, not_busy, 240));
  g_test_message ("deep sky on the planet: %s", tsr_window_get_last_error (win) ? tsr_window_get_last_error (win)
                                                                                 : "analysed");
  g_assert_true (tsr_window_is_planetary (win) == (tsr_window_get_last_error (win) != NULL));
  g_assert_true (tsr_window_process_as (win, TSR_PROCESS_PLANETARY));
  g_assert_cmpint (tsr_window_get_job (win), ==, TSR_JOB_PLANETARY);
  g_assert_true (iterate_until (win, not_busy, 240));
  g_assert_true (tsr_window_is_planetary (win));

  /* a deep-sky session afterwards: the planetary state goes, the deep-sky show list is back */
  {
    TsrSynthParams dsp;
    tsr_synth_params_init (&dsp);
    dsp.n_frames = 6;
    dsp.width = 320;
    dsp.height = 240;
    g_autofree char *ds_dir = g_build_filename (dir, "deep", NULL);
    g_mkdir_with_parents (ds_dir, 0755);
    TsrSynthTruth *truth = tsr_synth_write_session (&dsp, ds_dir, NULL, NULL, NULL, &error);
    g_assert_no_error (error);
    tsr_synth_truth_free (truth);
    tsr_window_open_session (win, ds_dir);
    g_assert_true (iterate_until (win, not_busy, 240));
    g_assert_null (tsr_window_get_last_error (win));
    g_assert_false (tsr_window_is_planetary (win));
    g_assert_nonnull (tsr_window_get_analysis (win));
    g_assert_cmpuint (tsr_image_view_get_n_points_drawn (view), ==, 0);
    tsr_window_set_show (win, TSR_SHOW_FRAME);
    g_assert_cmpint (tsr_window_get_show (win), ==, TSR_SHOW_FRAME);
  }

  /* the real Jupiter capture (PNG) */
  g_autofree char *jup = tsr_test_shared_data ("jupiter-frames");
  if (!jup)
    g_test_message ("../shared/data/jupiter-frames is absent: the real-data part is skipped");
  else
    {
      tsr_window_open_session (win, jup);
      g_assert_cmpint (tsr_window_get_job (win), ==, TSR_JOB_PLANETARY);
      g_assert_true (iterate_until (win, not_busy, 240));
      g_assert_null (tsr_window_get_last_error (win));
      g_assert_true (tsr_window_is_planetary (win));
      const TsrPlanetaryResult *rj = tsr_window_get_planetary_result (win);
      g_assert_true (rj->disc);
      g_assert_cmpuint (tsr_image_view_get_n_points_drawn (view), ==, rj->n_aps);
      g_assert_true (view_image (win) == rj->result);
      /* wavelets bring out the belts: the split view stack (sharpened) | mean */
      tsr_window_set_wavelet_gain (win, 0, 2.5);
      tsr_window_set_wavelet_gain (win, 1, 2.0);
      tsr_window_set_wavelet_gain (win, 2, 1.5);
      tsr_window_set_split (win, TRUE);
      g_assert_true (iterate_until (win, not_busy, 60));
      g_assert_true (view_image (win) == tsr_window_get_planetary_sharpened (win));
      g_assert_true (view_image (win) != rj->result);
      g_assert_true (tsr_image_view_has_compare (view));
      tsr_window_set_ap_overlay (win, FALSE);
      snapshot_window (win, "jupiter.png");
      tsr_window_set_ap_overlay (win, TRUE);
      tsr_window_set_split (win, FALSE);
    }

  gtk_window_destroy (GTK_WINDOW (win));
  iterate_for (0.1);
  tsr_test_rmtree (dir);
}


/* ---------------------------------------------------------------- overlays (#13, problem 3) */

/* Render the view at its size twice, with the window's overlays and without, and return the
 * bounding box (x0, y0, x1, y1, widget pixels) of the pixels the overlays changed. */
static gboolean
overlay_bbox (TsrWindow *win, guint overlays, int *w_out, int *h_out, int bbox[4])
{
  TsrImageView *view = tsr_window_get_image_view (win);
  int w = gtk_widget_get_width (GTK_WIDGET (view)), h = gtk_widget_get_height (GTK_WIDGET (view));
  g_assert_cmpint (w, >, 50);
  g_assert_cmpint (h, >, 50);
  cairo_surface_t *s[2];
  for (int i = 0; i < 2; i++)
    {
      tsr_window_set_overlays (win, i == 0 ? overlays : 0);
      s[i] = cairo_image_surface_create (CAIRO_FORMAT_RGB24, w, h);
      cairo_t *cr = cairo_create (s[i]);
      tsr_image_view_render (view, cr, w, h);
      cairo_destroy (cr);
      cairo_surface_flush (s[i]);
    }
  tsr_window_set_overlays (win, overlays);
  bbox[0] = w, bbox[1] = h, bbox[2] = -1, bbox[3] = -1;
  int stride = cairo_image_surface_get_stride (s[0]);
  const guint8 *a = cairo_image_surface_get_data (s[0]), *b = cairo_image_surface_get_data (s[1]);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        const guint8 *pa = a + (gsize) y * stride + 4 * x, *pb = b + (gsize) y * stride + 4 * x;
        if (abs (pa[0] - pb[0]) + abs (pa[1] - pb[1]) + abs (pa[2] - pb[2]) > 12)
          {
            bbox[0] = MIN (bbox[0], x);
            bbox[1] = MIN (bbox[1], y);
            bbox[2] = MAX (bbox[2], x);
            bbox[3] = MAX (bbox[3], y);
          }
      }
  cairo_surface_destroy (s[0]);
  cairo_surface_destroy (s[1]);
  *w_out = w;
  *h_out = h;
  return bbox[2] >= 0;
}

/* The tile overlay lies on the image: in a fitted view the image of the analysis' geometry
 * (W × H) fills a centred rectangle; the overlay must fill that rectangle, not more. */
static void
assert_overlay_on_image (TsrWindow *win, const char *what)
{
  const TsrAnalysis *a = tsr_window_get_analysis (win);
  int w, h, bb[4];
  g_assert_true (overlay_bbox (win, TSR_OVERLAY_TILES, &w, &h, bb));   /* no legend */
  double zoom = MIN ((double) w / a->width, (double) h / a->height);
  double x0 = (w - a->width * zoom) / 2, y0 = (h - a->height * zoom) / 2;
  double x1 = x0 + a->width * zoom, y1 = y0 + a->height * zoom;
  g_test_message ("%s: overlay %d,%d–%d,%d; image %.0f,%.0f–%.0f,%.0f", what, bb[0], bb[1], bb[2], bb[3], x0, y0,
                  x1, y1);
  if (bb[0] < x0 - 2 || bb[1] < y0 - 2 || bb[2] > x1 + 2 || bb[3] > y1 + 2 || bb[2] - bb[0] < 0.95 * (x1 - x0)
      || bb[3] - bb[1] < 0.95 * (y1 - y0))
    g_error ("%s: the tile overlay covers %d,%d–%d,%d, the image %.0f,%.0f–%.0f,%.0f", what, bb[0], bb[1], bb[2],
             bb[3], x0, y0, x1, y1);
}


/* A synthetic session large enough that the live preview is reduced (factor 3), with one
 * mirrored and one noise frame (gated): issue #13, problems 2 and 3. */
static void
test_window_gate (void)
{
  if (!need_display ())
    return;
  g_autofree char *dir = tsr_test_tmpdir ("app-gate");
  TsrSynthParams sp;
  tsr_synth_params_init (&sp);
  sp.n_frames = 7;
  sp.width = 1040;
  sp.height = 640;
  sp.shift_max = 5;
  sp.rotation_max_deg = 0.5;
  sp.n_mirrored = 1;
  sp.n_noise = 1;
  GError *error = NULL;
  TsrSynthTruth *truth = tsr_synth_write_session (&sp, dir, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  tsr_synth_truth_free (truth);

  TsrWindow *win = open_window (dir, 1280, 800, 240);
  const TsrAnalysis *a = tsr_window_get_analysis (win);
  g_assert_nonnull (a);
  const TsrImage *pv = tsr_window_get_preview (win);
  g_assert_nonnull (pv);
  g_assert_cmpint (pv->width * 2, <, a->width);   /* reduced */

  /* problem 3: select a frame row, switch to the live preview: the weight overlay lies on
   * the image; and so it does after Fit (which once reset the preview's scale) */
  tsr_window_set_overlays (win, TSR_OVERLAY_WEIGHTS);
  g_assert_true (tsr_window_select_frame (win, 2));
  g_assert_true (iterate_until (win, not_busy, 60));
  g_assert_cmpint (tsr_window_get_show (win), ==, TSR_SHOW_FRAME);
  iterate_for (0.2);
  tsr_window_set_show (win, TSR_SHOW_PREVIEW);
  iterate_for (0.2);
  assert_overlay_on_image (win, "live preview after a frame");
  tsr_image_view_zoom_fit (tsr_window_get_image_view (win));
  iterate_for (0.2);
  assert_overlay_on_image (win, "live preview after Fit");
  snapshot_window (win, "overlay-preview.png");
  tsr_window_set_overlays (win, 0);

  /* problem 2: gating explained and steerable */
  TsrWeights *w = tsr_window_get_weights (win);
  const TsrRegistration *reg = a->reg;
  int gated = -1, valid = -1;
  for (guint f = 0; f < w->n_frames; f++)
    {
      if (w->gate[f] && reg->frames[f].registered && gated < 0)
        gated = (int) f;
      if (!w->gate[f] && f != reg->reference && valid < 0)
        valid = (int) f;
    }
  g_assert_cmpint (gated, >=, 0);
  g_assert_cmpint (valid, >=, 0);
  {
    /* the gated row: reasons in words (no bare codes), every measurement beside its threshold */
    const char *words = NULL;
    const char *why = tsr_window_get_frame_explanation (win, gated, &words);
    g_assert_nonnull (why);
    g_autofree char *codes = tsr_gate_reasons_string (w->gate[gated]);
    g_test_message ("gated frame %d (%s): %s\n%s", gated, codes, words, why);
    g_assert_cmpstr (words, !=, codes);
    g_assert_null (strstr (words, "cc"));           /* words, not the codes "cc,shift" */
    g_assert_null (strstr (words, "reflection"));
    const TsrFrameReg *fr = &reg->frames[gated];
    g_autofree char *cc = g_strdup_printf ("CC %.3f, threshold %.3f", fr->cc, w->cc_threshold);
    g_autofree char *scale = g_strdup_printf ("scale %.4f", tsr_transform_scale (&fr->transform));
    g_autofree char *shift = g_strdup_printf ("shift %.1f px from the session's median, threshold %.1f px",
                                              fr->shift_px, w->shift_threshold);
    g_autofree char *stars = g_strdup_printf ("%u of %u stars matched, residual RMS %.3f px", fr->n_matched,
                                              fr->n_stars, fr->rms_px);
    const char *want[] = { cc, scale, shift, stars, "gate.cc_margin", "gate.scale_min", "gate.shift_min", "rotation" };
    for (guint i = 0; i < G_N_ELEMENTS (want); i++)
      if (!strstr (why, want[i]))
        g_error ("the explanation of frame %d lacks “%s”:\n%s", gated, want[i], why);
    if (w->gate[gated] & TSR_GATE_REFLECTION)
      g_assert_nonnull (strstr (words, "mirrored"));
    if (w->gate[gated] & TSR_GATE_CC)
      g_assert_nonnull (strstr (words, "low CC"));
    /* the detail beside the table shows the selected frame's */
    g_assert_true (tsr_window_select_frame (win, gated));
    g_assert_cmpstr (tsr_window_get_frame_detail (win), ==, why);
    snapshot_window (win, "gate-explained.png");
  }
  {
    /* every key that decides the gate is in the panel and acts at once; the CC chart's
     * threshold line follows every change, and Reset */
    const char *keys[] = { "gate.cc_min", "gate.cc_mad", "gate.cc_margin", "gate.trust_stars", "gate.scale_min",
                           "gate.scale_max", "gate.shift_min", "gate.shift_mult", "gate.keep_gated",
                           "register.min_matched", "register.tolerance" };
    for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
      if (!tsr_window_param_sensitive (win, keys[i]))
        g_error ("%s is not in the parameter panel", keys[i]);
    double thr0 = tsr_report_cc_gate (a, w);
    g_assert_cmpfloat (thr0, ==, w->cc_threshold);
    g_assert_true (tsr_window_set_param (win, "gate.cc_margin", 0.2));
    g_assert_true (iterate_until (win, not_busy, 60));
    TsrWeights *w2 = tsr_window_get_weights (win);
    g_assert_true (w2 != w);
    double want = MAX (0.35, w2->cc_median - MAX (4 * 1.4826 * w2->cc_mad, 0.2));
    g_assert_cmpfloat (fabs (w2->cc_threshold - want), <, 1e-12);
    g_assert_cmpfloat (fabs (tsr_report_cc_gate (a, w2) - want), <, 1e-12);
    g_assert_cmpfloat (fabs (tsr_report_cc_gate (a, w2) - thr0), >, 0.1);
    g_assert_cmpfloat (w2->gate_params.reject_cc_margin_min, ==, 0.2);
    /* trust_stars decides: a switch in the panel */
    g_assert_true (tsr_window_set_param (win, "gate.trust_stars", 0));
    g_assert_true (iterate_until (win, not_busy, 60));
    g_assert_false (tsr_window_get_weights (win)->gate_params.reject_cc_trust_stars);
    g_assert_false (tsr_window_get_params (win)->tbqr.reg.reject_cc_trust_stars);
    g_assert_true (tsr_window_apply_preset (win, "default"));
    g_assert_true (iterate_until (win, not_busy, 60));
    TsrWeights *w3 = tsr_window_get_weights (win);
    g_assert_true (w3->gate_params.reject_cc_trust_stars);
    g_assert_cmpfloat (fabs (tsr_report_cc_gate (a, w3) - thr0), <, 1e-12);
  }
  {
    /* the table's cells come from ui/tsr-frame-table.ui's factories: a row's check and its
     * 16 numbers and words, each with the row's explanation as tooltip, numbers formatted
     * per column (CC: 3 decimals); a click on the check excludes the frame (use-toggled) */
    const char *why = tsr_window_get_frame_explanation (win, valid, NULL);
    g_assert_nonnull (why);
    GPtrArray *cells = g_ptr_array_new ();
    collect_cells (tsr_window_get_frame_table (win), why, cells);
    GtkWidget *check = NULL;
    guint n_labels = 0;
    gboolean cc_seen = FALSE;
    g_autofree char *cc_text = g_strdup_printf ("%.3f", a->reg->frames[valid].cc);
    for (guint i = 0; i < cells->len; i++)
      if (GTK_IS_CHECK_BUTTON (cells->pdata[i]))
        check = cells->pdata[i];
      else
        {
          n_labels++;
          cc_seen |= strcmp (gtk_label_get_text (cells->pdata[i]), cc_text) == 0;
        }
    g_ptr_array_free (cells, TRUE);
    g_assert_nonnull (check);
    g_assert_cmpuint (n_labels, ==, 16);
    g_assert_true (cc_seen);
    g_assert_true (gtk_check_button_get_active (GTK_CHECK_BUTTON (check)));
    gtk_check_button_set_active (GTK_CHECK_BUTTON (check), FALSE);   /* as a click does */
    g_assert_cmpint (tsr_window_get_frame_choice (win, valid), ==, TSR_FRAME_EXCLUDE);
    g_assert_true (iterate_until (win, not_busy, 60));
    g_assert_false (tsr_window_get_weights (win)->used[valid]);
    g_assert_true (tsr_window_set_frame_used (win, valid, TRUE));   /* back to the gate's choice */
    g_assert_true (iterate_until (win, not_busy, 60));
    g_assert_cmpint (tsr_window_get_frame_choice (win, valid), ==, TSR_FRAME_AUTO);
  }
  g_autofree char *project = g_build_filename (dir, "choices.tessera", NULL);
  {
    /* the Use column: a valid frame excluded, a gated one included, by hand */
    guint n_used0 = tsr_window_get_weights (win)->n_used;
    g_assert_true (tsr_window_set_frame_used (win, valid, FALSE));
    g_assert_true (tsr_window_set_frame_used (win, gated, TRUE));
    g_assert_true (iterate_until (win, not_busy, 60));
    TsrWeights *w4 = tsr_window_get_weights (win);
    g_assert_false (w4->used[valid]);
    g_assert_true (w4->used[gated]);
    g_assert_cmpuint (w4->n_used, ==, n_used0);
    g_assert_cmpint (tsr_window_get_frame_choice (win, valid), ==, TSR_FRAME_EXCLUDE);
    g_assert_cmpint (tsr_window_get_frame_choice (win, gated), ==, TSR_FRAME_INCLUDE);
    const char *words = NULL;
    const char *why = tsr_window_get_frame_explanation (win, valid, &words);
    g_assert_nonnull (strstr (words, "excluded by hand"));
    g_assert_nonnull (strstr (why, "Excluded by hand"));
    tsr_window_get_frame_explanation (win, gated, &words);
    g_assert_nonnull (strstr (words, "included by hand"));
    /* a frame without a transform cannot be stacked */
    for (guint f = 0; f < a->reg->n_frames; f++)
      if (!a->reg->frames[f].registered)
        g_assert_false (tsr_window_set_frame_used (win, f, TRUE));
    snapshot_window (win, "gate-choices.png");

    /* saved in the project; they come back with it, and the CLI stacks the same frames */
    g_assert_true (tsr_window_save_project (win, project, &error));
    g_assert_no_error (error);
    gsize len = 0;
    g_autofree char *text = tsr_test_read_file (project, &len);
    g_assert_nonnull (strstr (text, "[frames]"));
    g_assert_true (tsr_window_set_frame_used (win, valid, TRUE));   /* back to the gate's choice */
    g_assert_true (iterate_until (win, not_busy, 60));
    g_assert_cmpint (tsr_window_get_frame_choice (win, valid), ==, TSR_FRAME_AUTO);
    g_assert_true (tsr_window_open_project (win, project, &error));
    g_assert_no_error (error);
    g_assert_true (iterate_until (win, not_busy, 240));
    g_assert_null (tsr_window_get_last_error (win));
    g_assert_cmpint (tsr_window_get_frame_choice (win, valid), ==, TSR_FRAME_EXCLUDE);
    g_assert_cmpint (tsr_window_get_frame_choice (win, gated), ==, TSR_FRAME_INCLUDE);
    TsrWeights *w5 = tsr_window_get_weights (win);
    g_assert_false (w5->used[valid]);
    g_assert_true (w5->used[gated]);

    /* (not into the session's folder: it would join the session at the next scan) */
    g_autofree char *outdir = tsr_test_tmpdir ("app-gate-out");
    g_autofree char *out = g_build_filename (outdir, "cli.fits", NULL);
    const char *args[] = { "process", "--config", project, "-o", out, NULL };
    g_autofree char *cout = NULL, *cerr = NULL;
    int rc = tsr_test_run_cli (args, &cout, &cerr);
    if (rc != 0)
      g_error ("tessera-cli process --config: %d\n%s\n%s", rc, cout, cerr);
    g_assert_nonnull (strstr (cout, "1 gated frame(s) included, 1 frame(s) excluded"));
    g_autoptr (TsrImage) res = tsr_fits_read (out, &error);
    g_assert_no_error (error);
    double ncombine = 0;
    g_assert_true (tsr_header_get_double (res->header, "NCOMBINE", &ncombine));
    g_assert_cmpfloat (ncombine, ==, w5->n_used);
    tsr_test_rmtree (outdir);
  }
  {
    /* problem 6: parameters in words with units, a precision that keeps 0.975, ineffective
     * ones greyed, Reset that measures again */
    const char *unit = NULL;
    const char *label = tsr_window_get_param_label (win, "global.alpha", &unit);
    g_assert_nonnull (label);
    g_assert_null (strstr (label, "global."));
    label = tsr_window_get_param_label (win, "gate.shift_min", &unit);
    g_assert_cmpstr (unit, ==, "px");
    const TsrAnalysis *an = tsr_window_get_analysis (win);
    int t0 = an->tile_size;
    label = tsr_window_get_param_label (win, "tiles.s", &unit);
    g_autofree char *px = g_strdup_printf ("= %d px", t0);
    if (!strstr (unit, px))
      g_error ("tiles.s: unit “%s” does not give the tile size %d px", unit, t0);
    g_assert_true (tsr_window_set_param (win, "gate.cc_min", 0.975));
    g_assert_cmpfloat (tsr_window_get_params (win)->tbqr.reg.reject_cc_min_abs, ==, 0.975);
    g_assert_true (tsr_window_set_param (win, "gate.cc_min", 0.35));
    /* clusters: auto and fewer frames than cluster.auto_min — κ has no effect */
    g_assert_false (tsr_window_param_sensitive (win, "cluster.kappa"));
    g_assert_true (tsr_window_set_param (win, "cluster.mode", TSR_CLUSTER_ON));
    g_assert_true (tsr_window_param_sensitive (win, "cluster.kappa"));
    g_assert_true (iterate_until (win, not_busy, 60));
    /* a tile size measures again; Reset brings the default grid back, measured again */
    g_assert_true (tsr_window_set_param (win, "tiles.s", 20));
    g_assert_true (iterate_until (win, analysing, 30));
    g_assert_true (iterate_until (win, not_busy, 240));
    g_assert_cmpint (tsr_window_get_analysis (win)->tile_size, !=, t0);
    g_assert_true (tsr_window_apply_preset (win, "default"));
    g_assert_true (iterate_until (win, analysing, 30));
    g_assert_true (iterate_until (win, not_busy, 240));
    g_assert_null (tsr_window_get_last_error (win));
    g_assert_cmpint (tsr_window_get_analysis (win)->tile_size, ==, t0);
    g_assert_false (tsr_window_param_sensitive (win, "cluster.kappa"));
    /* the frame choices stayed with the session through both analyses */
    g_assert_cmpint (tsr_window_get_frame_choice (win, valid), ==, TSR_FRAME_EXCLUDE);
    snapshot_window (win, "params.png");
  }

  gtk_window_destroy (GTK_WINDOW (win));
  iterate_for (0.1);
  tsr_test_rmtree (dir);
}


/* The Seestar M 94 session (../shared/data; skipped when absent): with the CC gate made
 * strict through the panel (the star confirmation off, a small margin), a frame is gated for
 * its correlation and the window says why; the stretch on the real result. */
static void
test_window_m94 (void)
{
  if (!need_display ())
    return;
  g_autofree char *m94 = need_data ("seestar-m94-s3");
  if (!m94)
    return;
  TsrWindow *win = open_window (m94, 1560, 960, 280);
  g_assert_cmpuint (tsr_window_get_n_rows (win), ==, 11);
  g_assert_true (tsr_window_set_param (win, "gate.trust_stars", 0));
  g_assert_true (tsr_window_set_param (win, "gate.cc_mad", 2));
  g_assert_true (tsr_window_set_param (win, "gate.cc_margin", 0.005));
  g_assert_true (iterate_until (win, not_busy, 60));
  TsrWeights *w = tsr_window_get_weights (win);
  const TsrAnalysis *a = tsr_window_get_analysis (win);
  g_assert_cmpfloat (fabs (w->cc_threshold - MAX (0.35, w->cc_median - MAX (2 * 1.4826 * w->cc_mad, 0.005))), <, 1e-12);
  int gated = -1;
  for (guint f = 0; f < w->n_frames; f++)
    if ((w->gate[f] & TSR_GATE_CC) && gated < 0)
      gated = (int) f;
  g_assert_cmpint (gated, >=, 0);
  g_assert_false (w->used[gated]);
  const char *words = NULL;
  const char *why = tsr_window_get_frame_explanation (win, gated, &words);
  g_test_message ("M 94 frame %d: %s\n%s", gated, words, why);
  g_assert_nonnull (strstr (words, "low CC"));
  g_autofree char *cc = g_strdup_printf ("CC %.3f, threshold %.3f", a->reg->frames[gated].cc, w->cc_threshold);
  g_assert_nonnull (strstr (why, cc));
  g_assert_true (tsr_window_select_frame (win, gated));
  g_assert_true (iterate_until (win, not_busy, 60));
  tsr_window_set_overlays (win, TSR_OVERLAY_STARS);
  GtkWidget *nb = find_notebook (GTK_WIDGET (win));
  if (nb)
    gtk_notebook_set_current_page (GTK_NOTEBOOK (nb), 2);   /* CC, with the gate's line */
  snapshot_window (win, "m94-gate.png");
  tsr_window_set_overlays (win, 0);

  /* the maps over the live preview (issue #13, problem 4): each one drawn, with its legend */
  tsr_window_set_show (win, TSR_SHOW_PREVIEW);
  iterate_for (0.2);
  static const char *const map_shots[] = { "m94-map-weight.png", "m94-map-quality.png", "m94-map-neff.png",
                                           "m94-map-coverage.png", "m94-map-clusters.png" };
  for (int k = 0; k < TSR_MAP_N_KINDS; k++)
    {
      if (k == TSR_MAP_CLUSTERS)
        {
          g_assert_true (tsr_window_set_param (win, "cluster.mode", 2));   /* on, for the picture */
          g_assert_true (iterate_until (win, not_busy, 60));
        }
      /* the per-frame maps over a frame of the session, the others over the live preview */
      if (k == TSR_MAP_WEIGHT || k == TSR_MAP_QUALITY)
        {
          g_assert_true (tsr_window_select_frame (win, 3));
          g_assert_true (iterate_until (win, not_busy, 60));
        }
      else
        tsr_window_set_show (win, TSR_SHOW_PREVIEW);
      iterate_for (0.2);
      tsr_window_set_map (win, k);
      const TsrMap *m = tsr_image_view_get_map (tsr_window_get_image_view (win));
      g_assert_nonnull (m);
      g_assert_cmpint (m->kind, ==, k);
      guint finite = 0;
      for (guint t = 0; t < m->n_tiles; t++)
        finite += isfinite (m->v[t]);
      g_assert_cmpuint (finite, ==, m->n_tiles);
      snapshot_window (win, map_shots[k]);
    }
  g_assert_true (tsr_window_set_param (win, "cluster.mode", 0));
  g_assert_true (iterate_until (win, not_busy, 60));
  tsr_window_set_overlays (win, 0);

  /* the result with a manual stretch that lifts the faint outer disc */
  g_assert_true (tsr_window_run (win));
  g_assert_true (iterate_until (win, not_busy, 280));
  g_assert_null (tsr_window_get_last_error (win));
  g_assert_nonnull (tsr_window_get_reconstruction (win));
  TsrStretch st;
  tsr_window_get_stretch (win, &st, NULL);
  double b = MIN (st.black[0], MIN (st.black[1], st.black[2]));
  double wh = b + 0.05 * (MAX (st.white[0], MAX (st.white[1], st.white[2])) - b);
  tsr_window_set_stretch (win, TRUE, TRUE, b, 0.08, wh);
  g_assert_true (iterate_until (win, not_busy, 60));
  if (nb)
    gtk_notebook_set_current_page (GTK_NOTEBOOK (nb), 5);
  snapshot_window (win, "m94-stretch.png");
  tsr_window_set_stretch (win, FALSE, FALSE, 0, 0, 0);
  g_assert_true (iterate_until (win, not_busy, 60));
  snapshot_window (win, "m94-unlinked.png");
  /* result against the mean stack of the same frames, split */
  tsr_window_set_show (win, TSR_SHOW_RESULT);
  tsr_window_set_split (win, TRUE);
  g_assert_true (iterate_until (win, not_busy, 60));
  g_assert_true (tsr_image_view_has_compare (tsr_window_get_image_view (win)));
  tsr_image_view_zoom_by (tsr_window_get_image_view (win), 2.5);
  snapshot_window (win, "m94-split.png");
  gtk_window_destroy (GTK_WINDOW (win));
  iterate_for (0.1);
}


/* ---------------------------------------------------------------- maps (#13, problem 4) and friction (problem 7) */

/* Render the view (its size) into a new surface. */
static cairo_surface_t *
render_view (TsrWindow *win, int *w_out, int *h_out)
{
  TsrImageView *view = tsr_window_get_image_view (win);
  int w = gtk_widget_get_width (GTK_WIDGET (view)), h = gtk_widget_get_height (GTK_WIDGET (view));
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, w, h);
  cairo_t *cr = cairo_create (s);
  tsr_image_view_render (view, cr, w, h);
  cairo_destroy (cr);
  cairo_surface_flush (s);
  *w_out = w;
  *h_out = h;
  return s;
}

static void
pixel_at (cairo_surface_t *s, int x, int y, double rgb[3])
{
  const guint8 *p = cairo_image_surface_get_data (s) + (gsize) y * cairo_image_surface_get_stride (s) + 4 * x;
  rgb[0] = p[2] / 255.0;
  rgb[1] = p[1] / 255.0;
  rgb[2] = p[0] / 255.0;
}

/* Every tile of the map drawn where it belongs: at each tile centre clear of the legend, the
 * pixel is the map's colour of that tile's value blended (alpha 0.45) over the image without
 * the map, or the grey of "no value". Returns the number of tiles checked. */
static guint
assert_map_drawn (TsrWindow *win, const char *what)
{
  TsrImageView *view = tsr_window_get_image_view (win);
  const TsrAnalysis *a = tsr_window_get_analysis (win);
  const TsrMap *m = tsr_image_view_get_map (view);
  g_assert_nonnull (m);
  g_assert_cmpuint (m->n_tiles, ==, a->n_tiles);
  int w, h;
  cairo_surface_t *with = render_view (win, &w, &h);
  tsr_window_set_overlays (win, 0);
  g_assert_null (tsr_image_view_get_map (view));
  cairo_surface_t *without = render_view (win, &w, &h);
  tsr_window_set_overlays (win, TSR_OVERLAY_WEIGHTS);
  m = tsr_image_view_get_map (view);
  guint checked = 0, differs = 0;
  /* the cells partition the image: no tile drawn over another (overlapping translucent cells
   * once blended twice at the edges), none missing */
  double area = 0;
  for (guint t = 0; t < a->n_tiles; t++)
    {
      double x0, y0, x1, y1;
      tsr_map_tile_cell (a, t, &x0, &y0, &x1, &y1);
      g_assert_cmpfloat (x1, >, x0);
      g_assert_cmpfloat (y1, >, y0);
      g_assert_cmpfloat (x0, <=, a->tiles[t].cx);
      g_assert_cmpfloat (x1, >=, a->tiles[t].cx);
      area += (x1 - x0) * (y1 - y0);
    }
  g_assert_cmpfloat (fabs (area - (double) a->width * a->height), <, 1e-6);
  for (guint t = 0; t < a->n_tiles; t++)
    {
      /* the middle of the tile's cell, if it is wide enough to hold a pixel away from its
       * outline */
      double cx0, cy0, cx1, cy1, wx, wy, wx0, wy0, wx1, wy1;
      tsr_map_tile_cell (a, t, &cx0, &cy0, &cx1, &cy1);
      g_assert_true (tsr_image_view_image_to_widget (view, (cx0 + cx1) / 2 - 0.5, (cy0 + cy1) / 2 - 0.5, &wx, &wy));
      g_assert_true (tsr_image_view_image_to_widget (view, cx0, cy0, &wx0, &wy0));
      g_assert_true (tsr_image_view_image_to_widget (view, cx1, cy1, &wx1, &wy1));
      if (wx1 - wx0 < 8 || wy1 - wy0 < 8)
        continue;
      guint last = t;
      int x = (int) floor (wx), y = (int) floor (wy);
      if (x < 2 || y < 2 || x >= w - 2 || y >= h - 2 || (x > w - 340 && y > h - 170))
        continue;   /* off the view, or under the legend */

      double c[3], base[3], got[3], want[3];
      pixel_at (with, x, y, got);
      pixel_at (without, x, y, base);
      double alpha = 0.45;
      if (!tsr_map_color (m, m->v[last], &c[0], &c[1], &c[2]))
        c[0] = c[1] = c[2] = 0.5, alpha = 0.3;
      for (int k = 0; k < 3; k++)
        want[k] = alpha * c[k] + (1 - alpha) * base[k];
      double err = fabs (got[0] - want[0]) + fabs (got[1] - want[1]) + fabs (got[2] - want[2]);
      if (err > 0.05 && g_getenv ("TSR_MAP_DEBUG"))
        {
          cairo_surface_write_to_png (with, "/tmp/w3-with.png");
          cairo_surface_write_to_png (without, "/tmp/w3-without.png");
        }
      if (err > 0.05)
        g_error ("%s: tile %u at %d,%d is %.3f %.3f %.3f, the map says %.3f %.3f %.3f (value %g)", what, last, x, y,
                 got[0], got[1], got[2], want[0], want[1], want[2], m->v[last]);
      differs += fabs (got[0] - base[0]) + fabs (got[1] - base[1]) + fabs (got[2] - base[2]) > 0.02;
      checked++;
    }
  /* the legend: the lower right corner changes with the map */
  double lw[3], lb[3];
  pixel_at (with, w - 20, h - 20, lw);
  pixel_at (without, w - 20, h - 20, lb);
  g_assert_cmpfloat (fabs (lw[0] - lb[0]) + fabs (lw[1] - lb[1]) + fabs (lw[2] - lb[2]), >, 0.02);
  cairo_surface_destroy (with);
  cairo_surface_destroy (without);
  g_assert_cmpuint (checked, >=, a->n_tiles / 3);
  g_assert_cmpuint (differs, >, checked / 2);
  g_test_message ("%s: %u tiles drawn as the map says (%s)", what, checked, m->title);
  return checked;
}

/* The maps over the live preview, live with re-weighing; then zoom and pan from the
 * keyboard's actions, blink, and Quit asking about a changed project. */
static void
test_window_maps (void)
{
  if (!need_display ())
    return;
  g_autofree char *dir = tsr_test_tmpdir ("app-maps");
  TsrSynthParams sp;
  tsr_synth_params_init (&sp);
  sp.n_frames = 7;
  sp.width = 800;
  sp.height = 520;
  sp.shift_max = 40;   /* frames that miss the edge tiles: coverage below the frame count there */
  sp.rotation_max_deg = 0.5;
  GError *error = NULL;
  TsrSynthTruth *truth = tsr_synth_write_session (&sp, dir, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  tsr_synth_truth_free (truth);

  TsrWindow *win = open_window (dir, 1280, 800, 240);
  g_assert_false (tsr_window_is_dirty (win));
  const TsrAnalysis *a = tsr_window_get_analysis (win);
  TsrImageView *view = tsr_window_get_image_view (win);
  tsr_window_set_show (win, TSR_SHOW_PREVIEW);
  iterate_for (0.2);
  g_assert_cmpuint (a->n_tiles, >=, 6);

  /* N_eff: the weighing's (Σw)²/Σw² per tile, between 1 and the frames used */
  tsr_window_set_map (win, TSR_MAP_NEFF);
  TsrWeights *w = tsr_window_get_weights (win);
  const TsrMap *m = tsr_image_view_get_map (view);
  g_assert_nonnull (m);
  g_assert_cmpint (m->kind, ==, TSR_MAP_NEFF);
  for (guint t = 0; t < a->n_tiles; t++)
    {
      double s1 = 0, s2 = 0;
      for (guint f = 0; f < w->n_frames; f++)
        {
          double x = w->w[(gsize) f * w->n_tiles + t];
          s1 += x, s2 += x * x;
        }
      g_assert_cmpfloat (fabs (m->v[t] - (s2 > 0 ? s1 * s1 / s2 : 0)), <, 1e-3 * MAX (1, m->v[t]));
      g_assert_cmpfloat (m->v[t], <=, w->n_used + 1e-3);
    }
  assert_map_drawn (win, "N_eff");
  snapshot_window (win, "map-neff.png");

  /* coverage: the used frames whose footprint holds the tile centre, counted here from the
   * registration's transforms */
  tsr_window_set_map (win, TSR_MAP_COVERAGE);
  m = tsr_image_view_get_map (view);
  guint partial = 0;
  for (guint t = 0; t < a->n_tiles; t++)
    {
      guint c = 0;
      for (guint f = 0; f < w->n_frames; f++)
        {
          double x, y;
          if (!w->used[f] || !a->reg->frames[f].registered)
            continue;
          tsr_transform_apply (&a->reg->frames[f].transform, a->tiles[t].cx, a->tiles[t].cy, &x, &y);
          c += x >= -0.5 && y >= -0.5 && x < a->width - 0.5 && y < a->height - 0.5;
        }
      g_assert_cmpfloat (m->v[t], ==, c);
      partial += c < w->n_used;
    }
  g_test_message ("coverage below %u frames on %u of %u tiles", w->n_used, partial, a->n_tiles);
  assert_map_drawn (win, "coverage");
  snapshot_window (win, "map-coverage.png");

  /* weight and local quality: the selected frame's, or the mean over the used frames */
  tsr_window_set_map (win, TSR_MAP_WEIGHT);
  m = tsr_image_view_get_map (view);
  g_assert_true (m->log_scale);
  for (guint t = 0; t < a->n_tiles; t++)
    {
      double s = 0;
      guint c = 0;
      for (guint f = 0; f < w->n_frames; f++)
        if (w->used[f])
          s += w->w[(gsize) f * w->n_tiles + t], c++;
      g_assert_cmpfloat (fabs (m->v[t] - s / c), <, 1e-5 * MAX (1, s / c));
    }
  assert_map_drawn (win, "weight (mean)");
  snapshot_window (win, "map-weight.png");
  tsr_window_set_map (win, TSR_MAP_QUALITY);
  m = tsr_image_view_get_map (view);
  g_assert_true (m->diverging);
  g_assert_cmpfloat (m->lo, ==, -m->hi);
  assert_map_drawn (win, "local quality (mean)");
  snapshot_window (win, "map-quality.png");
  /* over a frame, that frame's */
  g_assert_true (tsr_window_select_frame (win, 2));
  g_assert_true (iterate_until (win, not_busy, 60));
  iterate_for (0.2);
  g_assert_cmpint (tsr_window_get_show (win), ==, TSR_SHOW_FRAME);
  m = tsr_image_view_get_map (view);
  for (guint t = 0; t < a->n_tiles; t++)
    g_assert_cmpfloat (m->v[t], ==, w->used[2] ? w->q_local[(gsize) 2 * w->n_tiles + t] : NAN);
  g_assert_nonnull (strstr (m->title, "frame 2"));   /* numbered as the table's # column */
  tsr_window_set_show (win, TSR_SHOW_PREVIEW);
  iterate_for (0.2);
  g_assert_nonnull (strstr (tsr_image_view_get_map (view)->title, "mean"));

  /* live: excluding a frame by hand re-weighs, and the maps follow — N_eff and coverage fall
   * where that frame counted */
  guint drop = a->reg->reference == 0 ? 1 : 0;
  g_assert_true (w->used[drop]);
  tsr_window_set_map (win, TSR_MAP_COVERAGE);
  g_autofree float *cov_before = g_memdup2 (tsr_image_view_get_map (view)->v, sizeof (float) * a->n_tiles);
  TsrWeights *w_before = tsr_weights_ref (w);
  g_assert_true (tsr_window_set_frame_used (win, drop, FALSE));
  g_assert_true (iterate_until (win, not_busy, 60));
  w = tsr_window_get_weights (win);
  g_assert_true (w != w_before);
  g_assert_false (w->used[drop]);
  m = tsr_image_view_get_map (view);
  for (guint t = 0; t < a->n_tiles; t++)
    {
      double x, y;
      tsr_transform_apply (&a->reg->frames[drop].transform, a->tiles[t].cx, a->tiles[t].cy, &x, &y);
      gboolean covered = x >= -0.5 && y >= -0.5 && x < a->width - 0.5 && y < a->height - 0.5;
      g_assert_cmpfloat (m->v[t], ==, cov_before[t] - covered);
    }
  tsr_window_set_map (win, TSR_MAP_NEFF);
  m = tsr_image_view_get_map (view);
  for (guint t = 0; t < a->n_tiles; t++)
    g_assert_cmpfloat (fabs (m->v[t] - w->n_eff[t]), <, 1e-6);
  g_assert_true (tsr_window_set_frame_used (win, drop, TRUE));
  g_assert_true (iterate_until (win, not_busy, 60));
  tsr_weights_unref (w_before);
  g_assert_true (tsr_window_is_dirty (win));   /* a frame choice is a change of the project */

  /* clusters: off below cluster.auto_min frames (the map says so and colours nothing); on,
   * each tile shows the cluster with the largest share of its weight */
  tsr_window_set_map (win, TSR_MAP_CLUSTERS);
  m = tsr_image_view_get_map (view);
  g_assert_nonnull (m->note);
  for (guint t = 0; t < a->n_tiles; t++)
    g_assert_true (isnan (m->v[t]));
  g_assert_true (tsr_window_set_param (win, "cluster.mode", 2));   /* on */
  g_assert_true (iterate_until (win, not_busy, 60));
  w = tsr_window_get_weights (win);
  g_assert_cmpint (w->n_clusters, >=, 2);
  m = tsr_image_view_get_map (view);
  g_assert_null (m->note);
  g_assert_cmpint (m->n_classes, ==, w->n_clusters);
  {
    int total = 0;
    for (int k = 0; k < m->n_classes; k++)
      total += m->class_frames[k];
    g_assert_cmpint (total, ==, (int) w->n_used);
  }
  for (guint t = 0; t < a->n_tiles; t++)
    {
      double best = -1;
      int bk = -1;
      for (int k = 0; k < w->n_clusters; k++)
        {
          double sk = 0;
          for (guint f = 0; f < w->n_frames; f++)
            if (w->used[f] && w->cluster[f] == k)
              sk += w->w[(gsize) f * w->n_tiles + t];
          if (sk > best)
            best = sk, bk = k;
        }
      g_assert_cmpfloat (m->v[t], ==, bk);
    }
  assert_map_drawn (win, "clusters");
  snapshot_window (win, "map-clusters.png");
  g_assert_true (tsr_window_set_param (win, "cluster.mode", 0));
  g_assert_true (iterate_until (win, not_busy, 60));

  /* the column headers sort: by FWHM, largest first, then by file name */
  g_assert_true (tsr_window_sort_frames (win, "fwhm", TRUE));
  {
    guint nr = tsr_window_get_n_rows (win);
    double prev = INFINITY;
    for (guint i = 0; i < nr; i++)
      {
        int f = tsr_window_get_row_frame (win, i);
        g_assert_cmpint (f, >=, 0);
        double fw = a->reg->frames[f].fwhm;
        if (isfinite (fw))
          {
            g_assert_cmpfloat (fw, <=, prev + 1e-9);
            prev = fw;
          }
      }
    g_assert_true (tsr_window_sort_frames (win, "index", FALSE));
    for (guint i = 0; i < nr; i++)
      g_assert_cmpint (tsr_window_get_row_frame (win, i), ==, (int) i);
  }

  /* zoom and pan from the keyboard (the window's actions: Ctrl+plus, Ctrl+0, Alt+arrows) */
  tsr_window_set_overlays (win, 0);
  double z0, ox0, oy0, z1, ox1, oy1;
  tsr_image_view_get_view (view, &z0, &ox0, &oy0);
  g_action_group_activate_action (G_ACTION_GROUP (win), "zoom-in", NULL);
  tsr_image_view_get_view (view, &z1, &ox1, &oy1);
  g_assert_cmpfloat (fabs (z1 / z0 - 1.25), <, 1e-9);
  g_action_group_activate_action (G_ACTION_GROUP (win), "pan-right", NULL);
  double z2, ox2, oy2;
  tsr_image_view_get_view (view, &z2, &ox2, &oy2);
  g_assert_cmpfloat (fabs ((ox2 - ox1) * z2 - 0.1 * gtk_widget_get_width (GTK_WIDGET (view))), <, 1e-6);
  g_assert_cmpfloat (oy2, ==, oy1);
  g_action_group_activate_action (G_ACTION_GROUP (win), "zoom-one", NULL);
  tsr_image_view_get_view (view, &z2, &ox2, &oy2);
  g_assert_cmpfloat (z2, ==, 1.0);
  g_action_group_activate_action (G_ACTION_GROUP (win), "zoom-fit", NULL);
  tsr_image_view_get_view (view, &z2, &ox2, &oy2);
  g_assert_cmpfloat (fabs (z2 - z0), <, 1e-9);
  g_assert_cmpfloat (fabs (ox2 - ox0), <, 1e-9);

  /* blink: the registered frames one after another, then back to what was shown */
  TsrImage *shown = view_image (win);
  g_assert_true (tsr_window_set_blink (win, TRUE));
  guint n_shown = 0;
  int seen[16] = { 0 };
  gint64 end = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < end)
    {
      g_main_context_iteration (NULL, FALSE);
      int f = tsr_window_get_blink_frame (win, &n_shown);
      if (f >= 0 && f < 16)
        seen[f] = 1;
      if (n_shown >= 4)
        break;
      g_usleep (5000);
    }
  g_assert_cmpuint (n_shown, >=, 4);
  int distinct = 0;
  for (int i = 0; i < 16; i++)
    distinct += seen[i];
  g_assert_cmpint (distinct, >=, 3);
  g_assert_true (view_image (win) != shown);
  g_assert_cmpstr (tsr_window_get_status_text (win), !=, "");
  g_assert_nonnull (strstr (tsr_window_get_status_text (win), "Blink"));
  snapshot_window (win, "blink.png");
  tsr_window_set_blink (win, FALSE);
  iterate_for (0.7);
  g_assert_true (view_image (win) == shown);
  g_assert_cmpint (tsr_window_get_blink_frame (win, NULL), ==, -1);

  /* Quit asks while the project changed: Cancel keeps the window, saving makes it clean,
   * a clean window closes at once */
  g_assert_true (tsr_window_is_dirty (win));
  gpointer alive = win;
  g_object_add_weak_pointer (G_OBJECT (win), &alive);
  gtk_window_close (GTK_WINDOW (win));
  iterate_for (0.2);
  g_assert_nonnull (alive);
  GtkWidget *q = tsr_window_get_close_dialog (win);
  g_assert_nonnull (q);
  gtk_dialog_response (GTK_DIALOG (q), GTK_RESPONSE_CANCEL);
  iterate_for (0.1);
  g_assert_nonnull (alive);
  g_assert_null (tsr_window_get_close_dialog (win));
  g_autofree char *project = g_build_filename (dir, "maps.tessera", NULL);
  g_assert_true (tsr_window_save_project (win, project, &error));
  g_assert_no_error (error);
  g_assert_false (tsr_window_is_dirty (win));
  gtk_window_close (GTK_WINDOW (win));
  iterate_for (0.2);
  g_assert_null (alive);
  tsr_test_rmtree (dir);
}

/* A folder whose frames are in subfolders (one per night) opens with its subfolders; two
 * folders open as one session; and the calibration section: bias, darks and flats applied by
 * the window as tessera-cli applies them. */
static void
write_raw (const char *path, const float *v, int w, int h, const char *type, double exptime, const char *date)
{
  g_autofree char *t = g_strdup_printf ("IMAGETYP= '%s'", type);
  g_autofree char *e = g_strdup_printf ("EXPTIME = %.1f", exptime);
  g_autofree char *d = date ? g_strdup_printf ("DATE-OBS= '%s'", date) : NULL;
  const char *cards[] = { t, e, "BAYERPAT= 'RGGB'", d, NULL };
  tsr_test_write_fits (path, -32, w, h, 1, v, cards);
}

/* Median sky of a box near the upper left corner over that of a centre box (first channel). */
static double
sky_corner_ratio (const TsrImage *img)
{
  int bx = img->width / 8, by = img->height / 8;
  GArray *v[2] = { g_array_new (FALSE, FALSE, sizeof (float)), g_array_new (FALSE, FALSE, sizeof (float)) };
  for (int y = 0; y < by; y++)
    for (int x = 0; x < bx; x++)
      {
        int xs[2] = { bx + x, img->width / 2 - bx / 2 + x }, ys[2] = { by + y, img->height / 2 - by / 2 + y };
        for (int i = 0; i < 2; i++)
          {
            gsize k = (gsize) ys[i] * img->width + xs[i];
            if (img->mask[k])
              g_array_append_val (v[i], img->data[k]);
          }
      }
  double m[2];
  for (int i = 0; i < 2; i++)
    {
      g_assert_cmpuint (v[i]->len, >, 10);
      m[i] = tsr_median_inplace ((float *) v[i]->data, v[i]->len);
      g_array_unref (v[i]);
    }
  return m[0] / m[1];
}

static void
test_window_calib (void)
{
  if (!need_display ())
    return;
  g_autofree char *dir = tsr_test_tmpdir ("app-calib");
  GError *error = NULL;
  const int W = 320, H = 240;
  const double T = 30;
  TsrSynthParams sp;
  tsr_synth_params_init (&sp);
  sp.n_frames = 6;
  sp.width = W;
  sp.height = H;
  sp.cfa = TSR_CFA_RGGB;
  sp.shift_max = 4;
  sp.rotation_max_deg = 0.2;
  sp.gradient = 0;
  sp.sky_drift = 0;
  sp.sky = 1000;
  sp.bias = 0;
  sp.extended = FALSE;   /* no nebulosity in the sky boxes */
  sp.transparency_drop = 0;
  sp.exposure = T;
  sp.n_mirrored = sp.n_noise = sp.n_trails = 0;
  g_autofree char *sdir = NULL;
  g_autoptr (TsrSession) synth = tsr_test_synth_session (&sp, NULL, "app-calib-synth", &sdir, NULL);

  /* the camera: a bias with a column pattern, dark current with hot pixels, vignetting */
  g_autofree float *bias = g_new (float, W * H), *rate = g_new (float, W * H), *vig = g_new (float, W * H);
  GRand *rng = g_rand_new_with_seed (7);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      {
        int k = y * W + x;
        bias[k] = 500 + 20 * ((x % 7) == 0);
        rate[k] = g_rand_double (rng) < 0.002 ? 200 : 0.5;
        double rx = (x - W / 2.0) / (W / 2.0), ry = (y - H / 2.0) / (H / 2.0);
        vig[k] = 1 - 0.35 * (rx * rx + ry * ry) / 2;
      }
  /* lights in two nights' subfolders */
  g_autofree char *lights = g_build_filename (dir, "lights", NULL);
  char *night[2] = { g_build_filename (lights, "night1", NULL), g_build_filename (lights, "night2", NULL) };
  g_mkdir_with_parents (night[0], 0755);
  g_mkdir_with_parents (night[1], 0755);
  g_autofree float *buf = g_new (float, W * H);
  for (guint i = 0; i < tsr_session_n_frames (synth); i++)
    {
      const TsrFrameInfo *fi = tsr_session_frame (synth, i);
      g_autoptr (TsrImage) img = tsr_fits_read (fi->path, &error);
      g_assert_nonnull (img);
      for (int k = 0; k < W * H; k++)
        buf[k] = (float) (img->data[k] * vig[k] + bias[k] + rate[k] * T + g_rand_double (rng));
      g_autofree char *out = g_build_filename (night[i % 2], fi->name, NULL);
      write_raw (out, buf, W, H, "Light Frame", T, fi->info.date_obs);
    }
  const char *kinds[3] = { "bias", "darks", "flats" };
  char *cdir[3];
  for (int c = 0; c < 3; c++)
    {
      cdir[c] = g_build_filename (dir, kinds[c], NULL);
      g_mkdir_with_parents (cdir[c], 0755);
      for (int i = 0; i < 5; i++)
        {
          for (int k = 0; k < W * H; k++)
            buf[k] = (float) (bias[k] + (c == 1 ? rate[k] * T : 0) + (c == 2 ? 20000 * vig[k] : 0)
                              + 2 * (g_rand_double (rng) - 0.5));
          g_autofree char *name = g_strdup_printf ("%s-%d.fits", kinds[c], i);
          g_autofree char *out = g_build_filename (cdir[c], name, NULL);
          write_raw (out, buf, W, H, c == 0 ? "Bias Frame" : c == 1 ? "Dark Frame" : "Flat Frame",
                     c == 0 ? 0.001 : c == 1 ? T : 1.0, NULL);
        }
    }
  g_rand_free (rng);

  TsrWindow *win = new_window (1400, 900);

  /* frames only in subfolders: opened with them (it used to say "no FITS frames found") */
  tsr_window_open_session (win, lights);
  g_assert_true (iterate_until (win, not_busy, 240));
  g_assert_null (tsr_window_get_last_error (win));
  g_assert_cmpuint (tsr_window_get_n_rows (win), ==, 6);
  g_assert_nonnull (strstr (tsr_window_get_status_text (win), "subfolders"));
  /* two folders: one session */
  {
    g_autoptr (GFile) f0 = g_file_new_for_path (night[0]);
    g_autoptr (GFile) f1 = g_file_new_for_path (night[1]);
    GFile *files[] = { f0, f1 };
    g_assert_true (tsr_window_open_files (win, files, 2));
    g_assert_true (iterate_until (win, not_busy, 240));
    g_assert_null (tsr_window_get_last_error (win));
    g_assert_cmpuint (tsr_window_get_n_rows (win), ==, 6);
  }
  g_assert_null (tsr_window_get_calib_master (win, TSR_CALIB_BIAS));
  tsr_window_set_show (win, TSR_SHOW_PREVIEW);
  iterate_for (0.2);
  g_autoptr (TsrImage) raw_preview = tsr_image_ref ((TsrImage *) tsr_window_get_preview (win));

  /* the calibration section: each input analyses the session again, calibrated */
  g_assert_true (tsr_window_set_calib (win, TSR_CALIB_BIAS, cdir[0]));
  g_assert_true (iterate_until (win, not_busy, 240));
  g_assert_true (tsr_window_set_calib (win, TSR_CALIB_DARK, cdir[1]));
  g_assert_true (iterate_until (win, not_busy, 240));
  g_assert_true (tsr_window_set_calib (win, TSR_CALIB_FLAT, cdir[2]));
  g_assert_true (iterate_until (win, not_busy, 240));
  g_assert_null (tsr_window_get_last_error (win));
  g_assert_true (tsr_window_is_dirty (win));
  const TsrImage *mb = tsr_window_get_calib_master (win, TSR_CALIB_BIAS);
  const TsrImage *md = tsr_window_get_calib_master (win, TSR_CALIB_DARK);
  const TsrImage *mf = tsr_window_get_calib_master (win, TSR_CALIB_FLAT);
  g_assert_nonnull (mb);
  g_assert_nonnull (md);
  g_assert_nonnull (mf);
  /* the masters are the camera's: bias pattern, dark current, the flat's vignetting */
  g_assert_cmpfloat (fabs (mb->data[0] - bias[0]), <, 1.5);
  g_assert_cmpfloat (fabs (mb->data[1] - bias[1]), <, 1.5);
  const char *bs = tsr_window_get_calib_stats (win, TSR_CALIB_BIAS);
  const char *ds = tsr_window_get_calib_stats (win, TSR_CALIB_DARK);
  g_test_message ("bias: %s\ndarks: %s\nflats: %s", bs, ds, tsr_window_get_calib_stats (win, TSR_CALIB_FLAT));
  g_assert_nonnull (strstr (bs, "5 frames"));
  g_assert_nonnull (strstr (ds, "hot/cold pixels"));
  g_assert_true (strstr (tsr_window_get_status_text (win), "Calibrated") != NULL);
  snapshot_window (win, "calibration.png");
  /* a click on the flat's thumbnail shows it larger */
  g_assert_true (tsr_window_show_calib_master (win, TSR_CALIB_FLAT));
  iterate_for (0.3);
  snapshot_window (win, "calibration-flat.png");

  /* the run is calibrated: the flat's vignetting is gone from the result's sky (corner over
   * centre near 1; the uncalibrated preview keeps 1 − 0.35·…), and the result equals
   * tessera-cli's with the same inputs */
  g_assert_true (tsr_window_run (win));
  g_assert_true (iterate_until (win, not_busy, 240));
  g_assert_null (tsr_window_get_last_error (win));
  const TsrReconstruction *r = tsr_window_get_reconstruction (win);
  g_assert_nonnull (r);
  g_autofree char *win_out = g_build_filename (dir, "window.fits", NULL);
  g_assert_true (tsr_window_export (win, win_out, TSR_EXPORT_FITS));
  g_assert_true (iterate_until (win, not_busy, 60));
  g_autofree char *cli_out = g_build_filename (dir, "cli.fits", NULL);
  const char *args[] = { "process", "--deep-sky", night[0], night[1], "-o", cli_out, "--bias", cdir[0], "--darks",
                         cdir[1], "--flats", cdir[2], NULL };
  g_autofree char *so = NULL, *se = NULL;
  int rc = tsr_test_run_cli (args, &so, &se);
  g_test_message ("%s%s", so, se);
  g_assert_cmpint (rc, ==, 0);
  g_autoptr (TsrImage) a_img = tsr_fits_read (win_out, &error);
  g_assert_no_error (error);
  g_autoptr (TsrImage) b_img = tsr_fits_read (cli_out, &error);
  g_assert_no_error (error);
  g_assert_cmpint (a_img->width, ==, b_img->width);
  g_assert_cmpint (a_img->channels, ==, b_img->channels);
  double md_ab = 0, scale = 0;
  gsize n = (gsize) a_img->width * a_img->height * a_img->channels;
  for (gsize i = 0; i < n; i++)
    if (a_img->mask[i % ((gsize) a_img->width * a_img->height)] && b_img->mask[i % ((gsize) a_img->width * a_img->height)])
      {
        md_ab = MAX (md_ab, fabs (a_img->data[i] - b_img->data[i]));
        scale = MAX (scale, fabs (b_img->data[i]));
      }
  g_test_message ("window vs CLI, calibrated: max |difference| %.3g of max %.3g", md_ab, scale);
  g_assert_cmpfloat (md_ab, <=, 1e-4 * scale);
  /* the sky: vignetted before (the uncalibrated preview), flat after (the calibrated result) */
  double raw_ratio = sky_corner_ratio (raw_preview), cal_ratio = sky_corner_ratio (r->result);
  g_test_message ("corner/centre sky: uncalibrated preview %.4f, calibrated result %.4f", raw_ratio, cal_ratio);
  g_assert_cmpfloat (raw_ratio, <, 0.96);
  g_assert_cmpfloat (fabs (cal_ratio - 1), <, 0.02);
  gtk_window_destroy (GTK_WINDOW (win));
  iterate_for (0.1);
  tsr_test_rmtree (dir);
  tsr_test_rmtree (sdir);
  for (int i = 0; i < 2; i++)
    g_free (night[i]);
  for (int c = 0; c < 3; c++)
    g_free (cdir[c]);
}

/* The real two-night Seestar session: frames only in subfolders (issue #13, problem 7). */
static void
test_window_ngc7023 (void)
{
  if (!need_display ())
    return;
  g_autofree char *ngc = need_data ("seestar-ngc7023");
  if (!ngc)
    return;
  TsrWindow *win = new_window (1280, 800);
  tsr_window_open_session (win, ngc);
  iterate_for (1.5);
  if (tsr_window_is_busy (win))
    snapshot_window (win, "progress.png");   /* the progress text, readable (issue #13, problem 7) */
  g_assert_true (iterate_until (win, not_busy, 280));
  g_assert_null (tsr_window_get_last_error (win));
  g_assert_cmpuint (tsr_window_get_n_rows (win), ==, 6);
  g_test_message ("%s", tsr_window_get_status_text (win));
  g_assert_nonnull (strstr (tsr_window_get_status_text (win), "subfolders"));
  gtk_window_destroy (GTK_WINDOW (win));
  iterate_for (0.1);
}

/* Issue #19: the frame table stays responsive with a night of frames. A timeout source of
 * its own measures the longest gap between turns of the main loop while the window opens a
 * session of TSR_APP_ROWS (2000) tiny frames (scan, analysis, the table filling), re-weighs
 * it (every row's weight changes) and scrolls to the last row. */
typedef struct
{
  gint64 last, worst;
} Gap;

static gboolean
gap_tick (gpointer data)
{
  Gap *g = data;
  gint64 now = g_get_monotonic_time ();
  if (g->last)
    g->worst = MAX (g->worst, now - g->last);
  g->last = now;
  return G_SOURCE_CONTINUE;
}

static gboolean
has_history_card (const TsrImage *img, const char *needle)
{
  for (guint i = 0; i < tsr_header_n_cards (img->header); i++)
    if (strstr (tsr_header_card (img->header, i), needle))
      return TRUE;
  return FALSE;
}

/* The sky gradient: the slope (per image width/height, summed in quadrature) of a plane fitted
 * to the 4 × 4 block medians of channel 0 (stars do not move a median) */
static double
block_sky_range (const TsrImage *img)
{
  double sb = 0, sc = 0, suu = 0, svv = 0;
  int bw = img->width / 4, bh = img->height / 4;
  g_autofree float *v = g_new (float, (gsize) bw * bh);
  for (int by = 0; by < 4; by++)
    for (int bx = 0; bx < 4; bx++)
      {
        gsize n = 0;
        for (int y = by * bh; y < (by + 1) * bh; y++)
          for (int x = bx * bw; x < (bx + 1) * bw; x++)
            if (img->mask[(gsize) y * img->width + x])
              v[n++] = img->data[(gsize) y * img->width + x];
        if (n < 16)
          continue;
        double m = tsr_median_inplace (v, n), u = bx - 1.5, w = by - 1.5;
        sb += m * u, suu += u * u, sc += m * w, svv += w * w;
      }
  return 4 * hypot (sb / suu, sc / svv);
}

static guint
count_state (TsrWindow *win, TsrBgSampleState st)
{
  guint n = 0, c = 0;
  const TsrBgSample *s = tsr_window_get_bg_samples (win, &n);
  for (guint i = 0; i < n; i++)
    c += s[i].state == st;
  return c;
}

/* Issue #17 in the window: background extraction and colour calibration of the result, the
 * sky samples drawn and edited, undo by turning the steps off, export of the corrected
 * result, and drizzle scale 2 shown at the overlays' scale. */
static void
test_window_post (void)
{
  if (!need_display ())
    return;
  g_autofree char *dir = tsr_test_tmpdir ("app-post");
  TsrSynthParams sp;
  tsr_synth_params_init (&sp);
  sp.n_frames = 8;
  sp.width = 320;
  sp.height = 240;
  sp.cfa = TSR_CFA_RGGB;
  sp.gradient = 0.3;
  sp.shift_max = 5;
  GError *error = NULL;
  TsrSynthTruth *truth = tsr_synth_write_session (&sp, dir, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  tsr_synth_truth_free (truth);

  TsrWindow *win = open_window (dir, 1280, 800, 240);
  g_assert_true (tsr_window_run (win));
  g_assert_true (iterate_until (win, not_busy, 240));
  const TsrReconstruction *rec = tsr_window_get_reconstruction (win);
  g_assert_nonnull (rec);
  g_assert_cmpint (rec->result->channels, ==, 3);
  TsrImageView *view = tsr_window_get_image_view (win);
  guint napp = 0;
  g_assert_null (tsr_window_get_post_result (win, &napp));
  g_assert_cmpuint (napp, ==, 0);
  g_assert_true (tsr_image_view_get_image (view) == rec->result);
  /* the drizzle and post rows are in the panel, with words */
  g_assert_nonnull (tsr_window_get_param_label (win, "drizzle.scale", NULL));
  g_assert_nonnull (tsr_window_get_param_label (win, "post.background_kappa", NULL));
  g_assert_false (tsr_window_param_sensitive (win, "post.background_degree"));

  /* background extraction on: applied in a worker, the corrected result shown */
  g_assert_true (tsr_window_set_param (win, "post.background", 1));
  g_assert_true (tsr_window_param_sensitive (win, "post.background_degree"));
  g_assert_true (iterate_until (win, not_busy, 120));
  g_assert_null (tsr_window_get_last_error (win));
  const TsrImage *c1 = tsr_window_get_post_result (win, &napp);
  g_assert_nonnull (c1);
  g_assert_cmpuint (napp, ==, 1);
  g_assert_true (tsr_image_view_get_image (view) == c1);
  g_assert_true (has_history_card (c1, "tessera background"));
  double before = block_sky_range (rec->result), after = block_sky_range (c1);
  g_test_message ("window: sky gradient across the field %.2f → %.2f", before, after);
  g_assert_cmpfloat (after, <, before);
  {
    /* exactly the engine's step on the linear result with the panel's parameters */
    g_autoptr (TsrImage) ref = tsr_background_extract (rec->result, &tsr_window_get_params (win)->post, NULL, NULL,
                                                       NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpmem (ref->data, tsr_image_npix (ref) * 3 * sizeof (float), c1->data,
                     tsr_image_npix (c1) * 3 * sizeof (float));
  }
  guint ns = 0;
  const TsrBgSample *s0 = tsr_window_get_bg_samples (win, &ns);
  g_assert_nonnull (s0);
  g_assert_cmpuint (ns, >, 20);
  /* the overlay: hidden until asked for, then every box drawn */
  g_assert_cmpuint (tsr_image_view_get_n_samples_drawn (view), ==, 0);
  tsr_window_set_sample_overlay (win, TRUE, TRUE);
  g_assert_cmpuint (tsr_image_view_get_n_samples_drawn (view), ==, ns);
  snapshot_window (win, "post-samples.png");
  /* only over the corrected result, not over the mean stack */
  tsr_window_set_show (win, TSR_SHOW_MEAN);
  g_assert_cmpuint (tsr_image_view_get_n_samples_drawn (view), ==, 0);
  tsr_window_set_show (win, TSR_SHOW_RESULT);
  g_assert_true (tsr_image_view_get_image (view) == c1);
  g_assert_cmpuint (tsr_image_view_get_n_samples_drawn (view), ==, ns);

  /* a click adds a sample there; a right-click on an automatic one excludes it */
  g_autoptr (TsrImage) keep1 = tsr_image_ref ((TsrImage *) c1);
  g_assert_true (tsr_window_post_pick (win, 30, 30, FALSE));
  g_assert_true (iterate_until (win, not_busy, 120));
  g_assert_cmpuint (count_state (win, TSR_BG_SAMPLE_ADDED), ==, 1);
  const TsrImage *c2 = tsr_window_get_post_result (win, &napp);
  g_assert_cmpuint (napp, ==, 2);
  g_assert_true (has_history_card (c2, "user samples: 1 added, 0 excluded"));
  const TsrBgSample *sm = tsr_window_get_bg_samples (win, &ns);
  double ex = -1, ey = -1;
  for (guint i = 0; i < ns && ex < 0; i++)
    if (sm[i].state == TSR_BG_SAMPLE_USED && hypot (sm[i].x - 30, sm[i].y - 30) > sm[i].size)
      ex = sm[i].x, ey = sm[i].y;
  g_assert_cmpfloat (ex, >=, 0);
  g_assert_true (tsr_window_post_pick (win, ex, ey, TRUE));
  g_assert_true (iterate_until (win, not_busy, 120));
  g_assert_cmpuint (count_state (win, TSR_BG_SAMPLE_EXCLUDED), ==, 1);
  const TsrImage *c3 = tsr_window_get_post_result (win, &napp);
  g_assert_cmpuint (napp, ==, 3);
  g_assert_true (has_history_card (c3, "user samples: 1 added, 1 excluded"));
  g_autoptr (TsrImage) keep3 = tsr_image_ref ((TsrImage *) c3);
  {
    /* the engine with the same edits gives the same pixels */
    TsrBgPoint add = { 30, 30, 0 }, exc = { ex, ey, 0 };
    TsrBackgroundEdits ed = { &add, 1, &exc, 1 };
    g_autoptr (TsrImage) ref = tsr_background_extract_edited (rec->result, &tsr_window_get_params (win)->post, &ed,
                                                              NULL, NULL, NULL, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpmem (ref->data, tsr_image_npix (ref) * 3 * sizeof (float), c3->data,
                     tsr_image_npix (c3) * 3 * sizeof (float));
  }
  /* the edits changed the model: the corrected pixels differ from the first correction */
  double diff = 0;
  for (gsize k = 0; k < tsr_image_npix (c3); k++)
    diff = MAX (diff, fabs (c3->data[k] - keep1->data[k]));
  g_assert_cmpfloat (diff, >, 1e-3);
  snapshot_window (win, "post-edited.png");

  /* drags through the view's pointer path (Edit is on): the added box follows the pointer */
  const GArray *eadd = NULL, *eexc = NULL;
  int ewidth = 0;
  tsr_window_get_bg_edits (win, &eadd, &eexc, &ewidth);
  g_assert_cmpuint (eadd->len, ==, 1);
  g_assert_cmpint (ewidth, ==, rec->result->width);
  double zoom = 0, wx0, wy0, vox, voy;
  tsr_image_view_get_view (view, &zoom, &vox, &voy);
  g_assert_cmpfloat (zoom, >, 0);
  g_assert_true (tsr_image_view_image_to_widget (view, 30, 30, &wx0, &wy0));
  tsr_image_view_pointer_press_release (view, wx0, wy0, wx0 + 40, wy0 + 20, 1, FALSE);
  g_assert_true (iterate_until (win, not_busy, 120));
  tsr_window_get_bg_edits (win, &eadd, &eexc, NULL);
  g_assert_cmpuint (eadd->len, ==, 1);
  g_assert_cmpuint (eexc->len, ==, 1);
  g_assert_cmpfloat (fabs (g_array_index (eadd, TsrBgPoint, 0).x - (30 + 40 / zoom)), <, 1e-6);
  g_assert_cmpfloat (fabs (g_array_index (eadd, TsrBgPoint, 0).y - (30 + 20 / zoom)), <, 1e-6);
  g_assert_cmpuint (tsr_window_get_post_result (win, &napp) != NULL, ==, TRUE);
  g_assert_cmpuint (napp, ==, 4);
  /* an automatic box dragged: an added box at the new place, the old place excluded */
  double ax = -1, ay = -1;
  {
    const TsrBgSample *sa = tsr_window_get_bg_samples (win, &ns);
    for (guint i = 0; i < ns && ax < 0; i++)
      if (sa[i].state == TSR_BG_SAMPLE_USED && hypot (sa[i].x - ex, sa[i].y - ey) > 2 * sa[i].size
          && hypot (sa[i].x - 30, sa[i].y - 30) > 2 * sa[i].size)
        ax = sa[i].x, ay = sa[i].y;
  }
  g_assert_cmpfloat (ax, >=, 0);
  g_assert_true (tsr_image_view_image_to_widget (view, ax + 2, ay + 1, &wx0, &wy0));
  tsr_image_view_pointer_press_release (view, wx0, wy0, wx0 - 30, wy0 + 10, 1, FALSE);
  g_assert_true (iterate_until (win, not_busy, 120));
  tsr_window_get_bg_edits (win, &eadd, &eexc, NULL);
  g_assert_cmpuint (eadd->len, ==, 2);
  g_assert_cmpuint (eexc->len, ==, 2);
  g_assert_cmpfloat (fabs (g_array_index (eadd, TsrBgPoint, 1).x - (ax - 30 / zoom)), <, 1e-6);
  g_assert_cmpfloat (fabs (g_array_index (eadd, TsrBgPoint, 1).y - (ay + 10 / zoom)), <, 1e-6);
  g_assert_cmpfloat (g_array_index (eexc, TsrBgPoint, 1).x, ==, ax);
  g_assert_cmpuint (count_state (win, TSR_BG_SAMPLE_ADDED), ==, 2);
  g_assert_cmpuint (count_state (win, TSR_BG_SAMPLE_EXCLUDED), ==, 2);
  /* a press that moves under the click threshold is a click: Shift excludes */
  double bx = -1, by = -1;
  {
    const TsrBgSample *sa = tsr_window_get_bg_samples (win, &ns);
    for (guint i = 0; i < ns && bx < 0; i++)
      if (sa[i].state == TSR_BG_SAMPLE_USED)
        {
          gboolean clear = TRUE;
          for (guint k = 0; k < eadd->len; k++)
            clear &= fabs (g_array_index (eadd, TsrBgPoint, k).x - sa[i].x) > sa[i].size
                     || fabs (g_array_index (eadd, TsrBgPoint, k).y - sa[i].y) > sa[i].size;
          if (clear)
            bx = sa[i].x, by = sa[i].y;
        }
  }
  g_assert_cmpfloat (bx, >=, 0);
  g_assert_true (tsr_image_view_image_to_widget (view, bx, by, &wx0, &wy0));
  tsr_image_view_pointer_press_release (view, wx0, wy0, wx0 + 2, wy0 + 1, 1, TRUE);
  g_assert_true (iterate_until (win, not_busy, 120));
  g_assert_cmpuint (count_state (win, TSR_BG_SAMPLE_EXCLUDED), ==, 3);
  snapshot_window (win, "post-dragged.png");

  /* Ctrl+Z (win.undo-sample, while Edit is on) undoes the last edit */
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (win), "undo-sample"));
  tsr_window_set_sample_overlay (win, TRUE, FALSE);
  g_assert_false (g_action_group_get_action_enabled (G_ACTION_GROUP (win), "undo-sample"));
  tsr_window_set_sample_overlay (win, TRUE, TRUE);
  g_action_group_activate_action (G_ACTION_GROUP (win), "undo-sample", NULL);
  g_assert_true (iterate_until (win, not_busy, 120));
  g_assert_cmpuint (count_state (win, TSR_BG_SAMPLE_EXCLUDED), ==, 2);
  g_action_group_activate_action (G_ACTION_GROUP (win), "undo-sample", NULL);
  g_assert_true (iterate_until (win, not_busy, 120));
  g_assert_true (tsr_window_post_undo (win));
  g_assert_true (iterate_until (win, not_busy, 120));
  /* back to the edits of the clicks: the same pixels as then */
  tsr_window_get_bg_edits (win, &eadd, &eexc, NULL);
  g_assert_cmpuint (eadd->len, ==, 1);
  g_assert_cmpuint (eexc->len, ==, 1);
  g_assert_cmpfloat (g_array_index (eadd, TsrBgPoint, 0).x, ==, 30);
  {
    const TsrImage *cu = tsr_window_get_post_result (win, &napp);
    g_assert_cmpuint (napp, ==, 9);
    g_assert_cmpmem (cu->data, tsr_image_npix (cu) * 3 * sizeof (float), keep3->data,
                     tsr_image_npix (keep3) * 3 * sizeof (float));
  }

  /* the step's progress in the panel while it runs, and its Cancel: the view keeps what it
   * shows */
  {
    const TsrImage *shown = tsr_window_get_post_result (win, &napp);
    g_assert_null (tsr_window_get_post_progress (win, NULL));
    g_assert_true (tsr_window_post_pick (win, 200, 150, FALSE));
    g_assert_true (tsr_window_is_busy (win));
    const char *phase = tsr_window_get_post_progress (win, NULL);
    g_assert_nonnull (phase);
    g_test_message ("progress while extracting: %s", phase);
    g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (win), "cancel"));
    g_action_group_activate_action (G_ACTION_GROUP (win), "cancel", NULL);
    g_assert_false (tsr_window_is_busy (win));
    g_assert_null (tsr_window_get_post_progress (win, NULL));
    g_assert_nonnull (strstr (tsr_window_get_status_text (win), "Cancelled"));
    iterate_for (0.5);   /* the cancelled worker's output, if any, is dropped */
    guint napp2 = 0;
    g_assert_true (tsr_window_get_post_result (win, &napp2) == shown);
    g_assert_cmpuint (napp2, ==, napp);
    g_assert_true (tsr_image_view_get_image (view) == shown);
    g_assert_true (tsr_window_post_undo (win));   /* the cancelled click's edit goes */
    g_assert_true (iterate_until (win, not_busy, 120));
  }

  /* the edits are saved in the project and come back with it: the same edits, and after the
   * run the same corrected image */
  {
    g_autofree char *proj = g_build_filename (dir, "edits.tessera", NULL);
    g_assert_true (tsr_window_save_project (win, proj, &error));
    g_assert_no_error (error);
    gsize plen = 0;
    g_autofree char *ptext = tsr_test_read_file (proj, &plen);
    g_assert_nonnull (strstr (ptext, "[samples]"));
    TsrWindow *win2 = new_window (1280, 800);
    g_assert_true (tsr_window_open_project (win2, proj, &error));
    g_assert_no_error (error);
    g_assert_true (iterate_until (win2, not_busy, 240));
    g_assert_null (tsr_window_get_last_error (win2));
    const GArray *add2 = NULL, *exc2 = NULL;
    int w2 = 0;
    tsr_window_get_bg_edits (win2, &add2, &exc2, &w2);
    tsr_window_get_bg_edits (win, &eadd, &eexc, &ewidth);
    g_assert_cmpint (w2, ==, ewidth);
    g_assert_cmpuint (add2->len, ==, eadd->len);
    g_assert_cmpuint (exc2->len, ==, eexc->len);
    for (guint i = 0; i < eadd->len; i++)
      {
        g_assert_cmpfloat (g_array_index (add2, TsrBgPoint, i).x, ==, g_array_index (eadd, TsrBgPoint, i).x);
        g_assert_cmpfloat (g_array_index (add2, TsrBgPoint, i).y, ==, g_array_index (eadd, TsrBgPoint, i).y);
      }
    for (guint i = 0; i < eexc->len; i++)
      {
        g_assert_cmpfloat (g_array_index (exc2, TsrBgPoint, i).x, ==, g_array_index (eexc, TsrBgPoint, i).x);
        g_assert_cmpfloat (g_array_index (exc2, TsrBgPoint, i).y, ==, g_array_index (eexc, TsrBgPoint, i).y);
      }
    g_assert_true (tsr_window_get_params (win2)->post.background);
    g_assert_true (tsr_window_run (win2));
    g_assert_true (iterate_until (win2, not_busy, 240));
    g_assert_null (tsr_window_get_last_error (win2));
    const TsrReconstruction *rec2 = tsr_window_get_reconstruction (win2);
    const TsrImage *p1 = tsr_window_get_post_result (win, NULL), *p2 = tsr_window_get_post_result (win2, NULL);
    g_assert_nonnull (p2);
    g_assert_true (has_history_card (p2, "user samples: 1 added, 1 excluded"));
    {
      /* exactly the engine's step with the first window's edits on the new run's result */
      TsrBackgroundEdits ed = { (const TsrBgPoint *) eadd->data, eadd->len, (const TsrBgPoint *) eexc->data, eexc->len };
      g_autoptr (TsrImage) ref = tsr_background_extract_edited (rec2->result, &tsr_window_get_params (win)->post, &ed,
                                                                NULL, NULL, NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpmem (ref->data, tsr_image_npix (ref) * 3 * sizeof (float), p2->data,
                       tsr_image_npix (p2) * 3 * sizeof (float));
    }
    /* and the first window's corrected image, to the rounding in which two runs of the session
     * differ (the threads' summation order) */
    double dr = 0, dp = 0, level = 0;
    for (gsize k = 0; k < tsr_image_npix (p2) * 3; k++)
      {
        dr = MAX (dr, fabs (rec2->result->data[k] - rec->result->data[k]));
        dp = MAX (dp, fabs (p2->data[k] - p1->data[k]));
        level = MAX (level, fabs (p1->data[k]));
      }
    g_test_message ("project reloaded: results differ by %.3g at most, corrected images by %.3g (values up to %.0f)", dr,
                    dp, level);
    g_assert_cmpfloat (dp, <=, 4 * dr + 1e-6 * level);
    gtk_window_destroy (GTK_WINDOW (win2));
    iterate_for (0.2);
  }

  /* colour calibration on top */
  g_assert_true (tsr_window_set_param (win, "post.colour", 1));
  g_assert_true (iterate_until (win, not_busy, 120));
  const TsrImage *c4 = tsr_window_get_post_result (win, &napp);
  g_assert_cmpuint (napp, ==, 11);
  g_assert_true (has_history_card (c4, "tessera colour"));
  g_assert_true (has_history_card (c4, "tessera background"));

  /* export writes what is shown: the corrected linear result with its HISTORY */
  g_autofree char *out = g_build_filename (dir, "result-bg-colour.fits", NULL);
  g_assert_true (tsr_window_export (win, out, TSR_EXPORT_FITS));
  g_assert_true (iterate_until (win, not_busy, 60));
  {
    g_autoptr (TsrImage) back = tsr_fits_read (out, &error);
    g_assert_no_error (error);
    g_assert_true (has_history_card (back, "user samples: 1 added, 1 excluded"));
    g_assert_true (has_history_card (back, "tessera colour"));
  }
  g_assert_nonnull (strstr (tsr_window_get_status_text (win), "HISTORY"));

  /* Reset samples: the automatic set again */
  tsr_window_post_reset_samples (win);
  g_assert_true (iterate_until (win, not_busy, 120));
  g_assert_cmpuint (count_state (win, TSR_BG_SAMPLE_ADDED) + count_state (win, TSR_BG_SAMPLE_EXCLUDED), ==, 0);

  /* undo: both steps off shows the result as stacked */
  g_assert_true (tsr_window_set_param (win, "post.colour", 0));
  g_assert_true (tsr_window_set_param (win, "post.background", 0));
  g_assert_true (iterate_until (win, not_busy, 120));
  g_assert_null (tsr_window_get_post_result (win, NULL));
  g_assert_true (tsr_image_view_get_image (view) == tsr_window_get_reconstruction (win)->result);
  g_assert_cmpuint (tsr_image_view_get_n_samples_drawn (view), ==, 0);

  /* drizzle scale 2: the result is twice the analysis grid, shown at the overlays' scale;
   * the status line says whether it drizzled and why */
  g_assert_true (tsr_window_set_param (win, "drizzle.mode", TSR_DRIZZLE_ON));
  g_assert_true (tsr_window_set_param (win, "drizzle.scale", 2));
  g_assert_cmpint (tsr_window_get_params (win)->tbqr.drizzle_scale, ==, 2);
  g_assert_true (tsr_window_run (win));
  g_assert_true (iterate_until (win, not_busy, 240));
  g_assert_null (tsr_window_get_last_error (win));
  rec = tsr_window_get_reconstruction (win);
  const TsrAnalysis *a = tsr_window_get_analysis (win);
  g_test_message ("drizzle: %s", tsr_window_get_status_text (win));
  g_assert_cmpint (rec->result->width, ==, 2 * a->width);
  g_assert_nonnull (rec->drizzle_note);
  g_assert_nonnull (strstr (tsr_window_get_status_text (win), rec->drizzle_note));
  g_assert_true (tsr_image_view_get_image (view) == rec->result);
  /* reference pixel (W − 1, H − 1), where the tile overlay draws it, is result pixel
   * (2W − 1.5, 2H − 1.5) */
  double wx, wy, ix, iy;
  g_assert_true (tsr_image_view_image_to_widget (view, a->width - 1, a->height - 1, &wx, &wy));
  g_assert_true (tsr_image_view_widget_to_image (view, wx, wy, &ix, &iy));
  g_assert_cmpfloat (fabs (ix - (2 * a->width - 1.5)), <, 1e-6);
  g_assert_cmpfloat (fabs (iy - (2 * a->height - 1.5)), <, 1e-6);
  tsr_window_set_overlays (win, TSR_OVERLAY_TILES);
  snapshot_window (win, "drizzle-2.png");
  tsr_window_set_overlays (win, 0);

  /* a sample added on the scale-2 result follows the session to a scale-1 run */
  g_assert_true (tsr_window_set_param (win, "post.background", 1));
  g_assert_true (iterate_until (win, not_busy, 120));
  g_assert_true (tsr_window_post_pick (win, 2 * a->width - 21, 2 * a->height - 21, FALSE));
  g_assert_true (iterate_until (win, not_busy, 120));
  g_assert_cmpuint (count_state (win, TSR_BG_SAMPLE_ADDED), ==, 1);
  g_assert_true (tsr_window_set_param (win, "drizzle.scale", 1));
  g_assert_true (tsr_window_run (win));
  g_assert_true (iterate_until (win, not_busy, 240));
  rec = tsr_window_get_reconstruction (win);
  g_assert_cmpint (rec->result->width, ==, a->width);
  g_assert_cmpuint (count_state (win, TSR_BG_SAMPLE_ADDED), ==, 1);
  {
    guint n = 0;
    const TsrBgSample *sa = tsr_window_get_bg_samples (win, &n);
    for (guint i = 0; i < n; i++)
      if (sa[i].state == TSR_BG_SAMPLE_ADDED)
        {
          g_assert_cmpfloat (fabs (sa[i].x - (a->width - 10.75)), <=, 1.0);
          g_assert_cmpfloat (fabs (sa[i].y - (a->height - 10.75)), <=, 1.0);
        }
  }

  gtk_window_destroy (GTK_WINDOW (win));
  iterate_for (0.2);
  tsr_test_rmtree (dir);
}

static void
test_window_rows (void)
{
  if (!need_display ())
    return;
  guint nf = 2000;
  const char *env = g_getenv ("TSR_APP_ROWS");
  if (env && atoi (env) > 1)
    nf = (guint) atoi (env);
  g_autofree char *dir = tsr_test_tmpdir ("app-rows");
  TsrSynthParams sp;
  tsr_synth_params_init (&sp);
  sp.n_frames = nf;
  sp.width = 128;
  sp.height = 96;
  sp.shift_max = 3;
  sp.rotation_max_deg = 0.2;
  GError *error = NULL;
  gint64 t0 = g_get_monotonic_time ();
  TsrSynthTruth *truth = tsr_synth_write_session (&sp, dir, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  tsr_synth_truth_free (truth);
  g_test_message ("%u frames of 128 × 96 written in %.1f s", nf, (g_get_monotonic_time () - t0) / 1e6);

  TsrWindow *win = new_window (1280, 800);

  Gap g = { 0, 0 };
  guint src = g_timeout_add (10, gap_tick, &g);
  t0 = g_get_monotonic_time ();
  tsr_window_open_session (win, dir);
  g_assert_true (iterate_until (win, not_busy, 1200));
  double open_s = (g_get_monotonic_time () - t0) / 1e6, open_gap = g.worst / 1e3;
  g_assert_null (tsr_window_get_last_error (win));
  g_assert_cmpuint (tsr_window_get_n_rows (win), ==, nf);

  /* every row's weight changes */
  g.worst = 0, g.last = 0;
  TsrWeights *w0 = tsr_window_get_weights (win);
  g_assert_nonnull (w0);
  tsr_weights_ref (w0);
  g_assert_true (tsr_window_set_param (win, "global.k", 2.0));
  g_assert_true (iterate_until (win, not_busy, 120));
  iterate_for (0.3);
  double weigh_gap = g.worst / 1e3;
  g_assert_true (tsr_window_get_weights (win) != w0);
  tsr_weights_unref (w0);

  /* to the last row and back: the table scrolls there */
  g.worst = 0, g.last = 0;
  g_assert_true (tsr_window_select_frame (win, nf - 1));
  iterate_for (0.3);
  g_assert_true (tsr_window_select_frame (win, 0));
  iterate_for (0.3);
  double scroll_gap = g.worst / 1e3;
  g_source_remove (src);
  g_test_message ("%u rows: opened in %.1f s; longest main-loop gap: %.0f ms while opening, %.0f ms while "
                  "re-weighing, %.0f ms while scrolling (window's own probe: %.0f ms)",
                  nf, open_s, open_gap, weigh_gap, scroll_gap, tsr_window_get_worst_stall_ms (win));
  g_print ("# %u rows: main-loop gap %.0f / %.0f / %.0f ms (open / re-weigh / scroll)\n", nf, open_gap,
           weigh_gap, scroll_gap);
  /* generous bounds for this shared 2-core machine (the figures above are what to read):
   * re-weighing and scrolling keep the table live; switching the window to the opened session
   * (analysis_done: rows, views, figures at once) is the longest gap, of about the same
   * main-thread CPU for 200 and 2000 rows (313 and 285 ms under TSR_STALL_TRACE=1; the rest
   * of the gap is waiting for a CPU) */
  g_assert_cmpfloat (open_gap, <, 5000);
  /* re-weighing: 31–184 ms alone or beside two busy loops, but 2577 ms once in a clean CI run
   * (two test processes on the 2 cores; not reproduced under TSR_STALL_TRACE, cause open,
   * docs/window.md): the bound catches a re-weigh that blocks the main thread for the whole
   * computation, not scheduling on a loaded machine */
  g_assert_cmpfloat (weigh_gap, <, 5000);
  g_assert_cmpfloat (scroll_gap, <, 1500);
  gtk_window_destroy (GTK_WINDOW (win));
  iterate_for (0.1);
}

/* `tessera --set` with a wrong key or value exits 2 with one line naming it, like a wrong
 * --overlays, before any window: it used to print the error and open the window (and --run
 * it) with the default value. Runs the program; no display needed. */
static void
test_bad_set_option (void)
{
  const char *exe = g_getenv ("TSR_APP_EXE");
  if (!exe)
    {
      g_test_skip ("TSR_APP_EXE not set (meson sets it)");
      return;
    }
  const char *bad[][2] = { { "--set", "no.such_key=1" }, { "--set", "global.alpha=7" }, { "--set", "global.alpha" } };
  const char *named[] = { "no.such_key", "global.alpha", "global.alpha" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      const char *argv[] = { exe, bad[i][0], bad[i][1], "/nonexistent-session", NULL };
      g_auto (GStrv) envp = g_environ_unsetenv (g_get_environ (), "DISPLAY");
      envp = g_environ_unsetenv (envp, "WAYLAND_DISPLAY");
      g_autofree char *out = NULL, *err = NULL;
      int status = 0;
      GError *e = NULL;
      g_assert_true (g_spawn_sync (NULL, (char **) argv, envp, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &e));
      g_assert_no_error (e);
      g_assert_true (WIFEXITED (status));
      g_assert_cmpint (WEXITSTATUS (status), ==, 2);
      if (!strstr (err, named[i]))
        g_error ("'%s' does not name %s", err, named[i]);
    }
}

int
main (int argc, char **argv)
{
  g_setenv ("GTK_A11Y", "none", FALSE);
  g_setenv ("NO_AT_BRIDGE", "1", FALSE);
  g_setenv ("GSK_RENDERER", "cairo", FALSE);
  g_setenv ("GSETTINGS_BACKEND", "memory", TRUE);
  /* a main-loop stall of a second or more is logged with where the main thread was
   * (src/app/tsr-stall.c), so a failed responsiveness bound in CI names its cause */
  if (!g_getenv ("TSR_STALL_TRACE"))
    {
      g_setenv ("TSR_STALL_TRACE", "1", TRUE);
      g_setenv ("TSR_STALL_TRACE_MS", "1000", TRUE);
    }
  g_test_init (&argc, &argv, NULL);
  have_display = gtk_init_check ();
  g_test_add_func ("/app/window-session", test_window_session);
  g_test_add_func ("/app/shortcuts", test_shortcuts);
  g_test_add_func ("/app/planetary", test_window_planetary);
  g_test_add_func ("/app/gate", test_window_gate);
  g_test_add_func ("/app/m94", test_window_m94);
  g_test_add_func ("/app/maps", test_window_maps);
  g_test_add_func ("/app/calib", test_window_calib);
  g_test_add_func ("/app/ngc7023", test_window_ngc7023);
  g_test_add_func ("/app/rows-2000", test_window_rows);
  g_test_add_func ("/app/post", test_window_post);
  g_test_add_func ("/app/bad-set-option", test_bad_set_option);
  return g_test_run ();
}
