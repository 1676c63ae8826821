/* tsr-window-params.c — the parameter panel of the window: a preset selector with Reset to
 * Defaults, and controls for the parameters a user tunes while watching the weights.
 *
 * What a change does depends on the parameter's section:
 *   global.*, local.*, gate.*, cluster.*  — re-weigh in the background (milliseconds), then
 *                                           the live preview follows;
 *   tiles.*                               — the local metrics are measured again: the
 *                                           session is analysed again (with progress) once
 *                                           the value has rested for a moment;
 *   reject.*                              — the next run;
 *   deconv.*                              — the next deconvolution;
 *   run.*                                 — remembered in the settings, used by the next job. */
#include "tsr-config.h"
#include <string.h>
#include <glib/gi18n.h>
#include "tsr-window-private.h"
#include "tsr-param-group.h"

typedef struct
{
  const char *group;
  const char *keys[12];
} ParamGroup;

static const ParamGroup param_groups[] = {
  { N_("Global quality"), { "global.alpha", "global.beta", "global.gamma", "global.k", NULL } },
  { N_("Local quality"), { "local.mode", "local.p", "local.k", NULL } },
  /* every key the gate's rules read (docs/registration.md): the CC threshold, the
   * star confirmation that lifts the CC and shift rules, scale and shift */
  { N_("Registration gate"),
    { "gate.cc_min", "gate.cc_mad", "gate.cc_margin", "gate.trust_stars", "gate.scale_min", "gate.scale_max",
      "gate.shift_min", "gate.shift_mult", "gate.keep_gated", "register.min_matched", "register.tolerance", NULL } },
  { N_("Clusters"), { "cluster.mode", "cluster.kappa", NULL } },
  { N_("Tiles (measured again on change)"), { "tiles.s", NULL } },
  { N_("Rejection (next run)"), { "reject.mode", "reject.kappa", NULL } },
  /* Bayer drizzle (docs/tbqr.md): auto drizzles a dithered Bayer session of enough frames */
  { N_("Drizzle (next run)"), { "drizzle.mode", "drizzle.scale", "drizzle.pixfrac", NULL } },
  /* docs/post.md: applied to the result at once, the uncorrected result kept */
  { N_("Background and colour (on the result)"),
    { "post.background", "post.background_degree", "post.background_grid", "post.background_kappa", "post.colour",
      "post.colour_min_snr", NULL } },
  { N_("Deconvolution (next deconvolution)"),
    { "deconv.iterations", "deconv.kappa", "deconv.delta", "deconv.relax", "deconv.sr", NULL } },
  { N_("Restoration (next restore)"),
    { "restore.max_steps", "restore.min_steps", "restore.lr", "restore.crop", "restore.background", "restore.sparsity",
      "restore.blind", NULL } },
  { N_("Resources"), { "run.threads", "run.memory_mb", NULL } },
};

/* What the panel shows for a key: a label in words and the unit after the control (the key
 * itself and its help text are the tooltip). */
typedef struct
{
  const char *key;
  const char *label;
  const char *unit;
} ParamLabel;

