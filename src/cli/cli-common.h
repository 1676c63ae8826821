/* cli-common.h — shared pieces of tessera-cli's subcommands. */
#pragma once
#include <glib/gi18n.h>
#include "tessera.h"

typedef struct
{
  gboolean tty;
  gint64 started;
  char last_phase[64];
  gboolean planned;   /* the run's phases are known: the time left is the whole run's */
  TsrEta eta;
} CliProgress;

void     cli_progress_init (CliProgress *p);
/* The phases the job will report (tsr_eta_plan_*) and its item count: the time shown is then
 * the whole run's, not the current phase's. */
void     cli_progress_plan (CliProgress *p, const TsrEtaPhase *plan, guint n_plan, guint n_items);
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
/* Refuse two outputs of one command that name the same file once resolved (symbolic links,
 * "d/../a.fits", hard links): options[i] is the option that named paths[i] (NULL paths are
 * skipped). */
gboolean cli_check_distinct (const char *command, guint n, const char *const *options, const char *const *paths,
                             GError **error);
/* Refuse an output folder that holds any of the session's frames (files written there
 * would overwrite them or join the session at the next scan). */
gboolean cli_check_output_dir (const char *dir, TsrSession *s, GError **error);
/* Do two paths name the same existing file (same device and inode)? */
gboolean cli_same_file (const char *a, const char *b);

/* Parameters and session of a subcommand that reconstructs (process, deconv): defaults,
 * then the project named by config (an unknown key — most often a misspelt one — is refused:
 * running without it would silently ignore a setting the user believes applied), then the
 * --set assignments, validated; the session from the remaining arguments or else the
 * project's paths. Returns 0, or the exit status after printing one line. */
int      cli_params_and_session (const char *command, const char *config, char **sets,
                                 int argc, char **argv, gboolean recursive,
                                 TsrProject *p, TsrSession **session_out);

/* Cancel the job on SIGINT, SIGTERM and SIGHUP (temporary and staged files are removed). */
GCancellable *cli_cancellable (void);
