/* tsr-window-analysis.c — the window's analysis and weighing jobs: analyse a session in a
 * worker thread, fill the frame table and the diagnostics, re-weigh on every parameter
 * change. */
#include "tsr-config.h"
#include <math.h>
#include <string.h>
#include <glib/gi18n.h>
#include "tsr-window-private.h"
#include "tsr-cosmetic.h"
#include "tsr-frame-row.h"
#include "tsr-application.h"
#include "tsr-shortcuts.h"
#include "tsr-settings.h"

/* ---------------------------------------------------------------- analysis */

static TsrProject
jd_params_of (GTask *task)
{
  JobData *jd = g_task_get_task_data (task);
  return jd->params;
}

typedef struct
{
  TsrSession *session;
  TsrAnalysis *analysis;
  TsrWeights *weights;
  GError *weigh_error;
  TsrPreviewCache *preview_cache;
  TsrImage *preview_img;
  cairo_surface_t *preview_surface;
  TsrCalibOutcome *calib;
} AnalysisResult;

static void
analysis_result_free (gpointer data)
{
  AnalysisResult *r = data;
  g_clear_pointer (&r->session, tsr_session_unref);
  g_clear_pointer (&r->analysis, tsr_analysis_unref);
  g_clear_pointer (&r->weights, tsr_weights_unref);
  g_clear_error (&r->weigh_error);
  g_clear_pointer (&r->preview_cache, tsr_preview_cache_unref);
  g_clear_pointer (&r->preview_img, tsr_image_unref);
  g_clear_pointer (&r->preview_surface, cairo_surface_destroy);
  g_clear_pointer (&r->calib, tsr_calib_outcome_free);
  g_free (r);
}

