/* tsr-window.c — the main window (see tsr-window.h); its layout is the template ui/tsr-window.ui.
 *
 * Threads: every engine job runs in a GTask worker thread with its own GCancellable.
 * Progress from workers is coalesced: the latest phase/done/total is stored under a mutex
 * and at most one idle is pending to show it. Each job carries a generation number; a
 * result that arrives for a cancelled or superseded job is dropped. GTK is only touched
 * from the main thread.
 *
 * tsr_tbqr_weigh re-applies the registration gate on the analysis it is given (it writes
 * a->reg), so weighings are serialised and never run while an accumulate worker that reads
 * the same analysis is alive.
 *
 * Live preview: after the analysis the worker also builds a reduced-resolution registered
 * cache (tsr-preview); every new weighing renders a preview from it in a worker (stale
 * previews are dropped), so a slider drag updates the image within a fraction of a second.
 *
 * A stall probe (a 10 ms timeout active while a job runs) records the longest gap between
 * its callbacks: how long the main loop was kept from running by the window's own work. */
#include "tsr-config.h"
#include <math.h>
#include <string.h>
#include <glib/gi18n.h>
#include "tsr-window-private.h"
#include "tsr-app-resources.h"
#include "tsr-frame-row.h"
#include "tsr-application.h"
#include "tsr-shortcuts.h"
#include "tsr-settings.h"
#include "tsr-window-planetary.h"
#include "tsr-stretch-bar.h"
#include "tsr-calib-panel.h"
#include "tsr-frame-table.h"

struct _ProgressShared
{
  gatomicrefcount ref;
  GMutex lock;
  GWeakRef window;
  char phase[128];
  guint done, total;
  guint gen;
  gboolean pending;
  gint64 last_shown;   /* when progress_idle last ran (µs) */
};

/* At most this many progress updates per second reach the main loop. */

G_DEFINE_TYPE (TsrWindow, tsr_window, GTK_TYPE_APPLICATION_WINDOW)

static void show_current (TsrWindow *self);
static void stall_probe_start (TsrWindow *self);
static void stall_probe_stop (TsrWindow *self);

/* ---------------------------------------------------------------- progress */

static ProgressShared *
progress_shared_new (TsrWindow *win)
{
  ProgressShared *ps = g_new0 (ProgressShared, 1);
  g_atomic_ref_count_init (&ps->ref);
  g_mutex_init (&ps->lock);
  g_weak_ref_init (&ps->window, win);
  return ps;
}

static ProgressShared *
progress_shared_ref (ProgressShared *ps)
{
  g_atomic_ref_count_inc (&ps->ref);
  return ps;
}

static void
progress_shared_unref (gpointer data)
{
  ProgressShared *ps = data;
  if (g_atomic_ref_count_dec (&ps->ref))
    {
      g_weak_ref_clear (&ps->window);
      g_mutex_clear (&ps->lock);
      g_free (ps);
    }
}

static char *
format_duration (double s)
{
  int t = (int) lround (s);
  if (t >= 3600)
    return g_strdup_printf ("%d:%02d:%02d", t / 3600, (t / 60) % 60, t % 60);
  return g_strdup_printf ("%d:%02d", t / 60, t % 60);
}

static void
show_progress (TsrWindow *self, const char *phase, guint done, guint total)
{
  if (g_strcmp0 (phase, self->shown_phase) != 0)
    {
      g_free (self->shown_phase);
      self->shown_phase = g_strdup (phase);
      self->phase_t0 = g_get_monotonic_time ();
    }
  self->shown_done = done;
  self->shown_total = total;
  GString *text = g_string_new (phase && *phase ? _(phase) : "");
  if (total > 0)
    {
      g_string_append_printf (text, " %u/%u", done, total);
      gtk_progress_bar_set_fraction (GTK_PROGRESS_BAR (self->progress_bar), (double) done / total);
      double elapsed = (g_get_monotonic_time () - self->phase_t0) / 1e6;
      /* the whole job's time left when its phases are planned (core/tsr-eta: an analysis is
       * choosing the reference + registering, a run the two accumulation passes), else the
       * phase's own */
      double left = -1;
      if (self->eta_on && phase)
        {
          tsr_eta_update (&self->eta, phase, done, total, g_get_monotonic_time ());
          left = tsr_eta_seconds_left (&self->eta);
        }
      if (left >= 0)
        {
          g_autofree char *eta = format_duration (left);
          g_string_append_printf (text, _(", %s left in all"), eta);
        }
      else if (done > 0 && done < total && elapsed > 0.5)
        {
          g_autofree char *eta = format_duration (elapsed / done * (total - done));
          g_string_append_printf (text, _(", ETA %s"), eta);
        }
    }
  else
    gtk_progress_bar_pulse (GTK_PROGRESS_BAR (self->progress_bar));
  gtk_progress_bar_set_text (GTK_PROGRESS_BAR (self->progress_bar), text->str);
  g_string_free (text, TRUE);
}

static gboolean
progress_idle (gpointer data)
{
  ProgressShared *ps = data;
  char phase[128];
  guint done, total, gen;
  g_mutex_lock (&ps->lock);
  memcpy (phase, ps->phase, sizeof phase);
  done = ps->done;
  total = ps->total;
  gen = ps->gen;
  ps->pending = FALSE;
  ps->last_shown = g_get_monotonic_time ();
  g_mutex_unlock (&ps->lock);

  TsrWindow *self = g_weak_ref_get (&ps->window);
  if (self)
    {
      gint64 t0 = TSR_STALL_T0 ();
      if (!self->disposed && self->job != TSR_JOB_NONE && gen == self->job_gen)
        show_progress (self, phase, done, total);
      tsr_stall_note ("progress", t0);
      g_object_unref (self);
    }
  return G_SOURCE_REMOVE;
}

/* Called from worker threads. */
static void
progress_post (ProgressShared *ps, guint gen, const char *phase, guint done, guint total)
{
  g_mutex_lock (&ps->lock);
  g_strlcpy (ps->phase, phase ? phase : "", sizeof ps->phase);
  ps->done = done;
  ps->total = total;
  ps->gen = gen;
  if (!ps->pending)
    {
      /* coalesced: the latest state is shown no sooner than 1/PROGRESS_MAX_HZ after the
       * last one (a phase's first report waits at most that long) */
      ps->pending = TRUE;
      gint64 wait_us = ps->last_shown + G_USEC_PER_SEC / PROGRESS_MAX_HZ - g_get_monotonic_time ();
      if (wait_us > 1000)
        g_timeout_add_full (G_PRIORITY_DEFAULT_IDLE, (guint) (wait_us / 1000), progress_idle,
                            progress_shared_ref (ps), progress_shared_unref);
      else
        g_idle_add_full (G_PRIORITY_DEFAULT_IDLE, progress_idle, progress_shared_ref (ps),
                         progress_shared_unref);
    }
  g_mutex_unlock (&ps->lock);
}

