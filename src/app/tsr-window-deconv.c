/* tsr-window-deconv.c — the "Deconvolve" job: multi-frame deconvolution of the session
 * (tsr-deconv) in a worker, the latent shown after every iteration, cancellable.
 *
 * The engine calls the iteration callback on the worker thread with the current latent; the
 * callback copies it, renders it for display and hands it to the main thread through one
 * coalescing slot (at most one idle pending, the newest latent wins). Results and latents of
 * a cancelled or superseded job are dropped by generation.
 *
 * Built only when the engine has the deconvolution (TSR_HAVE_DECONV, set by meson when
 * src/engine/tsr-deconv.c exists); otherwise the action stays disabled. */
#include "tsr-config.h"
#include <glib/gi18n.h>
#include "tsr-window-private.h"
#include "tsr-live-slot.h"

#ifdef TSR_HAVE_DECONV

/* one iteration's latent, rendered for display (the slot's payload) */
typedef struct
{
  TsrImage *latent;
  cairo_surface_t *surface;
  guint iteration;
  double change;
} Latent;

static void
latent_free (gpointer data)
{
  Latent *l = data;
  g_clear_pointer (&l->latent, tsr_image_unref);
  g_clear_pointer (&l->surface, cairo_surface_destroy);
  g_free (l);
}

typedef struct
{
  guint gen;
  TsrSession *session;
  TsrProject params;
  gpointer progress;          /* tsr_window_progress_data_new */
  TsrLiveSlot *slot;
  GCancellable *cancellable;
  /* what was shown before, restored when the job is cancelled or fails */
  TsrImage *prev_img;
  cairo_surface_t *prev_surface;
  TsrShow prev_show;
} DeconvJob;

static void
deconv_job_free (gpointer data)
{
  DeconvJob *j = data;
  g_clear_pointer (&j->session, tsr_session_unref);
  tsr_window_progress_data_free (j->progress);
  tsr_live_slot_unref (j->slot);
  g_clear_object (&j->cancellable);
  g_clear_pointer (&j->prev_img, tsr_image_unref);
  g_clear_pointer (&j->prev_surface, cairo_surface_destroy);
  g_free (j);
}

static void
show_latent (TsrWindow *self, TsrImage *img, cairo_surface_t *surface)
{
  g_clear_pointer (&self->deconv_img, tsr_image_unref);
  g_clear_pointer (&self->deconv_surface, cairo_surface_destroy);
  self->deconv_img = img;
  self->deconv_surface = surface;
  if (tsr_window_get_show (self) != TSR_SHOW_DECONV)
    tsr_window_set_show (self, TSR_SHOW_DECONV);
  else
    tsr_window_show_current (self);
  tsr_window_update_actions (self);
}

/* Main thread (the slot's deliver): the newest latent of the current job. */
static void
deliver_latent (TsrWindow *self, gpointer payload)
{
  Latent *l = payload;
  self->deconv_iteration = l->iteration;
  show_latent (self, g_steal_pointer (&l->latent), g_steal_pointer (&l->surface));
  g_autofree char *msg = g_strdup_printf (_("Deconvolution: iteration %u, relative change %.2g"), l->iteration,
                                          l->change);
  tsr_window_set_status_text (self, msg);
  latent_free (l);
}

/* Worker thread. */
static gboolean
iteration_cb (const TsrImage *latent, const TsrDeconvIterStats *stats, gpointer data)
{
  DeconvJob *j = data;
  if (g_cancellable_is_cancelled (j->cancellable))
    return FALSE;
  Latent *l = g_new0 (Latent, 1);
  l->latent = tsr_image_copy (latent);
  l->surface = tsr_window_render_display (l->latent);
  l->iteration = stats->iteration;
  l->change = stats->rel_change;
  tsr_live_slot_post (j->slot, l);
  return TRUE;
}

typedef struct
{
  TsrDeconvResult *result;
  cairo_surface_t *surface;
} DeconvOut;

static void
deconv_out_free (gpointer data)
{
  DeconvOut *o = data;
  g_clear_pointer (&o->result, tsr_deconv_result_free);
  g_clear_pointer (&o->surface, cairo_surface_destroy);
  g_free (o);
}

static void
deconv_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  tsr_stall_lower_thread_priority ();
  DeconvJob *j = task_data;
  GError *error = NULL;
  TsrDeconvOptions opt;
  tsr_deconv_options_init (&opt);
  TsrDeconvResult *r = tsr_deconv_run (j->session, &j->params.deconv, &j->params.tbqr, &j->params.run, &opt, iteration_cb, j, tsr_window_job_progress,
                                       j->progress, cancellable, &error);
  if (!r)
    {
      if (!error)
        error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, _("Deconvolution cancelled"));
      g_task_return_error (task, error);
      return;
    }
  DeconvOut *o = g_new0 (DeconvOut, 1);
  o->result = r;
  o->surface = tsr_window_render_display (r->image);
  g_task_return_pointer (task, o, deconv_out_free);
}

