/* tsr-window-private.h — TsrWindow's state, shared by the files that implement it. The
 * widgets come from the template ui/tsr-window.ui (and the templates it places); these files
 * hold behaviour: tsr-window.c (jobs, display, the template's binding), tsr-window-params.c
 * (parameter rows, presets), tsr-window-panels.c (frame table model, diagnostics drawing),
 * tsr-window-files.c (projects, recent sessions, drag and drop, export, remembered
 * settings), tsr-window-deconv.c (the deconvolution job) and the other tsr-window-*.c. */
#pragma once
#include "tsr-window.h"
#include "tsr-image-view.h"
#include "tsr-stall.h"
#include "tsr-frame-table.h"

G_BEGIN_DECLS

typedef TsrShow ShowMode;
#define SHOW_FRAME TSR_SHOW_FRAME
#define SHOW_PREVIEW TSR_SHOW_PREVIEW
#define SHOW_RESULT TSR_SHOW_RESULT
#define SHOW_MEAN TSR_SHOW_MEAN
#define SHOW_DECONV TSR_SHOW_DECONV
#define SHOW_DENOISED TSR_SHOW_DENOISED
#define SHOW_RESTORED TSR_SHOW_RESTORED

#define TSR_N_DIAG 6

/* the window's layout (GtkBuilder template) in the app's resources */
#define TSR_WINDOW_UI "/io/github/tessera/Tessera/ui/tsr-window.ui"

/* The planetary session's state (tsr-window-planetary.c). */
typedef struct _TsrPlanetaryUi TsrPlanetaryUi;

/* The calibration section's widgets (tsr-window-calib.c). */
typedef struct _TsrCalibUi TsrCalibUi;

/* What the analysis applied of the calibration inputs: the paths, each master, its
 * statistics line and a display rendering, the engine's notes (dark scaling, …). */
typedef struct
{
  char *paths[TSR_CALIB_N_KINDS];
  TsrImage *masters[TSR_CALIB_N_KINDS];
  cairo_surface_t *surfaces[TSR_CALIB_N_KINDS];
  char *stats[TSR_CALIB_N_KINDS];
  char *notes;
  gsize n_bad;
} TsrCalibOutcome;

/* Progress shared between worker threads and the main thread. */
typedef struct _ProgressShared ProgressShared;

struct _TsrWindow
{
  GtkApplicationWindow parent_instance;

  /* widgets */
  GtkWidget *status_label;
  GtkWidget *progress_bar;
  TsrImageView *view;
  GtkWidget *readout;
  GtkWidget *show_dropdown;
  GtkWidget *tog_weights;     /* the Map drop-down (name kept: the planetary panel hides its box) */
  GtkWidget *tog_tiles, *tog_stars;
  GtkWidget *tog_compare;     /* split view: result | mean stack */
  GtkWidget *column_view;
  GListStore *store;
  GtkSingleSelection *selection;
  GtkWidget *figures[TSR_N_DIAG];  /* the diagnostics' drawing areas, in diag_figures order */
  GtkWidget *diagnostics;     /* their notebook */
  GtkWidget *planetary_figures[2]; /* the planetary diagnostics: quality, alignment */
  GtkWidget *diag_stack, *params_stack;   /* pages "deep-sky" and "planetary" */
  GtkWidget *deep_toggles;    /* the map drop-down and the deep-sky overlay toggles */
  GtkWidget *tog_points;      /* the planetary alignment points overlay */
  GtkWidget *deconv_button;
  GtkWidget *frame_table;     /* TsrFrameTable: column_view and frame_detail are its */
  GHashTable *param_widgets;  /* key → GtkSpinButton or GtkDropDown */
  GtkWidget *param_note;
  GtkWidget *param_groups;    /* the box of TsrParamGroups */
  GtkWidget *calib_panel;     /* TsrCalibPanel */
  GtkWidget *preset_dropdown;
  GtkFileChooserNative *chooser;
  GtkDropTarget *drop_target;
  GMenu *recent_menu;         /* the recent sessions: a section of the main menu (ui/tsr-window.ui) */

  /* settings (NULL when the schema is missing: memory only) */
  GSettings *settings;
  char **recent;              /* most recent first */
  char *last_folder;

