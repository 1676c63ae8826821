/* tsr-window-planetary.c — lunar and planetary sessions in the window (see
 * tsr-window-planetary.h, docs/window.md).
 *
 * Routing: tsr_window_open_paths asks tsr_window_planetary_route first. Non-FITS input
 * (names only: no pixel is read on the main thread) goes straight to the planetary job; FITS
 * input goes to the deep-sky analysis, whose worker runs the starless detection
 * (tsr_window_planetary_detect_starless) on frames of at most 25 Mpx and, when the session is
 * starless, ends with the route error that makes analysis_done hand the paths to
 * tsr_window_planetary_reroute. The menu's "Process as …" forces either way for those paths.
 *
 * The planetary job (TSR_JOB_PLANETARY) runs tsr_planetary_run in a GTask with the window's
 * progress and cancellable; the display surfaces are rendered in the worker with one linear
 * stretch (the stack's 0.01 %/99.99 % points, as tsr_planetary_write_png) shared by the stack,
 * its sharpened versions, the mean and the best frame, so they compare. Like a deep-sky open,
 * the window switches to the new session only when the job has finished: a cancelled or
 * superseded job's result is dropped by generation and the previous state stays.
 *
 * Wavelets: every slider change asks for tsr_wavelets_apply on the stack in a worker after a
 * short debounce; one worker at a time, a newer request cancels the running one and starts
 * when it has wound down (the newest request wins; stale results are dropped). Unit gains and
 * zero thresholds show the stack itself at once. */
#include "tsr-config.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <glib/gi18n.h>
#include "tsr-window-private.h"
#include "tsr-window-planetary.h"
#include "tsr-planetary-panel.h"

#define RERUN_DELAY_MS 700
#define WAVELET_DELAY_MS 60
#define N_LAYERS 5
#define MAX_DETECT_PIXELS ((gint64) 25 * 1000 * 1000)

struct _TsrPlanetaryUi
{
  /* state of the open planetary session (result NULL: none) */
  TsrPlanetaryResult *result;
  cairo_surface_t *stack_surface, *mean_surface, *best_surface;
  TsrStretch stretch;
  char *reason;               /* why this session is planetary */
  double seconds;
  TsrPlanetaryParams params;
  TsrWaveletParams wavelets;

  /* the sharpened stack (NULL: the stack itself) */
  TsrImage *sharp;
  cairo_surface_t *sharp_surface;
  guint wav_gen;
  gboolean wav_running, wav_pending;
  guint wav_source;
  GCancellable *wav_cancellable;

  guint rerun_source;
  guint workers;              /* planetary jobs alive (even cancelled) */
  char *job_reason;           /* the reason of the job being run */

  /* Process as …: forced for these paths */
  char **forced_paths;
  TsrProcessAs forced;

  /* widgets */
  GtkWidget *params_stack, *diag_stack, *tog_points, *deep_toggles;
  GListModel *deep_show_model;
  GtkStringList *show_model;
  GtkWidget *figures[2];
  GtkWidget *why_label, *table;
  int deep_paned_position;
  GHashTable *controls;       /* planetary.* key → widget */
  GtkWidget *gain_scales[N_LAYERS], *threshold_spins[N_LAYERS];
  GtkWidget *note;
  gboolean updating;
};

G_DEFINE_QUARK (tsr-window-planetary-route, route_error)

static void show_planetary (TsrWindow *self);
static void request_wavelets (TsrWindow *self);

static TsrPlanetaryUi *
ui (TsrWindow *self)
{
  return self->planetary;
}

/* ---------------------------------------------------------------- routing */

static gboolean
is_non_fits_input (const char *const *paths, char **why)
{
  for (guint i = 0; paths[i]; i++)
    {
      const char *p = paths[i];
      g_autofree char *base = g_path_get_basename (p);
      if (!g_file_test (p, G_FILE_TEST_IS_DIR))
        {
          if (tsr_is_ser_name (p))
            *why = g_strdup_printf (_("%s is a SER video: lunar/planetary stacking"), base);
          else if (tsr_is_video_name (p))
            *why = g_strdup_printf (_("%s is a video: lunar/planetary stacking"), base);
          else if (tsr_is_image_name (p) && !tsr_is_frame_name (p)) /* TIFF is a deep-sky format too */
            *why = g_strdup_printf (_("%s is not FITS: lunar/planetary stacking"), base);
          else
            continue;
          return TRUE;
        }
      GDir *d = g_dir_open (p, 0, NULL);
      const char *name;
      gboolean fits = FALSE, other = FALSE;
      while (d && (name = g_dir_read_name (d)))
        {
          fits |= tsr_is_frame_name (name);
          other |= (tsr_is_image_name (name) && !tsr_is_frame_name (name)) || tsr_is_ser_name (name)
                   || tsr_is_video_name (name);
        }
      if (d)
        g_dir_close (d);
      if (other && !fits)
        {
          *why = g_strdup_printf (_("%s holds images or videos, not FITS: lunar/planetary stacking"), base);
          return TRUE;
        }
    }
  return FALSE;
}

static TsrProcessAs
forced_for (TsrWindow *self, const char *const *paths)
{
  TsrPlanetaryUi *p = ui (self);
  if (p->forced_paths && g_strv_equal ((const char *const *) p->forced_paths, paths))
    return p->forced;
  return TSR_PROCESS_AUTO;
}

static void start_job (TsrWindow *self, const char *const *paths, const char *reason);

gboolean
tsr_window_planetary_route (TsrWindow *self, const char *const *paths, gboolean *detect)
{
  *detect = FALSE;
  TsrProcessAs how = forced_for (self, paths);
  if (how == TSR_PROCESS_DEEP_SKY)
    return FALSE;
  if (how == TSR_PROCESS_PLANETARY)
    {
      start_job (self, paths, _("Lunar/planetary stacking, as chosen in the menu"));
      return TRUE;
    }
  g_autofree char *why = NULL;
  if (is_non_fits_input (paths, &why))
    {
      start_job (self, paths, why);
      return TRUE;
    }
  *detect = TRUE;
  return FALSE;
}

gboolean
tsr_window_planetary_detect_starless (TsrSession *s, GError **error)
{
  /* lunar and planetary cameras write at most ~25 Mpx; larger frames are deep sky, and
   * reading three of them only to look would cost the memory the analysis budgets for */
  if ((gint64) s->width * s->height > MAX_DETECT_PIXELS || tsr_session_n_frames (s) < 2)
    return FALSE;
  guint n = tsr_session_n_frames (s);
  g_autofree const char **paths = g_new0 (const char *, n + 1);
  for (guint i = 0; i < n; i++)
    paths[i] = tsr_session_frame (s, i)->path;
  TsrStarlessInfo info;
  if (!tsr_starless_detect_paths (paths, &info, NULL) || !info.starless)
    return FALSE;
  g_set_error (error, route_error_quark (), 0,
               _("No stars (starless %s, bright region %.0f %%, %u point sources): lunar/planetary stacking"),
               info.surface ? _("surface") : _("disc"), 100 * info.extended_fraction, info.n_compact);
  return TRUE;
}

