/* tsr-window-restore.c — the "Restore" job: multi-frame restoration with a deep image prior
 * trained on the session itself (engine restore/), in a worker with progress (training
 * steps, held-out loss) and cancel. While the network trains, the engine hands snapshots of
 * the current latent (tsr_restore_run_full: at step 10, then every ~2 s and at most ~10 % of
 * the training time); the callback renders each on the worker thread and passes it to the
 * main thread through one coalescing slot (at most one idle pending, the newest wins), where
 * it is shown against the mean of the same frames. The restored latent then replaces it. A
 * snapshot is never a result: it is not exported, and a cancelled or failed job drops it and
 * leaves what was shown before as it was. */
#include "tsr-config.h"
#include <glib/gi18n.h>
#include "tsr-window-private.h"
#include "tsr-live-slot.h"

/* seconds between snapshots (the engine also keeps their cost at ≤ ~10 % of training) */
#define SNAPSHOT_SECONDS 2.0

/* one training snapshot, rendered for display (the slot's payload); the mean of the frames
 * comes with the first one only */
typedef struct
{
  TsrImage *latent;
  cairo_surface_t *surface, *mean_surface;
  guint step, max_steps;
  double heldout;
} Snapshot;

static void
snapshot_free (gpointer data)
{
  Snapshot *sn = data;
  g_clear_pointer (&sn->latent, tsr_image_unref);
  g_clear_pointer (&sn->surface, cairo_surface_destroy);
  g_clear_pointer (&sn->mean_surface, cairo_surface_destroy);
  g_free (sn);
}

/* a newer snapshot replacing one not yet shown keeps its mean surface */
static void
snapshot_merge (gpointer old_payload, gpointer new_payload)
{
  Snapshot *o = old_payload, *n = new_payload;
  if (!n->mean_surface)
    n->mean_surface = g_steal_pointer (&o->mean_surface);
}

typedef struct
{
  guint gen;
  TsrSession *session;
  TsrProject params;
  gpointer progress;          /* tsr_window_progress_data_new */
  GCancellable *cancellable;
  TsrLiveSlot *slot;
  /* worker only: the mean stack's stretch and its surface, made at the first snapshot */
  gboolean have_stretch;
  TsrStretch stretch;
  gboolean mean_sent;
  TsrShow prev_show;          /* shown before the job, back when it is cancelled or fails */
} RestoreJob;

static void
restore_job_free (gpointer data)
{
  RestoreJob *j = data;
  g_clear_pointer (&j->session, tsr_session_unref);
  tsr_window_progress_data_free (j->progress);
  g_clear_object (&j->cancellable);
  tsr_live_slot_unref (j->slot);
  g_free (j);
}

static void
live_clear (TsrWindow *self)
{
  g_clear_pointer (&self->restore_live_img, tsr_image_unref);
  g_clear_pointer (&self->restore_live_surface, cairo_surface_destroy);
  g_clear_pointer (&self->restore_live_mean_surface, cairo_surface_destroy);
  self->restore_live_step = 0;
}

/* Main thread (the slot's deliver): the newest snapshot of the current job. */
static void
deliver_snapshot (TsrWindow *self, gpointer payload)
{
  Snapshot *sn = payload;
  g_clear_pointer (&self->restore_live_img, tsr_image_unref);
  g_clear_pointer (&self->restore_live_surface, cairo_surface_destroy);
  self->restore_live_img = g_steal_pointer (&sn->latent);
  self->restore_live_surface = g_steal_pointer (&sn->surface);
  if (sn->mean_surface)
    {
      g_clear_pointer (&self->restore_live_mean_surface, cairo_surface_destroy);
      self->restore_live_mean_surface = g_steal_pointer (&sn->mean_surface);
    }
  self->restore_live_step = sn->step;
  self->restore_snapshots_shown++;
  if (tsr_window_get_show (self) != TSR_SHOW_RESTORED)
    tsr_window_set_show (self, TSR_SHOW_RESTORED);
  else
    tsr_window_show_current (self);
  g_autofree char *msg = g_strdup_printf (_("Restoring: training step %u of at most %u, held-out loss %.4f"),
                                          sn->step, sn->max_steps, sn->heldout);
  tsr_window_set_status_text (self, msg);
  snapshot_free (sn);
}

/* Worker thread (tsr_restore_run_full's snapshot callback). */
static void
snapshot_cb (const TsrRestoreSnapshot *sn, gpointer data)
{
  RestoreJob *j = data;
  if (g_cancellable_is_cancelled (j->cancellable))
    return;
  /* the mean stack's automatic stretch, as the result is shown (the latent's sky is near
   * exact zeros: its own stretch would show it almost black) */
  if (!j->have_stretch)
    {
      tsr_stretch_auto (sn->mean, &j->stretch);
      j->have_stretch = TRUE;
    }
  Snapshot *out = g_new0 (Snapshot, 1);
  out->latent = tsr_image_copy (sn->latent);
  out->surface = tsr_render_surface (out->latent, &j->stretch, 1);
  out->mean_surface = j->mean_sent ? NULL : tsr_render_surface (sn->mean, &j->stretch, 1);
  j->mean_sent = TRUE;
  out->step = sn->step;
  out->max_steps = sn->max_steps;
  out->heldout = sn->heldout_loss;
  tsr_live_slot_post (j->slot, out);
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
  TsrRestoreResult *r = tsr_restore_run_full (j->session, &j->params.restore, &j->params.tbqr, &j->params.run,
                                              snapshot_cb, j, SNAPSHOT_SECONDS, tsr_window_job_progress, j->progress,
                                              cancellable, &error);
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

/* A cancelled or failed restoration leaves no snapshot behind: the view shown before it
 * started comes back (the previous restored result, if any, was never replaced). */
static void
restore_previous (TsrWindow *self, RestoreJob *j)
{
  live_clear (self);
  TsrShow show = j->prev_show == TSR_SHOW_RESTORED && !self->restore_img ? TSR_SHOW_FRAME : j->prev_show;
  if (tsr_window_get_show (self) != show)
    tsr_window_set_show (self, show);
  else
    tsr_window_show_current (self);
}

static void
restore_done_impl (GObject *source, GAsyncResult *res, gpointer data)
{
  TsrWindow *self = TSR_WINDOW (source);
  GTask *task = G_TASK (res);
  RestoreJob *j = g_task_get_task_data (task);
  gboolean current = tsr_window_job_is_current (self, j->gen);
  RestoreOut *o = tsr_window_job_result (self, task, j->gen, restore_out_free, NULL);
  if (!o)
    {
      /* cancelled (the window's job is another or none) or failed */
      if (!self->disposed && (current || self->job != TSR_JOB_RESTORE))
        restore_previous (self, j);
      return;
    }
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
  j->cancellable = g_object_ref (cancellable);
  j->prev_show = tsr_window_get_show (self);
  j->slot = tsr_live_slot_new (self, gen, G_PRIORITY_DEFAULT, "restore latent", deliver_snapshot, snapshot_merge,
                               snapshot_free);
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

const TsrImage *
tsr_window_get_restore_live (TsrWindow *self, guint *step)
{
  if (step)
    *step = self->restore_live_step;
  return self->restore_live_img;
}

guint
tsr_window_get_restore_snapshots_shown (TsrWindow *self)
{
  return self->restore_snapshots_shown;
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
  live_clear (self);
  g_clear_pointer (&self->restore_img, tsr_image_unref);
  g_clear_pointer (&self->restore_surface, cairo_surface_destroy);
  g_clear_pointer (&self->restore_mean_surface, cairo_surface_destroy);
}
