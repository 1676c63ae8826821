/* tsr-window-calib.c — the window's calibration section (issue #18): bias, dark, flat and
 * dark-flat inputs (folders of frames or master files) chosen in the panel or read from a
 * project's [calib] group, applied by the analysis worker exactly as tessera-cli does
 * (tsr_calib_plan → tsr_calib_build → tsr_calib_attach on the session), so the analysis, the
 * live preview, Run, Deconvolve and Restore all read calibrated lights. The section shows
 * each master's statistics and a small preview once the session has been analysed with it. */
#include "tsr-config.h"
#include <math.h>
#include <string.h>
#include <glib/gi18n.h>
#include "tsr-window-private.h"
#include "tsr-calib-panel.h"

struct _TsrCalibUi
{
  GtkWidget *path_label[TSR_CALIB_N_KINDS];
  GtkWidget *stats_label[TSR_CALIB_N_KINDS];
  GtkWidget *preview[TSR_CALIB_N_KINDS];
  GtkWidget *clear[TSR_CALIB_N_KINDS];
  GtkWidget *popover[TSR_CALIB_N_KINDS];   /* the larger view of a master (parented to its thumbnail) */
  GtkWidget *notes;
  GtkFileChooserNative *chooser;
  TsrCalibKind choosing;
};

static const char *
kind_label (TsrCalibKind k)
{
  switch (k)
    {
    case TSR_CALIB_BIAS: return _("Bias");
    case TSR_CALIB_DARK: return _("Darks");
    case TSR_CALIB_FLAT: return _("Flats");
    case TSR_CALIB_DARK_FLAT: return _("Dark flats");
    default: return "";
    }
}

/* ---------------------------------------------------------------- in the analysis worker */

static int
cmp_float (gconstpointer a, gconstpointer b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return (x > y) - (x < y);
}

/* One line of statistics of a master: size, frames, exposure, median, robust σ, range. */
static char *
master_stats (const TsrImage *m, TsrCalibKind k, gsize n_bad)
{
  gsize n = (gsize) m->width * m->height;
  gsize step = MAX (1, n / 1000000);   /* at most a million samples */
  g_autofree float *v = g_new (float, n / step + 1);
  gsize c = 0;
  float lo = INFINITY, hi = -INFINITY;
  for (gsize i = 0; i < n; i += step)
    if (m->mask[i] && isfinite (m->data[i]))
      {
        v[c++] = m->data[i];
        lo = MIN (lo, m->data[i]);
        hi = MAX (hi, m->data[i]);
      }
  if (c == 0)
    return g_strdup (_("no valid pixels"));
  qsort (v, c, sizeof *v, cmp_float);
  double med = v[c / 2];
  for (gsize i = 0; i < c; i++)
    v[i] = fabsf (v[i] - (float) med);
  qsort (v, c, sizeof *v, cmp_float);
  double sigma = 1.4826 * v[c / 2];
  gint64 ncombine = 0;
  double exptime = NAN;
  tsr_header_get_int (m->header, "NCOMBINE", &ncombine);
  tsr_header_get_double (m->header, "EXPTIME", &exptime);
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, _("%d×%d"), m->width, m->height);
  if (ncombine > 0)
    g_string_append_printf (s, _(", %d frames"), (int) ncombine);
  else
    g_string_append (s, _(", master file"));
  if (isfinite (exptime))
    g_string_append_printf (s, _(", %g s"), exptime);
  g_string_append_printf (s, _("; median %.5g, σ %.3g, %.5g … %.5g"), med, sigma, lo, hi);
  if (k == TSR_CALIB_DARK)
    g_string_append_printf (s, _("; %lu hot/cold pixels replaced"), (unsigned long) n_bad);
  return g_string_free (s, FALSE);
}

void
tsr_calib_outcome_free (TsrCalibOutcome *o)
{
  if (!o)
    return;
  for (guint k = 0; k < TSR_CALIB_N_KINDS; k++)
    {
      g_clear_pointer (&o->masters[k], tsr_image_unref);
      g_clear_pointer (&o->surfaces[k], cairo_surface_destroy);
      g_free (o->stats[k]);
      g_free (o->paths[k]);
    }
  g_free (o->notes);
  g_free (o);
}