gboolean
tsr_window_planetary_reroute (TsrWindow *self, const char *const *paths, const GError *error)
{
  if (!error || error->domain != route_error_quark ())
    return FALSE;
  start_job (self, paths, error->message);
  return TRUE;
}

gboolean
tsr_window_process_as (TsrWindow *self, TsrProcessAs how)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self), FALSE);
  TsrPlanetaryUi *p = ui (self);
  if (!self->paths)
    return FALSE;
  g_autofree char *why = NULL;
  if (how == TSR_PROCESS_DEEP_SKY && is_non_fits_input ((const char *const *) self->paths, &why))
    {
      g_autofree char *msg = g_strdup_printf (_("%s — the deep-sky path reads FITS frames only"), why);
      tsr_window_show_error_text (self, msg);
      return FALSE;
    }
  g_strfreev (p->forced_paths);
  p->forced_paths = g_strdupv (self->paths);
  p->forced = how;
  g_auto (GStrv) paths = g_strdupv (self->paths);
  tsr_window_open_paths (self, (const char *const *) paths);
  return TRUE;
}

/* ---------------------------------------------------------------- display helpers */

static int
float_cmp (const void *a, const void *b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return (x > y) - (x < y);
}

/* Black and white at the 0.01 % and 99.99 % points of the valid samples, linked over the
 * channels (as tsr_planetary_write_png): the deep-sky auto-stretch would flatten a disc. */
static void
linear_stretch (const TsrImage *img, TsrStretch *st)
{
  gsize np = tsr_image_npix (img), nv = 0;
  gsize step = MAX (1, np * img->channels / 2000000);
  float *v = g_new (float, np * img->channels / step + img->channels);
  for (int c = 0; c < img->channels; c++)
    {
      const float *pl = tsr_image_plane (img, c);
      for (gsize i = 0; i < np; i += step)
        if (img->mask[i] && isfinite (pl[i]))
          v[nv++] = pl[i];
    }
  float lo = 0, hi = 1;
  if (nv > 0)
    {
      gsize k0 = (gsize) (0.0001 * (nv - 1)), k1 = (gsize) (0.9999 * (nv - 1));
      qsort (v, nv, sizeof (float), float_cmp);   /* in a worker; ≤ 2 M samples */
      lo = v[k0];
      hi = v[k1];
    }
  g_free (v);
  if (!(hi > lo))
    hi = lo + 1;
  for (int c = 0; c < 3; c++)
    {
      st->black[c] = lo;
      st->white[c] = hi;
    }
  st->midtone = 0.5f;   /* the identity: planetary images are shown linearly */
}

static gboolean
wavelets_are_identity (const TsrWaveletParams *w)
{
  for (int j = 0; j < w->n_layers; j++)
    if (w->gains[j] != 1.0 || w->thresholds[j] != 0.0)
      return FALSE;
  return TRUE;
}

/* ---------------------------------------------------------------- the planetary job */

typedef struct
{
  guint gen;
  gpointer progress;          /* tsr_window_progress_data_new */
  char **paths;
  TsrPlanetaryParams params;
  gint64 t0;
} PlanetaryJob;

static void
planetary_job_free (gpointer data)
{
  PlanetaryJob *j = data;
  tsr_window_progress_data_free (j->progress);
  g_strfreev (j->paths);
  g_free (j);
}

typedef struct
{
  TsrPlanetaryResult *result;
  cairo_surface_t *stack_surface, *mean_surface, *best_surface;
  TsrStretch stretch;
} PlanetaryOut;

static void
planetary_out_free (gpointer data)
{
  PlanetaryOut *o = data;
  g_clear_pointer (&o->result, tsr_planetary_result_free);
  g_clear_pointer (&o->stack_surface, cairo_surface_destroy);
  g_clear_pointer (&o->mean_surface, cairo_surface_destroy);
  g_clear_pointer (&o->best_surface, cairo_surface_destroy);
  g_free (o);
}

static void
planetary_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  tsr_stall_lower_thread_priority ();
  PlanetaryJob *j = task_data;
  GError *error = NULL;
  tsr_window_job_progress (N_("Opening the frames"), 0, 0, j->progress);
  g_autoptr (TsrFrameSource) src = tsr_frame_source_open ((const char *const *) j->paths, cancellable, &error);
  if (!src)
    {
      g_task_return_error (task, error);
      return;
    }
  if (tsr_frame_source_n_frames (src) < 2)
    {
      g_task_return_new_error (task, TSR_ERROR, TSR_ERROR_EMPTY,
                               _("%s: a session needs at least two frames (it has one)"), tsr_frame_source_path (src));
      return;
    }
  TsrPlanetaryResult *r = tsr_planetary_run (src, &j->params, tsr_window_job_progress, j->progress, cancellable, &error);
  if (!r)
    {
      if (!error)
        error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, _("Planetary stack cancelled"));
      g_task_return_error (task, error);
      return;
    }
  PlanetaryOut *o = g_new0 (PlanetaryOut, 1);
  o->result = r;
  if (!g_cancellable_is_cancelled (cancellable))
    {
      tsr_window_job_progress (N_("Rendering"), 0, 0, j->progress);
      linear_stretch (r->result, &o->stretch);
      o->stack_surface = tsr_render_surface (r->result, &o->stretch, 1);
      o->mean_surface = tsr_render_surface (r->mean, &o->stretch, 1);
      o->best_surface = tsr_render_surface (r->best_frame, &o->stretch, 1);
    }
  g_task_return_pointer (task, o, planetary_out_free);
}

static void
clear_result (TsrPlanetaryUi *p)
{
  g_clear_pointer (&p->result, tsr_planetary_result_free);
  g_clear_pointer (&p->stack_surface, cairo_surface_destroy);
  g_clear_pointer (&p->mean_surface, cairo_surface_destroy);
  g_clear_pointer (&p->best_surface, cairo_surface_destroy);
  g_clear_pointer (&p->sharp, tsr_image_unref);
  g_clear_pointer (&p->sharp_surface, cairo_surface_destroy);
  p->wav_gen++;
}

/* The window switches to a planetary session: the deep-sky session goes, the planetary
 * show list, panels and overlay toggle come. */
