/* tsr-window-files.c — what the window reads and writes: opening sessions (chooser, drag and
 * drop, the command line), .tessera projects, the recent-sessions menu, export of the result
 * (FITS, TIFF 16/32-bit, PNG) and of the report folder, and the remembered settings (window
 * size, last folder, recent sessions). Without the GSettings schema everything works and
 * nothing is remembered. */
#include "tsr-config.h"
#include <errno.h>
#include <string.h>
#include <glib/gi18n.h>
#include "tsr-window-private.h"
#include "tsr-settings.h"

#define MAX_RECENT 10

/* ---------------------------------------------------------------- settings */

static void
remember_folder (TsrWindow *self, const char *path)
{
  /* the folder that holds the session folder or the file: where the next chooser opens */
  g_autofree char *dir = g_path_get_dirname (path);
  g_free (self->last_folder);
  self->last_folder = g_steal_pointer (&dir);
  if (self->settings)
    g_settings_set_string (self->settings, "last-folder", self->last_folder);
}

static void
set_chooser_folder (TsrWindow *self, GtkFileChooser *chooser)
{
  if (!self->last_folder || !*self->last_folder || !g_file_test (self->last_folder, G_FILE_TEST_IS_DIR))
    return;
  g_autoptr (GFile) dir = g_file_new_for_path (self->last_folder);
  gtk_file_chooser_set_current_folder (chooser, dir, NULL);
}

static void
close_dialog_response (GtkDialog *dialog, int response, TsrWindow *self)
{
  gtk_window_destroy (GTK_WINDOW (dialog));
  self->close_dialog = NULL;
  if (response == GTK_RESPONSE_ACCEPT)
    {
      if (self->project_path)
        {
          GError *error = NULL;
          if (!tsr_window_save_project (self, self->project_path, &error))
            {
              tsr_window_show_error_text (self, error->message);
              g_error_free (error);
              return;
            }
        }
      else
        {
          /* no file yet: the Save Project dialog; the window stays */
          gtk_widget_activate_action (GTK_WIDGET (self), "win.save-project", NULL);
          return;
        }
    }
  else if (response != GTK_RESPONSE_REJECT)
    return;   /* Cancel, or the question closed: the window stays */
  self->close_confirmed = TRUE;
  gtk_window_close (GTK_WINDOW (self));
}

/* Quit (or closing the window) asks when the project changed since it was opened or saved. */
static gboolean
ask_before_close (TsrWindow *self)
{
  if (self->close_confirmed || !self->project_dirty || !self->paths)
    return FALSE;
  if (!self->close_dialog)
    {
      g_autofree char *name = self->project_path ? g_path_get_basename (self->project_path) : NULL;
      GtkWidget *d = gtk_message_dialog_new (GTK_WINDOW (self), GTK_DIALOG_MODAL | GTK_DIALOG_DESTROY_WITH_PARENT,
                                             GTK_MESSAGE_QUESTION, GTK_BUTTONS_NONE,
                                             name ? _("Save the changes to %s?") : _("Save the session as a project?"),
                                             name);
      gtk_message_dialog_format_secondary_text (GTK_MESSAGE_DIALOG (d), "%s",
                                                _("The parameters, the frames used or the calibration changed "
                                                  "since the project was opened or saved; they are lost otherwise."));
      gtk_dialog_add_buttons (GTK_DIALOG (d), _("_Cancel"), GTK_RESPONSE_CANCEL, _("_Discard Changes"),
                              GTK_RESPONSE_REJECT, name ? _("_Save") : _("_Save Project…"), GTK_RESPONSE_ACCEPT, NULL);
      gtk_dialog_set_default_response (GTK_DIALOG (d), GTK_RESPONSE_ACCEPT);
      g_signal_connect (d, "response", G_CALLBACK (close_dialog_response), self);
      self->close_dialog = d;
      gtk_window_present (GTK_WINDOW (d));
    }
  return TRUE;
}

gboolean
tsr_window_is_dirty (TsrWindow *self)
{
  return self->project_dirty;
}

GtkWidget *
tsr_window_get_close_dialog (TsrWindow *self)
{
  return self->close_dialog;
}

