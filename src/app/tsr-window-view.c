/* tsr-window-view.c — the image view's keyboard actions (zoom, fit, 100 %, pan) and Blink
 * (issue #13, problem 7): the registered frames one after another in the reference geometry,
 * each rendered from the live preview's reduced registered copies (a weighing in which only
 * that frame is used), so what moves between two frames is the sky — clouds, trails, a soft
 * frame — not the mount's drift. */
#include "tsr-config.h"
#include <math.h>
#include <string.h>
#include <glib/gi18n.h>
#include "tsr-window-private.h"

#define BLINK_MS 600

typedef struct
{
  TsrPreviewCache *cache;
  TsrAnalysis *analysis;
  TsrProject params;
  guint frame;
  guint gen;
} BlinkJob;

typedef struct
{
  TsrImage *img;
  cairo_surface_t *surface;
  guint frame;
} BlinkResult;

static void
blink_job_free (gpointer data)
{
  BlinkJob *j = data;
  g_clear_pointer (&j->cache, tsr_preview_cache_unref);
  g_clear_pointer (&j->analysis, tsr_analysis_unref);
  g_free (j);
}

static void
blink_result_free (gpointer data)
{
  BlinkResult *r = data;
  g_clear_pointer (&r->img, tsr_image_unref);
  g_clear_pointer (&r->surface, cairo_surface_destroy);
  g_free (r);
}

static void
blink_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  BlinkJob *j = task_data;
  guint n = j->analysis->reg->n_frames;
  g_autofree guint8 *choices = g_new (guint8, n);
  for (guint f = 0; f < n; f++)
    choices[f] = f == j->frame ? TSR_FRAME_INCLUDE : TSR_FRAME_EXCLUDE;
  GError *error = NULL;
  g_autoptr (TsrWeights) w = tsr_tbqr_weigh_with_choices (j->analysis, &j->params.tbqr, choices, &error);
  TsrImage *img = w ? tsr_preview_render (j->cache, w, cancellable, &error) : NULL;
  if (!img)
    {
      if (error)
        g_task_return_error (task, error);
      else
        g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");
      return;
    }
  BlinkResult *r = g_new0 (BlinkResult, 1);
  r->img = img;
  r->surface = tsr_window_render_display (img);
  r->frame = j->frame;
  g_task_return_pointer (task, r, blink_result_free);
}

/* The next registered frame after `after` (cyclic), or −1. */
static int
next_frame (TsrWindow *self, int after)
{
  if (!self->analysis)
    return -1;
  guint n = self->analysis->reg->n_frames;
  for (guint i = 1; i <= n; i++)
    {
      guint f = (guint) (after + (int) i + (int) n) % n;
      if (self->analysis->reg->frames[f].registered)
        return (int) f;
    }
  return -1;
}

static void blink_step (TsrWindow *self);

static void
blink_done (GObject *source, GAsyncResult *res, gpointer data)
{
  TsrWindow *self = TSR_WINDOW (source);
  GError *error = NULL;
  BlinkResult *r = g_task_propagate_pointer (G_TASK (res), &error);
  BlinkJob *j = g_task_get_task_data (G_TASK (res));
  self->blink_running = FALSE;
  if (!self->blink_on || j->gen != self->blink_gen || self->disposed)
    {
      g_clear_error (&error);
      if (r)
        blink_result_free (r);
      return;
    }
  if (!r)
    {
      tsr_window_show_error (self, error->message);
      g_error_free (error);
      tsr_window_set_blink (self, FALSE);
      return;
    }
  g_clear_pointer (&self->blink_img, tsr_image_unref);
  g_clear_pointer (&self->blink_surface, cairo_surface_destroy);
  self->blink_img = g_steal_pointer (&r->img);
  self->blink_surface = g_steal_pointer (&r->surface);
  self->blink_frame = (int) r->frame;
  self->blink_shown++;
  blink_result_free (r);
  tsr_window_show_current (self);
  const TsrFrameInfo *fi = self->session && (guint) self->blink_frame < tsr_session_n_frames (self->session)
                             ? tsr_session_frame (self->session, self->blink_frame) : NULL;
  g_autofree char *msg = g_strdup_printf (_("Blink: frame %d (of %u), %s (registered; Ctrl+B stops)"),
                                          self->blink_frame, self->analysis->reg->n_frames,
                                          fi ? fi->name : "");
  tsr_window_set_status_text (self, msg);
}

static void
blink_step (TsrWindow *self)
{
  if (self->blink_running || !self->preview_cache || !self->analysis)
    return;
  int f = next_frame (self, self->blink_frame);
  if (f < 0)
    return;
  BlinkJob *j = g_new0 (BlinkJob, 1);
  j->cache = tsr_preview_cache_ref (self->preview_cache);
  j->analysis = tsr_analysis_ref (self->analysis);
  j->params = self->params;
  j->frame = (guint) f;
  j->gen = self->blink_gen;
  self->blink_running = TRUE;
  GTask *task = g_task_new (self, NULL, blink_done, NULL);
  g_task_set_task_data (task, j, blink_job_free);
  g_task_set_name (task, "tessera-blink");
  g_task_run_in_thread (task, blink_thread);
  g_object_unref (task);
}