static const ParamLabel param_labels[] = {
  { "global.alpha", N_("Background share α"), "" },
  { "global.beta", N_("Noise share β"), "" },
  { "global.gamma", N_("Sharpness share γ"), "" },
  { "global.k", N_("Global selectivity k"), "" },
  { "local.mode", N_("Local quality form"), "" },
  { "local.p", N_("PSF exponent p"), "" },
  { "local.k", N_("Local selectivity k"), "" },
  { "gate.cc_min", N_("Lowest correlation"), N_("CC") },
  { "gate.cc_mad", N_("Correlation spread"), N_("× robust σ") },
  { "gate.cc_margin", N_("Correlation margin"), N_("CC below the median") },
  { "gate.trust_stars", N_("Trust confirmed star matches"), "" },
  { "gate.scale_min", N_("Smallest scale"), "×" },
  { "gate.scale_max", N_("Largest scale"), "×" },
  { "gate.shift_min", N_("Shift always allowed"), N_("px") },
  { "gate.shift_mult", N_("Shift allowed"), N_("× median shift") },
  { "gate.keep_gated", N_("Stack gated frames too"), "" },
  { "register.min_matched", N_("Stars to match"), N_("stars (re-analyses)") },
  { "register.tolerance", N_("Star match radius"), N_("px (re-analyses)") },
  { "cluster.mode", N_("Clusters"), "" },
  { "cluster.kappa", N_("Cluster selectivity κ"), "" },
  { "tiles.s", N_("Tile size"), N_("× FWHM") },
  { "reject.mode", N_("Outlier rejection"), "" },
  { "reject.kappa", N_("Rejection threshold"), N_("σ") },
  { "deconv.iterations", N_("Iterations"), "" },
  { "deconv.kappa", N_("Robustness κ"), "" },
  { "deconv.delta", N_("Regularisation δ"), "" },
  { "deconv.relax", N_("Relaxation"), "" },
  { "deconv.sr", N_("Super-resolution"), "×" },
  { "restore.max_steps", N_("Most training steps"), N_("steps") },
  { "restore.min_steps", N_("Fewest training steps"), N_("steps") },
  { "restore.lr", N_("Learning rate"), "" },
  { "restore.crop", N_("Crop"), N_("px") },
  { "restore.background", N_("Background term"), "" },
  { "restore.blind", N_("Learn the PSFs (blind)"), "" },
  { "drizzle.mode", N_("Bayer drizzle"), "" },
  { "drizzle.scale", N_("Drizzle scale"), "×" },
  { "drizzle.pixfrac", N_("Drop size (pixfrac)"), "" },
  { "post.background", N_("Background extraction"), "" },
  { "post.background_degree", N_("Model degree"), "" },
  { "post.background_grid", N_("Sample grid"), N_("boxes") },
  { "post.background_kappa", N_("Sample rejection κ"), N_("σ") },
  { "post.colour", N_("Colour calibration"), "" },
  { "post.colour_min_snr", N_("Stars from SNR"), "" },
  { "run.threads", N_("Threads"), N_("0 = all cores") },
  { "run.memory_mb", N_("Memory budget"), N_("MiB") },
};

static const ParamLabel *
param_label (const char *key)
{
  for (guint i = 0; i < G_N_ELEMENTS (param_labels); i++)
    if (strcmp (param_labels[i].key, key) == 0)
      return &param_labels[i];
  return NULL;
}

#define REANALYSE_DELAY_MS 800

static void
set_note (TsrWindow *self, const char *text, gboolean error)
{
  gtk_label_set_text (GTK_LABEL (self->param_note), text ? text : "");
  if (error)
    gtk_widget_add_css_class (self->param_note, "error");
  else
    gtk_widget_remove_css_class (self->param_note, "error");
}

static gboolean
reanalyse_timeout (gpointer data)
{
  TsrWindow *self = data;
  self->reanalyse_source = 0;
  if (self->paths && self->job != TSR_JOB_RUN && self->job != TSR_JOB_DECONV)
    {
      tsr_window_open_paths (self, (const char *const *) self->paths);
      tsr_window_set_status_text (self, _("Registration or tile setting changed: analysing the session again…"));
    }
  return G_SOURCE_REMOVE;
}

static void update_dependent_rows (TsrWindow *self);

static void
param_changed (TsrWindow *self, const char *key)
{
  self->project_dirty = TRUE;
  update_dependent_rows (self);
  if (g_str_has_prefix (key, "tiles.") || g_str_has_prefix (key, "register."))
    {
      if (self->paths)
        {
          set_note (self, g_str_has_prefix (key, "tiles.") ? _("The local metrics are measured again with the new tile size.")
                                                            : _("The session is registered again with the new setting."),
                    FALSE);
          if (self->reanalyse_source)
            g_source_remove (self->reanalyse_source);
          self->reanalyse_source = g_timeout_add (REANALYSE_DELAY_MS, reanalyse_timeout, self);
        }
      else
        set_note (self, _("The tile size applies when a session is analysed."), FALSE);
    }
  else if (g_str_has_prefix (key, "reject."))
    set_note (self, _("Rejection applies to the next run."), FALSE);
  else if (g_str_has_prefix (key, "drizzle."))
    set_note (self, _("Drizzle applies to the next run; its status line says whether it drizzled and why."), FALSE);
  else if (g_str_has_prefix (key, "post."))
    {
      set_note (self, self->recon ? _("Applied to the result; turn both steps off to see it as stacked.")
                                  : _("Applied to the result when a run has finished."), FALSE);
      tsr_window_post_apply (self);
    }
  else if (g_str_has_prefix (key, "deconv."))
    set_note (self, _("Deconvolution parameters apply to the next deconvolution."), FALSE);
  else if (g_str_has_prefix (key, "restore."))
    set_note (self, _("Restoration parameters apply to the next restore."), FALSE);
  else if (g_str_has_prefix (key, "run."))
    {
      if (self->settings)
        {
          if (strcmp (key, "run.threads") == 0)
            g_settings_set_int (self->settings, "threads", (int) self->params.run.n_threads);
          else
            g_settings_set_int (self->settings, "memory-budget", (int) self->params.run.memory_budget_mb);
        }
      set_note (self, _("Resources apply to the next job."), FALSE);
    }
  else if (self->analysis || self->job == TSR_JOB_ANALYSE)
    tsr_window_request_weigh (self);
}