static gboolean
on_close_request (GtkWindow *win, gpointer data)
{
  TsrWindow *self = TSR_WINDOW (win);
  if (ask_before_close (self))
    return TRUE;
  if (self->settings)
    {
      int w, h;
      gtk_window_get_default_size (win, &w, &h);
      gboolean maximized = gtk_window_is_maximized (win);
      g_settings_set_boolean (self->settings, "window-maximized", maximized);
      if (!maximized && w > 0 && h > 0)
        {
          g_settings_set_int (self->settings, "window-width", w);
          g_settings_set_int (self->settings, "window-height", h);
        }
    }
  return FALSE;
}

/* ---------------------------------------------------------------- recent sessions */

static void
rebuild_recent_menu (TsrWindow *self)
{
  g_menu_remove_all (self->recent_menu);
  for (guint i = 0; self->recent && self->recent[i]; i++)
    {
      g_autofree char *base = g_path_get_basename (self->recent[i]);
      g_autofree char *parent = g_path_get_dirname (self->recent[i]);
      g_autofree char *pbase = g_path_get_basename (parent);
      g_autofree char *label = g_strdup_printf ("%s — %s", base, pbase);
      GMenuItem *item = g_menu_item_new (label, NULL);
      g_menu_item_set_action_and_target_value (item, "win.open-recent", g_variant_new_string (self->recent[i]));
      g_menu_append_item (self->recent_menu, item);
      g_object_unref (item);
    }
  GAction *clear = g_action_map_lookup_action (G_ACTION_MAP (self), "clear-recent");
  if (clear)
    g_simple_action_set_enabled (G_SIMPLE_ACTION (clear), self->recent && self->recent[0]);
}

static void
add_recent (TsrWindow *self, const char *path)
{
  g_autofree char *abs = g_canonicalize_filename (path, NULL);
  GPtrArray *list = g_ptr_array_new ();
  g_ptr_array_add (list, g_strdup (abs));
  for (guint i = 0; self->recent && self->recent[i] && list->len < MAX_RECENT; i++)
    if (strcmp (self->recent[i], abs) != 0)
      g_ptr_array_add (list, g_strdup (self->recent[i]));
  g_ptr_array_add (list, NULL);
  g_strfreev (self->recent);
  self->recent = (char **) g_ptr_array_free (list, FALSE);
  if (self->settings)
    g_settings_set_strv (self->settings, "recent-sessions", (const char *const *) self->recent);
  rebuild_recent_menu (self);
}

void
tsr_window_session_opened (TsrWindow *self)
{
  if (self->project_path)
    add_recent (self, self->project_path);
  else if (self->paths && self->paths[0] && !self->paths[1])
    add_recent (self, self->paths[0]);
  if (self->paths && self->paths[0])
    remember_folder (self, self->paths[0]);
}

const char *const *
tsr_window_get_recent (TsrWindow *self)
{
  static const char *const none[] = { NULL };
  return self->recent ? (const char *const *) self->recent : none;
}

static gboolean
is_project_name (const char *path)
{
  g_autofree char *lower = g_ascii_strdown (path, -1);
  return g_str_has_suffix (lower, ".tessera");
}

static void
open_path (TsrWindow *self, const char *path)
{
  if (is_project_name (path))
    {
      GError *error = NULL;
      if (!tsr_window_open_project (self, path, &error))
        {
          tsr_window_show_error_text (self, error->message);
          g_error_free (error);
        }
    }
  else
    {
      /* the calibration inputs stay: they are the panel's (a project replaces them) */
      g_clear_pointer (&self->project_path, g_free);
      tsr_window_open_session (self, path);
    }
}

static void
open_recent_activated (GSimpleAction *action, GVariant *param, gpointer data)
{
  TsrWindow *self = data;
  const char *path = g_variant_get_string (param, NULL);
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_autofree char *msg = g_strdup_printf (_("%s no longer exists: removed from the recent sessions"), path);
      tsr_window_show_error_text (self, msg);
      GPtrArray *list = g_ptr_array_new ();
      for (guint i = 0; self->recent && self->recent[i]; i++)
        if (strcmp (self->recent[i], path) != 0)
          g_ptr_array_add (list, g_strdup (self->recent[i]));
      g_ptr_array_add (list, NULL);
      g_strfreev (self->recent);
      self->recent = (char **) g_ptr_array_free (list, FALSE);
      if (self->settings)
        g_settings_set_strv (self->settings, "recent-sessions", (const char *const *) self->recent);
      rebuild_recent_menu (self);
      return;
    }
  open_path (self, path);
}