  /* data */
  TsrProject params;
  TsrProject analysis_params; /* the parameters the shown analysis was measured with */
  char **paths;
  char *project_path;         /* the project the session came from, or NULL */
  TsrFrameChoices choices;    /* the user's include/exclude per frame (canonical paths) */
  TsrFrameChoices *open_choices; /* a project's choices, for the analysis it starts */
  char *calib_paths[TSR_CALIB_N_KINDS]; /* calibration inputs (the panel's, or a project's [calib]):
                                           applied by the next analysis, saved in the project */
  TsrCalibOutcome *calib;     /* what the shown session was calibrated with (NULL: uncalibrated) */
  TsrCalibUi *calib_ui;
  gboolean open_recursive;    /* Open: include subfolders */
  gboolean project_dirty;     /* parameters, frame choices or calibration changed since the
                                 project was opened or saved: Quit asks */
  GtkWidget *close_dialog;    /* the "save changes?" question while it is open */
  gboolean close_confirmed;

  /* blink (tsr-window-view.c) */
  gboolean blink_on, blink_running;
  guint blink_gen, blink_source, blink_shown;
  int blink_frame;
  TsrImage *blink_img;
  cairo_surface_t *blink_surface;
  GtkWidget *frame_detail;    /* the selected frame's gate explanation under the table */
  TsrSession *session;
  TsrAnalysis *analysis;
  TsrWeights *weights;
  TsrReconstruction *recon;
  cairo_surface_t *result_surface, *mean_surface;
  TsrImage *frame_img;
  cairo_surface_t *frame_surface;
  int frame_img_index;        /* frame in frame_img, −1 none */
  int selected_frame;         /* selected row's frame, −1 none */

  /* live preview */
  TsrPreviewCache *preview_cache;
  TsrImage *preview_img;
  cairo_surface_t *preview_surface;
  guint preview_gen;
  gboolean preview_running, preview_pending;
  double preview_ms;          /* last preview update (weights known → shown), ms */
  gint64 preview_t0;

  /* denoising (tsr-window-denoise.c) */
  TsrImage *denoise_input;    /* the image denoised */
  TsrImage *denoise_full;     /* the network's output (strength 1) */
  TsrImage *denoise_img;      /* shown: input + strength · (full − input) */
  cairo_surface_t *denoise_surface, *denoise_full_surface, *denoise_input_surface;
  double denoise_strength;
  double denoise_geometry_scale;
  guint denoise_strength_source;
  GtkWidget *denoise_scale, *denoise_bar;

  /* restoration (tsr-window-restore.c) */
  TsrImage *restore_img;
  cairo_surface_t *restore_surface, *restore_mean_surface;
  /* the latent while the network trains (engine snapshots): shown in place of restore_img,
   * never exported, dropped when the job ends */
  TsrImage *restore_live_img;
  cairo_surface_t *restore_live_surface, *restore_live_mean_surface;
  guint restore_live_step, restore_snapshots_shown;

  /* background extraction and colour calibration of the result (tsr-window-post.c) */
  TsrImage *post_img;         /* the corrected result (NULL: none, or both steps off) */
  cairo_surface_t *post_surface;
  GArray *bg_samples;         /* TsrBgSample of post_img's background model */
  GArray *bg_add, *bg_exclude; /* TsrBgPoint: the user's sample edits */
  int bg_edit_width;          /* the result width they are in the pixels of (0: none yet) */
  guint post_gen, post_applied;
  gboolean post_running, post_pending;
  GCancellable *post_cancellable;
  GtkWidget *post_show_samples, *post_edit_samples, *post_reset;
  GtkWidget *post_progress, *post_cancel; /* the step's progress bar and its Cancel */
  GPtrArray *bg_undo;         /* earlier edit states (TsrSampleEdits *), newest last */
  TsrSampleEdits *open_samples; /* a project's sample edits, for the analysis it starts */

  /* deconvolution */
  TsrImage *deconv_img;
  cairo_surface_t *deconv_surface;
  guint deconv_iteration;

  /* display stretch (tsr-window-stretch.c) */
  GtkWidget *stretch_bar, *histogram, *stretch_auto, *stretch_linked, *stretch_black, *stretch_mid, *stretch_white;
  gboolean stretch_manual, stretch_unlinked;
  double stretch_manual_v[3];        /* manual black, midtone balance, white */
  guint stretch_gen, stretch_key, stretch_done_key, stretch_updating;
  gboolean stretch_running, stretch_pending;
  TsrImage *stretch_img, *stretch_cmp;   /* the shown image and the split view's other one */
  cairo_surface_t *stretch_surface, *stretch_cmp_surface;
  guint32 *hist;
  int hist_nch;
  double hist_lo, hist_hi, data_lo, data_hi;
  TsrStretch stretch_now;
  float stretch_mids[3];

