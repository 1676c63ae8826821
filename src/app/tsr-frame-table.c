/* tsr-frame-table.c — the frame table's widget class (see tsr-frame-table.h). */
#include "tsr-config.h"
#include <math.h>
#include <string.h>
#include "tsr-frame-table.h"
#include "tsr-frame-row.h"

struct _TsrFrameTable
{
  GtkBox parent_instance;
  GtkWidget *column_view, *frame_detail;
};

G_DEFINE_FINAL_TYPE (TsrFrameTable, tsr_frame_table, GTK_TYPE_BOX)

enum { SIGNAL_USE_TOGGLED, N_SIGNALS };
static guint signals[N_SIGNALS];

/* Cell formats (closures of the cells' label bindings): a number with d decimals, "—" when
 * it was not measured. */
static char *
format_double (double v, int d)
{
  return isfinite (v) ? g_strdup_printf ("%.*f", d, v) : g_strdup ("—");
}

static char *
format_1 (GObject *item, double v)
{
  return format_double (v, 1);
}

static char *
format_2 (GObject *item, double v)
{
  return format_double (v, 2);
}

static char *
format_3 (GObject *item, double v)
{
  return format_double (v, 3);
}

static char *
format_4 (GObject *item, double v)
{
  return format_double (v, 4);
}

static char *
format_uint (GObject *item, guint v)
{
  return g_strdup_printf ("%u", v);
}

/* A row's Use check changed; a change that only mirrors the row (binding) is no click. */
/* A cell's tooltip, the frame's gate explanation, asked for when it is about to be shown.
 * Not a binding of tooltip-text: GTK 4.8 re-queries the pointer position (an X round trip
 * on X11) on every set_tooltip_text, so a re-weigh that rewrites every visible cell's
 * explanation cost ~500 round trips, seconds when the X server is short of CPU. */
static gboolean
on_query_tooltip (GtkWidget *cell, int x, int y, gboolean keyboard, GtkTooltip *tooltip, GtkListItem *item)
{
  TsrFrameRow *row = gtk_list_item_get_item (item);
  const char *text = row ? tsr_frame_row_get_explanation (row) : NULL;
  if (!text || !*text)
    return FALSE;
  gtk_tooltip_set_text (tooltip, text);
  return TRUE;
}

/* A cell keeps its list item (a cell widget belongs to one for its life; the item's row
 * changes as the view scrolls), for tsr_frame_table_cell_tooltip. */
static void
on_cell_realize (GtkWidget *cell, GtkListItem *item)
{
  g_object_set_data (G_OBJECT (cell), "tsr-list-item", item);
}

const char *
tsr_frame_table_cell_tooltip (GtkWidget *cell)
{
  GtkListItem *item = g_object_get_data (G_OBJECT (cell), "tsr-list-item");
  TsrFrameRow *row = item ? gtk_list_item_get_item (item) : NULL;
  return row ? tsr_frame_row_get_explanation (row) : NULL;
}

static void
on_use_toggled (GtkCheckButton *check, GtkListItem *item)
{
  TsrFrameRow *row = gtk_list_item_get_item (item);
  gboolean active = gtk_check_button_get_active (check);
  if (!row || active == tsr_frame_row_get_used (row))
    return;
  GtkWidget *table = gtk_widget_get_ancestor (GTK_WIDGET (check), TSR_TYPE_FRAME_TABLE);
  if (table)
    g_signal_emit (table, signals[SIGNAL_USE_TOGGLED], 0, (guint) tsr_frame_row_get_index (row), active);
}

static void
tsr_frame_table_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), TSR_TYPE_FRAME_TABLE);
  G_OBJECT_CLASS (tsr_frame_table_parent_class)->dispose (object);
}

static void
tsr_frame_table_class_init (TsrFrameTableClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  G_OBJECT_CLASS (klass)->dispose = tsr_frame_table_dispose;
  /* use-toggled (index, used): the user clicked a frame's Use check */
  signals[SIGNAL_USE_TOGGLED] = g_signal_new ("use-toggled", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                              NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_BOOLEAN);
  g_type_ensure (TSR_TYPE_FRAME_ROW);
  gtk_widget_class_set_template_from_resource (widget_class, TSR_FRAME_TABLE_UI);
  gtk_widget_class_bind_template_child (widget_class, TsrFrameTable, column_view);
  gtk_widget_class_bind_template_child (widget_class, TsrFrameTable, frame_detail);
  /* the cells' factories (GtkBuilderListItemFactory) take the template's scope */
  gtk_widget_class_bind_template_callback_full (widget_class, "tsr_frame_table_format_1", G_CALLBACK (format_1));
  gtk_widget_class_bind_template_callback_full (widget_class, "tsr_frame_table_format_2", G_CALLBACK (format_2));
  gtk_widget_class_bind_template_callback_full (widget_class, "tsr_frame_table_format_3", G_CALLBACK (format_3));
  gtk_widget_class_bind_template_callback_full (widget_class, "tsr_frame_table_format_4", G_CALLBACK (format_4));
  gtk_widget_class_bind_template_callback_full (widget_class, "tsr_frame_table_format_uint", G_CALLBACK (format_uint));
  gtk_widget_class_bind_template_callback_full (widget_class, "tsr_frame_table_on_use_toggled", G_CALLBACK (on_use_toggled));
  gtk_widget_class_bind_template_callback_full (widget_class, "tsr_frame_table_on_query_tooltip", G_CALLBACK (on_query_tooltip));
  gtk_widget_class_bind_template_callback_full (widget_class, "tsr_frame_table_on_cell_realize", G_CALLBACK (on_cell_realize));
}

static void
tsr_frame_table_init (TsrFrameTable *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
tsr_frame_table_new (void)
{
  return g_object_new (TSR_TYPE_FRAME_TABLE, NULL);
}

GtkColumnView *
tsr_frame_table_get_column_view (TsrFrameTable *self)
{
  return GTK_COLUMN_VIEW (self->column_view);
}

GtkWidget *
tsr_frame_table_get_detail (TsrFrameTable *self)
{
  return self->frame_detail;
}

GtkColumnViewColumn *
tsr_frame_table_find_column (TsrFrameTable *self, const char *prop)
{
  GListModel *cols = gtk_column_view_get_columns (GTK_COLUMN_VIEW (self->column_view));
  for (guint i = 0; i < g_list_model_get_n_items (cols); i++)
    {
      g_autoptr (GtkColumnViewColumn) col = g_list_model_get_item (cols, i);
      GtkSorter *sorter = gtk_column_view_column_get_sorter (col);
      GtkExpression *e = NULL;
      if (GTK_IS_NUMERIC_SORTER (sorter))
        e = gtk_numeric_sorter_get_expression (GTK_NUMERIC_SORTER (sorter));
      else if (GTK_IS_STRING_SORTER (sorter))
        e = gtk_string_sorter_get_expression (GTK_STRING_SORTER (sorter));
      if (e && G_TYPE_CHECK_INSTANCE_TYPE (e, GTK_TYPE_PROPERTY_EXPRESSION)
          && strcmp (gtk_property_expression_get_pspec (e)->name, prop) == 0)
        return col;   /* the column view holds it */
    }
  return NULL;
}