static void
clear_recent_activated (GSimpleAction *action, GVariant *param, gpointer data)
{
  TsrWindow *self = data;
  g_strfreev (self->recent);
  self->recent = NULL;
  if (self->settings)
    g_settings_set_strv (self->settings, "recent-sessions", NULL);
  rebuild_recent_menu (self);
}

/* ---------------------------------------------------------------- open: chooser, drop, command line */

gboolean
tsr_window_open_files (TsrWindow *self, GFile **files, guint n_files)
{
  g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < n_files; i++)
    {
      char *p = g_file_get_path (files[i]);
      if (p)
        g_ptr_array_add (paths, p);
    }
  if (paths->len == 0)
    {
      tsr_window_show_error_text (self, _("Only local folders and files can be opened"));
      return FALSE;
    }
  if (paths->len == 1)
    {
      open_path (self, paths->pdata[0]);
      return TRUE;
    }
  for (guint i = 0; i < paths->len; i++)
    if (is_project_name (paths->pdata[i]))
      {
        tsr_window_show_error_text (self, _("Drop one project (.tessera) at a time, without other files"));
        return FALSE;
      }
  g_ptr_array_add (paths, NULL);
  g_clear_pointer (&self->project_path, g_free);
  tsr_window_open_paths (self, (const char *const *) paths->pdata);
  return TRUE;
}

static gboolean
on_drop (GtkDropTarget *target, const GValue *value, double x, double y, TsrWindow *self)
{
  if (!G_VALUE_HOLDS (value, GDK_TYPE_FILE_LIST))
    return FALSE;
  GSList *list = gdk_file_list_get_files (g_value_get_boxed (value));
  guint n = g_slist_length (list);
  GFile **files = g_new0 (GFile *, MAX (n, 1u));
  guint i = 0;
  for (GSList *l = list; l; l = l->next)
    files[i++] = l->data;
  gboolean ok = n > 0 && tsr_window_open_files (self, files, n);
  g_free (files);
  g_slist_free (list);
  return ok;
}

GtkDropTarget *
tsr_window_get_drop_target (TsrWindow *self)
{
  return self->drop_target;
}

static void
open_response (GtkNativeDialog *dialog, int response, TsrWindow *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      const char *rec = gtk_file_chooser_get_choice (GTK_FILE_CHOOSER (dialog), "recursive");
      if (rec)
        self->open_recursive = g_strcmp0 (rec, "true") == 0;
      /* one folder or file, or several (folders of several nights, files): one session */
      GListModel *files = gtk_file_chooser_get_files (GTK_FILE_CHOOSER (dialog));
      guint n = files ? g_list_model_get_n_items (files) : 0;
      g_autofree GFile **v = g_new0 (GFile *, n + 1);
      for (guint i = 0; i < n; i++)
        v[i] = g_list_model_get_item (files, i);
      if (n > 0)
        tsr_window_open_files (self, v, n);
      for (guint i = 0; i < n; i++)
        g_object_unref (v[i]);
      g_clear_object (&files);
    }
  g_clear_object (&self->chooser);
}

static GtkFileFilter *
fits_filter (void)
{
  GtkFileFilter *f = gtk_file_filter_new ();
  gtk_file_filter_set_name (f, _("FITS frames"));
  const char *pats[] = { "*.fit", "*.fits", "*.fts", "*.fz", "*.FIT", "*.FITS", "*.FTS", "*.FZ" };
  for (guint i = 0; i < G_N_ELEMENTS (pats); i++)
    gtk_file_filter_add_pattern (f, pats[i]);
  return f;
}

static GtkFileChooserNative *
new_chooser (TsrWindow *self, const char *title, GtkFileChooserAction action, const char *accept)
{
  if (self->chooser)
    gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (self->chooser));
  g_clear_object (&self->chooser);
  self->chooser = gtk_file_chooser_native_new (title, GTK_WINDOW (self), action, accept, _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (self->chooser), TRUE);
  set_chooser_folder (self, GTK_FILE_CHOOSER (self->chooser));
  return self->chooser;
}

static void
open_activated (GSimpleAction *action, GVariant *param, gpointer data)
{
  TsrWindow *self = data;
  GtkFileChooserNative *c = new_chooser (self, _("Open Session Folders"), GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                                         _("_Open"));
  gtk_file_chooser_set_select_multiple (GTK_FILE_CHOOSER (c), TRUE);
  gtk_file_chooser_add_choice (GTK_FILE_CHOOSER (c), "recursive", _("Include subfolders"), NULL, NULL);
  gtk_file_chooser_set_choice (GTK_FILE_CHOOSER (c), "recursive", self->open_recursive ? "true" : "false");
  g_signal_connect (c, "response", G_CALLBACK (open_response), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (c));
}

