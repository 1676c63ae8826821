/* tsr-window-panels.c — the frame table (GtkColumnView over TsrFrameRow, sortable by every
 * column) and the diagnostics notebook (engine figures drawn live with tsr_report_draw). */
#include "tsr-config.h"
#include <math.h>
#include <string.h>
#include <glib/gi18n.h>
#include "tsr-window-private.h"
#include "tsr-frame-row.h"

static const TsrFigure diag_figures[] = {
  TSR_FIG_FWHM, TSR_FIG_WEIGHTS, TSR_FIG_CC_HIST, TSR_FIG_FUNNEL, TSR_FIG_WEIGHT_MAP, TSR_FIG_VALIDATION,
};
#define N_DIAG G_N_ELEMENTS (diag_figures)
G_STATIC_ASSERT (N_DIAG == TSR_N_DIAG);

/* ---------------------------------------------------------------- frame table */

typedef struct
{
  const char *title;
  const char *prop;
  GType type;
  const char *format;
  gboolean expand;
} ColumnDef;

static const ColumnDef columns[] = {
  { N_("Use"), "used", G_TYPE_BOOLEAN, NULL, FALSE },
  { N_("#"), "index", G_TYPE_UINT, "%u", FALSE },
  { N_("File"), "name", G_TYPE_STRING, NULL, TRUE },
  { N_("FWHM"), "fwhm", G_TYPE_DOUBLE, "%.2f", FALSE },
  { N_("Round"), "roundness", G_TYPE_DOUBLE, "%.2f", FALSE },
  { N_("Stars"), "stars", G_TYPE_UINT, "%u", FALSE },
  { N_("Background"), "background", G_TYPE_DOUBLE, "%.1f", FALSE },
  { N_("Noise"), "noise", G_TYPE_DOUBLE, "%.2f", FALSE },
  { N_("CC"), "cc", G_TYPE_DOUBLE, "%.3f", FALSE },
  { N_("G"), "g", G_TYPE_DOUBLE, "%.3f", FALSE },
  { N_("Mean W"), "mean-w", G_TYPE_DOUBLE, "%.3f", FALSE },
  { N_("Scale"), "scale", G_TYPE_DOUBLE, "%.4f", FALSE },
  { N_("Rot °"), "rotation", G_TYPE_DOUBLE, "%.2f", FALSE },
  { N_("Shift px"), "shift", G_TYPE_DOUBLE, "%.1f", FALSE },
  { N_("RMS px"), "rms", G_TYPE_DOUBLE, "%.3f", FALSE },
  { N_("Matched"), "matched", G_TYPE_UINT, "%u", FALSE },
  { N_("Gate"), "gate", G_TYPE_STRING, NULL, FALSE },
};

static char *
format_double_cb (GObject *this_, double v, const char *fmt)
{
  if (!isfinite (v))
    return g_strdup ("—");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  return g_strdup_printf (fmt, v);
#pragma GCC diagnostic pop
}

static char *
format_uint_cb (GObject *this_, guint v, const char *fmt)
{
  return g_strdup_printf ("%u", v);
}

/* The Use check of a row was clicked (a change that only mirrors the row is ignored). */
static void
on_use_toggled (GtkCheckButton *check, GtkListItem *item)
{
  TsrFrameRow *row = gtk_list_item_get_item (item);
  TsrWindow *self = g_object_get_data (G_OBJECT (check), "window");
  gboolean active = gtk_check_button_get_active (check);
  if (!row || !self || active == tsr_frame_row_get_used (row))
    return;
  tsr_window_set_frame_used (self, tsr_frame_row_get_index (row), active);
}

/* Every cell of a row carries the row's gate explanation as its tooltip. */
static void
bind_tooltip (GtkWidget *cell, GtkListItem *item)
{
  GtkExpression *e = gtk_property_expression_new (GTK_TYPE_LIST_ITEM, NULL, "item");
  e = gtk_property_expression_new (TSR_TYPE_FRAME_ROW, e, "explanation");
  gtk_expression_bind (e, cell, "tooltip-text", item);
}