gboolean
tsr_window_calib_apply (TsrSession *s, char *const *paths, const TsrProject *params, gpointer progress_data,
                        TsrCalibOutcome **outcome, GCancellable *cancellable, GError **error)
{
  *outcome = NULL;
  const char *p[TSR_CALIB_N_KINDS];
  gboolean any = FALSE;
  for (guint k = 0; k < TSR_CALIB_N_KINDS; k++)
    {
      p[k] = paths[k];
      any |= p[k] != NULL;
    }
  if (!any)
    return TRUE;
  tsr_window_job_progress_cb (N_("Calibration masters"), 0, 0, progress_data);
  g_autoptr (TsrCalib) c = tsr_calib_plan (p, s, &params->calib, cancellable, error);
  if (!c)
    return FALSE;
  if (tsr_calib_is_empty (c))
    return TRUE;
  if (!tsr_calib_build (c, &params->run, tsr_window_job_progress_cb, progress_data, cancellable, error))
    return FALSE;
  TsrCalibOutcome *o = g_new0 (TsrCalibOutcome, 1);
  for (guint k = 0; k < TSR_CALIB_N_KINDS; k++)
    {
      o->paths[k] = g_strdup (paths[k]);
      TsrImage *m = tsr_calib_master (c, k);
      if (!m)
        continue;
      o->masters[k] = tsr_image_ref (m);
      o->stats[k] = master_stats (m, k, tsr_calib_n_bad_pixels (c));
      o->surfaces[k] = tsr_window_render_display (m);
    }
  const GPtrArray *notes = tsr_calib_notes (c);
  GString *ns = g_string_new (NULL);
  for (guint i = 0; i < notes->len; i++)
    g_string_append_printf (ns, "%s%s", i ? "\n" : "", (const char *) notes->pdata[i]);
  o->notes = g_string_free (ns, FALSE);
  o->n_bad = tsr_calib_n_bad_pixels (c);
  tsr_calib_attach (g_steal_pointer (&c), s);
  *outcome = o;
  return TRUE;
}

/* ---------------------------------------------------------------- the section */

static void
preview_draw (GtkDrawingArea *area, cairo_t *cr, int w, int h, gpointer data)
{
  TsrWindow *self = data;
  int k = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (area), "kind"));
  cairo_set_source_rgb (cr, 0.12, 0.12, 0.13);
  cairo_paint (cr);
  cairo_surface_t *s = self->calib ? self->calib->surfaces[k] : NULL;
  if (!s)
    return;
  int sw = cairo_image_surface_get_width (s), sh = cairo_image_surface_get_height (s);
  double z = MIN ((double) w / sw, (double) h / sh);
  cairo_translate (cr, (w - sw * z) / 2, (h - sh * z) / 2);
  cairo_scale (cr, z, z);
  cairo_set_source_surface (cr, s, 0, 0);
  cairo_pattern_set_filter (cairo_get_source (cr), CAIRO_FILTER_GOOD);
  cairo_paint (cr);
}

/* A click on a master's thumbnail: the master larger, in a popover beside it. */
gboolean
tsr_window_show_calib_master (TsrWindow *self, int k)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self) && (guint) k < TSR_CALIB_N_KINDS, FALSE);
  if (!self->calib_ui || !self->calib || !self->calib->surfaces[k])
    return FALSE;
  GtkWidget *thumb = self->calib_ui->preview[k];
  GtkWidget *pop = self->calib_ui->popover[k];
  if (!pop)
    {
      pop = gtk_popover_new ();
      GtkWidget *big = gtk_drawing_area_new ();
      g_object_set_data (G_OBJECT (big), "kind", GINT_TO_POINTER (k));
      gtk_drawing_area_set_content_width (GTK_DRAWING_AREA (big), 480);
      gtk_drawing_area_set_content_height (GTK_DRAWING_AREA (big), 360);
      gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (big), preview_draw, self, NULL);
      gtk_popover_set_child (GTK_POPOVER (pop), big);
      gtk_widget_set_parent (pop, thumb);
      self->calib_ui->popover[k] = pop;
    }
  gtk_widget_queue_draw (gtk_popover_get_child (GTK_POPOVER (pop)));
  gtk_popover_popup (GTK_POPOVER (pop));
  return TRUE;
}

static void
on_preview_pressed (GtkGestureClick *g, int n, double x, double y, TsrWindow *self)
{
  GtkWidget *thumb = gtk_event_controller_get_widget (GTK_EVENT_CONTROLLER (g));
  tsr_window_show_calib_master (self, GPOINTER_TO_INT (g_object_get_data (G_OBJECT (thumb), "kind")));
}