/* ---------------------------------------------------------------- status */

void
tsr_window_set_status (TsrWindow *self, const char *text)
{
  gtk_label_set_text (GTK_LABEL (self->status_label), text);
  gtk_widget_remove_css_class (self->status_label, "error");
}

void
tsr_window_show_error (TsrWindow *self, const char *text)
{
  g_free (self->last_error);
  self->last_error = g_strdup (text);
  gtk_label_set_text (GTK_LABEL (self->status_label), text);
  gtk_widget_add_css_class (self->status_label, "error");
}

void
tsr_window_set_status_text (TsrWindow *self, const char *text)
{
  tsr_window_set_status (self, text);
}

void
tsr_window_show_error_text (TsrWindow *self, const char *text)
{
  tsr_window_show_error (self, text);
}

static void
enable_action (TsrWindow *self, const char *name, gboolean enabled)
{
  GAction *a = g_action_map_lookup_action (G_ACTION_MAP (self), name);
  if (a)
    g_simple_action_set_enabled (G_SIMPLE_ACTION (a), enabled);
}

void
tsr_window_update_actions_full (TsrWindow *self)
{
  enable_action (self, "run", self->job == TSR_JOB_NONE && self->analysis && self->weights);
  enable_action (self, "cancel", self->job != TSR_JOB_NONE || tsr_window_post_busy (self));
  enable_action (self, "undo-sample", tsr_window_post_can_undo (self));
  enable_action (self, "export", self->recon != NULL || self->deconv_img != NULL || tsr_window_planetary_active (self));
  enable_action (self, "export-report", self->analysis && self->weights);
  enable_action (self, "reanalyse", self->paths != NULL && self->job == TSR_JOB_NONE);
  enable_action (self, "save-project", TRUE);
  enable_action (self, "deconvolve", tsr_window_deconv_available () && self->job == TSR_JOB_NONE
                                     && self->session != NULL && self->run_workers == 0);
  enable_action (self, "denoise", tsr_window_denoise_possible (self));
  enable_action (self, "restore", tsr_window_restore_possible (self));
  tsr_window_planetary_update_actions (self);
  gtk_widget_set_visible (self->progress_bar, self->job != TSR_JOB_NONE);
}

void
tsr_window_update_actions (TsrWindow *self)
{
  tsr_window_update_actions_full (self);
}

void
tsr_window_redraw_figures (TsrWindow *self)
{
  tsr_window_redraw_figures_full (self);
}

void
tsr_window_redraw_figures_full (TsrWindow *self)
{
  for (guint i = 0; i < TSR_N_DIAG; i++)
    gtk_widget_queue_draw (self->figures[i]);
}

void
tsr_window_refresh_rows (TsrWindow *self)
{
  if (!self->analysis)
    return;
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->store));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (TsrFrameRow) row = g_list_model_get_item (G_LIST_MODEL (self->store), i);
      tsr_frame_row_update (row, self->analysis, self->weights);
    }
  tsr_window_update_frame_detail (self);
}

/* ---------------------------------------------------------------- jobs: common */

void
tsr_window_job_data_free (gpointer data)
{
  JobData *d = data;
  if (d->progress)
    progress_shared_unref (d->progress);
  g_strfreev (d->paths);
  tsr_frame_choices_clear (&d->choices);
  tsr_sample_edits_clear (&d->samples);
  for (guint k = 0; k < TSR_CALIB_N_KINDS; k++)
    g_free (d->calib_paths[k]);
  g_clear_pointer (&d->analysis, tsr_analysis_unref);
  g_clear_pointer (&d->weights, tsr_weights_unref);
  g_free (d->path);
  g_free (d);
}

void
tsr_window_job_progress_cb (const char *phase, guint done, guint total, gpointer data)
{
  JobData *d = data;
  progress_post (d->progress, d->gen, phase, done, total);
}

JobData *
tsr_window_begin_job_full (TsrWindow *self, TsrJobKind kind, GCancellable **cancellable_out)
{
  if (self->job_cancellable)
    g_cancellable_cancel (self->job_cancellable);
  g_clear_object (&self->job_cancellable);
  self->job_cancellable = g_cancellable_new ();
  self->job = kind;
  self->job_gen++;
  g_clear_pointer (&self->shown_phase, g_free);
  self->shown_done = self->shown_total = 0;
  {
    guint n_plan = 0;
    const TsrEtaPhase *plan = tsr_eta_plan_tbqr (self->params.run.frame_cache, &n_plan);
    /* with a session, the CLI's plan: the share of frames the cache will hold, drizzle */
    if (self->session && tsr_session_n_frames (self->session) > 0)
      {
        n_plan = tsr_tbqr_eta_plan (self->session, &self->params.tbqr, &self->params.run, self->eta_plan);
        plan = self->eta_plan;
      }
    /* plan entries 0–1: choosing the reference and registering (the analysis); 2–3: the
     * rejection statistics and accumulation passes (Run). With --run an analysis is followed
     * by Run at once (analysis_done_impl), so its "left in all" counts the Run's passes too. */
    self->eta_on = kind == TSR_JOB_ANALYSE || kind == TSR_JOB_RUN;
    if (self->eta_on)
      {
        gboolean whole = kind == TSR_JOB_ANALYSE && self->autorun;
        tsr_eta_init (&self->eta, kind == TSR_JOB_ANALYSE ? plan : plan + 2, whole ? 4 : 2, 0);
        if (kind == TSR_JOB_RUN || whole)
          tsr_eta_set_finish (&self->eta, TSR_ETA_TBQR_FINISH);
      }
    g_assert (n_plan == 4);
  }
  gtk_progress_bar_set_fraction (GTK_PROGRESS_BAR (self->progress_bar), 0);
  gtk_progress_bar_set_text (GTK_PROGRESS_BAR (self->progress_bar), "");
  tsr_window_update_actions_full (self);
  stall_probe_start (self);
  self->stall_kind = kind;
  self->stall_job_t0 = g_get_monotonic_time ();
  /* a new job's outcome replaces the last one's error */
  g_clear_pointer (&self->last_error, g_free);

  JobData *d = g_new0 (JobData, 1);
  d->gen = self->job_gen;
  d->progress = progress_shared_ref (self->progress);
  d->params = self->params;
  d->t0 = g_get_monotonic_time ();
  *cancellable_out = self->job_cancellable;
  return d;
}

/* TRUE when the finished task's result is still wanted. */
gboolean
tsr_window_job_current (TsrWindow *self, GTask *task)
{
  JobData *d = g_task_get_task_data (task);
  return !self->disposed && self->job != TSR_JOB_NONE && d->gen == self->job_gen;
}