static void
enter_planetary (TsrWindow *self)
{
  TsrPlanetaryUi *p = ui (self);
  g_clear_pointer (&self->session, tsr_session_unref);
  g_clear_pointer (&self->analysis, tsr_analysis_unref);
  g_clear_pointer (&self->weights, tsr_weights_unref);
  tsr_window_set_reconstruction (self, NULL, NULL, NULL);
  g_clear_pointer (&self->frame_img, tsr_image_unref);
  g_clear_pointer (&self->frame_surface, cairo_surface_destroy);
  self->frame_img_index = self->selected_frame = -1;
  g_clear_pointer (&self->preview_cache, tsr_preview_cache_unref);
  g_clear_pointer (&self->preview_img, tsr_image_unref);
  g_clear_pointer (&self->preview_surface, cairo_surface_destroy);
  self->preview_gen++;
  self->weigh_gen++;
  self->weigh_pending = FALSE;
  g_clear_pointer (&self->deconv_img, tsr_image_unref);
  g_clear_pointer (&self->deconv_surface, cairo_surface_destroy);
  tsr_window_denoise_clear (self);
  tsr_window_restore_clear (self);
  g_list_store_remove_all (self->store);
  tsr_image_view_set_analysis (self->view, NULL, NULL);

  gtk_stack_set_visible_child_name (GTK_STACK (p->params_stack), "planetary");
  gtk_stack_set_visible_child_name (GTK_STACK (p->diag_stack), "planetary");
  gtk_widget_set_visible (p->deep_toggles, FALSE);
  gtk_widget_set_visible (p->tog_points, TRUE);
  /* no frame table (its columns are deep-sky measurements); the right side gives the panel
   * more room */
  if (!p->table)
    p->table = self->frame_table;   /* the table and its gate explanation pane */
  gtk_widget_set_visible (p->table, FALSE);
  GtkWidget *right = gtk_widget_get_parent (p->params_stack);
  if (GTK_IS_PANED (right) && !gtk_widget_get_visible (p->table) && p->deep_paned_position < 0)
    {
      p->deep_paned_position = gtk_paned_get_position (GTK_PANED (right));
      gtk_paned_set_position (GTK_PANED (right), 260);
    }
  if (gtk_drop_down_get_model (GTK_DROP_DOWN (self->show_dropdown)) != G_LIST_MODEL (p->show_model))
    gtk_drop_down_set_model (GTK_DROP_DOWN (self->show_dropdown), G_LIST_MODEL (p->show_model));
}

void
tsr_window_planetary_leave (TsrWindow *self)
{
  TsrPlanetaryUi *p = ui (self);
  if (!p->result && gtk_drop_down_get_model (GTK_DROP_DOWN (self->show_dropdown)) == p->deep_show_model)
    return;
  if (p->rerun_source)
    g_source_remove (p->rerun_source);
  p->rerun_source = 0;
  if (p->wav_source)
    g_source_remove (p->wav_source);
  p->wav_source = 0;
  p->wav_pending = FALSE;
  clear_result (p);
  g_clear_pointer (&p->reason, g_free);
  tsr_image_view_set_points (self->view, 0, NULL, NULL, NULL, 0);
  gtk_stack_set_visible_child_name (GTK_STACK (p->params_stack), "deep-sky");
  gtk_stack_set_visible_child_name (GTK_STACK (p->diag_stack), "deep-sky");
  gtk_widget_set_visible (p->deep_toggles, TRUE);
  gtk_widget_set_visible (p->tog_points, FALSE);
  if (p->table)
    gtk_widget_set_visible (p->table, TRUE);
  GtkWidget *right = gtk_widget_get_parent (p->params_stack);
  if (GTK_IS_PANED (right) && p->deep_paned_position >= 0)
    gtk_paned_set_position (GTK_PANED (right), p->deep_paned_position);
  p->deep_paned_position = -1;
  gtk_drop_down_set_model (GTK_DROP_DOWN (self->show_dropdown), p->deep_show_model);
  tsr_window_update_actions (self);
}

static void
set_note (TsrWindow *self, const char *text)
{
  gtk_label_set_text (GTK_LABEL (ui (self)->note), text ? text : "");
}

TSR_TIMED_CALLBACK (planetary_done)

static void
planetary_done_impl (GObject *source, GAsyncResult *res, gpointer data)
{
  TsrWindow *self = TSR_WINDOW (source);
  GTask *task = G_TASK (res);
  PlanetaryJob *j = g_task_get_task_data (task);
  GError *error = NULL;
  PlanetaryOut *o = g_task_propagate_pointer (task, &error);
  TsrPlanetaryUi *p = ui (self);
  p->workers--;
  if (!tsr_window_job_is_current (self, j->gen))
    {
      /* cancelled or superseded: the window keeps what it shows */
      g_clear_error (&error);
      if (o)
        planetary_out_free (o);
      if (!self->disposed)
        tsr_window_update_actions (self);
      return;
    }
  tsr_window_end_job (self);
  if (!o)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        tsr_window_show_error_text (self, error->message);
      g_error_free (error);
      return;
    }
  gboolean same_session = p->result && self->paths && g_strv_equal ((const char *const *) self->paths,
                                                                  (const char *const *) j->paths);
  if (self->paths != j->paths)
    {
      g_strfreev (self->paths);
      self->paths = g_strdupv (j->paths);
    }
  g_autofree char *base = g_path_get_basename (self->paths[0]);
  g_autofree char *title = g_strdup_printf ("%s — Tessera", base);
  gtk_window_set_title (GTK_WINDOW (self), title);

  enter_planetary (self);
  clear_result (p);
  p->result = g_steal_pointer (&o->result);
  p->stack_surface = g_steal_pointer (&o->stack_surface);
  p->mean_surface = g_steal_pointer (&o->mean_surface);
  p->best_surface = g_steal_pointer (&o->best_surface);
  p->stretch = o->stretch;
  p->params = j->params;
  p->seconds = (g_get_monotonic_time () - j->t0) / 1e6;
  g_free (p->reason);
  p->reason = g_strdup (p->job_reason);
  planetary_out_free (o);

  const TsrPlanetaryResult *r = p->result;
  tsr_image_view_set_points (self->view, r->n_aps, r->ap_x, r->ap_y, r->ap_active,
                             r->ap_size * (1 - p->params.ap_overlap));
  tsr_image_view_set_points_visible (self->view, gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (p->tog_points)));
  if (!same_session)
    {
      gtk_drop_down_set_selected (GTK_DROP_DOWN (self->show_dropdown), TSR_PLANETARY_SHOW_STACK);
      tsr_image_view_zoom_fit (self->view);
    }
  request_wavelets (self);
  show_planetary (self);
  for (guint i = 0; i < G_N_ELEMENTS (p->figures); i++)
    gtk_widget_queue_draw (p->figures[i]);
  tsr_window_update_actions (self);
  tsr_window_session_opened (self);

  guint active = 0;
  for (guint k = 0; k < r->n_aps; k++)
    active += r->ap_active[k];
  g_autofree char *sel = p->params.stack == TSR_PSTACK_BEST_FRACTION
                           ? g_strdup_printf (_("best %.0f %% per point"), 100 * p->params.best_fraction)
                           : g_strdup (p->params.stack == TSR_PSTACK_QUALITY_WEIGHT ? _("quality-weighted")
                                                                                     : _("plain mean per point"));
  g_autofree char *msg = g_strdup_printf (
    _("%s. %u frames in %.1f s: %s alignment, %u of %u points active, %s."), p->reason,
    r->n_frames, p->seconds, r->disc ? _("disc") : _("surface"), active, r->n_aps, sel);
  tsr_window_set_status_text (self, msg);
  set_note (self, "");
  g_autofree char *why = g_strdup_printf (_("%s. Main menu › Process as Deep Sky opens the session the other way."),
                                          p->reason);
  gtk_label_set_text (GTK_LABEL (p->why_label), why);
}