void
tsr_window_calib_update (TsrWindow *self)
{
  TsrCalibUi *ui = self->calib_ui;
  if (!ui)
    return;
  for (guint k = 0; k < TSR_CALIB_N_KINDS; k++)
    {
      const char *p = self->calib_paths[k];
      g_autofree char *base = p ? g_path_get_basename (p) : NULL;
      gtk_label_set_text (GTK_LABEL (ui->path_label[k]), base ? base : _("none"));
      gtk_widget_set_tooltip_text (ui->path_label[k], p ? p : _("No frames of this kind: choose a folder of frames or a master file"));
      gtk_widget_set_sensitive (ui->clear[k], p != NULL);
      /* statistics only for what the shown analysis was calibrated with */
      const char *stats = NULL;
      if (self->calib && g_strcmp0 (self->calib->paths[k], p) == 0)
        stats = self->calib->stats[k];
      else if (p)
        stats = self->paths ? _("applied when the session is analysed again (now)") : _("applied when a session is opened");
      gtk_label_set_text (GTK_LABEL (ui->stats_label[k]), stats ? stats : "");
      gtk_widget_set_visible (ui->stats_label[k], stats != NULL);
      gtk_widget_set_visible (ui->preview[k], self->calib && self->calib->surfaces[k] && stats == self->calib->stats[k]);
      gtk_widget_queue_draw (ui->preview[k]);
    }
  const char *notes = self->calib && self->calib->notes && *self->calib->notes ? self->calib->notes : NULL;
  gtk_label_set_text (GTK_LABEL (ui->notes), notes ? notes : "");
  gtk_widget_set_visible (ui->notes, notes != NULL);
}

gboolean
tsr_window_set_calib (TsrWindow *self, int kind, const char *path)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self) && (guint) kind < TSR_CALIB_N_KINDS, FALSE);
  if (g_strcmp0 (self->calib_paths[kind], path) == 0)
    return FALSE;
  g_free (self->calib_paths[kind]);
  self->calib_paths[kind] = path && *path ? g_canonicalize_filename (path, NULL) : NULL;
  self->project_dirty = TRUE;
  tsr_window_calib_update (self);
  /* the shown session is analysed again with the new calibration: nothing of the old one
   * (its weights, preview, result) stays as if it were calibrated */
  if (self->paths && !tsr_window_planetary_active (self))
    tsr_window_open_paths (self, (const char *const *) self->paths);
  return TRUE;
}

const char *
tsr_window_get_calib_stats (TsrWindow *self, int kind)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self) && (guint) kind < TSR_CALIB_N_KINDS, NULL);
  return self->calib ? self->calib->stats[kind] : NULL;
}

const TsrImage *
tsr_window_get_calib_master (TsrWindow *self, int kind)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self) && (guint) kind < TSR_CALIB_N_KINDS, NULL);
  return self->calib ? self->calib->masters[kind] : NULL;
}

static void
chooser_response (GtkNativeDialog *dialog, int response, TsrWindow *self)
{
  TsrCalibUi *ui = self->calib_ui;
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = file ? g_file_get_path (file) : NULL;
      if (path)
        tsr_window_set_calib (self, ui->choosing, path);
    }
  g_clear_object (&ui->chooser);
}

static void
choose (TsrWindow *self, TsrCalibKind k, gboolean folder)
{
  TsrCalibUi *ui = self->calib_ui;
  if (ui->chooser)
    gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (ui->chooser));
  g_clear_object (&ui->chooser);
  g_autofree char *title = g_strdup_printf (folder ? _("%s: Folder of Frames") : _("%s: Master File"), kind_label (k));
  ui->chooser = gtk_file_chooser_native_new (title, GTK_WINDOW (self),
                                             folder ? GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER : GTK_FILE_CHOOSER_ACTION_OPEN,
                                             _("_Choose"), _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (ui->chooser), TRUE);
  const char *cur = self->calib_paths[k] ? self->calib_paths[k] : self->paths ? self->paths[0] : NULL;
  if (cur)
    {
      g_autofree char *dir = g_path_get_dirname (cur);
      g_autoptr (GFile) d = g_file_new_for_path (dir);
      gtk_file_chooser_set_current_folder (GTK_FILE_CHOOSER (ui->chooser), d, NULL);
    }
  if (!folder)
    {
      GtkFileFilter *f = gtk_file_filter_new ();
      gtk_file_filter_set_name (f, _("FITS masters"));
      const char *pats[] = { "*.fit", "*.fits", "*.fts", "*.fz", "*.FIT", "*.FITS", "*.FTS" };
      for (guint i = 0; i < G_N_ELEMENTS (pats); i++)
        gtk_file_filter_add_pattern (f, pats[i]);
      gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (ui->chooser), f);
      g_object_unref (f);
    }
  ui->choosing = k;
  g_signal_connect (ui->chooser, "response", G_CALLBACK (chooser_response), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (ui->chooser));
}

