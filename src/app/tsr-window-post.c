/* tsr-window-post.c — background extraction and colour calibration of the result in the
 * window (issue #17): the optional steps of docs/post.md applied to the linear TBQR result
 * in a worker, the corrected image shown in place of the result, the sky samples drawn over
 * it and editable by clicking (add a box where there is none; exclude an automatic box;
 * click again to restore or remove).
 *
 * The uncorrected result stays in self->recon: turning both steps off shows it again. A
 * change of a post.* parameter or of the samples starts the worker again (a running one is
 * cancelled and its output dropped by generation); GTK is touched on the main thread only. */
#include "tsr-config.h"
#include <math.h>
#include <string.h>
#include <glib/gi18n.h>
#include "tsr-window-private.h"
#include "tsr-param-group.h"

/* The step's progress, posted from the worker, shown by one idle at a time on the main
 * thread (the newest state wins). */
typedef struct
{
  gatomicrefcount ref;
  GMutex lock;
  GWeakRef window;
  guint gen;
  char phase[96];
  guint done, total;
  gboolean pending;
} PostProgress;

typedef struct
{
  guint gen;
  TsrImage *input;
  TsrPostParams post;
  GArray *add, *exclude;
  PostProgress *progress;
} PostJob;

static PostProgress *
post_progress_ref (PostProgress *pp)
{
  g_atomic_ref_count_inc (&pp->ref);
  return pp;
}

static void
post_progress_unref (gpointer data)
{
  PostProgress *pp = data;
  if (g_atomic_ref_count_dec (&pp->ref))
    {
      g_weak_ref_clear (&pp->window);
      g_mutex_clear (&pp->lock);
      g_free (pp);
    }
}

static void show_post_progress (TsrWindow *self, const char *phase, guint done, guint total);

static gboolean
post_progress_idle (gpointer data)
{
  PostProgress *pp = data;
  char phase[96];
  guint done, total, gen;
  g_mutex_lock (&pp->lock);
  memcpy (phase, pp->phase, sizeof phase);
  done = pp->done, total = pp->total, gen = pp->gen;
  pp->pending = FALSE;
  g_mutex_unlock (&pp->lock);
  TsrWindow *self = g_weak_ref_get (&pp->window);
  if (self)
    {
      if (!self->disposed && self->post_running && gen == self->post_gen)
        show_post_progress (self, phase, done, total);
      g_object_unref (self);
    }
  return G_SOURCE_REMOVE;
}

/* Worker thread. */
static void
post_progress_cb (const char *phase, guint done, guint total, gpointer data)
{
  PostProgress *pp = data;
  g_mutex_lock (&pp->lock);
  g_strlcpy (pp->phase, phase ? phase : "", sizeof pp->phase);
  pp->done = done;
  pp->total = total;
  if (!pp->pending)
    {
      pp->pending = TRUE;
      g_timeout_add_full (G_PRIORITY_DEFAULT_IDLE, 1000 / PROGRESS_MAX_HZ, post_progress_idle, post_progress_ref (pp),
                          post_progress_unref);
    }
  g_mutex_unlock (&pp->lock);
}

typedef struct
{
  TsrImage *img;
  cairo_surface_t *surface;
  GArray *samples;
  char *summary;
} PostOut;

static void
post_job_free (gpointer data)
{
  PostJob *j = data;
  g_clear_pointer (&j->input, tsr_image_unref);
  g_clear_pointer (&j->add, g_array_unref);
  g_clear_pointer (&j->exclude, g_array_unref);
  g_clear_pointer (&j->progress, post_progress_unref);
  g_free (j);
}

static void
post_out_free (gpointer data)
{
  PostOut *o = data;
  g_clear_pointer (&o->img, tsr_image_unref);
  g_clear_pointer (&o->surface, cairo_surface_destroy);
  g_clear_pointer (&o->samples, g_array_unref);
  g_free (o->summary);
  g_free (o);
}