static void
on_spin_changed (GtkSpinButton *spin, TsrWindow *self)
{
  if (self->updating_params)
    return;
  const char *key = g_object_get_data (G_OBJECT (spin), "key");
  const TsrParamSpec *spec = tsr_project_find (key);
  if (!spec)
    return;
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  if (spec->type == TSR_PARAM_INT)
    g_snprintf (buf, sizeof buf, "%d", gtk_spin_button_get_value_as_int (spin));
  else
    g_ascii_dtostr (buf, sizeof buf, gtk_spin_button_get_value (spin));
  GError *error = NULL;
  if (!tsr_project_set (&self->params, key, buf, &error))
    {
      set_note (self, error->message, TRUE);
      g_error_free (error);
      return;
    }
  param_changed (self, key);
}

static void
on_choice_changed (GObject *dd, GParamSpec *pspec, TsrWindow *self)
{
  if (self->updating_params)
    return;
  const char *key = g_object_get_data (dd, "key");
  const TsrParamSpec *spec = tsr_project_find (key);
  guint i = gtk_drop_down_get_selected (GTK_DROP_DOWN (dd));
  if (!spec || spec->type != TSR_PARAM_ENUM || i == GTK_INVALID_LIST_POSITION)
    return;
  GError *error = NULL;
  if (!tsr_project_set (&self->params, key, spec->choices[i], &error))
    {
      set_note (self, error->message, TRUE);
      g_error_free (error);
      return;
    }
  param_changed (self, key);
}

static void
on_switch_changed (GObject *sw, GParamSpec *pspec, TsrWindow *self)
{
  if (self->updating_params)
    return;
  const char *key = g_object_get_data (sw, "key");
  GError *error = NULL;
  if (!tsr_project_set (&self->params, key, gtk_switch_get_active (GTK_SWITCH (sw)) ? "true" : "false", &error))
    {
      set_note (self, error->message, TRUE);
      g_error_free (error);
      return;
    }
  param_changed (self, key);
}

static void
set_row_sensitive (TsrWindow *self, const char *key, gboolean on)
{
  GtkWidget *w = g_hash_table_lookup (self->param_widgets, key);
  if (!w)
    return;
  gtk_widget_set_sensitive (w, on);
  GtkWidget *label = g_object_get_data (G_OBJECT (w), "label");
  if (label)
    gtk_widget_set_sensitive (label, on);
}

/* Rows whose value has no effect with the current settings are shown insensitive: the
 * global quality mix only acts through global.k, local.p only in the PSF form. */
static void
update_dependent_rows (TsrWindow *self)
{
  gboolean global_on = self->params.tbqr.global_k != 0;
  set_row_sensitive (self, "global.alpha", global_on);
  set_row_sensitive (self, "global.beta", global_on);
  set_row_sensitive (self, "global.gamma", global_on);
  set_row_sensitive (self, "local.p", self->params.tbqr.local_mode == TSR_LOCAL_PSF);
  /* clusters act when on, or in auto mode from cluster.auto_min frames used */
  const TsrTbqrParams *t = &self->params.tbqr;
  gboolean clusters = t->clusters == TSR_CLUSTER_ON
                      || (t->clusters == TSR_CLUSTER_AUTO && self->weights
                          && (int) self->weights->n_used >= t->cluster_auto_min);
  set_row_sensitive (self, "cluster.kappa", clusters);
  gboolean bg = self->params.post.background;
  set_row_sensitive (self, "post.background_degree", bg);
  set_row_sensitive (self, "post.background_grid", bg);
  set_row_sensitive (self, "post.background_kappa", bg);
  set_row_sensitive (self, "post.colour_min_snr", self->params.post.colour);
  gboolean dz = self->params.tbqr.drizzle != TSR_DRIZZLE_OFF;
  set_row_sensitive (self, "drizzle.scale", dz);
  set_row_sensitive (self, "drizzle.pixfrac", dz);
  tsr_window_update_param_units (self);
}