static void
setup_cell (GtkSignalListItemFactory *factory, GtkListItem *item, gpointer data)
{
  const ColumnDef *def = data;
  if (def->type == G_TYPE_BOOLEAN)
    {
      GtkWidget *check = gtk_check_button_new ();
      gtk_widget_set_halign (check, GTK_ALIGN_CENTER);
      g_object_set_data (G_OBJECT (check), "window", g_object_get_data (G_OBJECT (factory), "window"));
      gtk_list_item_set_child (item, check);
      GtkExpression *e = gtk_property_expression_new (GTK_TYPE_LIST_ITEM, NULL, "item");
      e = gtk_property_expression_new (TSR_TYPE_FRAME_ROW, e, def->prop);
      gtk_expression_bind (e, check, "active", item);
      e = gtk_property_expression_new (GTK_TYPE_LIST_ITEM, NULL, "item");
      e = gtk_property_expression_new (TSR_TYPE_FRAME_ROW, e, "can-include");
      gtk_expression_bind (e, check, "sensitive", item);
      bind_tooltip (check, item);
      g_signal_connect (check, "toggled", G_CALLBACK (on_use_toggled), item);
      return;
    }
  GtkWidget *label = gtk_label_new (NULL);
  gtk_label_set_xalign (GTK_LABEL (label), def->type == G_TYPE_STRING ? 0.0 : 1.0);
  if (def->type == G_TYPE_STRING)
    {
      /* in the middle: Seestar names end in the timestamp, which tells frames apart */
      gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_MIDDLE);
      gtk_label_set_width_chars (GTK_LABEL (label), def->expand ? 16 : 8);
    }
  else
    gtk_widget_add_css_class (label, "numeric");
  gtk_list_item_set_child (item, label);
  bind_tooltip (label, item);

  GtkExpression *e = gtk_property_expression_new (GTK_TYPE_LIST_ITEM, NULL, "item");
  e = gtk_property_expression_new (TSR_TYPE_FRAME_ROW, e, def->prop);
  if (def->type == G_TYPE_DOUBLE)
    e = gtk_cclosure_expression_new (G_TYPE_STRING, NULL, 1, &e, G_CALLBACK (format_double_cb),
                                     (gpointer) def->format, NULL);
  else if (def->type == G_TYPE_UINT)
    e = gtk_cclosure_expression_new (G_TYPE_STRING, NULL, 1, &e, G_CALLBACK (format_uint_cb),
                                     (gpointer) def->format, NULL);
  gtk_expression_bind (e, label, "label", item);
}

void
tsr_window_build_table (TsrWindow *self)
{
  self->store = g_list_store_new (TSR_TYPE_FRAME_ROW);
  GtkSortListModel *sorted = gtk_sort_list_model_new (G_LIST_MODEL (g_object_ref (self->store)), NULL);
  self->selection = gtk_single_selection_new (G_LIST_MODEL (sorted));
  gtk_single_selection_set_autoselect (self->selection, TRUE);
  g_signal_connect (self->selection, "notify::selected-item", G_CALLBACK (tsr_window_on_selection_changed), self);

  gtk_column_view_set_model (GTK_COLUMN_VIEW (self->column_view), GTK_SELECTION_MODEL (self->selection));
  GtkColumnViewColumn *first = NULL;
  for (guint i = 0; i < G_N_ELEMENTS (columns); i++)
    {
      const ColumnDef *def = &columns[i];
      GtkListItemFactory *factory = gtk_signal_list_item_factory_new ();
      g_object_set_data (G_OBJECT (factory), "window", self);
      g_signal_connect (factory, "setup", G_CALLBACK (setup_cell), (gpointer) def);
      GtkColumnViewColumn *col = gtk_column_view_column_new (_(def->title), factory);
      GtkExpression *key = gtk_property_expression_new (TSR_TYPE_FRAME_ROW, NULL, def->prop);
      GtkSorter *sorter = def->type == G_TYPE_STRING ? GTK_SORTER (gtk_string_sorter_new (key))
                                                     : GTK_SORTER (gtk_numeric_sorter_new (key));
      if (def->type == G_TYPE_BOOLEAN)
        gtk_column_view_column_set_header_menu (col, NULL);
      gtk_column_view_column_set_sorter (col, sorter);
      g_object_unref (sorter);
      gtk_column_view_column_set_expand (col, def->expand);
      gtk_column_view_column_set_resizable (col, TRUE);
      gtk_column_view_append_column (GTK_COLUMN_VIEW (self->column_view), col);
      if (!first && def->type != G_TYPE_BOOLEAN)
        first = col;
      g_object_unref (col);
    }
  gtk_sort_list_model_set_sorter (sorted, gtk_column_view_get_sorter (GTK_COLUMN_VIEW (self->column_view)));
  gtk_column_view_sort_by_column (GTK_COLUMN_VIEW (self->column_view), first, GTK_SORT_ASCENDING);

}