static gboolean
post_wanted (TsrWindow *self)
{
  return self->params.post.background || self->params.post.colour;
}

/* Worker thread: the steps in the CLI's order (background, then colour). */
static void
post_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  tsr_stall_lower_thread_priority ();
  PostJob *j = task_data;
  GError *error = NULL;
  PostOut *o = g_new0 (PostOut, 1);
  GString *sum = g_string_new (NULL);
  o->img = tsr_image_ref (j->input);
  if (j->post.background)
    {
      TsrBackgroundEdits ed = { (const TsrBgPoint *) j->add->data, j->add->len, (const TsrBgPoint *) j->exclude->data,
                                j->exclude->len };
      TsrBackgroundInfo bi;
      TsrImage *bg = tsr_background_extract_full (o->img, &j->post, &ed, &bi, &o->samples, NULL, post_progress_cb,
                                                  j->progress, cancellable, &error);
      if (!bg)
        {
          g_string_free (sum, TRUE);
          post_out_free (o);
          g_task_return_error (task, error);
          return;
        }
      tsr_image_unref (o->img);
      o->img = bg;
      g_string_append_printf (sum, _("background: degree-%d model on %u of %u sky samples (%u added, %u excluded by you) "
                                     "removed"), bi.degree, bi.n_used, bi.n_samples, bi.n_added, bi.n_excluded);
    }
  if (j->post.colour && o->img->channels == 3)
    {
      TsrColourInfo ci;
      post_progress_cb (N_("Calibrating the colour"), 0, 0, j->progress);
      TsrImage *col = tsr_colour_calibrate (o->img, &j->post, &ci, cancellable, &error);
      if (!col)
        {
          g_string_free (sum, TRUE);
          post_out_free (o);
          g_task_return_error (task, error);
          return;
        }
      tsr_image_unref (o->img);
      o->img = col;
      if (sum->len)
        g_string_append (sum, "; ");
      g_string_append_printf (sum, _("colour: average of %u stars R/G %.4f B/G %.4f made neutral"), ci.n_stars,
                              ci.ratio[0], ci.ratio[2]);
    }
  else if (j->post.colour)
    {
      if (sum->len)
        g_string_append (sum, "; ");
      g_string_append (sum, _("colour: the result is monochrome; colour calibration skipped"));
    }
  if (g_cancellable_set_error_if_cancelled (cancellable, &error))
    {
      g_string_free (sum, TRUE);
      post_out_free (o);
      g_task_return_error (task, error);
      return;
    }
  o->surface = tsr_window_render_display (o->img);
  o->summary = g_string_free (sum, FALSE);
  g_task_return_pointer (task, o, post_out_free);
}

static void post_start (TsrWindow *self);

static void
update_view_samples (TsrWindow *self)
{
  TsrImageView *v = self->view;
  /* over the corrected result only (not the mean stack, a frame or the preview) */
  gboolean on = self->params.post.background && self->bg_samples && self->post_img
                && tsr_image_view_get_image (v) == self->post_img;
  tsr_image_view_set_samples (v, on ? (const TsrBgSample *) self->bg_samples->data : NULL,
                              on ? self->bg_samples->len : 0);
  gboolean show = self->post_show_samples
                  && gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (self->post_show_samples));
  gboolean edit = self->post_edit_samples
                  && gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (self->post_edit_samples));
  tsr_image_view_set_samples_visible (v, show || edit);
  tsr_image_view_set_pick_mode (v, edit && on);
}