  /* jobs */
  TsrJobKind job;
  guint job_gen;
  GCancellable *job_cancellable;
  ProgressShared *progress;
  char *shown_phase;
  gint64 phase_t0;
  TsrEta eta;                 /* time left of the whole job (analysis, run), from its phases */
  TsrEtaPhase eta_plan[4];    /* the session's plan (tsr_tbqr_eta_plan: its cache share, drizzle) */
  gboolean eta_on;
  guint shown_done, shown_total;
  guint run_workers;          /* accumulate / deconvolution workers alive (even if cancelled) */
  guint analysis_workers;
  guint export_workers;

  guint weigh_gen;
  gboolean weigh_running, weigh_pending;
  gint64 weigh_t0;
  double weigh_ms;            /* last re-weigh (request → weights shown), ms */
  guint reanalyse_source;     /* debounce of a tile-size change */

  guint load_gen;
  gboolean loading;
  GCancellable *load_cancellable;

  /* main-loop stall probe (active while a job runs) */
  guint stall_source;
  gint64 stall_last;
  gint64 stall_worst_us;
  gint64 stall_job_t0;        /* when the current job began (µs) */
  TsrJobKind stall_kind;      /* the job the probe's gaps are counted for */
  TsrStallStats stall_stats[TSR_JOB_LAST + 1];   /* gaps per job kind */

  TsrPlanetaryUi *planetary;  /* lunar/planetary sessions */

  gboolean autorun;           /* run when an analysis finishes */
  gboolean updating_params;
  gboolean disposed;
  char *last_error;
};