static void
open_frames_activated (GSimpleAction *action, GVariant *param, gpointer data)
{
  TsrWindow *self = data;
  GtkFileChooserNative *c = new_chooser (self, _("Open Frames"), GTK_FILE_CHOOSER_ACTION_OPEN, _("_Open"));
  gtk_file_chooser_set_select_multiple (GTK_FILE_CHOOSER (c), TRUE);
  GtkFileFilter *f = fits_filter ();
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (c), f);
  g_object_unref (f);
  g_signal_connect (c, "response", G_CALLBACK (open_response), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (c));
}

static GtkFileFilter *
project_filter (void)
{
  GtkFileFilter *f = gtk_file_filter_new ();
  gtk_file_filter_set_name (f, _("Tessera projects"));
  gtk_file_filter_add_pattern (f, "*.tessera");
  return f;
}

static void
open_project_activated (GSimpleAction *action, GVariant *param, gpointer data)
{
  TsrWindow *self = data;
  GtkFileChooserNative *c = new_chooser (self, _("Open Project"), GTK_FILE_CHOOSER_ACTION_OPEN, _("_Open"));
  GtkFileFilter *f = project_filter ();
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (c), f);
  g_object_unref (f);
  g_signal_connect (c, "response", G_CALLBACK (open_response), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (c));
}

/* ---------------------------------------------------------------- projects */

gboolean
tsr_window_save_project (TsrWindow *self, const char *path, GError **error)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self) && path, FALSE);
  /* the frame choices of the session shown (none of another session's frames) */
  g_auto (TsrFrameChoices) frames = { NULL, NULL };
  if (self->session && self->analysis)
    {
      GPtrArray *lists[2] = { g_ptr_array_new (), g_ptr_array_new () };
      for (guint f = 0; f < tsr_session_n_frames (self->session); f++)
        {
          TsrFrameChoice c = tsr_window_get_frame_choice (self, f);
          if (c != TSR_FRAME_AUTO)
            g_ptr_array_add (lists[c == TSR_FRAME_EXCLUDE],
                             g_canonicalize_filename (tsr_session_frame (self->session, f)->path, NULL));
        }
      for (int l = 0; l < 2; l++)
        {
          g_ptr_array_add (lists[l], NULL);
          char **v = (char **) g_ptr_array_free (lists[l], FALSE);
          if (!v[0])
            g_clear_pointer (&v, g_strfreev);
          if (l == 0)
            frames.include = v;
          else
            frames.exclude = v;
        }
    }
  /* the sky-sample edits (in the pixels of the result they were made on) */
  const GArray *sadd = NULL, *sexcl = NULL;
  int swidth = 0;
  tsr_window_get_bg_edits (self, &sadd, &sexcl, &swidth);
  TsrSampleEdits samples = { swidth, (GArray *) sadd, (GArray *) sexcl };
  if (!tsr_project_save_ext (path, &self->params, (const char *const *) self->paths, &frames,
                             (const char *const *) self->calib_paths, &samples, error))
    return FALSE;
  g_free (self->project_path);
  self->project_path = g_canonicalize_filename (path, NULL);
  add_recent (self, self->project_path);
  remember_folder (self, self->project_path);
  self->project_dirty = FALSE;
  g_autofree char *msg = g_strdup_printf (_("Saved the project %s"), path);
  tsr_window_set_status_text (self, msg);
  return TRUE;
}