static void
post_done (GObject *source, GAsyncResult *res, gpointer data)
{
  TsrWindow *self = TSR_WINDOW (source);
  PostJob *j = g_task_get_task_data (G_TASK (res));
  GError *error = NULL;
  PostOut *o = g_task_propagate_pointer (G_TASK (res), &error);
  if (self->disposed || j->gen != self->post_gen)
    {
      g_clear_error (&error);
      if (o)
        post_out_free (o);
      return;
    }
  self->post_running = FALSE;
  show_post_progress (self, NULL, 0, 0);
  if (self->post_pending)
    {
      g_clear_error (&error);
      if (o)
        post_out_free (o);
      post_start (self);
      return;
    }
  if (!o)
    {
      /* the edit that failed stays listed: Reset samples, or click it again */
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        tsr_window_show_error_text (self, error->message);
      g_error_free (error);
      tsr_window_update_actions (self);
      return;
    }
  g_clear_pointer (&self->post_img, tsr_image_unref);
  g_clear_pointer (&self->post_surface, cairo_surface_destroy);
  g_clear_pointer (&self->bg_samples, g_array_unref);
  self->post_img = g_steal_pointer (&o->img);
  self->post_surface = g_steal_pointer (&o->surface);
  self->bg_samples = g_steal_pointer (&o->samples);
  self->post_applied++;
  update_view_samples (self);
  tsr_window_set_status_text (self, o->summary);
  post_out_free (o);
  if (tsr_window_get_show (self) != TSR_SHOW_RESULT)
    tsr_window_set_show (self, TSR_SHOW_RESULT);
  else
    tsr_window_show_current (self);
  tsr_window_update_actions (self);
}

static void
post_start (TsrWindow *self)
{
  self->post_pending = FALSE;
  if (self->post_cancellable)
    g_cancellable_cancel (self->post_cancellable);
  g_clear_object (&self->post_cancellable);
  self->post_gen++;
  if (!self->recon || !post_wanted (self))
    {
      self->post_running = FALSE;
      return;
    }
  PostJob *j = g_new0 (PostJob, 1);
  j->gen = self->post_gen;
  j->input = tsr_image_ref (self->recon->result);
  j->post = self->params.post;
  j->add = g_array_copy (self->bg_add);
  j->exclude = g_array_copy (self->bg_exclude);
  j->progress = g_new0 (PostProgress, 1);
  g_atomic_ref_count_init (&j->progress->ref);
  g_mutex_init (&j->progress->lock);
  g_weak_ref_init (&j->progress->window, self);
  j->progress->gen = j->gen;
  self->post_cancellable = g_cancellable_new ();
  self->post_running = TRUE;
  show_post_progress (self, self->params.post.background ? N_("Extracting the background") : N_("Calibrating the colour"),
                      0, 0);
  tsr_window_set_status_text (self, self->params.post.background ? _("Extracting the background…")
                                                                   : _("Calibrating the colour…"));
  GTask *task = g_task_new (self, self->post_cancellable, post_done, NULL);
  g_task_set_task_data (task, j, post_job_free);
  g_task_set_name (task, "tessera-post");
  g_task_run_in_thread (task, post_thread);
  g_object_unref (task);
}

void
tsr_window_post_apply (TsrWindow *self)
{
  g_return_if_fail (TSR_IS_WINDOW (self));
  if (!post_wanted (self) || !self->recon)
    {
      /* both steps off: the uncorrected result again */
      gboolean had = self->post_img != NULL;
      self->post_gen++;
      if (self->post_cancellable)
        g_cancellable_cancel (self->post_cancellable);
      self->post_running = self->post_pending = FALSE;
      show_post_progress (self, NULL, 0, 0);
      g_clear_pointer (&self->post_img, tsr_image_unref);
      g_clear_pointer (&self->post_surface, cairo_surface_destroy);
      g_clear_pointer (&self->bg_samples, g_array_unref);
      update_view_samples (self);
      if (had)
        {
          tsr_window_show_current (self);
          tsr_window_set_status_text (self, _("Background extraction and colour calibration off: the result as stacked"));
        }
      tsr_window_update_actions (self);
      return;
    }
  if (self->post_running)
    {
      /* the running one is cancelled; the newest settings start when it has returned */
      self->post_pending = TRUE;
      if (self->post_cancellable)
        g_cancellable_cancel (self->post_cancellable);
      return;
    }
  post_start (self);
}