/* A GAsyncReadyCallback timed for the stall trace: NAME wraps NAME_impl. */
#define TSR_TIMED_CALLBACK(name)                                                   \
  static void name##_impl (GObject *source, GAsyncResult *res, gpointer data);    \
  static void name (GObject *source, GAsyncResult *res, gpointer data)            \
  {                                                                              \
    gint64 t0_ = TSR_STALL_T0 ();                                                \
    name##_impl (source, res, data);                                             \
    tsr_stall_note (#name, t0_);                                                 \
  }

/* tsr-window.c */
void      tsr_window_set_status_text (TsrWindow *self, const char *text);
void      tsr_window_show_error_text (TsrWindow *self, const char *text);
void      tsr_window_update_actions (TsrWindow *self);
void      tsr_window_show_current (TsrWindow *self);
void      tsr_window_request_weigh (TsrWindow *self);
void      tsr_window_redraw_figures (TsrWindow *self);
cairo_surface_t *tsr_window_render_display (const TsrImage *img);
/* Begin a job of kind (cancelling a running one); returns the job's generation and sets
 * *cancellable (owned by the window). */
guint     tsr_window_begin_job (TsrWindow *self, TsrJobKind kind, GCancellable **cancellable);
void      tsr_window_end_job (TsrWindow *self);
gboolean  tsr_window_job_is_current (TsrWindow *self, guint gen);
/* A progress callback for engine jobs; data from tsr_window_progress_data_new. */
void      tsr_window_job_progress (const char *phase, guint done, guint total, gpointer data);
gpointer  tsr_window_progress_data_new (TsrWindow *self, guint gen);
void      tsr_window_progress_data_free (gpointer data);

/* tsr-window-panels.c */
/* the frame table's model and columns, the figures' drawing (widgets: ui/tsr-window.ui) */
void      tsr_window_build_table (TsrWindow *self);
void      tsr_window_build_diagnostics (TsrWindow *self);
void      tsr_window_on_selection_changed (GObject *sel, GParamSpec *pspec, TsrWindow *self);
void      tsr_window_update_frame_detail (TsrWindow *self);
/* template callback: the frame table's use-toggled */
void      tsr_window_on_frame_use_toggled (TsrFrameTable *table, guint index, gboolean used, TsrWindow *self);

/* tsr-window-params.c */
/* the preset list and the rows of the parameter panel (its frame: ui/tsr-window.ui) */
void      tsr_window_build_params (TsrWindow *self);
/* template callbacks: the preset drop-down, Reset */
void      tsr_window_params_on_preset_changed (GObject *dd, GParamSpec *pspec, TsrWindow *self);
void      tsr_window_params_on_reset_clicked (GtkButton *b, TsrWindow *self);
void      tsr_window_sync_params (TsrWindow *self);

void      tsr_window_update_param_units (TsrWindow *self);
/* Rows whose effect depends on other values or on the weights (greyed), derived units. */
void      tsr_window_update_param_rows (TsrWindow *self);

/* tsr-window-files.c */
void      tsr_window_files_init (TsrWindow *self);
void      tsr_window_files_dispose (TsrWindow *self);
void      tsr_window_files_finalize (TsrWindow *self);
/* A session finished its analysis: remember it. */
void      tsr_window_session_opened (TsrWindow *self);

/* tsr-window-post.c */
void      tsr_window_post_init (TsrWindow *self);
void      tsr_window_post_dispose (TsrWindow *self);
void      tsr_window_post_finalize (TsrWindow *self);
void      tsr_window_post_add_controls (TsrWindow *self, GtkWidget *group);
/* post.* changed or the samples were edited: apply again (or show the uncorrected result) */
void      tsr_window_post_apply (TsrWindow *self);
/* a new reconstruction was set */
void      tsr_window_post_reset_result (TsrWindow *self);
/* the corrected result to show instead of the result (NULL: the result itself) */
TsrImage *tsr_window_post_shown_result (TsrWindow *self, cairo_surface_t **surface);
gboolean  tsr_window_post_busy (TsrWindow *self);
/* the view shows another image: the samples only over the corrected result */
void      tsr_window_post_view_changed (TsrWindow *self);
/* The analysis of a project's session is done: its sample edits (if any) become the window's */
void      tsr_window_post_take_edits (TsrWindow *self, TsrSampleEdits *edits);
/* Cancel the running step (the view keeps what it shows); FALSE when none runs */
gboolean  tsr_window_post_cancel (TsrWindow *self);
gboolean  tsr_window_post_can_undo (TsrWindow *self);

/* tsr-window-deconv.c */
void      tsr_window_deconv_init (TsrWindow *self);
gboolean  tsr_window_deconv_available (void);

/* tsr-window-planetary.c (lunar and planetary sessions; tsr-window-planetary.h) */
void      tsr_window_planetary_init (TsrWindow *self);
void      tsr_window_planetary_init_toolbar (TsrWindow *self);
void      tsr_window_planetary_dispose (TsrWindow *self);
void      tsr_window_planetary_finalize (TsrWindow *self);
/* the planetary pages of the window's stacks: figures' drawing, the parameter panel */
void      tsr_window_planetary_init_diagnostics (TsrWindow *self);
void      tsr_window_planetary_init_params (TsrWindow *self);
/* template callback: the alignment points toggle */
void      tsr_window_planetary_on_points_toggled (GtkToggleButton *b, TsrWindow *self);
/* tsr_window_open_paths: TRUE when the planetary job took the paths; else *detect says
 * whether the analysis worker should look for a starless session first. */
gboolean  tsr_window_planetary_route (TsrWindow *self, const char *const *paths, gboolean *detect);
/* In the analysis worker: TRUE (with the route error) when the session is starless. */
gboolean  tsr_window_planetary_detect_starless (TsrSession *s, GError **error);
/* analysis_done: TRUE when error is the route error (the planetary job has started). */
gboolean  tsr_window_planetary_reroute (TsrWindow *self, const char *const *paths, const GError *error);
/* A deep-sky session is shown: the planetary one goes. */
void      tsr_window_planetary_leave (TsrWindow *self);
gboolean  tsr_window_planetary_show_current (TsrWindow *self);
gboolean  tsr_window_planetary_active (TsrWindow *self);
gboolean  tsr_window_planetary_busy (TsrWindow *self);
void      tsr_window_planetary_update_actions (TsrWindow *self);
gboolean  tsr_window_planetary_export (TsrWindow *self, const char *path, TsrExportFormat format);

/* Shared by tsr-window.c and tsr-window-analysis.c (jobs, status, redraws). */
#define PROGRESS_MAX_HZ 20
#define STALL_TICK_MS 10

typedef struct
{
  guint gen;
  ProgressShared *progress;
  char **paths;
  TsrProject params;
  TsrAnalysis *analysis;
  TsrWeights *weights;
  char *path;
  int index;
  gint64 t0;
  gboolean detect_starless;   /* analysis: a starless session goes to the planetary job */
  TsrFrameChoices choices;    /* analysis, weighing: the user's frame choices to apply */
  TsrSampleEdits samples;     /* analysis: a project's sky-sample edits, the window's when it is done */
  char *calib_paths[TSR_CALIB_N_KINDS]; /* analysis: calibration inputs to apply */
  gboolean recursive;         /* analysis: scan subfolders */
  gboolean recursed;          /* analysis: the folders had frames only in subfolders */
} JobData;

/* Copy of c (deep). */
void tsr_frame_choices_copy (TsrFrameChoices *dst, const TsrFrameChoices *src);
/* TsrFrameChoice per frame of a's session (g_free). */
guint8 *tsr_window_choices_array (const TsrFrameChoices *c, const TsrAnalysis *a);
/* Set a frame's choice and re-weigh (tsr-window-panels.c). */
void tsr_window_set_frame_choice (TsrWindow *self, guint index, TsrFrameChoice choice);

void tsr_window_request_weigh_full (TsrWindow *self);
void tsr_window_set_reconstruction (TsrWindow *self, TsrReconstruction *r, cairo_surface_t *rs, cairo_surface_t *ms);
void tsr_window_start_weigh (TsrWindow *self);
void tsr_window_open_paths (TsrWindow *self, const char *const *paths);
JobData * tsr_window_begin_job_full (TsrWindow *self, TsrJobKind kind, GCancellable **cancellable_out);
void tsr_window_end_job_full (TsrWindow *self);
gboolean tsr_window_job_current (TsrWindow *self, GTask *task);
void tsr_window_job_data_free (gpointer data);
void tsr_window_job_progress_cb (const char *phase, guint done, guint total, gpointer data);
void tsr_window_redraw_figures_full (TsrWindow *self);
void tsr_window_refresh_rows (TsrWindow *self);
void tsr_window_request_preview (TsrWindow *self);
void tsr_window_set_status (TsrWindow *self, const char *text);
void tsr_window_show_error (TsrWindow *self, const char *text);
gboolean tsr_window_run (TsrWindow *self);
void tsr_window_update_actions_full (TsrWindow *self);

/* The end every worker job's done callback shares (jobs counted in run_workers): a result of
 * a superseded job is dropped, the job ended, an error shown or, for a cancel, cancel_text
 * (may be NULL). Returns the job's result (the caller owns it) or NULL when there is nothing
 * to show. */
gpointer   tsr_window_job_result (TsrWindow *self, GTask *task, guint gen, GDestroyNotify free_result,
                                  const char *cancel_text);

/* tsr-window-view.c */
void       tsr_window_view_init (TsrWindow *self);   /* actions (blink, zoom, …) */
void       tsr_window_view_dispose (TsrWindow *self);
gboolean   tsr_window_blink_show (TsrWindow *self); /* show_current: TRUE when a blink frame is shown */

/* tsr-window-calib.c */
void       tsr_window_calib_init (TsrWindow *self);   /* the section in the parameter panel */
void       tsr_window_calib_update (TsrWindow *self);
void       tsr_window_calib_dispose (TsrWindow *self);
void       tsr_window_calib_finalize (TsrWindow *self);
void       tsr_calib_outcome_free (TsrCalibOutcome *o);
/* In the analysis worker: plan and build the calibration of paths (NULL entries: none) and
 * attach it to s; *outcome NULL when there is nothing to apply. */
gboolean   tsr_window_calib_apply (TsrSession *s, char *const *paths, const TsrProject *params,
                                   gpointer progress_data, TsrCalibOutcome **outcome,
                                   GCancellable *cancellable, GError **error);

/* tsr-window-restore.c */
void       tsr_window_restore_init (TsrWindow *self);
void       tsr_window_restore_clear (TsrWindow *self);
gboolean   tsr_window_restore_possible (TsrWindow *self);

/* tsr-window-stretch.c */
void       tsr_window_stretch_init (TsrWindow *self);   /* the histogram/stretch bar's behaviour */
void       tsr_window_stretch_shown (TsrWindow *self, TsrImage *img, TsrImage *cmp);
void       tsr_window_stretch_dispose (TsrWindow *self);
gboolean   tsr_window_stretch_busy (TsrWindow *self);

/* tsr-window-denoise.c */
void       tsr_window_denoise_init (TsrWindow *self);   /* actions */
/* template callback: the strength slider */
void       tsr_window_denoise_on_strength_changed (GtkRange *range, TsrWindow *self);
void       tsr_window_denoise_clear (TsrWindow *self);
gboolean   tsr_window_denoise_possible (TsrWindow *self);

G_END_DECLS