/* The unit label of tiles.s shows the tile size it gives (T = clip(s·F, min, max)). */
void
tsr_window_update_param_units (TsrWindow *self)
{
  GtkWidget *w = self->param_widgets ? g_hash_table_lookup (self->param_widgets, "tiles.s") : NULL;
  GtkWidget *unit = w ? g_object_get_data (G_OBJECT (w), "unit") : NULL;
  if (!unit)
    return;
  if (self->analysis)
    {
      int t = tsr_tbqr_tile_size (&self->params.tbqr, self->analysis->session_fwhm, self->analysis->width,
                                  self->analysis->height);
      /* TRANSLATORS: tiles.s is a factor of the session's FWHM; %d is the tile size it gives */
      g_autofree char *text = g_strdup_printf (_("× FWHM = %d px"), t);
      gtk_label_set_text (GTK_LABEL (unit), text);
    }
  else
    gtk_label_set_text (GTK_LABEL (unit), _("× FWHM"));
}

/* Every control shows the value in self->params. */
void
tsr_window_sync_params (TsrWindow *self)
{
  self->updating_params = TRUE;
  GHashTableIter it;
  gpointer key, widget;
  g_hash_table_iter_init (&it, self->param_widgets);
  while (g_hash_table_iter_next (&it, &key, &widget))
    {
      const TsrParamSpec *spec = tsr_project_find (key);
      const char *field = tsr_project_field (&self->params, spec);
      if (spec->type == TSR_PARAM_DOUBLE)
        gtk_spin_button_set_value (GTK_SPIN_BUTTON (widget), *(const double *) field);
      else if (spec->type == TSR_PARAM_INT)
        gtk_spin_button_set_value (GTK_SPIN_BUTTON (widget), *(const int *) field);
      else if (spec->type == TSR_PARAM_ENUM)
        gtk_drop_down_set_selected (GTK_DROP_DOWN (widget), (guint) *(const int *) field);
      else if (spec->type == TSR_PARAM_BOOL)
        gtk_switch_set_active (GTK_SWITCH (widget), *(const int *) field != 0);
    }
  self->updating_params = FALSE;
  update_dependent_rows (self);
}

static const char *
preset_at (guint i)
{
  const char *const *names = tsr_project_preset_names ();
  for (guint k = 0; names[k]; k++)
    if (k == i)
      return names[k];
  return NULL;
}

/* Do a and b differ in a key that the analysis measures with (register.*, stars.*, tiles.*)? */
static gboolean
analysis_keys_differ (TsrProject *a, TsrProject *b)
{
  for (guint i = 0; i < tsr_project_n_keys (); i++)
    {
      const TsrParamSpec *k = tsr_project_key (i);
      if (!g_str_has_prefix (k->key, "register.") && !g_str_has_prefix (k->key, "stars.")
          && !g_str_has_prefix (k->key, "tiles."))
        continue;
      g_autofree char *va = tsr_project_get_string (a, k->key);
      g_autofree char *vb = tsr_project_get_string (b, k->key);
      if (g_strcmp0 (va, vb) != 0)
        return TRUE;
    }
  return FALSE;
}

