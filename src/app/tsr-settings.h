/* tsr-settings.h — the window's GSettings (io.github.tessera.Tessera), found installed or,
 * when the program runs from its build tree, in the build tree's compiled schema. */
#pragma once
#include <gio/gio.h>

G_BEGIN_DECLS

/* A new GSettings, or NULL (with a warning logged once) when the schema is not installed
 * and not in the build tree: the window then keeps its settings in memory only. */
GSettings *tsr_settings_new (void);

/* TRUE when this program runs from the build tree (not installed). */
gboolean   tsr_settings_running_uninstalled (void);

G_END_DECLS