static void
start_job (TsrWindow *self, const char *const *paths, const char *reason)
{
  TsrPlanetaryUi *p = ui (self);
  if (p->rerun_source)
    g_source_remove (p->rerun_source);
  p->rerun_source = 0;
  GCancellable *cancellable;
  guint gen = tsr_window_begin_job (self, TSR_JOB_PLANETARY, &cancellable);
  PlanetaryJob *j = g_new0 (PlanetaryJob, 1);
  j->gen = gen;
  j->progress = tsr_window_progress_data_new (self, gen);
  j->paths = g_strdupv ((char **) paths);
  j->params = p->params;
  j->t0 = g_get_monotonic_time ();
  g_free (p->job_reason);
  p->job_reason = g_strdup (reason);
  p->workers++;
  g_autofree char *msg = g_strdup_printf (_("%s. Aligning and stacking…"), reason);
  tsr_window_set_status_text (self, msg);
  GTask *task = g_task_new (self, cancellable, planetary_done, NULL);
  g_task_set_task_data (task, j, planetary_job_free);
  g_task_set_name (task, "tessera-planetary");
  g_task_run_in_thread (task, planetary_thread);
  g_object_unref (task);
}

static gboolean
rerun_timeout (gpointer data)
{
  TsrWindow *self = data;
  TsrPlanetaryUi *p = ui (self);
  p->rerun_source = 0;
  if (p->result && self->paths && self->job != TSR_JOB_DECONV)
    start_job (self, (const char *const *) self->paths, p->reason);
  return G_SOURCE_REMOVE;
}

/* ---------------------------------------------------------------- wavelets */

typedef struct
{
  guint gen;
  TsrImage *stack;
  TsrWaveletParams params;
  TsrStretch stretch;
} WaveletJob;

static void
wavelet_job_free (gpointer data)
{
  WaveletJob *w = data;
  g_clear_pointer (&w->stack, tsr_image_unref);
  g_free (w);
}

typedef struct
{
  TsrImage *img;
  cairo_surface_t *surface;
} WaveletOut;

static void
wavelet_out_free (gpointer data)
{
  WaveletOut *o = data;
  g_clear_pointer (&o->img, tsr_image_unref);
  g_clear_pointer (&o->surface, cairo_surface_destroy);
  g_free (o);
}

static void
wavelet_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  WaveletJob *w = task_data;
  GError *error = NULL;
  TsrImage *img = tsr_wavelets_apply (w->stack, &w->params, cancellable, &error);
  if (!img)
    {
      if (!error)
        error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");
      g_task_return_error (task, error);
      return;
    }
  WaveletOut *o = g_new0 (WaveletOut, 1);
  o->img = img;
  if (!g_cancellable_is_cancelled (cancellable))
    o->surface = tsr_render_surface (img, &w->stretch, 1);
  g_task_return_pointer (task, o, wavelet_out_free);
}

static void start_wavelets (TsrWindow *self);

TSR_TIMED_CALLBACK (wavelet_done)

static void
wavelet_done_impl (GObject *source, GAsyncResult *res, gpointer data)
{
  TsrWindow *self = TSR_WINDOW (source);
  GTask *task = G_TASK (res);
  WaveletJob *w = g_task_get_task_data (task);
  GError *error = NULL;
  WaveletOut *o = g_task_propagate_pointer (task, &error);
  TsrPlanetaryUi *p = ui (self);
  if (self->disposed)
    {
      g_clear_error (&error);
      g_clear_pointer (&o, wavelet_out_free);
      return;
    }
  p->wav_running = FALSE;
  g_clear_object (&p->wav_cancellable);
  if (w->gen != p->wav_gen || !p->result || w->stack != p->result->result)
    {
      /* stale: newer gains (or another stack) came meanwhile */
      g_clear_error (&error);
      g_clear_pointer (&o, wavelet_out_free);
      if (p->wav_pending)
        start_wavelets (self);
      return;
    }
  if (!o)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        tsr_window_show_error_text (self, error->message);
      g_error_free (error);
      return;
    }
  g_clear_pointer (&p->sharp, tsr_image_unref);
  g_clear_pointer (&p->sharp_surface, cairo_surface_destroy);
  p->sharp = g_steal_pointer (&o->img);
  p->sharp_surface = g_steal_pointer (&o->surface);
  wavelet_out_free (o);
  show_planetary (self);
}

static void
start_wavelets (TsrWindow *self)
{
  TsrPlanetaryUi *p = ui (self);
  if (p->wav_running || !p->result)
    return;
  p->wav_pending = FALSE;
  p->wav_running = TRUE;
  WaveletJob *w = g_new0 (WaveletJob, 1);
  w->gen = p->wav_gen;
  w->stack = tsr_image_ref (p->result->result);
  w->params = p->wavelets;
  w->stretch = p->stretch;
  p->wav_cancellable = g_cancellable_new ();
  GTask *task = g_task_new (self, p->wav_cancellable, wavelet_done, NULL);
  g_task_set_task_data (task, w, wavelet_job_free);
  g_task_set_name (task, "tessera-wavelets");
  g_task_run_in_thread (task, wavelet_thread);
  g_object_unref (task);
}

static gboolean
wavelet_timeout (gpointer data)
{
  TsrWindow *self = data;
  TsrPlanetaryUi *p = ui (self);
  p->wav_source = 0;
  if (p->wav_running)
    {
      /* the newest request wins: stop the running one, start when it has wound down */
      g_cancellable_cancel (p->wav_cancellable);
      p->wav_pending = TRUE;
    }
  else
    start_wavelets (self);
  return G_SOURCE_REMOVE;
}

static void
request_wavelets (TsrWindow *self)
{
  TsrPlanetaryUi *p = ui (self);
  p->wav_gen++;
  p->wav_pending = FALSE;
  if (p->wav_source)
    g_source_remove (p->wav_source);
  p->wav_source = 0;
  if (p->wav_running)
    g_cancellable_cancel (p->wav_cancellable);
  if (!p->result || wavelets_are_identity (&p->wavelets))
    {
      /* unit gains: the stack itself, at once */
      g_clear_pointer (&p->sharp, tsr_image_unref);
      g_clear_pointer (&p->sharp_surface, cairo_surface_destroy);
      show_planetary (self);
      return;
    }
  p->wav_source = g_timeout_add (WAVELET_DELAY_MS, wavelet_timeout, self);
}

/* ---------------------------------------------------------------- display */

static void
show_planetary (TsrWindow *self)
{
  TsrPlanetaryUi *p = ui (self);
  if (self->disposed || !p->result)
    return;
  TsrPlanetaryShow mode = gtk_drop_down_get_selected (GTK_DROP_DOWN (self->show_dropdown));
  TsrPlanetaryResult *r = p->result;
  TsrImage *stack = p->sharp ? p->sharp : r->result;
  cairo_surface_t *stack_surface = p->sharp ? p->sharp_surface : p->stack_surface;
  if (mode == TSR_PLANETARY_SHOW_MEAN)
    tsr_image_view_set_image (self->view, r->mean, p->mean_surface, -1);
  else if (mode == TSR_PLANETARY_SHOW_BEST)
    tsr_image_view_set_image (self->view, r->best_frame, p->best_surface, -1);
  else
    tsr_image_view_set_image (self->view, stack, stack_surface, -1);
  gboolean can_split = mode == TSR_PLANETARY_SHOW_STACK || mode == TSR_PLANETARY_SHOW_MEAN;
  gtk_widget_set_sensitive (self->tog_compare, can_split);
  const char *stack_label = p->sharp ? _("Stack, sharpened") : _("Stack");
  if (can_split && gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (self->tog_compare)))
    {
      if (mode == TSR_PLANETARY_SHOW_STACK)
        tsr_image_view_set_compare (self->view, p->mean_surface, stack_label, _("Mean of aligned frames"));
      else
        tsr_image_view_set_compare (self->view, stack_surface, _("Mean of aligned frames"), stack_label);
    }
  else
    tsr_image_view_set_compare (self->view, NULL, NULL, NULL);
}