gboolean
tsr_window_open_project (TsrWindow *self, const char *path, GError **error)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self) && path, FALSE);
  TsrProject p;
  g_auto (GStrv) paths = NULL;
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_auto (TsrFrameChoices) frames = { NULL, NULL };
  char *calib[TSR_CALIB_N_KINDS] = { NULL };
  g_auto (TsrSampleEdits) samples = { 0, NULL, NULL };
  if (!tsr_project_load_ext (path, &p, &paths, &frames, calib, &samples, warnings, error))
    return FALSE;
  /* The calibration inputs: applied by the analysis the project starts, saved back. */
  for (guint k = 0; k < TSR_CALIB_N_KINDS; k++)
    {
      g_free (self->calib_paths[k]);
      self->calib_paths[k] = calib[k];
    }
  tsr_window_calib_update (self);
  /* the machine's resources stay this machine's */
  p.run.n_threads = self->params.run.n_threads;
  p.run.memory_budget_mb = self->params.run.memory_budget_mb;
  self->params = p;
  g_autofree char *threads = g_strdup_printf ("%u", p.run.n_threads);
  tsr_project_set (&self->params, "run.threads", threads, NULL);   /* re-derives the registration's resources */
  tsr_window_sync_params (self);
  g_free (self->project_path);
  self->project_path = g_canonicalize_filename (path, NULL);
  remember_folder (self, self->project_path);
  if (paths && paths[0])
    {
      /* relative session paths are relative to the project file */
      g_autofree char *dir = g_path_get_dirname (self->project_path);
      for (guint i = 0; paths[i]; i++)
        if (!g_path_is_absolute (paths[i]))
          {
            char *abs = g_build_filename (dir, paths[i], NULL);
            g_free (paths[i]);
            paths[i] = abs;
          }
      /* the project's frame choices come with its session, when that is open */
      if (self->open_choices)
        tsr_frame_choices_clear (self->open_choices);
      else
        self->open_choices = g_new0 (TsrFrameChoices, 1);
      *self->open_choices = frames;
      frames.include = frames.exclude = NULL;
      /* and its sky-sample edits, installed when the analysis is done */
      if (self->open_samples)
        tsr_sample_edits_clear (self->open_samples);
      else
        self->open_samples = g_new0 (TsrSampleEdits, 1);
      *self->open_samples = samples;
      samples.add = samples.exclude = NULL;
      samples.width = 0;
      tsr_window_open_paths (self, (const char *const *) paths);
    }
  else
    {
      add_recent (self, self->project_path);
      g_autofree char *msg = g_strdup_printf (_("Opened the project %s (it names no session: open one)"), path);
      tsr_window_set_status_text (self, msg);
    }
  if (warnings->len > 0)
    {
      GString *s = g_string_new (NULL);
      for (guint i = 0; i < warnings->len; i++)
        g_string_append_printf (s, "%s%s", i ? "\n" : "", (const char *) warnings->pdata[i]);
      gtk_label_set_text (GTK_LABEL (self->param_note), s->str);
      g_string_free (s, TRUE);
    }
  self->project_dirty = FALSE;
  self->close_confirmed = FALSE;
  return TRUE;
}

static void
save_project_response (GtkNativeDialog *dialog, int response, TsrWindow *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = file ? g_file_get_path (file) : NULL;
      if (path && !is_project_name (path))
        {
          char *p2 = g_strconcat (path, ".tessera", NULL);
          g_free (path);
          path = p2;
        }
      GError *error = NULL;
      if (path && !tsr_window_save_project (self, path, &error))
        {
          tsr_window_show_error_text (self, error->message);
          g_error_free (error);
        }
    }
  g_clear_object (&self->chooser);
}

static void
save_project_activated (GSimpleAction *action, GVariant *param, gpointer data)
{
  TsrWindow *self = data;
  GtkFileChooserNative *c = new_chooser (self, _("Save Project"), GTK_FILE_CHOOSER_ACTION_SAVE, _("_Save"));
  g_autofree char *name = NULL;
  if (self->project_path)
    name = g_path_get_basename (self->project_path);
  else if (self->paths && self->paths[0])
    {
      g_autofree char *base = g_path_get_basename (self->paths[0]);
      name = g_strconcat (base, ".tessera", NULL);
    }
  gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (c), name ? name : "session.tessera");
  GtkFileFilter *f = project_filter ();
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (c), f);
  g_object_unref (f);
  g_signal_connect (c, "response", G_CALLBACK (save_project_response), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (c));
}

/* ---------------------------------------------------------------- export */

typedef struct
{
  char *path;
  TsrImage *img;
  TsrExportFormat format;
  gboolean deconvolved;       /* the deconvolved image (the view), not the TBQR result */
  gboolean corrected;         /* the result after background extraction / colour calibration */
  /* report */
  TsrAnalysis *analysis;
  TsrWeights *weights;
  TsrImage *result, *mean;
  TsrValidation validation;
  gboolean have_recon;
} ExportData;

static void
export_data_free (gpointer data)
{
  ExportData *e = data;
  g_free (e->path);
  g_clear_pointer (&e->img, tsr_image_unref);
  g_clear_pointer (&e->analysis, tsr_analysis_unref);
  g_clear_pointer (&e->weights, tsr_weights_unref);
  g_clear_pointer (&e->result, tsr_image_unref);
  g_clear_pointer (&e->mean, tsr_image_unref);
  g_free (e);
}

