/* tsr-window-denoise.c — the "Denoise" job: the learned denoiser (engine denoise/) run on the
 * image the window shows (the reconstruction, or the deconvolved latent) in a worker, with
 * progress and cancel; the result shown against the image before it in the split view, and
 * a strength slider that blends the two live (no second network pass: the full-strength
 * output is kept, blending is one pass over the pixels).
 *
 * A cancelled or failed job leaves what was shown as it was. */
#include "tsr-config.h"
#include <glib/gi18n.h>
#include "tsr-window-private.h"
#include "tsr-denoise.h"

typedef struct
{
  guint gen;
  TsrImage *input;
  double geometry_scale;
  gpointer progress;          /* tsr_window_progress_data_new */
} DenoiseJob;

static void
denoise_job_free (gpointer data)
{
  DenoiseJob *j = data;
  g_clear_pointer (&j->input, tsr_image_unref);
  tsr_window_progress_data_free (j->progress);
  g_free (j);
}

typedef struct
{
  TsrImage *full;             /* strength 1 */
  cairo_surface_t *surface;   /* its display rendering */
  cairo_surface_t *input_surface;
  TsrDenoiseStats stats;
} DenoiseOut;

static void
denoise_out_free (gpointer data)
{
  DenoiseOut *o = data;
  g_clear_pointer (&o->full, tsr_image_unref);
  g_clear_pointer (&o->surface, cairo_surface_destroy);
  g_clear_pointer (&o->input_surface, cairo_surface_destroy);
  g_free (o);
}

static void
denoise_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  tsr_stall_lower_thread_priority ();
  DenoiseJob *j = task_data;
  TsrDenoiseParams p;
  tsr_denoise_params_init (&p);
  p.strength = 1.0;             /* the window blends; the network runs once */
  DenoiseOut *o = g_new0 (DenoiseOut, 1);
  GError *error = NULL;
  o->full = tsr_denoise_run (j->input, &p, &o->stats, tsr_window_job_progress, j->progress, cancellable, &error);
  tsr_denoise_params_clear (&p);
  if (!o->full)
    {
      denoise_out_free (o);
      if (!error)
        error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, _("Denoising cancelled"));
      g_task_return_error (task, error);
      return;
    }
  o->surface = tsr_window_render_display (o->full);
  o->input_surface = tsr_window_render_display (j->input);
  g_task_return_pointer (task, o, denoise_out_free);
}

/* input + s · (full − input) for every valid sample (the mask is the input's). */
static TsrImage *
blend (const TsrImage *input, const TsrImage *full, double s)
{
  TsrImage *out = tsr_image_copy (input);
  if (!out)
    return NULL;
  gsize n = tsr_image_npix (out) * out->channels;
  float fs = (float) s;
  for (gsize k = 0; k < n; k++)
    out->data[k] = input->data[k] + fs * (full->data[k] - input->data[k]);
  return out;
}

/* Re-blend at the slider's strength and show it. */
static void
apply_strength (TsrWindow *self)
{
  if (!self->denoise_input || !self->denoise_full)
    return;
  TsrImage *img = blend (self->denoise_input, self->denoise_full, self->denoise_strength);
  if (!img)
    {
      tsr_window_show_error_text (self, _("Not enough memory to blend the denoised image"));
      return;
    }
  cairo_surface_t *surface = self->denoise_strength >= 1.0 && self->denoise_full_surface
                               ? cairo_surface_reference (self->denoise_full_surface)
                               : tsr_window_render_display (img);
  g_clear_pointer (&self->denoise_img, tsr_image_unref);
  g_clear_pointer (&self->denoise_surface, cairo_surface_destroy);
  self->denoise_img = img;
  self->denoise_surface = surface;
  if (tsr_window_get_show (self) == TSR_SHOW_DENOISED)
    tsr_window_show_current (self);
}

static gboolean
strength_timeout (gpointer data)
{
  TsrWindow *self = data;
  self->denoise_strength_source = 0;
  apply_strength (self);
  return G_SOURCE_REMOVE;
}

void
tsr_window_denoise_on_strength_changed (GtkRange *range, TsrWindow *self)
{
  self->denoise_strength = gtk_range_get_value (range);
  /* coalesce a drag: at most one blend every 60 ms, the newest value wins */
  if (!self->denoise_strength_source)
    self->denoise_strength_source = g_timeout_add (60, strength_timeout, self);
}

TSR_TIMED_CALLBACK (denoise_done)