gboolean
tsr_window_planetary_show_current (TsrWindow *self)
{
  TsrPlanetaryUi *p = ui (self);
  if (!p || gtk_drop_down_get_model (GTK_DROP_DOWN (self->show_dropdown)) != G_LIST_MODEL (p->show_model))
    return FALSE;
  if (p->result)
    show_planetary (self);
  return TRUE;
}

gboolean
tsr_window_planetary_active (TsrWindow *self)
{
  return self->planetary && self->planetary->result != NULL;
}

gboolean
tsr_window_planetary_busy (TsrWindow *self)
{
  TsrPlanetaryUi *p = ui (self);
  return p->workers > 0 || p->wav_running || p->wav_pending || p->wav_source || p->rerun_source;
}

/* ---------------------------------------------------------------- export */

typedef struct
{
  char *path;
  TsrImage *stack;
  TsrWaveletParams wavelets;
  TsrExportFormat format;
} ExportJob;

static void
export_job_free (gpointer data)
{
  ExportJob *e = data;
  g_free (e->path);
  g_clear_pointer (&e->stack, tsr_image_unref);
  g_free (e);
}

static void
export_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  ExportJob *e = task_data;
  GError *error = NULL;
  g_autoptr (TsrImage) img = wavelets_are_identity (&e->wavelets)
                               ? tsr_image_ref (e->stack)
                               : tsr_wavelets_apply (e->stack, &e->wavelets, cancellable, &error);
  gboolean ok = img != NULL;
  if (ok)
    switch (e->format)
      {
      case TSR_EXPORT_FITS:
        ok = tsr_fits_write (e->path, img, NULL, &error);
        break;
      case TSR_EXPORT_TIFF32:
        ok = tsr_tiff_write (e->path, img, TSR_TIFF_FLOAT32, &error);
        break;
      case TSR_EXPORT_TIFF16:
        ok = tsr_tiff_write (e->path, img, TSR_TIFF_UINT16, &error);
        break;
      case TSR_EXPORT_PNG:
        ok = tsr_planetary_write_png (img, e->path, &error);
        break;
      case TSR_EXPORT_XISF:
        ok = tsr_xisf_write (e->path, img, &error);
        break;
      }
  if (ok)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

TSR_TIMED_CALLBACK (export_done)

static void
export_done_impl (GObject *source, GAsyncResult *res, gpointer data)
{
  TsrWindow *self = TSR_WINDOW (source);
  ExportJob *e = g_task_get_task_data (G_TASK (res));
  GError *error = NULL;
  self->export_workers--;
  gboolean ok = g_task_propagate_boolean (G_TASK (res), &error);
  if (self->disposed)
    {
      g_clear_error (&error);
      return;
    }
  if (!ok)
    {
      tsr_window_show_error_text (self, error->message);
      g_error_free (error);
      return;
    }
  g_autofree char *msg = e->format == TSR_EXPORT_PNG
                           ? g_strdup_printf (_("Wrote the sharpened stack as a linear 8-bit PNG to %s"), e->path)
                           : g_strdup_printf (_("Wrote the sharpened linear stack to %s"), e->path);
  tsr_window_set_status_text (self, msg);
}

gboolean
tsr_window_planetary_export (TsrWindow *self, const char *path, TsrExportFormat format)
{
  TsrPlanetaryUi *p = ui (self);
  if (!p->result)
    return FALSE;
  ExportJob *e = g_new0 (ExportJob, 1);
  e->path = g_strdup (path);
  e->stack = tsr_image_ref (p->result->result);
  e->wavelets = p->wavelets;
  e->format = format;
  self->export_workers++;
  GTask *task = g_task_new (self, NULL, export_done, NULL);
  g_task_set_task_data (task, e, export_job_free);
  g_task_set_name (task, "tessera-planetary-export");
  g_task_run_in_thread (task, export_thread);
  g_object_unref (task);
  return TRUE;
}

/* ---------------------------------------------------------------- diagnostics: quality plot */

static gboolean
widget_is_dark (GtkWidget *w)
{
  GdkRGBA fg;
  gtk_style_context_get_color (gtk_widget_get_style_context (w), &fg);
  return 0.299 * fg.red + 0.587 * fg.green + 0.114 * fg.blue > 0.5;
}

static void
draw_hint (GtkWidget *area, cairo_t *cr, int w, int h, const char *text)
{
  PangoLayout *layout = gtk_widget_create_pango_layout (area, text);
  int tw, th;
  pango_layout_get_pixel_size (layout, &tw, &th);
  GdkRGBA fg;
  gtk_style_context_get_color (gtk_widget_get_style_context (area), &fg);
  cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.6);
  cairo_move_to (cr, (w - tw) / 2.0, (h - th) / 2.0);
  pango_cairo_show_layout (cr, layout);
  g_object_unref (layout);
}

/* Per frame: the share of the active alignment points whose best-fraction cut keeps the frame
 * (the engine's rule: per point, the best lround(fraction · usable) frames, at least one). */
static double *
frame_use_share (const TsrPlanetaryResult *r, const TsrPlanetaryParams *pp)
{
  guint n = r->n_frames, na = 0;
  double *share = g_new0 (double, n);
  guint *idx = g_new (guint, n);
  for (guint k = 0; k < r->n_aps; k++)
    {
      if (!r->ap_active[k])
        continue;
      const float *Q = r->ap_quality + (gsize) k * n, *D = r->ap_dx + (gsize) k * n;
      guint m = 0;
      for (guint f = 0; f < n; f++)
        if (isfinite (Q[f]) && (!pp->local || isfinite (D[f])))
          idx[m++] = f;
      if (m == 0)
        continue;
      na++;
      /* partial selection sort: m is the number of frames (tens to thousands) */
      guint keep = pp->stack == TSR_PSTACK_BEST_FRACTION ? MAX (1, (guint) lround (pp->best_fraction * m)) : m;
      for (guint i = 0; i < keep; i++)
        {
          guint b = i;
          for (guint t = i + 1; t < m; t++)
            if (Q[idx[t]] > Q[idx[b]])
              b = t;
          guint tmp = idx[i];
          idx[i] = idx[b];
          idx[b] = tmp;
          share[idx[i]] += 1;
        }
    }
  for (guint f = 0; f < n; f++)
    share[f] = na ? 100.0 * share[f] / na : NAN;
  g_free (idx);
  return share;
}