/* A new reconstruction (or none): the corrections of the old one go. The edits stay for a
 * new run of the session, moved to its pixel grid (drizzle.scale changes it); without a
 * result (another session) they go. */
void
tsr_window_post_reset_result (TsrWindow *self)
{
  if (!self->bg_add)
    return;
  if (!self->recon)
    {
      g_array_set_size (self->bg_add, 0);
      g_array_set_size (self->bg_exclude, 0);
      self->bg_edit_width = 0;
      g_ptr_array_set_size (self->bg_undo, 0);
    }
  else
    {
      TsrSampleEdits e = { self->bg_edit_width, self->bg_add, self->bg_exclude };
      tsr_sample_edits_rescale (&e, self->recon->result->width);
      self->bg_edit_width = self->recon->result->width;
    }
  g_clear_pointer (&self->post_img, tsr_image_unref);
  g_clear_pointer (&self->post_surface, cairo_surface_destroy);
  g_clear_pointer (&self->bg_samples, g_array_unref);
  if (self->view && !self->disposed)
    update_view_samples (self);
  if (self->recon && post_wanted (self) && !self->disposed)
    tsr_window_post_apply (self);
}

TsrImage *
tsr_window_post_shown_result (TsrWindow *self, cairo_surface_t **surface)
{
  if (!post_wanted (self) || !self->post_img || !self->recon)
    return NULL;
  if (surface)
    *surface = self->post_surface;
  return self->post_img;
}

const TsrImage *
tsr_window_get_post_result (TsrWindow *self, guint *n_applied)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self), NULL);
  if (n_applied)
    *n_applied = self->post_applied;
  return tsr_window_post_shown_result (self, NULL);
}

const TsrBgSample *
tsr_window_get_bg_samples (TsrWindow *self, guint *n)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self), NULL);
  gboolean on = self->bg_samples && tsr_window_post_shown_result (self, NULL);
  *n = on ? self->bg_samples->len : 0;
  return on ? (const TsrBgSample *) self->bg_samples->data : NULL;
}

gboolean
tsr_window_post_busy (TsrWindow *self)
{
  return self->post_running || self->post_pending;
}

static gboolean
in_box (const TsrBgSample *s, double x, double y)
{
  return fabs (x - s->x) <= 0.5 * s->size && fabs (y - s->y) <= 0.5 * s->size;
}

/* The sample of the shown set at (x, y): an added one first (drawn over the automatic
 * grid), else the automatic box there. */
static const TsrBgSample *
hit_sample (TsrWindow *self, double x, double y, gboolean added)
{
  for (guint i = 0; self->bg_samples && i < self->bg_samples->len; i++)
    {
      const TsrBgSample *s = &g_array_index (self->bg_samples, TsrBgSample, i);
      if ((s->state == TSR_BG_SAMPLE_ADDED) == added && in_box (s, x, y))
        return s;
    }
  return NULL;
}

static TsrSampleEdits *
edits_snapshot (TsrWindow *self)
{
  TsrSampleEdits *e = g_new0 (TsrSampleEdits, 1);
  e->width = self->bg_edit_width;
  e->add = g_array_copy (self->bg_add);
  e->exclude = g_array_copy (self->bg_exclude);
  return e;
}

static void
edits_free (gpointer data)
{
  tsr_sample_edits_clear (data);
  g_free (data);
}

/* Before an edit: the state it changes, for Ctrl+Z (the newest 100 kept). */
static void
push_undo (TsrWindow *self)
{
  if (self->bg_undo->len >= 100)
    g_ptr_array_remove_index (self->bg_undo, 0);
  g_ptr_array_add (self->bg_undo, edits_snapshot (self));
  tsr_window_update_actions (self);
}