static void
denoise_done_impl (GObject *source, GAsyncResult *res, gpointer data)
{
  TsrWindow *self = TSR_WINDOW (source);
  GTask *task = G_TASK (res);
  DenoiseJob *j = g_task_get_task_data (task);
  DenoiseOut *o = tsr_window_job_result (self, task, j->gen, denoise_out_free,
                                         _("Denoising cancelled; nothing changed"));
  if (!o)
    return;
  g_clear_pointer (&self->denoise_input, tsr_image_unref);
  g_clear_pointer (&self->denoise_full, tsr_image_unref);
  g_clear_pointer (&self->denoise_full_surface, cairo_surface_destroy);
  g_clear_pointer (&self->denoise_input_surface, cairo_surface_destroy);
  self->denoise_input = tsr_image_ref (j->input);
  self->denoise_full = g_steal_pointer (&o->full);
  self->denoise_full_surface = g_steal_pointer (&o->surface);
  self->denoise_input_surface = g_steal_pointer (&o->input_surface);
  self->denoise_geometry_scale = j->geometry_scale;
  apply_strength (self);
  if (tsr_window_get_show (self) != TSR_SHOW_DENOISED)
    tsr_window_set_show (self, TSR_SHOW_DENOISED);
  else
    tsr_window_show_current (self);
  g_autofree char *msg = g_strdup_printf (_("Denoised in %.1f s (%u tiles, %.1f GFLOP); drag the strength slider "
                                            "or the divider to compare"),
                                          o->stats.seconds, o->stats.n_tiles, o->stats.gflop);
  tsr_window_set_status_text (self, msg);
  tsr_window_update_actions (self);
  denoise_out_free (o);
}

/* The linear image the window would denoise now: the deconvolved latent when it is shown,
 * else the reconstruction. */
static TsrImage *
denoise_source (TsrWindow *self, double *geometry_scale)
{
  *geometry_scale = 1.0;
  if (tsr_window_get_show (self) == TSR_SHOW_DECONV && self->deconv_img)
    {
      if (self->analysis)
        *geometry_scale = (double) self->analysis->width / self->deconv_img->width;
      return self->deconv_img;
    }
  if (self->recon && self->recon->result)
    return self->recon->result;
  return NULL;
}

gboolean
tsr_window_denoise_possible (TsrWindow *self)
{
  double s;
  return self->job == TSR_JOB_NONE && self->run_workers == 0 && denoise_source (self, &s) != NULL;
}

gboolean
tsr_window_denoise (TsrWindow *self)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self), FALSE);
  if (!tsr_window_denoise_possible (self))
    return FALSE;
  double scale;
  TsrImage *input = denoise_source (self, &scale);
  GCancellable *cancellable;
  guint gen = tsr_window_begin_job (self, TSR_JOB_DENOISE, &cancellable);
  DenoiseJob *j = g_new0 (DenoiseJob, 1);
  j->gen = gen;
  j->input = tsr_image_ref (input);
  j->geometry_scale = scale;
  j->progress = tsr_window_progress_data_new (self, gen);
  self->run_workers++;
  tsr_window_set_status_text (self, _("Denoising…"));
  GTask *task = g_task_new (self, cancellable, denoise_done, NULL);
  g_task_set_task_data (task, j, denoise_job_free);
  g_task_set_name (task, "tessera-denoise");
  g_task_run_in_thread (task, denoise_thread);
  g_object_unref (task);
  tsr_window_update_actions (self);
  return TRUE;
}

void
tsr_window_set_denoise_strength (TsrWindow *self, double strength)
{
  gtk_range_set_value (GTK_RANGE (self->denoise_scale), CLAMP (strength, 0.0, 1.0));
  g_clear_handle_id (&self->denoise_strength_source, g_source_remove);
  self->denoise_strength = CLAMP (strength, 0.0, 1.0);
  apply_strength (self);
}

const TsrImage *
tsr_window_get_denoised (TsrWindow *self, const TsrImage **before)
{
  if (before)
    *before = self->denoise_input;
  return self->denoise_img;
}

static void
denoise_activated (GSimpleAction *action, GVariant *param, gpointer data)
{
  tsr_window_denoise (TSR_WINDOW (data));
}

void
tsr_window_denoise_init (TsrWindow *self)
{
  static const GActionEntry entries[] = {
    { .name = "denoise", .activate = denoise_activated },
  };
  g_action_map_add_action_entries (G_ACTION_MAP (self), entries, G_N_ELEMENTS (entries), self);
  /* the strength slider (denoise_scale in denoise_bar, ui/tsr-window.ui) starts at 1 */
  self->denoise_strength = 1.0;
}

void
tsr_window_denoise_clear (TsrWindow *self)
{
  g_clear_handle_id (&self->denoise_strength_source, g_source_remove);
  g_clear_pointer (&self->denoise_input, tsr_image_unref);
  g_clear_pointer (&self->denoise_full, tsr_image_unref);
  g_clear_pointer (&self->denoise_img, tsr_image_unref);
  g_clear_pointer (&self->denoise_surface, cairo_surface_destroy);
  g_clear_pointer (&self->denoise_full_surface, cairo_surface_destroy);
  g_clear_pointer (&self->denoise_input_surface, cairo_surface_destroy);
}