static void
quality_draw (GtkDrawingArea *area, cairo_t *cr, int w, int h, gpointer data)
{
  TsrWindow *self = data;
  TsrPlanetaryUi *p = ui (self);
  if (self->disposed || !p->result)
    {
      draw_hint (GTK_WIDGET (area), cr, w, h, _("Open a lunar or planetary session to see its frame quality"));
      return;
    }
  const TsrPlanetaryResult *r = p->result;
  guint n = r->n_frames;
  gboolean dark = widget_is_dark (GTK_WIDGET (area));
  double *x = g_new (double, n), *q = g_new (double, n);
  gboolean *marks = g_new0 (gboolean, n);
  for (guint f = 0; f < n; f++)
    {
      x[f] = f + 1;
      q[f] = r->quality[f];
    }
  /* the global best-fraction cut (the frames ringed): what a whole-frame selection keeps */
  guint keep = p->params.stack == TSR_PSTACK_BEST_FRACTION ? MAX (1, (guint) lround (p->params.best_fraction * n)) : n;
  for (guint i = 0; i < keep; i++)
    {
      guint b = G_MAXUINT;
      for (guint f = 0; f < n; f++)
        if (!marks[f] && isfinite (q[f]) && (b == G_MAXUINT || q[f] > q[b]))
          b = f;
      if (b == G_MAXUINT)
        break;
      marks[b] = TRUE;
    }
  g_autofree char *title = g_strdup_printf (_("Quality per frame (ringed: the best %.0f %%)"),
                                            100.0 * keep / MAX (n, 1));
  TsrPlotStyle st = { title, _("frame"), _("sharpness"), dark };
  const double *ys[] = { q };
  const char *names[] = { _("quality") };
  double top = floor (h * 0.58);
  tsr_plot_series (cr, w, top, &st, x, ys, names, 1, n, marks);

  double *share = frame_use_share (r, &p->params);
  TsrPlotStyle st2 = { _("Share of the alignment points that stack the frame"), _("frame"), _("%"), dark };
  const double *ys2[] = { share };
  const char *names2[] = { _("points using the frame") };
  cairo_save (cr);
  cairo_translate (cr, 0, top);
  tsr_plot_series (cr, w, h - top, &st2, x, ys2, names2, 1, n, NULL);
  cairo_restore (cr);
  g_free (share);
  g_free (x);
  g_free (q);
  g_free (marks);
}

static void
shifts_draw (GtkDrawingArea *area, cairo_t *cr, int w, int h, gpointer data)
{
  TsrWindow *self = data;
  TsrPlanetaryUi *p = ui (self);
  if (self->disposed || !p->result)
    {
      draw_hint (GTK_WIDGET (area), cr, w, h, _("Open a lunar or planetary session to see its alignment"));
      return;
    }
  const TsrPlanetaryResult *r = p->result;
  guint n = r->n_frames;
  double *x = g_new (double, n);
  for (guint f = 0; f < n; f++)
    x[f] = f + 1;
  g_autofree char *title = g_strdup_printf (_("Global shift per frame (local shifts %.2f px RMS)"), r->local_shift_rms);
  TsrPlotStyle st = { title, _("frame"), _("px"), widget_is_dark (GTK_WIDGET (area)) };
  const double *ys[] = { r->shift_x, r->shift_y };
  const char *names[] = { _("x"), _("y") };
  tsr_plot_series (cr, w, h, &st, x, ys, names, 2, n, NULL);
  g_free (x);
}

void
tsr_window_planetary_init_diagnostics (TsrWindow *self)
{
  /* the "planetary" page of the diagnostics stack (ui/tsr-window.ui): quality, alignment */
  TsrPlanetaryUi *p = ui (self);
  GtkDrawingAreaDrawFunc draws[] = { quality_draw, shifts_draw };
  for (guint i = 0; i < G_N_ELEMENTS (p->figures); i++)
    {
      p->figures[i] = self->planetary_figures[i];
      gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (p->figures[i]), draws[i], self, NULL);
    }
  p->diag_stack = self->diag_stack;
  gtk_stack_set_visible_child_name (GTK_STACK (p->diag_stack), "deep-sky");
}

/* ---------------------------------------------------------------- parameter and wavelet panel */

/* labels of the choices, in the order of the engine's names */
static const char *const stack_labels[] = { N_("best fraction"), N_("quality-weighted"), N_("mean of all"), NULL };
static const char *const align_labels[] = { N_("automatic"), N_("disc centroid"), N_("surface correlation"), NULL };
static const char *const rotation_labels[] = { N_("automatic (surfaces)"), N_("off"), N_("on"), NULL };

typedef struct
{
  const char *key;
  const char *label;
  const char *unit;           /* spin buttons: the unit; check buttons: the button's text */
  double scale;               /* shown = value × scale */
  double step;
  int digits;
  const char *const *choices; /* choice labels of an enum key */
} Control;

static const Control controls[] = {
  { "planetary.best_fraction", N_("Frames stacked per point"), N_("% (best)"), 100, 5, 0, NULL },
  { "planetary.stack", N_("Per point"), NULL, 1, 1, 0, stack_labels },
  { "planetary.local", N_("Alignment points"), N_("local warp field"), 1, 1, 0, NULL },
  { "planetary.ap_size", N_("Point box"), N_("px (0 = auto)"), 1, 8, 0, NULL },
  { "planetary.search", N_("Search radius"), N_("px"), 1, 1, 0, NULL },
  { "planetary.align", N_("Global alignment"), NULL, 1, 1, 0, align_labels },
  { "planetary.rotation", N_("Field rotation"), NULL, 1, 1, 0, rotation_labels },
  { "planetary.channel_align", N_("Dispersion"), N_("register red and blue to green"), 1, 1, 0, NULL },
};

static const TsrParamSpec *
find_spec (const char *key)
{
  guint n;
  const TsrParamSpec *specs = tsr_planetary_params_specs (&n);
  return tsr_keys_find (specs, n, key);
}

static void
control_changed (TsrWindow *self, const char *key, double shown)
{
  TsrPlanetaryUi *p = ui (self);
  if (p->updating)
    return;
  const Control *c = NULL;
  for (guint i = 0; i < G_N_ELEMENTS (controls); i++)
    if (strcmp (controls[i].key, key) == 0)
      c = &controls[i];
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  g_ascii_dtostr (buf, sizeof buf, shown / c->scale);
  const TsrParamSpec *spec = find_spec (key);
  if (spec->type == TSR_PARAM_INT || spec->type == TSR_PARAM_BOOL)
    g_snprintf (buf, sizeof buf, "%d", (int) lround (shown));
  else if (spec->type == TSR_PARAM_ENUM)
    g_strlcpy (buf, spec->choices[(int) shown], sizeof buf);
  GError *error = NULL;
  if (!tsr_planetary_params_set (&p->params, key, buf, &error))
    {
      set_note (self, error->message);
      g_error_free (error);
      return;
    }
  if (!p->result)
    return;
  set_note (self, _("The stack runs again with the new value…"));
  if (p->rerun_source)
    g_source_remove (p->rerun_source);
  p->rerun_source = g_timeout_add (RERUN_DELAY_MS, rerun_timeout, self);
}

static void
on_spin (GtkSpinButton *spin, TsrWindow *self)
{
  control_changed (self, g_object_get_data (G_OBJECT (spin), "key"), gtk_spin_button_get_value (spin));
}

static void
on_choice (GtkDropDown *dd, GParamSpec *pspec, TsrWindow *self)
{
  control_changed (self, g_object_get_data (G_OBJECT (dd), "key"), gtk_drop_down_get_selected (dd));
}