static void
edited (TsrWindow *self, const char *what, double x, double y)
{
  self->project_dirty = TRUE;
  self->bg_edit_width = self->recon->result->width;
  g_autofree char *msg = g_strdup_printf (_("%s at %.0f, %.0f: extracting the background again…"), what, x, y);
  tsr_window_post_apply (self);
  tsr_window_set_status_text (self, msg);
  tsr_window_update_actions (self);
}

gboolean
tsr_window_post_pick (TsrWindow *self, double x, double y, gboolean exclude)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self), FALSE);
  if (!self->params.post.background || !self->recon)
    return FALSE;
  const TsrImage *r = self->recon->result;
  if (x < -0.5 || y < -0.5 || x >= r->width - 0.5 || y >= r->height - 0.5)
    return FALSE;
  const TsrBgSample *added = hit_sample (self, x, y, TRUE), *autom = hit_sample (self, x, y, FALSE);
  const char *what;
  if (added || (autom && autom->state == TSR_BG_SAMPLE_EXCLUDED) || (exclude && autom) || !exclude)
    push_undo (self);
  if (added)
    {
      for (guint i = 0; i < self->bg_add->len; i++)
        if (in_box (added, g_array_index (self->bg_add, TsrBgPoint, i).x, g_array_index (self->bg_add, TsrBgPoint, i).y))
          {
            g_array_remove_index (self->bg_add, i);
            break;
          }
      what = _("Sample removed");
    }
  else if (autom && autom->state == TSR_BG_SAMPLE_EXCLUDED)
    {
      for (guint i = self->bg_exclude->len; i-- > 0;)
        if (in_box (autom, g_array_index (self->bg_exclude, TsrBgPoint, i).x,
                    g_array_index (self->bg_exclude, TsrBgPoint, i).y))
          g_array_remove_index (self->bg_exclude, i);
      what = _("Sample restored");
    }
  else if (exclude && autom)
    {
      TsrBgPoint p = { autom->x, autom->y, 0 };
      g_array_append_val (self->bg_exclude, p);
      what = _("Sample excluded");
    }
  else if (!exclude)
    {
      /* the file format reads "-x,y" as an exclusion: an added box starts at x = 0 */
      TsrBgPoint p = { MAX (x, 0.0), MAX (y, 0.0), 0 };
      g_array_append_val (self->bg_add, p);
      what = _("Sample added");
    }
  else
    return FALSE;
  edited (self, what, x, y);
  return TRUE;
}

gboolean
tsr_window_post_move (TsrWindow *self, double x0, double y0, double x1, double y1)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self), FALSE);
  if (!self->params.post.background || !self->recon || hypot (x1 - x0, y1 - y0) < 1.0)
    return FALSE;
  const TsrImage *r = self->recon->result;
  const TsrBgSample *added = hit_sample (self, x0, y0, TRUE), *autom = hit_sample (self, x0, y0, FALSE);
  const TsrBgSample *s = added ? added : autom;
  if (!s)
    return FALSE;
  /* the box's centre moves with the pointer, kept on the result */
  double nx = CLAMP (s->x + (x1 - x0), 0.0, r->width - 1.0), ny = CLAMP (s->y + (y1 - y0), 0.0, r->height - 1.0);
  if (added)
    {
      /* the point the user gave moves (the box drawn is that point's, cut to whole pixels) */
      guint i = 0;
      for (; i < self->bg_add->len; i++)
        if (in_box (added, g_array_index (self->bg_add, TsrBgPoint, i).x, g_array_index (self->bg_add, TsrBgPoint, i).y))
          break;
      if (i == self->bg_add->len)
        return FALSE;
      push_undo (self);
      TsrBgPoint *p = &g_array_index (self->bg_add, TsrBgPoint, i);
      nx = p->x = CLAMP (p->x + (x1 - x0), 0.0, r->width - 1.0);
      ny = p->y = CLAMP (p->y + (y1 - y0), 0.0, r->height - 1.0);
      edited (self, _("Sample moved"), nx, ny);
      return TRUE;
    }
  push_undo (self);
  TsrBgPoint p = { nx, ny, 0 };
  g_array_append_val (self->bg_add, p);
  if (s->state != TSR_BG_SAMPLE_EXCLUDED)
    {
      TsrBgPoint e = { s->x, s->y, 0 };
      g_array_append_val (self->bg_exclude, e);
    }
  edited (self, _("Sample moved (its old place excluded)"), nx, ny);
  return TRUE;
}