void
tsr_window_end_job_full (TsrWindow *self)
{
  self->job = TSR_JOB_NONE;
  g_clear_object (&self->job_cancellable);
  stall_probe_stop (self);
  g_debug ("job finished; worst main-loop stall while jobs ran: %.1f ms", self->stall_worst_us / 1e3);
  if (self->stall_kind > TSR_JOB_NONE && self->stall_kind <= TSR_JOB_LAST)
    {
      const TsrStallStats *st = &self->stall_stats[self->stall_kind];
      g_debug ("%s job ended after %.2f s; main-loop gaps so far in such jobs: %" G_GUINT64_FORMAT
               " ticks, worst %.1f ms, p99 %.0f ms",
               self->stall_kind == TSR_JOB_ANALYSE ? "analysis" : self->stall_kind == TSR_JOB_RUN ? "run"
               : self->stall_kind == TSR_JOB_PLANETARY ? "planetary"
               : self->stall_kind == TSR_JOB_DENOISE ? "denoise"
               : self->stall_kind == TSR_JOB_RESTORE ? "restore" : "deconvolution",
               (g_get_monotonic_time () - self->stall_job_t0) / 1e6, st->n, st->worst_us / 1e3,
               tsr_stall_stats_quantile_ms (st, 0.99));
    }
  tsr_window_update_actions_full (self);
  tsr_malloc_release ();
}

/* For the other files of the window (tsr-window-deconv.c): the same job machinery. */
guint
tsr_window_begin_job (TsrWindow *self, TsrJobKind kind, GCancellable **cancellable)
{
  JobData *d = tsr_window_begin_job_full (self, kind, cancellable);
  guint gen = d->gen;
  tsr_window_job_data_free (d);
  return gen;
}

void
tsr_window_end_job (TsrWindow *self)
{
  tsr_window_end_job_full (self);
}

gboolean
tsr_window_job_is_current (TsrWindow *self, guint gen)
{
  return !self->disposed && self->job != TSR_JOB_NONE && gen == self->job_gen;
}

gpointer
tsr_window_progress_data_new (TsrWindow *self, guint gen)
{
  JobData *d = g_new0 (JobData, 1);
  d->gen = gen;
  d->progress = progress_shared_ref (self->progress);
  return d;
}

void
tsr_window_progress_data_free (gpointer data)
{
  tsr_window_job_data_free (data);
}

void
tsr_window_job_progress (const char *phase, guint done, guint total, gpointer data)
{
  tsr_window_job_progress_cb (phase, done, total, data);
}

/* ---------------------------------------------------------------- run */

typedef struct
{
  TsrReconstruction *recon;
  cairo_surface_t *result_surface, *mean_surface;
} RunResult;

static void
run_result_free (gpointer data)
{
  RunResult *r = data;
  g_clear_pointer (&r->recon, tsr_reconstruction_free);
  g_clear_pointer (&r->result_surface, cairo_surface_destroy);
  g_clear_pointer (&r->mean_surface, cairo_surface_destroy);
  g_free (r);
}

static cairo_surface_t *
render_display (const TsrImage *img)
{
  if (!img)
    return NULL;
  TsrStretch st;
  tsr_stretch_auto (img, &st);
  return tsr_render_surface (img, &st, 1);
}

cairo_surface_t *
tsr_window_render_display (const TsrImage *img)
{
  return render_display (img);
}

static void
run_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  tsr_stall_lower_thread_priority ();
  JobData *d = task_data;
  GError *error = NULL;
  TsrReconstruction *rec = tsr_tbqr_accumulate (d->analysis, d->weights, &d->params.tbqr, &d->params.run, tsr_window_job_progress_cb, d,
                                                cancellable, &error);
  if (!rec)
    {
      g_task_return_error (task, error);
      return;
    }
  RunResult *r = g_new0 (RunResult, 1);
  r->recon = rec;
  if (!g_cancellable_is_cancelled (cancellable))
    {
      tsr_window_job_progress_cb (N_("Rendering"), 0, 0, d);
      r->result_surface = render_display (rec->result);
      r->mean_surface = render_display (rec->mean);
    }
  g_task_return_pointer (task, r, run_result_free);
}

TSR_TIMED_CALLBACK (run_done)

static void
run_done_impl (GObject *source, GAsyncResult *res, gpointer data)
{
  TsrWindow *self = TSR_WINDOW (source);
  GTask *task = G_TASK (res);
  GError *error = NULL;
  RunResult *r = g_task_propagate_pointer (task, &error);
  self->run_workers--;
  if (!tsr_window_job_current (self, task))
    {
      g_clear_error (&error);
      if (r)
        run_result_free (r);
      if (!self->disposed && self->weigh_pending)
        tsr_window_start_weigh (self);
      return;
    }
  tsr_window_end_job_full (self);
  if (!r)
    {
      tsr_window_show_error (self, error->message);
      g_error_free (error);
    }
  else
    {
      JobData *d = g_task_get_task_data (task);
      double secs = (g_get_monotonic_time () - d->t0) / 1e6;
      tsr_window_set_reconstruction (self, g_steal_pointer (&r->recon), g_steal_pointer (&r->result_surface),
                          g_steal_pointer (&r->mean_surface));
      run_result_free (r);
      const TsrValidation *v = &self->recon->validation;
      g_autofree char *msg0 = g_strdup_printf (
        _("Reconstruction done in %.1f s — validation %s: FWHM %.2f vs mean %.2f px, noise ratio %.3f, %u matched stars"),
        secs, v->pass ? _("passed") : _("failed"), v->fwhm_result, v->fwhm_mean, v->noise_ratio, v->n_matched);
      /* which checks failed (the Validation tab has the table), then what the CLI says
       * about drizzle: drizzled or demosaiced, and why */
      g_autofree char *failed = tsr_validation_failures (v, "; ");
      g_autofree char *msg1 = failed ? g_strdup_printf ("%s — %s %s", msg0, _("failed:"), failed) : g_strdup (msg0);
      g_autofree char *msg = self->recon->drizzle_note ? g_strdup_printf ("%s — %s", msg1, self->recon->drizzle_note)
                                                       : g_strdup (msg1);
      tsr_window_set_status (self, msg);
      gtk_drop_down_set_selected (GTK_DROP_DOWN (self->show_dropdown), SHOW_RESULT);
      show_current (self);
      tsr_window_redraw_figures_full (self);
      tsr_window_update_actions_full (self);
    }
  if (self->weigh_pending)
    tsr_window_start_weigh (self);
}

gboolean
tsr_window_run (TsrWindow *self)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self), FALSE);
  if (self->job != TSR_JOB_NONE || !self->analysis || !self->weights)
    return FALSE;
  GCancellable *cancellable;
  JobData *d = tsr_window_begin_job_full (self, TSR_JOB_RUN, &cancellable);
  d->analysis = tsr_analysis_ref (self->analysis);
  d->weights = tsr_weights_ref (self->weights);
  self->run_workers++;
  tsr_window_set_status (self, _("Reconstructing…"));
  GTask *task = g_task_new (self, cancellable, run_done, NULL);
  g_task_set_task_data (task, d, tsr_window_job_data_free);
  g_task_set_name (task, "tessera-run");
  g_task_run_in_thread (task, run_thread);
  g_object_unref (task);
  return TRUE;
}

