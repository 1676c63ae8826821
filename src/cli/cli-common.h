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

/* Scan paths (NULL-terminated); folders without frames of their own but with frames in
 * subfolders are opened with their subfolders, with a note on stderr. */
TsrSession *cli_scan_paths (const char *const *paths, gboolean recursive, GError **error);
/* Scan the session named by the remaining arguments (as cli_scan_paths). */
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
/* FALSE (error names command and file) unless preview (NULL: none) ends in .png. */
gboolean cli_check_preview_name (const char *command, const char *preview, GError **error);
/* --preview of a one-image command (background, colour, denoise, wavelets, stack): refuse a
 * preview that is the input or the output, or in a folder that cannot be written (before any
 * work; s: the session, whose frames it must not be). The preview is img's stretched 8-bit PNG,
 * longest side 1600 px (cli_write_result). */
gboolean cli_preview_check (const char *command, const char *preview, const char *in, const char *out,
                            TsrSession *s, GError **error);
/* img written to out (by its name: cli_write_image's types, or with planetary_types the
 * planetary writer's PNG / TIFF / FITS) and, when preview is given, its preview, committed
 * together as cli_commit_finish does: neither replaces an existing file unless both were
 * written, and a cancelled run writes neither. */
gboolean cli_write_result (const TsrImage *img, const char *out, gboolean planetary_types, const char *preview,
                           GError **error);
/* An image output of a deep-sky command (-o, --mean-stack, --model): FITS; XISF when the
 * name ends in .xisf (Float32, the header's cards as FITS keywords); a 32-bit float TIFF when
 * it ends in .tif/.tiff (the values as they are, no header). A name that asks for another
 * image type (.png, .jpg …) is
 * refused before any work, naming the option. cli_write_image writes img to path (a staged
 * name or the final one) in the format name asks for. */
gboolean cli_check_image_name (const char *command, const char *option, const char *name, GError **error);
gboolean cli_write_image (const char *path, const char *name, const TsrImage *img, GError **error);
/* A linear input image of a one-image command, by its first bytes: XISF, TIFF (the float
 * TIFFs cli_write_image writes, or 16-bit ones) or else FITS, with FITS's errors. */
TsrImage *cli_read_linear (const char *path, GError **error);
/* Do two paths name the same existing file (same device and inode)? */
gboolean cli_same_file (const char *a, const char *b);

/* Parameters and session of a subcommand that reconstructs (process, deconv): defaults,
 * then the project named by config (an unknown key — most often a misspelt one — is refused:
 * running without it would silently ignore a setting the user believes applied), then the
 * --set assignments, validated; the session from the remaining arguments or else the
 * project's paths. Returns 0, or the exit status after printing one line. frames (may be
 * NULL) receives the project's per-frame choices ([frames]); a command that passes NULL
 * does not apply them and says so when the project has any. */
int      cli_params_and_session (const char *command, const char *config, char **sets,
                                 int argc, char **argv, gboolean recursive,
                                 TsrProject *p, TsrSession **session_out, TsrFrameChoices *frames);

/* Cancel the job on SIGINT, SIGTERM and SIGHUP (temporary and staged files are removed). */
GCancellable *cli_cancellable (void);
/* The end of a run's outputs (a TsrCommit): unless ok is already FALSE or the run was
 * cancelled, every staged output is renamed onto its name; when not, error (set) names the
 * user's files rather than staging names. Returns whether the outputs are in place. */
gboolean cli_commit_finish (TsrCommit *commit, gboolean ok, GError **error);

/* Calibration (issue #18): --bias, --darks, --flats, --dark-flats (folders of frames or master
 * files), shared by every command that reads a session. */
void     cli_calib_add_options (GOptionContext *ctx);
/* Was any calibration option given? The value of one (NULL when not given). */
gboolean cli_calib_requested (void);
const char *cli_calib_option (TsrCalibKind k);
/* Plan the calibration of s from the options (each overriding the project's [calib] path of
 * its kind, project_paths[k], which may be NULL): headers only, before any work; a mismatch is
 * one line naming the file. Returns 0 or the exit status after printing. */
int      cli_calib_plan (TsrSession *s, const TsrCalibParams *p, char *const *project_paths);
/* Build the planned masters and install them on s (every frame read is calibrated from then
 * on); prints the notes once. Call after the outputs are checked. Returns 0 or the exit
 * status. Nothing to do when nothing was planned. */
int      cli_calib_apply (TsrSession *s, const TsrRunParams *run);

/* Cosmetic correction from the session (cosmetic.*): find the hot and cold pixels of the
 * lights and install their replacement behind the calibration. Returns 0 or the exit status. */
/* Read a background sample file (docs/post.md: "x,y[,size]" adds, "-x,y" excludes) into
 * *add and *exclude (new GArrays of TsrBgPoint); FALSE with the error set. */
gboolean cli_bg_samples_load (const char *path, GArray **add, GArray **exclude, GError **error);

int      cli_cosmetic_apply (const char *cmd, TsrSession *s, const TsrPostParams *p, guint n_threads);