gboolean
tsr_window_post_undo (TsrWindow *self)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self), FALSE);
  if (self->bg_undo->len == 0)
    return FALSE;
  TsrSampleEdits *e = g_ptr_array_steal_index (self->bg_undo, self->bg_undo->len - 1);
  g_array_unref (self->bg_add);
  g_array_unref (self->bg_exclude);
  self->bg_add = g_steal_pointer (&e->add);
  self->bg_exclude = g_steal_pointer (&e->exclude);
  self->bg_edit_width = e->width;
  edits_free (e);
  if (self->recon && self->bg_edit_width > 0)
    {
      /* an edit made before a run at another drizzle.scale: in this result's pixels */
      TsrSampleEdits now = { self->bg_edit_width, self->bg_add, self->bg_exclude };
      tsr_sample_edits_rescale (&now, self->recon->result->width);
      self->bg_edit_width = now.width;
    }
  self->project_dirty = TRUE;
  tsr_window_post_apply (self);
  if (post_wanted (self) && self->recon)
    tsr_window_set_status_text (self, _("Sample edit undone: extracting the background again…"));
  tsr_window_update_actions (self);
  return TRUE;
}

void
tsr_window_get_bg_edits (TsrWindow *self, const GArray **add, const GArray **exclude, int *width)
{
  g_return_if_fail (TSR_IS_WINDOW (self));
  if (add)
    *add = self->bg_add;
  if (exclude)
    *exclude = self->bg_exclude;
  if (width)
    *width = self->bg_edit_width;
}

void
tsr_window_post_reset_samples (TsrWindow *self)
{
  g_return_if_fail (TSR_IS_WINDOW (self));
  if (self->bg_add->len == 0 && self->bg_exclude->len == 0)
    return;
  push_undo (self);
  g_array_set_size (self->bg_add, 0);
  g_array_set_size (self->bg_exclude, 0);
  self->project_dirty = TRUE;
  tsr_window_post_apply (self);
}

void
tsr_window_post_take_edits (TsrWindow *self, TsrSampleEdits *edits)
{
  g_ptr_array_set_size (self->bg_undo, 0);
  g_array_set_size (self->bg_add, 0);
  g_array_set_size (self->bg_exclude, 0);
  self->bg_edit_width = 0;
  if (edits && edits->width > 0)
    {
      if (edits->add)
        g_array_append_vals (self->bg_add, edits->add->data, edits->add->len);
      if (edits->exclude)
        g_array_append_vals (self->bg_exclude, edits->exclude->data, edits->exclude->len);
      self->bg_edit_width = edits->width;
    }
  tsr_window_update_actions (self);
}

/* ---------------------------------------------------------------- progress, cancel */

static void
show_post_progress (TsrWindow *self, const char *phase, guint done, guint total)
{
  if (!self->post_progress)
    return;
  GtkProgressBar *bar = GTK_PROGRESS_BAR (self->post_progress);
  gtk_widget_set_visible (self->post_progress, phase != NULL);
  gtk_widget_set_visible (self->post_cancel, phase != NULL);
  if (!phase)
    {
      gtk_progress_bar_set_fraction (bar, 0);
      gtk_progress_bar_set_text (bar, "");
      tsr_window_update_actions (self);
      return;
    }
  if (total > 0)
    {
      g_autofree char *text = g_strdup_printf ("%s %u/%u", _(phase), done, total);
      gtk_progress_bar_set_fraction (bar, (double) done / total);
      gtk_progress_bar_set_text (bar, text);
    }
  else
    {
      gtk_progress_bar_pulse (bar);
      gtk_progress_bar_set_text (bar, _(phase));
    }
  tsr_window_update_actions (self);
}