void
tsr_window_update_frame_detail (TsrWindow *self)
{
  TsrFrameRow *row = gtk_single_selection_get_selected_item (self->selection);
  const char *text = row ? tsr_frame_row_get_explanation (row) : NULL;
  gtk_label_set_text (GTK_LABEL (self->frame_detail),
                      text && *text ? text : _("Select a frame to see why the gate keeps or leaves it."));
}

/* Replace path's entry in the choices by choice. */
static void
choices_set (TsrFrameChoices *c, const char *path, TsrFrameChoice choice)
{
  char ***lists[2] = { &c->include, &c->exclude };
  for (int l = 0; l < 2; l++)
    {
      GPtrArray *v = g_ptr_array_new ();
      for (char **q = *lists[l]; q && *q; q++)
        if (strcmp (*q, path) != 0)
          g_ptr_array_add (v, g_strdup (*q));
      if ((l == 0 && choice == TSR_FRAME_INCLUDE) || (l == 1 && choice == TSR_FRAME_EXCLUDE))
        g_ptr_array_add (v, g_strdup (path));
      g_strfreev (*lists[l]);
      if (v->len == 0)
        {
          g_ptr_array_free (v, TRUE);
          *lists[l] = NULL;
        }
      else
        {
          g_ptr_array_add (v, NULL);
          *lists[l] = (char **) g_ptr_array_free (v, FALSE);
        }
    }
}

void
tsr_window_set_frame_choice (TsrWindow *self, guint index, TsrFrameChoice choice)
{
  if (!self->session || index >= tsr_session_n_frames (self->session))
    return;
  g_autofree char *path = g_canonicalize_filename (tsr_session_frame (self->session, index)->path, NULL);
  choices_set (&self->choices, path, choice);
  self->project_dirty = TRUE;
  tsr_window_request_weigh (self);
}

gboolean
tsr_window_set_frame_used (TsrWindow *self, guint index, gboolean used)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self), FALSE);
  const TsrAnalysis *a = self->analysis;
  if (!a || index >= a->reg->n_frames)
    return FALSE;
  const TsrFrameReg *fr = &a->reg->frames[index];
  guint gate = self->weights ? self->weights->gate[index] : fr->gate;
  gboolean possible = fr->registered && !(gate & TSR_GATE_FAILED);
  if (used && !possible)
    return FALSE;
  gboolean auto_used = possible && (gate == 0 || self->params.tbqr.keep_gated);
  tsr_window_set_frame_choice (self, index, used == auto_used ? TSR_FRAME_AUTO
                                            : used ? TSR_FRAME_INCLUDE : TSR_FRAME_EXCLUDE);
  return TRUE;
}

TsrFrameChoice
tsr_window_get_frame_choice (TsrWindow *self, guint index)
{
  if (!self->session || index >= tsr_session_n_frames (self->session))
    return TSR_FRAME_AUTO;
  g_autofree char *path = g_canonicalize_filename (tsr_session_frame (self->session, index)->path, NULL);
  for (char **q = self->choices.exclude; q && *q; q++)
    if (strcmp (*q, path) == 0)
      return TSR_FRAME_EXCLUDE;
  for (char **q = self->choices.include; q && *q; q++)
    if (strcmp (*q, path) == 0)
      return TSR_FRAME_INCLUDE;
  return TSR_FRAME_AUTO;
}

const char *
tsr_window_get_frame_explanation (TsrWindow *self, guint index, const char **gate_words)
{
  GListModel *m = G_LIST_MODEL (self->store);
  for (guint i = 0; i < g_list_model_get_n_items (m); i++)
    {
      g_autoptr (TsrFrameRow) row = g_list_model_get_item (m, i);
      if (tsr_frame_row_get_index (row) == index)
        {
          if (gate_words)
            *gate_words = tsr_frame_row_get_gate (row);
          return tsr_frame_row_get_explanation (row);   /* the store holds the row */
        }
    }
  return NULL;
}

