/* cli-common.h — shared pieces of tessera-cli's subcommands. */
#pragma once
#include <glib/gi18n.h>
#include "tessera.h"

typedef struct
{
  gboolean tty;
  gint64 started;
  char last_phase[64];
} CliProgress;

void     cli_progress_init (CliProgress *p);
void     cli_progress_cb (const char *phase, guint done, guint total, gpointer user_data);
void     cli_progress_end (CliProgress *p);

/* Print "tessera-cli: <message>" on one line to stderr. Returns the exit status 1. */
int      cli_fail (GError *error);
int      cli_fail_msg (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

/* Parse options; on --help prints and exits 0; on bad usage prints one line, returns FALSE. */
gboolean cli_parse (GOptionContext *ctx, int *argc, char ***argv, int *status);

/* Scan the session named by the remaining arguments. */
TsrSession *cli_scan (int argc, char **argv, gboolean recursive, GError **error);

/* Refuse an output path that is one of the session's inputs, or whose folder does not
 * exist or is not writable. */
gboolean cli_check_output (const char *out, TsrSession *s, GError **error);
/* Refuse an output folder that holds any of the session's frames (files written there
 * would overwrite them or join the session at the next scan). */
gboolean cli_check_output_dir (const char *dir, TsrSession *s, GError **error);
/* Do two paths name the same existing file (same device and inode)? */
gboolean cli_same_file (const char *a, const char *b);

/* Cancel the job on SIGINT/SIGTERM. */
GCancellable *cli_cancellable (void);
