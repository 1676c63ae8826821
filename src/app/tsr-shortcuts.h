/* tsr-shortcuts.h — the keyboard shortcuts window (Ctrl+? or F1). */
#pragma once
#include <gtk/gtk.h>

G_BEGIN_DECLS

/* A new GtkShortcutsWindow listing the window's shortcuts. */
GtkWindow *tsr_shortcuts_window_new (void);

/* The accelerators the application sets, for tests and the window: action, accel (one or
 * more per action, in this table), translatable title. */
typedef struct
{
  const char *action;
  const char *accels[3];
  const char *title;
} TsrShortcut;

const TsrShortcut *tsr_shortcuts (guint *n);

G_END_DECLS