void
tsr_window_cancel (TsrWindow *self)
{
  g_return_if_fail (TSR_IS_WINDOW (self));
  if (self->job == TSR_JOB_NONE)
    {
      tsr_window_post_cancel (self);   /* background extraction / colour calibration */
      return;
    }
  TsrJobKind kind = self->job;
  g_cancellable_cancel (self->job_cancellable);
  self->job_gen++;   /* whatever the worker returns is dropped */
  tsr_window_end_job_full (self);
  tsr_window_set_status (self, kind == TSR_JOB_RUN      ? _("Run cancelled")
                    : kind == TSR_JOB_DECONV ? _("Deconvolution cancelled")
                    : kind == TSR_JOB_PLANETARY ? _("Planetary stack cancelled")
                    : kind == TSR_JOB_DENOISE ? _("Denoising cancelled; nothing changed")
                    : kind == TSR_JOB_RESTORE ? _("Restoration cancelled; nothing changed")
                                             : _("Analysis cancelled"));
  if (self->weigh_pending)
    tsr_window_start_weigh (self);
}

/* ---------------------------------------------------------------- live preview */

/* What an image job (frame load, preview) hands back to the main thread: the image and
 * its display surface, both made in the worker. */
typedef struct
{
  TsrImage *img;
  cairo_surface_t *surface;
} ImageResult;

static void
image_result_free (gpointer data)
{
  ImageResult *r = data;
  g_clear_pointer (&r->img, tsr_image_unref);
  g_clear_pointer (&r->surface, cairo_surface_destroy);
  g_free (r);
}

typedef struct
{
  guint gen;
  TsrPreviewCache *cache;
  TsrWeights *weights;
} PreviewJob;

static void
preview_job_free (gpointer data)
{
  PreviewJob *j = data;
  g_clear_pointer (&j->cache, tsr_preview_cache_unref);
  g_clear_pointer (&j->weights, tsr_weights_unref);
  g_free (j);
}

static void
preview_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  PreviewJob *j = task_data;
  GError *error = NULL;
  TsrImage *img = tsr_preview_render (j->cache, j->weights, cancellable, &error);
  if (!img)
    {
      if (!error)
        error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");
      g_task_return_error (task, error);
      return;
    }
  ImageResult *r = g_new0 (ImageResult, 1);
  r->img = img;
  r->surface = render_display (img);
  g_task_return_pointer (task, r, image_result_free);
}

static void start_preview (TsrWindow *self);

TSR_TIMED_CALLBACK (preview_done)

static void
preview_done_impl (GObject *source, GAsyncResult *res, gpointer data)
{
  TsrWindow *self = TSR_WINDOW (source);
  GTask *task = G_TASK (res);
  PreviewJob *j = g_task_get_task_data (task);
  GError *error = NULL;
  ImageResult *r = g_task_propagate_pointer (task, &error);
  self->preview_running = FALSE;
  if (self->disposed || j->gen != self->preview_gen || j->cache != self->preview_cache)
    {
      /* stale: newer weights (or another session) arrived meanwhile */
      g_clear_error (&error);
      if (r)
        image_result_free (r);
      if (!self->disposed && self->preview_pending)
        start_preview (self);
      return;
    }
  if (!r)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        tsr_window_show_error (self, error->message);
      g_error_free (error);
      return;
    }
  g_clear_pointer (&self->preview_img, tsr_image_unref);
  g_clear_pointer (&self->preview_surface, cairo_surface_destroy);
  self->preview_img = g_steal_pointer (&r->img);
  self->preview_surface = g_steal_pointer (&r->surface);
  image_result_free (r);
  self->preview_ms = (g_get_monotonic_time () - self->preview_t0) / 1e3;
  if (gtk_drop_down_get_selected (GTK_DROP_DOWN (self->show_dropdown)) == SHOW_PREVIEW)
    show_current (self);
}

static void
start_preview (TsrWindow *self)
{
  if (self->preview_running || !self->preview_cache || !self->weights
      || tsr_preview_cache_get_analysis (self->preview_cache) != self->analysis)
    return;
  self->preview_pending = FALSE;
  self->preview_running = TRUE;
  PreviewJob *j = g_new0 (PreviewJob, 1);
  j->gen = self->preview_gen;
  j->cache = tsr_preview_cache_ref (self->preview_cache);
  j->weights = tsr_weights_ref (self->weights);
  GTask *task = g_task_new (self, NULL, preview_done, NULL);
  g_task_set_task_data (task, j, preview_job_free);
  g_task_set_name (task, "tessera-preview");
  g_task_run_in_thread (task, preview_thread);
  g_object_unref (task);
}

/* New weights are shown: render the preview with them (the latest request wins). The
 * preview time counts from the parameter change that led to these weights. */
void
tsr_window_request_preview (TsrWindow *self)
{
  if (!self->preview_cache)
    return;
  self->preview_gen++;
  self->preview_pending = TRUE;
  self->preview_t0 = self->weigh_t0;
  start_preview (self);
}

/* ---------------------------------------------------------------- stall probe */

static gboolean
stall_tick (gpointer data)
{
  TsrWindow *self = data;
  gint64 now = g_get_monotonic_time ();
  gint64 gap = now - self->stall_last;
  if (gap > self->stall_worst_us)
    self->stall_worst_us = gap;
  if (self->stall_kind > TSR_JOB_NONE && self->stall_kind <= TSR_JOB_LAST)
    tsr_stall_stats_add (&self->stall_stats[self->stall_kind], gap);
  self->stall_last = now;
  return G_SOURCE_CONTINUE;
}

static void
stall_probe_start (TsrWindow *self)
{
  if (self->stall_source)
    return;
  self->stall_last = g_get_monotonic_time ();
  self->stall_source = g_timeout_add (STALL_TICK_MS, stall_tick, self);
  g_source_set_name_by_id (self->stall_source, "tessera-stall-probe");
}

static void
stall_probe_stop (TsrWindow *self)
{
  if (!self->stall_source)
    return;
  stall_tick (self);   /* the gap up to now counts too */
  g_source_remove (self->stall_source);
  self->stall_source = 0;
}

/* ---------------------------------------------------------------- frame loading */

static void
load_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  JobData *d = task_data;
  GError *error = NULL;
  if (g_task_return_error_if_cancelled (task))
    return;
  TsrImage *img = tsr_fits_read (d->path, &error);
  if (!img)
    {
      g_task_return_error (task, error);
      return;
    }
  ImageResult *r = g_new0 (ImageResult, 1);
  r->img = img;
  if (!g_cancellable_is_cancelled (cancellable))
    r->surface = render_display (img);
  g_task_return_pointer (task, r, image_result_free);
}

