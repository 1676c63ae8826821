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

typedef struct
{
  guint gen;
  TsrImage *input;
  TsrPostParams post;
  GArray *add, *exclude;
} PostJob;

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
      TsrImage *bg = tsr_background_extract_edited (o->img, &j->post, &ed, &bi, &o->samples, NULL, cancellable, &error);
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
  self->post_cancellable = g_cancellable_new ();
  self->post_running = TRUE;
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
    }
  else
    {
      int w = self->recon->result->width;
      if (self->bg_edit_width > 0 && w != self->bg_edit_width)
        {
          double f = (double) w / self->bg_edit_width;
          GArray *lists[2] = { self->bg_add, self->bg_exclude };
          for (int l = 0; l < 2; l++)
            for (guint i = 0; i < lists[l]->len; i++)
              {
                TsrBgPoint *p = &g_array_index (lists[l], TsrBgPoint, i);
                p->x = (p->x + 0.5) * f - 0.5;
                p->y = (p->y + 0.5) * f - 0.5;
                if (p->size > 0)
                  p->size = MAX (4, (int) lround (p->size * f));
              }
        }
      self->bg_edit_width = w;
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
      TsrBgPoint p = { x, y, 0 };
      g_array_append_val (self->bg_add, p);
      what = _("Sample added");
    }
  else
    return FALSE;
  self->project_dirty = TRUE;
  self->bg_edit_width = r->width;
  g_autofree char *msg = g_strdup_printf (_("%s at %.0f, %.0f: extracting the background again…"), what, x, y);
  tsr_window_post_apply (self);
  tsr_window_set_status_text (self, msg);
  return TRUE;
}

void
tsr_window_post_reset_samples (TsrWindow *self)
{
  g_return_if_fail (TSR_IS_WINDOW (self));
  if (self->bg_add->len == 0 && self->bg_exclude->len == 0)
    return;
  g_array_set_size (self->bg_add, 0);
  g_array_set_size (self->bg_exclude, 0);
  tsr_window_post_apply (self);
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
  tsr_param_group_add_row (TSR_PARAM_GROUP (group), _("Sky samples"), box, "",
                           _("The background model's sample boxes: show them, edit them by clicking, reset your edits"));
}

void
tsr_window_post_init (TsrWindow *self)
{
  self->bg_add = g_array_new (FALSE, FALSE, sizeof (TsrBgPoint));
  self->bg_exclude = g_array_new (FALSE, FALSE, sizeof (TsrBgPoint));
  g_signal_connect (self->view, "pick", G_CALLBACK (on_pick), self);
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
}