const char *
tsr_window_get_frame_detail (TsrWindow *self)
{
  return gtk_label_get_text (GTK_LABEL (self->frame_detail));
}

/* ---------------------------------------------------------------- diagnostics */

static gboolean
widget_is_dark (GtkWidget *w)
{
  GdkRGBA fg;
  gtk_style_context_get_color (gtk_widget_get_style_context (w), &fg);
  return 0.299 * fg.red + 0.587 * fg.green + 0.114 * fg.blue > 0.5;
}

static void figure_draw_impl (GtkDrawingArea *area, cairo_t *cr, int w, int h, gpointer data);

static void
figure_draw (GtkDrawingArea *area, cairo_t *cr, int w, int h, gpointer data)
{
  gint64 t0 = TSR_STALL_T0 ();
  figure_draw_impl (area, cr, w, h, data);
  tsr_stall_note ("figure draw", t0);
}

static void
figure_draw_impl (GtkDrawingArea *area, cairo_t *cr, int w, int h, gpointer data)
{
  TsrWindow *self = data;
  TsrFigure fig = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (area), "figure"));
  gboolean dark = widget_is_dark (GTK_WIDGET (area));
  if (self->disposed || !self->analysis || !self->weights)
    {
      const char *text = self->analysis ? _("No weights: see the status line")
                                        : _("Open a session to see its diagnostics");
      PangoLayout *layout = gtk_widget_create_pango_layout (GTK_WIDGET (area), text);
      int tw, th;
      pango_layout_get_pixel_size (layout, &tw, &th);
      GdkRGBA fg;
      gtk_style_context_get_color (gtk_widget_get_style_context (GTK_WIDGET (area)), &fg);
      cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.6);
      cairo_move_to (cr, (w - tw) / 2.0, (h - th) / 2.0);
      pango_cairo_show_layout (cr, layout);
      g_object_unref (layout);
      return;
    }
  if (fig == TSR_FIG_VALIDATION && !self->recon)
    {
      PangoLayout *layout = gtk_widget_create_pango_layout (GTK_WIDGET (area),
                                                            _("Run the reconstruction to validate it against the mean stack"));
      int tw, th;
      pango_layout_get_pixel_size (layout, &tw, &th);
      cairo_set_source_rgba (cr, dark ? 1 : 0, dark ? 1 : 0, dark ? 1 : 0, 0.6);
      cairo_move_to (cr, (w - tw) / 2.0, (h - th) / 2.0);
      pango_cairo_show_layout (cr, layout);
      g_object_unref (layout);
      return;
    }
  tsr_report_draw (cr, w, h, fig, dark, self->analysis, self->weights, self->recon, self->selected_frame);
}

void
tsr_window_build_diagnostics (TsrWindow *self)
{
  /* the notebook and its drawing areas are in ui/tsr-window.ui, in diag_figures order */
  for (guint i = 0; i < N_DIAG; i++)
    {
      GtkWidget *area = self->figures[i];
      g_object_set_data (G_OBJECT (area), "figure", GINT_TO_POINTER (diag_figures[i]));
      gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (area), figure_draw, self, NULL);
      GtkWidget *tab = gtk_notebook_get_tab_label (GTK_NOTEBOOK (self->diagnostics), area);
      gtk_widget_set_tooltip_text (tab, tsr_figure_title (diag_figures[i]));
    }
}

gboolean
tsr_window_sort_frames (TsrWindow *self, const char *prop, gboolean descending)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self) && prop, FALSE);
  GListModel *cols = gtk_column_view_get_columns (GTK_COLUMN_VIEW (self->column_view));
  for (guint i = 0; i < G_N_ELEMENTS (columns) && i < g_list_model_get_n_items (cols); i++)
    if (strcmp (columns[i].prop, prop) == 0)
      {
        g_autoptr (GtkColumnViewColumn) col = g_list_model_get_item (cols, i);
        gtk_column_view_sort_by_column (GTK_COLUMN_VIEW (self->column_view), col,
                                        descending ? GTK_SORT_DESCENDING : GTK_SORT_ASCENDING);
        return TRUE;
      }
  return FALSE;
}

int
tsr_window_get_row_frame (TsrWindow *self, guint position)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self), -1);
  g_autoptr (TsrFrameRow) row = g_list_model_get_item (G_LIST_MODEL (self->selection), position);
  return row ? tsr_frame_row_get_index (row) : -1;
}