static void
analysis_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  tsr_stall_lower_thread_priority ();
  JobData *d = task_data;
  GError *error = NULL;
  TsrScanOptions so = { .recursive = d->recursive };

  tsr_window_job_progress_cb (N_("Scanning"), 0, 0, d);
  g_autoptr (TsrSession) s = tsr_session_scan ((const char *const *) d->paths, &so, cancellable, &error);
  if (!s && !so.recursive && g_error_matches (error, TSR_ERROR, TSR_ERROR_EMPTY))
    {
      /* folders whose frames are in subfolders (a session of several nights, one folder
       * each): open them with their subfolders, and say so */
      gboolean folders = TRUE;
      for (guint i = 0; d->paths[i]; i++)
        folders &= g_file_test (d->paths[i], G_FILE_TEST_IS_DIR);
      TsrScanOptions rec = { .recursive = TRUE };
      GError *e2 = NULL;
      TsrSession *s2 = folders ? tsr_session_scan ((const char *const *) d->paths, &rec, cancellable, &e2) : NULL;
      if (s2)
        {
          g_clear_error (&error);
          s = s2;
          d->recursed = TRUE;
        }
      g_clear_error (&e2);
    }
  if (!s)
    {
      g_task_return_error (task, error);
      return;
    }
  if (d->detect_starless && tsr_window_planetary_detect_starless (s, &error))
    {
      g_task_return_error (task, error);   /* the route error: analysis_done hands over */
      return;
    }
  if (tsr_session_n_frames (s) < 2)
    {
      g_task_return_new_error (task, TSR_ERROR, TSR_ERROR_EMPTY,
                               _("%s: a session needs at least two frames (it has one)"),
                               tsr_session_frame (s, 0)->path);
      return;
    }
  /* calibration first, as tessera-cli does: every later read of the lights is calibrated */
  TsrCalibOutcome *calib = NULL;
  if (!tsr_window_calib_apply (s, d->calib_paths, &d->params, d, &calib, cancellable, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  /* then the session's own hot and cold pixels (cosmetic.session), as `process` does */
  if (d->params.post.cosmetic && tsr_session_n_frames (s) >= 3)
    {
      TsrCosmeticParams cp = { d->params.post.cosmetic_sigma, d->params.post.cosmetic_fraction,
                               d->params.post.cosmetic_frames, d->params.run.n_threads };
      TsrCosmetic *cos = tsr_cosmetic_find (s, &cp, tsr_window_job_progress_cb, d, cancellable, &error);
      if (!cos)
        {
          tsr_calib_outcome_free (calib);
          g_task_return_error (task, error);
          return;
        }
      if (tsr_cosmetic_n_hot (cos) + tsr_cosmetic_n_cold (cos) > 0)
        tsr_cosmetic_attach (cos, s);
      else
        tsr_cosmetic_free (cos);
    }
  TsrAnalysis *a = tsr_tbqr_analyse (s, &d->params.tbqr, &d->params.run, tsr_window_job_progress_cb, d, cancellable, &error);
  if (!a)
    {
      tsr_calib_outcome_free (calib);
      g_task_return_error (task, error);
      return;
    }
  AnalysisResult *r = g_new0 (AnalysisResult, 1);
  r->calib = calib;
  r->session = g_steal_pointer (&s);
  r->analysis = a;
  {
    g_autofree guint8 *choices = tsr_window_choices_array (&d->choices, a);
    r->weights = tsr_tbqr_weigh_with_choices (a, &d->params.tbqr, choices, &r->weigh_error);
  }

  /* the live preview's reduced registered cache: a failure only costs the preview */
  GError *perr = NULL;
  gsize budget = (gsize) MIN (256.0, d->params.run.memory_budget_mb / 4) << 20;
  r->preview_cache = tsr_preview_cache_build (a, 512, budget, tsr_window_job_progress_cb, d, cancellable, &perr);
  if (r->preview_cache && r->weights)
    {
      r->preview_img = tsr_preview_render (r->preview_cache, r->weights, cancellable, NULL);
      r->preview_surface = tsr_window_render_display (r->preview_img);
    }
  if (perr)
    {
      if (!g_error_matches (perr, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_message ("no live preview: %s", perr->message);
      g_error_free (perr);
    }
  g_task_return_pointer (task, r, analysis_result_free);
}

void
tsr_window_set_reconstruction (TsrWindow *self, TsrReconstruction *r, cairo_surface_t *rs, cairo_surface_t *ms)
{
  g_clear_pointer (&self->recon, tsr_reconstruction_free);
  g_clear_pointer (&self->result_surface, cairo_surface_destroy);
  g_clear_pointer (&self->mean_surface, cairo_surface_destroy);
  self->recon = r;
  self->result_surface = rs;
  self->mean_surface = ms;
  tsr_window_post_reset_result (self);
}

static void
populate_rows (TsrWindow *self)
{
  g_list_store_remove_all (self->store);
  if (!self->analysis || !self->session)
    return;
  guint n = tsr_session_n_frames (self->session);
  g_autoptr (GPtrArray) rows = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < n; i++)
    {
      TsrFrameInfo *fi = tsr_session_frame (self->session, i);
      TsrFrameRow *row = tsr_frame_row_new (i, fi->name, fi->path);
      tsr_frame_row_update (row, self->analysis, self->weights);
      g_ptr_array_add (rows, row);
    }
  g_list_store_splice (self->store, 0, 0, rows->pdata, rows->len);
}

TSR_TIMED_CALLBACK (analysis_done)

static void
analysis_done_impl (GObject *source, GAsyncResult *res, gpointer data)
{
  TsrWindow *self = TSR_WINDOW (source);
  GTask *task = G_TASK (res);
  GError *error = NULL;
  AnalysisResult *r = g_task_propagate_pointer (task, &error);
  self->analysis_workers--;
  if (!tsr_window_job_current (self, task))
    {
      g_clear_error (&error);
      if (r)
        analysis_result_free (r);
      return;
    }
  tsr_window_end_job_full (self);
  if (!r)
    {
      JobData *jd = g_task_get_task_data (task);
      if (!tsr_window_planetary_reroute (self, (const char *const *) jd->paths, error))
        tsr_window_show_error (self, error->message);
      g_error_free (error);
      return;
    }
  tsr_window_planetary_leave (self);
  tsr_window_set_blink (self, FALSE);   /* its frames were the old session's */
  {
    JobData *jd = g_task_get_task_data (task);
    if (self->paths != jd->paths)
      {
        g_strfreev (self->paths);
        self->paths = g_strdupv (jd->paths);
      }
    g_autofree char *base = g_path_get_basename (self->paths[0]);
    guint np = g_strv_length (self->paths);
    g_autofree char *title = np > 1 ? g_strdup_printf (_("%s and %u more — Tessera"), base, np - 1)
                                    : g_strdup_printf ("%s — Tessera", base);
    gtk_window_set_title (GTK_WINDOW (self), title);
  }
  {
    /* the frame choices this analysis weighed with are the session's now */
    JobData *jd = g_task_get_task_data (task);
    tsr_frame_choices_clear (&self->choices);
    self->choices = jd->choices;
    jd->choices.include = jd->choices.exclude = NULL;
  }
  g_clear_pointer (&self->session, tsr_session_unref);
  g_clear_pointer (&self->analysis, tsr_analysis_unref);
  g_clear_pointer (&self->weights, tsr_weights_unref);
  self->session = g_steal_pointer (&r->session);
  self->analysis_params = jd_params_of (task);
  self->analysis = g_steal_pointer (&r->analysis);
  self->weights = g_steal_pointer (&r->weights);
  g_clear_pointer (&self->calib, tsr_calib_outcome_free);
  self->calib = g_steal_pointer (&r->calib);
  tsr_window_calib_update (self);
  tsr_window_set_reconstruction (self, NULL, NULL, NULL);
  {
    /* a project's sky-sample edits, for the results of this session */
    JobData *jd = g_task_get_task_data (task);
    if (jd->samples.width > 0)
      tsr_window_post_take_edits (self, &jd->samples);
  }
  g_clear_pointer (&self->frame_img, tsr_image_unref);
  g_clear_pointer (&self->frame_surface, cairo_surface_destroy);
  self->frame_img_index = -1;
  self->selected_frame = -1;
  g_clear_pointer (&self->preview_cache, tsr_preview_cache_unref);
  g_clear_pointer (&self->preview_img, tsr_image_unref);
  g_clear_pointer (&self->preview_surface, cairo_surface_destroy);
  self->preview_cache = g_steal_pointer (&r->preview_cache);
  self->preview_img = g_steal_pointer (&r->preview_img);
  self->preview_surface = g_steal_pointer (&r->preview_surface);
  self->preview_gen++;
  g_clear_pointer (&self->deconv_img, tsr_image_unref);
  g_clear_pointer (&self->deconv_surface, cairo_surface_destroy);
  tsr_window_denoise_clear (self);
  tsr_window_restore_clear (self);

  tsr_image_view_set_analysis (self->view, self->analysis, self->weights);
  gtk_drop_down_set_selected (GTK_DROP_DOWN (self->show_dropdown), SHOW_FRAME);
  populate_rows (self);   /* selects the first row, which loads it */
  tsr_window_update_param_rows (self);   /* the tile size in px, the cluster row */
  if (self->preview_img)
    gtk_drop_down_set_selected (GTK_DROP_DOWN (self->show_dropdown), SHOW_PREVIEW);
  tsr_window_redraw_figures_full (self);
  tsr_window_update_actions_full (self);
  tsr_window_session_opened (self);

  JobData *d = g_task_get_task_data (task);
  double secs = (g_get_monotonic_time () - d->t0) / 1e6;
  const TsrAnalysis *a = self->analysis;
  if (r->weigh_error)
    tsr_window_show_error (self, r->weigh_error->message);
  else
    {
      g_autofree char *msg = g_strdup_printf (
        _("%u frames analysed in %.1f s: %u used, %u registered and valid; tile %d px, %d×%d tiles.%s Press Run for the full reconstruction."),
        a->reg->n_frames, secs, self->weights->n_used, tsr_registration_n_valid (a->reg),
        a->tile_size, a->tiles_x, a->tiles_y, self->calib ? _(" Calibrated (bias/darks/flats as in the panel).") : "");
      if (d->recursed)
        {
          char *m2 = g_strdup_printf (_("%s (no frames at the top: the subfolders were opened)"), msg);
          g_free (msg);
          msg = m2;
        }
      tsr_window_set_status (self, msg);
    }
  analysis_result_free (r);
  if (self->weigh_pending)
    tsr_window_request_weigh_full (self);
  else if (self->autorun && self->weights)
    tsr_window_run (self);
}

void
tsr_window_open_paths (TsrWindow *self, const char *const *paths)
{
  g_return_if_fail (TSR_IS_WINDOW (self) && paths && paths[0]);
  /* The window keeps showing (title, paths, table, result) and acting on the session it has
   * until the new one is fully open: analysis_done_impl switches everything at once; a
   * cancelled or failed open leaves it all as it was. */
  char **copy = g_strdupv ((char **) paths);   /* paths may be self->paths (Analyse Again) */
  gboolean detect = FALSE;
  if (tsr_window_planetary_route (self, (const char *const *) copy, &detect))
    {
      if (self->open_choices)   /* a planetary session has no frame choices */
        {
          tsr_frame_choices_clear (self->open_choices);
          g_clear_pointer (&self->open_choices, g_free);
        }
      if (self->open_samples)   /* nor sky samples */
        {
          tsr_sample_edits_clear (self->open_samples);
          g_clear_pointer (&self->open_samples, g_free);
        }
      g_strfreev (copy);   /* non-FITS input or chosen: the planetary job has the paths */
      return;
    }

  GCancellable *cancellable;
  JobData *d = tsr_window_begin_job_full (self, TSR_JOB_ANALYSE, &cancellable);
  /* the frame choices: a project's (it started this open), the session's own when the same
   * session is analysed again (Analyse Again, a tile size), none for another session */
  if (self->open_choices)
    {
      d->choices = *self->open_choices;
      g_clear_pointer (&self->open_choices, g_free);
    }
  else if (self->paths && g_strv_equal ((const char *const *) self->paths, (const char *const *) copy))
    tsr_frame_choices_copy (&d->choices, &self->choices);
  if (self->open_samples)
    {
      d->samples = *self->open_samples;
      g_clear_pointer (&self->open_samples, g_free);
    }
  d->paths = copy;
  d->detect_starless = detect;
  d->recursive = self->open_recursive;
  g_clear_pointer (&self->last_error, g_free);   /* the error of an earlier open is history */
  for (guint k = 0; k < TSR_CALIB_N_KINDS; k++)
    d->calib_paths[k] = g_strdup (self->calib_paths[k]);
  self->weigh_pending = FALSE;
  self->weigh_gen++;
  g_autofree char *msg = g_strdup_printf (_("Analysing %s…"), copy[0]);
  tsr_window_set_status (self, msg);

  self->analysis_workers++;
  GTask *task = g_task_new (self, cancellable, analysis_done, NULL);
  g_task_set_task_data (task, d, tsr_window_job_data_free);
  g_task_set_name (task, "tessera-analyse");
  g_task_run_in_thread (task, analysis_thread);
  g_object_unref (task);
}

void
tsr_window_open_session (TsrWindow *self, const char *path)
{
  const char *paths[] = { path, NULL };
  tsr_window_open_paths (self, paths);
}

/* ---------------------------------------------------------------- weighing */

static void
weigh_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  JobData *d = task_data;
  GError *error = NULL;
  g_autofree guint8 *choices = tsr_window_choices_array (&d->choices, d->analysis);
  TsrWeights *w = tsr_tbqr_weigh_with_choices (d->analysis, &d->params.tbqr, choices, &error);
  if (w)
    g_task_return_pointer (task, w, (GDestroyNotify) tsr_weights_unref);
  else
    g_task_return_error (task, error);
}

TSR_TIMED_CALLBACK (weigh_done)

static void
weigh_done_impl (GObject *source, GAsyncResult *res, gpointer data)
{
  TsrWindow *self = TSR_WINDOW (source);
  GTask *task = G_TASK (res);
  JobData *d = g_task_get_task_data (task);
  GError *error = NULL;
  TsrWeights *w = g_task_propagate_pointer (task, &error);
  self->weigh_running = FALSE;
  if (self->disposed || d->gen != self->weigh_gen || d->analysis != self->analysis)
    {
      /* stale: parameters or analysis changed meanwhile */
      g_clear_error (&error);
      g_clear_pointer (&w, tsr_weights_unref);
      if (!self->disposed && self->weigh_pending)
        tsr_window_start_weigh (self);
      return;
    }
  if (!w)
    {
      gtk_label_set_text (GTK_LABEL (self->param_note), error->message);
      gtk_widget_add_css_class (self->param_note, "error");
      tsr_window_show_error (self, error->message);
      g_error_free (error);
      tsr_window_refresh_rows (self);   /* the gate may have changed */
      tsr_window_redraw_figures_full (self);
      return;
    }
  gtk_label_set_text (GTK_LABEL (self->param_note), "");
  gtk_widget_remove_css_class (self->param_note, "error");
  g_clear_pointer (&self->weights, tsr_weights_unref);
  self->weights = w;
  tsr_image_view_set_analysis (self->view, self->analysis, self->weights);
  tsr_window_refresh_rows (self);
  tsr_window_redraw_figures_full (self);
  tsr_window_update_actions_full (self);
  tsr_window_update_param_rows (self);   /* rows that depend on the weights (clusters) */
  self->weigh_ms = (g_get_monotonic_time () - self->weigh_t0) / 1e3;
  g_autofree char *msg = g_strdup_printf (_("Weights updated in %.0f ms: %u of %u frames used%s"), self->weigh_ms,
                                          w->n_used, w->n_frames,
                                          self->recon ? _(" — Run again to apply them to the result") : "");
  tsr_window_set_status (self, msg);
  tsr_window_request_preview (self);
}

void
tsr_window_start_weigh (TsrWindow *self)
{
  if (self->weigh_running || self->run_workers > 0 || !self->analysis || self->job == TSR_JOB_ANALYSE)
    return;   /* weigh_pending stays set; started when the blocker finishes */
  self->weigh_pending = FALSE;
  self->weigh_running = TRUE;
  JobData *d = g_new0 (JobData, 1);
  d->gen = self->weigh_gen;
  d->params = self->params;
  d->analysis = tsr_analysis_ref (self->analysis);
  tsr_frame_choices_copy (&d->choices, &self->choices);
  GTask *task = g_task_new (self, NULL, weigh_done, NULL);
  g_task_set_task_data (task, d, tsr_window_job_data_free);
  g_task_set_name (task, "tessera-weigh");
  g_task_run_in_thread (task, weigh_thread);
  g_object_unref (task);
}

void
tsr_window_request_weigh_full (TsrWindow *self)
{
  if (!self->weigh_pending && !self->weigh_running)
    self->weigh_t0 = g_get_monotonic_time ();
  self->weigh_gen++;
  self->weigh_pending = TRUE;
  tsr_window_start_weigh (self);
}

/* ---------------------------------------------------------------- frame choices */

void
tsr_frame_choices_copy (TsrFrameChoices *dst, const TsrFrameChoices *src)
{
  dst->include = src && src->include ? g_strdupv (src->include) : NULL;
  dst->exclude = src && src->exclude ? g_strdupv (src->exclude) : NULL;
}

guint8 *
tsr_window_choices_array (const TsrFrameChoices *c, const TsrAnalysis *a)
{
  if (!c || (!c->include && !c->exclude))
    return NULL;
  return tsr_frame_choices_for_session (c, a->reg->session, NULL);
}