static void
export_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  ExportData *e = task_data;
  GError *error = NULL;
  gboolean ok = FALSE;
  switch (e->format)
    {
    case TSR_EXPORT_FITS:
      ok = tsr_fits_write (e->path, e->img, NULL, &error);
      break;
    case TSR_EXPORT_TIFF32:
      ok = tsr_tiff_write (e->path, e->img, TSR_TIFF_FLOAT32, &error);
      break;
    case TSR_EXPORT_TIFF16:
      ok = tsr_tiff_write (e->path, e->img, TSR_TIFF_UINT16, &error);
      break;
    case TSR_EXPORT_PNG:
      ok = tsr_write_png_preview (e->img, e->path, 0, &error);
      break;
    }
  if (ok)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
report_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  ExportData *e = task_data;
  GError *error = NULL;
  /* a shallow reconstruction holding references to the window's images */
  TsrReconstruction r = { 0 };
  r.result = e->result;
  r.mean = e->mean;
  r.validation = e->validation;
  if (g_mkdir_with_parents (e->path, 0755) != 0)
    {
      int errsv = errno;
      g_task_return_new_error (task, TSR_ERROR, TSR_ERROR_IO, _("cannot create the folder %s: %s"), e->path,
                               g_strerror (errsv));
      return;
    }
  if (tsr_report_write (e->path, e->analysis, e->weights, e->have_recon ? &r : NULL, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

TSR_TIMED_CALLBACK (export_done)

static void
export_done_impl (GObject *source, GAsyncResult *res, gpointer data)
{
  TsrWindow *self = TSR_WINDOW (source);
  GError *error = NULL;
  ExportData *e = g_task_get_task_data (G_TASK (res));
  self->export_workers--;
  if (self->disposed)
    return;
  if (!g_task_propagate_boolean (G_TASK (res), &error))
    {
      tsr_window_show_error_text (self, error->message);
      g_error_free (error);
      return;
    }
  g_autofree char *msg = NULL;
  if (e->analysis)
    msg = g_strdup_printf (_("Wrote the report to %s"), e->path);
  else if (e->format == TSR_EXPORT_PNG)
    msg = g_strdup_printf (_("Wrote a stretched preview (display only) to %s"), e->path);
  else if (e->deconvolved && e->format == TSR_EXPORT_TIFF16)
    msg = g_strdup_printf (_("Wrote the linear deconvolved image as 16-bit TIFF to %s"), e->path);
  else if (e->deconvolved)
    msg = g_strdup_printf (_("Wrote the linear deconvolved image to %s"), e->path);
  else if (e->corrected)
    msg = g_strdup_printf (_("Wrote the linear result with background extraction / colour calibration (see its FITS "
                             "HISTORY) to %s"), e->path);
  else if (e->format == TSR_EXPORT_TIFF16)
    msg = g_strdup_printf (_("Wrote the linear result as 16-bit TIFF to %s"), e->path);
  else
    msg = g_strdup_printf (_("Wrote the linear result to %s"), e->path);
  tsr_window_set_status_text (self, msg);
}

gboolean
tsr_window_export (TsrWindow *self, const char *path, TsrExportFormat format)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self) && path, FALSE);
  if (tsr_window_planetary_active (self))
    return tsr_window_planetary_export (self, path, format);   /* the sharpened stack */
  TsrImage *img = NULL;
  gboolean deconvolved = FALSE;
  if (tsr_window_get_show (self) == TSR_SHOW_RESTORED && self->restore_live_img)
    {
      /* what is shown is a snapshot of a network still training, not a result */
      tsr_window_set_status_text (self, _("The restoration is still training; export it when it has finished"));
      return FALSE;
    }
  if (tsr_window_get_show (self) == TSR_SHOW_DENOISED && self->denoise_img)
    img = self->denoise_img;
  else if (tsr_window_get_show (self) == TSR_SHOW_RESTORED && self->restore_img)
    img = self->restore_img;
  else if (tsr_window_get_show (self) == TSR_SHOW_DECONV && self->deconv_img)
    {
      img = self->deconv_img;
      deconvolved = TRUE;
    }
  else if (self->recon)
    img = self->recon->result;
  /* the view shows the corrected result: that is what is written */
  TsrImage *post = tsr_window_get_show (self) == TSR_SHOW_RESULT ? tsr_window_post_shown_result (self, NULL) : NULL;
  if (post)
    img = post;
  if (!img)
    return FALSE;
  ExportData *e = g_new0 (ExportData, 1);
  e->deconvolved = deconvolved;
  e->corrected = post != NULL;
  e->path = g_strdup (path);
  e->img = tsr_image_ref (img);
  e->format = format;
  self->export_workers++;
  GTask *task = g_task_new (self, NULL, export_done, NULL);
  g_task_set_task_data (task, e, export_data_free);
  g_task_set_name (task, "tessera-export");
  g_task_run_in_thread (task, export_thread);
  g_object_unref (task);
  return TRUE;
}