TSR_TIMED_CALLBACK (deconv_done)

/* A cancelled or failed deconvolution leaves no partial latent behind: what was shown before
 * it started comes back (image, surface and view). */
static void
restore_previous (TsrWindow *self, DeconvJob *j)
{
  g_clear_pointer (&self->deconv_img, tsr_image_unref);
  g_clear_pointer (&self->deconv_surface, cairo_surface_destroy);
  self->deconv_img = g_steal_pointer (&j->prev_img);
  self->deconv_surface = g_steal_pointer (&j->prev_surface);
  self->deconv_iteration = 0;
  TsrShow show = j->prev_show == TSR_SHOW_DECONV && !self->deconv_img ? TSR_SHOW_FRAME : j->prev_show;
  if (tsr_window_get_show (self) != show)
    tsr_window_set_show (self, show);
  else
    tsr_window_show_current (self);
}

static void
deconv_done_impl (GObject *source, GAsyncResult *res, gpointer data)
{
  TsrWindow *self = TSR_WINDOW (source);
  GTask *task = G_TASK (res);
  DeconvJob *j = g_task_get_task_data (task);
  GError *error = NULL;
  DeconvOut *o = g_task_propagate_pointer (task, &error);
  self->run_workers--;
  if (!tsr_window_job_is_current (self, j->gen))
    {
      g_clear_error (&error);
      if (o)
        deconv_out_free (o);
      /* cancelled (not superseded by another deconvolution): restore the view */
      if (!self->disposed && self->job != TSR_JOB_DECONV)
        restore_previous (self, j);
      if (!self->disposed)
        tsr_window_update_actions (self);
      return;
    }
  tsr_window_end_job (self);
  if (!o)
    {
      restore_previous (self, j);
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        tsr_window_show_error_text (self, error->message);
      g_error_free (error);
      return;
    }
  TsrDeconvResult *r = o->result;
  self->deconv_iteration = r->iterations;
  show_latent (self, tsr_image_ref (r->image), g_steal_pointer (&o->surface));
  g_autofree char *msg = g_strdup_printf (_("Deconvolved %u frames in %u iterations (%.1f s)%s"), r->n_frames,
                                          r->iterations, r->seconds_stage + r->seconds_iterate,
                                          r->early_stopped ? _(", stopped early: converged") : "");
  tsr_window_set_status_text (self, msg);
  deconv_out_free (o);
}

gboolean
tsr_window_deconvolve (TsrWindow *self)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self), FALSE);
  if (self->job != TSR_JOB_NONE || !self->session || self->run_workers > 0)
    return FALSE;
  GCancellable *cancellable;
  guint gen = tsr_window_begin_job (self, TSR_JOB_DECONV, &cancellable);
  DeconvJob *j = g_new0 (DeconvJob, 1);
  j->gen = gen;
  j->session = tsr_session_ref (self->session);
  j->params = self->params;
  j->progress = tsr_window_progress_data_new (self, gen);
  j->cancellable = g_object_ref (cancellable);
  j->slot = tsr_live_slot_new (self, gen, G_PRIORITY_DEFAULT_IDLE, "latent", deliver_latent, NULL, latent_free);
  j->prev_img = self->deconv_img ? tsr_image_ref (self->deconv_img) : NULL;
  j->prev_surface = self->deconv_surface ? cairo_surface_reference (self->deconv_surface) : NULL;
  j->prev_show = tsr_window_get_show (self);
  self->deconv_iteration = 0;
  self->run_workers++;
  tsr_window_set_status_text (self, _("Deconvolving…"));
  GTask *task = g_task_new (self, cancellable, deconv_done, NULL);
  g_task_set_task_data (task, j, deconv_job_free);
  g_task_set_name (task, "tessera-deconvolve");
  g_task_run_in_thread (task, deconv_thread);
  g_object_unref (task);
  tsr_window_update_actions (self);
  return TRUE;
}

gboolean
tsr_window_deconv_available (void)
{
  return TRUE;
}

#else /* !TSR_HAVE_DECONV */

gboolean
tsr_window_deconvolve (TsrWindow *self)
{
  return FALSE;
}

gboolean
tsr_window_deconv_available (void)
{
  return FALSE;
}

#endif

guint
tsr_window_get_deconv_iteration (TsrWindow *self)
{
  return self->deconv_iteration;
}

static void
deconvolve_activated (GSimpleAction *action, GVariant *param, gpointer data)
{
  tsr_window_deconvolve (TSR_WINDOW (data));
}

void
tsr_window_deconv_init (TsrWindow *self)
{
  static const GActionEntry entries[] = {
    { .name = "deconvolve", .activate = deconvolve_activated },
  };
  g_action_map_add_action_entries (G_ACTION_MAP (self), entries, G_N_ELEMENTS (entries), self);
}
