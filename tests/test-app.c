/* test-app.c — the desktop window, driven through its main loop (suite 'app').
 *
 * Skipped when no display can be opened (run under xvfb-run, GSK_RENDERER=cairo).
 * With TSR_APP_SHOT_DIR set, also writes window snapshots (analysed.png, result.png). */
#include <math.h>
#include <gtk/gtk.h>
#include "tsr-test-util.h"
#include "tsr-window.h"
#include "tsr-image-view.h"

static gboolean have_display;

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

static void
test_window_session (void)
{
  if (!have_display)
    {
      g_test_skip ("no display (run under xvfb-run)");
      return;
    }
  g_autofree char *dir = tsr_test_tmpdir ("app");
  TsrSynthParams sp;
  tsr_synth_params_init (&sp);
  sp.n_frames = 8;
  sp.width = 320;
  sp.height = 240;
  sp.shift_max = 5;
  sp.rotation_max_deg = 0.5;
  GError *error = NULL;
  TsrSynthTruth *truth = tsr_synth_write_session (&sp, dir, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  tsr_synth_truth_free (truth);

  TsrWindow *win = tsr_window_new (NULL);
  gtk_window_set_default_size (GTK_WINDOW (win), 1280, 800);
  gtk_window_present (GTK_WINDOW (win));

  /* open: scan + analyse + weigh in a worker, the table fills */
  tsr_window_open_session (win, dir);
  g_assert_cmpint (tsr_window_get_job (win), ==, TSR_JOB_ANALYSE);
  g_assert_true (iterate_until (win, not_busy, 240));
  g_assert_null (tsr_window_get_last_error (win));
  g_assert_cmpint (tsr_window_get_job (win), ==, TSR_JOB_NONE);
  g_assert_cmpuint (tsr_window_get_n_rows (win), ==, 8);
  g_assert_nonnull (tsr_window_get_analysis (win));
  TsrWeights *w0 = tsr_window_get_weights (win);
  g_assert_nonnull (w0);
  tsr_weights_ref (w0);
  g_assert_null (tsr_window_get_reconstruction (win));
  tsr_window_set_overlays (win, TSR_OVERLAY_WEIGHTS | TSR_OVERLAY_STARS);
  snapshot_window (win, "analysed.png");

  /* a weighting parameter re-runs only the weighing: a new weights object, other G */
  g_assert_true (tsr_window_set_param (win, "global.k", 2.0));
  g_assert_true (iterate_until (win, not_busy, 60));
  TsrWeights *w1 = tsr_window_get_weights (win);
  g_assert_nonnull (w1);
  g_assert_true (w1 != w0);
  g_assert_cmpuint (w1->n_frames, ==, 8);
  gboolean differs = FALSE;
  for (guint f = 0; f < w1->n_frames; f++)
    if (w1->used[f] && fabs (w1->g[f] - w0->g[f]) > 1e-9)
      differs = TRUE;
  g_assert_true (differs);
  tsr_weights_unref (w0);

  /* run, cancel mid-way: idle again at once, and no result ever arrives */
  g_assert_true (tsr_window_run (win));
  g_assert_cmpint (tsr_window_get_job (win), ==, TSR_JOB_RUN);
  iterate_until (win, run_progressed, 60);
  if (tsr_window_get_job (win) != TSR_JOB_RUN)
    {
      /* it finished before a progress update was seen: start again and cancel at once */
      g_test_message ("run finished before its first progress report; cancelling at start");
      g_assert_true (tsr_window_run (win));
    }
  tsr_window_cancel (win);
  g_assert_cmpint (tsr_window_get_job (win), ==, TSR_JOB_NONE);
  g_assert_true (iterate_until (win, not_busy, 120));
  iterate_for (0.2);
  g_assert_null (tsr_window_get_reconstruction (win));
  g_assert_cmpint (tsr_window_get_job (win), ==, TSR_JOB_NONE);

  /* run to completion */
  g_assert_true (tsr_window_run (win));
  g_assert_true (iterate_until (win, not_busy, 240));
  g_assert_null (tsr_window_get_last_error (win));
  const TsrReconstruction *r = tsr_window_get_reconstruction (win);
  g_assert_nonnull (r);
  g_assert_nonnull (r->result);
  g_assert_cmpint (r->result->width, ==, 320);
  g_assert_cmpint (r->result->height, ==, 240);
  snapshot_window (win, "result.png");
  snapshot_figures (win);

  gtk_window_destroy (GTK_WINDOW (win));
  iterate_for (0.1);
  tsr_test_rmtree (dir);
}

int
main (int argc, char **argv)
{
  g_setenv ("GTK_A11Y", "none", FALSE);
  g_setenv ("NO_AT_BRIDGE", "1", FALSE);
  g_setenv ("GSK_RENDERER", "cairo", FALSE);
  g_test_init (&argc, &argv, NULL);
  have_display = gtk_init_check ();
  g_test_add_func ("/app/window-session", test_window_session);
  return g_test_run ();
}
