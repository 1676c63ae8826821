/* tsr-window-restore.c — the "Restore" job: multi-frame restoration with a deep image prior
 * trained on the session itself (engine restore/), in a worker with progress (training
 * steps, held-out loss) and cancel; the restored latent is shown against the mean of the
 * same registered frames in the split view. A cancelled or failed job leaves what was
 * shown as it was. */
#include "tsr-config.h"
#include <glib/gi18n.h>
#include "tsr-window-private.h"

typedef struct
{
  guint gen;
  TsrSession *session;
  TsrProject params;
  gpointer progress;          /* tsr_window_progress_data_new */
} RestoreJob;

static void
restore_job_free (gpointer data)
{
  RestoreJob *j = data;
  g_clear_pointer (&j->session, tsr_session_unref);
  tsr_window_progress_data_free (j->progress);
  g_free (j);
}

typedef struct
{
  TsrRestoreResult *result;
  cairo_surface_t *surface, *mean_surface;
} RestoreOut;

static void
restore_out_free (gpointer data)
{
  RestoreOut *o = data;
  g_clear_pointer (&o->result, tsr_restore_result_free);
  g_clear_pointer (&o->surface, cairo_surface_destroy);
  g_clear_pointer (&o->mean_surface, cairo_surface_destroy);
  g_free (o);
}

static void
restore_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  tsr_stall_lower_thread_priority ();
  RestoreJob *j = task_data;
  GError *error = NULL;
  TsrRestoreResult *r = tsr_restore_run (j->session, &j->params.restore, &j->params.tbqr, &j->params.run,
                                         tsr_window_job_progress, j->progress, cancellable, &error);
  if (!r)
    {
      if (!error)
        error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, _("Restoration cancelled"));
      g_task_return_error (task, error);
      return;
    }
  RestoreOut *o = g_new0 (RestoreOut, 1);
  o->result = r;
  /* a colour session restores to RGB (engine: the luminance latent × the mean stack's colour
   * ratios); shown with the mean stack's automatic stretch, as the CLI's preview: the
   * restored sky is (near) exact zeros, its own stretch would show it almost black */
  if (r->mean)
    {
      TsrStretch st;
      tsr_stretch_auto (r->mean, &st);
      o->surface = tsr_render_surface (r->image, &st, 1);
    }
  else
    o->surface = tsr_window_render_display (r->image);
  if (r->mean)
    o->mean_surface = tsr_window_render_display (r->mean);
  g_task_return_pointer (task, o, restore_out_free);
}

TSR_TIMED_CALLBACK (restore_done)

static void
restore_done_impl (GObject *source, GAsyncResult *res, gpointer data)
{
  TsrWindow *self = TSR_WINDOW (source);
  GTask *task = G_TASK (res);
  RestoreJob *j = g_task_get_task_data (task);
  RestoreOut *o = tsr_window_job_result (self, task, j->gen, restore_out_free, NULL);
  if (!o)
    return;
  tsr_window_restore_clear (self);
  TsrRestoreResult *r = o->result;
  self->restore_img = tsr_image_ref (r->image);
  self->restore_surface = g_steal_pointer (&o->surface);
  self->restore_mean_surface = g_steal_pointer (&o->mean_surface);
  if (tsr_window_get_show (self) != TSR_SHOW_RESTORED)
    tsr_window_set_show (self, TSR_SHOW_RESTORED);
  else
    tsr_window_show_current (self);
  g_autofree char *msg = g_strdup_printf (_("Restored %u frames: %u training steps (kept step %u, stop: %s) in %.1f s"),
                                          r->n_frames, r->steps, r->best_step, r->stop,
                                          r->seconds_stage + r->seconds_train + r->seconds_infer);
  tsr_window_set_status_text (self, msg);
  tsr_window_update_actions (self);
  restore_out_free (o);
}

gboolean
tsr_window_restore_possible (TsrWindow *self)
{
  return self->job == TSR_JOB_NONE && self->run_workers == 0 && self->session && self->analysis;
}

gboolean
tsr_window_restore (TsrWindow *self)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self), FALSE);
  if (!tsr_window_restore_possible (self))
    return FALSE;
  GCancellable *cancellable;
  guint gen = tsr_window_begin_job (self, TSR_JOB_RESTORE, &cancellable);
  RestoreJob *j = g_new0 (RestoreJob, 1);
  j->gen = gen;
  j->session = tsr_session_ref (self->session);
  j->params = self->params;
  j->progress = tsr_window_progress_data_new (self, gen);
  self->run_workers++;
  tsr_window_set_status_text (self, _("Restoring: training a network on this session…"));
  GTask *task = g_task_new (self, cancellable, restore_done, NULL);
  g_task_set_task_data (task, j, restore_job_free);
  g_task_set_name (task, "tessera-restore");
  g_task_run_in_thread (task, restore_thread);
  g_object_unref (task);
  tsr_window_update_actions (self);
  return TRUE;
}

const TsrImage *
tsr_window_get_restored (TsrWindow *self)
{
  return self->restore_img;
}

static void
restore_activated (GSimpleAction *action, GVariant *param, gpointer data)
{
  tsr_window_restore (TSR_WINDOW (data));
}

void
tsr_window_restore_init (TsrWindow *self)
{
  static const GActionEntry entries[] = {
    { .name = "restore", .activate = restore_activated },
  };
  g_action_map_add_action_entries (G_ACTION_MAP (self), entries, G_N_ELEMENTS (entries), self);
}

void
tsr_window_restore_clear (TsrWindow *self)
{
  g_clear_pointer (&self->restore_img, tsr_image_unref);
  g_clear_pointer (&self->restore_surface, cairo_surface_destroy);
  g_clear_pointer (&self->restore_mean_surface, cairo_surface_destroy);
}