const char *
tsr_window_get_post_progress (TsrWindow *self, double *fraction)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self), NULL);
  if (fraction)
    *fraction = self->post_progress ? gtk_progress_bar_get_fraction (GTK_PROGRESS_BAR (self->post_progress)) : 0;
  if (!self->post_progress || !gtk_widget_get_visible (self->post_progress))
    return NULL;
  return gtk_progress_bar_get_text (GTK_PROGRESS_BAR (self->post_progress));
}

gboolean
tsr_window_post_cancel (TsrWindow *self)
{
  if (!tsr_window_post_busy (self))
    return FALSE;
  /* the output of the running step is dropped; the view keeps what it shows */
  self->post_gen++;
  if (self->post_cancellable)
    g_cancellable_cancel (self->post_cancellable);
  g_clear_object (&self->post_cancellable);
  self->post_running = self->post_pending = FALSE;
  show_post_progress (self, NULL, 0, 0);
  tsr_window_set_status_text (self, self->post_img ? _("Cancelled: the view keeps the earlier correction")
                                                   : _("Cancelled: the result is shown as stacked"));
  tsr_window_update_actions (self);
  return TRUE;
}

static void
on_post_cancel_clicked (GtkButton *b, TsrWindow *self)
{
  tsr_window_post_cancel (self);
}

static void
undo_sample_activated (GSimpleAction *action, GVariant *param, gpointer data)
{
  tsr_window_post_undo (TSR_WINDOW (data));
}

static void
on_move (TsrImageView *view, double x0, double y0, double x1, double y1, TsrWindow *self)
{
  if (tsr_window_get_show (self) == TSR_SHOW_RESULT)
    tsr_window_post_move (self, x0, y0, x1, y1);
}

void
tsr_window_set_sample_overlay (TsrWindow *self, gboolean show, gboolean edit)
{
  g_return_if_fail (TSR_IS_WINDOW (self));
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (self->post_show_samples), show);
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (self->post_edit_samples), edit);
}

static void
on_pick (TsrImageView *view, double x, double y, gboolean secondary, TsrWindow *self)
{
  if (tsr_window_get_show (self) == TSR_SHOW_RESULT)
    tsr_window_post_pick (self, x, y, secondary);
}

static void
on_samples_toggled (GtkToggleButton *b, TsrWindow *self)
{
  update_view_samples (self);
  tsr_window_update_actions (self);
}

/* Ctrl+Z: while Edit is on and there is an edit to undo */
gboolean
tsr_window_post_can_undo (TsrWindow *self)
{
  return self->bg_undo && self->bg_undo->len > 0 && self->post_edit_samples
         && gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (self->post_edit_samples));
}

static void
on_reset_clicked (GtkButton *b, TsrWindow *self)
{
  tsr_window_post_reset_samples (self);
}