static void
on_check (GtkCheckButton *b, TsrWindow *self)
{
  control_changed (self, g_object_get_data (G_OBJECT (b), "key"), gtk_check_button_get_active (b));
}

static void
on_gain (GtkRange *range, TsrWindow *self)
{
  TsrPlanetaryUi *p = ui (self);
  guint j = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (range), "layer"));
  p->wavelets.gains[j] = gtk_range_get_value (range);
  if (!p->updating)
    request_wavelets (self);
}

static void
on_threshold (GtkSpinButton *spin, TsrWindow *self)
{
  TsrPlanetaryUi *p = ui (self);
  guint j = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (spin), "layer"));
  p->wavelets.thresholds[j] = gtk_spin_button_get_value (spin);
  if (!p->updating)
    request_wavelets (self);
}

static void
on_reset_wavelets (GSimpleAction *action, GVariant *param, gpointer data)
{
  TsrWindow *self = data;
  TsrPlanetaryUi *p = ui (self);
  p->updating = TRUE;
  for (guint j = 0; j < N_LAYERS; j++)
    {
      gtk_range_set_value (GTK_RANGE (p->gain_scales[j]), 1.0);
      gtk_spin_button_set_value (GTK_SPIN_BUTTON (p->threshold_spins[j]), 0.0);
    }
  p->updating = FALSE;
  request_wavelets (self);
}

/* the gains and thresholds of the automatic sharpening (planetary.sharpen=auto): the largest
 * that keep the noise at or below the mean stack's — what the CLI writes by default */
static void
on_auto_wavelets (GSimpleAction *action, GVariant *param, gpointer data)
{
  TsrWindow *self = data;
  TsrPlanetaryUi *p = ui (self);
  const TsrPlanetaryResult *r = p->result;
  if (!r || !r->sharpened)
    {
      set_note (self, _("No automatic sharpening: the stack ran with planetary.sharpen=off"));
      return;
    }
  p->updating = TRUE;
  for (guint j = 0; j < N_LAYERS; j++)
    {
      gtk_range_set_value (GTK_RANGE (p->gain_scales[j]), (int) j < r->sharpen.n_gains ? r->sharpen.gains[j] : 1.0);
      gtk_spin_button_set_value (GTK_SPIN_BUTTON (p->threshold_spins[j]),
                                 (int) j < r->sharpen.n_thresholds ? r->sharpen.thresholds[j] : 0.0);
    }
  p->updating = FALSE;
  request_wavelets (self);
}

static GtkWidget *
build_panel (TsrWindow *self)
{
  /* the panel's frame is ui/tsr-planetary-panel.ui; here one row per key and per layer */
  TsrPlanetaryUi *p = ui (self);
  TsrPlanetaryPanel *panel = TSR_PLANETARY_PANEL (tsr_planetary_panel_new ());
  p->why_label = tsr_planetary_panel_get_why (panel);
  p->note = tsr_planetary_panel_get_note (panel);
  for (guint i = 0; i < G_N_ELEMENTS (controls); i++)
    {
      const Control *c = &controls[i];
      const TsrParamSpec *spec = find_spec (c->key);
      g_autofree char *value = tsr_planetary_params_get_string (&p->params, c->key);
      GtkWidget *w;
      if (spec->type == TSR_PARAM_ENUM)
        {
          const char *const *labels = c->choices;
          const char *tr[8] = { NULL };
          for (guint k = 0; labels[k] && k < G_N_ELEMENTS (tr) - 1; k++)
            tr[k] = _(labels[k]);
          w = gtk_drop_down_new_from_strings (tr);
          guint sel = 0;
          for (guint k = 0; spec->choices[k]; k++)
            if (strcmp (spec->choices[k], value) == 0)
              sel = k;
          gtk_drop_down_set_selected (GTK_DROP_DOWN (w), sel);
          g_signal_connect (w, "notify::selected", G_CALLBACK (on_choice), self);
        }
      else if (spec->type == TSR_PARAM_BOOL)
        {
          w = gtk_check_button_new_with_label (_(c->unit));
          gtk_check_button_set_active (GTK_CHECK_BUTTON (w), strcmp (value, "true") == 0 || strcmp (value, "1") == 0);
          g_signal_connect (w, "toggled", G_CALLBACK (on_check), self);
        }
      else
        {
          w = gtk_spin_button_new_with_range (spec->min * c->scale, spec->max * c->scale, c->step);
          gtk_spin_button_set_digits (GTK_SPIN_BUTTON (w), c->digits);
          gtk_spin_button_set_value (GTK_SPIN_BUTTON (w), g_ascii_strtod (value, NULL) * c->scale);
          g_signal_connect (w, "value-changed", G_CALLBACK (on_spin), self);
        }
      g_object_set_data (G_OBJECT (w), "key", (gpointer) c->key);
      gtk_widget_set_tooltip_text (w, _(spec->help));
      g_hash_table_insert (p->controls, (gpointer) c->key, w);
      tsr_planetary_panel_add_key (panel, _(c->label), w, c->unit && spec->type != TSR_PARAM_BOOL ? _(c->unit) : NULL);
    }
  for (guint j = 0; j < N_LAYERS; j++)
    {
      g_autofree char *label = g_strdup_printf (_("Layer %u (%u px)"), j + 1, 1u << j);
      GtkWidget *scale = gtk_scale_new_with_range (GTK_ORIENTATION_HORIZONTAL, 0, 4, 0.05);
      gtk_scale_set_digits (GTK_SCALE (scale), 2);
      gtk_scale_set_draw_value (GTK_SCALE (scale), TRUE);
      gtk_scale_set_value_pos (GTK_SCALE (scale), GTK_POS_RIGHT);
      gtk_scale_add_mark (GTK_SCALE (scale), 1.0, GTK_POS_BOTTOM, NULL);
      gtk_range_set_value (GTK_RANGE (scale), p->wavelets.gains[j]);
      gtk_widget_set_hexpand (scale, TRUE);
      gtk_widget_set_size_request (scale, 160, -1);
      gtk_widget_set_tooltip_text (scale, _("Gain of this wavelet layer: 1 leaves it unchanged, above 1 sharpens "
                                            "detail of this scale, below 1 softens it"));
      g_object_set_data (G_OBJECT (scale), "layer", GUINT_TO_POINTER (j));
      g_signal_connect (scale, "value-changed", G_CALLBACK (on_gain), self);
      GtkWidget *spin = gtk_spin_button_new_with_range (0, 5, 0.1);
      gtk_spin_button_set_digits (GTK_SPIN_BUTTON (spin), 1);
      gtk_spin_button_set_value (GTK_SPIN_BUTTON (spin), p->wavelets.thresholds[j]);
      gtk_widget_set_tooltip_text (spin, _("Soft threshold of this layer in units of its noise σ: "
                                           "coefficients below it are taken as noise (0 = none)"));
      g_object_set_data (G_OBJECT (spin), "layer", GUINT_TO_POINTER (j));
      g_signal_connect (spin, "value-changed", G_CALLBACK (on_threshold), self);
      p->gain_scales[j] = scale;
      p->threshold_spins[j] = spin;
      tsr_planetary_panel_add_layer (panel, label, scale, spin);
    }
  return GTK_WIDGET (panel);
}