static void
apply_preset (TsrWindow *self, const char *name)
{
  GError *error = NULL;
  self->project_dirty = TRUE;
  /* the analysis was measured with these; a preset (Reset) that changes them measures again */
  TsrProject measured = self->analysis ? self->analysis_params : self->params;
  if (!tsr_project_apply_preset (&self->params, name, &error))
    {
      set_note (self, error->message, TRUE);
      g_error_free (error);
      return;
    }
  tsr_window_sync_params (self);
  if (self->settings)
    g_settings_set_string (self->settings, "preset", name);
  if (self->analysis && self->paths && analysis_keys_differ (&measured, &self->params))
    {
      set_note (self, _("Preset applied: its registration and tile settings differ, so the session is "
                        "analysed again."), FALSE);
      if (self->reanalyse_source)
        g_source_remove (self->reanalyse_source);
      self->reanalyse_source = g_timeout_add (REANALYSE_DELAY_MS, reanalyse_timeout, self);
    }
  else if (self->analysis)
    {
      set_note (self, _("Preset applied: the weights follow now."), FALSE);
      tsr_window_request_weigh (self);
    }
  else
    set_note (self, "", FALSE);
}

void
tsr_window_params_on_preset_changed (GObject *dd, GParamSpec *pspec, TsrWindow *self)
{
  if (self->updating_params)
    return;
  const char *name = preset_at (gtk_drop_down_get_selected (GTK_DROP_DOWN (dd)));
  if (name)
    apply_preset (self, name);
}

gboolean
tsr_window_apply_preset (TsrWindow *self, const char *name)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self), FALSE);
  const char *const *names = tsr_project_preset_names ();
  for (guint i = 0; names[i]; i++)
    if (g_strcmp0 (names[i], name) == 0)
      {
        if (gtk_drop_down_get_selected (GTK_DROP_DOWN (self->preset_dropdown)) == i)
          apply_preset (self, name);   /* the same entry again: re-apply (as Reset does) */
        else
          gtk_drop_down_set_selected (GTK_DROP_DOWN (self->preset_dropdown), i);
        return TRUE;
      }
  return FALSE;
}

const char *
tsr_window_get_preset (TsrWindow *self)
{
  return preset_at (gtk_drop_down_get_selected (GTK_DROP_DOWN (self->preset_dropdown)));
}

void
tsr_window_params_on_reset_clicked (GtkButton *b, TsrWindow *self)
{
  tsr_window_apply_preset (self, "default");
}

static GtkWidget *
param_control (TsrWindow *self, const TsrParamSpec *spec)
{
  GtkWidget *w;
  if (spec->type == TSR_PARAM_ENUM)
    {
      w = gtk_drop_down_new_from_strings ((const char *const *) spec->choices);
      g_signal_connect (w, "notify::selected", G_CALLBACK (on_choice_changed), self);
    }
  else if (spec->type == TSR_PARAM_DOUBLE || spec->type == TSR_PARAM_INT)
    {
      double range = spec->max - spec->min;
      double step = spec->type == TSR_PARAM_INT || range > 100 ? 1 : 0.05;
      w = gtk_spin_button_new_with_range (spec->min, spec->max, step);
      /* three decimals where the range is small (a CC threshold of 0.975 must not read 0.97) */
      gtk_spin_button_set_digits (GTK_SPIN_BUTTON (w), spec->type == TSR_PARAM_INT ? 0 : range > 100 ? 1 : range <= 2 ? 3 : 2);
      gtk_spin_button_set_numeric (GTK_SPIN_BUTTON (w), TRUE);
      g_signal_connect (w, "value-changed", G_CALLBACK (on_spin_changed), self);
    }
  else if (spec->type == TSR_PARAM_BOOL)
    {
      w = gtk_switch_new ();
      gtk_widget_set_halign (w, GTK_ALIGN_END);
      g_signal_connect (w, "notify::active", G_CALLBACK (on_switch_changed), self);
    }
  else
    return NULL;
  gtk_widget_set_tooltip_text (w, _(spec->help));
  if (spec->type != TSR_PARAM_BOOL)
    gtk_widget_set_size_request (w, 140, -1);
  g_object_set_data (G_OBJECT (w), "key", (gpointer) spec->key);
  g_hash_table_insert (self->param_widgets, (gpointer) spec->key, w);
  return w;
}

