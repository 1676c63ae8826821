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
  TSR_JOB_RUN        /* accumulate */
} TsrJobKind;

/* app may be NULL (tests). */
TsrWindow  *tsr_window_new (GtkApplication *app);

/* Open a session (folders and/or FITS files, NULL-terminated) and start the analysis. */
void        tsr_window_open_paths (TsrWindow *self, const char *const *paths);
void        tsr_window_open_session (TsrWindow *self, const char *path);
/* Start the reconstruction (FALSE when there is nothing to run or a job is running). */
gboolean    tsr_window_run (TsrWindow *self);
/* Cancel the running analysis or run; the window is idle again at once and the job's
 * result, when it arrives, is dropped. */
void        tsr_window_cancel (TsrWindow *self);
/* Set a parameter through its control in the panel (as if the user changed it). */
gboolean    tsr_window_set_param (TsrWindow *self, const char *key, double value);

/* Overlay toggles (TsrOverlay bits from tsr-image-view.h), as if clicked. */
void        tsr_window_set_overlays (TsrWindow *self, guint overlays);

/* State, for tests and the status line. */
TsrJobKind  tsr_window_get_job (TsrWindow *self);
/* A job, a weighing or a frame load is under way or pending, or a cancelled worker is
 * still winding down. */
gboolean    tsr_window_is_busy (TsrWindow *self);
guint       tsr_window_get_n_rows (TsrWindow *self);
TsrAnalysis *tsr_window_get_analysis (TsrWindow *self);
TsrWeights *tsr_window_get_weights (TsrWindow *self);
const TsrReconstruction *tsr_window_get_reconstruction (TsrWindow *self);
/* Progress of the running job as last shown (done/total of the current phase). */
void        tsr_window_get_progress (TsrWindow *self, guint *done, guint *total);
/* The last error message shown, or NULL. */
const char *tsr_window_get_last_error (TsrWindow *self);

G_END_DECLS
