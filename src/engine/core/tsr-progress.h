/* tsr-progress.h — progress reporting shared by every engine job. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

/* Called from worker threads, serialised (never two at once). phase is a short
 * translatable name ("Reading", "Registering", …); done ≤ total. */
typedef void (*TsrProgressFunc) (const char *phase, guint done, guint total, gpointer user_data);

G_END_DECLS