static gboolean
blink_tick (gpointer data)
{
  blink_step (TSR_WINDOW (data));
  return G_SOURCE_CONTINUE;
}

gboolean
tsr_window_set_blink (TsrWindow *self, gboolean on)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self), FALSE);
  if (on && (!self->preview_cache || !self->analysis || tsr_window_planetary_active (self)))
    on = FALSE;
  GAction *a = g_action_map_lookup_action (G_ACTION_MAP (self), "blink");
  if (a)
    g_simple_action_set_state (G_SIMPLE_ACTION (a), g_variant_new_boolean (on));
  if (on == self->blink_on)
    return on;
  self->blink_on = on;
  self->blink_gen++;
  g_clear_handle_id (&self->blink_source, g_source_remove);
  if (on)
    {
      self->blink_frame = self->selected_frame >= 0 ? self->selected_frame - 1 : -1;
      self->blink_source = g_timeout_add (BLINK_MS, blink_tick, self);
      blink_step (self);
    }
  else
    {
      g_clear_pointer (&self->blink_img, tsr_image_unref);
      g_clear_pointer (&self->blink_surface, cairo_surface_destroy);
      tsr_window_show_current (self);
    }
  return on;
}

int
tsr_window_get_blink_frame (TsrWindow *self, guint *n_shown)
{
  if (n_shown)
    *n_shown = self->blink_shown;
  return self->blink_on && self->blink_img ? self->blink_frame : -1;
}

gboolean
tsr_window_blink_show (TsrWindow *self)
{
  if (!self->blink_on || !self->blink_img || !self->preview_cache)
    return FALSE;
  tsr_image_view_set_compare (self->view, NULL, NULL, NULL);
  tsr_image_view_set_image_scaled (self->view, self->blink_img, self->blink_surface, -1,
                                   tsr_preview_cache_factor (self->preview_cache));
  return TRUE;
}

void
tsr_window_view_dispose (TsrWindow *self)
{
  self->blink_on = FALSE;
  g_clear_handle_id (&self->blink_source, g_source_remove);
  g_clear_pointer (&self->blink_img, tsr_image_unref);
  g_clear_pointer (&self->blink_surface, cairo_surface_destroy);
}

/* ---------------------------------------------------------------- actions */

static void
zoom_activated (GSimpleAction *action, GVariant *param, gpointer data)
{
  TsrWindow *self = data;
  const char *name = g_action_get_name (G_ACTION (action));
  if (strcmp (name, "zoom-in") == 0)
    tsr_image_view_zoom_by (self->view, 1.25);
  else if (strcmp (name, "zoom-out") == 0)
    tsr_image_view_zoom_by (self->view, 0.8);
  else if (strcmp (name, "zoom-fit") == 0)
    tsr_image_view_zoom_fit (self->view);
  else if (strcmp (name, "zoom-one") == 0)
    tsr_image_view_zoom_one (self->view);
  else if (strcmp (name, "pan-left") == 0)
    tsr_image_view_pan (self->view, -0.1, 0);
  else if (strcmp (name, "pan-right") == 0)
    tsr_image_view_pan (self->view, 0.1, 0);
  else if (strcmp (name, "pan-up") == 0)
    tsr_image_view_pan (self->view, 0, -0.1);
  else if (strcmp (name, "pan-down") == 0)
    tsr_image_view_pan (self->view, 0, 0.1);
}

static void
blink_change_state (GSimpleAction *action, GVariant *value, gpointer data)
{
  tsr_window_set_blink (TSR_WINDOW (data), g_variant_get_boolean (value));
}

static const GActionEntry view_entries[] = {
  { .name = "zoom-in", .activate = zoom_activated },
  { .name = "zoom-out", .activate = zoom_activated },
  { .name = "zoom-fit", .activate = zoom_activated },
  { .name = "zoom-one", .activate = zoom_activated },
  { .name = "pan-left", .activate = zoom_activated },
  { .name = "pan-right", .activate = zoom_activated },
  { .name = "pan-up", .activate = zoom_activated },
  { .name = "pan-down", .activate = zoom_activated },
  { .name = "blink", .state = "false", .change_state = blink_change_state },
};

void
tsr_window_view_init (TsrWindow *self)
{
  /* the Blink toggle (ui/tsr-window.ui) is bound to win.blink */
  g_action_map_add_action_entries (G_ACTION_MAP (self), view_entries, G_N_ELEMENTS (view_entries), self);
}