void
tsr_window_planetary_init_params (TsrWindow *self)
{
  /* the "planetary" page of the parameter stack (ui/tsr-window.ui); one row per key */
  TsrPlanetaryUi *p = ui (self);
  p->params_stack = self->params_stack;
  gtk_stack_add_named (GTK_STACK (p->params_stack), build_panel (self), "planetary");
}

/* ---------------------------------------------------------------- toolbar, actions, setup */

void
tsr_window_planetary_on_points_toggled (GtkToggleButton *b, TsrWindow *self)
{
  tsr_image_view_set_points_visible (self->view, gtk_toggle_button_get_active (b));
}

static void
process_deep_sky_activated (GSimpleAction *action, GVariant *param, gpointer data)
{
  tsr_window_process_as (TSR_WINDOW (data), TSR_PROCESS_DEEP_SKY);
}

static void
process_planetary_activated (GSimpleAction *action, GVariant *param, gpointer data)
{
  tsr_window_process_as (TSR_WINDOW (data), TSR_PROCESS_PLANETARY);
}

void
tsr_window_planetary_update_actions (TsrWindow *self)
{
  gboolean planetary = tsr_window_planetary_active (self);
  gboolean idle = self->job == TSR_JOB_NONE && self->paths != NULL;
  GAction *a = g_action_map_lookup_action (G_ACTION_MAP (self), "process-deep-sky");
  if (a)
    g_simple_action_set_enabled (G_SIMPLE_ACTION (a), idle && planetary);
  a = g_action_map_lookup_action (G_ACTION_MAP (self), "process-planetary");
  if (a)
    g_simple_action_set_enabled (G_SIMPLE_ACTION (a), idle && !planetary);
}

/* Before the window's widgets are built: state and actions. */
void
tsr_window_planetary_init (TsrWindow *self)
{
  TsrPlanetaryUi *p = g_new0 (TsrPlanetaryUi, 1);
  self->planetary = p;
  tsr_planetary_params_init (&p->params);
  tsr_wavelet_params_init (&p->wavelets);
  p->controls = g_hash_table_new (g_str_hash, g_str_equal);
  static const GActionEntry entries[] = {
    { .name = "process-deep-sky", .activate = process_deep_sky_activated },
    { .name = "process-planetary", .activate = process_planetary_activated },
    /* the wavelet buttons of ui/tsr-planetary-panel.ui */
    { .name = "wavelets-unit", .activate = on_reset_wavelets },
    { .name = "wavelets-auto", .activate = on_auto_wavelets },
  };
  g_action_map_add_action_entries (G_ACTION_MAP (self), entries, G_N_ELEMENTS (entries), self);
  const char *shows[] = { _("Stack"), _("Mean of aligned frames"), _("Best frame"), NULL };
  p->show_model = gtk_string_list_new (shows);
}

/* After: the overlay toggle beside the deep-sky ones, the deep-sky show list kept. */
void
tsr_window_planetary_init_toolbar (TsrWindow *self)
{
  TsrPlanetaryUi *p = ui (self);
  p->deep_toggles = self->deep_toggles;
  p->deep_show_model = g_object_ref (gtk_drop_down_get_model (GTK_DROP_DOWN (self->show_dropdown)));
  p->tog_points = self->tog_points;   /* ui/tsr-window.ui, hidden until a planetary session */
  p->deep_paned_position = -1;
}

void
tsr_window_planetary_dispose (TsrWindow *self)
{
  TsrPlanetaryUi *p = ui (self);
  if (!p)
    return;
  if (p->rerun_source)
    g_source_remove (p->rerun_source);
  if (p->wav_source)
    g_source_remove (p->wav_source);
  p->rerun_source = p->wav_source = 0;
  if (p->wav_cancellable)
    g_cancellable_cancel (p->wav_cancellable);
}

void
tsr_window_planetary_finalize (TsrWindow *self)
{
  TsrPlanetaryUi *p = ui (self);
  if (!p)
    return;
  clear_result (p);
  g_clear_object (&p->wav_cancellable);
  g_free (p->reason);
  g_free (p->job_reason);
  g_strfreev (p->forced_paths);
  g_clear_object (&p->deep_show_model);
  g_clear_object (&p->show_model);
  g_hash_table_unref (p->controls);
  g_free (p);
  self->planetary = NULL;
}

/* ---------------------------------------------------------------- public */

gboolean
tsr_window_is_planetary (TsrWindow *self)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self), FALSE);
  return tsr_window_planetary_active (self);
}

const char *
tsr_window_get_planetary_reason (TsrWindow *self)
{
  return ui (self)->result ? ui (self)->reason : NULL;
}

const TsrPlanetaryResult *
tsr_window_get_planetary_result (TsrWindow *self)
{
  return ui (self)->result;
}

const TsrImage *
tsr_window_get_planetary_sharpened (TsrWindow *self)
{
  TsrPlanetaryUi *p = ui (self);
  return p->sharp ? p->sharp : p->result ? p->result->result : NULL;
}

void
tsr_window_set_planetary_show (TsrWindow *self, TsrPlanetaryShow show)
{
  if (tsr_window_planetary_active (self))
    gtk_drop_down_set_selected (GTK_DROP_DOWN (self->show_dropdown), show);
}

TsrPlanetaryShow
tsr_window_get_planetary_show (TsrWindow *self)
{
  return gtk_drop_down_get_selected (GTK_DROP_DOWN (self->show_dropdown));
}

gboolean
tsr_window_set_planetary_param (TsrWindow *self, const char *key, double value)
{
  TsrPlanetaryUi *p = ui (self);
  GtkWidget *w = g_hash_table_lookup (p->controls, key);
  if (!w)
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (controls); i++)
    if (strcmp (controls[i].key, key) == 0)
      value *= controls[i].scale;
  if (GTK_IS_SPIN_BUTTON (w))
    {
      double lo, hi;
      gtk_spin_button_get_range (GTK_SPIN_BUTTON (w), &lo, &hi);
      if (value < lo || value > hi)
        return FALSE;
      gtk_spin_button_set_value (GTK_SPIN_BUTTON (w), value);
    }
  else if (GTK_IS_DROP_DOWN (w))
    gtk_drop_down_set_selected (GTK_DROP_DOWN (w), (guint) value);
  else
    gtk_check_button_set_active (GTK_CHECK_BUTTON (w), value != 0);
  return TRUE;
}

gboolean
tsr_window_set_wavelet_gain (TsrWindow *self, guint layer, double gain)
{
  if (layer >= N_LAYERS)
    return FALSE;
  gtk_range_set_value (GTK_RANGE (ui (self)->gain_scales[layer]), gain);
  return TRUE;
}

gboolean
tsr_window_set_wavelet_threshold (TsrWindow *self, guint layer, double threshold)
{
  if (layer >= N_LAYERS)
    return FALSE;
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (ui (self)->threshold_spins[layer]), threshold);
  return TRUE;
}

void
tsr_window_set_ap_overlay (TsrWindow *self, gboolean on)
{
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (ui (self)->tog_points), on);
}

gboolean
tsr_window_get_ap_overlay (TsrWindow *self)
{
  return gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (ui (self)->tog_points));
}
