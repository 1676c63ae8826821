/* tsr-project.h — a project: the parameter sets of every job composed into one object with
 * one key space ("section.name", shared by the CLI's --set, the .tessera project file and the
 * window), the project file itself and the presets. Each job owns its params struct and key
 * table; the engine's jobs take only their own struct (and TsrRunParams). */
#pragma once
#include <gio/gio.h>
#include "tsr-keys.h"
#include "tsr-run-params.h"
#include "tsr-tbqr-params.h"
#include "tsr-deconv-params.h"
#include "tsr-restore-params.h"
#include "tsr-session.h"
#include "tsr-calib.h"
#include "tsr-post-params.h"
#include "tsr-background.h"

G_BEGIN_DECLS

typedef struct
{
  int version;                 /* TSR_PARAMS_VERSION */
  TsrTbqrParams tbqr;          /* register.* stars.* gate.* norm.* global.* tiles.* local.* reject.*
                                  cluster.* validate.* */
  TsrDeconvParams deconv;      /* deconv.* */
  TsrRestoreParams restore;    /* restore.* */
  TsrCalibParams calib;        /* calib.* (the calibration's paths are not parameters: see
                                  tsr_project_save_full) */
  TsrPostParams post;          /* post.* (background extraction, colour calibration) */
  TsrRunParams run;            /* run.* */
} TsrProject;

void     tsr_project_init (TsrProject *p);

/* Every key of every job, in project-file order: i in 0 … tsr_project_n_keys () − 1. */
guint               tsr_project_n_keys (void);
const TsrParamSpec *tsr_project_key (guint i);
const TsrParamSpec *tsr_project_find (const char *key);
/* The address of a key's field inside p (whichever job's struct holds it). */
gpointer            tsr_project_field (TsrProject *p, const TsrParamSpec *s);

/* Set "key=value" or key, value. Errors name the key and the allowed range. Unknown keys
 * are TSR_ERROR_INVALID_ARG too (callers that only warn use tsr_project_find first). */
gboolean tsr_project_set (TsrProject *p, const char *key, const char *value, GError **error);
gboolean tsr_project_set_assignment (TsrProject *p, const char *assignment, GError **error);
char    *tsr_project_get_string (const TsrProject *p, const char *key);
/* Every job's checks (ranges, α+β+γ = 1, tile_min ≤ tile_max, k_min ≤ k_max …). */
gboolean tsr_project_validate (const TsrProject *p, GError **error);
/* A one-line summary of every parameter for FITS HISTORY. */
char    *tsr_project_history (const TsrProject *p);

/* Project files (.tessera, GKeyFile): [session] paths=…; recursive=…; one group per
 * section with the parameter keys. Unknown keys are reported through warnings (a list of
 * strings the caller shows); out-of-range values are errors naming the key and range. */
gboolean tsr_project_save (const char *path, const TsrProject *p, const char *const *session_paths,
                           GError **error);
gboolean tsr_project_load (const char *path, TsrProject *p, char ***session_paths,
                           GPtrArray *warnings, GError **error);
/* The user's decisions about single frames (the window's Use column), kept in the project
 * as [frames] include=…; exclude=… (frame file paths; relative ones are read against the
 * project's folder). A project without the group — every file written before it existed —
 * loads with none. Both lists NULL-terminated, either may be NULL. */
typedef struct
{
  char **include;   /* gated frames stacked anyway */
  char **exclude;   /* frames left out whatever the gate says */
} TsrFrameChoices;

void     tsr_frame_choices_clear (TsrFrameChoices *c);
/* tsr_project_save / tsr_project_load with the frame choices and the calibration inputs.
 * frames may be NULL: none written; on load, the group is then read and dropped.
 * Calibration: [calib] bias, darks, flats, dark_flats (folders or master files;
 * calib_paths[k] for TsrCalibKind k, NULL when not given; calib_paths itself may be NULL).
 * Saved only when given; on load, relative paths are read relative to the project file's
 * folder and absent keys (every project file written before calibration existed) leave
 * NULL. */
gboolean tsr_project_save_full (const char *path, const TsrProject *p, const char *const *session_paths,
                                const TsrFrameChoices *frames, const char *const calib_paths[TSR_CALIB_N_KINDS],
                                GError **error);
gboolean tsr_project_load_full (const char *path, TsrProject *p, char ***session_paths, TsrFrameChoices *frames,
                                char *calib_paths[TSR_CALIB_N_KINDS], GPtrArray *warnings, GError **error);
/* The sky-sample edits of background extraction (the window's Edit, docs/post.md), kept in
 * the project as [samples] width=W and edits=… (a list of the sample-file lines "x,y",
 * "x,y,size", "-x,y"): points in the pixels of a result W pixels wide (a result of another
 * width, another drizzle.scale, takes them scaled by its width / W). */
typedef struct
{
  int width;          /* the result's width the points are in (0: no edits) */
  GArray *add;        /* TsrBgPoint: boxes added */
  GArray *exclude;    /* TsrBgPoint: automatic boxes excluded */
} TsrSampleEdits;

/* Empties e (the arrays freed, width 0). */
void     tsr_sample_edits_clear (TsrSampleEdits *e);
/* The points moved to the pixels of a result width pixels wide (pixel centres scaled:
 * (x + ½)·f − ½ with f = width / e->width; sizes scaled, at least 4); e->width becomes width.
 * Nothing changes when e->width is 0 or already width. */
void     tsr_sample_edits_rescale (TsrSampleEdits *e, int width);
/* tsr_project_save_full / _load_full with the sample edits too. samples may be NULL (none
 * written; on load the group is read and dropped). Saved only when there are edits; a
 * project without [samples] loads with width 0 and empty arrays. A malformed entry is
 * TSR_ERROR_FORMAT naming the file, the entry's number and its text. */
gboolean tsr_project_save_ext (const char *path, const TsrProject *p, const char *const *session_paths,
                               const TsrFrameChoices *frames, const char *const calib_paths[TSR_CALIB_N_KINDS],
                               const TsrSampleEdits *samples, GError **error);
gboolean tsr_project_load_ext (const char *path, TsrProject *p, char ***session_paths, TsrFrameChoices *frames,
                               char *calib_paths[TSR_CALIB_N_KINDS], TsrSampleEdits *samples, GPtrArray *warnings,
                               GError **error);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (TsrSampleEdits, tsr_sample_edits_clear)
/* The choices as TsrFrameChoice per frame of s (n_frames entries, g_free), matched by the
 * canonical file path; *n_unmatched (may be NULL) counts listed paths that are no frame of
 * s. A path in both lists is excluded. */
guint8  *tsr_frame_choices_for_session (const TsrFrameChoices *c, TsrSession *s, guint *n_unmatched);

/* Presets: parameter sets for typical equipment, applied over the defaults (the resources,
 * run.*, are kept). Names, in menu order: "default", "seestar" (smart telescopes such as
 * Seestar and Dwarf: hundreds of short undersampled Bayer frames), "dslr" (tens of longer
 * Bayer exposures through a lens or telescope on a mount), "mono" (monochrome cameras). An
 * unknown name is TSR_ERROR_INVALID_ARG and leaves p unchanged. */
const char *const *tsr_project_preset_names (void);
/* A short translated label ("Seestar / Dwarf"), or NULL for an unknown name. */
const char *tsr_project_preset_label (const char *name);
gboolean tsr_project_apply_preset (TsrProject *p, const char *name, GError **error);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (TsrFrameChoices, tsr_frame_choices_clear)

G_END_DECLS
