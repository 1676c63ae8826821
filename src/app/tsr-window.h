/* tsr-window.h — the main window: session, frame table, image view, diagnostics,
 * parameters; analysis / weighing / run jobs in worker threads. */
#pragma once
#include <gtk/gtk.h>
#include "tessera.h"

G_BEGIN_DECLS

#define TSR_TYPE_WINDOW (tsr_window_get_type ())
G_DECLARE_FINAL_TYPE (TsrWindow, tsr_window, TSR, WINDOW, GtkApplicationWindow)

typedef enum
{
  TSR_JOB_NONE = 0,
  TSR_JOB_ANALYSE,   /* scan + analyse + weigh */
  TSR_JOB_RUN,       /* accumulate */
  TSR_JOB_DECONV,    /* multi-frame deconvolution */
  TSR_JOB_PLANETARY, /* lunar/planetary stack (tsr-window-planetary.c) */
  TSR_JOB_DENOISE,   /* learned denoiser on the shown result (tsr-window-denoise.c) */
  TSR_JOB_RESTORE    /* deep-image-prior restoration of the session (tsr-window-restore.c) */
} TsrJobKind;
#define TSR_JOB_LAST TSR_JOB_RESTORE

/* What the image view shows (the "Show" drop-down, in its order). */
typedef enum
{
  TSR_SHOW_FRAME = 0,  /* the selected frame */
  TSR_SHOW_PREVIEW,    /* the live preview (reduced resolution, follows the weights) */
  TSR_SHOW_RESULT,     /* the reconstruction */
  TSR_SHOW_MEAN,       /* the mean stack of the same frames */
  TSR_SHOW_DECONV,     /* the deconvolved latent */
  TSR_SHOW_DENOISED,   /* the denoised image, split against the image before it */
  TSR_SHOW_RESTORED    /* the restored latent, split against the mean of the same frames */
} TsrShow;

typedef enum
{
  TSR_EXPORT_FITS = 0,  /* linear float32 FITS */
  TSR_EXPORT_TIFF32,    /* linear 32-bit float TIFF */
  TSR_EXPORT_TIFF16,    /* linear 16-bit TIFF, scaled to the full range */
  TSR_EXPORT_PNG        /* the display stretch, 8-bit */
} TsrExportFormat;

/* app may be NULL (tests). */
TsrWindow  *tsr_window_new (GtkApplication *app);

/* Open a session (folders and/or FITS files, NULL-terminated) and start the analysis. */
void        tsr_window_open_paths (TsrWindow *self, const char *const *paths);
void        tsr_window_open_session (TsrWindow *self, const char *path);
/* Start the reconstruction (FALSE when there is nothing to run or a job is running). */
gboolean    tsr_window_run (TsrWindow *self);
/* Start the reconstruction by itself whenever an analysis finishes (tessera --run). */
void        tsr_window_set_autorun (TsrWindow *self, gboolean autorun);
/* Cancel the running analysis or run; the window is idle again at once and the job's
 * result, when it arrives, is dropped. */
void        tsr_window_cancel (TsrWindow *self);
/* Set a parameter through its control in the panel (as if the user changed it). */
gboolean    tsr_window_set_param (TsrWindow *self, const char *key, double value);
/* The panel's label of key (words, not the key) and its unit (may show a derived value:
 * tiles.s gives "× FWHM = 105 px"); NULL when key is not in the panel. */
const char *tsr_window_get_param_label (TsrWindow *self, const char *key, const char **unit);
/* Whether the control of key takes input (FALSE where the value has no effect now). */
gboolean    tsr_window_param_sensitive (TsrWindow *self, const char *key);

/* Overlay toggles (TsrOverlay bits from tsr-image-view.h), as if clicked. */
void        tsr_window_set_overlays (TsrWindow *self, guint overlays);
void        tsr_window_set_show (TsrWindow *self, TsrShow show);
/* Calibration input of kind (a TsrCalibKind: bias, darks, flats, dark flats): a folder of
 * frames or a master file, NULL for none; the shown session is analysed again with it.
 * FALSE when unchanged. */
gboolean    tsr_window_set_calib (TsrWindow *self, int kind, const char *path);
/* The statistics line and the master of kind the shown session was calibrated with (NULL:
 * none). */
const char *tsr_window_get_calib_stats (TsrWindow *self, int kind);
const TsrImage *tsr_window_get_calib_master (TsrWindow *self, int kind);
/* The master of kind larger, in a popover by its thumbnail (as a click on it); FALSE when
 * there is none. */
gboolean    tsr_window_show_calib_master (TsrWindow *self, int kind);
/* Blink the registered frames (as the Blink button); FALSE when there is nothing to blink. */
gboolean    tsr_window_set_blink (TsrWindow *self, gboolean on);
/* The frame blink shows now (−1: none) and how many blink frames were shown so far. */
int         tsr_window_get_blink_frame (TsrWindow *self, guint *n_shown);
/* Parameters, frame choices or calibration changed since the project was opened or saved. */
gboolean    tsr_window_is_dirty (TsrWindow *self);
/* The "save changes?" question Quit asks (NULL when none is open). */
GtkWidget  *tsr_window_get_close_dialog (TsrWindow *self);
/* Sort the frame table by the column of row property prop ("fwhm", "name", …), as a click on
 * its header; FALSE for an unknown one. The frame shown at a table position (−1: none). */