/* The sample controls under the group's parameters. */
void
tsr_window_post_add_controls (TsrWindow *self, GtkWidget *group)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 4);
  self->post_show_samples = gtk_toggle_button_new_with_label (_("Show"));
  gtk_widget_set_tooltip_text (self->post_show_samples,
                               _("Draw the sky samples over the result: used green, rejected grey, added by you cyan, "
                                 "excluded by you red"));
  self->post_edit_samples = gtk_toggle_button_new_with_label (_("Edit"));
  gtk_widget_set_tooltip_text (self->post_edit_samples,
                               _("Click on the result to add a sample there; right-click (or Shift+click) an automatic "
                                 "sample to exclude it; click an added or excluded one to undo that"));
  self->post_reset = gtk_button_new_with_label (_("Reset"));
  gtk_widget_set_tooltip_text (self->post_reset, _("Forget the samples you added and excluded"));
  gtk_box_append (GTK_BOX (box), self->post_show_samples);
  gtk_box_append (GTK_BOX (box), self->post_edit_samples);
  gtk_box_append (GTK_BOX (box), self->post_reset);
  g_signal_connect (self->post_show_samples, "toggled", G_CALLBACK (on_samples_toggled), self);
  g_signal_connect (self->post_edit_samples, "toggled", G_CALLBACK (on_samples_toggled), self);
  g_signal_connect (self->post_reset, "clicked", G_CALLBACK (on_reset_clicked), self);
  GtkWidget *col = gtk_box_new (GTK_ORIENTATION_VERTICAL, 4);
  gtk_box_append (GTK_BOX (col), box);
  tsr_param_group_add_row (TSR_PARAM_GROUP (group), _("Sky samples"), col, "",
                           _("The background model's sample boxes: show them, edit them by clicking and dragging "
                             "(Ctrl+Z undoes), reset your edits"));
  /* the step's progress and its Cancel, under the buttons while it runs (the window stays
   * usable) */
  GtkWidget *pbox = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 4);
  self->post_progress = gtk_progress_bar_new ();
  gtk_progress_bar_set_show_text (GTK_PROGRESS_BAR (self->post_progress), TRUE);
  gtk_progress_bar_set_ellipsize (GTK_PROGRESS_BAR (self->post_progress), PANGO_ELLIPSIZE_END);
  gtk_widget_set_hexpand (self->post_progress, TRUE);
  gtk_widget_set_valign (self->post_progress, GTK_ALIGN_CENTER);
  self->post_cancel = gtk_button_new_with_label (_("Cancel"));
  gtk_widget_set_tooltip_text (self->post_cancel, _("Stop the background extraction / colour calibration; the view "
                                                    "keeps what it shows"));
  g_signal_connect (self->post_cancel, "clicked", G_CALLBACK (on_post_cancel_clicked), self);
  gtk_box_append (GTK_BOX (pbox), self->post_progress);
  gtk_box_append (GTK_BOX (pbox), self->post_cancel);
  gtk_widget_set_visible (self->post_progress, FALSE);
  gtk_widget_set_visible (self->post_cancel, FALSE);
  gtk_box_append (GTK_BOX (col), pbox);
}

void
tsr_window_post_init (TsrWindow *self)
{
  self->bg_add = g_array_new (FALSE, FALSE, sizeof (TsrBgPoint));
  self->bg_exclude = g_array_new (FALSE, FALSE, sizeof (TsrBgPoint));
  self->bg_undo = g_ptr_array_new_with_free_func (edits_free);
  g_signal_connect (self->view, "pick", G_CALLBACK (on_pick), self);
  g_signal_connect (self->view, "move-sample", G_CALLBACK (on_move), self);
  static const GActionEntry entries[] = { { .name = "undo-sample", .activate = undo_sample_activated } };
  g_action_map_add_action_entries (G_ACTION_MAP (self), entries, G_N_ELEMENTS (entries), self);
}

void
tsr_window_post_view_changed (TsrWindow *self)
{
  if (self->bg_add && self->post_show_samples)
    update_view_samples (self);
}

void
tsr_window_post_dispose (TsrWindow *self)
{
  self->post_gen++;
  if (self->post_cancellable)
    g_cancellable_cancel (self->post_cancellable);
}

void
tsr_window_post_finalize (TsrWindow *self)
{
  g_clear_object (&self->post_cancellable);
  g_clear_pointer (&self->post_img, tsr_image_unref);
  g_clear_pointer (&self->post_surface, cairo_surface_destroy);
  g_clear_pointer (&self->bg_samples, g_array_unref);
  g_clear_pointer (&self->bg_add, g_array_unref);
  g_clear_pointer (&self->bg_exclude, g_array_unref);
  g_clear_pointer (&self->bg_undo, g_ptr_array_unref);
  if (self->open_samples)
    {
      tsr_sample_edits_clear (self->open_samples);
      g_clear_pointer (&self->open_samples, g_free);
    }
}
