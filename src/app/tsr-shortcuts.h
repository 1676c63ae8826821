/* tsr-shortcuts.h — the keyboard shortcuts window (Ctrl+? or F1). */
#pragma once
#include <gtk/gtk.h>

G_BEGIN_DECLS

#define TSR_SHORTCUTS_UI "/io/github/tessera/Tessera/ui/tsr-shortcuts.ui"

/* A new GtkShortcutsWindow listing the window's shortcuts (from TSR_SHORTCUTS_UI). */
GtkWindow *tsr_shortcuts_window_new (void);

/* The accelerators the application sets: action, accel (one or two per action). */
typedef struct
{
  const char *action;
  const char *accels[3];
} TsrShortcut;

const TsrShortcut *tsr_shortcuts (guint *n);

G_END_DECLS