gboolean    tsr_window_sort_frames (TsrWindow *self, const char *prop, gboolean descending);
int         tsr_window_get_row_frame (TsrWindow *self, guint position);
/* The status line's text. */
const char *tsr_window_get_status_text (TsrWindow *self);
/* Open: include subfolders of the folders opened (the Open dialog's "Include subfolders"). */
void        tsr_window_set_open_recursive (TsrWindow *self, gboolean recursive);
/* Show map kind (tsr-maps.h) over the image, as if chosen in the Map drop-down. */
void        tsr_window_set_map (TsrWindow *self, int kind);
/* Denoise the shown result (or deconvolved latent) in a worker; FALSE when nothing to denoise
 * or a job runs. The result is shown as TSR_SHOW_DENOISED against the image before it. */
gboolean    tsr_window_denoise (TsrWindow *self);
/* Restore the session (deep image prior trained on it) in a worker; FALSE when no analysed
 * session or a job runs. The result is shown as TSR_SHOW_RESTORED. */
gboolean    tsr_window_restore (TsrWindow *self);
const TsrImage *tsr_window_get_restored (TsrWindow *self);
/* While a restoration trains: the latent shown last (NULL when none) and its training step;
 * and how many snapshots were shown since the window opened. */
const TsrImage *tsr_window_get_restore_live (TsrWindow *self, guint *step);
guint       tsr_window_get_restore_snapshots_shown (TsrWindow *self);
/* Blend of the denoised image with the image before it (0 … 1), as the slider sets it. */
void        tsr_window_set_denoise_strength (TsrWindow *self, double strength);
/* The denoised image as shown (at the current strength) and the image before it. */
const TsrImage *tsr_window_get_denoised (TsrWindow *self, const TsrImage **before);
/* The split view: the result against the mean stack (only while one of them is shown). */
void        tsr_window_set_split (TsrWindow *self, gboolean split);
/* The image view (for tests: what it shows). */
struct _TsrImageView *tsr_window_get_image_view (TsrWindow *self);
TsrShow     tsr_window_get_show (TsrWindow *self);
/* The Use column: stack frame index (TRUE) or leave it out, over the gate (a gated frame
 * included, a valid one excluded; as the gate decides is no choice). Re-weighs; saved in the
 * project. FALSE when there is no such frame or it cannot be stacked (no transform). */
gboolean    tsr_window_set_frame_used (TsrWindow *self, guint index, gboolean used);
TsrFrameChoice tsr_window_get_frame_choice (TsrWindow *self, guint index);
/* The row of frame index: its gate explanation (the tooltip) and the Gate column's text. */
const char *tsr_window_get_frame_explanation (TsrWindow *self, guint index, const char **gate_words);
/* The detail beside the table (the selected frame's explanation). */
const char *tsr_window_get_frame_detail (TsrWindow *self);
/* The frame table (TsrFrameTable, ui/tsr-frame-table.ui); tests walk its cells. */
GtkWidget  *tsr_window_get_frame_table (TsrWindow *self);
/* The display stretch (display only): automatic (linked or not) or manual black, midtone
 * balance (0 … 1) and white; as the stretch bar's controls set it. */
void        tsr_window_set_stretch (TsrWindow *self, gboolean manual, gboolean linked, double black, double mid,
                                    double white);
/* The stretch shown now (per-channel midtones) and the displayed image's histogram
 * (nch × nbins counts over [lo, hi]; NULL before an image was shown). */
void        tsr_window_get_stretch (TsrWindow *self, TsrStretch *st, float midtones[3]);
const guint32 *tsr_window_get_histogram (TsrWindow *self, int *nbins, int *nch, double *lo, double *hi);
/* Select the table row of frame index (as a click on it does); FALSE when there is none. */
gboolean    tsr_window_select_frame (TsrWindow *self, guint index);

/* Parameters: apply a preset ("default", "seestar", "dslr", "mono") through the panel's
 * selector, as if chosen there (FALSE for an unknown name). */
gboolean    tsr_window_apply_preset (TsrWindow *self, const char *name);
const char *tsr_window_get_preset (TsrWindow *self);
const TsrProject *tsr_window_get_params (TsrWindow *self);

/* Projects (.tessera): the parameters and the session's paths. Opening one sets the
 * parameters and starts the analysis of its session (when it names one). */
gboolean    tsr_window_save_project (TsrWindow *self, const char *path, GError **error);
gboolean    tsr_window_open_project (TsrWindow *self, const char *path, GError **error);
/* Open what the command line or a drop names: one .tessera project, or folders/FITS files. */
gboolean    tsr_window_open_files (TsrWindow *self, GFile **files, guint n_files);