TSR_TIMED_CALLBACK (load_done)

static void
load_done_impl (GObject *source, GAsyncResult *res, gpointer data)
{
  TsrWindow *self = TSR_WINDOW (source);
  GTask *task = G_TASK (res);
  JobData *d = g_task_get_task_data (task);
  GError *error = NULL;
  ImageResult *r = g_task_propagate_pointer (task, &error);
  if (self->disposed || d->gen != self->load_gen)
    {
      g_clear_error (&error);
      if (r)
        image_result_free (r);
      return;
    }
  self->loading = FALSE;
  if (!r)
    {
      tsr_window_show_error (self, error->message);
      g_error_free (error);
      return;
    }
  g_clear_pointer (&self->frame_img, tsr_image_unref);
  g_clear_pointer (&self->frame_surface, cairo_surface_destroy);
  self->frame_img = g_steal_pointer (&r->img);
  self->frame_surface = g_steal_pointer (&r->surface);
  self->frame_img_index = d->index;
  image_result_free (r);
  show_current (self);
}

static void
load_frame (TsrWindow *self, int index, const char *path)
{
  if (self->load_cancellable)
    g_cancellable_cancel (self->load_cancellable);
  g_clear_object (&self->load_cancellable);
  self->load_cancellable = g_cancellable_new ();
  self->load_gen++;
  self->loading = TRUE;
  JobData *d = g_new0 (JobData, 1);
  d->gen = self->load_gen;
  d->index = index;
  d->path = g_strdup (path);
  GTask *task = g_task_new (self, self->load_cancellable, load_done, NULL);
  g_task_set_task_data (task, d, tsr_window_job_data_free);
  g_task_set_name (task, "tessera-load-frame");
  g_task_run_in_thread (task, load_thread);
  g_object_unref (task);
}

/* ---------------------------------------------------------------- display */

static void
show_current (TsrWindow *self)
{
  if (self->disposed)
    return;
  if (tsr_window_planetary_show_current (self))
    {
      /* a planetary session has its own linear stretch (tsr-window-planetary.c) */
      gtk_widget_set_visible (self->stretch_bar, FALSE);
      return;
    }
  ShowMode mode = gtk_drop_down_get_selected (GTK_DROP_DOWN (self->show_dropdown));
  if (tsr_window_blink_show (self))
    {
      /* blink: the registered frames in turn, until it is switched off */
      gtk_widget_set_visible (self->denoise_bar, FALSE);
      gtk_widget_set_visible (self->stretch_bar, TRUE);
      tsr_window_stretch_shown (self, tsr_image_view_get_image (self->view), NULL);
      return;
    }
  /* a drizzled result (drizzle.scale 2) is twice the analysis grid: shown at the reference
   * geometry's scale so the tile and map overlays land where they belong */
  double rscale = self->recon && self->analysis && self->recon->result->width != self->analysis->width
                    ? (double) self->analysis->width / self->recon->result->width
                    : 1.0;
  cairo_surface_t *post_surface = NULL;
  TsrImage *post = mode == SHOW_RESULT && self->recon ? tsr_window_post_shown_result (self, &post_surface) : NULL;
  if (post && post_surface)
    tsr_image_view_set_image_scaled (self->view, post, post_surface, -1, rscale);
  else if (mode == SHOW_RESULT && self->recon && self->result_surface)
    tsr_image_view_set_image_scaled (self->view, self->recon->result, self->result_surface, -1, rscale);
  else if (mode == SHOW_MEAN && self->recon && self->mean_surface)
    tsr_image_view_set_image_scaled (self->view, self->recon->mean, self->mean_surface, -1,
                                     self->analysis && self->recon->mean->width != self->analysis->width
                                       ? (double) self->analysis->width / self->recon->mean->width
                                       : 1.0);
  else if (mode == SHOW_FRAME && self->frame_img)
    tsr_image_view_set_image (self->view, self->frame_img, self->frame_surface, self->frame_img_index);
  else if (mode == SHOW_PREVIEW && self->preview_img && self->preview_cache)
    tsr_image_view_set_image_scaled (self->view, self->preview_img, self->preview_surface, -1,
                                     tsr_preview_cache_factor (self->preview_cache));
  else if (mode == SHOW_DECONV && self->deconv_img)
    tsr_image_view_set_image_scaled (self->view, self->deconv_img, self->deconv_surface, -1,
                                     self->analysis ? (double) self->analysis->width / self->deconv_img->width : 1.0);
  else if (mode == SHOW_RESTORED && self->restore_live_img)
    tsr_image_view_set_image (self->view, self->restore_live_img, self->restore_live_surface, -1);
  else if (mode == SHOW_RESTORED && self->restore_img)
    tsr_image_view_set_image (self->view, self->restore_img, self->restore_surface, -1);
  else if (mode == SHOW_DENOISED && self->denoise_img)
    tsr_image_view_set_image_scaled (self->view, self->denoise_img, self->denoise_surface, -1,
                                     self->denoise_geometry_scale);
  else
    tsr_image_view_set_image (self->view, NULL, NULL, -1);
  tsr_window_post_view_changed (self);
  gtk_widget_set_visible (self->denoise_bar, mode == SHOW_DENOISED && self->denoise_img);
  /* split compare: the result against the mean stack of the same frames */
  gboolean can_split = self->recon && self->mean_surface && self->result_surface
                       && (mode == SHOW_RESULT || mode == SHOW_MEAN);
  gtk_widget_set_sensitive (self->tog_compare, can_split);
  if (mode == SHOW_DENOISED && self->denoise_img && self->denoise_input_surface)
    /* before/after: always split, the divider moves */
    tsr_image_view_set_compare (self->view, self->denoise_input_surface, _("Denoised"), _("Before"));
  else if (mode == SHOW_RESTORED && self->restore_live_img && self->restore_live_mean_surface)
    tsr_image_view_set_compare (self->view, self->restore_live_mean_surface, _("Training"), _("Mean of the frames"));
  else if (mode == SHOW_RESTORED && self->restore_img && self->restore_mean_surface)
    tsr_image_view_set_compare (self->view, self->restore_mean_surface, _("Restored"), _("Mean of the frames"));
  else if (can_split && gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (self->tog_compare)))
    {
      if (mode == SHOW_RESULT)
        tsr_image_view_set_compare (self->view, self->mean_surface, _("TBQR result"), _("Mean stack"));
      else
        tsr_image_view_set_compare (self->view, self->result_surface, _("Mean stack"), _("TBQR result"));
    }
  else
    tsr_image_view_set_compare (self->view, NULL, NULL, NULL);
  /* stars are in the displayed frame's own coordinates: only over that frame */
  gtk_widget_set_sensitive (self->tog_stars, mode == SHOW_FRAME);
  /* the display stretch and histogram of what is shown (and of the split view's other side) */
  TsrImage *cmp = NULL;
  if (mode == SHOW_DENOISED && self->denoise_img)
    cmp = self->denoise_input;
  else if (can_split && gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (self->tog_compare)))
    cmp = mode == SHOW_RESULT ? self->recon->mean : self->recon->result;
  gtk_widget_set_visible (self->stretch_bar, TRUE);
  tsr_window_stretch_shown (self, tsr_image_view_get_image (self->view), cmp);
}