gboolean
tsr_window_export_report (TsrWindow *self, const char *dir)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self) && dir, FALSE);
  if (!self->analysis || !self->weights)
    return FALSE;
  ExportData *e = g_new0 (ExportData, 1);
  e->path = g_strdup (dir);
  e->analysis = tsr_analysis_ref (self->analysis);
  e->weights = tsr_weights_ref (self->weights);
  if (self->recon)
    {
      e->have_recon = TRUE;
      e->result = self->recon->result ? tsr_image_ref (self->recon->result) : NULL;
      e->mean = self->recon->mean ? tsr_image_ref (self->recon->mean) : NULL;
      e->validation = self->recon->validation;
    }
  self->export_workers++;
  GTask *task = g_task_new (self, NULL, export_done, NULL);
  g_task_set_task_data (task, e, export_data_free);
  g_task_set_name (task, "tessera-report");
  g_task_run_in_thread (task, report_thread);
  g_object_unref (task);
  return TRUE;
}

static const struct
{
  const char *id;
  const char *label;
  const char *ext;
} export_formats[] = {
  /* order: TsrExportFormat */
  { "fits", N_("FITS, 32-bit float (linear)"), ".fits" },
  { "tiff32", N_("TIFF, 32-bit float (linear)"), ".tif" },
  { "tiff16", N_("TIFF, 16-bit (linear, scaled to the full range)"), ".tif" },
  { "png", N_("PNG, 8-bit (display stretch)"), ".png" },
};

static gboolean
has_suffix_ci (const char *path, const char *const *suffixes)
{
  g_autofree char *lower = g_ascii_strdown (path, -1);
  for (guint i = 0; suffixes[i]; i++)
    if (g_str_has_suffix (lower, suffixes[i]))
      return TRUE;
  return FALSE;
}

static void
export_response (GtkNativeDialog *dialog, int response, TsrWindow *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = file ? g_file_get_path (file) : NULL;
      const char *choice = gtk_file_chooser_get_choice (GTK_FILE_CHOOSER (dialog), "format");
      TsrExportFormat fmt = TSR_EXPORT_FITS;
      for (guint i = 0; choice && i < G_N_ELEMENTS (export_formats); i++)
        if (strcmp (choice, export_formats[i].id) == 0)
          fmt = (TsrExportFormat) i;
      /* the name's extension wins when it names a format the choice did not */
      static const char *const fits_ext[] = { ".fits", ".fit", ".fts", NULL };
      static const char *const tiff_ext[] = { ".tif", ".tiff", NULL };
      static const char *const png_ext[] = { ".png", NULL };
      if (path && has_suffix_ci (path, png_ext))
        fmt = TSR_EXPORT_PNG;
      else if (path && has_suffix_ci (path, fits_ext))
        fmt = TSR_EXPORT_FITS;
      else if (path && has_suffix_ci (path, tiff_ext) && fmt != TSR_EXPORT_TIFF16)
        fmt = TSR_EXPORT_TIFF32;
      else if (path && !has_suffix_ci (path, tiff_ext))
        {
          char *p2 = g_strconcat (path, export_formats[fmt].ext, NULL);
          g_free (path);
          path = p2;
        }
      if (path)
        {
          remember_folder (self, path);
          tsr_window_export (self, path, fmt);
        }
    }
  g_clear_object (&self->chooser);
}