/* Recent sessions (folders and projects, most recent first; NULL-terminated). */
const char *const *tsr_window_get_recent (TsrWindow *self);
/* The window's drop target (GDK_TYPE_FILE_LIST). */
GtkDropTarget *tsr_window_get_drop_target (TsrWindow *self);

/* Export the result (or, for TSR_SHOW_DECONV, the deconvolved image) in a worker; FALSE when
 * there is nothing to export. Busy until written; errors go to the status line. */
gboolean    tsr_window_export (TsrWindow *self, const char *path, TsrExportFormat format);
/* Write the report folder (HTML, figures, diagnostics JSON) in a worker. */
gboolean    tsr_window_export_report (TsrWindow *self, const char *dir);

/* Background extraction and colour calibration of the result (post.* parameters, set with
 * tsr_window_set_param): the corrected result shown in place of the result (NULL while
 * both steps are off or it is being computed) and how many times it was computed. */
const TsrImage *tsr_window_get_post_result (TsrWindow *self, guint *n_applied);
/* The sky samples of the background model shown (NULL, n 0 when none). */
const TsrBgSample *tsr_window_get_bg_samples (TsrWindow *self, guint *n);
/* A click at pixel (x, y) of the result in the sample-edit mode: on an added sample removes
 * it, on an excluded one restores it; elsewhere a primary click (exclude FALSE) adds a
 * sample there, a secondary one (right button, Shift) excludes the automatic sample there.
 * Extracts again. FALSE when background extraction is off, the point is outside the result
 * or nothing changed. */
gboolean    tsr_window_post_pick (TsrWindow *self, double x, double y, gboolean exclude);
/* Forget the user's sample edits (extracts again when there were any). */
void        tsr_window_post_reset_samples (TsrWindow *self);
/* A drag in the sample-edit mode from (x0, y0) to (x1, y1) (result pixels): the sample under
 * (x0, y0) moves with the pointer. An added box is moved; an automatic one becomes an added
 * box at the new place and its old place is excluded. Extracts again. FALSE when no sample
 * is there, the move is under a pixel or background extraction is off. */
gboolean    tsr_window_post_move (TsrWindow *self, double x0, double y0, double x1, double y1);
/* Undo the last sample edit (a click, a drag, Reset; Ctrl+Z while Edit is on). FALSE when
 * there is nothing to undo. */
gboolean    tsr_window_post_undo (TsrWindow *self);
/* The user's sample edits (added, excluded: TsrBgPoint) and the result width they are in. */
void        tsr_window_get_bg_edits (TsrWindow *self, const GArray **add, const GArray **exclude, int *width);
/* The step's progress while it runs: its phase (NULL when none runs) and the bar's fraction. */
const char *tsr_window_get_post_progress (TsrWindow *self, double *fraction);
/* Set a parameter from its text as the panel's control does (the same effect: re-weigh,
 * next run, apply to the result …); FALSE with error for an unknown key or a bad value. */
gboolean    tsr_window_set_param_text (TsrWindow *self, const char *key, const char *value, GError **error);
/* The "Show" and "Edit" toggles of the sky samples. */
void        tsr_window_set_sample_overlay (TsrWindow *self, gboolean show, gboolean edit);

/* Deconvolution of the session (FALSE when unavailable in this build or busy). */
gboolean    tsr_window_deconvolve (TsrWindow *self);
guint       tsr_window_get_deconv_iteration (TsrWindow *self);

/* State, for tests and the status line. */
TsrJobKind  tsr_window_get_job (TsrWindow *self);
/* A job, a weighing or a frame load is under way or pending, or a cancelled worker is
 * still winding down. */
gboolean    tsr_window_is_busy (TsrWindow *self);
guint       tsr_window_get_n_rows (TsrWindow *self);
TsrAnalysis *tsr_window_get_analysis (TsrWindow *self);
TsrWeights *tsr_window_get_weights (TsrWindow *self);
const TsrReconstruction *tsr_window_get_reconstruction (TsrWindow *self);
const TsrImage *tsr_window_get_preview (TsrWindow *self);
/* Last live update, from the parameter change to the weights / the preview shown (ms). */
double      tsr_window_get_weigh_ms (TsrWindow *self);
double      tsr_window_get_preview_ms (TsrWindow *self);
/* Longest gap between the 10 ms ticks of the main-loop stall probe while jobs ran (ms). */
double      tsr_window_get_worst_stall_ms (TsrWindow *self);
void        tsr_window_reset_stall (TsrWindow *self);
/* Gaps between the probe's ticks while jobs of KIND ran (since the window opened or the
 * last reset): the number of ticks, the longest gap and the 99th percentile (ms, p99 to
 * 1 ms bins). */
guint64     tsr_window_get_stall_stats (TsrWindow *self, TsrJobKind kind, double *worst_ms, double *p99_ms);
/* Progress of the running job as last shown (done/total of the current phase). */
void        tsr_window_get_progress (TsrWindow *self, guint *done, guint *total);
/* The last error message shown, or NULL. */
const char *tsr_window_get_last_error (TsrWindow *self);
/* The note above the parameters (a project's warnings), "" when none. */
const char *tsr_window_get_param_note (TsrWindow *self);

G_END_DECLS