static void
on_show_changed (GObject *dd, GParamSpec *pspec, TsrWindow *self)
{
  show_current (self);
}

static void
on_overlay_toggled (GtkToggleButton *b, TsrWindow *self)
{
  TsrOverlay o = 0;
  guint map = gtk_drop_down_get_selected (GTK_DROP_DOWN (self->tog_weights));
  if (map > 0 && map != GTK_INVALID_LIST_POSITION)
    {
      o |= TSR_OVERLAY_WEIGHTS;
      tsr_image_view_set_map (self->view, map - 1);
    }
  if (gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (self->tog_tiles)))
    o |= TSR_OVERLAY_TILES;
  if (gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (self->tog_stars)))
    o |= TSR_OVERLAY_STARS;
  tsr_image_view_set_overlays (self->view, o);
}

static void
on_map_changed (GObject *dd, GParamSpec *pspec, TsrWindow *self)
{
  on_overlay_toggled (NULL, self);
}

static void
on_fit_clicked (GtkButton *b, TsrWindow *self)
{
  tsr_image_view_zoom_fit (self->view);
}

static void
on_compare_toggled (GtkToggleButton *b, TsrWindow *self)
{
  show_current (self);
}

void
tsr_window_on_selection_changed (GObject *sel, GParamSpec *pspec, TsrWindow *self)
{
  TsrFrameRow *row = gtk_single_selection_get_selected_item (self->selection);
  if (!row)
    return;
  int index = tsr_frame_row_get_index (row);
  self->selected_frame = index;
  tsr_window_update_frame_detail (self);
  tsr_image_view_set_selected_frame (self->view, index);
  tsr_window_redraw_figures_full (self);
  if (gtk_drop_down_get_selected (GTK_DROP_DOWN (self->show_dropdown)) != SHOW_FRAME)
    gtk_drop_down_set_selected (GTK_DROP_DOWN (self->show_dropdown), SHOW_FRAME);
  if (index != self->frame_img_index)
    load_frame (self, index, tsr_frame_row_get_path (row));
}

/* ---------------------------------------------------------------- actions */

static void
run_activated (GSimpleAction *action, GVariant *param, gpointer data)
{
  tsr_window_run (TSR_WINDOW (data));
}

static void
cancel_activated (GSimpleAction *action, GVariant *param, gpointer data)
{
  tsr_window_cancel (TSR_WINDOW (data));
}

static void
reanalyse_activated (GSimpleAction *action, GVariant *param, gpointer data)
{
  TsrWindow *self = data;
  if (self->paths)
    tsr_window_open_paths (self, (const char *const *) self->paths);
}

static void
about_activated (GSimpleAction *action, GVariant *param, gpointer data)
{
  tsr_show_about (GTK_WINDOW (data));
}

static const GActionEntry win_entries[] = {
  { .name = "run", .activate = run_activated },
  { .name = "cancel", .activate = cancel_activated },
  { .name = "reanalyse", .activate = reanalyse_activated },
  { .name = "about", .activate = about_activated },
};

/* ---------------------------------------------------------------- construction */

/* Stall trace: how long each frame (update, layout, paint) takes. */
static gint64 frame_t0;

static void
frame_before_paint (GdkFrameClock *clock, gpointer data)
{
  frame_t0 = TSR_STALL_T0 ();
}

static void
frame_after_paint (GdkFrameClock *clock, gpointer data)
{
  tsr_stall_note ("frame (layout+paint)", frame_t0);
  frame_t0 = 0;
}

static void
trace_frames (GtkWidget *widget, gpointer data)
{
  GdkFrameClock *clock = gtk_widget_get_frame_clock (widget);
  if (!clock || !tsr_stall_tracing ())
    return;
  g_signal_connect (clock, "before-paint", G_CALLBACK (frame_before_paint), NULL);
  g_signal_connect (clock, "after-paint", G_CALLBACK (frame_after_paint), NULL);
}