static void
on_folder_clicked (GtkButton *b, TsrWindow *self)
{
  choose (self, GPOINTER_TO_INT (g_object_get_data (G_OBJECT (b), "kind")), TRUE);
}

static void
on_master_clicked (GtkButton *b, TsrWindow *self)
{
  choose (self, GPOINTER_TO_INT (g_object_get_data (G_OBJECT (b), "kind")), FALSE);
}

static void
on_clear_clicked (GtkButton *b, TsrWindow *self)
{
  tsr_window_set_calib (self, GPOINTER_TO_INT (g_object_get_data (G_OBJECT (b), "kind")), NULL);
}

void
tsr_window_calib_init (TsrWindow *self)
{
  TsrCalibUi *ui = g_new0 (TsrCalibUi, 1);
  self->calib_ui = ui;
  /* the widgets come from the template (ui/tsr-calib-panel.ui, placed by ui/tsr-window.ui);
   * their behaviour is here */
  TsrCalibPanel *panel = TSR_CALIB_PANEL (self->calib_panel);
  for (guint k = 0; k < TSR_CALIB_N_KINDS; k++)
    {
      ui->path_label[k] = tsr_calib_panel_get (panel, k, TSR_CALIB_PANEL_PATH);
      ui->stats_label[k] = tsr_calib_panel_get (panel, k, TSR_CALIB_PANEL_STATS);
      ui->preview[k] = tsr_calib_panel_get (panel, k, TSR_CALIB_PANEL_PREVIEW);
      ui->clear[k] = tsr_calib_panel_get (panel, k, TSR_CALIB_PANEL_CLEAR);
      GtkWidget *bs[] = { tsr_calib_panel_get (panel, k, TSR_CALIB_PANEL_FOLDER),
                          tsr_calib_panel_get (panel, k, TSR_CALIB_PANEL_MASTER), ui->clear[k] };
      GCallback cbs[] = { G_CALLBACK (on_folder_clicked), G_CALLBACK (on_master_clicked), G_CALLBACK (on_clear_clicked) };
      for (guint i = 0; i < 3; i++)
        {
          g_object_set_data (G_OBJECT (bs[i]), "kind", GINT_TO_POINTER (k));
          g_signal_connect (bs[i], "clicked", cbs[i], self);
        }
      g_object_set_data (G_OBJECT (ui->preview[k]), "kind", GINT_TO_POINTER (k));
      gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (ui->preview[k]), preview_draw, self, NULL);
      GtkGesture *click = gtk_gesture_click_new ();
      g_signal_connect (click, "pressed", G_CALLBACK (on_preview_pressed), self);
      gtk_widget_add_controller (ui->preview[k], GTK_EVENT_CONTROLLER (click));
    }
  ui->notes = tsr_calib_panel_get_notes (panel);
  tsr_window_calib_update (self);
}

void
tsr_window_calib_dispose (TsrWindow *self)
{
  TsrCalibUi *ui = self->calib_ui;
  for (guint k = 0; ui && k < TSR_CALIB_N_KINDS; k++)
    if (ui->popover[k])
      {
        gtk_popover_popdown (GTK_POPOVER (ui->popover[k])); /* an open one, closed first */
        gtk_widget_unparent (ui->popover[k]);
        ui->popover[k] = NULL;
      }
  if (ui && ui->chooser)
    {
      gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (ui->chooser));
      g_clear_object (&ui->chooser);
    }
}

void
tsr_window_calib_finalize (TsrWindow *self)
{
  g_clear_pointer (&self->calib_ui, g_free);
  g_clear_pointer (&self->calib, tsr_calib_outcome_free);
}