void
tsr_window_build_params (TsrWindow *self)
{
  /* the panel's frame is in ui/tsr-window.ui; here the preset list and one row per key */
  self->param_widgets = g_hash_table_new (g_str_hash, g_str_equal);
  GtkStringList *labels = gtk_string_list_new (NULL);
  const char *const *names = tsr_project_preset_names ();
  for (guint i = 0; names[i]; i++)
    gtk_string_list_append (labels, tsr_project_preset_label (names[i]));
  self->updating_params = TRUE;   /* the first entry selected by the new model is no choice */
  gtk_drop_down_set_model (GTK_DROP_DOWN (self->preset_dropdown), G_LIST_MODEL (labels));
  self->updating_params = FALSE;
  g_object_unref (labels);

  tsr_window_calib_init (self);

  for (guint g = 0; g < G_N_ELEMENTS (param_groups); g++)
    {
      /* the groups a user tunes live start open */
      GtkWidget *group = tsr_param_group_new (_(param_groups[g].group), g < 2);
      for (const char *const *k = param_groups[g].keys; *k; k++)
        {
          const TsrParamSpec *spec = tsr_project_find (*k);
          GtkWidget *control = spec ? param_control (self, spec) : NULL;
          if (!control)
            continue;
          const ParamLabel *pl = param_label (spec->key);
          /* the key and its help: what the CLI's --set and the project file call it */
          g_autofree char *tip = g_strdup_printf ("%s — %s", spec->key, _(spec->help));
          tsr_param_group_add_row (TSR_PARAM_GROUP (group), pl ? _(pl->label) : spec->key, control,
                                   pl && *pl->unit ? _(pl->unit) : "", tip);
        }
      if (strcmp (param_groups[g].keys[0], "post.background") == 0)
        tsr_window_post_add_controls (self, group);
      gtk_box_append (GTK_BOX (self->param_groups), group);
    }

  /* the remembered preset and resources */
  self->updating_params = TRUE;
  if (self->settings)
    {
      g_autofree char *preset = g_settings_get_string (self->settings, "preset");
      for (guint i = 0; names[i]; i++)
        if (g_strcmp0 (names[i], preset) == 0)
          {
            tsr_project_apply_preset (&self->params, preset, NULL);
            gtk_drop_down_set_selected (GTK_DROP_DOWN (self->preset_dropdown), i);
          }
      g_autofree char *threads = g_strdup_printf ("%d", g_settings_get_int (self->settings, "threads"));
      g_autofree char *memory = g_strdup_printf ("%d", g_settings_get_int (self->settings, "memory-budget"));
      tsr_project_set (&self->params, "run.threads", threads, NULL);
      tsr_project_set (&self->params, "run.memory_mb", memory, NULL);
    }
  self->updating_params = FALSE;
  tsr_window_sync_params (self);
}

gboolean
tsr_window_set_param (TsrWindow *self, const char *key, double value)
{
  GtkWidget *w = g_hash_table_lookup (self->param_widgets, key);
  if (!w)
    return FALSE;
  if (GTK_IS_SPIN_BUTTON (w))
    gtk_spin_button_set_value (GTK_SPIN_BUTTON (w), value);
  else if (GTK_IS_SWITCH (w))
    gtk_switch_set_active (GTK_SWITCH (w), value != 0);
  else
    gtk_drop_down_set_selected (GTK_DROP_DOWN (w), (guint) value);
  return TRUE;
}

gboolean
tsr_window_param_sensitive (TsrWindow *self, const char *key)
{
  GtkWidget *w = g_hash_table_lookup (self->param_widgets, key);
  return w && gtk_widget_get_sensitive (w);
}

const char *
tsr_window_get_param_label (TsrWindow *self, const char *key, const char **unit)
{
  GtkWidget *w = g_hash_table_lookup (self->param_widgets, key);
  if (!w)
    return NULL;
  GtkWidget *l = g_object_get_data (G_OBJECT (w), "label");
  GtkWidget *u = g_object_get_data (G_OBJECT (w), "unit");
  if (unit)
    *unit = u ? gtk_label_get_text (GTK_LABEL (u)) : NULL;
  return l ? gtk_label_get_text (GTK_LABEL (l)) : NULL;
}

void
tsr_window_update_param_rows (TsrWindow *self)
{
  update_dependent_rows (self);
}

gboolean
tsr_window_set_param_text (TsrWindow *self, const char *key, const char *value, GError **error)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self), FALSE);
  if (!tsr_project_set (&self->params, key, value, error))
    return FALSE;
  tsr_window_sync_params (self);
  param_changed (self, key);
  return TRUE;
}