static void
install_css (void)
{
  static gboolean done;
  GdkDisplay *display = gdk_display_get_default ();
  if (done || !display)
    return;
  done = TRUE;
  /* referencing the bundle links it in from the static library (its constructor registers it) */
  g_assert (tsr_app_get_resource () != NULL);
  GtkCssProvider *css = gtk_css_provider_new ();
  gtk_css_provider_load_from_resource (css, "/io/github/tessera/Tessera/style.css");
  gtk_style_context_add_provider_for_display (display, GTK_STYLE_PROVIDER (css),
                                              GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
  g_object_unref (css);
}

static void
tsr_window_init (TsrWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  tsr_stall_trace_init ();
  g_signal_connect (self, "realize", G_CALLBACK (trace_frames), NULL);
  tsr_project_init (&self->params);
  self->blink_frame = -1;
  self->frame_img_index = -1;
  self->selected_frame = -1;
  self->progress = progress_shared_new (self);
  install_css ();

  g_action_map_add_action_entries (G_ACTION_MAP (self), win_entries, G_N_ELEMENTS (win_entries), self);
  tsr_window_files_init (self);    /* settings, file actions, recent sessions, drop target */
  tsr_window_deconv_init (self);
  tsr_window_planetary_init (self);
  gtk_window_set_icon_name (GTK_WINDOW (self), TSR_APP_ID);
  if (!tsr_window_deconv_available ())
    gtk_widget_set_tooltip_text (self->deconv_button, _("Multi-frame deconvolution is not part of this build"));

  /* the data-driven parts of the layout (ui/tsr-window.ui) and the panels' behaviour */
  tsr_window_view_init (self);
  tsr_window_denoise_init (self);
  tsr_window_restore_init (self);
  tsr_window_post_init (self);
  tsr_window_planetary_init_toolbar (self);
  tsr_window_stretch_init (self);
  tsr_window_build_table (self);
  tsr_window_build_diagnostics (self);
  tsr_window_planetary_init_diagnostics (self);
  tsr_window_build_params (self);
  tsr_window_planetary_init_params (self);
  gtk_stack_set_visible_child_name (GTK_STACK (self->params_stack), "deep-sky");

  GtkWindow *help = tsr_shortcuts_window_new ();
  gtk_application_window_set_help_overlay (GTK_APPLICATION_WINDOW (self), GTK_SHORTCUTS_WINDOW (help));

  tsr_window_update_actions_full (self);
  show_current (self);
  self->project_dirty = FALSE;   /* a preset restored from the settings is no change */
}

static void
tsr_window_dispose (GObject *object)
{
  TsrWindow *self = TSR_WINDOW (object);
  if (!self->disposed)
    {
      self->disposed = TRUE;
      if (self->job_cancellable)
        g_cancellable_cancel (self->job_cancellable);
      if (self->load_cancellable)
        g_cancellable_cancel (self->load_cancellable);
      self->job_gen++;
      self->load_gen++;
      self->weigh_gen++;
      self->preview_gen++;
      if (self->stall_source)
        g_source_remove (self->stall_source);
      self->stall_source = 0;
      if (self->reanalyse_source)
        g_source_remove (self->reanalyse_source);
      self->reanalyse_source = 0;
      tsr_window_files_dispose (self);
      tsr_window_planetary_dispose (self);
      tsr_window_calib_dispose (self);
      tsr_window_view_dispose (self);
      tsr_window_stretch_dispose (self);
      tsr_window_post_dispose (self);
    }
  G_OBJECT_CLASS (tsr_window_parent_class)->dispose (object);
}

static void
tsr_window_finalize (GObject *object)
{
  TsrWindow *self = TSR_WINDOW (object);
  g_clear_object (&self->job_cancellable);
  g_clear_object (&self->load_cancellable);
  g_clear_object (&self->store);
  g_clear_object (&self->selection);
  g_clear_pointer (&self->param_widgets, g_hash_table_unref);
  g_strfreev (self->paths);
  g_free (self->project_path);
  for (guint k = 0; k < TSR_CALIB_N_KINDS; k++)
    g_free (self->calib_paths[k]);
  tsr_frame_choices_clear (&self->choices);
  if (self->open_choices)
    {
      tsr_frame_choices_clear (self->open_choices);
      g_free (self->open_choices);
    }
  g_clear_pointer (&self->session, tsr_session_unref);
  g_clear_pointer (&self->analysis, tsr_analysis_unref);
  g_clear_pointer (&self->weights, tsr_weights_unref);
  tsr_window_set_reconstruction (self, NULL, NULL, NULL);
  g_clear_pointer (&self->frame_img, tsr_image_unref);
  g_clear_pointer (&self->frame_surface, cairo_surface_destroy);
  g_clear_pointer (&self->preview_cache, tsr_preview_cache_unref);
  g_clear_pointer (&self->preview_img, tsr_image_unref);
  g_clear_pointer (&self->preview_surface, cairo_surface_destroy);
  g_clear_pointer (&self->deconv_img, tsr_image_unref);
  g_clear_pointer (&self->deconv_surface, cairo_surface_destroy);
  tsr_window_denoise_clear (self);
  tsr_window_restore_clear (self);
  progress_shared_unref (self->progress);
  g_free (self->shown_phase);
  g_free (self->last_error);
  tsr_window_files_finalize (self);
  tsr_window_planetary_finalize (self);
  tsr_window_calib_finalize (self);
  tsr_window_post_finalize (self);
  G_OBJECT_CLASS (tsr_window_parent_class)->finalize (object);
}

static void
tsr_window_class_init (TsrWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->dispose = tsr_window_dispose;
  object_class->finalize = tsr_window_finalize;

  /* The window's layout is ui/tsr-window.ui. Its children are not released with
   * gtk_widget_dispose_template: GtkWindow's dispose destroys its child and title bar, and
   * the template's references go with the window (the fields stay valid until finalize). */
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  g_type_ensure (TSR_TYPE_IMAGE_VIEW);
  g_type_ensure (TSR_TYPE_STRETCH_BAR);
  g_type_ensure (TSR_TYPE_CALIB_PANEL);
  g_type_ensure (TSR_TYPE_FRAME_TABLE);
  gtk_widget_class_set_template_from_resource (widget_class, TSR_WINDOW_UI);
  gtk_widget_class_bind_template_child (widget_class, TsrWindow, status_label);
  gtk_widget_class_bind_template_child (widget_class, TsrWindow, progress_bar);
  gtk_widget_class_bind_template_child (widget_class, TsrWindow, view);
  gtk_widget_class_bind_template_child (widget_class, TsrWindow, readout);
  gtk_widget_class_bind_template_child (widget_class, TsrWindow, show_dropdown);
  gtk_widget_class_bind_template_child (widget_class, TsrWindow, tog_weights);
  gtk_widget_class_bind_template_child (widget_class, TsrWindow, tog_tiles);
  gtk_widget_class_bind_template_child (widget_class, TsrWindow, tog_stars);
  gtk_widget_class_bind_template_child (widget_class, TsrWindow, tog_compare);
  gtk_widget_class_bind_template_child (widget_class, TsrWindow, tog_points);
  gtk_widget_class_bind_template_child (widget_class, TsrWindow, deep_toggles);
  gtk_widget_class_bind_template_child (widget_class, TsrWindow, deconv_button);
  gtk_widget_class_bind_template_child (widget_class, TsrWindow, denoise_bar);
  gtk_widget_class_bind_template_child (widget_class, TsrWindow, denoise_scale);
  gtk_widget_class_bind_template_child (widget_class, TsrWindow, stretch_bar);
  gtk_widget_class_bind_template_child (widget_class, TsrWindow, frame_table);
  gtk_widget_class_bind_template_child (widget_class, TsrWindow, diag_stack);
  gtk_widget_class_bind_template_child (widget_class, TsrWindow, diagnostics);
  gtk_widget_class_bind_template_child (widget_class, TsrWindow, params_stack);
  gtk_widget_class_bind_template_child (widget_class, TsrWindow, recent_menu);
  gtk_widget_class_bind_template_child (widget_class, TsrWindow, preset_dropdown);
  gtk_widget_class_bind_template_child (widget_class, TsrWindow, calib_panel);
  gtk_widget_class_bind_template_child (widget_class, TsrWindow, param_groups);
  gtk_widget_class_bind_template_child (widget_class, TsrWindow, param_note);
  /* the figures, in the order of tsr-window-panels.c's diag_figures */
  static const char *const figures[TSR_N_DIAG] = {
    "figure_fwhm", "figure_weights", "figure_cc", "figure_funnel", "figure_map", "figure_validation",
  };
  for (guint i = 0; i < TSR_N_DIAG; i++)
    gtk_widget_class_bind_template_child_full (widget_class, figures[i], FALSE,
                                               G_STRUCT_OFFSET (TsrWindow, figures) + i * sizeof (GtkWidget *));
  gtk_widget_class_bind_template_child_full (widget_class, "planetary_quality", FALSE,
                                             G_STRUCT_OFFSET (TsrWindow, planetary_figures));
  gtk_widget_class_bind_template_child_full (widget_class, "planetary_alignment", FALSE,
                                             G_STRUCT_OFFSET (TsrWindow, planetary_figures) + sizeof (GtkWidget *));
  gtk_widget_class_bind_template_callback (widget_class, on_show_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_fit_clicked);
  gtk_widget_class_bind_template_callback (widget_class, on_map_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_overlay_toggled);
  gtk_widget_class_bind_template_callback (widget_class, on_compare_toggled);
  gtk_widget_class_bind_template_callback_full (widget_class, "on_frame_use_toggled",
                                                G_CALLBACK (tsr_window_on_frame_use_toggled));
  gtk_widget_class_bind_template_callback (widget_class, tsr_window_planetary_on_points_toggled);
  gtk_widget_class_bind_template_callback (widget_class, tsr_window_denoise_on_strength_changed);
  gtk_widget_class_bind_template_callback (widget_class, tsr_window_params_on_preset_changed);
  gtk_widget_class_bind_template_callback (widget_class, tsr_window_params_on_reset_clicked);
}

TsrWindow *
tsr_window_new (GtkApplication *app)
{
  return g_object_new (TSR_TYPE_WINDOW, "application", app, NULL);
}

/* ---------------------------------------------------------------- accessors */

void
tsr_window_set_autorun (TsrWindow *self, gboolean autorun)
{
  self->autorun = autorun;
}

gpointer
tsr_window_job_result (TsrWindow *self, GTask *task, guint gen, GDestroyNotify free_result,
                       const char *cancel_text)
{
  GError *error = NULL;
  gpointer out = g_task_propagate_pointer (task, &error);
  self->run_workers--;
  if (!tsr_window_job_is_current (self, gen))
    {
      g_clear_error (&error);
      if (out)
        free_result (out);
      if (!self->disposed)
        tsr_window_update_actions (self);
      return NULL;
    }
  tsr_window_end_job (self);
  if (!out)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        tsr_window_show_error_text (self, error->message);
      else if (cancel_text)
        tsr_window_set_status_text (self, cancel_text);
      g_clear_error (&error);
    }
  return out;
}