static void
export_activated (GSimpleAction *action, GVariant *param, gpointer data)
{
  TsrWindow *self = data;
  if (!self->recon && !self->deconv_img && !tsr_window_planetary_active (self))
    return;
  /* the name follows the view: the deconvolved image is not the result */
  gboolean dec = tsr_window_get_show (self) == TSR_SHOW_DECONV && self->deconv_img;
  /* … and so does the corrected result: result-bg, result-colour, result-bg-colour */
  gboolean post = tsr_window_get_show (self) == TSR_SHOW_RESULT && tsr_window_post_shown_result (self, NULL);
  const char *name = dec ? "deconvolved.fits"
                     : !post ? "result.fits"
                     : self->params.post.background && self->params.post.colour ? "result-bg-colour.fits"
                     : self->params.post.background ? "result-bg.fits" : "result-colour.fits";
  GtkFileChooserNative *c = new_chooser (self, dec ? _("Export Deconvolved Image")
                                               : post ? _("Export Corrected Result") : _("Export Result"),
                                         GTK_FILE_CHOOSER_ACTION_SAVE, _("_Export"));
  gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (c), name);
  const char *ids[G_N_ELEMENTS (export_formats) + 1];
  const char *labels[G_N_ELEMENTS (export_formats) + 1];
  for (guint i = 0; i < G_N_ELEMENTS (export_formats); i++)
    {
      ids[i] = export_formats[i].id;
      labels[i] = _(export_formats[i].label);
    }
  ids[G_N_ELEMENTS (export_formats)] = labels[G_N_ELEMENTS (export_formats)] = NULL;
  gtk_file_chooser_add_choice (GTK_FILE_CHOOSER (c), "format", _("Format"), ids, labels);
  gtk_file_chooser_set_choice (GTK_FILE_CHOOSER (c), "format", "fits");
  g_signal_connect (c, "response", G_CALLBACK (export_response), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (c));
}

static void
report_response (GtkNativeDialog *dialog, int response, TsrWindow *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = file ? g_file_get_path (file) : NULL;
      if (path)
        {
          remember_folder (self, path);
          tsr_window_export_report (self, path);
        }
    }
  g_clear_object (&self->chooser);
}

static void
export_report_activated (GSimpleAction *action, GVariant *param, gpointer data)
{
  TsrWindow *self = data;
  if (!self->analysis)
    return;
  GtkFileChooserNative *c = new_chooser (self, _("Export Report Folder"), GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                                         _("_Export"));
  g_signal_connect (c, "response", G_CALLBACK (report_response), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (c));
}

/* ---------------------------------------------------------------- setup */

static const GActionEntry file_entries[] = {
  { .name = "open", .activate = open_activated },
  { .name = "open-frames", .activate = open_frames_activated },
  { .name = "open-project", .activate = open_project_activated },
  { .name = "save-project", .activate = save_project_activated },
  { .name = "open-recent", .activate = open_recent_activated, .parameter_type = "s" },
  { .name = "clear-recent", .activate = clear_recent_activated },
  { .name = "export", .activate = export_activated },
  { .name = "export-report", .activate = export_report_activated },
};

void
tsr_window_files_init (TsrWindow *self)
{
  g_action_map_add_action_entries (G_ACTION_MAP (self), file_entries, G_N_ELEMENTS (file_entries), self);
  self->settings = tsr_settings_new ();
  int w = 1400, h = 900;
  if (self->settings)
    {
      self->recent = g_settings_get_strv (self->settings, "recent-sessions");
      if (self->recent && !self->recent[0])
        g_clear_pointer (&self->recent, g_strfreev);
      self->last_folder = g_settings_get_string (self->settings, "last-folder");
      w = g_settings_get_int (self->settings, "window-width");
      h = g_settings_get_int (self->settings, "window-height");
      if (g_settings_get_boolean (self->settings, "window-maximized"))
        gtk_window_maximize (GTK_WINDOW (self));
    }
  gtk_window_set_default_size (GTK_WINDOW (self), MAX (w, 800), MAX (h, 560));
  g_signal_connect (self, "close-request", G_CALLBACK (on_close_request), NULL);
  rebuild_recent_menu (self);

  self->drop_target = gtk_drop_target_new (GDK_TYPE_FILE_LIST, GDK_ACTION_COPY);
  g_signal_connect (self->drop_target, "drop", G_CALLBACK (on_drop), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (self->drop_target));
}

void
tsr_window_files_dispose (TsrWindow *self)
{
  if (self->chooser)
    gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (self->chooser));
  g_clear_object (&self->chooser);
}

void
tsr_window_files_finalize (TsrWindow *self)
{
  g_clear_object (&self->settings);
  g_strfreev (self->recent);
  g_free (self->last_folder);
}
