/* tsr-window-panels.c — the frame table (GtkColumnView over TsrFrameRow, sortable by every
 * column) and the diagnostics notebook (engine figures drawn live with tsr_report_draw). */
#include "tsr-config.h"
#include <math.h>
#include <string.h>
#include <glib/gi18n.h>
#include "tsr-window-private.h"
#include "tsr-frame-row.h"
#include "tsr-frame-table.h"

static const TsrFigure diag_figures[] = {
  TSR_FIG_FWHM, TSR_FIG_WEIGHTS, TSR_FIG_CC_HIST, TSR_FIG_FUNNEL, TSR_FIG_WEIGHT_MAP, TSR_FIG_VALIDATION,
};
#define N_DIAG G_N_ELEMENTS (diag_figures)
G_STATIC_ASSERT (N_DIAG == TSR_N_DIAG);

/* ---------------------------------------------------------------- frame table */

void
tsr_window_build_table (TsrWindow *self)
{
  /* the columns, their cells and sorters are in ui/tsr-frame-table.ui; here the model */
  self->column_view = GTK_WIDGET (tsr_frame_table_get_column_view (TSR_FRAME_TABLE (self->frame_table)));
  self->frame_detail = tsr_frame_table_get_detail (TSR_FRAME_TABLE (self->frame_table));
  self->store = g_list_store_new (TSR_TYPE_FRAME_ROW);
  GtkSortListModel *sorted = gtk_sort_list_model_new (G_LIST_MODEL (g_object_ref (self->store)), NULL);
  self->selection = gtk_single_selection_new (G_LIST_MODEL (sorted));
  gtk_single_selection_set_autoselect (self->selection, TRUE);
  g_signal_connect (self->selection, "notify::selected-item", G_CALLBACK (tsr_window_on_selection_changed), self);
  gtk_column_view_set_model (GTK_COLUMN_VIEW (self->column_view), GTK_SELECTION_MODEL (self->selection));
  gtk_sort_list_model_set_sorter (sorted, gtk_column_view_get_sorter (GTK_COLUMN_VIEW (self->column_view)));
  GtkColumnViewColumn *first = tsr_frame_table_find_column (TSR_FRAME_TABLE (self->frame_table), "index");
  g_assert (first != NULL);
  gtk_column_view_sort_by_column (GTK_COLUMN_VIEW (self->column_view), first, GTK_SORT_ASCENDING);
}

/* The Use check of a row was clicked (template callback of the frame table's use-toggled). */
void
tsr_window_on_frame_use_toggled (TsrFrameTable *table, guint index, gboolean used, TsrWindow *self)
{
  tsr_window_set_frame_used (self, index, used);
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

GtkWidget *
tsr_window_get_frame_table (TsrWindow *self)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self), NULL);
  return self->frame_table;
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
  GtkColumnViewColumn *col = tsr_frame_table_find_column (TSR_FRAME_TABLE (self->frame_table), prop);
  if (!col)
    return FALSE;
  gtk_column_view_sort_by_column (GTK_COLUMN_VIEW (self->column_view), col,
                                  descending ? GTK_SORT_DESCENDING : GTK_SORT_ASCENDING);
  return TRUE;
}

int
tsr_window_get_row_frame (TsrWindow *self, guint position)
{
  g_return_val_if_fail (TSR_IS_WINDOW (self), -1);
  g_autoptr (TsrFrameRow) row = g_list_model_get_item (G_LIST_MODEL (self->selection), position);
  return row ? tsr_frame_row_get_index (row) : -1;
}