void
tsr_window_set_split (TsrWindow *self, gboolean split)
{
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (self->tog_compare), split);
  show_current (self);
}

struct _TsrImageView *
tsr_window_get_image_view (TsrWindow *self)
{
  return self->view;
}

void
tsr_window_show_current (TsrWindow *self)
{
  show_current (self);
}

void
tsr_window_request_weigh (TsrWindow *self)
{
  tsr_window_request_weigh_full (self);
}

TsrJobKind
tsr_window_get_job (TsrWindow *self)
{
  return self->job;
}

gboolean
tsr_window_is_busy (TsrWindow *self)
{
  return self->job != TSR_JOB_NONE || self->weigh_running || self->weigh_pending || self->loading
         || self->run_workers > 0 || self->analysis_workers > 0 || self->preview_running
         || self->preview_pending || self->export_workers > 0 || self->reanalyse_source != 0
         || tsr_window_stretch_busy (self) || tsr_window_post_busy (self)
         || tsr_window_planetary_busy (self);
}

void
tsr_window_set_overlays (TsrWindow *self, guint overlays)
{
  GtkDropDown *maps = GTK_DROP_DOWN (self->tog_weights);
  if (!(overlays & TSR_OVERLAY_WEIGHTS))
    gtk_drop_down_set_selected (maps, 0);
  else if (gtk_drop_down_get_selected (maps) == 0)
    gtk_drop_down_set_selected (maps, 1 + tsr_image_view_get_map_kind (self->view));
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (self->tog_tiles), overlays & TSR_OVERLAY_TILES);
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (self->tog_stars), overlays & TSR_OVERLAY_STARS);
}

const char *
tsr_window_get_status_text (TsrWindow *self)
{
  return gtk_label_get_text (GTK_LABEL (self->status_label));
}

void
tsr_window_set_open_recursive (TsrWindow *self, gboolean recursive)
{
  self->open_recursive = recursive;
}

void
tsr_window_set_map (TsrWindow *self, int kind)
{
  if (kind < 0 || kind >= TSR_MAP_N_KINDS)
    return;
  tsr_image_view_set_map (self->view, kind);
  gtk_drop_down_set_selected (GTK_DROP_DOWN (self->tog_weights), 1 + kind);
}

void
tsr_window_set_show (TsrWindow *self, TsrShow show)
{
  gtk_drop_down_set_selected (GTK_DROP_DOWN (self->show_dropdown), (guint) show);
}

gboolean
tsr_window_select_frame (TsrWindow *self, guint index)
{
  GListModel *m = G_LIST_MODEL (self->selection);
  guint n = g_list_model_get_n_items (m);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (TsrFrameRow) row = g_list_model_get_item (m, i);
      if (tsr_frame_row_get_index (row) == index)
        {
          gtk_single_selection_set_selected (self->selection, i);
          return TRUE;
        }
    }
  return FALSE;
}

TsrShow
tsr_window_get_show (TsrWindow *self)
{
  return (TsrShow) gtk_drop_down_get_selected (GTK_DROP_DOWN (self->show_dropdown));
}

guint
tsr_window_get_n_rows (TsrWindow *self)
{
  return g_list_model_get_n_items (G_LIST_MODEL (self->selection));
}

TsrAnalysis *
tsr_window_get_analysis (TsrWindow *self)
{
  return self->analysis;
}

TsrWeights *
tsr_window_get_weights (TsrWindow *self)
{
  return self->weights;
}

const TsrReconstruction *
tsr_window_get_reconstruction (TsrWindow *self)
{
  return self->recon;
}

const TsrProject *
tsr_window_get_params (TsrWindow *self)
{
  return &self->params;
}

const TsrImage *
tsr_window_get_preview (TsrWindow *self)
{
  return self->preview_img;
}

double
tsr_window_get_preview_ms (TsrWindow *self)
{
  return self->preview_ms;
}

double
tsr_window_get_weigh_ms (TsrWindow *self)
{
  return self->weigh_ms;
}

double
tsr_window_get_worst_stall_ms (TsrWindow *self)
{
  return self->stall_worst_us / 1e3;
}

void
tsr_window_reset_stall (TsrWindow *self)
{
  self->stall_worst_us = 0;
  memset (self->stall_stats, 0, sizeof self->stall_stats);
}

guint64
tsr_window_get_stall_stats (TsrWindow *self, TsrJobKind kind, double *worst_ms, double *p99_ms)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self) && kind > TSR_JOB_NONE && kind <= TSR_JOB_LAST, 0);
  const TsrStallStats *st = &self->stall_stats[kind];
  if (worst_ms)
    *worst_ms = st->worst_us / 1e3;
  if (p99_ms)
    *p99_ms = tsr_stall_stats_quantile_ms (st, 0.99);
  return st->n;
}

void
tsr_window_get_progress (TsrWindow *self, guint *done, guint *total)
{
  if (done)
    *done = self->shown_done;
  if (total)
    *total = self->shown_total;
}

const char *
tsr_window_get_last_error (TsrWindow *self)
{
  return self->last_error;
}

const char *
tsr_window_get_param_note (TsrWindow *self)
{
  return gtk_label_get_text (GTK_LABEL (self->param_note));
}
